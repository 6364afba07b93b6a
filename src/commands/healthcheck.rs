//! `pfctl healthcheck`: collect from every node at once, then analyze per node and across nodes.

use crate::checks::collect::{self, NodeObs};
use crate::checks::{self, def, Finding, Scope};
use crate::cli::HealthArgs;
use crate::context::{node_report, now_unix_ms, Ctx};
use crate::fanout::{each_node_open, Node, NodeOutcome};
use crate::profile;
use crate::report::{NodeReport, Status};
use anyhow::Result;
use std::collections::BTreeMap;

/// One collection from every node and the findings made from it. Nodes stay connected (`open`)
/// so a caller can act or record through the same connections.
pub struct Evaluation {
    pub outcomes: Vec<NodeOutcome<NodeObs>>,
    pub open: Vec<Option<Node>>,
    pub findings: Vec<Finding>,
    pub nodes: Vec<NodeReport>,
}

impl Evaluation {
    /// The reachable nodes' observations by node name.
    pub fn reachable(&self) -> BTreeMap<String, &NodeObs> {
        self.outcomes
            .iter()
            .filter_map(|o| Some((o.target.name.clone(), o.result.as_ref().ok()?)))
            .collect()
    }

    /// The open agent connection of a node that answered.
    pub async fn conn(&self, node: &str) -> Option<&crate::rpc::AgentConn> {
        let (_, n) = self
            .outcomes
            .iter()
            .zip(&self.open)
            .find(|(o, _)| o.target.name == node && o.result.is_ok())?;
        n.as_ref()?.agent().await.ok().map(|(c, _)| c)
    }

    /// The open node (its SSH session) of a node that was reached, agent or not.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.outcomes
            .iter()
            .zip(&self.open)
            .find(|(o, _)| o.target.name == name)?
            .1
            .as_ref()
    }

    pub async fn close(&self) {
        for n in self.open.iter().flatten() {
            n.close().await;
        }
    }
}

/// The profile named on the command line, else the inventory's, else powerflow.
pub fn load_profile(ctx: &Ctx, name: Option<&String>) -> Result<profile::Profile> {
    let profile_name = name
        .cloned()
        .or_else(|| ctx.cluster_def().and_then(|c| c.profile.clone()))
        .unwrap_or_else(|| "powerflow".to_string());
    profile::load(
        &profile_name,
        ctx.cluster_def().and_then(|c| c.overrides.as_ref()),
    )
}

pub async fn run(ctx: &Ctx, args: &HealthArgs) -> Result<i32> {
    if let Some(limit) = args.history {
        return crate::history::list(ctx, limit).await;
    }
    let Some(cron) = crate::cron::begin(ctx, args).await? else {
        return Ok(crate::cron::EXIT_BUSY);
    };
    let profile = load_profile(ctx, args.profile.as_ref())?;
    let emitter = ctx.emitter("healthcheck");
    let Evaluation {
        outcomes,
        open,
        findings,
        nodes,
    } = evaluate(ctx, &profile, &|o| emitter.node_done(&node_report(o))).await;

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

/// The healthcheck as a gate after a change: Err naming every failing or unknown check, else
/// the number of warnings.
pub async fn gate(ctx: &Ctx, profile: &profile::Profile) -> Result<usize> {
    let ev = evaluate(ctx, profile, &|_| {}).await;
    let bad: Vec<String> = ev
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Unknown))
        .map(|f| format!("{} {} {}: {}", f.id, f.node, f.status.word(), f.message))
        .collect();
    let warns = ev
        .findings
        .iter()
        .filter(|f| f.status == Status::Warn)
        .count();
    ev.close().await;
    if !bad.is_empty() {
        anyhow::bail!("the healthcheck fails: {}", bad.join("; "));
    }
    Ok(warns)
}

/// Collects from every node at once, then analyzes per node and across nodes.
pub async fn evaluate(
    ctx: &Ctx,
    profile: &profile::Profile,
    on_node: &(dyn Fn(&NodeOutcome<NodeObs>) + Sync),
) -> Evaluation {
    let hosts: Vec<String> = ctx.targets.iter().filter_map(|t| t.host.clone()).collect();
    let app_claim = std::sync::atomic::AtomicBool::new(false);
    let (outcomes, open): (Vec<_>, Vec<_>) = each_node_open(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let peers: Vec<String> = hosts
                .iter()
                .filter(|h| Some(*h) != node.target.host.as_ref())
                .cloned()
                .collect();
            collect::collect(node, profile, &peers, &app_claim).await
        },
        on_node,
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
                findings.extend(checks::node::analyze(name, obs, profile));
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
        profile,
        now_unix,
    ));
    let app = reachable.values().find_map(|o| o.app.as_ref());
    findings.extend(checks::app::analyze(app, profile, now_unix));
    findings.extend(crate::backup::age::check(ctx, profile, now_unix).await);

    checks::cluster::availability(&mut findings, &reachable, profile);
    let mut ev = Evaluation {
        outcomes,
        open,
        findings,
        nodes,
    };
    if let Some(f) = super::license::finding(&ev, profile).await {
        ev.findings.push(f);
    }
    ev
}
