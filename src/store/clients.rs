//! OAuth clients: the lookup the token endpoint makes, and the administration behind
//! `edgeauth client ...`. Every change announces itself on `edgeauth_invalidate` in the same
//! statement, so the notification is sent exactly when the change commits.

use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::secret;
use crate::jwt::public_key::{JwkSet, Unusable};
use crate::limits;
use crate::pg::{self, Client, Row, Statement};
use crate::rate::Rate;
use crate::tls::SubjectName;

/// How a client proves who it is (`clients.auth_method`, RFC 7591's
/// `token_endpoint_auth_method`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A secret, by HTTP Basic or in the body: its stored hash, and the one it replaced
    /// while that one's grace lasts.
    Secret(Secrets),
    /// RFC 8705 §2.1: a certificate chained to `tls_client_ca` that carries this name.
    TlsClientAuth(SubjectName),
    /// RFC 8705 §2.2: this certificate (the SHA-256 of its DER), self-signed or not.
    SelfSignedTls([u8; 32]),
    /// RFC 7523 `private_key_jwt`: an assertion signed by one of these keys.
    PrivateKeyJwt(ClientKeys),
    /// Workload identity: a token of this trusted issuer (`trusted_issuers`) naming this
    /// subject, presented as the client's assertion.
    Federated { issuer: String, subject: String },
}

/// The hashes of a secret client's secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    pub current: [u8; 32],
    /// The secret `rotate-secret` replaced, and until when (Unix seconds) it is still
    /// accepted.
    pub previous: Option<([u8; 32], u64)>,
}

impl Secrets {
    pub fn new(current: [u8; 32]) -> Secrets {
        Secrets {
            current,
            previous: None,
        }
    }

    /// The replaced secret's hash if its grace lasts past `now_s` (Unix seconds).
    pub fn previous_at(&self, now_s: u64) -> Option<&[u8; 32]> {
        self.previous
            .as_ref()
            .filter(|(_, until_s)| now_s < *until_s)
            .map(|(hash, _)| hash)
    }
}

/// A client's registered public keys: parsed once, when its record is loaded, and kept
/// with it in the shard's cache.
#[derive(Clone)]
pub struct ClientKeys {
    /// The JWKS as stored (compact JSON), for `client show`.
    pub json: String,
    pub set: Rc<JwkSet>,
}

impl ClientKeys {
    fn parse(json: &str) -> Result<ClientKeys, String> {
        let set =
            JwkSet::parse(json.as_bytes(), Unusable::Refuse).map_err(|e| format!("jwks: {e}"))?;
        let compact: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("jwks: {e}"))?;
        Ok(ClientKeys {
            json: compact.to_string(),
            set: Rc::new(set),
        })
    }
}

impl PartialEq for ClientKeys {
    fn eq(&self, other: &ClientKeys) -> bool {
        self.json == other.json
    }
}

impl Eq for ClientKeys {}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<Option<&str>> = self.set.keys().iter().map(|k| k.kid()).collect();
        f.debug_struct("ClientKeys").field("kids", &kids).finish()
    }
}

impl ClientAuth {
    /// The method's registered name.
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::Secret(_) => AUTH_SECRET,
            ClientAuth::TlsClientAuth(_) => AUTH_TLS,
            ClientAuth::SelfSignedTls(_) => AUTH_SELF_SIGNED_TLS,
            ClientAuth::PrivateKeyJwt(_) | ClientAuth::Federated { .. } => AUTH_PRIVATE_KEY_JWT,
        }
    }

    /// From the columns of a row, in `LOOKUP`'s order from `auth_method` on.
    fn from_row(row: &Row<'_>) -> Option<ClientAuth> {
        Some(match row.get_str(8)? {
            AUTH_SECRET => ClientAuth::Secret(Secrets {
                current: secret::parse_stored_hash(row.get_str(1)?)?,
                previous: match (row.get_str(20), row.get_str(21)) {
                    (Some(hash), Some(until_s)) => {
                        Some((secret::parse_stored_hash(hash)?, until_s.parse().ok()?))
                    }
                    _ => None,
                },
            }),
            AUTH_TLS => ClientAuth::TlsClientAuth(SubjectName::parse(row.get_str(9)?).ok()?),
            AUTH_SELF_SIGNED_TLS => {
                let bytes = URL_SAFE_NO_PAD.decode(row.get_str(10)?).ok()?;
                ClientAuth::SelfSignedTls(bytes.try_into().ok()?)
            }
            AUTH_PRIVATE_KEY_JWT => match (row.get_str(14), row.get_str(15), row.get_str(16)) {
                (Some(jwks), None, None) => {
                    ClientAuth::PrivateKeyJwt(ClientKeys::parse(jwks).ok()?)
                }
                (None, Some(issuer), Some(subject)) => ClientAuth::Federated {
                    issuer: issuer.to_owned(),
                    subject: subject.to_owned(),
                },
                _ => return None,
            },
            _ => return None,
        })
    }
}

pub const AUTH_SECRET: &str = "client_secret_basic";
pub const AUTH_TLS: &str = "tls_client_auth";
pub const AUTH_SELF_SIGNED_TLS: &str = "self_signed_tls_client_auth";
pub const AUTH_PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// What the token endpoint needs to know about a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub auth: ClientAuth,
    /// Tokens issued on a certificate carry its thumbprint (`cnf`, RFC 8705 §3).
    pub certificate_bound: bool,
    /// Tokens only with a DPoP proof (RFC 9449), so every token is bound to a key.
    pub require_dpop: bool,
    /// The client's own token rate; `None`: the server's `client_rate_default`.
    pub rate: Option<Rate>,
    /// The resources (RFC 8707) the client may ask tokens for; each a valid resource URI.
    pub resources: Vec<String>,
    /// The client's static claims as JSON object members without the braces
    /// (`"tenant":"acme","tier":3`), ready to be spliced into a token; empty for none.
    pub claims: String,
    /// Space-separated scope tokens.
    pub allowed_scopes: String,
    pub audience: Option<String>,
    pub token_ttl: Option<Duration>,
    /// Space-separated grant types.
    pub grant_types: String,
    pub disabled: bool,
    /// Tokens minted before this instant (Unix milliseconds) are revoked
    /// (`revoke_tokens`); `None`: no such revocation.
    pub tokens_not_before_ms: Option<u64>,
}

impl ClientRecord {
    pub fn may_use_grant(&self, grant_type: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant_type)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.allowed_scopes.split(' ').filter(|s| !s.is_empty())
    }

    /// May a token this client was issued at `issued_at_ms` still be used? Not when the
    /// client is disabled, nor when it was issued before or in the same millisecond as its
    /// client's registration or last `revoke-tokens` (by the database's clock, truncated
    /// to the millisecond: a token of that millisecond errs on the side of inactive).
    pub fn honours_token_from(&self, issued_at_ms: u64) -> bool {
        !self.disabled && self.tokens_not_before_ms.is_none_or(|t| issued_at_ms > t)
    }
}

/// The columns a [`ClientRecord`] is read from, in `record_from_row`'s order: one list for
/// every statement that reads clients.
macro_rules! client_columns {
    () => {
        "client_id, secret_hash, allowed_scopes, audience, token_ttl_seconds, grant_types, disabled,
            floor(extract(epoch FROM tokens_not_before) * 1000)::bigint,
            auth_method, tls_subject, tls_cert_sha256, certificate_bound, resources, claims,
            jwks, federated_issuer, federated_subject, require_dpop, rate_per_second, rate_burst,
            previous_secret_hash, extract(epoch FROM previous_secret_expires_at)::bigint"
    };
}

pub const LOOKUP: Statement = Statement::new(
    "client_lookup",
    concat!(
        "SELECT ",
        client_columns!(),
        " FROM clients WHERE client_id = $1"
    ),
    &[],
);

/// Look a client up; `Ok(None)` when it does not exist.
pub async fn lookup(client: &Client, client_id: &str) -> Result<Option<ClientRecord>, pg::Error> {
    let rows = client.query(&LOOKUP, &[Some(client_id.as_bytes())]).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(record_from_row(&rows.row(0)))
}

/// A row that does not decode (a hand-edited hash, say) is treated as no client: it can never
/// authenticate, and the CLI's `show` reports it.
fn record_from_row(row: &Row<'_>) -> Option<ClientRecord> {
    Some(ClientRecord {
        client_id: row.get_str(0)?.to_owned(),
        auth: ClientAuth::from_row(row)?,
        certificate_bound: row.get_str(11)? == "t",
        require_dpop: row.get_str(17)? == "t",
        rate: match (row.get_str(18), row.get_str(19)) {
            (Some(per_second), Some(burst)) => Some(Rate {
                per_second: per_second
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r > 0.0)?,
                burst: burst.parse().ok().filter(|b| *b > 0)?,
            }),
            _ => None,
        },
        // A hand-edited entry that is no resource URI: no client, as for a bad hash.
        resources: row
            .get_str(12)?
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(|r| validate_resource(r).ok().map(|()| r.to_owned()))
            .collect::<Option<_>>()?,
        claims: claim_members(row.get_str(13)?)?,
        // Over the bound only if written by hand: no client, as for an unreadable hash.
        allowed_scopes: Some(row.get_str(2)?)
            .filter(|s| s.len() <= limits::SCOPES_BYTES_MAX)?
            .to_owned(),
        audience: row.get_str(3).map(str::to_owned),
        token_ttl: match row.get_str(4) {
            Some(v) => Some(Duration::from_secs(v.parse().ok()?)),
            None => None,
        },
        grant_types: row.get_str(5)?.to_owned(),
        disabled: row.get_str(6)? == "t",
        tokens_not_before_ms: match row.get_str(7) {
            Some(v) => Some(v.parse().ok()?),
            None => None,
        },
    })
}

/// Client ids are 1 to 128 characters from the URL-safe set `A-Z a-z 0-9 - . _ ~` (plus `:`
/// and `@`, which some fleets use in service names): they appear unescaped in JWT claims,
/// NOTIFY payloads and logs, so nothing in them needs escaping anywhere.
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > limits::CLIENT_ID_BYTES_MAX {
        return Err(format!(
            "client_id must be 1 to {} characters",
            limits::CLIENT_ID_BYTES_MAX
        ));
    }
    if id == "*"
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:@".contains(&b))
    {
        return Err("client_id may contain only A-Z a-z 0-9 - . _ ~ : @".to_owned());
    }
    Ok(())
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
/// (That excludes `"` and `\`, so scopes need no JSON escaping either.)
pub fn normalize_scopes(scopes: &str) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for token in scopes.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !token.bytes().all(is_scope_byte) {
            return Err(format!(
                "scope {token:?}: RFC 6749 scope tokens are printable ASCII without '\"' or '\\'"
            ));
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    let scopes = out.join(" ");
    if scopes.len() > limits::SCOPES_BYTES_MAX {
        return Err(format!(
            "scopes: at most {} bytes in all",
            limits::SCOPES_BYTES_MAX
        ));
    }
    Ok(scopes)
}

/// RFC 8707 §2: a resource is an absolute URI (a scheme, then `:`) without a fragment. We
/// also keep it printable ASCII without `"` or `\\`, so that it needs no escaping in a
/// token, and bounded.
pub fn validate_resource(uri: &str) -> Result<(), String> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let bytes_ok = uri
        .bytes()
        .all(|b| (0x21..=0x7E).contains(&b) && b != b'"' && b != b'\\');
    if !scheme_ok || !bytes_ok || uri.contains('#') || uri.len() > limits::RESOURCE_BYTES_MAX {
        return Err(format!(
            "resource {uri:?}: an absolute URI without a fragment, at most {} printable ASCII characters",
            limits::RESOURCE_BYTES_MAX
        ));
    }
    Ok(())
}

/// Claims a client may not set: those every token already has, those that mean something to
/// us, and the other members of an introspection answer (RFC 7662 §2.2), which shows them.
pub const RESERVED_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "typ",
    "active",
    "token_type",
    "username",
];

/// A client's static claims, checked and made compact: a JSON object, no reserved name, at
/// most `CLIENT_CLAIMS_BYTES_MAX` bytes.
pub fn normalize_claims(json: &str) -> Result<String, String> {
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("claims must be a JSON object: {e}"))?;
    if let Some(name) = claims
        .keys()
        .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
    {
        return Err(format!(
            "claim {name:?} is set by the server; reserved: {}",
            RESERVED_CLAIMS.join(" ")
        ));
    }
    let compact = serde_json::to_string(&claims).expect("a JSON map serializes");
    if compact.len() > limits::CLIENT_CLAIMS_BYTES_MAX {
        return Err(format!(
            "claims: at most {} bytes of compact JSON",
            limits::CLIENT_CLAIMS_BYTES_MAX
        ));
    }
    Ok(compact)
}

/// The members of a stored claims object, without its braces; `None` for a row that is not
/// one (edited by hand), which makes it no client.
fn claim_members(stored: &str) -> Option<String> {
    let compact = normalize_claims(stored).ok()?;
    Some(compact[1..compact.len() - 1].to_owned())
}

pub fn is_scope_byte(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

/// What `client add` registers.
pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub auth: NewAuth<'a>,
    /// RFC 8707 resources the client may request.
    pub resources: &'a [String],
    /// Static claims (a JSON object) for every token of the client.
    pub claims: Option<&'a str>,
    /// Tokens issued on a certificate carry its thumbprint (`cnf`).
    pub certificate_bound: bool,
    /// Tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// Its own token rate; `None`: the server's default.
    pub rate: Option<Rate>,
    pub scopes: &'a str,
    pub audience: Option<&'a str>,
    pub token_ttl: Option<Duration>,
    pub grant_types: &'a str,
}

/// The credential a new client registers.
pub enum NewAuth<'a> {
    /// A secret, generated here.
    Secret,
    /// `tls_client_auth` with this subject DN or alternative name.
    TlsSubject(&'a str),
    /// `self_signed_tls_client_auth` with this certificate (DER).
    TlsCertificate(&'a [u8]),
    /// `private_key_jwt` with this public JWKS (JSON).
    Jwks(&'a str),
    /// `private_key_jwt` with tokens of a trusted issuer for this subject.
    Federated { issuer: &'a str, subject: &'a str },
}

/// The credential options a registration gives (`client add`'s flags, the admin API's
/// fields): the method they name, and the one option it needs.
pub struct Credentials<'a> {
    pub tls_subject: Option<&'a str>,
    /// A certificate, DER.
    pub cert_der: Option<Vec<u8>>,
    /// A JWKS, JSON.
    pub jwks: Option<String>,
    /// An issuer and a subject.
    pub federated: Option<(&'a str, &'a str)>,
}

impl Credentials<'_> {
    /// The method when none is named: private_key_jwt when keys or an issuer are given.
    pub fn implied_method(&self) -> &'static str {
        if self.jwks.is_some() || self.federated.is_some() {
            AUTH_PRIVATE_KEY_JWT
        } else {
            AUTH_SECRET
        }
    }

    /// The method of the one credential option given; `None` when none is.
    pub fn named_method(&self) -> Option<&'static str> {
        if self.jwks.is_some() || self.federated.is_some() {
            Some(AUTH_PRIVATE_KEY_JWT)
        } else if self.tls_subject.is_some() {
            Some(AUTH_TLS)
        } else if self.cert_der.is_some() {
            Some(AUTH_SELF_SIGNED_TLS)
        } else {
            None
        }
    }

    /// The credential `method` names, with the option it needs (and no other).
    pub fn new_auth(&self, method: &str) -> Result<NewAuth<'_>, String> {
        let options = [
            self.tls_subject.is_some(),
            self.cert_der.is_some(),
            self.jwks.is_some(),
            self.federated.is_some(),
        ];
        let only = |i: usize| {
            options
                .iter()
                .enumerate()
                .all(|(j, &given)| given == (i == j))
        };
        let auth = match method {
            AUTH_SECRET if !options.contains(&true) => NewAuth::Secret,
            AUTH_TLS if only(0) => NewAuth::TlsSubject(self.tls_subject.unwrap_or_default()),
            AUTH_SELF_SIGNED_TLS if only(1) => {
                NewAuth::TlsCertificate(self.cert_der.as_deref().unwrap_or_default())
            }
            AUTH_PRIVATE_KEY_JWT if only(2) => {
                NewAuth::Jwks(self.jwks.as_deref().unwrap_or_default())
            }
            AUTH_PRIVATE_KEY_JWT if only(3) => {
                let (issuer, subject) = self.federated.unwrap_or_default();
                NewAuth::Federated { issuer, subject }
            }
            AUTH_SECRET => {
                return Err("--tls-subject, --tls-cert, --jwks and --federated are for --auth tls_client_auth, self_signed_tls_client_auth and private_key_jwt".into());
            }
            AUTH_TLS | AUTH_SELF_SIGNED_TLS | AUTH_PRIVATE_KEY_JWT => {
                let needs = match method {
                    AUTH_TLS => "--tls-subject (tls_subject)",
                    AUTH_SELF_SIGNED_TLS => "--tls-cert (tls_cert)",
                    _ => "--jwks FILE or --federated ISSUER SUBJECT (jwks, federated)",
                };
                return Err(format!(
                    "--auth {method} takes {needs}, and no other credential option"
                ));
            }
            other => {
                return Err(format!(
                    "--auth {other:?}: use client_secret_basic, private_key_jwt, tls_client_auth or self_signed_tls_client_auth"
                ));
            }
        };
        Ok(auth)
    }
}

/// The columns of a new client's credential, and the secret to hand out (if any).
struct AuthColumns {
    method: &'static str,
    secret: Option<String>,
    hash: Option<String>,
    subject: Option<String>,
    sha256: Option<String>,
    jwks: Option<String>,
    federated: Option<(String, String)>,
}

impl NewAuth<'_> {
    fn columns(&self) -> Result<AuthColumns, AdminError> {
        let mut columns = AuthColumns {
            method: AUTH_SECRET,
            secret: None,
            hash: None,
            subject: None,
            sha256: None,
            jwks: None,
            federated: None,
        };
        match self {
            NewAuth::Secret => {
                let plain = secret::generate_secret();
                columns.hash = Some(secret::stored_hash(plain.as_bytes()));
                columns.secret = Some(plain);
            }
            NewAuth::TlsSubject(subject) => {
                SubjectName::parse(subject).map_err(AdminError::Invalid)?;
                columns.method = AUTH_TLS;
                columns.subject = Some(subject.trim().to_owned());
            }
            NewAuth::TlsCertificate(der) => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
                columns.method = AUTH_SELF_SIGNED_TLS;
                columns.sha256 = Some(URL_SAFE_NO_PAD.encode(digest.as_ref()));
            }
            NewAuth::Jwks(json) => {
                columns.method = AUTH_PRIVATE_KEY_JWT;
                columns.jwks = Some(ClientKeys::parse(json).map_err(AdminError::Invalid)?.json);
            }
            NewAuth::Federated { issuer, subject } => {
                validate_federated(issuer, subject).map_err(AdminError::Invalid)?;
                columns.method = AUTH_PRIVATE_KEY_JWT;
                columns.federated = Some((issuer.to_string(), subject.to_string()));
            }
        }
        Ok(columns)
    }
}

/// A workload-identity registration: an issuer URL and a subject, each printable ASCII
/// (they are compared byte for byte with a token's `iss` and `sub`).
fn validate_federated(issuer: &str, subject: &str) -> Result<(), String> {
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if !printable(issuer) || !issuer.contains("://") || issuer.len() > limits::RESOURCE_BYTES_MAX {
        return Err(format!("federated issuer {issuer:?} must be a URL"));
    }
    if !printable(subject) || subject.len() > limits::FEDERATED_SUBJECT_BYTES_MAX {
        return Err(format!(
            "federated subject {subject:?}: 1 to {} printable ASCII characters",
            limits::FEDERATED_SUBJECT_BYTES_MAX
        ));
    }
    Ok(())
}

/// A new client honours no token issued before it existed: a deleted client's tokens stay
/// inactive when its id is registered again (so do tokens minted in the registration's own
/// millisecond, and, if this host's clock runs behind the database's, in that lag).
const INSERT: Statement = Statement::new(
    "client_insert",
    "WITH c AS (
        INSERT INTO clients (client_id, secret_hash, allowed_scopes, audience, token_ttl_seconds, grant_types,
                             auth_method, tls_subject, tls_cert_sha256, resources, claims,
                             certificate_bound, jwks, federated_issuer, federated_subject, require_dpop,
                             rate_per_second, rate_burst, tokens_not_before)
        VALUES ($1, $2, $3, $4, $5::integer, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17::double precision, $18::integer, now())
        RETURNING client_id)
     SELECT pg_notify('edgeauth_invalidate', client_id) FROM c",
    &[],
);

/// The `resources` column: each URI valid, each once, in the order given.
fn resource_column(resources: &[String]) -> Result<String, AdminError> {
    let mut kept: Vec<&str> = Vec::new();
    for uri in resources {
        validate_resource(uri).map_err(AdminError::Invalid)?;
        if !kept.contains(&uri.as_str()) {
            kept.push(uri);
        }
    }
    if kept.len() > limits::RESOURCES_PER_CLIENT_MAX {
        return Err(AdminError::Invalid(format!(
            "at most {} resources per client",
            limits::RESOURCES_PER_CLIENT_MAX
        )));
    }
    Ok(kept.join(" "))
}

/// Register a client; returns its secret (stored only as a hash) for a secret client.
pub async fn add(client: &Client, new: &NewClient<'_>) -> Result<Option<String>, AdminError> {
    validate_client_id(new.client_id).map_err(AdminError::Invalid)?;
    let scopes = normalize_scopes(new.scopes).map_err(AdminError::Invalid)?;
    let grant_types = normalize_scopes(new.grant_types).map_err(AdminError::Invalid)?;
    if let Some(g) = grant_types.split(' ').find(|g| *g != "client_credentials") {
        return Err(AdminError::Invalid(format!(
            "grant type {g:?} is not supported"
        )));
    }
    let ttl = ttl_column(new.token_ttl)?;
    let auth = new.auth.columns()?;
    let resources = resource_column(new.resources)?;
    let claims = normalize_claims(new.claims.unwrap_or("{}")).map_err(AdminError::Invalid)?;
    let (per_second, burst) = rate_columns(new.rate);
    let params = [
        Some(new.client_id.as_bytes()),
        auth.hash.as_deref().map(str::as_bytes),
        Some(scopes.as_bytes()),
        new.audience.map(str::as_bytes),
        ttl.as_deref().map(str::as_bytes),
        Some(grant_types.as_bytes()),
        Some(auth.method.as_bytes()),
        auth.subject.as_deref().map(str::as_bytes),
        auth.sha256.as_deref().map(str::as_bytes),
        Some(resources.as_bytes()),
        Some(claims.as_bytes()),
        Some(flag(new.certificate_bound)),
        auth.jwks.as_deref().map(str::as_bytes),
        auth.federated.as_ref().map(|(issuer, _)| issuer.as_bytes()),
        auth.federated
            .as_ref()
            .map(|(_, subject)| subject.as_bytes()),
        Some(flag(new.require_dpop)),
        per_second.as_deref().map(str::as_bytes),
        burst.as_deref().map(str::as_bytes),
    ];
    match client.query(&INSERT, &params).await {
        Ok(_) => Ok(auth.secret),
        Err(e) if e.code() == Some("23505") => Err(AdminError::Exists(new.client_id.to_owned())),
        Err(e) => Err(AdminError::Db(e)),
    }
}

/// The `token_ttl_seconds` parameter; NULL for the server's default.
fn ttl_column(ttl: Option<Duration>) -> Result<Option<String>, AdminError> {
    match ttl {
        Some(t) if t < Duration::from_secs(1) || t > limits::TOKEN_TTL_MAX => Err(
            AdminError::Invalid("token_ttl must be between 1s and 24h".to_owned()),
        ),
        Some(t) => Ok(Some(t.as_secs().to_string())),
        None => Ok(None),
    }
}

/// The `rate_per_second` and `rate_burst` parameters; both NULL for the default.
fn rate_columns(rate: Option<Rate>) -> (Option<String>, Option<String>) {
    match rate {
        Some(r) => (Some(r.per_second.to_string()), Some(r.burst.to_string())),
        None => (None, None),
    }
}

/// A text parameter, or NULL.
fn text(value: Option<&str>) -> Option<&[u8]> {
    value.map(str::as_bytes)
}

/// A boolean parameter in text form.
fn flag(value: bool) -> &'static [u8] {
    if value { b"t" } else { b"f" }
}

/// A new secret; with a grace (`$3` seconds, 0 for none) the old one stays accepted until
/// it ends, and any secret an earlier rotation kept is forgotten.
const ROTATE: Statement = Statement::new(
    "client_rotate",
    "WITH c AS (UPDATE clients SET
                    previous_secret_hash = CASE WHEN $3::integer > 0 THEN secret_hash END,
                    previous_secret_expires_at =
                        CASE WHEN $3::integer > 0 THEN now() + make_interval(secs => $3::integer) END,
                    secret_hash = $2, updated_at = now()
                 WHERE client_id = $1 AND auth_method = 'client_secret_basic' RETURNING client_id)
     SELECT pg_notify('edgeauth_invalidate', client_id) FROM c",
    &[],
);
const DELETE: Statement = Statement::new(
    "client_delete",
    "WITH c AS (DELETE FROM clients WHERE client_id = $1 RETURNING client_id)
     SELECT pg_notify('edgeauth_invalidate', client_id) FROM c",
    &[],
);
/// Every token issued so far becomes inactive: the kill switch for a compromised client.
const REVOKE_TOKENS: Statement = Statement::new(
    "client_revoke_tokens",
    "WITH c AS (UPDATE clients SET tokens_not_before = now(), updated_at = now()
                 WHERE client_id = $1 RETURNING client_id)
     SELECT pg_notify('edgeauth_invalidate', client_id) FROM c",
    &[],
);

/// Change what `ClientChange` names and keep the rest, in one statement: concurrent changes
/// of one client are applied one after the other, each to the row the other left. A new
/// credential must be of the client's own method (`$10`); the client comes back as
/// `client_columns!` lists it, with the notification last.
const UPDATE: Statement = Statement::new(
    "client_update",
    concat!(
        "WITH c AS (UPDATE clients SET
            allowed_scopes = coalesce($2, allowed_scopes),
            audience = CASE WHEN $3::boolean THEN $4::text ELSE audience END,
            token_ttl_seconds = CASE WHEN $5::boolean THEN $6::integer ELSE token_ttl_seconds END,
            resources = coalesce($7, resources),
            claims = coalesce($8, claims),
            tls_subject = CASE WHEN $9::boolean THEN $11::text ELSE tls_subject END,
            tls_cert_sha256 = CASE WHEN $9::boolean THEN $12::text ELSE tls_cert_sha256 END,
            jwks = CASE WHEN $9::boolean THEN $13::text ELSE jwks END,
            federated_issuer = CASE WHEN $9::boolean THEN $14::text ELSE federated_issuer END,
            federated_subject = CASE WHEN $9::boolean THEN $15::text ELSE federated_subject END,
            certificate_bound = coalesce($16::boolean, certificate_bound),
            require_dpop = coalesce($17::boolean, require_dpop),
            rate_per_second = CASE WHEN $18::boolean THEN $19::double precision ELSE rate_per_second END,
            rate_burst = CASE WHEN $18::boolean THEN $20::integer ELSE rate_burst END,
            disabled = coalesce($21::boolean, disabled),
            updated_at = now()
          WHERE client_id = $1 AND (NOT $9::boolean OR auth_method = $10::text)
          RETURNING *)
         SELECT ",
        client_columns!(),
        ", pg_notify('edgeauth_invalidate', client_id) FROM c"
    ),
    &[],
);

/// The statements that announce their change on `edgeauth_invalidate` (checked in
/// `store::events`).
#[cfg(test)]
pub(crate) const ANNOUNCING_STATEMENTS: [&str; 5] = [
    INSERT.sql,
    UPDATE.sql,
    ROTATE.sql,
    DELETE.sql,
    REVOKE_TOKENS.sql,
];

const LIST: Statement = Statement::new(
    "client_list",
    concat!(
        "SELECT ",
        client_columns!(),
        " FROM clients ORDER BY client_id"
    ),
    &[],
);

/// A page of clients in id order, after a given id (the admin API's `after`).
const LIST_PAGE: Statement = Statement::new(
    "client_list_page",
    concat!(
        "SELECT ",
        client_columns!(),
        " FROM clients WHERE client_id > $1 ORDER BY client_id LIMIT $2::integer"
    ),
    &[],
);

/// Replace the secret; returns the new one. For `grace` the old one is accepted too.
pub async fn rotate_secret(
    client: &Client,
    client_id: &str,
    grace: Duration,
) -> Result<String, AdminError> {
    if grace > limits::SECRET_GRACE_MAX {
        return Err(AdminError::Invalid(format!(
            "grace: at most {}s",
            limits::SECRET_GRACE_MAX.as_secs()
        )));
    }
    let plain = secret::generate_secret();
    let hash = secret::stored_hash(plain.as_bytes());
    let grace_s = grace.as_secs().to_string();
    let params = [
        Some(client_id.as_bytes()),
        Some(hash.as_bytes()),
        Some(grace_s.as_bytes()),
    ];
    let rows = client
        .query(&ROTATE, &params)
        .await
        .map_err(AdminError::Db)?;
    if rows.is_empty() {
        // No such client, or one that has no secret: say which.
        let record = show(client, client_id).await?;
        return Err(AdminError::Invalid(format!(
            "client {client_id:?} authenticates with {}: it has no secret",
            record.auth.method()
        )));
    }
    Ok(plain)
}

/// A change to a client (`PATCH /admin/clients/{id}`, `client set-*`): each `Some` replaces
/// that setting, and the rest stay as they are.
#[derive(Default)]
pub struct ClientChange<'a> {
    pub scopes: Option<&'a str>,
    pub audience: Option<Option<&'a str>>,
    pub token_ttl: Option<Option<Duration>>,
    pub resources: Option<&'a [String]>,
    pub claims: Option<&'a str>,
    /// A new credential of the client's own method (not a secret: `rotate_secret` makes
    /// those).
    pub credential: Option<NewAuth<'a>>,
    pub certificate_bound: Option<bool>,
    pub require_dpop: Option<bool>,
    pub rate: Option<Option<Rate>>,
    pub disabled: Option<bool>,
}

impl ClientChange<'_> {
    /// The names of the settings it changes (the admin API's field names).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.scopes.is_some(), "scopes"),
            (self.audience.is_some(), "audience"),
            (self.token_ttl.is_some(), "token_ttl"),
            (self.resources.is_some(), "resources"),
            (self.claims.is_some(), "claims"),
            (self.credential.is_some(), "credential"),
            (self.certificate_bound.is_some(), "certificate_bound_tokens"),
            (self.require_dpop.is_some(), "require_dpop"),
            (self.rate.is_some(), "rate"),
            (self.disabled.is_some(), "disabled"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect()
    }
}

/// Apply a change; returns the client as it is now.
pub async fn update(
    client: &Client,
    client_id: &str,
    change: &ClientChange<'_>,
) -> Result<ClientRecord, AdminError> {
    let checked = change.checked()?;
    let auth = checked.auth.as_ref();
    let federated = auth.and_then(|a| a.federated.as_ref());
    let set = |given: bool| Some(flag(given));
    let params = [
        Some(client_id.as_bytes()),
        text(checked.scopes.as_deref()),
        set(change.audience.is_some()),
        text(change.audience.flatten()),
        set(checked.ttl.is_some()),
        text(checked.ttl.as_ref().and_then(|t| t.as_deref())),
        text(checked.resources.as_deref()),
        text(checked.claims.as_deref()),
        set(auth.is_some()),
        auth.map(|a| a.method.as_bytes()),
        text(auth.and_then(|a| a.subject.as_deref())),
        text(auth.and_then(|a| a.sha256.as_deref())),
        text(auth.and_then(|a| a.jwks.as_deref())),
        text(federated.map(|f| f.0.as_str())),
        text(federated.map(|f| f.1.as_str())),
        change.certificate_bound.map(flag),
        change.require_dpop.map(flag),
        set(change.rate.is_some()),
        text(checked.rate.0.as_deref()),
        text(checked.rate.1.as_deref()),
        change.disabled.map(flag),
    ];
    let rows = client
        .query(&UPDATE, &params)
        .await
        .map_err(AdminError::Db)?;
    if rows.is_empty() {
        // No such client, or a credential of another method: say which.
        let record = show(client, client_id).await?;
        return Err(AdminError::Invalid(format!(
            "client {client_id:?} authenticates with {}, and keeps its method (a new method is a new client)",
            record.auth.method()
        )));
    }
    record_from_row(&rows.row(0)).ok_or_else(|| {
        AdminError::Invalid(format!(
            "client {client_id:?} was changed into one that does not load"
        ))
    })
}

/// A change's values, checked as `add` checks them, in their column form.
struct CheckedChange {
    scopes: Option<String>,
    ttl: Option<Option<String>>,
    resources: Option<String>,
    claims: Option<String>,
    auth: Option<AuthColumns>,
    rate: (Option<String>, Option<String>),
}

impl ClientChange<'_> {
    fn checked(&self) -> Result<CheckedChange, AdminError> {
        let invalid = AdminError::Invalid;
        Ok(CheckedChange {
            scopes: self
                .scopes
                .map(normalize_scopes)
                .transpose()
                .map_err(invalid)?,
            ttl: self.token_ttl.map(ttl_column).transpose()?,
            resources: self.resources.map(resource_column).transpose()?,
            claims: self
                .claims
                .map(normalize_claims)
                .transpose()
                .map_err(invalid)?,
            auth: match &self.credential {
                Some(NewAuth::Secret) => {
                    return Err(invalid("a secret is only made by rotate-secret".to_owned()));
                }
                Some(credential) => Some(credential.columns()?),
                None => None,
            },
            rate: rate_columns(self.rate.flatten()),
        })
    }
}

/// Make every token the client holds inactive at introspection, on every shard of every
/// instance (the change is announced); tokens issued afterwards work.
pub async fn revoke_tokens(client: &Client, client_id: &str) -> Result<(), AdminError> {
    let rows = client
        .query(&REVOKE_TOKENS, &[Some(client_id.as_bytes())])
        .await
        .map_err(AdminError::Db)?;
    if rows.is_empty() {
        return Err(AdminError::NotFound(client_id.to_owned()));
    }
    Ok(())
}

pub async fn delete(client: &Client, client_id: &str) -> Result<(), AdminError> {
    let rows = client
        .query(&DELETE, &[Some(client_id.as_bytes())])
        .await
        .map_err(AdminError::Db)?;
    if rows.is_empty() {
        return Err(AdminError::NotFound(client_id.to_owned()));
    }
    Ok(())
}

pub async fn list(client: &Client) -> Result<Vec<ClientRecord>, AdminError> {
    let rows = client.query(&LIST, &[]).await.map_err(AdminError::Db)?;
    Ok((0..rows.len())
        .filter_map(|i| record_from_row(&rows.row(i)))
        .collect())
}

/// Up to `limit` clients whose ids sort after `after` (`""`: from the first).
pub async fn list_page(
    client: &Client,
    after: &str,
    limit: usize,
) -> Result<Vec<ClientRecord>, AdminError> {
    let limit = limit.to_string();
    let rows = client
        .query(
            &LIST_PAGE,
            &[Some(after.as_bytes()), Some(limit.as_bytes())],
        )
        .await
        .map_err(AdminError::Db)?;
    Ok((0..rows.len())
        .filter_map(|i| record_from_row(&rows.row(i)))
        .collect())
}

pub async fn show(client: &Client, client_id: &str) -> Result<ClientRecord, AdminError> {
    lookup(client, client_id)
        .await
        .map_err(AdminError::Db)?
        .ok_or_else(|| AdminError::NotFound(client_id.to_owned()))
}

/// The public view of a client (never the hash), with the names registration takes.
pub fn to_json(c: &ClientRecord) -> serde_json::Value {
    let mut json = serde_json::json!({
        "client_id": c.client_id,
        "auth_method": c.auth.method(),
        "scopes": c.allowed_scopes,
        "audience": c.audience,
        "token_ttl": c.token_ttl.map(crate::config::show_duration),
        "grant_types": c.grant_types,
        "disabled": c.disabled,
        "tokens_not_before_ms": c.tokens_not_before_ms,
        "resources": c.resources,
        "claims": serde_json::from_str::<serde_json::Value>(&format!("{{{}}}", c.claims))
            .expect("stored claims were checked when the client was loaded"),
    });
    match &c.auth {
        ClientAuth::Secret(Secrets { previous, .. }) => {
            if let Some((_, until_s)) = previous {
                json["previous_secret_expires_at"] = (*until_s).into();
            }
        }
        ClientAuth::TlsClientAuth(subject) => {
            json["tls_subject"] = subject.to_string().into();
            json["certificate_bound_tokens"] = c.certificate_bound.into();
        }
        ClientAuth::SelfSignedTls(sha256) => {
            json["tls_cert_sha256"] = URL_SAFE_NO_PAD.encode(sha256).into();
            json["certificate_bound_tokens"] = c.certificate_bound.into();
        }
        ClientAuth::PrivateKeyJwt(keys) => {
            json["jwks"] = serde_json::from_str(&keys.json)
                .expect("stored keys were checked when the client was loaded");
        }
        ClientAuth::Federated { issuer, subject } => {
            json["federated"] = serde_json::json!({"issuer": issuer, "subject": subject});
        }
    }
    json["require_dpop"] = c.require_dpop.into();
    json["rate"] = match c.rate {
        Some(r) => serde_json::json!({"per_second": r.per_second, "burst": r.burst}),
        None => serde_json::Value::Null,
    };
    json
}

#[derive(Debug)]
pub enum AdminError {
    Invalid(String),
    Exists(String),
    NotFound(String),
    Db(pg::Error),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Invalid(m) => write!(f, "{m}"),
            AdminError::Exists(id) => write!(f, "client {id:?} already exists"),
            AdminError::NotFound(id) => write!(f, "no client {id:?}"),
            AdminError::Db(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for AdminError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(validate_client_id("billing-service").is_ok());
        assert!(validate_client_id("svc:payments@eu-1").is_ok());
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("*").is_err());
        assert!(validate_client_id("a\"b").is_err());
        assert!(validate_client_id("a b").is_err());
        assert!(validate_client_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn resources_are_absolute_uris_without_fragments() {
        for ok in [
            "https://api.example/v1",
            "urn:example:billing",
            "spiffe://example/svc",
        ] {
            assert!(validate_resource(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api.example",
            "/relative",
            "https://a/#frag",
            "1http://x",
            "https://a b",
            "https:",
            "https://a/\"q\"",
        ] {
            assert!(validate_resource(bad).is_err(), "{bad}");
        }
        assert!(validate_resource(&format!("https://{}", "a".repeat(600))).is_err());
    }

    #[test]
    fn claims_are_a_bounded_object_without_reserved_names() {
        assert_eq!(
            normalize_claims(r#"{ "tenant": "acme", "tier": 3 }"#).unwrap(),
            r#"{"tenant":"acme","tier":3}"#
        );
        assert_eq!(claim_members("{}").unwrap(), "");
        for bad in [
            r#"[1]"#,
            r#""x""#,
            r#"{"aud":"x"}"#,
            r#"{"cnf":{}}"#,
            "{",
            r#"{"a":1} x"#,
        ] {
            assert!(normalize_claims(bad).is_err(), "{bad}");
        }
        let big = format!(
            r#"{{"k":"{}"}}"#,
            "x".repeat(limits::CLIENT_CLAIMS_BYTES_MAX)
        );
        assert!(normalize_claims(&big).is_err());
    }

    #[test]
    fn scopes() {
        assert_eq!(normalize_scopes("read  write,read").unwrap(), "read write");
        assert_eq!(normalize_scopes("").unwrap(), "");
        assert_eq!(
            normalize_scopes("api:read https://x/y").unwrap(),
            "api:read https://x/y"
        );
        assert!(normalize_scopes("a\"b").is_err());
        assert!(normalize_scopes("a\\b").is_err());
    }
}
