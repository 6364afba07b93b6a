//! Writing and reading backup archives: one tar stream (every node's agent entries as
//! `data/<node>/<name>`, then `manifest.json`), compressed with zstd or gzip, optionally
//! encrypted with age (a passphrase, or X25519 recipients).
//!
//! Everything streams through fixed buffers: no entry is ever held in memory, whatever its size.
//! Only the manifest (one small record per entry) is.
//!
//! Damage is caught by three layers: age authenticates every 64 KiB chunk; zstd carries a content
//! checksum and gzip a CRC; and the manifest records every file's sha256, which reading checks.
//! Reading therefore goes on to the very end of the file (past the tar end, through the
//! compressor's trailer), or the trailer checks would never run.

use pfproto::hex;
use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, BufReader, BufWriter, Chain, Cursor, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use anyhow::{anyhow, bail, Context, Result};
use pfproto::bundle::{valid_source_name, EntryKind, SourceKind};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tar::EntryType;

pub use super::manifest::Compression;
use super::manifest::{
    data_entry_name, parse_rfc3339, valid_node_name, Entry, Manifest, SourceRecord, DATA_PREFIX,
    FORMAT, MANIFEST_ENTRY,
};

/// Every buffer on the way in and out.
const BUF: usize = 256 * 1024;
const ZSTD_LEVEL: i32 = 3;
/// Level 3 compresses nearly as well as the default 6 at about twice the speed.
const GZIP_LEVEL: u32 = 3;
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// A manifest is read whole; a header claiming more than this is damage, not a manifest.
const MAX_MANIFEST: u64 = 1 << 30;

/// How an archive is encrypted when written.
pub enum Encryption {
    Passphrase(SecretString),
    Recipients(Vec<age::x25519::Recipient>),
}

/// How an encrypted archive is decrypted.
pub enum Decryption {
    Passphrase(SecretString),
    Identities(Vec<age::x25519::Identity>),
}

/// Parses an age X25519 recipient (`age1...`).
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    let s = s.trim();
    s.parse::<age::x25519::Recipient>()
        .map_err(|e| anyhow!("{s:?} is not an age X25519 recipient (age1...): {e}"))
}

/// Parses an age identity file: one `AGE-SECRET-KEY-1...` per line; blank lines and `#`
/// comments are skipped. Errors give line numbers, never the line (it may be a key).
pub fn read_identities(text: &str) -> Result<Vec<age::x25519::Identity>> {
    let mut identities = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = line.parse::<age::x25519::Identity>().map_err(|e| {
            anyhow!(
                "line {} of the identity file is not an age X25519 identity (AGE-SECRET-KEY-1...): {e}",
                i + 1
            )
        })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        bail!("the identity file holds no age identity (a line starting AGE-SECRET-KEY-1)");
    }
    Ok(identities)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// What [`ArchiveWriter::finish`] wrote to its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    pub bytes: u64,
    /// Lowercase hex sha256 of exactly those bytes.
    pub sha256: String,
}

/// Hashes and counts what reaches the output, so the caller need not read the file back.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Sink<W: Write> {
    Plain(HashWriter<W>),
    Age(age::stream::StreamWriter<HashWriter<W>>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

impl<W: Write> Sink<W> {
    fn finish(self) -> io::Result<HashWriter<W>> {
        match self {
            Sink::Plain(w) => Ok(w),
            // Without the final chunk the file does not decrypt at all.
            Sink::Age(w) => w.finish(),
        }
    }
}

enum Compressor<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, Sink<W>>),
    Gzip(flate2::write::GzEncoder<Sink<W>>),
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Zstd(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Zstd(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
        }
    }
}

impl<W: Write> Compressor<W> {
    fn finish(self) -> io::Result<Sink<W>> {
        match self {
            Compressor::Zstd(w) => w.finish(),
            Compressor::Gzip(w) => w.finish(),
        }
    }
}

/// Hashes and counts what is read through it; remembers whether reading failed, so an error
/// from `tar::Builder::append` can be blamed on the right side.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    failed: bool,
}

impl<R: Read> HashReader<R> {
    fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            failed: false,
        }
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

/// Writes one archive. Feed it each node's agent stream with
/// [`append_node_stream`](Self::append_node_stream), then [`finish`](Self::finish) it with the
/// manifest. After any error the archive is incomplete: every later call fails, and the caller
/// should delete the output.
pub struct ArchiveWriter<W: Write> {
    tar: tar::Builder<BufWriter<Compressor<W>>>,
    compression: Compression,
    encrypted: bool,
    /// Archive names written, to refuse a second entry of the same name.
    names: HashSet<String>,
    /// An order-independent digest of the entries written, to check the manifest against.
    digest: EntryDigest,
    failed: bool,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: W, compression: Compression, encryption: Option<&Encryption>) -> Result<Self> {
        Self::with_work_factor(out, compression, encryption, None)
    }

    /// `log_n` overrides the passphrase's scrypt work factor; age otherwise picks ~1 s on this
    /// machine, too slow for tests.
    fn with_work_factor(
        out: W,
        compression: Compression,
        encryption: Option<&Encryption>,
        log_n: Option<u8>,
    ) -> Result<Self> {
        let out = HashWriter {
            inner: out,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let sink = match encryption {
            None => Sink::Plain(out),
            Some(encryption) => {
                let encryptor = match encryption {
                    Encryption::Passphrase(passphrase) => {
                        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
                        if let Some(log_n) = log_n {
                            recipient.set_work_factor(log_n);
                        }
                        age::Encryptor::with_recipients(std::iter::once(
                            &recipient as &dyn age::Recipient,
                        ))
                    }
                    Encryption::Recipients(recipients) => {
                        if recipients.is_empty() {
                            bail!("no age recipients to encrypt the archive to");
                        }
                        age::Encryptor::with_recipients(
                            recipients.iter().map(|r| r as &dyn age::Recipient),
                        )
                    }
                }
                .map_err(|e| anyhow!("setting up age encryption: {e}"))?;
                Sink::Age(
                    encryptor
                        .wrap_output(out)
                        .context("writing the archive's age header")?,
                )
            }
        };
        let compressor = match compression {
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)
                    .context("setting up zstd compression")?;
                encoder
                    .include_checksum(true)
                    .context("enabling the zstd checksum")?;
                Compressor::Zstd(encoder)
            }
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::new(GZIP_LEVEL),
            )),
        };
        Ok(ArchiveWriter {
            tar: tar::Builder::new(BufWriter::with_capacity(BUF, compressor)),
            compression,
            encrypted: encryption.is_some(),
            names: HashSet::new(),
            digest: EntryDigest::default(),
            failed: false,
        })
    }

    fn usable(&self) -> Result<()> {
        if self.failed {
            bail!("the archive writer failed earlier, so the archive is incomplete; delete it and start the backup again");
        }
        Ok(())
    }

    /// Reads one agent tar stream to its end; re-emits every entry as `data/<node>/<name>` with
    /// the same kind, size, mode (permission bits), owner, mtime and symlink target; hashes file
    /// contents on the way. Returns the manifest entries, in stream order. `sources` may hold
    /// every node's records: only this node's are used, and every entry's first component must
    /// name one of them.
    pub fn append_node_stream(
        &mut self,
        node: &str,
        sources: &[SourceRecord],
        stream: impl Read,
    ) -> Result<Vec<Entry>> {
        self.usable()?;
        let result = self.append_inner(node, sources, stream);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn append_inner(
        &mut self,
        node: &str,
        sources: &[SourceRecord],
        stream: impl Read,
    ) -> Result<Vec<Entry>> {
        if !valid_node_name(node) {
            bail!(
                "node name {node:?} cannot go into an archive: node names must be [A-Za-z0-9_.-]+"
            );
        }
        let mine: Vec<&SourceRecord> = sources.iter().filter(|s| s.node == node).collect();
        let mut archive = tar::Archive::new(BufReader::with_capacity(BUF, stream));
        let mut out = Vec::new();
        let mut last: Option<String> = None;
        let entries = archive
            .entries()
            .with_context(|| format!("reading node {node}'s backup stream"))?;
        for item in entries {
            let mut entry = item.with_context(|| match &last {
                Some(l) => format!("reading node {node}'s backup stream after entry {l}"),
                None => format!("reading node {node}'s backup stream at its start"),
            })?;
            let entry_type = entry.header().entry_type();
            let raw = entry.path_bytes().into_owned();
            let name = clean_name(&raw).map_err(|why| {
                anyhow!(
                    "node {node} sent an entry named {:?}: {why}",
                    String::from_utf8_lossy(&raw)
                )
            })?;
            let kind = match entry_type {
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    EntryKind::File
                }
                EntryType::Directory => EntryKind::Dir,
                EntryType::Symlink => EntryKind::Symlink,
                other => bail!(
                    "node {node} sent entry {name} of tar type {other:?}; a backup holds only files, directories and symlinks"
                ),
            };
            let source_name = name.split('/').next().unwrap_or_default();
            let source = mine
                .iter()
                .find(|s| s.name == source_name)
                .ok_or_else(|| {
                    let known: Vec<&str> = mine.iter().map(|s| s.name.as_str()).collect();
                    anyhow!(
                        "node {node} sent entry {name}, but {source_name} is not one of its sources ({})",
                        if known.is_empty() { "it has none".to_string() } else { known.join(", ") }
                    )
                })?;
            let rel = name.get(source_name.len() + 1..).unwrap_or_default();
            let path = node_path(source, rel)?;
            let archive_name = data_entry_name(node, &name);
            if !self.names.insert(archive_name.clone()) {
                bail!("node {node} sent entry {name} twice");
            }
            let header = entry.header();
            let bad_field = |field: &str, e: io::Error| {
                anyhow!("node {node} sent entry {name} with an unreadable {field}: {e}")
            };
            let mode = header.mode().map_err(|e| bad_field("mode", e))? & 0o7777;
            let uid = header.uid().map_err(|e| bad_field("uid", e))?;
            let gid = header.gid().map_err(|e| bad_field("gid", e))?;
            let mtime = header.mtime().map_err(|e| bad_field("mtime", e))?;
            let link = if kind == EntryKind::Symlink {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| anyhow!("node {node} sent symlink {name} without a target"))?;
                let target = String::from_utf8(target.into_owned()).map_err(|e| {
                    anyhow!(
                        "node {node} sent symlink {name} whose target {:?} is not UTF-8",
                        String::from_utf8_lossy(e.as_bytes())
                    )
                })?;
                if target.is_empty() {
                    bail!("node {node} sent symlink {name} without a target");
                }
                Some(target)
            } else {
                None
            };
            let size = if kind == EntryKind::File {
                entry.size()
            } else {
                0
            };

            let mut out_header = tar::Header::new_gnu();
            out_header.set_entry_type(match kind {
                EntryKind::File => EntryType::Regular,
                EntryKind::Dir => EntryType::Directory,
                EntryKind::Symlink => EntryType::Symlink,
            });
            out_header.set_mode(mode);
            out_header.set_uid(uid);
            out_header.set_gid(gid);
            out_header.set_mtime(mtime);
            out_header.set_size(size);
            let sha256 = match kind {
                EntryKind::File => {
                    let mut data = HashReader::new(&mut entry);
                    let written = self
                        .tar
                        .append_data(&mut out_header, &archive_name, &mut data);
                    if let Err(e) = written {
                        return Err(if data.failed {
                            anyhow!("reading entry {name} from node {node}'s backup stream: {e}")
                        } else {
                            anyhow!("writing entry {archive_name} to the archive: {e}")
                        });
                    }
                    if data.bytes != size {
                        bail!(
                            "node {node}'s backup stream ended inside entry {name} ({} of {size} bytes)",
                            data.bytes
                        );
                    }
                    Some(hex(&data.hasher.finalize()))
                }
                EntryKind::Dir => {
                    self.tar
                        .append_data(&mut out_header, &archive_name, io::empty())
                        .with_context(|| format!("writing entry {archive_name} to the archive"))?;
                    None
                }
                EntryKind::Symlink => {
                    append_symlink(
                        &mut self.tar,
                        &mut out_header,
                        &archive_name,
                        link.as_deref().unwrap_or_default(),
                    )
                    .with_context(|| format!("writing entry {archive_name} to the archive"))?;
                    None
                }
            };
            let record = Entry {
                node: node.to_string(),
                source: source_name.to_string(),
                name: name.clone(),
                path,
                kind,
                size,
                mode,
                uid,
                gid,
                mtime,
                sha256,
                link,
            };
            self.digest.add(&record);
            out.push(record);
            last = Some(name);
        }
        Ok(out)
    }

    /// Writes `manifest.json` last, then finishes tar, compression and encryption and flushes.
    /// Returns `out` and what was written to it. The manifest must list exactly the entries
    /// [`append_node_stream`](Self::append_node_stream) returned, and agree on compression and
    /// encryption.
    pub fn finish(self, manifest: &Manifest) -> Result<(W, Written)> {
        self.usable()?;
        if manifest.format != FORMAT {
            bail!(
                "the manifest has format {}, but this pfctl writes format {FORMAT}",
                manifest.format
            );
        }
        if manifest.compression != self.compression {
            bail!(
                "the manifest says {} compression, but the archive is being written with {}",
                manifest.compression,
                self.compression
            );
        }
        if manifest.encrypted != self.encrypted {
            bail!(
                "the manifest says encrypted: {}, but the archive is being written {}",
                manifest.encrypted,
                if self.encrypted {
                    "encrypted"
                } else {
                    "unencrypted"
                }
            );
        }
        let mut digest = EntryDigest::default();
        manifest.entries.iter().for_each(|e| digest.add(e));
        if digest != self.digest {
            bail!(
                "the manifest's {} entries are not the {} entries written to the archive (changed, missing or extra); pass exactly what append_node_stream returned",
                manifest.entries.len(),
                self.digest.count
            );
        }
        let json = serde_json::to_vec_pretty(manifest).context("encoding the manifest")?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(parse_rfc3339(&manifest.created).unwrap_or(0));
        header.set_size(json.len() as u64);
        let ArchiveWriter { mut tar, .. } = self;
        tar.append_data(&mut header, MANIFEST_ENTRY, &json[..])
            .context("writing manifest.json to the archive")?;
        let buffered = tar.into_inner().context("ending the tar stream")?;
        let compressor = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .context("writing the archive")?;
        let sink = compressor
            .finish()
            .context("ending the compressed stream")?;
        let mut out = sink.finish().context("ending the age encryption")?;
        out.flush().context("flushing the archive")?;
        let HashWriter {
            inner,
            hasher,
            bytes,
        } = out;
        Ok((
            inner,
            Written {
                bytes,
                sha256: hex(&hasher.finalize()),
            },
        ))
    }
}

/// Count and wrapping sum of each entry's sha256, so order does not matter.
#[derive(Default, PartialEq, Eq)]
struct EntryDigest {
    count: u64,
    sum: [u64; 4],
}

impl EntryDigest {
    fn add(&mut self, entry: &Entry) {
        let json = serde_json::to_vec(entry).unwrap_or_default();
        let h = Sha256::digest(&json);
        for (i, lane) in self.sum.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&h[i * 8..i * 8 + 8]);
            *lane = lane.wrapping_add(u64::from_le_bytes(word));
        }
        self.count += 1;
    }
}

/// The tar crate normalises link targets it writes (`a/./b` becomes `a/b`); a restore must put
/// back exactly what was read, so the target goes in raw (as a GNU long link when it does not fit).
fn append_symlink<W: Write>(
    tar: &mut tar::Builder<W>,
    header: &mut tar::Header,
    path: &str,
    target: &str,
) -> io::Result<()> {
    let bytes = target.as_bytes();
    let slot_len = header.as_old().linkname.len();
    if bytes.len() > slot_len {
        let mut long = tar::Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_size(bytes.len() as u64 + 1);
        long.set_entry_type(EntryType::GNULongLink);
        long.set_cksum();
        tar.append(&long, bytes.chain(&[0u8][..]))?;
    }
    let slot = &mut header.as_old_mut().linkname;
    slot.fill(0);
    let n = bytes.len().min(slot_len);
    slot[..n].copy_from_slice(&bytes[..n]);
    tar.append_data(header, path, io::empty())
}

/// An agent entry name, checked and normalised (no trailing `/`): relative, no empty, `.` or
/// `..` components, UTF-8, and a valid source name first.
fn clean_name(raw: &[u8]) -> std::result::Result<String, &'static str> {
    let name = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8")?;
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.starts_with('/') {
        return Err("the name is absolute");
    }
    for component in name.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err("the name has an empty, `.` or `..` component");
        }
    }
    if !valid_source_name(name.split('/').next().unwrap_or_default()) {
        return Err("its first component is not a valid source name ([A-Za-z0-9_.-]+)");
    }
    Ok(name.to_string())
}

/// Where an entry lives on its node: the path source's root joined with `rel`; for a volume,
/// `<volume>:<rel>` with `rel` relative to the volume's root (so including the source's part).
fn node_path(source: &SourceRecord, rel: &str) -> Result<String> {
    let join = |base: &str, rel: &str| -> String {
        match (base.trim_end_matches('/'), rel) {
            (b, "") if b.is_empty() && base.starts_with('/') => "/".to_string(),
            (_, "") => base.to_string(),
            (b, r) => format!("{b}/{r}"),
        }
    };
    match source.kind {
        SourceKind::Path => {
            let root = source.path.as_deref().ok_or_else(|| {
                anyhow!(
                    "source {} of node {} is a path source without a path",
                    source.name,
                    source.node
                )
            })?;
            Ok(join(root, rel))
        }
        SourceKind::Volume => {
            let volume = source.volume.as_deref().ok_or_else(|| {
                anyhow!(
                    "source {} of node {} is a volume source without a volume name",
                    source.name,
                    source.node
                )
            })?;
            let part = source.path.as_deref().unwrap_or_default().trim_matches('/');
            let inner = match (part, rel) {
                ("", r) => r.to_string(),
                (p, "") => p.to_string(),
                (p, r) => format!("{p}/{r}"),
            };
            Ok(format!("{volume}:{inner}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(thiserror::Error, Debug)]
pub enum ArchiveError {
    #[error("not a pfctl backup archive: {0}")]
    NotAnArchive(String),
    #[error("{}", needs_decryption(*passphrase))]
    NeedsDecryption { passphrase: bool },
    #[error("{0}")]
    WrongKey(String),
    #[error("{}", damaged(entry.as_deref(), detail))]
    Damaged {
        entry: Option<String>,
        detail: String,
    },
    #[error("the archive does not match its manifest at entry {entry}: {detail}")]
    Mismatch { entry: String, detail: String },
    #[error("the archive has no manifest.json at its end: it is incomplete (an interrupted backup?) or not a pfctl backup")]
    MissingManifest,
    #[error("reading the archive: {0}")]
    Io(io::Error),
    #[error("{0:#}")]
    Callback(anyhow::Error),
}

fn needs_decryption(passphrase: bool) -> &'static str {
    if passphrase {
        "the archive is encrypted with a passphrase: give the passphrase to read it"
    } else {
        "the archive is encrypted to age recipients: give an identity file holding the key (AGE-SECRET-KEY-1...) of one of them"
    }
}

fn damaged(entry: Option<&str>, detail: &str) -> String {
    match entry {
        Some(entry) => format!("the archive is damaged in entry {entry}: {detail}"),
        None => format!("the archive is damaged: {detail}"),
    }
}

/// What [`ArchiveReader::verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifyReport {
    /// Data entries (everything but the manifest).
    pub entries: u64,
    pub files: u64,
    /// Bytes of file contents.
    pub bytes: u64,
    /// Size of the archive file as read.
    pub archive_bytes: u64,
    /// Lowercase hex sha256 of the archive file as read (compare with the sidecar record's).
    pub archive_sha256: String,
}

/// One data entry as the archive holds it, handed to [`ArchiveReader::walk`]'s callback.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryMeta {
    pub node: String,
    /// The agent's entry name: `<source>` or `<source>/<rel>`.
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
}

impl EntryMeta {
    pub fn archive_name(&self) -> String {
        data_entry_name(&self.node, &self.name)
    }
}

/// Which layer of the stack an I/O error came from, so that it can be reported as damage (and
/// where) or as a failure to read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Input,
    Age,
    Zstd,
    Gzip,
}

#[derive(Debug)]
struct LayerError {
    layer: Layer,
    source: io::Error,
}

impl std::fmt::Display for LayerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layer = match self.layer {
            Layer::Input => "read",
            Layer::Age => "age",
            Layer::Zstd => "zstd",
            Layer::Gzip => "gzip",
        };
        write!(f, "{layer}: {}", self.source)
    }
}

impl std::error::Error for LayerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Tags an error with the innermost layer it passed through (an outer layer leaves it be).
fn tag(e: io::Error, layer: Layer) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<LayerError>()) {
        e
    } else {
        io::Error::new(e.kind(), LayerError { layer, source: e })
    }
}

/// Where reading was when an error happened.
#[derive(Clone, Copy)]
enum At<'a> {
    In(&'a str),
    After(Option<&'a str>),
}

fn classify(e: io::Error, at: At<'_>) -> ArchiveError {
    let layer = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<LayerError>())
        .map(|le| le.layer);
    if layer == Some(Layer::Input) {
        let kind = e.kind();
        return match e.into_inner().map(|inner| inner.downcast::<LayerError>()) {
            Some(Ok(le)) => ArchiveError::Io(le.source),
            _ => ArchiveError::Io(io::Error::from(kind)),
        };
    }
    // Untagged errors are the tar parser's own.
    let detail = match layer {
        Some(_) => e.to_string(),
        None => format!("tar: {e}"),
    };
    match at {
        At::In(entry) => ArchiveError::Damaged {
            entry: Some(entry.to_string()),
            detail,
        },
        At::After(Some(last)) => ArchiveError::Damaged {
            entry: None,
            detail: format!("after entry {last}: {detail}"),
        },
        At::After(None) => ArchiveError::Damaged {
            entry: None,
            detail: format!("at the start of the archive: {detail}"),
        },
    }
}

#[derive(Default)]
struct InputStats {
    hasher: Sha256,
    bytes: u64,
}

/// The archive file itself. Shared stats, because age's reader does not give its inner reader back.
struct Input<R> {
    inner: R,
    stats: Arc<Mutex<InputStats>>,
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| tag(e, Layer::Input))?;
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.hasher.update(&buf[..n]);
        stats.bytes += n as u64;
        Ok(n)
    }
}

/// A reader with its first bytes (read to find the format) put back in front.
type Peeked<R> = Chain<Cursor<Vec<u8>>, R>;

enum Plain<R: Read> {
    Raw(Peeked<Input<R>>),
    Age(age::stream::StreamReader<BufReader<Peeked<Input<R>>>>),
}

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plain::Raw(r) => r.read(buf),
            Plain::Age(r) => r.read(buf).map_err(|e| tag(e, Layer::Age)),
        }
    }
}

enum Decompressor<R: Read> {
    Zstd(zstd::stream::read::Decoder<'static, BufReader<Peeked<Plain<R>>>>),
    Gzip(flate2::bufread::GzDecoder<BufReader<Peeked<Plain<R>>>>),
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressor::Zstd(r) => r.read(buf).map_err(|e| tag(e, Layer::Zstd)),
            Decompressor::Gzip(r) => r.read(buf).map_err(|e| tag(e, Layer::Gzip)),
        }
    }
}

impl<R: Read> Decompressor<R> {
    /// What lies after the compressed stream.
    fn rest(&mut self) -> &mut BufReader<Peeked<Plain<R>>> {
        match self {
            Decompressor::Zstd(r) => r.get_mut(),
            Decompressor::Gzip(r) => r.get_mut(),
        }
    }
}

/// Reads up to `n` bytes (fewer only at the end of the input).
fn read_prefix(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn show_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads one archive, checking it all the way. Get one with [`open`].
pub struct ArchiveReader<R: Read> {
    tar: tar::Archive<Decompressor<R>>,
    compression: Compression,
    encrypted: bool,
    stats: Arc<Mutex<InputStats>>,
}

/// Opens an archive: finds its format by its first bytes (age, then zstd or gzip) and sets up
/// decryption. `decrypt` is ignored for an unencrypted archive.
pub fn open<R: Read>(
    input: R,
    decrypt: Option<&Decryption>,
) -> std::result::Result<ArchiveReader<R>, ArchiveError> {
    let stats = Arc::new(Mutex::new(InputStats::default()));
    let mut input = Input {
        inner: input,
        stats: stats.clone(),
    };
    let head =
        read_prefix(&mut input, AGE_MAGIC.len()).map_err(|e| classify(e, At::After(None)))?;
    let encrypted = head.starts_with(AGE_MAGIC);
    let raw = Cursor::new(head.clone()).chain(input);
    let mut plain = if encrypted {
        Plain::Age(decrypt_age(raw, decrypt)?)
    } else {
        Plain::Raw(raw)
    };
    let head =
        read_prefix(&mut plain, ZSTD_MAGIC.len()).map_err(|e| classify(e, At::After(None)))?;
    let peeked = BufReader::with_capacity(BUF, Cursor::new(head.clone()).chain(plain));
    let (decompressor, compression) = if head.starts_with(ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(peeked).map_err(|e| {
            ArchiveError::Io(io::Error::new(e.kind(), format!("setting up zstd: {e}")))
        })?;
        (Decompressor::Zstd(decoder), Compression::Zstd)
    } else if head.starts_with(GZIP_MAGIC) {
        (
            Decompressor::Gzip(flate2::bufread::GzDecoder::new(peeked)),
            Compression::Gzip,
        )
    } else if encrypted {
        return Err(ArchiveError::NotAnArchive(format!(
            "it decrypts, but to neither zstd nor gzip data (first bytes: {})",
            show_bytes(&head)
        )));
    } else if head.is_empty() {
        return Err(ArchiveError::NotAnArchive("the file is empty".to_string()));
    } else {
        return Err(ArchiveError::NotAnArchive(format!(
            "it starts with bytes {}, not the age, zstd or gzip magic",
            show_bytes(&head)
        )));
    };
    Ok(ArchiveReader {
        tar: tar::Archive::new(decompressor),
        compression,
        encrypted,
        stats,
    })
}

fn decrypt_age<R: Read>(
    raw: Peeked<Input<R>>,
    decrypt: Option<&Decryption>,
) -> std::result::Result<age::stream::StreamReader<BufReader<Peeked<Input<R>>>>, ArchiveError> {
    use age::DecryptError as D;
    let decryptor =
        age::Decryptor::new_buffered(BufReader::with_capacity(BUF, raw)).map_err(|e| match e {
            D::Io(e) => classify(tag(e, Layer::Age), At::After(None)),
            other => ArchiveError::Damaged {
                entry: None,
                detail: format!("the age header is unreadable: {}", age_error(&other)),
            },
        })?;
    let passphrase = decryptor.is_scrypt();
    let Some(decrypt) = decrypt else {
        return Err(ArchiveError::NeedsDecryption { passphrase });
    };
    let result = match decrypt {
        Decryption::Passphrase(secret) => {
            if !passphrase {
                return Err(ArchiveError::WrongKey(
                    "this archive is encrypted to age recipients, not with a passphrase: give an identity file holding the key of one of its recipients".to_string(),
                ));
            }
            let identity = age::scrypt::Identity::new(secret.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
        Decryption::Identities(identities) => {
            if passphrase {
                return Err(ArchiveError::WrongKey(
                    "this archive is encrypted with a passphrase, not to age recipients: give its passphrase".to_string(),
                ));
            }
            decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        }
    };
    result.map_err(|e| match e {
        D::DecryptionFailed | D::KeyDecryptionFailed | D::NoMatchingKeys => {
            ArchiveError::WrongKey(if passphrase {
                "wrong passphrase for this archive (or its age header is damaged)".to_string()
            } else {
                "none of the identities given can decrypt this archive: it is encrypted to other recipients (or its age header is damaged)".to_string()
            })
        }
        D::Io(e) => classify(tag(e, Layer::Age), At::After(None)),
        other => ArchiveError::Damaged {
            entry: None,
            detail: format!("age header: {}", age_error(&other)),
        },
    })
}

fn age_error(e: &age::DecryptError) -> String {
    use age::DecryptError as D;
    match e {
        D::InvalidMac => "its MAC does not match (the header was damaged or changed)".to_string(),
        D::InvalidHeader => "it is malformed".to_string(),
        D::UnknownFormat => "it is of an unknown (newer?) age format".to_string(),
        D::ExcessiveWork { required, target } => format!(
            "its passphrase work factor 2^{required} is far above this machine's 2^{target}; refusing to spend that long"
        ),
        other => other.to_string(),
    }
}

/// Reads one entry's data for the callback: hashes and counts, and keeps the first read error
/// so that damage is reported as damage even when the callback turns it into its own error.
struct DataReader<'a> {
    entry: &'a mut dyn Read,
    hasher: Sha256,
    bytes: u64,
    error: Option<io::Error>,
}

impl Read for DataReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        match self.entry.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}

/// What reading saw of one data entry, kept until the manifest (the last entry) can be compared.
struct Seen {
    order: u64,
    kind: EntryKind,
    size: u64,
    sha256: Option<String>,
    link: Option<String>,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// `data/<node>/<name>` -> (node, name), with both checked as the writer checks them.
fn split_data_name(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix(DATA_PREFIX)?;
    let (node, agent_name) = rest.split_once('/')?;
    if !valid_node_name(node) {
        return None;
    }
    let agent_name = clean_name(agent_name.as_bytes()).ok()?;
    Some((node.to_string(), agent_name))
}

impl<R: Read> ArchiveReader<R> {
    /// What the file's first bytes said.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// Reads everything; hashes every file; at the end parses `manifest.json` and checks that
    /// every manifest entry was there with the same kind, size, sha256, link, mode, owner and
    /// mtime, and nothing else was.
    pub fn verify(self) -> std::result::Result<(Manifest, VerifyReport), ArchiveError> {
        self.walk(|_, _| Ok(()))
    }

    /// Like [`verify`](Self::verify), and calls `f` for each data entry with its contents (empty
    /// for directories and symlinks). Whatever `f` leaves unread is read (and checked) after it.
    /// The checks against the manifest can only run at the end: a caller that commits what it
    /// was given must wait for `walk` to return `Ok`.
    pub fn walk(
        self,
        mut f: impl FnMut(&EntryMeta, &mut dyn Read) -> anyhow::Result<()>,
    ) -> std::result::Result<(Manifest, VerifyReport), ArchiveError> {
        let ArchiveReader {
            mut tar,
            compression,
            encrypted,
            stats,
        } = self;
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut manifest_bytes: Option<Vec<u8>> = None;
        let mut last: Option<String> = None;
        let mut report = VerifyReport::default();
        let mut buf = vec![0u8; BUF];
        let entries = tar.entries().map_err(|e| classify(e, At::After(None)))?;
        for item in entries {
            let mut entry = item.map_err(|e| classify(e, At::After(last.as_deref())))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw)
                .trim_end_matches('/')
                .to_string();
            if manifest_bytes.is_some() {
                return Err(ArchiveError::Mismatch {
                    entry: name,
                    detail: "it comes after manifest.json, which must be the last entry"
                        .to_string(),
                });
            }
            let entry_type = entry.header().entry_type();
            if name == MANIFEST_ENTRY {
                if entry_type != EntryType::Regular {
                    return Err(ArchiveError::Mismatch {
                        entry: name,
                        detail: format!("it is a {entry_type:?}, not a file"),
                    });
                }
                let size = entry.size();
                if size > MAX_MANIFEST {
                    return Err(ArchiveError::Damaged {
                        entry: Some(name),
                        detail: format!("its header claims an implausible {size} bytes"),
                    });
                }
                let mut bytes = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| classify(e, At::In(&name)))?;
                if bytes.len() as u64 != size {
                    return Err(ArchiveError::Damaged {
                        entry: Some(name),
                        detail: format!(
                            "the archive ends inside it ({} of {size} bytes)",
                            bytes.len()
                        ),
                    });
                }
                manifest_bytes = Some(bytes);
                last = Some(name);
                continue;
            }
            let Some((node, agent_name)) = split_data_name(&name) else {
                return Err(ArchiveError::Mismatch {
                    entry: name,
                    detail: "it is neither data/<node>/<source>[/<path>] nor manifest.json"
                        .to_string(),
                });
            };
            let kind = match entry_type {
                EntryType::Regular | EntryType::Continuous => EntryKind::File,
                EntryType::Directory => EntryKind::Dir,
                EntryType::Symlink => EntryKind::Symlink,
                other => {
                    return Err(ArchiveError::Mismatch {
                        entry: name,
                        detail: format!(
                            "it has tar type {other:?}; pfctl archives hold only files, directories and symlinks"
                        ),
                    })
                }
            };
            let header = entry.header();
            let field = |r: io::Result<u64>| r.map_err(|e| classify(e, At::In(&name)));
            let mode = field(header.mode().map(u64::from))? as u32;
            let uid = field(header.uid())?;
            let gid = field(header.gid())?;
            let mtime = field(header.mtime())?;
            let link = match kind {
                EntryKind::Symlink => match entry.link_name_bytes() {
                    Some(target) if !target.is_empty() => {
                        Some(String::from_utf8_lossy(&target).into_owned())
                    }
                    _ => {
                        return Err(ArchiveError::Mismatch {
                            entry: name,
                            detail: "it is a symlink without a target".to_string(),
                        })
                    }
                },
                _ => None,
            };
            let meta = EntryMeta {
                node,
                name: agent_name,
                kind,
                size: if kind == EntryKind::File {
                    entry.size()
                } else {
                    0
                },
                mode,
                uid,
                gid,
                mtime,
                link,
            };

            let mut data = DataReader {
                entry: &mut entry,
                hasher: Sha256::new(),
                bytes: 0,
                error: None,
            };
            let called = f(&meta, &mut data);
            if let Some(e) = data.error.take() {
                return Err(classify(e, At::In(&name)));
            }
            if let Err(e) = called {
                return Err(ArchiveError::Callback(
                    e.context(format!("at archive entry {name}")),
                ));
            }
            loop {
                match data.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => {
                        let e = data
                            .error
                            .take()
                            .unwrap_or_else(|| io::Error::other("read"));
                        return Err(classify(e, At::In(&name)));
                    }
                }
            }
            if data.bytes != meta.size {
                return Err(ArchiveError::Damaged {
                    entry: Some(name),
                    detail: format!(
                        "the archive ends inside it ({} of {} bytes)",
                        data.bytes, meta.size
                    ),
                });
            }
            let sha256 = (kind == EntryKind::File).then(|| hex(&data.hasher.finalize()));
            report.entries += 1;
            if kind == EntryKind::File {
                report.files += 1;
                report.bytes += meta.size;
            }
            let record = Seen {
                order: report.entries,
                kind,
                size: meta.size,
                sha256,
                link: meta.link,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime,
            };
            if seen.insert(name.clone(), record).is_some() {
                return Err(ArchiveError::Mismatch {
                    entry: name,
                    detail: "it appears twice in the archive".to_string(),
                });
            }
            last = Some(name);
        }

        let Some(bytes) = manifest_bytes else {
            // A truncated archive says more about itself through the compressor than through
            // the missing manifest.
            finish_stream(tar, last.as_deref())?;
            return Err(ArchiveError::MissingManifest);
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Damaged {
                entry: Some(MANIFEST_ENTRY.to_string()),
                detail: format!("it is not a valid manifest: {e}"),
            })?;
        drop(bytes);
        // Both checks run: when the stream's own checksum fails too, the first entry that
        // disagrees with the manifest is the best guess of where the damage is, but it is damage
        // (the manifest may be the damaged part), not a disagreement.
        let disagreement = check_manifest(&manifest, compression, encrypted, seen).err();
        match (finish_stream(tar, last.as_deref()), disagreement) {
            (Ok(()), None) => {}
            (Ok(()), Some(e)) => return Err(e),
            (
                Err(ArchiveError::Damaged { detail, .. }),
                Some(ArchiveError::Mismatch {
                    entry,
                    detail: found,
                }),
            ) => {
                return Err(ArchiveError::Damaged {
                    entry: Some(entry),
                    detail: format!("{found} (and the stream fails its own check: {detail})"),
                })
            }
            (Err(e), _) => return Err(e),
        }
        let stats = std::mem::take(&mut *stats.lock().unwrap_or_else(|p| p.into_inner()));
        report.archive_bytes = stats.bytes;
        report.archive_sha256 = hex(&stats.hasher.finalize());
        Ok((manifest, report))
    }
}

/// Reads past the end of the tar stream to the end of the file, so that the zstd checksum,
/// gzip CRC and last age chunk are checked, and nothing follows them.
fn finish_stream<R: Read>(
    tar: tar::Archive<Decompressor<R>>,
    last: Option<&str>,
) -> std::result::Result<(), ArchiveError> {
    let mut decompressor = tar.into_inner();
    let mut buf = vec![0u8; BUF];
    let mut nonzero = 0u64;
    loop {
        let n = decompressor
            .read(&mut buf)
            .map_err(|e| classify(e, At::After(last)))?;
        if n == 0 {
            break;
        }
        nonzero += buf[..n].iter().filter(|b| **b != 0).count() as u64;
    }
    if nonzero > 0 {
        return Err(ArchiveError::Damaged {
            entry: None,
            detail: format!(
                "after entry {}: {nonzero} unexpected non-zero bytes after the end of the tar stream",
                last.unwrap_or("(none)")
            ),
        });
    }
    // A gzip member ends at its trailer; a decoder would ignore anything after it.
    let mut trailing = 0u64;
    let rest = decompressor.rest();
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| classify(e, At::After(last)))?;
        if n == 0 {
            break;
        }
        trailing += n as u64;
    }
    if trailing > 0 {
        return Err(ArchiveError::Damaged {
            entry: None,
            detail: format!("{trailing} bytes of unexpected data after the compressed stream"),
        });
    }
    Ok(())
}

fn check_manifest(
    manifest: &Manifest,
    compression: Compression,
    encrypted: bool,
    mut seen: HashMap<String, Seen>,
) -> std::result::Result<(), ArchiveError> {
    let manifest_says = |detail: String| ArchiveError::Mismatch {
        entry: MANIFEST_ENTRY.to_string(),
        detail,
    };
    if manifest.format != FORMAT {
        return Err(manifest_says(format!(
            "it has format {}; this pfctl reads format {FORMAT} (was it written by a newer pfctl?)",
            manifest.format
        )));
    }
    if manifest.compression != compression {
        return Err(manifest_says(format!(
            "it says {} compression, but the archive is {compression}",
            manifest.compression
        )));
    }
    if manifest.encrypted != encrypted {
        return Err(manifest_says(format!(
            "it says encrypted: {}, but the archive is {}",
            manifest.encrypted,
            if encrypted {
                "encrypted"
            } else {
                "not encrypted"
            }
        )));
    }
    let mut listed = HashSet::new();
    for e in &manifest.entries {
        let name = e.archive_name();
        let mismatch = |detail: String| ArchiveError::Mismatch {
            entry: name.clone(),
            detail,
        };
        if !listed.insert(name.clone()) {
            return Err(mismatch("the manifest lists it twice".to_string()));
        }
        if e.name.split('/').next() != Some(e.source.as_str()) {
            return Err(mismatch(format!(
                "the manifest gives it source {}, which its name does not start with",
                e.source
            )));
        }
        let Some(s) = seen.remove(&name) else {
            return Err(mismatch(
                "the manifest lists it, but the archive does not hold it".to_string(),
            ));
        };
        let differ = |what: &str, want: String, got: String| {
            Err(ArchiveError::Mismatch {
                entry: name.clone(),
                detail: format!("the manifest says {what} {want}, the archive has {got}"),
            })
        };
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".to_string());
        if s.kind != e.kind {
            return differ("kind", format!("{:?}", e.kind), format!("{:?}", s.kind));
        }
        if s.size != e.size {
            return differ("size", e.size.to_string(), s.size.to_string());
        }
        if s.sha256 != e.sha256 {
            return differ("sha256", opt(&e.sha256), opt(&s.sha256));
        }
        if s.link != e.link {
            return differ("symlink target", opt(&e.link), opt(&s.link));
        }
        if s.mode != e.mode {
            return differ("mode", format!("{:o}", e.mode), format!("{:o}", s.mode));
        }
        if (s.uid, s.gid) != (e.uid, e.gid) {
            return differ(
                "owner",
                format!("{}:{}", e.uid, e.gid),
                format!("{}:{}", s.uid, s.gid),
            );
        }
        if s.mtime != e.mtime {
            return differ("mtime", e.mtime.to_string(), s.mtime.to_string());
        }
    }
    if let Some((name, _)) = seen.iter().min_by_key(|(_, s)| s.order) {
        return Err(ArchiveError::Mismatch {
            entry: name.clone(),
            detail: "the archive holds it, but the manifest does not list it".to_string(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deep verification

/// Verifies as [`ArchiveReader::verify`] does, and also extracts every entry into
/// `scratch/<node>/<name>` (which must be empty or absent), then reads the extracted files back
/// and compares them with the manifest: proof that the archive restores, short of a node.
///
/// Files get their permission bits with owner read/write added and set-id bits dropped (so they
/// can be read back, and nothing set-uid appears on the controller); directories stay 0700 (so the
/// scratch can be removed); symlinks are created as symlinks and never followed; an entry whose
/// parent is not a real directory made by the extraction is refused. Owners are not set.
pub fn deep_verify<R: Read>(
    reader: ArchiveReader<R>,
    scratch: &Path,
) -> std::result::Result<(Manifest, VerifyReport), ArchiveError> {
    prepare_scratch(scratch).map_err(ArchiveError::Io)?;
    let mut buf = vec![0u8; BUF];
    let (manifest, report) = reader.walk(|meta, data| extract(scratch, meta, data, &mut buf))?;
    for entry in &manifest.entries {
        check_extracted(scratch, entry, &mut buf)?;
    }
    Ok((manifest, report))
}

fn prepare_scratch(scratch: &Path) -> io::Result<()> {
    match fs::read_dir(scratch) {
        Ok(mut dir) => {
            if dir.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "scratch directory {} is not empty; give an empty or new directory",
                        scratch.display()
                    ),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(scratch)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("creating scratch directory {}: {e}", scratch.display()),
                )
            }),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("reading scratch directory {}: {e}", scratch.display()),
        )),
    }
}

fn extract(
    scratch: &Path,
    meta: &EntryMeta,
    data: &mut dyn Read,
    buf: &mut [u8],
) -> anyhow::Result<()> {
    // Names were checked by `split_data_name`: relative, no `.` or `..`.
    let mut dir = scratch.join(&meta.node);
    let components: Vec<&str> = meta.name.split('/').collect();
    let (leaf, parents) = components
        .split_last()
        .ok_or_else(|| anyhow!("empty entry name"))?;
    for component in std::iter::once("").chain(parents.iter().copied()) {
        if !component.is_empty() {
            dir.push(component);
        }
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "refusing to extract {}: {} is not a directory (a symlink or file is in the way)",
                meta.archive_name(),
                dir.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating {}", dir.display()))?,
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", dir.display())),
        }
    }
    let dest = dir.join(leaf);
    match meta.kind {
        EntryKind::File => {
            // create_new: O_EXCL, which never follows a symlink already there.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&dest)
                .with_context(|| format!("creating {}", dest.display()))?;
            loop {
                let n = data.read(buf)?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])
                    .with_context(|| format!("writing {}", dest.display()))?;
            }
            let mode = (meta.mode & 0o777) | 0o600;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", dest.display()))?;
        }
        EntryKind::Dir => match fs::symlink_metadata(&dest) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "refusing to extract directory {}: {} exists and is not a directory",
                meta.archive_name(),
                dest.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
                .mode(0o700)
                .create(&dest)
                .with_context(|| format!("creating {}", dest.display()))?,
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", dest.display())),
        },
        EntryKind::Symlink => {
            let target = meta.link.as_deref().unwrap_or_default();
            std::os::unix::fs::symlink(target, &dest)
                .with_context(|| format!("creating symlink {}", dest.display()))?;
        }
    }
    Ok(())
}

fn check_extracted(
    scratch: &Path,
    entry: &Entry,
    buf: &mut [u8],
) -> std::result::Result<(), ArchiveError> {
    let path = scratch.join(&entry.node).join(&entry.name);
    let mismatch = |detail: String| ArchiveError::Mismatch {
        entry: entry.archive_name(),
        detail,
    };
    let meta = fs::symlink_metadata(&path).map_err(|e| {
        mismatch(format!(
            "it is not at {} after extraction: {e}",
            path.display()
        ))
    })?;
    match entry.kind {
        EntryKind::File => {
            if !meta.is_file() {
                return Err(mismatch(format!(
                    "{} is not a regular file after extraction",
                    path.display()
                )));
            }
            let mut file = fs::File::open(&path).map_err(|e| {
                ArchiveError::Io(io::Error::new(
                    e.kind(),
                    format!("reading back {}: {e}", path.display()),
                ))
            })?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            loop {
                let n = file.read(buf).map_err(|e| {
                    ArchiveError::Io(io::Error::new(
                        e.kind(),
                        format!("reading back {}: {e}", path.display()),
                    ))
                })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            let sha256 = hex(&hasher.finalize());
            if size != entry.size || Some(&sha256) != entry.sha256.as_ref() {
                return Err(mismatch(format!(
                    "extracted to {} it has {size} bytes with sha256 {sha256}; the manifest says {} bytes with sha256 {}",
                    path.display(),
                    entry.size,
                    entry.sha256.as_deref().unwrap_or("none")
                )));
            }
        }
        EntryKind::Dir => {
            if !meta.is_dir() {
                return Err(mismatch(format!(
                    "{} is not a directory after extraction",
                    path.display()
                )));
            }
        }
        EntryKind::Symlink => {
            let target = fs::read_link(&path).ok();
            let want = entry.link.as_deref().map(Path::new);
            if !meta.file_type().is_symlink() || target.as_deref() != want {
                return Err(mismatch(format!(
                    "{} is not a symlink to {} after extraction",
                    path.display(),
                    entry.link.as_deref().unwrap_or("(none)")
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{archive_id, rfc3339};
    use std::collections::BTreeMap;

    // 2026-11-22T10:15:00Z
    const T: u64 = 1_795_342_500;
    /// scrypt 2^10: milliseconds instead of age's calibrated second.
    const LOW_WORK: u8 = 10;
    const BLOB: usize = 3 * 1024 * 1024;

    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(&seed.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    #[derive(Clone)]
    struct Item {
        name: String,
        kind: EntryKind,
        mode: u32,
        data: Vec<u8>,
        link: Option<String>,
    }

    fn dir(name: &str, mode: u32) -> Item {
        Item {
            name: name.into(),
            kind: EntryKind::Dir,
            mode,
            data: vec![],
            link: None,
        }
    }

    fn file(name: &str, mode: u32, data: &[u8]) -> Item {
        Item {
            name: name.into(),
            kind: EntryKind::File,
            mode,
            data: data.to_vec(),
            link: None,
        }
    }

    fn symlink(name: &str, target: &str) -> Item {
        Item {
            name: name.into(),
            kind: EntryKind::Symlink,
            mode: 0o777,
            data: vec![],
            link: Some(target.into()),
        }
    }

    /// An agent's `bundle read` stream, as the tar crate writes it.
    fn agent_stream(items: &[Item]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (i, it) in items.iter().enumerate() {
            let mut h = tar::Header::new_gnu();
            h.set_mode(it.mode);
            h.set_uid(1000 + i as u64);
            h.set_gid(2000 + i as u64);
            h.set_mtime(T - 1000 + i as u64);
            match it.kind {
                EntryKind::File => {
                    h.set_entry_type(EntryType::Regular);
                    h.set_size(it.data.len() as u64);
                    b.append_data(&mut h, &it.name, &it.data[..]).unwrap();
                }
                EntryKind::Dir => {
                    h.set_entry_type(EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, &it.name, io::empty()).unwrap();
                }
                EntryKind::Symlink => {
                    h.set_entry_type(EntryType::Symlink);
                    h.set_size(0);
                    append_symlink(&mut b, &mut h, &it.name, it.link.as_deref().unwrap()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn long_name() -> String {
        format!("db/sub/{}", "n".repeat(120))
    }

    fn long_target() -> String {
        format!("/{}", "t/".repeat(70))
    }

    fn node1_items() -> Vec<Item> {
        vec![
            dir("db", 0o755),
            // Trailing slash, as some tar writers name directories.
            dir("db/sub/", 0o750),
            dir("db/sub/deep", 0o700),
            file("db/sub/deep/a.txt", 0o644, b"hello\n"),
            file("db/secret.key", 0o600, b"s3cret"),
            // Not normalised on the way through.
            symlink("db/link", "sub/./deep/a.txt"),
            file("db/blob.bin", 0o640, &noise(BLOB, 7)),
            file("db/empty", 0o644, b""),
            file(&long_name(), 0o644, b"long"),
            symlink("db/longlink", &long_target()),
            file("conf", 0o644, b"[pf]\nx = 1\n"),
        ]
    }

    fn node2_items() -> Vec<Item> {
        vec![
            dir("pgdata", 0o700),
            file("pgdata/PG_VERSION", 0o600, b"16\n"),
            dir("pgdata/base", 0o700),
            dir("pgdata/base/1", 0o700),
            file("pgdata/base/1/123", 0o600, &noise(64 * 1024, 99)),
            symlink("pgdata/current", "/var/lib/postgresql"),
        ]
    }

    fn sources() -> Vec<SourceRecord> {
        vec![
            SourceRecord {
                name: "db".into(),
                node: "node1".into(),
                kind: SourceKind::Path,
                path: Some("/srv/db".into()),
                data: true,
                ..Default::default()
            },
            SourceRecord {
                name: "conf".into(),
                node: "node1".into(),
                kind: SourceKind::Path,
                path: Some("/etc/pf/conf.toml".into()),
                ..Default::default()
            },
            SourceRecord {
                name: "pgdata".into(),
                node: "node2".into(),
                kind: SourceKind::Volume,
                path: Some("main".into()),
                volume: Some("pg_data".into()),
                service: Some("db".into()),
                data: true,
            },
        ]
    }

    fn manifest(compression: Compression, encrypted: bool, entries: Vec<Entry>) -> Manifest {
        Manifest {
            format: FORMAT,
            id: archive_id("demo", false, T),
            cluster: "demo".into(),
            swarm_cluster_id: Some("swarm-1".into()),
            profile: "powerflow".into(),
            created: rfc3339(T),
            pfctl_version: "0.1.0".into(),
            agent_versions: BTreeMap::from([
                ("node1".to_string(), "0.1.0".to_string()),
                ("node2".to_string(), "0.1.0".to_string()),
            ]),
            data_only: false,
            compression,
            encrypted,
            encryption_key_fingerprint: encrypted.then(|| "fp".to_string()),
            sources: sources(),
            entries,
        }
    }

    struct Built {
        bytes: Vec<u8>,
        manifest: Manifest,
        written: Written,
    }

    fn build_from(
        compression: Compression,
        encryption: Option<&Encryption>,
        nodes: &[(&str, Vec<Item>)],
    ) -> Built {
        let mut w =
            ArchiveWriter::with_work_factor(Vec::new(), compression, encryption, Some(LOW_WORK))
                .unwrap();
        let mut entries = Vec::new();
        for (node, items) in nodes {
            let stream = agent_stream(items);
            entries.extend(w.append_node_stream(node, &sources(), &stream[..]).unwrap());
        }
        let manifest = manifest(compression, encryption.is_some(), entries);
        let (bytes, written) = w.finish(&manifest).unwrap();
        Built {
            bytes,
            manifest,
            written,
        }
    }

    fn build(compression: Compression, encryption: Option<&Encryption>) -> Built {
        build_from(
            compression,
            encryption,
            &[("node1", node1_items()), ("node2", node2_items())],
        )
    }

    fn passphrase(p: &str) -> SecretString {
        SecretString::from(p.to_string())
    }

    fn all_items() -> Vec<(String, Item)> {
        let mut out = Vec::new();
        for (node, items) in [("node1", node1_items()), ("node2", node2_items())] {
            for mut it in items {
                it.name = it.name.trim_end_matches('/').to_string();
                out.push((data_entry_name(node, &it.name), it));
            }
        }
        out
    }

    #[derive(Clone, Copy, Debug)]
    enum Variant {
        Zstd,
        Gzip,
        AgePassphrase,
        AgeRecipients,
    }

    /// An archive of the full fixture, with what opens it.
    struct Fixture {
        built: Built,
        compression: Compression,
        decryption: Option<Decryption>,
    }

    /// Built once per test binary: the age layer is slow in debug builds (~5 MB/s).
    fn fixture(v: Variant) -> &'static Fixture {
        static CACHE: [std::sync::OnceLock<Fixture>; 4] = [const { std::sync::OnceLock::new() }; 4];
        CACHE[v as usize].get_or_init(|| {
            let (compression, encryption, decryption) = match v {
                Variant::Zstd => (Compression::Zstd, None, None),
                Variant::Gzip => (Compression::Gzip, None, None),
                Variant::AgePassphrase => (
                    Compression::Zstd,
                    Some(Encryption::Passphrase(passphrase("correct horse"))),
                    Some(Decryption::Passphrase(passphrase("correct horse"))),
                ),
                Variant::AgeRecipients => {
                    let id = age::x25519::Identity::generate();
                    (
                        Compression::Gzip,
                        Some(Encryption::Recipients(vec![
                            age::x25519::Identity::generate().to_public(),
                            id.to_public(),
                        ])),
                        Some(Decryption::Identities(vec![id])),
                    )
                }
            };
            Fixture {
                built: build(compression, encryption.as_ref()),
                compression,
                decryption,
            }
        })
    }

    /// Written, then deep-verified: every entry extracted and compared with the manifest, and
    /// with the fixture.
    fn round_trip(v: Variant) {
        let f = fixture(v);
        let built = &f.built;
        let encrypted = f.decryption.is_some();
        assert_eq!(built.written.bytes, built.bytes.len() as u64, "{v:?}");
        assert_eq!(built.written.sha256, sha(&built.bytes), "{v:?}");
        assert!(
            built.bytes.len() > BLOB,
            "{v:?}: random data does not compress"
        );
        assert_eq!(built.bytes.starts_with(AGE_MAGIC), encrypted, "{v:?}");

        let r = open(&built.bytes[..], f.decryption.as_ref()).unwrap();
        assert_eq!(r.compression(), f.compression, "{v:?}");
        assert_eq!(r.encrypted(), encrypted, "{v:?}");
        let scratch = tempfile::tempdir().unwrap();
        let dest = scratch.path().join("x");
        let (m, report) = deep_verify(r, &dest).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(m, built.manifest, "{v:?}: manifest round trip");

        let expected = all_items();
        let files: Vec<&Item> = expected
            .iter()
            .map(|(_, it)| it)
            .filter(|it| it.kind == EntryKind::File)
            .collect();
        assert_eq!(report.entries, expected.len() as u64, "{v:?}");
        assert_eq!(report.files, files.len() as u64, "{v:?}");
        assert_eq!(
            report.bytes,
            files.iter().map(|it| it.data.len() as u64).sum::<u64>(),
            "{v:?}"
        );
        assert_eq!(report.archive_bytes, built.bytes.len() as u64, "{v:?}");
        assert_eq!(report.archive_sha256, built.written.sha256, "{v:?}");

        for (archive_name, it) in &expected {
            let path = scratch
                .path()
                .join("x")
                .join(archive_name.strip_prefix("data/").unwrap());
            let meta = fs::symlink_metadata(&path).unwrap();
            match it.kind {
                EntryKind::File => {
                    assert!(fs::read(&path).unwrap() == it.data, "{v:?} {archive_name}");
                    assert_eq!(meta.permissions().mode() & 0o777, it.mode | 0o600);
                }
                EntryKind::Dir => assert!(meta.is_dir(), "{v:?} {archive_name}"),
                EntryKind::Symlink => assert_eq!(
                    fs::read_link(&path).unwrap(),
                    Path::new(it.link.as_deref().unwrap()),
                    "{v:?} {archive_name}"
                ),
            }
        }
        assert_eq!(
            fs::read_link(dest.join("node1/db/link")).unwrap(),
            Path::new("sub/./deep/a.txt")
        );
        assert_eq!(
            fs::metadata(dest.join("node1/db/secret.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o600
        );
    }

    #[test]
    fn round_trip_zstd() {
        round_trip(Variant::Zstd);
    }

    #[test]
    fn round_trip_gzip() {
        round_trip(Variant::Gzip);
    }

    #[test]
    fn round_trip_age_passphrase() {
        round_trip(Variant::AgePassphrase);
    }

    #[test]
    fn round_trip_age_recipients() {
        round_trip(Variant::AgeRecipients);
    }

    #[test]
    fn walk_and_verify_give_everything_back() {
        let f = fixture(Variant::Zstd);
        let (m, report) = open(&f.built.bytes[..], None).unwrap().verify().unwrap();
        assert_eq!(m, f.built.manifest);
        let mut got = Vec::new();
        let (_, walked) = open(&f.built.bytes[..], None)
            .unwrap()
            .walk(|meta, data| {
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes)?;
                got.push((meta.clone(), bytes));
                Ok(())
            })
            .unwrap();
        assert_eq!(walked, report);
        let expected = all_items();
        assert_eq!(got.len(), expected.len());
        for ((meta, bytes), (archive_name, it)) in got.iter().zip(&expected) {
            assert_eq!(&meta.archive_name(), archive_name);
            assert_eq!(meta.kind, it.kind, "{archive_name}");
            assert_eq!(meta.mode, it.mode, "{archive_name}");
            assert_eq!(meta.link, it.link, "{archive_name}");
            assert_eq!(meta.size, it.data.len() as u64, "{archive_name}");
            assert!(bytes == &it.data, "{archive_name}: contents differ");
            let e = m
                .entries
                .iter()
                .find(|e| e.archive_name() == *archive_name)
                .unwrap();
            assert_eq!((meta.uid, meta.gid, meta.mtime), (e.uid, e.gid, e.mtime));
        }
    }

    #[test]
    fn manifest_entries_say_where_each_entry_lives() {
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
        let stream = agent_stream(&node1_items());
        let e1 = w
            .append_node_stream("node1", &sources(), &stream[..])
            .unwrap();
        let stream = agent_stream(&node2_items());
        let e2 = w
            .append_node_stream("node2", &sources(), &stream[..])
            .unwrap();
        let find = |entries: &[Entry], name: &str| {
            entries.iter().find(|e| e.name == name).cloned().unwrap()
        };
        let a = find(&e1, "db/sub/deep/a.txt");
        assert_eq!(a.path, "/srv/db/sub/deep/a.txt");
        assert_eq!((a.node.as_str(), a.source.as_str()), ("node1", "db"));
        assert_eq!(a.sha256.as_deref(), Some(sha(b"hello\n").as_str()));
        assert_eq!(
            (a.size, a.mode, a.uid, a.gid, a.mtime),
            (6, 0o644, 1003, 2003, T - 997)
        );
        assert_eq!(find(&e1, "db").path, "/srv/db");
        assert_eq!(find(&e1, "db/sub").kind, EntryKind::Dir);
        assert_eq!(find(&e1, "db/sub").sha256, None);
        assert_eq!(find(&e1, "conf").path, "/etc/pf/conf.toml");
        assert_eq!(
            find(&e1, "db/link").link.as_deref(),
            Some("sub/./deep/a.txt")
        );
        assert_eq!(find(&e1, &long_name()).size, 4);
        assert_eq!(find(&e2, "pgdata").path, "pg_data:main");
        assert_eq!(
            find(&e2, "pgdata/base/1/123").path,
            "pg_data:main/base/1/123"
        );
        assert_eq!(
            find(&e2, "pgdata/current").link.as_deref(),
            Some("/var/lib/postgresql")
        );
        let names: Vec<&str> = e2.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pgdata",
                "pgdata/PG_VERSION",
                "pgdata/base",
                "pgdata/base/1",
                "pgdata/base/1/123",
                "pgdata/current"
            ]
        );
        let x = find(&e2, "pgdata/PG_VERSION").to_expect();
        assert_eq!(
            (x.name.as_str(), x.size, x.mode),
            ("pgdata/PG_VERSION", 3, 0o600)
        );
    }

    fn is_damage(e: &ArchiveError) -> bool {
        matches!(
            e,
            ArchiveError::Damaged { .. } | ArchiveError::Mismatch { .. }
        )
    }

    /// Flips one byte near the start, in the middle and near the end: each must fail, naming an
    /// entry (or the manifest). In an age archive the first 64 KiB chunk holds the start of the
    /// tar stream, so damage there cannot be pinned on an entry: it is reported as damage at the
    /// start of the archive.
    fn flips(v: Variant) {
        let f = fixture(v);
        let len = f.built.bytes.len();
        assert!(len > 1024 * 1024);
        for at in [1024, len / 2, len - 3] {
            let mut bad = f.built.bytes.clone();
            bad[at] ^= 0x20;
            let e = open(&bad[..], f.decryption.as_ref())
                .and_then(|r| r.verify())
                .expect_err(&format!("{v:?}: flip at {at} of {len} went unnoticed"));
            let msg = e.to_string();
            assert!(is_damage(&e), "{v:?} at {at}: {msg}");
            assert!(
                msg.contains("data/node")
                    || msg.contains("manifest.json")
                    || (f.decryption.is_some() && at < 65536 && msg.contains("at the start")),
                "{v:?} at {at}: the error names no entry: {msg}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_zstd() {
        flips(Variant::Zstd);
    }

    #[test]
    fn a_flipped_byte_is_caught_gzip() {
        flips(Variant::Gzip);
    }

    #[test]
    fn a_flipped_byte_is_caught_age() {
        flips(Variant::AgeRecipients);
    }

    #[test]
    fn a_damaged_age_header_is_caught() {
        let enc = Encryption::Passphrase(passphrase("pw"));
        let built = build_from(
            Compression::Zstd,
            Some(&enc),
            &[("node1", vec![dir("db", 0o755)])],
        );
        let dec = Decryption::Passphrase(passphrase("pw"));
        for at in [AGE_MAGIC.len() + 3, 60, 100] {
            let mut bad = built.bytes.clone();
            bad[at] ^= 0x01;
            let e = open(&bad[..], Some(&dec))
                .and_then(|r| r.verify())
                .unwrap_err();
            assert!(
                matches!(e, ArchiveError::Damaged { .. } | ArchiveError::WrongKey(_)),
                "flip at {at}: {e}"
            );
        }
    }

    #[test]
    fn truncation_and_trailing_data_are_caught() {
        for compression in [Compression::Zstd, Compression::Gzip] {
            let built = build_from(
                compression,
                None,
                &[(
                    "node1",
                    vec![dir("db", 0o755), file("db/x", 0o644, &noise(300_000, 3))],
                )],
            );
            let len = built.bytes.len();
            for keep in [len / 2, len - 100, len - 1] {
                let e = open(&built.bytes[..keep], None)
                    .and_then(|r| r.verify())
                    .unwrap_err();
                assert!(is_damage(&e), "{compression} cut at {keep}: {e}");
            }
            let e = open(&built.bytes[..len / 2], None)
                .and_then(|r| r.verify())
                .unwrap_err();
            assert!(e.to_string().contains("data/node1/db/x"), "{e}");
            let mut longer = built.bytes.clone();
            longer.extend_from_slice(b"junk");
            let e = open(&longer[..], None)
                .and_then(|r| r.verify())
                .unwrap_err();
            assert!(is_damage(&e), "{compression} with trailing junk: {e}");
        }
    }

    #[test]
    fn keys_are_checked() {
        let small = [("node1", vec![dir("db", 0o755), file("db/x", 0o600, b"x")])];
        let enc = Encryption::Passphrase(passphrase("right"));
        let built = build_from(Compression::Zstd, Some(&enc), &small);
        let e = open(
            &built.bytes[..],
            Some(&Decryption::Passphrase(passphrase("wrong"))),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&e, ArchiveError::WrongKey(m) if m.contains("wrong passphrase")),
            "{e}"
        );
        let e = open(&built.bytes[..], None).err().unwrap();
        assert!(
            matches!(e, ArchiveError::NeedsDecryption { passphrase: true }),
            "{e}"
        );
        let e = open(
            &built.bytes[..],
            Some(&Decryption::Identities(vec![
                age::x25519::Identity::generate(),
            ])),
        )
        .err()
        .unwrap();
        assert!(matches!(e, ArchiveError::WrongKey(_)), "{e}");
        assert!(!e.to_string().contains("right"));

        let id = age::x25519::Identity::generate();
        let enc = Encryption::Recipients(vec![id.to_public()]);
        let built = build_from(Compression::Gzip, Some(&enc), &small);
        let e = open(&built.bytes[..], None).err().unwrap();
        assert!(
            matches!(e, ArchiveError::NeedsDecryption { passphrase: false }),
            "{e}"
        );
        let other = Decryption::Identities(vec![age::x25519::Identity::generate()]);
        let e = open(&built.bytes[..], Some(&other)).err().unwrap();
        assert!(
            matches!(&e, ArchiveError::WrongKey(m) if m.contains("none of the identities")),
            "{e}"
        );
        let e = open(
            &built.bytes[..],
            Some(&Decryption::Passphrase(passphrase("x"))),
        )
        .err()
        .unwrap();
        assert!(matches!(e, ArchiveError::WrongKey(_)), "{e}");
        open(&built.bytes[..], Some(&Decryption::Identities(vec![id])))
            .unwrap()
            .verify()
            .unwrap();

        // An unencrypted archive opens whatever decryption is offered.
        let built = build_from(Compression::Zstd, None, &small);
        open(&built.bytes[..], Some(&other))
            .unwrap()
            .verify()
            .unwrap();
    }

    #[test]
    fn default_passphrase_work_factor_round_trips() {
        // The production path (age picks the scrypt work factor), once, on a tiny archive.
        let enc = Encryption::Passphrase(passphrase("pw"));
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, Some(&enc)).unwrap();
        let stream = agent_stream(&[file("conf", 0o644, b"x")]);
        let entries = w
            .append_node_stream("node1", &sources(), &stream[..])
            .unwrap();
        let (bytes, _) = w
            .finish(&manifest(Compression::Zstd, true, entries))
            .unwrap();
        let (m, report) = open(&bytes[..], Some(&Decryption::Passphrase(passphrase("pw"))))
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!((m.entries.len(), report.files), (1, 1));
    }

    #[test]
    fn other_files_are_not_archives() {
        let e = open(&b"hello world, not an archive"[..], None)
            .err()
            .unwrap();
        assert!(
            matches!(&e, ArchiveError::NotAnArchive(m) if m.contains("68 65 6c 6c")),
            "{e}"
        );
        let e = open(&b""[..], None).err().unwrap();
        assert!(
            matches!(&e, ArchiveError::NotAnArchive(m) if m.contains("empty")),
            "{e}"
        );
        // A plain tar (uncompressed) is not one either.
        let e = open(&agent_stream(&[dir("db", 0o755)])[..], None)
            .err()
            .unwrap();
        assert!(matches!(e, ArchiveError::NotAnArchive(_)), "{e}");
    }

    #[test]
    fn identities_and_recipients_parse() {
        let id = age::x25519::Identity::generate();
        let text = format!(
            "# created: today\n# public key: {}\n\n{}\n",
            id.to_public(),
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        );
        let ids = read_identities(&text).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].to_public().to_string(), id.to_public().to_string());
        let e = read_identities("# nothing\n").err().unwrap();
        assert!(e.to_string().contains("no age identity"), "{e}");
        let e = read_identities("AGE-SECRET-KEY-1NOTAKEY\n").err().unwrap();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(!e.to_string().contains("NOTAKEY"), "{e}");
        let r = parse_recipient(&format!(" {} ", id.to_public())).unwrap();
        assert_eq!(r.to_string(), id.to_public().to_string());
        assert!(parse_recipient("age1nope").is_err());
    }

    fn writer_error(node: &str, items: &[Item]) -> String {
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
        let stream = agent_stream(items);
        let e = w
            .append_node_stream(node, &sources(), &stream[..])
            .unwrap_err()
            .to_string();
        // After a failure the writer refuses to go on.
        let again = w.append_node_stream("node1", &sources(), &agent_stream(&[])[..]);
        assert!(again.unwrap_err().to_string().contains("failed earlier"));
        e
    }

    #[test]
    fn the_writer_refuses_what_a_backup_cannot_hold() {
        let e = writer_error("node1", &[dir("logs", 0o755)]);
        assert!(
            e.contains("logs is not one of its sources (db, conf)"),
            "{e}"
        );
        // A source of another node is not this node's.
        let e = writer_error("node1", &[dir("pgdata", 0o755)]);
        assert!(e.contains("not one of its sources"), "{e}");
        let e = writer_error("node 1", &[dir("db", 0o755)]);
        assert!(e.contains("node name \"node 1\""), "{e}");
        let e = writer_error("node1", &[dir("db", 0o755), dir("db", 0o755)]);
        assert!(e.contains("entry db twice"), "{e}");
        // Names the tar crate itself would refuse to write are built by hand.
        for bad in ["db/../etc", "/db/x", "db//x", "db/./x"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            h.as_old_mut().name[..bad.len()].copy_from_slice(bad.as_bytes());
            h.set_cksum();
            let mut b = tar::Builder::new(Vec::new());
            b.append(&h, io::empty()).unwrap();
            let stream = b.into_inner().unwrap();
            let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
            let e = w
                .append_node_stream("node1", &sources(), &stream[..])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("component") || e.contains("absolute"),
                "{bad}: {e}"
            );
        }
        // Hard links and devices are not files.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        let mut b = tar::Builder::new(Vec::new());
        b.append_link(&mut h, "db/hard", "db/x").unwrap();
        let stream = b.into_inner().unwrap();
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
        let e = w
            .append_node_stream("node1", &sources(), &stream[..])
            .unwrap_err()
            .to_string();
        assert!(e.contains("db/hard of tar type Link"), "{e}");
        // A stream cut inside a file.
        let stream = agent_stream(&[dir("db", 0o755), file("db/x", 0o644, &noise(10_000, 1))]);
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
        let e = w
            .append_node_stream("node1", &sources(), &stream[..2048])
            .unwrap_err()
            .to_string();
        assert!(e.contains("db/x"), "{e}");
    }

    #[test]
    fn finish_wants_the_manifest_of_what_was_written() {
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Gzip, None).unwrap();
        let stream = agent_stream(&[dir("db", 0o755), file("db/x", 0o644, b"x")]);
        let mut entries = w
            .append_node_stream("node1", &sources(), &stream[..])
            .unwrap();
        entries.pop();
        let e = w
            .finish(&manifest(Compression::Gzip, false, entries))
            .unwrap_err();
        assert!(e.to_string().contains("not the 2 entries written"), "{e}");
        let mut w = ArchiveWriter::new(Vec::new(), Compression::Gzip, None).unwrap();
        let entries = w
            .append_node_stream("node1", &sources(), &stream[..])
            .unwrap();
        let e = w
            .finish(&manifest(Compression::Zstd, false, entries))
            .unwrap_err();
        assert!(e.to_string().contains("zstd compression"), "{e}");
    }

    /// An archive made by hand, to get what the writer never makes.
    fn raw_archive(entries: &[(&str, &[u8])], manifest: Option<&Manifest>) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_checksum(true).unwrap();
        let mut b = tar::Builder::new(enc);
        let mut put = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(if name.ends_with('/') {
                EntryType::Directory
            } else {
                EntryType::Regular
            });
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(T);
            b.append_data(&mut h, name, data).unwrap();
        };
        for (name, data) in entries {
            put(name, data);
        }
        if let Some(m) = manifest {
            put(MANIFEST_ENTRY, &serde_json::to_vec(m).unwrap());
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn raw_entry(name: &str, data: &[u8]) -> Entry {
        Entry {
            node: "node1".into(),
            source: "db".into(),
            name: name.into(),
            path: format!("/srv/{name}"),
            kind: EntryKind::File,
            size: data.len() as u64,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: T,
            sha256: Some(sha(data)),
            link: None,
        }
    }

    #[test]
    fn the_archive_must_match_its_manifest() {
        let m = |entries| manifest(Compression::Zstd, false, entries);
        let ok = raw_archive(
            &[("data/node1/db/x", b"x")],
            Some(&m(vec![raw_entry("db/x", b"x")])),
        );
        open(&ok[..], None).unwrap().verify().unwrap();

        let check = |archive: Vec<u8>, want_entry: &str, want: &str| {
            let e = open(&archive[..], None).unwrap().verify().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(want_entry) && msg.contains(want), "{msg}");
        };
        check(
            raw_archive(
                &[("data/node1/db/x", b"y")],
                Some(&m(vec![raw_entry("db/x", b"x")])),
            ),
            "data/node1/db/x",
            "sha256",
        );
        check(
            raw_archive(&[], Some(&m(vec![raw_entry("db/x", b"x")]))),
            "data/node1/db/x",
            "does not hold it",
        );
        check(
            raw_archive(
                &[("data/node1/db/x", b"x"), ("data/node1/db/y", b"y")],
                Some(&m(vec![raw_entry("db/x", b"x")])),
            ),
            "data/node1/db/y",
            "does not list it",
        );
        check(
            raw_archive(
                &[("data/node1/db/x", b"x"), ("data/node1/db/x", b"x")],
                Some(&m(vec![raw_entry("db/x", b"x")])),
            ),
            "data/node1/db/x",
            "twice",
        );
        check(
            raw_archive(&[("elsewhere/x", b"x")], Some(&m(vec![]))),
            "elsewhere/x",
            "neither",
        );
        check(
            raw_archive(
                &[("data/node1/db/x", b"x")],
                Some(&manifest(
                    Compression::Gzip,
                    false,
                    vec![raw_entry("db/x", b"x")],
                )),
            ),
            "manifest.json",
            "gzip compression",
        );
        let e = open(&raw_archive(&[("data/node1/db/x", b"x")], None)[..], None)
            .unwrap()
            .verify()
            .unwrap_err();
        assert!(matches!(e, ArchiveError::MissingManifest), "{e}");
    }

    #[test]
    fn walk_drains_what_the_callback_leaves_and_reports_its_errors() {
        let built = build_from(
            Compression::Zstd,
            None,
            &[(
                "node1",
                vec![
                    dir("db", 0o755),
                    file("db/big", 0o644, &noise(600_000, 5)),
                    file("db/y", 0o644, b"yy"),
                ],
            )],
        );
        let mut firsts = Vec::new();
        let (_, report) = open(&built.bytes[..], None)
            .unwrap()
            .walk(|meta, data| {
                let mut one = [0u8; 1];
                let n = data.read(&mut one)?;
                firsts.push((meta.name.clone(), n));
                Ok(())
            })
            .unwrap();
        assert_eq!(report.bytes, 600_002);
        assert_eq!(
            firsts,
            [
                ("db".to_string(), 0),
                ("db/big".to_string(), 1),
                ("db/y".to_string(), 1)
            ]
        );

        let e = open(&built.bytes[..], None)
            .unwrap()
            .walk(|meta, _| {
                if meta.name == "db/y" {
                    bail!("node2 refused it")
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert!(matches!(e, ArchiveError::Callback(_)), "{e}");
        assert!(
            e.to_string().contains("node2 refused it") && e.to_string().contains("data/node1/db/y"),
            "{e}"
        );

        // Damage met by the callback is damage, even if the callback wraps it in its own error.
        let mut bad = built.bytes.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        let e = open(&bad[..], None)
            .unwrap()
            .walk(|_, data| {
                io::copy(data, &mut io::sink()).context("sending to the node")?;
                Ok(())
            })
            .unwrap_err();
        assert!(is_damage(&e), "{e}");
    }

    #[test]
    fn deep_verify_never_leaves_the_scratch_directory() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap().to_string();
        let built = build_from(
            Compression::Zstd,
            None,
            &[(
                "node1",
                vec![
                    dir("db", 0o755),
                    symlink("db/l", &target),
                    file("db/l/evil", 0o644, b"x"),
                ],
            )],
        );
        let scratch = tempfile::tempdir().unwrap();
        let e = deep_verify(open(&built.bytes[..], None).unwrap(), scratch.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("refusing to extract data/node1/db/l/evil"),
            "{e}"
        );
        assert!(!outside.path().join("evil").exists());

        // A scratch directory in use is refused.
        let scratch = tempfile::tempdir().unwrap();
        fs::write(scratch.path().join("mine"), b"keep").unwrap();
        let built = build_from(
            Compression::Zstd,
            None,
            &[("node1", vec![dir("db", 0o755)])],
        );
        let e = deep_verify(open(&built.bytes[..], None).unwrap(), scratch.path()).unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
    }

    #[test]
    fn readers_and_writers_can_move_to_a_blocking_thread() {
        fn send<T: Send>() {}
        send::<ArchiveWriter<fs::File>>();
        send::<ArchiveReader<fs::File>>();
        send::<Encryption>();
        send::<Decryption>();
        fn sync<T: Sync>() {}
        sync::<Decryption>();
    }
}
