//! autocluster on fresh nodes of the test cluster (nodes 4 and up: outside the shared swarm,
//! `testcluster fresh`), each prepared as a platform install leaves a node (/etc/iservices files),
//! then turned into a cluster by pfctl with the demo profile and checked with docker itself.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Fresh nodes `first..=last` for one test, made fresh again afterwards (also on panic).
struct Fresh {
    _lock: Lock,
    range: (u32, u32),
    home: tempfile::TempDir,
    inv: PathBuf,
}

impl Fresh {
    fn take(first: u32, last: u32) -> Fresh {
        let lock = fresh_lock();
        testcluster(&["fresh", &first.to_string(), &last.to_string()]);
        // Made by demo-stack on first use; a clean machine may reach this before any demo stack.
        let cert = demo_cert_dir().join("is_cert.pem");
        for n in first..=last {
            let node = format!("node{n}");
            testcluster(&[
                "exec",
                &node,
                "--",
                "sh",
                "-c",
                "mkdir -p /etc/iservices && \
                 printf 'HOST_ADDRESS: demo.example.com\\ndb_host: couchbase.isnet\\n' > /etc/iservices/isconfig.yml && \
                 printf 'demo-key-0123456789abcdef0123456789abcdefgA=\\n' > /etc/iservices/encryption_key && \
                 chmod 600 /etc/iservices/encryption_key",
            ]);
            std::fs::copy(&cert, iservices(n).join("is_cert.pem")).unwrap();
        }
        let home = fresh_home();
        let inv = fresh_inventory(home.path(), first);
        Fresh {
            _lock: lock,
            range: (first, last),
            home,
            inv,
        }
    }

    fn pfctl(&self, args: &[&str]) -> Run {
        run(pfctl_cmd(self.home.path())
            .arg("--inventory")
            .arg(&self.inv)
            .args(args))
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/cluster/testcluster"))
            .args([
                "fresh",
                &self.range.0.to_string(),
                &self.range.1.to_string(),
            ])
            .stdin(Stdio::null())
            .output();
    }
}

fn iservices(n: u32) -> PathBuf {
    tc_dir().join(format!("nodes/node{n}/iservices"))
}

/// The test inventory with `fresh` as the default cluster, the demo profile, the database pinned
/// to the first fresh node and load thresholds out of the way (two cores run everything here).
fn fresh_inventory(dir: &Path, first: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mut text = std::fs::read_to_string(cluster().inventory()).unwrap();
    text = text.replace("default_cluster = \"test\"", "default_cluster = \"fresh\"");
    text = text.replace(
        "[clusters.fresh]\n",
        "[clusters.fresh]\nprofile = \"demo\"\n",
    );
    text.push_str(&format!(
        "
[clusters.fresh.overrides.thresholds]
load_per_cpu_warn = 1000.0
load_per_cpu_fail = 2000.0

[[clusters.fresh.overrides.services]]
name = \"pfdemo_web\"
replicas = 3
[[clusters.fresh.overrides.services]]
name = \"pfdemo_db\"
singleton = true
pinned_node = \"node{first}\"
replicas = 1
[[clusters.fresh.overrides.services]]
name = \"pfdemo_worker\"
replicas = 2
"
    ));
    let path = dir.join("inventory.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn swarm_state(node: &str) -> String {
    docker(node, &["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_string()
}

/// The image's id on the node; empty when it has none.
fn image_id(node: &str, image: &str) -> String {
    docker(node, &["image", "ls", "--no-trunc", "--quiet", image])
        .trim()
        .to_string()
}

fn phase<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name}: {doc}"))
}

#[test]
fn three_fresh_nodes_become_a_verified_cluster_and_plan_or_refusal_change_nothing() {
    let f = Fresh::take(4, 6);
    // node5 and node6 lack the stack's image: node4 has to give it to them.
    for n in ["node5", "node6"] {
        docker(n, &["image", "rm", "pfdemo/busybox:1"]);
        assert_eq!(image_id(n, "pfdemo/busybox:1"), "", "{n} still has it");
    }
    let source_id = image_id("node4", "pfdemo/busybox:1");
    let compose = |n: u32| iservices(n).join("docker-compose.yml");

    let plan = f.pfctl(&["autocluster", "--plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout
            .contains("node5: copy pfdemo/busybox:1 from node4")
            && plan.stdout.contains("node4: start the swarm"),
        "{plan:?}"
    );
    let refused = f.pfctl(&["autocluster"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    for n in 4..=6 {
        assert_eq!(
            swarm_state(&format!("node{n}")),
            "inactive",
            "node{n} changed"
        );
        assert!(!compose(n).exists(), "node{n} has a compose file already");
    }
    assert_eq!(image_id("node5", "pfdemo/busybox:1"), "");

    let r = f.pfctl(&["autocluster", "--yes", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(doc["complete"], true, "{doc}");
    let deploy = phase(&doc, "deploy")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        deploy.contains("in order: db, then web, then worker"),
        "the profile's stages: {deploy}"
    );
    let created = |s: &str| {
        docker(
            "node4",
            &["service", "inspect", "--format", "{{.CreatedAt}}", s],
        )
    };
    let (db, web, worker) = (
        created("pfdemo_db"),
        created("pfdemo_web"),
        created("pfdemo_worker"),
    );
    assert!(
        db < web && web < worker,
        "created in stage order: {db} {web} {worker}"
    );

    let nodes = docker(
        "node4",
        &[
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.ManagerStatus}} {{.Status}}",
        ],
    );
    let managers = nodes
        .lines()
        .filter(|l| (l.contains("Leader") || l.contains("Reachable")) && l.ends_with("Ready"))
        .count();
    assert_eq!(managers, 3, "{nodes}");
    for n in ["node5", "node6"] {
        assert_eq!(image_id(n, "pfdemo/busybox:1"), source_id, "{n}");
    }
    let db = docker(
        "node4",
        &[
            "service",
            "ps",
            "pfdemo_db",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ],
    );
    assert!(db.starts_with("node4 Running"), "the pin is honoured: {db}");
    let hashes: Vec<String> = (4..=6)
        .map(|n| pfctl::heal::sha256_hex(&std::fs::read(compose(n)).unwrap()))
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    let stacks = docker(
        "node4",
        &["stack", "ls", "--format", "{{.Name}} {{.Services}}"],
    );
    assert_eq!(stacks.trim(), "pfdemo 3", "docker sees the stack");

    let hc = f.pfctl(&["healthcheck", "-o", "json"]);
    assert_eq!(hc.code, 0, "a clean healthcheck after autocluster: {hc:?}");

    // Done is done: resuming a complete run changes nothing.
    let run_id = doc["run_id"].as_str().unwrap();
    let again = f.pfctl(&["resume", run_id]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("complete"), "{again:?}");
}

#[test]
fn five_nodes_with_two_workers_make_three_managers_and_two_workers() {
    let f = Fresh::take(4, 8);
    let r = f.pfctl(&["autocluster", "--yes", "--workers", "2", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let nodes = docker(
        "node4",
        &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
    );
    let managers: Vec<&str> = nodes
        .lines()
        .filter(|l| l.contains("Leader") || l.contains("Reachable"))
        .collect();
    let workers: Vec<&str> = nodes
        .lines()
        .filter(|l| l.split_whitespace().count() == 1)
        .map(str::trim)
        .collect();
    assert_eq!(managers.len(), 3, "{nodes}");
    assert_eq!(
        workers,
        ["node7", "node8"],
        "the last nodes are the workers: {nodes}"
    );
    let labels = docker(
        "node4",
        &[
            "node",
            "inspect",
            "node8",
            "--format",
            "{{index .Spec.Labels \"types\"}}",
        ],
    );
    assert_eq!(labels.trim(), "worker");
}

#[test]
fn a_link_down_in_the_join_stops_the_run_and_resume_finishes_it_without_redoing_phases() {
    let f = Fresh::take(4, 6);
    let r = f.pfctl(&[
        "autocluster",
        "--yes",
        "--until",
        "swarm.init",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "paused runs are not complete: {r:?}");
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    assert_eq!(swarm_state("node4"), "active");

    let fault = Fault::inject("node6", "link-down");
    let stopped = f.pfctl(&["--connect-timeout", "2", "resume", &run_id, "-o", "json"]);
    assert_eq!(stopped.code, 2, "{stopped:?}");
    let doc = stopped.json();
    assert_eq!(doc["stopped_in"], "swarm.join", "{doc}");
    let why = phase(&doc, "swarm.join")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("node6"), "the report names the node: {why}");
    for p in ["preflight", "firewall", "swarm.leave", "swarm.init"] {
        assert_eq!(phase(&doc, p)["result"], "was_done", "{p}: {doc}");
    }
    drop(fault);

    let done = f.pfctl(&["resume", &run_id, "-o", "json"]);
    assert_eq!(done.code, 0, "{done:?}");
    let doc = done.json();
    assert_eq!(doc["complete"], true, "{doc}");
    assert_eq!(phase(&doc, "swarm.init")["result"], "was_done");
    assert_eq!(phase(&doc, "swarm.join")["result"], "done");
    let journal: Value =
        serde_json::from_str(&std::fs::read_to_string(doc["journal"].as_str().unwrap()).unwrap())
            .unwrap();
    let attempts = |name: &str| {
        journal["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["attempts"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(attempts("swarm.init"), 1, "not redone");
    assert_eq!(attempts("preflight"), 1, "not redone");
    assert_eq!(attempts("swarm.join"), 2);
    let managers = docker("node4", &["node", "ls", "--format", "{{.ManagerStatus}}"]);
    assert_eq!(
        managers.lines().filter(|l| !l.is_empty()).count(),
        3,
        "{managers}"
    );
}

/// A profile without a compose of its own (powerflow's case) deploys the file the platform's
/// install left on a node, pinned, copied identically to the others.
#[test]
fn without_a_compose_in_the_profile_the_one_on_a_node_is_used() {
    let f = Fresh::take(4, 6);
    let demo = std::fs::read_to_string(repo().join("profiles/demo.toml")).unwrap();
    let (head, tail) = demo.split_once("compose = '''").unwrap();
    let (compose, rest) = tail.split_once("'''").unwrap();
    let profile = f.home.path().join("no-compose.toml");
    std::fs::write(&profile, format!("{head}{rest}")).unwrap();
    std::fs::write(
        iservices(4).join("docker-compose.yml"),
        compose.trim_start(),
    )
    .unwrap();

    let r = f.pfctl(&[
        "autocluster",
        "--yes",
        "--profile",
        profile.to_str().unwrap(),
        "--until",
        "configuration",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "paused after configuration: {r:?}");
    assert_eq!(phase(&r.json(), "configuration")["result"], "done", "{r:?}");
    let written: Vec<String> = (4..=6)
        .map(|n| std::fs::read_to_string(iservices(n).join("docker-compose.yml")).unwrap())
        .collect();
    assert!(
        written.iter().all(|w| *w == written[0]),
        "identical everywhere"
    );
    assert!(
        written[0].contains("node.hostname == node4") && written[0].contains("httpd"),
        "node4's file, pinned: {}",
        written[0]
    );
}
