// The Couchbase server itself is not available here, so the real agents probe a fixture server answering the documented response shapes.
//! `pfctl healthcheck`'s Couchbase checks on the real test cluster: the first node's agent GETs
//! `/pools/default`, `/pools/default/buckets`, `/indexStatus` and `/pools/default/tasks` from a
//! fixture server on the bridge (tests/common/fixture_http.rs), which answers the hand-written
//! bodies of tests/fixtures/couchbase/<scenario>/ (their sources: that directory's README.md).
//! Only `couchbase.*` results are asserted: other tests may disturb other checks meanwhile.
//! `pfctl autoheal`'s Couchbase remediations send their POSTs (BUILD INDEX, replicaNumber,
//! rebalance) to the same server, which records them and, once one is accepted, answers the GETs
//! the way Couchbase would after it (`FixtureServer::start_stateful`).

use crate::common::fixture_http::{FixtureServer, Route, Seen, Transition};
use crate::common::lab::action;
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

// ---- autoheal: the documented REST requests, sent by a real agent to the fixture server ----

const FORM: &str = "application/x-www-form-urlencoded";
/// What the three requests are answered with when Couchbase accepts them: the query service's
/// documented success document, and the cluster manager's empty 200s.
const BUILD_PATH: &str = "/query/service";
const BUCKET_PATH: &str = "/pools/default/buckets/content";
const REBALANCE_PATH: &str = "/controller/rebalance";
const KNOWN_NODES: &str =
    "ns_1@couchbase.isnet,ns_1@couchbase-worker.isnet,ns_1@couchbase-worker2.isnet";

fn fixture(rel: &str) -> String {
    let path = repo().join("tests/fixtures/couchbase").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `scenario`'s four GET answers plus the three POST endpoints accepting their requests.
fn heal_routes(scenario: &str) -> Vec<Route> {
    let mut r = routes(scenario);
    r.push((
        BUILD_PATH.into(),
        200,
        fixture("requests/query_success.json"),
    ));
    r.push((BUCKET_PATH.into(), 200, String::new()));
    r.push((REBALANCE_PATH.into(), 200, String::new()));
    r
}

/// The GET answers of `scenario` for the given endpoints (`PATHS` entries by path).
fn now_like(scenario: &str, paths: &[&str]) -> Vec<Route> {
    routes(scenario)
        .into_iter()
        .filter(|(p, _, _)| paths.contains(&p.as_str()))
        .collect()
}

fn with_status(mut routes: Vec<Route>, path: &str, status: u16, body: String) -> Vec<Route> {
    for r in routes.iter_mut().filter(|r| r.0 == path) {
        r.1 = status;
        r.2 = body.clone();
    }
    routes
}

/// pfctl with the autoheal test profile (tests/fixtures/couchbase/autoheal-profile.toml: nothing
/// but Couchbase to act on) and `[couchbase]` pointing at the fixture server, the query service
/// included (Couchbase's is on 8093 of the same host; the fixture serves both).
struct Heal {
    home: tempfile::TempDir,
    inv: PathBuf,
    server: FixtureServer,
}

impl Heal {
    fn new(server: FixtureServer) -> Heal {
        let home = fresh_home();
        let auth = format!("{}\nquery_url = {}", password_line(), toml_str(&server.url));
        let inv = cb_inventory(home.path(), &server.url, &auth, 5000);
        Heal { home, inv, server }
    }

    fn pfctl(&self, args: &[&str]) -> Run {
        let profile = repo().join("tests/fixtures/couchbase/autoheal-profile.toml");
        let mut cmd = pfctl_cmd(self.home.path());
        cmd.arg("--inventory").arg(&self.inv).args(args);
        if matches!(args.first(), Some(&"healthcheck") | Some(&"autoheal")) {
            cmd.arg("--profile").arg(&profile);
        }
        let r = run(&mut cmd);
        assert!(
            !r.stdout.contains(CB_PASSWORD) && !r.stderr.contains(CB_PASSWORD),
            "the Couchbase password leaked into pfctl's output: {r:?}"
        );
        r
    }

    /// The plan, checked to hold only Couchbase actions before anything is applied for real:
    /// these tests share the cluster and must not change anything else.
    fn dry_run(&self) -> Value {
        let r = self.pfctl(&["autoheal", "--dry-run", "-o", "json"]);
        let doc = r.json();
        assert_eq!(doc["dry_run"], true, "{r:?}");
        for a in doc["plan"].as_array().unwrap() {
            assert!(
                a["check"].as_str().unwrap().starts_with("couchbase."),
                "the test cluster has something else to heal; not applying: {r:?}"
            );
        }
        assert!(
            self.server.requests("POST").is_empty(),
            "--dry-run sent a POST: {:?}",
            self.server.requests("POST")
        );
        doc
    }

    /// The dry run first (it shows `failing` failing and sends nothing), then the real run.
    fn heal(&self, failing: &[&str]) -> Run {
        let plan = self.dry_run();
        for c in failing {
            let r = plan["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["check"] == *c && r["node"] == "cluster")
                .unwrap_or_else(|| panic!("no {c} result: {plan}"));
            assert_eq!(r["status"], "fail", "{c} before autoheal: {r}");
        }
        self.pfctl(&["autoheal", "--yes", "-o", "json"])
    }

    fn posts(&self) -> Vec<Seen> {
        self.server.requests("POST")
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A POST as Couchbase documents it: the path, a form body and the configured Basic credentials.
fn assert_post(seen: &Seen, path: &str, form: &[(&str, &str)]) {
    assert_eq!(seen.method, "POST", "{seen:?}");
    assert_eq!(seen.path, path, "{seen:?}");
    assert_eq!(seen.content_type.as_deref(), Some(FORM), "{seen:?}");
    assert_eq!(seen.authorization.as_deref(), Some(CB_BASIC), "{seen:?}");
    assert_eq!(seen.form(), pairs(form), "{seen:?}");
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes (tests/fixtures/couchbase/README.md). Indexes that exist but were never built
/// (`Created`, one of them a `defer_build` index) get one `BUILD INDEX` for their bucket through
/// the query service; once the server says they are ready, the outcome is `fixed`. The dry run
/// before sends nothing.
#[test]
fn couchbase_autoheal_builds_unbuilt_indexes_with_one_statement_per_bucket() {
    let _l = shared();
    let server = FixtureServer::start_stateful(
        heal_routes("index-created"),
        vec![Transition::on_post(
            BUILD_PATH,
            now_like("healthy", &["/indexStatus"]),
        )],
    );
    let h = Heal::new(server);
    let before = h.pfctl(&["healthcheck", "-o", "json"]);
    assert_eq!(status(&before, "couchbase.indexes"), "fail", "{before:?}");

    let plan = h.dry_run();
    assert_eq!(plan["plan"].as_array().unwrap().len(), 1, "{plan}");

    let r = h.heal(&["couchbase.indexes"]);
    let (a, o) = action(&r, "couchbase.indexes");
    assert_eq!(a["disruptive"], false, "{a}");
    assert_eq!(o["result"], "fixed", "{o}\n{r:?}");
    let statement = "BUILD INDEX ON `content`(`idx_casbin`,`idx_content_report_id_fb6ae58a_36fa_4453_842b_1c4d0e6f3a21`)";
    let posts = h.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_post(&posts[0], BUILD_PATH, &[("statement", statement)]);
    // the report keeps what was sent (never the credentials) and the answer's status
    assert_eq!(o["done"]["status"], 200, "{o}");
    assert_eq!(
        o["done"]["request"]["url"],
        format!("{}{BUILD_PATH}", h.server.url)
    );
    assert_eq!(o["done"]["request"]["form"][0][1], statement, "{o}");
    assert!(!r.stdout.contains(CB_BASIC), "{r:?}");
    assert_eq!(status(&r, "couchbase.indexes"), "ok", "{r:?}");

    // the sending agent audited the request, without the credentials
    let audit = h.pfctl(&["audit", "--last", "20", "-o", "json"]);
    let run_id = r.json()["run_id"].clone();
    let entries: Vec<Value> = audit.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["run_id"] == run_id && e["method"] == "http.post")
        .cloned()
        .collect();
    assert_eq!(entries.len(), 1, "{audit:?}");
    assert_eq!(entries[0]["node"], a["node"], "{audit:?}");
    assert_eq!(
        entries[0]["target"],
        format!("POST {}{BUILD_PATH}", h.server.url)
    );
    assert_eq!(entries[0]["ok"], true);
    assert!(!audit.stdout.contains(CB_BASIC) && !audit.stdout.contains("aXNhZG1pbj"));
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes. An index missing on a node altogether has no definition to build from, so it
/// is a manual recipe (`initialize_couchbase -s`, with the reference's lines) and nothing is sent.
#[test]
fn couchbase_autoheal_leaves_a_missing_index_to_a_recipe_and_sends_nothing() {
    let _l = shared();
    let h = Heal::new(FixtureServer::start(heal_routes("missing-index")));
    let r = h.heal(&["couchbase.indexes"]);
    let doc = r.json();
    assert_eq!(doc["plan"].as_array().unwrap().len(), 0, "{r:?}");
    let m = doc["manual"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["check"] == "couchbase.indexes")
        .cloned()
        .unwrap_or_else(|| panic!("no recipe: {r:?}"));
    let recipe = m["recipe"].as_str().unwrap();
    assert!(
        recipe.contains("initialize_couchbase -s") && recipe.contains("couchbase-worker2.isnet"),
        "{m}"
    );
    assert!(
        m["reference"].as_str().unwrap().contains("L9579-9604"),
        "{m}"
    );
    assert!(h.posts().is_empty(), "{:?}", h.posts());
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes. A bucket below its replica count is raised (`replicaNumber`), which makes
/// Couchbase report `num_replicas_changed`, and a rebalance over every node follows; after both
/// the server reports the cluster healthy and both outcomes are `fixed`.
#[test]
fn couchbase_autoheal_raises_bucket_replicas_then_rebalances() {
    let _l = shared();
    let server = FixtureServer::start_stateful(
        heal_routes("missing-replica"),
        vec![
            Transition::on_post(
                BUCKET_PATH,
                [
                    now_like("healthy", &["/pools/default/buckets"]),
                    now_like("replica-changed", &["/pools/default"]),
                ]
                .concat(),
            ),
            Transition::on_post(REBALANCE_PATH, now_like("healthy", &["/pools/default"])),
        ],
    );
    let h = Heal::new(server);
    let r = h.heal(&["couchbase.replicas"]);
    let (a, o) = action(&r, "couchbase.replicas");
    assert_eq!(o["result"], "fixed", "{o}\n{r:?}");
    assert_eq!(a["disruptive"], false);
    let (rb, ro) = action(&r, "couchbase.rebalance");
    assert_eq!(rb["disruptive"], true, "{rb}");
    assert_eq!(ro["result"], "fixed", "{ro}\n{r:?}");
    let posts = h.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_post(&posts[0], BUCKET_PATH, &[("replicaNumber", "1")]);
    assert_post(
        &posts[1],
        REBALANCE_PATH,
        &[("knownNodes", KNOWN_NODES), ("ejectedNodes", "")],
    );
    for c in CHECKS {
        assert_eq!(status(&r, c), "ok", "{c}: {r:?}");
    }
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes. A node added but never rebalanced in gets a rebalance naming every node
/// (`knownNodes`, none ejected); the nodes check waits for it (deferred) and passes after it.
#[test]
fn couchbase_autoheal_rebalances_a_node_added_but_not_rebalanced_in() {
    let _l = shared();
    let server = FixtureServer::start_stateful(
        heal_routes("rebalance-needed"),
        vec![Transition::on_post(
            REBALANCE_PATH,
            now_like("healthy", &["/pools/default", "/indexStatus"]),
        )],
    );
    let h = Heal::new(server);
    let r = h.heal(&["couchbase.rebalance", "couchbase.nodes"]);
    let doc = r.json();
    assert_eq!(doc["plan"].as_array().unwrap().len(), 1, "{r:?}");
    let (_, o) = action(&r, "couchbase.rebalance");
    assert_eq!(o["result"], "fixed", "{o}\n{r:?}");
    assert!(
        doc["deferred"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["check"] == "couchbase.nodes"),
        "{r:?}"
    );
    let posts = h.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_post(
        &posts[0],
        REBALANCE_PATH,
        &[("knownNodes", KNOWN_NODES), ("ejectedNodes", "")],
    );
    assert_eq!(status(&r, "couchbase.nodes"), "ok", "{r:?}");
    assert_eq!(status(&r, "couchbase.rebalance"), "ok", "{r:?}");
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes. Each of the three requests refused with HTTP 500 (ns_server's "Unexpected
/// server error") is a `failed` action naming the endpoint and the status; a rebalance planned
/// after a refused replica change is not started.
#[test]
fn couchbase_autoheal_reports_a_refused_request_as_failed_naming_the_endpoint() {
    let _l = shared();
    for (scenario, path, check, failing) in [
        (
            "index-created",
            BUILD_PATH,
            "couchbase.indexes",
            "couchbase.indexes",
        ),
        (
            "missing-replica",
            BUCKET_PATH,
            "couchbase.replicas",
            "couchbase.replicas",
        ),
        (
            "rebalance-needed",
            REBALANCE_PATH,
            "couchbase.rebalance",
            "couchbase.rebalance",
        ),
    ] {
        let refused = with_status(
            heal_routes(scenario),
            path,
            500,
            fixture("requests/server_error.json"),
        );
        let h = Heal::new(FixtureServer::start(refused));
        let r = h.heal(&[failing]);
        let (_, o) = action(&r, check);
        assert_eq!(o["result"], "failed", "{scenario}: {o}\n{r:?}");
        let detail = o["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("POST {}{path}: HTTP 500", h.server.url)),
            "{scenario}: {detail}"
        );
        assert!(detail.contains("Unexpected server error"), "{detail}");
        let posts = h.posts();
        assert_eq!(
            posts.len(),
            1,
            "{scenario}: only the refused request: {posts:?}"
        );
        assert_eq!(posts[0].path, path);
        assert_eq!(status(&r, check), "fail", "{scenario}: {r:?}");
        assert_eq!(r.code, 2, "{r:?}");
        if check == "couchbase.replicas" {
            let (_, ro) = action(&r, "couchbase.rebalance");
            assert_eq!(ro["result"], "skipped", "{ro}");
            assert!(ro["detail"].as_str().unwrap().contains("failed"), "{ro}");
        }
    }
}

/// Couchbase is not obtainable on this machine: the fixture server answers the documented
/// response shapes. A rebalance Couchbase accepts while it still reports the cluster unbalanced
/// afterwards is `not_fixed`, with the new evidence.
#[test]
fn couchbase_autoheal_reports_a_rebalance_that_changed_nothing_as_not_fixed() {
    let _l = shared();
    let h = Heal::new(FixtureServer::start(heal_routes("rebalance-needed")));
    let r = h.heal(&["couchbase.rebalance"]);
    let (_, o) = action(&r, "couchbase.rebalance");
    assert_eq!(o["result"], "not_fixed", "{o}\n{r:?}");
    assert!(
        o["detail"].as_str().unwrap().contains("rebalance needed"),
        "{o}"
    );
    assert_eq!(o["evidence"]["balanced"], false, "{o}");
    let reasons = o["evidence"]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|x| x.as_str().unwrap().contains("couchbase-worker2.isnet:8091")),
        "{o}"
    );
    assert_eq!(h.posts().len(), 1);
}
