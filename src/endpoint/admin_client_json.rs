//! The JSON bodies of `POST /admin/clients` and `PATCH /admin/clients/{id}`, and what they
//! become: the same `store::clients` registration and change that `edgeauth client ...`
//! makes, with the same checks, so the API and the CLI cannot drift. Unknown fields are
//! refused.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::config;
use crate::rate::Rate;
use crate::store::clients::{self, AdminError, ClientChange, ClientRecord, Credentials, NewClient};

/// `POST /admin/clients`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClientJson {
    pub client_id: String,
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

/// `PATCH /admin/clients/{id}`: each field given replaces that setting; `null` puts
/// `audience`, `token_ttl` and `rate` back to the server's default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPatchJson {
    scopes: Option<String>,
    auth_method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    audience: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    token_ttl: Option<Option<String>>,
    resources: Option<Vec<String>>,
    claims: Option<Map<String, Value>>,
    jwks: Option<Value>,
    tls_subject: Option<String>,
    /// PEM.
    tls_cert: Option<String>,
    federated: Option<Federated>,
    require_dpop: Option<bool>,
    certificate_bound_tokens: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    rate: Option<Option<RateJson>>,
    disabled: Option<bool>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
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

/// The credential options of a body (each for one method).
fn credentials<'a>(
    jwks: &Option<Value>,
    tls_subject: &'a Option<String>,
    tls_cert: &Option<String>,
    federated: &'a Option<Federated>,
) -> Result<Credentials<'a>, String> {
    Ok(Credentials {
        tls_subject: tls_subject.as_deref(),
        cert_der: tls_cert.as_deref().map(pem_certificate).transpose()?,
        jwks: jwks.as_ref().map(Value::to_string),
        federated: federated
            .as_ref()
            .map(|f| (f.issuer.as_str(), f.subject.as_str())),
    })
}

impl RateJson {
    fn rate(&self) -> Result<Rate, String> {
        Rate::new(self.per_second, self.burst)
    }
}

fn claims_text(claims: &Option<Map<String, Value>>) -> Option<String> {
    claims
        .as_ref()
        .map(|c| Value::Object(c.clone()).to_string())
}

fn ttl(text: &str) -> Result<std::time::Duration, String> {
    config::duration(text).map_err(|e| format!("token_ttl: {e}"))
}

/// Check the body as `client add` checks its flags, and insert the client: its method and
/// its secret, if it has one.
pub async fn register(
    pg: &crate::pg::Client,
    body: &NewClientJson,
) -> Result<(String, Option<String>), AdminError> {
    let invalid = AdminError::Invalid;
    let given = credentials(
        &body.jwks,
        &body.tls_subject,
        &body.tls_cert,
        &body.federated,
    )
    .map_err(invalid)?;
    let method = body
        .auth_method
        .clone()
        .unwrap_or_else(|| given.implied_method().to_owned());
    let claims = claims_text(&body.claims);
    let new = NewClient {
        client_id: &body.client_id,
        auth: given.new_auth(&method).map_err(invalid)?,
        resources: &body.resources,
        claims: claims.as_deref(),
        certificate_bound: body.certificate_bound_tokens.unwrap_or(true),
        require_dpop: body.require_dpop,
        rate: body
            .rate
            .as_ref()
            .map(RateJson::rate)
            .transpose()
            .map_err(invalid)?,
        scopes: &body.scopes,
        audience: body.audience.as_deref(),
        token_ttl: body
            .token_ttl
            .as_deref()
            .map(ttl)
            .transpose()
            .map_err(invalid)?,
        grant_types: "client_credentials",
    };
    let secret = clients::add(pg, &new).await?;
    Ok((method, secret))
}

/// Apply a PATCH body in one statement; returns the client as it is now, and the names of
/// the fields changed (for the audit event).
pub async fn apply(
    pg: &crate::pg::Client,
    client_id: &str,
    body: &ClientPatchJson,
) -> Result<(ClientRecord, Vec<&'static str>), AdminError> {
    let invalid = AdminError::Invalid;
    let given = credentials(
        &body.jwks,
        &body.tls_subject,
        &body.tls_cert,
        &body.federated,
    )
    .map_err(invalid)?;
    let credential = match (given.named_method(), body.auth_method.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => {
            let why = "auth_method changes only with its credential (jwks, federated, tls_subject or tls_cert)";
            return Err(invalid(why.to_owned()));
        }
        (Some(named), method) => Some(given.new_auth(method.unwrap_or(named)).map_err(invalid)?),
    };
    let claims = claims_text(&body.claims);
    let token_ttl = match &body.token_ttl {
        Some(Some(text)) => Some(Some(ttl(text).map_err(invalid)?)),
        Some(None) => Some(None),
        None => None,
    };
    let rate = match &body.rate {
        Some(Some(r)) => Some(Some(r.rate().map_err(invalid)?)),
        Some(None) => Some(None),
        None => None,
    };
    let change = ClientChange {
        scopes: body.scopes.as_deref(),
        audience: body.audience.as_ref().map(Option::as_deref),
        token_ttl,
        resources: body.resources.as_deref(),
        claims: claims.as_deref(),
        credential,
        certificate_bound: body.certificate_bound_tokens,
        require_dpop: body.require_dpop,
        rate,
        disabled: body.disabled,
    };
    let changed = change.names();
    if changed.is_empty() {
        return Err(invalid("the body changes nothing".to_owned()));
    }
    let record = clients::update(pg, client_id, &change).await?;
    Ok((record, changed))
}

/// The first certificate of a PEM text, DER.
fn pem_certificate(pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| format!("tls_cert: no PEM certificate ({e})"))
}
