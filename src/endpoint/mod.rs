//! OAuth semantics: the endpoints, over the narrow [`context::Context`] a shard gives them.
//!
//! [`handle`] answers one parsed request into the connection's write buffer: it routes
//! (`route`), calls the endpoint, and counts the answer. `token` is where a token is issued;
//! `introspect` and `revoke` where one is checked and revoked; `params` reads the OAuth
//! parameters of a body; `client_authn` authenticates the calling client; `oauth_error` is
//! the one mapping from a refusal to its status, JSON and headers.

pub mod admin;
pub mod admin_answer;
pub mod admin_client_json;
pub mod admin_clients;
pub mod auth_failures;
pub mod client_authn;
pub mod clients;
pub mod context;
pub mod health;
pub mod introspect;
pub mod metadata;
pub mod metrics;
pub mod oauth_error;
pub mod params;
pub mod rate_limit;
pub mod request_metrics;
pub mod revoke;
pub mod route;
pub mod stats;
pub mod token;

use crate::http::request::{Method, ParseError, Request};
use crate::http::response;
pub use context::Caller;
use context::{Context, Reply};
use route::{Route, Surface, route};

/// What the connection knows about a request besides its bytes.
pub struct Connection<'a> {
    /// The listener it came in on.
    pub surface: Surface,
    /// The connection stays open after the answer.
    pub keep_alive: bool,
    pub caller: Caller<'a>,
}

/// Answer one request into `out`. `scratch` is the connection's reused body buffer.
pub async fn handle(
    ctx: &Context,
    req: &Request<'_>,
    conn: Connection<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    let Connection {
        surface,
        keep_alive,
        caller,
    } = conn;
    let start = out.len();
    let route = route(req.method, req.path, surface);

    // The request was parsed just before this call; a vDSO clock read, no syscall.
    let begun = (route == Route::Token).then(std::time::Instant::now);
    match route {
        Route::Token | Route::Introspect | Route::Revoke => {
            let reply = Reply {
                out: &mut *out,
                scratch: &mut *scratch,
                keep_alive,
            };
            match route {
                Route::Token => token::handle(ctx, req, caller, reply).await,
                Route::Introspect => introspect::handle(ctx, req, caller, reply).await,
                _ => revoke::handle(ctx, req, caller, reply).await,
            }
        }
        Route::Metadata => metadata::write(&ctx.keys().documents.metadata, out, keep_alive),
        Route::Jwks => metadata::write(&ctx.keys().documents.jwks, out, keep_alive),
        Route::Healthz => health::healthz(out, keep_alive),
        Route::Readyz => health::readyz(ctx, out, keep_alive),
        Route::Metrics => metrics::handle(ctx, out, keep_alive),
        Route::Admin(call) => admin::handle(ctx, call, req, caller.source, out, keep_alive).await,
        Route::MethodNotAllowed(allow) if req.path.starts_with("/admin/") => {
            admin::method_not_allowed(ctx, req, caller.source, allow, out, keep_alive)
        }
        Route::MethodNotAllowed(allow) => {
            let body = b"{\"error\":\"method_not_allowed\",\
                          \"error_description\":\"the Allow header lists this path's methods\"}";
            response::write_json(out, 405, body, keep_alive, &[("Allow", allow)]);
        }
        Route::NotFound => {
            let body = b"{\"error\":\"not_found\",\"error_description\":\"no such endpoint\"}";
            response::write_json(out, 404, body, keep_alive, &[])
        }
    }
    // Read back from the status line just written, so it cannot disagree with the answer.
    let status = request_metrics::status_of(&out[start..]);
    let stats = ctx.stats();
    stats
        .http
        .record(request_metrics::endpoint_index(route), status);
    if let Some(begun) = begun
        && status == 200
    {
        stats.token_latency.observe(begun.elapsed());
    }
    if req.method == Method::Head {
        strip_body(out, start);
    }
}

/// Answer a request that did not parse (the connection closes after it), and count it.
pub fn refuse_malformed(ctx: &Context, e: &ParseError, out: &mut Vec<u8>) {
    ctx.stats()
        .http
        .record(request_metrics::ENDPOINT_OTHER, e.status());
    response::write_error(out, e);
}

/// HEAD: the same head as GET, without the body (RFC 9110 §9.3.2).
fn strip_body(out: &mut Vec<u8>, start: usize) {
    if let Some(end) = out[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        out.truncate(start + end + 4);
    }
}
