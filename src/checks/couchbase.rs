//! Couchbase through its REST API (cluster manager, port 8091), queried by the agent from its node.
//!
//! Four documented endpoints, fetched concurrently with Basic authentication:
//! `GET /pools/default` (nodes, membership, health, services, balance), `GET /pools/default/buckets`
//! (replica counts), `GET /indexStatus` (GSI indexes and the hosts holding them) and
//! `GET /pools/default/tasks` (a running or failed rebalance). The response shapes, and the pages
//! of Couchbase's documentation they follow, are in tests/fixtures/couchbase/README.md.

use super::app::CLUSTER;
use super::Finding;
use crate::report::Status;
use crate::rpc::AgentConn;
use pfproto::probe::{BasicAuth, HttpGet, MAX_HTTP_BODY_BYTES};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

pub const CHECKS: &[&str] = &[
    "couchbase.nodes",
    "couchbase.replicas",
    "couchbase.indexes",
    "couchbase.rebalance",
    "couchbase.primary_index",
];

pub const POOLS: &str = "/pools/default";
pub const BUCKETS: &str = "/pools/default/buckets";
pub const INDEXES: &str = "/indexStatus";
pub const TASKS: &str = "/pools/default/tasks";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cluster manager base URL as seen from a node, e.g. `http://127.0.0.1:8091`.
    pub url: String,
    /// Query service base URL (autoheal's `BUILD INDEX`); default: `url` with port 8093.
    #[serde(default)]
    pub query_url: Option<String>,
    #[serde(default = "isadmin")]
    pub user: String,
    /// Plain password (an inventory override); `password_env` names an environment variable.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Nodes the cluster must have (the `db_host` list's length on PowerFlow).
    pub expected_nodes: u64,
    #[serde(default)]
    pub buckets: Vec<BucketExpect>,
    /// Index names that must exist and be ready on every index node. A name also matches the
    /// same name followed by `_<suffix>` (PowerFlow appends a generated id per node, and the
    /// original tool reports the short name); a name ending in `*` matches by prefix.
    #[serde(default)]
    pub indexes: Vec<String>,
    /// `#primary` indexes are refused in production; test systems may allow them.
    #[serde(default)]
    pub allow_primary_index: bool,
    #[serde(default = "timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketExpect {
    pub name: String,
    /// The fewest replicas the bucket may have.
    pub replicas: u64,
    /// The most replicas recommended (warn above): the manual keeps `logs` at 1 at most.
    #[serde(default)]
    pub max_replicas: Option<u64>,
}

fn isadmin() -> String {
    "isadmin".to_string()
}
fn timeout() -> u64 {
    5000
}

impl Config {
    /// The query service's base URL, without a trailing slash: `query_url`, else the cluster
    /// manager's host on the query service's port, 8093 (a path in `url`, e.g. behind a proxy,
    /// is not carried over: set `query_url` then).
    pub fn query_base(&self) -> String {
        if let Some(q) = &self.query_url {
            return q.trim().trim_end_matches('/').to_string();
        }
        let base = self.url.trim().trim_end_matches('/');
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority.split(':').next().unwrap_or(authority),
        };
        format!("{scheme}://{host}:8093")
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("couchbase::Config")
            .field("url", &self.url)
            .field("query_url", &self.query_url)
            .field("user", &self.user)
            .field("expected_nodes", &self.expected_nodes)
            .field("buckets", &self.buckets)
            .field("indexes", &self.indexes)
            .finish_non_exhaustive()
    }
}

/// What the agent got from one endpoint: the answer, or why the agent call itself failed.
pub type Answer = Result<HttpGet, String>;

/// The four answers, as the agent got them. Holds no password.
#[derive(Debug)]
pub struct Obs {
    /// Base URL, without a trailing slash.
    pub url: String,
    pub user: String,
    /// Why no password was sent (`password_env` names an unset variable, or none is configured).
    pub auth_problem: Option<String>,
    pub pools: Answer,
    pub buckets: Answer,
    pub indexes: Answer,
    pub tasks: Answer,
}

/// The password from the environment or the profile; `Err` says what is missing.
pub fn credentials(cfg: &Config) -> Result<BasicAuth, String> {
    let found = super::app::api_password(
        cfg.password.as_deref(),
        cfg.password_env.as_deref(),
        "couchbase",
        |v| std::env::var(v).ok(),
    )?;
    match found {
        Some((password, _)) => Ok(BasicAuth {
            user: cfg.user.clone(),
            password,
        }),
        None => Err("no password is configured (neither password nor password_env)".to_string()),
    }
}

pub async fn collect(
    conn: &AgentConn,
    cfg: &Config,
    timings: &Mutex<BTreeMap<&'static str, u64>>,
) -> Obs {
    let base = cfg.url.trim().trim_end_matches('/').to_string();
    let (auth, auth_problem) = match credentials(cfg) {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e)),
    };
    let get = |path: &'static str, label: &'static str| {
        let url = format!("{base}{path}");
        let auth = auth.clone();
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
    let (pools, buckets, indexes, tasks) = tokio::join!(
        get(POOLS, "couchbase.pools"),
        get(BUCKETS, "couchbase.buckets"),
        get(INDEXES, "couchbase.indexes"),
        get(TASKS, "couchbase.tasks"),
    );
    Obs {
        url: base.clone(),
        user: cfg.user.clone(),
        auth_problem,
        pools,
        buckets,
        indexes,
        tasks,
    }
}

// ---- response shapes (only the fields the checks read; everything else is ignored) ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pool {
    #[serde(default)]
    nodes: Vec<PoolNode>,
    /// Couchbase Server 6.5 and later.
    #[serde(default)]
    balanced: Option<bool>,
    #[serde(default)]
    rebalance_status: Option<String>,
    /// Couchbase Server 7.1 and later ("Retrieving Cluster Rebalance Reason Codes").
    #[serde(default)]
    services_need_rebalance: Vec<NeedRebalance>,
    #[serde(default)]
    buckets_need_rebalance: Vec<NeedRebalance>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoolNode {
    hostname: String,
    /// `ns_1@host`: how a rebalance names the node (`knownNodes`).
    #[serde(default)]
    otp_node: Option<String>,
    /// `healthy`, `unhealthy` or `warmup`.
    #[serde(default)]
    status: String,
    /// `active`, `inactiveAdded` or `inactiveFailed`.
    #[serde(default)]
    cluster_membership: String,
    /// `kv`, `n1ql`, `index`, ...; absent before 4.0 (then every node runs every service).
    #[serde(default)]
    services: Option<Vec<String>>,
}

impl PoolNode {
    fn active(&self) -> bool {
        self.cluster_membership == "active"
    }
    fn runs(&self, service: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == service))
    }
}

#[derive(Debug, Deserialize)]
struct NeedRebalance {
    #[serde(default)]
    code: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    buckets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    name: String,
    #[serde(default)]
    bucket_type: Option<String>,
    #[serde(default)]
    replica_number: Option<u64>,
    #[serde(default)]
    v_bucket_server_map: Option<VBucketServerMap>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VBucketServerMap {
    #[serde(default)]
    num_replicas: Option<u64>,
}

impl Bucket {
    fn replicas(&self) -> Option<u64> {
        self.replica_number
            .or_else(|| self.v_bucket_server_map.as_ref()?.num_replicas)
    }
}

#[derive(Debug, Deserialize)]
struct IndexStatus {
    #[serde(default)]
    indexes: Vec<Index>,
    /// e.g. "Cannot communicate with indexer process. Information on indexes may be stale."
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    /// The name as listed; an index replica reads `name (replica 1)`.
    #[serde(default)]
    index: Option<String>,
    /// The name without the replica suffix (newer servers).
    #[serde(default)]
    index_name: Option<String>,
    /// `/getIndexStatus` (port 9102) calls it `name`.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    bucket: String,
    /// Couchbase Server 7 and later; `_default` for the bucket's own documents.
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    collection: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    /// `Ready`, `Building`, `Created`, `Warmup`, `Error`, ...
    #[serde(default)]
    status: String,
    /// Percent built.
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    definition: Option<String>,
    #[serde(default)]
    is_primary: Option<bool>,
}

impl Index {
    fn base_name(&self) -> &str {
        if let Some(n) = self.index_name.as_deref().filter(|n| !n.is_empty()) {
            return n;
        }
        let n = self
            .index
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or_default();
        match n.find(" (replica ") {
            Some(i) => &n[..i],
            None => n,
        }
    }
    fn ready(&self) -> bool {
        self.status.eq_ignore_ascii_case("ready") && self.progress.unwrap_or(100.0) >= 100.0
    }
    /// On its way to ready by itself: waiting is the fix.
    fn in_progress(&self) -> bool {
        ["building", "warmup", "moving", "replicating", "ready"]
            .iter()
            .any(|s| self.status.eq_ignore_ascii_case(s))
    }
    fn primary(&self) -> bool {
        self.is_primary == Some(true)
            || self.base_name() == "#primary"
            || self
                .definition
                .as_deref()
                .is_some_and(|d| d.to_ascii_uppercase().contains("CREATE PRIMARY INDEX"))
    }
    fn on(&self, node: &str) -> bool {
        self.hosts.iter().any(|h| same_host(h, node))
    }
    /// What a statement names the index's documents by: `` `bucket` ``, or
    /// `` `bucket`.`scope`.`collection` `` outside the default collection.
    fn keyspace(&self) -> String {
        match (self.scope.as_deref(), self.collection.as_deref()) {
            (Some(s), Some(c)) if s != "_default" || c != "_default" => format!(
                "{}.{}.{}",
                n1ql_name(&self.bucket),
                n1ql_name(s),
                n1ql_name(c)
            ),
            _ => n1ql_name(&self.bucket),
        }
    }
    fn describe(&self) -> String {
        match self.progress {
            Some(p) => format!("{} {p:.0}%", self.status),
            None => self.status.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    error_message: Option<String>,
}

/// An escaped N1QL identifier: in backticks, a backtick inside doubled.
pub fn n1ql_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A member of the cluster as `/pools/default` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub hostname: String,
    pub otp_node: String,
    /// `active`, `inactiveAdded` or `inactiveFailed`.
    pub membership: String,
}

/// Every node `/pools/default` lists (a rebalance's `knownNodes` must name them all), or why
/// they are not known.
pub fn members(obs: &Obs) -> Result<Vec<Member>, String> {
    let pool = parse::<Pool>(obs, POOLS, &obs.pools).map_err(|(_, m)| m)?;
    pool.nodes
        .into_iter()
        .map(|n| match n.otp_node {
            Some(otp) if !otp.is_empty() => Ok(Member {
                hostname: n.hostname,
                otp_node: otp,
                membership: n.cluster_membership,
            }),
            _ => Err(format!(
                "{}{POOLS} lists {} without its otpNode",
                obs.url, n.hostname
            )),
        })
        .collect()
}

/// `host:port` as the two endpoints write it; a missing port on one side still matches.
fn same_host(a: &str, b: &str) -> bool {
    let host = |s: &str| s.rsplit_once(':').map_or(s, |(h, _)| h).to_string();
    a == b || (!(a.contains(':') && b.contains(':')) && host(a) == host(b))
}

/// `req` names the index exactly, or its prefix before a generated `_<suffix>`; `req*` is a prefix.
pub fn index_matches(req: &str, name: &str) -> bool {
    match req.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => {
            name == req
                || name
                    .strip_prefix(req)
                    .is_some_and(|rest| rest.starts_with('_'))
        }
    }
}

// ---- analysis ----

/// A check's outcome when its endpoint gave no usable answer.
type Trouble = (Status, String);

fn parse<T: DeserializeOwned>(obs: &Obs, path: &str, a: &Answer) -> Result<T, Trouble> {
    let url = format!("{}{path}", obs.url);
    let h = match a {
        Ok(h) => h,
        Err(e) => {
            return Err((
                Status::Unknown,
                format!("GET {url}: the agent could not run the request: {e}"),
            ))
        }
    };
    match h.status {
        None => Err((
            Status::Unknown,
            format!(
                "GET {url} did not answer: {}",
                h.error.as_deref().unwrap_or("no answer")
            ),
        )),
        Some(401) => Err((
            Status::Fail,
            format!(
                "GET {url}: HTTP 401, Couchbase refused user {}: {}",
                obs.user,
                credentials_hint(obs)
            ),
        )),
        Some(403) => Err((
            Status::Fail,
            format!(
                "GET {url}: HTTP 403, user {} may not read it: give it the Full Admin, Cluster Admin or Read-Only Admin role, or set the credentials of one that has it",
                obs.user
            ),
        )),
        Some(200) => {
            if let Some(e) = &h.error {
                return Err((Status::Unknown, format!("GET {url}: {e}")));
            }
            if h.truncated {
                return Err((
                    Status::Unknown,
                    format!(
                        "GET {url}: the answer is larger than {} KiB, the most the agent returns",
                        MAX_HTTP_BODY_BYTES / 1024
                    ),
                ));
            }
            serde_json::from_str(&h.body_snippet).map_err(|e| {
                (
                    Status::Unknown,
                    format!("GET {url}: the answer is not in Couchbase's documented shape ({e})"),
                )
            })
        }
        Some(code) => Err((
            Status::Unknown,
            format!("GET {url}: HTTP {code}: {}", snippet(&h.body_snippet)),
        )),
    }
}

fn credentials_hint(obs: &Obs) -> String {
    let how = "set the credentials in the inventory under [clusters.NAME.overrides.couchbase]: \
               password_env = \"VAR\" (an environment variable pfctl reads) or password = \"...\" \
               (keep the inventory chmod 600)";
    match &obs.auth_problem {
        Some(p) => format!("{p}; {how}"),
        None => format!("the configured password is wrong; {how}"),
    }
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    if s.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        s
    }
}

pub fn analyze(obs: &Obs, cfg: &Config) -> Vec<Finding> {
    let pools = parse::<Pool>(obs, POOLS, &obs.pools);
    let buckets = parse::<Vec<Bucket>>(obs, BUCKETS, &obs.buckets);
    let indexes = parse::<IndexStatus>(obs, INDEXES, &obs.indexes);
    let tasks = parse::<Vec<Task>>(obs, TASKS, &obs.tasks);
    let url = |path: &str| format!("{}{path}", obs.url);
    vec![
        nodes(&pools, cfg),
        replicas(&buckets, pools.as_ref().ok(), cfg),
        indexes_ready(&indexes, pools.as_ref().ok(), cfg),
        rebalance(&pools, &tasks, &obs.user),
        primary_index(&indexes, cfg),
    ]
    .into_iter()
    .map(|mut f| {
        let urls = match f.id {
            "couchbase.nodes" => vec![url(POOLS)],
            "couchbase.replicas" => vec![url(BUCKETS), url(POOLS)],
            "couchbase.indexes" => vec![url(INDEXES), url(POOLS)],
            "couchbase.rebalance" => vec![url(POOLS), url(TASKS)],
            _ => vec![url(INDEXES)],
        };
        match &mut f.evidence {
            Value::Object(m) => {
                m.insert("urls".into(), json!(urls));
                m.remove("url");
            }
            e => *e = json!({ "urls": urls }),
        }
        f
    })
    .collect()
}

fn finding(id: &'static str, status: Status, message: impl Into<String>) -> Finding {
    Finding::new(id, CLUSTER, status, message)
}

fn nodes(pools: &Result<Pool, Trouble>, cfg: &Config) -> Finding {
    const ID: &str = "couchbase.nodes";
    let p = match pools {
        Ok(p) => p,
        Err((s, m)) => return finding(ID, *s, m.clone()),
    };
    let mut serving = Vec::new();
    let mut broken = Vec::new();
    let mut pending = Vec::new();
    for n in &p.nodes {
        let h = &n.hostname;
        match (n.cluster_membership.as_str(), n.status.as_str()) {
            ("active", "healthy") => serving.push(h.clone()),
            ("inactiveFailed", s) => broken.push(format!(
                "{h} is failed over ({s}): recover it (delta or full) and rebalance, or remove it"
            )),
            (_, "unhealthy") => broken.push(format!(
                "{h} is unhealthy: its Couchbase is down or the other nodes cannot reach it"
            )),
            ("inactiveAdded", _) => pending.push(format!(
                "{h} was added but not rebalanced in: rebalance the cluster"
            )),
            (_, "warmup") => pending.push(format!("{h} is warming up (loading its data)")),
            (m, s) => pending.push(format!("{h} is {m}, {s}")),
        }
    }
    let expected = cfg.expected_nodes;
    let k = serving.len() as u64;
    let evidence = json!({
        "expected": expected,
        "serving": serving,
        "nodes": p.nodes.iter().map(|n| json!({
            "hostname": n.hostname, "status": n.status, "clusterMembership": n.cluster_membership,
            "services": n.services,
        })).collect::<Vec<_>>(),
    });
    let mut problems = broken.clone();
    problems.extend(pending.iter().cloned());
    let (status, message) = if !broken.is_empty() || k < expected {
        let mut m = format!("{k} of {expected} Couchbase nodes (db_host) active and healthy");
        if !problems.is_empty() {
            m.push_str(&format!(": {}", problems.join("; ")));
        }
        if k + (problems.len() as u64) < expected {
            m.push_str(&format!(
                "; {} node(s) are not in the cluster at all: add them (Servers > Add Server, or couchbase-cli server-add) and rebalance",
                expected - k - problems.len() as u64
            ));
        }
        (Status::Fail, m)
    } else if !pending.is_empty() {
        (
            Status::Warn,
            format!("{k} of {expected} nodes serve; {}", pending.join("; ")),
        )
    } else if k > expected {
        (
            Status::Warn,
            format!(
                "{k} nodes serve ({}), the profile expects {expected}: update expected_nodes (and db_host) or remove the extra node",
                serving.join(", ")
            ),
        )
    } else {
        (
            Status::Ok,
            format!("{k} active healthy nodes: {}", serving.join(", ")),
        )
    };
    finding(ID, status, message).with(evidence)
}

/// Active nodes that hold data (and so bucket replicas).
fn data_nodes(p: &Pool) -> usize {
    p.nodes
        .iter()
        .filter(|n| n.active() && n.runs("kv"))
        .count()
}

fn replicas(buckets: &Result<Vec<Bucket>, Trouble>, pools: Option<&Pool>, cfg: &Config) -> Finding {
    const ID: &str = "couchbase.replicas";
    let bs = match buckets {
        Ok(b) => b,
        Err((s, m)) => return finding(ID, *s, m.clone()),
    };
    let data = pools.map(data_nodes);
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    let mut fine = Vec::new();
    for want in &cfg.buckets {
        let Some(b) = bs.iter().find(|b| b.name == want.name) else {
            fails.push(format!(
                "bucket {} does not exist (buckets: {})",
                want.name,
                list(bs.iter().map(|b| b.name.as_str()))
            ));
            continue;
        };
        let Some(r) = b.replicas() else {
            fails.push(format!(
                "bucket {} keeps no replicas (type {})",
                b.name,
                b.bucket_type.as_deref().unwrap_or("unknown")
            ));
            continue;
        };
        if r < want.replicas {
            fails.push(format!(
                "bucket {} has {r} replica(s), needs at least {}: Buckets > {} > Edit > Replicas (or couchbase-cli bucket-edit --bucket {} --bucket-replica {}), then rebalance",
                b.name, want.replicas, b.name, b.name, want.replicas
            ));
        } else if want.max_replicas.is_some_and(|max| r > max) {
            warns.push(format!(
                "bucket {} has {r} replicas, at most {} recommended: replicating it costs more than it protects",
                b.name,
                want.max_replicas.unwrap_or_default()
            ));
        } else {
            fine.push(format!("{} {r}", b.name));
        }
    }
    if let Some(n) = data {
        for b in bs {
            if let Some(r) = b.replicas().filter(|r| *r > 0) {
                if r as usize >= n {
                    warns.push(format!(
                        "bucket {} has {r} replica(s) but the cluster has {n} data node(s): a bucket with {r} replica(s) needs {} nodes, so replicas cannot all be placed",
                        b.name,
                        r + 1
                    ));
                }
            }
        }
    }
    let evidence = json!({
        "buckets": bs.iter().map(|b| (b.name.clone(), json!(b.replicas()))).collect::<BTreeMap<_, _>>(),
        "data_nodes": data,
        "expected": cfg.buckets.iter().map(|b| json!({"name": b.name, "replicas": b.replicas, "max_replicas": b.max_replicas})).collect::<Vec<_>>(),
    });
    let (status, message) = if !fails.is_empty() {
        let mut all = fails;
        all.extend(warns);
        (Status::Fail, all.join("; "))
    } else if !warns.is_empty() {
        (Status::Warn, warns.join("; "))
    } else if cfg.buckets.is_empty() {
        (
            Status::Ok,
            format!(
                "no bucket expectations in the profile; buckets: {}",
                list(bs.iter().map(|b| b.name.as_str()))
            ),
        )
    } else {
        (
            Status::Ok,
            format!("replicas per bucket: {}", fine.join(", ")),
        )
    };
    finding(ID, status, message).with(evidence)
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// `{node: [a, b], node2: [c]}`, the original tool's way of naming what is missing where.
fn per_node(m: &BTreeMap<String, Vec<String>>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(n, v)| format!("{n}: [{}]", v.join(", ")))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn indexes_ready(
    indexes: &Result<IndexStatus, Trouble>,
    pools: Option<&Pool>,
    cfg: &Config,
) -> Finding {
    const ID: &str = "couchbase.indexes";
    let st = match indexes {
        Ok(s) => s,
        Err((s, m)) => return finding(ID, *s, m.clone()),
    };
    let (index_nodes, source): (Vec<String>, &str) = match pools {
        Some(p) => (
            p.nodes
                .iter()
                .filter(|n| n.active() && n.runs("index"))
                .map(|n| n.hostname.clone())
                .collect(),
            "/pools/default",
        ),
        None => (
            st.indexes
                .iter()
                .flat_map(|i| i.hosts.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            "/indexStatus hosts (/pools/default did not answer)",
        ),
    };
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut broken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut building: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // What autoheal can build: the exact names and keyspaces of the indexes stuck unbuilt.
    let mut unbuilt = Vec::new();
    for node in &index_nodes {
        for req in &cfg.indexes {
            let copies: Vec<&Index> = st
                .indexes
                .iter()
                .filter(|i| index_matches(req, i.base_name()) && i.on(node))
                .collect();
            if copies.iter().any(|i| i.ready()) {
                continue;
            }
            if copies.is_empty() {
                missing.entry(node.clone()).or_default().push(req.clone());
            } else if let Some(i) = copies.iter().find(|i| i.in_progress()) {
                building
                    .entry(node.clone())
                    .or_default()
                    .push(format!("{req} {}", i.describe()));
            } else {
                let i = copies[0];
                broken.entry(node.clone()).or_default().push(format!(
                    "{req} {} (BUILD INDEX ON {}({}))",
                    i.describe(),
                    i.keyspace(),
                    n1ql_name(i.base_name())
                ));
                unbuilt.push(json!({
                    "node": node, "keyspace": i.keyspace(), "index": i.base_name(),
                    "status": i.status,
                }));
            }
        }
    }
    let evidence = json!({
        "index_nodes": index_nodes, "index_nodes_from": source,
        "required": cfg.indexes, "indexes_listed": st.indexes.len(),
        "missing": missing, "not_ready": broken, "building": building, "warnings": st.warnings,
        "unbuilt": unbuilt,
    });
    let n = index_nodes.len();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "Missing the following indexes: {} (on {} of {n} index nodes): run initialize_couchbase -s in the couchbase container of that node",
            per_node(&missing),
            missing.len()
        ));
    }
    if !broken.is_empty() {
        parts.push(format!(
            "not ready and not building: {}: build them in the Query Editor",
            per_node(&broken)
        ));
    }
    if !building.is_empty() {
        parts.push(format!(
            "still building: {}: queries needing them fail until they are ready",
            per_node(&building)
        ));
    }
    if !st.warnings.is_empty() {
        parts.push(format!("Couchbase warns: {}", st.warnings.join("; ")));
    }
    let status = if !missing.is_empty() || !broken.is_empty() {
        Status::Fail
    } else if !building.is_empty() || !st.warnings.is_empty() {
        Status::Warn
    } else if cfg.indexes.is_empty() {
        return finding(
            ID,
            Status::Ok,
            format!(
                "no required indexes in the profile; {} indexes listed on {n} index node(s)",
                st.indexes.len()
            ),
        )
        .with(evidence);
    } else if index_nodes.is_empty() {
        return finding(
            ID,
            Status::Fail,
            "no active node runs the index service: queries fail with 'No index available'",
        )
        .with(evidence);
    } else {
        return finding(
            ID,
            Status::Ok,
            format!(
                "{} required indexes ready on all {n} index nodes ({})",
                cfg.indexes.len(),
                index_nodes.join(", ")
            ),
        )
        .with(evidence);
    };
    finding(ID, status, parts.join("; ")).with(evidence)
}

fn rebalance(
    pools: &Result<Pool, Trouble>,
    tasks: &Result<Vec<Task>, Trouble>,
    user: &str,
) -> Finding {
    const ID: &str = "couchbase.rebalance";
    let p = match pools {
        Ok(p) => p,
        Err((s, m)) => return finding(ID, *s, m.clone()),
    };
    let task = tasks
        .as_ref()
        .ok()
        .and_then(|t| t.iter().find(|t| t.kind == "rebalance"));
    let running = task.is_some_and(|t| t.status == "running")
        || p.rebalance_status.as_deref() == Some("running");
    let mut reasons = Vec::new();
    if p.balanced == Some(false) {
        reasons.push("Couchbase reports the cluster unbalanced".to_string());
    }
    for n in &p.nodes {
        match n.cluster_membership.as_str() {
            "inactiveAdded" => {
                reasons.push(format!("{} was added but not rebalanced in", n.hostname))
            }
            "inactiveFailed" => reasons.push(format!(
                "{} is failed over (recover or remove it, then rebalance)",
                n.hostname
            )),
            _ => {}
        }
    }
    for s in &p.services_need_rebalance {
        reasons.push(format!("{} ({})", or_code(s), s.services.join(", ")));
    }
    for b in &p.buckets_need_rebalance {
        reasons.push(format!("{} (buckets {})", or_code(b), b.buckets.join(", ")));
    }
    let last_error = task.and_then(|t| t.error_message.clone());
    let evidence = json!({
        "balanced": p.balanced, "rebalanceStatus": p.rebalance_status,
        "rebalance_task": task.map(|t| json!({"status": t.status, "progress": t.progress})),
        "last_error": last_error, "reasons": reasons,
        "tasks_error": tasks.as_ref().err().map(|(_, m)| m),
    });
    let (status, message) = if running {
        let progress = task
            .and_then(|t| t.progress)
            .map(|p| format!(" ({p:.0}% done)"))
            .unwrap_or_default();
        (
            Status::Warn,
            format!("a rebalance is running{progress}: let it finish before changing the cluster"),
        )
    } else if !reasons.is_empty() {
        let mut m = format!(
            "rebalance needed: {}; rebalance in the Couchbase UI (Servers > Rebalance) or with couchbase-cli rebalance -c <node>:8091 -u {user} -p <password>",
            reasons.join("; ")
        );
        if let Some(e) = &last_error {
            m.push_str(&format!("; the last rebalance failed: {e}"));
        }
        (Status::Fail, m)
    } else {
        let mut m = match p.balanced {
            Some(true) => "balanced, no rebalance running".to_string(),
            _ => "no node waits for a rebalance, none running (this server does not report `balanced`)".to_string(),
        };
        if let Err((_, e)) = tasks {
            m.push_str(&format!("; tasks not read: {e}"));
        }
        (Status::Ok, m)
    };
    finding(ID, status, message).with(evidence)
}

fn or_code(r: &NeedRebalance) -> String {
    if r.description.is_empty() {
        r.code.clone()
    } else {
        r.description.trim_end_matches('.').to_string()
    }
}

fn primary_index(indexes: &Result<IndexStatus, Trouble>, cfg: &Config) -> Finding {
    const ID: &str = "couchbase.primary_index";
    let st = match indexes {
        Ok(s) => s,
        Err((s, m)) => return finding(ID, *s, m.clone()),
    };
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in st.indexes.iter().filter(|i| i.primary()) {
        found
            .entry(format!("{} on bucket {}", i.base_name(), i.bucket))
            .or_default()
            .extend(i.hosts.iter().cloned());
    }
    let what: Vec<String> = found
        .iter()
        .map(|(k, hosts)| {
            format!(
                "{k} ({})",
                hosts.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let buckets: BTreeSet<&str> = st
        .indexes
        .iter()
        .filter(|i| i.primary())
        .map(|i| i.bucket.as_str())
        .collect();
    let evidence =
        json!({ "primary_indexes": found, "allow_primary_index": cfg.allow_primary_index });
    let (status, message) = if found.is_empty() {
        (Status::Ok, "no primary index".to_string())
    } else if cfg.allow_primary_index {
        (
            Status::Ok,
            format!(
                "{}: allowed by allow_primary_index (drop it in production)",
                what.join("; ")
            ),
        )
    } else {
        let drops: Vec<String> = buckets
            .iter()
            .map(|b| format!("DROP PRIMARY INDEX ON `{b}`"))
            .collect();
        (
            Status::Fail,
            format!(
                "{}: primary indexes let slow full scans run in production; drop them in the Query Editor: {}",
                what.join("; "),
                drops.join("; ")
            ),
        )
    };
    finding(ID, status, message).with(evidence)
}

/// A file of tests/fixtures/couchbase/SCENARIO/, compiled into the unit tests that use it.
#[cfg(test)]
macro_rules! fixture {
    ($scenario:literal, $file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/couchbase/",
            $scenario,
            "/",
            $file
        ))
    };
}
#[cfg(test)]
pub(crate) use fixture;

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
url = "http://127.0.0.1:8091"
password = "Is@dm#n:p w0rd"
expected_nodes = 3
buckets = [{ name = "content", replicas = 1 }, { name = "logs", replicas = 0, max_replicas = 1 }]
indexes = ["idx_content_configuration", "idx_content_content_type_app", "idx_content_content_type_config",
           "idx_content_content_type_step", "idx_content_report_id", "idx_logs_log_meta_id_v01",
           "idx_logs_log_type_application_log_v02", "idx_casbin"]
"#;

    fn cfg() -> Config {
        toml::from_str(PROFILE).unwrap()
    }

    macro_rules! scenario {
        ($s:literal) => {
            [
                fixture!($s, "pools_default.json"),
                fixture!($s, "buckets.json"),
                fixture!($s, "index_status.json"),
                fixture!($s, "tasks.json"),
            ]
        };
    }

    fn ok200(body: &str) -> Answer {
        Ok(HttpGet {
            status: Some(200),
            body_snippet: body.to_string(),
            truncated: false,
            ms: 3,
            error: None,
        })
    }

    fn obs(bodies: [&str; 4]) -> Obs {
        Obs {
            url: "http://127.0.0.1:8091".into(),
            user: "isadmin".into(),
            auth_problem: None,
            pools: ok200(bodies[0]),
            buckets: ok200(bodies[1]),
            indexes: ok200(bodies[2]),
            tasks: ok200(bodies[3]),
        }
    }

    fn statuses(f: &[Finding]) -> Vec<(&'static str, Status)> {
        f.iter().map(|f| (f.id, f.status)).collect()
    }

    fn get<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
        f.iter().find(|f| f.id == id).unwrap()
    }

    /// Replaces one JSON value in a fixture, so variants stay next to the documented shape.
    fn edit(body: &str, f: impl FnOnce(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(body).unwrap();
        f(&mut v);
        v.to_string()
    }

    use Status::{Fail, Ok as Good, Unknown, Warn};

    #[test]
    fn healthy_cluster_is_ok_everywhere() {
        let f = analyze(&obs(scenario!("healthy")), &cfg());
        assert_eq!(
            statuses(&f),
            vec![
                ("couchbase.nodes", Good),
                ("couchbase.replicas", Good),
                ("couchbase.indexes", Good),
                ("couchbase.rebalance", Good),
                ("couchbase.primary_index", Good),
            ],
            "{f:#?}"
        );
        assert!(get(&f, "couchbase.nodes")
            .message
            .contains("couchbase-worker2.isnet:8091"));
        assert!(get(&f, "couchbase.indexes")
            .message
            .contains("8 required indexes ready on all 3"));
        assert!(get(&f, "couchbase.replicas").message.contains("content 1"));
        for x in &f {
            assert!(x.evidence["urls"][0]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:8091/"));
        }
    }

    #[test]
    fn missing_replica_fails_naming_bucket_and_counts() {
        let f = analyze(&obs(scenario!("missing-replica")), &cfg());
        let r = get(&f, "couchbase.replicas");
        assert_eq!(r.status, Fail, "{r:?}");
        assert!(
            r.message
                .contains("bucket content has 0 replica(s), needs at least 1"),
            "{}",
            r.message
        );
        assert!(!r.message.contains("bucket logs"), "{}", r.message);
        for id in [
            "couchbase.nodes",
            "couchbase.indexes",
            "couchbase.rebalance",
            "couchbase.primary_index",
        ] {
            assert_eq!(get(&f, id).status, Good, "{id}: {:?}", get(&f, id));
        }
    }

    #[test]
    fn missing_index_on_one_node_fails_like_the_original() {
        let f = analyze(&obs(scenario!("missing-index")), &cfg());
        let r = get(&f, "couchbase.indexes");
        assert_eq!(r.status, Fail, "{r:?}");
        assert!(
            r.message.contains(
                "Missing the following indexes: {couchbase-worker2.isnet:8091: [idx_casbin]}"
            ),
            "{}",
            r.message
        );
        assert!(r.message.contains("on 1 of 3 index nodes"), "{}", r.message);
        assert_eq!(
            r.evidence["missing"]["couchbase-worker2.isnet:8091"],
            json!(["idx_casbin"])
        );
        assert_eq!(get(&f, "couchbase.primary_index").status, Good);
    }

    #[test]
    fn rebalance_needed_fails_naming_the_added_node() {
        let f = analyze(&obs(scenario!("rebalance-needed")), &cfg());
        let r = get(&f, "couchbase.rebalance");
        assert_eq!(r.status, Fail, "{r:?}");
        assert!(
            r.message
                .contains("couchbase-worker2.isnet:8091 was added but not rebalanced in"),
            "{}",
            r.message
        );
        assert!(
            r.message
                .contains("Servers of bucket are not balanced (buckets content, logs)"),
            "{}",
            r.message
        );
        let n = get(&f, "couchbase.nodes");
        assert_eq!(n.status, Fail, "{n:?}");
        assert!(
            n.message.starts_with("2 of 3 Couchbase nodes"),
            "{}",
            n.message
        );
        assert!(
            n.message.contains("couchbase-worker2.isnet:8091"),
            "{}",
            n.message
        );
        // the node not rebalanced in is no index node yet: nothing is missing on the other two
        assert_eq!(
            get(&f, "couchbase.indexes").status,
            Good,
            "{:?}",
            get(&f, "couchbase.indexes")
        );
        assert_eq!(get(&f, "couchbase.replicas").status, Good);
    }

    #[test]
    fn primary_index_fails_unless_allowed() {
        let f = analyze(&obs(scenario!("primary-index")), &cfg());
        let r = get(&f, "couchbase.primary_index");
        assert_eq!(r.status, Fail, "{r:?}");
        assert!(
            r.message
                .contains("#primary on bucket content (couchbase.isnet:8091)"),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("DROP PRIMARY INDEX ON `content`"),
            "{}",
            r.message
        );
        assert_eq!(get(&f, "couchbase.indexes").status, Good);
        let mut c = cfg();
        c.allow_primary_index = true;
        let f = analyze(&obs(scenario!("primary-index")), &c);
        let r = get(&f, "couchbase.primary_index");
        assert_eq!(r.status, Good, "{r:?}");
        assert!(
            r.message.contains("allowed by allow_primary_index"),
            "{}",
            r.message
        );
    }

    #[test]
    fn unauthorized_fails_everywhere_naming_the_unset_variable() {
        let refused: Answer = Ok(HttpGet {
            status: Some(401),
            body_snippet: String::new(),
            truncated: false,
            ms: 1,
            error: None,
        });
        let o = Obs {
            url: "http://127.0.0.1:8091".into(),
            user: "isadmin".into(),
            auth_problem: Some(
                "password_env names PFCTL_TEST_CB_UNSET, which is not set in pfctl's environment"
                    .into(),
            ),
            pools: refused.clone(),
            buckets: refused.clone(),
            indexes: refused.clone(),
            tasks: refused,
        };
        let f = analyze(&o, &cfg());
        for x in &f {
            assert_eq!(x.status, Fail, "{x:?}");
            assert!(x.message.contains("HTTP 401"), "{}", x.message);
            assert!(x.message.contains("PFCTL_TEST_CB_UNSET"), "{}", x.message);
            assert!(
                x.message.contains("[clusters.NAME.overrides.couchbase]"),
                "{}",
                x.message
            );
            assert!(!x.message.contains("w0rd"), "{}", x.message);
        }
    }

    #[test]
    fn no_answer_is_unknown_naming_the_url() {
        let mut o = obs(scenario!("healthy"));
        o.pools = Ok(HttpGet {
            status: None,
            body_snippet: String::new(),
            truncated: false,
            ms: 1500,
            error: Some("no answer within 1500ms".into()),
        });
        o.tasks = Err("no answer within 3s (deadline)".into());
        let f = analyze(&o, &cfg());
        let n = get(&f, "couchbase.nodes");
        assert_eq!(n.status, Unknown);
        assert!(
            n.message.contains(
                "GET http://127.0.0.1:8091/pools/default did not answer: no answer within 1500ms"
            ),
            "{}",
            n.message
        );
        assert_eq!(get(&f, "couchbase.rebalance").status, Unknown);
        // the others still judge from their own endpoints
        assert_eq!(get(&f, "couchbase.replicas").status, Good);
        let i = get(&f, "couchbase.indexes");
        assert_eq!(i.status, Good, "{i:?}");
        assert!(i.evidence["index_nodes_from"]
            .as_str()
            .unwrap()
            .contains("did not answer"));
    }

    #[test]
    fn other_answers_are_unknown_with_what_came_back() {
        let mut o = obs(scenario!("healthy"));
        o.buckets = Ok(HttpGet {
            status: Some(404),
            body_snippet: "\"Requested resource not found.\"".into(),
            ..Default::default()
        });
        o.indexes = ok200("<html>not json</html>");
        let f = analyze(&o, &cfg());
        let r = get(&f, "couchbase.replicas");
        assert_eq!(r.status, Unknown);
        assert!(
            r.message
                .contains("HTTP 404: \"Requested resource not found.\""),
            "{}",
            r.message
        );
        let i = get(&f, "couchbase.indexes");
        assert_eq!(i.status, Unknown);
        assert!(
            i.message.contains("not in Couchbase's documented shape"),
            "{}",
            i.message
        );
    }

    #[test]
    fn building_index_warns_and_created_index_fails() {
        let [p, b, i, t] = scenario!("healthy");
        let set = |status: &'static str, progress: u64| {
            edit(i, |v| {
                for x in v["indexes"].as_array_mut().unwrap() {
                    if x["indexName"] == "idx_casbin"
                        && x["hosts"][0] == "couchbase-worker.isnet:8091"
                    {
                        x["status"] = json!(status);
                        x["progress"] = json!(progress);
                    }
                }
            })
        };
        let building = set("Building", 45);
        let f = analyze(&obs([p, b, &building, t]), &cfg());
        let r = get(&f, "couchbase.indexes");
        assert_eq!(r.status, Warn, "{r:?}");
        assert!(
            r.message
                .contains("couchbase-worker.isnet:8091: [idx_casbin Building 45%]"),
            "{}",
            r.message
        );
        let created = set("Created", 0);
        let f = analyze(&obs([p, b, &created, t]), &cfg());
        let r = get(&f, "couchbase.indexes");
        assert_eq!(r.status, Fail, "{r:?}");
        assert!(
            r.message.contains("BUILD INDEX ON `content`(`idx_casbin`)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn running_rebalance_warns_with_progress() {
        let [p, b, i, t] = scenario!("healthy");
        let tasks = edit(t, |v| {
            v[0]["status"] = json!("running");
            v[0]["progress"] = json!(47.96302747933775);
        });
        let f = analyze(&obs([p, b, i, &tasks]), &cfg());
        let r = get(&f, "couchbase.rebalance");
        assert_eq!(r.status, Warn, "{r:?}");
        assert!(r.message.contains("48% done"), "{}", r.message);
    }

    #[test]
    fn replicas_that_cannot_be_placed_and_too_many_log_replicas_warn() {
        let [p, b, i, t] = scenario!("healthy");
        let buckets = edit(b, |v| {
            v[1]["replicaNumber"] = json!(3);
        });
        let f = analyze(&obs([p, &buckets, i, t]), &cfg());
        let r = get(&f, "couchbase.replicas");
        assert_eq!(r.status, Warn, "{r:?}");
        assert!(
            r.message
                .contains("bucket logs has 3 replicas, at most 1 recommended"),
            "{}",
            r.message
        );
        assert!(r.message.contains("3 data node(s)"), "{}", r.message);
        let missing = edit(b, |v| {
            v.as_array_mut().unwrap().remove(1);
        });
        let f = analyze(&obs([p, &missing, i, t]), &cfg());
        let r = get(&f, "couchbase.replicas");
        assert_eq!(r.status, Fail);
        assert!(
            r.message
                .contains("bucket logs does not exist (buckets: content)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn failed_over_and_unhealthy_nodes_fail_by_name() {
        let [p, b, i, t] = scenario!("healthy");
        let pools = edit(p, |v| {
            v["nodes"][1]["clusterMembership"] = json!("inactiveFailed");
            v["nodes"][1]["status"] = json!("unhealthy");
        });
        let f = analyze(&obs([&pools, b, i, t]), &cfg());
        let n = get(&f, "couchbase.nodes");
        assert_eq!(n.status, Fail);
        assert!(
            n.message
                .contains("couchbase-worker.isnet:8091 is failed over"),
            "{}",
            n.message
        );
        assert_eq!(get(&f, "couchbase.rebalance").status, Fail);
        let short = edit(p, |v| {
            v["nodes"].as_array_mut().unwrap().pop();
        });
        let n = nodes(&Ok(serde_json::from_str(&short).unwrap()), &cfg());
        assert_eq!(n.status, Fail);
        assert!(
            n.message.contains("2 of 3") && n.message.contains("not in the cluster at all"),
            "{}",
            n.message
        );
    }

    #[test]
    fn index_names_match_exactly_or_before_a_generated_suffix() {
        assert!(index_matches("idx_casbin", "idx_casbin"));
        assert!(index_matches(
            "idx_content_configuration",
            "idx_content_configuration_fb6ae58a_36fa"
        ));
        assert!(!index_matches(
            "idx_content_configuration",
            "idx_content_configurations"
        ));
        assert!(index_matches("idx_logs_*", "idx_logs_log_meta_id_v01_34f2"));
        let i: Index = serde_json::from_str(
            r#"{"index":"idx_casbin (replica 2)","bucket":"content","hosts":[],"status":"Ready"}"#,
        )
        .unwrap();
        assert_eq!(i.base_name(), "idx_casbin");
        assert!(same_host("couchbase.isnet:8091", "couchbase.isnet:8091"));
        assert!(!same_host("couchbase.isnet:8091", "couchbase.isnet:9000"));
        assert!(same_host("couchbase.isnet", "couchbase.isnet:8091"));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_shown_bodies() {
        let c = cfg();
        assert!(!format!("{c:?}").contains("w0rd"));
        let a = super::super::app::redact(
            Ok(HttpGet {
                status: Some(500),
                body_snippet: "echo Is@dm#n:p w0rd".into(),
                error: Some("x Is@dm#n:p w0rd".into()),
                ..Default::default()
            }),
            Some("Is@dm#n:p w0rd"),
        )
        .unwrap();
        assert!(!a.body_snippet.contains("w0rd") && !a.error.unwrap().contains("w0rd"));
        assert_eq!(credentials(&c).unwrap().password, "Is@dm#n:p w0rd");
        let mut e = cfg();
        e.password = None;
        e.password_env = Some("PFCTL_TEST_CB_NEVER_SET".into());
        assert!(credentials(&e)
            .unwrap_err()
            .contains("PFCTL_TEST_CB_NEVER_SET"));
        e.password_env = None;
        assert!(credentials(&e)
            .unwrap_err()
            .contains("no password is configured"));
    }

    #[test]
    fn the_powerflow_profile_expects_the_manuals_couchbase() {
        let p = crate::profile::load("powerflow", None).unwrap();
        let c = p.couchbase.expect("powerflow has a [couchbase] section");
        assert_eq!(c.expected_nodes, 3);
        assert!(c.indexes.iter().any(|i| i == "idx_casbin"));
        assert!(!c.allow_primary_index);
        let logs = c.buckets.iter().find(|b| b.name == "logs").unwrap();
        assert_eq!(logs.max_replicas, Some(1));
        // the profile's expectations pass on the healthy fixture
        let f = analyze(&obs(scenario!("healthy")), &c);
        assert!(f.iter().all(|x| x.status == Good), "{f:#?}");
        assert!(crate::profile::load("demo", None)
            .unwrap()
            .couchbase
            .is_none());
    }
}
