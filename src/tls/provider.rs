//! The crypto provider of every TLS configuration.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// aws-lc-rs: the library that already signs our tokens.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
