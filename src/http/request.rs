//! One HTTP/1.x request from the front of a byte buffer.
//!
//! [`parse`] is called by the connection loop every time bytes arrive. "Not enough bytes yet"
//! is `Ok(None)`, an expected condition and not an error (mini-redis's `Incomplete`); the
//! caller reads more and calls again with the longer buffer. A complete request is a borrowed
//! view into the buffer, and [`Request::len`] says where the next pipelined request begins.
//!
//! Framing is where request smuggling lives, so this module is strict where RFC 9112 lets a
//! server choose: one `Content-Length` made of digits only, never together with
//! `Transfer-Encoding`, no chunked bodies, one `Host`. Anything else is an error, and every
//! error closes the connection (see [`super::response::write_error`]), because after a framing
//! error the next request's first byte is unknown.

use crate::limits::{BODY_BYTES_MAX, HEADER_BYTES_MAX, HEADERS_COUNT_MAX};

/// The request methods the router distinguishes; the rest are answered 405 or 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Delete,
    Patch,
    Other,
}

impl Method {
    /// Methods are case-sensitive (RFC 9110 §9.1): `get` is not `GET`.
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }

    /// The method's name, for logs and audit events (`OTHER` for the ones we do not serve).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Other => "OTHER",
        }
    }
}

/// A complete request, borrowed from the connection's read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The path without the query; for an absolute-form target (`http://host/path`) just the
    /// path, which RFC 9112 §3.2.2 requires servers to accept.
    pub path: &'a str,
    /// What follows the first `?`, without it; `None` when there is no `?`.
    pub query: Option<&'a str>,
    /// 0 or 1 (`HTTP/1.0`, `HTTP/1.1`).
    pub minor_version: u8,
    /// HTTP/1.1: true unless a `Connection` header lists `close`. HTTP/1.0: true only when it
    /// lists `keep-alive` (which `ab -k` sends). The response must echo the decision.
    pub keep_alive: bool,
    /// The raw `Authorization` value, if exactly one was sent.
    pub authorization: Option<&'a [u8]>,
    /// The raw `Content-Type` value, parameters included.
    pub content_type: Option<&'a [u8]>,
    /// The `DPoP` proof header (RFC 9449): its endpoint judges a repeat, not the framing.
    pub dpop: OneHeader<'a>,
    /// Exactly `Content-Length` bytes; empty without one.
    pub body: &'a [u8],
    /// Bytes consumed from the buffer, head and body: the next pipelined request starts here.
    pub len: usize,
}

/// A header that must appear at most once, where a repeat is the endpoint's error to
/// answer rather than a broken request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OneHeader<'a> {
    #[default]
    Absent,
    One(&'a [u8]),
    Repeated,
}

/// Why a request was refused. Each maps to one status code; all of them end the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// 400: not HTTP, bad framing headers, smuggling attempts.
    Malformed,
    /// 431: the head exceeds [`HEADER_BYTES_MAX`] or has more than [`HEADERS_COUNT_MAX`] fields.
    HeadersTooLarge,
    /// 413: `Content-Length` above [`BODY_BYTES_MAX`], known before any of the body is read.
    BodyTooLarge,
    /// 411: a POST without `Content-Length`.
    LengthRequired,
    /// 408: the head did not arrive whole within `header_timeout` of its first byte.
    HeadTimeout,
    /// 501: a `Transfer-Encoding` (chunked) without `Content-Length`. RFC 9112 §6.1 says a
    /// server that does not understand a transfer coding SHOULD answer 501, and we do not
    /// implement chunked decoding: OAuth clients send small bodies with a length. 501 also tells
    /// the client honestly that retrying with a `Content-Length` would work, where 400 would
    /// blame the request. (`Transfer-Encoding` together with `Content-Length` is `Malformed`.)
    UnsupportedTransferEncoding,
    /// 505: a well-formed version other than HTTP/1.0 or HTTP/1.1 (e.g. `HTTP/2.0`).
    VersionNotSupported,
    /// 400, in plain text: a plain HTTP request on a port that speaks TLS.
    PlainHttpOnTlsPort,
}

impl ParseError {
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Malformed => 400,
            ParseError::HeadersTooLarge => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::LengthRequired => 411,
            ParseError::HeadTimeout => 408,
            ParseError::UnsupportedTransferEncoding => 501,
            ParseError::VersionNotSupported => 505,
            ParseError::PlainHttpOnTlsPort => 400,
        }
    }

    /// A sentence for the `error_description` of the JSON error body.
    pub fn description(&self) -> &'static str {
        match self {
            ParseError::Malformed => "malformed HTTP request",
            ParseError::HeadersTooLarge => "request head exceeds 16384 bytes or 64 header fields",
            ParseError::BodyTooLarge => "request body exceeds 65536 bytes",
            ParseError::LengthRequired => "POST requires Content-Length",
            ParseError::HeadTimeout => "the request head did not arrive in time",
            ParseError::UnsupportedTransferEncoding => {
                "Transfer-Encoding is not supported; send Content-Length"
            }
            ParseError::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are supported",
            ParseError::PlainHttpOnTlsPort => "this port speaks TLS: use https://",
        }
    }
}

// The descriptions above spell the limits out; keep them honest.
const _: () = assert!(HEADER_BYTES_MAX == 16384 && BODY_BYTES_MAX == 65536);
const _: () = assert!(HEADERS_COUNT_MAX == 64);

/// Parse one request from the front of `buf`.
///
/// `Ok(None)`: not enough bytes yet; read more and call again with the longer buffer. The head
/// is bounded by [`HEADER_BYTES_MAX`] even while partial, and the body by [`BODY_BYTES_MAX`] as
/// soon as `Content-Length` is known, before it is read. Duplicate or conflicting
/// `Content-Length`, `Content-Length` with `Transfer-Encoding`, non-digit lengths and a missing
/// or repeated `Host` on HTTP/1.1 are `Malformed`. No allocation: headers live in a stack array.
pub fn parse(buf: &[u8]) -> Result<Option<Request<'_>>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_COUNT_MAX];
    let mut head = httparse::Request::new(&mut headers);
    // Never hand httparse more than the limit: a partial head at the limit is already too
    // large, and a complete one beyond it cannot be found in the slice.
    let window = &buf[..buf.len().min(HEADER_BYTES_MAX)];
    let head_len = match head.parse(window) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) if buf.len() >= HEADER_BYTES_MAX => {
            return Err(ParseError::HeadersTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadersTooLarge),
        Err(httparse::Error::Version) if names_http_version(window) => {
            return Err(ParseError::VersionNotSupported);
        }
        Err(_) => return Err(ParseError::Malformed),
    };
    // Complete means method, path and version were all parsed.
    let (Some(method), Some(target), Some(minor_version)) = (head.method, head.path, head.version)
    else {
        return Err(ParseError::Malformed);
    };
    debug_assert!(minor_version <= 1);
    debug_assert!(head_len <= HEADER_BYTES_MAX);
    // httparse accepts a bare LF as a line end; front proxies disagree about that, which is
    // how requests are smuggled past them (RFC 9112 §2.2 lets a server refuse it).
    if has_bare_lf(&window[..head_len]) {
        return Err(ParseError::Malformed);
    }

    let (path, query) = split_target(target)?;
    let fields = Fields::scan(head.headers, minor_version)?;
    let method = Method::from_token(method);
    let body_len = match (fields.content_length, method) {
        (Some(length), _) => length,
        (None, Method::Post) => return Err(ParseError::LengthRequired),
        (None, _) => 0,
    };
    // Checked before the body arrives; body_len <= BODY_BYTES_MAX so this cannot overflow.
    let len = head_len + body_len;
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(Request {
        method,
        path,
        query,
        minor_version,
        keep_alive: fields.keep_alive,
        authorization: fields.authorization,
        content_type: fields.content_type,
        dpop: fields.dpop,
        body: &buf[head_len..len],
        len,
    }))
}

/// The header fields the server acts on, gathered in one pass over httparse's array.
struct Fields<'a> {
    content_length: Option<usize>,
    keep_alive: bool,
    authorization: Option<&'a [u8]>,
    content_type: Option<&'a [u8]>,
    dpop: OneHeader<'a>,
}

impl<'a> Fields<'a> {
    fn scan(headers: &[httparse::Header<'a>], minor_version: u8) -> Result<Self, ParseError> {
        let mut content_length = None;
        let mut transfer_encoding = false;
        let mut hosts = 0u32;
        let mut connection_close = false;
        let mut connection_keep_alive = false;
        let mut authorization = None;
        let mut content_type = None;
        let mut dpop = OneHeader::Absent;
        for header in headers {
            let name = header.name.as_bytes();
            let value = trim_ows(header.value);
            if name.eq_ignore_ascii_case(b"content-length") {
                // RFC 9112 §6.3 lets a server merge identical repeats; we refuse every repeat,
                // so no two hops can ever disagree about where this body ends.
                if content_length.is_some() {
                    return Err(ParseError::Malformed);
                }
                content_length = Some(parse_content_length(value)?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = true;
            } else if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for option in value.split(|&b| b == b',').map(trim_ows) {
                    connection_close |= option.eq_ignore_ascii_case(b"close");
                    connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"authorization") {
                // Two credentials in one request: which one would we check? Neither.
                if authorization.replace(value).is_some() {
                    return Err(ParseError::Malformed);
                }
            } else if name.eq_ignore_ascii_case(b"dpop") {
                dpop = match dpop {
                    OneHeader::Absent => OneHeader::One(value),
                    _ => OneHeader::Repeated,
                };
            } else if name.eq_ignore_ascii_case(b"content-type")
                && content_type.replace(value).is_some()
            {
                return Err(ParseError::Malformed);
            }
        }
        // RFC 9112 §6.1: Content-Length with Transfer-Encoding is the classic smuggling
        // vector; the message "ought to be handled as an error".
        match (transfer_encoding, content_length) {
            (true, Some(_)) => return Err(ParseError::Malformed),
            (true, None) => return Err(ParseError::UnsupportedTransferEncoding),
            (false, _) => {}
        }
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to
        // any request with more than one.
        if hosts > 1 || (minor_version == 1 && hosts == 0) {
            return Err(ParseError::Malformed);
        }
        let keep_alive = match minor_version {
            1 => !connection_close,
            _ => connection_keep_alive && !connection_close,
        };
        Ok(Fields {
            content_length,
            keep_alive,
            authorization,
            content_type,
            dpop,
        })
    }
}

/// `Content-Length = 1*DIGIT`: no sign, no spaces inside, no list. A length of more digits
/// than any allowed body is `BodyTooLarge` without overflowing.
fn parse_content_length(value: &[u8]) -> Result<usize, ParseError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed);
    }
    let mut length: usize = 0;
    for &digit in value {
        length = length * 10 + usize::from(digit - b'0');
        if length > BODY_BYTES_MAX {
            return Err(ParseError::BodyTooLarge);
        }
    }
    Ok(length)
}

/// Split a request target into path and query. Origin-form (`/p?q`) is what clients send;
/// absolute-form (`http://host/p?q`) is what they send to proxies and must be accepted too;
/// asterisk-form (`*`) is only for OPTIONS and is passed through for the router to refuse.
fn split_target(target: &str) -> Result<(&str, Option<&str>), ParseError> {
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))
    {
        match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'/' => &rest[at..],
            // "http://host?q" has an empty path, which is "/" (RFC 9112 §3.2.1).
            _ => return Ok(("/", rest.split_once('?').map(|(_, query)| query))),
        }
    } else {
        return Err(ParseError::Malformed);
    };
    Ok(match origin.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (origin, None),
    })
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.as_bytes().get(..prefix.len())?;
    // The prefix is ASCII, so a match ends on a char boundary.
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| &text[prefix.len()..])
}

/// Optional whitespace (space, tab) trimmed from both ends of a field value.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    &value[start..end]
}

/// Did httparse's version error come from a real `HTTP/x.y` token (505), or from garbage (400)?
/// Looks at the end of the request line only, which is short by then.
fn names_http_version(buf: &[u8]) -> bool {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = &buf[..line_end];
    let Some(space) = line.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    match &line[space + 1..] {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        [b'H', b'T', b'T', b'P', b'/', major] => major.is_ascii_digit(),
        _ => false,
    }
}

/// A `\n` not preceded by `\r`.
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// Whether the unanswered request at the front of `buf`, for which [`parse`] said
/// `Ok(None)`, has its whole head and asks `Expect: 100-continue`: such a client holds its
/// body back until an interim 100 (RFC 9110 §10.1.1), which curl does for bodies over 1 KiB.
/// Only on that slow path: the head is parsed again.
pub fn awaits_continue(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_COUNT_MAX];
    let mut head = httparse::Request::new(&mut headers);
    let window = &buf[..buf.len().min(HEADER_BYTES_MAX)];
    if !matches!(head.parse(window), Ok(httparse::Status::Complete(_))) || head.version != Some(1) {
        return false;
    }
    head.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("expect")
            && trim_ows(h.value).eq_ignore_ascii_case(b"100-continue")
    })
}

/// Whether `buf` (bytes of an unanswered request) holds the blank line that ends a head.
pub fn has_whole_head(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_that_expects_continue_is_told_apart_while_its_body_is_awaited() {
        let head = b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(head), Ok(None));
        assert!(awaits_continue(head));
        assert!(
            !awaits_continue(&head[..head.len() - 2]),
            "the head is not whole yet"
        );
        let plain = b"POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n";
        assert!(!awaits_continue(plain));
        let http10 =
            b"POST /oauth/token HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        assert!(
            !awaits_continue(http10),
            "HTTP/1.0 has no interim responses"
        );
    }

    #[test]
    fn a_bare_lf_in_the_head_is_malformed() {
        for raw in [
            &b"GET /healthz HTTP/1.1\nHost: t\r\n\r\n"[..],
            b"GET /healthz HTTP/1.1\r\nHost: t\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\n",
        ] {
            assert_eq!(parse(raw).err(), Some(ParseError::Malformed), "{raw:?}");
        }
        assert!(
            parse(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap()
                .is_some()
        );
    }

    const TOKEN_REQUEST: &[u8] = b"POST /oauth/token HTTP/1.1\r\n\
        Host: localhost:8080\r\n\
        Authorization: Basic Y2xpZW50OnNlY3JldA==\r\n\
        Content-Type: application/x-www-form-urlencoded\r\n\
        Content-Length: 29\r\n\
        \r\n\
        grant_type=client_credentials";

    fn complete(buf: &[u8]) -> Request<'_> {
        match parse(buf) {
            Ok(Some(request)) => request,
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    #[test]
    fn full_token_request() {
        let request = complete(TOKEN_REQUEST);
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, "/oauth/token");
        assert_eq!(request.query, None);
        assert_eq!(request.minor_version, 1);
        assert!(request.keep_alive);
        assert_eq!(
            request.authorization,
            Some(&b"Basic Y2xpZW50OnNlY3JldA=="[..])
        );
        assert_eq!(
            request.content_type,
            Some(&b"application/x-www-form-urlencoded"[..])
        );
        assert_eq!(request.body, b"grant_type=client_credentials");
        assert_eq!(request.len, TOKEN_REQUEST.len());
    }

    /// Every prefix is `Ok(None)`; the whole is the same request as when it came at once.
    #[test]
    fn one_byte_at_a_time() {
        // The way a connection sees it: one growing buffer, parsed after every read.
        let mut buf = Vec::new();
        for (read, &byte) in TOKEN_REQUEST.iter().enumerate() {
            assert_eq!(parse(&buf), Ok(None), "after {read} bytes");
            buf.push(byte);
        }
        assert_eq!(complete(&buf), complete(TOKEN_REQUEST));
    }

    #[test]
    fn pipelined_requests_advance_by_len() {
        let mut buf = TOKEN_REQUEST.to_vec();
        buf.extend_from_slice(b"GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        buf.extend_from_slice(TOKEN_REQUEST);
        buf.extend_from_slice(b"GET /readyz HTTP/1.1\r\n"); // incomplete fourth request
        let first = complete(&buf);
        assert_eq!(first.body, b"grant_type=client_credentials");
        let rest = &buf[first.len..];
        let second = complete(rest);
        assert_eq!(
            (second.method, second.path, second.query),
            (Method::Get, "/healthz", Some("verbose=1"))
        );
        assert!(second.body.is_empty());
        let rest = &rest[second.len..];
        let third = complete(rest);
        assert_eq!(third.len, TOKEN_REQUEST.len());
        assert_eq!(parse(&rest[third.len..]), Ok(None));
    }

    #[test]
    fn http10_keep_alive_only_when_asked() {
        let plain = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(plain.minor_version, 0);
        assert!(!plain.keep_alive);
        // What `ab -k` sends; no Host is needed on 1.0.
        assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn http11_closes_only_when_asked() {
        assert!(complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(
            !complete(b"GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade, CLOSE\r\n\r\n")
                .keep_alive
        );
        assert!(
            complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n").keep_alive
        );
    }

    #[test]
    fn dpop_header_once_twice_or_not_at_all() {
        let head = |extra: &str| format!("GET / HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        assert_eq!(complete(head("").as_bytes()).dpop, OneHeader::Absent);
        assert_eq!(
            complete(head("dpop: a.b.c\r\n").as_bytes()).dpop,
            OneHeader::One(b"a.b.c")
        );
        // A repeat keeps the request whole: the token endpoint answers invalid_dpop_proof.
        assert_eq!(
            complete(head("DPoP: a.b.c\r\nDPoP: d.e.f\r\n").as_bytes()).dpop,
            OneHeader::Repeated
        );
    }

    #[test]
    fn lowercase_and_odd_case_header_names() {
        let buf = b"POST /oauth/token HTTP/1.1\r\nhost: a\r\nAUTHORIZATION: Basic x\r\n\
            content-type: application/json\r\ncontent-LENGTH: 2\r\n\r\n{}";
        let request = complete(buf);
        assert_eq!(request.authorization, Some(&b"Basic x"[..]));
        assert_eq!(request.content_type, Some(&b"application/json"[..]));
        assert_eq!(request.body, b"{}");
    }

    /// Builds a GET whose head is exactly `total` bytes long.
    fn head_of(total: usize) -> Vec<u8> {
        let fixed = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n".len();
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
        buf.resize(total - fixed + buf.len(), b'p');
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(buf.len(), total);
        buf
    }

    #[test]
    fn head_exactly_at_the_limit_is_accepted() {
        let buf = head_of(HEADER_BYTES_MAX);
        assert_eq!(complete(&buf).len, HEADER_BYTES_MAX);
        // Still accepted with pipelined bytes behind it.
        let mut more = buf.clone();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(complete(&more).len, HEADER_BYTES_MAX);
        // And not refused one byte short of complete.
        assert_eq!(parse(&buf[..HEADER_BYTES_MAX - 1]), Ok(None));
    }

    #[test]
    fn head_over_the_limit_is_refused_even_while_partial() {
        assert_eq!(
            parse(&head_of(HEADER_BYTES_MAX + 1)),
            Err(ParseError::HeadersTooLarge)
        );
        let partial = &head_of(HEADER_BYTES_MAX + 100)[..HEADER_BYTES_MAX];
        assert_eq!(parse(partial), Err(ParseError::HeadersTooLarge));
        assert_eq!(parse(&partial[..HEADER_BYTES_MAX - 1]), Ok(None));
    }

    #[test]
    fn too_many_headers() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 0..HEADERS_COUNT_MAX {
            buf.extend_from_slice(b"X-A: b\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(parse(&buf), Err(ParseError::HeadersTooLarge));
    }

    #[test]
    fn oversized_content_length_is_refused_before_the_body() {
        let head = b"POST /oauth/token HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n";
        assert_eq!(parse(head), Err(ParseError::BodyTooLarge));
        let huge =
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
        assert_eq!(parse(huge), Err(ParseError::BodyTooLarge));
        // At the limit: waits for the body.
        let at = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n";
        assert_eq!(parse(at), Ok(None));
        let mut full = at.to_vec();
        full.resize(at.len() + BODY_BYTES_MAX, b'x');
        assert_eq!(complete(&full).body.len(), BODY_BYTES_MAX);
    }

    #[test]
    fn post_without_content_length() {
        assert_eq!(
            parse(b"POST /oauth/token HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::LengthRequired)
        );
        assert_eq!(
            complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body,
            b""
        );
    }

    #[test]
    fn chunked_and_smuggling_shapes() {
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(parse(chunked), Err(ParseError::UnsupportedTransferEncoding));
        assert_eq!(parse(chunked).map_err(|e| e.status()), Err(501));
        let both = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(parse(both), Err(ParseError::Malformed));
        let both_reversed = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(both_reversed), Err(ParseError::Malformed));
    }

    #[test]
    fn content_length_must_be_one_plain_number() {
        for bad in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(ParseError::Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Surrounding whitespace is optional whitespace, not part of the number.
        assert_eq!(
            complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  3 \r\n\r\nabc").body,
            b"abc"
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Err(ParseError::Malformed));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn garbage_and_versions() {
        assert_eq!(
            parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Err(ParseError::Malformed)
        );
        assert_eq!(parse(b"hello world\r\n\r\n"), Err(ParseError::Malformed));
        assert_eq!(parse(b"GET / FOO/1.1\r\n\r\n"), Err(ParseError::Malformed));
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\n\r\n"),
            Err(ParseError::VersionNotSupported)
        );
        for version in [
            &b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/0.9\r\n\r\n",
        ] {
            assert_eq!(parse(version), Err(ParseError::VersionNotSupported));
        }
        assert_eq!(
            parse(b"GET / HTTP/1.1x\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(ParseError::VersionNotSupported)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse(b"GET /\0 HTTP/1.1\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        // Obsolete line folding is refused by httparse's defaults.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse(b"GET relative HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn methods_and_targets() {
        let get = complete(b"get /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(get.method, Method::Other);
        let head = complete(b"HEAD /.well-known/jwks.json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (head.method, head.path),
            (Method::Head, "/.well-known/jwks.json")
        );
        let absolute =
            complete(b"GET HTTP://example.com:80/metrics?a=b HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((absolute.path, absolute.query), ("/metrics", Some("a=b")));
        let bare = complete(b"GET https://example.com?x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((bare.path, bare.query), ("/", Some("x")));
        let empty_query = complete(b"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((empty_query.path, empty_query.query), ("/a", Some("")));
        assert_eq!(complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path, "*");
    }

    #[test]
    fn get_with_a_body_consumes_it() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET";
        let request = complete(buf);
        assert_eq!(request.body, b"abc");
        assert_eq!(&buf[request.len..], b"GET");
    }

    #[test]
    fn duplicate_credentials_are_refused() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic a\r\nAuthorization: Basic b\r\n\r\n";
        assert_eq!(parse(buf), Err(ParseError::Malformed));
    }
}
