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
//! had, and no body (RFC 9110 §9.3.2).

use super::request::ParseError;

/// `Content-Type` of every JSON response.
pub const CONTENT_TYPE_JSON: &str = "application/json";

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

/// `204 No Content`: no body, and so neither `Content-Type` nor `Content-Length` (RFC 9110
/// §8.6: a server must not send the latter with a 204).
pub fn write_no_content(out: &mut Vec<u8>, keep_alive: bool) {
    out.extend_from_slice(b"HTTP/1.1 204 No Content\r\nServer: edgeauth\r\n");
    out.extend_from_slice(match keep_alive {
        true => b"Connection: keep-alive\r\n\r\n".as_slice(),
        false => b"Connection: close\r\n\r\n".as_slice(),
    });
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

/// The interim answer to `Expect: 100-continue`: send the body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

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

    #[test]
    fn unknown_status_still_has_a_phrase() {
        let mut out = Vec::new();
        write_json(&mut out, 299, b"", true, &[]);
        assert!(text(&out).starts_with("HTTP/1.1 299 Unknown\r\n"));
    }
}
