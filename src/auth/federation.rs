//! Workload identity: the platforms (`trusted_issuers`) whose tokens a client registered
//! `--federated ISSUER SUBJECT` presents as its assertion — a Kubernetes projected
//! service-account token, a SPIFFE JWT-SVID. Their keys are read at start-up and on every
//! SIGHUP, and shared read-only by every shard.

use std::io::Read as _;

use crate::config::TrustedIssuer;
use crate::jwt::public_key::{JwkSet, Unusable};
use crate::limits;

/// One trusted platform and its current keys.
pub struct Issuer {
    pub config: TrustedIssuer,
    pub keys: JwkSet,
}

/// Every configured issuer with its keys; empty when none is configured.
#[derive(Default)]
pub struct TrustedIssuers {
    issuers: Vec<Issuer>,
}

impl TrustedIssuers {
    /// Read and check every issuer's JWKS file. Keys the platform publishes that we cannot
    /// use (another curve, an encryption key) are skipped; a file with no usable key, or
    /// that does not parse, is an error naming it.
    pub fn load(configs: &[TrustedIssuer]) -> Result<TrustedIssuers, String> {
        let mut issuers = Vec::with_capacity(configs.len());
        for config in configs {
            let file = config.jwks_file.display();
            let json = read_bounded(&config.jwks_file)
                .map_err(|e| format!("trusted issuer {:?}: {file}: {e}", config.issuer))?;
            let keys = JwkSet::parse(&json, Unusable::Skip)
                .map_err(|e| format!("trusted issuer {:?}: {file}: {e}", config.issuer))?;
            issuers.push(Issuer {
                config: config.clone(),
                keys,
            });
        }
        Ok(TrustedIssuers { issuers })
    }

    /// The issuer whose `iss` this is, if trusted.
    pub fn find(&self, issuer: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.config.issuer == issuer)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Issuer> {
        self.issuers.iter()
    }
}

/// A JWKS file, refused when larger than any JWKS we accept, without reading it whole.
fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut json = Vec::new();
    std::fs::File::open(path)?
        .take(limits::JWKS_BYTES_MAX as u64 + 1)
        .read_to_end(&mut json)?;
    if json.len() > limits::JWKS_BYTES_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {} bytes",
            limits::JWKS_BYTES_MAX
        )));
    }
    Ok(json)
}
