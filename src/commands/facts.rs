//! `pfctl facts`: every node's facts, gathered in parallel.

use crate::context::{node_report, Ctx};
use crate::fanout::{each_node, NodeError};
use crate::report::{CheckResult, Status};
use anyhow::Result;
use pfproto::facts::NodeFacts;
use pfproto::method;
use serde_json::Value;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

pub async fn run(ctx: &Ctx, action: &str) -> Result<i32> {
    let emitter = ctx.emitter(action);
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<NodeFacts>(method::NODE_FACTS, Value::Null)
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |o| emitter.node_done(&node_report(o)),
    )
    .await;
    let mut nodes = Vec::new();
    let mut results = Vec::new();
    for o in &outcomes {
        let mut report = node_report(o);
        let (status, message) = match &o.result {
            Ok(facts) => {
                report.facts = serde_json::to_value(facts).ok();
                verdict(facts, o.route.is_some_and(|r| r.is_one_shot()))
            }
            Err(e) => (Status::Unknown, e.to_string()),
        };
        let result = CheckResult {
            check: "facts".into(),
            title: "facts".into(),
            node: o.target.name.clone(),
            status,
            message,
            evidence: Value::Null,
        };
        emitter.result(&result);
        results.push(result);
        nodes.push(report);
    }
    let report = ctx.report(action, nodes, results);
    Ok(ctx.finish(&emitter, &report))
}

/// Facts are not judged here, but two of them make the answer less than whole: no resident agent
/// (a one-shot agent answered) and an unreachable Docker Engine.
fn verdict(f: &NodeFacts, one_shot: bool) -> (Status, String) {
    let mut status = Status::Ok;
    let mut notes = Vec::new();
    if one_shot {
        status = Status::Warn;
        notes.push("resident agent not running; a one-shot pfagent answered".to_string());
    }
    let docker = if f.docker.reachable {
        let swarm = match (f.docker.swarm.state.as_str(), f.docker.swarm.is_manager) {
            ("active", true) => "swarm manager".to_string(),
            ("active", false) => "swarm worker".to_string(),
            (state, _) => format!("swarm {state}"),
        };
        format!(
            "docker {} (API {}), {} running, {swarm}",
            f.docker.version, f.docker.api_version, f.docker.containers_running
        )
    } else {
        status = Status::Warn;
        f.docker
            .error
            .clone()
            .unwrap_or_else(|| "engine unreachable".into())
    };
    let summary = format!(
        "{} {}; {} CPU load {:.2}; {:.1}/{:.1} GiB free; {docker}",
        f.hostname,
        f.os.name,
        f.cpu.count,
        f.cpu.load[0],
        f.memory.available_bytes as f64 / GIB,
        f.memory.total_bytes as f64 / GIB,
    );
    notes.insert(0, summary);
    (status, notes.join("; "))
}
