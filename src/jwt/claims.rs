//! RFC 9068 access-token claims, serialized by hand into a reused buffer.
//!
//! serde_json would need a `Serialize` struct and a `Vec` per token; the claim set is fixed,
//! so writing it directly is both shorter and allocation-free. Values come from the
//! database and configuration (client ids, scopes, issuer), so they are escaped, with a
//! fast path for the usual plain-ASCII case.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The claims of one access token. `sub` is also written as `client_id`: for the
/// client-credentials grant the subject *is* the client (RFC 9068 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims<'a> {
    /// `iss`: the issuer URL from the configuration.
    pub iss: &'a str,
    /// `sub` and `client_id`: the authenticated client.
    pub sub: &'a str,
    /// `aud`: one audience as a JSON string (RFC 7519 §4.1.3 allows that), several as an
    /// array (RFC 8707 resources).
    pub aud: Audience<'a>,
    /// `iat`: issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// `exp`: expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// `jti`: the token id, a hyphenated UUID (see `JtiGenerator`).
    pub jti: &'a str,
    /// `scope`: space-separated granted scopes (RFC 9068 §2.2.3).
    pub scope: &'a str,
    /// `cnf.x5t#S256`: the SHA-256 of the client certificate the token is bound to
    /// (RFC 8705 §3.1); `None`: a bearer token.
    pub cnf_x5t_s256: Option<&'a [u8; 32]>,
    /// `cnf.jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to
    /// (RFC 9449 §6.1), base64url; `None`: not DPoP-bound.
    pub cnf_jkt: Option<&'a str>,
    /// The client's static claims: JSON object members without braces, checked when the
    /// client was registered (`"tenant":"acme"`); empty for none.
    pub extra: &'a str,
}

/// A token's `aud`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience<'a> {
    One(&'a str),
    Many(&'a [&'a str]),
}

/// Longest decimal `u64` (`18446744073709551615`).
const U64_DIGITS_MAX: usize = 20;

/// Append the claims object to `out`, members in the order
/// `iss, sub, client_id, aud, iat, exp, jti, scope`, then `cnf` for a bound token and the
/// client's own claims.
pub fn write_claims_json(claims: &AccessClaims<'_>, out: &mut Vec<u8>) {
    debug_assert!(
        claims.iat <= claims.exp,
        "token expires before it is issued"
    );
    out.extend_from_slice(b"{\"iss\":");
    write_json_str(out, claims.iss);
    out.extend_from_slice(b",\"sub\":");
    write_json_str(out, claims.sub);
    out.extend_from_slice(b",\"client_id\":");
    write_json_str(out, claims.sub);
    out.extend_from_slice(b",\"aud\":");
    match claims.aud {
        Audience::One(aud) => write_json_str(out, aud),
        Audience::Many(auds) => {
            out.push(b'[');
            for (i, aud) in auds.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, aud);
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b",\"iat\":");
    write_u64(out, claims.iat);
    out.extend_from_slice(b",\"exp\":");
    write_u64(out, claims.exp);
    out.extend_from_slice(b",\"jti\":");
    write_json_str(out, claims.jti);
    out.extend_from_slice(b",\"scope\":");
    write_json_str(out, claims.scope);
    write_confirmation(out, claims.cnf_x5t_s256, claims.cnf_jkt);
    if !claims.extra.is_empty() {
        out.push(b',');
        out.extend_from_slice(claims.extra.as_bytes());
    }
    out.push(b'}');
}

/// `,"cnf":{...}` with the members the token is bound by; nothing for a bearer token.
fn write_confirmation(out: &mut Vec<u8>, x5t_s256: Option<&[u8; 32]>, jkt: Option<&str>) {
    if x5t_s256.is_none() && jkt.is_none() {
        return;
    }
    out.extend_from_slice(b",\"cnf\":{");
    if let Some(thumbprint) = x5t_s256 {
        // base64url needs no JSON escaping.
        out.extend_from_slice(b"\"x5t#S256\":\"");
        let mut encoded = [0u8; 43];
        let written = URL_SAFE_NO_PAD
            .encode_slice(thumbprint, &mut encoded)
            .expect("32 bytes are 43 base64url characters");
        out.extend_from_slice(&encoded[..written]);
        out.push(b'"');
    }
    if let Some(jkt) = jkt {
        if x5t_s256.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"jkt\":");
        write_json_str(out, jkt);
    }
    out.push(b'}');
}

/// Does `b` need escaping inside a JSON string (RFC 8259 §7)? Bytes >= 0x80 are UTF-8
/// continuation or lead bytes of a valid `&str` and pass through unchanged.
#[inline]
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Append `s` as a quoted JSON string, copying runs of plain bytes in one go.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        write_escape(out, b);
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// The escape sequence for one byte that `needs_escape`; short forms where JSON has them.
#[cold]
fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Append the decimal digits of `n`.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; U64_DIGITS_MAX];
    let mut start = U64_DIGITS_MAX;
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, s);
        String::from_utf8(out).expect("escaper keeps UTF-8")
    }

    #[test]
    fn plain_strings_are_quoted_verbatim() {
        assert_eq!(json_str(""), "\"\"");
        assert_eq!(json_str("read write"), "\"read write\"");
        assert_eq!(json_str("héllo ✓"), "\"héllo ✓\"");
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(json_str("a\"b"), r#""a\"b""#);
        assert_eq!(json_str("a\\b"), r#""a\\b""#);
        assert_eq!(json_str("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(json_str("\u{0}\u{1f}x"), r#""\u0000\u001fx""#);
    }

    #[test]
    fn every_string_round_trips_through_serde_json() {
        let all_ascii: String = (0u8..0x80).map(char::from).collect();
        for s in [all_ascii.as_str(), "\"\\\"", "tail\\", "ü\u{7f}\u{2028}"] {
            let back: String = serde_json::from_str(&json_str(s)).expect("valid JSON");
            assert_eq!(back, s);
        }
    }

    #[test]
    fn u64_is_written_in_decimal() {
        for n in [0, 7, 10, 1_700_000_000, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn claims_are_written_in_order_and_parse_back() {
        let claims = AccessClaims {
            iss: "https://auth.example",
            sub: "svc-\"a\"",
            aud: Audience::One("api"),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            jti: "0190a5c4-1234-7abc-8def-0123456789ab",
            scope: "read write",
            cnf_x5t_s256: None,
            cnf_jkt: None,
            extra: "",
        };
        let mut out = b"prefix".to_vec();
        write_claims_json(&claims, &mut out);
        let json = std::str::from_utf8(&out[6..]).expect("UTF-8");
        assert_eq!(
            json,
            r#"{"iss":"https://auth.example","sub":"svc-\"a\"","client_id":"svc-\"a\"","aud":"api","iat":1700000000,"exp":1700003600,"jti":"0190a5c4-1234-7abc-8def-0123456789ab","scope":"read write"}"#
        );
        let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(value["client_id"], "svc-\"a\"");
        assert_eq!(value["exp"], 1_700_003_600u64);
    }

    #[test]
    fn confirmation_names_the_certificate_the_key_or_both() {
        let base = AccessClaims {
            iss: "i",
            sub: "s",
            aud: Audience::One("a"),
            iat: 1,
            exp: 2,
            jti: "j",
            scope: "",
            cnf_x5t_s256: None,
            cnf_jkt: None,
            extra: "",
        };
        let cnf = |claims: &AccessClaims<'_>| {
            let mut out = Vec::new();
            write_claims_json(claims, &mut out);
            serde_json::from_slice::<serde_json::Value>(&out).expect("valid JSON")["cnf"].clone()
        };
        assert!(cnf(&base).is_null(), "a bearer token has no cnf");
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let dpop = AccessClaims {
            cnf_jkt: Some(jkt),
            ..base
        };
        assert_eq!(cnf(&dpop), serde_json::json!({ "jkt": jkt }));
        let both = AccessClaims {
            cnf_x5t_s256: Some(&[0; 32]),
            ..dpop
        };
        assert_eq!(
            cnf(&both),
            serde_json::json!({ "x5t#S256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "jkt": jkt })
        );
    }
}
