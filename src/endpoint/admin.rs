//! `/admin/cache/stats` and `/admin/cache/invalidate`, behind `Authorization: Bearer
//! <admin_token>`. Without a configured admin token they do not exist (404).

use std::net::IpAddr;

use crate::audit;
use crate::auth::secret;
use crate::endpoint::context::Context;
use crate::endpoint::params;
use crate::endpoint::request_metrics;
use crate::endpoint::route::{self, Route};
use crate::http::request::Request;
use crate::http::response;
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
        Err(clients::AdminError::NotFound(_)) => {
            let body = b"{\"error\":\"not_found\",\"error_description\":\"no such client\"}";
            response::write_json(out, 404, body, keep_alive, &[])
        }
        Err(_) => {
            let body = b"{\"error\":\"temporarily_unavailable\",\"error_description\":\"the database is unreachable; nothing was revoked\"}";
            response::write_json(out, 503, body, keep_alive, &[("Retry-After", "1")])
        }
    }
}

fn bad_request(out: &mut Vec<u8>, keep_alive: bool, description: &'static str) {
    let body = serde_json::to_vec(
        &serde_json::json!({ "error": "invalid_request", "error_description": description }),
    )
    .expect("a json! value serializes");
    response::write_json(out, 400, &body, keep_alive, &[]);
}
