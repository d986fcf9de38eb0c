//! `POST /oauth/token`: the client-credentials grant (RFC 6749 §4.4) issuing RFC 9068 JWTs.
//!
//! The order of checks follows RFC 6749: the request must be well-formed, the client must
//! authenticate, and only then are the grant and the scope judged — so an unauthenticated
//! caller learns nothing about a client's grants or scopes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::auth::client_auth::BasicScratch;
use crate::auth::dpop;
use crate::batch::{Backpressure, TokenRow};
use crate::clock;
use crate::endpoint::client_authn::{self, Proof, body_error};
use crate::endpoint::context::{Caller, Context, Reply};
use crate::endpoint::oauth_error::{NO_STORE_HEADERS, OAuthError};
use crate::endpoint::params;
use crate::http::request::{OneHeader, Request};
use crate::http::response;
use crate::jwt::claims::Audience;
use crate::jwt::token::{AccessClaims, JtiGenerator, TokenSigner};
use crate::limits;
use crate::log;
use crate::replay::{Kind, ReplayKey, Verdict};
use crate::store::clients::{self, ClientRecord};

const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// Answer one token request into `out`; `scratch` is the connection's reused body buffer.
pub async fn handle(ctx: &Context, req: &Request<'_>, caller: Caller<'_>, reply: Reply<'_>) {
    // Outcomes are counted by `endpoint::handle`, from the status written here.
    match issue(ctx, req, caller, reply.scratch).await {
        Ok(()) => response::write_json(
            reply.out,
            200,
            reply.scratch,
            reply.keep_alive,
            NO_STORE_HEADERS,
        ),
        Err(e) => e.write(reply.out, reply.scratch, reply.keep_alive),
    }
}

/// Authenticate, check grant and scope, sign, record; on success the JSON body is in `body`.
async fn issue(
    ctx: &Context,
    req: &Request<'_>,
    caller: Caller<'_>,
    body: &mut Vec<u8>,
) -> Result<(), OAuthError> {
    let params = params::parse_params(req.content_type, req.body).map_err(body_error)?;
    let mut basic = BasicScratch::new();
    let presented = client_authn::presented(req, &params, &mut basic, caller.certificate)?;
    let grant_type = params
        .grant_type
        .as_deref()
        .ok_or(OAuthError::InvalidRequest("grant_type is required"))?;

    let client = client_authn::authenticate(ctx, &presented, caller.source).await?;
    // Only an authenticated request takes from a client's bucket: no one can use up
    // another client's rate. Before the proof is checked, so a client over its rate costs
    // no signature check.
    let limit = ctx.config.client_rate_default;
    ctx.limiter
        .admit(&client, limit, Instant::now())
        .map_err(|wait| OAuthError::TooManyRequests {
            retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    let dpop_jkt = dpop_binding(ctx, req, &client).await?;
    // RFC 8705 §3: a token issued on a certificate is bound to it, unless the client opted out.
    let bound_to = match presented.proof {
        Proof::Certificate(peer) if client.certificate_bound => Some(peer.thumbprint()),
        _ => None,
    };
    let keys = ctx.keys();
    let minter = Minter {
        issuer: &ctx.config.issuer,
        audience: &ctx.config.audience,
        token_ttl: ctx.config.token_ttl,
        signer: &keys.signer,
        jti: &ctx.jti,
    };
    let asked = Asked {
        grant_type,
        scope: params.scope.as_deref(),
        resources: &params.resources,
        bound_to,
        dpop_jkt: dpop_jkt.as_deref(),
    };
    body.clear();
    let committed = mint(&minter, &asked, &client, body, |row| {
        ctx.writer.push(row).map_err(|Backpressure| {
            OAuthError::TemporarilyUnavailable(
                "too many tokens are waiting to be recorded, retry shortly",
            )
        })
    })?;
    // With `durability = commit`, the token is handed out only once its row has committed.
    if let Some(committed) = committed {
        committed.await.map_err(|_| {
            OAuthError::TemporarilyUnavailable("the token could not be recorded, retry shortly")
        })?;
    }
    Ok(())
}

/// What an authenticated client asks for.
pub struct Asked<'r> {
    pub grant_type: &'r str,
    pub scope: Option<&'r str>,
    /// RFC 8707 resources: the token's `aud` when given.
    pub resources: &'r [Cow<'r, str>],
    /// The certificate to bind the token to (RFC 8705 §3), if any.
    pub bound_to: Option<&'r [u8; 32]>,
    /// The thumbprint of the DPoP key to bind the token to (RFC 9449 §6), if any: the
    /// token is then of type `DPoP`.
    pub dpop_jkt: Option<&'r str>,
}

/// RFC 9449 §4.3 and §5: the request's DPoP proof, checked; its key's thumbprint binds the
/// token. A client registered `--require-dpop` must send one. With `dpop_nonce`, a proof
/// without the current nonce is answered `use_dpop_nonce` with one. A proof is single-use
/// (its `jti`, per key, on every shard) for as long as it is accepted at all. Every failed
/// check is the same `invalid_dpop_proof`: the answer does not say which.
async fn dpop_binding(
    ctx: &Context,
    req: &Request<'_>,
    client: &ClientRecord,
) -> Result<Option<String>, OAuthError> {
    let refused = OAuthError::InvalidDpopProof("the DPoP proof is not valid");
    let proof = match req.dpop {
        OneHeader::Absent if client.require_dpop => {
            return Err(OAuthError::InvalidDpopProof(
                "this client must send a DPoP proof",
            ));
        }
        OneHeader::Absent => return Ok(None),
        OneHeader::Repeated => return Err(refused),
        OneHeader::One(proof) => proof,
    };
    let now = clock::unix_now_s();
    let window = dpop::Window {
        max_age_s: limits::DPOP_PROOF_MAX_AGE.as_secs(),
        leeway_s: limits::JWT_LEEWAY.as_secs(),
    };
    let proof = dpop::check(proof, "POST", &ctx.token_endpoint, now, window).map_err(|e| {
        log::debug("DPoP proof refused", &[("reason", &e.reason_code())]);
        refused.clone()
    })?;
    if let Some(nonces) = &ctx.dpop_nonces
        && !proof
            .nonce
            .as_deref()
            .is_some_and(|n| nonces.accepts(n, now))
    {
        return Err(OAuthError::UseDpopNonce(nonces.issue(now)));
    }
    let key = ReplayKey::new(Kind::DpopProof, &proof.jkt, &proof.jti);
    let remembered_until = proof.iat + window.max_age_s + window.leeway_s;
    // Boxed, like the assertion's check: only requests with a proof pay for its state.
    match Box::pin(ctx.replay.first_use(key, remembered_until)).await {
        Verdict::Fresh => Ok(Some(proof.jkt)),
        Verdict::Replayed => {
            let reason = dpop::DpopError::Replayed.reason_code();
            log::debug("DPoP proof refused", &[("reason", &reason)]);
            Err(refused)
        }
        Verdict::Unchecked => Err(client_authn::replay_unavailable()),
    }
}

/// What issuing a token needs besides the client: the shard's issuer settings, its signer
/// and its jti source.
pub struct Minter<'a> {
    pub issuer: &'a str,
    /// For clients without an audience of their own.
    pub audience: &'a str,
    /// For clients without a token lifetime of their own.
    pub token_ttl: Duration,
    pub signer: &'a TokenSigner,
    pub jti: &'a RefCell<JtiGenerator>,
}

/// Everything of issuance after authentication that needs neither network nor database:
/// judge the grant and the scope, sign the token, append the success body to `body`, and
/// hand the token's row to `record` (the shard's batch writer; `benches/token_path.rs`
/// measures the whole path in memory with a plain buffer). A row `record` refuses means no
/// token: its error is the answer.
pub fn mint<R>(
    minter: &Minter<'_>,
    asked: &Asked<'_>,
    client: &ClientRecord,
    body: &mut Vec<u8>,
    record: impl FnOnce(&TokenRow<'_>) -> Result<R, OAuthError>,
) -> Result<R, OAuthError> {
    if asked.grant_type != GRANT_CLIENT_CREDENTIALS {
        return Err(OAuthError::UnsupportedGrantType(
            "only client_credentials is supported",
        ));
    }
    if !client.may_use_grant(GRANT_CLIENT_CREDENTIALS) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant",
        ));
    }
    let scope = granted_scope(asked.scope, client)?;
    let resources = granted_resources(asked.resources, client)?;
    let aud = match resources.as_slice() {
        [] => Audience::One(client.audience.as_deref().unwrap_or(minter.audience)),
        [one] => Audience::One(one),
        many => Audience::Many(many),
    };

    let now = clock::unix_now();
    let ttl_secs = client.token_ttl.unwrap_or(minter.token_ttl).as_secs();
    let iat = now.as_secs();
    let exp = iat + ttl_secs;
    let jti = minter.jti.borrow_mut().next(now.as_millis() as u64);
    let mut jti_text = [0u8; 36];
    let jti_text: &str = jti.hyphenated().encode_lower(&mut jti_text);
    let claims = AccessClaims {
        iss: minter.issuer,
        sub: &client.client_id,
        aud,
        iat,
        exp,
        jti: jti_text,
        scope: &scope,
        cnf_x5t_s256: asked.bound_to,
        cnf_jkt: asked.dpop_jkt,
        extra: &client.claims,
    };

    let body_start = body.len();
    body.extend_from_slice(b"{\"access_token\":\"");
    minter.signer.sign_into(&claims, body).map_err(|e| {
        body.truncate(body_start);
        log::error("signing failed", &[("error", &e)]);
        OAuthError::TemporarilyUnavailable("the token could not be signed")
    })?;
    body.extend_from_slice(match asked.dpop_jkt {
        Some(_) => b"\",\"token_type\":\"DPoP\",\"expires_in\":",
        None => b"\",\"token_type\":\"Bearer\",\"expires_in\":",
    });
    body.extend_from_slice(itoa::Buffer::new().format(ttl_secs).as_bytes());
    body.extend_from_slice(b",\"scope\":\"");
    body.extend_from_slice(scope.as_bytes());
    body.extend_from_slice(b"\"}");

    let row = TokenRow {
        jti: *jti.as_bytes(),
        client_id: &client.client_id,
        scope: &scope,
        issued_at_unix_us: (iat * 1_000_000) as i64,
        expires_at_unix_us: (exp * 1_000_000) as i64,
    };
    record(&row).inspect_err(|_| body.truncate(body_start))
}

/// RFC 8707 §2: each requested resource must be an absolute URI the client is registered
/// for; each is granted once, in the order asked. No allocation when none is asked.
fn granted_resources<'a>(
    requested: &'a [Cow<'a, str>],
    client: &ClientRecord,
) -> Result<Vec<&'a str>, OAuthError> {
    let mut granted: Vec<&str> = Vec::new();
    for resource in requested {
        if clients::validate_resource(resource).is_err() {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment",
            ));
        }
        if !client.resources.iter().any(|allowed| allowed == resource) {
            return Err(OAuthError::InvalidTarget(
                "resource is not one this client may request",
            ));
        }
        if !granted.contains(&&**resource) {
            granted.push(resource);
        }
    }
    Ok(granted)
}

/// RFC 6749 §3.3: the requested scope must be a subset of the client's; absent means all of
/// them. Borrowed in the common cases, so no allocation.
fn granted_scope<'a>(
    requested: Option<&'a str>,
    client: &'a ClientRecord,
) -> Result<Cow<'a, str>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(Cow::Borrowed(&client.allowed_scopes));
    };
    let allowed = client.scopes().count();
    let mut canonical = true;
    let mut seen = 0;
    let mut offset = 0;
    for token in requested.split(' ') {
        let earlier = &requested[..offset];
        offset += token.len() + 1;
        if token.is_empty() {
            canonical = false;
            continue;
        }
        if !token.bytes().all(clients::is_scope_byte) {
            return Err(OAuthError::InvalidScope("scope is malformed"));
        }
        if !client.scopes().any(|allowed| allowed == token) {
            return Err(OAuthError::InvalidScope(
                "scope exceeds what the client may request",
            ));
        }
        // A repeated token (more tokens than the client has scopes means one repeats, and
        // bounds the search for one).
        seen += 1;
        if canonical && (seen > allowed || earlier.split(' ').any(|t| t == token)) {
            canonical = false;
        }
    }
    if canonical {
        return Ok(Cow::Borrowed(requested));
    }
    // Extra spaces or repeated tokens: answer with the canonical form, each token once.
    let mut tokens: Vec<&str> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    if tokens.is_empty() {
        return Err(OAuthError::InvalidScope("scope is empty"));
    }
    Ok(Cow::Owned(tokens.join(" ")))
}
