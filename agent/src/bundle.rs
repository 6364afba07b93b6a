//! `pfagent bundle read|write`: the node's side of backup and restore. The protocol is
//! `pfproto::bundle`'s; the bytes travel raw on stdin/stdout like `pfagent image save|load`.
//!
//! The filesystem work (tar out, staged and verified tar in) is plain blocking code in `read`
//! and `write`, testable on temp dirs; everything that needs the Docker Engine (volumes, pause,
//! dump) is in `engine`, reached through a current-thread runtime only when a request needs it.

mod engine;
mod read;
mod write;

use std::fmt::Display;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use pfproto::bundle::{valid_source_name, ReadRequest, ReadSource, SourceKind, WriteSource};

use crate::cli::{BundleAction, BundleArgs};
use engine::Engine;
use read::{Around, ResolvedSource};

/// Every copy buffer, and stdout's: big enough that a 1 GiB volume is a few thousand writes.
pub(crate) const BUF: usize = 256 * 1024;
/// `bundle read`'s request line.
const MAX_REQUEST_LINE: u64 = 1024 * 1024;

/// `pfagent bundle ...`: the exit code.
pub fn run(args: BundleArgs) -> i32 {
    let result = match args.action {
        BundleAction::Read => read_command(&args.docker_host),
        BundleAction::Write => write_command(&args.docker_host),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pfagent: error: {}", printable(&format!("{e:#}")));
            1
        }
    }
}

pub(crate) fn warn(message: impl Display) {
    eprintln!("pfagent: warning: {}", printable(&message.to_string()));
}

/// A path as it goes into a message: control characters (a newline in a file name) escaped so
/// that one message stays one stderr line for the controller.
pub(crate) fn shown(path: &Path) -> String {
    printable(&path.to_string_lossy())
}

fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---- requests ----

/// The checks both directions share: a request that fails them names the source and nothing
/// on the node is touched.
fn check_source(
    name: &str,
    kind: SourceKind,
    path: Option<&str>,
    volume: Option<&str>,
) -> Result<()> {
    if !valid_source_name(name) {
        bail!("source name {name:?} is not valid: use 1 to 64 letters, digits, '_', '.' or '-'");
    }
    match kind {
        SourceKind::Path => {
            if volume.is_some() {
                bail!("source {name}: a path source takes no volume");
            }
            let path = path.ok_or_else(|| anyhow!("source {name}: a path source needs a path"))?;
            let p = Path::new(path);
            if path.contains('\0') || !p.is_absolute() {
                bail!("source {name}: path {path:?} must be absolute");
            }
            if p.components().any(|c| c == Component::ParentDir) {
                bail!("source {name}: path {path:?} must not contain '..'");
            }
        }
        SourceKind::Volume => {
            let volume =
                volume.ok_or_else(|| anyhow!("source {name}: a volume source needs a volume"))?;
            if !valid_volume_name(volume) {
                bail!("source {name}: {volume:?} is not a Docker volume name");
            }
            if let Some(sub) = path {
                volume_subpath(sub).with_context(|| format!("source {name}, volume {volume}"))?;
            }
        }
    }
    Ok(())
}

/// Docker's own rule for volume names; the name also goes into an Engine URL.
fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A volume's `path`: relative, plain names only, so it cannot leave the volume by itself.
fn volume_subpath(sub: &str) -> Result<PathBuf> {
    let p = Path::new(sub);
    if sub.is_empty() || sub.contains('\0') {
        bail!("path {sub:?} is empty or not a path");
    }
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("path {sub:?} must be relative to the volume's root, without '.' or '..'");
    }
    Ok(p.to_path_buf())
}

/// Where a volume's subpath is, refusing symlinks on the way: a container controls what is in
/// its volume, and a link there must not make the agent (root) read or replace a host path.
fn under_volume(mountpoint: &Path, sub: Option<&str>, volume: &str) -> Result<PathBuf> {
    let Some(sub) = sub else {
        return Ok(mountpoint.to_path_buf());
    };
    let rel = volume_subpath(sub)?;
    let mut at = mountpoint.to_path_buf();
    let count = rel.components().count();
    for (i, c) in rel.components().enumerate() {
        at.push(c);
        // The last component may be a symlink: it is then read or replaced as one.
        if i + 1 < count {
            if let Ok(m) = std::fs::symlink_metadata(&at) {
                if m.file_type().is_symlink() {
                    bail!(
                        "{} in volume {volume} is a symlink; refusing to follow it (fix the source's path)",
                        shown(&at)
                    );
                }
            }
        }
    }
    Ok(at)
}

fn check_read_request(request: &ReadRequest) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for s in &request.sources {
        check_source(&s.name, s.kind, s.path.as_deref(), s.volume.as_deref())?;
        if !names.insert(s.name.as_str()) {
            bail!("source {} is named twice in the request", s.name);
        }
        if s.pause && s.kind != SourceKind::Volume {
            bail!("source {}: only a volume source can be paused", s.name);
        }
        if let Some(cmd) = &s.dump {
            if cmd.is_empty() || cmd[0].is_empty() {
                bail!("source {}: the dump command is empty", s.name);
            }
            if s.kind != SourceKind::Volume && s.dump_service.is_none() {
                bail!(
                    "source {}: a dump needs a volume or a dump_service to run in",
                    s.name
                );
            }
        }
        if s.dump_service.as_deref() == Some("") {
            bail!("source {}: dump_service is empty", s.name);
        }
    }
    Ok(())
}

pub(crate) fn check_write_sources(sources: &[WriteSource]) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for s in sources {
        check_source(&s.name, s.kind, s.path.as_deref(), s.volume.as_deref())?;
        if !names.insert(s.name.as_str()) {
            bail!("source {} is named twice in the request", s.name);
        }
    }
    Ok(())
}

// ---- bundle read ----

fn read_command(docker_host: &str) -> Result<()> {
    let stdin = File::from(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin")?,
    );
    let request = read_request_line(stdin)?;
    check_read_request(&request)?;
    let mut engine = Engine::new(docker_host);
    let mut resolved = Vec::with_capacity(request.sources.len());
    for s in &request.sources {
        resolved.push(resolve_read(&mut engine, s)?);
    }
    let stdout = File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("stdout")?,
    );
    let mut hooks = ReadHooks {
        engine: &mut engine,
        sources: &request.sources,
        paused: Vec::new(),
        signals: None,
    };
    read::write_sources(stdout, &resolved, &mut hooks)?;
    Ok(())
}

fn read_request_line(input: impl Read) -> Result<ReadRequest> {
    let mut line = Vec::new();
    BufReader::new(input)
        .take(MAX_REQUEST_LINE + 1)
        .read_until(b'\n', &mut line)
        .context("reading the request from stdin")?;
    if line.len() as u64 > MAX_REQUEST_LINE {
        bail!("the request line on stdin is longer than 1 MiB");
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        bail!("no request on stdin: send one JSON line (a ReadRequest)");
    }
    serde_json::from_slice(&line).context("the request on stdin is not a ReadRequest")
}

/// Everything that can be known before the first byte goes out: volumes exist and where.
fn resolve_read(engine: &mut Engine, s: &ReadSource) -> Result<ResolvedSource> {
    let root = match s.kind {
        SourceKind::Path => Some(PathBuf::from(s.path.as_deref().unwrap_or_default())),
        SourceKind::Volume => {
            let volume = s.volume.as_deref().unwrap_or_default();
            match engine.volume_mountpoint(volume)? {
                Some(mp) => Some(under_volume(&mp, s.path.as_deref(), volume)?),
                None if s.optional => {
                    warn(format_args!(
                        "source {}: volume {volume} does not exist on this node; it is optional, so the source is empty",
                        s.name
                    ));
                    None
                }
                None => bail!(
                    "source {}: volume {volume} does not exist on this node (check the volume name, or mark the source optional)",
                    s.name
                ),
            }
        }
    };
    Ok(ResolvedSource {
        name: s.name.clone(),
        root,
        optional: s.optional,
    })
}

/// Runs a source's dump and pauses its containers before it is read, and unpauses them after,
/// also when the read fails or panics (the Drop).
struct ReadHooks<'a> {
    engine: &'a mut Engine,
    sources: &'a [ReadSource],
    paused: Vec<engine::Paused>,
    signals: Option<read::StopSignals>,
}

impl ReadHooks<'_> {
    fn unpause(&mut self, volume: &str) -> Result<()> {
        self.signals = None;
        if self.paused.is_empty() {
            return Ok(());
        }
        let paused = std::mem::take(&mut self.paused);
        self.engine.unpause(volume, &paused)
    }
}

impl Around for ReadHooks<'_> {
    fn before(&mut self, index: usize, resolved: &ResolvedSource) -> Result<()> {
        let s = &self.sources[index];
        if resolved.root.is_none() {
            return Ok(());
        }
        if s.dump.is_some() {
            self.engine.dump(s)?;
        }
        if s.pause {
            let volume = s.volume.as_deref().unwrap_or_default();
            // A Ctrl-C or TERM while containers are frozen must still reach the unpause.
            self.signals = Some(read::StopSignals::catch()?);
            self.paused = self.engine.pause(volume)?;
            eprintln!(
                "pfagent: paused {} container(s) of volume {volume}",
                self.paused.len()
            );
        }
        Ok(())
    }

    fn after(&mut self, index: usize, _resolved: &ResolvedSource) -> Result<()> {
        let s = &self.sources[index];
        self.unpause(s.volume.as_deref().unwrap_or_default())?;
        if read::stopped() {
            bail!("stopped by a signal while reading source {}", s.name);
        }
        Ok(())
    }
}

impl Drop for ReadHooks<'_> {
    fn drop(&mut self) {
        if !self.paused.is_empty() {
            let volume = self.paused[0].volume.clone();
            if let Err(e) = self.unpause(&volume) {
                warn(format_args!("{e:#}"));
            }
        }
    }
}

// ---- bundle write ----

fn write_command(docker_host: &str) -> Result<()> {
    let stdin = File::from(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin")?,
    );
    let input = BufReader::with_capacity(BUF, stdin);
    let mut engine = Engine::new(docker_host);
    let mut created: Vec<String> = Vec::new();
    let result = write::stage_and_commit(input, |s| resolve_write(&mut engine, s, &mut created));
    let report = match result {
        Ok(r) => r,
        Err(failure) => {
            if !failure.committed {
                // Made only to have somewhere to stage; nothing was restored into it.
                for volume in &created {
                    if let Err(e) = engine.remove_volume(volume) {
                        warn(format_args!(
                            "could not remove volume {volume}, created for this restore: {e:#}"
                        ));
                    }
                }
            }
            return Err(failure.error);
        }
    };
    let mut line = serde_json::to_vec(&report).context("encoding the report")?;
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&line)
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            anyhow!("the bundle was restored, but its report could not be written to stdout: {e}")
        })
}

fn resolve_write(
    engine: &mut Engine,
    s: &WriteSource,
    created: &mut Vec<String>,
) -> Result<write::Target> {
    match s.kind {
        SourceKind::Path => Ok(write::Target {
            path: PathBuf::from(s.path.as_deref().unwrap_or_default()),
            swap: false,
        }),
        SourceKind::Volume => {
            let volume = s.volume.as_deref().unwrap_or_default();
            let mountpoint = match engine.volume_mountpoint(volume)? {
                Some(mp) => mp,
                None => {
                    let mp = engine.create_volume(volume)?;
                    created.push(volume.to_string());
                    mp
                }
            };
            // A subpath's missing parents are created by staging (and removed again on failure).
            let path = under_volume(&mountpoint, s.path.as_deref(), volume)?;
            Ok(write::Target { path, swap: true })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_checks() {
        assert!(check_source("etc", SourceKind::Path, Some("/etc/x"), None).is_ok());
        let e = check_source("etc", SourceKind::Path, Some("etc/x"), None).unwrap_err();
        assert!(e.to_string().contains("must be absolute"), "{e}");
        assert!(check_source("etc", SourceKind::Path, Some("/etc/../x"), None).is_err());
        assert!(check_source("etc", SourceKind::Path, None, None).is_err());
        assert!(check_source("a/b", SourceKind::Path, Some("/x"), None).is_err());
        assert!(check_source("db", SourceKind::Volume, None, Some("pg_data")).is_ok());
        assert!(check_source("db", SourceKind::Volume, Some("dumps/x"), Some("pg")).is_ok());
        let e = check_source("db", SourceKind::Volume, Some("../x"), Some("pg")).unwrap_err();
        assert!(format!("{e:#}").contains("source db, volume pg"), "{e:#}");
        assert!(check_source("db", SourceKind::Volume, Some("/abs"), Some("pg")).is_err());
        assert!(check_source("db", SourceKind::Volume, None, Some("a/b")).is_err());
        assert!(check_source("db", SourceKind::Volume, None, None).is_err());
    }

    #[test]
    fn read_request_checks() {
        let mut r = ReadRequest {
            sources: vec![ReadSource {
                name: "etc".into(),
                path: Some("/etc/hosts".into()),
                ..Default::default()
            }],
        };
        assert!(check_read_request(&r).is_ok());
        r.sources[0].pause = true;
        assert!(check_read_request(&r).is_err());
        r.sources[0].pause = false;
        r.sources.push(r.sources[0].clone());
        let e = check_read_request(&r).unwrap_err();
        assert!(e.to_string().contains("named twice"), "{e}");
    }

    #[test]
    fn request_line_is_bounded() {
        let line = br#"{"sources":[{"name":"a","kind":"path","path":"/x"}]}
trailing bytes are not read"#;
        let r = read_request_line(&line[..]).unwrap();
        assert_eq!(r.sources[0].name, "a");
        let long = vec![b' '; MAX_REQUEST_LINE as usize + 10];
        let e = read_request_line(&long[..]).unwrap_err();
        assert!(e.to_string().contains("longer than 1 MiB"), "{e}");
        assert!(read_request_line(&b""[..]).is_err());
    }

    #[test]
    fn volume_subpaths_do_not_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let ok = under_volume(dir.path(), Some("real/x"), "v").unwrap();
        assert_eq!(ok, dir.path().join("real/x"));
        let e = under_volume(dir.path(), Some("link/x"), "v").unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        // The last component itself is read (or replaced) as a link, never followed.
        assert!(under_volume(dir.path(), Some("link"), "v").is_ok());
    }

    #[test]
    fn messages_stay_one_line() {
        assert_eq!(shown(Path::new("/a\nb")), "/a\\nb");
        assert_eq!(shown(Path::new("/plain")), "/plain");
    }
}
