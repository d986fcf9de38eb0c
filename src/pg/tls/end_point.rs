//! `tls-server-end-point` channel binding data (RFC 5929 §4.1): the hash of the server's
//! certificate, with the hash of the certificate's own signature algorithm, except that MD5
//! and SHA-1 are replaced by SHA-256. PostgreSQL computes the same on its side; SCRAM
//! mixes it into the proof, so a man in the middle with another certificate cannot relay it.

use aws_lc_rs::digest;

/// The channel binding data for the DER certificate `cert`, or None if its signature
/// algorithm is not one the RFC defines a hash for (RSA-PSS, Ed25519: PostgreSQL refuses
/// those too) or the certificate does not parse.
pub fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    let algorithm = hash_for(signature_algorithm(cert)?)?;
    Some(digest::digest(algorithm, cert).as_ref().to_vec())
}

/// DER of the OIDs we recognise, after the tag and length (1.2.840.113549.1.1.x for RSA,
/// 1.2.840.10045.4.x for ECDSA).
const RSA_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
const ECDSA_SHA2_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];

fn hash_for(oid: &[u8]) -> Option<&'static digest::Algorithm> {
    if let Some(&[last]) = oid.strip_prefix(RSA_PREFIX) {
        return match last {
            // md5, sha1, sha224, sha256 WithRSAEncryption: SHA-256 (the RFC's floor).
            0x04 | 0x05 | 0x0e | 0x0b => Some(&digest::SHA256),
            0x0c => Some(&digest::SHA384),
            0x0d => Some(&digest::SHA512),
            _ => None,
        };
    }
    if oid == ECDSA_SHA1 {
        return Some(&digest::SHA256);
    }
    match oid.strip_prefix(ECDSA_SHA2_PREFIX) {
        Some(&[0x01 | 0x02]) => Some(&digest::SHA256),
        Some(&[0x03]) => Some(&digest::SHA384),
        Some(&[0x04]) => Some(&digest::SHA512),
        _ => None,
    }
}

/// The OID of `Certificate.signatureAlgorithm`:
/// `SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, .. }, .. }`.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (certificate, _) = der(cert, SEQUENCE)?;
    let (_tbs, rest) = der(certificate, SEQUENCE)?;
    let (algorithm, _) = der(rest, SEQUENCE)?;
    let (oid, _) = der(algorithm, OID)?;
    Some(oid)
}

/// One DER element with tag `tag` at the front of `input`: (its contents, what follows).
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (len0 as usize, rest)
    } else {
        // Long form: the low bits say how many length bytes follow; 4 cover any certificate.
        let count = (len0 & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["db.example".to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn ecdsa_sha256_certificates_hash_with_sha256() {
        let der = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        let hash = tls_server_end_point(&der).unwrap();
        assert_eq!(hash, digest::digest(&digest::SHA256, &der).as_ref());
        assert_eq!(hash.len(), 32);
    }

    #[test]
    fn ecdsa_sha384_certificates_hash_with_sha384() {
        let der = cert(&rcgen::PKCS_ECDSA_P384_SHA384);
        let hash = tls_server_end_point(&der).unwrap();
        assert_eq!(hash, digest::digest(&digest::SHA384, &der).as_ref());
        assert_eq!(hash.len(), 48);
    }

    #[test]
    fn ed25519_certificates_have_no_end_point_hash() {
        assert_eq!(tls_server_end_point(&cert(&rcgen::PKCS_ED25519)), None);
    }

    #[test]
    fn rsa_oids_map_sha1_and_md5_up_to_sha256() {
        let rsa = |last: u8| [RSA_PREFIX, &[last]].concat();
        assert_eq!(hash_for(&rsa(0x05)), Some(&digest::SHA256));
        assert_eq!(hash_for(&rsa(0x04)), Some(&digest::SHA256));
        assert_eq!(hash_for(&rsa(0x0b)), Some(&digest::SHA256));
        assert_eq!(hash_for(&rsa(0x0c)), Some(&digest::SHA384));
        assert_eq!(hash_for(&rsa(0x0d)), Some(&digest::SHA512));
        // RSASSA-PSS names its hash in parameters; PostgreSQL binds to none for it.
        assert_eq!(hash_for(&rsa(0x0a)), None);
        assert_eq!(hash_for(ECDSA_SHA1), Some(&digest::SHA256));
    }

    #[test]
    fn garbage_and_truncated_certificates_are_none() {
        let der = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        for bad in [
            &der[..0],
            &der[..1],
            &der[..10],
            &der[..der.len() / 2],
            b"hello",
        ] {
            assert_eq!(tls_server_end_point(bad), None);
        }
    }
}
