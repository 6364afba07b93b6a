//! Backup and restore on the test cluster: pfdemo_db's volume (pfdemo_dbdata on node1) holding
//! 1 GiB of random data, plus /etc/iservices, through real agents over real SSH.

use crate::common::lab::Lab;
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The volume's directory on node1 (the parent of its `_data`), as its Engine reports it.
fn volume_dir() -> String {
    let m = dbdata_mountpoint();
    let m = m.as_str();
    assert!(m.ends_with("/_data"), "pfdemo_dbdata on node1: {m:?}");
    m.trim_end_matches("/_data").to_string()
}

/// `sh -c SCRIPT` on a node; its stdout, trimmed. Panics on failure.
fn sh(node: &str, script: &str) -> String {
    let out = testcluster(&["exec", node, "--", "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{node}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sha_on(node: &str, path: &str) -> String {
    sh(node, &format!("sha256sum {path} | cut -d' ' -f1"))
}

/// The archives (not records, not partials) in `dir`.
fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tar.") && !n.ends_with(".json") && !n.ends_with(".prev"))
        .collect();
    v.sort();
    v
}

fn flip_byte(path: &Path, at: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x40]).unwrap();
    f.sync_all().unwrap();
}

/// Removes what a test left in the volume (the big file, restore's previous copy).
struct VolumeCleanup;

impl Drop for VolumeCleanup {
    fn drop(&mut self) {
        let dir = volume_dir();
        let _ = testcluster(&[
            "exec",
            "node1",
            "--",
            "sh",
            "-c",
            &format!("rm -rf {dir}/_data/* {dir}/_data.pfctl-prev {dir}/_data.pfctl-staging"),
        ]);
    }
}

fn created_file(r: &Run) -> PathBuf {
    assert_eq!(r.code, 0, "{r:?}");
    PathBuf::from(r.json()["file"].as_str().unwrap())
}

#[test]
fn a_1_gib_backup_is_listed_verified_damage_named_restored_and_guarded_by_the_key() {
    let _lock = exclusive();
    let _stack = Stack::reset();
    let _clean = VolumeCleanup;
    let v = volume_dir();
    let lab = Lab::new();
    let dest = tempfile::tempdir().unwrap();
    let to = dest.path().to_str().unwrap();

    // The database's data: 1 GiB of random bytes and a small file, in its volume on node1.
    sh(
        "node1",
        &format!("head -c 1073741824 /dev/urandom > {v}/_data/blob.bin && echo '{{\"rows\": 3}}' > {v}/_data/db.json && chmod 600 {v}/_data/db.json"),
    );
    let blob_sha = sha_on("node1", &format!("{v}/_data/blob.bin"));
    let conf_sha = sha_on("node1", "/etc/iservices/isconfig.yml");

    let r = lab.pfctl(&[
        "backup", "create", "--to", to, "--from", "node1", "-o", "json",
    ]);
    let file = created_file(&r);
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("test-backup-") && name.ends_with(".tar.zst"),
        "{name}"
    );
    assert!(r.json()["data_bytes"].as_u64().unwrap() > 1 << 30, "{r:?}");
    assert_eq!(
        archives(dest.path()),
        vec![name.clone()],
        "only the archive, no partial"
    );
    let sources: Vec<String> = serde_json::from_value(r.json()["sources"].clone()).unwrap();
    assert!(sources.contains(&"dbdata@node1".to_string()), "{sources:?}");
    assert!(
        sources.contains(&"iservices@node1".to_string()),
        "{sources:?}"
    );
    // The key's fingerprint is recorded, never the key.
    let fp = r.json()["encryption_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fp.starts_with("sha256:"), "{fp}");
    assert!(!r.stdout.contains("demo-key-0123456789abcdef"));

    let l = lab.pfctl(&["backup", "list", "--to", to, "-o", "json"]);
    assert_eq!(l.code, 0, "{l:?}");
    let rows = l.json();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["file"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not listed: {l:?}"));
    assert_eq!(row["status"], "verified", "{row}");

    let ver = lab.pfctl(&["backup", "verify", file.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ver.code, 0, "{ver:?}");
    assert_eq!(ver.json()["ok"], true);

    // One byte flipped in the middle: verify fails and names the entry it fell in.
    let len = std::fs::metadata(&file).unwrap().len();
    flip_byte(&file, len / 2);
    let bad = lab.pfctl(&["backup", "verify", file.to_str().unwrap()]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr.contains("data/node1/dbdata/blob.bin"),
        "the damaged entry is named: {bad:?}"
    );
    flip_byte(&file, len / 2);

    // Data and configuration lost; restore puts them back.
    sh(
        "node1",
        &format!("rm -f {v}/_data/blob.bin {v}/_data/db.json /etc/iservices/isconfig.yml"),
    );
    let plan = lab.pfctl(&["restore", file.to_str().unwrap(), "--plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains("pfdemo_db"),
        "the plan names the service that stops: {plan:?}"
    );
    assert_eq!(
        sh("node1", &format!("ls {v}/_data")),
        "",
        "--plan changed nothing"
    );
    let refused = lab.pfctl(&["restore", file.to_str().unwrap()]);
    assert_eq!(refused.code, 3, "no terminal, no --yes: {refused:?}");

    let started = Instant::now();
    let done = lab.pfctl(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    println!(
        "restore of 1 GiB took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(sha_on("node1", &format!("{v}/_data/blob.bin")), blob_sha);
    assert_eq!(sha_on("node1", "/etc/iservices/isconfig.yml"), conf_sha);
    assert_eq!(
        sh("node1", &format!("stat -c %a {v}/_data/db.json")),
        "600",
        "modes restored"
    );
    lab.clean();

    // Another key on the cluster: refused, nothing changed (a marker in the volume survives).
    sh(
        "node1",
        &format!("rm -rf {v}/_data.pfctl-prev; touch {v}/_data/marker"),
    );
    for n in ["node1", "node2", "node3"] {
        sh(
            n,
            "printf 'another-key-000000\\n' > /etc/iservices/encryption_key",
        );
    }
    let other = lab.pfctl(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_eq!(other.code, 3, "{other:?}");
    assert!(other.stderr.contains("encryption_key differs"), "{other:?}");
    assert!(!other.stderr.contains("another-key") && !other.stdout.contains("another-key"));
    sh("node1", &format!("test -f {v}/_data/marker"));
    assert_eq!(
        sh("node1", "cat /etc/iservices/encryption_key"),
        "another-key-000000"
    );
}

#[test]
fn a_link_down_mid_backup_fails_clearly_and_leaves_no_complete_file() {
    let _lock = exclusive();
    let _clean = VolumeCleanup;
    let v = volume_dir();
    let lab = Lab::new();
    let dest = tempfile::tempdir().unwrap();
    sh(
        "node1",
        &format!("head -c 1073741824 /dev/urandom > {v}/_data/blob.bin"),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pfctl"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", lab.home.path())
        .arg("--inventory")
        .arg(&lab.inv)
        .args([
            "backup",
            "create",
            "--from",
            "node1",
            "--stall-timeout",
            "5",
            "--to",
        ])
        .arg(dest.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the archive is being written, then cut node1 off.
    let start = Instant::now();
    loop {
        let partial = std::fs::read_dir(dest.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".partial"));
        if let Some(p) = partial {
            if p.metadata().unwrap().len() > 64 << 20 {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no partial archive grew"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let fault = Fault::inject("node1", "link-down");
    let out = child.wait_with_output().unwrap();
    drop(fault);
    let r = finish(out);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("node1"), "the node is named: {r:?}");
    assert!(r.stderr.contains("backup not made"), "{r:?}");
    let left: Vec<String> = std::fs::read_dir(dest.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|n| n.ends_with(".partial")),
        "nothing that looks complete: {left:?}"
    );
    // node1 back in the swarm, its db container no longer paused.
    lab.clean();
}

#[test]
fn an_encrypted_backup_opens_with_its_passphrase_only() {
    let _lock = shared();
    let lab = Lab::new();
    let dest = tempfile::tempdir().unwrap();
    let pass = dest.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let wrong = dest.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let store = dest.path().join("store");
    let r = lab.pfctl(&[
        "backup",
        "create",
        "--include",
        "iservices",
        "--encrypt",
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--to",
        store.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let file = created_file(&r);
    assert!(file.to_str().unwrap().ends_with(".tar.zst.age"), "{file:?}");
    // Encrypted: the key file's contents are not in the archive's bytes.
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(12).any(|w| w == b"demo-key-012"));

    let before = std::fs::read_dir(dest.path()).unwrap().count();
    let bad = lab.pfctl(&[
        "backup",
        "verify",
        file.to_str().unwrap(),
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("passphrase"), "{bad:?}");
    assert!(!bad.stderr.contains("not the passphrase"));
    let no_pass = lab.pfctl(&["backup", "verify", file.to_str().unwrap()]);
    assert_ne!(no_pass.code, 0, "{no_pass:?}");
    assert!(
        no_pass.stderr.contains("PFCTL_BACKUP_PASSPHRASE"),
        "{no_pass:?}"
    );
    let restore = lab.pfctl(&[
        "restore",
        file.to_str().unwrap(),
        "--yes",
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    assert_ne!(restore.code, 0, "{restore:?}");
    assert!(restore.stderr.contains("nothing changed"), "{restore:?}");
    assert_eq!(
        std::fs::read_dir(dest.path()).unwrap().count(),
        before,
        "no output file"
    );

    let ok = lab.pfctl(&[
        "backup",
        "verify",
        "--deep",
        file.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.json()["deep"], true);
}

#[test]
fn prune_keeps_exactly_what_the_policy_says() {
    let _lock = shared();
    let lab = Lab::new();
    let dest = tempfile::tempdir().unwrap();
    let to = dest.path().to_str().unwrap();
    let r = lab.pfctl(&[
        "backup",
        "create",
        "--include",
        "iservices",
        "--to",
        to,
        "-o",
        "json",
    ]);
    let made = created_file(&r);
    let record = std::fs::read(format!("{}.json", made.display())).unwrap();
    let bytes = std::fs::read(&made).unwrap();
    std::fs::remove_file(&made).unwrap();
    std::fs::remove_file(format!("{}.json", made.display())).unwrap();
    // Two a day for five days around a week boundary (2026-11-22 is a Sunday).
    let stamps = [
        "20261119T010000Z",
        "20261119T230000Z",
        "20261120T010000Z",
        "20261120T230000Z",
        "20261121T010000Z",
        "20261121T230000Z",
        "20261122T010000Z",
        "20261122T230000Z",
        "20261123T010000Z",
        "20261123T230000Z",
    ];
    for s in stamps {
        let f = format!("test-backup-{s}.tar.zst");
        std::fs::write(dest.path().join(&f), &bytes).unwrap();
        std::fs::write(dest.path().join(format!("{f}.json")), &record).unwrap();
    }
    // Another cluster's backup is never touched.
    std::fs::write(
        dest.path().join("other-backup-20261101T000000Z.tar.zst"),
        &bytes,
    )
    .unwrap();

    let dry = lab.pfctl(&[
        "backup",
        "prune",
        "--to",
        to,
        "--keep-last",
        "1",
        "--keep-daily",
        "3",
        "--keep-weekly",
        "2",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(archives(dest.path()).len(), 11, "--dry-run deletes nothing");

    let p = lab.pfctl(&[
        "backup",
        "prune",
        "--to",
        to,
        "--keep-last",
        "1",
        "--keep-daily",
        "3",
        "--keep-weekly",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(p.code, 0, "{p:?}");
    // last 1: 23T23; daily 3: 23T23, 22T23, 21T23; weekly 2: W48 (23T23), W47 (22T23).
    assert_eq!(
        archives(dest.path()),
        vec![
            "other-backup-20261101T000000Z.tar.zst",
            "test-backup-20261121T230000Z.tar.zst",
            "test-backup-20261122T230000Z.tar.zst",
            "test-backup-20261123T230000Z.tar.zst",
        ]
    );
    assert!(!dest
        .path()
        .join("test-backup-20261119T010000Z.tar.zst.json")
        .exists());
    let none = lab.pfctl(&["backup", "prune", "--to", to]);
    assert_ne!(
        none.code, 0,
        "a policy keeping nothing is refused: {none:?}"
    );
}

#[test]
fn an_sftp_destination_on_a_test_node_holds_lists_and_verifies_backups() {
    let _lock = shared();
    let lab = Lab::new();
    let dir = format!("pfctl-backups-{}", std::process::id());
    let to = format!("sftp://node2/{dir}");
    let r = lab.pfctl(&[
        "backup",
        "create",
        "--include",
        "iservices",
        "--to",
        &to,
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let file = r.json()["file"].as_str().unwrap().to_string();
    assert!(file.starts_with(&to), "{file}");
    let l = lab.pfctl(&["backup", "list", "--to", &to, "-o", "json"]);
    assert_eq!(l.code, 0, "{l:?}");
    let rows: Vec<Value> = serde_json::from_value(l.json()).unwrap();
    assert_eq!(rows.len(), 1, "{l:?}");
    assert_eq!(rows[0]["status"], "verified");
    let v = lab.pfctl(&["backup", "verify", &file]);
    assert_eq!(v.code, 0, "{v:?}");
    // The file really is on node2, owned by the SSH user, not left as a partial.
    let listing = sh("node2", &format!("ls ~isadmin/{dir}"));
    assert!(
        listing.contains(".tar.zst") && !listing.contains(".partial"),
        "{listing}"
    );
    sh("node2", &format!("rm -rf ~isadmin/{dir}"));
}

#[test]
fn backup_age_warns_without_a_recent_verified_backup() {
    let _lock = shared();
    let dest = tempfile::tempdir().unwrap();
    let to = dest.path().to_str().unwrap();
    let with = |hours: u64| {
        Lab::with(&format!(
            "\n[clusters.test.overrides.backup]\ndestination = \"{to}\"\nmax_age_hours = {hours}\n"
        ))
    };
    let lab = with(26);
    let age = |lab: &Lab| {
        let r = lab.pfctl(&["healthcheck", "-o", "json"]);
        let x = r.result("backup.age", "cluster");
        (
            x["status"].as_str().unwrap().to_string(),
            x["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (status, message) = age(&lab);
    assert_eq!(status, "warn", "{message}");
    assert!(message.contains("no verified backup"), "{message}");

    let r = lab.pfctl(&["backup", "create", "--include", "iservices", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.json()["file"].as_str().unwrap().starts_with(to),
        "the profile's destination is used"
    );
    let (status, message) = age(&lab);
    assert_eq!(status, "ok", "{message}");

    std::thread::sleep(Duration::from_millis(1100));
    let (status, message) = age(&with(0));
    assert_eq!(status, "warn", "{message}");
    assert!(message.contains("limit 0 h"), "{message}");
}

/// The archive's entries (node, name) and the contents of its small files, read with pfctl's
/// own reader.
fn contents(file: &Path) -> Vec<(String, String, String)> {
    let f = std::io::BufReader::new(std::fs::File::open(file).unwrap());
    let mut out = Vec::new();
    pfctl::backup::archive::open(f, None)
        .unwrap()
        .walk(|meta, data| {
            let mut text = String::new();
            if meta.size < 4096 {
                std::io::Read::read_to_string(data, &mut text)?;
            }
            out.push((meta.node.clone(), meta.name.clone(), text));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn a_dump_command_runs_in_the_services_container_and_its_output_is_backed_up() {
    let _lock = shared();
    // The dump runs in pfdemo_db's task: on a fresh machine no test may have made the stack yet.
    demo_stack("up");
    let dest = tempfile::tempdir().unwrap();
    let lab = Lab::with(&format!(
        r#"
[clusters.test.overrides.backup]
destination = "{}"
[[clusters.test.overrides.backup.sources]]
name = "dbdump"
volume = "pfdemo_dbdata"
subpath = "dump"
service = "db"
consistency = "dump"
dump = ["sh", "-c", "mkdir -p /data/dump && echo \"rows=3 by $(hostname)\" > /data/dump/db.txt"]
data = true
"#,
        dest.path().display()
    ));
    let r = lab.pfctl(&["backup", "create", "-o", "json"]);
    let file = created_file(&r);
    let got = contents(&file);
    let dump = got
        .iter()
        .find(|(node, name, _)| node == "node1" && name == "dbdump/db.txt")
        .unwrap_or_else(|| panic!("no dump in {got:?}"));
    // Written inside the db task's container (its hostname is the container id), not on the host.
    assert!(dump.2.starts_with("rows=3 by "), "{dump:?}");
    assert!(!dump.2.contains("node1"), "{dump:?}");
    assert!(
        got.iter().all(|(_, name, _)| name.starts_with("dbdump")),
        "{got:?}"
    );
    let v = volume_dir();
    let _ = testcluster(&[
        "exec",
        "node1",
        "--",
        "rm",
        "-rf",
        &format!("{v}/_data/dump"),
    ]);
}
