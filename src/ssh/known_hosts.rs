//! OpenSSH `known_hosts` files: reading, verifying a host key, appending.
//!
//! Understood: comments and blank lines, `@cert-authority` and `@revoked`
//! markers, comma-separated host pattern lists with `*`/`?` wildcards and
//! `!negation`, hashed host names (`|1|salt|hmac`, HMAC-SHA1 of the host
//! string keyed by the salt), and `[host]:port` for ports other than 22 (a
//! plain `host` entry covers port 22 only). A malformed line is skipped with
//! a warning naming `file:line`; it never makes verification fail.
//!
//! `@cert-authority` lines are parsed and kept (see [`cert_authorities`]),
//! but pfctl does not ask servers for host certificates (russh advertises no
//! certificate host-key algorithms unless told to), so verification is done
//! on the plain host key, like `ssh` does for a server without a certificate.
//!
//! A key listed under `@revoked` is refused for every host, whatever the host
//! pattern of that line says (never weaker than OpenSSH).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

use super::config::pattern_list_matches;

/// The outcome of checking a host key against known_hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host lists exactly this key.
    Trusted,
    /// The key is listed under `@revoked`.
    Revoked,
    /// The host is known with a different key of the same type; the first
    /// such line is named.
    Changed { file: PathBuf, line: usize },
    /// No line for this host has a key of this type.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
enum Hosts {
    Patterns(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub marker: Marker,
    hosts: Hosts,
    pub key: PublicKey,
    pub file: PathBuf,
    pub line: usize,
}

impl Entry {
    /// Whether this line's host field covers `host` on `port`.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let name = host_field(&host.to_ascii_lowercase(), port);
        match &self.hosts {
            Hosts::Patterns(p) => pattern_list_matches(p, &name),
            Hosts::Hashed { salt, hash } => hmac_sha1(salt, name.as_bytes()) == *hash,
        }
    }
}

/// The host field as written in known_hosts: `host` for port 22, else `[host]:port`.
pub fn host_field(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Parses one line; `Ok(None)` for blank lines and comments.
fn parse_line(text: &str, file: &Path, line: usize) -> Result<Option<Entry>, String> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let mut fields = text.split_whitespace();
    let mut first = fields.next().ok_or("empty line")?;
    let marker = if first.starts_with('@') {
        let m = match first {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            other => return Err(format!("unknown marker '{other}'")),
        };
        first = fields.next().ok_or("marker without host field")?;
        m
    } else {
        Marker::None
    };
    let key_type = fields.next().ok_or("missing key type")?;
    let key_b64 = fields.next().ok_or("missing key")?;
    let hosts = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|').ok_or("malformed hashed host name")?;
        let salt = B64
            .decode(salt)
            .map_err(|_| "bad salt in hashed host name")?;
        let hash = B64
            .decode(hash)
            .map_err(|_| "bad hash in hashed host name")?;
        if hash.len() != 20 {
            return Err("hashed host name has a hash of the wrong length".into());
        }
        Hosts::Hashed { salt, hash }
    } else if first.starts_with('|') {
        return Err("unsupported hashed host name format".into());
    } else {
        Hosts::Patterns(first.split(',').map(str::to_string).collect())
    };
    let key = PublicKey::from_openssh(&format!("{key_type} {key_b64}"))
        .map_err(|e| format!("cannot parse {key_type} key: {e}"))?;
    Ok(Some(Entry {
        marker,
        hosts,
        key,
        file: file.to_path_buf(),
        line,
    }))
}

/// Reads every usable line of `file`. A missing file is empty; bad lines are
/// skipped with a warning.
pub fn read_file(file: &Path) -> Vec<Entry> {
    let text = match fs::read(file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!("cannot read known hosts file {}: {e}", file.display());
            return Vec::new();
        }
    };
    parse_text(&text, file)
}

fn parse_text(text: &str, file: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        match parse_line(line, file, idx + 1) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(why) => tracing::warn!("{}:{}: skipping line: {why}", file.display(), idx + 1),
        }
    }
    out
}

/// Checks `key` offered by `host`:`port` against `files` (all of them, in order).
pub fn verify(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let entries: Vec<Entry> = files.iter().flat_map(|f| read_file(f)).collect();
    verify_entries(&entries, host, port, key)
}

fn verify_entries(entries: &[Entry], host: &str, port: u16, key: &PublicKey) -> Verdict {
    if entries
        .iter()
        .any(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
    {
        return Verdict::Revoked;
    }
    let for_host = || {
        entries
            .iter()
            .filter(|e| e.marker == Marker::None && e.matches(host, port))
    };
    if for_host().any(|e| e.key.key_data() == key.key_data()) {
        return Verdict::Trusted;
    }
    match for_host().find(|e| e.key.algorithm() == key.algorithm()) {
        Some(e) => Verdict::Changed {
            file: e.file.clone(),
            line: e.line,
        },
        None => Verdict::Unknown,
    }
}

/// The `@cert-authority` keys that apply to `host`:`port`.
pub fn cert_authorities(files: &[PathBuf], host: &str, port: u16) -> Vec<PublicKey> {
    files
        .iter()
        .flat_map(|f| read_file(f))
        .filter(|e| e.marker == Marker::CertAuthority && e.matches(host, port))
        .map(|e| e.key)
        .collect()
}

/// `SHA256:...`, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// `ssh-ed25519 AAAA...` (no comment).
fn key_text(key: &PublicKey) -> io::Result<String> {
    let full = key
        .to_openssh()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut parts = full.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(t), Some(b)) => Ok(format!("{t} {b}")),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "cannot encode public key",
        )),
    }
}

/// Appends `host key-type base64` (or `[host]:port ...`) to `file`.
///
/// Creates the directory (0700) and file (0600) when missing. Holds an
/// exclusive lock on `<file>.lock` while it re-reads the file and writes, so
/// parallel connections never duplicate or interleave lines: if an entry for
/// this host already lists this key, nothing is written.
pub fn append(file: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    let mut lock_name = file.as_os_str().to_owned();
    lock_name.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(PathBuf::from(lock_name))?;
    fs4::fs_std::FileExt::lock_exclusive(&lock)?;

    let result = (|| {
        let existing = match fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let entries = parse_text(&String::from_utf8_lossy(&existing), file);
        if entries.iter().any(|e| {
            e.marker == Marker::None && e.matches(host, port) && e.key.key_data() == key.key_data()
        }) {
            tracing::debug!(
                "{} already trusts {}; not appending",
                file.display(),
                host_field(host, port)
            );
            return Ok(());
        }
        let mut line = String::new();
        if !existing.is_empty() && !existing.ends_with(b"\n") {
            line.push('\n');
        }
        line.push_str(&host_field(host, port));
        line.push(' ');
        line.push_str(&key_text(key)?);
        line.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    })();
    let _ = fs4::fs_std::FileExt::unlock(&lock);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::Arc;

    const ED1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEMTmu2BIqVPu6lPewbNnrgpEIS7ob7Jox63PL3YMcR+";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJCZyxmyf7GE4AdWQnKk6SIG4YyVqfLh+/0SO51uV+23";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn gen_key(dir: &Path, name: &str, kind: &str) -> Option<PublicKey> {
        let path = dir.join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-f"])
            .arg(&path)
            .status()
            .ok()?
            .success();
        ok.then(|| PublicKey::read_openssh_file(path.with_extension("pub")).unwrap())
    }

    fn check(text: &str, host: &str, port: u16, k: &PublicKey) -> Verdict {
        verify_entries(&parse_text(text, Path::new("kh")), host, port, k)
    }

    #[test]
    fn plain_patterns_ports_and_negation() {
        let k1 = key(ED1);
        let text =
            format!("# comment\n\nnode1,10.0.0.1 {ED1}\n[node2]:2222 {ED1}\nweb* ,!web9 {ED1}\n");
        assert_eq!(check(&text, "node1", 22, &k1), Verdict::Trusted);
        assert_eq!(check(&text, "10.0.0.1", 22, &k1), Verdict::Trusted);
        assert_eq!(check(&text, "NODE1", 22, &k1), Verdict::Trusted);
        // Plain names cover port 22 only.
        assert_eq!(check(&text, "node1", 2222, &k1), Verdict::Unknown);
        assert_eq!(check(&text, "node2", 2222, &k1), Verdict::Trusted);
        assert_eq!(check(&text, "node2", 22, &k1), Verdict::Unknown);
        let text = format!("web*,!web9 {ED1}\n[10.1.*]:* {ED1}\n");
        assert_eq!(check(&text, "web1", 22, &k1), Verdict::Trusted);
        assert_eq!(check(&text, "web9", 22, &k1), Verdict::Unknown);
        assert_eq!(check(&text, "10.1.2.3", 2200, &k1), Verdict::Trusted);
    }

    #[test]
    fn changed_only_for_same_key_type() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = key(ED1);
        let text = format!("other {ED1}\nnode1 {ED2}\n");
        assert_eq!(
            check(&text, "node1", 22, &k1),
            Verdict::Changed {
                file: PathBuf::from("kh"),
                line: 2
            }
        );
        // A line trusting the key wins over one with another key.
        let text = format!("node1 {ED2}\nnode1 {ED1}\n");
        assert_eq!(check(&text, "node1", 22, &k1), Verdict::Trusted);
        // A key of another type for the host does not make it Changed.
        if let Some(rsa) = gen_key(dir.path(), "rsa", "rsa") {
            let text = format!("node1 {}\n", key_text(&rsa).unwrap());
            assert_eq!(check(&text, "node1", 22, &k1), Verdict::Unknown);
        }
    }

    #[test]
    fn markers() {
        let k1 = key(ED1);
        let text = format!("@revoked * {ED1}\nnode1 {ED1}\n");
        assert_eq!(check(&text, "node1", 22, &k1), Verdict::Revoked);
        let text = format!("@cert-authority *.example.com {ED2}\n");
        let entries = parse_text(&text, Path::new("kh"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].marker, Marker::CertAuthority);
        assert!(entries[0].matches("a.example.com", 22));
        // A CA line does not trust its own key as a host key.
        assert_eq!(
            check(&text, "a.example.com", 22, &key(ED2)),
            Verdict::Unknown
        );
    }

    #[test]
    fn bad_lines_are_skipped() {
        let k1 = key(ED1);
        let text = format!(
            "garbage\nnode1 ssh-ed25519 !!notbase64!!\n@bogus node1 {ED1}\n|1|x|y {ED1}\nnode1 {ED1}\n"
        );
        assert_eq!(parse_text(&text, Path::new("kh")).len(), 1);
        assert_eq!(check(&text, "node1", 22, &k1), Verdict::Trusted);
    }

    #[test]
    fn hashed_entries() {
        let k1 = key(ED1);
        // Build one by hand.
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"[node5]:2200");
        let text = format!("|1|{}|{} {ED1}\n", B64.encode(salt), B64.encode(hash));
        assert_eq!(check(&text, "node5", 2200, &k1), Verdict::Trusted);
        assert_eq!(check(&text, "node5", 22, &k1), Verdict::Unknown);

        // And with ssh-keygen -H when available.
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        fs::write(&kh, format!("10.213.0.12 {ED1}\n[node7]:2022 {ED1}\n")).unwrap();
        let hashed = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&kh)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !hashed {
            eprintln!("ssh-keygen not available; skipping the ssh-keygen -H part");
            return;
        }
        let text = fs::read_to_string(&kh).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        assert!(!text.contains("10.213.0.12"));
        let files = [kh];
        assert_eq!(verify(&files, "10.213.0.12", 22, &k1), Verdict::Trusted);
        assert_eq!(verify(&files, "node7", 2022, &k1), Verdict::Trusted);
        assert_eq!(verify(&files, "10.213.0.13", 22, &k1), Verdict::Unknown);
        assert!(matches!(
            verify(&files, "10.213.0.12", 22, &key(ED2)),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn multiple_files_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&b, format!("node1 {ED1}\n")).unwrap();
        let files = [dir.path().join("missing"), a, b.clone()];
        assert_eq!(verify(&files, "node1", 22, &key(ED1)), Verdict::Trusted);
        assert_eq!(
            verify(&files, "node1", 22, &key(ED2)),
            Verdict::Changed { file: b, line: 1 }
        );
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let Some(k) = gen_key(dir.path(), "id", "ed25519") else {
            eprintln!("ssh-keygen not available; skipping");
            return;
        };
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(dir.path().join("id.pub"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = text.split_whitespace().nth(1).unwrap();
        assert_eq!(fingerprint(&k), expected);
        assert!(fingerprint(&k).starts_with("SHA256:"));
    }

    #[test]
    fn append_creates_with_modes_and_dedups() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("sub/dir/known_hosts");
        let k1 = key(ED1);
        append(&kh, "10.0.0.1", 22, &k1).unwrap();
        append(&kh, "10.0.0.1", 22, &k1).unwrap();
        append(&kh, "10.0.0.1", 2222, &k1).unwrap();
        let text = fs::read_to_string(&kh).unwrap();
        assert_eq!(text, format!("10.0.0.1 {ED1}\n[10.0.0.1]:2222 {ED1}\n"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kh), 0o600);
        assert_eq!(mode(kh.parent().unwrap()), 0o700);
        assert_eq!(
            verify(std::slice::from_ref(&kh), "10.0.0.1", 2222, &k1),
            Verdict::Trusted
        );

        // A file without a trailing newline gets one before the new line.
        let kh2 = dir.path().join("kh2");
        fs::write(&kh2, format!("a {ED2}")).unwrap();
        append(&kh2, "b", 22, &k1).unwrap();
        assert_eq!(
            fs::read_to_string(&kh2).unwrap(),
            format!("a {ED2}\nb {ED1}\n")
        );
    }

    #[test]
    fn concurrent_appends_keep_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let kh = Arc::new(dir.path().join("known_hosts"));
        let k1 = Arc::new(key(ED1));
        let threads: Vec<_> = (0..20)
            .map(|i| {
                let kh = kh.clone();
                let k1 = k1.clone();
                std::thread::spawn(move || {
                    append(&kh, &format!("10.0.0.{i}"), 22, &k1).unwrap();
                    // The same host again from another "connection": no duplicate.
                    append(&kh, &format!("10.0.0.{i}"), 22, &k1).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read_to_string(&*kh).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20, "{text}");
        for i in 0..20 {
            let want = format!("10.0.0.{i} {ED1}");
            assert_eq!(lines.iter().filter(|l| **l == want).count(), 1, "{text}");
        }
    }
}
