//! autoheal's plan: from the failing findings and the observations behind them to concrete agent
//! actions (each idempotent, each naming the check that must pass afterwards), and to manual
//! recipes for what has no safe automatic fix. Pure: no node is asked anything here.

pub mod agent;

pub mod compose;
pub mod couchbase;
pub mod host;

use crate::checks::collect::NodeObs;
use crate::checks::Finding;
use crate::cli::HealOpts;
use crate::profile::Profile;
use crate::report::Status;
use pfproto::probe::{ContainerInfo, FileStat, SwarmView};
use serde::Serialize;
use std::collections::BTreeMap;

/// The mode and owner secret files get (the reference: root read-only Docker secrets).
pub const SECRET_MODE: u32 = 0o600;

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: String,
    /// The node whose agent performs it (for swarm changes: a manager), or several, comma separated.
    pub node: String,
    pub what: String,
    /// The finding that asked for it.
    pub reason: String,
    pub disruptive: bool,
    pub effect: String,
    /// The check (and node, or `cluster`) that must pass afterwards, and the subject its message
    /// names while the problem remains.
    pub check: &'static str,
    pub check_node: String,
    pub subject: String,
    #[serde(skip)]
    pub remedy: Remedy,
}

#[derive(Debug, Clone)]
pub enum Remedy {
    /// On the action's node, over SSH (the agent is missing or stale).
    InstallAgent,
    RemoveContainers {
        ids: Vec<String>,
    },
    Replicas {
        service: String,
        replicas: u64,
    },
    Restart {
        service: String,
    },
    Pin {
        service: String,
        constraints: Vec<String>,
        node_id: String,
    },
    Activate {
        hostname: String,
    },
    Mode {
        path: String,
    },
    Sync {
        path: String,
        source: String,
        source_sha256: String,
        expect_sha256: Option<String>,
        mode: u32,
        uid: u32,
        gid: u32,
        /// Read whole although private: a secret file the admin named the source of.
        secret: bool,
    },
    Compose {
        path: String,
        expect_sha256: String,
        content: String,
        nodes: Vec<String>,
        /// The manager that makes `updates` (empty when there are none).
        manager: String,
        /// Run after the file is written on every node (`meta` is filled in then).
        updates: Vec<pfproto::action::ServiceUpdateParams>,
    },
    /// A Couchbase REST call (form POST) sent by the node's agent; the password is resolved
    /// from `cfg` when it is sent, never kept in the plan.
    CouchbasePost {
        url: String,
        form: Vec<(String, String)>,
        cfg: crate::checks::couchbase::Config,
    },
    /// Let ports in through the node's firewall (`host.firewall_open`: only those still closed).
    OpenPorts {
        ports: Vec<crate::firewall::Port>,
    },
    /// Turn on the node's time sync (`host.timesync`).
    TimeSync,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manual {
    pub check: String,
    pub node: String,
    pub problem: String,
    pub recipe: String,
    /// Lines of the PowerFlow operations reference the recipe comes from.
    pub reference: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub manual: Vec<Manual>,
    /// Problems expected to clear by themselves once an action of the plan is done.
    pub deferred: Vec<Manual>,
}

/// Which remediations to consider: all, or only secret files' owner and mode (the legacy
/// `modify_iservices_volumes_owner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    OwnerOnly,
}

fn bad(f: &Finding) -> bool {
    !matches!(f.status, Status::Ok | Status::Skip)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    pfproto::hex(&sha2::Sha256::digest(bytes))
}

/// The swarm as a manager describes it, and that manager's node name.
pub fn manager_view<'a>(nodes: &BTreeMap<String, &'a NodeObs>) -> Option<(String, &'a SwarmView)> {
    nodes.iter().find_map(|(name, o)| {
        let v = o.swarm.as_ref()?.as_ref().ok()?;
        (v.error.is_none() && !v.nodes.is_empty()).then(|| (name.clone(), v))
    })
}

pub fn plan(
    findings: &[Finding],
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
    opts: &HealOpts,
    scope: Scope,
) -> Plan {
    let mut p = Plan::default();
    let failing: Vec<&Finding> = findings.iter().filter(|f| bad(f)).collect();
    let find = |id: &str, node: &str| {
        failing
            .iter()
            .copied()
            .find(|f| f.id == id && f.node == node)
    };

    if scope == Scope::All {
        agent::plan(&mut p, &failing, nodes);
    }
    for f in failing.iter().filter(|f| f.id == "files.secret_mode") {
        secret_modes(&mut p, f, nodes.get(&f.node).copied(), profile);
    }
    if scope == Scope::OwnerOnly {
        return p;
    }
    if let Some(f) = find("files.consistent", "cluster") {
        files(&mut p, f, nodes, profile, opts);
    }
    let total = find("containers.exited_total", "cluster");
    for (name, obs) in nodes {
        let here = find("containers.exited", name);
        if let Some(f) = here.or(total) {
            exited(&mut p, f, name, obs, opts.keep_exited);
        }
    }
    if let Some((manager, view)) = manager_view(nodes) {
        for f in failing.iter().filter(|f| f.id == "swarm.node_active") {
            if let Some(h) = f.evidence["hostname"].as_str() {
                let a = f.evidence["availability"].as_str().unwrap_or("?");
                push(
                    &mut p,
                    Action {
                        id: String::new(),
                        node: manager.clone(),
                        what: format!("set node {h} availability active (now {a})"),
                        reason: format!("swarm.node_active {}: {}", f.node, f.message),
                        disruptive: false,
                        effect: format!("{h} takes tasks again; pending tasks are placed on it"),
                        check: "swarm.node_active",
                        check_node: f.node.clone(),
                        subject: String::new(),
                        remedy: Remedy::Activate {
                            hostname: h.to_string(),
                        },
                    },
                );
            }
        }
        let activating = p
            .actions
            .iter()
            .any(|a| matches!(a.remedy, Remedy::Activate { .. }));
        if activating {
            // A drained node leaves tasks unplaced (and rejected again and again): restarting
            // services then is useless until it takes tasks again.
            for f in ["stack.replicas", "stack.restart_loop"]
                .iter()
                .filter_map(|id| find(id, "cluster"))
            {
                p.deferred.push(Manual {
                    check: f.id.to_string(),
                    node: f.node.clone(),
                    problem: f.message.clone(),
                    recipe: "expected to converge once the drained node is active again; run autoheal again if it does not".into(),
                    reference: String::new(),
                });
            }
        }
        // A loop first: the restart it asks for also answers the replicas it leaves short.
        if let Some(f) = find("stack.restart_loop", "cluster").filter(|_| !activating) {
            for s in profile
                .services
                .iter()
                .filter(|s| f.message.contains(&format!("{} (", s.name)))
            {
                restart(&mut p, f, &manager, &s.name, "stack.restart_loop");
            }
        }
        if let Some(f) = find("stack.replicas", "cluster").filter(|_| !activating) {
            replicas(&mut p, f, &manager, view, profile);
        }
        if let Some(f) = find("stack.placement", "cluster") {
            placement(&mut p, f, &manager, view, profile);
        }
    }
    if let Some(f) = find("compose.valid", "cluster") {
        compose::plan(&mut p, f, nodes, profile);
    }
    couchbase::plan(&mut p, &failing, nodes, profile);
    host::plan(&mut p, &failing, nodes, profile);
    for f in &failing {
        let handled = p
            .actions
            .iter()
            .any(|a| a.check == f.id && a.check_node == f.node)
            || p.manual
                .iter()
                .chain(&p.deferred)
                .any(|m| m.check == f.id && m.node == f.node)
            || (f.id == "containers.exited_total"
                && p.actions
                    .iter()
                    .any(|a| matches!(a.remedy, Remedy::RemoveContainers { .. })));
        if !handled {
            p.manual.push(manual(f));
        }
    }
    // Safe changes first; the disruptive ones last, one at a time.
    p.actions.sort_by_key(|a| a.disruptive);
    for (i, a) in p.actions.iter_mut().enumerate() {
        a.id = format!("A{}", i + 1);
    }
    p
}

fn push(p: &mut Plan, a: Action) {
    p.actions.push(a);
}

fn secret_modes(p: &mut Plan, f: &Finding, obs: Option<&NodeObs>, profile: &Profile) {
    let Some(Ok(stat)) = obs.map(|o| &o.files) else {
        return;
    };
    for e in profile.files.iter().filter(|e| e.secret) {
        let Some(s) = stat.files.iter().find(|s| s.path == e.path && s.exists) else {
            continue;
        };
        if s.mode & 0o007 == 0 && s.uid == 0 {
            continue;
        }
        push(
            p,
            Action {
                id: String::new(),
                node: f.node.clone(),
                what: format!(
                    "chown root:root and chmod {SECRET_MODE:04o} {} (now {}:{} {:04o})",
                    s.path, s.owner, s.group, s.mode
                ),
                reason: format!("files.secret_mode {}: {}", f.node, f.message),
                disruptive: false,
                effect: "only root can read the secret".into(),
                check: "files.secret_mode",
                check_node: f.node.clone(),
                subject: s.path.clone(),
                remedy: Remedy::Mode {
                    path: s.path.clone(),
                },
            },
        );
    }
}

fn files(
    p: &mut Plan,
    f: &Finding,
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
    opts: &HealOpts,
) {
    for e in &profile.files {
        let mut by_hash: BTreeMap<Option<String>, Vec<(String, &FileStat)>> = BTreeMap::new();
        for (name, obs) in nodes {
            let Ok(stat) = &obs.files else { continue };
            let Some(s) = stat.files.iter().find(|s| s.path == e.path) else {
                continue;
            };
            if s.exists && s.sha256.is_none() {
                continue; // unreadable: nothing safe to compare
            }
            by_hash
                .entry(s.sha256.clone())
                .or_default()
                .push((name.clone(), s));
        }
        if by_hash.len() < 2 {
            continue;
        }
        let groups: Vec<String> = by_hash
            .iter()
            .map(|(h, ns)| {
                let names: Vec<&str> = ns.iter().map(|(n, _)| n.as_str()).collect();
                let h = h
                    .as_deref()
                    .map_or("missing".to_string(), |h| h[..12.min(h.len())].to_string());
                format!("{} {h}", names.join(", "))
            })
            .collect();
        let problem = format!("{} differs: {}", e.path, groups.join("; "));
        let ordered = opts.source.is_some() && opts.force;
        if e.secret && !ordered {
            p.manual.push(Manual {
                check: "files.consistent".into(),
                node: "cluster".into(),
                problem,
                recipe: "Not synced automatically: data encrypted with the other key becomes \
                         unreadable. Find the node whose key the data was encrypted with (\"Access \
                         denied for user 'root'\" points at the wrong one), then run autoheal again \
                         with --source THAT_NODE --force to copy it to the others (the replaced copy \
                         is kept beside it as .pfctl-prev; another copy is in /opt/iservices/backup/)."
                    .into(),
                reference: "L6256-6270, L1930-1936".into(),
            });
            continue;
        }
        let source = match &opts.source {
            Some(src) => by_hash.iter().find_map(|(h, ns)| {
                ns.iter()
                    .find(|(n, _)| n == src)
                    .map(|(n, s)| (h.clone(), n.clone(), *s))
            }),
            None => {
                let mut sizes: Vec<usize> = by_hash.values().map(Vec::len).collect();
                sizes.sort_unstable_by(|a, b| b.cmp(a));
                if sizes[0] == sizes[1] {
                    None
                } else {
                    by_hash
                        .iter()
                        .max_by_key(|(_, ns)| ns.len())
                        .map(|(h, ns)| (h.clone(), ns[0].0.clone(), ns[0].1))
                }
            }
        };
        let Some((Some(hash), src, src_stat)) = source else {
            let recipe = match &opts.source {
                Some(s) => format!("{s} has no copy of this file (or was not reached); name another node with --source"),
                None => "No majority to copy from: name the node that has the right copy with --source NODE".into(),
            };
            p.manual.push(Manual {
                check: "files.consistent".into(),
                node: "cluster".into(),
                problem,
                recipe,
                reference: "L7355, L1878, L5250-5254".into(),
            });
            continue;
        };
        for (h, ns) in by_hash
            .iter()
            .filter(|(h, _)| h.as_deref() != Some(hash.as_str()))
        {
            for (node, _) in ns {
                push(
                    p,
                    Action {
                        id: String::new(),
                        node: node.clone(),
                        what: format!("copy {} from {src} (sha256 {})", e.path, &hash[..12]),
                        reason: format!("files.consistent: {}", f.message),
                        disruptive: false,
                        effect: if e.secret {
                            format!(
                                "SECRET {} on {node} replaced by {src}'s (--source --force): data encrypted with {node}'s old key becomes unreadable; the old key stays as {}.pfctl-prev",
                                e.path, e.path
                            )
                        } else {
                            format!(
                                "{} on {node} equals {src}'s; the replaced copy stays as {}.pfctl-prev",
                                e.path, e.path
                            )
                        },
                        check: "files.consistent",
                        check_node: "cluster".into(),
                        subject: e.path.clone(),
                        remedy: Remedy::Sync {
                            path: e.path.clone(),
                            source: src.clone(),
                            source_sha256: hash.clone(),
                            expect_sha256: h.clone(),
                            mode: src_stat.mode,
                            uid: src_stat.uid,
                            gid: src_stat.gid,
                            secret: e.secret,
                        },
                    },
                );
            }
        }
    }
}

/// The exited containers to remove: all but the newest `keep` of each service (containers
/// without a service count as one group).
pub fn stale(containers: &[ContainerInfo], keep: usize) -> Vec<&ContainerInfo> {
    let mut groups: BTreeMap<Option<&str>, Vec<&ContainerInfo>> = BTreeMap::new();
    for c in containers
        .iter()
        .filter(|c| c.state == "exited" || c.state == "dead")
    {
        groups.entry(c.service.as_deref()).or_default().push(c);
    }
    let mut out = Vec::new();
    for mut g in groups.into_values() {
        g.sort_by(|a, b| {
            b.created_unix
                .cmp(&a.created_unix)
                .then(b.name.cmp(&a.name))
        });
        out.extend(g.into_iter().skip(keep));
    }
    out
}

fn exited(p: &mut Plan, f: &Finding, node: &str, obs: &NodeObs, keep: usize) {
    let Ok(list) = &obs.containers else { return };
    let gone = stale(&list.containers, keep);
    if gone.is_empty() {
        return;
    }
    let names: Vec<&str> = gone.iter().map(|c| c.name.as_str()).collect();
    let (check, check_node) = if f.id == "containers.exited" {
        ("containers.exited", node.to_string())
    } else {
        ("containers.exited_total", "cluster".to_string())
    };
    push(
        p,
        Action {
            id: String::new(),
            node: node.to_string(),
            what: format!(
                "remove {} stale exited containers: {}",
                gone.len(),
                names.join(", ")
            ),
            reason: format!("{} {}: {}", f.id, f.node, f.message),
            disruptive: false,
            effect: format!("the newest {keep} stopped containers per service stay for diagnosis"),
            check,
            check_node,
            subject: String::new(),
            remedy: Remedy::RemoveContainers {
                ids: gone.iter().map(|c| c.id.clone()).collect(),
            },
        },
    );
}

fn replicas(p: &mut Plan, f: &Finding, manager: &str, view: &SwarmView, profile: &Profile) {
    for e in &profile.services {
        let Some(svc) = view.services.iter().find(|s| s.name == e.name) else {
            continue;
        };
        let Some(desired) = svc.desired else { continue };
        let want = e.replicas.unwrap_or(desired).max(desired);
        if desired < want {
            push(
                p,
                Action {
                    id: String::new(),
                    node: manager.to_string(),
                    what: format!("scale {} to {want} replicas (now {desired})", svc.name),
                    reason: format!("stack.replicas: {}", f.message),
                    disruptive: false,
                    effect: format!("{} runs {want} tasks, as the profile says", svc.name),
                    check: "stack.replicas",
                    check_node: "cluster".into(),
                    subject: format!("{} ", svc.name),
                    remedy: Remedy::Replicas {
                        service: svc.name.clone(),
                        replicas: want,
                    },
                },
            );
        } else if svc.running < want {
            restart(p, f, manager, &svc.name, "stack.replicas");
        }
    }
}

fn restart(p: &mut Plan, f: &Finding, manager: &str, service: &str, check: &'static str) {
    if p.actions
        .iter()
        .any(|a| matches!(&a.remedy, Remedy::Restart { service: s } if s == service))
    {
        return;
    }
    push(
        p,
        Action {
            id: String::new(),
            node: manager.to_string(),
            what: format!("restart {service} (docker service update --force)"),
            reason: format!("{check}: {}", f.message),
            disruptive: true,
            effect: format!("every task of {service} is replaced, one after the other"),
            check,
            check_node: "cluster".into(),
            subject: format!("{service} "),
            remedy: Remedy::Restart {
                service: service.to_string(),
            },
        },
    );
}

fn placement(p: &mut Plan, f: &Finding, manager: &str, view: &SwarmView, profile: &Profile) {
    for e in &profile.services {
        let Some(pin) = &e.pinned_node else { continue };
        if !f.message.contains(&format!("{} runs on", e.name)) {
            continue;
        }
        let Some(svc) = view.services.iter().find(|s| s.name == e.name) else {
            continue;
        };
        let Some(node) = view.nodes.iter().find(|n| &n.hostname == pin) else {
            p.manual.push(Manual {
                check: "stack.placement".into(),
                node: "cluster".into(),
                problem: format!("{} is pinned to {pin}, which is not in the swarm", e.name),
                recipe: format!("join {pin} to the swarm, or change the pin in the profile and the compose file"),
                reference: "L6920-6975".into(),
            });
            continue;
        };
        let mut constraints: Vec<String> = svc
            .constraints
            .iter()
            .filter(|c| !c.replace(' ', "").starts_with("node.hostname=="))
            .cloned()
            .collect();
        constraints.push(format!("node.hostname=={pin}"));
        push(
            p,
            Action {
                id: String::new(),
                node: manager.to_string(),
                what: format!(
                    "pin {} to {pin} (constraints {})",
                    e.name,
                    constraints.join(", ")
                ),
                reason: format!("stack.placement: {}", f.message),
                disruptive: true,
                effect: format!("{}'s task moves to {pin}", e.name),
                check: "stack.placement",
                check_node: "cluster".into(),
                subject: format!("{} runs on", e.name),
                remedy: Remedy::Pin {
                    service: e.name.clone(),
                    constraints,
                    node_id: node.id.clone(),
                },
            },
        );
    }
}

/// A recipe for a problem autoheal does not fix, with where the reference describes it.
fn manual(f: &Finding) -> Manual {
    let (recipe, reference) = match f.id {
        "swarm.quorum_margin" | "swarm.leader" | "swarm.managers_reachable" => (
            "Bring the unreachable managers back (engine, network). If quorum cannot return, run \
             `docker swarm init --force-new-cluster` on one surviving manager and re-join the others; \
             never remove a leader unless 2 others remain.",
            "L9449-9478, L4841",
        ),
        "swarm.managers" => ("Add or promote managers to an odd number, at least 3 (`docker node promote`).", "L7185, L7424, L9449-9478"),
        "node.disk" => ("Free space: stale images (`docker image prune`), logs; a full Couchbase index directory (`@2i`) needs Couchbase stopped, the directory removed and Couchbase restarted; enable auto-compaction.", "L6219-6239"),
        "rabbitmq.partitions" => ("Restart the RabbitMQ service of the minority side so it rejoins, then resync or recreate the queues (queued tasks may be lost).", "L7325, L9684, L5216"),
        "rabbitmq.alarms" => ("Find the queue backlog (workers not consuming?), give RabbitMQ memory or disk, or drain the queues.", "L5071, L5216"),
        "rabbitmq.nodes" | "rabbitmq.ha_policy" => ("Start the missing RabbitMQ service; set the ha-all policy (`rabbitmqctl set_policy ha-all`).", "L6985-7025, L9147-9185"),
        "time.sync" | "time.offset" => ("Enable and start chronyd (`systemctl enable --now chronyd`) on the node.", "L7357-7363, L8182-8202"),
        "net.connectivity" => ("Open the swarm ports between the nodes (2377/tcp, 7946/tcp+udp, 4789/udp, ESP) in the firewall and reload it.", "L6182-6193, L7336-7350"),
        "docker.reachable" => ("Start the Docker Engine on the node (`systemctl start docker`) and read its journal for why it stopped.", "L8676-8684"),
        "docker.version_consistent" => ("Upgrade the engines to one Docker version, one node at a time (drain, upgrade, activate).", "L5304"),
        "agent.resident" | "agent.version_consistent" => ("Reinstall the agent: `pfctl agent install` (with -l NODE for one node).", "README: agent install"),
        "node.reachable" => ("Check the node's power, network and sshd; pfctl cannot act on a node it cannot reach.", "L849, L5124"),
        "couchbase.indexes" => ("Wait for the build; then `BUILD INDEX` or `initialize_couchbase -s`.", "L6455-6466, L9579-9604, L1677-1690"),
        "couchbase.replicas" | "couchbase.rebalance" => ("Set the bucket replicas and rebalance from the Couchbase UI (:8091).", "L7559, L1983, L5280"),
        "couchbase.primary_index" => ("Drop the #primary index (`DROP PRIMARY INDEX ON content`) after checking nothing needs it.", "L6228, L1690"),
        "stack.services_present" => ("Redeploy the stack: `docker stack deploy -c docker-compose.yml -c docker-compose-override.yml iservices`.", "L1816, L7567"),
        "stack.replicas" | "stack.restart_loop" => ("Look at `docker service ps --no-trunc SERVICE` and `docker service logs SERVICE` for why its tasks fail (OOM: exit 137).", "L5974-5983, L5740-5801"),
        "node.memory" | "node.cpu" => ("Find the service using it (`docker stats`); scale steprunners or add a node.", "L5061, L6304-6350"),
        _ => ("No automatic fix: see the check's message.", ""),
    };
    Manual {
        check: f.id.to_string(),
        node: f.node.clone(),
        problem: f.message.clone(),
        recipe: recipe.to_string(),
        reference: reference.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, service: Option<&str>, created: i64, state: &str) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{name}"),
            name: name.into(),
            state: state.into(),
            created_unix: created,
            service: service.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn stale_keeps_the_newest_per_service_and_never_running_ones() {
        let list = vec![
            c("a1", Some("a"), 1, "exited"),
            c("a2", Some("a"), 2, "exited"),
            c("a3", Some("a"), 3, "dead"),
            c("a4", Some("a"), 4, "running"),
            c("b1", Some("b"), 1, "exited"),
            c("x1", None, 5, "exited"),
            c("x2", None, 6, "exited"),
            c("x3", None, 7, "exited"),
        ];
        let mut gone: Vec<&str> = stale(&list, 2).iter().map(|c| c.name.as_str()).collect();
        gone.sort();
        assert_eq!(gone, ["a1", "x1"]);
        assert_eq!(stale(&list, 0).len(), 7);
    }
}
