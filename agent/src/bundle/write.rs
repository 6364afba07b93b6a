//! `bundle write`'s filesystem half: a tar stream in, every entry staged beside its destination
//! and checked against the request's manifest, and only then committed.
//!
//! Path sources are merged: each file is written to a temp file next to its destination and
//! renamed over it, the one it replaces kept as `<file>.pfctl-prev`; files the bundle does not
//! name are left alone. Volume sources are swapped whole: the tree is built in
//! `<target>.pfctl-staging` and renamed into place, the previous tree kept as
//! `<target>.pfctl-prev`.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, DirBuilder, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use pfproto::bundle::{
    EntryKind, Expect, SourceKind, WriteReport, WriteRequest, WriteSource, WrittenSource,
    PREV_SUFFIX, WRITE_REQUEST_ENTRY,
};
use sha2::{Digest, Sha256};
use tar::{Archive, Entries, EntryType, Header};

use super::{check_write_sources, shown, BUF};

/// The request entry is read whole; a manifest of a million entries fits well within this.
const MAX_REQUEST_ENTRY: u64 = 64 * 1024 * 1024;
const STAGING_SUFFIX: &str = ".pfctl-staging";
/// Directories of the bundle while they are filled: private until their own modes are set.
const STAGED_MODE: u32 = 0o700;
/// Directories above a restored path that did not exist, as `mkdir -p` would make them.
const OUTSIDE_MODE: u32 = 0o755;
/// Longest file name Linux file systems take.
const NAME_MAX: usize = 255;

/// Where a source goes. `swap`: replace the whole tree (volumes); otherwise merge file by file.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    pub swap: bool,
}

/// A failed restore. `committed`: something on the node was changed (the message says what).
#[derive(Debug)]
pub struct WriteFailure {
    pub error: anyhow::Error,
    pub committed: bool,
}

/// Reads the whole stream, stages and verifies it, then commits; see the module doc.
/// `resolve` is called once per source that has entries, before its first entry is staged.
pub fn stage_and_commit<R: Read>(
    input: R,
    mut resolve: impl FnMut(&WriteSource) -> Result<Target>,
) -> Result<WriteReport, WriteFailure> {
    let unchanged = |error| WriteFailure {
        error,
        committed: false,
    };
    let mut archive = Archive::new(input);
    let mut entries = archive
        .entries()
        .map_err(|e| unchanged(anyhow!("reading the bundle: {e}")))?;
    let request = read_request(&mut entries).map_err(unchanged)?;
    let manifest = Manifest::new(&request).map_err(unchanged)?;
    let mut stage = Stage {
        sources: Vec::new(),
        buf: vec![0u8; BUF],
    };
    if let Err(e) = stage.receive(&request, &manifest, &mut entries, &mut resolve) {
        stage.discard_from(0);
        return Err(unchanged(anyhow!("{e:#}; nothing was changed")));
    }
    stage.commit(&request)
}

fn read_request<R: Read>(entries: &mut Entries<'_, R>) -> Result<WriteRequest> {
    let mut first = entries
        .next()
        .ok_or_else(|| {
            anyhow!("the bundle is empty: its first entry must be {WRITE_REQUEST_ENTRY}")
        })?
        .map_err(|e| anyhow!("reading the bundle's first entry: {e}"))?;
    if &*first.path_bytes() != WRITE_REQUEST_ENTRY.as_bytes() {
        bail!(
            "the bundle's first entry is {:?}, not {WRITE_REQUEST_ENTRY}",
            String::from_utf8_lossy(&first.path_bytes())
        );
    }
    if !first.header().entry_type().is_file() {
        bail!("{WRITE_REQUEST_ENTRY} in the bundle is not a file");
    }
    if first.size() > MAX_REQUEST_ENTRY {
        bail!("{WRITE_REQUEST_ENTRY} is larger than 64 MiB");
    }
    let mut json = Vec::new();
    (&mut first)
        .take(MAX_REQUEST_ENTRY)
        .read_to_end(&mut json)
        .with_context(|| format!("reading {WRITE_REQUEST_ENTRY}"))?;
    serde_json::from_slice(&json)
        .with_context(|| format!("{WRITE_REQUEST_ENTRY} is not a WriteRequest"))
}

// ---- the request's manifest ----

struct Manifest<'a> {
    expects: &'a [Expect],
    by_name: HashMap<&'a str, usize>,
    /// Per request source: its root entry's kind; `None` when the bundle has nothing of it.
    roots: Vec<Option<EntryKind>>,
}

impl<'a> Manifest<'a> {
    fn new(request: &'a WriteRequest) -> Result<Self> {
        check_write_sources(&request.sources)?;
        let index: HashMap<&str, usize> = request
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut m = Manifest {
            expects: &request.expect,
            by_name: HashMap::with_capacity(request.expect.len()),
            roots: vec![None; request.sources.len()],
        };
        let mut has_children = vec![false; request.sources.len()];
        for (i, e) in request.expect.iter().enumerate() {
            let (source, rel) = split_name(&e.name).context("in the manifest")?;
            let Some(&si) = index.get(source) else {
                bail!(
                    "manifest entry {}: source {source} is not in the request",
                    e.name
                );
            };
            if m.by_name.insert(&e.name, i).is_some() {
                bail!("manifest entry {} is listed twice", e.name);
            }
            match e.kind {
                EntryKind::File => match e.sha256.as_deref() {
                    Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                    _ => bail!(
                        "manifest entry {}: a file needs its sha256 (64 hex digits)",
                        e.name
                    ),
                },
                EntryKind::Symlink if e.link.as_deref().unwrap_or("").is_empty() => {
                    bail!("manifest entry {}: a symlink needs its target", e.name)
                }
                _ => {}
            }
            match rel {
                None => m.roots[si] = Some(e.kind),
                Some(_) => has_children[si] = true,
            }
        }
        // Every entry's parent is a directory of the manifest: then nothing staged can be a
        // symlink that a later entry is written through.
        for e in m.expects {
            if let Some((parent, _)) = e.name.rsplit_once('/') {
                let is_dir = m
                    .by_name
                    .get(parent)
                    .is_some_and(|&i| m.expects[i].kind == EntryKind::Dir);
                if !is_dir && m.by_name.contains_key(parent) {
                    bail!(
                        "manifest entry {}: its parent {parent} is not a directory",
                        e.name
                    );
                }
                if !is_dir && parent.contains('/') {
                    bail!(
                        "manifest entry {}: its parent {parent} is not listed",
                        e.name
                    );
                }
            }
        }
        for (si, s) in request.sources.iter().enumerate() {
            match (m.roots[si], has_children[si]) {
                (None, true) => bail!(
                    "the manifest has entries under {} but not {} itself",
                    s.name,
                    s.name
                ),
                (Some(k), true) if k != EntryKind::Dir => bail!(
                    "the manifest has entries under {}, which is a {}, not a directory",
                    s.name,
                    kind_word(k)
                ),
                _ => {}
            }
        }
        Ok(m)
    }
}

/// `<source>` or `<source>/<rel>`: not absolute, no empty, `.` or `..` component.
fn split_name(name: &str) -> Result<(&str, Option<&str>)> {
    if name.starts_with('/') {
        bail!("entry {name:?} is an absolute name");
    }
    for part in name.split('/') {
        match part {
            ".." => bail!("entry {name:?} has a '..' component"),
            "" | "." => bail!("entry {name:?} has an empty or '.' component"),
            _ if part.contains('\0') => bail!("entry {name:?} contains a NUL"),
            _ => {}
        }
    }
    Ok(match name.split_once('/') {
        Some((source, rel)) => (source, Some(rel)),
        None => (name, None),
    })
}

fn kind_word(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
    }
}

fn kind_of(t: EntryType) -> Option<EntryKind> {
    match t {
        EntryType::Regular | EntryType::Continuous => Some(EntryKind::File),
        EntryType::Directory => Some(EntryKind::Dir),
        EntryType::Symlink => Some(EntryKind::Symlink),
        _ => None,
    }
}

/// What a header says to set on what it describes.
#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

impl Meta {
    fn of(h: &Header, name: &str) -> Result<Meta> {
        let bad = |what: &str, e: io::Error| {
            anyhow!("entry {name}: unreadable {what} in its header: {e}")
        };
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| anyhow!("entry {name}: {what} {v} is out of range"))
        };
        Ok(Meta {
            mode: h.mode().map_err(|e| bad("mode", e))? & 0o7777,
            uid: id(h.uid().map_err(|e| bad("uid", e))?, "uid")?,
            gid: id(h.gid().map_err(|e| bad("gid", e))?, "gid")?,
            mtime: h.mtime().map_err(|e| bad("mtime", e))?,
        })
    }

    fn time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.mtime)
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn set_file_meta(f: &File, m: &Meta, path: &Path) -> Result<()> {
    let at = || format!("setting owner, mode and time of {}", shown(path));
    // Owner first: chown clears set-id bits that the mode may carry.
    if is_root() {
        std::os::unix::fs::fchown(f, Some(m.uid), Some(m.gid)).with_context(at)?;
    }
    f.set_permissions(Permissions::from_mode(m.mode))
        .with_context(at)?;
    let t = m.time();
    f.set_times(FileTimes::new().set_accessed(t).set_modified(t))
        .with_context(at)
}

fn set_dir_meta(path: &Path, m: &Meta) -> Result<()> {
    let at = || format!("setting owner, mode and time of {}", shown(path));
    if is_root() {
        std::os::unix::fs::chown(path, Some(m.uid), Some(m.gid)).with_context(at)?;
    }
    fs::set_permissions(path, Permissions::from_mode(m.mode)).with_context(at)?;
    let t = TimeSpec::new(m.mtime as i64, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::FollowSymlink,
    )
    .with_context(at)
}

fn set_link_meta(path: &Path, m: &Meta) -> Result<()> {
    let at = || format!("setting owner and time of symlink {}", shown(path));
    if is_root() {
        std::os::unix::fs::lchown(path, Some(m.uid), Some(m.gid)).with_context(at)?;
    }
    let t = TimeSpec::new(m.mtime as i64, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .with_context(at)
}

// ---- staging ----

struct Stage {
    /// Per request source; `None` for one the bundle has nothing of.
    sources: Vec<Option<SourceStage>>,
    buf: Vec<u8>,
}

struct SourceStage {
    name: String,
    target: PathBuf,
    swap: bool,
    /// `swap`: where the new tree (or file) is built.
    staging: Option<PathBuf>,
    /// Directories this restore made outside `staging`, in order, to remove again on failure.
    created: Vec<PathBuf>,
    /// Merge: temp files (and links) to rename over their destinations, in arrival order.
    pending: Vec<Pending>,
    /// How many of `pending` are in place.
    moved: usize,
    /// Swap: the new tree is in place.
    swapped: bool,
    /// Directories whose owner, mode and time are set once their contents are in place.
    dirs: Vec<(PathBuf, Meta)>,
    files: u64,
    bytes: u64,
}

struct Pending {
    temp: PathBuf,
    dest: PathBuf,
}

impl Stage {
    fn receive<R: Read>(
        &mut self,
        request: &WriteRequest,
        manifest: &Manifest<'_>,
        entries: &mut Entries<'_, R>,
        resolve: &mut dyn FnMut(&WriteSource) -> Result<Target>,
    ) -> Result<()> {
        for (i, s) in request.sources.iter().enumerate() {
            let Some(root_kind) = manifest.roots[i] else {
                self.sources.push(None);
                continue;
            };
            let target = resolve(s).with_context(|| format!("source {}", s.name))?;
            let mut st = SourceStage {
                name: s.name.clone(),
                target: target.path,
                swap: target.swap,
                staging: None,
                created: Vec::new(),
                pending: Vec::new(),
                moved: 0,
                swapped: false,
                dirs: Vec::new(),
                files: 0,
                bytes: 0,
            };
            // Kept even when preparing fails, so that what it made is removed again.
            let prepared = st.prepare(root_kind);
            self.sources.push(Some(st));
            prepared.with_context(|| format!("source {}", s.name))?;
        }
        let index: HashMap<&str, usize> = request
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut seen = vec![false; manifest.expects.len()];
        let mut last: Option<String> = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| match &last {
                Some(name) => anyhow!("reading the bundle after entry {name}: {e}"),
                None => anyhow!("reading the bundle after {WRITE_REQUEST_ENTRY}: {e}"),
            })?;
            let raw = entry.path_bytes();
            let name = std::str::from_utf8(&raw)
                .map_err(|_| {
                    anyhow!(
                        "entry {:?}: its name is not UTF-8",
                        String::from_utf8_lossy(&raw)
                    )
                })?
                .trim_end_matches('/')
                .to_string();
            drop(raw);
            let (source, rel) = split_name(&name)?;
            let Some(&si) = index.get(source) else {
                bail!("entry {name}: source {source} is not in the request");
            };
            let Some(&ei) = manifest.by_name.get(name.as_str()) else {
                bail!("entry {name} is not in the manifest: the bundle does not match its request");
            };
            if std::mem::replace(&mut seen[ei], true) {
                bail!("entry {name} is in the bundle twice");
            }
            let expect = &manifest.expects[ei];
            let t = entry.header().entry_type();
            let kind = kind_of(t).ok_or_else(|| {
                anyhow!("entry {name} is of tar type {t:?}; a restore takes only files, directories and symlinks")
            })?;
            if kind != expect.kind {
                bail!(
                    "entry {name} is a {} in the bundle but a {} in the manifest",
                    kind_word(kind),
                    kind_word(expect.kind)
                );
            }
            let meta = Meta::of(entry.header(), &name)?;
            let st = self.sources[si]
                .as_mut()
                .ok_or_else(|| anyhow!("entry {name}: source {source} has no root entry"))?;
            match kind {
                EntryKind::File => {
                    st.receive_file(&mut entry, rel, expect, &meta, &name, &mut self.buf)?
                }
                EntryKind::Dir => st.receive_dir(rel, &meta, &name)?,
                EntryKind::Symlink => {
                    let link = entry
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    st.receive_symlink(&link, rel, expect, &meta, &name)?
                }
            }
            last = Some(name);
        }
        let missing: Vec<&str> = seen
            .iter()
            .zip(manifest.expects)
            .filter(|(seen, _)| !**seen)
            .map(|(_, e)| e.name.as_str())
            .collect();
        if let Some(first) = missing.first() {
            let more = match missing.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            bail!("the bundle ended without entry {first}{more} of its manifest");
        }
        for st in self.sources.iter_mut().flatten() {
            st.finish_staging()
                .with_context(|| format!("source {}", st.name))?;
        }
        Ok(())
    }

    /// Removes what sources `from..` staged (and the directories made for them).
    fn discard_from(&mut self, from: usize) {
        for st in self.sources.iter_mut().skip(from).flatten() {
            st.discard();
        }
    }

    fn commit(mut self, request: &WriteRequest) -> Result<WriteReport, WriteFailure> {
        let mut report = WriteReport::default();
        let mut done: Vec<&str> = Vec::new();
        for (i, s) in request.sources.iter().enumerate() {
            let Some(st) = self.sources.get_mut(i).and_then(Option::as_mut) else {
                report.sources.push(WrittenSource {
                    name: s.name.clone(),
                    target: nothing_target(s),
                    ..Default::default()
                });
                continue;
            };
            match st.commit() {
                Ok(replaced) => {
                    report.sources.push(WrittenSource {
                        name: st.name.clone(),
                        target: st.target.to_string_lossy().into_owned(),
                        files: st.files,
                        bytes: st.bytes,
                        replaced,
                    });
                    done.push(&s.name);
                }
                Err(e) => {
                    let partly = st.moved > 0 || st.swapped;
                    let this = if st.swapped {
                        format!("its new contents are in place (the previous ones kept as *{PREV_SUFFIX})")
                    } else if partly {
                        format!(
                            "{} of its {} files and links were put in place (each replaced one kept as *{PREV_SUFFIX}), the rest not",
                            st.moved,
                            st.pending.len()
                        )
                    } else {
                        "none of it was changed".to_string()
                    };
                    let name = st.name.clone();
                    self.discard_from(i);
                    let rest: Vec<&str> = self
                        .sources
                        .iter()
                        .skip(i + 1)
                        .flatten()
                        .map(|st| st.name.as_str())
                        .collect();
                    let list = |v: &[&str]| {
                        if v.is_empty() {
                            "none".to_string()
                        } else {
                            v.join(", ")
                        }
                    };
                    return Err(WriteFailure {
                        error: anyhow!(
                            "restoring source {name} failed: {e:#}. Of {name}, {this}. Sources restored completely: {}. Not restored (their staged copies removed): {}",
                            list(&done),
                            list(&rest)
                        ),
                        committed: partly || !done.is_empty(),
                    });
                }
            }
        }
        Ok(report)
    }
}

/// The report's target for a source the bundle had nothing of.
fn nothing_target(s: &WriteSource) -> String {
    match s.kind {
        SourceKind::Path => s.path.clone().unwrap_or_default(),
        SourceKind::Volume => s.volume.clone().unwrap_or_default(),
    }
}

impl SourceStage {
    fn prepare(&mut self, root_kind: EntryKind) -> Result<()> {
        let parent = self
            .target
            .parent()
            .ok_or_else(|| anyhow!("{} has no parent directory", shown(&self.target)))?
            .to_path_buf();
        if self.swap {
            ensure_dir(&parent, OUTSIDE_MODE, &mut self.created)?;
            let staging = with_suffix(&self.target, STAGING_SUFFIX)?;
            // Left by an interrupted restore; its name is ours.
            remove_any(&staging)?;
            if root_kind == EntryKind::Dir {
                DirBuilder::new()
                    .mode(STAGED_MODE)
                    .create(&staging)
                    .with_context(|| format!("creating {}", shown(&staging)))?;
            }
            self.staging = Some(staging);
            return Ok(());
        }
        ensure_dir(&parent, OUTSIDE_MODE, &mut self.created)?;
        match root_kind {
            EntryKind::Dir => ensure_dir(&self.target, STAGED_MODE, &mut self.created),
            _ => not_a_dir(&self.target, &self.name),
        }
    }

    /// Where the entry goes until commit: inside the staging tree, or a temp file next to
    /// its destination (recorded as pending).
    fn place(&mut self, rel: Option<&str>, name: &str) -> Result<PathBuf> {
        if let Some(staging) = &self.staging {
            let path = match rel {
                Some(rel) => staging.join(rel),
                None => staging.clone(),
            };
            if let Some(parent) = path.parent() {
                if rel.is_some() {
                    DirBuilder::new()
                        .mode(STAGED_MODE)
                        .recursive(true)
                        .create(parent)
                        .with_context(|| format!("entry {name}: creating {}", shown(parent)))?;
                }
            }
            return Ok(path);
        }
        let dest = match rel {
            Some(rel) => self.target.join(rel),
            None => self.target.clone(),
        };
        let parent = dest
            .parent()
            .ok_or_else(|| anyhow!("{} has no parent directory", shown(&dest)))?;
        ensure_dir(parent, STAGED_MODE, &mut self.created)
            .with_context(|| format!("entry {name}"))?;
        not_a_dir(&dest, name)?;
        let file_name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{} has no file name", shown(&dest)))?;
        if fs::symlink_metadata(&dest).is_ok() && file_name.len() + PREV_SUFFIX.len() > NAME_MAX {
            bail!(
                "{} exists and its name is too long to keep the previous copy as {PREV_SUFFIX}; rename it and retry",
                shown(&dest)
            );
        }
        let pid = std::process::id();
        let mut temp_name = format!(".{file_name}.pfctl-tmp-{pid}");
        if temp_name.len() > NAME_MAX {
            temp_name = format!(".pfctl-tmp-{pid}-{}", self.pending.len());
        }
        let temp = parent.join(temp_name);
        // Left by an earlier restore that died (pids are reused); never a directory of ours.
        match fs::symlink_metadata(&temp) {
            Ok(m) if m.is_dir() => bail!(
                "{} is a directory in the way of a temp file; move it away and retry",
                shown(&temp)
            ),
            Ok(_) => fs::remove_file(&temp)
                .with_context(|| format!("removing the stale {}", shown(&temp)))?,
            Err(_) => {}
        }
        self.pending.push(Pending {
            temp: temp.clone(),
            dest,
        });
        Ok(temp)
    }

    fn receive_file(
        &mut self,
        data: &mut dyn Read,
        rel: Option<&str>,
        expect: &Expect,
        meta: &Meta,
        name: &str,
        buf: &mut [u8],
    ) -> Result<()> {
        let path = self.place(rel, name)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("entry {name}: creating {}", shown(&path)))?;
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        loop {
            let n = match data.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => bail!("reading entry {name} from the bundle: {e}"),
            };
            hasher.update(&buf[..n]);
            f.write_all(&buf[..n])
                .with_context(|| format!("entry {name}: writing {}", shown(&path)))?;
            got += n as u64;
        }
        if got != expect.size {
            bail!(
                "entry {name} has {got} bytes, but the manifest says {}: the bundle does not match its manifest",
                expect.size
            );
        }
        let sha = pfproto::hex(&hasher.finalize());
        let want = expect.sha256.as_deref().unwrap_or_default();
        if !sha.eq_ignore_ascii_case(want) {
            bail!(
                "entry {name}: its content differs from the manifest (sha256 {sha}, manifest {want}): the bundle is damaged"
            );
        }
        set_file_meta(&f, meta, &path)?;
        // A staged tree is flushed once, whole, when it is complete (finish_staging).
        if self.staging.is_none() {
            f.sync_all()
                .with_context(|| format!("entry {name}: writing {}", shown(&path)))?;
        }
        self.files += 1;
        self.bytes += got;
        Ok(())
    }

    fn receive_symlink(
        &mut self,
        link: &str,
        rel: Option<&str>,
        expect: &Expect,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        let want = expect.link.as_deref().unwrap_or_default();
        if link != want {
            bail!("entry {name} links to {link:?} in the bundle but to {want:?} in the manifest");
        }
        let path = self.place(rel, name)?;
        std::os::unix::fs::symlink(link, &path)
            .with_context(|| format!("entry {name}: creating symlink {}", shown(&path)))?;
        set_link_meta(&path, meta)
    }

    fn receive_dir(&mut self, rel: Option<&str>, meta: &Meta, name: &str) -> Result<()> {
        let path = match (&self.staging, rel) {
            (Some(staging), None) => staging.clone(),
            (Some(staging), Some(rel)) => {
                let path = staging.join(rel);
                DirBuilder::new()
                    .mode(STAGED_MODE)
                    .recursive(true)
                    .create(&path)
                    .with_context(|| format!("entry {name}: creating {}", shown(&path)))?;
                path
            }
            (None, rel) => {
                let path = match rel {
                    Some(rel) => self.target.join(rel),
                    None => self.target.clone(),
                };
                ensure_dir(&path, STAGED_MODE, &mut self.created)
                    .with_context(|| format!("entry {name}"))?;
                path
            }
        };
        self.dirs.push((path, *meta));
        Ok(())
    }

    /// Swap: the staged tree gets its directories' owners, modes and times (deepest first, so
    /// a read-only directory is filled before it is closed) and is flushed to disk: one syncfs
    /// rather than an fsync per file, which would make a volume of small files crawl.
    fn finish_staging(&mut self) -> Result<()> {
        let Some(staging) = &self.staging else {
            return Ok(());
        };
        sort_deepest_first(&mut self.dirs);
        for (path, meta) in &self.dirs {
            set_dir_meta(path, meta)?;
        }
        let parent = staging.parent().unwrap_or(staging);
        File::open(parent)
            .map_err(anyhow::Error::from)
            .and_then(|d| nix::unistd::syncfs(&d).map_err(anyhow::Error::from))
            .with_context(|| format!("flushing {} to disk", shown(staging)))
    }

    /// Puts the staged source in place; how many files (or trees) it replaced.
    fn commit(&mut self) -> Result<u64> {
        if let Some(staging) = self.staging.clone() {
            return self.swap_in(&staging);
        }
        let mut replaced = 0;
        let mut parents = BTreeSet::new();
        while let Some(p) = self.pending.get(self.moved) {
            if keep_prev(&p.dest)? {
                replaced += 1;
            }
            fs::rename(&p.temp, &p.dest).with_context(|| {
                format!("moving {} into place as {}", shown(&p.temp), shown(&p.dest))
            })?;
            if let Some(parent) = p.dest.parent() {
                parents.insert(parent.to_path_buf());
            }
            self.moved += 1;
        }
        sort_deepest_first(&mut self.dirs);
        for (path, meta) in &self.dirs {
            set_dir_meta(path, meta)?;
        }
        for dir in parents {
            sync_dir(&dir)?;
        }
        Ok(replaced)
    }

    fn swap_in(&mut self, staging: &Path) -> Result<u64> {
        let target = self.target.clone();
        let prev = with_suffix(&target, PREV_SUFFIX)?;
        remove_any(&prev).with_context(|| "removing the previous restore's copy".to_string())?;
        let replaced = match fs::symlink_metadata(&target) {
            Ok(_) => {
                fs::rename(&target, &prev).with_context(|| {
                    format!("moving {} aside to {}", shown(&target), shown(&prev))
                })?;
                1
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => bail!("{}: {e}", shown(&target)),
        };
        if let Err(e) = fs::rename(staging, &target) {
            if replaced == 1 {
                if let Err(back) = fs::rename(&prev, &target) {
                    bail!(
                        "moving {} into place as {}: {e}; moving the previous contents back failed too ({back}): they are in {}",
                        shown(staging),
                        shown(&target),
                        shown(&prev)
                    );
                }
            }
            bail!(
                "moving {} into place as {}: {e}; the previous contents are back in place",
                shown(staging),
                shown(&target)
            );
        }
        self.staging = None;
        self.swapped = true;
        if let Some(parent) = target.parent() {
            sync_dir(parent)?;
        }
        Ok(replaced)
    }

    fn discard(&mut self) {
        for p in &self.pending[self.moved..] {
            let _ = fs::remove_file(&p.temp);
        }
        self.pending.truncate(self.moved);
        if let Some(staging) = self.staging.take() {
            let _ = remove_any(&staging);
        }
        // Only the empty ones go: a directory that received a committed file stays.
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn sort_deepest_first(dirs: &mut [(PathBuf, Meta)]) {
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
}

/// Keeps `dest` (if any) as `<dest>.pfctl-prev`, replacing an older one; `true` if it existed.
/// A hard link where possible, so `dest` exists without a gap until the rename replaces it.
fn keep_prev(dest: &Path) -> Result<bool> {
    match fs::symlink_metadata(dest) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => bail!("{}: {e}", shown(dest)),
    }
    let prev = with_suffix(dest, PREV_SUFFIX)?;
    match fs::symlink_metadata(&prev) {
        Ok(m) if m.is_dir() => bail!(
            "{} is a directory, so the previous {} cannot be kept there; move it away and retry",
            shown(&prev),
            shown(dest)
        ),
        Ok(_) => fs::remove_file(&prev)
            .with_context(|| format!("removing the older {}", shown(&prev)))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => bail!("{}: {e}", shown(&prev)),
    }
    if fs::hard_link(dest, &prev).is_err() {
        fs::rename(dest, &prev)
            .with_context(|| format!("keeping {} as {}", shown(dest), shown(&prev)))?;
    }
    Ok(true)
}

fn with_suffix(path: &Path, suffix: &str) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", shown(path)))?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(path.with_file_name(name))
}

/// Makes `path` and missing parents with `mode`, recording each one made.
fn ensure_dir(path: &Path, mode: u32, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => bail!(
                "{} is in the way: it is not a directory (move it away and retry)",
                shown(at)
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(at.to_path_buf());
                at = at
                    .parent()
                    .ok_or_else(|| anyhow!("{}: no such directory", shown(path)))?;
            }
            Err(e) => bail!("{}: {e}", shown(at)),
        }
    }
    for dir in missing.into_iter().rev() {
        DirBuilder::new()
            .mode(mode)
            .create(&dir)
            .with_context(|| format!("creating {}", shown(&dir)))?;
        created.push(dir);
    }
    Ok(())
}

/// A file or link cannot replace a directory: that would need the directory's contents gone.
fn not_a_dir(dest: &Path, name: &str) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => bail!(
            "entry {name}: {} is a directory on this node but not in the bundle; move it away and retry",
            shown(dest)
        ),
        _ => Ok(()),
    }
}

fn remove_any(path: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    r.with_context(|| format!("removing {}", shown(path)))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing directory {} to disk", shown(dir)))
}

#[cfg(test)]
mod tests {
    use super::super::read::{write_sources, NoHooks, ResolvedSource};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A tree with nested dirs, a symlink, a 0600 file, an empty file, a >100-byte name and a
    /// file bigger than the copy buffer.
    fn build_tree(root: &Path) {
        let long_dir = "d".repeat(60);
        let long_file = format!("{}.txt", "f".repeat(70));
        fs::create_dir_all(root.join("conf/nested/deeper")).unwrap();
        fs::create_dir_all(root.join(&long_dir)).unwrap();
        fs::write(root.join("conf/app.yml"), "a: 1\n").unwrap();
        fs::write(root.join("conf/secret"), "pw\n").unwrap();
        fs::set_permissions(root.join("conf/secret"), Permissions::from_mode(0o600)).unwrap();
        fs::write(root.join("conf/nested/deeper/empty"), "").unwrap();
        fs::write(root.join(&long_dir).join(&long_file), "long name\n").unwrap();
        let big: Vec<u8> = (0..(BUF * 2 + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        fs::write(root.join("big.bin"), big).unwrap();
        std::os::unix::fs::symlink("conf/app.yml", root.join("current")).unwrap();
        fs::set_permissions(root.join("conf/nested"), Permissions::from_mode(0o750)).unwrap();
    }

    fn read_bundle(sources: &[(&str, &Path)]) -> Vec<u8> {
        let resolved: Vec<ResolvedSource> = sources
            .iter()
            .map(|(n, p)| ResolvedSource {
                name: n.to_string(),
                root: Some(p.to_path_buf()),
                optional: false,
            })
            .collect();
        write_sources(Vec::new(), &resolved, &mut NoHooks).unwrap()
    }

    /// What pfctl's manifest records of a read stream.
    fn manifest_of(stream: &[u8]) -> Vec<Expect> {
        let mut a = Archive::new(stream);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let kind = kind_of(h.entry_type()).unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap());
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                Expect {
                    name,
                    kind,
                    size: data.len() as u64,
                    sha256: (kind == EntryKind::File).then(|| pfproto::hex(&Sha256::digest(&data))),
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    link,
                }
            })
            .collect()
    }

    /// A write stream: the request, then `stream`'s entries as `edit` leaves them (`None`
    /// drops one).
    fn write_stream(
        request: &WriteRequest,
        stream: &[u8],
        mut edit: impl FnMut(&str, &mut Vec<u8>) -> bool,
    ) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let json = serde_json::to_vec(request).unwrap();
        let mut h = Header::new_gnu();
        h.set_size(json.len() as u64);
        h.set_mode(0o600);
        b.append_data(&mut h, WRITE_REQUEST_ENTRY, &json[..])
            .unwrap();
        let mut a = Archive::new(stream);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut h = e.header().clone();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let link = e.link_name_bytes().map(|l| l.into_owned());
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if !edit(&name, &mut data) {
                continue;
            }
            h.set_size(data.len() as u64);
            match link {
                Some(l) => b
                    .append_link(&mut h, &name, std::str::from_utf8(&l).unwrap())
                    .unwrap(),
                None => b.append_data(&mut h, &name, &data[..]).unwrap(),
            }
        }
        b.into_inner().unwrap()
    }

    fn path_source(name: &str, path: &Path) -> WriteSource {
        WriteSource {
            name: name.into(),
            kind: SourceKind::Path,
            path: Some(path.to_string_lossy().into_owned()),
            volume: None,
        }
    }

    fn merge(s: &WriteSource) -> Result<Target> {
        Ok(Target {
            path: PathBuf::from(s.path.clone().unwrap()),
            swap: false,
        })
    }

    fn swap(s: &WriteSource) -> Result<Target> {
        Ok(Target {
            path: PathBuf::from(s.path.clone().unwrap()),
            swap: true,
        })
    }

    /// Everything under `root`: relative name -> (kind, mode, contents or link target).
    fn snapshot(root: &Path) -> Vec<(String, String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let m = fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let (kind, body) = if m.file_type().is_symlink() {
                    (
                        "link",
                        fs::read_link(&p).unwrap().into_os_string().into_vec(),
                    )
                } else if m.is_dir() {
                    stack.push(p.clone());
                    ("dir", Vec::new())
                } else {
                    ("file", fs::read(&p).unwrap())
                };
                let mode = if kind == "link" { 0 } else { m.mode() & 0o7777 };
                out.push((rel, kind.to_string(), mode, body));
            }
        }
        out.sort();
        out
    }

    use std::os::unix::ffi::OsStringExt;

    fn request(sources: Vec<WriteSource>, stream: &[u8]) -> WriteRequest {
        WriteRequest {
            sources,
            expect: manifest_of(stream),
        }
    }

    #[test]
    fn round_trip_into_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("app", &src)]);
        let dest = dir.path().join("restored/app");
        let req = request(vec![path_source("app", &dest)], &stream);
        let input = write_stream(&req, &stream, |_, _| true);
        let report = stage_and_commit(&input[..], merge).unwrap();
        assert_eq!(snapshot(&src), snapshot(&dest));
        let src_meta = fs::metadata(src.join("big.bin")).unwrap();
        let dest_meta = fs::metadata(dest.join("big.bin")).unwrap();
        assert_eq!(src_meta.mtime(), dest_meta.mtime());
        assert_eq!(
            fs::metadata(src.join("conf")).unwrap().mtime(),
            fs::metadata(dest.join("conf")).unwrap().mtime()
        );
        let r = &report.sources[0];
        assert_eq!((r.name.as_str(), r.files, r.replaced), ("app", 5, 0));
        assert_eq!(r.bytes, (BUF * 2 + 12345 + 5 + 3 + 10) as u64);
        assert_eq!(r.target, dest.to_string_lossy());
        // No temp files left behind.
        assert!(!snapshot(&dest)
            .iter()
            .any(|(n, ..)| n.contains("pfctl-tmp")));
        // A parent that did not exist is made as `mkdir -p` would, not left private.
        let umask = fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap();
        let parent = fs::metadata(dir.path().join("restored")).unwrap();
        assert_eq!(parent.mode() & 0o7777, OUTSIDE_MODE & !umask);
    }

    #[test]
    fn owners_are_restored_when_root() {
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        std::os::unix::fs::chown(src.join("conf/secret"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::lchown(src.join("current"), Some(1235), Some(1235)).unwrap();
        std::os::unix::fs::chown(src.join("conf/nested"), Some(1236), Some(1236)).unwrap();
        let stream = read_bundle(&[("app", &src)]);
        let dest = dir.path().join("dest");
        let req = request(vec![path_source("app", &dest)], &stream);
        stage_and_commit(&write_stream(&req, &stream, |_, _| true)[..], merge).unwrap();
        let m = fs::metadata(dest.join("conf/secret")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 4321));
        let m = fs::symlink_metadata(dest.join("current")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1235, 1235));
        let m = fs::metadata(dest.join("conf/nested")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1236, 1236, 0o750));
    }

    #[test]
    fn replaced_files_are_kept_and_others_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("app", &src)]);
        let dest = dir.path().join("dest");
        fs::create_dir_all(dest.join("conf")).unwrap();
        fs::write(dest.join("conf/app.yml"), "old\n").unwrap();
        fs::write(dest.join("conf/app.yml.pfctl-prev"), "older\n").unwrap();
        fs::write(dest.join("local-only"), "mine\n").unwrap();
        std::os::unix::fs::symlink("elsewhere", dest.join("current")).unwrap();
        let req = request(vec![path_source("app", &dest)], &stream);
        let report =
            stage_and_commit(&write_stream(&req, &stream, |_, _| true)[..], merge).unwrap();
        assert_eq!(report.sources[0].replaced, 2);
        assert_eq!(fs::read(dest.join("conf/app.yml")).unwrap(), b"a: 1\n");
        assert_eq!(
            fs::read(dest.join("conf/app.yml.pfctl-prev")).unwrap(),
            b"old\n"
        );
        assert_eq!(fs::read(dest.join("local-only")).unwrap(), b"mine\n");
        assert_eq!(
            fs::read_link(dest.join("current")).unwrap(),
            Path::new("conf/app.yml")
        );
        assert_eq!(
            fs::read_link(dest.join("current.pfctl-prev")).unwrap(),
            Path::new("elsewhere")
        );
    }

    #[test]
    fn single_file_source() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hosts");
        fs::write(&src, "10.0.0.1 a\n").unwrap();
        fs::set_permissions(&src, Permissions::from_mode(0o640)).unwrap();
        let stream = read_bundle(&[("hosts", &src)]);
        let dest = dir.path().join("etc/hosts");
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(&dest, "old\n").unwrap();
        let req = request(vec![path_source("hosts", &dest)], &stream);
        let report =
            stage_and_commit(&write_stream(&req, &stream, |_, _| true)[..], merge).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"10.0.0.1 a\n");
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(
            fs::read(dir.path().join("etc/hosts.pfctl-prev")).unwrap(),
            b"old\n"
        );
        assert_eq!(
            (report.sources[0].files, report.sources[0].replaced),
            (1, 1)
        );
        let names: Vec<String> = fs::read_dir(dir.path().join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// Refused streams: the error names the entry; the destination is as it was.
    fn refused(
        edit: impl FnMut(&str, &mut Vec<u8>) -> bool,
        tweak_request: impl FnOnce(&mut WriteRequest),
        wanted: &str,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("app", &src)]);
        let dest = dir.path().join("dest");
        fs::create_dir_all(dest.join("conf")).unwrap();
        fs::write(dest.join("conf/app.yml"), "old\n").unwrap();
        let before = snapshot(&dest);
        let mut req = request(vec![path_source("app", &dest)], &stream);
        tweak_request(&mut req);
        let input = write_stream(&req, &stream, edit);
        let failure = stage_and_commit(&input[..], merge).unwrap_err();
        let message = format!("{:#}", failure.error);
        assert!(message.contains(wanted), "{message}");
        assert!(!failure.committed);
        assert_eq!(snapshot(&dest), before, "{message}");
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        refused(
            |name, data| {
                if name == "app/big.bin" {
                    data[BUF + 7] ^= 0x40;
                }
                true
            },
            |_| {},
            "entry app/big.bin: its content differs from the manifest",
        );
    }

    #[test]
    fn a_changed_size_is_refused() {
        refused(
            |name, data| {
                if name == "app/conf/app.yml" {
                    data.push(b'\n');
                }
                true
            },
            |_| {},
            "entry app/conf/app.yml has 6 bytes, but the manifest says 5",
        );
    }

    #[test]
    fn an_entry_not_in_the_manifest_is_refused() {
        refused(
            |_, _| true,
            |req| req.expect.retain(|e| e.name != "app/current"),
            "entry app/current is not in the manifest",
        );
    }

    #[test]
    fn a_missing_entry_is_refused() {
        refused(
            |name, _| name != "app/conf/secret",
            |_| {},
            "without entry app/conf/secret of its manifest",
        );
    }

    #[test]
    fn a_different_link_is_refused() {
        refused(
            |_, _| true,
            |req| {
                for e in &mut req.expect {
                    if e.name == "app/current" {
                        e.link = Some("/etc/shadow".into());
                    }
                }
            },
            "entry app/current links to \"conf/app.yml\" in the bundle",
        );
    }

    #[test]
    fn dot_dot_and_absolute_names_are_refused() {
        for bad in ["app/../escape", "/app/x"] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("dest");
            let req = WriteRequest {
                sources: vec![path_source("app", &dest)],
                expect: vec![Expect {
                    name: "app".into(),
                    kind: EntryKind::Dir,
                    mode: 0o755,
                    ..Default::default()
                }],
            };
            let mut b = tar::Builder::new(Vec::new());
            let json = serde_json::to_vec(&req).unwrap();
            let mut h = Header::new_gnu();
            h.set_size(json.len() as u64);
            b.append_data(&mut h, WRITE_REQUEST_ENTRY, &json[..])
                .unwrap();
            let mut h = Header::new_gnu();
            h.set_entry_type(EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, "app", io::empty()).unwrap();
            // The tar crate refuses to write such names, so the header is written by hand.
            let mut h = Header::new_gnu();
            h.as_old_mut().name[..bad.len()].copy_from_slice(bad.as_bytes());
            h.set_size(4);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append(&h, &b"evil"[..]).unwrap();
            let input = b.into_inner().unwrap();
            let failure = stage_and_commit(&input[..], merge).unwrap_err();
            let message = failure.error.to_string();
            assert!(message.contains(bad), "{message}");
            assert!(!dest.exists(), "the staged root directory is removed again");
            assert!(!dir.path().join("escape").exists());
        }
        // In the manifest, too.
        let mut req = WriteRequest {
            sources: vec![path_source("app", Path::new("/tmp/x"))],
            expect: vec![Expect {
                name: "app/a/../../b".into(),
                ..Default::default()
            }],
        };
        assert!(Manifest::new(&req).is_err());
        req.expect[0].name = "other/x".into();
        let e = Manifest::new(&req).err().unwrap();
        assert!(
            e.to_string().contains("source other is not in the request"),
            "{e}"
        );
    }

    #[test]
    fn the_first_entry_must_be_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("app", &src)]);
        let failure = stage_and_commit(&stream[..], merge).unwrap_err();
        assert!(
            failure.error.to_string().contains("first entry is \"app\""),
            "{:#}",
            failure.error
        );
        let failure = stage_and_commit(&b""[..], merge).unwrap_err();
        assert!(
            failure.error.to_string().contains("empty"),
            "{:#}",
            failure.error
        );
    }

    #[test]
    fn volume_style_swap_keeps_the_previous_tree() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("vol", &src)]);
        let data = dir.path().join("volumes/v/_data");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("stale"), "old tree\n").unwrap();
        let req = request(vec![path_source("vol", &data)], &stream);
        let input = write_stream(&req, &stream, |_, _| true);
        let report = stage_and_commit(&input[..], swap).unwrap();
        assert_eq!(snapshot(&src), snapshot(&data));
        assert_eq!(
            fs::metadata(&src).unwrap().mode(),
            fs::metadata(&data).unwrap().mode()
        );
        let prev = dir.path().join("volumes/v/_data.pfctl-prev");
        assert_eq!(fs::read(prev.join("stale")).unwrap(), b"old tree\n");
        assert!(!dir.path().join("volumes/v/_data.pfctl-staging").exists());
        assert_eq!(report.sources[0].replaced, 1);
        // Again: the older previous tree is replaced by the one just swapped out.
        stage_and_commit(&input[..], swap).unwrap();
        assert!(!prev.join("stale").exists());
        assert_eq!(snapshot(&prev), snapshot(&src));
    }

    #[test]
    fn a_refused_swap_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("vol", &src)]);
        let data = dir.path().join("v/_data");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("keep"), "k").unwrap();
        let req = request(vec![path_source("vol", &data)], &stream);
        let input = write_stream(&req, &stream, |name, d| {
            if name == "vol/conf/secret" {
                d[0] ^= 1;
            }
            true
        });
        let failure = stage_and_commit(&input[..], swap).unwrap_err();
        assert!(failure.error.to_string().contains("vol/conf/secret"));
        let left: Vec<String> = fs::read_dir(dir.path().join("v"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["_data"]);
        assert_eq!(fs::read(data.join("keep")).unwrap(), b"k");
    }

    #[test]
    fn a_failed_commit_says_what_was_restored() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one");
        let two = dir.path().join("two");
        fs::create_dir(&one).unwrap();
        fs::create_dir(&two).unwrap();
        fs::write(one.join("a"), "1").unwrap();
        fs::write(two.join("b"), "2").unwrap();
        let stream = read_bundle(&[("one", &one), ("two", &two)]);
        let d1 = dir.path().join("d1");
        let d2 = dir.path().join("d2");
        fs::create_dir_all(d2.join("b.pfctl-prev")).unwrap();
        fs::write(d2.join("b"), "old").unwrap();
        fs::write(d2.join("b.pfctl-prev/x"), "in the way").unwrap();
        let req = request(
            vec![path_source("one", &d1), path_source("two", &d2)],
            &stream,
        );
        let failure =
            stage_and_commit(&write_stream(&req, &stream, |_, _| true)[..], merge).unwrap_err();
        let message = format!("{:#}", failure.error);
        assert!(failure.committed);
        assert!(message.contains("restoring source two failed"), "{message}");
        assert!(
            message.contains("Sources restored completely: one."),
            "{message}"
        );
        assert_eq!(fs::read(d1.join("a")).unwrap(), b"1");
        assert_eq!(fs::read(d2.join("b")).unwrap(), b"old");
        let temps = fs::read_dir(&d2)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("pfctl-tmp")
            })
            .count();
        assert_eq!(temps, 0);
    }

    #[test]
    fn a_source_without_entries_is_reported_empty() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        build_tree(&src);
        let stream = read_bundle(&[("app", &src)]);
        let dest = dir.path().join("dest");
        let mut req = request(vec![path_source("app", &dest)], &stream);
        req.sources
            .push(path_source("gone", &dir.path().join("never")));
        let report =
            stage_and_commit(&write_stream(&req, &stream, |_, _| true)[..], merge).unwrap();
        assert_eq!(report.sources.len(), 2);
        assert_eq!(report.sources[1].files, 0);
        assert!(!dir.path().join("never").exists());
    }
}
