//! Analyzers of one node's facts.

use super::collect::NodeObs;
use super::Finding;
use crate::profile::Profile;
use crate::report::Status;
use serde_json::json;

const MIB: u64 = 1024 * 1024;

/// Stage 1 and later checks of one reachable node. Stage 2 is skipped when the engine is down.
pub fn analyze(name: &str, obs: &NodeObs, profile: &Profile) -> Vec<Finding> {
    let th = &profile.thresholds;
    let mut out = Vec::new();
    let f = |id, status, msg: String| Finding::new(id, name, status, msg);
    out.push(match obs.route {
        Some(r) if r.is_one_shot() => f("agent.resident", Status::Warn, format!("the resident agent is not running; a one-shot agent answered ({r}). Start it: pfctl agent install")),
        _ => f("agent.resident", Status::Ok, format!("pfagent {}", obs.agent_version.as_deref().unwrap_or("?"))),
    });
    let facts = match &obs.facts {
        Ok(facts) => facts,
        Err(e) => {
            for id in [
                "docker.reachable",
                "node.cpu",
                "node.memory",
                "node.disk",
                "time.sync",
            ] {
                out.push(f(id, Status::Unknown, format!("no facts: {e}")));
            }
            return out;
        }
    };
    let engine_up = facts.docker.reachable;
    out.push(if engine_up {
        f(
            "docker.reachable",
            Status::Ok,
            format!(
                "docker {} (API {})",
                facts.docker.version, facts.docker.api_version
            ),
        )
    } else {
        f(
            "docker.reachable",
            Status::Fail,
            facts
                .docker
                .error
                .clone()
                .unwrap_or_else(|| "engine unreachable".into()),
        )
    });

    let cpus = facts.cpu.count.max(1) as f64;
    let per_cpu = facts.cpu.load[0] / cpus;
    let cpu_status = if per_cpu >= th.load_per_cpu_fail {
        Status::Fail
    } else if per_cpu >= th.load_per_cpu_warn {
        Status::Warn
    } else {
        Status::Ok
    };
    out.push(
        f(
            "node.cpu",
            cpu_status,
            format!(
                "load {:.2} on {} CPUs ({per_cpu:.2} per CPU; warn at {})",
                facts.cpu.load[0], facts.cpu.count, th.load_per_cpu_warn
            ),
        )
        .with(json!({"load": facts.cpu.load, "cpus": facts.cpu.count})),
    );

    let avail_mb = facts.memory.available_bytes / MIB;
    let used_pct = 100.0
        * (1.0 - facts.memory.available_bytes as f64 / facts.memory.total_bytes.max(1) as f64);
    let mem = if avail_mb < th.memory_available_mb_warn {
        f(
            "node.memory",
            Status::Warn,
            format!(
                "There is less than {}mb memory available ({avail_mb} MB free)",
                th.memory_available_mb_warn
            ),
        )
    } else if used_pct >= th.memory_used_pct_warn {
        f(
            "node.memory",
            Status::Warn,
            format!(
                "memory {used_pct:.0}% used (warn at {}%)",
                th.memory_used_pct_warn
            ),
        )
    } else {
        f(
            "node.memory",
            Status::Ok,
            format!("{avail_mb} MB available, {used_pct:.0}% used"),
        )
    };
    out.push(mem.with(json!({"available_mb": avail_mb, "used_pct": used_pct})));

    let mut disk_status = Status::Ok;
    let mut notes = Vec::new();
    for d in &facts.disks {
        let used = 100.0 * (1.0 - d.available_bytes as f64 / d.total_bytes.max(1) as f64);
        let s = if used >= th.disk_used_pct_fail {
            Status::Fail
        } else if used >= th.disk_used_pct_warn {
            Status::Warn
        } else {
            Status::Ok
        };
        disk_status = disk_status.max(s);
        notes.push(format!("{} ({}) {used:.0}% used", d.mount_point, d.role));
    }
    out.push(f("node.disk", disk_status, notes.join(", ")).with(json!(facts.disks)));

    out.push(match facts.clock.synchronized {
        Some(true) => f("time.sync", Status::Ok, facts.clock.detail.clone()),
        _ if !th.require_time_sync => f(
            "time.sync",
            Status::Skip,
            format!("not required by this profile ({})", facts.clock.detail),
        ),
        Some(false) => f(
            "time.sync",
            Status::Fail,
            format!("{}; enable and start chronyd", facts.clock.detail),
        ),
        None => f("time.sync", Status::Unknown, facts.clock.detail.clone()),
    });

    match &obs.files {
        Ok(files) => {
            let bad: Vec<String> = profile
                .files
                .iter()
                .filter(|e| e.secret)
                .filter_map(|e| files.files.iter().find(|s| s.path == e.path && s.exists))
                .filter(|s| s.mode & 0o007 != 0 || s.uid != 0)
                .map(|s| format!("{} is {}:{} mode {:04o} (want owner root and no access for others, e.g. 0600)", s.path, s.owner, s.group, s.mode))
                .collect();
            out.push(if bad.is_empty() {
                f(
                    "files.secret_mode",
                    Status::Ok,
                    "secret files are private".into(),
                )
            } else {
                f("files.secret_mode", Status::Fail, bad.join("; "))
            });
        }
        Err(e) => out.push(f("files.secret_mode", Status::Unknown, e.clone())),
    }

    out.push(match &obs.net {
        Ok(net) => {
            // A refused connection came from the peer itself: the way is open and nothing
            // listens on that port (a worker's 2377, an engine outside the swarm), which the
            // swarm checks judge. Only silence or an unreachable network fails here.
            let refused = net
                .results
                .iter()
                .filter(|r| !r.ok && r.error.as_deref() == Some("refused"))
                .count();
            let down: Vec<String> = net
                .results
                .iter()
                .filter(|r| !r.ok && r.error.as_deref() != Some("refused"))
                .map(|r| {
                    format!(
                        "{}:{} {}",
                        r.host,
                        r.port,
                        r.error.as_deref().unwrap_or("failed")
                    )
                })
                .collect();
            if down.is_empty() {
                f(
                    "net.connectivity",
                    Status::Ok,
                    if refused == 0 {
                        format!("{} peer ports reachable", net.results.len())
                    } else {
                        format!(
                            "{} peer ports reachable ({refused} answered that nothing listens there)",
                            net.results.len()
                        )
                    },
                )
            } else {
                f(
                    "net.connectivity",
                    Status::Fail,
                    format!("cannot reach {}", down.join(", ")),
                )
                .with(json!(net.results))
            }
        }
        Err(e) => f("net.connectivity", Status::Unknown, e.clone()),
    });

    // Stage 2 and later need the engine.
    if !engine_up {
        let why = "skipped: the Docker Engine on this node is unreachable".to_string();
        out.push(f("swarm.node_active", Status::Skip, why.clone()));
        out.push(f("containers.exited", Status::Skip, why.clone()));
        for (name, _) in &obs.http {
            out.push(f("endpoint.http", Status::Skip, why.clone()).with(json!({"endpoint": name})));
        }
        if !profile.exec.is_empty() {
            out.push(f("container.cmd", Status::Skip, why));
        }
        return out;
    }
    let sw = &facts.docker.swarm;
    out.push(match sw.state.as_str() {
        "active" => f(
            "swarm.node_active",
            Status::Ok,
            format!(
                "{} {}",
                if sw.is_manager { "manager" } else { "worker" },
                sw.node_addr
            ),
        ),
        "" | "inactive" => f(
            "swarm.node_active",
            Status::Fail,
            "not part of a swarm (run autocluster)".into(),
        ),
        other => f(
            "swarm.node_active",
            Status::Fail,
            format!(
                "swarm state {other}{}",
                sw.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        ),
    });
    out.push(match &obs.containers {
        Ok(list) => {
            let exited: Vec<&str> = list
                .containers
                .iter()
                .filter(|c| c.state == "exited" || c.state == "dead")
                .map(|c| c.name.as_str())
                .collect();
            let s = if exited.len() as u64 > th.exited_containers_warn {
                Status::Warn
            } else {
                Status::Ok
            };
            f(
                "containers.exited",
                s,
                format!("{} exited (stale) containers", exited.len()),
            )
            .with(json!({"exited": exited.len(), "names": exited}))
        }
        Err(e) => f("containers.exited", Status::Unknown, e.clone()),
    });
    for (name, r) in &obs.http {
        let finding = match r {
            Ok(h) => match (h.status, &h.error) {
                (Some(code), _) if (200..400).contains(&code) => f(
                    "endpoint.http",
                    Status::Ok,
                    format!("HTTP {code} in {} ms", h.ms),
                ),
                (Some(code), _) if code >= 500 => f(
                    "endpoint.http",
                    Status::Fail,
                    format!(
                        "HTTP {code}: {}",
                        h.body_snippet.chars().take(200).collect::<String>()
                    ),
                ),
                (Some(code), _) => f("endpoint.http", Status::Warn, format!("HTTP {code}")),
                (None, Some(e)) if e.contains("within") => {
                    f("endpoint.http", Status::Unknown, e.clone())
                }
                (None, e) => f(
                    "endpoint.http",
                    Status::Fail,
                    format!("down: {}", e.as_deref().unwrap_or("no answer")),
                ),
            },
            Err(e) => f("endpoint.http", Status::Unknown, e.clone()),
        };
        out.push(finding.with(json!({"endpoint": name})));
    }
    if !profile.exec.is_empty() {
        out.push(exec(name, obs));
    }
    out
}

/// One line per node for all exec probes: the worst container's answer decides.
fn exec(name: &str, obs: &NodeObs) -> Finding {
    let f = |s, m: String| Finding::new("container.cmd", name, s, m);
    if let Err(e) = &obs.containers {
        return f(Status::Unknown, format!("containers not listed: {e}"));
    }
    let mut failed = Vec::new();
    let mut unknown = Vec::new();
    let mut ok = Vec::new();
    let mut absent = Vec::new();
    for probe in &obs.exec {
        if probe.runs.is_empty() {
            absent.push(probe.service.as_str());
        }
        for (container, r) in &probe.runs {
            match r {
                Ok(x) => match (x.exit_code, &x.error) {
                    (Some(0), _) => ok.push(container.as_str()),
                    (Some(code), _) => failed.push(format!(
                        "{container}: exit {code}: {}",
                        x.output.trim().chars().take(200).collect::<String>()
                    )),
                    (None, e) => unknown.push(format!(
                        "{container}: {}",
                        e.as_deref().unwrap_or("did not finish")
                    )),
                },
                Err(e) => unknown.push(format!("{container}: {e}")),
            }
        }
    }
    let evidence = json!({"ok": ok, "failed": failed, "unknown": unknown, "not_here": absent});
    let finding = if !failed.is_empty() {
        f(Status::Fail, failed.join("; "))
    } else if !unknown.is_empty() {
        f(Status::Unknown, unknown.join("; "))
    } else if ok.is_empty() {
        f(
            Status::Skip,
            format!("{} not running on this node", absent.join(", ")),
        )
    } else {
        f(Status::Ok, format!("{} container(s) answered", ok.len()))
    };
    finding.with(evidence)
}
