//! Replacing a file so that nothing is lost or half-written: readers see the old version or the
//! new one, never a part, and the old version stays beside it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `<path>.prev`: where the replaced version stays.
pub fn prev_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".prev");
    path.with_file_name(name)
}

/// Writes `bytes` to a temp file beside `path` (mode `mode`), fsyncs it, keeps the current file
/// as `<path>.prev`, renames the temp file over `path` and fsyncs the directory. On any error the
/// temp file is removed and `path` is untouched.
pub fn write_keeping_prev(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if path.exists() {
            // A hard link keeps `path` in place until the rename replaces it: readers never find
            // it missing.
            let prev = prev_of(path);
            let _ = fs::remove_file(&prev);
            if fs::hard_link(path, &prev).is_err() {
                fs::copy(path, &prev)?;
            }
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)?.sync_all()
}

/// Makes a rename in `dir` durable; best effort (some filesystems refuse a directory fsync).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_previous_version_is_kept_and_no_temp_file_stays() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("run.json");
        write_keeping_prev(&p, b"one", 0o600).unwrap();
        assert!(!prev_of(&p).exists());
        write_keeping_prev(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read(prev_of(&p)).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_failed_write_leaves_the_file_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("missing-dir").join("x.json");
        assert!(write_keeping_prev(&p, b"x", 0o600).is_err());
        assert!(!p.exists());
    }
}
