//! Routing: one match from (method, path) to the endpoint that answers.

pub mod admin;
pub mod client_authn;
pub mod health;
pub mod introspect;
pub mod metadata;
pub mod metrics;
pub mod oauth_error;
pub mod revoke;
pub mod token;

use crate::http::request::{Method, Request};
use crate::http::response;
use crate::shard::Shard;
use crate::shard::metrics as shard_metrics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Token,
    Introspect,
    Revoke,
    Metadata,
    Jwks,
    Healthz,
    Readyz,
    Metrics,
    AdminStats,
    AdminInvalidate,
    /// The path exists but not for this method; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
    NotFound,
}

pub fn route(method: Method, path: &str) -> Route {
    let get = matches!(method, Method::Get | Method::Head);
    let (route, allow) = match path {
        "/oauth/token" => (Route::Token, "POST"),
        "/oauth/introspect" => (Route::Introspect, "POST"),
        "/oauth/revoke" => (Route::Revoke, "POST"),
        "/.well-known/oauth-authorization-server" => (Route::Metadata, "GET, HEAD"),
        "/.well-known/jwks.json" => (Route::Jwks, "GET, HEAD"),
        "/healthz" => (Route::Healthz, "GET, HEAD"),
        "/readyz" => (Route::Readyz, "GET, HEAD"),
        "/metrics" => (Route::Metrics, "GET, HEAD"),
        "/admin/cache/stats" => (Route::AdminStats, "GET, HEAD"),
        "/admin/cache/invalidate" => (Route::AdminInvalidate, "POST"),
        _ => return Route::NotFound,
    };
    let allowed = if allow == "POST" {
        method == Method::Post
    } else {
        get
    };
    if allowed {
        route
    } else {
        Route::MethodNotAllowed(allow)
    }
}

/// Answer one request into `out`. `scratch` is the connection's reused body buffer.
pub async fn handle(
    shard: &Shard,
    req: &Request<'_>,
    keep_alive: bool,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    let start = out.len();
    let route = route(req.method, req.path);
    // The request was parsed just before this call; a vDSO clock read, no syscall.
    let begun = (route == Route::Token).then(std::time::Instant::now);
    match route {
        Route::Token => token::handle(shard, req, keep_alive, out, scratch).await,
        Route::Introspect => introspect::handle(shard, req, keep_alive, out, scratch).await,
        Route::Revoke => revoke::handle(shard, req, keep_alive, out, scratch).await,
        Route::Metadata | Route::Jwks => {
            let keys = shard.keys();
            let documents = &keys.documents;
            let body = if route == Route::Metadata {
                &documents.metadata
            } else {
                &documents.jwks
            };
            let cache = [("Cache-Control", "max-age=300")];
            response::write_json(out, 200, body, keep_alive, &cache);
        }
        Route::Healthz => health::healthz(out, keep_alive),
        Route::Readyz => health::readyz(shard, out, keep_alive),
        Route::Metrics => metrics::handle(shard, out, keep_alive),
        Route::AdminStats | Route::AdminInvalidate => match admin::authorize(shard, req) {
            Err(refusal) => admin::write_refusal(refusal, out, keep_alive),
            Ok(()) if route == Route::AdminStats => admin::stats(shard, out, keep_alive),
            Ok(()) => admin::invalidate(shard, req, out, keep_alive).await,
        },
        Route::MethodNotAllowed(allow) => {
            let body = b"{\"error\":\"method_not_allowed\"}";
            response::write_json(out, 405, body, keep_alive, &[("Allow", allow)]);
        }
        Route::NotFound => {
            response::write_json(out, 404, b"{\"error\":\"not_found\"}", keep_alive, &[])
        }
    }
    // Read back from the status line just written, so it cannot disagree with the answer.
    let status = shard_metrics::status_of(&out[start..]);
    let stats = shard.stats();
    stats
        .http
        .record(shard_metrics::endpoint_index(route), status);
    if let Some(begun) = begun
        && status == 200
    {
        stats.token_latency.observe(begun.elapsed());
    }
    if req.method == Method::Head {
        strip_body(out, start);
    }
}

/// HEAD: the same head as GET, without the body (RFC 9110 §9.3.2).
fn strip_body(out: &mut Vec<u8>, start: usize) {
    if let Some(end) = out[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        out.truncate(start + end + 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(Method::Post, "/oauth/token"), Route::Token);
        assert_eq!(
            route(Method::Get, "/oauth/token"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(route(Method::Post, "/oauth/introspect"), Route::Introspect);
        assert_eq!(route(Method::Post, "/oauth/revoke"), Route::Revoke);
        assert_eq!(
            route(Method::Get, "/oauth/revoke"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(route(Method::Head, "/healthz"), Route::Healthz);
        assert_eq!(
            route(Method::Post, "/healthz"),
            Route::MethodNotAllowed("GET, HEAD")
        );
        assert_eq!(route(Method::Get, "/nope"), Route::NotFound);
        assert_eq!(route(Method::Get, "/.well-known/jwks.json"), Route::Jwks);
    }
}
