use crate::common::*;
use std::collections::BTreeSet;

fn assert_three_distinct_nodes(r: &Run) {
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(doc["schema"], "pfctl/v1");
    assert_eq!(doc["action"], "facts");
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["summary"]["ok"], 3, "{r:?}");
    let mut roots = BTreeSet::new();
    for n in 1..=3 {
        let node = r.node(&format!("node{n}"));
        assert_eq!(node["reachable"], true, "{r:?}");
        assert_eq!(node["host"], format!("10.213.0.{}", 10 + n));
        // Each answer comes from the right node: its own hostname and its own engine.
        assert_eq!(node["facts"]["hostname"], format!("node{n}"), "{node}");
        assert_eq!(node["facts"]["docker"]["reachable"], true, "{node}");
        roots.insert(
            node["facts"]["docker"]["root_dir"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        assert!(node["facts"]["memory"]["total_bytes"].as_u64().unwrap() > 0);
        assert!(node["facts"]["agent"]["version"]
            .as_str()
            .unwrap()
            .starts_with(env!("CARGO_PKG_VERSION")));
    }
    assert_eq!(roots.len(), 3, "three engines, three data roots: {roots:?}");
}

#[test]
fn facts_by_key_from_the_inventory() {
    let _l = shared();
    let r = pfctl(&["facts", "-o", "json"]);
    assert_three_distinct_nodes(&r);
    assert_eq!(r.node("node1")["route"], "streamlocal");
}

#[test]
fn facts_by_password_from_the_environment() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    // No key anywhere: the inventory's identity is pointed at a file that does not exist.
    let inv = c.inventory_with(
        home.path(),
        &[(c.key().to_str().unwrap(), "/nonexistent/key")],
    );
    let r = run(pfctl_cmd(home.path())
        .env("PFCTL_PASSWORD", PASSWORD)
        .args(["--inventory", inv.to_str().unwrap(), "facts", "-o", "json"]));
    assert_three_distinct_nodes(&r);
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
}

#[test]
fn facts_by_ssh_agent() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    let sock = home.path().join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(c.key())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let inv = c.inventory_with(
        home.path(),
        &[(c.key().to_str().unwrap(), "/nonexistent/key")],
    );
    let r = run(pfctl_cmd(home.path()).env("SSH_AUTH_SOCK", &sock).args([
        "--inventory",
        inv.to_str().unwrap(),
        "facts",
        "-o",
        "json",
    ]));
    assert_three_distinct_nodes(&r);
}

#[test]
fn legacy_syntax_with_a_password_full_of_specials() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    std::fs::copy(c.known_hosts(), home.path().join(".ssh/known_hosts")).unwrap();
    let creds = format!("isadmin:{PASSWORD}");
    let mut cmd = pfctl_cmd(home.path());
    for n in 1..=3 {
        cmd.args(["--host", &c.addr(n), &creds]);
    }
    let r = run(cmd.args(["-o", "json", "cluster-action", "--action", "facts"]));
    assert!(
        !r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD),
        "password leaked"
    );
    assert_eq!(r.code, 0, "{r:?}");
    for n in 1..=3 {
        let node = r.node(&c.addr(n));
        assert_eq!(node["facts"]["hostname"], format!("node{n}"), "{r:?}");
    }
}

#[test]
fn a_wrong_password_is_an_auth_error_that_never_shows_the_password() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    std::fs::copy(c.known_hosts(), home.path().join(".ssh/known_hosts")).unwrap();
    let bad = "Wr0ng#p@ss word";
    let r = run(pfctl_cmd(home.path()).args([
        "--host",
        &c.addr(1),
        &format!("isadmin:{bad}"),
        "node-action",
        "--action",
        "facts",
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("authentication failed for isadmin@10.213.0.11"),
        "{r:?}"
    );
    assert!(
        !r.stdout.contains(bad) && !r.stderr.contains(bad),
        "password leaked: {r:?}"
    );
}

#[test]
fn plain_output_keeps_the_original_line_shape() {
    let _l = shared();
    let r = pfctl(&["facts", "-o", "plain"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r:?}");
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("facts node{}.", i + 1)) && l.ends_with("[OK]"),
            "{l}"
        );
    }
}

#[test]
fn limit_and_ndjson_stream_one_node() {
    let _l = shared();
    let r = pfctl(&["facts", "-o", "ndjson", "--limit", "node2"]);
    assert_eq!(r.code, 0, "{r:?}");
    let events: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["node", "result", "summary"], "{r:?}");
    assert_eq!(events[0]["node"]["name"], "node2");
    assert_eq!(events[2]["status"], "ok");
}

#[test]
fn malformed_inventory_names_the_file_and_line() {
    let home = fresh_home();
    let inv = home.path().join("bad.toml");
    std::fs::write(
        &inv,
        "[defaults]\nuser = \"isadmin\"\n\n[nodes.a]\nhots = \"10.0.0.1\"\n",
    )
    .unwrap();
    let r = run(pfctl_cmd(home.path()).args(["--inventory", inv.to_str().unwrap(), "facts"]));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("line 5") && r.stderr.contains("hots"),
        "{r:?}"
    );
}

#[test]
fn local_node_without_a_host_uses_a_local_agent() {
    // No inventory, no --host: this machine. No resident agent runs on the host, so pfctl spawns
    // the pfagent beside it for one run and says so.
    let home = fresh_home();
    let r = run(pfctl_cmd(home.path()).args(["facts", "-o", "json"]));
    assert_eq!(r.code, 1, "{r:?}");
    let doc = r.json();
    assert_eq!(doc["nodes"][0]["route"], "local-spawn");
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(doc["nodes"][0]["facts"]["hostname"], host);
    assert!(
        doc["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("resident agent not running"),
        "{r:?}"
    );
}

#[test]
fn proxy_jump_through_another_node() {
    let _l = shared();
    let c = cluster();
    let home = fresh_home();
    let cfg = home.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host behind\n  HostName {}\n  ProxyJump isadmin@{}\n  User isadmin\n\n\
             # The jump host is resolved on its own, as OpenSSH does: these apply to both.\n\
             Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            c.addr(3),
            c.addr(1),
            c.key().display(),
            c.known_hosts().display()
        ),
    )
    .unwrap();
    let r = run(pfctl_cmd(home.path()).args([
        "--ssh-config",
        cfg.to_str().unwrap(),
        "--host",
        "behind",
        "-o",
        "json",
        "facts",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let node = r.node("behind");
    assert_eq!(node["facts"]["hostname"], "node3", "{r:?}");
    assert_eq!(node["route"], "streamlocal");
}
