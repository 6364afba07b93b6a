//! healthcheck on the demo stack (tests/cluster/demo-stack arranges it with the docker CLI).
//! Each test starts from and returns to a converged stack, breaks one thing, and asserts which
//! checks fail on which node. Swarm changes settle asynchronously, so a test re-runs the check
//! until the expected picture appears (bounded) and then asserts on that run.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn hc(home: &Path, inv: &Path, args: &[&str]) -> Run {
    run(pfctl_cmd(home)
        .arg("--inventory")
        .arg(inv)
        .args(["healthcheck", "-o", "json"])
        .args(args))
}

type Problems = BTreeMap<(String, String), (String, String)>;

/// Everything not ok, except the time-sync skips this machine always has, the checks of
/// application sections the demo profile does not configure, and the license and backup checks a
/// test system skips.
fn problems(r: &Run) -> Problems {
    r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] != "ok")
        .filter(|x| !(x["check"] == "time.sync" && x["status"] == "skip"))
        // A test system: no license needed, no backup destination set.
        .filter(|x| {
            !(x["status"] == "skip"
                && (x["check"] == "license.valid" || x["check"] == "backup.age"))
        })
        .filter(|x| {
            !(x["status"] == "skip"
                && x["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(pfctl::checks::app::NOT_CONFIGURED)))
        })
        .map(|x| {
            let k = (
                x["check"].as_str().unwrap().to_string(),
                x["node"].as_str().unwrap().to_string(),
            );
            (
                k,
                (
                    x["status"].as_str().unwrap().to_string(),
                    x["message"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn key(check: &str, node: &str) -> (String, String) {
    (check.to_string(), node.to_string())
}

/// Re-runs until `done` holds (or 60 s pass) and returns the last run.
fn until(home: &Path, inv: &Path, args: &[&str], done: impl Fn(&Problems) -> bool) -> Run {
    let start = Instant::now();
    loop {
        let r = hc(home, inv, args);
        if done(&problems(&r)) || start.elapsed() > Duration::from_secs(60) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// Waits for exactly `expected` (check, node, status) problems and asserts it.
fn expect_exactly(home: &Path, inv: &Path, expected: &[(&str, &str, &str)]) -> Run {
    let want: BTreeMap<(String, String), String> = expected
        .iter()
        .map(|(c, n, s)| (key(c, n), s.to_string()))
        .collect();
    let same = |p: &Problems| {
        p.len() == want.len()
            && want
                .iter()
                .all(|(k, s)| p.get(k).is_some_and(|(st, _)| st == s))
    };
    let r = until(home, inv, &[], same);
    let p = problems(&r);
    assert!(same(&p), "expected {want:?}\ngot {p:#?}");
    r
}

fn message(r: &Run, check: &str, node: &str) -> String {
    r.result(check, node)["message"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn healthy_demo_cluster_is_clean() {
    let _l = exclusive();
    let _s = Stack::reset();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(home.path(), &inv, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert!(
        doc["results"].as_array().unwrap().len() >= 40,
        "the whole catalogue ran"
    );
    // Per-collector timings are reported so the slow checks are visible.
    assert!(
        doc["nodes"][0]["timings_ms"]["facts"].is_u64(),
        "{}",
        doc["nodes"][0]
    );
    // The application probes ran from one node, named in the evidence.
    assert!(message(&r, "tls.certificate", "cluster").contains("names demo.example.com"));
    assert!(message(&r, "compose.valid", "cluster").contains("3 services"));
    let from = &r.result("compose.valid", "cluster")["evidence"]["probed_from"];
    assert!(
        from.as_str().is_some_and(|n| n.starts_with("node")),
        "{from}"
    );
    // One web task per node, and each answered the command.
    for n in ["node1", "node2", "node3"] {
        assert_eq!(
            message(&r, "container.cmd", n),
            "1 container(s) answered",
            "{n}"
        );
    }
    // The plain form keeps the original tool's line shape.
    let plain = run(pfctl_cmd(home.path()).arg("--inventory").arg(&inv).args([
        "healthcheck",
        "-o",
        "plain",
    ]));
    assert!(
        plain
            .stdout
            .lines()
            .any(|l| l.starts_with("verify ntp sync node2.") && l.contains("[SKIP]")),
        "{plain:?}"
    );
    assert!(
        plain
            .stdout
            .lines()
            .any(|l| l.starts_with("get file hash cluster.") && l.ends_with("[OK]")),
        "{plain:?}"
    );
}

#[test]
fn service_scaled_to_zero_fails_replicas() {
    let _l = exclusive();
    let _s = Stack::reset();
    docker(
        "node1",
        &["service", "scale", "--detach", "pfdemo_worker=0"],
    );
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    // The scale-down takes a moment: 1/2 on the way to 0/2 fails the same check.
    let r = until(home.path(), &inv, &[], |p| {
        p.get(&key("stack.replicas", "cluster"))
            .is_some_and(|(_, m)| m.contains("pfdemo_worker 0/2"))
    });
    let r = if problems(&r).len() == 1 {
        r
    } else {
        expect_exactly(home.path(), &inv, &[("stack.replicas", "cluster", "fail")])
    };
    assert_eq!(problems(&r).len(), 1, "{r:?}");
    assert!(
        message(&r, "stack.replicas", "cluster").contains("pfdemo_worker 0/2"),
        "{r:?}"
    );
    assert_eq!(r.code, 2);
}

#[test]
fn changed_isconfig_on_node2_is_named() {
    let _l = exclusive();
    let _s = Stack::reset();
    testcluster(&[
        "exec",
        "node2",
        "--",
        "sh",
        "-c",
        "echo 'HOST_ADDRESS: other' >> /etc/iservices/isconfig.yml",
    ]);
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(
        home.path(),
        &inv,
        &[("files.consistent", "cluster", "fail")],
    );
    let m = message(&r, "files.consistent", "cluster");
    assert!(
        m.contains("/etc/iservices/isconfig.yml") && m.contains("node2 has"),
        "{m}"
    );
}

#[test]
fn readable_encryption_key_fails_on_its_node() {
    let _l = exclusive();
    let _s = Stack::reset();
    testcluster(&[
        "exec",
        "node3",
        "--",
        "chmod",
        "0644",
        "/etc/iservices/encryption_key",
    ]);
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(home.path(), &inv, &[("files.secret_mode", "node3", "fail")]);
    assert!(
        message(&r, "files.secret_mode", "node3").contains("mode 0644"),
        "{r:?}"
    );
}

#[test]
fn six_exited_containers_are_counted_per_node_and_cluster_wide() {
    let _l = exclusive();
    let _s = Stack::reset();
    for i in 0..6 {
        docker(
            "node2",
            &[
                "run",
                "--name",
                &format!("stale{i}"),
                "pfdemo/busybox:1",
                "true",
            ],
        );
    }
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(
        home.path(),
        &inv,
        &[
            ("containers.exited", "node2", "warn"),
            ("containers.exited_total", "cluster", "warn"),
        ],
    );
    assert!(
        message(&r, "containers.exited", "node2").starts_with("6 exited"),
        "{r:?}"
    );
    assert_eq!(
        message(&r, "containers.exited_total", "cluster"),
        "6 exited (stale) containers found cluster-wide"
    );
    assert_eq!(r.code, 1);
}

#[test]
fn pinned_service_on_the_wrong_node_fails_placement() {
    let _l = exclusive();
    let _s = Stack::reset();
    misplace_pinned_db();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(home.path(), &inv, &[("stack.placement", "cluster", "fail")]);
    assert!(
        message(&r, "stack.placement", "cluster")
            .contains("pfdemo_db runs on node2 (pinned to node1)"),
        "{r:?}"
    );
}

#[test]
fn a_service_in_a_restart_loop_is_named() {
    let _l = exclusive();
    let _s = Stack::reset();
    docker(
        "node1",
        &[
            "service",
            "update",
            "--detach",
            "--args",
            "false",
            "pfdemo_worker",
        ],
    );
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = until(home.path(), &inv, &[], |p| {
        p.get(&key("stack.restart_loop", "cluster"))
            .is_some_and(|(_, m)| m.contains("pfdemo_worker"))
    });
    let m = message(&r, "stack.restart_loop", "cluster");
    assert!(m.contains("pfdemo_worker"), "{r:?}");
    assert_eq!(r.result("stack.restart_loop", "cluster")["status"], "fail");
}

#[test]
fn stopped_agent_is_a_warning_and_the_node_is_still_checked() {
    let _l = exclusive();
    let _s = Stack::reset();
    let _f = Fault::inject("node1", "agent-stop");
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(home.path(), &inv, &[("agent.resident", "node1", "warn")]);
    assert_eq!(r.code, 1);
    assert_eq!(r.result("docker.reachable", "node1")["status"], "ok");
}

#[test]
fn stopped_engine_fails_that_node_and_skips_its_later_stages() {
    let _l = exclusive();
    let _s = Stack::reset();
    let f = Fault::inject("node2", "docker-stop");
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = hc(home.path(), &inv, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.result("docker.reachable", "node2")["status"], "fail");
    assert!(message(&r, "docker.reachable", "node2").contains("engine unreachable"));
    for later in ["swarm.node_active", "containers.exited"] {
        let x = r.result(later, "node2");
        assert_eq!(x["status"], "skip", "{x}");
        assert!(
            x["message"]
                .as_str()
                .unwrap()
                .contains("Docker Engine on this node is unreachable"),
            "{x}"
        );
    }
    assert_eq!(r.result("docker.reachable", "node1")["status"], "ok");
    drop(f);
}

#[test]
fn link_down_node_is_unknown_and_peers_cannot_reach_it() {
    let _l = exclusive();
    let _s = Stack::reset();
    let _f = Fault::inject("node3", "link-down");
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = run(pfctl_cmd(home.path()).arg("--inventory").arg(&inv).args([
        "--connect-timeout",
        "2",
        "healthcheck",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.result("node.reachable", "node3")["status"], "unknown");
    assert_eq!(r.result("docker.reachable", "node3")["status"], "skip");
    for peer in ["node1", "node2"] {
        let x = r.result("net.connectivity", peer);
        assert_eq!(x["status"], "fail", "{x}");
        assert!(
            x["message"].as_str().unwrap().contains("10.213.0.13:2377"),
            "{x}"
        );
    }
}

#[test]
fn demoted_manager_reports_the_quorum_margin() {
    let _l = exclusive();
    let _s = Stack::reset();
    docker("node1", &["node", "demote", "node3"]);
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = until(home.path(), &inv, &[], |p| {
        p.contains_key(&key("swarm.managers", "cluster"))
    });
    assert_eq!(
        r.result("swarm.managers", "cluster")["status"],
        "fail",
        "{r:?}"
    );
    let q = r.result("swarm.quorum_margin", "cluster");
    assert_eq!(q["status"], "warn", "{q}");
    assert!(
        q["message"].as_str().unwrap().contains("0 more may fail"),
        "{q}"
    );
    assert_eq!(q["evidence"]["managers"], 2);
}

#[test]
fn a_threshold_override_trips_the_memory_check_and_fail_on_warn_gates() {
    let _l = exclusive();
    let _s = Stack::reset();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "memory_available_mb_warn = 100000000\n");
    let r = expect_exactly(
        home.path(),
        &inv,
        &[
            ("node.memory", "node1", "warn"),
            ("node.memory", "node2", "warn"),
            ("node.memory", "node3", "warn"),
        ],
    );
    assert!(
        message(&r, "node.memory", "node2").contains("less than 100000000mb memory available"),
        "{r:?}"
    );
    assert_eq!(r.code, 1);
    let strict = hc(home.path(), &inv, &["--fail-on", "warn"]);
    assert_eq!(strict.code, 2, "{strict:?}");
    assert_eq!(strict.result("node.memory", "node1")["status"], "fail");
}

#[test]
fn an_endpoint_that_never_answers_is_unknown_within_its_deadline() {
    let _l = exclusive();
    let _s = Stack::reset();
    // A listener inside node1 that accepts and never answers.
    let mut silent = std::process::Command::new(repo().join("tests/cluster/testcluster"))
        .args(["exec", "node1", "--", "python3", "-c"])
        .arg("import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',18081))\ns.listen()\nprint('up',flush=True)\nc=s.accept()\ntime.sleep(120)")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(silent.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "up");
    let home = fresh_home();
    let profile = home.path().join("profile.toml");
    let demo = std::fs::read_to_string(repo().join("profiles/demo.toml")).unwrap();
    std::fs::write(&profile, format!("{demo}\n[[endpoints]]\nname = \"silent\"\nurl = \"http://127.0.0.1:18081/\"\ntimeout_ms = 1500\n")).unwrap();
    let inv = lab_inventory(home.path(), "");
    let start = Instant::now();
    let r = hc(home.path(), &inv, &["--profile", profile.to_str().unwrap()]);
    let took = start.elapsed();
    let _ = silent.kill();
    let _ = silent.wait();
    let x = r.result("endpoint.http", "node1");
    assert_eq!(x["status"], "unknown", "{r:?}");
    assert!(x["message"].as_str().unwrap().contains("1500"), "{x}");
    // Nothing listens there on the other nodes: refused means down.
    let y = r.result("endpoint.http", "node2");
    assert_eq!(y["status"], "fail", "{y}");
    assert!(y["message"].as_str().unwrap().contains("refused"), "{y}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Writes `content` as /etc/iservices/NAME on every node (their /etc/iservices is a host directory).
fn write_on_all_nodes(name: &str, content: &[u8]) {
    for n in 1..=3 {
        let path = tc_dir().join(format!("nodes/node{n}/iservices/{name}"));
        std::fs::write(&path, content).unwrap();
    }
}

/// A self-signed certificate for `name`, valid between the two dates (year, month, day).
fn cert(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> String {
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().unwrap();
    p.self_signed(&key).unwrap().pem()
}

#[test]
fn an_override_that_unpins_and_shrinks_fails_the_compose_check() {
    let _l = exclusive();
    let _s = Stack::reset();
    write_on_all_nodes(
        "docker-compose-override.yml",
        b"services:\n  db:\n    deploy:\n      placement:\n        constraints: []\n  web:\n    deploy:\n      replicas: 1\n  worker:\n    environment:\n      db_host: localhost\n",
    );
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let r = expect_exactly(home.path(), &inv, &[("compose.valid", "cluster", "fail")]);
    let m = message(&r, "compose.valid", "cluster");
    for want in [
        "db is not pinned",
        "web has 1 replica(s) (needs at least 3 replicas)",
        "worker db_host lacks db",
    ] {
        assert!(m.contains(want), "{want} in {m}");
    }
}

#[test]
fn an_expired_or_misnamed_certificate_fails() {
    let _l = exclusive();
    let _s = Stack::reset();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    write_on_all_nodes(
        "is_cert.pem",
        cert("demo.example.com", (2020, 1, 1), (2021, 1, 1)).as_bytes(),
    );
    let r = expect_exactly(home.path(), &inv, &[("tls.certificate", "cluster", "fail")]);
    assert!(message(&r, "tls.certificate", "cluster").starts_with("expired "));
    write_on_all_nodes(
        "is_cert.pem",
        cert("other.example.com", (2020, 1, 1), (2090, 1, 1)).as_bytes(),
    );
    let r = expect_exactly(home.path(), &inv, &[("tls.certificate", "cluster", "fail")]);
    let m = message(&r, "tls.certificate", "cluster");
    assert!(
        m.contains("does not name HOST_ADDRESS demo.example.com (names: other.example.com"),
        "{m}"
    );
}

#[test]
fn a_command_failing_in_the_containers_is_named_per_node() {
    let _l = shared();
    cluster();
    let home = fresh_home();
    let inv = lab_inventory(
        home.path(),
        "\n[[clusters.test.overrides.exec]]\nservice = \"pfdemo_web\"\ncmd = [\"sh\", \"-c\", \"echo no-database >&2; exit 3\"]\n",
    );
    let r = hc(home.path(), &inv, &[]);
    let failed: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .filter(|n| r.result("container.cmd", n)["status"] == "fail")
        .map(|n| message(&r, "container.cmd", n))
        .collect();
    assert!(!failed.is_empty(), "{r:?}");
    for m in failed {
        assert!(
            m.starts_with("pfdemo_web.") && m.contains(": exit 3: no-database"),
            "{m}"
        );
    }
}

#[test]
fn dex_discovery_is_read_through_the_agents() {
    let _l = shared();
    cluster();
    let doc = |issuer: &str| {
        format!(r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth"}}"#)
    };
    let path = "/dex/.well-known/openid-configuration".to_string();
    let probe = |routes: Vec<(String, u16, String)>, issuer: Option<&str>| {
        let server = fixture_http::FixtureServer::start(routes);
        let home = fresh_home();
        let expect = issuer
            .map(|i| format!("issuer = \"{i}\"\n"))
            .unwrap_or_default();
        let inv = lab_inventory(
            home.path(),
            &format!(
                "\n[clusters.test.overrides.dex]\nurl = \"{}/dex\"\n{expect}",
                server.url
            ),
        );
        let r = hc(home.path(), &inv, &[]);
        assert!(server.paths().contains(&path), "{:?}", server.paths());
        r.result("dex.discovery", "cluster")
    };
    let issuer = "https://demo.example.com/dex";
    let ok = probe(vec![(path.clone(), 200, doc(issuer))], Some(issuer));
    assert_eq!(ok["status"], "ok", "{ok}");
    let moved = probe(
        vec![(path.clone(), 200, doc(issuer))],
        Some("https://other/dex"),
    );
    assert_eq!(moved["status"], "warn", "{moved}");
    assert!(moved["message"]
        .as_str()
        .unwrap()
        .contains("https://other/dex"));
    let broken = probe(
        vec![(path.clone(), 500, "storage unavailable".into())],
        None,
    );
    assert_eq!(broken["status"], "fail", "{broken}");
    assert!(broken["message"]
        .as_str()
        .unwrap()
        .contains("HTTP 500: storage unavailable"));
}
