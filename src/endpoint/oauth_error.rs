//! RFC 6749 §5.2 error responses: one enum, one status, one JSON shape.

use crate::http::response;

/// Everything the token endpoint can refuse with. The descriptions are static text: they
/// explain the refusal without echoing what the client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(&'static str),
    /// `basic`: the client tried HTTP Basic (or sent no credentials), so the answer carries
    /// `WWW-Authenticate: Basic` as RFC 6749 §5.2 requires.
    InvalidClient {
        basic: bool,
        description: &'static str,
    },
    UnauthorizedClient(&'static str),
    UnsupportedGrantType(&'static str),
    InvalidScope(&'static str),
    /// RFC 8707 §2: a `resource` that is malformed or not allowed for the client.
    InvalidTarget(&'static str),
    /// RFC 9449 §5: the DPoP proof is missing where required, malformed, or fails a check.
    InvalidDpopProof(&'static str),
    /// RFC 9449 §8: the proof must carry this server nonce (sent as `DPoP-Nonce`).
    UseDpopNonce(String),
    /// The client's token rate is used up (429, `Retry-After` in whole seconds).
    TooManyRequests {
        retry_after_s: u64,
    },
    /// Not an RFC 6749 token-endpoint code, but the one clients know (from §4.1.2.1) for
    /// "try again later": the database cannot record the token right now.
    TemporarilyUnavailable(&'static str),
}

const WWW_AUTHENTICATE_BASIC: (&str, &str) = ("WWW-Authenticate", "Basic realm=\"edgeauth\"");
const NO_STORE: [(&str, &str); 2] = [("Cache-Control", "no-store"), ("Pragma", "no-cache")];

impl OAuthError {
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient { .. } => 401,
            OAuthError::TooManyRequests { .. } => 429,
            OAuthError::TemporarilyUnavailable(_) => 503,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            OAuthError::UseDpopNonce(_) => "use_dpop_nonce",
            OAuthError::TooManyRequests { .. } => "too_many_requests",
            OAuthError::TemporarilyUnavailable(_) => "temporarily_unavailable",
        }
    }

    pub fn description(&self) -> &'static str {
        match *self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidClient { description: d, .. }
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::InvalidTarget(d)
            | OAuthError::InvalidDpopProof(d)
            | OAuthError::TemporarilyUnavailable(d) => d,
            OAuthError::UseDpopNonce(_) => "the DPoP proof must carry the server nonce",
            OAuthError::TooManyRequests { .. } => {
                "this client's token rate is used up, retry after Retry-After seconds"
            }
        }
    }

    /// Write the whole response; `scratch` is the connection's reused body buffer.
    pub fn write(&self, out: &mut Vec<u8>, scratch: &mut Vec<u8>, keep_alive: bool) {
        scratch.clear();
        scratch.extend_from_slice(b"{\"error\":\"");
        scratch.extend_from_slice(self.code().as_bytes());
        scratch.extend_from_slice(b"\",\"error_description\":\"");
        // Descriptions are our own static ASCII without quotes or backslashes.
        debug_assert!(!self.description().contains(['"', '\\']));
        scratch.extend_from_slice(self.description().as_bytes());
        scratch.extend_from_slice(b"\"}");
        let status = self.status();
        match self {
            OAuthError::InvalidClient { basic: true, .. } => {
                let headers = [NO_STORE[0], NO_STORE[1], WWW_AUTHENTICATE_BASIC];
                response::write_json(out, status, scratch, keep_alive, &headers);
            }
            OAuthError::TemporarilyUnavailable(_) => {
                let headers = [NO_STORE[0], NO_STORE[1], ("Retry-After", "1")];
                response::write_json(out, status, scratch, keep_alive, &headers);
            }
            OAuthError::TooManyRequests { retry_after_s } => {
                let mut seconds = itoa::Buffer::new();
                let retry_after = ("Retry-After", seconds.format(*retry_after_s));
                let headers = [NO_STORE[0], NO_STORE[1], retry_after];
                response::write_json(out, status, scratch, keep_alive, &headers);
            }
            OAuthError::UseDpopNonce(nonce) => {
                let headers = [NO_STORE[0], NO_STORE[1], ("DPoP-Nonce", nonce.as_str())];
                response::write_json(out, status, scratch, keep_alive, &headers);
            }
            _ => response::write_json(out, status, scratch, keep_alive, &NO_STORE),
        }
    }
}

/// The headers every token response carries (RFC 6749 §5.1).
pub const NO_STORE_HEADERS: &[(&str, &str)] = &NO_STORE;
