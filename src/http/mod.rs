//! HTTP/1.1 at the byte level: requests in, responses out.
//!
//! * [`request`]: one request from the front of the connection's read buffer (httparse into a
//!   stack header array), borrowed, with the framing checks that defend against smuggling.
//! * [`response`]: status line, headers and body written into the connection's reused write
//!   buffer; a body whose length is known only afterwards gets its `Content-Length` patched.
//! * [`body`]: the OAuth request parameters from a form-urlencoded or JSON body.
//! * [`connection`]: the per-connection loop: keep-alive, pipelining, idle timeout.
//! * [`form`]: `application/x-www-form-urlencoded` component decoding, shared with Basic auth.
//!
//! Every bound the HTTP layer enforces is a named constant here, units last, so that the
//! limits table in `docs/ARCHITECTURE.md` can be checked against one screen of code.

pub mod body;
pub mod connection;
pub mod form;
pub mod request;
pub mod response;

pub use body::{BodyError, TokenParams, parse_params};
pub use request::{Method, ParseError, Request, parse};
pub use response::{PendingBody, write_error, write_head, write_json};

/// Longest request head (request line, headers and the blank line) we buffer. A head that is
/// still incomplete at this size is answered 431 rather than buffered further: httparse
/// restarts from the first byte on every `Partial`, so an unbounded head is unbounded work too.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

/// Largest request body, checked against `Content-Length` as soon as the head is parsed, so an
/// oversized body is refused (413) before a single byte of it is read. Token, introspection and
/// revocation bodies are a few hundred bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Headers per request. httparse fills a caller-provided array, which lives on the stack; more
/// headers than this is answered 431 like an oversized head.
pub const HEADERS_COUNT_MAX: usize = 64;

/// Largest complete request (head plus body) a connection must be able to hold: the size a
/// read buffer grows to at most.
pub const REQUEST_BYTES_MAX: usize = HEADER_BYTES_MAX + BODY_BYTES_MAX;

// 64 empty `httparse::Header`s are 2 KiB of stack per parse; keep that small.
const _: () = assert!(HEADERS_COUNT_MAX <= 128);
const _: () = assert!(HEADER_BYTES_MAX >= 1024 && BODY_BYTES_MAX >= 1024);
