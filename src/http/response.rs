//! Responses written straight into the connection's reused write buffer.
//!
//! Nothing here builds a `String`: the status line, headers and body are appended to `out`,
//! which the connection owns for its lifetime and clears after each write, so after the first
//! few requests a response costs no allocation at all. Numbers go through `itoa`.
//!
//! Every response carries an explicit `Connection: keep-alive` or `Connection: close`: HTTP/1.1
//! clients do not need the former, but HTTP/1.0 clients (`ab -k`) close without it, and the
//! writer does not know the request's version. Twenty-four bytes buy one code path.
//!
//! A HEAD request is answered with [`write_head`] and the `Content-Length` the GET would have
//! had, and no body (RFC 9110 §9.3.2); see also [`PendingBody::finish_without_body`].

use super::request::ParseError;

/// `Content-Type` of every JSON response.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Digits reserved for a `Content-Length` patched in after the body is written: up to
/// 9_999_999_999 bytes, far beyond any body this server produces.
const PATCHED_LENGTH_DIGITS: usize = 10;

/// The reason phrase for the statuses this server sends (RFC 9110 §15). Clients ignore it, but
/// humans reading a `curl -v` do not.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Status line and headers, up to and including the blank line. The caller appends exactly
/// `content_length` body bytes (none for HEAD). `extra_headers` are written verbatim; they come
/// from the server's own code, never from the request, so they are only debug-checked for CR/LF.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    content_length: usize,
    keep_alive: bool,
    extra_headers: &[(&str, &str)],
) {
    write_head_start(out, status, content_type, keep_alive, extra_headers);
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(content_length).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// A complete JSON response: head, then `body`.
pub fn write_json(
    out: &mut Vec<u8>,
    status: u16,
    body: &[u8],
    keep_alive: bool,
    extra_headers: &[(&str, &str)],
) {
    write_head(
        out,
        status,
        CONTENT_TYPE_JSON,
        body.len(),
        keep_alive,
        extra_headers,
    );
    out.extend_from_slice(body);
}

/// The answer to a request that could not be parsed: a JSON error body and
/// `Connection: close`, because after a framing error the stream cannot be trusted.
pub fn write_error(out: &mut Vec<u8>, e: &ParseError) {
    let description = e.description();
    let body_len = ERROR_BODY_PREFIX.len() + description.len() + ERROR_BODY_SUFFIX.len();
    write_head(out, e.status(), CONTENT_TYPE_JSON, body_len, false, &[]);
    out.extend_from_slice(ERROR_BODY_PREFIX);
    out.extend_from_slice(description.as_bytes());
    out.extend_from_slice(ERROR_BODY_SUFFIX);
}

const ERROR_BODY_PREFIX: &[u8] = br#"{"error":"invalid_request","error_description":""#;
const ERROR_BODY_SUFFIX: &[u8] = br#""}"#;

/// A response whose body length is known only after the body is written (the token response:
/// its length depends on the signature). The choice, against a second scratch buffer: reserve
/// [`PATCHED_LENGTH_DIGITS`] bytes for the `Content-Length` value, write the body straight
/// into `out`, then write the digits right-aligned into the reserved bytes. The padding is
/// spaces between the colon and the digits, which is optional whitespace every HTTP parser
/// skips (RFC 9110 §5.5), so nothing is copied twice and no second buffer exists.
///
/// ```
/// # use edgeauth::http::response::PendingBody;
/// let mut out = Vec::new();
/// let pending = PendingBody::begin(&mut out, 200, "application/json", true, &[]);
/// out.extend_from_slice(b"{}");
/// pending.finish(&mut out);
/// assert!(out.ends_with(b"Content-Length:          2\r\n\r\n{}"));
/// ```
#[derive(Debug)]
#[must_use = "the Content-Length stays blank until finish() is called"]
pub struct PendingBody {
    /// Offset in `out` of the reserved digits.
    length_at: usize,
    /// Offset in `out` where the body begins.
    body_at: usize,
}

impl PendingBody {
    /// Write the head with a blank `Content-Length`; append the body to `out` next.
    pub fn begin(
        out: &mut Vec<u8>,
        status: u16,
        content_type: &str,
        keep_alive: bool,
        extra_headers: &[(&str, &str)],
    ) -> PendingBody {
        write_head_start(out, status, content_type, keep_alive, extra_headers);
        out.extend_from_slice(b"Content-Length: ");
        let length_at = out.len();
        out.extend_from_slice(&[b' '; PATCHED_LENGTH_DIGITS]);
        out.extend_from_slice(b"\r\n\r\n");
        PendingBody {
            length_at,
            body_at: out.len(),
        }
    }

    /// The body bytes written so far.
    pub fn body<'o>(&self, out: &'o [u8]) -> &'o [u8] {
        &out[self.body_at..]
    }

    /// Patch `Content-Length` to the bytes appended since [`PendingBody::begin`].
    pub fn finish(self, out: &mut [u8]) {
        debug_assert!(
            out.len() >= self.body_at,
            "the buffer was truncated under a pending body"
        );
        let body_len = out.len() - self.body_at;
        self.patch(out, body_len);
    }

    /// For HEAD: patch `Content-Length` to the body's length, then drop the body.
    pub fn finish_without_body(self, out: &mut Vec<u8>) {
        let body_len = out.len() - self.body_at;
        self.patch(out, body_len);
        out.truncate(self.body_at);
    }

    fn patch(&self, out: &mut [u8], body_len: usize) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(body_len).as_bytes();
        // A 10 GB response body cannot be built in memory by this server; this is an invariant.
        assert!(
            digits.len() <= PATCHED_LENGTH_DIGITS,
            "response body of {body_len} bytes"
        );
        let field = &mut out[self.length_at..self.length_at + PATCHED_LENGTH_DIGITS];
        let (padding, number) = field.split_at_mut(PATCHED_LENGTH_DIGITS - digits.len());
        padding.fill(b' ');
        number.copy_from_slice(digits);
    }
}

/// Status line, `Server`, `Content-Type`, `Connection` and the extra headers; the caller writes
/// `Content-Length` and the blank line.
fn write_head_start(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    keep_alive: bool,
    extra_headers: &[(&str, &str)],
) {
    debug_assert!((100..=999).contains(&status));
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\nServer: edgeauth\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(match keep_alive {
        true => b"\r\nConnection: keep-alive\r\n".as_slice(),
        false => b"\r\nConnection: close\r\n".as_slice(),
    });
    for (name, value) in extra_headers {
        debug_assert!(!name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).expect("responses are ASCII here")
    }

    #[test]
    fn json_response_with_extra_headers() {
        let mut out = Vec::new();
        write_json(
            &mut out,
            200,
            br#"{"ok":true}"#,
            true,
            &[("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        );
        assert_eq!(
            text(&out),
            "HTTP/1.1 200 OK\r\nServer: edgeauth\r\nContent-Type: application/json\r\n\
             Connection: keep-alive\r\nCache-Control: no-store\r\nPragma: no-cache\r\n\
             Content-Length: 11\r\n\r\n{\"ok\":true}"
        );
    }

    #[test]
    fn responses_append_and_reuse_the_buffer() {
        let mut out = Vec::with_capacity(512);
        write_json(&mut out, 404, b"{}", true, &[]);
        let first = out.len();
        write_json(&mut out, 404, b"{}", false, &[]);
        assert!(text(&out[first..]).starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text(&out[first..]).contains("Connection: close\r\n"));
        let capacity = out.capacity();
        out.clear();
        write_json(&mut out, 404, b"{}", true, &[]);
        assert_eq!(
            out.capacity(),
            capacity,
            "a cleared buffer is reused, not regrown"
        );
    }

    #[test]
    fn head_writes_no_body() {
        let mut out = Vec::new();
        write_head(&mut out, 200, "text/plain; version=0.0.4", 1234, true, &[]);
        assert!(text(&out).ends_with("Content-Length: 1234\r\n\r\n"));
    }

    #[test]
    fn errors_close_and_explain() {
        for (error, status_line) in [
            (ParseError::Malformed, "HTTP/1.1 400 Bad Request\r\n"),
            (
                ParseError::HeadersTooLarge,
                "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            ),
            (
                ParseError::BodyTooLarge,
                "HTTP/1.1 413 Content Too Large\r\n",
            ),
            (
                ParseError::LengthRequired,
                "HTTP/1.1 411 Length Required\r\n",
            ),
            (
                ParseError::UnsupportedTransferEncoding,
                "HTTP/1.1 501 Not Implemented\r\n",
            ),
            (
                ParseError::VersionNotSupported,
                "HTTP/1.1 505 HTTP Version Not Supported\r\n",
            ),
        ] {
            let mut out = b"earlier pipelined response".to_vec();
            write_error(&mut out, &error);
            let response = &text(&out)["earlier pipelined response".len()..];
            assert!(response.starts_with(status_line), "{response}");
            assert!(response.contains("Connection: close\r\n"));
            let (head, body) = response.split_once("\r\n\r\n").expect("a blank line");
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .and_then(|n| n.parse().ok())
                .expect("a Content-Length");
            assert_eq!(length, body.len());
            let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
            assert_eq!(json["error"], "invalid_request");
            assert_eq!(json["error_description"], error.description());
        }
    }

    /// The patched response parses back with the length of the body that was written.
    #[test]
    fn pending_body_patches_its_length() {
        let mut out = b"HTTP/1.1 200 OK\r\n\r\n".to_vec(); // an earlier pipelined response
        let pending = PendingBody::begin(
            &mut out,
            200,
            CONTENT_TYPE_JSON,
            true,
            &[("Cache-Control", "no-store")],
        );
        let body = br#"{"access_token":"abc.def.ghi","token_type":"Bearer"}"#;
        assert_eq!(body.len(), 52);
        out.extend_from_slice(body);
        assert_eq!(pending.body(&out), body);
        pending.finish(&mut out);
        let response = &text(&out)[19..];
        assert!(
            response.contains("Content-Length:         52\r\n\r\n{"),
            "{response}"
        );
        // httparse, like every client, reads the padded value as the plain number.
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed.parse(response.as_bytes()) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}"),
        };
        let length = parsed
            .headers
            .iter()
            .find(|h| h.name == "Content-Length")
            .map(|h| h.value);
        assert_eq!(length, Some(&b"52"[..]));
        assert_eq!(response.len() - head_len, 52);
    }

    #[test]
    fn pending_body_for_head() {
        let mut out = Vec::new();
        let pending = PendingBody::begin(&mut out, 200, CONTENT_TYPE_JSON, true, &[]);
        out.extend_from_slice(&[b'x'; 1_234_567]);
        pending.finish_without_body(&mut out);
        assert!(text(&out).ends_with("Content-Length:    1234567\r\n\r\n"));
    }

    #[test]
    fn unknown_status_still_has_a_phrase() {
        let mut out = Vec::new();
        write_json(&mut out, 299, b"", true, &[]);
        assert!(text(&out).starts_with("HTTP/1.1 299 Unknown\r\n"));
    }
}
