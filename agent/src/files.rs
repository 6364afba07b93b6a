//! `files.stat`: existence, ownership, mode and content hash of files on this node;
//! `files.read`: a world-readable file's text, or named top-level values of a flat YAML file.
//! Blocking; the caller runs it on the blocking pool.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use pfproto::hex;
use pfproto::probe::{
    FileRead, FileStat, FilesReadParams, FilesStat, MAX_HASH_BYTES, MAX_READ_BYTES,
};
use sha2::{Digest, Sha256};

pub fn stat_all(paths: &[String]) -> FilesStat {
    let mut names = Names::default();
    FilesStat {
        files: paths.iter().map(|p| stat(p, &mut names)).collect(),
    }
}

fn stat(path: &str, names: &mut Names) -> FileStat {
    let mut out = FileStat {
        path: path.to_string(),
        ..Default::default()
    };
    // stat(2) semantics: a symlink reports its target, and a dangling one does not exist.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.error = Some(io_text(&e));
            return out;
        }
    };
    out.exists = true;
    out.size = meta.len();
    out.mode = meta.mode() & 0o7777;
    out.uid = meta.uid();
    out.gid = meta.gid();
    out.owner = names.user(meta.uid());
    out.group = names.group(meta.gid());
    if !meta.is_file() {
        return out;
    }
    if meta.len() > MAX_HASH_BYTES {
        out.error = Some("too large to hash".to_string());
        return out;
    }
    match sha256_file(path) {
        Ok(Some(h)) => out.sha256 = Some(h),
        Ok(None) => out.error = Some("too large to hash".to_string()),
        Err(e) => out.error = Some(format!("cannot read: {}", io_text(&e))),
    }
    out
}

pub fn read(p: &FilesReadParams) -> FileRead {
    let mut out = FileRead {
        path: p.path.clone(),
        ..Default::default()
    };
    let meta = match std::fs::metadata(&p.path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.error = Some(io_text(&e));
            return out;
        }
    };
    out.exists = true;
    let refuse = if !meta.is_file() {
        Some("not a regular file".to_string())
    } else if meta.len() > MAX_READ_BYTES {
        Some(format!("larger than {MAX_READ_BYTES} bytes"))
    } else if p.keys.is_none() && !p.private && meta.mode() & 0o004 == 0 {
        Some("not world-readable, so it is not sent whole (ask for named keys)".to_string())
    } else {
        None
    };
    if let Some(why) = refuse {
        out.error = Some(why);
        return out;
    }
    let mut bytes = Vec::new();
    if let Err(e) =
        std::fs::File::open(&p.path).and_then(|f| f.take(MAX_READ_BYTES).read_to_end(&mut bytes))
    {
        out.error = Some(format!("cannot read: {}", io_text(&e)));
        return out;
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            out.error = Some("not UTF-8 text".to_string());
            return out;
        }
    };
    match &p.keys {
        None => out.content = Some(text),
        Some(keys) => out.values = top_level_values(&text, keys),
    }
    out
}

/// `KEY: value` lines at column 0 of a flat YAML file; quotes around the value removed.
fn top_level_values(text: &str, keys: &[String]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if !keys.iter().any(|want| want == k) {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_string(), v.to_string());
    }
    out
}

/// `None` when the file grew past the limit while being read.
pub fn sha256_file(path: &str) -> std::io::Result<Option<String>> {
    let f = std::fs::File::open(path)?;
    let mut f = f.take(MAX_HASH_BYTES + 1);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > MAX_HASH_BYTES {
            return Ok(None);
        }
        hasher.update(&buf[..n]);
    }
    Ok(Some(hex(&hasher.finalize())))
}

/// "permission denied" rather than "Permission denied (os error 13)".
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// User and group names, looked up once per id per call.
#[derive(Default)]
struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map_or_else(|| uid.to_string(), |u| u.name)
            })
            .clone()
    }

    fn group(&mut self, gid: u32) -> String {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map_or_else(|| gid.to_string(), |g| g.name)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn regular_missing_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.conf");
        std::fs::write(&f, b"abc").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let paths = [
            f.display().to_string(),
            dir.path().join("missing").display().to_string(),
            dir.path().display().to_string(),
        ];
        let got = stat_all(&paths).files;
        assert_eq!(
            got[0].sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!((got[0].size, got[0].mode, got[0].exists), (3, 0o640, true));
        assert_eq!(got[0].error, None);
        assert!(!got[1].exists && got[1].error.is_none());
        assert!(got[2].exists && got[2].sha256.is_none() && got[2].error.is_none());
    }

    #[test]
    fn hex_encodes() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn params(path: &std::path::Path, keys: Option<&[&str]>) -> FilesReadParams {
        FilesReadParams {
            path: path.display().to_string(),
            keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
            private: false,
        }
    }

    #[test]
    fn whole_files_only_when_world_readable_named_keys_always() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("isconfig.yml");
        std::fs::write(
            &f,
            "HOST_ADDRESS: \"pf.example.com\"\nCLIENT_SECRET: s3cret\n  nested: x\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let whole = read(&params(&f, None));
        assert!(whole.content.is_none());
        assert!(whole.error.unwrap().contains("not world-readable"));
        let some = read(&params(&f, Some(&["HOST_ADDRESS", "nested"])));
        assert_eq!(some.values.len(), 1, "{:?}", some.values);
        assert_eq!(some.values["HOST_ADDRESS"], "pf.example.com");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read(&params(&f, None)).content.unwrap().contains("nested"));
        let missing = read(&params(&dir.path().join("nope"), None));
        assert!(!missing.exists && missing.error.is_none());
    }
}
