//! TLS for tests: a throwaway CA and its certificates (rcgen), and a TLS client (rustls)
//! speaking raw HTTP/1.1 like `Conn`.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{Response, read_response_from, unique_name};

/// A throwaway certificate authority, its files in a directory of their own.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA certificate, PEM.
    pub ca: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM files (the key mode 600).
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(unique_name("edgeauth-pki"));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "edgeauth test CA");
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki {
            dir,
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, named `name` in the directory.
    pub fn server(&self, name: &str) -> CertFiles {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(name, params)
    }

    /// A client certificate with this subject DN (`CN=cn,O=Example`) and alternative
    /// names, for client authentication; valid now, or expired.
    pub fn client_cert(&self, cn: &str, alt_names: &[&str], expired: bool) -> CertFiles {
        let mut params = client_params(cn, alt_names, expired);
        params.use_authority_key_identifier_extension = true;
        self.issue(&format!("client-{cn}-{expired}"), params)
    }

    /// Sign `params` with a new key; write `<name>.pem` (the leaf) and `<name>.key`.
    pub fn issue(&self, name: &str, params: CertificateParams) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        CertFiles::write(&self.dir, name, &cert, &key)
    }

    /// A TLS client that trusts this CA.
    pub fn client(&self) -> Arc<ClientConfig> {
        client_config(&self.ca, None)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_params(cn: &str, alt_names: &[&str], expired: bool) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = alt_names
        .iter()
        .map(|name| match name.contains("://") {
            true => rcgen::SanType::URI((*name).try_into().unwrap()),
            false => rcgen::SanType::DnsName((*name).try_into().unwrap()),
        })
        .collect();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    params
}

/// A self-signed client certificate (RFC 8705 §2.2), in `dir`.
pub fn self_signed_client(dir: &Path, cn: &str, expired: bool) -> CertFiles {
    let key = KeyPair::generate().unwrap();
    let cert = client_params(cn, &[], expired).self_signed(&key).unwrap();
    CertFiles::write(dir, &format!("self-{cn}-{expired}"), &cert, &key)
}

impl CertFiles {
    /// `<name>.pem` and `<name>.key` (mode 600) in `dir`.
    fn write(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> CertFiles {
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        write_private(&key_path, &key.serialize_pem());
        CertFiles {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
        }
    }
}

pub fn write_private(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A client trusting `ca`, presenting `identity` (a certificate and key) when asked.
pub fn client_config(ca: &Path, identity: Option<&CertFiles>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_file_iter(&id.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(&id.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A keep-alive TLS connection speaking raw HTTP/1.1.
pub struct TlsConn {
    pub reader: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl TlsConn {
    /// Connect and finish the handshake (so that its failure shows here).
    pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<TlsConn> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsConn {
            reader: BufReader::new(stream),
        })
    }

    pub fn send(&mut self, raw: &[u8]) -> std::io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(raw)?;
        stream.flush()
    }

    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw).expect("send over TLS");
        read_response_from(&mut self.reader).expect("response over TLS")
    }

    pub fn read_response(&mut self) -> std::io::Result<Response> {
        read_response_from(&mut self.reader)
    }

    pub fn connection(&self) -> &ClientConnection {
        &self.reader.get_ref().conn
    }

    /// Whether the handshake resumed a session.
    pub fn resumed(&self) -> bool {
        self.connection().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The server's leaf certificate.
    pub fn server_cert(&self) -> CertificateDer<'static> {
        self.connection().peer_certificates().unwrap()[0].clone()
    }
}
