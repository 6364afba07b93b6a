// The Couchbase server itself is not available here, so the real agents probe a fixture server answering the documented response shapes.
//! `pfctl healthcheck`'s Couchbase checks on the real test cluster: the first node's agent GETs
//! `/pools/default`, `/pools/default/buckets`, `/indexStatus` and `/pools/default/tasks` from a
//! fixture server on the bridge (tests/common/fixture_http.rs), which answers the hand-written
//! bodies of tests/fixtures/couchbase/<scenario>/ (their sources: that directory's README.md).
//! Only `couchbase.*` results are asserted: other tests may disturb other checks meanwhile.

use crate::common::fixture_http::FixtureServer;
use crate::common::lab_inventory as common_inventory;
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CB_PASSWORD: &str = "Cb@s3cr#t:p w0rd";
/// base64("isadmin:" + CB_PASSWORD), as `curl -u` would send it.
const CB_BASIC: &str = "Basic aXNhZG1pbjpDYkBzM2NyI3Q6cCB3MHJk";

const PATHS: [(&str, &str); 4] = [
    ("/pools/default", "pools_default.json"),
    ("/pools/default/buckets", "buckets.json"),
    ("/indexStatus", "index_status.json"),
    ("/pools/default/tasks", "tasks.json"),
];

const CHECKS: [&str; 5] = [
    "couchbase.nodes",
    "couchbase.replicas",
    "couchbase.indexes",
    "couchbase.rebalance",
    "couchbase.primary_index",
];

/// The scenario's four bodies, each answered with 200.
fn routes(scenario: &str) -> Vec<(String, u16, String)> {
    let dir = repo().join("tests/fixtures/couchbase").join(scenario);
    PATHS
        .iter()
        .map(|(path, file)| {
            let body = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{scenario}/{file}: {e}"));
            (path.to_string(), 200, body)
        })
        .collect()
}

/// Like `lab_inventory` in healthcheck.rs: the demo profile, load thresholds out of the way, and
/// a `[couchbase]` section pointing at the fixture server (`auth` is the password line).
fn cb_inventory(dir: &Path, url: &str, auth: &str, timeout_ms: u64) -> PathBuf {
    common_inventory(
        dir,
        &format!(
            r#"
[clusters.test.overrides.couchbase]
url = "{url}"
user = "isadmin"
{auth}
expected_nodes = 3
timeout_ms = {timeout_ms}
buckets = [{{ name = "content", replicas = 1 }}, {{ name = "logs", replicas = 0, max_replicas = 1 }}]
indexes = ["idx_content_configuration", "idx_content_content_type_app", "idx_content_content_type_config",
           "idx_content_content_type_step", "idx_content_report_id", "idx_logs_log_meta_id_v01",
           "idx_logs_log_type_application_log_v02", "idx_casbin"]
"#
        ),
    )
}

fn password_line() -> String {
    format!("password = {}", toml_str(CB_PASSWORD))
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `pfctl healthcheck -o json` against the fixture server, with `env` added to pfctl's environment.
fn healthcheck(server: &FixtureServer, auth: &str, timeout_ms: u64, env: &[(&str, &str)]) -> Run {
    let home = fresh_home();
    let inv = cb_inventory(home.path(), &server.url, auth, timeout_ms);
    let mut cmd = pfctl_cmd(home.path());
    cmd.arg("--inventory")
        .arg(&inv)
        .args(["healthcheck", "-o", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run(&mut cmd);
    assert!(
        !r.stdout.contains(CB_PASSWORD) && !r.stderr.contains(CB_PASSWORD),
        "the Couchbase password leaked into pfctl's output: {r:?}"
    );
    r
}

fn status(r: &Run, check: &str) -> String {
    r.result(check, "cluster")["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn message(r: &Run, check: &str) -> String {
    r.result(check, "cluster")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Each couchbase check's status, in catalogue order.
fn statuses(r: &Run) -> Vec<(String, String)> {
    CHECKS
        .iter()
        .map(|c| (c.to_string(), status(r, c)))
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect()
}

/// The fixture server saw every endpoint, each with the configured Basic credentials.
fn assert_basic_auth_on_every_path(server: &FixtureServer) {
    let seen = server.seen.lock().unwrap().clone();
    for (path, _) in PATHS {
        let hits: Vec<_> = seen.iter().filter(|s| s.path == path).collect();
        assert!(!hits.is_empty(), "{path} never requested; seen: {seen:?}");
        for h in hits {
            assert_eq!(h.method, "GET");
            assert_eq!(h.authorization.as_deref(), Some(CB_BASIC), "{path}");
        }
    }
}

#[test]
fn couchbase_healthy_cluster_is_ok_with_basic_auth_on_every_endpoint() {
    let _l = shared();
    let server = FixtureServer::start(routes("healthy"));
    let r = healthcheck(&server, &password_line(), 5000, &[]);
    assert_eq!(
        statuses(&r),
        expect(&[
            ("couchbase.nodes", "ok"),
            ("couchbase.replicas", "ok"),
            ("couchbase.indexes", "ok"),
            ("couchbase.rebalance", "ok"),
            ("couchbase.primary_index", "ok"),
        ]),
        "{r:?}"
    );
    let nodes = message(&r, "couchbase.nodes");
    for n in [
        "couchbase.isnet:8091",
        "couchbase-worker.isnet:8091",
        "couchbase-worker2.isnet:8091",
    ] {
        assert!(nodes.contains(n), "{nodes}");
    }
    assert!(message(&r, "couchbase.indexes").contains("8 required indexes ready on all 3"));
    // evidence names the endpoints and the node the probe ran from
    let e = &r.result("couchbase.indexes", "cluster")["evidence"];
    assert_eq!(
        e["urls"][0],
        Value::String(format!("{}/indexStatus", server.url))
    );
    assert!(e["probed_from"].is_string(), "{e}");
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_missing_replica_fails_naming_the_bucket() {
    let _l = shared();
    let server = FixtureServer::start(routes("missing-replica"));
    // the password comes from the environment this time
    let r = healthcheck(
        &server,
        "password_env = \"PFCTL_TEST_CB_PASSWORD\"",
        5000,
        &[("PFCTL_TEST_CB_PASSWORD", CB_PASSWORD)],
    );
    assert_eq!(
        statuses(&r),
        expect(&[
            ("couchbase.nodes", "ok"),
            ("couchbase.replicas", "fail"),
            ("couchbase.indexes", "ok"),
            ("couchbase.rebalance", "ok"),
            ("couchbase.primary_index", "ok"),
        ]),
        "{r:?}"
    );
    let m = message(&r, "couchbase.replicas");
    assert!(
        m.contains("bucket content has 0 replica(s), needs at least 1"),
        "{m}"
    );
    assert!(!m.contains("bucket logs"), "{m}");
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_missing_index_fails_naming_node_and_index() {
    let _l = shared();
    let server = FixtureServer::start(routes("missing-index"));
    let r = healthcheck(&server, &password_line(), 5000, &[]);
    assert_eq!(
        statuses(&r),
        expect(&[
            ("couchbase.nodes", "ok"),
            ("couchbase.replicas", "ok"),
            ("couchbase.indexes", "fail"),
            ("couchbase.rebalance", "ok"),
            ("couchbase.primary_index", "ok"),
        ]),
        "{r:?}"
    );
    let m = message(&r, "couchbase.indexes");
    assert!(
        m.contains("Missing the following indexes: {couchbase-worker2.isnet:8091: [idx_casbin]}"),
        "{m}"
    );
    assert!(!m.contains("couchbase.isnet:8091"), "{m}");
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_rebalance_needed_fails_naming_the_node() {
    let _l = shared();
    let server = FixtureServer::start(routes("rebalance-needed"));
    let r = healthcheck(&server, &password_line(), 5000, &[]);
    assert_eq!(
        statuses(&r),
        expect(&[
            ("couchbase.nodes", "fail"),
            ("couchbase.replicas", "ok"),
            ("couchbase.indexes", "ok"),
            ("couchbase.rebalance", "fail"),
            ("couchbase.primary_index", "ok"),
        ]),
        "{r:?}"
    );
    let m = message(&r, "couchbase.rebalance");
    assert!(m.starts_with("rebalance needed:"), "{m}");
    assert!(
        m.contains("couchbase-worker2.isnet:8091 was added but not rebalanced in"),
        "{m}"
    );
    assert!(m.contains("buckets content, logs"), "{m}");
    let n = message(&r, "couchbase.nodes");
    assert!(
        n.starts_with("2 of 3") && n.contains("couchbase-worker2.isnet:8091"),
        "{n}"
    );
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_primary_index_fails_naming_the_bucket() {
    let _l = shared();
    let server = FixtureServer::start(routes("primary-index"));
    let r = healthcheck(&server, &password_line(), 5000, &[]);
    assert_eq!(
        statuses(&r),
        expect(&[
            ("couchbase.nodes", "ok"),
            ("couchbase.replicas", "ok"),
            ("couchbase.indexes", "ok"),
            ("couchbase.rebalance", "ok"),
            ("couchbase.primary_index", "fail"),
        ]),
        "{r:?}"
    );
    let m = message(&r, "couchbase.primary_index");
    assert!(
        m.contains("#primary on bucket content (couchbase.isnet:8091)"),
        "{m}"
    );
    assert!(m.contains("DROP PRIMARY INDEX ON `content`"), "{m}");
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_refusing_the_credentials_fails_telling_how_to_set_them() {
    let _l = shared();
    let refused = PATHS
        .iter()
        .map(|(p, _)| (p.to_string(), 401, String::new()))
        .collect();
    let server = FixtureServer::start(refused);
    let r = healthcheck(&server, "password_env = \"PFCTL_TEST_CB_UNSET\"", 5000, &[]);
    for c in CHECKS {
        assert_eq!(status(&r, c), "fail", "{c}: {r:?}");
        let m = message(&r, c);
        assert!(m.contains("HTTP 401"), "{c}: {m}");
        assert!(m.contains("set the credentials"), "{c}: {m}");
        assert!(
            m.contains("[clusters.NAME.overrides.couchbase]"),
            "{c}: {m}"
        );
        assert!(m.contains("PFCTL_TEST_CB_UNSET"), "{c}: {m}");
    }
    // no password known: the requests went out without one
    let seen = server.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|s| s.authorization.is_none()), "{seen:?}");

    // a configured but wrong password is said to be wrong
    let server = FixtureServer::start(
        PATHS
            .iter()
            .map(|(p, _)| (p.to_string(), 401, String::new()))
            .collect(),
    );
    let r = healthcheck(&server, &password_line(), 5000, &[]);
    let m = message(&r, "couchbase.nodes");
    assert_eq!(status(&r, "couchbase.nodes"), "fail");
    assert!(m.contains("the configured password is wrong"), "{m}");
    assert_basic_auth_on_every_path(&server);
}

#[test]
fn couchbase_server_that_never_answers_is_unknown_within_the_timeout() {
    let _l = shared();
    // /pools/default accepts the connection and then says nothing for far longer than the timeout
    let server = FixtureServer::start_delayed(
        routes("healthy"),
        vec![("/pools/default".to_string(), Duration::from_secs(60))],
    );
    let start = Instant::now();
    let r = healthcheck(&server, &password_line(), 1500, &[]);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "healthcheck took {took:?} with a 1.5 s Couchbase timeout: {r:?}"
    );
    for c in ["couchbase.nodes", "couchbase.rebalance"] {
        assert_eq!(status(&r, c), "unknown", "{c}: {r:?}");
        let m = message(&r, c);
        assert!(
            m.contains(&format!("GET {}/pools/default did not answer", server.url)),
            "{c}: {m}"
        );
        assert!(m.contains("1500ms"), "{c}: {m}");
    }
    // the other endpoints answered: their checks still judge
    assert_eq!(status(&r, "couchbase.replicas"), "ok", "{r:?}");
    assert_eq!(status(&r, "couchbase.indexes"), "ok", "{r:?}");
    assert_eq!(status(&r, "couchbase.primary_index"), "ok", "{r:?}");
}
