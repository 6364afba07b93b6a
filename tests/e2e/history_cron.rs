//! Healthcheck history on the agents, "what changed since the last pass", `--history`, `--cron`
//! and `--notify`, on the real test cluster. These tests break nothing on the nodes (problems are
//! made with threshold overrides), but they all read and write the nodes' shared history, so
//! they take turns among themselves and re-try a step when another test's run slipped in between.

use crate::common::*;
use fs4::fs_std::FileExt;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static TURN: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// An inventory whose disk threshold every node exceeds: a problem that disturbs nothing.
const DISK_WARN: &str = "disk_used_pct_warn = 1\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn hc_cmd(home: &Path, inv: &Path, args: &[&str]) -> std::process::Command {
    let mut c = pfctl_cmd(home);
    c.arg("--inventory")
        .arg(inv)
        .arg("healthcheck")
        .args(args)
        .env("PFCTL_STATE_DIR", home.join("state"));
    c
}

fn hc(home: &Path, inv: &Path, args: &[&str]) -> Run {
    run(&mut hc_cmd(home, inv, args))
}

fn names(changes: &Value, which: &str) -> Vec<String> {
    changes[which]
        .as_array()
        .unwrap_or_else(|| panic!("no changes.{which} in {changes}"))
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["check"].as_str().unwrap(),
                c["node"].as_str().unwrap()
            )
        })
        .collect()
}

fn disk_on_every_node() -> Vec<String> {
    NODES.iter().map(|n| format!("node.disk {n}")).collect()
}

fn has_all(list: &[String], want: &[String]) -> bool {
    want.iter().all(|w| list.contains(w))
}

#[test]
fn history_lists_runs_newest_first_and_every_node_keeps_them() {
    let _l = shared();
    let _t = take_turn();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let first = hc(home.path(), &inv, &["-o", "json"]);
    let second = hc(home.path(), &inv, &["-o", "json"]);
    let id = |r: &Run| {
        r.json()["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no run_id: {r:?}"))
            .to_string()
    };
    let (id1, id2) = (id(&first), id(&second));
    assert_ne!(id1, id2);

    let h = hc(home.path(), &inv, &["--history", "-o", "json"]);
    assert_eq!(h.code, 0, "{h:?}");
    let doc = h.json();
    assert_eq!(doc["schema"], "pfctl/v1");
    let runs = doc["runs"].as_array().unwrap();
    let pos = |id: &str| {
        runs.iter()
            .position(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("run {id} not listed:\n{}", h.stdout))
    };
    assert!(pos(&id2) < pos(&id1), "newest first:\n{}", h.stdout);
    let listed = &runs[pos(&id2)];
    assert_eq!(listed["status"], second.json()["status"]);
    assert_eq!(listed["recorded_on"], serde_json::json!(NODES), "{listed}");
    assert!(listed["started"].as_str().unwrap().ends_with(" UTC"));

    // On the nodes: one file per run, holding the node's own results and the cluster's.
    for node in NODES {
        let ls = testcluster(&["exec", node, "--", "ls", "/var/lib/pfagent/history"]);
        let ls = String::from_utf8_lossy(&ls.stdout).to_string();
        for id in [&id1, &id2] {
            assert!(
                ls.contains(&format!("-{id}.json")),
                "{node} lacks {id}:\n{ls}"
            );
        }
    }
    let ls = testcluster(&["exec", "node2", "--", "ls", "/var/lib/pfagent/history"]);
    let file = String::from_utf8_lossy(&ls.stdout)
        .lines()
        .find(|l| l.ends_with(&format!("-{id2}.json")))
        .unwrap()
        .to_string();
    let cat = testcluster(&[
        "exec",
        "node2",
        "--",
        "cat",
        &format!("/var/lib/pfagent/history/{file}"),
    ]);
    let rec: Value = serde_json::from_slice(&cat.stdout).unwrap();
    assert_eq!(rec["facts"]["hostname"], "node2", "{rec}");
    let nodes: Vec<&str> = rec["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    assert!(
        nodes.contains(&"node2") && nodes.contains(&"cluster"),
        "{nodes:?}"
    );
    assert!(
        !nodes.contains(&"node1"),
        "node1's results live on node1: {nodes:?}"
    );

    // The table form, for people.
    let t = hc(home.path(), &inv, &["--history", "5", "-o", "table"]);
    assert!(
        t.stdout.contains("run id") && t.stdout.contains(&id2),
        "{t:?}"
    );
}

#[test]
fn changes_name_a_new_problem_and_then_its_resolution() {
    let _l = shared();
    let _t = take_turn();
    let (home, warn_dir) = (fresh_home(), tempfile::tempdir().unwrap());
    let clean = lab_inventory(home.path(), "");
    let warn = lab_inventory(warn_dir.path(), DISK_WARN);
    let want = disk_on_every_node();
    for attempt in 1..=3 {
        let before = hc(home.path(), &clean, &["-o", "json"]);
        let broken = hc(home.path(), &warn, &["-o", "json"]);
        let after = hc(home.path(), &clean, &["-o", "json"]);
        let (b, a) = (
            broken.json()["changes"].clone(),
            after.json()["changes"].clone(),
        );
        assert!(has_all(&names(&b, "new"), &want), "new: {b}\n{broken:?}");
        assert_eq!(broken.result("node.disk", "node2")["status"], "warn");
        if before.json()["status"] == "ok" {
            assert_eq!(b["since"]["run_id"], before.json()["run_id"], "{b}");
        }
        if !has_all(&names(&a, "resolved"), &want) && attempt < 3 {
            // Another run came between the two; the previous run is then not ours.
            continue;
        }
        assert!(
            has_all(&names(&a, "resolved"), &want),
            "resolved: {a}\n{after:?}"
        );
        assert!(
            !names(&a, "new").iter().any(|n| n.starts_with("node.disk")),
            "{a}"
        );
        assert_eq!(a["resolved"][0]["was"], "warn", "{a}");
        break;
    }
    // People read the same in the plain form.
    let plain = hc(home.path(), &warn, &["-o", "plain"]);
    let line = plain
        .stdout
        .lines()
        .find(|l| l.starts_with("Changed since the last pass"))
        .unwrap_or_else(|| panic!("{plain:?}"));
    assert!(
        line.contains("new: ") && line.contains("node.disk node2 (warn)"),
        "{line}"
    );
    hc(home.path(), &clean, &["-o", "json"]);
}

#[test]
fn cron_on_a_clean_cluster_is_silent_and_writes_last_run() {
    let _l = shared();
    let _t = take_turn();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let mut quiet = None;
    for _ in 0..3 {
        // A clean run first, so that the cron run has nothing to report as resolved.
        hc(home.path(), &inv, &["-o", "json"]);
        // No PFCTL_STATE_DIR: the state goes under ~/.local/state/pfctl.
        let r = run(pfctl_cmd(home.path())
            .arg("--inventory")
            .arg(&inv)
            .args(["healthcheck", "--cron"]));
        if r.stdout.is_empty() {
            quiet = Some(r);
            break;
        }
    }
    let r = quiet.expect("a --cron run on a clean cluster printed something three times");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    let state = home.path().join(".local/state/pfctl");
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&state), 0o700);
    let last: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("healthcheck-test/last-run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(last["status"], "ok", "{last}");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["printed"], false);
    assert_eq!(last["problems"], serde_json::json!([]));
    assert!(
        last["run_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{last}"
    );
    assert!(last["finished_unix_ms"].as_i64() >= last["started_unix_ms"].as_i64());
    assert!(state.join("healthcheck-test.lock").exists());

    // Something wrong: the cron run speaks, in plain text without colour.
    let warn_dir = tempfile::tempdir().unwrap();
    let warn = lab_inventory(warn_dir.path(), DISK_WARN);
    let r = run(pfctl_cmd(home.path())
        .arg("--inventory")
        .arg(&warn)
        .args(["healthcheck", "--cron"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("check disk node1") && r.stdout.contains("[WARN]"),
        "{r:?}"
    );
    assert!(!r.stdout.contains('\u{1b}'), "no escape sequences: {r:?}");
    let prev = state.join("healthcheck-test/last-run.json.prev");
    assert!(prev.exists(), "the previous status is kept");
    hc(home.path(), &inv, &["-o", "json"]);
}

/// Accepts one connection, reads one HTTP request, answers `status` after `delay`; sends the
/// request (head, body) on `seen` as soon as it is read.
fn answer_one(
    listener: &TcpListener,
    status: &str,
    delay: Duration,
    seen: &mpsc::Sender<(String, String)>,
) {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let _ = seen.send((head, String::from_utf8_lossy(&body).into_owned()));
    std::thread::sleep(delay);
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = s.flush();
}

/// A webhook on 127.0.0.1 answering `count` requests; the requests arrive on the receiver.
fn webhook(
    status: &'static str,
    count: usize,
    delay: Duration,
) -> (u16, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..count {
            answer_one(&listener, status, delay, &tx);
        }
    });
    (port, rx)
}

#[test]
fn cron_runs_never_overlap() {
    let _l = shared();
    let _t = take_turn();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");
    let state = home.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let lock_path = state.join("healthcheck-test.lock");

    // Held by "another run": refused at once, naming the lock and its holder.
    let held = std::fs::File::create(&lock_path).unwrap();
    FileExt::lock_exclusive(&held).unwrap();
    std::fs::write(
        &lock_path,
        "{\"pid\":4242,\"started_unix_ms\":1795300000000}\n",
    )
    .unwrap();
    let r = hc(home.path(), &inv, &["--cron"]);
    assert_eq!(r.code, 75, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains(lock_path.to_str().unwrap())
            && r.stderr.contains("pid 4242")
            && r.stderr.contains("started 2026-11-21 22:26:40 UTC")
            && r.stderr.contains("giving up"),
        "{r:?}"
    );
    assert!(
        !state.join("healthcheck-test/last-run.json").exists(),
        "the loser writes no status"
    );

    // --lock-wait: waits for the holder to finish, then runs.
    let start = Instant::now();
    let waiter = hc_cmd(home.path(), &inv, &["--cron", "--lock-wait", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(held);
    let r = finish(waiter.wait_with_output().unwrap());
    assert!(r.code != 75 && r.code >= 0, "{r:?}");
    assert!(start.elapsed() >= Duration::from_millis(1500));
    assert!(
        state.join("healthcheck-test/last-run.json").exists(),
        "{r:?}"
    );

    // Two real runs at once: the first holds the lock while its webhook is slow to answer
    // (a problem makes a cron run notify), the second gives way.
    let warn_dir = tempfile::tempdir().unwrap();
    let warn = lab_inventory(warn_dir.path(), DISK_WARN);
    let (port, seen) = webhook("200 OK", 1, Duration::from_secs(3));
    let url = format!("http://127.0.0.1:{port}/slow");
    let first = hc_cmd(home.path(), &warn, &["--cron", "--notify", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first_pid = first.id();
    seen.recv_timeout(Duration::from_secs(60))
        .expect("the first run notified");
    let second = hc(home.path(), &inv, &["--cron"]);
    assert_eq!(second.code, 75, "{second:?}");
    assert!(
        second.stderr.contains("healthcheck-test.lock")
            && second.stderr.contains(&format!("pid {first_pid}")),
        "{second:?}"
    );
    let first = finish(first.wait_with_output().unwrap());
    assert_eq!(first.code, 1, "{first:?}");
    let last: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("healthcheck-test/last-run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(last["notify"]["delivered"], true, "{last}");
    hc(home.path(), &inv, &["-o", "json"]);
}

#[test]
fn notify_posts_the_report_and_a_failing_webhook_is_not_fatal() {
    let _l = shared();
    let _t = take_turn();
    let home = fresh_home();
    let inv = lab_inventory(home.path(), "");

    let (port, seen) = webhook("200 OK", 1, Duration::ZERO);
    let url = format!("http://hook:s3cret@127.0.0.1:{port}/hook?token=t0ken");
    let r = hc(home.path(), &inv, &["-o", "json", "--notify", &url]);
    let (head, body) = seen
        .recv_timeout(Duration::from_secs(30))
        .expect("a request");
    assert!(
        head.starts_with("POST /hook?token=t0ken HTTP/1.1\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{head}");
    assert!(
        lower.contains(&format!("user-agent: pfctl/{}", env!("CARGO_PKG_VERSION"))),
        "{head}"
    );
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["schema"], "pfctl/v1");
    assert_eq!(doc["action"], "healthcheck");
    assert_eq!(doc["run_id"], r.json()["run_id"]);
    assert!(doc["results"].as_array().unwrap().len() >= 40);
    assert!(!r.stderr.contains("notify"), "delivered quietly: {r:?}");
    let code_without = hc(home.path(), &inv, &["-o", "json"]).code;
    assert_eq!(r.code, code_without, "{r:?}");

    // A webhook that fails: three attempts, one line on stderr, the exit code unchanged.
    let (port, seen) = webhook("500 Internal Server Error", 3, Duration::ZERO);
    let url = format!("http://hook:s3cret@127.0.0.1:{port}/hook?token=t0ken");
    let start = Instant::now();
    let r = hc(home.path(), &inv, &["-o", "json", "--notify", &url]);
    assert_eq!(r.code, code_without, "{r:?}");
    assert_eq!(seen.try_iter().count(), 3, "three attempts");
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "1 s and 2 s pauses"
    );
    let expected = format!("pfctl: notify http://127.0.0.1:{port}/hook: HTTP 500 Internal Server Error (after 3 attempts)");
    assert!(r.stderr.contains(&expected), "{r:?}");
    for secret in ["s3cret", "t0ken"] {
        assert!(
            !r.stderr.contains(secret) && !r.stdout.contains(secret),
            "{r:?}"
        );
    }
    r.json();

    // The URL may come from the environment, out of sight of `ps`.
    let (port, seen) = webhook("204 No Content", 1, Duration::ZERO);
    let r = run(hc_cmd(home.path(), &inv, &["-o", "json"])
        .env("PFCTL_NOTIFY_URL", format!("http://127.0.0.1:{port}/env")));
    let (head, _) = seen
        .recv_timeout(Duration::from_secs(30))
        .expect("a request");
    assert!(head.starts_with("POST /env "), "{head}");
    assert_eq!(r.code, code_without, "{r:?}");
}
