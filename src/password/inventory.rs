//! Inventory passwords kept as Fernet tokens (`password_encrypted = "<token>"`) under a key file
//! that stays on the controller, so an inventory can be shared or committed without its
//! passwords.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

use super::fernet::{decrypt, encrypt, Key, TokenError};
use crate::secret::Secret;

/// Environment variable naming the inventory key file.
pub const INVENTORY_KEY_ENV: &str = "PFCTL_INVENTORY_KEY";

/// A key file is one short line; anything much longer is not a key file, and reading it whole
/// would let a wrong path (a disk image) fill memory.
const KEY_FILE_MAX: u64 = 4096;

/// `$PFCTL_INVENTORY_KEY`, else `~/.config/pfctl/inventory.key`.
pub fn inventory_key_path() -> PathBuf {
    key_path_from(
        std::env::var_os(INVENTORY_KEY_ENV),
        &crate::ssh::config::home_dir(),
    )
}

fn key_path_from(env: Option<OsString>, home: &Path) -> PathBuf {
    match env.filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home.join(".config/pfctl/inventory.key"),
    }
}

/// Reads the inventory key at `path`. When it does not exist and `create` is set, makes a new
/// random one there (file 0600, new directories 0700). A key file that group or others can
/// access is refused: whoever reads it reads every inventory password.
pub fn load_or_create_inventory_key(path: &Path, create: bool) -> Result<Key> {
    match File::open(path) {
        Ok(f) => read_key_file(f, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                bail!(
                    "no inventory key file at {}: create one with `pfctl password encrypt --inventory`, \
                     or point {INVENTORY_KEY_ENV} at the key the passwords were encrypted with",
                    path.display()
                );
            }
            create_key_file(path)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot open inventory key file {}", path.display()))
        }
    }
}

fn read_key_file(f: File, path: &Path) -> Result<Key> {
    // The opened file's own metadata: the checked file is the one read.
    let meta = f
        .metadata()
        .with_context(|| format!("cannot stat inventory key file {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "inventory key file {} is not a regular file",
            path.display()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "inventory key file {} is open to group or other users (mode {mode:04o}); \
             run `chmod 600 {}` and, if others may have copied it, re-encrypt the inventory \
             passwords with a new key",
            path.display(),
            path.display()
        );
    }
    let mut text = Zeroizing::new(String::new());
    f.take(KEY_FILE_MAX)
        .read_to_string(&mut text)
        .with_context(|| {
            format!(
                "cannot read inventory key file {} (it must be one line of base64 text)",
                path.display()
            )
        })?;
    Key::parse(&text)
        .with_context(|| format!("inventory key file {} is not a Fernet key", path.display()))
}

fn create_key_file(path: &Path) -> Result<Key> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| {
            format!(
                "cannot create directory {} for the inventory key",
                dir.display()
            )
        })?;
    let key = Key::generate();
    let write = || -> std::io::Result<tempfile::NamedTempFile> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".inventory.key.")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        let mut line = Zeroizing::new(key.to_text().as_bytes().to_vec());
        line.push(b'\n');
        tmp.write_all(&line)?;
        tmp.as_file().sync_all()?;
        Ok(tmp)
    };
    let tmp = write()
        .with_context(|| format!("cannot write a new inventory key in {}", dir.display()))?;
    // No-clobber: if another pfctl made the key meanwhile, its key wins and ours is dropped,
    // since replacing a key would orphan every password already encrypted with it.
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            crate::atomic::sync_dir(dir);
            Ok(key)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_inventory_key(path, false)
        }
        Err(e) => Err(e.error)
            .with_context(|| format!("cannot put the new inventory key at {}", path.display())),
    }
}

/// Decrypts an inventory `password_encrypted` token with the key file at `key_path`.
pub fn decrypt_inventory_password(token: &str, key_path: &Path) -> Result<Secret> {
    let key = load_or_create_inventory_key(key_path, false)?;
    let plain = decrypt(&key, token).map_err(|e| {
        let hint = match e {
            TokenError::NotAToken => "copy the whole token again",
            TokenError::WrongKey => {
                "it was encrypted with another key file: set PFCTL_INVENTORY_KEY to that one, \
                 or encrypt the password again with `pfctl password encrypt --inventory`"
            }
            TokenError::Corrupt => {
                "encrypt the password again with `pfctl password encrypt --inventory`"
            }
        };
        anyhow::anyhow!(
            "inventory password_encrypted does not decrypt with key file {}: {e}; {hint}",
            key_path.display()
        )
    })?;
    let text = std::str::from_utf8(&plain).map_err(|_| {
        anyhow::anyhow!(
            "inventory password_encrypted decrypts with key file {} but is not UTF-8 text; \
             encrypt the password again with `pfctl password encrypt --inventory`",
            key_path.display()
        )
    })?;
    Ok(Secret::new(text))
}

/// Encrypts an inventory password into a `password_encrypted` token with the key file at
/// `key_path`, creating the key file when it does not exist yet.
pub fn encrypt_inventory_password(password: &Secret, key_path: &Path) -> Result<String> {
    let key = load_or_create_inventory_key(key_path, true)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(encrypt(&key, password.expose().as_bytes(), now, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_path_comes_from_the_environment_or_home() {
        let home = Path::new("/home/op");
        assert_eq!(
            key_path_from(None, home),
            PathBuf::from("/home/op/.config/pfctl/inventory.key")
        );
        assert_eq!(
            key_path_from(Some(OsString::new()), home),
            PathBuf::from("/home/op/.config/pfctl/inventory.key")
        );
        assert_eq!(
            key_path_from(Some("/etc/pfctl/k".into()), home),
            PathBuf::from("/etc/pfctl/k")
        );
    }

    #[test]
    fn a_created_key_file_is_private_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("new/dir/inventory.key");
        let key = load_or_create_inventory_key(&path, true).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        assert_eq!(mode_of(&d.path().join("new")), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", &*key.to_text()));
        // Loading again, with or without create, gives the same key and no temp file stays.
        assert_eq!(load_or_create_inventory_key(&path, true).unwrap(), key);
        assert_eq!(load_or_create_inventory_key(&path, false).unwrap(), key);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("inventory.key")]);
    }

    #[test]
    fn a_missing_key_file_is_not_made_without_create() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("inventory.key");
        let err = load_or_create_inventory_key(&path, false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("pfctl password encrypt --inventory"), "{msg}");
        assert!(!path.exists());
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("inventory.key");
        let key = Key::generate();
        fs::write(&path, format!("{}\n", &*key.to_text())).unwrap();
        for mode in [0o644, 0o640, 0o604] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_inventory_key(&path, true).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains(&*key.to_text()), "{msg}");
        }
        // Refusing must not replace it either.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", &*key.to_text())
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create_inventory_key(&path, false).unwrap(), key);
    }

    #[test]
    fn a_key_file_that_is_not_a_key_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("inventory.key");
        fs::write(&path, "hunter2hunter2\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let msg = format!(
            "{:#}",
            load_or_create_inventory_key(&path, true).unwrap_err()
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("not a Fernet key"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let dir_msg = format!(
            "{:#}",
            load_or_create_inventory_key(d.path(), true).unwrap_err()
        );
        assert!(dir_msg.contains("not a regular file"), "{dir_msg}");
    }

    #[test]
    fn inventory_passwords_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("inventory.key");
        let password = Secret::new("s3cr3t@is#x");
        let token = encrypt_inventory_password(&password, &path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert!(!token.contains("s3cr3t"));
        assert_eq!(decrypt_inventory_password(&token, &path).unwrap(), password);
        // The same key file again: the key was kept, not replaced.
        let token2 = encrypt_inventory_password(&password, &path).unwrap();
        assert_ne!(token, token2);
        assert_eq!(decrypt_inventory_password(&token, &path).unwrap(), password);
    }

    #[test]
    fn decrypt_errors_name_the_key_file_never_the_token() {
        let d = tempfile::tempdir().unwrap();
        let ours = d.path().join("ours.key");
        let other = d.path().join("other.key");
        let token = encrypt_inventory_password(&Secret::new("pw-value"), &ours).unwrap();
        load_or_create_inventory_key(&other, true).unwrap();
        let msg = format!(
            "{:#}",
            decrypt_inventory_password(&token, &other).unwrap_err()
        );
        assert!(msg.contains(&other.display().to_string()), "{msg}");
        assert!(msg.contains("another key"), "{msg}");
        assert!(!msg.contains(&token), "{msg}");
        assert!(!msg.contains(&token[..20]), "{msg}");
        assert!(!msg.contains("pw-value"), "{msg}");

        let msg = format!(
            "{:#}",
            decrypt_inventory_password("garbage", &ours).unwrap_err()
        );
        assert!(msg.contains("not a Fernet token"), "{msg}");
        assert!(!msg.contains("garbage"), "{msg}");

        let missing = d.path().join("missing.key");
        let msg = format!(
            "{:#}",
            decrypt_inventory_password(&token, &missing).unwrap_err()
        );
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(!missing.exists());
    }
}
