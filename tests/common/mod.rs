//! Shared by the integration tests: the real test cluster (tests/cluster/testcluster), locks that
//! keep fault-injecting tests from disturbing the others, and running the real pfctl binary.
#![allow(dead_code)]

use fs4::fs_std::FileExt;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod fixture_http;
pub mod lab;

pub const PASSWORD: &str = "Is@dm#n:p w0rd";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tc_dir() -> PathBuf {
    repo().join("target/testcluster")
}

pub fn testcluster(args: &[&str]) -> Output {
    let out = Command::new(repo().join("tests/cluster/testcluster"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/cluster/testcluster");
    assert!(
        out.status.success(),
        "testcluster {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Brings the 3-node cluster up once per test process (fast when it already is).
pub fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        testcluster(&["up", "3"]);
        Cluster { dir: tc_dir() }
    })
}

pub struct Cluster {
    pub dir: PathBuf,
}

impl Cluster {
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.toml")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn addr(&self, n: u32) -> String {
        format!("10.213.0.{}", 10 + n)
    }
    /// The node's host public key as the node presents it now.
    pub fn host_pub_key(&self, n: u32) -> PathBuf {
        self.dir
            .join(format!("nodes/node{n}/ssh_host_ed25519_key.pub"))
    }
    /// A copy of the inventory with text replaced, for tests that need other settings.
    pub fn inventory_with(&self, dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
        let mut text = std::fs::read_to_string(self.inventory()).unwrap();
        for (from, to) in edits {
            assert!(text.contains(from), "inventory has no {from:?}");
            text = text.replace(from, to);
        }
        let path = dir.join("inventory.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Held by tests that need every node healthy; many at once.
pub fn shared() -> Lock {
    cluster();
    Lock::take(false)
}

/// Held by tests that break a node; alone.
pub fn exclusive() -> Lock {
    cluster();
    Lock::take(true)
}

/// Held by tests that use the fresh nodes (`testcluster fresh A B`, node4 and up), which the
/// shared cluster's tests never touch: one such test at a time, beside shared() and exclusive().
pub fn fresh_lock() -> Lock {
    cluster();
    let f = File::options()
        .create(true)
        .append(true)
        .open(tc_dir().join("fresh.lock"))
        .unwrap();
    FileExt::lock_exclusive(&f).unwrap();
    Lock(f)
}

pub struct Lock(File);

impl Lock {
    fn take(exclusive: bool) -> Lock {
        let path = tc_dir().join("tests.lock");
        let f = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        if exclusive {
            FileExt::lock_exclusive(&f).unwrap();
        } else {
            FileExt::lock_shared(&f).unwrap();
        }
        Lock(f)
    }
}

/// A fault on one node, healed when dropped (also when the test panics).
pub struct Fault {
    node: String,
    kind: String,
}

impl Fault {
    pub fn inject(node: &str, kind: &str) -> Fault {
        testcluster(&["fault", node, kind]);
        Fault {
            node: node.into(),
            kind: kind.into(),
        }
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/cluster/testcluster"))
            .args(["heal", &self.node, &self.kind])
            .stdin(Stdio::null())
            .output();
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// The result of `check` on `node` in a JSON report.
    pub fn result(&self, check: &str, node: &str) -> Value {
        let doc = self.json();
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["check"] == check && r["node"] == node)
            .cloned()
            .unwrap_or_else(|| panic!("no {check} result for {node} in:\n{}", self.stdout))
    }
    pub fn node(&self, name: &str) -> Value {
        let doc = self.json();
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// An empty home directory so the admin's own ~/.ssh never leaks into a test.
pub fn fresh_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    home
}

pub fn pfctl_cmd(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pfctl"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("USER", "root")
        .current_dir(home)
        .stdin(Stdio::null());
    c
}

pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(cmd: &mut Command) -> Run {
    finish(cmd.output().expect("run pfctl"))
}

/// pfctl against the test cluster's inventory, with an empty home.
pub fn pfctl(args: &[&str]) -> Run {
    let c = cluster();
    let home = fresh_home();
    let inv = c.inventory();
    run(pfctl_cmd(home.path())
        .arg("--inventory")
        .arg(&inv)
        .args(args))
}

/// Runs tests/cluster/demo-stack up|reset.
pub fn demo_stack(arg: &str) {
    // Two tests bringing the stack up at once would both create its services: one at a time.
    let f = File::options()
        .create(true)
        .append(true)
        .open(tc_dir().join("demo-stack.lock"))
        .unwrap();
    FileExt::lock_exclusive(&f).unwrap();
    let out = Command::new(repo().join("tests/cluster/demo-stack"))
        .arg(arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo-stack {arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory of the demo profile's self-signed certificate, made when missing.
pub fn demo_cert_dir() -> PathBuf {
    let out = Command::new(repo().join("tests/cluster/demo-stack"))
        .arg("cert")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo-stack cert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Resets the demo stack now and again when dropped, so a failing test leaves no mess.
pub struct Stack;

impl Stack {
    pub fn reset() -> Stack {
        demo_stack("reset");
        Stack
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        demo_stack("reset");
    }
}

/// The test cluster's inventory with the demo profile, load thresholds out of the way (the test
/// machine runs cargo and three engines on two cores) and `extra` TOML appended. Mode 600, since
/// `extra` may hold a password.
pub fn lab_inventory(dir: &Path, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let c = cluster();
    let mut text = std::fs::read_to_string(c.inventory()).unwrap();
    text = text.replace("[clusters.test]\n", "[clusters.test]\nprofile = \"demo\"\n");
    text.push_str("\n[clusters.test.overrides.thresholds]\nload_per_cpu_warn = 1000.0\nload_per_cpu_fail = 2000.0\n");
    text.push_str(extra);
    let path = dir.join("inventory.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `docker ARGS` on a node of the test cluster; its stdout.
pub fn docker(node: &str, args: &[&str]) -> String {
    let mut full = vec!["exec", node, "--", "docker"];
    full.extend_from_slice(args);
    String::from_utf8_lossy(&testcluster(&full).stdout).into_owned()
}

/// pfdemo_db's volume on node1: its `_data` directory, as the node's Engine reports it.
pub fn dbdata_mountpoint() -> String {
    let m = docker(
        "node1",
        &[
            "volume",
            "inspect",
            "pfdemo_dbdata",
            "--format",
            "{{.Mountpoint}}",
        ],
    );
    m.trim().to_string()
}

/// Moves pfdemo_db, which the demo profile pins to node1, onto node2.
pub fn misplace_pinned_db() {
    docker(
        "node1",
        &[
            "service",
            "update",
            "--detach",
            "--constraint-rm",
            "node.hostname==node1",
            "--constraint-add",
            "node.hostname==node2",
            "pfdemo_db",
        ],
    );
}

/// A node of the test inventory's `cluster` (default: `test`), connected over SSH the way pfctl's
/// commands connect (inventory, keys, known hosts), for tests that call agents directly.
pub async fn connect_node(cluster_name: Option<&str>, name: &str) -> pfctl::fanout::Node {
    let inv = pfctl::inventory::Inventory::load(&cluster().inventory()).unwrap();
    let (_, targets) = inv.cluster_targets(cluster_name).unwrap();
    let target = targets
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is not in cluster {cluster_name:?}"));
    let opts = pfctl::fanout::FanoutOpts {
        parallel: 4,
        node_timeout: std::time::Duration::from_secs(120),
        overrides: pfctl::endpoint::Overrides {
            connect_timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        },
        ssh_config: std::sync::Arc::new(Default::default()),
    };
    pfctl::fanout::connect(&target, &opts)
        .await
        .unwrap_or_else(|e| panic!("connecting to {name}: {e}"))
}
