//! `pfctl haproxy-config` (the original `cluster-action --action generate_haproxy_config`): an
//! HAProxy configuration balancing the profile's frontends over the swarm's managers, each at
//! the address the swarm knows it by. The managers are asked from the swarm through the agents;
//! a cluster whose nodes are in no swarm yet gets its inventory's nodes instead, with a note.

use crate::cli::HaproxyArgs;
use crate::commands::healthcheck::load_profile;
use crate::context::Ctx;
use crate::fanout::{each_node, Node, NodeError, NodeOutcome};
use crate::haproxy::{self, Server};
use crate::inventory::Target;
use anyhow::{anyhow, Context, Result};
use pfproto::facts::NodeFacts;
use pfproto::method;
use pfproto::probe::SwarmView;
use serde_json::Value;
use std::io::Write;

/// The configuration holds no secret; haproxy often runs as its own user and must read it.
const MODE: u32 = 0o644;

pub async fn run(ctx: &Ctx, args: &HaproxyArgs) -> Result<i32> {
    let profile = load_profile(ctx, args.profile.as_ref())?;
    let cfg = profile.haproxy.as_ref().ok_or_else(|| {
        anyhow!(
            "profile {} has no [haproxy] section: add one with [[haproxy.frontends]] (name, bind, port), or use --profile powerflow",
            profile.name
        )
    })?;
    let found = find_servers(ctx).await?;
    if let Some(note) = &found.note {
        eprintln!("pfctl: note: {note}");
    }
    let text = haproxy::render(cfg, &profile.name, &found.servers, &found.source)?;
    match &args.out {
        Some(path) => {
            crate::atomic::write_keeping_prev(path, text.as_bytes(), MODE).with_context(|| {
                format!(
                    "cannot write {} (its directory must exist and be writable; nothing was changed)",
                    path.display()
                )
            })?;
            if !ctx.quiet {
                eprintln!(
                    "pfctl: wrote {} ({} managers: {}); check it with `haproxy -c -f {}`",
                    path.display(),
                    found.servers.len(),
                    names(&found.servers),
                    path.display()
                );
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .context("cannot write the configuration to stdout")?;
        }
    }
    Ok(0)
}

struct Found {
    servers: Vec<Server>,
    /// For the file's header: where the servers came from.
    source: String,
    /// For stderr: what the admin should know about that choice.
    note: Option<String>,
}

/// What one node's agent said about the swarm.
enum Answer {
    /// A manager's view of the swarm.
    View(SwarmView),
    /// Not a manager; its engine's swarm state (`inactive`, `active` for a worker, `locked`, ...).
    NotManager(String),
}

async fn find_servers(ctx: &Ctx) -> Result<Found> {
    let outcomes = each_node(&ctx.targets, &ctx.fanout, ask, |_| {}).await;
    let answering = outcomes.iter().find_map(|o| match &o.result {
        Ok(Answer::View(v)) => Some((o, v)),
        _ => None,
    });
    if let Some((o, view)) = answering {
        let servers = haproxy::managers(view, |hostname| inventory_addr(ctx, hostname));
        return Ok(Found {
            servers,
            source: format!("the swarm's managers as {} sees them", o.target.name),
            note: None,
        });
    }
    let no_swarm_anywhere = outcomes
        .iter()
        .all(|o| matches!(&o.result, Ok(Answer::NotManager(state)) if state == "inactive"));
    if no_swarm_anywhere && !outcomes.is_empty() {
        return Ok(Found {
            servers: ctx.targets.iter().map(|t| inventory_server(ctx, t)).collect(),
            source: "the inventory's nodes (no swarm yet)".into(),
            note: Some(format!(
                "no node is in a swarm yet ({}); the servers are the inventory's nodes. Once the swarm is formed, run this again to balance over its managers.",
                reasons(&outcomes)
            )),
        });
    }
    Err(anyhow!(
        "no swarm manager could be asked for the cluster's managers: {}. Bring a manager's agent back (`pfctl facts` shows each node's swarm role), or name a manager with --host.",
        reasons(&outcomes)
    ))
}

async fn ask(node: &Node) -> Result<Answer, NodeError> {
    let (conn, _) = node.agent().await?;
    let view: SwarmView = conn
        .call(method::SWARM_INSPECT, Value::Null)
        .await
        .map_err(|e| NodeError::Agent(e.to_string()))?;
    match view.error.as_deref() {
        None if view.nodes.iter().any(|n| n.role == "manager") => Ok(Answer::View(view)),
        None => Err(NodeError::Agent(
            "its swarm view lists no manager".to_string(),
        )),
        // Older agents say "not a swarm manager" for a worker and for a node in no swarm alike;
        // the node's facts tell them apart. An engine that could not be asked stays an error:
        // its swarm is unknown.
        Some(e) => {
            let facts: NodeFacts = conn
                .call(method::NODE_FACTS, Value::Null)
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))?;
            let d = &facts.docker;
            if d.reachable && !d.swarm.state.is_empty() && !d.swarm.is_manager {
                Ok(Answer::NotManager(d.swarm.state.clone()))
            } else {
                Err(NodeError::Agent(e.to_string()))
            }
        }
    }
}

/// "node1: swarm inactive; node2: unreachable: ..." for notes and errors.
fn reasons(outcomes: &[NodeOutcome<Answer>]) -> String {
    outcomes
        .iter()
        .map(|o| {
            let why = match &o.result {
                Ok(Answer::View(_)) => "a swarm manager".to_string(),
                Ok(Answer::NotManager(state)) if state == "active" => {
                    "a swarm worker (workers cannot list the managers)".to_string()
                }
                Ok(Answer::NotManager(state)) => format!("swarm {state}"),
                Err(e) => e.to_string(),
            };
            format!("{}: {why}", o.target.name)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn names(servers: &[Server]) -> String {
    servers
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A node the way pfctl itself reaches it: its inventory host through ~/.ssh/config's HostName.
fn inventory_server(ctx: &Ctx, t: &Target) -> Server {
    Server {
        name: t.name.clone(),
        addr: resolved_host(ctx, t),
        note: None,
    }
}

fn resolved_host(ctx: &Ctx, t: &Target) -> String {
    let alias = t.host.clone().unwrap_or_else(|| t.name.clone());
    ctx.fanout
        .ssh_config
        .lookup(&alias)
        .hostname
        .unwrap_or(alias)
}

/// For a manager the swarm knows no address of: the inventory node of that name, if any.
fn inventory_addr(ctx: &Ctx, hostname: &str) -> Option<String> {
    let t = ctx.targets.iter().find(|t| t.name == hostname)?;
    Some(resolved_host(ctx, t))
}
