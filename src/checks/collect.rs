//! Collectors: one round of agent calls per node, concurrently, each bounded; what a node could not
//! answer is recorded as missing so its analyzers say `unknown` instead of guessing.

use crate::context::now_unix_ms;
use crate::fanout::{Node, NodeError};
use crate::profile::Profile;
use crate::rpc::AgentConn;
use crate::transport::Route;
use pfproto::facts::NodeFacts;
use pfproto::history::{HistoryList, HistoryListParams, HistoryRecord};
use pfproto::method;
use pfproto::probe::{
    ContainerExec, ContainerExecParams, ContainerList, FilesStat, FilesStatParams, HttpGet,
    HttpGetParams, NetProbe, NetProbeParams, NetTarget, SwarmView,
};
use pfproto::PingResult;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The node's clock against ours, measured over one round trip.
#[derive(Debug, Clone, Copy)]
pub struct ClockSample {
    pub offset_ms: i64,
    /// Half the round trip: the offset is known to within this.
    pub uncertainty_ms: i64,
}

#[derive(Debug)]
pub struct NodeObs {
    pub route: Option<Route>,
    pub agent_version: Option<String>,
    pub facts: Result<NodeFacts, String>,
    pub clock: Option<ClockSample>,
    pub files: Result<FilesStat, String>,
    pub containers: Result<ContainerList, String>,
    /// Only managers answer; `None` on workers.
    pub swarm: Option<Result<SwarmView, String>>,
    pub net: Result<NetProbe, String>,
    pub http: Vec<(String, Result<HttpGet, String>)>,
    /// The node's recent healthcheck runs, newest first (for "what changed").
    pub history: Result<Vec<HistoryRecord>, String>,
    /// "verify cmd in container": per exec probe, each local running container's answer.
    pub exec: Vec<ExecObs>,
    /// Set on the one node that ran the application probes.
    pub app: Option<super::app::AppObs>,
    /// Milliseconds per collector, so slow checks are visible.
    pub timings: BTreeMap<&'static str, u64>,
}

#[derive(Debug)]
pub struct ExecObs {
    pub service: String,
    /// Container name and its answer; empty when no container of the service runs here.
    pub runs: Vec<(String, Result<ContainerExec, String>)>,
}

/// How long one collector may take before its checks become `unknown`.
pub const CALL_DEADLINE: Duration = Duration::from_secs(15);

pub(crate) async fn timed<T: DeserializeOwned>(
    conn: &AgentConn,
    method: &str,
    params: Value,
    deadline: Duration,
    timings: &std::sync::Mutex<BTreeMap<&'static str, u64>>,
    label: &'static str,
) -> Result<T, String> {
    let start = Instant::now();
    let r = match tokio::time::timeout(deadline, conn.call::<T>(method, params)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {}s (deadline)",
            deadline.as_secs()
        )),
    };
    timings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(label, start.elapsed().as_millis() as u64);
    r
}

/// `peers`: the other nodes' addresses, probed on the swarm ports from this node. The first node
/// to take `app_claim` also runs the application probes.
pub async fn collect(
    node: &Node,
    profile: &Profile,
    peers: &[String],
    app_claim: &AtomicBool,
) -> Result<NodeObs, NodeError> {
    let (conn, route) = node.agent().await?;
    let runs_app = !app_claim.swap(true, Ordering::SeqCst);
    let timings = std::sync::Mutex::new(BTreeMap::new());
    let t = &timings;
    let files: Vec<String> = profile.files.iter().map(|f| f.path.clone()).collect();
    let targets: Vec<NetTarget> = peers
        .iter()
        .flat_map(|p| {
            profile.swarm_ports.iter().map(move |port| NetTarget {
                host: p.clone(),
                port: *port,
            })
        })
        .collect();
    let clock = async {
        let t0 = now_unix_ms();
        let r: Result<PingResult, String> = timed(
            conn,
            method::AGENT_PING,
            Value::Null,
            CALL_DEADLINE,
            t,
            "clock",
        )
        .await;
        let t1 = now_unix_ms();
        r.ok().map(|p| ClockSample {
            offset_ms: p.unix_ms - (t0 + t1) / 2,
            uncertainty_ms: (t1 - t0) / 2 + 1,
        })
    };
    let facts = timed::<NodeFacts>(
        conn,
        method::NODE_FACTS,
        Value::Null,
        CALL_DEADLINE,
        t,
        "facts",
    );
    let files = timed::<FilesStat>(
        conn,
        method::FILES_STAT,
        serde_json::to_value(FilesStatParams { paths: files }).unwrap_or_default(),
        CALL_DEADLINE,
        t,
        "files",
    );
    let containers = timed::<ContainerList>(
        conn,
        method::CONTAINERS_LIST,
        Value::Null,
        CALL_DEADLINE,
        t,
        "containers",
    );
    let swarm = timed::<SwarmView>(
        conn,
        method::SWARM_INSPECT,
        Value::Null,
        CALL_DEADLINE,
        t,
        "swarm",
    );
    let net = timed::<NetProbe>(
        conn,
        method::NET_PROBE,
        serde_json::to_value(NetProbeParams {
            targets,
            timeout_ms: 2000,
        })
        .unwrap_or_default(),
        CALL_DEADLINE,
        t,
        "net",
    );
    let http = async {
        let mut out = Vec::new();
        for e in &profile.endpoints {
            let params = HttpGetParams {
                url: e.url.clone(),
                timeout_ms: e.timeout_ms,
                basic_auth: None,
                max_body_bytes: None,
            };
            let deadline = Duration::from_millis(e.timeout_ms + 2000);
            let r = timed::<HttpGet>(
                conn,
                method::HTTP_GET,
                serde_json::to_value(params).unwrap_or_default(),
                deadline,
                t,
                "http",
            )
            .await;
            out.push((e.name.clone(), r));
        }
        out
    };
    let app = async {
        if runs_app {
            Some(super::app::collect(conn, profile, &node.target.name, t).await)
        } else {
            None
        }
    };
    let history = timed::<HistoryList>(
        conn,
        method::HISTORY_LIST,
        serde_json::to_value(HistoryListParams {
            limit: crate::history::COLLECT_LIMIT,
        })
        .unwrap_or_default(),
        CALL_DEADLINE,
        t,
        "history",
    );
    let (clock, facts, files, containers, swarm, net, http, app, history) =
        tokio::join!(clock, facts, files, containers, swarm, net, http, app, history);
    let exec = exec_probes(conn, profile, &containers, t).await;
    let is_manager = facts
        .as_ref()
        .map(|f| f.docker.swarm.is_manager)
        .unwrap_or(false);
    Ok(NodeObs {
        route: Some(*route),
        agent_version: conn.hello.as_ref().map(|h| h.agent_version.clone()),
        facts,
        clock,
        files,
        containers,
        swarm: is_manager.then_some(swarm),
        net,
        http,
        history: history.map(|h| h.records),
        exec,
        app,
        timings: timings.into_inner().unwrap_or_default(),
    })
}

/// Runs each exec probe in every running container of its service on this node, all at once.
async fn exec_probes(
    conn: &AgentConn,
    profile: &Profile,
    containers: &Result<ContainerList, String>,
    t: &std::sync::Mutex<BTreeMap<&'static str, u64>>,
) -> Vec<ExecObs> {
    let Ok(list) = containers else {
        return Vec::new();
    };
    let probes = profile.exec.iter().map(|p| async move {
        let local = list
            .containers
            .iter()
            .filter(|c| c.state == "running" && c.service.as_deref() == Some(p.service.as_str()));
        let runs = local.map(|c| async move {
            let params = ContainerExecParams {
                container: c.id.clone(),
                cmd: p.cmd.clone(),
                timeout_ms: p.timeout_ms,
            };
            let r = timed::<ContainerExec>(
                conn,
                method::CONTAINER_EXEC,
                serde_json::to_value(params).unwrap_or_default(),
                Duration::from_millis(p.timeout_ms) + Duration::from_secs(2),
                t,
                "exec",
            )
            .await;
            (c.name.clone(), r)
        });
        ExecObs {
            service: p.service.clone(),
            runs: futures_util::future::join_all(runs).await,
        }
    });
    futures_util::future::join_all(probes).await
}

pub fn timings_json(obs: &NodeObs) -> Value {
    json!(obs.timings)
}
