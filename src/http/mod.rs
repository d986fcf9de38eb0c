//! HTTP/1.1 at the byte level, protocol only: requests in, responses out.
//!
//! * [`request`]: one request from the front of the connection's read buffer (httparse into a
//!   stack header array), borrowed, with the framing checks that defend against smuggling.
//! * [`proxy`]: the PROXY protocol header a load balancer sends before the client's bytes.
//! * [`response`]: status line, headers and body written into the connection's reused write
//!   buffer.
//!
//! It knows no shard, no endpoint and no OAuth: the connection loop is `shard::connection`,
//! the OAuth parameters of a body are `endpoint::params`.
//!
//! The bounds it enforces are named in `crate::limits` with every other bound (re-exported
//! here), so that the limits table in `docs/ARCHITECTURE.md` is checked against one file.

pub mod proxy;
pub mod request;
pub mod response;

pub use request::{Method, ParseError, Request, parse};
pub use response::{write_error, write_head, write_json};

pub use crate::limits::{BODY_BYTES_MAX, HEADER_BYTES_MAX, HEADERS_COUNT_MAX, REQUEST_BYTES_MAX};
