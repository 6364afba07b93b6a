//! The host under the swarm: a peer whose swarm ports cannot be reached gets them let in through
//! its firewall (the receiving side blocks them, so the action runs on the peer, not on the node
//! that reported it), and a node whose clock is not synchronized gets time sync turned on.

use super::{push, Action, Manual, Plan, Remedy};
use crate::checks::collect::NodeObs;
use crate::checks::Finding;
use crate::firewall::{self, Port, PortProto};
use crate::profile::Profile;
use crate::report::Status;
use std::collections::BTreeMap;

pub fn plan(
    p: &mut Plan,
    failing: &[&Finding],
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
) {
    for f in failing.iter().filter(|f| f.id == "net.connectivity") {
        connectivity(p, f, nodes, profile);
    }
    for f in failing
        .iter()
        .filter(|f| f.id == "time.sync" && f.status == Status::Fail)
        .filter(|f| nodes.contains_key(&f.node))
    {
        push(p, timesync(f));
    }
}

/// One unreachable peer port from a net.connectivity finding's evidence.
struct Down {
    host: String,
    port: u16,
    error: String,
}

fn unreachable(f: &Finding) -> Vec<Down> {
    f.evidence
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["ok"] == false)
        .filter_map(|r| {
            Some(Down {
                host: r["host"].as_str()?.to_string(),
                port: u16::try_from(r["port"].as_u64()?).ok()?,
                error: r["error"].as_str().unwrap_or("failed").to_string(),
            })
        })
        .collect()
}

/// The inventory node an address belongs to: its name, its hostname, its swarm address, or the
/// address a manager's swarm view gives its hostname.
pub fn node_of(addr: &str, nodes: &BTreeMap<String, &NodeObs>) -> Option<String> {
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let by_hostname = |h: &str| {
        nodes
            .iter()
            .find(|(name, o)| name.as_str() == h || o.facts.as_ref().is_ok_and(|f| f.hostname == h))
            .map(|(name, _)| name.clone())
    };
    let direct = nodes.iter().find(|(name, o)| {
        name.as_str() == addr
            || o.facts
                .as_ref()
                .is_ok_and(|f| f.hostname == addr || f.docker.swarm.node_addr == addr)
    });
    if let Some((name, _)) = direct {
        return Some(name.clone());
    }
    let (_, view) = super::manager_view(nodes)?;
    let n = view.nodes.iter().find(|n| n.addr == addr)?;
    by_hostname(&n.hostname)
}

/// Why opening `peer`'s firewall would not help, when it would not: nothing listens there.
fn not_a_firewall(peer: &str, obs: &NodeObs, d: &Down) -> Option<String> {
    let facts = match &obs.facts {
        Ok(f) => f,
        Err(e) => return Some(format!("{peer} gave no facts ({e})")),
    };
    if !facts.docker.reachable {
        return Some(format!(
            "{peer}'s Docker Engine is down, so nothing listens on its swarm ports (see docker.reachable)"
        ));
    }
    // A refusal is an answer: from a firewall's reject rule, or from a port nobody listens on.
    if d.error == "refused" {
        let sw = &facts.docker.swarm;
        if sw.state != "active" {
            return Some(format!(
                "{peer} is not in a swarm (state {}), so nothing listens on {}",
                if sw.state.is_empty() {
                    "unknown"
                } else {
                    &sw.state
                },
                d.port
            ));
        }
        if d.port == 2377 && !sw.is_manager {
            return Some(format!(
                "{peer} is a swarm worker: only managers listen on 2377"
            ));
        }
    }
    None
}

fn connectivity(p: &mut Plan, f: &Finding, nodes: &BTreeMap<String, &NodeObs>, profile: &Profile) {
    let down = unreachable(f);
    if down.is_empty() {
        return; // no evidence to act on: the generic recipe answers it
    }
    let mut peers: BTreeMap<String, (String, Vec<u16>)> = BTreeMap::new();
    let mut other = Vec::new();
    for d in &down {
        let Some(peer) = node_of(&d.host, nodes) else {
            other.push(format!(
                "{}:{} {} ({} is no node whose agent answered in this run)",
                d.host, d.port, d.error, d.host
            ));
            continue;
        };
        match not_a_firewall(&peer, nodes[&peer], d) {
            Some(why) => other.push(format!("{}:{} {} ({why})", d.host, d.port, d.error)),
            None => peers
                .entry(peer)
                .or_insert_with(|| (d.host.clone(), Vec::new()))
                .1
                .push(d.port),
        }
    }
    let mut answered_elsewhere = Vec::new();
    for (peer, (host, ports)) in peers {
        let existing = p
            .actions
            .iter_mut()
            .find(|a| a.node == peer && matches!(a.remedy, Remedy::OpenPorts { .. }));
        match existing {
            Some(a) => {
                add_ports(a, &ports);
                answered_elsewhere.push(format!(
                    "{host} (opened on {peer} by the action for {})",
                    a.check_node
                ));
            }
            None => push(p, open_ports(f, &peer, &host, &ports, profile)),
        }
    }
    if !other.is_empty() {
        p.manual.push(Manual {
            check: f.id.to_string(),
            node: f.node.clone(),
            problem: format!("{} cannot reach {}", f.node, other.join(", ")),
            recipe: "Not a firewall pfctl can fix from here: bring the peer's engine or swarm back, or add the node to \
                     the inventory; then open the swarm ports between the nodes (2377/tcp, 7946/tcp+udp, 4789/udp, ESP) \
                     with `pfctl firewall open`."
                .into(),
            reference: "L6182-6193, L7336-7350".into(),
        });
    } else if !answered_elsewhere.is_empty()
        && !p
            .actions
            .iter()
            .any(|a| a.check == f.id && a.check_node == f.node)
    {
        p.deferred.push(Manual {
            check: f.id.to_string(),
            node: f.node.clone(),
            problem: f.message.clone(),
            recipe: format!(
                "expected to clear once the ports are open: {}",
                answered_elsewhere.join(", ")
            ),
            reference: String::new(),
        });
    }
}

/// The profile's required ports plus whatever port the probe found closed (always TCP: the
/// probe connects).
fn ports_for(profile: &Profile, probed: &[u16]) -> Vec<Port> {
    let mut ports = firewall::required_ports(profile);
    ports.extend(probed.iter().map(|port| Port {
        port: *port,
        proto: PortProto::Tcp,
    }));
    ports.sort();
    ports.dedup();
    ports
}

fn add_ports(a: &mut Action, probed: &[u16]) {
    if let Remedy::OpenPorts { ports } = &mut a.remedy {
        for port in probed {
            let p = Port {
                port: *port,
                proto: PortProto::Tcp,
            };
            if !ports.contains(&p) {
                ports.push(p);
                ports.sort();
            }
        }
    }
}

fn open_ports(f: &Finding, peer: &str, host: &str, probed: &[u16], profile: &Profile) -> Action {
    let ports = ports_for(profile, probed);
    let closed: Vec<String> = probed.iter().map(|p| format!("{host}:{p}")).collect();
    Action {
        id: String::new(),
        node: peer.to_string(),
        what: format!(
            "let {} in through {peer}'s firewall (firewalld, else nftables; only those still closed)",
            firewall::list(&ports)
        ),
        reason: format!("{} {}: {}", f.id, f.node, f.message),
        disruptive: false,
        effect: format!(
            "{} reaches {} again; the rules added carry the comment \"pfctl\" and are audited on {peer}",
            f.node,
            closed.join(", ")
        ),
        check: "net.connectivity",
        check_node: f.node.clone(),
        // The finding names unreachable peers as `host:port`: fixed once this host is not named.
        subject: format!("{host}:"),
        remedy: Remedy::OpenPorts { ports },
    }
}

fn timesync(f: &Finding) -> Action {
    Action {
        id: String::new(),
        node: f.node.clone(),
        what: "turn on time sync (timedatectl set-ntp true, else systemctl enable --now the first \
               installed of chronyd, chrony, systemd-timesyncd, ntpd)"
            .into(),
        reason: format!("{} {}: {}", f.id, f.node, f.message),
        disruptive: false,
        effect: format!(
            "a time service keeps {}'s clock; the kernel reports it synchronized once the service has \
             locked on (this can take a few minutes: run healthcheck again if it is not yet)",
            f.node
        ),
        check: "time.sync",
        check_node: f.node.clone(),
        subject: String::new(),
        remedy: Remedy::TimeSync,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::collect::NodeObs;
    use pfproto::facts::NodeFacts;
    use serde_json::json;

    fn obs(hostname: &str, addr: &str, engine: bool, manager: bool) -> NodeObs {
        let mut facts = NodeFacts {
            hostname: hostname.into(),
            ..Default::default()
        };
        facts.docker.reachable = engine;
        facts.docker.swarm.state = "active".into();
        facts.docker.swarm.node_addr = addr.into();
        facts.docker.swarm.is_manager = manager;
        NodeObs {
            route: None,
            agent_version: None,
            facts: Ok(facts),
            clock: None,
            files: Err("-".into()),
            containers: Err("-".into()),
            swarm: None,
            net: Err("-".into()),
            http: vec![],
            history: Ok(vec![]),
            exec: vec![],
            app: None,
            timings: Default::default(),
        }
    }

    fn conn_fail(node: &str, down: &[(&str, u16, &str)]) -> Finding {
        let results: Vec<_> = down
            .iter()
            .map(|(h, p, e)| json!({"host": h, "port": p, "ok": false, "ms": 1, "error": e}))
            .collect();
        let msg: Vec<String> = down
            .iter()
            .map(|(h, p, e)| format!("{h}:{p} {e}"))
            .collect();
        Finding::new(
            "net.connectivity",
            node,
            Status::Fail,
            format!("cannot reach {}", msg.join(", ")),
        )
        .with(json!(results))
    }

    #[test]
    fn a_blocked_peer_is_opened_once_on_the_receiving_side() {
        let o1 = obs("n1", "10.0.0.1", true, true);
        let o2 = obs("n2", "10.0.0.2", true, true);
        let o3 = obs("n3", "10.0.0.3", true, false);
        let nodes: BTreeMap<String, &NodeObs> = [("node1", &o1), ("node2", &o2), ("node3", &o3)]
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        let f1 = conn_fail("node1", &[("10.0.0.3", 7946, "timed out after 2000ms")]);
        let f2 = conn_fail(
            "node2",
            &[
                ("10.0.0.3", 7946, "timed out after 2000ms"),
                // A worker does not listen on 2377: no firewall change answers that.
                ("10.0.0.3", 2377, "refused"),
            ],
        );
        let profile = crate::profile::load("demo", None).unwrap();
        let mut p = Plan::default();
        plan(&mut p, &[&f1, &f2], &nodes, &profile);
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        let a = &p.actions[0];
        assert_eq!(a.node, "node3");
        assert_eq!(a.check_node, "node1");
        assert_eq!(a.subject, "10.0.0.3:");
        assert!(!a.disruptive);
        let Remedy::OpenPorts { ports } = &a.remedy else {
            panic!("{:?}", a.remedy)
        };
        assert_eq!(*ports, firewall::required_ports(&profile));
        assert_eq!(p.manual.len(), 1);
        assert_eq!(p.manual[0].node, "node2");
        assert!(p.manual[0].problem.contains("only managers listen on 2377"));
        assert!(p.deferred.is_empty(), "node2 has its own recipe");
    }

    #[test]
    fn peers_are_found_by_swarm_address_and_unknown_ones_get_a_recipe() {
        let o1 = obs("n1", "10.0.0.1", true, true);
        let o2 = obs("n2", "10.0.0.2", false, true);
        let nodes: BTreeMap<String, &NodeObs> = [("a", &o1), ("b", &o2)]
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        assert_eq!(node_of("10.0.0.2", &nodes).as_deref(), Some("b"));
        assert_eq!(node_of("n1", &nodes).as_deref(), Some("a"));
        assert_eq!(node_of("10.9.9.9", &nodes), None);
        let f = conn_fail(
            "a",
            &[
                ("10.0.0.2", 7946, "timed out"),
                ("10.9.9.9", 7946, "timed out"),
            ],
        );
        let profile = crate::profile::load("demo", None).unwrap();
        let mut p = Plan::default();
        plan(&mut p, &[&f], &nodes, &profile);
        assert!(p.actions.is_empty(), "b's engine is down: {:?}", p.actions);
        assert!(p.manual[0].problem.contains("Docker Engine is down"));
        assert!(p.manual[0]
            .problem
            .contains("10.9.9.9 is no node whose agent answered"));
    }

    #[test]
    fn an_unsynchronized_clock_gets_time_sync_where_the_node_answered() {
        let o1 = obs("n1", "10.0.0.1", true, true);
        let nodes: BTreeMap<String, &NodeObs> = [("node1".to_string(), &o1)].into();
        let f = Finding::new("time.sync", "node1", Status::Fail, "not synchronized");
        let gone = Finding::new("time.sync", "node9", Status::Fail, "not synchronized");
        let unknown = Finding::new("time.sync", "node1", Status::Unknown, "no facts");
        let profile = crate::profile::load("demo", None).unwrap();
        let mut p = Plan::default();
        plan(&mut p, &[&f, &gone, &unknown], &nodes, &profile);
        assert_eq!(p.actions.len(), 1);
        assert!(matches!(p.actions[0].remedy, Remedy::TimeSync));
        assert_eq!(p.actions[0].node, "node1");
    }
}
