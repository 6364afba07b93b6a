//! autoheal on the demo stack: each test breaks one thing, runs `autoheal --yes`, asserts the
//! action's outcome and that a following healthcheck is clean. The stack is reset before and
//! after (also when a test panics), faults heal on drop.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Lab {
    home: tempfile::TempDir,
    inv: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let home = fresh_home();
        let inv = lab_inventory(home.path(), "");
        Lab { home, inv }
    }
    fn pfctl(&self, args: &[&str]) -> Run {
        run(pfctl_cmd(self.home.path())
            .arg("--inventory")
            .arg(&self.inv)
            .args(args))
    }
    fn heal(&self, extra: &[&str]) -> Run {
        let mut args = vec!["autoheal", "--yes", "-o", "json"];
        args.extend_from_slice(extra);
        self.pfctl(&args)
    }
    /// Re-runs the healthcheck until `done` holds on its problems (or `secs` pass).
    fn until(&self, secs: u64, done: impl Fn(&Problems) -> bool) -> (Run, Problems) {
        let start = Instant::now();
        loop {
            let r = self.pfctl(&["healthcheck", "-o", "json"]);
            let p = problems(&r);
            if done(&p) || start.elapsed() > Duration::from_secs(secs) {
                return (r, p);
            }
            std::thread::sleep(Duration::from_millis(700));
        }
    }
    /// Waits for the healthcheck to come back clean and asserts it.
    fn clean(&self) {
        let (r, p) = self.until(60, |p| p.is_empty());
        assert!(p.is_empty(), "still wrong: {p:#?}");
        assert_eq!(r.code, 0);
    }
    fn has(&self, check: &str, node: &str) {
        let (_, p) = self.until(60, |p| p.contains_key(&key(check, node)));
        assert!(
            p.contains_key(&key(check, node)),
            "{check} {node} not failing: {p:#?}"
        );
    }
}

type Problems = BTreeMap<(String, String), (String, String)>;

fn key(check: &str, node: &str) -> (String, String) {
    (check.to_string(), node.to_string())
}

/// Everything not ok, except the skips this machine and the demo profile always have.
fn problems(r: &Run) -> Problems {
    r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] != "ok" && x["status"] != "skip")
        .map(|x| {
            (
                key(x["check"].as_str().unwrap(), x["node"].as_str().unwrap()),
                (
                    x["status"].as_str().unwrap().to_string(),
                    x["message"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// The planned action answering `check`, and its outcome.
fn action(r: &Run, check: &str) -> (Value, Value) {
    let doc = r.json();
    let a = doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["check"] == check)
        .cloned()
        .unwrap_or_else(|| panic!("no action for {check}: {r:?}"));
    let o = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == a["id"])
        .cloned()
        .unwrap_or(Value::Null);
    (a, o)
}

fn assert_fixed(r: &Run, check: &str) -> Value {
    let (a, o) = action(r, check);
    assert_eq!(o["result"], "fixed", "{a}\n{o}\n{r:?}");
    a
}

fn iservices(n: u32) -> PathBuf {
    tc_dir().join(format!("nodes/node{n}/iservices"))
}

fn sha256(bytes: &[u8]) -> String {
    pfctl::heal::sha256_hex(bytes)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn stale_exited_containers_are_removed_keeping_the_newest() {
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
    let lab = Lab::new();
    lab.has("containers.exited", "node2");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "containers.exited");
    assert_eq!(a["node"], "node2");
    assert_eq!(a["disruptive"], false);
    let left = docker(
        "node2",
        &[
            "ps",
            "-a",
            "--filter",
            "name=stale",
            "--format",
            "{{.Names}}",
        ],
    );
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(left, ["stale4", "stale5"], "the newest two are kept");
    lab.clean();
    // Idempotent: nothing left to do.
    let again = lab.heal(&[]);
    assert_eq!(
        again.json()["plan"].as_array().unwrap().len(),
        0,
        "{again:?}"
    );
    assert_eq!(again.code, 0);
}

#[test]
fn a_service_scaled_to_zero_is_scaled_back_through_the_legacy_syntax_too() {
    let _l = exclusive();
    let _s = Stack::reset();
    docker(
        "node1",
        &["service", "scale", "--detach", "pfdemo_worker=0"],
    );
    let lab = Lab::new();
    lab.has("stack.replicas", "cluster");
    let r = lab.pfctl(&[
        "cluster-action",
        "--action",
        "autoheal",
        "--yes",
        "-o",
        "json",
    ]);
    let a = assert_fixed(&r, "stack.replicas");
    assert!(
        a["what"]
            .as_str()
            .unwrap()
            .contains("scale pfdemo_worker to 2"),
        "{a}"
    );
    assert_eq!(r.code, 0, "{r:?}");
    lab.clean();
}

#[test]
fn drifted_isconfig_is_copied_from_the_majority_and_audited() {
    let _l = exclusive();
    let _s = Stack::reset();
    let good = std::fs::read(iservices(1).join("isconfig.yml")).unwrap();
    testcluster(&[
        "exec",
        "node2",
        "--",
        "sh",
        "-c",
        "echo 'HOST_ADDRESS: other' >> /etc/iservices/isconfig.yml",
    ]);
    let drifted = std::fs::read(iservices(2).join("isconfig.yml")).unwrap();
    let lab = Lab::new();
    lab.has("files.consistent", "cluster");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "files.consistent");
    assert_eq!(a["node"], "node2");
    assert_eq!(
        std::fs::read(iservices(2).join("isconfig.yml")).unwrap(),
        good
    );
    assert_eq!(
        std::fs::read(iservices(2).join("isconfig.yml.pfctl-prev")).unwrap(),
        drifted,
        "the replaced copy is kept"
    );
    lab.clean();

    // The agents' record names the run, the actor and the hashes before and after.
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let audit = lab.pfctl(&["audit", "-o", "json"]);
    assert_eq!(audit.code, 0, "{audit:?}");
    let doc = audit.json();
    let e = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["run_id"] == run_id.as_str() && e["method"] == "files.write")
        .cloned()
        .unwrap_or_else(|| panic!("no files.write of run {run_id}: {doc}"));
    assert_eq!(e["node"], "node2");
    assert_eq!(e["ok"], true);
    assert_eq!(e["target"], "/etc/iservices/isconfig.yml");
    assert_eq!(e["before"]["sha256"], sha256(&drifted).as_str());
    assert_eq!(e["after"]["sha256"], sha256(&good).as_str());
    assert!(e["actor"].as_str().unwrap().starts_with("root@"), "{e}");
    let table = lab.pfctl(&["audit", "-o", "table"]);
    assert!(
        table.stdout.contains("files.write") && table.stdout.contains(&run_id),
        "{table:?}"
    );
}

#[test]
fn a_differing_encryption_key_is_not_synced_but_named() {
    let _l = exclusive();
    let _s = Stack::reset();
    testcluster(&[
        "exec",
        "node2",
        "--",
        "sh",
        "-c",
        "printf 'other-key\\n' > /etc/iservices/encryption_key",
    ]);
    let before = std::fs::read(iservices(2).join("encryption_key")).unwrap();
    let lab = Lab::new();
    lab.has("files.consistent", "cluster");
    let r = lab.heal(&[]);
    let doc = r.json();
    assert!(
        doc["plan"].as_array().unwrap().is_empty(),
        "nothing to apply: {doc}"
    );
    let m = doc["manual"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["check"] == "files.consistent")
        .cloned()
        .unwrap_or_else(|| panic!("no manual entry: {doc}"));
    let problem = m["problem"].as_str().unwrap();
    assert!(
        problem.contains("/etc/iservices/encryption_key")
            && problem.contains("node2")
            && problem.contains("node1, node3"),
        "{m}"
    );
    assert!(m["recipe"].as_str().unwrap().contains("--source"), "{m}");
    assert_eq!(m["reference"], "L6256-6270, L1930-1936");
    assert_eq!(
        std::fs::read(iservices(2).join("encryption_key")).unwrap(),
        before,
        "untouched"
    );
    assert!(
        !r.stdout.contains("other-key") && !r.stdout.contains("demo-key"),
        "no secret in the output"
    );
    assert_eq!(r.code, 2);
}

#[test]
fn a_readable_secret_is_made_private_also_by_modify_iservices_volumes_owner() {
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
    let lab = Lab::new();
    lab.has("files.secret_mode", "node3");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "files.secret_mode");
    assert_eq!(a["node"], "node3");
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o600);
    lab.clean();

    testcluster(&[
        "exec",
        "node2",
        "--",
        "chmod",
        "0604",
        "/etc/iservices/encryption_key",
    ]);
    lab.has("files.secret_mode", "node2");
    let r = lab.pfctl(&[
        "node-action",
        "--action",
        "modify_iservices_volumes_owner",
        "--yes",
        "-o",
        "json",
    ]);
    assert_fixed(&r, "files.secret_mode");
    assert_eq!(r.json()["plan"].as_array().unwrap().len(), 1, "{r:?}");
    assert_eq!(mode(&iservices(2).join("encryption_key")), 0o600);
    lab.clean();
}

#[test]
fn a_drained_node_is_made_active() {
    let _l = exclusive();
    let _s = Stack::reset();
    docker(
        "node1",
        &["node", "update", "--availability", "drain", "node2"],
    );
    let lab = Lab::new();
    lab.has("swarm.node_active", "node2");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "swarm.node_active");
    assert!(
        a["what"]
            .as_str()
            .unwrap()
            .contains("node2 availability active"),
        "{a}"
    );
    let avail = docker(
        "node1",
        &[
            "node",
            "inspect",
            "node2",
            "--format",
            "{{.Spec.Availability}}",
        ],
    );
    assert_eq!(avail.trim(), "active");
    lab.clean();
}

#[test]
fn a_pinned_service_on_the_wrong_node_is_pinned_back() {
    let _l = exclusive();
    let _s = Stack::reset();
    misplace_pinned_db();
    let lab = Lab::new();
    lab.has("stack.placement", "cluster");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "stack.placement");
    assert_eq!(a["disruptive"], true);
    let c = docker(
        "node1",
        &[
            "service",
            "inspect",
            "pfdemo_db",
            "--format",
            "{{json .Spec.TaskTemplate.Placement.Constraints}}",
        ],
    );
    assert_eq!(c.trim(), r#"["node.hostname==node1"]"#);
    lab.clean();
}

#[test]
fn a_service_in_a_restart_loop_is_restarted_once_its_cause_is_gone() {
    let _l = exclusive();
    let _s = Stack::reset();
    struct Flag;
    impl Drop for Flag {
        fn drop(&mut self) {
            for n in 1..=3 {
                let _ = std::fs::remove_file(iservices(n).join("flaky-ok"));
            }
        }
    }
    let _f = Flag;
    // The worker fails until a file appears on its node.
    docker(
        "node1",
        &[
            "service",
            "update",
            "--detach",
            "--mount-add",
            "type=bind,src=/etc/iservices,dst=/cfg",
            "--args",
            "sh -c 'test -f /cfg/flaky-ok || exit 1; exec sleep 1000000'",
            "pfdemo_worker",
        ],
    );
    let lab = Lab::new();
    let (_, p) = lab.until(90, |p| {
        p.get(&key("stack.restart_loop", "cluster"))
            .is_some_and(|(_, m)| m.contains("pfdemo_worker"))
    });
    assert!(
        p.contains_key(&key("stack.restart_loop", "cluster")),
        "{p:#?}"
    );
    for n in 1..=3 {
        std::fs::write(iservices(n).join("flaky-ok"), "").unwrap();
    }
    let r = lab.heal(&[]);
    // Whether the loop or the replicas it leaves short is seen first depends on timing; either
    // asks for the same restart.
    let doc = r.json();
    let a = doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["what"]
                .as_str()
                .unwrap()
                .contains("restart pfdemo_worker")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no restart planned: {r:?}"));
    assert_eq!(a["disruptive"], true);
    let o = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == a["id"])
        .cloned()
        .unwrap();
    assert_eq!(o["result"], "fixed", "{o}");
    assert!(
        o["done"]["after"]["force_update"].as_u64() > o["done"]["before"]["force_update"].as_u64(),
        "{o}"
    );
    // The loop check wants a minute of stable running.
    let (_, p) = lab.until(120, |p| {
        !p.contains_key(&key("stack.restart_loop", "cluster"))
    });
    assert!(
        !p.contains_key(&key("stack.restart_loop", "cluster")),
        "{p:#?}"
    );
}

#[test]
fn a_compose_file_missing_the_pin_is_rewritten_on_every_node() {
    let _l = exclusive();
    let _s = Stack::reset();
    let pin = "    deploy:\n      placement:\n        constraints: [\"node.hostname == node1\"]\n";
    let original = std::fs::read_to_string(iservices(1).join("docker-compose.yml")).unwrap();
    assert!(original.contains(pin), "{original}");
    let unpinned = original.replace(pin, "");
    for n in 1..=3 {
        std::fs::write(iservices(n).join("docker-compose.yml"), &unpinned).unwrap();
    }
    let lab = Lab::new();
    lab.has("compose.valid", "cluster");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "compose.valid");
    assert_eq!(a["node"], "node1,node2,node3");
    let written = std::fs::read_to_string(iservices(1).join("docker-compose.yml")).unwrap();
    assert!(written.contains("node.hostname == node1"), "{written}");
    for n in 1..=3 {
        assert_eq!(
            std::fs::read_to_string(iservices(n).join("docker-compose.yml")).unwrap(),
            written,
            "node{n}"
        );
        assert_eq!(
            std::fs::read_to_string(iservices(n).join("docker-compose.yml.pfctl-prev")).unwrap(),
            unpinned
        );
    }
    lab.clean();
}

/// What a dry run must leave alone: the files and the containers and services each node sees.
fn snapshot() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in 1..=3 {
        let mut files: Vec<_> = std::fs::read_dir(iservices(n))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&f).unwrap();
            out.insert(
                f.display().to_string(),
                format!(
                    "{} {:o} {}",
                    sha256(&std::fs::read(&f).unwrap()),
                    m.mode(),
                    m.uid()
                ),
            );
        }
        let node = format!("node{n}");
        out.insert(
            format!("{node} ps"),
            docker(
                &node,
                &["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}}"],
            ),
        );
        out.insert(
            format!("{node} services"),
            docker(
                &node,
                &["service", "ls", "--format", "{{.Name}} {{.Replicas}}"],
            ),
        );
    }
    out
}

#[test]
fn dry_run_changes_nothing() {
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
    testcluster(&[
        "exec",
        "node2",
        "--",
        "sh",
        "-c",
        "echo 'HOST_ADDRESS: other' >> /etc/iservices/isconfig.yml",
    ]);
    let lab = Lab::new();
    lab.has("files.consistent", "cluster");
    let before = snapshot();
    let r = lab.pfctl(&["autoheal", "--dry-run", "-o", "json"]);
    let doc = r.json();
    assert_eq!(doc["dry_run"], true);
    let checks: Vec<&str> = doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["check"].as_str().unwrap())
        .collect();
    assert!(
        checks.contains(&"files.secret_mode") && checks.contains(&"files.consistent"),
        "{doc}"
    );
    assert!(doc["outcomes"].as_array().unwrap().is_empty());
    assert_eq!(r.code, 2);
    assert_eq!(snapshot(), before);
    let text = lab.pfctl(&["autoheal", "--dry-run", "-o", "plain"]);
    assert!(
        text.stdout.contains("dry run: nothing changed") && text.stdout.contains("[safe]"),
        "{text:?}"
    );
    assert_eq!(snapshot(), before);
}

#[test]
fn without_a_terminal_or_yes_nothing_is_changed() {
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
    let lab = Lab::new();
    lab.has("files.secret_mode", "node3");
    let r = lab.pfctl(&["autoheal"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--yes") && r.stderr.contains("nothing changed"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("A1 [safe] on node3"),
        "the plan is shown: {r:?}"
    );
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o644);
}

#[test]
fn two_nodes_down_trip_the_circuit_breaker() {
    let _l = exclusive();
    let _s = Stack::reset();
    let _f2 = Fault::inject("node2", "sshd-stop");
    let _f3 = Fault::inject("node3", "sshd-stop");
    let lab = Lab::new();
    let r = lab.pfctl(&["--connect-timeout", "2", "autoheal", "--yes", "-o", "json"]);
    assert!(r.code >= 2, "{r:?}");
    assert!(
        r.stderr.contains("node2, node3") && r.stderr.contains("--force"),
        "{r:?}"
    );
    let doc = r.json();
    assert!(
        doc["refused"].as_str().unwrap().contains("circuit breaker"),
        "{doc}"
    );
    assert!(doc["plan"].as_array().unwrap().is_empty());
}

#[test]
fn source_picks_the_copy_and_max_actions_limits_the_run() {
    let _l = exclusive();
    let _s = Stack::reset();
    testcluster(&[
        "exec",
        "node2",
        "--",
        "sh",
        "-c",
        "echo 'extra_setting: chosen' >> /etc/iservices/isconfig.yml",
    ]);
    let chosen = std::fs::read(iservices(2).join("isconfig.yml")).unwrap();
    let lab = Lab::new();
    lab.has("files.consistent", "cluster");
    let r = lab.heal(&["--source", "node2", "--max-actions", "1"]);
    let doc = r.json();
    let plan = doc["plan"].as_array().unwrap();
    let targets: Vec<&str> = plan.iter().map(|a| a["node"].as_str().unwrap()).collect();
    assert_eq!(targets, ["node1", "node3"], "{doc}");
    let results: Vec<&str> = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["fixed", "skipped"], "{doc}");
    assert!(doc["outcomes"][1]["detail"]
        .as_str()
        .unwrap()
        .contains("--max-actions 1"));
    assert_eq!(
        std::fs::read(iservices(1).join("isconfig.yml")).unwrap(),
        chosen
    );
    assert_ne!(
        std::fs::read(iservices(3).join("isconfig.yml")).unwrap(),
        chosen
    );
    assert_eq!(r.code, 2);
    let r = lab.heal(&["--source", "node2"]);
    assert_fixed(&r, "files.consistent");
    assert_eq!(
        std::fs::read(iservices(3).join("isconfig.yml")).unwrap(),
        chosen
    );
    lab.clean();
}
