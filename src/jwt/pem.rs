//! Just enough PEM (RFC 7468) to read and write our key files.
//!
//! Key files are read once at start-up, so this favours clear errors over speed. We accept
//! what `openssl genpkey`, `openssl ecparam -genkey` (which puts an `EC PARAMETERS` block
//! before the key) and `ssh-keygen -m PEM` write: the first block that is not
//! `EC PARAMETERS` is the key; text outside blocks is ignored, as RFC 7468 §2 allows.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Width of a base64 line when writing PEM (RFC 7468 §2: exactly 64 characters).
const PEM_LINE_CHARS: usize = 64;

/// One decoded PEM block: its label (`PRIVATE KEY`, `EC PRIVATE KEY`, ...) and DER body.
#[derive(Debug)]
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Why a file could not be read as PEM. Carries no key bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PemError {
    /// The file is not UTF-8 text.
    NotText,
    /// No `-----BEGIN ...-----` line (other than `EC PARAMETERS`).
    NoBlock,
    /// A `BEGIN` line without its matching `END` line.
    Unterminated,
    /// The body between the lines is not valid base64.
    BadBase64,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemError::NotText => "not a text file",
            PemError::NoBlock => "no \"-----BEGIN ...-----\" block found",
            PemError::Unterminated => "a \"-----BEGIN\" line has no matching \"-----END\" line",
            PemError::BadBase64 => "the body of the PEM block is not valid base64",
        })
    }
}

/// Decode the key block of a PEM file (see the module docs for which block that is).
pub(crate) fn decode_key_block(pem: &[u8]) -> Result<Block, PemError> {
    let text = std::str::from_utf8(pem).map_err(|_| PemError::NotText)?;
    let mut rest = text;
    loop {
        let begin = rest.find("-----BEGIN ").ok_or(PemError::NoBlock)?;
        let after_begin = &rest[begin + "-----BEGIN ".len()..];
        let label_end = after_begin.find("-----").ok_or(PemError::Unterminated)?;
        let label = &after_begin[..label_end];
        let body_and_rest = &after_begin[label_end + "-----".len()..];
        let end_line = ["-----END ", label, "-----"].concat();
        let body_end = body_and_rest
            .find(&end_line)
            .ok_or(PemError::Unterminated)?;
        if label == "EC PARAMETERS" {
            rest = &body_and_rest[body_end + end_line.len()..];
            continue;
        }
        let body: String = body_and_rest[..body_end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::BadBase64)?;
        return Ok(Block {
            label: label.to_owned(),
            der,
        });
    }
}

/// Encode `der` as one PEM block with 64-character lines and a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / PEM_LINE_CHARS + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // Base64 output is ASCII, so every byte offset is a char boundary.
    for start in (0..body.len()).step_by(PEM_LINE_CHARS) {
        out.push_str(&body[start..body.len().min(start + PEM_LINE_CHARS)]);
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        let der: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let pem = encode("PRIVATE KEY", &der);
        assert!(pem.lines().all(|l| l.len() <= PEM_LINE_CHARS));
        let block = decode_key_block(pem.as_bytes()).expect("decodes");
        assert_eq!(block.label, "PRIVATE KEY");
        assert_eq!(block.der, der);
    }

    #[test]
    fn skips_ec_parameters_and_surrounding_text() {
        let pem = "junk before\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n\
                   -----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\r\nAAEC\r\n\
                   -----END EC PRIVATE KEY-----\ntrailer";
        let block = decode_key_block(pem.as_bytes()).expect("decodes");
        assert_eq!(block.label, "EC PRIVATE KEY");
        assert_eq!(block.der, [0, 1, 2]);
    }

    #[test]
    fn rejects_malformed_files() {
        assert_eq!(decode_key_block(b"hello").unwrap_err(), PemError::NoBlock);
        assert_eq!(
            decode_key_block(b"-----BEGIN PRIVATE KEY-----\nAAEC\n").unwrap_err(),
            PemError::Unterminated
        );
        assert_eq!(
            decode_key_block(b"-----BEGIN X-----\n!!!\n-----END X-----\n").unwrap_err(),
            PemError::BadBase64
        );
        assert_eq!(
            decode_key_block(&[0xff, 0xfe]).unwrap_err(),
            PemError::NotText
        );
    }
}
