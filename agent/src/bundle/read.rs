//! `bundle read`'s filesystem half: sources out as one tar stream, never following a symlink,
//! never holding more than one buffer of a file.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use tar::{Builder, EntryType, Header};

use super::{shown, warn, BUF};

/// One source, ready to read: `root` is `None` for an optional source found missing up front.
#[derive(Debug, Clone)]
pub struct ResolvedSource {
    pub name: String,
    pub root: Option<PathBuf>,
    /// A root missing when it is read is a warning and an empty source, not a failure.
    pub optional: bool,
}

/// What happens around each source's read (dump, pause, unpause): the Engine's part.
pub trait Around {
    fn before(&mut self, index: usize, source: &ResolvedSource) -> Result<()>;
    /// Called whatever `before` and the read did, so that paused containers are unpaused.
    fn after(&mut self, index: usize, source: &ResolvedSource) -> Result<()>;
}

#[cfg(test)]
pub struct NoHooks;

#[cfg(test)]
impl Around for NoHooks {
    fn before(&mut self, _: usize, _: &ResolvedSource) -> Result<()> {
        Ok(())
    }
    fn after(&mut self, _: usize, _: &ResolvedSource) -> Result<()> {
        Ok(())
    }
}

/// Every source in order as one tar stream on `out`, finished and flushed.
pub fn write_sources<W: Write>(
    out: W,
    sources: &[ResolvedSource],
    around: &mut dyn Around,
) -> Result<W> {
    let mut tar = Builder::new(BufWriter::with_capacity(BUF, Out { inner: out }));
    tar.follow_symlinks(false);
    let mut buf = vec![0u8; BUF];
    for (i, source) in sources.iter().enumerate() {
        let before = around.before(i, source);
        let read = before.and_then(|()| append_source(&mut tar, source, &mut buf));
        let after = around.after(i, source);
        read?;
        after?;
    }
    let out = tar
        .into_inner()
        .map_err(|e| output_error(&e))
        .context("finishing the bundle")?;
    let out = out
        .into_inner()
        .map_err(|e| output_error(e.error()))
        .context("finishing the bundle")?;
    Ok(out.inner)
}

/// The error for a failed write of the stream, which is never the source's fault.
pub fn output_error(e: &io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow!("stdout is closed: the controller went away")
    } else if e.to_string() == STOPPED {
        anyhow!("{STOPPED}")
    } else {
        anyhow!("writing the bundle to stdout: {e}")
    }
}

fn append_source<W: Write>(
    tar: &mut Builder<W>,
    source: &ResolvedSource,
    buf: &mut [u8],
) -> Result<()> {
    let Some(root) = &source.root else {
        return Ok(());
    };
    let meta = match std::fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && source.optional => {
            warn(format_args!(
                "source {}: {} does not exist; it is optional, so the source is empty",
                source.name,
                shown(root)
            ));
            return Ok(());
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "source {}: {} does not exist (check the source's path, or mark it optional)",
            source.name,
            shown(root)
        ),
        Err(e) => bail!("source {}: {}: {e}", source.name, shown(root)),
    };
    if !append_one(tar, &source.name, root, &meta, buf)? {
        return Ok(());
    }
    // Depth first, each directory's names sorted, so the same tree gives the same stream; a
    // stack of its own rather than recursion, so a deep tree cannot overflow the thread's stack.
    let mut stack = vec![(root.clone(), source.name.clone(), children(root)?)];
    while let Some((dir, name, names)) = stack.last_mut() {
        let Some(child) = names.next() else {
            stack.pop();
            continue;
        };
        let path = dir.join(&child);
        let Some(child) = child.to_str() else {
            warn(format_args!(
                "skipped {}: its name is not UTF-8, which a bundle cannot name",
                shown(&path)
            ));
            continue;
        };
        let entry_name = format!("{name}/{child}");
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                warn(format_args!(
                    "skipped {}: removed while being read",
                    shown(&path)
                ));
                continue;
            }
            Err(e) => bail!("{}: {e}", shown(&path)),
        };
        if append_one(tar, &entry_name, &path, &meta, buf)? {
            let names = children(&path)?;
            stack.push((path, entry_name, names));
        }
    }
    Ok(())
}

fn children(dir: &Path) -> Result<std::vec::IntoIter<std::ffi::OsString>> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warn(format_args!(
                "{} was removed while being read; stored empty",
                shown(dir)
            ));
            return Ok(names.into_iter());
        }
        Err(e) => bail!("listing {}: {e}", shown(dir)),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", shown(dir)))?;
        let name = entry.file_name();
        // What an earlier restore kept or left half-done is not part of the data.
        if !restore_leftover(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter())
}

fn restore_leftover(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.ends_with(pfproto::bundle::PREV_SUFFIX)
        || name.ends_with(".pfctl-staging")
        || name.contains(".pfctl-tmp")
}

/// One entry for `path`; `true` when it is a directory whose children come next.
fn append_one<W: Write>(
    tar: &mut Builder<W>,
    name: &str,
    path: &Path,
    meta: &Metadata,
    buf: &mut [u8],
) -> Result<bool> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = match std::fs::read_link(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                warn(format_args!(
                    "skipped {}: removed while being read",
                    shown(path)
                ));
                return Ok(false);
            }
            Err(e) => bail!("reading symlink {}: {e}", shown(path)),
        };
        if target.to_str().is_none() {
            warn(format_args!(
                "skipped symlink {}: its target is not UTF-8, which a bundle cannot record",
                shown(path)
            ));
            return Ok(false);
        }
        let mut h = header(meta, EntryType::Symlink, 0);
        tar.append_link(&mut h, name, &target)
            .map_err(|e| entry_error(e, path))?;
        Ok(false)
    } else if ft.is_dir() {
        let mut h = header(meta, EntryType::Directory, 0);
        tar.append_data(&mut h, name, io::empty())
            .map_err(|e| entry_error(e, path))?;
        Ok(true)
    } else if ft.is_file() {
        append_file(tar, name, path, meta, buf)?;
        Ok(false)
    } else {
        let kind = if ft.is_socket() {
            "socket"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_block_device() {
            "block device"
        } else {
            "special file"
        };
        warn(format_args!("skipped {kind} {}", shown(path)));
        Ok(false)
    }
}

fn append_file<W: Write>(
    tar: &mut Builder<W>,
    name: &str,
    path: &Path,
    listed: &Metadata,
    buf: &mut [u8],
) -> Result<()> {
    // NOFOLLOW and NONBLOCK: if the file was swapped for a link or a fifo since it was listed,
    // the open fails or returns at once instead of reading elsewhere or hanging.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warn(format_args!(
                "skipped {}: removed while being read",
                shown(path)
            ));
            return Ok(());
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            bail!("{} changed while being read", shown(path))
        }
        Err(e) => bail!("opening {}: {e}", shown(path)),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("reading {}", shown(path)))?;
    if !meta.is_file() || meta.ino() != listed.ino() || meta.dev() != listed.dev() {
        bail!("{} changed while being read", shown(path));
    }
    let mut h = header(&meta, EntryType::Regular, meta.len());
    let mut data = Exact {
        file,
        left: meta.len(),
        buf,
        pos: 0,
        len: 0,
        path,
        failed: None,
    };
    let result = tar.append_data(&mut h, name, &mut data);
    if let Some(message) = data.failed {
        bail!(message);
    }
    result.map_err(|e| entry_error(e, path))
}

/// A failed append: the stream's fault, or a name the tar format refused.
fn entry_error(e: io::Error, path: &Path) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe || e.to_string() == STOPPED {
        return output_error(&e);
    }
    match e.kind() {
        io::ErrorKind::Other | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            anyhow!("storing {}: {e}", shown(path))
        }
        _ => output_error(&e),
    }
}

fn header(meta: &Metadata, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(meta.uid().into());
    h.set_gid(meta.gid().into());
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

/// A file's bytes, exactly as many as its header says: a file that shrinks or grows while it
/// is read fails the read rather than putting an entry in the stream that lies about it.
/// Reads the file in `buf`-sized chunks (the tar writer asks for small ones).
struct Exact<'a> {
    file: File,
    /// Bytes still to read from the file.
    left: u64,
    buf: &'a mut [u8],
    pos: usize,
    len: usize,
    path: &'a Path,
    /// Why the read failed; the tar writer only passes on an `io::Error`.
    failed: Option<String>,
}

impl Exact<'_> {
    fn fail(&mut self, message: String) -> io::Error {
        let e = io::Error::other(message.clone());
        self.failed = Some(message);
        e
    }
}

impl Read for Exact<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            if self.left == 0 {
                let mut probe = [0u8; 1];
                return match self.file.read(&mut probe) {
                    Ok(0) => Ok(0),
                    Ok(_) => {
                        Err(self.fail(format!("{} changed while being read", shown(self.path))))
                    }
                    Err(e) => Err(self.fail(format!("reading {}: {e}", shown(self.path)))),
                };
            }
            let want = self
                .buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            let n = loop {
                match self.file.read(&mut self.buf[..want]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.fail(format!("reading {}: {e}", shown(self.path)))),
                }
            };
            if n == 0 {
                return Err(self.fail(format!("{} changed while being read", shown(self.path))));
            }
            self.left -= n as u64;
            self.pos = 0;
            self.len = n;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---- stopping while containers are paused ----

const STOPPED: &str = "stopped by a signal";
static STOP: AtomicBool = AtomicBool::new(false);

pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// stdout, refusing further writes once a stop signal has arrived.
struct Out<W> {
    inner: W,
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if stopped() {
            return Err(io::Error::other(STOPPED));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// INT, TERM and HUP turned into "stop writing" while held, the previous handlers restored on
/// drop. Without SA_RESTART a write blocked on a stalled controller returns EINTR, the next try
/// sees the flag, and the read ends through the normal error path, which unpauses.
pub struct StopSignals {
    previous: Vec<(Signal, SigAction)>,
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

impl StopSignals {
    pub fn catch() -> Result<Self> {
        let action = SigAction::new(
            SigHandler::Handler(on_stop_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        let mut held = StopSignals {
            previous: Vec::new(),
        };
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            let previous = unsafe { sigaction(signal, &action) }
                .with_context(|| format!("catching {signal}"))?;
            held.previous.push((signal, previous));
        }
        Ok(held)
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for (signal, previous) in self.previous.drain(..) {
            // SAFETY: puts back the action that was there before `catch`.
            let _ = unsafe { sigaction(signal, &previous) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn source(name: &str, root: &Path) -> ResolvedSource {
        ResolvedSource {
            name: name.into(),
            root: Some(root.to_path_buf()),
            optional: false,
        }
    }

    fn names(stream: &[u8]) -> Vec<(String, EntryType)> {
        let mut a = tar::Archive::new(stream);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn tree_is_sorted_and_named_by_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cfg");
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        std::fs::write(root.join("c.txt"), "c").unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("b/inner/z"), "z").unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", root.join("b/link")).unwrap();
        // an earlier restore's leftovers are not data
        std::fs::write(root.join("a.txt.pfctl-prev"), "old a").unwrap();
        std::fs::write(root.join(".c.txt.pfctl-tmp-12"), "half").unwrap();
        let out = write_sources(Vec::new(), &[source("cfg", &root)], &mut NoHooks).unwrap();
        let got = names(&out);
        let expected = [
            ("cfg", EntryType::Directory),
            ("cfg/a.txt", EntryType::Regular),
            ("cfg/b", EntryType::Directory),
            ("cfg/b/inner", EntryType::Directory),
            ("cfg/b/inner/z", EntryType::Regular),
            ("cfg/b/link", EntryType::Symlink),
            ("cfg/c.txt", EntryType::Regular),
        ];
        let got: Vec<(&str, EntryType)> = got.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(got, expected);
        // Same tree, same bytes.
        let again = write_sources(Vec::new(), &[source("cfg", &root)], &mut NoHooks).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn single_file_root_keeps_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret.conf");
        std::fs::write(&f, "pw=1\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = write_sources(Vec::new(), &[source("conf", &f)], &mut NoHooks).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut entries = a.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), b"conf");
        assert_eq!(e.header().mode().unwrap(), 0o600);
        let meta = std::fs::metadata(&f).unwrap();
        assert_eq!(e.header().uid().unwrap(), u64::from(meta.uid()));
        assert_eq!(e.header().mtime().unwrap(), meta.mtime() as u64);
        let mut body = String::new();
        e.read_to_string(&mut body).unwrap();
        assert_eq!(body, "pw=1\n");
        assert!(entries.next().is_none());
    }

    #[test]
    fn missing_roots() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let e = write_sources(Vec::new(), &[source("x", &gone)], &mut NoHooks).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(e.to_string().contains("gone"), "{e}");
        let mut optional = source("x", &gone);
        optional.optional = true;
        let out = write_sources(Vec::new(), &[optional], &mut NoHooks).unwrap();
        assert!(names(&out).is_empty());
    }

    #[test]
    fn sockets_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        std::fs::create_dir(&root).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(root.join("s.sock")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::write(root.join("kept"), "k").unwrap();
        let out = write_sources(Vec::new(), &[source("run", &root)], &mut NoHooks).unwrap();
        let got: Vec<String> = names(&out).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, ["run", "run/kept"]);
    }

    #[test]
    fn a_file_that_grows_or_shrinks_fails_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, vec![7u8; 1000]).unwrap();
        let mut buf = vec![0u8; 64];
        for actual in [999usize, 1001] {
            let mut data = Exact {
                file: File::open(&path).unwrap(),
                left: if actual == 999 { 1001 } else { 999 },
                buf: &mut buf,
                pos: 0,
                len: 0,
                path: &path,
                failed: None,
            };
            let e = io::copy(&mut data, &mut io::sink()).unwrap_err();
            assert!(
                e.to_string().ends_with("log changed while being read"),
                "{e}"
            );
            assert!(data.failed.is_some());
        }
        let mut exact = Exact {
            file: File::open(&path).unwrap(),
            left: 1000,
            buf: &mut buf,
            pos: 0,
            len: 0,
            path: &path,
            failed: None,
        };
        assert_eq!(io::copy(&mut exact, &mut io::sink()).unwrap(), 1000);
    }

    #[test]
    fn closed_stdout_is_said_as_such() {
        #[derive(Debug)]
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        // More than the stdout buffer, so the write happens mid-source.
        std::fs::write(dir.path().join("big"), vec![1u8; BUF * 3]).unwrap();
        let e = write_sources(Closed, &[source("d", dir.path())], &mut NoHooks).unwrap_err();
        assert!(e.to_string().contains("controller went away"), "{e}");
    }

    #[test]
    fn after_runs_even_when_the_read_fails() {
        struct Count(usize, usize);
        impl Around for Count {
            fn before(&mut self, _: usize, _: &ResolvedSource) -> Result<()> {
                self.0 += 1;
                Ok(())
            }
            fn after(&mut self, _: usize, _: &ResolvedSource) -> Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut c = Count(0, 0);
        let bad = source("x", &dir.path().join("missing"));
        assert!(write_sources(Vec::new(), &[bad], &mut c).is_err());
        assert_eq!((c.0, c.1), (1, 1));
    }
}
