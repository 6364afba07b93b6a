//! autoheal on the demo stack: each test breaks one thing, runs `autoheal --yes`, asserts the
//! action's outcome and that a following healthcheck is clean. The stack is reset before and
//! after (also when a test panics), faults heal on drop.

use crate::common::lab::*;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Gives the node's `encryption_key` mode `mode` (a secret file made readable: a fault).
fn loosen_key(node: &str, mode: &str) {
    testcluster(&[
        "exec",
        node,
        "--",
        "chmod",
        mode,
        "/etc/iservices/encryption_key",
    ]);
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
    let recipe = m["recipe"].as_str().unwrap();
    assert!(
        recipe.contains("--source") && recipe.contains("--force"),
        "{m}"
    );
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

    // --source alone is not enough for a secret file.
    let r = lab.heal(&["--source", "node1"]);
    assert!(r.json()["plan"].as_array().unwrap().is_empty(), "{r:?}");
    assert_eq!(
        std::fs::read(iservices(2).join("encryption_key")).unwrap(),
        before
    );

    // Named and forced: copied, the replaced key kept beside it, private, and never printed.
    let r = lab.heal(&["--source", "node1", "--force"]);
    let a = assert_fixed(&r, "files.consistent");
    assert_eq!(a["node"], "node2");
    assert!(a["effect"].as_str().unwrap().contains("unreadable"), "{a}");
    let key1 = std::fs::read(iservices(1).join("encryption_key")).unwrap();
    assert_eq!(
        std::fs::read(iservices(2).join("encryption_key")).unwrap(),
        key1
    );
    let prev = iservices(2).join("encryption_key.pfctl-prev");
    assert_eq!(std::fs::read(&prev).unwrap(), before);
    assert_eq!(mode(&iservices(2).join("encryption_key")) & 0o077, 0);
    let shown = format!("{}{}", r.stdout, r.stderr);
    let key1 = String::from_utf8_lossy(&key1);
    assert!(
        !shown.contains("other-key") && !shown.contains(key1.trim()),
        "no secret in the output"
    );
    lab.clean();
}

#[test]
fn a_readable_secret_is_made_private_also_by_modify_iservices_volumes_owner() {
    let _l = exclusive();
    let _s = Stack::reset();
    loosen_key("node3", "0644");
    let lab = Lab::new();
    lab.has("files.secret_mode", "node3");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "files.secret_mode");
    assert_eq!(a["node"], "node3");
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o600);
    lab.clean();

    loosen_key("node2", "0604");
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
    loosen_key("node3", "0644");
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
    loosen_key("node3", "0644");
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

#[test]
fn a_removed_agent_is_reinstalled_then_its_node_is_healed_in_the_same_run() {
    let _l = exclusive();
    let _s = Stack::reset();
    let _f = Fault::inject("node3", "agent-remove");
    // Only the new agent can see this: the run has to continue on node3 after installing it.
    loosen_key("node3", "0644");
    let lab = Lab::new();
    lab.has("agent.resident", "node3");
    let r = lab.heal(&[]);
    let a = assert_fixed(&r, "agent.resident");
    assert_eq!(a["node"], "node3");
    assert_eq!(a["id"], "A1", "agents come first: {r:?}");
    let m = assert_fixed(&r, "files.secret_mode");
    assert_eq!(m["node"], "node3");
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o600);
    let (_, o) = action(&r, "agent.resident");
    assert_eq!(o["done"]["audited"], true, "{o}");
    assert_eq!(o["done"]["after"]["version"], env!("CARGO_PKG_VERSION"));
    lab.clean();

    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let audit = lab.pfctl(&["audit", "--last", "10", "-l", "node3", "-o", "json"]);
    let doc = audit.json();
    let installs: Vec<&Value> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["run_id"] == run_id.as_str() && e["method"] == "agent.install")
        .collect();
    assert_eq!(installs.len(), 1, "{audit:?}");
    assert_eq!(
        installs[0]["after"]["sha256"],
        sha256(&std::fs::read(repo().join("target/debug/pfagent")).unwrap()).as_str()
    );
}

/// On a terminal (a pseudo-terminal from util-linux `script`) the plan is asked about: `n`
/// changes nothing, `y` applies it.
#[test]
fn on_a_terminal_the_plan_is_applied_only_when_confirmed() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let _l = exclusive();
    let _s = Stack::reset();
    loosen_key("node3", "0644");
    let lab = Lab::new();
    lab.has("files.secret_mode", "node3");
    let on_terminal = |answer: &str| {
        let line = format!(
            "{} --inventory {} autoheal",
            env!("CARGO_BIN_EXE_pfctl"),
            lab.inv.display()
        );
        // The environment every other run gets, for another program.
        let c = pfctl_cmd(lab.home.path());
        let mut script = Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("TERM", "xterm")
            .current_dir(lab.home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = script.spawn().expect("util-linux script");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        finish(child.wait_with_output().unwrap())
    };
    let no = on_terminal("n");
    assert!(no.stdout.contains("Apply these 1 action(s)?"), "{no:?}");
    // The terminal carries both streams.
    assert!(
        no.stdout.contains("not confirmed: nothing changed"),
        "{no:?}"
    );
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o644);
    let yes = on_terminal("y");
    assert!(yes.stdout.contains("A1 fixed"), "{yes:?}");
    assert_eq!(mode(&iservices(3).join("encryption_key")), 0o600);
}

#[test]
fn a_compose_file_below_its_replicas_and_short_of_a_db_host_is_rewritten_and_the_services_follow() {
    let _l = exclusive();
    // Reset also puts back the compose file (dropping .pfctl-prev) and pfdemo_worker's spec.
    let _s = Stack::reset();
    let compose =
        |n: u32| std::fs::read_to_string(iservices(n).join("docker-compose.yml")).unwrap();
    let worker = "    deploy:\n      replicas: 2\n    environment:\n      db_host: \"db\"\n";
    let original = compose(1);
    assert!(original.contains(worker), "{original}");
    // A dexserver-like service below its minimum of 2, a db_host list without the Couchbase-like db.
    let broken = original.replace(
        worker,
        "    deploy:\n      replicas: 1\n    environment:\n      db_host: \"localhost\"\n",
    );
    for n in 1..=3 {
        std::fs::write(iservices(n).join("docker-compose.yml"), &broken).unwrap();
    }
    // The running service as a deploy of the broken file leaves it.
    docker(
        "node1",
        &[
            "service",
            "update",
            "--detach",
            "--replicas",
            "1",
            "--env-add",
            "db_host=localhost",
            "pfdemo_worker",
        ],
    );
    let lab = Lab::new();
    lab.has("compose.valid", "cluster");
    let r = lab.heal(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    let a = assert_fixed(&r, "compose.valid");
    assert_eq!(a["node"], "node1,node2,node3");
    let what = a["what"].as_str().unwrap();
    for want in [
        "worker replicas 2",
        "worker db_host 'db,localhost'",
        "update pfdemo_worker",
    ] {
        assert!(what.contains(want), "{want} in {what}");
    }
    assert_eq!(
        a["disruptive"], true,
        "the env change replaces the worker's tasks"
    );
    // The scale the stack.replicas action makes is not made twice.
    assert_fixed(&r, "stack.replicas");

    let written = compose(1);
    let doc = &yaml_rust2::YamlLoader::load_from_str(&written).unwrap()[0];
    let w = &doc["services"]["worker"];
    assert_eq!(w["deploy"]["replicas"].as_i64(), Some(2), "{written}");
    assert_eq!(
        w["environment"]["db_host"].as_str(),
        Some("db,localhost"),
        "{written}"
    );
    for n in 1..=3 {
        assert_eq!(
            sha256(compose(n).as_bytes()),
            sha256(written.as_bytes()),
            "node{n}"
        );
        assert_eq!(
            std::fs::read_to_string(iservices(n).join("docker-compose.yml.pfctl-prev")).unwrap(),
            broken,
            "node{n} keeps the replaced copy"
        );
    }

    // The running service matches the file, and the agent answered with the variable's change.
    let spec = docker(
        "node1",
        &[
            "service",
            "inspect",
            "pfdemo_worker",
            "--format",
            "{{.Spec.Mode.Replicated.Replicas}} {{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ],
    );
    assert_eq!(spec.trim(), "2 [\"db_host=db,localhost\"]");
    let (_, o) = action(&r, "compose.valid");
    let update = o["done"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|d| d.get("service_update"))
        .unwrap_or_else(|| panic!("no service update in {o}"));
    assert_eq!(update["service"], "pfdemo_worker");
    assert_eq!(update["before"]["env"], "db_host=localhost");
    assert_eq!(update["after"]["env"], "db_host=db,localhost");
    lab.clean();

    // The agent's record names the variable before and after.
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let audit = lab.pfctl(&["audit", "-o", "json"]);
    let doc = audit.json();
    let e = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["run_id"] == run_id.as_str()
                && e["method"] == "service.update"
                && e["after"]["env"].is_string()
        })
        .cloned()
        .unwrap_or_else(|| panic!("no service.update with env of run {run_id}: {doc}"));
    assert_eq!(e["ok"], true);
    assert_eq!(e["before"]["env"], "db_host=localhost");
    assert_eq!(e["after"]["env"], "db_host=db,localhost");
}

/// `service.update` sends the whole spec back to the Engine; what bollard's types cannot read (a
/// container spec's `Healthcheck`) must survive it.
#[test]
fn a_service_update_keeps_the_services_healthcheck() {
    use pfproto::action::{ActionMeta, ServiceUpdate, ServiceUpdateParams};
    let _l = exclusive();
    struct Removed;
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::process::Command::new(repo().join("tests/cluster/testcluster"))
                .args(["exec", "node1", "--", "docker", "service", "rm", "pfhctest"])
                .output();
        }
    }
    docker(
        "node1",
        &[
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--name",
            "pfhctest",
            "--health-cmd",
            "true",
            "--health-interval",
            "30s",
            "pfdemo/busybox:1",
            "sleep",
            "1000000",
        ],
    );
    let _r = Removed;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r: ServiceUpdate = rt.block_on(async {
        let node = connect_node(None, "node1").await;
        let (conn, _) = node.agent().await.unwrap();
        let p = ServiceUpdateParams {
            meta: ActionMeta {
                run_id: "healthcheck-kept".into(),
                actor: "e2e".into(),
            },
            service: "pfhctest".into(),
            replicas: Some(2),
            ..Default::default()
        };
        let r = conn
            .call(
                pfproto::method::SERVICE_UPDATE,
                serde_json::to_value(p).unwrap(),
            )
            .await
            .unwrap();
        node.close().await;
        r
    });
    assert_eq!(r.service, "pfhctest");
    let spec = |f: &str| docker("node1", &["service", "inspect", "pfhctest", "--format", f]);
    assert_eq!(spec("{{.Spec.Mode.Replicated.Replicas}}").trim(), "2");
    let hc = spec("{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}");
    assert!(
        hc.contains("CMD-SHELL") && hc.contains("true"),
        "healthcheck lost: {hc}"
    );
}
