//! `/healthz` (the process answers) and `/readyz` (it can issue and record tokens: the
//! shard's database sessions are up, to the main database and to the tokens' one).

use crate::endpoint::context::Context;
use crate::http::response;

pub fn healthz(out: &mut Vec<u8>, keep_alive: bool) {
    response::write_json(out, 200, b"{\"status\":\"ok\"}", keep_alive, &[]);
}

pub fn readyz(ctx: &Context, out: &mut Vec<u8>, keep_alive: bool) {
    if ctx.pg.is_connected() && ctx.tokens_pg.is_connected() {
        response::write_json(out, 200, b"{\"status\":\"ready\"}", keep_alive, &[]);
    } else {
        let body = b"{\"status\":\"unavailable\",\"reason\":\"database not connected\"}";
        response::write_json(out, 503, body, keep_alive, &[("Retry-After", "1")]);
    }
}
