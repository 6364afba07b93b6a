//! RabbitMQ through its management API, queried by the agent from its node: `GET /api/nodes`
//! (membership, running, partitions, memory and disk alarms) and, when the profile requires an HA
//! policy, `GET /api/policies` and `GET /api/overview` (the server version: RabbitMQ 4 removed
//! classic mirroring), all three at once.

use super::app::CLUSTER;
use super::Finding;
use crate::report::Status;
use crate::rpc::AgentConn;
use pfproto::probe::{BasicAuth, HttpGet, MAX_HTTP_BODY_BYTES};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const CHECKS: &[&str] = &[
    "rabbitmq.nodes",
    "rabbitmq.alarms",
    "rabbitmq.partitions",
    "rabbitmq.ha_policy",
];

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Management API base URL as seen from a node, e.g. `http://127.0.0.1:15672`.
    pub url: String,
    #[serde(default = "guest")]
    pub user: String,
    /// Plain password (an inventory override); `password_env` names an environment variable.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    pub expected_nodes: u64,
    /// A policy of this name must exist and apply to queues (`ha-all` on PowerFlow).
    #[serde(default)]
    pub ha_policy: Option<String>,
    #[serde(default = "timeout")]
    pub timeout_ms: u64,
}

fn guest() -> String {
    "guest".to_string()
}
fn timeout() -> u64 {
    5000
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("rabbitmq::Config")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("expected_nodes", &self.expected_nodes)
            .field("ha_policy", &self.ha_policy)
            .finish_non_exhaustive()
    }
}

/// Columns of `/api/nodes` the checks read (the full document is ~7 KiB per node).
const NODE_COLUMNS: &str = "name,running,type,partitions,mem_alarm,disk_free_alarm,mem_used,mem_limit,disk_free,disk_free_limit";
const OVERVIEW_COLUMNS: &str = "rabbitmq_version,cluster_name,node";

/// What the management API answered, as the agent fetched it. Holds no secret: the password is
/// resolved in `collect` and only sent.
#[derive(Debug)]
pub struct Obs {
    /// The management API's base URL, for messages (credentials stripped).
    pub base: String,
    /// Where the password came from, for messages ("password_env RABBIT_PASS", ...).
    pub credentials: String,
    /// The credentials or URL could not be used (e.g. `password_env` names an unset variable):
    /// nothing was asked, every check fails with this.
    pub config_error: Option<String>,
    /// `GET /api/nodes`.
    pub nodes: Option<Result<HttpGet, String>>,
    /// `GET /api/policies`, only when the profile requires an HA policy.
    pub policies: Option<Result<HttpGet, String>>,
    /// `GET /api/overview` (the server version), only when the profile requires an HA policy.
    pub overview: Option<Result<HttpGet, String>>,
}

/// The password to send and where it came from; `Err` says why there is none to send.
/// `env` looks up an environment variable (a parameter so tests need not touch the process's).
pub fn credentials(
    cfg: &Config,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, String), String> {
    let found = super::app::api_password(
        cfg.password.as_deref(),
        cfg.password_env.as_deref(),
        "rabbitmq",
        env,
    )?;
    Ok(match found {
        Some(p) => p,
        None if cfg.user == "guest" => {
            ("guest".to_string(), "guest's default password".to_string())
        }
        None => (
            String::new(),
            "no password (none is configured)".to_string(),
        ),
    })
}

/// `url` without a trailing slash and without any `user:pass@`.
fn display_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

pub async fn collect(
    conn: &AgentConn,
    cfg: &Config,
    timings: &Mutex<BTreeMap<&'static str, u64>>,
) -> Obs {
    let base = display_base(&cfg.url);
    let mut obs = Obs {
        base: base.clone(),
        credentials: String::new(),
        config_error: None,
        nodes: None,
        policies: None,
        overview: None,
    };
    if base != cfg.url.trim().trim_end_matches('/') {
        obs.config_error = Some(format!(
            "the rabbitmq url must not carry credentials: use url = \"{base}\" with user and password"
        ));
        return obs;
    }
    let (password, source) = match credentials(cfg, |v| std::env::var(v).ok()) {
        Ok(c) => c,
        Err(e) => {
            obs.config_error = Some(e);
            return obs;
        }
    };
    obs.credentials = source;
    let auth = || {
        Some(BasicAuth {
            user: cfg.user.clone(),
            password: password.clone(),
        })
    };
    let get = |path: String, label: &'static str| {
        let url = format!("{base}{path}");
        let auth = auth();
        async move {
            super::app::http_get(
                conn,
                &url,
                cfg.timeout_ms,
                auth,
                MAX_HTTP_BODY_BYTES,
                timings,
                label,
            )
            .await
        }
    };
    let wants_policy = cfg.ha_policy.is_some();
    let (nodes, policies, overview) = tokio::join!(
        get(
            format!("/api/nodes?columns={NODE_COLUMNS}"),
            "rabbitmq.nodes"
        ),
        async {
            match wants_policy {
                true => Some(get("/api/policies".to_string(), "rabbitmq.policies").await),
                false => None,
            }
        },
        async {
            match wants_policy {
                true => Some(
                    get(
                        format!("/api/overview?columns={OVERVIEW_COLUMNS}"),
                        "rabbitmq.overview",
                    )
                    .await,
                ),
                false => None,
            }
        },
    );
    obs.nodes = Some(nodes);
    obs.policies = policies;
    obs.overview = overview;
    obs
}

// ---- the management API's documents (only the fields read) ----

#[derive(Debug, Deserialize)]
struct NodeInfo {
    name: String,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    partitions: Vec<String>,
    #[serde(default)]
    mem_alarm: bool,
    #[serde(default)]
    disk_free_alarm: bool,
    #[serde(default)]
    mem_used: Option<f64>,
    #[serde(default)]
    mem_limit: Option<f64>,
    #[serde(default)]
    disk_free: Option<f64>,
    #[serde(default)]
    disk_free_limit: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Policy {
    name: String,
    #[serde(default)]
    vhost: String,
    #[serde(default)]
    pattern: String,
    #[serde(rename = "apply-to", default)]
    apply_to: String,
    #[serde(default)]
    definition: Value,
}

#[derive(Debug, Deserialize)]
struct Overview {
    #[serde(default)]
    rabbitmq_version: Option<String>,
}

/// Why an answer cannot be used: the status every check built on it gets, and the message.
type Problem = (Status, String);

fn answer<T: serde::de::DeserializeOwned>(
    obs: &Obs,
    cfg: &Config,
    path: &str,
    r: &Result<HttpGet, String>,
) -> Result<T, Problem> {
    let url = format!("{}{path}", obs.base);
    let h = match r {
        Ok(h) => h,
        Err(e) => {
            return Err((
                Status::Unknown,
                format!("{url}: no answer through the agent: {e}"),
            ))
        }
    };
    let Some(code) = h.status else {
        let why = h.error.as_deref().unwrap_or("no answer");
        return Err((
            Status::Unknown,
            format!("the management API at {url} is not reachable from the probing node: {why}"),
        ));
    };
    match code {
        200 => {}
        401 => {
            return Err((
                Status::Fail,
                format!(
                    "authentication failed for user {} at {} (HTTP 401, with {}): set the user's \
                     password in the inventory ([clusters.NAME.overrides.rabbitmq] user = \"...\", \
                     password = \"...\", with the file chmod 600) or name an environment variable \
                     holding it with password_env",
                    cfg.user, obs.base, obs.credentials
                ),
            ))
        }
        403 => {
            return Err((
                Status::Fail,
                format!(
                    "user {} may not read {url} (HTTP 403): give it the monitoring tag \
                     (rabbitmqctl set_user_tags {} monitoring) or use an administrator",
                    cfg.user, cfg.user
                ),
            ))
        }
        code => {
            return Err((
                Status::Unknown,
                format!(
                    "{url} answered HTTP {code}: {} (is {} the management API, port 15672?)",
                    snippet(&h.body_snippet),
                    obs.base
                ),
            ))
        }
    }
    if let Some(e) = &h.error {
        return Err((Status::Unknown, format!("{url}: {e}")));
    }
    if h.truncated {
        return Err((
            Status::Unknown,
            format!(
                "{url}: the answer is larger than the agent returns ({MAX_HTTP_BODY_BYTES} bytes)"
            ),
        ));
    }
    serde_json::from_str(&h.body_snippet).map_err(|e| {
        (
            Status::Unknown,
            format!(
                "{url} did not answer with the management API's JSON ({e}): {}",
                snippet(&h.body_snippet)
            ),
        )
    })
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    s.replace(['\n', '\r'], " ")
}

pub fn analyze(obs: &Obs, cfg: &Config) -> Vec<Finding> {
    if let Some(e) = &obs.config_error {
        return CHECKS
            .iter()
            .map(|id| Finding::new(id, CLUSTER, Status::Fail, e.clone()))
            .collect();
    }
    let nodes: Result<Vec<NodeInfo>, Problem> = match &obs.nodes {
        Some(r) => answer(obs, cfg, "/api/nodes", r),
        None => Err((Status::Unknown, "/api/nodes was not asked".to_string())),
    };
    let from_nodes = |id: &'static str, check: fn(&[NodeInfo], &Config) -> Finding| match &nodes {
        Ok(list) => check(list, cfg),
        Err((s, m)) => Finding::new(id, CLUSTER, *s, m.clone()),
    };
    vec![
        from_nodes("rabbitmq.nodes", node_count),
        from_nodes("rabbitmq.alarms", alarms),
        from_nodes("rabbitmq.partitions", partitions),
        ha_policy(obs, cfg),
    ]
}

fn names(list: &[&NodeInfo]) -> String {
    list.iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn node_count(list: &[NodeInfo], cfg: &Config) -> Finding {
    let f = |s, m: String| Finding::new("rabbitmq.nodes", CLUSTER, s, m);
    let running: Vec<&NodeInfo> = list.iter().filter(|n| n.running).collect();
    let stopped: Vec<&NodeInfo> = list.iter().filter(|n| !n.running).collect();
    let expected = cfg.expected_nodes;
    let n = running.len() as u64;
    let evidence = json!({
        "expected": expected,
        "running": running.iter().map(|n| &n.name).collect::<Vec<_>>(),
        "stopped": stopped.iter().map(|n| &n.name).collect::<Vec<_>>(),
    });
    let mut msg = format!(
        "{n} of {expected} expected nodes running: {}",
        names(&running)
    );
    if !stopped.is_empty() {
        msg.push_str(&format!("; stopped: {}", names(&stopped)));
    }
    let status = if n < expected {
        let absent = expected.saturating_sub(list.len() as u64);
        if absent > 0 {
            msg.push_str(&format!(
                "; {absent} expected node{} not in the cluster at all (never joined, or removed)",
                if absent == 1 { " is" } else { "s are" }
            ));
        }
        msg.push_str(
            ": start the missing RabbitMQ services/containers and check `rabbitmqctl cluster_status`",
        );
        Status::Fail
    } else if n > expected {
        msg = format!(
            "{n} nodes running, the profile expects {expected}: {} (set expected_nodes if the cluster grew on purpose)",
            names(&running)
        );
        Status::Warn
    } else if !stopped.is_empty() {
        msg.push_str(
            " (a member that is gone for good is removed with `rabbitmqctl forget_cluster_node NAME`)",
        );
        Status::Warn
    } else {
        Status::Ok
    };
    f(status, msg).with(evidence)
}

fn bytes(n: Option<f64>) -> String {
    n.map(crate::output::human_bytes)
        .unwrap_or_else(|| "?".to_string())
}

fn alarms(list: &[NodeInfo], _cfg: &Config) -> Finding {
    let f = |s, m: String| Finding::new("rabbitmq.alarms", CLUSTER, s, m);
    let running: Vec<&NodeInfo> = list.iter().filter(|n| n.running).collect();
    let int = |v: Option<f64>| v.map(|v| v as u64);
    let evidence = json!({"nodes": running
        .iter()
        .map(|n| json!({
            "node": n.name, "mem_alarm": n.mem_alarm, "disk_free_alarm": n.disk_free_alarm,
            "mem_used": int(n.mem_used), "mem_limit": int(n.mem_limit),
            "disk_free": int(n.disk_free), "disk_free_limit": int(n.disk_free_limit),
        }))
        .collect::<Vec<_>>()});
    if running.is_empty() {
        return f(
            Status::Unknown,
            "the management API lists no running node".to_string(),
        )
        .with(evidence);
    }
    let mut raised = Vec::new();
    for n in &running {
        if n.mem_alarm {
            raised.push(format!(
                "memory alarm on {}: {} used, watermark {}",
                n.name,
                bytes(n.mem_used),
                bytes(n.mem_limit)
            ));
        }
        if n.disk_free_alarm {
            raised.push(format!(
                "disk alarm on {}: {} free, limit {}",
                n.name,
                bytes(n.disk_free),
                bytes(n.disk_free_limit)
            ));
        }
    }
    if !raised.is_empty() {
        return f(
            Status::Fail,
            format!(
                "{}: RabbitMQ blocks every publisher until the alarm clears (free memory or disk on \
                 that node, or correct vm_memory_high_watermark / disk_free_limit)",
                raised.join("; ")
            ),
        )
        .with(evidence);
    }
    let busiest = running
        .iter()
        .filter_map(|n| Some((n, n.mem_used? / n.mem_limit.filter(|l| *l > 0.0)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut msg = format!(
        "no memory or disk alarm on the {} running node{}",
        running.len(),
        if running.len() == 1 { "" } else { "s" }
    );
    if let Some((n, _)) = busiest {
        msg.push_str(&format!(
            " (highest memory use: {} {} of its {} watermark)",
            n.name,
            bytes(n.mem_used),
            bytes(n.mem_limit)
        ));
    }
    f(Status::Ok, msg).with(evidence)
}

fn partitions(list: &[NodeInfo], _cfg: &Config) -> Finding {
    let f = |s, m: String| Finding::new("rabbitmq.partitions", CLUSTER, s, m);
    let running: Vec<&NodeInfo> = list.iter().filter(|n| n.running).collect();
    let split: Vec<&&NodeInfo> = running
        .iter()
        .filter(|n| !n.partitions.is_empty())
        .collect();
    let evidence = json!({"nodes": running
        .iter()
        .map(|n| json!({"node": n.name, "partitions": n.partitions}))
        .collect::<Vec<_>>()});
    if split.is_empty() {
        let n = running.len();
        return f(
            Status::Ok,
            format!(
                "no partition reported by the {n} running node{}",
                if n == 1 { "" } else { "s" }
            ),
        )
        .with(evidence);
    }
    let parts: Vec<String> = split
        .iter()
        .map(|n| format!("{} does not see {}", n.name, n.partitions.join(", ")))
        .collect();
    f(
        Status::Fail,
        format!(
            "network partition: {}: messages may be lost or duplicated; restart the RabbitMQ nodes \
             on the minority side (see `rabbitmqctl cluster_status`)",
            parts.join("; ")
        ),
    )
    .with(evidence)
}

/// The major version of a `rabbitmq_version` such as "3.10.8" or "4.0.5".
fn major(version: &str) -> Option<u32> {
    version.split(['.', '-', '+']).next()?.parse().ok()
}

fn ha_policy(obs: &Obs, cfg: &Config) -> Finding {
    let f = |s, m: String| Finding::new("rabbitmq.ha_policy", CLUSTER, s, m);
    let Some(want) = &cfg.ha_policy else {
        return f(
            Status::Ok,
            "no HA policy required by the profile".to_string(),
        );
    };
    let version = match &obs.overview {
        Some(r) => answer::<Overview>(obs, cfg, "/api/overview", r)
            .ok()
            .and_then(|o| o.rabbitmq_version),
        None => None,
    };
    if let Some(v) = &version {
        if major(v).is_some_and(|m| m >= 4) {
            return f(
                Status::Skip,
                format!(
                    "RabbitMQ {v} has no classic queue mirroring (ha-mode policies were removed in \
                     4.0), so the profile's ha_policy {want} does not apply: use quorum queues"
                ),
            )
            .with(json!({"rabbitmq_version": v}));
        }
    }
    let policies: Vec<Policy> = match &obs.policies {
        Some(r) => match answer(obs, cfg, "/api/policies", r) {
            Ok(p) => p,
            Err((s, m)) => return f(s, m),
        },
        None => return f(Status::Unknown, "/api/policies was not asked".to_string()),
    };
    let root: Vec<&Policy> = policies.iter().filter(|p| p.vhost == "/").collect();
    let ha_mode = |p: &Policy| p.definition.get("ha-mode").map(value_text);
    let evidence = json!({
        "rabbitmq_version": version,
        "policies": root.iter().map(|p| json!({
            "name": p.name, "pattern": p.pattern, "apply-to": p.apply_to, "definition": p.definition,
        })).collect::<Vec<_>>(),
    });
    let create = format!(
        "rabbitmqctl set_policy -p / {want} '.*' '{{\"ha-mode\":\"all\",\"ha-sync-mode\":\"automatic\"}}' --apply-to queues"
    );
    let Some(p) = root.iter().find(|p| &p.name == want) else {
        let mirroring: Vec<String> = root
            .iter()
            .filter_map(|p| Some(format!("{} (ha-mode {})", p.name, ha_mode(p)?)))
            .collect();
        if !mirroring.is_empty() {
            return f(
                Status::Warn,
                format!(
                    "no policy {want} on vhost /, but {} mirrors queues: set ha_policy to that name \
                     in the profile if it is the intended one",
                    mirroring.join(", ")
                ),
            )
            .with(evidence);
        }
        let others = match root.len() {
            0 => "vhost / has no policy".to_string(),
            _ => format!(
                "policies on vhost /: {}",
                root.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return f(
            Status::Fail,
            format!(
                "no policy {want} on vhost / ({others}): queues are not mirrored and are lost with \
                 their node; create it: {create}"
            ),
        )
        .with(evidence);
    };
    let Some(mode) = ha_mode(p) else {
        return f(
            Status::Fail,
            format!(
                "policy {want} on vhost / does not mirror queues: its definition {} has no ha-mode",
                p.definition
            ),
        )
        .with(evidence);
    };
    if p.apply_to == "exchanges" {
        return f(
            Status::Fail,
            format!("policy {want} applies to exchanges only, so no queue is mirrored: {create}"),
        )
        .with(evidence);
    }
    let params = p
        .definition
        .get("ha-params")
        .map(|v| format!(" {}", value_text(v)))
        .unwrap_or_default();
    f(
        Status::Ok,
        format!(
            "policy {want} mirrors queues matching '{}' (ha-mode {mode}{params}, applies to {})",
            p.pattern,
            if p.apply_to.is_empty() {
                "all"
            } else {
                &p.apply_to
            }
        ),
    )
    .with(evidence)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(expected: u64, ha: Option<&str>) -> Config {
        Config {
            url: "http://10.0.0.5:15672/".into(),
            user: "pfctl".into(),
            password: Some("s3cr3t-pw".into()),
            password_env: None,
            expected_nodes: expected,
            ha_policy: ha.map(String::from),
            timeout_ms: 5000,
        }
    }

    fn ok(body: &str) -> Option<Result<HttpGet, String>> {
        Some(Ok(HttpGet {
            status: Some(200),
            body_snippet: body.to_string(),
            ms: 3,
            ..Default::default()
        }))
    }

    fn status(code: u16, body: &str) -> Option<Result<HttpGet, String>> {
        Some(Ok(HttpGet {
            status: Some(code),
            body_snippet: body.to_string(),
            ms: 3,
            ..Default::default()
        }))
    }

    fn obs(nodes: &str, policies: &str, version: &str) -> Obs {
        Obs {
            base: "http://10.0.0.5:15672".into(),
            credentials: "the configured password".into(),
            config_error: None,
            nodes: ok(nodes),
            policies: ok(policies),
            overview: ok(&format!(
                r#"{{"rabbitmq_version":"{version}","cluster_name":"rabbit@rabbit_node1.isnet","node":"rabbit@rabbit_node1.isnet"}}"#
            )),
        }
    }

    /// One `/api/nodes` element as the API documents it (the columns pfctl asks for).
    fn node(
        name: &str,
        running: bool,
        partitions: &[&str],
        mem_alarm: bool,
        disk_alarm: bool,
    ) -> String {
        if !running {
            return format!(r#"{{"name":"{name}","type":"disc","running":false}}"#);
        }
        format!(
            r#"{{"partitions":{},"mem_limit":1655037952,"mem_alarm":{mem_alarm},"disk_free_limit":50000000,
                "disk_free_alarm":{disk_alarm},"name":"{name}","type":"disc","running":true,
                "mem_used":{},"disk_free":{}}}"#,
            serde_json::to_string(partitions).unwrap(),
            if mem_alarm {
                1_800_000_000u64
            } else {
                152_588_288
            },
            if disk_alarm {
                40_000_000u64
            } else {
                74_832_478_208
            },
        )
    }

    const N1: &str = "rabbit@rabbit_node1.isnet";
    const N2: &str = "rabbit@rabbit_node2.isnet";
    const N3: &str = "rabbit@rabbit_node3.isnet";

    fn healthy_nodes() -> String {
        format!(
            "[{},{},{}]",
            node(N1, true, &[], false, false),
            node(N2, true, &[], false, false),
            node(N3, true, &[], false, false)
        )
    }

    const HA_ALL: &str = r#"[{"vhost":"/","name":"ha-all","pattern":".*","apply-to":"all","definition":{"ha-mode":"all","ha-sync-mode":"automatic"},"priority":0}]"#;

    fn by_id(findings: &[Finding], id: &str) -> (Status, String) {
        let mut it = findings.iter().filter(|f| f.id == id);
        let f = it
            .next()
            .unwrap_or_else(|| panic!("no {id} in {findings:?}"));
        assert!(it.next().is_none(), "two {id} findings");
        assert_eq!(f.node, CLUSTER);
        (f.status, f.message.clone())
    }

    #[test]
    fn healthy_cluster_is_ok_everywhere() {
        let c = cfg(3, Some("ha-all"));
        let fs = analyze(&obs(&healthy_nodes(), HA_ALL, "3.10.8"), &c);
        assert_eq!(fs.len(), CHECKS.len());
        for id in CHECKS {
            let (s, m) = by_id(&fs, id);
            assert_eq!(s, Status::Ok, "{id}: {m}");
        }
        let (_, m) = by_id(&fs, "rabbitmq.nodes");
        assert!(
            m.starts_with("3 of 3 expected nodes running") && m.contains(N2),
            "{m}"
        );
        let (_, m) = by_id(&fs, "rabbitmq.ha_policy");
        assert!(m.contains("ha-all") && m.contains("ha-mode all"), "{m}");
        let (_, m) = by_id(&fs, "rabbitmq.alarms");
        assert!(
            m.contains("no memory or disk alarm on the 3 running nodes"),
            "{m}"
        );
    }

    #[test]
    fn missing_and_stopped_nodes_fail_with_names_and_counts() {
        let nodes = format!(
            "[{},{}]",
            node(N1, true, &[], false, false),
            node(N2, false, &[], false, false)
        );
        let fs = analyze(&obs(&nodes, HA_ALL, "3.10.8"), &cfg(3, None));
        let (s, m) = by_id(&fs, "rabbitmq.nodes");
        assert_eq!(s, Status::Fail);
        assert!(
            m.starts_with(&format!("1 of 3 expected nodes running: {N1}")),
            "{m}"
        );
        assert!(m.contains(&format!("stopped: {N2}")), "{m}");
        assert!(m.contains("1 expected node is not in the cluster"), "{m}");
        // A stopped node is not an alarm or a partition.
        assert_eq!(by_id(&fs, "rabbitmq.alarms").0, Status::Ok);
        assert_eq!(by_id(&fs, "rabbitmq.partitions").0, Status::Ok);
    }

    #[test]
    fn more_nodes_than_expected_warn() {
        let fs = analyze(&obs(&healthy_nodes(), HA_ALL, "3.10.8"), &cfg(2, None));
        let (s, m) = by_id(&fs, "rabbitmq.nodes");
        assert_eq!(s, Status::Warn);
        assert!(m.contains("3 nodes running, the profile expects 2"), "{m}");
    }

    #[test]
    fn all_expected_running_plus_a_stopped_member_warns() {
        let nodes = format!(
            "[{},{}]",
            node(N1, true, &[], false, false),
            node(N2, false, &[], false, false)
        );
        let (s, m) = by_id(
            &analyze(&obs(&nodes, "[]", "3.10.8"), &cfg(1, None)),
            "rabbitmq.nodes",
        );
        assert_eq!(s, Status::Warn);
        assert!(m.contains("forget_cluster_node") && m.contains(N2), "{m}");
    }

    #[test]
    fn alarms_fail_naming_node_alarm_and_figures() {
        let nodes = format!(
            "[{},{},{}]",
            node(N1, true, &[], true, false),
            node(N2, true, &[], false, true),
            node(N3, true, &[], false, false)
        );
        let (s, m) = by_id(
            &analyze(&obs(&nodes, "[]", "3.10.8"), &cfg(3, None)),
            "rabbitmq.alarms",
        );
        assert_eq!(s, Status::Fail);
        assert!(
            m.contains(&format!(
                "memory alarm on {N1}: 1.7 GiB used, watermark 1.5 GiB"
            )),
            "{m}"
        );
        assert!(
            m.contains(&format!(
                "disk alarm on {N2}: 38.1 MiB free, limit 47.7 MiB"
            )),
            "{m}"
        );
        assert!(!m.contains(N3), "{m}");
    }

    #[test]
    fn partitions_fail_naming_both_sides() {
        let nodes = format!(
            "[{},{},{}]",
            node(N1, true, &[N3], false, false),
            node(N2, true, &[N3], false, false),
            node(N3, true, &[N1, N2], false, false)
        );
        let (s, m) = by_id(
            &analyze(&obs(&nodes, "[]", "3.10.8"), &cfg(3, None)),
            "rabbitmq.partitions",
        );
        assert_eq!(s, Status::Fail);
        assert!(m.contains(&format!("{N3} does not see {N1}, {N2}")), "{m}");
        assert!(m.contains(&format!("{N1} does not see {N3}")), "{m}");
    }

    #[test]
    fn ha_policy_absent_fails_with_the_command_that_creates_it() {
        let other = r#"[{"vhost":"/","name":"ttl","pattern":"^tmp","apply-to":"queues","definition":{"message-ttl":60000},"priority":0},
                        {"vhost":"other","name":"ha-all","pattern":".*","apply-to":"all","definition":{"ha-mode":"all"},"priority":0}]"#;
        let (s, m) = by_id(
            &analyze(
                &obs(&healthy_nodes(), other, "3.10.8"),
                &cfg(3, Some("ha-all")),
            ),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Fail);
        assert!(
            m.contains("no policy ha-all on vhost /") && m.contains("policies on vhost /: ttl"),
            "{m}"
        );
        assert!(m.contains("rabbitmqctl set_policy -p / ha-all"), "{m}");
    }

    #[test]
    fn ha_policy_under_another_name_warns() {
        let v1 = r#"[{"vhost":"/","name":"ha-v1-all","pattern":".*","apply-to":"queues","definition":{"ha-mode":"exactly","ha-params":2},"priority":0}]"#;
        let (s, m) = by_id(
            &analyze(&obs(&healthy_nodes(), v1, "3.8.9"), &cfg(3, Some("ha-all"))),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Warn);
        assert!(m.contains("ha-v1-all (ha-mode exactly)"), "{m}");
    }

    #[test]
    fn ha_policy_without_ha_mode_or_on_exchanges_fails() {
        let no_mode = r#"[{"vhost":"/","name":"ha-all","pattern":".*","apply-to":"all","definition":{"max-length":10},"priority":0}]"#;
        let (s, m) = by_id(
            &analyze(
                &obs(&healthy_nodes(), no_mode, "3.10.8"),
                &cfg(3, Some("ha-all")),
            ),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Fail);
        assert!(m.contains("has no ha-mode"), "{m}");
        let exchanges = HA_ALL.replace(r#""apply-to":"all""#, r#""apply-to":"exchanges""#);
        let (s, m) = by_id(
            &analyze(
                &obs(&healthy_nodes(), &exchanges, "3.10.8"),
                &cfg(3, Some("ha-all")),
            ),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Fail);
        assert!(m.contains("exchanges only"), "{m}");
    }

    #[test]
    fn ha_policy_not_applicable_on_rabbitmq_4() {
        let (s, m) = by_id(
            &analyze(
                &obs(&healthy_nodes(), "[]", "4.0.5"),
                &cfg(3, Some("ha-all")),
            ),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Skip);
        assert!(m.contains("RabbitMQ 4.0.5") && m.contains("ha-all"), "{m}");
        // 3.13 still mirrors: the policy is required.
        let (s, _) = by_id(
            &analyze(
                &obs(&healthy_nodes(), "[]", "3.13.7"),
                &cfg(3, Some("ha-all")),
            ),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Fail);
    }

    #[test]
    fn ha_policy_not_required() {
        let (s, m) = by_id(
            &analyze(&obs(&healthy_nodes(), "[]", "3.10.8"), &cfg(3, None)),
            "rabbitmq.ha_policy",
        );
        assert_eq!(s, Status::Ok);
        assert_eq!(m, "no HA policy required by the profile");
    }

    #[test]
    fn unauthorized_fails_every_check_without_the_password() {
        let c = cfg(3, Some("ha-all"));
        let mut o = obs("", "", "3.10.8");
        let denied = r#"{"error":"not_authorized","reason":"Login failed"}"#;
        o.nodes = status(401, denied);
        o.policies = status(401, denied);
        o.overview = status(401, denied);
        let fs = analyze(&o, &c);
        for id in CHECKS {
            let (s, m) = by_id(&fs, id);
            assert_eq!(s, Status::Fail, "{id}: {m}");
            assert!(m.contains("authentication failed for user pfctl"), "{m}");
            assert!(
                m.contains("[clusters.NAME.overrides.rabbitmq]") && m.contains("password_env"),
                "{m}"
            );
            assert!(!m.contains("s3cr3t-pw"), "{m}");
        }
    }

    #[test]
    fn forbidden_names_the_missing_tag() {
        let mut o = obs("", HA_ALL, "3.10.8");
        o.nodes = status(
            403,
            r#"{"error":"not_authorised","reason":"Not management user"}"#,
        );
        let (s, m) = by_id(&analyze(&o, &cfg(3, None)), "rabbitmq.nodes");
        assert_eq!(s, Status::Fail);
        assert!(m.contains("set_user_tags pfctl monitoring"), "{m}");
    }

    #[test]
    fn no_answer_is_unknown_naming_url_and_reason() {
        let mut o = obs("", HA_ALL, "3.10.8");
        o.nodes = Some(Ok(HttpGet {
            status: None,
            error: Some("no answer within 5000ms".into()),
            ..Default::default()
        }));
        o.policies = Some(Err("no answer within 7s (deadline)".into()));
        o.overview = Some(Err("no answer within 7s (deadline)".into()));
        let fs = analyze(&o, &cfg(3, Some("ha-all")));
        for id in ["rabbitmq.nodes", "rabbitmq.alarms", "rabbitmq.partitions"] {
            let (s, m) = by_id(&fs, id);
            assert_eq!(s, Status::Unknown, "{id}");
            assert!(
                m.contains("http://10.0.0.5:15672/api/nodes")
                    && m.contains("no answer within 5000ms"),
                "{m}"
            );
        }
        let (s, m) = by_id(&fs, "rabbitmq.ha_policy");
        assert_eq!(s, Status::Unknown);
        assert!(
            m.contains("http://10.0.0.5:15672/api/policies") && m.contains("7s"),
            "{m}"
        );
    }

    #[test]
    fn not_the_management_api_is_unknown() {
        let mut o = obs("", HA_ALL, "3.10.8");
        o.nodes = ok("<html>hello</html>");
        let (s, m) = by_id(&analyze(&o, &cfg(3, None)), "rabbitmq.nodes");
        assert_eq!(s, Status::Unknown);
        assert!(
            m.contains("did not answer with the management API's JSON"),
            "{m}"
        );
        o.nodes = status(404, "Not Found");
        let (s, m) = by_id(&analyze(&o, &cfg(3, None)), "rabbitmq.nodes");
        assert_eq!(s, Status::Unknown);
        assert!(m.contains("HTTP 404"), "{m}");
    }

    #[test]
    fn config_errors_fail_every_check() {
        let o = Obs {
            base: "http://x:15672".into(),
            credentials: String::new(),
            config_error: Some("password_env names RMQ_PW, which is not set".into()),
            nodes: None,
            policies: None,
            overview: None,
        };
        let fs = analyze(&o, &cfg(3, None));
        assert_eq!(fs.len(), 4);
        assert!(fs
            .iter()
            .all(|f| f.status == Status::Fail && f.message.contains("RMQ_PW")));
    }

    #[test]
    fn credentials_come_from_env_then_password_then_guest() {
        let mut c = cfg(1, None);
        c.password_env = Some("RMQ_PW".into());
        let (p, src) =
            credentials(&c, |v| (v == "RMQ_PW").then(|| "from-env".to_string())).unwrap();
        assert_eq!(p, "from-env");
        assert!(src.contains("$RMQ_PW"), "{src}");
        let e = credentials(&c, |_| None).unwrap_err();
        assert!(
            e.contains("password_env names RMQ_PW, which is not set"),
            "{e}"
        );
        assert!(credentials(&c, |_| Some(String::new())).is_err());
        c.password_env = None;
        assert_eq!(credentials(&c, |_| None).unwrap().0, "s3cr3t-pw");
        c.password = None;
        c.user = "guest".into();
        assert_eq!(credentials(&c, |_| None).unwrap().0, "guest");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_scrubbed_answers() {
        let c = cfg(1, None);
        assert!(!format!("{c:?}").contains("s3cr3t-pw"));
        let r = super::super::app::redact(
            Err("bad URL 'http://u:s3cr3t-pw@h/'".into()),
            Some("s3cr3t-pw"),
        );
        assert_eq!(r.unwrap_err(), "bad URL 'http://u:<redacted>@h/'");
        assert_eq!(display_base("http://u:pw@h:15672/"), "http://h:15672");
        assert_eq!(display_base("http://h:15672/rmq/"), "http://h:15672/rmq");
    }

    #[test]
    fn byte_figures_read_well() {
        assert_eq!(bytes(Some(0.0)), "0 B");
        assert_eq!(bytes(Some(2_000_000_000.0)), "1.9 GiB");
        assert_eq!(bytes(None), "?");
        assert_eq!(major("3.10.8"), Some(3));
        assert_eq!(major("4.1.0-rc.1"), Some(4));
    }
}
