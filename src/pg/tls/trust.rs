//! The rustls client configuration for one connection attempt: which roots vouch for the
//! server (and how much of its certificate is checked), and which certificate we show.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use x509_parser::prelude::{FromDer, X509Certificate};

use super::settings::{RootCert, SslMode, SslSettings};
use crate::pg::error::Error;
use crate::tls::provider::provider;

/// Where distributions keep the system's CA bundle, for `sslrootcert=system` (after
/// `SSL_CERT_FILE`, which OpenSSL honours too).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Builds the configuration `ssl` asks for, reading its files now (as libpq does on every
/// connection attempt, so renewed files are picked up by the next reconnect).
pub(crate) fn client_config(ssl: &SslSettings) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let verifier = verifier(ssl, &provider)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config_cause("TLS protocol versions", Box::new(e)))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(ssl)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            Error::config_cause("sslcert and sslkey do not make a pair", Box::new(e))
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// libpq's rules: with roots at hand the chain is always checked (`require` and `prefer`
/// included), the name only under `verify-full`; without roots nothing is checked, which
/// `verify-ca` and `verify-full` refuse.
fn verifier(
    ssl: &SslSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let Some(roots) = roots(&ssl.rootcert)? else {
        if ssl.mode >= SslMode::VerifyCa {
            return Err(Error::config_detail(
                "this sslmode checks the server's certificate and needs a root certificate",
                format!(
                    "sslmode={}: set sslrootcert to a CA file, or to system (no ~/.postgresql/root.crt)",
                    ssl.mode
                ),
            ));
        }
        return Ok(Arc::new(NoVerification(provider.clone())));
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::config_cause("sslrootcert", Box::new(e)))?;
    Ok(if ssl.mode == SslMode::VerifyFull {
        webpki
    } else {
        Arc::new(ChainOnly(webpki))
    })
}

/// The trusted roots, or None when nothing names any (no sslrootcert and no default file).
fn roots(rootcert: &RootCert) -> Result<Option<RootCertStore>, Error> {
    let path = match rootcert {
        RootCert::File(path) => path.clone(),
        RootCert::Default => match home_file("root.crt") {
            Some(path) => path,
            None => return Ok(None),
        },
        RootCert::System => system_bundle()?,
    };
    let mut store = RootCertStore::empty();
    for cert in read_certs(&path, "sslrootcert")? {
        store.add(cert).map_err(|e| {
            Error::config_cause("sslrootcert holds an unusable certificate", Box::new(e))
        })?;
    }
    Ok(Some(store))
}

fn system_bundle() -> Result<PathBuf, Error> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::config(
                "sslrootcert=system, but no system CA bundle was found (set SSL_CERT_FILE)",
            )
        })
}

/// `~/.postgresql/<name>` if it exists: libpq's default location for the TLS files.
fn home_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(".postgresql").join(name);
    path.is_file().then_some(path)
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let detail = |e: &dyn std::fmt::Display| format!("{setting}={}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::config_detail("cannot read a certificate file", detail(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config_detail("cannot read a certificate file", detail(&e)))?;
    if certs.is_empty() {
        return Err(Error::config_detail(
            "a certificate file holds no PEM certificate",
            detail(&"empty"),
        ));
    }
    Ok(certs)
}

/// The client certificate and key: `sslcert`/`sslkey`, else libpq's default files when the
/// certificate exists. A named certificate that is missing is an error (libpq would go on
/// without one, and the server's refusal would not say why).
fn client_identity(
    ssl: &SslSettings,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    let cert = match &ssl.cert {
        Some(path) => path.clone(),
        None => match home_file("postgresql.crt") {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let chain = read_certs(&cert, "sslcert")?;
    let key = match &ssl.key {
        Some(path) => path.clone(),
        None => home_file("postgresql.key").ok_or_else(|| {
            Error::config(
                "sslcert is set but sslkey is not (and there is no ~/.postgresql/postgresql.key)",
            )
        })?,
    };
    check_key_permissions(&key)?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
        Error::config_detail(
            "cannot read the private key (PEM, unencrypted)",
            format!("sslkey={}: {e}", key.display()),
        )
    })?;
    Ok(Some((chain, key)))
}

/// libpq's rule: a key others may read is refused (0600 or less for the owner's own file,
/// 0640 or less for a root-owned one).
fn check_key_permissions(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::config_detail(
            "cannot read the private key",
            format!("sslkey={}: {e}", path.display()),
        )
    })?;
    let loose = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & loose != 0 {
        return Err(Error::config_detail(
            "the private key is readable by group or others",
            format!("sslkey={}: chmod 0600 it", path.display()),
        ));
    }
    Ok(())
}

/// `verify-ca` (and `require`/`prefer` with roots): the chain must lead to a trusted root,
/// but the name in the certificate need not be the host's. Delegates everything to webpki
/// and forgives only a name mismatch, which webpki checks after the chain.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without roots: encryption against passive listeners only, as in
/// libpq. The handshake signature is still checked, so the server holds the key of the
/// certificate it shows, and channel binding to that certificate means something.
///
/// Nothing else in the certificate is looked at, as in libpq: only its public key is read
/// (`public_key`), never its version, validity or extensions, which webpki would judge as
/// an end-entity's. Citus, for one, sets up every node with an X.509 v1 certificate whose
/// validity ends where it begins.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    /// TLS 1.2 names only the signature scheme, not the key's algorithm: try each
    /// algorithm the scheme maps to, as rustls does for a certificate.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let key = public_key(cert)?;
        let key = webpki::RawPublicKeyEntity::try_from(&key).map_err(bad_key)?;
        let algorithms = self
            .0
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algorithms)| *algorithms)
            .ok_or(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        for algorithm in algorithms {
            match key.verify_signature(*algorithm, message, dss.signature()) {
                Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
                Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {}
                Err(_) => break,
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &public_key(cert)?,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificate's SubjectPublicKeyInfo, read without judging anything else in it.
fn public_key<'a>(
    cert: &'a CertificateDer<'_>,
) -> Result<SubjectPublicKeyInfoDer<'a>, rustls::Error> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let spki: &'a [u8] = parsed.tbs_certificate.subject_pki.raw;
    Ok(SubjectPublicKeyInfoDer::from(spki))
}

fn bad_key(_: webpki::Error) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
}
