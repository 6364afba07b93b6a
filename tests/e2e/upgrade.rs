//! `pfctl upgrade` on the test cluster's demo stack, with images built here: v2 (a new tag of the
//! demo image) and v3 (the same, with a healthcheck that always fails). Bundles are `docker save`
//! archives made on node1. Every test ends with the stack back on v1 (rollback, or demo-stack).

use crate::common::lab::Lab;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: [&str; 3] = ["pfdemo_db", "pfdemo_web", "pfdemo_worker"];

/// `pfdemo/busybox:VERSION` built on node1 from v1 and saved into `dir`: the bundle's path.
fn bundle(dir: &Path, version: u32, healthy: bool) -> PathBuf {
    let health = if healthy {
        ""
    } else {
        "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD false\\n"
    };
    let script = format!(
        "printf 'FROM pfdemo/busybox:1\\nRUN echo {version} > /VERSION\\n{health}' | \
         DOCKER_BUILDKIT=0 docker build -q -t pfdemo/busybox:{version} - >/dev/null && \
         docker save pfdemo/busybox:{version}"
    );
    let out = testcluster(&["exec", "node1", "--", "sh", "-c", &script]);
    assert!(
        out.stdout.len() > 100_000,
        "docker save gave {} bytes",
        out.stdout.len()
    );
    let path = dir.join(format!("v{version}.tar"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn images() -> BTreeMap<String, String> {
    docker(
        "node1",
        &["service", "ls", "--format", "{{.Name}} {{.Image}}"],
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .filter(|(n, _)| SERVICES.contains(n))
    .map(|(n, i)| (n.to_string(), i.to_string()))
    .collect()
}

fn all_on(tag: &str) -> bool {
    let now = images();
    now.len() == 3 && now.values().all(|i| i == &format!("pfdemo/busybox:{tag}"))
}

fn spec_versions() -> String {
    docker(
        "node1",
        &[
            "service",
            "inspect",
            "--format",
            "{{.Spec.Name}}={{.Version.Index}}",
            "pfdemo_db",
            "pfdemo_web",
            "pfdemo_worker",
        ],
    )
}

/// The run id an upgrade printed (`upgrade run ID (journal ...)`).
fn run_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("upgrade run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in:\n{out}"))
        .to_string()
}

fn journal(lab: &Lab, id: &str) -> Value {
    let p = lab
        .home
        .path()
        .join(format!(".local/state/pfctl/runs/{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn phase<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name} in {j:#}"))
}

/// `upgrade apply` to a fresh v2 bundle, running in the background (the bundle's directory
/// lives as long as the second value).
fn apply_v2(lab: &Lab) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let v2 = bundle(dir.path(), 2, true);
    let child = pfctl_cmd(lab.home.path())
        .arg("--inventory")
        .arg(&lab.inv)
        .args(["upgrade", "apply", "--images"])
        .arg(&v2)
        .args(["--yes", "--allow-warn", "--skip-backup"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir)
}

/// Waits until the newest journal in the lab's state has phase `name` running; its run id.
fn wait_running(lab: &Lab, name: &str, secs: u64) -> String {
    let dir = lab.home.path().join(".local/state/pfctl/runs");
    let start = Instant::now();
    loop {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                let Ok(j) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let running = j["phases"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == name && p["status"] == "running")
                });
                if running {
                    return j["run_id"].as_str().unwrap().to_string();
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{name} never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Back to v1 whatever a test left (demo-stack compares the image too).
struct BackToV1;
impl Drop for BackToV1 {
    fn drop(&mut self) {
        if !all_on("1") {
            demo_stack("up");
        }
    }
}

/// HAProxy in front of the web service's host-mode ports (the generated configuration, on a
/// free local port), and a client asking it for the page as fast as it answers.
struct Probe {
    haproxy: Child,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Probe {
    fn start(lab: &Lab, dir: &Path) -> Probe {
        let cfg = lab.pfctl(&["haproxy-config", "--profile", "demo"]);
        assert_eq!(cfg.code, 0, "{cfg:?}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text = cfg
            .stdout
            .replace("bind *:8080", &format!("bind 127.0.0.1:{port}"))
            .replace("    log /dev/log local0\n", "");
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, text).unwrap();
        let haproxy = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (installed by testcluster up)");
        let (stop, ok, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        // Until haproxy answers at all.
        let start = Instant::now();
        while get(port).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "haproxy never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let thread = {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match get(port) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            errors.push(e);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    std::thread::sleep(Duration::from_millis(10));
                }
                errors
            })
        };
        Probe {
            haproxy,
            stop,
            ok,
            failed,
            thread: Some(thread),
        }
    }

    /// (answered, failed, the failures).
    fn finish(mut self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self.thread.take().unwrap().join().unwrap();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors,
        )
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

/// Serves `body` to the next `times` HTTP requests on a local port: the URL.
fn serve(body: Vec<u8>, times: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(times) {
            let mut s = s.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/bundles/v2.tar")
}

/// One request for the web page through haproxy; Err says what went wrong.
fn get(port: u16) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: demo\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .map_err(|e| format!("read: {e}"))?;
    if body.starts_with("HTTP/1.") && body.contains(" 200 ") && body.contains("pfdemo web on") {
        Ok(())
    } else {
        Err(format!("answer: {:?}", &body[..body.len().min(80)]))
    }
}

#[test]
fn v1_to_v2_rolls_with_no_failed_request_v3_rolls_back_and_rollback_returns_v1() {
    let _lock = exclusive();
    demo_stack("reset");
    let _v1 = BackToV1;
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let v2 = bundle(dir.path(), 2, true);
    let v3 = bundle(dir.path(), 3, false);
    let v2s = v2.to_str().unwrap();

    // The plan lists exactly the image changes, in the profile's group order, and changes nothing.
    let before = spec_versions();
    let p = lab.pfctl(&["-o", "json", "upgrade", "plan", "--images", v2s]);
    assert_eq!(p.code, 0, "{p:?}");
    let doc = p.json();
    let groups: Vec<(String, String, String, String)> = doc["plan"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["services"].as_array().unwrap().iter().map(move |s| {
                (
                    g["name"].as_str().unwrap().to_string(),
                    s["service"].as_str().unwrap().to_string(),
                    s["image_from"].as_str().unwrap_or("").to_string(),
                    s["image_to"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    let want: Vec<(String, String, String, String)> = [
        ("db", "pfdemo_db"),
        ("apps", "pfdemo_web"),
        ("apps", "pfdemo_worker"),
    ]
    .iter()
    .map(|(g, s)| {
        (
            g.to_string(),
            s.to_string(),
            "pfdemo/busybox:1".to_string(),
            "pfdemo/busybox:2".to_string(),
        )
    })
    .collect();
    assert_eq!(groups, want, "{doc:#}");
    for g in doc["plan"]["groups"].as_array().unwrap() {
        for s in g["services"].as_array().unwrap() {
            let changes: Vec<&str> = s["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert!(
                changes.iter().all(|c| c.contains("Image")),
                "only the image changes: {changes:?}"
            );
        }
    }
    assert_eq!(doc["plan"]["quorum"]["managers"], 3);
    assert_eq!(spec_versions(), before, "plan changed nothing");

    // A marker in the database's volume: in the run's backup, deleted after the upgrade, back
    // after `rollback --restore-data`.
    let marker = format!("{}/upgrade-marker", dbdata_mountpoint());
    testcluster(&[
        "exec",
        "node1",
        "--",
        "sh",
        "-c",
        &format!("echo v1-data > {marker}"),
    ]);

    // apply, with the web service probed through haproxy the whole time.
    let probe = Probe::start(&lab, dir.path());
    let backups = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = lab.pfctl(&[
        "upgrade",
        "apply",
        "--images",
        v2s,
        "--yes",
        "--allow-warn",
        "--backup-to",
        backups.path().to_str().unwrap(),
    ]);
    let secs = t.elapsed().as_secs_f64();
    let (ok, failed, errors) = probe.finish();
    println!("upgrade v1 -> v2: {secs:.1} s; requests through haproxy: {ok} answered, {failed} failed {errors:?}");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(all_on("2"), "{:?}", images());
    assert_eq!(
        failed, 0,
        "failed requests during the rolling upgrade: {errors:?}"
    );
    assert!(ok > 20, "the probe ran: {ok}");
    let id = run_id(&r.stdout);
    let j = journal(&lab, &id);
    for p in j["phases"].as_array().unwrap() {
        assert_eq!(p["status"], "done", "{p:#}");
    }
    // The run's backup is there and recorded in its journal.
    let file = phase(&j, "backup")["data"]["file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(Path::new(&file).exists(), "{file}");
    let hc = lab.pfctl(&["healthcheck", "-o", "json"]);
    assert!(
        !hc.stdout.contains("\"status\": \"fail\"") && !hc.stdout.contains("\"status\":\"fail\""),
        "{}",
        hc.stdout
    );

    // v3's tasks never get healthy: Swarm rolls the first group back to v2; the run stops,
    // naming the service and why.
    let bad = lab.pfctl(&[
        "upgrade",
        "apply",
        "--images",
        v3.to_str().unwrap(),
        "--yes",
        "--allow-warn",
        "--skip-backup",
    ]);
    println!("v3:\n{}", bad.stdout);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stdout.contains("pfdemo_db") && bad.stdout.contains("rolled it back"),
        "{bad:?}"
    );
    assert!(bad.stdout.contains("unhealthy"), "{bad:?}");
    assert!(all_on("2"), "{:?}", images());

    // rollback of the v2 run, data too: every service back on v1, the marker back.
    testcluster(&["exec", "node1", "--", "rm", "-f", &marker]);
    let rb = lab.pfctl(&["upgrade", "rollback", &id, "--yes", "--restore-data"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert!(rb.stdout.contains("restore-data: done"), "{rb:?}");
    assert!(all_on("1"), "{:?}", images());
    let back = testcluster(&["exec", "node1", "--", "cat", &marker]);
    assert_eq!(String::from_utf8_lossy(&back.stdout).trim(), "v1-data");
    testcluster(&["exec", "node1", "--", "rm", "-f", &marker]);
}

#[test]
fn a_bundle_with_one_flipped_byte_is_refused_before_any_node_changes() {
    let _lock = exclusive();
    demo_stack("up");
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let v2 = bundle(dir.path(), 2, true);
    let mut bytes = std::fs::read(&v2).unwrap();
    // One byte in the middle of the biggest entry (an image layer).
    let (offset, size) = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.raw_file_position(), e.size())
        })
        .max_by_key(|(_, size)| *size)
        .unwrap();
    bytes[(offset + size / 2) as usize] ^= 0x01;
    let bad = dir.path().join("flipped.tar");
    std::fs::write(&bad, &bytes).unwrap();
    let before = spec_versions();
    let runs = lab.home.path().join(".local/state/pfctl/runs");
    let r = lab.pfctl(&[
        "upgrade",
        "apply",
        "--images",
        bad.to_str().unwrap(),
        "--yes",
        "--skip-backup",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("flipped.tar") && r.stderr.contains("nothing changed"),
        "{r:?}"
    );
    assert_eq!(spec_versions(), before);
    assert!(all_on("1"));
    // The original form says the same.
    let legacy = lab.pfctl(&[
        "node-action",
        "--action",
        "upgrade",
        "--upgrade_args",
        "offline",
        bad.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(legacy.code, 2, "{legacy:?}");
    assert!(legacy.stderr.contains("nothing changed"), "{legacy:?}");

    // Online: fetched over HTTP and checked against the sum given before anything else.
    let good = std::fs::read(&v2).unwrap();
    let url = serve(good.clone(), 2);
    let sum = pfctl::heal::sha256_hex(&good);
    let p = lab.pfctl(&[
        "-o", "json", "upgrade", "plan", "--url", &url, "--sha256", &sum,
    ]);
    assert_eq!(p.code, 0, "{p:?}");
    let changed: usize = p.json()["plan"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["services"].as_array().unwrap().len())
        .sum();
    assert_eq!(changed, 3, "{}", p.stdout);
    let wrong = "0".repeat(64);
    let w = lab.pfctl(&[
        "upgrade", "apply", "--url", &url, "--sha256", &wrong, "--yes",
    ]);
    assert_eq!(w.code, 2, "{w:?}");
    assert!(
        w.stderr.contains(&wrong) && w.stderr.contains(&sum),
        "{w:?}"
    );
    assert_eq!(spec_versions(), before);
    // No run was even journaled.
    assert!(std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0) == 0);
}

#[test]
fn a_killed_controller_resumes_without_redoing_done_groups() {
    let _lock = exclusive();
    demo_stack("up");
    let _v1 = BackToV1;
    let lab = Lab::new();
    let (mut child, _dir) = apply_v2(&lab);
    let id = wait_running(&lab, "group:apps", 120);
    std::thread::sleep(Duration::from_secs(2));
    // SIGKILL: no chance to write anything more.
    child.kill().unwrap();
    child.wait().unwrap();
    let j = journal(&lab, &id);
    assert_eq!(phase(&j, "group:db")["status"], "done");
    assert_eq!(phase(&j, "group:apps")["status"], "running");

    let r = lab.pfctl(&["resume", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("group:db: was done"), "{r:?}");
    assert!(all_on("2"), "{:?}", images());
    let j = journal(&lab, &id);
    assert_eq!(phase(&j, "group:db")["attempts"], 1, "db was not redone");
    assert_eq!(phase(&j, "group:apps")["attempts"], 2);
    assert_eq!(phase(&j, "verify")["status"], "done");

    let rb = lab.pfctl(&["upgrade", "rollback", &id, "--yes"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert!(all_on("1"), "{:?}", images());
}

#[test]
fn a_node_whose_docker_stops_mid_upgrade_stops_the_run_and_resume_completes_after_heal() {
    let _lock = exclusive();
    demo_stack("up");
    let _v1 = BackToV1;
    let lab = Lab::new();
    let (child, _dir) = apply_v2(&lab);
    let id = wait_running(&lab, "group:apps", 120);
    let fault = Fault::inject("node3", "docker-stop");
    let out = child.wait_with_output().unwrap();
    let r = finish(out);
    println!("{}", r.stdout);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("node3") && r.stdout.contains("dropped out of the swarm"),
        "{r:?}"
    );
    assert!(r.stdout.contains(&format!("pfctl resume {id}")), "{r:?}");
    drop(fault);

    // Healed: the same run goes on from the group it stopped in.
    let start = Instant::now();
    let r = loop {
        let r = lab.pfctl(&["resume", &id]);
        // The node may need a moment to be ready in the swarm again.
        if r.code == 0 || start.elapsed() > Duration::from_secs(90) {
            break r;
        }
        std::thread::sleep(Duration::from_secs(3));
    };
    assert_eq!(r.code, 0, "{r:?}");
    assert!(all_on("2"), "{:?}", images());
    let rb = lab.pfctl(&["upgrade", "rollback", &id, "--yes"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert!(all_on("1"), "{:?}", images());
}

/// A stack deployed with `docker stack deploy`, upgraded from a new compose file.
fn comp_compose(tag: u32, mode: &str) -> String {
    format!(
        r#"version: "3.8"
services:
  api:
    image: pfdemo/busybox:{tag}
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    deploy: {{ replicas: 2, endpoint_mode: dnsrr }}
  cache:
    image: pfdemo/busybox:1
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    environment:
      MODE: "{mode}"
    deploy: {{ replicas: 1, endpoint_mode: dnsrr }}
"#
    )
}

/// Removes the pfcomp stack (and waits for its network to go) when dropped.
struct CompStack;
impl Drop for CompStack {
    fn drop(&mut self) {
        let _ = testcluster(&["exec", "node1", "--", "docker", "stack", "rm", "pfcomp"]);
        let start = Instant::now();
        while !docker(
            "node1",
            &["network", "ls", "-q", "--filter", "name=pfcomp_"],
        )
        .trim()
        .is_empty()
            && start.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

#[test]
fn a_compose_upgrade_lists_exactly_its_changes_waits_for_images_and_resumes() {
    let _lock = exclusive();
    demo_stack("up");
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let v2 = bundle(dir.path(), 2, true);
    let _stack = CompStack;
    drop(CompStack);
    // v1, the way an admin deploys it.
    let deploy = Command::new(repo().join("tests/cluster/testcluster"))
        .args(["exec", "node1", "--", "sh", "-c"])
        .arg(format!(
            "printf '%s' '{}' | docker stack deploy --detach=true --resolve-image never -c - pfcomp",
            comp_compose(1, "old-secret-mode")
        ))
        .output()
        .unwrap();
    assert!(deploy.status.success(), "{deploy:?}");
    // Only node1 has the new image.
    for n in ["node2", "node3"] {
        let _ = testcluster(&["exec", n, "--", "docker", "rmi", "-f", "pfdemo/busybox:2"]);
    }
    let profile = dir.path().join("pfcomp.toml");
    let demo = std::fs::read_to_string(repo().join("profiles/demo.toml")).unwrap();
    std::fs::write(
        &profile,
        demo.replace("stack = \"pfdemo\"", "stack = \"pfcomp\""),
    )
    .unwrap();
    let v2_compose = dir.path().join("v2.yml");
    std::fs::write(&v2_compose, comp_compose(2, "new-secret-mode")).unwrap();
    let (c, p) = (v2_compose.to_str().unwrap(), profile.to_str().unwrap());

    let plan = lab.pfctl(&[
        "-o",
        "json",
        "upgrade",
        "plan",
        "--compose",
        c,
        "--profile",
        p,
    ]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        !plan.stdout.contains("new-secret-mode"),
        "values never shown"
    );
    let doc = plan.json();
    let mut changes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in doc["plan"]["groups"].as_array().unwrap() {
        for s in g["services"].as_array().unwrap() {
            changes.insert(
                s["service"].as_str().unwrap().to_string(),
                s["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            );
        }
    }
    assert_eq!(changes.len(), 2, "{doc:#}");
    assert!(
        changes["pfcomp_api"]
            .iter()
            .all(|c| c.to_lowercase().contains("image")),
        "{changes:?}"
    );
    assert_eq!(
        changes["pfcomp_cache"],
        ["TaskTemplate.ContainerSpec.Env"],
        "{changes:?}"
    );

    // node2 and node3 lack the image: the run stops before any service changes, naming them.
    let r = lab.pfctl(&[
        "upgrade",
        "apply",
        "--compose",
        c,
        "--profile",
        p,
        "--yes",
        "--allow-warn",
        "--skip-backup",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("node2 lacks pfdemo/busybox:2") && r.stdout.contains("node3"),
        "{r:?}"
    );
    let id = run_id(&r.stdout);
    let image_of = |s: &str| {
        docker(
            "node1",
            &[
                "service",
                "inspect",
                s,
                "--format",
                "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            ],
        )
    };
    assert!(image_of("pfcomp_api").starts_with("pfdemo/busybox:1"));

    // The images loaded by hand, the same run goes on.
    for n in ["node2", "node3"] {
        let load = Command::new(repo().join("tests/cluster/testcluster"))
            .args(["exec", n, "--", "docker", "load", "-q"])
            .stdin(std::fs::File::open(&v2).unwrap())
            .output()
            .unwrap();
        assert!(load.status.success(), "{load:?}");
    }
    let r = lab.pfctl(&["resume", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(image_of("pfcomp_api").starts_with("pfdemo/busybox:2"));
    let env = docker(
        "node1",
        &[
            "service",
            "inspect",
            "pfcomp_cache",
            "--format",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ],
    );
    assert!(env.contains("MODE=new-secret-mode"), "{env}");
}
