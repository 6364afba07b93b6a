//! Licenses: the request a customer sends to the vendor, the signed license the vendor returns,
//! and the check that says whether a license is good for a cluster at a given time. Everything
//! here is pure over bytes and times; reading files and asking nodes is the caller's job.
//!
//! Like PowerFlow's `iscli --license`, a license has a tier (standard, advanced, premium) and a
//! status: valid (green), expiring within 10 days (yellow), or expired (red).
//!
//! # Request file (`pfctl-license-request/v1`)
//! JSON of [`Request`]: who asks, for which cluster (its Swarm cluster id) and which nodes.
//! It is not signed: the vendor reads it and decides what to issue.
//!
//! # License file (`pfctl-license/v1`)
//! ```text
//! {
//!   "format": "pfctl-license/v1",
//!   "payload": "<standard base64 of the exact payload JSON bytes>",
//!   "signer": "<key id of the signing key>",
//!   "signature": "<standard base64 of the Ed25519 signature over the payload bytes>"
//! }
//! ```
//! The payload is a [`Payload`] as JSON. The signature covers the payload's bytes as they are,
//! not a re-serialisation, so nothing in the file can change without the check noticing. A key
//! id is the first 16 hex digits of the SHA-256 of the 32-byte Ed25519 public key; it only picks
//! which trusted key to verify with, so a forged id gains nothing.
//!
//! # Key texts
//! `pfctl-license-signing-key-v1:<base64 of the 32-byte seed>` (the vendor's secret) and
//! `pfctl-license-key-v1:<base64 of the 32-byte public key>`.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::backup::manifest::{parse_rfc3339, rfc3339};
use pfproto::hex;

pub const REQUEST_FORMAT: &str = "pfctl-license-request/v1";
pub const LICENSE_FORMAT: &str = "pfctl-license/v1";
/// Licenses are a few hundred bytes; callers read at most this much, and [`check`] refuses more,
/// so a wrong file (an archive, a disk image) is never loaded whole.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// At this many days left or fewer a license is [`State::Expiring`] (PowerFlow's yellow).
pub const EXPIRING_DAYS: i64 = 10;
pub const MAX_DAYS: u32 = 3650;
const MAX_CUSTOMER_CHARS: usize = 200;
const DAY: u64 = 86_400;

const SIGNING_KEY_PREFIX: &str = "pfctl-license-signing-key-v1:";
const PUBLIC_KEY_PREFIX: &str = "pfctl-license-key-v1:";

/// The vendor's public key. The vendor holds the matching signing key; it is not in this
/// repository and pfctl never needs it.
const BUILTIN_KEY: &str = "pfctl-license-key-v1:g0WjEzbqbW7W9R0n88TnD1bY3kL5ZiuSCjIMHRFbKIE=";

/// The keys pfctl trusts without being told about any other.
pub fn builtin_keys() -> Vec<PublicKey> {
    vec![PublicKey::parse(BUILTIN_KEY).expect("the built-in license key is well formed")]
}

// ---------------------------------------------------------------------------------------------
// Keys

/// An Ed25519 signing key (the vendor's secret). Its bytes are wiped on drop and never printed.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 public key that verifies licenses.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// Reads `pfctl-license-signing-key-v1:<base64>`; surrounding whitespace is ignored. Errors
    /// never quote the text, since it is a secret.
    pub fn parse(text: &str) -> Result<SigningKey> {
        let text = text.trim();
        let Some(b64) = text.strip_prefix(SIGNING_KEY_PREFIX) else {
            if text.starts_with(PUBLIC_KEY_PREFIX) {
                bail!("this is a public license key; signing needs the signing key (text starting {SIGNING_KEY_PREFIX})");
            }
            bail!("not a license signing key: expected text starting {SIGNING_KEY_PREFIX}");
        };
        let bytes = Zeroizing::new(STANDARD.decode(b64).map_err(|_| {
            anyhow!("the license signing key is damaged: the part after {SIGNING_KEY_PREFIX} is not base64")
        })?);
        let mut seed = Zeroizing::new([0u8; 32]);
        if bytes.len() != seed.len() {
            bail!(
                "the license signing key is damaged: it holds {} bytes, not 32",
                bytes.len()
            );
        }
        seed.copy_from_slice(&bytes);
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The secret text form, for the vendor's key file.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(SIGNING_KEY_PREFIX.len() + 44);
        s.push_str(SIGNING_KEY_PREFIX);
        STANDARD.encode_string(self.0.as_bytes(), &mut s);
        s
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads `pfctl-license-key-v1:<base64>`; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<PublicKey> {
        let text = text.trim();
        let Some(b64) = text.strip_prefix(PUBLIC_KEY_PREFIX) else {
            if text.starts_with(SIGNING_KEY_PREFIX) {
                bail!("this is a license signing key, a secret; give its public key (text starting {PUBLIC_KEY_PREFIX}) instead");
            }
            bail!("not a license public key: expected text starting {PUBLIC_KEY_PREFIX}");
        };
        let bytes = STANDARD.decode(b64).map_err(|_| {
            anyhow!("the license public key is damaged: the part after {PUBLIC_KEY_PREFIX} is not base64")
        })?;
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow!(
                "the license public key is damaged: it holds {} bytes, not 32",
                bytes.len()
            )
        })?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| anyhow!("the license public key is damaged: it is not an Ed25519 key"))?;
        Ok(PublicKey(key))
    }

    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX}{}", STANDARD.encode(self.0.as_bytes()))
    }

    /// First 16 hex digits of the SHA-256 of the 32 key bytes.
    pub fn key_id(&self) -> String {
        key_id_of(self.0.as_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

fn key_id_of(bytes: &[u8; 32]) -> String {
    hex(&Sha256::digest(bytes)[..8])
}

fn is_key_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A new key pair from the kernel's random source. Panics only if /dev/urandom cannot be read;
/// [`try_keygen`] returns that as an error instead.
pub fn keygen() -> (SigningKey, PublicKey) {
    try_keygen().unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn try_keygen() -> Result<(SigningKey, PublicKey)> {
    let mut seed = Zeroizing::new([0u8; 32]);
    random_bytes(&mut *seed)?;
    let key = SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed));
    let public = key.public_key();
    Ok((key, public))
}

fn random_bytes(buf: &mut [u8]) -> Result<()> {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("cannot read /dev/urandom, which pfctl needs for license keys and ids")
}

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Request {
    pub format: String,
    pub customer: String,
    pub email: String,
    /// The Docker Swarm cluster id the license will be bound to.
    pub cluster_id: String,
    pub node_ids: Vec<String>,
    pub platform_version: Option<String>,
    /// RFC3339 UTC.
    pub created: String,
}

/// A validated request; customer and email are trimmed.
pub fn make_request(
    customer: &str,
    email: &str,
    cluster_id: &str,
    node_ids: Vec<String>,
    platform_version: Option<String>,
    now_unix: u64,
) -> Result<Request> {
    let req = Request {
        format: REQUEST_FORMAT.to_string(),
        customer: customer.trim().to_string(),
        email: email.trim().to_string(),
        cluster_id: cluster_id.trim().to_string(),
        node_ids,
        platform_version,
        created: rfc3339(now_unix),
    };
    validate_request(&req)?;
    Ok(req)
}

impl Request {
    /// The request file's bytes (pretty JSON, newline-terminated).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a request serialises");
        out.push(b'\n');
        out
    }

    /// Reads and validates a request file, as the vendor does before [`issue`].
    pub fn parse(bytes: &[u8]) -> Result<Request> {
        if bytes.len() > MAX_FILE_BYTES {
            bail!("the license request is {} bytes, more than a request can be ({MAX_FILE_BYTES}); is it the right file?", bytes.len());
        }
        let req: Request = serde_json::from_slice(bytes)
            .map_err(|e| anyhow!("the license request is not valid request JSON ({e})"))?;
        validate_request(&req)?;
        Ok(req)
    }
}

fn validate_request(req: &Request) -> Result<()> {
    if req.format != REQUEST_FORMAT {
        bail!(
            "the license request's format is {:?}, not {REQUEST_FORMAT}; make the request with this pfctl",
            req.format
        );
    }
    let customer = req.customer.trim();
    if customer.is_empty() {
        bail!("the customer name is empty; give the company name the license is for");
    }
    if customer.chars().count() > MAX_CUSTOMER_CHARS {
        bail!("the customer name is longer than {MAX_CUSTOMER_CHARS} characters; shorten it");
    }
    if customer.chars().any(char::is_control) {
        bail!("the customer name contains control characters; use plain text");
    }
    if !email_looks_valid(&req.email) {
        bail!(
            "{:?} does not look like an email address (name@domain.tld); give the address the vendor should answer",
            req.email
        );
    }
    if req.cluster_id.trim().is_empty() {
        bail!("the cluster id is empty; the license is bound to the Swarm cluster id (docker info: Swarm.Cluster.ID)");
    }
    if let Some(i) = req.node_ids.iter().position(|n| n.trim().is_empty()) {
        bail!("node id number {} of the request is empty", i + 1);
    }
    if parse_rfc3339(&req.created).is_none() {
        bail!(
            "the license request's creation time {:?} is not RFC3339 UTC (YYYY-MM-DDTHH:MM:SSZ)",
            req.created
        );
    }
    Ok(())
}

/// One '@' with something before it, and a dot inside the part after it; no spaces.
fn email_looks_valid(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain
            .find('.')
            .is_some_and(|dot| dot > 0 && dot + 1 < domain.len())
        && !domain.ends_with('.')
}

// ---------------------------------------------------------------------------------------------
// Licenses

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Runs vendor content.
    Standard,
    /// Standard plus custom content.
    Advanced,
    /// Advanced plus the builder.
    Premium,
}

impl Tier {
    pub fn word(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Advanced => "advanced",
            Tier::Premium => "premium",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for Tier {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Tier> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" => Ok(Tier::Standard),
            "advanced" => Ok(Tier::Advanced),
            "premium" => Ok(Tier::Premium),
            _ => bail!("unknown license tier {s:?}: choose standard, advanced or premium"),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Payload {
    /// 16 random hex digits, to tell licenses apart.
    pub id: String,
    pub customer: String,
    pub email: String,
    pub tier: Tier,
    pub cluster_id: String,
    /// RFC3339 UTC.
    pub issued: String,
    /// RFC3339 UTC; the license is expired from this instant on.
    pub expires: String,
    #[serde(default)]
    pub features: Vec<String>,
}

/// The license file as stored; field order is the documented one.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    payload: String,
    signer: String,
    signature: String,
}

/// Signs a license for `req`'s customer and cluster, valid for `days` days from `now_unix`;
/// returns the license file's bytes.
pub fn issue(
    key: &SigningKey,
    req: &Request,
    tier: Tier,
    days: u32,
    features: Vec<String>,
    now_unix: u64,
) -> Result<Vec<u8>> {
    validate_request(req)?;
    if !(1..=MAX_DAYS).contains(&days) {
        bail!("a license lasts 1 to {MAX_DAYS} days, not {days}");
    }
    let mut features: Vec<String> = features.iter().map(|f| f.trim().to_string()).collect();
    if let Some(i) = features
        .iter()
        .position(|f| f.is_empty() || f.chars().any(char::is_control))
    {
        bail!(
            "feature number {} is empty or has control characters; name each feature in plain text",
            i + 1
        );
    }
    features.sort();
    features.dedup();

    let mut id = [0u8; 8];
    random_bytes(&mut id)?;
    let payload = Payload {
        id: hex(&id),
        customer: req.customer.trim().to_string(),
        email: req.email.trim().to_string(),
        tier,
        cluster_id: req.cluster_id.trim().to_string(),
        issued: rfc3339(now_unix),
        expires: rfc3339(now_unix + u64::from(days) * DAY),
        features,
    };
    let payload_bytes = serde_json::to_vec(&payload).expect("a payload serialises");
    let signature = key.0.sign(&payload_bytes);
    let envelope = Envelope {
        format: LICENSE_FORMAT.to_string(),
        payload: STANDARD.encode(&payload_bytes),
        signer: key.public_key().key_id(),
        signature: STANDARD.encode(signature.to_bytes()),
    };
    let mut out = serde_json::to_vec_pretty(&envelope).expect("an envelope serialises");
    out.push(b'\n');
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Checking

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warn,
    Fail,
}

impl Severity {
    pub fn status(self) -> crate::report::Status {
        match self {
            Severity::Ok => crate::report::Status::Ok,
            Severity::Warn => crate::report::Status::Warn,
            Severity::Fail => crate::report::Status::Fail,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Valid,
    Expiring,
    Expired,
    WrongCluster,
    BadSignature,
    UnknownSigner,
    Malformed,
}

impl State {
    pub fn severity(&self) -> Severity {
        match self {
            State::Valid => Severity::Ok,
            State::Expiring => Severity::Warn,
            _ => Severity::Fail,
        }
    }

    pub fn word(&self) -> &str {
        match self {
            State::Valid => "valid",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::WrongCluster => "wrong-cluster",
            State::BadSignature => "bad-signature",
            State::UnknownSigner => "unknown-signer",
            State::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub state: State,
    /// Present once the signature has verified (so from `WrongCluster` on); never untrusted data.
    pub payload: Option<Payload>,
    /// Whole days until expiry, rounded up; 0 or negative once expired.
    pub days_left: Option<i64>,
    /// One sentence for an administrator.
    pub reason: String,
}

impl Verdict {
    fn refuse(state: State, reason: String) -> Verdict {
        Verdict {
            state,
            payload: None,
            days_left: None,
            reason,
        }
    }
}

/// Whether `file` is a license signed by one of `trusted`, for `cluster_id` (when given), and
/// current at `now_unix`. Checks in order: format, signer, signature, cluster, expiry.
pub fn check(
    file: &[u8],
    trusted: &[PublicKey],
    cluster_id: Option<&str>,
    now_unix: u64,
) -> Verdict {
    const AS_SENT: &str = "use the license file exactly as the vendor sent it";
    let malformed = |what: String| Verdict::refuse(State::Malformed, what);

    if file.len() > MAX_FILE_BYTES {
        return malformed(format!(
            "the file is {} bytes, far more than a license; it is not a license file",
            file.len()
        ));
    }
    let envelope: Envelope = match serde_json::from_slice(file) {
        Ok(e) => e,
        Err(e) => return malformed(format!("the file is not a pfctl license ({e}); {AS_SENT}")),
    };
    if envelope.format != LICENSE_FORMAT {
        return malformed(format!(
            "the file's format is {:?}, not {LICENSE_FORMAT}; {AS_SENT}",
            envelope.format
        ));
    }
    let Ok(payload_bytes) = STANDARD.decode(&envelope.payload) else {
        return malformed(format!(
            "the license's payload is not valid base64; {AS_SENT}"
        ));
    };
    let signature = match STANDARD.decode(&envelope.signature) {
        Ok(b) => match <[u8; 64]>::try_from(b.as_slice()) {
            Ok(b) => Signature::from_bytes(&b),
            Err(_) => {
                return malformed(format!(
                    "the license's signature is {} bytes, not 64; {AS_SENT}",
                    b.len()
                ))
            }
        },
        Err(_) => {
            return malformed(format!(
                "the license's signature is not valid base64; {AS_SENT}"
            ))
        }
    };
    // The id is echoed in messages, so it must be plain hex before it is shown to anyone.
    if !is_key_id(&envelope.signer) {
        return malformed(format!(
            "the license's signer is not a key id (16 hex digits); {AS_SENT}"
        ));
    }

    let candidates: Vec<&PublicKey> = trusted
        .iter()
        .filter(|k| k.key_id() == envelope.signer)
        .collect();
    if candidates.is_empty() {
        let known: Vec<String> = trusted.iter().map(PublicKey::key_id).collect();
        let known = if known.is_empty() {
            "no keys are trusted".to_string()
        } else {
            format!("trusted: {}", known.join(", "))
        };
        return Verdict::refuse(
            State::UnknownSigner,
            format!(
                "the license was signed by key {}, which is not a trusted license key ({known})",
                envelope.signer
            ),
        );
    }
    if !candidates
        .iter()
        .any(|k| k.0.verify_strict(&payload_bytes, &signature).is_ok())
    {
        return Verdict::refuse(
            State::BadSignature,
            format!(
                "the license was changed after it was signed (the signature by key {} does not verify); {AS_SENT}",
                envelope.signer
            ),
        );
    }

    // Signed by a trusted key, so a payload that does not parse is the issuer's fault.
    const ASK_VENDOR: &str = "ask the vendor for a new license";
    let payload: Payload = match serde_json::from_slice(&payload_bytes) {
        Ok(p) => p,
        Err(e) => {
            return malformed(format!(
                "the license's signed content is not a license payload ({e}); {ASK_VENDOR}"
            ))
        }
    };
    let Some(expires) = parse_rfc3339(&payload.expires) else {
        return malformed(format!(
            "the license's expiry {:?} is not an RFC3339 UTC time; {ASK_VENDOR}",
            payload.expires
        ));
    };
    let diff = expires as i64 - now_unix as i64;
    let days_left = if diff > 0 {
        (diff + DAY as i64 - 1) / DAY as i64
    } else {
        -(-diff / DAY as i64)
    };
    let date = &payload.expires[..10];

    let (state, reason) = match cluster_id {
        Some(ours) if ours != payload.cluster_id => (
            State::WrongCluster,
            format!(
                "the license is for cluster {}, not this cluster {ours}; request a license for {ours}",
                payload.cluster_id
            ),
        ),
        _ if now_unix >= expires => (
            State::Expired,
            format!(
                "the license expired on {date} ({}); request a renewal from the vendor",
                match -days_left {
                    0 => "today".to_string(),
                    1 => "1 day ago".to_string(),
                    n => format!("{n} days ago"),
                }
            ),
        ),
        _ if days_left <= EXPIRING_DAYS => (
            State::Expiring,
            format!(
                "the {} license expires in {days_left} day{} on {date}; request a renewal soon",
                payload.tier,
                if days_left == 1 { "" } else { "s" }
            ),
        ),
        _ => (
            State::Valid,
            format!(
                "the {} license for {} is valid until {date} ({days_left} days left)",
                payload.tier, payload.customer
            ),
        ),
    };
    Verdict {
        state,
        payload: Some(payload),
        days_left: Some(days_left),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const CLUSTER: &str = "q8l2x0zk3v1c9m4n7b5t6y2w1";

    fn request() -> Request {
        make_request(
            "Example Corp",
            "ops@example.com",
            CLUSTER,
            vec!["n1".into(), "n2".into()],
            Some("3.2.0".into()),
            NOW,
        )
        .unwrap()
    }

    fn license(key: &SigningKey, days: u32) -> Vec<u8> {
        issue(key, &request(), Tier::Advanced, days, vec![], NOW).unwrap()
    }

    fn envelope(file: &[u8]) -> Envelope {
        serde_json::from_slice(file).unwrap()
    }

    #[test]
    fn key_texts_round_trip() {
        let (sk, pk) = keygen();
        assert_eq!(sk.public_key(), pk);
        let text = sk.to_text();
        assert!(text.starts_with(SIGNING_KEY_PREFIX));
        let again = SigningKey::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(again.public_key(), pk);
        assert_eq!(again.to_text(), text);

        let ptext = pk.to_text();
        assert!(ptext.starts_with(PUBLIC_KEY_PREFIX));
        let parsed = PublicKey::parse(&ptext).unwrap();
        assert_eq!(parsed, pk);
        assert_eq!(parsed.key_id(), pk.key_id());
        assert!(is_key_id(&pk.key_id()), "{}", pk.key_id());

        let (_, other) = keygen();
        assert_ne!(other.key_id(), pk.key_id());
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let pk = PublicKey::parse(BUILTIN_KEY).unwrap();
        let full = hex(&Sha256::digest(pk.0.as_bytes()));
        assert_eq!(pk.key_id(), full[..16]);
    }

    #[test]
    fn key_parse_errors_are_clear_and_never_quote_secrets() {
        let (sk, pk) = keygen();
        let secret = sk.to_text();
        let e = PublicKey::parse(&secret).unwrap_err().to_string();
        assert!(e.contains("signing key"), "{e}");
        assert!(!e.contains(&secret[SIGNING_KEY_PREFIX.len()..]), "{e}");
        let e = SigningKey::parse(&pk.to_text()).unwrap_err().to_string();
        assert!(e.contains("public license key"), "{e}");

        let short = format!("{SIGNING_KEY_PREFIX}{}", STANDARD.encode([7u8; 31]));
        let e = SigningKey::parse(&short).unwrap_err().to_string();
        assert!(e.contains("31 bytes"), "{e}");
        assert!(!e.contains(&short[SIGNING_KEY_PREFIX.len()..]), "{e}");
        let e = SigningKey::parse(&format!("{SIGNING_KEY_PREFIX}not base64!"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
        assert!(!e.contains("not base64!"), "{e}");
        assert!(PublicKey::parse("ssh-ed25519 AAAA").is_err());
        let e = PublicKey::parse(&format!(
            "{PUBLIC_KEY_PREFIX}{}",
            STANDARD.encode([1u8; 33])
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("33 bytes"), "{e}");
    }

    #[test]
    fn signing_key_debug_hides_the_key() {
        let (sk, pk) = keygen();
        let shown = format!("{sk:?} {sk:#?}");
        let b64 = &sk.to_text()[SIGNING_KEY_PREFIX.len()..];
        assert!(!shown.contains(b64), "{shown}");
        let raw = sk.0.to_bytes();
        assert!(!shown.contains(&hex(&raw)), "{shown}");
        assert!(!shown.contains(&format!("{:?}", raw)), "{shown}");
        assert!(shown.contains(&pk.key_id()), "{shown}");
    }

    #[test]
    fn builtin_key_parses() {
        let keys = builtin_keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].to_text(), BUILTIN_KEY);
        assert!(is_key_id(&keys[0].key_id()));
        // A license from some other key is not accepted by the built-in trust.
        let (sk, _) = keygen();
        let v = check(&license(&sk, 30), &keys, None, NOW);
        assert_eq!(v.state, State::UnknownSigner);
    }

    #[test]
    fn issue_then_check_is_valid() {
        let (sk, pk) = keygen();
        let features = vec![
            " builder ".to_string(),
            "api".to_string(),
            "api".to_string(),
        ];
        let file = issue(&sk, &request(), Tier::Premium, 365, features, NOW).unwrap();
        assert!(file.len() < MAX_FILE_BYTES);
        let v = check(&file, std::slice::from_ref(&pk), Some(CLUSTER), NOW);
        assert_eq!(v.state, State::Valid, "{}", v.reason);
        assert_eq!(v.state.severity(), Severity::Ok);
        assert_eq!(v.days_left, Some(365));
        assert!(v.reason.contains("2027-01-01"), "{}", v.reason);
        let p = v.payload.unwrap();
        assert_eq!(p.customer, "Example Corp");
        assert_eq!(p.email, "ops@example.com");
        assert_eq!(p.tier, Tier::Premium);
        assert_eq!(p.cluster_id, CLUSTER);
        assert_eq!(p.issued, "2026-01-01T00:00:00Z");
        assert_eq!(p.expires, "2027-01-01T00:00:00Z");
        assert_eq!(p.features, ["api", "builder"]);
        assert!(p.id.len() == 16 && p.id.bytes().all(|b| b.is_ascii_hexdigit()));

        // Without a cluster to compare, the cluster is not checked.
        let v = check(&file, std::slice::from_ref(&pk), None, NOW);
        assert_eq!(v.state, State::Valid);

        // The file is the documented envelope; the signature covers the payload bytes as stored.
        let e = envelope(&file);
        assert_eq!(e.format, LICENSE_FORMAT);
        assert_eq!(e.signer, pk.key_id());
        let payload_bytes = STANDARD.decode(&e.payload).unwrap();
        let sig = <[u8; 64]>::try_from(STANDARD.decode(&e.signature).unwrap().as_slice()).unwrap();
        pk.0.verify_strict(&payload_bytes, &Signature::from_bytes(&sig))
            .unwrap();
        // Two licenses get different ids.
        let other = envelope(&license(&sk, 365));
        assert_ne!(other.payload, e.payload);
    }

    #[test]
    fn expiry_states_and_days_left() {
        let (sk, pk) = keygen();
        let keys = [pk];
        let file = license(&sk, 30);
        let expires = NOW + 30 * DAY;
        let at = |t: u64| check(&file, &keys, Some(CLUSTER), t);

        let v = at(expires - 5 * DAY);
        assert_eq!(v.state, State::Expiring, "{}", v.reason);
        assert_eq!(v.state.severity(), Severity::Warn);
        assert_eq!(v.days_left, Some(5));
        assert!(v.reason.contains("5 days"), "{}", v.reason);

        // Exactly ten days left is yellow; a second more is green; days round up.
        assert_eq!(at(expires - 10 * DAY).state, State::Expiring);
        let v = at(expires - 10 * DAY - 1);
        assert_eq!((v.state, v.days_left), (State::Valid, Some(11)));
        let v = at(expires - 1);
        assert_eq!((v.state, v.days_left), (State::Expiring, Some(1)));
        assert!(v.reason.contains("1 day "), "{}", v.reason);

        let v = at(expires);
        assert_eq!((v.state, v.days_left), (State::Expired, Some(0)));
        assert_eq!(v.state.severity(), Severity::Fail);
        assert!(v.reason.contains("expired on 2026-01-31"), "{}", v.reason);
        let v = at(expires + 3 * DAY + 100);
        assert_eq!((v.state, v.days_left), (State::Expired, Some(-3)));
        assert!(v.reason.contains("3 days ago"), "{}", v.reason);
        assert!(v.payload.is_some());
    }

    #[test]
    fn other_cluster_is_refused_naming_both() {
        let (sk, pk) = keygen();
        let v = check(&license(&sk, 30), &[pk], Some("othercluster42"), NOW);
        assert_eq!(v.state, State::WrongCluster);
        assert_eq!(v.state.severity(), Severity::Fail);
        assert!(v.reason.contains(CLUSTER), "{}", v.reason);
        assert!(v.reason.contains("othercluster42"), "{}", v.reason);
        // Cluster is checked before expiry.
        let (sk, pk) = keygen();
        let v = check(&license(&sk, 1), &[pk], Some("x"), NOW + 400 * DAY);
        assert_eq!(v.state, State::WrongCluster);
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let (sk, pk) = keygen();
        let keys = [pk];
        let req = make_request("A", "a@b.c", "c1", vec![], None, NOW).unwrap();
        let file = issue(&sk, &req, Tier::Standard, 30, vec![], NOW).unwrap();
        assert_eq!(check(&file, &keys, Some("c1"), NOW).state, State::Valid);
        // One bit per byte, a different bit from byte to byte, so every position and every bit
        // place is covered without 8x the (slow, in debug builds) signature checks.
        for pos in 0..file.len() {
            let bit = pos % 8;
            let mut bad = file.clone();
            bad[pos] ^= 1 << bit;
            let v = check(&bad, &keys, Some("c1"), NOW);
            assert!(
                matches!(
                    v.state,
                    State::Malformed | State::UnknownSigner | State::BadSignature
                ) && !v.reason.is_empty(),
                "flipping bit {bit} of byte {pos} gave {:?}: {}",
                v.state,
                v.reason
            );
        }
    }

    #[test]
    fn refusal_reasons_name_the_fault() {
        let (sk, pk) = keygen();
        let keys = [pk];
        let v = check(b"hello", &keys, None, NOW);
        assert_eq!(v.state, State::Malformed);
        assert!(v.reason.contains("not a pfctl license"), "{}", v.reason);

        let mut e = envelope(&license(&sk, 30));
        e.format = "pfctl-license/v9".into();
        let v = check(&serde_json::to_vec(&e).unwrap(), &keys, None, NOW);
        assert_eq!(v.state, State::Malformed);
        assert!(v.reason.contains("pfctl-license/v9"), "{}", v.reason);

        let mut e = envelope(&license(&sk, 30));
        e.payload.insert(0, '*');
        let v = check(&serde_json::to_vec(&e).unwrap(), &keys, None, NOW);
        assert_eq!(v.state, State::Malformed);
        assert!(
            v.reason.contains("payload is not valid base64"),
            "{}",
            v.reason
        );

        let mut e = envelope(&license(&sk, 30));
        e.signer = "\u{1b}[31mred".into();
        let v = check(&serde_json::to_vec(&e).unwrap(), &keys, None, NOW);
        assert_eq!(v.state, State::Malformed);
        assert!(!v.reason.contains('\u{1b}'), "{}", v.reason);

        let huge = vec![b' '; MAX_FILE_BYTES + 1];
        assert_eq!(check(&huge, &keys, None, NOW).state, State::Malformed);
    }

    #[test]
    fn unknown_signer_lists_the_signer() {
        let (sk, _) = keygen();
        let (_, other) = keygen();
        let file = license(&sk, 30);
        let v = check(&file, std::slice::from_ref(&other), Some(CLUSTER), NOW);
        assert_eq!(v.state, State::UnknownSigner);
        assert!(v.payload.is_none());
        assert!(v.reason.contains(&sk.public_key().key_id()), "{}", v.reason);
        assert!(v.reason.contains(&other.key_id()), "{}", v.reason);
        let v = check(&file, &[], None, NOW);
        assert_eq!(v.state, State::UnknownSigner);
        assert!(v.reason.contains("no keys are trusted"), "{}", v.reason);
    }

    #[test]
    fn resigned_with_a_trusted_id_is_a_bad_signature() {
        let (trusted_sk, trusted) = keygen();
        let (forger, _) = keygen();
        // A forger takes a real license, extends it, signs it with their own key and claims the
        // trusted key's id.
        let real = envelope(&license(&trusted_sk, 30));
        let mut p: Payload =
            serde_json::from_slice(&STANDARD.decode(&real.payload).unwrap()).unwrap();
        p.expires = rfc3339(NOW + 3000 * DAY);
        let bytes = serde_json::to_vec(&p).unwrap();
        let forged = Envelope {
            format: LICENSE_FORMAT.into(),
            payload: STANDARD.encode(&bytes),
            signer: trusted.key_id(),
            signature: STANDARD.encode(forger.0.sign(&bytes).to_bytes()),
        };
        let v = check(&serde_json::to_vec(&forged).unwrap(), &[trusted], None, NOW);
        assert_eq!(v.state, State::BadSignature);
        assert!(v.payload.is_none());
        assert!(
            v.reason.contains("changed after it was signed"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn signed_garbage_payload_is_malformed() {
        let (sk, pk) = keygen();
        let bytes = b"{\"id\":1}".to_vec();
        let e = Envelope {
            format: LICENSE_FORMAT.into(),
            payload: STANDARD.encode(&bytes),
            signer: pk.key_id(),
            signature: STANDARD.encode(sk.0.sign(&bytes).to_bytes()),
        };
        let v = check(&serde_json::to_vec(&e).unwrap(), &[pk], None, NOW);
        assert_eq!(v.state, State::Malformed);
        assert!(v.reason.contains("ask the vendor"), "{}", v.reason);
    }

    #[test]
    fn request_validation() {
        let ok = |c: &str, e: &str, id: &str| make_request(c, e, id, vec![], None, NOW);
        let r = ok("  Example Corp ", " ops@example.com ", "c1").unwrap();
        assert_eq!(
            (r.customer.as_str(), r.email.as_str()),
            ("Example Corp", "ops@example.com")
        );
        assert_eq!(r.created, "2026-01-01T00:00:00Z");
        assert_eq!(r.format, REQUEST_FORMAT);

        let err = |c: &str, e: &str, id: &str| ok(c, e, id).unwrap_err().to_string();
        assert!(err(" ", "a@b.c", "c1").contains("customer name is empty"));
        assert!(err(&"x".repeat(201), "a@b.c", "c1").contains("200"));
        assert!(ok(&"é".repeat(200), "a@b.c", "c1").is_ok());
        assert!(err("A\u{7}", "a@b.c", "c1").contains("control"));
        for bad in [
            "", "ab.c", "a@b", "@b.c", "a@@b.c", "a@b@c.d", "a@.c", "a@b.", "a b@c.d",
        ] {
            let e = err("A", bad, "c1");
            assert!(e.contains("does not look like an email"), "{bad:?}: {e}");
        }
        assert!(err("A", "a@b.c", " ").contains("cluster id is empty"));
        let e = make_request("A", "a@b.c", "c1", vec!["n1".into(), "".into()], None, NOW)
            .unwrap_err()
            .to_string();
        assert!(e.contains("node id number 2"), "{e}");
    }

    #[test]
    fn request_file_round_trips_and_is_validated() {
        let r = request();
        let bytes = r.to_bytes();
        assert_eq!(Request::parse(&bytes).unwrap(), r);
        let mut bad = r.clone();
        bad.email = "nobody".into();
        let e = Request::parse(&bad.to_bytes()).unwrap_err().to_string();
        assert!(e.contains("\"nobody\""), "{e}");
        let mut bad = r.clone();
        bad.format = "something-else".into();
        assert!(Request::parse(&bad.to_bytes()).is_err());
        assert!(Request::parse(b"[]").is_err());
        // issue re-validates, since a request arrives from outside.
        let (sk, _) = keygen();
        let mut bad = r.clone();
        bad.cluster_id.clear();
        assert!(issue(&sk, &bad, Tier::Standard, 30, vec![], NOW).is_err());
    }

    #[test]
    fn issue_limits() {
        let (sk, _) = keygen();
        let r = request();
        for days in [0, MAX_DAYS + 1] {
            let e = issue(&sk, &r, Tier::Standard, days, vec![], NOW)
                .unwrap_err()
                .to_string();
            assert!(e.contains("1 to 3650 days"), "{e}");
        }
        assert!(issue(&sk, &r, Tier::Standard, 1, vec![], NOW).is_ok());
        assert!(issue(&sk, &r, Tier::Standard, MAX_DAYS, vec![], NOW).is_ok());
        let e = issue(
            &sk,
            &r,
            Tier::Standard,
            30,
            vec!["a".into(), " ".into()],
            NOW,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("feature number 2"), "{e}");
    }

    #[test]
    fn tier_words() {
        for t in [Tier::Standard, Tier::Advanced, Tier::Premium] {
            assert_eq!(t.to_string().parse::<Tier>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert_eq!(" Premium ".parse::<Tier>().unwrap(), Tier::Premium);
        let e = "gold".parse::<Tier>().unwrap_err().to_string();
        for word in ["gold", "standard", "advanced", "premium"] {
            assert!(e.contains(word), "{e}");
        }
        assert!(serde_json::from_str::<Tier>("\"gold\"").is_err());
    }

    #[test]
    fn state_words_and_severities() {
        let all = [
            (State::Valid, "valid", Severity::Ok),
            (State::Expiring, "expiring", Severity::Warn),
            (State::Expired, "expired", Severity::Fail),
            (State::WrongCluster, "wrong-cluster", Severity::Fail),
            (State::BadSignature, "bad-signature", Severity::Fail),
            (State::UnknownSigner, "unknown-signer", Severity::Fail),
            (State::Malformed, "malformed", Severity::Fail),
        ];
        for (state, word, severity) in all {
            assert_eq!(state.word(), word);
            assert_eq!(state.severity(), severity);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{word}\"")
            );
        }
        assert_eq!(Severity::Warn.status(), crate::report::Status::Warn);
    }
}
