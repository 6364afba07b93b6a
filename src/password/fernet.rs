//! Fernet tokens (https://github.com/fernet/spec/blob/master/Spec.md), byte for byte what the
//! platform's Python services make and read with `cryptography.fernet.Fernet`: `is_pass` is such a
//! token under the cluster's `encryption_key`.
//!
//! Token = base64url(0x80 | timestamp u64 BE | IV 16 | AES-128-CBC PKCS#7 ciphertext | HMAC-SHA256
//! of everything before it). The key is 32 bytes: signing key first, encryption key last.

use std::fmt;
use std::io::Read;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2_10::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;
type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

const VERSION: u8 = 0x80;
const BLOCK: usize = 16;
const HEADER: usize = 1 + 8 + BLOCK;
const MAC: usize = 32;
/// Header, one cipher block (PKCS#7 always adds at least one byte) and the HMAC.
const MIN_TOKEN: usize = HEADER + BLOCK + MAC;

/// Python writes padded url-safe base64; hand-edited files and other tools sometimes drop the
/// padding, and nothing is ambiguous either way.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Fernet key. Prints as `***`; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Zeroizing<[u8; 32]>);

/// Why a key's text was refused. Never holds the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not base64 text (a Fernet key is 44 url-safe base64 characters)")]
    NotBase64,
    #[error(
        "the key decodes to {0} bytes; a Fernet key is 32 bytes (44 url-safe base64 characters)"
    )]
    WrongLength(usize),
}

/// Why a token did not decrypt. Never holds the key, the token or the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a Fernet token (bad base64, version byte or length); check that the whole token was copied")]
    NotAToken,
    #[error("the token was made with another encryption_key (its HMAC does not match this key)")]
    WrongKey,
    #[error("the token's HMAC matches the key but its ciphertext does not decrypt (bad padding): it was made by a faulty encoder; encrypt the value again")]
    Corrupt,
}

impl Key {
    /// Reads a key as Python writes it (`Fernet.generate_key()`): url-safe base64 of 32 bytes,
    /// padded or not. Surrounding whitespace (a file's trailing newline) is ignored; the standard
    /// alphabet (`+/`) is accepted too, as Python's decoder does.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let text: Zeroizing<String> = Zeroizing::new(
            text.trim()
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect(),
        );
        // Decoding into a fixed buffer keeps the key bytes out of an unzeroed Vec; a longer key
        // overflows it, so its length is measured separately for the message.
        let mut bytes = Zeroizing::new([0u8; 48]);
        let n = URL_SAFE_ANY_PADDING
            .decode_slice(text.as_bytes(), &mut bytes[..])
            .map_err(|e| match e {
                base64::DecodeSliceError::OutputSliceTooSmall => {
                    KeyError::WrongLength(text.trim_end_matches('=').len() * 3 / 4)
                }
                base64::DecodeSliceError::DecodeError(_) => KeyError::NotBase64,
            })?;
        if n != 32 {
            return Err(KeyError::WrongLength(n));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes[..32]);
        Ok(Key(key))
    }

    /// A new random key from the kernel's random source.
    ///
    /// # Panics
    /// When `/dev/urandom` cannot be read: nothing safe can be done on such a system.
    pub fn generate() -> Key {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(&mut key[..]);
        Key(key)
    }

    /// The key as Python writes it: url-safe base64 with padding, 44 characters.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_ANY_PADDING.encode(&self.0[..]))
    }

    fn signing(&self) -> &[u8] {
        &self.0[..16]
    }

    fn encryption(&self) -> &[u8] {
        &self.0[16..]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Encrypts `plaintext` into a Fernet token stamped `now_unix`. `iv` is for reproducible tests;
/// `None` draws a random one, which is what every real use must do.
///
/// # Panics
/// When `iv` is `None` and `/dev/urandom` cannot be read.
pub fn encrypt(key: &Key, plaintext: &[u8], now_unix: u64, iv: Option<[u8; 16]>) -> String {
    let iv = iv.unwrap_or_else(|| {
        let mut iv = [0u8; 16];
        fill_random(&mut iv);
        iv
    });
    let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
    // Encrypting in place in a zeroed-on-drop buffer: the only copy of the plaintext made here
    // is wiped.
    let mut buf = Zeroizing::new(vec![0u8; padded_len]);
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let cipher = Aes128CbcEnc::new_from_slices(key.encryption(), &iv)
        .expect("AES-128 key and IV are 16 bytes");
    let ciphertext = cipher
        .encrypt_padded::<Pkcs7>(&mut buf, plaintext.len())
        .expect("the buffer has room for the padding");
    seal(key, now_unix, &iv, ciphertext)
}

/// Assembles and signs a token from its parts.
fn seal(key: &Key, now_unix: u64, iv: &[u8; 16], ciphertext: &[u8]) -> String {
    let mut token = Vec::with_capacity(HEADER + ciphertext.len() + MAC);
    token.push(VERSION);
    token.extend_from_slice(&now_unix.to_be_bytes());
    token.extend_from_slice(iv);
    token.extend_from_slice(ciphertext);
    let mut mac = HmacSha256::new_from_slice(key.signing()).expect("HMAC takes any key length");
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_ANY_PADDING.encode(&token)
}

/// Decrypts a Fernet token, as `Fernet(key).decrypt(token)` does without a TTL: the timestamp is
/// not checked. Surrounding whitespace is ignored.
pub fn decrypt(key: &Key, token: &str) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let raw = URL_SAFE_ANY_PADDING
        .decode(token.trim())
        .map_err(|_| TokenError::NotAToken)?;
    if raw.len() < MIN_TOKEN || raw[0] != VERSION {
        return Err(TokenError::NotAToken);
    }
    let (signed, tag) = raw.split_at(raw.len() - MAC);
    let mut mac = HmacSha256::new_from_slice(key.signing()).expect("HMAC takes any key length");
    mac.update(signed);
    // verify_slice compares in constant time.
    mac.verify_slice(tag).map_err(|_| TokenError::WrongKey)?;
    let iv = &signed[1 + 8..HEADER];
    let ciphertext = &signed[HEADER..];
    if ciphertext.len() % BLOCK != 0 {
        return Err(TokenError::Corrupt);
    }
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let cipher = Aes128CbcDec::new_from_slices(key.encryption(), iv)
        .expect("AES-128 key and IV are 16 bytes");
    let len = cipher
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| TokenError::Corrupt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

fn fill_random(out: &mut [u8]) {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .expect("cannot read /dev/urandom: the system has no random source to make keys with");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    // From the spec's generate.json / verify.json.
    const SPEC_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const SPEC_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    /// 1985-10-26T01:20:00-07:00.
    const SPEC_NOW: u64 = 499_162_800;
    const SPEC_IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn spec_key() -> Key {
        Key::parse(SPEC_KEY).unwrap()
    }

    #[test]
    fn the_spec_vector_encrypts_exactly() {
        assert_eq!(
            encrypt(&spec_key(), b"hello", SPEC_NOW, Some(SPEC_IV)),
            SPEC_TOKEN
        );
    }

    #[test]
    fn the_spec_vector_decrypts() {
        assert_eq!(&decrypt(&spec_key(), SPEC_TOKEN).unwrap()[..], b"hello");
        // As read from a file, and without padding.
        let unpadded = SPEC_TOKEN.trim_end_matches('=');
        assert_eq!(
            &decrypt(&spec_key(), &format!("{unpadded}\n")).unwrap()[..],
            b"hello"
        );
    }

    #[test]
    fn another_key_is_wrong_key() {
        let other = Key::generate();
        assert_ne!(other, spec_key());
        assert_eq!(decrypt(&other, SPEC_TOKEN), Err(TokenError::WrongKey));
    }

    #[test]
    fn every_changed_character_is_refused() {
        let key = spec_key();
        for i in 0..SPEC_TOKEN.len() {
            let mut t = SPEC_TOKEN.as_bytes().to_vec();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            let err = decrypt(&key, &t).unwrap_err();
            assert!(
                matches!(err, TokenError::NotAToken | TokenError::WrongKey),
                "position {i}: {err:?}"
            );
        }
        // The version byte is checked before the HMAC.
        let mut raw = URL_SAFE_ANY_PADDING.decode(SPEC_TOKEN).unwrap();
        raw[0] = 0x81;
        assert_eq!(
            decrypt(&key, &URL_SAFE_ANY_PADDING.encode(&raw)),
            Err(TokenError::NotAToken)
        );
    }

    #[test]
    fn truncated_or_junk_is_not_a_token() {
        let key = spec_key();
        for t in [
            "",
            "gAAAAA",
            &SPEC_TOKEN[..SPEC_TOKEN.len() - 8],
            &SPEC_TOKEN[..60],
            "not a token at all!",
        ] {
            assert_eq!(decrypt(&key, t), Err(TokenError::NotAToken), "{t:?}");
        }
        // Cut on a block boundary: long enough, but the HMAC is gone.
        let raw = URL_SAFE_ANY_PADDING.decode(SPEC_TOKEN).unwrap();
        let cut = URL_SAFE_ANY_PADDING.encode(&raw[..raw.len() - 16]);
        assert!(decrypt(&key, &cut).is_err());
    }

    #[test]
    fn a_signed_token_with_bad_padding_is_corrupt() {
        let key = spec_key();
        // One block whose plaintext ends in 0x00: never valid PKCS#7.
        let mut block = [7u8; 16];
        block[15] = 0;
        let cipher = Aes128CbcEnc::new_from_slices(key.encryption(), &SPEC_IV).unwrap();
        let ct = cipher
            .encrypt_padded::<aes::cipher::block_padding::NoPadding>(&mut block, 16)
            .unwrap()
            .to_vec();
        let token = seal(&key, SPEC_NOW, &SPEC_IV, &ct);
        assert_eq!(decrypt(&key, &token), Err(TokenError::Corrupt));
        // A ciphertext that is not whole blocks.
        let token = seal(&key, SPEC_NOW, &SPEC_IV, &[1u8; 17]);
        assert_eq!(decrypt(&key, &token), Err(TokenError::Corrupt));
    }

    #[test]
    fn round_trips_any_length_with_random_ivs() {
        let key = Key::generate();
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let a = encrypt(&key, &plain, 1_700_000_000, None);
            let b = encrypt(&key, &plain, 1_700_000_000, None);
            assert_ne!(a, b, "random IVs must differ");
            assert_eq!(&decrypt(&key, &a).unwrap()[..], &plain[..]);
            assert_eq!(&decrypt(&key, &b).unwrap()[..], &plain[..]);
            let raw = URL_SAFE_ANY_PADDING.decode(&a).unwrap();
            assert_eq!(raw.len(), HEADER + (len / 16 + 1) * 16 + MAC);
            assert_eq!(&raw[1..9], &1_700_000_000u64.to_be_bytes());
        }
    }

    #[test]
    fn keys_parse_in_every_spelling_and_print_nothing() {
        let key = spec_key();
        assert_eq!(&*key.to_text(), SPEC_KEY);
        assert_eq!(Key::parse(&format!("  {SPEC_KEY}\n")).unwrap(), key);
        assert_eq!(Key::parse(SPEC_KEY.trim_end_matches('=')).unwrap(), key);
        let standard = SPEC_KEY.replace('-', "+").replace('_', "/");
        assert_eq!(Key::parse(&standard).unwrap(), key);
        assert_eq!(format!("{key:?}"), "***");

        let generated = Key::generate();
        assert_eq!(generated.to_text().len(), 44);
        assert_eq!(Key::parse(&generated.to_text()).unwrap(), generated);
        assert_ne!(generated, Key::generate());
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        assert_eq!(Key::parse("short"), Err(KeyError::NotBase64));
        assert_eq!(Key::parse("c2hvcnQ="), Err(KeyError::WrongLength(5)));
        let long = URL_SAFE_ANY_PADDING.encode([9u8; 64]);
        assert!(matches!(Key::parse(&long), Err(KeyError::WrongLength(n)) if n > 32));
        let err = Key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=!").unwrap_err();
        assert_eq!(err, KeyError::NotBase64);
        assert!(!err.to_string().contains("cw_0x"));
        for e in [
            TokenError::NotAToken,
            TokenError::WrongKey,
            TokenError::Corrupt,
        ] {
            assert!(!e.to_string().contains("gAAAA"));
        }
    }

    /// The platform's own reader: Python's `cryptography`. Both directions, so a format slip on
    /// either side shows.
    #[test]
    fn python_cryptography_agrees() {
        let probe = Command::new("python3")
            .args(["-c", "import cryptography.fernet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(probe, Ok(s) if s.success()) {
            eprintln!(
                "note: python3 with the cryptography module is missing; Python cross-check skipped"
            );
            return;
        }
        let key = Key::generate();
        let secret = "pässwörd with @ and # and \"quotes\"";
        let ours = encrypt(&key, secret.as_bytes(), 1_700_000_000, None);
        let script = r#"
import sys
from cryptography.fernet import Fernet
key, token, plain = sys.stdin.read().split("\n")[:3]
f = Fernet(key.encode())
sys.stdout.write(f.decrypt(token.encode()).decode() + "\n")
sys.stdout.write(f.encrypt(plain.encode()).decode() + "\n")
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n{ours}\n{secret}\n", &*key.to_text()).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some(secret), "Python read our token");
        let theirs = lines.next().unwrap();
        assert_eq!(
            &decrypt(&key, theirs).unwrap()[..],
            secret.as_bytes(),
            "we read Python's token"
        );
    }
}
