//! The ports a cluster's nodes must let in, in one place for autoheal, autocluster and
//! `pfctl firewall open` (the original `node-action --action open_firewall_ports`), and opening
//! them on a node through its agent (`host.firewall_open`: firewalld, else nftables).

use crate::context::{node_report, Ctx};
use crate::fanout::{each_node, NodeError};
use crate::profile::Profile;
use crate::report::{CheckResult, Status};
use crate::rpc::AgentConn;
use anyhow::Result;
use pfproto::action::{ActionMeta, FirewallOpen, FirewallOpenParams};
use pfproto::method;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub use pfproto::action::{FirewallPort as Port, PortProto};

/// Docker Swarm between the nodes: cluster management, gossip (both protocols) and the overlay
/// network's VXLAN (PowerFlow operations reference L852, L7338-7376). ESP (IP protocol 50) for
/// encrypted overlays is no port and stays a manual step.
pub const SWARM: [Port; 4] = [tcp(2377), udp(4789), tcp(7946), udp(7946)];

/// The agent runs up to five firewall tools, each with its own 15 s deadline; this bounds the lot.
const OPEN_DEADLINE: Duration = Duration::from_secs(60);

const fn tcp(port: u16) -> Port {
    Port {
        port,
        proto: PortProto::Tcp,
    }
}

const fn udp(port: u16) -> Port {
    Port {
        port,
        proto: PortProto::Udp,
    }
}

/// A profile's `[firewall]` table: the ports its services publish, beyond the swarm's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `"443/tcp"`, `"4789/udp"`.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
}

/// A port written as `PORT/PROTO` in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortSpec(pub Port);

impl TryFrom<String> for PortSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        parse_port(&s).map(PortSpec)
    }
}

pub fn parse_port(s: &str) -> Result<Port, String> {
    let bad = || format!("firewall port '{s}' is not PORT/tcp or PORT/udp (e.g. \"443/tcp\")");
    let (port, proto) = s.trim().split_once('/').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let proto = match proto {
        "tcp" => PortProto::Tcp,
        "udp" => PortProto::Udp,
        _ => return Err(bad()),
    };
    if port == 0 {
        return Err(bad());
    }
    Ok(Port { port, proto })
}

/// The swarm's ports, the ports the healthcheck probes between nodes (`swarm_ports`, TCP) and
/// those the profile's services publish; sorted, each once.
pub fn required_ports(profile: &Profile) -> Vec<Port> {
    let mut ports: Vec<Port> = SWARM.to_vec();
    ports.extend(profile.swarm_ports.iter().map(|p| tcp(*p)));
    if let Some(fw) = &profile.firewall {
        ports.extend(fw.ports.iter().map(|p| p.0));
    }
    ports.sort();
    ports.dedup();
    ports
}

/// Lets `ports` in on the node behind `conn`; the agent audits it under `meta`.
pub async fn open_on(
    conn: &AgentConn,
    meta: ActionMeta,
    ports: &[Port],
) -> Result<FirewallOpen, String> {
    let params = serde_json::to_value(FirewallOpenParams {
        meta,
        ports: ports.to_vec(),
    })
    .map_err(|e| e.to_string())?;
    let call = conn.call::<FirewallOpen>(method::HOST_FIREWALL_OPEN, params);
    match tokio::time::timeout(OPEN_DEADLINE, call).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "{}: no answer within {}s",
            method::HOST_FIREWALL_OPEN,
            OPEN_DEADLINE.as_secs()
        )),
    }
}

/// `2377/tcp 7946/udp ...`, for messages.
pub fn list(ports: &[Port]) -> String {
    ports
        .iter()
        .map(Port::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line: what was opened where, and what was open already.
pub fn describe(r: &FirewallOpen) -> String {
    if r.chains.is_empty() {
        return format!("{}; already open: {}", r.note, list(&r.already_open));
    }
    let mut parts: Vec<String> = r
        .chains
        .iter()
        .filter(|c| !c.added.is_empty())
        .map(|c| format!("opened {} in {}", list(&c.added), c.chain))
        .collect();
    if !r.already_open.is_empty() {
        parts.push(format!("already open: {}", list(&r.already_open)));
    }
    format!("{}: {}", r.manager, parts.join("; "))
}

/// `pfctl firewall open` / `node-action --action open_firewall_ports`: the profile's required
/// ports on every selected node, one result per node.
pub async fn run(ctx: &Ctx, profile: Option<&String>) -> Result<i32> {
    let profile = crate::commands::healthcheck::load_profile(ctx, profile)?;
    let ports = required_ports(&profile);
    let meta = crate::history::action_meta(&crate::history::new_run_id());
    let emitter = ctx.emitter("open_firewall_ports");
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            open_on(conn, meta.clone(), &ports)
                .await
                .map_err(NodeError::Agent)
        },
        |o| emitter.node_done(&node_report(o)),
    )
    .await;
    let mut nodes = Vec::new();
    let mut results = Vec::new();
    for o in &outcomes {
        let (status, message, evidence) = match &o.result {
            Ok(r) => (Status::Ok, describe(r), json!(r)),
            Err(e) if e.is_unreachable() => (Status::Unknown, e.to_string(), json!(null)),
            Err(e) => (Status::Fail, e.to_string(), json!({"ports": list(&ports)})),
        };
        let result = CheckResult {
            check: "firewall.open".into(),
            title: "open firewall ports".into(),
            node: o.target.name.clone(),
            status,
            message,
            evidence,
        };
        emitter.result(&result);
        results.push(result);
        nodes.push(node_report(o));
    }
    let report = ctx.report("open_firewall_ports", nodes, results);
    Ok(ctx.finish(&emitter, &report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_bad_ones_are_named() {
        assert_eq!(parse_port("443/tcp"), Ok(tcp(443)));
        assert_eq!(
            parse_port("4789/udp").unwrap().to_string(),
            "4789/udp",
            "printed as written"
        );
        for bad in ["443", "443/sctp", "0/tcp", "70000/tcp", "x/udp"] {
            assert!(parse_port(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn required_ports_join_swarm_probe_and_profile_ports_once() {
        let pf = crate::profile::load("powerflow", None).unwrap();
        let ports = required_ports(&pf);
        for p in SWARM.iter().chain(&[tcp(443), tcp(80), tcp(5556)]) {
            assert!(ports.contains(p), "{p} missing from {}", list(&ports));
        }
        assert_eq!(
            ports.iter().filter(|p| **p == tcp(7946)).count(),
            1,
            "swarm_ports and SWARM overlap once"
        );
        let demo = crate::profile::load("demo", None).unwrap();
        assert_eq!(required_ports(&demo), SWARM.to_vec());
        let o: toml::Table = toml::from_str("[firewall]\nports = [\"8080/tcp\"]\n").unwrap();
        let d = crate::profile::load("demo", Some(&o)).unwrap();
        assert!(required_ports(&d).contains(&tcp(8080)));
        let o: toml::Table = toml::from_str("[firewall]\nports = [\"8080\"]\n").unwrap();
        let e = crate::profile::load("demo", Some(&o)).unwrap_err();
        assert!(format!("{e:#}").contains("8080"), "{e:#}");
    }
}
