//! Client authentication shared by the token, introspection and revocation endpoints (which
//! authenticate their caller exactly as the token endpoint does), so the three cannot drift
//! apart.
//!
//! It comes in two steps because the token endpoint checks that the request is complete
//! (`grant_type`) between them: a malformed request is reported before any look-up.

use std::borrow::Cow;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::auth::assertion::{self, Assertion, AssertionError, Lifetime, Rules};
use crate::auth::client_auth::{self, BasicScratch, ClientAuthError, ClientCredentials};
use crate::auth::federation::TrustedIssuers;
use crate::auth::secret;
use crate::clock;
use crate::endpoint::context::{Caller, Context};
use crate::endpoint::oauth_error::OAuthError;
use crate::endpoint::params::{self, BodyError, TokenParams};
use crate::http::request::Request;
use crate::limits;
use crate::log;
use crate::pg;
use crate::replay::{Kind, ReplayKey, Verdict};
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
    /// A signed JWT (RFC 7523 §2.2): the client's own, or its platform's (workload identity).
    /// Boxed: it is large, and costs a signature check anyway.
    Assertion(Box<Assertion<'a>>),
}

/// Step one: which credentials does the request carry? None at all is `invalid_client`
/// with the Basic challenge (RFC 6749 §5.2); both methods at once is `invalid_request`.
/// Basic credentials are decoded into `scratch` (the caller's stack), so nothing allocates.
/// `peer` is the connection's client certificate, if it presented one.
pub fn presented<'a>(
    req: &Request<'_>,
    params: &'a TokenParams<'_>,
    scratch: &'a mut BasicScratch,
    peer: Option<&'a PeerCert>,
) -> Result<Presented<'a>, OAuthError> {
    if params.client_assertion_type.is_some() || params.client_assertion.is_some() {
        return presented_assertion(req, params);
    }
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

/// RFC 7521 §4.2: `client_assertion_type` and `client_assertion`, and no other method. The
/// client is the one `client_id` names, else the assertion's subject (a client's own
/// assertion names itself; a platform's token names the workload, so such clients send
/// `client_id`). The assertion is parsed here and judged in [`accept`].
fn presented_assertion<'a>(
    req: &Request<'_>,
    params: &'a TokenParams<'_>,
) -> Result<Presented<'a>, OAuthError> {
    if req.authorization.is_some() || params.client_secret.is_some() {
        return Err(auth_error(ClientAuthError::BothMethods));
    }
    let (Some(kind), Some(token)) = (&params.client_assertion_type, &params.client_assertion)
    else {
        return Err(OAuthError::InvalidRequest(
            "client_assertion and client_assertion_type go together",
        ));
    };
    let refused = OAuthError::InvalidClient {
        basic: false,
        description: AUTHENTICATION_FAILED,
    };
    if kind != assertion::JWT_BEARER {
        return Err(refused);
    }
    let assertion = Assertion::parse(token.as_bytes()).map_err(|e| {
        log::debug("client assertion refused", &[("reason", &e.reason_code())]);
        refused.clone()
    })?;
    let client_id = match &params.client_id {
        Some(id) => id.clone(),
        None => Cow::Owned(assertion.subject().to_owned()),
    };
    Ok(Presented {
        client_id,
        proof: Proof::Assertion(Box::new(assertion)),
        basic: false,
    })
}

/// Step two: look the client up (through the shard's cache) and [`accept`] it; a database
/// that cannot say is 503. A client's own assertion is single-use: its `jti` is checked
/// against every earlier one on this instance (`replay`).
pub async fn authenticate(
    ctx: &Context,
    presented: &Presented<'_>,
    source: IpAddr,
) -> Result<Rc<ClientRecord>, OAuthError> {
    let failures = &ctx.auth_failures;
    // One clock read: a failure window is a minute long, the await below is not.
    let now = Instant::now();
    let refused = |reason: &'static str| {
        failures.audit(&presented.client_id, source, reason, now);
        refusal(presented)
    };
    if failures.refuses(&presented.client_id, source, now) {
        return Err(refused("too_many_failures"));
    }
    match authenticate_unbounded(ctx, presented).await {
        Ok(client) => Ok(client),
        Err(Failure::Refused(Refused(reason))) => {
            failures.record(&presented.client_id, source, now);
            Err(refused(reason))
        }
        Err(Failure::Unavailable(e)) => Err(e),
    }
}

/// Why [`authenticate_unbounded`] did not authenticate.
enum Failure {
    Refused(Refused),
    /// Not the client's doing: the database, or the replay check, cannot answer.
    Unavailable(OAuthError),
}

/// [`authenticate`] before the bound on failures.
async fn authenticate_unbounded(
    ctx: &Context,
    presented: &Presented<'_>,
) -> Result<Rc<ClientRecord>, Failure> {
    if clients::validate_client_id(&presented.client_id).is_err() {
        return Err(Failure::Refused(Refused("malformed_client_id")));
    }
    let record = ctx
        .clients
        .lookup(&presented.client_id)
        .await
        .map_err(|e| Failure::Unavailable(db_unavailable(e)))?;
    let keys = ctx.keys();
    let judge = Judge {
        now: clock::unix_now_s(),
        audiences: [ctx.config.issuer.as_str(), ctx.token_endpoint.as_str()],
        assertion_max_age: ctx.config.assertion_max_age,
        issuers: &keys.issuers,
    };
    let Accepted { client, single_use } =
        accept(presented, record, &judge).map_err(Failure::Refused)?;
    if let Some(SingleUse { jti, expires_at }) = single_use {
        let key = ReplayKey::new(Kind::ClientAssertion, &client.client_id, jti);
        // Boxed: its state would otherwise enlarge every connection's future, idle or not.
        match Box::pin(ctx.replay.first_use(key, expires_at)).await {
            Verdict::Fresh => {}
            Verdict::Replayed => {
                let reason = AssertionError::Replayed.reason_code();
                return Err(Failure::Refused(Refused(reason)));
            }
            Verdict::Unchecked => return Err(Failure::Unavailable(replay_unavailable())),
        }
    }
    Ok(client)
}

/// A single-use id could not be checked: refuse for now, never accept unchecked.
pub fn replay_unavailable() -> OAuthError {
    OAuthError::TemporarilyUnavailable("too many credentials to check for replay, retry shortly")
}

/// What judging an assertion needs besides the client's record.
pub struct Judge<'a> {
    /// Unix seconds.
    pub now: u64,
    /// Our identity as an assertion's `aud` may name it: the issuer, the token endpoint.
    pub audiences: [&'a str; 2],
    pub assertion_max_age: Duration,
    pub issuers: &'a TrustedIssuers,
}

/// The check itself, once the client's record (if any) is known: enabled, and the proof is
/// the one the client registered. A secret matches in constant time; unknown, wrong secret,
/// a client without a secret, and disabled all answer the same `invalid_client`, and cost
/// the same hashing work, so neither the answer nor its time tells which. A certificate
/// must chain to `tls_client_ca` and carry the registered name (`tls_client_auth`), or be
/// the registered one and within its validity period (`self_signed_tls_client_auth`).
///
/// An assertion must be signed by a key the client registered, or by its trusted issuer for
/// its registered subject, and pass every check of `auth::assertion`. A client's own
/// assertion comes back with its `jti` and expiry, for the single-use check.
/// A refusal carries its reason code, for the audit event; the answer never says it.
pub fn accept<'p>(
    presented: &'p Presented<'_>,
    record: Option<Rc<ClientRecord>>,
    judge: &Judge<'_>,
) -> Result<Accepted<'p>, Refused> {
    let registered = record.as_deref().map(|c| &c.auth);
    let mut single_use = None;
    let proven = match &presented.proof {
        Proof::Secret(secret) => {
            let (current, previous) = match registered {
                Some(ClientAuth::Secret(s)) => (&s.current, s.previous_at(judge.now)),
                _ => (&NO_CLIENT_HASH, None),
            };
            secret::verify_either(secret.as_bytes(), current, previous)
                .then_some(())
                .ok_or("wrong_secret")
        }
        Proof::Certificate(peer) => match registered {
            Some(ClientAuth::TlsClientAuth(name)) => {
                peer.chains_to_client_ca() && peer.has_name(name)
            }
            Some(ClientAuth::SelfSignedTls(sha256)) => {
                peer.thumbprint() == sha256 && peer.is_current()
            }
            _ => false,
        }
        .then_some(())
        .ok_or("certificate_rejected"),
        Proof::Assertion(assertion) => match registered {
            Some(auth) => judge_assertion(assertion, &presented.client_id, auth, judge)
                .map(|jti| single_use = jti)
                .map_err(|e| e.reason_code()),
            None => Err("unknown_client"),
        },
    };
    match (record, proven) {
        (None, _) => Err(Refused("unknown_client")),
        (Some(client), Ok(())) if !client.disabled => Ok(Accepted { client, single_use }),
        (Some(_), Ok(())) => Err(Refused("disabled")),
        (Some(_), Err(reason)) => Err(Refused(reason)),
    }
}

/// Why a client was not authenticated: a reason code for the audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// An authenticated client, and the single-use id its assertion must not have used before.
pub struct Accepted<'p> {
    pub client: Rc<ClientRecord>,
    pub single_use: Option<SingleUse<'p>>,
}

/// A client assertion's `jti`, to remember until the assertion expires (Unix seconds).
pub struct SingleUse<'p> {
    pub jti: &'p str,
    pub expires_at: u64,
}

/// RFC 7523 §3 for a client's own assertion (`iss` = `sub` = the client, at most
/// `assertion_max_age` ahead, a `jti`); the same checks with the platform's rules for a
/// workload identity (its `iss`, the registered subject, its audience, `max_token_age`).
fn judge_assertion<'p>(
    assertion: &'p Assertion<'_>,
    client_id: &str,
    auth: &ClientAuth,
    judge: &Judge<'_>,
) -> Result<Option<SingleUse<'p>>, AssertionError> {
    let leeway_s = limits::JWT_LEEWAY.as_secs();
    match auth {
        ClientAuth::PrivateKeyJwt(keys) => {
            if assertion.issuer() != Some(client_id) {
                return Err(AssertionError::WrongIssuer);
            }
            if assertion.subject() != client_id {
                return Err(AssertionError::WrongSubject);
            }
            let rules = Rules {
                now: judge.now,
                audiences: &judge.audiences,
                leeway_s,
                lifetime: Lifetime::SingleUse {
                    max_ahead_s: judge.assertion_max_age.as_secs(),
                },
            };
            let checked = assertion.check(&keys.set, &rules)?;
            let jti = checked.jti.ok_or(AssertionError::MissingJti)?;
            Ok(Some(SingleUse {
                jti,
                expires_at: checked.exp,
            }))
        }
        ClientAuth::Federated { issuer, subject } => {
            // A token without `iss` (a JWT-SVID may omit it) must still verify with this
            // issuer's keys.
            let platform = judge
                .issuers
                .find(issuer)
                .filter(|_| assertion.issuer().is_none_or(|iss| iss == issuer))
                .ok_or(AssertionError::WrongIssuer)?;
            if assertion.subject() != subject {
                return Err(AssertionError::WrongSubject);
            }
            let rules = Rules {
                now: judge.now,
                audiences: &[platform.config.audience.as_str()],
                leeway_s,
                lifetime: Lifetime::Reusable {
                    max_token_age_s: platform.config.max_token_age.as_secs(),
                },
            };
            assertion.check(&platform.keys, &rules)?;
            Ok(None)
        }
        _ => Err(AssertionError::UnknownKey),
    }
}

/// Compared against when there is no client: no secret hashes to it (as likely as a
/// SHA-256 preimage of zero).
const NO_CLIENT_HASH: [u8; 32] = [0; 32];

/// The one description of every failed client authentication: it says nothing of why.
const AUTHENTICATION_FAILED: &str = "client authentication failed";

fn refusal(presented: &Presented<'_>) -> OAuthError {
    OAuthError::InvalidClient {
        basic: presented.basic,
        description: AUTHENTICATION_FAILED,
    }
}

/// The common start of introspection (RFC 7662) and revocation (RFC 7009): a well-formed
/// body with a `token`, from a client authenticated as at the token endpoint. Checked in
/// that order, so a malformed request is reported before any look-up.
pub async fn authenticated_token_request<'r>(
    ctx: &Context,
    req: &Request<'r>,
    caller: Caller<'_>,
) -> Result<(Cow<'r, str>, Rc<ClientRecord>), OAuthError> {
    let params = params::parse_params(req.content_type, req.body).map_err(body_error)?;
    let mut basic = BasicScratch::new();
    let presented = presented(req, &params, &mut basic, caller.certificate)?;
    let token = params
        .token
        .clone()
        .ok_or(OAuthError::InvalidRequest("token is required"))?;
    let client = authenticate(ctx, &presented, caller.source).await?;
    Ok((token, client))
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
