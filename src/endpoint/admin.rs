//! The admin API, behind `Authorization: Bearer <admin_token>`: without a configured admin
//! token it does not exist (404). The calls on clients are in `admin_clients`; the
//! document that describes every call is `docs/openapi.json`, served as it is.

use std::net::IpAddr;

use crate::audit;
use crate::auth::secret;
use crate::endpoint::admin_answer::{self, bad_request, json_body};
use crate::endpoint::admin_clients;
use crate::endpoint::context::Context;
use crate::endpoint::params;
use crate::endpoint::request_metrics;
use crate::endpoint::route::Admin;
use crate::http::request::Method;
use crate::http::request::Request;
use crate::http::response;
use crate::jwt::jti::issued_at_ms;
use crate::limits;
use crate::store::clients;
use crate::store::events::{self, Invalidation};
use crate::store::revocations;

/// The OpenAPI 3.1 document of the admin API.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Answer an admin request, once its bearer token is checked; every call, refused or not,
/// is an audit event (its path, status and source address).
pub async fn handle(
    ctx: &Context,
    call: Admin,
    req: &Request<'_>,
    source: IpAddr,
    out: &mut Vec<u8>,
    keep_alive: bool,
) {
    let start = out.len();
    match authorize(ctx, req) {
        Err(refusal) => write_refusal(refusal, out, keep_alive),
        Ok(()) => serve(ctx, call, req, out, keep_alive).await,
    }
    audit_call(req, source, request_metrics::status_of(&out[start..]));
}

/// A method an admin path does not take: 405 and its `Allow`, to a caller with the admin
/// token only; anyone else gets the refusal of any admin call, so that the admin API's
/// methods cannot be probed without the token. Audited like every admin call.
pub fn method_not_allowed(
    ctx: &Context,
    req: &Request<'_>,
    source: IpAddr,
    allow: &str,
    out: &mut Vec<u8>,
    keep_alive: bool,
) {
    let start = out.len();
    match authorize(ctx, req) {
        Err(refusal) => write_refusal(refusal, out, keep_alive),
        Ok(()) => admin_answer::method_not_allowed(out, keep_alive, allow),
    }
    audit_call(req, source, request_metrics::status_of(&out[start..]));
}

fn audit_call(req: &Request<'_>, source: IpAddr, status: u16) {
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

async fn serve(ctx: &Context, call: Admin, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    match (call, req.method) {
        (Admin::Stats, _) => stats(ctx, out, keep_alive),
        (Admin::Invalidate, _) => invalidate(ctx, req, out, keep_alive).await,
        (Admin::Keys, _) => keys(ctx, out, keep_alive),
        (Admin::Clients, Method::Post) => admin_clients::create(ctx, req, out, keep_alive).await,
        (Admin::Clients, _) => admin_clients::list(ctx, req, out, keep_alive).await,
        (Admin::Client, Method::Patch) => admin_clients::patch(ctx, req, out, keep_alive).await,
        (Admin::Client, Method::Delete) => admin_clients::delete(ctx, req, out, keep_alive).await,
        (Admin::Client, _) => admin_clients::show(ctx, req, out, keep_alive).await,
        (Admin::RotateSecret, _) => admin_clients::rotate_secret(ctx, req, out, keep_alive).await,
        (Admin::RevokeTokens, _) => admin_clients::revoke_tokens(ctx, req, out, keep_alive).await,
        (Admin::Revocations, _) => revoke_by_jti(ctx, req, out, keep_alive).await,
        (Admin::OpenApi, _) => response::write_json(
            out,
            200,
            OPENAPI.as_bytes(),
            keep_alive,
            &[("Cache-Control", "no-cache")],
        ),
    }
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
        let description = "the database is unreachable; the invalidation was not sent";
        return admin_answer::error(out, keep_alive, 503, "temporarily_unavailable", description);
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

/// The body of `POST /admin/revocations`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationJson {
    jti: String,
}

/// `POST /admin/revocations`: revoke one token by its `jti`, as `/oauth/revoke` does with
/// the token itself: 204, on every shard of every instance (the revocation is announced).
/// Nothing is read from `tokens` (which has no index, and may be in another database):
/// the jti, a UUIDv7, says when the token was issued, so it cannot live past that plus the
/// longest token lifetime, and the revocation is kept that long. A jti that cannot be one
/// of ours (another version, or minted in the future) is a 400.
async fn revoke_by_jti(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let Some(body) = json_body::<RevocationJson>(req, out, keep_alive, false) else {
        return;
    };
    let now_s = crate::clock::unix_now_s();
    let jti = match uuid::Uuid::try_parse(&body.jti) {
        Ok(jti) if jti.get_version_num() == 7 => *jti.as_bytes(),
        _ => {
            return bad_request(
                out,
                keep_alive,
                "jti is not a token id of this server (a UUIDv7)",
            );
        }
    };
    let issued_s = issued_at_ms(&jti) / 1000;
    if issued_s > now_s + limits::JWT_LEEWAY.as_secs() {
        return bad_request(out, keep_alive, "jti names a token from the future");
    }
    let live_until_s = issued_s + limits::TOKEN_TTL_MAX.as_secs();
    if live_until_s > now_s {
        let done = match ctx.pg.client() {
            Ok(pg) => revocations::revoke(&pg, &jti, "", live_until_s).await,
            Err(e) => Err(e),
        };
        if done.is_err() {
            return admin_answer::unavailable(out, keep_alive);
        }
    }
    let jti = uuid::Uuid::from_bytes(jti);
    audit::record("token.revoked", &[("jti", &jti), ("via", &"api")]);
    response::write_no_content(out, keep_alive)
}
