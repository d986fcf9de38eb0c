//! New signing keys: `edgeauth keys generate`, and the default key a first start creates.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
};

use super::alg::Alg;
use super::keys::{HS256_PEM_LABEL, HS256_SECRET_BYTES_GENERATED, KeyError};
use super::pem;

/// Generate a new private key as PEM: ES256 (P-256, PKCS#8), EdDSA (Ed25519, PKCS#8 v1, as
/// `openssl genpkey` writes it), RS256 (2048-bit, PKCS#8) or HS256 (32 random bytes).
pub fn generate_pem(alg: Alg) -> Result<String, KeyError> {
    let failed = |_| KeyError::Generate(alg);
    let rng = SystemRandom::new();
    match alg {
        Alg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", doc.as_ref()))
        }
        Alg::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", doc.as_ref()))
        }
        Alg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der = pair.as_der().map_err(failed)?;
            Ok(pem::encode("PRIVATE KEY", der.as_ref()))
        }
        Alg::HS256 => {
            let mut secret = [0u8; HS256_SECRET_BYTES_GENERATED];
            rand::fill(&mut secret).map_err(failed)?;
            Ok(pem::encode(HS256_PEM_LABEL, &secret))
        }
    }
}

/// Write a new key to `path` with mode 0600, creating parent directories.
///
/// Refuses to overwrite an existing file (the error is `KeyError::Io` with kind
/// `AlreadyExists`): replacing a live signing key would invalidate every token it signed,
/// and two instances racing to create the shared default key must end up with one key, not
/// two. The loser of that race should simply load the file.
pub fn generate_file(alg: Alg, path: &Path) -> Result<(), KeyError> {
    let pem = generate_pem(alg)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| KeyError::io(parent, e))?;
    }
    // Write the whole key to a private temporary name first, then hard-link it into place:
    // link(2) fails if `path` exists, and a reader never sees a half-written key.
    let mut nonce = [0u8; 8];
    rand::fill(&mut nonce).map_err(|_| KeyError::Generate(alg))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let tmp = PathBuf::from(tmp_name);
    let written = write_new_private(&tmp, pem.as_bytes())
        .and_then(|()| std::fs::hard_link(&tmp, path).map_err(|e| KeyError::io(path, e)));
    // Best effort: the temporary is either a duplicate link or a failed partial write.
    let _ = std::fs::remove_file(&tmp);
    written
}

/// Create `path` (which must not exist) with mode 0600 and write `bytes` durably.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::keys::SigningKey;

    /// A fresh, not yet existing path under the system temp dir.
    fn temp_path(name: &str) -> PathBuf {
        let mut nonce = [0u8; 8];
        rand::fill(&mut nonce).expect("rng");
        std::env::temp_dir()
            .join(format!("edgeauth-keys-{}", u64::from_le_bytes(nonce)))
            .join(name)
    }

    #[test]
    fn generated_keys_load_back_with_stable_distinct_kids() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let pem_a = generate_pem(alg).expect("generate");
            let pem_b = generate_pem(alg).expect("generate");
            let a1 = SigningKey::from_pem(pem_a.as_bytes()).expect("load");
            let a2 = SigningKey::from_pem(pem_a.as_bytes()).expect("load");
            let b = SigningKey::from_pem(pem_b.as_bytes()).expect("load");
            assert_eq!(a1.alg(), alg);
            assert_eq!(a1.kid(), a2.kid(), "{alg}: kid must be stable");
            assert_ne!(a1.kid(), b.kid(), "{alg}: kid must differ between keys");
            assert_eq!(a1.public_jwk().is_none(), alg == Alg::HS256);
        }
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::HS256] {
            let key = SigningKey::from_pem(generate_pem(alg).expect("generate").as_bytes())
                .expect("load");
            let signature = key.sign(b"a.b").expect("signs");
            assert!(key.verify(b"a.b", &signature), "{alg}");
        }
    }

    #[test]
    fn generate_file_writes_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = temp_path("nested/signing-key.pem");
        generate_file(Alg::ES256, &path).expect("first write");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = std::fs::read(&path).expect("read");
        match generate_file(Alg::ES256, &path) {
            Err(KeyError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "must not change"
        );
        let key = SigningKey::from_pem_file(&path).expect("loads");
        assert_eq!(key.alg(), Alg::ES256);
        let dir = path.parent().and_then(Path::parent).expect("temp root");
        let leftovers = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
