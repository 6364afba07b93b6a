//! Password tokens with the cluster's encryption_key (Fernet), and encrypted inventory passwords.

use crate::common::lab::Lab;
use crate::common::*;
use std::io::Write;
use std::process::Stdio;

/// pfctl with `input` on stdin.
fn with_stdin(lab: &Lab, args: &[&str], input: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = pfctl_cmd(lab.home.path());
    cmd.arg("--inventory").arg(&lab.inv).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    finish(child.wait_with_output().unwrap())
}

#[test]
fn encrypt_then_decrypt_with_the_clusters_key_and_is_pass() {
    let _lock = shared();
    // The cluster's encryption_key is written by the demo stack's set-up.
    demo_stack("up");
    let lab = Lab::new();
    let secret = "Tr1cky p@ss:word#";
    let r = with_stdin(&lab, &["password", "encrypt"], &format!("{secret}\n"), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let token = r.stdout.trim().to_string();
    assert!(token.starts_with("gAAAAA"), "a Fernet token: {token}");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));

    let d = lab.pfctl(&["password", "decrypt", "--token", &token]);
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.stdout.trim_end(), secret);

    // is_pass on the node holds such a token; decrypt reads it and changes nothing.
    let path = "/etc/iservices/is_pass";
    testcluster(&[
        "exec",
        "node1",
        "--",
        "sh",
        "-c",
        &format!("printf '%s\\n' '{token}' > {path}.test && chmod 600 {path}.test"),
    ]);
    let before = docker_free_sha("node1", &format!("{path}.test"));
    let d = lab.pfctl(&[
        "--limit",
        "node1",
        "password",
        "decrypt",
        "--token",
        &std::fs::read_to_string(tc_dir().join("nodes/node1/iservices/is_pass.test")).unwrap(),
    ]);
    assert_eq!(d.stdout.trim_end(), secret, "{d:?}");
    assert_eq!(docker_free_sha("node1", &format!("{path}.test")), before);
    testcluster(&["exec", "node1", "--", "rm", "-f", &format!("{path}.test")]);

    // A token made with another key: a clear error, no secret anywhere.
    let other = pfctl::password::encrypt(
        &pfctl::password::Key::generate(),
        secret.as_bytes(),
        0,
        None,
    );
    let bad = lab.pfctl(&["password", "decrypt", "--token", &other]);
    assert_eq!(bad.code, 3, "{bad:?}");
    assert!(bad.stderr.contains("another encryption_key"), "{bad:?}");
    assert!(!bad.stdout.contains(secret) && !bad.stderr.contains(secret));
}

fn docker_free_sha(node: &str, path: &str) -> String {
    let out = testcluster(&["exec", node, "--", "sha256sum", path]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn an_encrypted_inventory_password_logs_in_and_never_shows() {
    let _lock = shared();
    let c = cluster();
    let lab = Lab::new();
    let key = lab.home.path().join("inventory.key");
    let key_s = key.to_str().unwrap();
    let r = with_stdin(
        &lab,
        &["password", "encrypt", "--for-inventory"],
        &format!("{PASSWORD}\n"),
        &[("PFCTL_INVENTORY_KEY", key_s)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let line = r.stdout.trim().to_string();
    assert!(line.starts_with("password_encrypted = \"gAAAA"), "{line}");
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));

    // No key file for SSH: the encrypted password is the only way in.
    let home = fresh_home();
    let inv = c.inventory_with(
        home.path(),
        &[
            (c.key().to_str().unwrap(), "/nonexistent/key"),
            ("[defaults]\n", &format!("[defaults]\n{line}\n")),
        ],
    );
    let ok = run(pfctl_cmd(home.path())
        .env("PFCTL_INVENTORY_KEY", key_s)
        .args(["--inventory", inv.to_str().unwrap(), "facts", "-o", "json"]));
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(!ok.stdout.contains(PASSWORD) && !ok.stderr.contains(PASSWORD));

    // Another machine's key file: the error names the file, not the password.
    let other = lab.home.path().join("other.key");
    let bad = run(pfctl_cmd(home.path())
        .env("PFCTL_INVENTORY_KEY", other.to_str().unwrap())
        .args(["--inventory", inv.to_str().unwrap(), "facts"]));
    assert_ne!(bad.code, 0, "{bad:?}");
    assert!(bad.stderr.contains("other.key"), "{bad:?}");
    assert!(!bad.stderr.contains(PASSWORD));
}

/// The secret version pfdemo_worker mounts as is_pass.
fn worker_secret() -> String {
    let out = testcluster(&[
        "exec",
        "node1",
        "--",
        "docker",
        "service",
        "inspect",
        "pfdemo_worker",
        "--format",
        "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn node_sha(n: u32, path: &str) -> String {
    let out = testcluster(&["exec", &format!("node{n}"), "--", "sha256sum", path]);
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_whitespace().next().unwrap_or("").to_string()
}

/// SHA-256 of /run/secrets/is_pass in every running pfdemo_worker container, on any node.
fn mounted_secret_shas() -> Vec<String> {
    let mut shas = Vec::new();
    for n in 1..=3 {
        let node = format!("node{n}");
        let ids = testcluster(&[
            "exec",
            &node,
            "--",
            "docker",
            "ps",
            "-q",
            "--filter",
            "label=com.docker.swarm.service.name=pfdemo_worker",
        ]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let out = testcluster(&[
                "exec",
                &node,
                "--",
                "docker",
                "exec",
                id,
                "cat",
                "/run/secrets/is_pass",
            ]);
            shas.push(pfctl::heal::sha256_hex(&out.stdout));
        }
    }
    shas
}

/// Every file under `dir` whose bytes contain `needle` (files over 64 MiB skipped).
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if md.is_file() && md.len() < 64 << 20 {
            if let Ok(b) = std::fs::read(&p) {
                if b.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[test]
fn password_set_changes_every_manager_rotates_the_secret_and_leaks_nothing() {
    // It restarts the worker's tasks and replaces is_pass: no other test may watch meanwhile.
    let _lock = exclusive();
    demo_stack("up");
    let lab = Lab::new();
    const ORIGINAL: &str = "demo-pass1";
    const NEW: &str = "N3w-P@ss word#1";
    const KEY: &str = "demo-key-0123456789abcdef0123456789abcdefgA=";
    let is_pass = "/etc/iservices/is_pass";
    let copy = "/opt/iservices/backup/is_pass";

    // Too short for the platform: refused before anything changes.
    let before_file = node_sha(1, is_pass);
    let short = with_stdin(&lab, &["password", "set"], "abc\n", &[]);
    assert_ne!(short.code, 0, "{short:?}");
    assert!(short.stderr.contains("6 to 24"), "{short:?}");
    assert_eq!(node_sha(1, is_pass), before_file);

    let old_secret = worker_secret();
    assert!(old_secret.starts_with("pfdemo_is_pass"), "{old_secret}");

    // Watch every process's arguments on this machine (the nodes' too) while it runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = 0;
            let mut leaks = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new("ps")
                    .args(["-eww", "-o", "args="])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                for l in text.lines() {
                    if l.contains(NEW) || l.contains(KEY) {
                        leaks.push(l.to_string());
                    }
                }
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (samples, leaks)
        })
    };
    let r = with_stdin(&lab, &["password", "set"], &format!("{NEW}\n"), &[]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (samples, ps_leaks) = sampler.join().unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    println!("password set:\n{}", r.stdout);

    // Every manager holds the same new is_pass, and the same backup copy.
    let shas: Vec<String> = (1..=3).map(|n| node_sha(n, is_pass)).collect();
    assert!(
        shas[0].len() == 64 && shas.iter().all(|s| *s == shas[0]),
        "{shas:?}"
    );
    assert_ne!(shas[0], before_file.as_str());
    for n in 1..=3 {
        assert_eq!(node_sha(n, copy), shas[0], "node{n}'s backup copy");
    }
    assert!(r.stdout.contains(&shas[0][..12]), "{r:?}");
    let d = lab.pfctl(&["password", "decrypt"]);
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(d.stdout.trim_end(), NEW);

    // The secret is a new version, the old one is gone, and the worker's tasks read the new file.
    let new_secret = worker_secret();
    assert_ne!(new_secret, old_secret);
    let ls = testcluster(&[
        "exec",
        "node1",
        "--",
        "docker",
        "secret",
        "ls",
        "--format",
        "{{.Name}}",
    ]);
    let names = String::from_utf8_lossy(&ls.stdout).to_string();
    assert!(names.lines().any(|l| l == new_secret), "{names}");
    assert!(!names.lines().any(|l| l == old_secret), "{names}");
    let mounted = mounted_secret_shas();
    assert_eq!(mounted.len(), 2, "two worker tasks: {mounted:?}");
    assert!(
        mounted.iter().all(|s| *s == shas[0]),
        "{mounted:?} vs {}",
        shas[0]
    );

    // Neither the password nor the key anywhere: output, process arguments, pfctl's files, the
    // agents' audit logs and logs.
    println!("process-argument samples taken: {samples}");
    assert!(samples > 0);
    assert!(ps_leaks.is_empty(), "{ps_leaks:?}");
    for secret in [NEW, KEY] {
        for run in [&r, &d] {
            assert!(!run.stderr.contains(secret), "{run:?}");
        }
        assert!(!r.stdout.contains(secret), "{r:?}");
        assert!(files_containing(lab.home.path(), secret).is_empty());
        for n in 1..=3 {
            let dir = tc_dir().join(format!("nodes/node{n}"));
            for sub in ["state", "run", "agent.log", "sshd.log"] {
                let p = dir.join(sub);
                let hits = if p.is_dir() {
                    files_containing(&p, secret)
                } else {
                    files_containing(&dir, secret)
                        .into_iter()
                        .filter(|f| f.ends_with(sub))
                        .collect()
                };
                assert!(hits.is_empty(), "{secret:?} found in {hits:?}");
            }
        }
    }

    // Heal: the demo password back (another rotation), the stack as the other tests expect it.
    let back = with_stdin(&lab, &["password", "set"], &format!("{ORIGINAL}\n"), &[]);
    assert_eq!(back.code, 0, "{back:?}");
    let d = lab.pfctl(&["password", "decrypt"]);
    assert_eq!(d.stdout.trim_end(), ORIGINAL);
    assert_ne!(worker_secret(), new_secret);
}
