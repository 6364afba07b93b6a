//! The probe methods through the real binary (`serve --stdio`): files, TCP, HTTP against servers
//! run by the test, and the engine-backed methods with no engine (a socket that does not exist).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_pfagent");

struct Stdio1 {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
    next_id: u64,
}

impl Stdio1 {
    fn start() -> Stdio1 {
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
        let mut a = Stdio1 {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            _dir: dir,
            next_id: 1,
        };
        let r = a.call(
            "hello",
            json!({"protocol": 1, "client": "pfctl probes test"}),
        );
        assert!(r["error"].is_null(), "{r}");
        a
    }

    /// The whole reply line.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut line =
            serde_json::to_vec(&json!({"id": id, "method": method, "params": params})).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).unwrap();
        let mut reply = String::new();
        let n = self.stdout.read_line(&mut reply).unwrap();
        assert!(n > 0, "agent closed stdout");
        let v: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["id"], id);
        v
    }

    /// The result, asserting there was no RPC error.
    fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r["error"].is_null(), "{method}: RPC error {r}");
        r["result"].clone()
    }
}

impl Drop for Stdio1 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hello_lists_every_probe() {
    let mut a = Stdio1::start();
    let r = a.result("hello", json!({"protocol": 1, "client": "pfctl t"}));
    let caps: Vec<&str> = r["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for m in [
        "files.stat",
        "containers.list",
        "swarm.inspect",
        "net.probe",
        "http.get",
        "container.exec",
    ] {
        assert!(caps.contains(&m), "{m} missing from {caps:?}");
    }
}

#[test]
fn files_stat_regular_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pf.conf");
    std::fs::write(&file, b"hello world\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let missing = dir.path().join("missing");
    let mut a = Stdio1::start();
    let r = a.result("files.stat", json!({"paths": [file, missing, dir.path()]}));
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);

    let f = &files[0];
    assert_eq!(f["path"], file.display().to_string());
    assert_eq!(f["exists"], true);
    assert_eq!(
        f["sha256"],
        "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
    );
    assert_eq!(f["size"], 12);
    assert_eq!(f["mode"], 0o640);
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(f["uid"], uid);
    assert_eq!(f["gid"], gid);
    assert!(!f["owner"].as_str().unwrap().is_empty());
    assert!(!f["group"].as_str().unwrap().is_empty());
    assert!(f["error"].is_null(), "{f}");

    let m = &files[1];
    assert_eq!(m["exists"], false);
    assert!(m["error"].is_null(), "a missing file is not an error: {m}");
    assert!(m["sha256"].is_null());

    let d = &files[2];
    assert_eq!(d["exists"], true);
    assert!(d["sha256"].is_null());
    assert!(d["error"].is_null(), "{d}");

    let r = a.call("files.stat", json!({"paths": "nope"}));
    assert_eq!(r["error"]["code"], "invalid_params");
}

/// A listener whose accept queue is full, so further SYNs are dropped: a local black hole.
/// (This test host's network answers connects to any outside address, so 10.255.255.1 is no
/// black hole here.)
struct Blackhole {
    fd: std::os::fd::OwnedFd,
    port: u16,
    _fillers: Vec<TcpStream>,
}

fn blackhole() -> Blackhole {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket calls on a descriptor this function owns; sizes match the structs.
    let (fd, port) = unsafe {
        let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(raw >= 0);
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(raw, &addr as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(raw, 0), 0);
        let mut len = len;
        assert_eq!(
            libc::getsockname(raw, &mut addr as *mut _ as *mut libc::sockaddr, &mut len),
            0
        );
        (fd, u16::from_be(addr.sin_port))
    };
    let mut fillers = Vec::new();
    loop {
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match TcpStream::connect_timeout(&target, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
        assert!(fillers.len() < 64, "the accept queue never filled");
    }
    Blackhole {
        fd,
        port,
        _fillers: fillers,
    }
}

#[test]
fn net_probe_open_refused_and_blackhole() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hole = blackhole();
    let mut a = Stdio1::start();
    let start = Instant::now();
    let r = a.result(
        "net.probe",
        json!({
            "targets": [
                {"host": "127.0.0.1", "port": open},
                {"host": "127.0.0.1", "port": closed},
                {"host": "127.0.0.1", "port": hole.port},
                {"host": "10.255.255.1", "port": 9},
                {"host": "no-such-host.invalid", "port": 80},
            ],
            "timeout_ms": 300,
        }),
    );
    let took = start.elapsed();
    let res = r["results"].as_array().unwrap();
    assert_eq!(res.len(), 5);
    assert_eq!(res[0]["ok"], true, "{}", res[0]);
    assert_eq!(res[0]["host"], "127.0.0.1");
    assert_eq!(res[0]["port"], open);
    assert!(res[0]["error"].is_null());

    assert_eq!(res[1]["ok"], false);
    assert_eq!(res[1]["error"], "refused");

    assert_eq!(res[2]["ok"], false, "{}", res[2]);
    assert_eq!(res[2]["error"], "timed out after 300ms");
    let ms = res[2]["ms"].as_u64().unwrap();
    assert!((290..1000).contains(&ms), "{}", res[2]);

    // Normally unroutable; whatever this host's network does, the answer comes in time.
    let e = &res[3];
    assert!(e["ms"].as_u64().unwrap() < 1000, "{e}");
    if e["ok"] == false {
        let text = e["error"].as_str().unwrap();
        assert!(
            text == "timed out after 300ms"
                || text.contains("unreachable")
                || text.contains("no route"),
            "{text}"
        );
    }

    assert_eq!(res[4]["ok"], false);
    assert!(
        res[4]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot resolve no-such-host.invalid")
            || res[4]["error"] == "timed out after 300ms",
        "{}",
        res[4]
    );

    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(hole.fd);
}

/// What the test HTTP server does with a connection.
#[derive(Clone, Copy)]
enum Behaviour {
    Answer(u16, &'static str),
    /// Reads the request and never answers (holds the connection open for a while).
    Hang,
    /// Reads the request and closes.
    Close,
}

/// Serves one connection; sends the request head it received.
fn http_server(b: Behaviour) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let head = read_head(&mut s);
        let _ = tx.send(head);
        match b {
            Behaviour::Answer(status, body) => {
                let reason = if status == 200 {
                    "OK"
                } else {
                    "Service Unavailable"
                };
                let resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).unwrap();
            }
            Behaviour::Hang => std::thread::sleep(Duration::from_secs(5)),
            Behaviour::Close => drop(s),
        }
    });
    (port, rx)
}

fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn http_get_answers_and_failures() {
    let mut a = Stdio1::start();

    let (port, rx) = http_server(Behaviour::Answer(200, "{\"status\":\"ok\"}"));
    let r = a.result(
        "http.get",
        json!({
            "url": format!("http://127.0.0.1:{port}/health?full=1"),
            "timeout_ms": 5000,
            "basic_auth": {"user": "isadmin", "password": "pf p@ss:word"},
        }),
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["body_snippet"], "{\"status\":\"ok\"}");
    assert!(r["error"].is_null(), "{r}");
    let head = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        head.starts_with("GET /health?full=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    // base64("isadmin:pf p@ss:word")
    assert!(
        head.contains("\r\nAuthorization: Basic aXNhZG1pbjpwZiBwQHNzOndvcmQ=\r\n"),
        "{head}"
    );

    let (port, rx) = http_server(Behaviour::Answer(503, "couchbase is warming up"));
    let r = a.result(
        "http.get",
        json!({"url": format!("http://127.0.0.1:{port}/"), "timeout_ms": 5000}),
    );
    assert_eq!(r["status"], 503, "{r}");
    assert_eq!(r["body_snippet"], "couchbase is warming up");
    assert!(r["error"].is_null(), "{r}");
    assert!(!rx.recv().unwrap().contains("Authorization"));

    let (port, _rx) = http_server(Behaviour::Hang);
    let start = Instant::now();
    let r = a.result(
        "http.get",
        json!({"url": format!("http://127.0.0.1:{port}/"), "timeout_ms": 400}),
    );
    assert!(r["status"].is_null(), "{r}");
    assert_eq!(r["error"], "no answer within 400ms");
    assert!(start.elapsed() < Duration::from_millis(2000));
    assert!(r["ms"].as_u64().unwrap() >= 390, "{r}");

    let (port, _rx) = http_server(Behaviour::Close);
    let r = a.result(
        "http.get",
        json!({"url": format!("http://127.0.0.1:{port}/"), "timeout_ms": 5000}),
    );
    assert!(r["status"].is_null(), "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("the server closed the connection without answering"),
        "{r}"
    );

    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = a.result(
        "http.get",
        json!({"url": format!("http://127.0.0.1:{closed}/"), "timeout_ms": 5000}),
    );
    assert_eq!(r["error"], "refused", "{r}");

    let r = a.result(
        "http.get",
        json!({"url": "https://127.0.0.1/", "timeout_ms": 5000}),
    );
    assert_eq!(r["error"], "https is not supported by the agent's probe");
}

#[test]
fn engine_probes_without_an_engine_are_answers() {
    let mut a = Stdio1::start();
    let r = a.result("containers.list", Value::Null);
    assert_eq!(r["containers"], json!([]));
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("engine unreachable"),
        "{r}"
    );

    let r = a.result("swarm.inspect", json!({}));
    assert_eq!(r["nodes"], json!([]));
    assert_eq!(r["services"], json!([]));
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("engine unreachable"),
        "{r}"
    );

    let r = a.result(
        "container.exec",
        json!({"container": "pf-couchbase", "cmd": ["true"], "timeout_ms": 2000}),
    );
    assert!(r["exit_code"].is_null());
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("engine unreachable"),
        "{r}"
    );

    let r = a.call(
        "container.exec",
        json!({"container": "x", "cmd": [], "timeout_ms": 1}),
    );
    assert_eq!(r["error"]["code"], "invalid_params");
}
