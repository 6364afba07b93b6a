//! Methods that change the node (remove containers, update a service or a node, write a file, fix
//! a file's owner and mode), each recorded in the audit log with its before and after state,
//! whether it worked or not. The log is `<state>/audit.log`, JSON lines, newest last, rotated to
//! `audit.log.1` past [`AUDIT_MAX_BYTES`].

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bollard::models::{NodeSpecAvailabilityEnum, ServiceSpec};
use bollard::query_parameters::{
    RemoveContainerOptionsBuilder, UpdateNodeOptionsBuilder, UpdateServiceOptionsBuilder,
};
use pfproto::action::*;
use pfproto::{method, ErrorCode, RpcError};
use serde::Serialize;
use serde_json::{json, Value};

use crate::agent::Agent;
use crate::methods::{parse, rpc, to_value};

pub const AUDIT_MAX_BYTES: u64 = 4 * 1024 * 1024;
const MAX_AUDIT_LIST: u32 = 1000;
/// The largest file `files.write` accepts.
const MAX_WRITE_BYTES: usize = 1024 * 1024;

static AUDIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn is_action(name: &str) -> bool {
    matches!(
        name,
        method::CONTAINERS_REMOVE
            | method::SERVICE_UPDATE
            | method::NODE_AVAILABILITY
            | method::FILES_WRITE
            | method::FILES_MODE
            | method::FILES_REMOVE
            | method::AUDIT_LIST
            | method::HTTP_POST
            | method::AUDIT_RECORD
    )
}

/// What one action did, for its answer and its audit entry.
pub(crate) struct Done<T> {
    pub target: String,
    pub result: Result<T, String>,
    pub before: Value,
    pub after: Value,
}

pub async fn call(agent: &Agent, name: &str, params: Value, peer: &str) -> Result<Value, RpcError> {
    match name {
        method::AUDIT_LIST => {
            let p: AuditListParams = parse(name, params)?;
            let dir = agent.state_dir.clone();
            let limit = p.limit.clamp(1, MAX_AUDIT_LIST) as usize;
            let r = tokio::task::spawn_blocking(move || list(&dir, limit))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            to_value(r)
        }
        method::AUDIT_RECORD => {
            let p: AuditRecordParams = parse(name, params)?;
            if !RECORDABLE.contains(&p.method.as_str()) {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("audit.record: '{}' is not recordable (only {RECORDABLE:?}); the agent audits its own actions", p.method),
                ));
            }
            let done: Done<Value> = Done {
                target: p.target,
                result: Ok(Value::Null),
                before: p.before,
                after: p.after,
            };
            finish(agent, &p.method, &p.meta, peer, done)
        }
        method::HTTP_POST => {
            // Never log these params: they carry a password. The audit entry has the URL and the
            // form, which hold no secret.
            let p: HttpPostParams = parse(name, params)?;
            let r = crate::net::http_post(&p).await;
            audit_http_post(agent, name, &p, peer, &r);
            to_value(r)
        }
        method::CONTAINERS_REMOVE => {
            let p: ContainersRemoveParams = parse(name, params)?;
            let done = remove_containers(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SERVICE_UPDATE => {
            let p: ServiceUpdateParams = parse(name, params)?;
            let done = update_service(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::NODE_AVAILABILITY => {
            let p: NodeAvailabilityParams = parse(name, params)?;
            let done = node_availability(agent, &p).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::FILES_WRITE => {
            let p: FileWriteParams = parse(name, params)?;
            let meta = p.meta.clone();
            let done = tokio::task::spawn_blocking(move || write_file(&p))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            finish(agent, name, &meta, peer, done)
        }
        method::FILES_REMOVE => {
            let p: FileRemoveParams = parse(name, params)?;
            let meta = p.meta.clone();
            let done = tokio::task::spawn_blocking(move || remove_file(&p))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            finish(agent, name, &meta, peer, done)
        }
        method::FILES_MODE => {
            let p: FileModeParams = parse(name, params)?;
            let meta = p.meta.clone();
            let done = tokio::task::spawn_blocking(move || file_mode(&p))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            finish(agent, name, &meta, peer, done)
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

/// Audits the action, then answers: its result, or an `action_failed` error with the reason.
pub(crate) fn finish<T: Serialize>(
    agent: &Agent,
    name: &str,
    meta: &ActionMeta,
    peer: &str,
    done: Done<T>,
) -> Result<Value, RpcError> {
    let entry = AuditEntry {
        at_unix_ms: crate::clock::unix_ms(),
        run_id: meta.run_id.clone(),
        actor: meta.actor.clone(),
        peer_uid: peer_uid(peer),
        method: name.to_string(),
        target: done.target.clone(),
        ok: done.result.is_ok(),
        error: done.result.as_ref().err().cloned(),
        before: done.before,
        after: done.after,
    };
    if let Err(e) = append(&agent.state_dir, &entry) {
        // An action that cannot be recorded is still reported, with the reason it is not on record.
        crate::log::warning!("audit log: {e}");
    }
    match done.result {
        Ok(v) => to_value(v),
        Err(e) => Err(rpc(
            ErrorCode::Internal,
            format!("{name} {}: {e}", done.target),
        )),
    }
}

/// A POST is audited like the other actions; it failed unless the server answered 2xx. The
/// answer itself goes back either way, so the caller sees the status and body.
fn audit_http_post(agent: &Agent, name: &str, p: &HttpPostParams, peer: &str, r: &HttpPost) {
    let ok = r.error.is_none() && r.status.is_some_and(|s| (200..300).contains(&s));
    let error = match (&r.error, r.status) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(s)) if !ok => Some(format!("HTTP {s}")),
        _ => None,
    };
    let entry = AuditEntry {
        at_unix_ms: crate::clock::unix_ms(),
        run_id: p.meta.run_id.clone(),
        actor: p.meta.actor.clone(),
        peer_uid: peer_uid(peer),
        method: name.to_string(),
        target: format!("POST {}", p.url),
        ok,
        error,
        before: json!({ "form": p.form }),
        after: json!({ "status": r.status }),
    };
    if let Err(e) = append(&agent.state_dir, &entry) {
        crate::log::warning!("audit log: {e}");
    }
}

fn peer_uid(peer: &str) -> Option<u32> {
    match peer.strip_prefix("uid ") {
        Some(rest) => rest.split_whitespace().next()?.parse().ok(),
        None => Some(nix::unistd::getuid().as_raw()),
    }
}

// ---- audit log ----

fn audit_path(dir: &Path) -> PathBuf {
    dir.join("audit.log")
}

fn append(dir: &Path, entry: &AuditEntry) -> std::io::Result<()> {
    let _g = AUDIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(dir)?;
    let path = audit_path(dir);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > AUDIT_MAX_BYTES) {
        std::fs::rename(&path, dir.join("audit.log.1"))?;
    }
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)?;
    // One write per entry: O_APPEND keeps concurrent agents' lines whole.
    f.write_all(&line)?;
    f.sync_data()
}

fn list(dir: &Path, limit: usize) -> AuditList {
    let mut entries = Vec::new();
    for name in ["audit.log", "audit.log.1"] {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        // A line cut short by a crash is skipped, not fatal.
        let mut these: Vec<AuditEntry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        these.reverse();
        entries.extend(these);
        if entries.len() >= limit {
            break;
        }
    }
    entries.truncate(limit);
    AuditList { entries }
}

// ---- engine actions ----

async fn remove_containers(agent: &Agent, p: &ContainersRemoveParams) -> Done<ContainersRemove> {
    let target = p.ids.join(",");
    let docker = match agent.engine.client().await {
        Ok(d) => d,
        Err(e) => return failed(target, format!("engine unreachable: {e}")),
    };
    let mut out = ContainersRemove::default();
    for id in &p.ids {
        // Only stopped containers: the state is read again here, not trusted from the plan.
        let state = match docker.inspect_container(id, None).await {
            Ok(c) => c
                .state
                .and_then(|s| s.status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            Err(e) => {
                out.refused.push((id.clone(), e.to_string()));
                continue;
            }
        };
        if state != "exited" && state != "dead" && state != "created" {
            out.refused
                .push((id.clone(), format!("state is {state}, not exited")));
            continue;
        }
        let opts = RemoveContainerOptionsBuilder::default().build();
        match docker.remove_container(id, Some(opts)).await {
            Ok(()) => out.removed.push(id.clone()),
            Err(e) => out.refused.push((id.clone(), e.to_string())),
        }
    }
    Done {
        target,
        before: json!({"asked": p.ids.len()}),
        after: json!({"removed": out.removed, "refused": out.refused.len()}),
        result: Ok(out),
    }
}

fn failed<T>(target: String, e: String) -> Done<T> {
    Done {
        target,
        result: Err(e),
        before: Value::Null,
        after: Value::Null,
    }
}

/// The service's state as an update changes it; `env` names the variable the update sets.
fn service_state(spec: &ServiceSpec, version: u64, env: Option<&str>) -> ServiceState {
    let tt = spec.task_template.clone().unwrap_or_default();
    let vars = tt.container_spec.as_ref().and_then(|c| c.env.as_deref());
    ServiceState {
        env: env.and_then(|name| {
            let value = env_value(vars.unwrap_or_default(), name)?;
            Some(format!("{name}={}", shown(name, value)))
        }),
        max_replicas_per_node: tt
            .placement
            .as_ref()
            .and_then(|p| p.max_replicas)
            .map(|m| m.max(0) as u64),
        replicas: spec
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .map(|r| r.max(0) as u64),
        constraints: tt.placement.and_then(|p| p.constraints).unwrap_or_default(),
        force_update: tt.force_update.unwrap_or(0),
        version,
    }
}

async fn update_service(agent: &Agent, p: &ServiceUpdateParams) -> Done<ServiceUpdate> {
    let target = p.service.clone();
    let docker = match agent.engine.client().await {
        Ok(d) => d,
        Err(e) => return failed(target, format!("engine unreachable: {e}")),
    };
    let (mut spec, version, _) = match full_spec(agent, &docker, &p.service).await {
        Ok(v) => v,
        Err(e) => return failed(target, e),
    };
    let env_name = p.env.as_ref().map(|e| e.name.as_str());
    if let Some(name) = env_name.filter(|n| n.is_empty() || n.contains('=')) {
        return failed(
            target,
            format!("environment variable name '{name}' is empty or holds '='; name one variable"),
        );
    }
    let before = service_state(&spec, version, env_name);
    let mut warnings = Vec::new();
    if let Some(n) = p.replicas {
        match spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
            Some(r) => r.replicas = Some(n as i64),
            None => warnings.push("not a replicated service: replicas left alone".to_string()),
        }
    }
    let tt = spec.task_template.get_or_insert_with(Default::default);
    if let Some(c) = &p.constraints {
        tt.placement
            .get_or_insert_with(Default::default)
            .constraints = Some(c.clone());
    }
    if let Some(n) = p.max_replicas_per_node {
        tt.placement
            .get_or_insert_with(Default::default)
            .max_replicas = Some(n as i64);
    }
    if let Some(e) = &p.env {
        let cs = tt.container_spec.get_or_insert_with(Default::default);
        set_env(cs.env.get_or_insert_with(Vec::new), &e.name, &e.value);
    }
    if p.force {
        tt.force_update = Some(tt.force_update.unwrap_or(0) + 1);
    }
    let after_state = service_state(&spec, version, env_name);
    let opts = UpdateServiceOptionsBuilder::default()
        .version(version as i32)
        .build();
    let result = match docker.update_service(&p.service, spec, opts, None).await {
        Ok(r) => {
            warnings.extend(r.warnings.unwrap_or_default());
            Ok(ServiceUpdate {
                service: p.service.clone(),
                before: before.clone(),
                after: after_state.clone(),
                warnings,
            })
        }
        Err(e) => Err(e.to_string()),
    };
    Done {
        target,
        before: json!(before),
        after: json!(after_state),
        result,
    }
}

/// A service's spec, version and id, whole: the update sends the spec back, so what bollard's
/// types could not read (the container healthcheck) is put back from the raw document first.
pub(crate) async fn full_spec(
    agent: &Agent,
    docker: &bollard::Docker,
    service: &str,
) -> Result<(ServiceSpec, u64, String), String> {
    let svc = docker
        .inspect_service(service, None)
        .await
        .map_err(|e| e.to_string())?;
    let version = svc.version.and_then(|v| v.index).unwrap_or(0);
    let Some(mut spec) = svc.spec else {
        return Err("the service has no spec".to_string());
    };
    let id = svc.id.unwrap_or_else(|| service.to_string());
    let raw = agent
        .engine
        .raw_get(&format!("/services/{id}"))
        .await
        .map_err(|e| format!("reading the full spec: {e}; nothing changed"))?;
    if let Some(hc) = raw.pointer("/Spec/TaskTemplate/ContainerSpec/Healthcheck") {
        let hc = serde_json::from_value(hc.clone()).map_err(|e| {
            format!("the service's healthcheck is not understood ({e}); nothing changed")
        })?;
        let tt = spec.task_template.get_or_insert_with(Default::default);
        tt.container_spec
            .get_or_insert_with(Default::default)
            .health_check = Some(hc);
    }
    Ok((spec, version, id))
}

/// A variable's value in a `NAME=value` list (a bare `NAME` is set to the empty string).
fn env_value<'a>(vars: &'a [String], name: &str) -> Option<&'a str> {
    vars.iter().find_map(|v| match v.split_once('=') {
        Some((n, value)) => (n == name).then_some(value),
        None => (v == name).then_some(""),
    })
}

/// Replaces the variable's entry in place (so the others keep their order), or appends it.
fn set_env(vars: &mut Vec<String>, name: &str, value: &str) {
    let entry = format!("{name}={value}");
    match vars
        .iter_mut()
        .find(|v| v.split_once('=').map_or(v.as_str(), |(n, _)| n) == name)
    {
        Some(v) => *v = entry,
        None => vars.push(entry),
    }
}

/// A value fit for the answer and the audit log: hidden when the name looks like a secret's.
fn shown<'a>(name: &str, value: &'a str) -> &'a str {
    let n = name.to_ascii_lowercase();
    let secret = ["pass", "secret", "token", "key", "credential"]
        .iter()
        .any(|s| n.contains(s));
    if secret {
        "(hidden)"
    } else {
        value
    }
}

async fn node_availability(agent: &Agent, p: &NodeAvailabilityParams) -> Done<NodeAvailability> {
    let target = p.node.clone();
    let want = match p.availability.as_str() {
        "active" => NodeSpecAvailabilityEnum::ACTIVE,
        "pause" => NodeSpecAvailabilityEnum::PAUSE,
        "drain" => NodeSpecAvailabilityEnum::DRAIN,
        other => {
            return failed(
                target,
                format!("availability '{other}' is not active, pause or drain"),
            )
        }
    };
    let docker = match agent.engine.client().await {
        Ok(d) => d,
        Err(e) => return failed(target, format!("engine unreachable: {e}")),
    };
    let node = match docker.inspect_node(&p.node).await {
        Ok(n) => n,
        Err(e) => return failed(target, e.to_string()),
    };
    let version = node.version.and_then(|v| v.index).unwrap_or(0);
    let id = node.id.unwrap_or_default();
    let mut spec = node.spec.unwrap_or_default();
    let before = spec.availability.map(|a| a.to_string()).unwrap_or_default();
    spec.availability = Some(want);
    let opts = UpdateNodeOptionsBuilder::default()
        .version(version as i64)
        .build();
    let result = docker
        .update_node(&id, spec, opts)
        .await
        .map(|()| NodeAvailability {
            node: p.node.clone(),
            before: before.clone(),
            after: p.availability.clone(),
        })
        .map_err(|e| e.to_string());
    Done {
        target,
        before: json!({"availability": before}),
        after: json!({"availability": p.availability}),
        result,
    }
}

// ---- file actions ----

/// The current content's hash, streamed (`files.stat`'s hashing); `None` when absent.
fn sha256_of(path: &str) -> std::io::Result<Option<String>> {
    match crate::files::sha256_file(path) {
        Ok(Some(h)) => Ok(Some(h)),
        Ok(None) => Err(std::io::Error::other("too large to hash")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Renames the file to `<path>.pfctl-prev`, so a removal can be undone by hand; a missing file is
/// not an error (nothing to do).
fn remove_file(p: &FileRemoveParams) -> Done<FileRemove> {
    let target = p.path.clone();
    let r = (|| -> Result<FileRemove, String> {
        let path = Path::new(&p.path);
        if !path.is_absolute() {
            return Err("the path must be absolute".into());
        }
        let before = sha256_of(&p.path).map_err(|e| format!("reading the current file: {e}"))?;
        if before.is_none() {
            return Ok(FileRemove {
                path: p.path.clone(),
                sha256_before: None,
                previous: None,
            });
        }
        let prev = format!("{}.pfctl-prev", p.path);
        std::fs::rename(path, &prev).map_err(|e| format!("renaming to {prev}: {e}"))?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(FileRemove {
            path: p.path.clone(),
            sha256_before: before,
            previous: Some(prev),
        })
    })();
    let (before, after) = match &r {
        Ok(w) => (
            json!({"sha256": w.sha256_before}),
            json!({"removed": w.sha256_before.is_some(), "previous": w.previous}),
        ),
        Err(_) => (Value::Null, Value::Null),
    };
    Done {
        target,
        result: r,
        before,
        after,
    }
}

fn write_file(p: &FileWriteParams) -> Done<FileWrite> {
    let target = p.path.clone();
    let r = write_file_inner(p);
    let (before, after) = match &r {
        Ok(w) => (
            json!({"sha256": w.sha256_before}),
            json!({"sha256": w.sha256_after, "previous": w.previous, "mode": format!("{:o}", p.mode)}),
        ),
        Err(_) => (Value::Null, Value::Null),
    };
    Done {
        target,
        result: r,
        before,
        after,
    }
}

fn write_file_inner(p: &FileWriteParams) -> Result<FileWrite, String> {
    let path = Path::new(&p.path);
    if !path.is_absolute() {
        return Err("the path must be absolute".into());
    }
    let content = base64::engine::general_purpose::STANDARD
        .decode(&p.content_b64)
        .map_err(|e| format!("content is not base64: {e}"))?;
    if content.len() > MAX_WRITE_BYTES {
        return Err(format!("content over {MAX_WRITE_BYTES} bytes"));
    }
    let before = sha256_of(&p.path).map_err(|e| format!("reading the current file: {e}"))?;
    if !p.any_previous && before != p.expect_sha256 {
        return Err(format!(
            "the file changed since it was checked (now {}, expected {}): run the check again",
            short(before.as_deref()),
            short(p.expect_sha256.as_deref())
        ));
    }
    let dir = path.parent().ok_or("the path has no directory")?;
    if p.make_dirs && !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("making {}: {e}", dir.display()))?;
    }
    let name = path
        .file_name()
        .ok_or("the path has no file name")?
        .to_string_lossy()
        .to_string();
    let tmp = dir.join(format!(".{name}.pfagent-tmp-{}", std::process::id()));
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("creating the temporary file", e))?;
        f.write_all(&content).map_err(|e| io("writing", e))?;
        f.sync_all().map_err(|e| io("syncing", e))?;
        nix::unistd::fchown(&f, Some(p.uid.into()), Some(p.gid.into()))
            .map_err(|e| format!("setting the owner: {e}"))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(p.mode))
            .map_err(|e| io("setting the mode", e))?;
        let previous = if before.is_some() {
            // The replaced content stays beside the file, with its own owner and mode.
            let prev = format!("{}.pfctl-prev", p.path);
            copy_keep(&p.path, &prev).map_err(|e| io("keeping the previous copy", e))?;
            Some(prev)
        } else {
            None
        };
        std::fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(previous)
    })();
    let previous = match result {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    use sha2::Digest;
    Ok(FileWrite {
        path: p.path.clone(),
        sha256_before: before,
        sha256_after: pfproto::hex(&sha2::Sha256::digest(&content)),
        previous,
    })
}

/// Copies `from` to `to` (atomically, through a temporary file) with `from`'s owner and mode.
fn copy_keep(from: &str, to: &str) -> std::io::Result<()> {
    let meta = std::fs::metadata(from)?;
    let tmp = format!("{to}.tmp-{}", std::process::id());
    std::fs::copy(from, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    let _ = nix::unistd::chown(
        Path::new(&tmp),
        Some(meta.uid().into()),
        Some(meta.gid().into()),
    );
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::fs::rename(&tmp, to)
}

fn short(h: Option<&str>) -> String {
    h.map_or("absent".to_string(), |h| h.chars().take(12).collect())
}

fn file_mode(p: &FileModeParams) -> Done<FileMode> {
    let target = p.path.clone();
    let r = (|| {
        let meta = std::fs::metadata(&p.path).map_err(|e| e.to_string())?;
        let before = FileOwnerMode {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        };
        nix::unistd::chown(Path::new(&p.path), Some(p.uid.into()), Some(p.gid.into()))
            .map_err(|e| format!("setting the owner: {e}"))?;
        std::fs::set_permissions(&p.path, std::fs::Permissions::from_mode(p.mode))
            .map_err(|e| format!("setting the mode: {e}"))?;
        Ok(FileMode {
            path: p.path.clone(),
            before,
            after: FileOwnerMode {
                mode: p.mode,
                uid: p.uid,
                gid: p.gid,
            },
        })
    })();
    let (before, after) = match &r {
        Ok(m) => (
            json!({"mode": format!("{:o}", m.before.mode), "uid": m.before.uid, "gid": m.before.gid}),
            json!({"mode": format!("{:o}", m.after.mode), "uid": m.after.uid, "gid": m.after.gid}),
        ),
        Err(_) => (Value::Null, Value::Null),
    };
    Done {
        target,
        result: r,
        before,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ActionMeta {
        ActionMeta {
            run_id: "r1".into(),
            actor: "admin@ctl".into(),
        }
    }

    #[test]
    fn write_keeps_the_previous_copy_and_refuses_a_stale_plan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isconfig.yml");
        std::fs::write(&path, "old\n").unwrap();
        let old = sha256_of(path.to_str().unwrap()).unwrap();
        let mut p = FileWriteParams {
            meta: meta(),
            path: path.display().to_string(),
            content_b64: base64::engine::general_purpose::STANDARD.encode("new\n"),
            mode: 0o640,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            expect_sha256: Some("0000".into()),
            any_previous: false,
            make_dirs: false,
        };
        let stale = write_file(&p);
        assert!(stale
            .result
            .unwrap_err()
            .contains("changed since it was checked"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old\n",
            "untouched"
        );
        p.expect_sha256 = old;
        let w = write_file(&p).result.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            std::fs::read_to_string(w.previous.unwrap()).unwrap(),
            "old\n"
        );
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left"
        );
    }

    #[test]
    fn an_env_variable_is_replaced_in_place_or_appended_and_secrets_stay_hidden() {
        let mut vars = vec!["A=1".to_string(), "db_host=db".into(), "FLAG".into()];
        set_env(&mut vars, "db_host", "db,db2");
        set_env(&mut vars, "FLAG", "on");
        set_env(&mut vars, "NEW", "x=y");
        assert_eq!(vars, ["A=1", "db_host=db,db2", "FLAG=on", "NEW=x=y"]);
        assert_eq!(env_value(&vars, "NEW"), Some("x=y"));
        assert_eq!(env_value(&["BARE".to_string()], "BARE"), Some(""));
        assert_eq!(env_value(&vars, "db"), None);
        assert_eq!(shown("db_host", "db,db2"), "db,db2");
        assert_eq!(shown("RABBIT_PASSWORD", "s3cret"), "(hidden)");
    }

    #[test]
    fn audit_entries_list_newest_first_and_survive_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            let e = AuditEntry {
                run_id: format!("r{i}"),
                ..Default::default()
            };
            append(dir.path(), &e).unwrap();
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(audit_path(dir.path()))
            .unwrap();
        f.write_all(b"{\"run_id\": \"torn").unwrap();
        let l = list(dir.path(), 10);
        let ids: Vec<&str> = l.entries.iter().map(|e| e.run_id.as_str()).collect();
        assert_eq!(ids, ["r2", "r1", "r0"]);
        assert_eq!(list(dir.path(), 1).entries.len(), 1);
    }
}
