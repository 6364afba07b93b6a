use crate::common::*;

/// The fingerprint OpenSSH itself computes for a node's host key.
fn fingerprint(pubkey: &std::path::Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn unknown_key_refused_under_strict_with_fingerprint_and_fix() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    let empty = home.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let inv = c.inventory_with(
        home.path(),
        &[(c.known_hosts().to_str().unwrap(), empty.to_str().unwrap())],
    );
    let r = run(pfctl_cmd(home.path()).args([
        "--inventory",
        inv.to_str().unwrap(),
        "--limit",
        "node2",
        "-o",
        "json",
        "facts",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    let msg = r.result("facts", "node2")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains(&fingerprint(&c.host_pub_key(2))), "{msg}");
    assert!(
        msg.contains("ssh-keyscan") && msg.contains("accept-new"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "strict must not write"
    );
}

#[test]
fn unknown_key_recorded_under_accept_new_once_per_node() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    let kh = home.path().join("known_hosts_new");
    std::fs::write(&kh, "").unwrap();
    let inv = c.inventory_with(
        home.path(),
        &[(c.known_hosts().to_str().unwrap(), kh.to_str().unwrap())],
    );
    let inv = inv.to_str().unwrap();
    let r = run(pfctl_cmd(home.path()).args([
        "--inventory",
        inv,
        "--host-key-checking",
        "accept-new",
        "-o",
        "json",
        "facts",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    for n in 1..=3 {
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("{} ", c.addr(n))))
                .count(),
            1,
            "{text}"
        );
    }
    // Recorded keys are the real ones: strict now trusts them, and nothing more is written.
    let r = run(pfctl_cmd(home.path()).args(["--inventory", inv, "-o", "json", "facts"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
}

#[test]
fn changed_key_refused_under_both_policies_others_answer() {
    let _l = exclusive();
    let c = cluster();
    let _fault = Fault::inject("node2", "hostkey-change");
    for policy in ["strict", "accept-new"] {
        let home = fresh_home();
        let kh = home.path().join("known_hosts");
        std::fs::copy(c.known_hosts(), &kh).unwrap();
        let before = std::fs::read_to_string(&kh).unwrap();
        let inv = c.inventory_with(
            home.path(),
            &[(c.known_hosts().to_str().unwrap(), kh.to_str().unwrap())],
        );
        let r = run(pfctl_cmd(home.path()).args([
            "--inventory",
            inv.to_str().unwrap(),
            "--host-key-checking",
            policy,
            "-o",
            "json",
            "facts",
        ]));
        assert_eq!(r.code, 3, "{policy}: {r:?}");
        let msg = r.result("facts", "node2")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("HOST KEY CHANGED") && msg.contains(&fingerprint(&c.host_pub_key(2))),
            "{policy}: {msg}"
        );
        assert!(msg.contains("ssh-keygen -R"), "{msg}");
        assert_eq!(r.result("facts", "node1")["status"], "ok", "{r:?}");
        assert_eq!(r.result("facts", "node3")["status"], "ok", "{r:?}");
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            before,
            "{policy} must not touch known_hosts"
        );
    }
}

#[test]
fn turning_checking_off_is_refused() {
    let home = fresh_home();
    let r = run(pfctl_cmd(home.path()).args([
        "--host",
        "10.213.0.11",
        "--host-key-checking",
        "off",
        "facts",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("cannot be turned off"), "{r:?}");
}
