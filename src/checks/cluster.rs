//! Analyzers that compare nodes: versions, clocks, files, the swarm and the stack.

use super::collect::NodeObs;
use super::Finding;
use crate::profile::Profile;
use crate::report::Status;
use pfproto::probe::SwarmView;
use serde_json::json;
use std::collections::BTreeMap;

const CLUSTER: &str = "cluster";

fn f(id: &'static str, status: Status, msg: impl Into<String>) -> Finding {
    Finding::new(id, CLUSTER, status, msg)
}

/// `nodes`: the reachable nodes' observations by node name.
pub fn analyze(
    nodes: &BTreeMap<String, &NodeObs>,
    unreachable: &[String],
    profile: &Profile,
    now_unix: i64,
) -> Vec<Finding> {
    let mut out = vec![
        same(
            "agent.version_consistent",
            "agent",
            nodes
                .iter()
                .filter_map(|(n, o)| Some((n, o.agent_version.clone()?))),
        ),
        same(
            "docker.version_consistent",
            "docker",
            nodes.iter().filter_map(|(n, o)| {
                o.facts
                    .as_ref()
                    .ok()
                    .filter(|f| f.docker.reachable)
                    .map(|f| (n, f.docker.version.clone()))
            }),
        ),
        clock_offsets(nodes, profile),
        files(nodes, profile),
    ];
    let view = nodes
        .values()
        .filter_map(|o| o.swarm.as_ref()?.as_ref().ok())
        .filter(|v| v.error.is_none() && !v.nodes.is_empty())
        .max_by_key(|v| v.nodes.iter().any(|n| n.leader));
    match view {
        Some(v) => out.extend(swarm(v, profile, now_unix)),
        None => {
            let why = if nodes.values().any(|o| o.swarm.is_some()) {
                "no manager could describe the swarm"
            } else {
                "no reachable node is a swarm manager"
            };
            for id in [
                "swarm.managers",
                "swarm.managers_reachable",
                "swarm.leader",
                "swarm.quorum_margin",
                "stack.services_present",
                "stack.replicas",
                "stack.restart_loop",
                "stack.placement",
                "stack.singleton",
            ] {
                out.push(f(id, Status::Fail, why));
            }
        }
    }
    let total: usize = nodes
        .values()
        .filter_map(|o| o.containers.as_ref().ok())
        .map(|l| {
            l.containers
                .iter()
                .filter(|c| c.state == "exited" || c.state == "dead")
                .count()
        })
        .sum();
    let s = if total as u64 > profile.thresholds.exited_containers_warn {
        Status::Warn
    } else {
        Status::Ok
    };
    out.push(f(
        "containers.exited_total",
        s,
        format!("{total} exited (stale) containers found cluster-wide"),
    ));
    if !unreachable.is_empty() {
        for finding in out.iter_mut().filter(|x| x.status == Status::Ok) {
            finding
                .message
                .push_str(&format!(" (without {})", unreachable.join(", ")));
        }
    }
    out
}

/// One value expected on every node; names the odd ones out against the majority.
fn same<'a>(
    id: &'static str,
    what: &str,
    values: impl Iterator<Item = (&'a String, String)>,
) -> Finding {
    let mut by_value: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (node, v) in values {
        by_value.entry(v).or_default().push(node.clone());
    }
    match by_value.len() {
        0 => f(
            id,
            Status::Unknown,
            format!("no node reported its {what} version"),
        ),
        1 => f(
            id,
            Status::Ok,
            format!(
                "{what} {} on all nodes",
                by_value.keys().next().cloned().unwrap_or_default()
            ),
        ),
        _ => {
            let majority = by_value
                .iter()
                .max_by_key(|(_, n)| n.len())
                .map(|(v, _)| v.clone())
                .unwrap_or_default();
            let odd: Vec<String> = by_value
                .iter()
                .filter(|(v, _)| **v != majority)
                .map(|(v, n)| format!("{} has {v}", n.join(", ")))
                .collect();
            f(
                id,
                Status::Fail,
                format!(
                    "{what} versions differ: {} (majority: {majority})",
                    odd.join("; ")
                ),
            )
            .with(json!(by_value))
        }
    }
}

fn clock_offsets(nodes: &BTreeMap<String, &NodeObs>, profile: &Profile) -> Finding {
    let samples: Vec<(&String, i64, i64)> = nodes
        .iter()
        .filter_map(|(n, o)| o.clock.map(|c| (n, c.offset_ms, c.uncertainty_ms)))
        .collect();
    if samples.len() < 2 {
        return f(
            "time.offset",
            Status::Skip,
            "fewer than two clocks to compare",
        );
    }
    let (lo, hi) = (
        samples.iter().min_by_key(|s| s.1).unwrap(),
        samples.iter().max_by_key(|s| s.1).unwrap(),
    );
    // The spread the round trips cannot explain.
    let spread = ((hi.1 - lo.1).abs() - hi.2 - lo.2).max(0) as u64;
    let th = &profile.thresholds;
    let status = if spread >= th.clock_offset_ms_fail {
        Status::Fail
    } else if spread >= th.clock_offset_ms_warn {
        Status::Warn
    } else {
        Status::Ok
    };
    f(
        "time.offset",
        status,
        format!(
            "clocks differ by at most {spread} ms ({} ahead of {})",
            hi.0, lo.0
        ),
    )
    .with(json!(samples
        .iter()
        .map(|s| (s.0.clone(), s.1))
        .collect::<BTreeMap<_, _>>()))
}

fn files(nodes: &BTreeMap<String, &NodeObs>, profile: &Profile) -> Finding {
    let mut problems = Vec::new();
    let mut evidence = BTreeMap::new();
    for expect in &profile.files {
        let mut by_hash: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (node, obs) in nodes {
            let Ok(stat) = &obs.files else { continue };
            let Some(s) = stat.files.iter().find(|s| s.path == expect.path) else {
                continue;
            };
            let h = match (&s.sha256, s.exists) {
                (Some(h), true) => h[..12.min(h.len())].to_string(),
                (_, false) => "missing".to_string(),
                (None, true) => format!("unreadable ({})", s.error.as_deref().unwrap_or("?")),
            };
            by_hash.entry(h).or_default().push(node.clone());
        }
        if by_hash.len() == 1 && by_hash.contains_key("missing") {
            if !expect.optional {
                problems.push(format!("{} is missing on every node", expect.path));
            }
        } else if by_hash.len() > 1 {
            let majority = by_hash
                .iter()
                .max_by_key(|(_, n)| n.len())
                .map(|(h, _)| h.clone())
                .unwrap_or_default();
            for (h, ns) in by_hash.iter().filter(|(h, _)| **h != majority) {
                problems.push(format!(
                    "{} does not match between nodes: {} has {h} (majority: {majority})",
                    expect.path,
                    ns.join(", ")
                ));
            }
        }
        evidence.insert(expect.path.clone(), by_hash);
    }
    if nodes.values().all(|o| o.files.is_err()) {
        return f(
            "files.consistent",
            Status::Unknown,
            "no node could stat the files",
        );
    }
    if problems.is_empty() {
        f(
            "files.consistent",
            Status::Ok,
            format!("{} files identical on all nodes", profile.files.len()),
        )
    } else {
        f("files.consistent", Status::Fail, problems.join("; "))
    }
    .with(json!(evidence))
}

/// A failure of the task itself: its process exited non-zero, or it could not start. Containers
/// killed by an engine going down (SIGTERM/SIGKILL, 255 from a lost shim) or removed under the
/// task ("No such container") say nothing about the service.
fn own_failure(t: &pfproto::probe::TaskView) -> bool {
    if !matches!(t.state.as_str(), "failed" | "rejected") {
        return false;
    }
    // Swarm reports these with exit code 0 (the container never ran), so the error decides first.
    if t.error
        .as_deref()
        .is_some_and(|e| e.contains("No such container"))
    {
        return false;
    }
    match t.exit_code {
        Some(137 | 143 | 255) => false,
        Some(c) if c != 0 => true,
        // never ran: a failure of its own only when the engine said why (a bad mount, image, ...)
        _ => t.error.is_some(),
    }
}

/// A slot running this long after its failures has recovered.
const STABLE_AFTER_S: i64 = 60;

fn swarm(v: &SwarmView, profile: &Profile, now_unix: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let managers: Vec<_> = v.nodes.iter().filter(|n| n.role == "manager").collect();
    let m = managers.len() as u64;
    out.push(if m < profile.managers_min {
        f(
            "swarm.managers",
            Status::Fail,
            format!("{m} managers; at least {} needed", profile.managers_min),
        )
    } else if m % 2 == 0 {
        f(
            "swarm.managers",
            Status::Warn,
            format!(
                "{m} managers: an even number tolerates no more failures than {}",
                m - 1
            ),
        )
    } else {
        f("swarm.managers", Status::Ok, format!("{m} managers"))
    });
    let unreachable: Vec<String> = managers
        .iter()
        .filter(|n| n.manager_reachability.as_deref() != Some("reachable"))
        .map(|n| {
            format!(
                "{} ({})",
                n.hostname,
                n.manager_reachability.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    out.push(if unreachable.is_empty() {
        f(
            "swarm.managers_reachable",
            Status::Ok,
            "all managers reachable",
        )
    } else {
        f(
            "swarm.managers_reachable",
            Status::Fail,
            format!("managers not reachable: {}", unreachable.join(", ")),
        )
    });
    out.push(match managers.iter().find(|n| n.leader) {
        Some(l) => f(
            "swarm.leader",
            Status::Ok,
            format!("leader: {}", l.hostname),
        ),
        None => f("swarm.leader", Status::Fail, "no leader"),
    });
    let reachable = m - unreachable.len() as u64;
    let quorum = m / 2 + 1;
    let margin = reachable as i64 - quorum as i64;
    out.push(
        match margin {
            i64::MIN..=-1 => f("swarm.quorum_margin", Status::Fail, format!("quorum lost: {reachable} of {m} managers reachable, {quorum} needed")),
            0 => f("swarm.quorum_margin", Status::Warn, format!("{reachable} of {m} managers reachable, quorum needs {quorum}: 0 more may fail")),
            n => f("swarm.quorum_margin", Status::Ok, format!("{reachable} of {m} managers reachable, quorum needs {quorum}: {n} more may fail")),
        }
        .with(json!({"managers": m, "reachable": reachable, "quorum": quorum, "margin": margin})),
    );
    let hostname: BTreeMap<&str, &str> = v
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.hostname.as_str()))
        .collect();
    let mut missing = Vec::new();
    let mut short = Vec::new();
    let mut looping = Vec::new();
    let mut misplaced = Vec::new();
    let mut not_single = Vec::new();
    for expect in &profile.services {
        let Some(svc) = v.services.iter().find(|s| s.name == expect.name) else {
            missing.push(expect.name.clone());
            continue;
        };
        let want = match (svc.desired, expect.replicas) {
            (Some(d), Some(p)) => Some(d.max(p)),
            (d, p) => d.or(p),
        };
        if let Some(want) = want {
            if svc.running < want || want == 0 {
                short.push(format!("{} {}/{}", svc.name, svc.running, want));
            }
        }
        // One engine restart fails every slot once; a loop is the same slot
        // (or, for global services, the same node) failing again and again
        // and not running stably since.
        let slot_of = |t: &pfproto::probe::TaskView| {
            t.slot.map_or_else(|| t.node_id.clone(), |s| s.to_string())
        };
        let mut per_slot: BTreeMap<String, usize> = BTreeMap::new();
        for t in svc
            .tasks
            .iter()
            .filter(|t| own_failure(t) && now_unix - t.timestamp_unix < 600)
        {
            *per_slot.entry(slot_of(t)).or_default() += 1;
        }
        let stable: Vec<String> = svc
            .tasks
            .iter()
            .filter(|t| t.state == "running" && now_unix - t.timestamp_unix >= STABLE_AFTER_S)
            .map(slot_of)
            .collect();
        let worst = per_slot
            .iter()
            .filter(|(slot, _)| !stable.contains(slot))
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        if worst >= 3 {
            looping.push(format!(
                "{} ({worst} failed tasks in one slot in 10 min)",
                svc.name
            ));
        }
        let running: Vec<&str> = svc
            .tasks
            .iter()
            .filter(|t| t.state == "running")
            .map(|t| hostname.get(t.node_id.as_str()).copied().unwrap_or("?"))
            .collect();
        if let Some(pin) = &expect.pinned_node {
            let wrong: Vec<&&str> = running.iter().filter(|h| **h != pin.as_str()).collect();
            if !wrong.is_empty() {
                misplaced.push(format!(
                    "{} runs on {} (pinned to {pin})",
                    svc.name,
                    wrong
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if expect.singleton && running.len() != 1 {
            not_single.push(format!("{} has {} running tasks", svc.name, running.len()));
        }
    }
    let verdict = |id, bad: Vec<String>, ok: &str, what: &str| {
        if bad.is_empty() {
            f(id, Status::Ok, ok.to_string())
        } else {
            f(id, Status::Fail, format!("{what}: {}", bad.join(", ")))
        }
    };
    out.push(verdict(
        "stack.services_present",
        missing,
        &format!(
            "{} services of stack {} present",
            profile.services.len(),
            profile.stack
        ),
        "missing services",
    ));
    out.push(verdict(
        "stack.replicas",
        short,
        "every service at its replica count",
        "not converged",
    ));
    out.push(verdict(
        "stack.restart_loop",
        looping,
        "no service restarting",
        "restarting",
    ));
    out.push(verdict(
        "stack.placement",
        misplaced,
        "pinned services on their nodes",
        "misplaced",
    ));
    out.push(verdict(
        "stack.singleton",
        not_single,
        "singletons run exactly once",
        "singleton broken",
    ));
    out
}

/// `swarm.node_active` from the swarm's own view: a node the profile does not list in
/// `drained_nodes` must have availability `active`. The node's local facts cannot tell, since a
/// drained node's engine still says its swarm state is active.
pub fn availability(
    findings: &mut [Finding],
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
) {
    let Some(view) = nodes
        .values()
        .filter_map(|o| o.swarm.as_ref()?.as_ref().ok())
        .find(|v| v.error.is_none() && !v.nodes.is_empty())
    else {
        return;
    };
    for finding in findings
        .iter_mut()
        .filter(|x| x.id == "swarm.node_active" && x.status == Status::Ok)
    {
        let Some(obs) = nodes.get(&finding.node) else {
            continue;
        };
        let Ok(facts) = &obs.facts else { continue };
        let Some(n) = view
            .nodes
            .iter()
            .find(|n| n.id == facts.docker.swarm.node_id)
        else {
            continue;
        };
        if n.availability != "active" && !profile.drained_nodes.contains(&n.hostname) {
            finding.status = Status::Fail;
            finding.message = format!(
                "availability {} (the profile wants it active; set drained_nodes to intend this)",
                n.availability
            );
            finding.evidence =
                json!({"availability": n.availability, "hostname": n.hostname, "node_id": n.id});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfproto::probe::{ServiceView, SwarmNode, TaskView};

    fn task(slot: u64, state: &str, exit: Option<i64>, error: Option<&str>, at: i64) -> TaskView {
        TaskView {
            id: format!("t{slot}{at}"),
            node_id: "n1".into(),
            slot: Some(slot),
            state: state.into(),
            desired_state: "shutdown".into(),
            error: error.map(str::to_string),
            exit_code: exit,
            timestamp_unix: at,
        }
    }

    fn looping(tasks: Vec<TaskView>) -> Status {
        let view = SwarmView {
            nodes: vec![SwarmNode {
                id: "n1".into(),
                hostname: "node1".into(),
                role: "manager".into(),
                leader: true,
                ..Default::default()
            }],
            services: vec![ServiceView {
                name: "pfdemo_web".into(),
                desired: Some(1),
                running: 1,
                tasks,
                ..Default::default()
            }],
            ..Default::default()
        };
        let profile = crate::profile::load("demo", None).unwrap();
        swarm(&view, &profile, 1000)
            .into_iter()
            .find(|f| f.id == "stack.restart_loop")
            .unwrap()
            .status
    }

    #[test]
    fn a_slot_exiting_non_zero_again_and_again_is_a_loop() {
        let t = (0..3)
            .map(|i| task(1, "failed", Some(1), None, 990 - i))
            .collect();
        assert_eq!(looping(t), Status::Fail);
    }

    #[test]
    fn engine_restarts_and_vanished_containers_are_not_a_loop() {
        let mut t: Vec<TaskView> = [137, 143, 255]
            .iter()
            .map(|c| task(1, "failed", Some(*c), None, 990))
            .collect();
        t.push(task(1, "failed", None, Some("No such container: x"), 991));
        // Swarm's own record of a vanished container: exit code 0 and the error
        t.extend((0..3).map(|i| task(2, "failed", Some(0), Some("No such container: y"), 992 - i)));
        // one failure per slot, as after one engine restart
        t.extend((2..6).map(|s| task(s, "failed", Some(1), None, 990)));
        assert_eq!(looping(t), Status::Ok);
    }

    #[test]
    fn a_slot_running_stably_since_its_failures_has_recovered() {
        let mut t: Vec<TaskView> = (0..3)
            .map(|i| task(1, "failed", Some(1), None, 800 - i))
            .collect();
        t.push(task(1, "running", None, None, 900));
        assert_eq!(looping(t), Status::Ok);
    }
}
