//! `POST /oauth/revoke` (RFC 7009): record the token's jti in `revoked_tokens` and announce
//! it on `edgeauth_revoke`, so every shard of every instance refuses it within moments.
//!
//! Answers, and why:
//! * 200 with an empty body once the revocation has committed, and also for a token that
//!   does not verify here (garbage, another issuer's, a retired key's) or is already
//!   revoked: RFC 7009 §2.2 — "invalid tokens do not cause an error response", since the
//!   client could do nothing about it anyway. Expired tokens are revoked all the same (the
//!   row costs nothing and `prune` removes it).
//! * A verified token issued to ANOTHER client: 400 `unauthorized_client`, and nothing is
//!   revoked. RFC 7009 §2.1 says the server "verifies whether the token was issued to the
//!   client making the revocation request. If this validation fails, the request is
//!   refused and the client is informed of the error"; answering 200 would tell the caller
//!   a revocation happened when it did not. The refusal reveals nothing the caller could
//!   not learn by introspecting the token it holds. (Keycloak answers the same way.)
//! * Database unavailable: 503 `temporarily_unavailable` with `Retry-After`; the client
//!   must retry, because a revocation that was not recorded must not look successful.

use crate::audit;
use crate::endpoint::client_authn;
use crate::endpoint::context::{Caller, Context, Reply};
use crate::endpoint::oauth_error::{NO_STORE_HEADERS, OAuthError};
use crate::http::request::Request;
use crate::http::response;
use crate::jwt::verify::verify_token;
use crate::store::revocations;

/// Answer one revocation request into `out`; `scratch` is the connection's body buffer.
pub async fn handle(ctx: &Context, req: &Request<'_>, caller: Caller<'_>, reply: Reply<'_>) {
    match revoke(ctx, req, caller).await {
        Ok(()) => response::write_json(reply.out, 200, b"", reply.keep_alive, NO_STORE_HEADERS),
        Err(e) => e.write(reply.out, reply.scratch, reply.keep_alive),
    }
}

async fn revoke(ctx: &Context, req: &Request<'_>, caller: Caller<'_>) -> Result<(), OAuthError> {
    let (token, caller) = client_authn::authenticated_token_request(ctx, req, caller).await?;

    let Ok(claims) = verify_token(&ctx.keys().verify_keys, token.as_bytes()) else {
        return Ok(()); // Not ours: nothing to revoke (§2.2).
    };
    let Ok(jti) = uuid::Uuid::try_parse(&claims.jti) else {
        return Ok(()); // Signed by us but not with our jti shape: never issued here.
    };
    if claims.client_id != caller.client_id {
        return Err(OAuthError::UnauthorizedClient(
            "the token was not issued to this client",
        ));
    }
    let pg = ctx.pg.client().map_err(client_authn::db_unavailable)?;
    revocations::revoke(&pg, jti.as_bytes(), &claims.client_id, claims.exp)
        .await
        .map_err(client_authn::db_unavailable)?;
    // This shard need not wait for its own notification to come back.
    ctx.revocations
        .borrow_mut()
        .insert(*jti.as_bytes(), claims.exp, crate::clock::unix_now_s());
    audit::record(
        "token.revoked",
        &[("client_id", &claims.client_id), ("jti", &claims.jti)],
    );
    Ok(())
}
