//! The public listener's certificate: a PEM chain and key, checked when loaded, and the
//! rustls configuration each shard builds from them.

use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::NoServerSessionStorage;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use crate::clock;
use crate::tls::peer::ClientRoots;
use crate::tls::provider::provider;
use crate::tls::secret_file::check_private;
use crate::tls::tickets::TicketKeys;

/// A certificate chain and its key, loaded and checked; every shard builds its own
/// [`ServerConfig`] from it (no reference count shared between cores on the accept path).
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// `tls_client_ca`: the roots of `tls_client_auth` clients' certificates.
    client_ca: Vec<CertificateDer<'static>>,
    tickets: TicketKeys,
}

impl Clone for ServerTls {
    fn clone(&self) -> ServerTls {
        ServerTls {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            client_ca: self.client_ca.clone(),
            tickets: self.tickets.clone(),
        }
    }
}

/// What a shard serves TLS with: its own copies, so that accepting a connection touches no
/// reference count another core also writes.
pub struct ShardTls {
    pub config: Arc<ServerConfig>,
    pub client_roots: Rc<ClientRoots>,
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
    pub fn load(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        tickets: TicketKeys,
    ) -> Result<ServerTls, String> {
        check_private("tls_key", key)?;
        let cert_pem =
            std::fs::read(cert).map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
        let key_pem = std::fs::read(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
        let client_ca = match client_ca {
            Some(path) => read_client_ca(path)?,
            None => Vec::new(),
        };
        ServerTls::from_pem(&cert_pem, &key_pem, client_ca, tickets).map_err(|e| {
            format!(
                "tls_cert {}, tls_key {}: {e}",
                cert.display(),
                key.display()
            )
        })
    }

    /// The same checks on PEM bytes already read (the files' own checks aside).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca: Vec<CertificateDer<'static>>,
        tickets: TicketKeys,
    ) -> Result<ServerTls, String> {
        let chain = parse_chain(cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| format!("no private key in PEM form in the key file ({e})"))?;
        let tls = ServerTls {
            chain,
            key,
            client_ca,
            tickets,
        };
        tls.config()?;
        Ok(tls)
    }

    pub fn tickets(&self) -> &TicketKeys {
        &self.tickets
    }

    /// A shard's configuration and client roots.
    pub fn for_shard(&self) -> Result<ShardTls, String> {
        let anchors = self
            .client_ca
            .iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).map(|a| a.to_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls_client_ca: {e:?}"))?;
        Ok(ShardTls {
            config: self.config()?,
            client_roots: Rc::new(ClientRoots { anchors }),
        })
    }

    /// The rustls configuration: TLS 1.3 and 1.2, ALPN `http/1.1`, tickets sealed with the
    /// instance's shared keys and no per-shard session cache (it would miss whenever the
    /// kernel picks another shard). A client certificate is asked for, never required.
    fn config(&self) -> Result<Arc<ServerConfig>, String> {
        let provider = provider();
        let verifier = Arc::new(AnyClientCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
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

/// Asks every client for a certificate and takes any, once the client has proved it holds the
/// certificate's key (the handshake signature, checked here). Which certificate a client
/// must present is an OAuth question, answered at its request (`tls::peer`): a refusal
/// there is `invalid_client`, where a handshake failure would tell the client nothing, and
/// clients with secrets and with self-signed certificates share the port.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The CA certificates of `tls_client_ca`: at least one, each usable as a root.
fn read_client_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("tls_client_ca {}: {e}", path.display()))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "tls_client_ca {}: not PEM certificates ({e})",
                path.display()
            )
        })?;
    if roots.is_empty() {
        return Err(format!(
            "tls_client_ca {}: no certificate in the file",
            path.display()
        ));
    }
    for root in &roots {
        webpki::anchor_from_trusted_cert(root).map_err(|e| {
            format!(
                "tls_client_ca {}: a certificate does not parse ({e:?})",
                path.display()
            )
        })?;
    }
    Ok(roots)
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
        UnixTime::since_unix_epoch(clock::unix_now()),
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
