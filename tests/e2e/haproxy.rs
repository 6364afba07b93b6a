//! `pfctl haproxy-config` against the real test cluster and Debian's real haproxy (installed by
//! `testcluster up`): the generated configuration passes `haproxy -c`, and a haproxy started with
//! it carries requests to the demo stack's web service on every manager. The web tasks publish
//! 8080 in host mode (this kernel has no IPVS, so no routing mesh) and answer with their node's
//! name, which shows where each request went.

use crate::common::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `haproxy -c -f FILE`: (passed, its output).
fn haproxy_check(file: &Path) -> (bool, String) {
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(file)
        .output()
        .expect("run haproxy (testcluster up installs Debian's haproxy)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `server NAME ADDR...` lines of one backend.
fn servers(config: &str, backend: &str) -> Vec<String> {
    // At a line's start: `default_backend NAME` ends the same way.
    let head = format!("\nbackend {backend}\n");
    let start = config
        .find(&head)
        .unwrap_or_else(|| panic!("no {head:?} in:\n{config}"));
    config[start + head.len()..]
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.trim().strip_prefix("server "))
        .map(str::to_string)
        .collect()
}

/// The swarm's managers as `hostname address`, asked from the engine directly.
fn swarm_managers() -> BTreeSet<String> {
    let ids = docker("node1", &["node", "ls", "--filter", "role=manager", "-q"]);
    let mut args = vec![
        "node",
        "inspect",
        "--format",
        "{{.Description.Hostname}} {{.Status.Addr}}",
    ];
    args.extend(ids.split_whitespace());
    docker("node1", &args).lines().map(str::to_string).collect()
}

#[test]
fn the_generated_config_for_the_test_cluster_passes_haproxy_check() {
    let _l = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("haproxy.cfg");
    let out = file.to_str().unwrap();
    let r = pfctl(&["haproxy-config", "--out", out]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("3 managers"), "{r:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let (ok, said) = haproxy_check(&file);
    assert!(ok, "haproxy -c refused it:\n{said}\n{text}");
    assert!(
        !said.contains("WARNING"),
        "haproxy -c warned:\n{said}\n{text}"
    );

    // The template's frontends, and every backend balanced over exactly the swarm's managers.
    for port in ["80", "443", "5556", "3141"] {
        assert!(
            text.contains(&format!("    bind *:{port}\n")),
            "{port}:\n{text}"
        );
    }
    let managers = swarm_managers();
    assert_eq!(managers.len(), 3, "{managers:?}");
    for (backend, port) in [
        ("http_back", ""),
        ("dex_back", ":5556"),
        ("devpi_back", ":3141"),
    ] {
        let got: BTreeSet<String> = servers(&text, backend)
            .iter()
            .map(|s| {
                let f: Vec<&str> = s.split_whitespace().collect();
                let addr = f[1]
                    .strip_suffix(port)
                    .unwrap_or_else(|| panic!("{backend}: {s}"));
                assert!(s.contains(" check"), "{backend}: {s}");
                format!("{} {addr}", f[0])
            })
            .collect();
        assert_eq!(got, managers, "{backend}:\n{text}");
    }
    assert!(text.contains("balance roundrobin"), "{text}");

    // A second run keeps the first as .prev; the original syntax prints the same on stdout.
    let r = pfctl(&["haproxy-config", "--out", out]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("haproxy.cfg.prev")).unwrap(),
        text
    );
    let legacy = pfctl(&["cluster-action", "--action", "generate_haproxy_config"]);
    assert_eq!(legacy.code, 0, "{legacy:?}");
    assert_eq!(legacy.stdout, text);

    // The demo profile's configuration is valid too.
    let demo = pfctl(&["haproxy-config", "--profile", "demo"]);
    assert_eq!(demo.code, 0, "{demo:?}");
    let demo_file = dir.path().join("demo.cfg");
    std::fs::write(&demo_file, &demo.stdout).unwrap();
    let (ok, said) = haproxy_check(&demo_file);
    assert!(ok && !said.contains("WARNING"), "{said}\n{}", demo.stdout);
}

#[test]
fn no_manager_to_ask_is_an_error_naming_the_node() {
    let _l = shared();
    // Nobody answers at this address on the bridge.
    let r = pfctl(&[
        "--host",
        "10.213.0.254",
        "--connect-timeout",
        "1",
        "haproxy-config",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("no swarm manager could be asked") && r.stderr.contains("10.213.0.254:"),
        "{r:?}"
    );
}

#[test]
fn nodes_in_no_swarm_yet_fall_back_to_the_inventory_with_a_note() {
    // Only read from the fresh nodes, which `testcluster fresh` leaves out of any swarm.
    let _l = fresh_lock();
    testcluster(&["fresh", "4", "6"]);
    let r = pfctl(&["--cluster", "fresh", "haproxy-config", "--profile", "demo"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("no node is in a swarm yet")
            && r.stderr.contains("node4: swarm inactive"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("# Servers: the inventory's nodes (no swarm yet)."),
        "{r:?}"
    );
    let got: Vec<String> = servers(&r.stdout, "web_back");
    let want: Vec<String> = (4..=6)
        .map(|n| format!("node{n} 10.213.0.1{n}:8080 check"))
        .collect();
    assert_eq!(got, want, "{}", r.stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("haproxy.cfg");
    std::fs::write(&file, &r.stdout).unwrap();
    let (ok, said) = haproxy_check(&file);
    assert!(ok && !said.contains("WARNING"), "{said}");
}

/// A haproxy in the foreground, killed when dropped (also when the test panics).
struct Haproxy(Child);

impl Haproxy {
    fn start(config: &Path, port: u16) -> Haproxy {
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haproxy");
        let mut h = Haproxy(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = h.0.try_wait() {
                let mut err = String::new();
                h.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                panic!("haproxy exited ({status}):\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "haproxy does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        h
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 GET through haproxy: the status line and the body.
fn get(port: u16) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: pfdemo\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {resp:?}"))?;
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.trim().to_string(),
    ))
}

#[test]
fn a_real_haproxy_with_the_demo_config_reaches_the_web_service_on_every_manager() {
    let _l = exclusive();
    let _s = Stack::reset();
    let port = TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = fresh_home();
    // The demo frontend moved to a free port through the inventory's profile overrides.
    let inv = lab_inventory(
        home.path(),
        &format!(
            "\n[clusters.test.overrides.haproxy]\n[[clusters.test.overrides.haproxy.frontends]]\nname = \"web\"\nbind = [{port}]\nport = 8080\n"
        ),
    );
    let file = home.path().join("haproxy.cfg");
    let r = run(pfctl_cmd(home.path())
        .arg("--inventory")
        .arg(&inv)
        .args(["haproxy-config", "--out"])
        .arg(&file));
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("    bind *:{port}\n")), "{text}");
    let backends: BTreeSet<String> = servers(&text, "web_back")
        .iter()
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let want: BTreeSet<String> = swarm_managers()
        .iter()
        .map(|m| format!("{m}:8080"))
        .collect();
    assert_eq!(backends, want, "{text}");

    let _h = Haproxy::start(&file, port);
    // Round robin over the three managers: within a few rounds every node has answered.
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 3 && Instant::now() < deadline {
        match get(port) {
            Ok((status, body)) => {
                assert!(status.contains(" 200 "), "{status}: {body}");
                let node = body
                    .strip_prefix("pfdemo web on ")
                    .unwrap_or_else(|| panic!("not the demo page: {body:?}"));
                seen.insert(node.to_string());
            }
            // A backend haproxy has not yet seen pass its check may refuse a connection.
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let all: BTreeSet<String> = (1..=3).map(|n| format!("node{n}")).collect();
    assert_eq!(seen, all, "requests through haproxy reached only {seen:?}");
}
