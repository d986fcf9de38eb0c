//! The public listener's certificate: a PEM chain and key, checked when loaded, and the
//! rustls configuration each shard builds from them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::NoServerSessionStorage;

use crate::tls::tickets::TicketKeys;

/// A certificate chain and its key, loaded and checked; every shard builds its own
/// [`ServerConfig`] from it (no reference count shared between cores on the accept path).
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    tickets: TicketKeys,
}

impl Clone for ServerTls {
    fn clone(&self) -> ServerTls {
        ServerTls {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            tickets: self.tickets.clone(),
        }
    }
}

/// ALPN: HTTP/1.1 is all we speak; a client that offers only others is refused in the
/// handshake rather than misunderstood after it.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// One ticket per full handshake: what a machine client resumes with next time.
const TLS13_TICKETS_PER_HANDSHAKE: usize = 1;

impl ServerTls {
    /// Read and check `tls_cert` and `tls_key`: the key file is private to its owner (and
    /// group), the chain parses and is in order, and the key belongs to its first
    /// certificate. Every refusal names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path, tickets: TicketKeys) -> Result<ServerTls, String> {
        check_private(key)?;
        let cert_pem =
            std::fs::read(cert).map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
        let key_pem = std::fs::read(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
        let chain =
            parse_chain(&cert_pem).map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            format!(
                "tls_key {}: no private key in PEM form ({e})",
                key.display()
            )
        })?;
        let tls = ServerTls {
            chain,
            key: key_der,
            tickets,
        };
        tls.config().map_err(|e| {
            format!(
                "tls_key {} and tls_cert {}: {e}",
                key.display(),
                cert.display()
            )
        })?;
        Ok(tls)
    }

    pub fn tickets(&self) -> &TicketKeys {
        &self.tickets
    }

    /// The rustls configuration: TLS 1.3 and 1.2, ALPN `http/1.1`, tickets sealed with the
    /// instance's shared keys and no per-shard session cache (it would miss whenever the
    /// kernel picks another shard).
    pub fn config(&self) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key does not belong to the first certificate of the chain".to_owned()
                }
                e => e.to_string(),
            })?;
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        config.ticketer = Arc::new(self.tickets.clone());
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = TLS13_TICKETS_PER_HANDSHAKE;
        Ok(Arc::new(config))
    }
}

/// aws-lc-rs: the library that already signs our tokens.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A private key readable by others is a leaked key: refuse it. Group read is allowed
/// (Debian's `ssl-cert` group convention), writing is the owner's only.
fn check_private(key: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "tls_key {} has mode {mode:o}: other users can read or change it (chmod 600 or 640)",
            key.display()
        ));
    }
    Ok(())
}

/// The certificates of a PEM chain, leaf first, each issued by the next. A chain that
/// ends in its root is verified as a path to that root; one without it (the usual case),
/// as far as its last certificate. Expiry is not a reason to refuse here: a client refuses
/// an expired certificate either way, and a server that stays up serves its other
/// listeners and reloads a renewed certificate on SIGHUP.
fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate chain ({e})"))?;
    let Some(leaf) = chain.first() else {
        return Err("no certificate in the file".to_owned());
    };
    let end_entity = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("the first certificate does not parse ({e:?})"))?;
    if chain.len() == 1 {
        return Ok(chain);
    }
    let last = &chain[chain.len() - 1];
    let anchor = webpki::anchor_from_trusted_cert(last)
        .map_err(|e| format!("the last certificate does not parse ({e:?})"))?;
    let anchors = [anchor];
    let intermediates = &chain[1..chain.len() - 1];
    let verified = end_entity.verify_for_usage(
        provider().signature_verification_algorithms.all,
        &anchors,
        intermediates,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match verified {
        Ok(_) => Ok(chain),
        Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => Ok(chain),
        Err(e) => Err(format!(
            "the chain does not verify from the first certificate to the last ({e:?}): \
             leaf first, then each issuer in order"
        )),
    }
}
