//! The OAuth request parameters of a POST body, borrowed from the body where possible.
//!
//! RFC 6749 §4.4.2 sends them as `application/x-www-form-urlencoded`; existing load-test files
//! (`ab -p token-request.json`) send the same names as a JSON object, so both are accepted and
//! land in one [`TokenParams`]. The same struct serves the token, introspection (RFC 7662),
//! revocation (RFC 7009) and cache-invalidation endpoints: each reads the fields it needs.
//!
//! Rules shared by both encodings (RFC 6749 §3.1, §3.2):
//! * a parameter sent without a value (`scope=`, `scope`, `"scope": ""`, `"scope": null`) is
//!   treated as omitted, so it can neither be used nor count as a repeat;
//! * a parameter with a value sent twice is an invalid request ([`BodyError::DuplicateParameter`]),
//!   except `resource` (RFC 8707), which may be repeated up to `RESOURCES_PER_REQUEST_MAX`;
//! * unrecognised parameters are ignored, whatever their value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::auth::client_auth::BodyCredentials;
use crate::form;
use crate::http::request::trim_ows;
use crate::limits;

/// The parameters any endpoint reads from a body; `None` is "not sent, or sent empty".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenParams<'a> {
    pub grant_type: Option<Cow<'a, str>>,
    /// Space-separated scope tokens, exactly as sent (after decoding).
    pub scope: Option<Cow<'a, str>>,
    /// `client_secret_post` credentials, or a client naming itself alongside Basic.
    pub client_id: Option<Cow<'a, str>>,
    pub client_secret: Option<Cow<'a, str>>,
    /// RFC 7521 §4.2 client authentication by assertion: its type and the JWT.
    pub client_assertion_type: Option<Cow<'a, str>>,
    pub client_assertion: Option<Cow<'a, str>>,
    /// The token to introspect or revoke.
    pub token: Option<Cow<'a, str>>,
    pub token_type_hint: Option<Cow<'a, str>>,
    /// RFC 8707 resource indicators, in the order sent (the one repeatable parameter).
    pub resources: Vec<Cow<'a, str>>,
    /// `/admin/cache/invalidate`: drop every client. Form `all=true|false|1|0`; JSON a boolean
    /// or one of those strings.
    pub all: Option<bool>,
}

/// Why a body yielded no parameters. All of them are `invalid_request` (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Neither form-urlencoded nor JSON (or no `Content-Type` on a non-empty body).
    UnsupportedContentType,
    /// Does not decode; the text is a description fit for `error_description`.
    Malformed(&'static str),
    /// The named parameter was sent twice with a value.
    DuplicateParameter(&'static str),
}

/// Parse the body by its `Content-Type` (matched case-insensitively, parameters such as
/// `; charset=UTF-8` ignored: both encodings are UTF-8 here). An empty body without a
/// `Content-Type` has no parameters, so the endpoint reports what is missing rather than a
/// media-type error. Form values are borrowed unless they contain `%` or `+`; JSON strings
/// unless they contain escapes.
pub fn parse_params<'a>(
    content_type: Option<&[u8]>,
    body: &'a [u8],
) -> Result<TokenParams<'a>, BodyError> {
    let media_type = content_type.map(|value| {
        let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
        trim_ows(&value[..end])
    });
    match media_type {
        Some(media) if media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") => {
            parse_form(body)
        }
        Some(media) if media.eq_ignore_ascii_case(b"application/json") => parse_json(body),
        None if body.is_empty() => Ok(TokenParams::default()),
        _ => Err(BodyError::UnsupportedContentType),
    }
}

/// The parameters this module recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    GrantType,
    Scope,
    ClientId,
    ClientSecret,
    ClientAssertionType,
    ClientAssertion,
    Token,
    TokenTypeHint,
    Resource,
    All,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "grant_type" => Field::GrantType,
            "scope" => Field::Scope,
            "client_id" => Field::ClientId,
            "client_secret" => Field::ClientSecret,
            "client_assertion_type" => Field::ClientAssertionType,
            "client_assertion" => Field::ClientAssertion,
            "token" => Field::Token,
            "token_type_hint" => Field::TokenTypeHint,
            "resource" => Field::Resource,
            "all" => Field::All,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::GrantType => "grant_type",
            Field::Scope => "scope",
            Field::ClientId => "client_id",
            Field::ClientSecret => "client_secret",
            Field::ClientAssertionType => "client_assertion_type",
            Field::ClientAssertion => "client_assertion",
            Field::Token => "token",
            Field::TokenTypeHint => "token_type_hint",
            Field::Resource => "resource",
            Field::All => "all",
        }
    }
}

impl<'a> TokenParams<'a> {
    /// What the body says about the client, for `auth::client_auth`.
    pub fn body_credentials(&self) -> BodyCredentials<'_, 'a> {
        BodyCredentials {
            client_id: self.client_id.as_ref(),
            client_secret: self.client_secret.as_ref(),
        }
    }

    /// Record a non-empty value; the second value for a field is a duplicate.
    fn set(&mut self, field: Field, value: Cow<'a, str>) -> Result<(), BodyError> {
        debug_assert!(!value.is_empty(), "empty values are omitted before set()");
        let slot = match field {
            Field::GrantType => &mut self.grant_type,
            Field::Scope => &mut self.scope,
            Field::ClientId => &mut self.client_id,
            Field::ClientSecret => &mut self.client_secret,
            Field::ClientAssertionType => &mut self.client_assertion_type,
            Field::ClientAssertion => &mut self.client_assertion,
            Field::Token => &mut self.token,
            Field::TokenTypeHint => &mut self.token_type_hint,
            Field::Resource => {
                if self.resources.len() == limits::RESOURCES_PER_REQUEST_MAX {
                    return Err(BodyError::Malformed("too many resource parameters"));
                }
                self.resources.push(value);
                return Ok(());
            }
            Field::All => {
                let all = match &*value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(BodyError::Malformed("all must be true or false")),
                };
                return self.set_all(all);
            }
        };
        match slot {
            Some(_) => Err(BodyError::DuplicateParameter(field.name())),
            None => {
                *slot = Some(value);
                Ok(())
            }
        }
    }

    fn set_all(&mut self, all: bool) -> Result<(), BodyError> {
        match self.all.replace(all) {
            Some(_) => Err(BodyError::DuplicateParameter(Field::All.name())),
            None => Ok(()),
        }
    }
}

fn parse_form(body: &[u8]) -> Result<TokenParams<'_>, BodyError> {
    let mut params = TokenParams::default();
    for (raw_name, raw_value) in form::pairs(body) {
        let name = form::decode(raw_name).map_err(form_error)?;
        let Some(field) = Field::from_name(&name) else {
            continue; // RFC 6749 §3.2: unrecognised parameters are ignored, value unread.
        };
        match raw_value {
            None | Some([]) => {} // Sent without a value: omitted.
            Some(raw_value) => params.set(field, form::decode(raw_value).map_err(form_error)?)?,
        }
    }
    Ok(params)
}

fn form_error(error: form::FormError) -> BodyError {
    match error {
        form::FormError::InvalidPercent => BodyError::Malformed("invalid percent-encoding"),
        form::FormError::InvalidUtf8 => BodyError::Malformed("parameters must be UTF-8"),
    }
}

fn parse_json(body: &[u8]) -> Result<TokenParams<'_>, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let params = match deserializer.deserialize_map(ParamsVisitor) {
        Ok(params) => params?,
        Err(error) if error.is_data() => {
            return Err(BodyError::Malformed("the body must be a JSON object"));
        }
        Err(_) => return Err(BodyError::Malformed("invalid JSON")),
    };
    deserializer
        .end()
        .map_err(|_| BodyError::Malformed("invalid JSON"))?;
    Ok(params)
}

/// Walks the top-level object once. Semantic errors (a duplicate, a number where a string
/// belongs) are not serde errors: the first is remembered, the rest of the object is still
/// consumed so syntax errors keep priority, and it comes back as the visitor's value.
struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Result<TokenParams<'de>, BodyError>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object of OAuth parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = TokenParams::default();
        let mut first_error = None;
        while let Some(JsonStr(name)) = map.next_key()? {
            let Some(field) = Field::from_name(&name) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let result = match map.next_value::<JsonValue<'de>>()? {
                JsonValue::Null => Ok(()),
                JsonValue::Str(value) if value.is_empty() => Ok(()),
                JsonValue::Str(value) => params.set(field, value),
                JsonValue::Bool(all) if field == Field::All => params.set_all(all),
                JsonValue::Bool(_) | JsonValue::Other => {
                    Err(BodyError::Malformed("parameter values must be strings"))
                }
            };
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        Ok(match first_error {
            Some(error) => Err(error),
            None => Ok(params),
        })
    }
}

/// A JSON string, borrowed from the body unless it had escapes.
struct JsonStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for JsonStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(JsonStrVisitor)
    }
}

struct JsonStrVisitor;

impl<'de> Visitor<'de> for JsonStrVisitor {
    type Value = JsonStr<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(JsonStr(Cow::Owned(value)))
    }
}

/// A parameter's value, classified without building a `serde_json::Value`.
enum JsonValue<'de> {
    Str(Cow<'de, str>),
    Null,
    Bool(bool),
    /// A number, array or object (consumed and dropped).
    Other,
}

impl<'de> de::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonValueVisitor)
    }
}

struct JsonValueVisitor;

impl<'de> Visitor<'de> for JsonValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(value)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(JsonValue::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");
    const JSON: Option<&[u8]> = Some(b"application/json");

    fn form(body: &str) -> Result<TokenParams<'_>, BodyError> {
        parse_params(FORM, body.as_bytes())
    }

    fn json(body: &str) -> Result<TokenParams<'_>, BodyError> {
        parse_params(JSON, body.as_bytes())
    }

    fn field<'p>(value: &'p Option<Cow<'_, str>>) -> Option<&'p str> {
        value.as_deref()
    }

    #[test]
    fn form_token_request_borrows() {
        let params = form(
            "grant_type=client_credentials&scope=read+write&client_id=svc&client_secret=s3cr%2Bt",
        )
        .expect("valid form");
        assert!(matches!(
            params.grant_type,
            Some(Cow::Borrowed("client_credentials"))
        ));
        assert_eq!(field(&params.scope), Some("read write"));
        assert!(matches!(params.client_id, Some(Cow::Borrowed("svc"))));
        assert_eq!(field(&params.client_secret), Some("s3cr+t"));
        assert_eq!((params.token, params.all), (None, None));
    }

    #[test]
    fn form_decoding() {
        let params =
            form("scope=a%20b%2Bc&token=caf%C3%A9&token_type_hint=access_token").expect("valid");
        assert_eq!(field(&params.scope), Some("a b+c"));
        assert_eq!(field(&params.token), Some("café"));
        assert_eq!(field(&params.token_type_hint), Some("access_token"));
        // Encoded names are names too.
        assert_eq!(
            field(&form("grant%5Ftype=x").expect("valid").grant_type),
            Some("x")
        );
        assert_eq!(
            form("scope=%zz"),
            Err(BodyError::Malformed("invalid percent-encoding"))
        );
        assert_eq!(
            form("scope=%C3"),
            Err(BodyError::Malformed("parameters must be UTF-8"))
        );
    }

    #[test]
    fn form_empty_values_are_omitted() {
        let params = form("grant_type=&scope&client_id=a&&").expect("valid");
        assert_eq!((params.grant_type, params.scope), (None, None));
        assert_eq!(field(&params.client_id), Some("a"));
        // An empty repeat is not a duplicate.
        assert_eq!(
            field(&form("scope=&scope=read").expect("valid").scope),
            Some("read")
        );
        assert_eq!(form(""), Ok(TokenParams::default()));
    }

    #[test]
    fn form_duplicates_and_unknowns() {
        assert_eq!(
            form("scope=a&scope=a"),
            Err(BodyError::DuplicateParameter("scope"))
        );
        assert_eq!(
            form("client_secret=a&grant_type=x&client_secret=b"),
            Err(BodyError::DuplicateParameter("client_secret"))
        );
        // Unknown parameters are ignored, even repeated and undecodable.
        let params = form("audience=%zz&audience=x&grant_type=client_credentials").expect("valid");
        assert_eq!(field(&params.grant_type), Some("client_credentials"));
    }

    #[test]
    fn resources_repeat_in_order_up_to_the_bound() {
        let params = form("resource=https%3A%2F%2Fa.example&resource=urn:b").expect("valid");
        assert_eq!(params.resources, ["https://a.example", "urn:b"]);
        let json = parse_params(Some(b"application/json"), br#"{"resource":"urn:b"}"#).unwrap();
        assert_eq!(json.resources, ["urn:b"]);
        let too_many = ["resource=urn:x"; limits::RESOURCES_PER_REQUEST_MAX + 1].join("&");
        assert!(matches!(form(&too_many), Err(BodyError::Malformed(_))));
    }

    #[test]
    fn all_flag() {
        assert_eq!(form("all=true").expect("valid").all, Some(true));
        assert_eq!(form("all=0").expect("valid").all, Some(false));
        assert_eq!(
            form("all=yes"),
            Err(BodyError::Malformed("all must be true or false"))
        );
        assert_eq!(json(r#"{"all":true}"#).expect("valid").all, Some(true));
        assert_eq!(json(r#"{"all":"1"}"#).expect("valid").all, Some(true));
        assert_eq!(
            json(r#"{"all":true,"all":false}"#),
            Err(BodyError::DuplicateParameter("all"))
        );
    }

    #[test]
    fn json_token_request_borrows() {
        let body = r#"{"grant_type":"client_credentials","client_id":"svc","client_secret":"s","scope":"read write"}"#;
        let params = json(body).expect("valid");
        assert!(matches!(
            params.grant_type,
            Some(Cow::Borrowed("client_credentials"))
        ));
        assert!(matches!(params.scope, Some(Cow::Borrowed("read write"))));
        assert_eq!(field(&params.client_id), Some("svc"));
        assert_eq!(field(&params.client_secret), Some("s"));
    }

    #[test]
    fn json_escapes() {
        let params =
            json(r#"{"client_secret":"a\"b\\c\u00e9","grant\u005ftype":"x"}"#).expect("valid");
        assert_eq!(field(&params.client_secret), Some("a\"b\\cé"));
        assert!(matches!(params.client_secret, Some(Cow::Owned(_))));
        assert_eq!(field(&params.grant_type), Some("x"));
    }

    #[test]
    fn json_values_must_be_strings() {
        for body in [
            r#"{"scope":1}"#,
            r#"{"scope":["a"]}"#,
            r#"{"scope":{"a":1}}"#,
            r#"{"scope":true}"#,
        ] {
            assert_eq!(
                json(body),
                Err(BodyError::Malformed("parameter values must be strings")),
                "{body}"
            );
        }
        let params = json(r#"{"scope":null,"client_id":"","grant_type":"g"}"#).expect("valid");
        assert_eq!((params.scope, params.client_id), (None, None));
    }

    #[test]
    fn json_unknown_fields_ignored_duplicates_refused() {
        let params = json(r#"{"x":[1,{"y":null}],"grant_type":"g","x":2,"audience":{"a":[]}}"#)
            .expect("valid");
        assert_eq!(field(&params.grant_type), Some("g"));
        assert_eq!(
            json(r#"{"scope":"a","scope":"b"}"#),
            Err(BodyError::DuplicateParameter("scope"))
        );
        // A duplicate before a syntax error: the syntax error wins.
        assert_eq!(
            json(r#"{"scope":"a","scope":"b""#),
            Err(BodyError::Malformed("invalid JSON"))
        );
    }

    #[test]
    fn json_not_an_object() {
        assert_eq!(
            json("[]"),
            Err(BodyError::Malformed("the body must be a JSON object"))
        );
        assert_eq!(
            json(r#""grant_type""#),
            Err(BodyError::Malformed("the body must be a JSON object"))
        );
        assert_eq!(json("{"), Err(BodyError::Malformed("invalid JSON")));
        assert_eq!(
            json(r#"{"a":"b"} x"#),
            Err(BodyError::Malformed("invalid JSON"))
        );
        assert_eq!(json(""), Err(BodyError::Malformed("invalid JSON")));
        assert_eq!(json(" {} \n"), Ok(TokenParams::default()));
    }

    #[test]
    fn content_type_matching() {
        let body = b"grant_type=g";
        let expect_g = |ct: &[u8]| {
            let params = parse_params(Some(ct), body).expect("accepted");
            assert_eq!(field(&params.grant_type), Some("g"));
        };
        expect_g(b"Application/X-WWW-Form-Urlencoded");
        expect_g(b"application/x-www-form-urlencoded; charset=UTF-8");
        expect_g(b"application/x-www-form-urlencoded;charset=utf-8");
        assert!(parse_params(Some(b"APPLICATION/JSON; charset=utf-8"), b"{}").is_ok());
        for bad in [
            &b"text/plain"[..],
            b"application/jsonx",
            b"multipart/form-data; boundary=x",
            b"",
        ] {
            assert_eq!(
                parse_params(Some(bad), body),
                Err(BodyError::UnsupportedContentType)
            );
        }
        assert_eq!(
            parse_params(None, body),
            Err(BodyError::UnsupportedContentType)
        );
        assert_eq!(parse_params(None, b""), Ok(TokenParams::default()));
    }
}
