//! Which client is calling, and with what secret: HTTP Basic (`client_secret_basic`) or body
//! parameters (`client_secret_post`), never both (RFC 6749 §2.3: "MUST NOT use more than one
//! authentication method in each request").
//!
//! This module only extracts the claimed credentials; checking the secret against the stored
//! hash is `auth::secret`'s job, after the client is found. It knows no HTTP and no OAuth
//! error codes: what each [`ClientAuthError`] answers is decided in one place,
//! `endpoint::client_authn`.
//!
//! Decisions where RFC 6749 leaves room, and why:
//! * Basic with a body `client_id` but no body `client_secret` is accepted when the two ids are
//!   equal: several client libraries send `client_id` in the body by habit, and it adds no
//!   second authentication. Different ids are [`ClientAuthError::ClientIdMismatch`]. A body
//!   `client_secret` next to Basic is always [`ClientAuthError::BothMethods`].
//! * A Basic header that does not decode (bad base64, no `:`, bad percent-encoding, an empty id
//!   or secret) is [`ClientAuthError::MalformedBasic`]; another scheme (`Bearer`, `Digest`) is
//!   [`ClientAuthError::UnsupportedScheme`].
//! * The id and secret inside Basic are form-urlencoded before base64 (§2.3.1), so `%3A` is a
//!   colon inside the id and `+` is a space. Clients that skip that step still work as long as
//!   their secrets have no `%` or `+`; secrets this server generates never do.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use crate::form;

/// Longest decoded Basic credential (`id:secret`), in bytes. Generated secrets are 43 bytes and
/// client ids are short names; this bound keeps the decode buffer on the stack.
pub const BASIC_CREDENTIALS_BYTES_MAX: usize = 1024;

/// Standard alphabet (RFC 7617); padding accepted whether present or not, since some clients
/// strip it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// Room for a generated secret and a reasonable id, encoded three bytes per byte at worst.
const _: () = assert!(BASIC_CREDENTIALS_BYTES_MAX >= 3 * 256);

/// Decode space for a Basic credential, so that [`client_credentials`] borrows instead of
/// allocating.
pub struct BasicScratch([u8; BASIC_CREDENTIALS_BYTES_MAX]);

impl BasicScratch {
    pub fn new() -> Self {
        BasicScratch([0; BASIC_CREDENTIALS_BYTES_MAX])
    }
}

impl Default for BasicScratch {
    fn default() -> Self {
        Self::new()
    }
}

/// The credentials a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials<'a> {
    /// `client_secret_basic`; failures answer with `WWW-Authenticate: Basic`.
    Basic {
        id: Cow<'a, str>,
        secret: Cow<'a, str>,
    },
    /// `client_secret_post`.
    Post {
        id: Cow<'a, str>,
        secret: Cow<'a, str>,
    },
    /// No authentication at all: `invalid_client` at the endpoint.
    None,
}

impl ClientCredentials<'_> {
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientCredentials::Basic { id, .. } | ClientCredentials::Post { id, .. } => Some(id),
            ClientCredentials::None => None,
        }
    }

    pub fn secret(&self) -> Option<&str> {
        match self {
            ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
                Some(secret)
            }
            ClientCredentials::None => None,
        }
    }

    /// A failed Basic authentication must answer 401 with `WWW-Authenticate: Basic` (§5.2).
    pub fn is_basic(&self) -> bool {
        matches!(self, ClientCredentials::Basic { .. })
    }
}

/// Why the presented credentials cannot even be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthError {
    /// Basic and a body `client_secret` together: two authentication methods at once.
    BothMethods,
    /// Basic for one id, body `client_id` for another.
    ClientIdMismatch,
    /// The Basic credential does not decode.
    MalformedBasic,
    /// An Authorization scheme other than Basic.
    UnsupportedScheme,
    /// A body `client_id` with no secret anywhere; this server has no public clients.
    MissingSecret,
    /// A body `client_secret` without a `client_id`.
    MissingClientId,
}

/// What the body says about the client: `client_secret_post` credentials, or a client
/// naming itself beside Basic. Borrowed from the endpoint's parsed parameters.
#[derive(Debug, Default, Clone, Copy)]
pub struct BodyCredentials<'p, 'a> {
    pub client_id: Option<&'p Cow<'a, str>>,
    pub client_secret: Option<&'p Cow<'a, str>>,
}

/// The request's client credentials (RFC 6749 §2.3.1). Basic is base64 of form-urlencoded
/// `id ":" secret`: decoded into `scratch` (on the caller's stack, so nothing is allocated),
/// split at the first `:`, each half percent-decoded, and borrowed from there; the scheme
/// name is case-insensitive. `authorization` is the `Authorization` header's value.
pub fn client_credentials<'a>(
    authorization: Option<&[u8]>,
    body: BodyCredentials<'_, 'a>,
    scratch: &'a mut BasicScratch,
) -> Result<ClientCredentials<'a>, ClientAuthError> {
    let Some(authorization) = authorization else {
        return post_credentials(body);
    };
    let (id, secret) = basic_credentials(authorization, body, scratch)?;
    Ok(ClientCredentials::Basic {
        id: Cow::Borrowed(id),
        secret: Cow::Borrowed(secret),
    })
}

/// Basic credentials, checked against what the body says about the client.
fn basic_credentials<'s>(
    authorization: &[u8],
    body: BodyCredentials<'_, '_>,
    scratch: &'s mut BasicScratch,
) -> Result<(&'s str, &'s str), ClientAuthError> {
    let (id, secret) = decode_basic(authorization, scratch)?;
    if body.client_secret.is_some() {
        return Err(ClientAuthError::BothMethods);
    }
    if body.client_id.is_some_and(|body_id| body_id != id) {
        return Err(ClientAuthError::ClientIdMismatch);
    }
    Ok((id, secret))
}

fn post_credentials<'a>(
    body: BodyCredentials<'_, 'a>,
) -> Result<ClientCredentials<'a>, ClientAuthError> {
    match (body.client_id, body.client_secret) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Post {
            id: id.clone(),
            secret: secret.clone(),
        }),
        (Some(_), None) => Err(ClientAuthError::MissingSecret),
        (None, Some(_)) => Err(ClientAuthError::MissingClientId),
        (None, None) => Ok(ClientCredentials::None),
    }
}

/// `Basic <token68>` into `(id, secret)`, decoded inside `scratch`.
fn decode_basic<'s>(
    authorization: &[u8],
    scratch: &'s mut BasicScratch,
) -> Result<(&'s str, &'s str), ClientAuthError> {
    let authorization = authorization.trim_ascii();
    let space = authorization
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(authorization.len());
    let (scheme, token) = authorization.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(ClientAuthError::UnsupportedScheme);
    }
    let token = token.trim_ascii_start();
    if token.is_empty() {
        return Err(ClientAuthError::MalformedBasic);
    }
    // Fails cleanly, without writing past the buffer, when the credential is too long.
    let len = BASE64
        .decode_slice(token, &mut scratch.0)
        .map_err(|_| ClientAuthError::MalformedBasic)?;
    let decoded = &mut scratch.0[..len];
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(ClientAuthError::MalformedBasic)?;
    let (id, rest) = decoded.split_at_mut(colon);
    let secret = &mut rest[1..];
    let (id, secret) = (decode_half(id)?, decode_half(secret)?);
    if id.is_empty() || secret.is_empty() {
        return Err(ClientAuthError::MalformedBasic);
    }
    Ok((id, secret))
}

/// One form-urlencoded half of the credential, decoded in place.
fn decode_half(half: &mut [u8]) -> Result<&str, ClientAuthError> {
    let len = form::decode_in_place(half).map_err(|_| ClientAuthError::MalformedBasic)?;
    std::str::from_utf8(&half[..len]).map_err(|_| ClientAuthError::MalformedBasic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    fn basic(credential: &str) -> Vec<u8> {
        let mut header = b"Basic ".to_vec();
        header.extend_from_slice(general_purpose::STANDARD.encode(credential).as_bytes());
        header
    }

    /// The body credentials of a form body (values leaked: they outlive the test's borrow).
    fn params(body: &str) -> BodyCredentials<'static, 'static> {
        let mut credentials = BodyCredentials::default();
        for (name, value) in form::pairs(body.as_bytes()) {
            let decoded = form::decode(value.unwrap_or_default())
                .unwrap()
                .into_owned();
            let value: &'static Cow<'static, str> =
                Box::leak(Box::new(Cow::Borrowed(decoded.leak())));
            match name {
                b"client_id" => credentials.client_id = Some(value),
                b"client_secret" => credentials.client_secret = Some(value),
                _ => {}
            }
        }
        credentials
    }

    /// Decode space that outlives the test's borrow of it.
    fn scratch() -> &'static mut BasicScratch {
        Box::leak(Box::new(BasicScratch::new()))
    }

    fn ids(credentials: &ClientCredentials<'_>) -> (Option<String>, Option<String>) {
        (
            credentials.id().map(str::to_owned),
            credentials.secret().map(str::to_owned),
        )
    }

    #[test]
    fn basic_credentials() {
        let header = basic("client:secret");
        let got = client_credentials(
            Some(&header),
            params("grant_type=client_credentials"),
            scratch(),
        );
        assert_eq!(
            got,
            Ok(ClientCredentials::Basic {
                id: "client".into(),
                secret: "secret".into()
            })
        );
        assert!(got.as_ref().is_ok_and(ClientCredentials::is_basic));
    }

    #[test]
    fn basic_special_characters() {
        // A percent-encoded ':' belongs to the id; the first raw ':' splits; the secret may
        // contain raw ':' too; '+' is a space and %2B a plus.
        let header = basic("my%3Aclient:se:cr%2Bet+x%C3%A9");
        let got = client_credentials(Some(&header), BodyCredentials::default(), scratch())
            .expect("valid");
        assert_eq!(
            ids(&got),
            (Some("my:client".into()), Some("se:cr+et xé".into()))
        );
    }

    #[test]
    fn basic_scheme_is_case_insensitive_and_padding_optional() {
        for header in [
            &b"basic Y2xpZW50OnNlY3JldA=="[..],
            b"BASIC   Y2xpZW50OnNlY3JldA",
            b"Basic Y2xpZW50OnNlY3JldA== ",
        ] {
            let got = client_credentials(Some(header), BodyCredentials::default(), scratch());
            assert_eq!(
                got.map(|c| ids(&c)),
                Ok((Some("client".into()), Some("secret".into())))
            );
        }
    }

    #[test]
    fn malformed_basic() {
        let long = basic(&format!("id:{}", "s".repeat(BASIC_CREDENTIALS_BYTES_MAX)));
        let cases: [&[u8]; 8] = [
            b"Basic",
            b"Basic ",
            b"Basic !!!notbase64",
            b"Basic Y2xpZW50", // "client": no colon
            &basic(":secret"),
            &basic("client:"),
            &basic("cli%zzent:secret"),
            &long,
        ];
        for header in cases {
            let got = client_credentials(Some(header), BodyCredentials::default(), scratch());
            assert_eq!(
                got,
                Err(ClientAuthError::MalformedBasic),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        let not_utf8 = {
            let mut header = b"Basic ".to_vec();
            header.extend_from_slice(general_purpose::STANDARD.encode(b"id:\xff\xfe").as_bytes());
            header
        };
        assert_eq!(
            client_credentials(Some(&not_utf8), BodyCredentials::default(), scratch()),
            Err(ClientAuthError::MalformedBasic)
        );
    }

    #[test]
    fn wrong_scheme() {
        for header in [
            &b"Bearer abc"[..],
            b"Digest username=x",
            b"Basicx Y2xpZW50OnNlY3JldA==",
            b"",
        ] {
            assert_eq!(
                client_credentials(Some(header), BodyCredentials::default(), scratch()),
                Err(ClientAuthError::UnsupportedScheme)
            );
        }
    }

    #[test]
    fn post_credentials() {
        let body = params("grant_type=client_credentials&client_id=svc&client_secret=s%2B1");
        let got = client_credentials(None, body, scratch()).expect("valid");
        assert_eq!(
            got,
            ClientCredentials::Post {
                id: "svc".into(),
                secret: "s+1".into()
            }
        );
        assert!(matches!(
            got,
            ClientCredentials::Post {
                id: Cow::Borrowed("svc"),
                ..
            }
        ));
        assert_eq!(
            client_credentials(None, params("client_id=svc"), scratch()),
            Err(ClientAuthError::MissingSecret)
        );
        assert_eq!(
            client_credentials(None, params("client_secret=s"), scratch()),
            Err(ClientAuthError::MissingClientId)
        );
        assert_eq!(
            client_credentials(None, params("grant_type=client_credentials"), scratch()),
            Ok(ClientCredentials::None)
        );
    }

    #[test]
    fn both_methods() {
        let header = basic("svc:secret");
        let got = client_credentials(
            Some(&header),
            params("client_id=svc&client_secret=secret"),
            scratch(),
        );
        assert_eq!(got, Err(ClientAuthError::BothMethods));
        let got = client_credentials(Some(&header), params("client_secret=secret"), scratch());
        assert_eq!(got, Err(ClientAuthError::BothMethods));
    }

    #[test]
    fn basic_with_body_client_id() {
        let header = basic("svc:secret");
        let same = client_credentials(Some(&header), params("client_id=svc"), scratch());
        assert_eq!(
            same.map(|c| ids(&c)),
            Ok((Some("svc".into()), Some("secret".into())))
        );
        let other = client_credentials(Some(&header), params("client_id=intruder"), scratch());
        assert_eq!(other, Err(ClientAuthError::ClientIdMismatch));
    }

    #[test]
    fn basic_credentials_are_borrowed_from_the_scratch() {
        let header = basic("svc:secret");
        let body = BodyCredentials::default();
        let mut scratch = BasicScratch::new();
        let got = client_credentials(Some(&header), body, &mut scratch).expect("valid");
        assert!(matches!(
            got,
            ClientCredentials::Basic {
                id: Cow::Borrowed("svc"),
                secret: Cow::Borrowed("secret")
            }
        ));
    }
}
