//! Engine-backed probes: `containers.list`, `swarm.inspect`, `container.exec`. Like the facts,
//! an unreachable engine (or a node that cannot answer) is part of the answer, not an RPC error.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerSummary, Node, Service, Task};
use bollard::query_parameters::{ListContainersOptionsBuilder, ListServicesOptions};
use bollard::Docker;
use futures_util::StreamExt;
use pfproto::probe::{
    ContainerExec, ContainerExecParams, ContainerInfo, ContainerList, ServiceView, SwarmNode,
    SwarmView, TaskView, EXEC_OUTPUT_BYTES, MAX_EXEC_TIMEOUT_MS, TASKS_PER_SERVICE,
};

use crate::docker::{call, nonneg, CallError, Engine};

const DEFAULT_EXEC_TIMEOUT_MS: u64 = 10_000;
/// Containers inspected at once for their restart counts.
const INSPECT_CONCURRENCY: usize = 8;
const NOT_MANAGER: &str = "this node is not a swarm manager";

impl Engine {
    pub async fn containers(&self) -> ContainerList {
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => return list_error(format!("engine unreachable: {e}")),
        };
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let summaries = match call("list containers", docker.list_containers(Some(opts))).await {
            Ok(s) => s,
            Err(e) => {
                self.forget_if_broken(&e).await;
                return list_error(engine_error(&e));
            }
        };
        // Restart counts and exact exit codes are only in the inspect data.
        let inspected: Vec<_> = futures_util::stream::iter(summaries)
            .map(|s| {
                let docker = docker.clone();
                async move {
                    let id = s.id.clone().unwrap_or_default();
                    let detail = call("inspect container", docker.inspect_container(&id, None))
                        .await
                        .ok();
                    container_info(s, detail)
                }
            })
            .buffered(INSPECT_CONCURRENCY)
            .collect()
            .await;
        ContainerList {
            containers: inspected,
            error: None,
        }
    }

    pub async fn swarm(&self) -> SwarmView {
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => return swarm_error(format!("engine unreachable: {e}")),
        };
        let info = match call("info", docker.info()).await {
            Ok(i) => i,
            Err(e) => {
                self.forget_if_broken(&e).await;
                return swarm_error(engine_error(&e));
            }
        };
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm
            .local_node_state
            .map(|s| s.to_string())
            .unwrap_or_default();
        if state != "active" {
            let state = if state.is_empty() { "unknown" } else { &state };
            return swarm_error(format!("swarm is not active on this node (state: {state})"));
        }
        if !swarm.control_available.unwrap_or(false) {
            return swarm_error(NOT_MANAGER.to_string());
        }
        let (nodes, services, tasks) = tokio::join!(
            call("list nodes", docker.list_nodes(None)),
            call(
                "list services",
                docker.list_services(None::<ListServicesOptions>)
            ),
            call("list tasks", docker.list_tasks(None)),
        );
        let (nodes, services, tasks) = match (nodes, services, tasks) {
            (Ok(n), Ok(s), Ok(t)) => (n, s, t),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                self.forget_if_broken(&e).await;
                return swarm_error(engine_error(&e));
            }
        };
        build_view(nodes, services, tasks)
    }

    pub async fn exec(&self, p: ContainerExecParams) -> ContainerExec {
        let timeout_ms =
            crate::net::clamp_timeout(p.timeout_ms, DEFAULT_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS);
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => return exec_error(format!("engine unreachable: {e}")),
        };
        let mut out = ContainerExec::default();
        let mut output = Vec::new();
        let run = run_exec(&docker, &p, &mut output, &mut out);
        let error = match tokio::time::timeout(Duration::from_millis(timeout_ms), run).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                self.forget_if_broken(&e).await;
                Some(engine_error(&e))
            }
            Err(_) => Some(format!("the command did not finish within {timeout_ms}ms")),
        };
        output.truncate(EXEC_OUTPUT_BYTES);
        out.output = String::from_utf8_lossy(&output).into_owned();
        out.error = error.or(out.error);
        out
    }
}

async fn run_exec(
    docker: &Docker,
    p: &ContainerExecParams,
    output: &mut Vec<u8>,
    out: &mut ContainerExec,
) -> Result<(), CallError> {
    let config = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(p.cmd.clone()),
        ..Default::default()
    };
    let created = call("create exec", docker.create_exec(&p.container, config)).await?;
    let started = call(
        "start exec",
        docker.start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        ),
    )
    .await?;
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = started
    {
        // Drain to the end so the command is never blocked on a full pipe; keep the start.
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    let bytes = chunk.into_bytes();
                    let room = EXEC_OUTPUT_BYTES.saturating_sub(output.len());
                    output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                Err(e) => {
                    out.error = Some(format!("reading the output failed: {e}"));
                    break;
                }
            }
        }
    }
    // The stream ends when the process exits, but dockerd may record the code a moment later.
    for _ in 0..20 {
        let inspect = call("inspect exec", docker.inspect_exec(&created.id)).await?;
        if inspect.running != Some(true) {
            out.exit_code = inspect.exit_code;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out.error
        .get_or_insert_with(|| "the command's output ended but it is still running".into());
    Ok(())
}

/// "no such container: x", "this node is not a swarm manager", or the engine's own words.
fn engine_error(e: &CallError) -> String {
    match e {
        CallError::Engine(_, BollardError::DockerResponseServerError { message, .. })
            if message.contains("not a swarm manager") =>
        {
            NOT_MANAGER.to_string()
        }
        CallError::Engine(
            what,
            BollardError::DockerResponseServerError {
                status_code,
                message,
            },
        ) => {
            let m = message.trim();
            let m = m.strip_prefix("Error response from daemon: ").unwrap_or(m);
            if *status_code == 404 {
                lowercase_first(m)
            } else {
                format!("{what}: {m}")
            }
        }
        CallError::Engine(_, e) if is_transport(e) => format!("engine unreachable: {e}"),
        CallError::Timeout(_) => format!("engine unreachable: {e}"),
        other => other.to_string(),
    }
}

fn is_transport(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::IOError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::RequestTimeoutError
            | BollardError::SocketNotFoundError(_)
    )
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn list_error(e: String) -> ContainerList {
    ContainerList {
        containers: Vec::new(),
        error: Some(e),
    }
}

fn swarm_error(e: String) -> SwarmView {
    SwarmView {
        error: Some(e),
        ..Default::default()
    }
}

fn exec_error(e: String) -> ContainerExec {
    ContainerExec {
        error: Some(e),
        ..Default::default()
    }
}

fn container_info(
    s: ContainerSummary,
    detail: Option<bollard::models::ContainerInspectResponse>,
) -> ContainerInfo {
    let labels = s.labels.unwrap_or_default();
    let state = s.state.map(|st| st.to_string()).unwrap_or_default();
    let status = s.status.unwrap_or_default();
    let stopped = matches!(state.as_str(), "exited" | "dead" | "restarting");
    let exit_code = if stopped {
        detail
            .as_ref()
            .and_then(|d| d.state.as_ref())
            .and_then(|st| st.exit_code)
            .or_else(|| exit_code_from_status(&status))
    } else {
        None
    };
    let mut id = s.id.unwrap_or_default();
    id.truncate(12);
    let name = s
        .names
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_default();
    ContainerInfo {
        id,
        name: name.strip_prefix('/').unwrap_or(&name).to_string(),
        image: s.image.unwrap_or_default(),
        state,
        status,
        exit_code,
        created_unix: s.created.unwrap_or(0),
        service: labels.get("com.docker.swarm.service.name").cloned(),
        stack: labels.get("com.docker.stack.namespace").cloned(),
        restart_count: detail.and_then(|d| d.restart_count),
    }
}

/// "Exited (137) 5 minutes ago" → 137.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.split_once('(')?.1;
    rest.split_once(')')?.0.trim().parse().ok()
}

fn build_view(nodes: Vec<Node>, services: Vec<Service>, tasks: Vec<Task>) -> SwarmView {
    let mut nodes: Vec<SwarmNode> = nodes.into_iter().map(swarm_node).collect();
    nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));

    let mut by_service: HashMap<String, Vec<Task>> = HashMap::new();
    for t in tasks {
        if let Some(sid) = t.service_id.clone() {
            by_service.entry(sid).or_default().push(t);
        }
    }
    let mut services: Vec<ServiceView> = services
        .into_iter()
        .map(|s| {
            let tasks = by_service
                .remove(s.id.as_deref().unwrap_or_default())
                .unwrap_or_default();
            service_view(s, tasks)
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    SwarmView {
        nodes,
        services,
        error: None,
    }
}

fn swarm_node(n: Node) -> SwarmNode {
    let spec = n.spec.unwrap_or_default();
    let desc = n.description.unwrap_or_default();
    let status = n.status.unwrap_or_default();
    let mgr = n.manager_status;
    SwarmNode {
        id: n.id.unwrap_or_default(),
        hostname: desc.hostname.unwrap_or_default(),
        addr: status.addr.unwrap_or_default(),
        role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
        availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
        state: status.state.map(|s| s.to_string()).unwrap_or_default(),
        manager_reachability: mgr
            .as_ref()
            .and_then(|m| m.reachability.as_ref())
            .map(|r| r.to_string()),
        leader: mgr.and_then(|m| m.leader).unwrap_or(false),
        engine_version: desc
            .engine
            .and_then(|e| e.engine_version)
            .unwrap_or_default(),
    }
}

fn service_view(s: Service, tasks: Vec<Task>) -> ServiceView {
    let spec = s.spec.unwrap_or_default();
    let mode = spec.mode.unwrap_or_default();
    let (mode_name, desired) = if let Some(r) = mode.replicated {
        ("replicated", Some(nonneg(r.replicas)))
    } else if mode.global.is_some() {
        ("global", None)
    } else if mode.replicated_job.is_some() {
        ("replicated-job", None)
    } else if mode.global_job.is_some() {
        ("global-job", None)
    } else {
        ("", None)
    };
    let placement = spec
        .task_template
        .and_then(|t| t.placement)
        .unwrap_or_default();
    let mut tasks: Vec<(i64, u32, TaskView)> = tasks.into_iter().map(task_view).collect();
    let running = tasks.iter().filter(|t| t.2.state == "running").count() as u64;
    tasks.sort_by_key(|t| std::cmp::Reverse((t.0, t.1)));
    tasks.truncate(TASKS_PER_SERVICE);
    ServiceView {
        id: s.id.unwrap_or_default(),
        name: spec.name.unwrap_or_default(),
        mode: mode_name.to_string(),
        desired,
        running,
        constraints: placement.constraints.unwrap_or_default(),
        max_replicas_per_node: placement.max_replicas.filter(|&m| m > 0).map(|m| m as u64),
        labels: spec
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        tasks: tasks.into_iter().map(|t| t.2).collect(),
    }
}

/// The view plus its (seconds, nanoseconds) timestamp for ordering.
fn task_view(t: Task) -> (i64, u32, TaskView) {
    let status = t.status.unwrap_or_default();
    let state = status.state.map(|s| s.to_string()).unwrap_or_default();
    let stamp = status
        .timestamp
        .as_deref()
        .or(t.updated_at.as_deref())
        .and_then(parse_rfc3339)
        .unwrap_or((0, 0));
    let finished = matches!(
        state.as_str(),
        "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
    );
    let exit_code = if finished {
        status.container_status.and_then(|c| c.exit_code)
    } else {
        None
    };
    let view = TaskView {
        id: t.id.unwrap_or_default(),
        node_id: t.node_id.unwrap_or_default(),
        slot: t.slot.filter(|&s| s > 0).map(|s| s as u64),
        state,
        desired_state: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
        error: status.err.filter(|e| !e.is_empty()),
        exit_code,
        timestamp_unix: stamp.0,
    };
    (stamp.0, stamp.1, view)
}

/// "2024-05-01T12:34:56.123456789Z" or with a "+02:00" offset → (unix seconds, nanoseconds).
pub fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return None;
    }
    let b = s.as_bytes();
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let text = &frac[..digits];
        let padded: String = text.chars().chain("000000000".chars()).take(9).collect();
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some((
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset,
        nanos,
    ))
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:34:56.123456789Z"),
            Some((1_714_566_896, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:34:56.5+02:00"),
            Some((1_714_566_896, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Some((951_782_400, 0))
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z").map(|t| t.0 < 0),
            Some(true)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn exit_code_from_status_text() {
        assert_eq!(
            exit_code_from_status("Exited (137) 5 minutes ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 2 hours (healthy)"), None);
        assert_eq!(
            exit_code_from_status("Restarting (1) 3 seconds ago"),
            Some(1)
        );
    }

    fn task(id: &str, service: &str, state: &str, stamp: &str, exit: Option<i64>) -> Task {
        serde_json::from_value(serde_json::json!({
            "ID": id,
            "ServiceID": service,
            "NodeID": "n1",
            "Slot": 1,
            "DesiredState": "running",
            "Status": {
                "Timestamp": stamp,
                "State": state,
                "Err": if state == "failed" { "task: non-zero exit (1)" } else { "" },
                "ContainerStatus": {"ExitCode": exit},
            },
        }))
        .unwrap()
    }

    #[test]
    fn view_from_engine_json() {
        let nodes: Vec<Node> = serde_json::from_value(serde_json::json!([
            {"ID": "b", "Spec": {"Role": "worker", "Availability": "drain"},
             "Description": {"Hostname": "node2", "Engine": {"EngineVersion": "27.1.1"}},
             "Status": {"State": "down", "Addr": "10.0.0.2"}},
            {"ID": "a", "Spec": {"Role": "manager", "Availability": "active"},
             "Description": {"Hostname": "node1", "Engine": {"EngineVersion": "27.1.1"}},
             "Status": {"State": "ready", "Addr": "10.0.0.1"},
             "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.0.1:2377"}}
        ]))
        .unwrap();
        let services: Vec<Service> = serde_json::from_value(serde_json::json!([
            {"ID": "s1", "Spec": {"Name": "iservices_couchbase",
              "Labels": {"com.docker.stack.namespace": "iservices"},
              "Mode": {"Replicated": {"Replicas": 2}},
              "TaskTemplate": {"Placement": {"Constraints": ["node.hostname == node1"], "MaxReplicas": 1}}}},
            {"ID": "s2", "Spec": {"Name": "agent", "Mode": {"Global": {}}}}
        ]))
        .unwrap();
        let mut tasks = vec![
            task("t1", "s1", "running", "2024-05-01T12:00:00.2Z", Some(0)),
            task("t2", "s1", "failed", "2024-05-01T12:00:00.1Z", Some(1)),
        ];
        for i in 0..30 {
            tasks.push(task(
                &format!("old{i}"),
                "s1",
                "shutdown",
                &format!("2024-04-01T00:00:{i:02}Z"),
                Some(137),
            ));
        }
        let v = build_view(nodes, services, tasks);
        assert_eq!(v.nodes[0].hostname, "node1");
        assert!(v.nodes[0].leader);
        assert_eq!(
            v.nodes[0].manager_reachability.as_deref(),
            Some("reachable")
        );
        assert_eq!(
            (
                v.nodes[1].role.as_str(),
                v.nodes[1].availability.as_str(),
                v.nodes[1].state.as_str()
            ),
            ("worker", "drain", "down")
        );
        assert_eq!(v.nodes[1].manager_reachability, None);
        assert_eq!(v.services[0].name, "agent");
        assert_eq!(v.services[0].mode, "global");
        assert_eq!(v.services[0].desired, None);
        let s = &v.services[1];
        assert_eq!(
            (s.mode.as_str(), s.desired, s.running),
            ("replicated", Some(2), 1)
        );
        assert_eq!(s.constraints, vec!["node.hostname == node1"]);
        assert_eq!(s.max_replicas_per_node, Some(1));
        assert_eq!(s.labels["com.docker.stack.namespace"], "iservices");
        assert_eq!(s.tasks.len(), TASKS_PER_SERVICE);
        assert_eq!(s.tasks[0].id, "t1");
        assert_eq!(s.tasks[0].exit_code, None);
        assert_eq!(s.tasks[1].id, "t2");
        assert_eq!(s.tasks[1].exit_code, Some(1));
        assert_eq!(s.tasks[1].error.as_deref(), Some("task: non-zero exit (1)"));
        assert_eq!(s.tasks[2].id, "old29");
        assert_eq!(s.tasks[0].timestamp_unix, 1_714_564_800);
        assert_eq!(s.tasks[0].slot, Some(1));
    }

    #[tokio::test]
    async fn missing_engine_is_an_answer() {
        let e = Engine::new("unix:///nonexistent/docker.sock");
        let c = e.containers().await;
        assert!(c.containers.is_empty());
        assert!(c.error.unwrap().starts_with("engine unreachable: "));
        let s = e.swarm().await;
        assert!(s.error.unwrap().starts_with("engine unreachable: "));
        let x = e
            .exec(ContainerExecParams {
                container: "c".into(),
                cmd: vec!["true".into()],
                timeout_ms: 1000,
            })
            .await;
        assert_eq!(x.exit_code, None);
        assert!(x.error.unwrap().starts_with("engine unreachable: "));
    }
}
