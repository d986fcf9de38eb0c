//! `POST /oauth/introspect` (RFC 7662): is this token active, and what does it say?
//!
//! Validation is local: the signature against every configured key, `exp` against the
//! clock, the jti against the shard's revocation cache, and the token's client against the
//! shard's client cache: a disabled or deleted client's tokens are inactive, and so are
//! those issued before its `revoke-tokens` (the kill switch). No database round trip for a
//! cached client, so introspection keeps answering while the database is away.
//!
//! A token found active is remembered by the shard (`cache::VerifiedCache`, keyed by the
//! whole token, bounded by `limits::VERIFIED_TOKENS_PER_SHARD_MAX`) with its answer, so
//! that introspecting it again skips the signature check, the parse and the serialization:
//! a resource server asking about the same token on every request pays for its signature
//! once. Everything else above is checked again on every hit; a key reload empties it.
//!
//! Any authenticated client may introspect any token: that is how resource servers use
//! introspection (RFC 7662 §2.1). Anything not active — expired, revoked, bad signature,
//! signed by a key not configured here, garbage — is exactly `{"active":false}` (§2.2:
//! "SHOULD NOT include any additional information").

use std::rc::Rc;

use serde::Serialize;

use crate::cache::{Jti, Verdict, VerifiedToken};
use crate::clock::unix_now_s;
use crate::endpoint::client_authn;
use crate::endpoint::context::{Caller, Context, Reply};
use crate::endpoint::oauth_error::{NO_STORE_HEADERS, OAuthError};
use crate::http::request::Request;
use crate::http::response;
use crate::jwt::jti::issued_at_ms;
use crate::jwt::keys::SigningKey;
use crate::jwt::verify::{AudienceClaim, Confirmation, VerifiedClaims, verify_token};
use crate::store::revocations;

const INACTIVE: &[u8] = b"{\"active\":false}";

/// Answer one introspection request into `out`.
pub async fn handle(ctx: &Context, req: &Request<'_>, caller: Caller<'_>, reply: Reply<'_>) {
    match introspect(ctx, req, caller).await {
        Ok(Some(token)) => response::write_json(
            reply.out,
            200,
            &token.answer,
            reply.keep_alive,
            NO_STORE_HEADERS,
        ),
        Ok(None) => {
            response::write_json(reply.out, 200, INACTIVE, reply.keep_alive, NO_STORE_HEADERS)
        }
        Err(e) => e.write(reply.out, reply.scratch, reply.keep_alive),
    }
}

/// The active token and its answer, `None` for an inactive one.
///
/// A token this shard has verified before comes from its `VerifiedCache`, which skips the
/// signature check and the parse, and checks `exp`; everything else is checked as for a
/// token verified now. A token verified now is cached once it has proved active, with the
/// key generation it was verified under: a key reload meanwhile (while this awaited the
/// database) keeps it out.
async fn introspect(
    ctx: &Context,
    req: &Request<'_>,
    caller: Caller<'_>,
) -> Result<Option<Rc<VerifiedToken>>, OAuthError> {
    let (token, _caller) = client_authn::authenticated_token_request(ctx, req, caller).await?;
    if ctx.revocations_too_stale() {
        return Err(OAuthError::TemporarilyUnavailable(
            "revocations cannot be checked while the database is away, retry shortly",
        ));
    }
    let now_s = unix_now_s();
    let cached = ctx.verified.borrow_mut().get(&token, now_s).cloned();
    let (verified, generation) = match cached {
        Some(verified) => (verified, None),
        None => {
            let generation = ctx.verified.borrow().generation();
            let keys = ctx.keys();
            let Some(verified) = verify(&keys.verify_keys, token.as_bytes(), now_s) else {
                return Ok(None);
            };
            (Rc::new(verified), Some(generation))
        }
    };
    if !still_active(ctx, &verified, now_s).await? {
        return Ok(None);
    }
    if let Some(generation) = generation {
        let exp_s = verified.exp_s;
        ctx.verified
            .borrow_mut()
            .insert(&token, generation, exp_s, verified.clone(), now_s);
    }
    Ok(Some(verified))
}

/// What may have changed since the token verified: its revocation, and its client (one that
/// no longer exists, is disabled or had its tokens revoked).
async fn still_active(
    ctx: &Context,
    token: &VerifiedToken,
    now_s: u64,
) -> Result<bool, OAuthError> {
    let verdict = ctx.revocations.borrow().check(&token.jti, now_s);
    let revoked = match verdict {
        Verdict::Revoked => true,
        Verdict::NotRevoked => false,
        // The shard's cache is full: the table decides (see `cache::revocation`).
        Verdict::Unknown => {
            let pg = ctx.pg.client().map_err(client_authn::db_unavailable)?;
            revocations::is_revoked(&pg, &token.jti)
                .await
                .map_err(client_authn::db_unavailable)?
        }
    };
    if revoked {
        return Ok(false);
    }
    let issuer = ctx
        .clients
        .lookup(&token.client_id)
        .await
        .map_err(client_authn::db_unavailable)?;
    Ok(issuer.is_some_and(|c| c.honours_token_from(issued_at_ms(&token.jti))))
}

/// Pure, no I/O: a token of ours that verifies against `keys` and has not expired at
/// `now_s`, with the answer it gets while active. What a cache miss costs beyond the
/// revocation and client checks (`benches/introspect_cache.rs` measures it against a hit).
pub fn verify(keys: &[SigningKey], token: &[u8], now_s: u64) -> Option<VerifiedToken> {
    let (claims, jti) = valid_claims(keys, token, now_s)?;
    let mut answer = Vec::with_capacity(token.len());
    serde_json::to_writer(&mut answer, &Active::from(&claims))
        .expect("serializing strings and integers into a Vec cannot fail");
    Some(VerifiedToken {
        exp_s: claims.exp,
        jti,
        client_id: claims.client_id.into_boxed_str(),
        answer: answer.into_boxed_slice(),
    })
}

/// Pure decision, no I/O: the claims and jti of a token of ours that verifies and has not
/// expired at `now_s`.
pub fn valid_claims(
    keys: &[SigningKey],
    token: &[u8],
    now_s: u64,
) -> Option<(VerifiedClaims, Jti)> {
    let claims = verify_token(keys, token).ok()?;
    if claims.exp <= now_s {
        return None;
    }
    // Our jti are UUIDs; a verified token whose jti is not one was not issued by us.
    let jti = *uuid::Uuid::try_parse(&claims.jti).ok()?.as_bytes();
    Some((claims, jti))
}

/// RFC 7662 §2.2 response for an active token; `token_type` is what the token endpoint
/// answered with.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    scope: &'a str,
    client_id: &'a str,
    sub: &'a str,
    aud: &'a AudienceClaim,
    iss: &'a str,
    exp: u64,
    iat: u64,
    jti: &'a str,
    token_type: &'static str,
    /// RFC 8705 §3.2 and RFC 9449 §6.2: a resource server checks it against the client's
    /// certificate or DPoP key.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Confirmation>,
    /// The client's static claims (their names cannot collide with the members above).
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> From<&'a VerifiedClaims> for Active<'a> {
    fn from(c: &'a VerifiedClaims) -> Active<'a> {
        Active {
            active: true,
            scope: &c.scope,
            client_id: &c.client_id,
            sub: &c.sub,
            aud: &c.aud,
            iss: &c.iss,
            exp: c.exp,
            iat: c.iat,
            jti: &c.jti,
            // RFC 9449 §6.2: a DPoP-bound token is a DPoP token.
            token_type: match c.cnf.as_ref().and_then(|cnf| cnf.jkt.as_ref()) {
                Some(_) => "DPoP",
                None => "Bearer",
            },
            cnf: c.cnf.as_ref(),
            extra: &c.extra,
        }
    }
}
