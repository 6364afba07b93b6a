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
