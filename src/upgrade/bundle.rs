//! Upgrade artifacts: the offline image bundle (the output of `docker save`, plain, gzip- or
//! zstd-compressed) and the online artifact fetched by URL against a published sum. Both are
//! checked on the controller before any node changes: a bundle that `docker load` would half-load
//! or load wrongly is refused here, not found out mid-upgrade.
//!
//! A bundle is read once, as a stream, through fixed buffers: the whole-file sha256, every
//! content-addressed entry's own hash and the presence of everything `manifest.json` names all
//! come from that one pass, so a bundle of any size costs the same memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::atomic::{prev_of, sync_dir};
use crate::notify::redact;
use pfproto::hex;

/// `manifest.json` and `index.json` are read whole; anything bigger is not what `docker save` writes.
const JSON_CAP: u64 = 16 << 20;
/// The one read buffer of a pass, whatever the size of the bundle.
const READ_BUF: usize = 256 << 10;
/// The names pfctl remembers are its only memory that grows with the bundle: a few per layer in
/// a real bundle, so this bound is never met by one and keeps a crafted tar from exhausting memory.
const MAX_ENTRIES: usize = 100_000;
/// How many symlinks deep a manifest path may go (legacy bundles link duplicate layers once).
const MAX_LINK_HOPS: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A download has no overall deadline (a big bundle on a slow link takes what it takes), but a
/// server that sends nothing for this long is not coming back.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 10;

/// One image of a bundle, as `manifest.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleImage {
    /// `repo:tag` names; empty for an image saved by id.
    pub tags: Vec<String>,
    /// `sha256:<hex>` of the config blob: the id `docker load` gives the image.
    pub image_id: String,
    pub layers: usize,
}

/// A bundle that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bundle {
    pub path: PathBuf,
    /// Bytes of the file as given (compressed, if it is).
    pub size: u64,
    /// Lowercase hex sha256 of the file as given.
    pub sha256: String,
    pub images: Vec<BundleImage>,
}

/// Why a bundle is refused. Typed because callers branch on it: a damaged download is fetched
/// again, a bundle without tags is rebuilt, an unreadable disk is neither.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file itself could not be read (the cause is the error's source).
    #[error("reading bundle {}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{} is not an image bundle: {why}; give the output of `docker save` (plain, gzip- or \
         zstd-compressed), or fetch or copy it again if it was one",
        path.display()
    )]
    NotABundle { path: PathBuf, why: String },
    #[error("bundle {} is damaged: {entry}: {why}; fetch or copy the bundle again", path.display())]
    Damaged {
        path: PathBuf,
        entry: String,
        why: String,
    },
    #[error(
        "bundle {} is incomplete: {entry} is not in it; fetch or copy the bundle again",
        path.display()
    )]
    Missing { path: PathBuf, entry: String },
    #[error(
        "bundle {}: its sha256 is {actual}, not the expected {expected}; fetch or copy the bundle again",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "bundle {} holds no tagged image (no RepoTags in manifest.json); save the images by name: \
         docker save REPO:TAG ...",
        path.display()
    )]
    NoImages { path: PathBuf },
    /// The expected sum given is not a sha256; refused before the file is read.
    #[error(
        "the expected sha256 of bundle {} is not 64 hex digits: '{given}'; give the sum published \
         with the bundle",
        path.display()
    )]
    BadSum { path: PathBuf, given: String },
}

/// Lowercase hex of a sha256 given by a user (either case, surrounding blanks ignored), or `None`
/// when it is not one.
pub fn parse_sha256(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Checks the bundle at `path` in one streaming pass and lists its images. With `expect_sha256`,
/// a file whose sum differs is refused with [`BundleError::Checksum`] whatever else is wrong with
/// it: the other findings are about a file that is not the one meant.
pub fn inspect(path: &Path, expect_sha256: Option<&str>) -> Result<Bundle, BundleError> {
    let expected = match expect_sha256 {
        Some(given) => Some(parse_sha256(given).ok_or_else(|| BundleError::BadSum {
            path: path.to_path_buf(),
            given: given.to_string(),
        })?),
        None => None,
    };
    let io_err = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut tally = Tally::default();
    let walked = walk(
        Tee {
            file: &mut file,
            tally: &mut tally,
        },
        path,
    );
    if let Some(e) = tally.failed.take() {
        return Err(io_err(e));
    }
    // The tar's end marker and compressed trailers may leave bytes unread: the sum is of the file.
    io::copy(
        &mut Tee {
            file: &mut file,
            tally: &mut tally,
        },
        &mut io::sink(),
    )
    .map_err(io_err)?;
    let actual = hex(&tally.hasher.finalize());
    if let Some(expected) = expected {
        if expected != actual {
            return Err(BundleError::Checksum {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
    }
    let images = walked?.images(path)?;
    Ok(Bundle {
        path: path.to_path_buf(),
        size: tally.size,
        sha256: actual,
        images,
    })
}

/// The whole-file sum, taken below any decompression.
#[derive(Default)]
struct Tally {
    hasher: Sha256,
    size: u64,
    /// A read error of the file itself, kept apart because decoders and the tar reader turn it
    /// into one of their own and it must not be reported as damage.
    failed: Option<io::Error>,
}

struct Tee<'a> {
    file: &'a mut File,
    tally: &'a mut Tally,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.tally.hasher.update(&buf[..n]);
                self.tally.size += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.tally.failed = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn label(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => " (gzip-compressed)",
            Compression::Zstd => " (zstd-compressed)",
        }
    }
}

/// What one pass over the tar found; judged afterwards, once the whole-file sum is known.
#[derive(Default)]
struct Walked {
    /// Regular entries: normalised name → hex sha256 of the content.
    files: HashMap<String, String>,
    /// Symlinks and hard links: normalised name → normalised target.
    links: HashMap<String, String>,
    manifest: Option<Vec<u8>>,
    index: Option<Vec<u8>>,
    /// Legacy image configs (`<hex>.json`): their `rootfs.diff_ids` are the only hashes a legacy
    /// `<id>/layer.tar` can be checked against.
    configs: HashMap<String, Vec<u8>>,
}

fn walk(tee: Tee<'_>, path: &Path) -> Result<Walked, BundleError> {
    let mut raw = BufReader::with_capacity(READ_BUF, tee);
    let head = raw.fill_buf().map_err(|e| BundleError::NotABundle {
        path: path.to_path_buf(),
        why: format!("cannot read it: {e}"),
    })?;
    let compression = Compression::sniff(head);
    let stream: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        // The decoder's default window limit (128 MiB) bounds its memory; a bundle compressed
        // with a larger window is refused with the decoder's message.
        Compression::Zstd => {
            Box::new(
                zstd::Decoder::with_buffer(raw).map_err(|e| BundleError::NotABundle {
                    path: path.to_path_buf(),
                    why: format!("zstd stream: {e}"),
                })?,
            )
        }
    };
    let mut archive = tar::Archive::new(stream);
    let not_tar = |e: io::Error| BundleError::NotABundle {
        path: path.to_path_buf(),
        why: format!("not a tar archive{}: {e}", compression.label()),
    };
    let mut walked = Walked::default();
    let mut buf = vec![0u8; READ_BUF];
    let mut last: Option<String> = None;
    let entries = archive.entries().map_err(not_tar)?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            // Before the first entry nothing says this was ever a tar.
            Err(e) if last.is_none() => return Err(not_tar(e)),
            Err(e) => {
                return Err(damaged(
                    path,
                    &format!("the entry after {}", last.unwrap_or_default()),
                    format!("unreadable{}: {e}", compression.label()),
                ))
            }
        };
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize("", &raw_name)
            .ok_or_else(|| damaged(path, &raw_name, "its name leaves the archive".to_string()))?;
        last = Some(name.clone());
        if walked.files.len() + walked.links.len() >= MAX_ENTRIES {
            return Err(BundleError::NotABundle {
                path: path.to_path_buf(),
                why: format!("more than {MAX_ENTRIES} entries, far more than `docker save` writes"),
            });
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            // A symlink is relative to its own directory, a hard link to the archive's root.
            let base = if kind.is_symlink() {
                name.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
            } else {
                ""
            };
            let resolved = normalize(base, &target).ok_or_else(|| {
                damaged(
                    path,
                    &name,
                    format!("links to {target}, outside the archive"),
                )
            })?;
            walked.links.insert(name, resolved);
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            continue;
        }
        if name == "manifest.json" || name == "index.json" {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(JSON_CAP + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| damaged(path, &name, format!("unreadable: {e}")))?;
            if bytes.len() as u64 > JSON_CAP {
                return Err(damaged(
                    path,
                    &name,
                    format!("larger than {} MiB", JSON_CAP >> 20),
                ));
            }
            if (bytes.len() as u64) < entry.size() {
                return Err(cut_short(path, &name, bytes.len() as u64, entry.size()));
            }
            let slot = if name == "manifest.json" {
                &mut walked.manifest
            } else {
                &mut walked.index
            };
            if slot.is_some() {
                return Err(damaged(path, &name, "appears twice".to_string()));
            }
            walked.files.insert(name, hex(&Sha256::digest(&bytes)));
            *slot = Some(bytes);
            continue;
        }
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let keep = !name.contains('/') && name.ends_with(".json") && entry.size() <= JSON_CAP;
        let mut kept = Vec::new();
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(damaged(path, &name, format!("unreadable: {e}"))),
            };
            hasher.update(&buf[..n]);
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
            got += n as u64;
        }
        if keep {
            walked.configs.insert(name.clone(), kept);
        }
        // The tar reader ends an entry quietly where the file ends: a bundle cut short inside a
        // legacy layer (not a content hash) would otherwise pass.
        if got < entry.size() {
            return Err(cut_short(path, &name, got, entry.size()));
        }
        let sum = hex(&hasher.finalize());
        if let Some(claimed) = content_address(&name) {
            match claimed {
                Some(claimed) if claimed != sum => {
                    return Err(damaged(
                        path,
                        &name,
                        format!(
                            "content hashes to {}…, not its name",
                            sum.get(..12).unwrap_or(&sum)
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    return Err(damaged(
                        path,
                        &name,
                        "a blob whose name is not a sha256".to_string(),
                    ))
                }
            }
        }
        walked.files.insert(name, sum);
    }
    Ok(walked)
}

/// For an entry whose name is its content's hash: `Some(Some(hex))`, or `Some(None)` if it sits
/// among the blobs without a valid sha256 name. `None` for entries named otherwise (legacy layer
/// directories are named by an id that is not a content hash).
fn content_address(name: &str) -> Option<Option<&str>> {
    if let Some(rest) = name.strip_prefix("blobs/sha256/") {
        return Some(is_hex64(rest).then_some(rest));
    }
    let stem = name.strip_suffix(".json")?;
    is_hex64(stem).then_some(Some(stem))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `rel` resolved against directory `base`, without `.`, empty parts or a trailing `/`; `None` if
/// it climbs above the root. Lexical only: nothing touches the filesystem.
fn normalize(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let start = if rel.starts_with('/') { "" } else { base };
    for part in start.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// One element of `manifest.json`.
#[derive(Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciDescriptor {
    digest: String,
}

impl Walked {
    fn images(&self, path: &Path) -> Result<Vec<BundleImage>, BundleError> {
        let Some(manifest) = &self.manifest else {
            return Err(BundleError::NotABundle {
                path: path.to_path_buf(),
                why: "it has no manifest.json".to_string(),
            });
        };
        let items: Vec<ManifestItem> = serde_json::from_slice(manifest).map_err(|e| {
            damaged(
                path,
                "manifest.json",
                format!("not the list `docker save` writes: {e}"),
            )
        })?;
        // `docker load` of an OCI layout starts from index.json: what it names must be there too.
        if let Some(index) = &self.index {
            let index: OciIndex = serde_json::from_slice(index)
                .map_err(|e| damaged(path, "index.json", format!("not an OCI index: {e}")))?;
            for m in &index.manifests {
                let hex = m.digest.strip_prefix("sha256:").unwrap_or(&m.digest);
                self.resolve(path, &format!("blobs/sha256/{hex}"))?;
            }
        }
        let mut images = Vec::with_capacity(items.len());
        for item in items {
            let config = self.resolve(path, &item.config)?;
            for (i, layer) in item.layers.iter().enumerate() {
                let found = self.resolve(path, layer)?;
                if content_address(&found).is_none() {
                    self.check_legacy_layer(path, &config, i, &found)?;
                }
            }
            images.push(BundleImage {
                tags: item.repo_tags.unwrap_or_default(),
                image_id: format!("sha256:{}", self.files[&config]),
                layers: item.layers.len(),
            });
        }
        if !images.iter().any(|i| !i.tags.is_empty()) {
            return Err(BundleError::NoImages {
                path: path.to_path_buf(),
            });
        }
        Ok(images)
    }

    /// A legacy layer's name is no hash: its content must hash to the diff id its image's config
    /// lists at the same position.
    fn check_legacy_layer(
        &self,
        path: &Path,
        config: &str,
        i: usize,
        layer: &str,
    ) -> Result<(), BundleError> {
        let cfg = self.configs.get(config).ok_or_else(|| {
            damaged(
                path,
                layer,
                format!("its image config {config} could not be read to check it"),
            )
        })?;
        let cfg: serde_json::Value = serde_json::from_slice(cfg)
            .map_err(|e| damaged(path, config, format!("not an image config: {e}")))?;
        let want = cfg["rootfs"]["diff_ids"][i].as_str().ok_or_else(|| {
            damaged(
                path,
                config,
                format!("lists no diff id for layer {}", i + 1),
            )
        })?;
        let have = &self.files[layer];
        if want.strip_prefix("sha256:") != Some(have.as_str()) {
            return Err(damaged(
                path,
                layer,
                format!(
                    "content hashes to {}…, not the layer its image names ({})",
                    have.get(..12).unwrap_or(have),
                    want.get(..19).unwrap_or(want)
                ),
            ));
        }
        Ok(())
    }

    /// The regular entry `named` is, following links; [`BundleError::Missing`] if there is none.
    fn resolve(&self, path: &Path, named: &str) -> Result<String, BundleError> {
        let missing = |entry: String| BundleError::Missing {
            path: path.to_path_buf(),
            entry,
        };
        let mut name = normalize("", named).ok_or_else(|| missing(named.to_string()))?;
        for _ in 0..=MAX_LINK_HOPS {
            if self.files.contains_key(&name) {
                return Ok(name);
            }
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None if name == named => return Err(missing(name)),
                None => return Err(missing(format!("{name} (which {named} links to)"))),
            }
        }
        Err(damaged(
            path,
            named,
            format!("more than {MAX_LINK_HOPS} links deep"),
        ))
    }
}

fn damaged(path: &Path, entry: &str, why: String) -> BundleError {
    BundleError::Damaged {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        why,
    }
}

fn cut_short(path: &Path, entry: &str, got: u64, size: u64) -> BundleError {
    damaged(
        path,
        entry,
        format!("cut short: the file ends after {got} of its {size} bytes"),
    )
}

/// Downloads `url` into `dir` and checks it against `sha256` (hex, either case) before it takes
/// its final name, the URL's last path segment (`bundle` if it has none usable). A file already
/// there under that name is kept as `NAME.prev`. Nothing of a failed download stays behind.
/// Messages show the URL without credentials or query.
pub async fn fetch(url: &str, sha256: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    fetch_with(url, sha256, dir, STALL_TIMEOUT, true).await
}

async fn fetch_with(
    url: &str,
    sha256: &str,
    dir: &Path,
    stall: Duration,
    system_proxy: bool,
) -> anyhow::Result<PathBuf> {
    let shown = redact(url);
    let expected = parse_sha256(sha256).ok_or_else(|| {
        anyhow!(
            "fetching {shown}: '{}' is not a sha256 (64 hex digits); give the sum published with \
             the bundle",
            sha256.trim()
        )
    })?;
    // The parser's message names no part of the URL, so no secret leaks through it.
    let parsed = Url::parse(url).map_err(|e| anyhow!("fetching a bundle: not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        bail!("fetching {shown}: only http:// and https:// URLs can be fetched");
    }
    let name = file_name(&parsed);
    let mut client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("pfctl/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade {
                attempt.error("redirected from https:// to http://")
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }));
    if !system_proxy {
        client = client.no_proxy();
    }
    let client = client
        .build()
        .map_err(|e| anyhow!("fetching {shown}: {}", reason(e)))?;
    let stalled = || {
        anyhow!(
            "fetching {shown}: nothing received for {}s; check the server and the network, then \
             try again",
            stall.as_secs_f32()
        )
    };
    let mut resp = tokio::time::timeout(stall, client.get(parsed).send())
        .await
        .map_err(|_| stalled())?
        .map_err(|e| anyhow!("fetching {shown}: {}", reason(e)))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("fetching {shown}: the server answered HTTP {status}; check the URL");
    }

    let partial = dir.join(format!("{name}.partial"));
    match tokio::fs::remove_file(&partial).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "fetching {shown}: removing the leftover {}",
                    partial.display()
                )
            })
        }
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .await
        .with_context(|| format!("fetching {shown}: creating {}", partial.display()))?;
    let downloaded: anyhow::Result<String> = async {
        let mut hasher = Sha256::new();
        loop {
            let chunk = tokio::time::timeout(stall, resp.chunk())
                .await
                .map_err(|_| stalled())?
                .map_err(|e| anyhow!("fetching {shown}: {}", reason(e)))?;
            let Some(chunk) = chunk else { break };
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .with_context(|| format!("fetching {shown}: writing {}", partial.display()))?;
        }
        file.flush()
            .await
            .with_context(|| format!("fetching {shown}: writing {}", partial.display()))?;
        file.sync_all()
            .await
            .with_context(|| format!("fetching {shown}: writing {}", partial.display()))?;
        Ok(hex(&hasher.finalize()))
    }
    .await;
    drop(file);
    let actual = match downloaded {
        Ok(sum) => sum,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    if actual != expected {
        let _ = tokio::fs::remove_file(&partial).await;
        bail!(
            "fetching {shown}: the download's sha256 is {actual}, not the expected {expected}; \
             nothing was kept. Check the sum and the artifact published at the URL"
        );
    }

    let target = dir.join(&name);
    let placed = (|| -> io::Result<()> {
        if target.exists() {
            let prev = prev_of(&target);
            match std::fs::remove_file(&prev) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            // A hard link keeps the old file under its name until the rename replaces it; where
            // links are refused, a rename costs that moment but never a copy of a large bundle.
            if std::fs::hard_link(&target, &prev).is_err() {
                std::fs::rename(&target, &prev)?;
            }
        }
        std::fs::rename(&partial, &target)
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| {
            format!(
                "fetching {shown}: putting the download in place as {}",
                target.display()
            )
        });
    }
    sync_dir(dir);
    Ok(target)
}

/// The URL's last path segment if it is a plain file name (as encoded: a `%2F` stays literal and
/// cannot climb out of `dir`), else `bundle`.
fn file_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.len() <= 200
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
        })
        .unwrap_or("bundle")
        .to_string()
}

/// The error and its causes, without the URL reqwest would otherwise put in front.
fn reason(e: reqwest::Error) -> String {
    crate::notify::without_url(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn add_dir(b: &mut tar::Builder<Vec<u8>>, name: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, name, &[][..]).unwrap();
    }

    fn add_symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, name, target).unwrap();
    }

    /// A layer's bytes: big enough to cross the read buffer, pseudo-random so that no layer's
    /// bytes turn up inside another's.
    fn layer(seed: u8) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed).wrapping_mul(0x1000_0000_01b3);
        (0..READ_BUF + 4099)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    struct Img {
        tags: Vec<&'static str>,
        config: Vec<u8>,
        layers: Vec<Vec<u8>>,
    }

    /// An image config as Docker writes it: the layers' sha256 as `rootfs.diff_ids`.
    fn config(cmd: &str, layers: &[Vec<u8>]) -> Vec<u8> {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha(l)))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "config": {"Cmd": [cmd]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    fn two_images() -> Vec<Img> {
        let web = vec![layer(1), layer(2)];
        // The first layer is shared with the first image: stored once, named by both.
        let worker = vec![layer(1), layer(3), layer(4)];
        vec![
            Img {
                tags: vec!["demo/web:2", "demo/web:latest"],
                config: config("web", &web),
                layers: web,
            },
            Img {
                tags: vec!["demo/worker:2"],
                config: config("worker", &worker),
                layers: worker,
            },
        ]
    }

    /// Docker 25+ `docker save`: an OCI layout plus the legacy manifest.json. `skip` leaves out
    /// the blob with that hash.
    fn oci_tar(images: &[Img], tagged: bool, skip: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        add_dir(&mut b, "blobs/");
        add_dir(&mut b, "blobs/sha256/");
        let mut written = std::collections::HashSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        for img in images {
            let mut blob = |b: &mut tar::Builder<Vec<u8>>, data: &[u8]| {
                let h = sha(data);
                if written.insert(h.clone()) && skip != Some(h.as_str()) {
                    add(b, &format!("blobs/sha256/{h}"), data);
                }
                h
            };
            let config = blob(&mut b, &img.config);
            let layers: Vec<String> = img.layers.iter().map(|l| blob(&mut b, l)).collect();
            let oci_manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "config": {"digest": format!("sha256:{config}")},
                "layers": layers.iter().map(|l| serde_json::json!({"digest": format!("sha256:{l}")})).collect::<Vec<_>>(),
            }))
            .unwrap();
            let m = blob(&mut b, &oci_manifest);
            index.push(serde_json::json!({"digest": format!("sha256:{m}")}));
            manifest.push(serde_json::json!({
                "Config": format!("blobs/sha256/{config}"),
                "RepoTags": if tagged { serde_json::json!(img.tags) } else { serde_json::Value::Null },
                "Layers": layers.iter().map(|l| format!("blobs/sha256/{l}")).collect::<Vec<_>>(),
            }));
        }
        add(
            &mut b,
            "index.json",
            &serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": index}))
                .unwrap(),
        );
        add(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        b.into_inner().unwrap()
    }

    /// Docker before 25: `<id>/layer.tar` (ids that are not content hashes), `<hex>.json` configs,
    /// and a symlink where two images share a layer.
    fn legacy_tar(images: &[Img]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
        let mut manifest = Vec::new();
        for (i, img) in images.iter().enumerate() {
            let mut layers = Vec::new();
            for (j, l) in img.layers.iter().enumerate() {
                let id = sha(format!("legacy-id-{i}-{j}").as_bytes());
                add_dir(&mut b, &format!("{id}/"));
                add(&mut b, &format!("{id}/VERSION"), b"1.0");
                add(&mut b, &format!("{id}/json"), b"{}");
                match seen.get(l) {
                    Some(first) => add_symlink(
                        &mut b,
                        &format!("{id}/layer.tar"),
                        &format!("../{first}/layer.tar"),
                    ),
                    None => {
                        add(&mut b, &format!("{id}/layer.tar"), l);
                        seen.insert(l.clone(), id.clone());
                    }
                }
                layers.push(format!("{id}/layer.tar"));
            }
            let config = sha(&img.config);
            add(&mut b, &format!("{config}.json"), &img.config);
            manifest.push(serde_json::json!({
                "Config": format!("{config}.json"),
                "RepoTags": img.tags,
                "Layers": layers,
            }));
        }
        add(
            &mut b,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        add(&mut b, "repositories", b"{}");
        b.into_inner().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn assert_two_images(bundle: &Bundle, images: &[Img]) {
        assert_eq!(bundle.images.len(), 2, "{bundle:?}");
        for (got, want) in bundle.images.iter().zip(images) {
            assert_eq!(got.tags, want.tags);
            assert_eq!(got.image_id, format!("sha256:{}", sha(&want.config)));
            assert_eq!(got.layers, want.layers.len());
        }
    }

    #[test]
    fn an_oci_bundle_lists_its_images_with_config_hashes_as_ids() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let bytes = oci_tar(&images, true, None);
        let p = write(d.path(), "demo.tar", &bytes);
        let bundle = inspect(&p, None).unwrap();
        assert_two_images(&bundle, &images);
        assert_eq!(bundle.size, bytes.len() as u64);
        assert_eq!(bundle.sha256, sha(&bytes));
        assert_eq!(bundle.path, p);
        // The right sum, given in upper case, is accepted.
        let upper = sha(&bytes).to_ascii_uppercase();
        assert_eq!(inspect(&p, Some(&upper)).unwrap(), bundle);
    }

    #[test]
    fn compressed_bundles_are_recognised_by_content_and_summed_as_given() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let plain = oci_tar(&images, true, None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        // Misleading names: detection is by magic bytes.
        for (name, bytes) in [("a.tar.zst", &gz), ("b.tar.gz", &zst)] {
            let p = write(d.path(), name, bytes);
            let bundle = inspect(&p, Some(&sha(bytes))).unwrap();
            assert_two_images(&bundle, &images);
            assert_eq!(bundle.sha256, sha(bytes), "{name}");
            assert_eq!(bundle.size, bytes.len() as u64, "{name}");
        }
    }

    #[test]
    fn a_legacy_bundle_with_a_linked_layer_is_accepted() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let p = write(d.path(), "old.tar", &legacy_tar(&images));
        assert_two_images(&inspect(&p, None).unwrap(), &images);
    }

    #[test]
    fn a_flipped_byte_in_a_legacy_layer_is_caught_by_its_diff_id() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let mut bytes = legacy_tar(&images);
        let l = &images[0].layers[1];
        let at = bytes.windows(64).position(|w| w == &l[..64]).unwrap();
        bytes[at + l.len() / 2] ^= 0x01;
        let p = write(d.path(), "flipped-old.tar", &bytes);
        match inspect(&p, None) {
            Err(BundleError::Damaged { entry, why, .. }) => {
                assert!(entry.ends_with("/layer.tar"), "{entry}");
                assert!(why.contains("not the layer its image names"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_legacy_config_that_does_not_match_its_name_is_damage() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let mut bytes = legacy_tar(&images);
        let config = &images[1].config;
        let at = bytes
            .windows(config.len())
            .position(|w| w == &config[..])
            .unwrap();
        bytes[at + 5] ^= 0x20;
        let p = write(d.path(), "old.tar", &bytes);
        match inspect(&p, None).unwrap_err() {
            BundleError::Damaged { entry, .. } => {
                assert_eq!(entry, format!("{}.json", sha(config)))
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn one_flipped_byte_in_a_layer_names_that_blob() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let mut bytes = oci_tar(&images, true, None);
        let target = &images[1].layers[2];
        let at = bytes.windows(64).position(|w| w == &target[..64]).unwrap();
        bytes[at + 1000] ^= 0x01;
        let p = write(d.path(), "demo.tar", &bytes);
        let e = inspect(&p, None).unwrap_err();
        let msg = e.to_string();
        match &e {
            BundleError::Damaged { entry, why, .. } => {
                assert_eq!(*entry, format!("blobs/sha256/{}", sha(target)));
                assert!(why.contains("not its name"), "{why}");
            }
            e => panic!("{e}"),
        }
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.ends_with("fetch or copy the bundle again"), "{msg}");
    }

    #[test]
    fn a_layer_left_out_is_missing() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let gone = sha(&images[1].layers[1]);
        let p = write(d.path(), "demo.tar", &oci_tar(&images, true, Some(&gone)));
        match inspect(&p, None).unwrap_err() {
            BundleError::Missing { entry, .. } => assert_eq!(entry, format!("blobs/sha256/{gone}")),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_wrong_expected_sum_is_refused_whatever_else_is_wrong() {
        let d = tempfile::tempdir().unwrap();
        let images = two_images();
        let bytes = oci_tar(&images, true, None);
        let p = write(d.path(), "demo.tar", &bytes);
        let wrong = "0".repeat(64);
        match inspect(&p, Some(&wrong)).unwrap_err() {
            BundleError::Checksum {
                expected, actual, ..
            } => {
                assert_eq!(expected, wrong);
                assert_eq!(actual, sha(&bytes));
            }
            e => panic!("{e}"),
        }
        // A damaged file that is also not the one meant: the sum is what is reported.
        let missing = oci_tar(&images, true, Some(&sha(&images[0].layers[0])));
        let p = write(d.path(), "other.tar", &missing);
        assert!(matches!(
            inspect(&p, Some(&wrong)),
            Err(BundleError::Checksum { .. })
        ));
        assert!(matches!(
            inspect(&p, Some("abc")),
            Err(BundleError::BadSum { .. })
        ));
    }

    #[test]
    fn what_is_not_a_tar_is_not_a_bundle() {
        let d = tempfile::tempdir().unwrap();
        let text = write(
            d.path(),
            "notes.tar",
            b"these are release notes, not images\n",
        );
        assert!(matches!(
            inspect(&text, None),
            Err(BundleError::NotABundle { .. })
        ));
        let empty = write(d.path(), "empty.tar", b"");
        assert!(matches!(
            inspect(&empty, None),
            Err(BundleError::NotABundle { .. })
        ));
        // A gzip header with garbage behind it.
        let bad_gz = write(
            d.path(),
            "bad.gz",
            &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        );
        assert!(matches!(
            inspect(&bad_gz, None),
            Err(BundleError::NotABundle { .. })
        ));
        // A tar, but of something else.
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "README", b"hello");
        let other = write(d.path(), "other.tar", &b.into_inner().unwrap());
        match inspect(&other, None).unwrap_err() {
            BundleError::NotABundle { why, .. } => assert!(why.contains("manifest.json"), "{why}"),
            e => panic!("{e}"),
        }
        match inspect(&d.path().join("absent.tar"), None).unwrap_err() {
            BundleError::Io { path, .. } => assert!(path.ends_with("absent.tar")),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_bundle_without_tags_has_no_images() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "ids.tar", &oci_tar(&two_images(), false, None));
        assert!(matches!(
            inspect(&p, None),
            Err(BundleError::NoImages { .. })
        ));
    }

    #[test]
    fn a_truncated_bundle_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let bytes = oci_tar(&two_images(), true, None);
        // Cut inside the first layer's data.
        let p = write(d.path(), "cut.tar", &bytes[..3000]);
        match inspect(&p, None).unwrap_err() {
            BundleError::Damaged { entry, why, .. } => {
                assert_eq!(entry, format!("blobs/sha256/{}", sha(&layer(1))));
                assert!(why.contains("cut short"), "{why}");
            }
            e => panic!("{e}"),
        }
        // Cut inside a legacy layer, whose name is no hash to check it against.
        let images = two_images();
        let legacy = legacy_tar(&images);
        let at = legacy
            .windows(64)
            .position(|w| w == &images[0].layers[0][..64])
            .unwrap();
        let p = write(d.path(), "cut-old.tar", &legacy[..at + 1000]);
        match inspect(&p, None).unwrap_err() {
            BundleError::Damaged { entry, why, .. } => {
                assert!(entry.ends_with("/layer.tar"), "{entry}");
                assert!(why.contains("cut short"), "{why}");
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn link_targets_and_names_are_resolved_lexically() {
        assert_eq!(
            normalize("a/b", "../c/layer.tar").as_deref(),
            Some("a/c/layer.tar")
        );
        assert_eq!(
            normalize("", "./blobs//sha256/x").as_deref(),
            Some("blobs/sha256/x")
        );
        assert_eq!(normalize("a", "../../etc"), None);
        assert_eq!(normalize("a/b", "/top").as_deref(), Some("top"));
    }

    // fetch ---------------------------------------------------------------------------------

    /// Answers every connection with `response` (after `delay` for the body), HTTP/1.1 with
    /// `Connection: close`. Returns the base URL.
    async fn serve(response: Vec<u8>, split: usize, delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let response = response.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = sock.write_all(&response[..split]).await;
                    let _ = sock.flush().await;
                    tokio::time::sleep(delay).await;
                    let _ = sock.write_all(&response[split..]).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn ok_response(body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    async fn get(url: &str, sum: &str, dir: &Path) -> anyhow::Result<PathBuf> {
        fetch_with(url, sum, dir, Duration::from_secs(10), false).await
    }

    #[tokio::test]
    async fn a_download_with_the_right_sum_takes_its_name_and_keeps_the_old_one() {
        let d = tempfile::tempdir().unwrap();
        let body = layer(7);
        let base = serve(ok_response(&body), 0, Duration::ZERO).await;
        let url = format!("{base}/artifacts/pf-3.1.tar.zst?token=abc");
        let got = get(&url, &sha(&body).to_ascii_uppercase(), d.path())
            .await
            .unwrap();
        assert_eq!(got, d.path().join("pf-3.1.tar.zst"));
        assert_eq!(std::fs::read(&got).unwrap(), body);
        assert_eq!(names(d.path()), ["pf-3.1.tar.zst"]);

        // Again, with a stale partial lying there: the partial is replaced, the first file kept.
        std::fs::write(d.path().join("pf-3.1.tar.zst.partial"), b"stale").unwrap();
        std::fs::write(&got, b"older").unwrap();
        get(&url, &sha(&body), d.path()).await.unwrap();
        assert_eq!(names(d.path()), ["pf-3.1.tar.zst", "pf-3.1.tar.zst.prev"]);
        assert_eq!(std::fs::read(&got).unwrap(), body);
        assert_eq!(std::fs::read(prev_of(&got)).unwrap(), b"older");

        // No usable last segment: the file is called `bundle`.
        let got = get(&format!("{base}/"), &sha(&body), d.path())
            .await
            .unwrap();
        assert_eq!(got, d.path().join("bundle"));
    }

    #[tokio::test]
    async fn a_download_with_the_wrong_sum_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let body = layer(8);
        let base = serve(ok_response(&body), 0, Duration::ZERO).await;
        let wrong = "ab".repeat(32);
        let e = get(&format!("{base}/b.tar"), &wrong, d.path())
            .await
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains(&wrong), "{msg}");
        assert!(msg.contains(&sha(&body)), "{msg}");
        assert!(msg.contains(&format!("{base}/b.tar")), "{msg}");
        assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));

        // A malformed sum is refused before anything is fetched.
        let e = get(&format!("{base}/b.tar"), "not-a-sum", d.path())
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("not a sha256"), "{e:#}");
        let e = get("ftp://example.com/b.tar", &wrong, d.path())
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("only http"), "{e:#}");
    }

    #[tokio::test]
    async fn a_missing_artifact_reports_the_status_and_no_credentials() {
        let d = tempfile::tempdir().unwrap();
        let base = serve(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
                .to_vec(),
            0,
            Duration::ZERO,
        )
        .await;
        let url = base.replacen("http://", "http://deploy:s3cr3t@", 1) + "/b.tar?sig=qu3ry";
        let e = get(&url, &"cd".repeat(32), d.path()).await.unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("404"), "{msg}");
        assert!(msg.contains("/b.tar"), "{msg}");
        for secret in ["deploy", "s3cr3t", "qu3ry"] {
            assert!(!msg.contains(secret), "{msg}");
        }
        assert!(names(d.path()).is_empty());
    }

    #[tokio::test]
    async fn a_server_that_stalls_mid_body_is_abandoned_and_nothing_stays() {
        let d = tempfile::tempdir().unwrap();
        let body = layer(9);
        let response = ok_response(&body);
        let base = serve(response.clone(), response.len() / 2, Duration::from_secs(5)).await;
        let e = fetch_with(
            &format!("{base}/b.tar"),
            &sha(&body),
            d.path(),
            Duration::from_millis(300),
            false,
        )
        .await
        .unwrap_err();
        assert!(format!("{e:#}").contains("nothing received"), "{e:#}");
        assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    }
}
