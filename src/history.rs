//! Healthcheck history: each run is recorded by the agents of the nodes it reached, so any
//! controller can tell what changed since the last run that passed, and list recent runs.
//!
//! A node keeps the results that concern it plus the cluster-wide ones (and those of nodes that
//! could not record the run themselves); a run's full picture is the union over the nodes.

use crate::checks::collect::NodeObs;
use crate::context::Ctx;
use crate::fanout::{each_node, Node, NodeError, NodeOutcome};
use crate::output::{utc, Format};
use crate::report::{Change, Changes, CheckResult, Report, Since, Status};
use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use pfproto::history::{HistoryList, HistoryListParams, HistoryRecord, RecordedResult};
use pfproto::method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Runs read from each node during a healthcheck: enough to find the last pass in most cases
/// without making every run read the whole history.
pub const COLLECT_LIMIT: u32 = 20;
/// How long recording a run may take per node; past it the node is named on stderr.
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

/// Warn, fail and unknown: what a person has to look at. Skips follow from other problems.
fn is_problem(status: &str) -> bool {
    matches!(status, "warn" | "fail" | "unknown")
}

/// `user@host` of the admin, recorded by the agents with every action.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
        });
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}

/// Who asks and for which run, as every agent action records it.
pub fn action_meta(run_id: &str) -> pfproto::action::ActionMeta {
    pfproto::action::ActionMeta {
        run_id: run_id.to_string(),
        actor: actor(),
    }
}

/// 12 hex digits from the kernel's random source; time and pid if that cannot be read.
pub fn new_run_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 6];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if random.is_err() {
        let mix = (crate::context::now_unix_ms() as u64) ^ (u64::from(std::process::id()) << 40);
        b.copy_from_slice(&mix.to_be_bytes()[2..]);
    }
    pfproto::hex(&b)
}

fn controller_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// One list of runs from the records of many nodes: one entry per run (results united), newest
/// first.
pub fn merge(lists: impl IntoIterator<Item = Vec<HistoryRecord>>) -> Vec<MergedRun> {
    let mut runs: HashMap<String, MergedRun> = HashMap::new();
    for (node, records) in lists.into_iter().enumerate() {
        for r in records {
            let run = runs.entry(r.run_id.clone()).or_insert_with(|| MergedRun {
                record: HistoryRecord {
                    results: Vec::new(),
                    facts: None,
                    ..r.clone()
                },
                holders: BTreeSet::new(),
            });
            run.holders.insert(node);
            for res in r.results {
                if !run
                    .record
                    .results
                    .iter()
                    .any(|x| x.check == res.check && x.node == res.node)
                {
                    run.record.results.push(res);
                }
            }
        }
    }
    let mut out: Vec<MergedRun> = runs.into_values().collect();
    out.sort_by(|a, b| {
        (b.record.started_unix_ms, &b.record.run_id)
            .cmp(&(a.record.started_unix_ms, &a.record.run_id))
    });
    out
}

pub struct MergedRun {
    /// The run with the results of every node that held it; facts are per node and dropped.
    pub record: HistoryRecord,
    /// Indexes (in the merged lists) of the nodes that held the run.
    holders: BTreeSet<usize>,
}

impl MergedRun {
    pub fn problems(&self) -> usize {
        self.record
            .results
            .iter()
            .filter(|r| is_problem(&r.status))
            .count()
    }
}

/// `new`: problems now that were not problems in the last run that passed (or were not reported
/// then). `resolved`: problems of the previous run that are ok now.
pub fn changes(history: &[MergedRun], results: &[CheckResult]) -> Changes {
    let statuses = |r: &HistoryRecord| -> HashMap<(String, String), String> {
        r.results
            .iter()
            .map(|x| ((x.check.clone(), x.node.clone()), x.status.clone()))
            .collect()
    };
    let last_pass = history
        .iter()
        .map(|m| &m.record)
        .find(|r| r.status == Status::Ok.word());
    let then = last_pass.map(statuses).unwrap_or_default();
    let previous = history
        .first()
        .map(|m| statuses(&m.record))
        .unwrap_or_default();
    let key = |r: &CheckResult| (r.check.clone(), r.node.clone());
    let new = results
        .iter()
        .filter(|r| is_problem(r.status.word()))
        .filter(|r| !then.get(&key(r)).is_some_and(|s| is_problem(s)))
        .map(|r| Change {
            check: r.check.clone(),
            node: r.node.clone(),
            status: r.status.word().to_string(),
            was: then.get(&key(r)).cloned(),
            message: r.message.clone(),
        })
        .collect();
    let resolved = results
        .iter()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| {
            let was = previous.get(&key(r)).filter(|s| is_problem(s))?;
            Some(Change {
                check: r.check.clone(),
                node: r.node.clone(),
                status: r.status.word().to_string(),
                was: Some(was.clone()),
                message: String::new(),
            })
        })
        .collect();
    Changes {
        since: last_pass.map(|r| Since {
            run_id: r.run_id.clone(),
            started_unix_ms: r.started_unix_ms,
        }),
        new,
        resolved,
    }
}

/// The facts worth keeping beside a run: small, and what one looks at when asking "what was
/// different then" (versions, load, memory, disks, swarm role).
fn facts_summary(obs: &NodeObs) -> Option<Value> {
    let f = obs.facts.as_ref().ok()?;
    Some(json!({
        "hostname": f.hostname,
        "os": f.os.name,
        "kernel": f.os.kernel,
        "boot_id": f.os.boot_id,
        "uptime_s": f.os.uptime_s,
        "cpus": f.cpu.count,
        "load": f.cpu.load,
        "memory_total_bytes": f.memory.total_bytes,
        "memory_available_bytes": f.memory.available_bytes,
        "disks": f.disks.iter().map(|d| json!({
            "mount_point": d.mount_point,
            "total_bytes": d.total_bytes,
            "available_bytes": d.available_bytes,
        })).collect::<Vec<_>>(),
        "docker_version": f.docker.version,
        "swarm_state": f.docker.swarm.state,
        "swarm_manager": f.docker.swarm.is_manager,
        "agent_version": f.agent.version,
    }))
}

fn recorded(r: &CheckResult) -> RecordedResult {
    RecordedResult {
        check: r.check.clone(),
        node: r.node.clone(),
        status: r.status.word().to_string(),
        message: r.message.clone(),
    }
}

/// After the analysis: works out `changes` from the history the nodes sent, then records this run
/// on every node that answered, through the connection the run already has, and closes them.
/// Recording is best effort: a node that cannot record it is named on stderr.
pub async fn conclude(
    report: &mut Report,
    outcomes: &[NodeOutcome<NodeObs>],
    open: Vec<Option<Node>>,
) {
    let lists: Vec<Vec<HistoryRecord>> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .filter_map(|obs| obs.history.as_ref().ok().cloned())
        .collect();
    // No node could say what it remembers (old agents, say): what changed is unknown, not "all".
    if !lists.is_empty() {
        report.changes = Some(changes(&merge(lists), &report.results));
    }
    let run_id = new_run_id();
    report.run_id = Some(run_id.clone());

    let recorders: Vec<(&NodeOutcome<NodeObs>, &Node)> = outcomes
        .iter()
        .zip(&open)
        .filter(|(o, _)| o.result.is_ok())
        .filter_map(|(o, n)| Some((o, n.as_ref()?)))
        .collect();
    let recording: BTreeSet<&str> = recorders
        .iter()
        .map(|(o, _)| o.target.name.as_str())
        .collect();
    let controller = controller_name();
    let record_for = |o: &NodeOutcome<NodeObs>| HistoryRecord {
        run_id: run_id.clone(),
        started_unix_ms: report.started_unix_ms,
        controller: controller.clone(),
        status: report.status.word().to_string(),
        // Results of nodes that hold no record of their own travel with every other node's.
        results: report
            .results
            .iter()
            .filter(|r| r.node == o.target.name || !recording.contains(r.node.as_str()))
            .map(recorded)
            .collect(),
        facts: o.result.as_ref().ok().and_then(facts_summary),
    };
    let writes = recorders.iter().map(|(o, node)| {
        let record = record_for(o);
        async move {
            let call = async {
                let (conn, _) = node.agent().await?;
                if let Some(h) = conn
                    .hello
                    .as_ref()
                    .filter(|h| !h.capabilities.iter().any(|c| c == method::HISTORY_APPEND))
                {
                    return Err(NodeError::Agent(format!(
                        "pfagent {} keeps no history (`pfctl agent install` upgrades it)",
                        h.agent_version
                    )));
                }
                conn.call_value(
                    method::HISTORY_APPEND,
                    serde_json::to_value(&record).unwrap_or_default(),
                )
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
            };
            let r = match tokio::time::timeout(RECORD_TIMEOUT, call).await {
                Ok(r) => r.map(|_| ()),
                Err(_) => Err(NodeError::Timeout(RECORD_TIMEOUT)),
            };
            if let Err(e) = r {
                eprintln!(
                    "pfctl: warning: {}: this run was not recorded in its history: {e}",
                    o.target.name
                );
            }
        }
    });
    futures_util::future::join_all(writes).await;
    futures_util::future::join_all(open.iter().flatten().map(Node::close)).await;
}

/// `pfctl healthcheck --history [N]`: the runs the nodes remember, newest first; no checks run.
pub async fn list(ctx: &Ctx, limit: u32) -> Result<i32> {
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<HistoryList>(
                method::HISTORY_LIST,
                serde_json::to_value(HistoryListParams { limit }).unwrap_or_default(),
            )
            .await
            .map(|l| l.records)
            .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let mut code = 0;
    let mut names = Vec::new();
    let mut lists = Vec::new();
    let mut node_errors = BTreeMap::new();
    for o in outcomes {
        match o.result {
            Ok(records) => {
                names.push(o.target.name.clone());
                lists.push(records);
            }
            Err(e) => {
                eprintln!("pfctl: {}: no history: {e}", o.target.name);
                node_errors.insert(o.target.name.clone(), e.to_string());
                code = 3;
            }
        }
    }
    let mut runs = merge(lists);
    runs.truncate(limit as usize);
    print!("{}", render_list(&runs, &names, &node_errors, ctx.format));
    Ok(code)
}

fn render_list(
    runs: &[MergedRun],
    names: &[String],
    node_errors: &BTreeMap<String, String>,
    format: Format,
) -> String {
    let holders =
        |m: &MergedRun| -> Vec<&str> { m.holders.iter().map(|i| names[*i].as_str()).collect() };
    let doc = |m: &MergedRun| {
        json!({
            "run_id": m.record.run_id,
            "started_unix_ms": m.record.started_unix_ms,
            "started": utc(m.record.started_unix_ms),
            "status": m.record.status,
            "problems": m.problems(),
            "controller": m.record.controller,
            "recorded_on": holders(m),
            "results": m.record.results,
        })
    };
    match format {
        Format::Json => {
            let v = json!({
                "schema": crate::report::SCHEMA,
                "action": "healthcheck-history",
                "runs": runs.iter().map(doc).collect::<Vec<_>>(),
                "unreachable": node_errors,
            });
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        Format::Ndjson => runs.iter().map(|m| format!("{}\n", doc(m))).collect(),
        Format::Table => {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(vec!["time", "run id", "status", "problems", "controller"]);
            for m in runs {
                t.add_row(vec![
                    utc(m.record.started_unix_ms),
                    m.record.run_id.clone(),
                    m.record.status.to_uppercase(),
                    m.problems().to_string(),
                    m.record.controller.clone(),
                ]);
            }
            format!("{t}\n{} runs recorded\n", runs.len())
        }
        Format::Plain | Format::Junit => runs
            .iter()
            .map(|m| {
                format!(
                    "{}  {:<12}  {:<7}  {:>3} problems  {}\n",
                    utc(m.record.started_unix_ms),
                    m.record.run_id,
                    m.record.status.to_uppercase(),
                    m.problems(),
                    m.record.controller
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn rec(id: &str, ms: i64, status: &str, results: &[(&str, &str, &str)]) -> HistoryRecord {
        HistoryRecord {
            run_id: id.into(),
            started_unix_ms: ms,
            controller: "ctl".into(),
            status: status.into(),
            results: results
                .iter()
                .map(|(c, n, s)| RecordedResult {
                    check: c.to_string(),
                    node: n.to_string(),
                    status: s.to_string(),
                    message: String::new(),
                })
                .collect(),
            facts: None,
        }
    }

    fn now(results: &[(&str, &str, Status)]) -> Vec<CheckResult> {
        results
            .iter()
            .map(|(c, n, s)| CheckResult {
                check: c.to_string(),
                title: c.to_string(),
                node: n.to_string(),
                status: *s,
                message: "m".into(),
                evidence: Value::Null,
            })
            .collect()
    }

    fn names(c: &[Change]) -> Vec<String> {
        c.iter()
            .map(|x| format!("{} {}", x.check, x.node))
            .collect()
    }

    #[test]
    fn merge_unites_a_run_across_nodes_newest_first() {
        let n1 = vec![
            rec(
                "b",
                20,
                "warn",
                &[
                    ("node.disk", "node1", "warn"),
                    ("swarm.leader", "cluster", "ok"),
                ],
            ),
            rec("a", 10, "ok", &[("node.disk", "node1", "ok")]),
        ];
        let n2 = vec![
            rec("c", 30, "ok", &[("node.disk", "node2", "ok")]),
            rec(
                "b",
                20,
                "warn",
                &[
                    ("node.disk", "node2", "ok"),
                    ("swarm.leader", "cluster", "ok"),
                ],
            ),
        ];
        let m = merge([n1, n2]);
        let ids: Vec<&str> = m.iter().map(|r| r.record.run_id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(
            m[1].record.results.len(),
            3,
            "node1, node2 and cluster once"
        );
        assert_eq!(m[1].holders.len(), 2);
        assert_eq!(m[1].problems(), 1);
    }

    #[test]
    fn new_is_against_the_last_pass_and_resolved_against_the_previous_run() {
        let history = merge([vec![
            rec(
                "prev",
                30,
                "warn",
                &[
                    ("node.disk", "node1", "warn"),
                    ("node.cpu", "node1", "fail"),
                ],
            ),
            rec(
                "pass",
                20,
                "ok",
                &[("node.disk", "node1", "ok"), ("time.sync", "node1", "skip")],
            ),
            rec("old", 10, "fail", &[("node.memory", "node1", "fail")]),
        ]]);
        let c = changes(
            &history,
            &now(&[
                ("node.disk", "node1", Status::Ok),
                ("node.cpu", "node1", Status::Warn),
                ("node.memory", "node1", Status::Fail),
                ("time.sync", "node1", Status::Skip),
            ]),
        );
        assert_eq!(c.since.as_ref().unwrap().run_id, "pass");
        assert_eq!(names(&c.new), ["node.cpu node1", "node.memory node1"]);
        assert_eq!(c.new[0].was, None, "node.cpu was not reported in the pass");
        assert_eq!(names(&c.resolved), ["node.disk node1"]);
        assert_eq!(c.resolved[0].was.as_deref(), Some("warn"));
    }

    #[test]
    fn without_history_every_problem_is_new() {
        let c = changes(&[], &now(&[("node.disk", "node1", Status::Warn)]));
        assert_eq!(c.since, None);
        assert_eq!(names(&c.new), ["node.disk node1"]);
        assert!(c.resolved.is_empty());
        let v = serde_json::to_value(&c).unwrap();
        assert!(v["since"].is_null(), "{v}");
    }

    #[test]
    fn a_clean_run_after_a_pass_has_no_changes() {
        let history = merge([vec![rec("pass", 1, "ok", &[("node.disk", "node1", "ok")])]]);
        assert!(changes(&history, &now(&[("node.disk", "node1", Status::Ok)])).is_empty());
    }

    #[test]
    fn run_ids_are_short_hex_and_differ() {
        let (a, b) = (new_run_id(), new_run_id());
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
