//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/jwks.json`
//! (RFC 7517): documents that change only with the configuration or a SIGHUP key reload,
//! serialized once per key set.

use crate::config::Config;
use crate::endpoint::route::TOKEN_PATH;
use crate::http::response;
use crate::jwt::jwks::jwks_json;
use crate::jwt::keys::{Alg, SigningKey};
use crate::jwt::public_key::VerifyAlg;
use crate::store::clients::{AUTH_PRIVATE_KEY_JWT, AUTH_SELF_SIGNED_TLS, AUTH_TLS};

/// Answer with one of the documents; clients may cache it for a few minutes.
pub fn write(document: &[u8], out: &mut Vec<u8>, keep_alive: bool) {
    let cache = [("Cache-Control", "max-age=300")];
    response::write_json(out, 200, document, keep_alive, &cache);
}

pub struct Documents {
    pub metadata: Vec<u8>,
    pub jwks: Vec<u8>,
}

impl Documents {
    /// `keys[0]` signs; every key is published (HS256 keys never are).
    pub fn build(config: &Config, keys: &[SigningKey]) -> Documents {
        let issuer = &config.issuer;
        let mut algs: Vec<String> = Vec::new();
        for key in keys {
            let alg = key.alg().to_string();
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        // Certificates reach us only on a TLS listen (RFC 8705). `client_secret_jwt` is not
        // offered: it needs the secret itself, and we keep only its hash.
        let mut methods = vec![
            "client_secret_basic",
            "client_secret_post",
            AUTH_PRIVATE_KEY_JWT,
        ];
        let mutual_tls = config.tls_cert.is_some();
        let assertion_algs: Vec<&str> = VerifyAlg::ALL.iter().map(|a| a.as_str()).collect();
        if mutual_tls {
            methods.extend([AUTH_TLS, AUTH_SELF_SIGNED_TLS]);
        }
        let mut metadata = serde_json::json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "token_endpoint_auth_methods_supported": methods,
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "revocation_endpoint_auth_methods_supported": methods,
            "grant_types_supported": ["client_credentials"],
            // No authorization endpoint: nothing is issued through a browser.
            "response_types_supported": [],
            "access_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
            "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
            "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
            "dpop_signing_alg_values_supported": assertion_algs,
        });
        if mutual_tls {
            metadata["tls_client_certificate_bound_access_tokens"] = true.into();
        }
        if keys.iter().any(|k| k.alg() != Alg::HS256) {
            metadata["jwks_uri"] = format!("{issuer}/.well-known/jwks.json").into();
        }
        Documents {
            metadata: serde_json::to_vec(&metadata).expect("a json! value serializes"),
            jwks: jwks_json(keys.iter().filter_map(SigningKey::public_jwk)),
        }
    }
}
