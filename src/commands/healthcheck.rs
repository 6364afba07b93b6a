//! `pfctl healthcheck`: collect from every node at once, then analyze per node and across nodes.

use crate::checks::collect::{self, NodeObs};
use crate::checks::{self, def, Finding, Scope};
use crate::cli::HealthArgs;
use crate::context::{node_report, now_unix_ms, Ctx};
use crate::fanout::each_node_open;
use crate::profile;
use crate::report::Status;
use anyhow::Result;
use std::collections::BTreeMap;

pub async fn run(ctx: &Ctx, args: &HealthArgs) -> Result<i32> {
    if let Some(limit) = args.history {
        return crate::history::list(ctx, limit).await;
    }
    let Some(cron) = crate::cron::begin(ctx, args).await? else {
        return Ok(crate::cron::EXIT_BUSY);
    };
    let profile_name = args
        .profile
        .clone()
        .or_else(|| ctx.cluster_def().and_then(|c| c.profile.clone()))
        .unwrap_or_else(|| "powerflow".to_string());
    let profile = profile::load(
        &profile_name,
        ctx.cluster_def().and_then(|c| c.overrides.as_ref()),
    )?;
    let emitter = ctx.emitter("healthcheck");
    let hosts: Vec<String> = ctx.targets.iter().filter_map(|t| t.host.clone()).collect();
    let app_claim = std::sync::atomic::AtomicBool::new(false);
    // Kept open: the run is recorded in each node's history through the same connection.
    let (outcomes, open): (Vec<_>, Vec<_>) = each_node_open(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let peers: Vec<String> = hosts
                .iter()
                .filter(|h| Some(*h) != node.target.host.as_ref())
                .cloned()
                .collect();
            collect::collect(node, &profile, &peers, &app_claim).await
        },
        |o| emitter.node_done(&node_report(o)),
    )
    .await
    .into_iter()
    .unzip();

    let mut findings: Vec<Finding> = Vec::new();
    let mut reachable: BTreeMap<String, &NodeObs> = BTreeMap::new();
    let mut unreachable = Vec::new();
    let mut nodes = Vec::new();
    for o in &outcomes {
        let name = o.target.name.as_str();
        let mut report = node_report(o);
        match &o.result {
            Ok(obs) => {
                findings.push(Finding::new(
                    "node.reachable",
                    name,
                    Status::Ok,
                    format!("reached via {}", o.route.map(|r| r.name()).unwrap_or("?")),
                ));
                findings.extend(checks::node::analyze(name, obs, &profile));
                report.timings_ms = Some(collect::timings_json(obs));
                reachable.insert(name.to_string(), obs);
            }
            Err(e) => {
                let (first, status) = if e.is_unreachable() {
                    ("node.reachable", Status::Unknown)
                } else {
                    ("agent.resident", Status::Fail)
                };
                if first == "agent.resident" {
                    findings.push(Finding::new(
                        "node.reachable",
                        name,
                        Status::Ok,
                        "SSH login works",
                    ));
                }
                findings.push(Finding::new(first, name, status, e.to_string()));
                let why = format!("skipped: {} failed on this node", def(first).title);
                for d in checks::CATALOGUE
                    .iter()
                    .filter(|d| d.scope == Scope::Node && d.stage > def(first).stage)
                {
                    let configured = d.id != "container.cmd" || !profile.exec.is_empty();
                    if d.id != "endpoint.http" && configured {
                        findings.push(Finding::new(d.id, name, Status::Skip, why.clone()));
                    }
                }
                unreachable.push(name.to_string());
            }
        }
        nodes.push(report);
    }
    let now_unix = now_unix_ms() / 1000;
    findings.extend(checks::cluster::analyze(
        &reachable,
        &unreachable,
        &profile,
        now_unix,
    ));
    let app = reachable.values().find_map(|o| o.app.as_ref());
    findings.extend(checks::app::analyze(app, &profile, now_unix));

    let fail_on_warn = args.fail_on == Some(crate::cli::FailOn::Warn);
    let mut results = Vec::new();
    for mut finding in findings {
        if fail_on_warn && finding.status == Status::Warn {
            finding.status = Status::Fail;
            finding.message.push_str(" (--fail-on warn)");
        }
        let r = finding.into_result();
        emitter.result(&r);
        results.push(r);
    }
    let mut report = ctx.report("healthcheck", nodes, results);
    crate::history::conclude(&mut report, &outcomes, open).await;
    Ok(cron.finish(ctx, args, &emitter, &report).await)
}
