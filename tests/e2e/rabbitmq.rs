//! The `rabbitmq.*` checks against a real RabbitMQ broker with the management plugin
//! (tests/cluster/rabbitmq: one broker on this machine; the nodes reach its API at
//! 10.213.0.1:15672). The agent on a node does the HTTP calls, so these runs go the whole way:
//! pfctl, SSH, the agent, the broker. The tests here change the broker (a memory alarm, a
//! policy): they run one at a time (a mutex in this process, a file lock across processes) and
//! put back what they change when dropped, also on panic. Only the `rabbitmq.*` results are
//! asserted: other tests may be disturbing the rest of the cluster meanwhile.

use crate::common::*;
use fs4::fs_std::FileExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

const URL: &str = "http://10.213.0.1:15672";
/// The administrator tests/cluster/rabbitmq creates.
const RABBIT_USER: &str = "pfctl";
const RABBIT_PASSWORD: &str = "pfctl-rabbit-test";
const CHECKS: [&str; 4] = [
    "rabbitmq.nodes",
    "rabbitmq.alarms",
    "rabbitmq.partitions",
    "rabbitmq.ha_policy",
];
/// The broker evaluates memory every few seconds and the API refreshes its figures every second.
const SETTLE: Duration = Duration::from_secs(30);

/// tests/cluster/rabbitmq ARGS, which must succeed; its stdout.
fn broker(args: &[&str]) -> String {
    let out = Command::new(repo().join("tests/cluster/rabbitmq"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/cluster/rabbitmq");
    assert!(
        out.status.success(),
        "tests/cluster/rabbitmq {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The broker, up, to this test alone, and as tests/cluster/rabbitmq leaves it (watermark, no
/// policies), whatever an earlier crashed run left behind.
struct Broker {
    /// Erlang node name, e.g. `pfctl-test@localhost`.
    node: String,
    _file: File,
    _mutex: MutexGuard<'static, ()>,
}

fn take_broker() -> Broker {
    static MUTEX: Mutex<()> = Mutex::new(());
    static NODE: OnceLock<String> = OnceLock::new();
    let mutex = MUTEX.lock().unwrap_or_else(|e| e.into_inner());
    cluster();
    let node = NODE
        .get_or_init(|| {
            broker(&["up"]);
            broker(&["ctl", "eval", "node()."])
                .trim()
                .trim_matches('\'')
                .to_string()
        })
        .clone();
    let path = repo().join("target/rabbitmq/tests.lock");
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    FileExt::lock_exclusive(&file).unwrap();
    broker(&["reset"]);
    Broker {
        node,
        _file: file,
        _mutex: mutex,
    }
}

/// The test cluster's inventory with the demo profile, load thresholds out of the way (as in
/// healthcheck.rs), and `rabbitmq` settings (TOML lines) as the cluster's override. Mode 600: it
/// holds a password.
fn inventory(dir: &Path, rabbitmq: &str) -> PathBuf {
    lab_inventory(
        dir,
        &format!("\n[clusters.test.overrides.rabbitmq]\n{rabbitmq}"),
    )
}

/// Override lines for the test user with `expected_nodes` and optional extra lines.
fn settings(expected_nodes: u64, extra: &str) -> String {
    format!(
        "url = \"{URL}\"\nuser = \"{RABBIT_USER}\"\npassword = \"{RABBIT_PASSWORD}\"\nexpected_nodes = {expected_nodes}\n{extra}"
    )
}

/// One healthcheck run with `rabbitmq` as the override, and environment `env`.
struct Probe {
    home: tempfile::TempDir,
    inv: PathBuf,
    env: Vec<(&'static str, &'static str)>,
}

impl Probe {
    fn new(rabbitmq: &str) -> Probe {
        let home = fresh_home();
        let inv = inventory(home.path(), rabbitmq);
        Probe {
            home,
            inv,
            env: Vec::new(),
        }
    }

    fn run(&self) -> Run {
        let mut cmd = pfctl_cmd(self.home.path());
        cmd.envs(self.env.iter().copied())
            .arg("--inventory")
            .arg(&self.inv)
            .args(["healthcheck", "-o", "json"]);
        let r = run(&mut cmd);
        assert!(
            r.stdout.trim_start().starts_with('{'),
            "healthcheck printed no report: {r:?}"
        );
        r
    }

    /// Runs until `done` holds for the `rabbitmq.*` results (at most [`SETTLE`]); the last run.
    fn until(&self, what: &str, done: impl Fn(&Rabbit) -> bool) -> (Rabbit, Run) {
        let start = Instant::now();
        loop {
            let r = self.run();
            let rabbit = Rabbit::of(&r);
            if done(&rabbit) {
                return (rabbit, r);
            }
            assert!(
                start.elapsed() < SETTLE,
                "not {what} after {SETTLE:?}; last run's rabbitmq results:\n{rabbit:#?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The `rabbitmq.*` results of one run: check -> (status, message, evidence).
#[derive(Debug)]
struct Rabbit(BTreeMap<String, (String, String, Value)>);

impl Rabbit {
    fn of(r: &Run) -> Rabbit {
        let mut m = BTreeMap::new();
        for check in CHECKS {
            let x = r.result(check, "cluster");
            m.insert(
                check.to_string(),
                (
                    x["status"].as_str().unwrap_or_default().to_string(),
                    x["message"].as_str().unwrap_or_default().to_string(),
                    x["evidence"].clone(),
                ),
            );
        }
        Rabbit(m)
    }
    fn status(&self, check: &str) -> &str {
        &self.0[check].0
    }
    fn message(&self, check: &str) -> &str {
        &self.0[check].1
    }
    fn evidence(&self, check: &str) -> &Value {
        &self.0[check].2
    }
}

/// Lowers the broker's memory watermark so far that it raises a memory alarm; puts it back when
/// dropped (also when the test panics) and waits until the API no longer reports the alarm.
struct MemoryAlarm<'a> {
    probe: &'a Probe,
}

impl<'a> MemoryAlarm<'a> {
    fn raise(probe: &'a Probe) -> MemoryAlarm<'a> {
        let guard = MemoryAlarm { probe };
        broker(&["ctl", "set_vm_memory_high_watermark", "0.0001"]);
        guard
    }
}

impl Drop for MemoryAlarm<'_> {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/cluster/rabbitmq"))
            .arg("reset")
            .stdin(Stdio::null())
            .output();
        let start = Instant::now();
        while start.elapsed() < SETTLE {
            if Rabbit::of(&self.probe.run()).status("rabbitmq.alarms") == "ok" {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A policy on vhost /, cleared when dropped.
struct Policy(&'static str);

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/cluster/rabbitmq"))
            .args(["ctl", "clear_policy", "-p", "/", self.0])
            .stdin(Stdio::null())
            .output();
    }
}

#[test]
fn healthy_broker_passes_every_rabbitmq_check() {
    let _l = shared();
    let b = take_broker();
    let probe = Probe::new(&settings(1, ""));
    let (r, _) = probe.until("all ok", |r| CHECKS.iter().all(|c| r.status(c) == "ok"));
    assert_eq!(
        r.message("rabbitmq.nodes"),
        format!("1 of 1 expected nodes running: {}", b.node)
    );
    let alarms = r.message("rabbitmq.alarms");
    assert!(
        alarms.starts_with("no memory or disk alarm on the 1 running node")
            && alarms.contains(&b.node),
        "{alarms}"
    );
    let mem = &r.evidence("rabbitmq.alarms")["nodes"][0];
    assert!(
        mem["mem_used"].as_u64().unwrap() > 0
            && mem["mem_used"].as_u64() < mem["mem_limit"].as_u64(),
        "{mem}"
    );
    assert_eq!(
        r.message("rabbitmq.partitions"),
        "no partition reported by the 1 running node"
    );
    assert_eq!(
        r.message("rabbitmq.ha_policy"),
        "no HA policy required by the profile"
    );
    // Probed by a node's agent, not by pfctl itself.
    let from = r.evidence("rabbitmq.nodes")["probed_from"]
        .as_str()
        .unwrap_or_default();
    assert!(
        from.starts_with("node"),
        "{:?}",
        r.evidence("rabbitmq.nodes")
    );
}

#[test]
fn three_expected_nodes_against_one_fail() {
    let _l = shared();
    let b = take_broker();
    let probe = Probe::new(&settings(3, ""));
    let r = Rabbit::of(&probe.run());
    assert_eq!(r.status("rabbitmq.nodes"), "fail", "{r:#?}");
    let m = r.message("rabbitmq.nodes");
    assert!(
        m.starts_with(&format!("1 of 3 expected nodes running: {}", b.node)),
        "{m}"
    );
    assert!(m.contains("2 expected nodes are not in the cluster"), "{m}");
    assert_eq!(r.evidence("rabbitmq.nodes")["expected"], 3);
    // The one node there is still checked.
    assert_eq!(r.status("rabbitmq.partitions"), "ok", "{r:#?}");
}

#[test]
fn memory_alarm_fails_the_alarm_check_and_clears_when_healed() {
    let _l = shared();
    let b = take_broker();
    let probe = Probe::new(&settings(1, ""));
    {
        let _alarm = MemoryAlarm::raise(&probe);
        let (r, _) = probe.until("a memory alarm", |r| r.status("rabbitmq.alarms") == "fail");
        let m = r.message("rabbitmq.alarms");
        assert!(
            m.starts_with(&format!("memory alarm on {}: ", b.node))
                && m.contains("used, watermark"),
            "{m}"
        );
        assert!(!m.contains("disk alarm"), "{m}");
        assert_eq!(r.evidence("rabbitmq.alarms")["nodes"][0]["mem_alarm"], true);
        // The alarm blocks publishers; it does not stop the node.
        assert_eq!(r.status("rabbitmq.nodes"), "ok", "{r:#?}");
    }
    // Dropping the guard put the watermark back: the alarm is gone.
    let r = Rabbit::of(&probe.run());
    assert_eq!(r.status("rabbitmq.alarms"), "ok", "{r:#?}");
}

#[test]
fn wrong_password_fails_naming_authentication_without_the_password() {
    let _l = shared();
    let _b = take_broker();
    let wrong = "Wr0ng-p@ss#word";
    let probe = Probe::new(&format!(
        "url = \"{URL}\"\nuser = \"{RABBIT_USER}\"\npassword = \"{wrong}\"\nexpected_nodes = 1\nha_policy = \"ha-all\"\n"
    ));
    let run = probe.run();
    let r = Rabbit::of(&run);
    for c in CHECKS {
        assert_eq!(r.status(c), "fail", "{c}: {r:#?}");
        let m = r.message(c);
        assert!(
            m.contains(&format!("authentication failed for user {RABBIT_USER}"))
                && m.contains("HTTP 401")
                && m.contains("[clusters.NAME.overrides.rabbitmq]"),
            "{m}"
        );
    }
    assert!(
        !run.stdout.contains(wrong) && !run.stderr.contains(wrong),
        "the password leaked: {run:?}"
    );

    // The right password from the environment (password_env) logs in.
    let mut probe = Probe::new(&format!(
        "url = \"{URL}\"\nuser = \"{RABBIT_USER}\"\npassword_env = \"PFCTL_TEST_RABBIT_PW\"\nexpected_nodes = 1\n"
    ));
    probe.env.push(("PFCTL_TEST_RABBIT_PW", RABBIT_PASSWORD));
    let r = Rabbit::of(&probe.run());
    assert_eq!(r.status("rabbitmq.nodes"), "ok", "{r:#?}");
    // ... and its absence is named.
    probe.env.clear();
    let r = Rabbit::of(&probe.run());
    assert_eq!(r.status("rabbitmq.nodes"), "fail", "{r:#?}");
    assert!(
        r.message("rabbitmq.nodes")
            .contains("password_env names PFCTL_TEST_RABBIT_PW, which is not set"),
        "{r:#?}"
    );
}

#[test]
fn required_ha_policy_fails_when_absent_and_passes_once_set() {
    let _l = shared();
    let _b = take_broker();
    let probe = Probe::new(&settings(1, "ha_policy = \"ha-all\"\n"));
    let r = Rabbit::of(&probe.run());
    let version = r.evidence("rabbitmq.ha_policy")["rabbitmq_version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no server version in {r:#?}"));
    if major >= 4 {
        // Classic mirroring is gone: the check says why it does not apply.
        assert_eq!(r.status("rabbitmq.ha_policy"), "skip", "{r:#?}");
        assert!(r
            .message("rabbitmq.ha_policy")
            .contains("no classic queue mirroring"));
        return;
    }
    assert_eq!(r.status("rabbitmq.ha_policy"), "fail", "{r:#?}");
    let m = r.message("rabbitmq.ha_policy");
    assert!(
        m.starts_with("no policy ha-all on vhost /") && m.contains("rabbitmqctl set_policy"),
        "{m}"
    );

    let _policy = Policy("ha-all");
    broker(&[
        "ctl",
        "set_policy",
        "-p",
        "/",
        "ha-all",
        ".*",
        r#"{"ha-mode":"all"}"#,
    ]);
    let (r, _) = probe.until("the policy seen", |r| {
        r.status("rabbitmq.ha_policy") != "fail"
    });
    assert_eq!(r.status("rabbitmq.ha_policy"), "ok", "{r:#?}");
    assert_eq!(
        r.message("rabbitmq.ha_policy"),
        "policy ha-all mirrors queues matching '.*' (ha-mode all, applies to all)"
    );
}

#[test]
fn unreachable_management_api_is_unknown_naming_the_url() {
    let _l = shared();
    let _b = take_broker();
    // Nothing listens on this port of the host.
    let probe = Probe::new(&format!(
        "url = \"http://10.213.0.1:15999\"\nuser = \"{RABBIT_USER}\"\npassword = \"{RABBIT_PASSWORD}\"\nexpected_nodes = 1\ntimeout_ms = 2000\n"
    ));
    let r = Rabbit::of(&probe.run());
    for c in ["rabbitmq.nodes", "rabbitmq.alarms", "rabbitmq.partitions"] {
        assert_eq!(r.status(c), "unknown", "{c}: {r:#?}");
        let m = r.message(c);
        assert!(
            m.contains("http://10.213.0.1:15999/api/nodes") && m.contains("not reachable"),
            "{m}"
        );
        assert!(!m.contains(RABBIT_PASSWORD), "{m}");
    }
}
