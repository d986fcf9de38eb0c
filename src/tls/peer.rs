//! A client's certificate as its connection received it, and what RFC 8705 client
//! authentication asks of it: a path to the `tls_client_ca` roots (`tls_client_auth`), its
//! SHA-256 thumbprint (`self_signed_tls_client_auth`, and the `cnf` of bound tokens), its
//! validity period, and whether it carries a registered subject name.
//!
//! The handshake only proves that the client holds the certificate's key; everything else is
//! checked here, per connection and once (cached), so that a refusal is an OAuth
//! `invalid_client` and clients that use secrets share the port.

use std::cell::OnceCell;
use std::net::IpAddr;
use std::rc::Rc;

use aws_lc_rs::digest::{SHA256, digest};
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use crate::clock;
use crate::tls::provider::provider;

/// The roots `tls_client_auth` certificates must chain to (`tls_client_ca`); empty when the
/// setting is unset, and then no certificate chains.
#[derive(Default)]
pub struct ClientRoots {
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
}

pub struct PeerCert {
    /// Leaf first, as the client sent it.
    chain: Vec<CertificateDer<'static>>,
    thumbprint: [u8; 32],
    roots: Rc<ClientRoots>,
    chains: OnceCell<bool>,
    names: OnceCell<Option<Names>>,
}

/// What the leaf says about itself, normalized for comparison.
struct Names {
    not_before: i64,
    not_after: i64,
    /// `(type, value)` from the subject's first RDN to its last, types as short upper-case
    /// names (`CN`, `O`...) and values trimmed.
    subject: Vec<(String, String)>,
    /// `dns:`, `uri:`, `ip:`, `email:` entries of the subject alternative names.
    alt_names: Vec<SubjectName>,
}

impl PeerCert {
    pub fn new(chain: Vec<CertificateDer<'static>>, roots: Rc<ClientRoots>) -> Option<PeerCert> {
        let leaf = chain.first()?;
        let thumbprint = digest(&SHA256, leaf).as_ref().try_into().ok()?;
        Some(PeerCert {
            chain,
            thumbprint,
            roots,
            chains: OnceCell::new(),
            names: OnceCell::new(),
        })
    }

    /// SHA-256 of the leaf's DER: what `x5t#S256` encodes.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.thumbprint
    }

    /// Whether the leaf has a path to the `tls_client_ca` roots, for client use, valid now
    /// (webpki also checks every certificate's validity period on the way).
    pub fn chains_to_client_ca(&self) -> bool {
        *self.chains.get_or_init(|| {
            let Ok(leaf) = webpki::EndEntityCert::try_from(&self.chain[0]) else {
                return false;
            };
            leaf.verify_for_usage(
                provider().signature_verification_algorithms.all,
                &self.roots.anchors,
                &self.chain[1..],
                UnixTime::since_unix_epoch(clock::unix_now()),
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .is_ok()
        })
    }

    /// Whether now is within the leaf's validity period (self-signed certificates have no
    /// path to check it on).
    pub fn is_current(&self) -> bool {
        let now = clock::unix_now_s() as i64;
        self.names()
            .is_some_and(|n| n.not_before <= now && now <= n.not_after)
    }

    /// Whether the leaf carries `name`: its subject DN, or one of its alternative names.
    pub fn has_name(&self, name: &SubjectName) -> bool {
        let Some(names) = self.names() else {
            return false;
        };
        match name {
            SubjectName::Dn(dn) => {
                // RFC 4514 writes the last RDN first; accept the certificate's order too.
                names.subject == *dn || names.subject.iter().rev().eq(dn.iter())
            }
            alt => names.alt_names.contains(alt),
        }
    }

    fn names(&self) -> Option<&Names> {
        self.names
            .get_or_init(|| parse_names(&self.chain[0]))
            .as_ref()
    }
}

fn parse_names(der: &[u8]) -> Option<Names> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let validity = cert.validity();
    let mut alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            let name = match general {
                GeneralName::DNSName(d) => SubjectName::Dns(d.to_ascii_lowercase()),
                GeneralName::URI(u) => SubjectName::Uri((*u).to_owned()),
                GeneralName::RFC822Name(e) => SubjectName::Email((*e).to_owned()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => SubjectName::Ip(IpAddr::from(<[u8; 4]>::try_from(*ip).ok()?)),
                    16 => SubjectName::Ip(IpAddr::from(<[u8; 16]>::try_from(*ip).ok()?)),
                    _ => continue,
                },
                _ => continue,
            };
            alt_names.push(name);
        }
    }
    Some(Names {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        subject: rdns(cert.subject())?,
        alt_names,
    })
}

fn rdns(name: &X509Name<'_>) -> Option<Vec<(String, String)>> {
    let registry = x509_parser::objects::oid_registry();
    let mut out = Vec::new();
    for attribute in name.iter_attributes() {
        let oid = attribute.attr_type();
        let kind = match x509_parser::objects::oid2abbrev(oid, registry) {
            Ok(abbrev) => abbrev.to_ascii_uppercase(),
            Err(_) => oid.to_id_string(),
        };
        out.push((kind, attribute.as_str().ok()?.trim().to_owned()));
    }
    Some(out)
}

/// A `tls_client_auth` registration: the subject DN (RFC 4514, `CN=svc,O=Example`) or an
/// alternative name the client's certificate must carry, written `dns:host`, `uri:spiffe://..`,
/// `ip:10.0.0.1` or `email:a@b` (RFC 8705 §2.1.2's `tls_client_auth_san_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectName {
    Dn(Vec<(String, String)>),
    Dns(String),
    Uri(String),
    Ip(IpAddr),
    Email(String),
}

impl SubjectName {
    pub fn parse(text: &str) -> Result<SubjectName, String> {
        let text = text.trim();
        let alt = |prefix: &str| {
            text.get(..prefix.len())
                .filter(|p| p.eq_ignore_ascii_case(prefix))
                .map(|_| text[prefix.len()..].trim())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = alt("dns:") {
            return Ok(SubjectName::Dns(v.to_ascii_lowercase()));
        }
        if let Some(v) = alt("uri:") {
            return Ok(SubjectName::Uri(v.to_owned()));
        }
        if let Some(v) = alt("email:") {
            return Ok(SubjectName::Email(v.to_owned()));
        }
        if let Some(v) = alt("ip:") {
            return v
                .parse()
                .map(SubjectName::Ip)
                .map_err(|e| format!("{v:?}: {e}"));
        }
        parse_dn(text).map(SubjectName::Dn)
    }
}

impl std::fmt::Display for SubjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectName::Dn(pairs) => {
                for (i, (kind, value)) in pairs.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep}{kind}=")?;
                    for c in value.chars() {
                        if matches!(c, ',' | '+' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                Ok(())
            }
            SubjectName::Dns(v) => write!(f, "dns:{v}"),
            SubjectName::Uri(v) => write!(f, "uri:{v}"),
            SubjectName::Ip(v) => write!(f, "ip:{v}"),
            SubjectName::Email(v) => write!(f, "email:{v}"),
        }
    }
}

/// RFC 4514: `type=value` pairs separated by `,` (or `+` within one RDN, flattened here).
/// A type is a name (`CN`, `emailAddress`) or a dotted OID; in a value, `\\` escapes the next
/// character. Types compare in capitals, values trimmed.
fn parse_dn(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let (mut kind, mut value) = (String::new(), String::new());
    let mut in_value = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, in_value) {
            ('=', false) => in_value = true,
            (',' | '+', _) => {
                pairs.push(dn_pair(text, &kind, &value, in_value)?);
                (kind, value, in_value) = (String::new(), String::new(), false);
            }
            ('\\', true) => value.push(chars.next().ok_or("a DN cannot end with \\")?),
            (c, true) => value.push(c),
            (c, false) => kind.push(c),
        }
    }
    pairs.push(dn_pair(text, &kind, &value, in_value)?);
    Ok(pairs)
}

fn dn_pair(
    text: &str,
    kind: &str,
    value: &str,
    had_value: bool,
) -> Result<(String, String), String> {
    let kind = kind.trim();
    let name = kind.starts_with(|c: char| c.is_ascii_alphabetic())
        && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !kind.is_empty()
        && kind
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    if !had_value || !(name || oid) || value.trim().is_empty() {
        return Err(format!(
            "{text:?}: expected type=value pairs, like CN=service,O=Example"
        ));
    }
    Ok((kind.to_ascii_uppercase(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> SubjectName {
        SubjectName::Dn(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn subject_names_parse_as_rfc_4514_dns_or_prefixed_alternative_names() {
        assert_eq!(
            SubjectName::parse("cn=svc, O=Example\\, Inc.").unwrap(),
            pairs(&[("CN", "svc"), ("O", "Example, Inc.")])
        );
        assert_eq!(
            SubjectName::parse("DNS:Svc.Example").unwrap(),
            SubjectName::Dns("svc.example".into())
        );
        assert_eq!(
            SubjectName::parse("uri:spiffe://example/svc").unwrap(),
            SubjectName::Uri("spiffe://example/svc".into())
        );
        assert_eq!(
            SubjectName::parse("ip:10.0.0.1").unwrap(),
            SubjectName::Ip("10.0.0.1".parse().unwrap())
        );
        let dn = SubjectName::parse("CN=svc,O=Example\\, Inc.").unwrap();
        assert_eq!(SubjectName::parse(&dn.to_string()).unwrap(), dn);
        for bad in [
            "",
            "CN",
            "CN=",
            "=x",
            "ip:not-an-ip",
            "CN=a\\",
            "C\\N=x",
            "C N=x",
            "1..2=x",
        ] {
            assert!(SubjectName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
