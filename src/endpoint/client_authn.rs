//! Client authentication shared by the token, introspection and revocation endpoints (which
//! authenticate their caller exactly as the token endpoint does), so the three cannot drift
//! apart.
//!
//! It comes in two steps because the token endpoint checks that the request is complete
//! (`grant_type`) between them: a malformed request is reported before any look-up.

use std::borrow::Cow;
use std::rc::Rc;

use crate::auth::client_auth::{self, BasicScratch, ClientAuthError, ClientCredentials};
use crate::auth::secret;
use crate::endpoint::context::Context;
use crate::endpoint::oauth_error::OAuthError;
use crate::endpoint::params::{self, BodyError, TokenParams};
use crate::http::request::Request;
use crate::log;
use crate::pg;
use crate::store::clients::{self, ClientAuth, ClientRecord};
use crate::tls::PeerCert;

/// The credentials a request presents, not yet checked.
pub struct Presented<'a> {
    pub client_id: Cow<'a, str>,
    pub proof: Proof<'a>,
    /// The client used HTTP Basic, so a refusal carries `WWW-Authenticate: Basic`.
    pub basic: bool,
}

/// What is to prove that the caller is `client_id`.
pub enum Proof<'a> {
    Secret(Cow<'a, str>),
    /// The connection's client certificate (RFC 8705): `client_id` in the body and no secret.
    Certificate(&'a PeerCert),
}

/// Step one: which credentials does the request carry? None at all is `invalid_client`
/// with the Basic challenge (RFC 6749 §5.2); both methods at once is `invalid_request`.
/// Basic credentials are decoded into `scratch` (the caller's stack), so nothing allocates.
/// `peer` is the connection's client certificate, if it presented one.
pub fn presented<'a>(
    req: &Request<'_>,
    params: &TokenParams<'a>,
    scratch: &'a mut BasicScratch,
    peer: Option<&'a PeerCert>,
) -> Result<Presented<'a>, OAuthError> {
    let credentials =
        client_auth::client_credentials(req.authorization, params.body_credentials(), scratch);
    match credentials {
        Ok(ClientCredentials::Basic { id, secret }) => Ok(Presented {
            client_id: id,
            proof: Proof::Secret(secret),
            basic: true,
        }),
        Ok(ClientCredentials::Post { id, secret }) => Ok(Presented {
            client_id: id,
            proof: Proof::Secret(secret),
            basic: false,
        }),
        // An id without a secret is RFC 8705 client authentication when the connection
        // carries a certificate (RFC 8705 §2: the client_id parameter identifies it).
        Err(ClientAuthError::MissingSecret) if peer.is_some() && req.authorization.is_none() => {
            let (Some(id), Some(peer)) = (params.body_credentials().client_id, peer) else {
                return Err(auth_error(ClientAuthError::MissingSecret));
            };
            Ok(Presented {
                client_id: id.clone(),
                proof: Proof::Certificate(peer),
                basic: false,
            })
        }
        Err(e) => Err(auth_error(e)),
        Ok(ClientCredentials::None) => Err(OAuthError::InvalidClient {
            basic: true,
            description: "client authentication is required",
        }),
    }
}

/// Step two: look the client up (through the shard's cache) and [`accept`] it; a database
/// that cannot say is 503.
pub async fn authenticate(
    ctx: &Context,
    presented: &Presented<'_>,
) -> Result<Rc<ClientRecord>, OAuthError> {
    if clients::validate_client_id(&presented.client_id).is_err() {
        return Err(refusal(presented));
    }
    let record = ctx
        .clients
        .lookup(&presented.client_id)
        .await
        .map_err(db_unavailable)?;
    accept(presented, record)
}

/// The check itself, once the client's record (if any) is known: enabled, and the proof is
/// the one the client registered. A secret matches in constant time; unknown, wrong secret,
/// a client without a secret, and disabled all answer the same `invalid_client`, and cost
/// the same hashing work, so neither the answer nor its time tells which. A certificate
/// must chain to `tls_client_ca` and carry the registered name (`tls_client_auth`), or be
/// the registered one and within its validity period (`self_signed_tls_client_auth`).
pub fn accept(
    presented: &Presented<'_>,
    record: Option<Rc<ClientRecord>>,
) -> Result<Rc<ClientRecord>, OAuthError> {
    let registered = record.as_deref().map(|c| &c.auth);
    let proven = match &presented.proof {
        Proof::Secret(secret) => {
            let hash = match registered {
                Some(ClientAuth::Secret(hash)) => hash,
                _ => &NO_CLIENT_HASH,
            };
            secret::verify_secret(secret.as_bytes(), hash)
        }
        Proof::Certificate(peer) => match registered {
            Some(ClientAuth::TlsClientAuth(name)) => {
                peer.chains_to_client_ca() && peer.has_name(name)
            }
            Some(ClientAuth::SelfSignedTls(sha256)) => {
                peer.thumbprint() == sha256 && peer.is_current()
            }
            Some(ClientAuth::Secret(_)) | None => false,
        },
    };
    match record {
        Some(c) if proven && !c.disabled => Ok(c),
        _ => Err(refusal(presented)),
    }
}

/// Compared against when there is no client: no secret hashes to it (as likely as a
/// SHA-256 preimage of zero).
const NO_CLIENT_HASH: [u8; 32] = [0; 32];

fn refusal(presented: &Presented<'_>) -> OAuthError {
    OAuthError::InvalidClient {
        basic: presented.basic,
        description: "client authentication failed",
    }
}

/// The common start of introspection (RFC 7662) and revocation (RFC 7009): a well-formed
/// body with a `token`, from a client authenticated as at the token endpoint. Checked in
/// that order, so a malformed request is reported before any look-up.
pub async fn authenticated_token_request<'r>(
    ctx: &Context,
    req: &Request<'r>,
    peer: Option<&PeerCert>,
) -> Result<(Cow<'r, str>, Rc<ClientRecord>), OAuthError> {
    let params = params::parse_params(req.content_type, req.body).map_err(body_error)?;
    let mut basic = BasicScratch::new();
    let presented = presented(req, &params, &mut basic, peer)?;
    let token = params
        .token
        .clone()
        .ok_or(OAuthError::InvalidRequest("token is required"))?;
    let caller = authenticate(ctx, &presented).await?;
    Ok((token, caller))
}

pub fn db_unavailable(e: pg::Error) -> OAuthError {
    if !e.is_closed() {
        log::warn("database error on the request path", &[("error", &e)]);
    }
    OAuthError::TemporarilyUnavailable("the token store is unavailable, retry shortly")
}

pub fn body_error(e: BodyError) -> OAuthError {
    match e {
        BodyError::UnsupportedContentType => OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded or application/json",
        ),
        BodyError::DuplicateParameter(_) => {
            OAuthError::InvalidRequest("a parameter was given more than once")
        }
        BodyError::Malformed(_) => OAuthError::InvalidRequest("the request body is malformed"),
    }
}

/// The one answer to each way presented credentials can be unusable (RFC 6749 §2.3, §5.2).
///
/// Two methods at once is the one `invalid_request`: §5.2 names "utilizes more than one
/// mechanism for authenticating the client" under it. Everything else is `invalid_client`
/// (401), "client authentication failed", with the Basic challenge: a Basic credential that
/// does not decode, another scheme ("unsupported authentication method"), an id in the body
/// that contradicts the Basic one (no authentication for that id took place), and an id or a
/// secret without the other ("no client authentication included"). The challenge goes out
/// even when the client did not try Basic, so it learns the method we support.
fn auth_error(e: ClientAuthError) -> OAuthError {
    let description = match e {
        ClientAuthError::BothMethods => {
            return OAuthError::InvalidRequest(
                "use one client authentication method, not HTTP Basic and the body at once",
            );
        }
        ClientAuthError::MalformedBasic => "malformed Basic credentials",
        ClientAuthError::UnsupportedScheme => "only the Basic authorization scheme is supported",
        ClientAuthError::ClientIdMismatch => "client_id does not match the Basic credentials",
        ClientAuthError::MissingSecret => "client authentication is required",
        ClientAuthError::MissingClientId => "client_secret was sent without client_id",
    };
    OAuthError::InvalidClient {
        basic: true,
        description,
    }
}
