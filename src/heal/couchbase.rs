//! autoheal for Couchbase, over its REST API: build the indexes left unbuilt (deferred or
//! `Created`), raise bucket replicas to the profile's minimum, and rebalance (after a replica
//! change, or when the cluster waits for one). The plan is pure (findings and the probes'
//! answers in, actions out); [`apply`] is the one call each action makes, a form POST sent by
//! the agent the application probes ran from, since Couchbase may answer only on that node.
//!
//! The requests follow Couchbase's REST documentation (sources in
//! tests/fixtures/couchbase/README.md): `POST /query/service` `statement=BUILD INDEX ...` on the
//! query service, `POST /pools/default/buckets/NAME` `replicaNumber=N` and
//! `POST /controller/rebalance` `knownNodes=...&ejectedNodes=` on the cluster manager.

use super::{Action, Manual, Plan, Remedy};
use crate::checks::app::CLUSTER;
use crate::checks::collect::NodeObs;
use crate::checks::couchbase::{self as cb, Config, Member};
use crate::checks::Finding;
use crate::profile::Profile;
use crate::report::Status;
use crate::rpc::AgentConn;
use pfproto::action::{ActionMeta, HttpPost, HttpPostParams};
use pfproto::method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Lines of the operations reference each recipe follows.
const REF_INDEXES: &str = "L6455-6466, L9579-9604, L1677-1690";
const REF_REPLICAS: &str = "L7559-7563, L1983, L5280";
const REF_FAILED_OVER: &str = "L7760-7890, L9606-9617";
/// How much of an answer's body the report keeps (a query's errors, a refusal's reason).
const ANSWER_BYTES: usize = 16 * 1024;
/// Slack over the request's own timeout before the controller stops waiting for the agent.
const SLACK: Duration = Duration::from_secs(3);

pub fn plan(
    p: &mut Plan,
    failing: &[&Finding],
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
) {
    let Some(cfg) = &profile.couchbase else {
        return;
    };
    let Some(app) = nodes.values().find_map(|o| o.app.as_ref()) else {
        return;
    };
    let Some(obs) = &app.couchbase else { return };
    let find = |id: &str| {
        failing
            .iter()
            .copied()
            .find(|f| f.id == id && f.node == CLUSTER)
    };
    let via = app.node.as_str();
    if let Some(f) = find("couchbase.indexes") {
        indexes(p, f, via, cfg);
    }
    let raised = find("couchbase.replicas").map_or(Vec::new(), |f| replicas(p, f, via, obs, cfg));
    let waiting = find("couchbase.rebalance");
    let running = waiting.is_some_and(|f| f.status == Status::Warn);
    let needed = waiting.filter(|f| f.status == Status::Fail);
    if running && !raised.is_empty() {
        p.deferred.push(Manual {
            check: "couchbase.rebalance".into(),
            node: CLUSTER.into(),
            problem: waiting.map(|f| f.message.clone()).unwrap_or_default(),
            recipe: format!(
                "a rebalance is running, so none is started now; once it is done, run autoheal \
                 again to rebalance the new replica count of {} in",
                raised.join(", ")
            ),
            reference: REF_REPLICAS.into(),
        });
    } else if needed.is_some() || !raised.is_empty() {
        let why = match needed {
            Some(f) => format!("couchbase.rebalance: {}", f.message),
            None => format!(
                "couchbase.replicas: the replica count of bucket {} changes; Couchbase creates the replicas in a rebalance",
                raised.join(", bucket ")
            ),
        };
        rebalance(
            p,
            why,
            needed.is_some(),
            find("couchbase.nodes"),
            via,
            obs,
            cfg,
        );
    }
}

/// An action checked on `cluster`, whose request goes through `via`'s agent; the password is
/// looked up when it is sent.
fn action(
    via: &str,
    check: &'static str,
    url: String,
    form: Vec<(String, String)>,
    cfg: &Config,
) -> Action {
    Action {
        id: String::new(),
        node: via.to_string(),
        what: String::new(),
        reason: String::new(),
        disruptive: false,
        effect: String::new(),
        check,
        check_node: CLUSTER.into(),
        subject: String::new(),
        remedy: Remedy::CouchbasePost {
            url,
            form,
            cfg: cfg.clone(),
        },
    }
}

/// One `BUILD INDEX` per keyspace for the indexes that exist but are not built; a recipe for
/// the ones that do not exist at all (their definitions are PowerFlow's, not Couchbase's).
fn indexes(p: &mut Plan, f: &Finding, via: &str, cfg: &Config) {
    let mut by_keyspace: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for u in f.evidence["unbuilt"].as_array().into_iter().flatten() {
        let (Some(ks), Some(name)) = (u["keyspace"].as_str(), u["index"].as_str()) else {
            continue;
        };
        let e = by_keyspace.entry(ks.to_string()).or_default();
        e.0.insert(name.to_string());
        e.1.insert(u["node"].as_str().unwrap_or("?").to_string());
    }
    let url = format!("{}/query/service", cfg.query_base());
    for (ks, (names, on)) in &by_keyspace {
        let list: Vec<String> = names.iter().map(|n| cb::n1ql_name(n)).collect();
        let statement = format!("BUILD INDEX ON {ks}({})", list.join(","));
        let form = vec![("statement".into(), statement.clone())];
        p.actions.push(Action {
            what: format!("{statement} (POST {url})"),
            reason: format!("couchbase.indexes: {}", f.message),
            effect: format!(
                "{} build on {} (status Building, then Ready); queries that need them work once they are ready",
                names.iter().cloned().collect::<Vec<_>>().join(", "),
                on.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            subject: format!("BUILD INDEX ON {ks}("),
            ..action(via, "couchbase.indexes", url.clone(), form, cfg)
        });
    }
    let missing: Vec<String> = f.evidence["missing"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(node, names)| {
            let names: Vec<&str> = names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("{node}: {}", names.join(", "))
        })
        .collect();
    if !missing.is_empty() {
        let hosts: Vec<&str> = missing
            .iter()
            .filter_map(|m| m.split(": ").next())
            .collect();
        p.manual.push(Manual {
            check: "couchbase.indexes".into(),
            node: CLUSTER.into(),
            problem: format!(
                "indexes missing, not merely unbuilt: {}",
                missing.join("; ")
            ),
            recipe: format!(
                "autoheal has no definition to build them from: exec into the couchbase container \
                 on {} and run `initialize_couchbase -s` (it recreates every PowerFlow index on \
                 that node), then run the healthcheck again",
                hosts.join(", ")
            ),
            reference: REF_INDEXES.into(),
        });
    }
}

/// A replica change per bucket below the profile's minimum; the buckets changed, for the
/// rebalance that must follow.
fn replicas(p: &mut Plan, f: &Finding, via: &str, obs: &cb::Obs, cfg: &Config) -> Vec<String> {
    let have = &f.evidence["buckets"];
    let data_nodes = f.evidence["data_nodes"].as_u64();
    let mut raised = Vec::new();
    let mut cannot = Vec::new();
    for want in &cfg.buckets {
        let now = match have.get(&want.name) {
            None => {
                cannot.push(format!(
                    "bucket {} does not exist: create it (Buckets > Add Bucket) with {} replica(s); \
                     autoheal does not create buckets, their memory quota is a sizing decision",
                    want.name, want.replicas
                ));
                continue;
            }
            Some(Value::Null) => {
                cannot.push(format!(
                    "bucket {} keeps no replicas (a memcached bucket): recreate it as a Couchbase bucket",
                    want.name
                ));
                continue;
            }
            Some(v) => v.as_u64().unwrap_or(0),
        };
        if now >= want.replicas {
            continue;
        }
        if let Some(n) = data_nodes.filter(|n| want.replicas + 1 > *n) {
            cannot.push(format!(
                "bucket {} needs {} data nodes for {} replica(s), the cluster has {n}: add nodes first",
                want.name,
                want.replicas + 1,
                want.replicas
            ));
            continue;
        }
        let url = format!(
            "{}/pools/default/buckets/{}",
            obs.url,
            path_segment(&want.name)
        );
        p.actions.push(Action {
            what: format!(
                "set bucket {} replicas to {} (now {now}): POST {url} replicaNumber={}",
                want.name, want.replicas, want.replicas
            ),
            reason: format!("couchbase.replicas: {}", f.message),
            effect: "Couchbase records the new replica count; the rebalance planned after it creates the replicas".into(),
            subject: format!("bucket {} has", want.name),
            ..action(
                via,
                "couchbase.replicas",
                url.clone(),
                vec![("replicaNumber".into(), want.replicas.to_string())],
                cfg,
            )
        });
        raised.push(want.name.clone());
    }
    if !cannot.is_empty() {
        p.manual.push(Manual {
            check: "couchbase.replicas".into(),
            node: CLUSTER.into(),
            problem: f.message.clone(),
            recipe: cannot.join("; "),
            reference: REF_REPLICAS.into(),
        });
    }
    raised
}

fn rebalance(
    p: &mut Plan,
    why: String,
    asked: bool,
    nodes_finding: Option<&Finding>,
    via: &str,
    obs: &cb::Obs,
    cfg: &Config,
) {
    let refuse = |p: &mut Plan, problem: String, recipe: String, reference: &str| {
        p.manual.push(Manual {
            check: "couchbase.rebalance".into(),
            node: CLUSTER.into(),
            problem,
            recipe,
            reference: reference.into(),
        })
    };
    let members = match cb::members(obs) {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => {
            return refuse(
                p,
                why,
                "/pools/default lists no nodes: rebalance from the Couchbase UI (Servers > Rebalance)".into(),
                REF_REPLICAS,
            )
        }
        Err(e) => {
            return refuse(
                p,
                why,
                format!("no rebalance without the cluster's node list ({e}): rebalance from the Couchbase UI (Servers > Rebalance)"),
                REF_REPLICAS,
            )
        }
    };
    let failed: Vec<&Member> = members
        .iter()
        .filter(|m| m.membership == "inactiveFailed")
        .collect();
    if !failed.is_empty() {
        let hosts: Vec<&str> = failed.iter().map(|m| m.hostname.as_str()).collect();
        return refuse(
            p,
            why,
            format!(
                "{} failed over: a rebalance now would remove {} from the cluster for good. Add each back \
                 first (Servers > Add Back, delta or full recovery) or decide to remove it, then rebalance",
                hosts.join(", "),
                if hosts.len() == 1 { "it" } else { "them" }
            ),
            REF_FAILED_OVER,
        );
    }
    let known: Vec<&str> = members.iter().map(|m| m.otp_node.as_str()).collect();
    let url = format!("{}/controller/rebalance", obs.url);
    let adding: Vec<&str> = members
        .iter()
        .filter(|m| m.membership == "inactiveAdded")
        .map(|m| m.hostname.as_str())
        .collect();
    p.actions.push(Action {
        what: format!(
            "rebalance the Couchbase cluster over {} node(s) ({}): POST {url} knownNodes={}&ejectedNodes=",
            known.len(),
            known.join(", "),
            known.join(",")
        ),
        reason: why,
        effect: "Couchbase moves data, replicas and indexes across the nodes while it keeps serving; \
                 the healthcheck after shows the rebalance done or still running"
            .into(),
        // A rebalance that started and still runs no longer reads "rebalance needed".
        subject: if asked { "rebalance needed".into() } else { String::new() },
        disruptive: true,
        ..action(
            via,
            "couchbase.rebalance",
            url.clone(),
            vec![
                ("knownNodes".into(), known.join(",")),
                ("ejectedNodes".into(), String::new()),
            ],
            cfg,
        )
    });
    // A node added but not rebalanced in is the nodes check's only complaint: the rebalance
    // answers it too.
    if let Some(f) = nodes_finding.filter(|f| only_waits_for_rebalance(f, &adding, cfg)) {
        p.deferred.push(Manual {
            check: f.id.to_string(),
            node: f.node.clone(),
            problem: f.message.clone(),
            recipe: format!(
                "expected to clear once the rebalance has taken {} in; run autoheal again if it does not",
                adding.join(", ")
            ),
            reference: String::new(),
        });
    }
}

/// Every node the nodes check counts is active and healthy or waits to be rebalanced in, and
/// with those the cluster has its expected size.
fn only_waits_for_rebalance(f: &Finding, adding: &[&str], cfg: &Config) -> bool {
    let listed = f.evidence["nodes"].as_array().cloned().unwrap_or_default();
    let serving = f.evidence["serving"].as_array().map_or(0, Vec::len);
    !adding.is_empty()
        && listed.iter().all(|n| {
            let host = n["hostname"].as_str().unwrap_or("");
            (n["clusterMembership"] == "active" && n["status"] == "healthy")
                || adding.contains(&host)
        })
        && (serving + adding.len()) as u64 >= cfg.expected_nodes
}

/// A bucket name in a URL path (names allow `%`, `.`, `-`, `_` and alphanumerics).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends one planned request through `conn`'s agent (which audits it). `Ok`: what was sent
/// (without the credentials) and the answer; `Err` names the endpoint and what went wrong.
pub async fn apply(
    conn: &AgentConn,
    meta: ActionMeta,
    url: &str,
    form: &[(String, String)],
    cfg: &Config,
) -> Result<Value, String> {
    let auth = cb::credentials(cfg).map_err(|e| {
        format!(
            "POST {url}: no Couchbase credentials to send ({e}); set password_env or password \
             under [clusters.NAME.overrides.couchbase]"
        )
    })?;
    let secret = auth.password.clone();
    let params = HttpPostParams {
        meta,
        url: url.to_string(),
        form: form.to_vec(),
        auth: Some(auth),
        timeout_ms: cfg.timeout_ms,
        max_body_bytes: Some(ANSWER_BYTES),
    };
    let params = serde_json::to_value(params).map_err(|e| e.to_string())?;
    let wait = Duration::from_millis(cfg.timeout_ms) + SLACK;
    let r: HttpPost = match tokio::time::timeout(wait, conn.call(method::HTTP_POST, params)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(hide(&format!("POST {url}: {e}"), &secret)),
        Err(_) => {
            return Err(format!(
                "POST {url}: the agent did not answer within {} s",
                wait.as_secs()
            ))
        }
    };
    judge(url, form, r, &secret)
}

/// 2xx is done, except a query whose answer says it failed; anything else is an error naming
/// the endpoint and the status.
fn judge(url: &str, form: &[(String, String)], r: HttpPost, secret: &str) -> Result<Value, String> {
    let body = hide(&r.body_snippet, secret);
    let status = match (r.status, &r.error) {
        (Some(s), None) => s,
        (Some(s), Some(e)) => return Err(hide(&format!("POST {url}: HTTP {s}, then {e}"), secret)),
        (None, e) => {
            return Err(hide(
                &format!("POST {url}: no answer: {}", e.as_deref().unwrap_or("none")),
                secret,
            ))
        }
    };
    let shown: String = body.chars().take(300).collect();
    if !(200..300).contains(&status) {
        let shown = if shown.trim().is_empty() {
            "(empty body)".to_string()
        } else {
            shown
        };
        return Err(format!("POST {url}: HTTP {status}: {shown}"));
    }
    // The query service answers 200 with `"status": "errors"` for some refusals.
    if let Ok(v) = serde_json::from_str::<Value>(&body) {
        if let Some(s) = v["status"].as_str().filter(|s| *s != "success") {
            return Err(format!(
                "POST {url}: HTTP {status} but the query {s}: {}",
                v["errors"]
            ));
        }
    }
    Ok(json!({
        "request": { "method": "POST", "url": url, "form": form },
        "status": status,
        "body": shown,
    }))
}

fn hide(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::app::AppObs;
    use pfproto::probe::HttpGet;

    use crate::checks::couchbase::fixture;

    fn ok(body: &str) -> Result<HttpGet, String> {
        Ok(HttpGet {
            status: Some(200),
            body_snippet: body.to_string(),
            ..Default::default()
        })
    }

    fn profile() -> Profile {
        let mut p = crate::profile::load("powerflow", None).unwrap();
        let c = p.couchbase.as_mut().unwrap();
        c.password = Some("Is@dm#n:p w0rd".into());
        p
    }

    fn none<T>() -> Result<T, String> {
        Err("not collected in this test".to_string())
    }

    /// What autoheal plans from one scenario's four answers (`pools` replaced when given).
    fn planned(bodies: [&str; 4]) -> Plan {
        let profile = profile();
        let cfg = profile.couchbase.clone().unwrap();
        let obs = cb::Obs {
            url: "http://127.0.0.1:8091".into(),
            user: "isadmin".into(),
            auth_problem: None,
            pools: ok(bodies[0]),
            buckets: ok(bodies[1]),
            indexes: ok(bodies[2]),
            tasks: ok(bodies[3]),
        };
        let findings = cb::analyze(&obs, &cfg);
        let node = NodeObs {
            route: None,
            agent_version: None,
            facts: none(),
            clock: None,
            files: none(),
            containers: none(),
            swarm: None,
            net: none(),
            http: Vec::new(),
            history: none(),
            exec: Vec::new(),
            app: Some(AppObs {
                node: "node2".into(),
                compose: None,
                dex: None,
                tls: None,
                rabbitmq: None,
                couchbase: Some(obs),
            }),
            timings: BTreeMap::new(),
        };
        let nodes: BTreeMap<String, &NodeObs> = [("node2".to_string(), &node)].into();
        let failing: Vec<&Finding> = findings
            .iter()
            .filter(|f| !matches!(f.status, Status::Ok | Status::Skip))
            .collect();
        let mut p = Plan::default();
        plan(&mut p, &failing, &nodes, &profile);
        p
    }

    fn form(a: &Action) -> (&str, &[(String, String)]) {
        match &a.remedy {
            Remedy::CouchbasePost { url, form, .. } => (url.as_str(), form.as_slice()),
            r => panic!("not a Couchbase action: {r:?}"),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unbuilt_indexes_are_built_per_bucket_and_missing_ones_get_a_recipe() {
        let p = planned([
            fixture!("healthy", "pools_default.json"),
            fixture!("healthy", "buckets.json"),
            fixture!("index-created", "index_status.json"),
            fixture!("healthy", "tasks.json"),
        ]);
        assert_eq!(p.actions.len(), 1, "{p:#?}");
        let a = &p.actions[0];
        assert_eq!((a.node.as_str(), a.check), ("node2", "couchbase.indexes"));
        assert!(!a.disruptive);
        let (url, f) = form(a);
        assert_eq!(url, "http://127.0.0.1:8093/query/service");
        assert_eq!(
            f,
            pairs(&[(
                "statement",
                "BUILD INDEX ON `content`(`idx_casbin`,`idx_content_report_id_fb6ae58a_36fa_4453_842b_1c4d0e6f3a21`)"
            )])
        );
        assert!(p.manual.is_empty(), "{:?}", p.manual);

        // one more bucket unbuilt, and an index missing on a node altogether
        let mut v: Value =
            serde_json::from_str(fixture!("index-created", "index_status.json")).unwrap();
        let list = v["indexes"].as_array_mut().unwrap();
        for x in list.iter_mut() {
            if x["indexName"]
                .as_str()
                .unwrap()
                .starts_with("idx_logs_log_meta_id_v01")
                && x["hosts"][0] == "couchbase.isnet:8091"
            {
                x["status"] = json!("Created");
                x["progress"] = json!(0);
            }
        }
        list.retain(|x| {
            !(x["indexName"]
                .as_str()
                .unwrap()
                .starts_with("idx_content_configuration")
                && x["hosts"][0] == "couchbase-worker.isnet:8091")
        });
        let p = planned([
            fixture!("healthy", "pools_default.json"),
            fixture!("healthy", "buckets.json"),
            &v.to_string(),
            fixture!("healthy", "tasks.json"),
        ]);
        let statements: Vec<&str> = p.actions.iter().map(|a| form(a).1[0].1.as_str()).collect();
        assert_eq!(statements.len(), 2, "{statements:?}");
        assert!(statements[0].starts_with("BUILD INDEX ON `content`("));
        assert_eq!(
            statements[1],
            "BUILD INDEX ON `logs`(`idx_logs_log_meta_id_v01_fb6ae58a_36fa_4453_842b_1c4d0e6f3a21`)"
        );
        assert_eq!(p.manual.len(), 1);
        let m = &p.manual[0];
        assert!(
            m.problem
                .contains("couchbase-worker.isnet:8091: idx_content_configuration"),
            "{m:?}"
        );
        assert!(m.recipe.contains("initialize_couchbase -s"), "{m:?}");
        assert_eq!(m.reference, REF_INDEXES);
    }

    #[test]
    fn a_missing_replica_is_set_and_then_rebalanced_over_every_node() {
        let p = planned([
            fixture!("missing-replica", "pools_default.json"),
            fixture!("missing-replica", "buckets.json"),
            fixture!("missing-replica", "index_status.json"),
            fixture!("missing-replica", "tasks.json"),
        ]);
        assert_eq!(p.actions.len(), 2, "{p:#?}");
        let (url, f) = form(&p.actions[0]);
        assert_eq!(url, "http://127.0.0.1:8091/pools/default/buckets/content");
        assert_eq!(f, pairs(&[("replicaNumber", "1")]));
        assert_eq!(p.actions[0].check, "couchbase.replicas");
        assert!(!p.actions[0].disruptive);
        let r = &p.actions[1];
        assert_eq!(r.check, "couchbase.rebalance");
        assert!(r.disruptive, "a rebalance runs one at a time");
        assert_eq!(r.subject, "", "fixed only when the rebalance check passes");
        let (url, f) = form(r);
        assert_eq!(url, "http://127.0.0.1:8091/controller/rebalance");
        assert_eq!(
            f,
            pairs(&[
                (
                    "knownNodes",
                    "ns_1@couchbase.isnet,ns_1@couchbase-worker.isnet,ns_1@couchbase-worker2.isnet"
                ),
                ("ejectedNodes", "")
            ])
        );
        assert!(r.reason.contains("bucket content"), "{}", r.reason);
    }

    #[test]
    fn a_node_waiting_to_be_rebalanced_in_is_rebalanced_and_its_nodes_finding_waits() {
        let p = planned([
            fixture!("rebalance-needed", "pools_default.json"),
            fixture!("rebalance-needed", "buckets.json"),
            fixture!("rebalance-needed", "index_status.json"),
            fixture!("rebalance-needed", "tasks.json"),
        ]);
        assert_eq!(p.actions.len(), 1, "{p:#?}");
        let (_, f) = form(&p.actions[0]);
        assert!(f[0].1.contains("ns_1@couchbase-worker2.isnet"), "{f:?}");
        assert_eq!(p.actions[0].subject, "rebalance needed");
        assert_eq!(p.deferred.len(), 1);
        assert_eq!(p.deferred[0].check, "couchbase.nodes");
        assert!(p.deferred[0]
            .recipe
            .contains("couchbase-worker2.isnet:8091"));
    }

    #[test]
    fn no_rebalance_that_would_eject_a_failed_over_node() {
        let mut v: Value =
            serde_json::from_str(fixture!("rebalance-needed", "pools_default.json")).unwrap();
        v["nodes"][2]["clusterMembership"] = json!("inactiveFailed");
        let p = planned([
            &v.to_string(),
            fixture!("rebalance-needed", "buckets.json"),
            fixture!("rebalance-needed", "index_status.json"),
            fixture!("rebalance-needed", "tasks.json"),
        ]);
        assert!(p.actions.is_empty(), "{p:#?}");
        let m = p
            .manual
            .iter()
            .find(|m| m.check == "couchbase.rebalance")
            .unwrap();
        assert!(
            m.recipe
                .contains("couchbase-worker2.isnet:8091 failed over"),
            "{m:?}"
        );
        assert_eq!(m.reference, REF_FAILED_OVER);
    }

    #[test]
    fn replicas_that_cannot_be_placed_or_a_running_rebalance_start_nothing_disruptive() {
        let mut pools: Value =
            serde_json::from_str(fixture!("missing-replica", "pools_default.json")).unwrap();
        pools["rebalanceStatus"] = json!("running");
        let p = planned([
            &pools.to_string(),
            fixture!("missing-replica", "buckets.json"),
            fixture!("missing-replica", "index_status.json"),
            fixture!("missing-replica", "tasks.json"),
        ]);
        assert_eq!(p.actions.len(), 1, "only the replica change: {p:#?}");
        assert!(!p.actions[0].disruptive);
        assert!(p.deferred[0].recipe.contains("a rebalance is running"));

        let mut one_node = pools.clone();
        one_node["rebalanceStatus"] = json!("none");
        one_node["nodes"].as_array_mut().unwrap().truncate(1);
        let p = planned([
            &one_node.to_string(),
            fixture!("missing-replica", "buckets.json"),
            fixture!("missing-replica", "index_status.json"),
            fixture!("missing-replica", "tasks.json"),
        ]);
        assert!(
            !p.actions.iter().any(|a| a.check == "couchbase.replicas"),
            "{p:#?}"
        );
        let m = p
            .manual
            .iter()
            .find(|m| m.check == "couchbase.replicas")
            .unwrap();
        assert!(m.recipe.contains("needs 2 data nodes"), "{m:?}");
    }

    #[test]
    fn the_query_service_defaults_to_port_8093_on_the_cluster_managers_host() {
        let mut c = profile().couchbase.unwrap();
        assert_eq!(c.query_base(), "http://127.0.0.1:8093");
        c.url = "http://[fd00::5]:8091/".into();
        assert_eq!(c.query_base(), "http://[fd00::5]:8093");
        c.url = "http://couchbase.isnet".into();
        assert_eq!(c.query_base(), "http://couchbase.isnet:8093");
        c.query_url = Some("http://10.0.0.9:18093/".into());
        assert_eq!(c.query_base(), "http://10.0.0.9:18093");
        assert_eq!(path_segment("my bucket%"), "my%20bucket%25");
        assert_eq!(cb::n1ql_name("a`b"), "`a``b`");
    }

    #[test]
    fn answers_are_judged_by_status_and_the_query_status_without_the_password() {
        let url = "http://h:8093/query/service";
        let f = pairs(&[("statement", "BUILD INDEX ON `content`(`i`)")]);
        let answer = |status: Option<u16>, body: &str, error: Option<&str>| HttpPost {
            status,
            body_snippet: body.into(),
            error: error.map(str::to_string),
            ..Default::default()
        };
        let done = judge(
            url,
            &f,
            answer(Some(200), r#"{"status":"success"}"#, None),
            "pw",
        )
        .unwrap();
        assert_eq!(done["status"], 200);
        assert_eq!(
            done["request"]["form"][0][1],
            "BUILD INDEX ON `content`(`i`)"
        );
        let e = judge(url, &f, answer(Some(500), "boom pw", None), "pw").unwrap_err();
        assert_eq!(e, format!("POST {url}: HTTP 500: boom <redacted>"));
        let e = judge(
            url,
            &f,
            answer(
                Some(200),
                r#"{"status":"errors","errors":[{"code":12003}]}"#,
                None,
            ),
            "pw",
        )
        .unwrap_err();
        assert!(e.contains("the query errors") && e.contains("12003"), "{e}");
        let e = judge(url, &f, answer(None, "", Some("refused")), "pw").unwrap_err();
        assert_eq!(e, format!("POST {url}: no answer: refused"));
    }
}
