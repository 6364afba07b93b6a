//! The real pfagent binary over a real Unix socket: protocol errors, limits, access control and
//! lifecycle. Runs as root (the socket group is `root`); Docker is pointed at a socket that does
//! not exist so the engine facts are deterministic.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_pfagent");

struct Agent {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    state: PathBuf,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/pfagent.sock");
        let state = dir.path().join("state");
        let child = serve_cmd(dir.path(), &socket, &state)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent = Agent {
            child,
            dir,
            socket,
            state,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&agent.socket).is_err() {
            assert!(Instant::now() < deadline, "agent did not start serving");
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn connect(&self) -> Conn {
        Conn::new(UnixStream::connect(&self.socket).unwrap())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_cmd(dir: &Path, socket: &Path, state: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("serve")
        .arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(state)
        .args(["--group", "root"])
        .arg("--docker-host")
        .arg(format!("unix://{}/no-docker.sock", dir.display()));
    c
}

struct Conn {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Conn {
    fn new(s: UnixStream) -> Conn {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }
    fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }
    fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }
    fn recv(&mut self) -> Value {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).unwrap();
        assert!(n > 0, "agent closed the connection");
        serde_json::from_str(&line).unwrap()
    }
    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"id": id, "method": method, "params": params}));
        let r = self.recv();
        assert_eq!(r["id"], id);
        r
    }
    fn hello(&mut self) -> Value {
        let r = self.call(1, "hello", json!({"protocol": 1, "client": "pfctl test"}));
        assert!(r["error"].is_null(), "hello failed: {r}");
        r["result"].clone()
    }
}

fn error_code(r: &Value) -> &str {
    r["error"]["code"].as_str().unwrap_or("")
}

fn check_facts(f: &Value, mode: &str) {
    assert!(!f["hostname"].as_str().unwrap().is_empty());
    assert!(f["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(f["cpu"]["count"].as_u64().unwrap() > 0);
    assert!(!f["os"]["kernel"].as_str().unwrap().is_empty());
    assert!(f["clock"]["unix_ms"].as_i64().unwrap() > 1_600_000_000_000);
    let roles: Vec<&str> = f["disks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["role"].as_str().unwrap().split(','))
        .collect();
    assert!(roles.contains(&"root"), "{roles:?}");
    assert_eq!(f["docker"]["reachable"], false);
    assert!(f["docker"]["error"]
        .as_str()
        .unwrap()
        .starts_with("engine unreachable"));
    assert_eq!(f["agent"]["mode"], mode);
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn garbage_then_hello_and_facts_on_the_same_connection() {
    let agent = Agent::start();
    let mut c = agent.connect();
    c.send_raw(b"this is not json\n");
    let r = c.recv();
    assert_eq!(error_code(&r), "parse_error");
    assert!(r["id"].is_null());

    let hello = c.hello();
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["mode"], "resident");
    assert_eq!(hello["pid"], agent.pid());
    let caps: Vec<&str> = hello["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(caps.contains(&"node.facts") && caps.contains(&"agent.ping"));

    let r = c.call(2, "node.facts", Value::Null);
    check_facts(&r["result"], "resident");
    assert_eq!(
        r["result"]["agent"]["state_dir"],
        agent.state.display().to_string()
    );

    let r = c.call(3, "no.such.method", json!({}));
    assert_eq!(error_code(&r), "method_not_found");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no.such.method"));
}

#[test]
fn huge_line_is_discarded_without_buffering() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let mut w = c.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\n").unwrap();
    });
    let pid = agent.pid();
    let mut max_rss = 0;
    while !writer.is_finished() {
        max_rss = max_rss.max(vm_rss_kib(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    let r = c.recv();
    max_rss = max_rss.max(vm_rss_kib(pid));
    assert_eq!(error_code(&r), "too_large", "{r}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("104857600 bytes"));
    assert!(max_rss < 64 * 1024, "agent RSS reached {max_rss} KiB");

    // The same connection and a fresh one both still work.
    c.hello();
    let mut other = agent.connect();
    other.hello();
    let r = other.call(2, "agent.ping", Value::Null);
    assert!(r["result"]["unix_ms"].as_i64().unwrap() > 0);
}

#[test]
fn truncated_message_is_reported() {
    let agent = Agent::start();
    let mut c = agent.connect();
    c.send_raw(b"{\"id\":1,\"meth");
    c.w.shutdown(std::net::Shutdown::Write).unwrap();
    let r = c.recv();
    assert_eq!(error_code(&r), "parse_error");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    let mut rest = String::new();
    c.r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "the agent closes after a truncated message");
}

#[test]
fn version_mismatch_names_both_versions_and_allows_retry() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let r = c.call(
        1,
        "hello",
        json!({"protocol": 999, "client": "pfctl 9.9.9"}),
    );
    assert_eq!(error_code(&r), "version_mismatch");
    let m = r["error"]["message"].as_str().unwrap();
    assert!(m.contains("speaks 999"), "{m}");
    assert!(m.contains("speaks 1;"), "{m}");
    assert!(m.contains(env!("CARGO_PKG_VERSION")), "{m}");
    c.hello();
}

#[test]
fn requests_before_hello_are_refused() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let r = c.call(7, "node.facts", Value::Null);
    assert_eq!(error_code(&r), "hello_required");
    assert_eq!(r["error"]["message"], "send hello first");
}

#[test]
fn pipelined_requests_all_answered() {
    let agent = Agent::start();
    let mut c = agent.connect();
    c.hello();
    let mut batch = Vec::new();
    for id in 100..120u64 {
        let mut line = serde_json::to_vec(&json!({"id": id, "method": "agent.ping"})).unwrap();
        line.push(b'\n');
        batch.extend(line);
    }
    c.send_raw(&batch);
    let mut ids: Vec<u64> = (0..20)
        .map(|_| {
            let r = c.recv();
            assert!(r["result"]["unix_ms"].is_i64(), "{r}");
            r["id"].as_u64().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (100..120).collect::<Vec<_>>());
}

#[test]
fn peer_outside_the_group_is_refused() {
    let agent = Agent::start();
    // Let anyone reach the socket so the refusal can only come from SO_PEERCRED.
    for p in [agent.dir.path(), &agent.dir.path().join("run")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&agent.socket, std::fs::Permissions::from_mode(0o666)).unwrap();

    let mut cmd = Command::new(BIN);
    cmd.arg("connect")
        .arg("--socket")
        .arg(&agent.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"x\"}}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("permission_denied"),
        "stdout: {stdout}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("uid 65534"), "{stdout}");
    assert!(!stdout.contains("\"result\""), "{stdout}");

    // Root still gets in.
    agent.connect().hello();
}

#[test]
fn connect_without_agent_exits_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let out = Command::new(BIN)
        .arg("connect")
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "pfagent connect: cannot reach the resident agent at {}",
            socket.display()
        )),
        "{err}"
    );
}

#[test]
fn connect_relays_to_the_resident_agent() {
    let agent = Agent::start();
    let mut child = Command::new(BIN)
        .arg("connect")
        .arg("--socket")
        .arg(&agent.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Half-close right after the requests: the answers must still come back.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"pfctl t\"}}\n\
              {\"id\":2,\"method\":\"node.facts\"}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let replies: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 2, "{replies:?}");
    let facts = replies.iter().find(|r| r["id"] == 2).unwrap();
    check_facts(&facts["result"], "resident");
}

#[test]
fn stdio_mode_serves_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--stdio", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--docker-host")
        .arg(format!("unix://{}/no-docker.sock", dir.path().display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut recv = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    stdin
        .write_all(
            b"{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"pfctl t\"}}\n",
        )
        .unwrap();
    let r = recv();
    assert_eq!(r["result"]["mode"], "stdio");
    stdin
        .write_all(b"{\"id\":2,\"method\":\"node.facts\"}\n")
        .unwrap();
    let r = recv();
    assert_eq!(r["id"], 2);
    check_facts(&r["result"], "stdio");
    drop(stdin);
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn second_agent_on_the_same_socket_refuses_to_start() {
    let agent = Agent::start();
    let mut second = serve_cmd(agent.dir.path(), &agent.socket, &agent.state)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut second, Duration::from_secs(20));
    let mut err = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "another pfagent is already serving {}",
            agent.socket.display()
        )),
        "{err}"
    );
    // The first agent's socket and pidfile are untouched.
    let pid = std::fs::read_to_string(agent.state.join("pfagent.pid")).unwrap();
    assert_eq!(pid.trim(), agent.pid().to_string());
    agent.connect().hello();
}

#[test]
fn stale_socket_is_replaced_and_sigterm_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/pfagent.sock");
    let state = dir.path().join("state");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A socket file nobody listens on, as a crashed agent leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());

    let mut child = serve_cmd(dir.path(), &socket, &state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "agent did not replace the stale socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let state_mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(state_mode, 0o750);
    let pidfile = state.join("pfagent.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        child.id().to_string()
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert!(!socket.exists(), "socket left behind");
    assert!(!pidfile.exists(), "pidfile left behind");
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn history_written_by_the_resident_agent_is_read_in_stdio_mode() {
    let agent = Agent::start();
    let mut c = agent.connect();
    c.hello();
    let record = |id: &str, ms: i64| {
        json!({"run_id": id, "started_unix_ms": ms, "controller": "ctl", "status": "ok",
               "results": [{"check": "node.disk", "node": "n1", "status": "ok", "message": ""}]})
    };
    for (i, (id, ms)) in [("older", 1_000), ("newer", 2_000)].into_iter().enumerate() {
        let r = c.call(2 + i as u64, "history.append", record(id, ms));
        assert!(r["error"].is_null(), "{r}");
    }
    let r = c.call(9, "history.list", json!({"limit": 500}));
    assert_eq!(error_code(&r), "invalid_params", "{r}");
    let huge = json!({"run_id": "huge", "started_unix_ms": 3_000, "controller": "c",
                      "status": "ok", "results": [], "facts": {"pad": "x".repeat(1_100_000)}});
    let r = c.call(10, "history.append", huge);
    assert_eq!(error_code(&r), "invalid_params", "{r}");

    let mut child = Command::new(BIN)
        .args(["serve", "--stdio", "--state-dir"])
        .arg(&agent.state)
        .arg("--docker-host")
        .arg(format!(
            "unix://{}/no-docker.sock",
            agent.dir.path().display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin
        .write_all(b"{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"t\"}}\n{\"id\":2,\"method\":\"history.list\",\"params\":{\"limit\":10}}\n")
        .unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let r: Value = serde_json::from_str(&line).unwrap();
    let ids: Vec<&str> = r["result"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newer", "older"], "{r}");
    drop(stdin);
    wait_timeout(&mut child, Duration::from_secs(20));
}
