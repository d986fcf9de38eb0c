//! `/healthz` (the process answers) and `/readyz` (it can issue and record tokens: the
//! shard's database sessions are up, to the main database and to the tokens' one, and its
//! token writes are landing).

use crate::batch::Health;
use crate::endpoint::context::Context;
use crate::http::response;

pub fn healthz(out: &mut Vec<u8>, keep_alive: bool) {
    response::write_json(out, 200, b"{\"status\":\"ok\"}", keep_alive, &[]);
}

const READY: &[u8] = b"{\"status\":\"ready\"}";
const NOT_CONNECTED: &[u8] = b"{\"status\":\"unavailable\",\"reason\":\"database not connected\"}";
const WRITES_FAILING: &[u8] = b"{\"status\":\"unavailable\",\"reason\":\"token writes failing\"}";
const BUFFER_FULL: &[u8] = b"{\"status\":\"unavailable\",\"reason\":\"token buffer full\"}";

/// Not ready while a connected database refuses the token writes too, not only while it
/// is away: a balancer should send requests elsewhere before this shard's buffer fills
/// and it answers every token request 503.
pub fn readyz(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) {
    let unready = if !(ctx.pg.is_connected() && ctx.tokens_pg.is_connected()) {
        Some(NOT_CONNECTED)
    } else {
        match ctx.writer.health() {
            Health::Writing => None,
            Health::Failing => Some(WRITES_FAILING),
            Health::Full => Some(BUFFER_FULL),
        }
    };
    match unready {
        None => response::write_json(out, 200, READY, keep_alive, &[]),
        Some(body) => response::write_json(out, 503, body, keep_alive, &[("Retry-After", "1")]),
    }
}
