//! `POST /admin/clients`: register a client from JSON, with the same checks and the same
//! one statement as `edgeauth client add` (`store::clients::add`), so the two cannot drift.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::audit;
use crate::config;
use crate::endpoint::context::Context;
use crate::http::request::Request;
use crate::http::response;
use crate::rate::Rate;
use crate::store::clients::{self, AdminError, Credentials, NewClient};

/// The body, with the fields the README lists for `POST /admin/clients`; anything else is
/// refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientJson {
    client_id: String,
    #[serde(default)]
    scopes: String,
    auth_method: Option<String>,
    audience: Option<String>,
    token_ttl: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    claims: Option<Map<String, Value>>,
    jwks: Option<Value>,
    tls_subject: Option<String>,
    /// PEM.
    tls_cert: Option<String>,
    federated: Option<Federated>,
    #[serde(default)]
    require_dpop: bool,
    certificate_bound_tokens: Option<bool>,
    rate: Option<RateJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Federated {
    issuer: String,
    subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateJson {
    per_second: f64,
    burst: Option<u32>,
}

/// 201 `{"client_id", "client_secret"}` (the secret for secret clients only); 400 for a body
/// that does not describe a valid client, 409 for a taken id, 415 for a body that is not
/// JSON.
pub async fn create(ctx: &Context, req: &Request<'_>, out: &mut Vec<u8>, keep_alive: bool) {
    let is_json = req.content_type.is_some_and(|ct| {
        ct.split(|&b| b == b';')
            .next()
            .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"application/json"))
    });
    if !is_json {
        return error(
            out,
            keep_alive,
            415,
            "unsupported_media_type",
            "the body must be application/json",
        );
    }
    let body: NewClientJson = match serde_json::from_slice(req.body) {
        Ok(body) => body,
        Err(e) => return error(out, keep_alive, 400, "invalid_request", &e.to_string()),
    };
    let Some(pg) = ctx.pg.client().ok() else {
        return unavailable(out, keep_alive);
    };
    match register(&pg, &body).await {
        Ok((method, secret)) => {
            audit::record(
                "client.added",
                &[
                    ("client_id", &body.client_id),
                    ("auth_method", &method),
                    ("via", &"api"),
                ],
            );
            let answer = match secret {
                Some(secret) => {
                    serde_json::json!({"client_id": body.client_id, "client_secret": secret})
                }
                None => serde_json::json!({"client_id": body.client_id}),
            };
            response::write_json(out, 201, answer.to_string().as_bytes(), keep_alive, &[]);
        }
        Err(AdminError::Invalid(why)) => error(out, keep_alive, 400, "invalid_request", &why),
        Err(AdminError::Exists(_)) => error(
            out,
            keep_alive,
            409,
            "already_exists",
            "a client with this id exists",
        ),
        Err(AdminError::NotFound(_) | AdminError::Db(_)) => unavailable(out, keep_alive),
    }
}

/// Check the body as `client add` checks its flags, and insert the client: its method and
/// its secret, if it has one.
async fn register(
    pg: &crate::pg::Client,
    body: &NewClientJson,
) -> Result<(String, Option<String>), AdminError> {
    let invalid = AdminError::Invalid;
    let cert_der = body
        .tls_cert
        .as_deref()
        .map(pem_certificate)
        .transpose()
        .map_err(invalid)?;
    let given = Credentials {
        tls_subject: body.tls_subject.as_deref(),
        cert_der,
        jwks: body.jwks.as_ref().map(Value::to_string),
        federated: body
            .federated
            .as_ref()
            .map(|f| (f.issuer.as_str(), f.subject.as_str())),
    };
    let method = body
        .auth_method
        .clone()
        .unwrap_or_else(|| given.implied_method().to_owned());
    let auth = given.new_auth(&method).map_err(invalid)?;
    let claims = body
        .claims
        .as_ref()
        .map(|c| Value::Object(c.clone()).to_string());
    let token_ttl = body
        .token_ttl
        .as_deref()
        .map(config::duration)
        .transpose()
        .map_err(invalid)?;
    let rate = body
        .rate
        .as_ref()
        .map(|r| Rate::new(r.per_second, r.burst))
        .transpose()
        .map_err(invalid)?;
    let new = NewClient {
        client_id: &body.client_id,
        auth,
        resources: &body.resources,
        claims: claims.as_deref(),
        certificate_bound: body.certificate_bound_tokens.unwrap_or(true),
        require_dpop: body.require_dpop,
        rate,
        scopes: &body.scopes,
        audience: body.audience.as_deref(),
        token_ttl,
        grant_types: "client_credentials",
    };
    let secret = clients::add(pg, &new).await?;
    Ok((method, secret))
}

/// The first certificate of a PEM text, DER.
fn pem_certificate(pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| format!("tls_cert: no PEM certificate ({e})"))
}

/// The admin API's one error shape: `{"error": <stable code>, "error_description": ..}`.
pub fn error(out: &mut Vec<u8>, keep_alive: bool, status: u16, code: &str, description: &str) {
    let body = serde_json::json!({ "error": code, "error_description": description }).to_string();
    let retry: &[(&str, &str)] = if status == 503 {
        &[("Retry-After", "1")]
    } else {
        &[]
    };
    response::write_json(out, status, body.as_bytes(), keep_alive, retry);
}

/// 503: the database did not answer, so nothing was changed.
pub fn unavailable(out: &mut Vec<u8>, keep_alive: bool) {
    let description = "the database is unreachable; nothing was changed";
    error(out, keep_alive, 503, "temporarily_unavailable", description);
}
