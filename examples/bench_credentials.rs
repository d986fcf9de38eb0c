//! Load material for `scripts/bench-auth.sh`: an ES256 client key with its public JWKS, and
//! many single-use `private_key_jwt` client assertions (RFC 7523) or DPoP proofs (RFC 9449)
//! signed with it, one per line, made on every core.
//!
//! ```text
//! cargo run --release --example bench_credentials -- keygen --key-out k.pem --jwks-out k.jwks
//! cargo run --release --example bench_credentials -- assertions --key k.pem --client ID \
//!     --aud http://127.0.0.1:8080/oauth/token --count 300000 --out bodies.txt
//! cargo run --release --example bench_credentials -- proofs --key k.pem \
//!     --htu http://127.0.0.1:8080/oauth/token --count 300000 --out proofs.txt
//! ```
//!
//! Signed with aws-lc directly, not with edgeauth's signer, so the material does not share
//! code with the server it measures. Every line has its own random 128-bit `jti`: the
//! server accepts each assertion and each proof once.

use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::Parser;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Parser)]
#[command(about = "ES256 keys, client assertions and DPoP proofs for scripts/bench-auth.sh")]
enum Command {
    /// A new P-256 key (PKCS#8 PEM, mode 0600) and its public JWKS, kid = RFC 7638 thumbprint.
    Keygen {
        #[arg(long)]
        key_out: PathBuf,
        #[arg(long)]
        jwks_out: PathBuf,
    },
    /// Token request bodies, each with a fresh `private_key_jwt` assertion.
    Assertions {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        client: String,
        /// The token endpoint URL (`<issuer>/oauth/token`).
        #[arg(long)]
        aud: String,
        #[arg(long, default_value = "read")]
        scope: String,
        /// Seconds from now to `exp` (the server accepts at most 300).
        #[arg(long, default_value_t = 300)]
        lifetime: u64,
        #[command(flatten)]
        batch: Batch,
    },
    /// DPoP proof JWS, one per line, for `POST <htu>`.
    Proofs {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        htu: String,
        #[arg(long, default_value = "POST")]
        htm: String,
        /// A server nonce (RFC 9449 §8) for every proof, for a server that requires one.
        #[arg(long)]
        nonce: Option<String>,
        #[command(flatten)]
        batch: Batch,
    },
}

#[derive(clap::Args)]
struct Batch {
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    #[arg(long)]
    out: PathBuf,
    /// Signing threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> Result<()> {
    match Command::parse() {
        Command::Keygen { key_out, jwks_out } => keygen(&key_out, &jwks_out),
        Command::Assertions {
            key,
            client,
            aud,
            scope,
            lifetime,
            batch,
        } => assertions(
            &ClientKey::load(&key)?,
            &client,
            &aud,
            &scope,
            lifetime,
            &batch,
        ),
        Command::Proofs {
            key,
            htu,
            htm,
            nonce,
            batch,
        } => proofs(
            &ClientKey::load(&key)?,
            &htu,
            &htm,
            nonce.as_deref(),
            &batch,
        ),
    }
}

fn assertions(
    key: &ClientKey,
    client: &str,
    aud: &str,
    scope: &str,
    lifetime: u64,
    batch: &Batch,
) -> Result<()> {
    let now = unix_now();
    // The header and the fixed claims once, JSON-escaped by serde; per line only the jti.
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{}"}}"#, key.kid);
    let client = serde_json::to_string(client)?;
    let claims_head = format!(
        r#"{{"iss":{client},"sub":{client},"aud":{},"iat":{now},"exp":{},"jti":""#,
        serde_json::to_string(aud)?,
        now + lifetime,
    );
    let prefix = format!(
        "grant_type=client_credentials&scope={}&client_assertion_type={}&client_assertion=",
        form_encode(scope),
        form_encode(JWT_BEARER),
    );
    write_lines(key, batch, &prefix, &header, &claims_head)
}

fn proofs(key: &ClientKey, htu: &str, htm: &str, nonce: Option<&str>, batch: &Batch) -> Result<()> {
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{}}}"#, key.jwk);
    let nonce = match nonce {
        Some(n) => format!(r#""nonce":{},"#, serde_json::to_string(n)?),
        None => String::new(),
    };
    let claims_head = format!(
        r#"{{"htm":{},"htu":{},"iat":{},{nonce}"jti":""#,
        serde_json::to_string(htm)?,
        serde_json::to_string(htu)?,
        unix_now(),
    );
    write_lines(key, batch, "", &header, &claims_head)
}

/// A client's P-256 key pair with its public JWK (`crv`, `kty`, `x`, `y`, in RFC 7638 order)
/// and that JWK's thumbprint, the `kid`.
struct ClientKey {
    pair: EcdsaKeyPair,
    jwk: String,
    kid: String,
}

impl ClientKey {
    fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| "not a PKCS#8 P-256 private key")?;
        // Uncompressed SEC1 point: 0x04 || x || y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        let jwk = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        // The members are already canonical (sorted, no whitespace): hash them as they are.
        let kid = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, jwk.as_bytes()));
        Ok(ClientKey { pair, jwk, kid })
    }

    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let der = pem_decode(&text, "PRIVATE KEY")
            .ok_or_else(|| format!("{}: no PRIVATE KEY PEM block", path.display()))?;
        Self::from_pkcs8(&der).map_err(|e| format!("{}: {e}", path.display()).into())
    }

    /// The public JWKS the client registers: its JWK with `alg`, `use` and `kid`.
    fn jwks(&self) -> String {
        let members = self.jwk.trim_end_matches('}');
        format!(
            r#"{{"keys":[{members},"alg":"ES256","use":"sig","kid":"{}"}}]}}"#,
            self.kid
        )
    }
}

fn keygen(key_out: &Path, jwks_out: &Path) -> Result<()> {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| "key generation failed")?;
    let key = ClientKey::from_pkcs8(der.as_ref())?;
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in STANDARD.encode(der.as_ref()).as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk)?);
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    create_private(key_out)?.write_all(pem.as_bytes())?;
    create_private(jwks_out)?.write_all(format!("{}\n", key.jwks()).as_bytes())?;
    println!("{}", key.kid);
    Ok(())
}

/// Sign `batch.count` lines `prefix || JWS`, where each JWS is `header` and the claims
/// `claims_head || jti || "}`, split over threads, and write them in order to `batch.out`.
fn write_lines(
    key: &ClientKey,
    batch: &Batch,
    prefix: &str,
    header: &str,
    claims_head: &str,
) -> Result<()> {
    let count = usize::try_from(batch.count)?;
    let threads = batch
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, count);
    let header_b64 = URL_SAFE_NO_PAD.encode(header);
    let chunks: Vec<Result<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lines = count * (t + 1) / threads - count * t / threads;
                let header_b64 = &header_b64;
                scope.spawn(move || sign_chunk(key, lines, prefix, header_b64, claims_head))
            })
            .collect();
        let joined = handles.into_iter().map(|h| h.join());
        joined
            .map(|r| r.unwrap_or_else(|_| Err("a signing thread panicked".into())))
            .collect()
    });
    let mut out = create_private(&batch.out)?;
    for chunk in chunks {
        out.write_all(&chunk?)?;
    }
    out.sync_all()?;
    Ok(())
}

/// `lines` signed lines (see `write_lines`), each with a fresh random jti.
fn sign_chunk(
    key: &ClientKey,
    lines: usize,
    prefix: &str,
    header_b64: &str,
    claims_head: &str,
) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let mut out = Vec::with_capacity(lines * (prefix.len() + header_b64.len() + 400));
    let mut claims = String::with_capacity(claims_head.len() + 32);
    let mut input = String::with_capacity(header_b64.len() + 400);
    let mut jti = [0u8; 16];
    for _ in 0..lines {
        rand::fill(&mut jti).map_err(|_| "no randomness")?;
        claims.clear();
        claims.push_str(claims_head);
        URL_SAFE_NO_PAD.encode_string(jti, &mut claims);
        claims.push_str("\"}");
        input.clear();
        input.push_str(header_b64);
        input.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut input);
        let signature = key
            .pair
            .sign(&rng, input.as_bytes())
            .map_err(|_| "signing failed")?;
        input.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut input);
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(input.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// A new file readable by its owner only (key material, or credentials usable until `exp`);
/// refuses to replace an existing one.
fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()).into())
}

/// The bytes of the first PEM block labelled `label`.
fn pem_decode(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.split_once(&begin)?.1.split_once(&end)?.0;
    let joined: String = body.split_whitespace().collect();
    STANDARD.decode(joined).ok()
}

/// application/x-www-form-urlencoded, as an HTTP client library would send the value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
