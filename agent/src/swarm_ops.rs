//! Forming a swarm through the Engine API: `swarm.init`, `swarm.join`, `swarm.leave`,
//! `node.update` (labels, role) and `swarm.tokens`. The changes are audited like the actions in
//! `actions.rs`. Each is idempotent where the Engine lets it be: asking for the state the node is
//! already in answers `already: true` and changes nothing, so an interrupted autocluster run can
//! simply be repeated.
//!
//! Join tokens are secrets: they reach the Engine and the caller, never a log line, an audit entry
//! or an error message (Engine errors are scrubbed of the token before they go anywhere).

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::{LocalNodeState, NodeSpecRoleEnum, SwarmInitRequest, SwarmJoinRequest};
use bollard::query_parameters::{LeaveSwarmOptionsBuilder, UpdateNodeOptionsBuilder};
use bollard::Docker;
use pfproto::swarm::*;
use pfproto::{method, ErrorCode, RpcError};
use serde_json::{json, Value};

use crate::actions::{finish, Done};
use crate::agent::Agent;
use crate::methods::{parse, rpc, to_value};

/// A join returns only once the managers accepted the node (or the Engine gave up, after about
/// 20 s); the default per-call deadline of the agent is far shorter.
const SWARM_CALL_TIMEOUT: Duration = Duration::from_secs(60);
const LISTEN_ADDR: &str = "0.0.0.0:2377";
const SWARM_PORT: u16 = 2377;
const MAX_REMOTES: usize = 16;
const MAX_LABELS: usize = 64;
const MAX_LABEL_BYTES: usize = 1024;

pub fn handles(name: &str) -> bool {
    matches!(
        name,
        method::SWARM_INIT
            | method::SWARM_JOIN
            | method::SWARM_LEAVE
            | method::SWARM_TOKENS
            | method::NODE_UPDATE
    )
}

pub async fn call(agent: &Agent, name: &str, params: Value, peer: &str) -> Result<Value, RpcError> {
    match name {
        method::SWARM_INIT => {
            let p: SwarmInitParams = parse(name, params)?;
            let done = init(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SWARM_JOIN => {
            // Never log these params: they carry the join token.
            let p: SwarmJoinParams = parse(name, params)?;
            let done = join(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SWARM_LEAVE => {
            let p: SwarmLeaveParams = parse(name, params)?;
            let done = leave(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::NODE_UPDATE => {
            let p: NodeUpdateParams = parse(name, params)?;
            let done = node_update(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SWARM_TOKENS => {
            if !params.is_null() && params.as_object().is_none_or(|m| !m.is_empty()) {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    "swarm.tokens takes no parameters",
                ));
            }
            let docker = docker(agent)
                .await
                .map_err(|e| rpc(ErrorCode::Unavailable, e))?;
            let t = tokens(&docker)
                .await
                .map_err(|e| rpc(ErrorCode::Unavailable, format!("swarm.tokens: {e}")))?;
            to_value(t)
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

/// The agent's negotiated client, with a deadline long enough for a join.
async fn docker(agent: &Agent) -> Result<Docker, String> {
    let d = agent
        .engine
        .client()
        .await
        .map_err(|e| format!("engine unreachable: {e}"))?;
    Ok(d.with_timeout(SWARM_CALL_TIMEOUT))
}

/// Where this node stands in a swarm, from the Engine's `info`.
/// The node's place in a swarm, as `node.facts` reports it.
type Standing = pfproto::facts::SwarmFacts;

trait StandingExt {
    fn active(&self) -> bool;
    fn inactive(&self) -> bool;
    fn stuck(&self) -> String;
}

impl StandingExt for Standing {
    fn active(&self) -> bool {
        self.state == LocalNodeState::ACTIVE.to_string()
    }
    fn inactive(&self) -> bool {
        self.state.is_empty() || self.state == LocalNodeState::INACTIVE.to_string()
    }
    /// Why neither init nor join can proceed from here.
    fn stuck(&self) -> String {
        format!(
            "the node's swarm state is '{}' (neither in a swarm nor out of one): \
             leave it with swarm.leave (force) and try again",
            self.state
        )
    }
}

async fn standing(docker: &Docker) -> Result<Standing, String> {
    let info = docker
        .info()
        .await
        .map_err(|e| format!("engine info: {e}"))?;
    Ok(crate::docker::swarm_facts(info.swarm.unwrap_or_default()))
}

async fn tokens(docker: &Docker) -> Result<SwarmTokens, String> {
    let swarm = docker.inspect_swarm().await.map_err(|e| {
        format!("{e} (join tokens are only known to a manager: ask a manager of the swarm)")
    })?;
    let t = swarm.join_tokens.unwrap_or_default();
    Ok(SwarmTokens {
        cluster_id: swarm.id.unwrap_or_default(),
        manager_token: JoinToken::new(t.manager.unwrap_or_default()),
        worker_token: JoinToken::new(t.worker.unwrap_or_default()),
    })
}

fn failed<T>(target: String, before: Value, e: String) -> Done<T> {
    Done {
        target,
        result: Err(e),
        before,
        after: Value::Null,
    }
}

/// An address as the Engine writes remote managers: `host:port`.
fn with_port(addr: &str) -> String {
    let a = addr.trim();
    let has_port = match a.rsplit_once(':') {
        // `[v6]:port` or `v4:port`; a bare IPv6 address has several colons and no brackets.
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (host.ends_with(']') || !host.contains(':'))
        }
        None => false,
    };
    if has_port {
        a.to_string()
    } else if a.contains(':') && !a.starts_with('[') {
        format!("[{a}]:{SWARM_PORT}")
    } else {
        format!("{a}:{SWARM_PORT}")
    }
}

fn check_addr(what: &str, addr: &str) -> Result<(), String> {
    if addr.trim().is_empty() || addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} '{addr}' is empty or holds spaces: give the node's address, e.g. 10.0.0.5"
        ));
    }
    Ok(())
}

/// Replaces the token wherever an Engine message repeats it.
fn scrub(message: String, token: &JoinToken) -> String {
    if token.is_empty() {
        message
    } else {
        message.replace(token.expose(), REDACTED)
    }
}

// ---- swarm.init ----

async fn init(agent: &Agent, p: &SwarmInitParams) -> Done<SwarmInit> {
    let target = crate::host::hostname();
    let asked = json!({"advertise_addr": p.advertise_addr});
    if let Err(e) = check_addr("advertise_addr", &p.advertise_addr) {
        return failed(target, asked, e);
    }
    let docker = match docker(agent).await {
        Ok(d) => d,
        Err(e) => return failed(target, asked, e),
    };
    let before = match standing(&docker).await {
        Ok(s) => s,
        Err(e) => return failed(target, asked, e),
    };
    let before_json = json!({"state": before.state, "advertise_addr": p.advertise_addr});
    let already = before.active() && before.is_manager;
    if before.active() && !before.is_manager {
        let e = format!(
            "this node is a worker in a swarm (managers: {}); init makes a new swarm: \
             leave the old one first (swarm.leave)",
            before.remote_managers.join(", ")
        );
        return failed(target, before_json, e);
    }
    if !already && !before.inactive() {
        return failed(target, before_json, before.stuck());
    }
    if !already {
        let req = SwarmInitRequest {
            listen_addr: Some(LISTEN_ADDR.to_string()),
            advertise_addr: Some(p.advertise_addr.trim().to_string()),
            ..Default::default()
        };
        if let Err(e) = docker.init_swarm(req).await {
            return failed(target, before_json, format!("swarm init: {e}"));
        }
    }
    let result = async {
        let now = standing(&docker).await?;
        let t = tokens(&docker).await?;
        Ok::<_, String>(SwarmInit {
            already,
            node_id: now.node_id,
            cluster_id: t.cluster_id,
            node_addr: now.node_addr,
            manager_token: t.manager_token,
            worker_token: t.worker_token,
        })
    }
    .await;
    let after = match &result {
        Ok(r) => json!({
            "state": "active",
            "already": r.already,
            "node_id": r.node_id,
            "cluster_id": r.cluster_id,
            "manager_token": REDACTED,
            "worker_token": REDACTED,
        }),
        Err(_) => Value::Null,
    };
    Done {
        target,
        result,
        before: before_json,
        after,
    }
}

// ---- swarm.join ----

fn check_join(p: &SwarmJoinParams) -> Result<(), String> {
    check_addr("advertise_addr", &p.advertise_addr)?;
    if p.remote_addrs.is_empty() || p.remote_addrs.len() > MAX_REMOTES {
        return Err(format!(
            "remote_addrs: between 1 and {MAX_REMOTES} manager addresses"
        ));
    }
    for a in &p.remote_addrs {
        check_addr("remote address", a)?;
    }
    if !p.token.expose().starts_with("SWMTKN-") {
        return Err(
            "the token is not a swarm join token (SWMTKN-...): ask a manager with swarm.tokens"
                .into(),
        );
    }
    Ok(())
}

async fn join(agent: &Agent, p: &SwarmJoinParams) -> Done<SwarmJoin> {
    let target = crate::host::hostname();
    let asked = json!({
        "advertise_addr": p.advertise_addr,
        "remote_addrs": p.remote_addrs,
        "token": REDACTED,
    });
    if let Err(e) = check_join(p) {
        return failed(target, asked, e);
    }
    let docker = match docker(agent).await {
        Ok(d) => d,
        Err(e) => return failed(target, asked, e),
    };
    let before = match standing(&docker).await {
        Ok(s) => s,
        Err(e) => return failed(target, asked, e),
    };
    let mut before_json = asked;
    before_json["state"] = json!(before.state);
    let wanted: Vec<String> = p.remote_addrs.iter().map(|a| with_port(a)).collect();
    let already = before.active() && in_that_swarm(&docker, &before, &wanted, &p.token).await;
    if before.active() && !already {
        let e = format!(
            "this node is already in another swarm (managers: {}), not the one of {}: \
             leave it first (swarm.leave with force)",
            before.remote_managers.join(", "),
            wanted.join(", ")
        );
        return failed(target, before_json, e);
    }
    if !already && !before.inactive() {
        return failed(target, before_json, before.stuck());
    }
    if !already {
        let req = SwarmJoinRequest {
            listen_addr: Some(LISTEN_ADDR.to_string()),
            advertise_addr: Some(p.advertise_addr.trim().to_string()),
            remote_addrs: Some(
                p.remote_addrs
                    .iter()
                    .map(|a| a.trim().to_string())
                    .collect(),
            ),
            join_token: Some(p.token.expose().to_string()),
            ..Default::default()
        };
        if let Err(e) = docker.join_swarm(req).await {
            let e = scrub(
                format!("swarm join via {}: {e}", wanted.join(", ")),
                &p.token,
            );
            return failed(target, before_json, e);
        }
    }
    let result = standing(&docker).await.map(|now| SwarmJoin {
        already,
        node_id: now.node_id,
        manager: now.is_manager,
        cluster_id: now.cluster_id,
    });
    let after = match &result {
        Ok(r) => {
            json!({"state": "active", "already": r.already, "node_id": r.node_id, "manager": r.manager})
        }
        Err(_) => Value::Null,
    };
    Done {
        target,
        result,
        before: before_json,
        after,
    }
}

/// The node is in the swarm the caller means: one of the given managers is among its managers,
/// or (on a manager) the token is one of the swarm's own.
async fn in_that_swarm(
    docker: &Docker,
    now: &Standing,
    wanted: &[String],
    token: &JoinToken,
) -> bool {
    if now.remote_managers.iter().any(|m| wanted.contains(m)) {
        return true;
    }
    if !now.is_manager {
        return false;
    }
    match tokens(docker).await {
        Ok(t) => t.manager_token == *token || t.worker_token == *token,
        Err(_) => false,
    }
}

// ---- swarm.leave ----

async fn leave(agent: &Agent, p: &SwarmLeaveParams) -> Done<SwarmLeave> {
    let target = crate::host::hostname();
    let docker = match docker(agent).await {
        Ok(d) => d,
        Err(e) => return failed(target, Value::Null, e),
    };
    let before = match standing(&docker).await {
        Ok(s) => s,
        Err(e) => return failed(target, Value::Null, e),
    };
    let before_json =
        json!({"state": before.state, "node_id": before.node_id, "manager": before.is_manager});
    if before.inactive() {
        return Done {
            target,
            result: Ok(SwarmLeave {
                already: true,
                node_id: String::new(),
            }),
            before: before_json,
            after: json!({"state": before.state, "already": true}),
        };
    }
    let opts = LeaveSwarmOptionsBuilder::default().force(p.force).build();
    if let Err(e) = docker.leave_swarm(Some(opts)).await {
        // The last manager of a swarm that lost its quorum may leave without ever answering:
        // the state it reaches decides.
        if standing(&docker).await.is_ok_and(|s| s.inactive()) {
            return Done {
                target,
                result: Ok(SwarmLeave {
                    already: false,
                    node_id: before.node_id,
                }),
                before: before_json,
                after: json!({"state": "inactive", "force": p.force, "engine_said": e.to_string()}),
            };
        }
        let hint = if before.is_manager && !p.force {
            " (this node is a manager: leaving needs force, and takes it out of the managers' quorum)"
        } else {
            ""
        };
        return failed(target, before_json, format!("swarm leave: {e}{hint}"));
    }
    Done {
        target,
        result: Ok(SwarmLeave {
            already: false,
            node_id: before.node_id,
        }),
        before: before_json,
        after: json!({"state": "inactive", "force": p.force}),
    }
}

// ---- node.update ----

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.len() > MAX_LABELS {
        return Err(format!("at most {MAX_LABELS} labels per call"));
    }
    for (k, v) in labels {
        if k.is_empty()
            || k.len() > MAX_LABEL_BYTES
            || k.contains('=')
            || k.contains(char::is_whitespace)
        {
            return Err(format!(
                "label name '{k}' must be 1..{MAX_LABEL_BYTES} bytes without '=' or spaces"
            ));
        }
        if v.len() > MAX_LABEL_BYTES {
            return Err(format!("label '{k}': value over {MAX_LABEL_BYTES} bytes"));
        }
    }
    Ok(())
}

fn settings(spec: &bollard::models::NodeSpec) -> NodeSettings {
    NodeSettings {
        role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
        labels: spec
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }
}

async fn node_update(agent: &Agent, p: &NodeUpdateParams) -> Done<NodeUpdate> {
    let target = p.node.clone();
    let asked = json!({"labels": p.labels, "role": p.role.map(NodeRole::as_str)});
    if p.node.trim().is_empty() {
        return failed(target, asked, "name the node (id or hostname)".into());
    }
    if let Err(e) = check_labels(&p.labels) {
        return failed(target, asked, e);
    }
    let docker = match docker(agent).await {
        Ok(d) => d,
        Err(e) => return failed(target, asked, e),
    };
    let node = match docker.inspect_node(&p.node).await {
        Ok(n) => n,
        Err(e) => {
            let e = format!(
                "inspecting node '{}': {e} (node.update runs on a manager of the node's swarm)",
                p.node
            );
            return failed(target, asked, e);
        }
    };
    let version = node.version.and_then(|v| v.index).unwrap_or(0);
    let id = node.id.unwrap_or_default();
    let hostname = node
        .description
        .and_then(|d| d.hostname)
        .unwrap_or_default();
    let mut spec = node.spec.unwrap_or_default();
    let before = settings(&spec);
    let labels = spec.labels.get_or_insert_with(Default::default);
    for (k, v) in &p.labels {
        labels.insert(k.clone(), v.clone());
    }
    if let Some(role) = p.role {
        spec.role = Some(match role {
            NodeRole::Manager => NodeSpecRoleEnum::MANAGER,
            NodeRole::Worker => NodeSpecRoleEnum::WORKER,
        });
    }
    let after = settings(&spec);
    let changed = after != before;
    if changed {
        let opts = UpdateNodeOptionsBuilder::default()
            .version(version as i64)
            .build();
        if let Err(e) = docker.update_node(&id, spec, opts).await {
            return failed(target, json!(before), format!("node update: {e}"));
        }
    }
    Done {
        target,
        before: json!(before),
        after: json!({"settings": after, "changed": changed}),
        result: Ok(NodeUpdate {
            node_id: id,
            hostname,
            changed,
            before,
            after,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_the_swarm_port() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:2377");
        assert_eq!(with_port(" 10.0.0.1:2400 "), "10.0.0.1:2400");
        assert_eq!(with_port("fd00::1"), "[fd00::1]:2377");
        assert_eq!(with_port("[fd00::1]:2377"), "[fd00::1]:2377");
        assert_eq!(with_port("node1"), "node1:2377");
    }

    #[test]
    fn tokens_are_scrubbed_from_engine_messages() {
        let t = JoinToken::new("SWMTKN-1-aaa-bbb");
        let m = scrub("join failed: token SWMTKN-1-aaa-bbb is invalid".into(), &t);
        assert_eq!(m, "join failed: token <redacted> is invalid");
    }

    #[test]
    fn join_parameters_are_checked_before_the_engine() {
        let mut p = SwarmJoinParams {
            advertise_addr: "10.0.0.2".into(),
            remote_addrs: vec!["10.0.0.1".into()],
            token: JoinToken::new("SWMTKN-1-x-y"),
            ..Default::default()
        };
        assert!(check_join(&p).is_ok());
        p.token = JoinToken::new("hunter2");
        let e = check_join(&p).unwrap_err();
        assert!(
            e.contains("not a swarm join token") && !e.contains("hunter2"),
            "{e}"
        );
        p.token = JoinToken::new("SWMTKN-1-x-y");
        p.remote_addrs.clear();
        assert!(check_join(&p).unwrap_err().contains("remote_addrs"));
        p.remote_addrs = vec!["10.0.0.1".into()];
        p.advertise_addr = "10.0.0.2 ; rm".into();
        assert!(check_join(&p).unwrap_err().contains("advertise_addr"));
    }

    #[test]
    fn label_rules() {
        let mut l = BTreeMap::new();
        l.insert("types".to_string(), "master".to_string());
        assert!(check_labels(&l).is_ok());
        l.insert("a=b".to_string(), "x".to_string());
        assert!(check_labels(&l).unwrap_err().contains("'a=b'"));
    }
}
