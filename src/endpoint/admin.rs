//! `/admin/cache/stats` and `/admin/cache/invalidate`, behind `Authorization: Bearer
//! <admin_token>`. Without a configured admin token they do not exist (404).

use std::net::IpAddr;

use crate::audit;
use crate::auth::secret;
use crate::endpoint::admin_create;
use crate::endpoint::context::Context;
use crate::endpoint::params;
use crate::endpoint::request_metrics;
use crate::endpoint::route::{self, Route};
use crate::form;
use crate::http::request::Method;
use crate::http::request::Request;
use crate::http::response;
use crate::limits;
use crate::store::clients;
use crate::store::events::{self, Invalidation};

/// Answer an admin request, once its bearer token is checked; every call, refused or not,
/// is an audit event (its path, status and source address).
pub async fn handle(
    ctx: &Context,
    route: Route,
    req: &Request<'_>,
    source: IpAddr,
    out: &mut Vec<u8>,
    keep_alive: bool,
) {
    let start = out.len();
    match authorize(ctx, req) {
        Err(refusal) => write_refusal(refusal, out, keep_alive),
        Ok(()) if route == Route::AdminStats => stats(ctx, out, keep_alive),
        Ok(()) if route == Route::AdminInvalidate => invalidate(ctx, req, out, keep_alive).await,
        Ok(()) if route == Route::AdminKeys => keys(ctx, out, keep_alive),
        Ok(()) if route == Route::AdminClients && req.method == Method::Post => {
            admin_create::create(ctx, req, out, keep_alive).await
        }
        Ok(()) if route == Route::AdminClients => list_clients(ctx, req, out, keep_alive).await,
        Ok(()) if route == Route::AdminClient && req.method == Method::Delete => {
            delete_client(ctx, req, out, keep_alive).await
        }
        Ok(()) if route == Route::AdminClient => show_client(ctx, req, out, keep_alive).await,
        Ok(()) => revoke_tokens(ctx, req, out, keep_alive).await,
    }
    let status = request_metrics::status_of(&out[start..]);
    audit::record(
        "admin.call",
        &[
            ("method", &req.method.as_str()),
            ("path", &req.path),
            ("status", &status),
            ("source", &source),
        ],
    );
}

/// Why an admin request was refused before it was served.
pub enum Refusal {
    /// No admin token configured: the admin API does not exist.
    Disabled,
    Unauthorized,
}

/// Check the bearer token in constant time (both sides hashed to the same length first).
pub fn authorize(ctx: &Context, req: &Request<'_>) -> Result<(), Refusal> {
    let Some(expected) = ctx.config.admin_token.as_deref() else {
        return Err(Refusal::Disabled);
    };
    let presented = req.authorization.and_then(|h| {
        h.get(..7)
            .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
            .map(|_| &h[7..])
    });
    match presented {
        Some(token) if secret::verify_secret(token, &secret::hash_secret(expected.as_bytes())) => {
            Ok(())
        }
        _ => Err(Refusal::Unauthorized),
    }
}

pub fn write_refusal(refusal: Refusal, out: &mut Vec<u8>, keep_alive: bool) {
    match refusal {
        Refusal::Disabled => {
            response::write_json(out, 404, b"{\"error\":\"not_found\"}", keep_alive, &[])
        }
        Refusal::Unauthorized => response::write_json(
            out,
            401,
            b"{\"error\":\"unauthorized\",\"error_description\":\"admin bearer token required\"}",
            keep_alive,
            &[("WWW-Authenticate", "Bearer realm=\"edgeauth-admin\"")],
        ),
    }
}

/// Totals and a per-shard breakdown. Each shard's counters are written only by that shard
/// and read here without a lock.
pub fn stats(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) {
    let mut total = crate::cache::CacheSnapshot::default();
    let mut total_pending = 0;
    let mut total_queries = 0;
    let mut shards = Vec::with_capacity(ctx.all_stats.len());
    for (id, stats) in ctx.all_stats.iter().enumerate() {
        let cache = stats.cache.snapshot();
        let pending = stats.writer.pending.get();
        let client_queries = stats.client_queries.get();
        shards.push(serde_json::json!({
            "shard": id,
            "hits": cache.hits,
            "misses": cache.misses,
            "hit_rate": cache.hit_rate(),
            "evictions": cache.evictions,
            "expirations": cache.expirations,
            "size": cache.size,
            "client_queries": client_queries,
            "pending": pending,
        }));
        total += cache;
        total_pending += pending;
        total_queries += client_queries;
    }
    let doc = serde_json::json!({
        "total": {
            "hits": total.hits,
            "misses": total.misses,
            "hit_rate": total.hit_rate(),
            "evictions": total.evictions,
            "expirations": total.expirations,
            "size": total.size,
            "client_queries": total_queries,
            "pending": total_pending,
        },
        "shards": shards,
    });
    let body = serde_json::to_vec(&doc).expect("a json! value serializes");
    response::write_json(
        out,
        200,
        &body,
        keep_alive,
        &[("Cache-Control", "no-store")],
    );
}

/// `client_id=...` drops one client, `all=true` every client, on every shard of every
/// instance: the notification goes through Postgres, like the CLI's.
pub async fn invalidate(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let params = match params::parse_params(req.content_type, req.body) {
        Ok(p) => p,
        Err(_) => return bad_request(out, keep_alive, "the body must be a form or JSON object"),
    };
    let what = match (params.client_id.as_deref(), params.all) {
        (Some(_), Some(true)) => {
            return bad_request(out, keep_alive, "give client_id or all=true, not both");
        }
        (Some(id), _) => Invalidation::Client(id),
        (None, Some(true)) => Invalidation::All,
        (None, _) => return bad_request(out, keep_alive, "client_id or all=true is required"),
    };
    if let Invalidation::Client(id) = what
        && clients::validate_client_id(id).is_err()
    {
        return bad_request(out, keep_alive, "client_id is malformed");
    }
    let sent = match ctx.pg.client() {
        Ok(pg) => events::announce(&pg, what).await.is_ok(),
        Err(_) => false,
    };
    if !sent {
        let body = b"{\"error\":\"temporarily_unavailable\",\"error_description\":\"the database is unreachable; the invalidation was not sent\"}";
        return response::write_json(out, 503, body, keep_alive, &[("Retry-After", "1")]);
    }
    let body = serde_json::to_vec(&serde_json::json!({ "invalidated": what.payload() }))
        .expect("a json! value serializes");
    response::write_json(out, 200, &body, keep_alive, &[]);
}

/// `GET /admin/keys`: every loaded key's `kid` and `alg`, and which one signs (the first);
/// the same set the JWKS publishes, with HS256 keys named too (never their secret).
pub fn keys(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) {
    let keys = ctx.keys();
    let signing = keys.signer.key().kid();
    let listed: Vec<serde_json::Value> = keys
        .verify_keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "kid": k.kid(),
                "alg": k.alg().as_str(),
                "signing": k.kid() == signing,
            })
        })
        .collect();
    let body = serde_json::json!({ "keys": listed }).to_string();
    response::write_json(out, 200, body.as_bytes(), keep_alive, &[]);
}

/// `GET /admin/clients?limit=&after=`: up to `limit` clients (default and most
/// `ADMIN_PAGE_CLIENTS_MAX`) in id order after `after`, and `next`, the `after` of the next
/// page (`null` on the last).
pub async fn list_clients(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let (limit, after) = match page_query(req.query.unwrap_or("")) {
        Ok(page) => page,
        Err(description) => return bad_request(out, keep_alive, description),
    };
    let page = match ctx.pg.client() {
        Ok(pg) => clients::list_page(&pg, &after, limit).await,
        Err(e) => Err(clients::AdminError::Db(e)),
    };
    let Ok(page) = page else {
        return unavailable(out, keep_alive);
    };
    let next = (page.len() == limit).then(|| page.last().map(|c| c.client_id.clone()));
    let listed: Vec<serde_json::Value> = page.iter().map(clients::to_json).collect();
    let body = serde_json::json!({ "clients": listed, "next": next.flatten() }).to_string();
    response::write_json(out, 200, body.as_bytes(), keep_alive, &[]);
}

/// `limit` and `after` from a query string; nothing else is accepted.
fn page_query(query: &str) -> Result<(usize, String), &'static str> {
    let mut limit = limits::ADMIN_PAGE_CLIENTS_MAX;
    let mut after = String::new();
    for (name, value) in form::pairs(query.as_bytes()) {
        let value = form::decode(value.unwrap_or_default()).map_err(|_| "a malformed query")?;
        match name {
            b"limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=limits::ADMIN_PAGE_CLIENTS_MAX).contains(n))
                    .ok_or("limit is a number from 1 to 1000")?;
            }
            // Empty: from the first client.
            b"after" if value.is_empty() => {}
            b"after" => {
                clients::validate_client_id(&value).map_err(|_| "after is not a client id")?;
                after = value.into_owned();
            }
            _ => return Err("the query takes limit and after only"),
        }
    }
    Ok((limit, after))
}

/// `GET /admin/clients/{id}`: the client as `client show` prints it (never a secret or its
/// hash).
pub async fn show_client(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let found = match ctx.pg.client() {
        Ok(pg) => clients::show(&pg, id).await,
        Err(e) => Err(clients::AdminError::Db(e)),
    };
    match found {
        Ok(client) => {
            let body = clients::to_json(&client).to_string();
            response::write_json(out, 200, body.as_bytes(), keep_alive, &[]);
        }
        Err(clients::AdminError::NotFound(_)) => not_found(out, keep_alive),
        Err(_) => unavailable(out, keep_alive),
    }
}

/// `DELETE /admin/clients/{id}`: 204; its tokens introspect as inactive from then on.
pub async fn delete_client(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = client_in_path(req, out, keep_alive) else {
        return;
    };
    let done = match ctx.pg.client() {
        Ok(pg) => clients::delete(&pg, id).await,
        Err(e) => Err(clients::AdminError::Db(e)),
    };
    match done {
        Ok(()) => {
            audit::record("client.deleted", &[("client_id", &id), ("via", &"api")]);
            response::write_no_content(out, keep_alive)
        }
        Err(clients::AdminError::NotFound(_)) => not_found(out, keep_alive),
        Err(_) => unavailable(out, keep_alive),
    }
}

/// The client id in an `/admin/clients/{id}` path, or a 400 answer written.
fn client_in_path<'r>(req: &Request<'r>, out: &mut Vec<u8>, keep_alive: bool) -> Option<&'r str> {
    let id = route::admin_client(req.path).filter(|id| clients::validate_client_id(id).is_ok());
    if id.is_none() {
        bad_request(out, keep_alive, "client_id is malformed");
    }
    id
}

fn not_found(out: &mut Vec<u8>, keep_alive: bool) {
    admin_create::error(out, keep_alive, 404, "not_found", "no such client");
}

fn unavailable(out: &mut Vec<u8>, keep_alive: bool) {
    admin_create::unavailable(out, keep_alive);
}

/// `POST /admin/clients/{id}/revoke-tokens`: the kill switch, as `edgeauth client
/// revoke-tokens` does it (the same store function): 204, or 404 for an unknown client.
pub async fn revoke_tokens(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(id) = route::revoke_tokens_client(req.path) else {
        return bad_request(out, keep_alive, "no client id in the path");
    };
    if clients::validate_client_id(id).is_err() {
        return bad_request(out, keep_alive, "client_id is malformed");
    }
    let done = match ctx.pg.client() {
        Ok(pg) => clients::revoke_tokens(&pg, id).await,
        Err(e) => Err(clients::AdminError::Db(e)),
    };
    match done {
        Ok(()) => {
            audit::record(
                "client.tokens_revoked",
                &[("client_id", &id), ("via", &"api")],
            );
            response::write_no_content(out, keep_alive)
        }
        Err(clients::AdminError::NotFound(_)) => not_found(out, keep_alive),
        Err(_) => unavailable(out, keep_alive),
    }
}

fn bad_request(out: &mut Vec<u8>, keep_alive: bool, description: &'static str) {
    admin_create::error(out, keep_alive, 400, "invalid_request", description);
}
