//! A stack's swarm objects, made the way `docker stack deploy` makes them but through the Engine
//! API: overlay networks (`network.ensure`), secrets and configs from files on this node
//! (`secret.ensure`, `config.ensure`) and services (`service.apply`). Every method is idempotent
//! and audited like the actions in `actions.rs`; secret contents never reach the answer, the
//! audit log or an error message.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use base64::Engine as _;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ConfigSpec, Ipam, IpamConfig, NetworkCreateRequest, NetworkInspect, SecretSpec, ServiceSpec,
};
use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListSecretsOptionsBuilder, UpdateConfigOptionsBuilder,
    UpdateSecretOptionsBuilder, UpdateServiceOptionsBuilder,
};
use bollard::Docker;
use pfproto::stack::*;
use pfproto::{method, ErrorCode, RpcError};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::actions::{finish, Done};
use crate::agent::Agent;
use crate::docker::{call as timed, CallError};
use crate::methods::{parse, rpc};

pub fn handles(name: &str) -> bool {
    matches!(
        name,
        method::NETWORK_ENSURE
            | method::SECRET_ENSURE
            | method::CONFIG_ENSURE
            | method::SERVICE_APPLY
            | method::SERVICES_INSPECT
    )
}

pub async fn call(agent: &Agent, name: &str, params: Value, peer: &str) -> Result<Value, RpcError> {
    match name {
        method::NETWORK_ENSURE => {
            let p: NetworkEnsureParams = parse(name, params)?;
            let done = with_engine(agent, &p.name, |d| ensure_network(d, &p)).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SECRET_ENSURE | method::CONFIG_ENSURE => {
            let p: ObjectEnsureParams = parse(name, params)?;
            let kind = if name == method::SECRET_ENSURE {
                Kind::Secret
            } else {
                Kind::Config
            };
            let done = with_engine(agent, &p.name, |d| ensure_object(d, kind, &p)).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SERVICE_APPLY => {
            // Never log these params: the spec's environment may hold passwords.
            let p: ServiceApplyParams = parse(name, params)?;
            let target = p.spec["Name"].as_str().unwrap_or("").to_string();
            let done = with_engine(agent, &target, |d| apply_service(d, &p.spec)).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SERVICES_INSPECT => {
            let p: ServicesInspectParams = parse(name, params)?;
            let docker = agent
                .engine
                .client()
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("engine unreachable: {e}")))?;
            match inspect_services(&docker, &p).await {
                Ok(v) => crate::methods::to_value(v),
                Err(e) => {
                    agent.engine.forget_if_broken(&e).await;
                    Err(rpc(ErrorCode::Internal, format!("services.inspect: {e}")))
                }
            }
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

/// Runs `work` with the engine's client; a transport failure makes the next call negotiate anew.
pub(crate) async fn with_engine<T, F, Fut>(agent: &Agent, target: &str, work: F) -> Done<T>
where
    F: FnOnce(Docker) -> Fut,
    Fut: std::future::Future<Output = Result<Done<T>, CallError>>,
{
    let failed = |e: String| Done {
        target: target.to_string(),
        result: Err(e),
        before: Value::Null,
        after: Value::Null,
    };
    let docker = match agent.engine.client().await {
        Ok(d) => d,
        Err(e) => return failed(format!("engine unreachable: {e}")),
    };
    match work(docker).await {
        Ok(done) => done,
        Err(e) => {
            agent.engine.forget_if_broken(&e).await;
            failed(e.to_string())
        }
    }
}

/// Specs serialized by the same types `service.apply` reads them with, so a spec read here and
/// applied again round-trips.
async fn inspect_services(
    docker: &Docker,
    p: &ServicesInspectParams,
) -> Result<ServicesInspect, CallError> {
    let all = timed("list services", docker.list_services(None)).await?;
    // The Engine keeps network ids; specs name networks (as compose files and service.apply do).
    let networks: HashMap<String, String> = timed("list networks", docker.list_networks(None))
        .await?
        .into_iter()
        .filter_map(|n| Some((n.id?, n.name?)))
        .collect();
    let mut services = Vec::new();
    for s in all {
        let Some(spec) = s.spec else { continue };
        let name = spec.name.clone().unwrap_or_default();
        if !p.names.is_empty() && !p.names.contains(&name) {
            continue;
        }
        if let Some(stack) = &p.stack {
            let label = spec.labels.as_ref().and_then(|l| l.get(STACK_LABEL));
            if label != Some(stack) {
                continue;
            }
        }
        let status = s.update_status;
        services.push(ServiceInspect {
            id: s.id.unwrap_or_default(),
            name,
            version: s.version.and_then(|v| v.index).unwrap_or(0),
            spec: named_networks(
                serde_json::to_value(&spec).unwrap_or(Value::Null),
                &networks,
            ),
            update_state: status
                .as_ref()
                .and_then(|u| u.state)
                .map(|st| st.to_string()),
            update_message: status.as_ref().and_then(|u| u.message.clone()),
            update_started_unix: status
                .as_ref()
                .and_then(|u| u.started_at.as_deref())
                .and_then(crate::engine_probes::parse_rfc3339)
                .map(|(secs, _)| secs),
        });
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ServicesInspect { services })
}

fn named_networks(mut spec: Value, names: &HashMap<String, String>) -> Value {
    if let Some(list) = spec
        .pointer_mut("/TaskTemplate/Networks")
        .and_then(Value::as_array_mut)
    {
        for n in list {
            let name = n["Target"].as_str().and_then(|id| names.get(id)).cloned();
            if let Some(name) = name {
                n["Target"] = Value::String(name);
            }
        }
    }
    spec
}

/// Names go into Engine API paths: only the characters Docker allows in object names.
fn object_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a Docker object name (letters, digits, '_', '.', '-', starting with a letter or digit)"
        ))
    }
}

pub(crate) fn refused<T>(target: &str, why: String) -> Done<T> {
    Done {
        target: target.to_string(),
        result: Err(why),
        before: Value::Null,
        after: Value::Null,
    }
}

fn is_not_found(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Engine(
            _,
            BollardError::DockerResponseServerError {
                status_code: 404,
                ..
            }
        )
    )
}

fn hash_map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

// ---- network.ensure ----

async fn ensure_network(
    docker: Docker,
    p: &NetworkEnsureParams,
) -> Result<Done<EnsureResult>, CallError> {
    if let Err(e) = object_name(&p.name) {
        return Ok(refused(&p.name, e));
    }
    if p.driver.is_empty() {
        return Ok(refused(&p.name, "the driver must not be empty".into()));
    }
    let asked = json!({"driver": p.driver, "attachable": p.attachable, "internal": p.internal,
        "labels": p.labels, "options": p.options, "subnets": p.subnets});
    let existing = match timed("inspect network", docker.inspect_network(&p.name, None)).await {
        Ok(n) => Some(n),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    if let Some(have) = existing {
        let id = have.id.clone().unwrap_or_default();
        let diffs = network_differences(p, &have);
        let result = if diffs.is_empty() {
            Ok(EnsureResult {
                name: p.name.clone(),
                id,
                outcome: Ensured::Already,
            })
        } else {
            Err(format!(
                "a network of that name exists but differs ({}); networks cannot be changed in \
                 place: remove the services using it, then `docker network rm {}`, or give the \
                 network another name in the compose file",
                diffs.join(", "),
                p.name
            ))
        };
        let mut after = asked;
        after["outcome"] = json!(if diffs.is_empty() {
            "already"
        } else {
            "refused"
        });
        return Ok(Done {
            target: p.name.clone(),
            result,
            before: json!({"exists": true, "differs": diffs}),
            after,
        });
    }
    let ipam = (!p.subnets.is_empty()).then(|| Ipam {
        config: Some(
            p.subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: Some(s.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    });
    let req = NetworkCreateRequest {
        name: p.name.clone(),
        driver: Some(p.driver.clone()),
        attachable: Some(p.attachable),
        internal: Some(p.internal),
        labels: Some(hash_map(&p.labels)),
        options: Some(hash_map(&p.options)),
        ipam,
        ..Default::default()
    };
    let created = timed("create network", docker.create_network(req)).await?;
    Ok(Done {
        target: p.name.clone(),
        result: Ok(EnsureResult {
            name: p.name.clone(),
            id: created.id,
            outcome: Ensured::Created,
        }),
        before: json!({"exists": false}),
        after: asked,
    })
}

/// What differs between the asked network and the one there, in words; empty when equal in
/// everything asked (Docker adds options of its own, such as the VXLAN id, which are not compared).
fn network_differences(want: &NetworkEnsureParams, have: &NetworkInspect) -> Vec<String> {
    let mut out = Vec::new();
    let driver = have.driver.as_deref().unwrap_or("");
    if driver != want.driver {
        out.push(format!("driver is {driver}, not {}", want.driver));
    }
    let flag = |name: &str, have: Option<bool>, want: bool, out: &mut Vec<String>| {
        if have.unwrap_or(false) != want {
            out.push(format!("{name} is {}, not {want}", !want));
        }
    };
    flag("attachable", have.attachable, want.attachable, &mut out);
    flag("internal", have.internal, want.internal, &mut out);
    let missing =
        |what: &str, want: &BTreeMap<String, String>, have: &Option<HashMap<String, String>>| {
            want.iter()
                .filter(|(k, v)| have.as_ref().and_then(|h| h.get(*k)) != Some(*v))
                .map(|(k, _)| format!("{what} {k} differs"))
                .collect::<Vec<_>>()
        };
    out.extend(missing("label", &want.labels, &have.labels));
    out.extend(missing("option", &want.options, &have.options));
    if !want.subnets.is_empty() {
        let mut have_subnets: Vec<String> = have
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.subnet.clone())
            .collect();
        let mut want_subnets = want.subnets.clone();
        have_subnets.sort();
        want_subnets.sort();
        if have_subnets != want_subnets {
            out.push(format!(
                "subnets are [{}], not [{}]",
                have_subnets.join(" "),
                want_subnets.join(" ")
            ));
        }
    }
    out
}

// ---- secret.ensure, config.ensure ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
    fn max_bytes(self) -> u64 {
        match self {
            Kind::Secret => MAX_SECRET_BYTES,
            Kind::Config => MAX_CONFIG_BYTES,
        }
    }
}

/// An existing secret or config: id, version, labels and (configs only) its data.
struct Existing {
    id: String,
    version: i64,
    labels: HashMap<String, String>,
    data: Option<String>,
}

async fn ensure_object(
    docker: Docker,
    kind: Kind,
    p: &ObjectEnsureParams,
) -> Result<Done<EnsureResult>, CallError> {
    if let Err(e) = object_name(&p.name) {
        return Ok(refused(&p.name, e));
    }
    let path = p.file.clone();
    let max = kind.max_bytes();
    let bytes = match tokio::task::spawn_blocking(move || read_object_file(&path, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Ok(refused(&p.name, e)),
        Err(e) => return Ok(refused(&p.name, e.to_string())),
    };
    let size = bytes.len();
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    drop(bytes);
    let labels = hash_map(&p.labels);
    let label_names: Vec<&String> = p.labels.keys().collect();
    // Sizes and label names only: the content stays out of the audit log.
    let after = json!({"file": p.file, "bytes": size, "labels": label_names});
    let existing = match kind {
        Kind::Secret => find_secret(&docker, &p.name).await?,
        Kind::Config => find_config(&docker, &p.name).await?,
    };
    let Some(have) = existing else {
        let id = match kind {
            Kind::Secret => {
                let spec = SecretSpec {
                    name: Some(p.name.clone()),
                    labels: Some(labels),
                    data: Some(data),
                    ..Default::default()
                };
                timed("create secret", docker.create_secret(spec)).await?.id
            }
            Kind::Config => {
                let spec = ConfigSpec {
                    name: Some(p.name.clone()),
                    labels: Some(labels),
                    data: Some(data),
                    ..Default::default()
                };
                timed("create config", docker.create_config(spec)).await?.id
            }
        };
        return Ok(Done {
            target: p.name.clone(),
            result: Ok(EnsureResult {
                name: p.name.clone(),
                id,
                outcome: Ensured::Created,
            }),
            before: json!({"exists": false}),
            after,
        });
    };
    let before = json!({"exists": true, "version": have.version});
    let same_labels = have.labels == labels;
    let same_data = match kind {
        // Docker never shows a secret's data; an update that keeps the data is refused unless the
        // data is equal (compared by swarmkit in constant time), so the update is the comparison.
        Kind::Secret => {
            let spec = SecretSpec {
                name: Some(p.name.clone()),
                labels: Some(labels.clone()),
                data: Some(data),
                ..Default::default()
            };
            let opts = UpdateSecretOptionsBuilder::default()
                .version(have.version)
                .build();
            match timed("update secret", docker.update_secret(&have.id, spec, opts)).await {
                Ok(()) => true,
                Err(CallError::Engine(
                    _,
                    BollardError::DockerResponseServerError { message, .. },
                )) if message.contains("only updates to Labels are allowed") => false,
                Err(e) => return Err(e),
            }
        }
        Kind::Config => {
            let same = have.data.as_deref() == Some(data.as_str());
            if same && !same_labels {
                let spec = ConfigSpec {
                    name: Some(p.name.clone()),
                    labels: Some(labels.clone()),
                    data: Some(data),
                    ..Default::default()
                };
                let opts = UpdateConfigOptionsBuilder::default()
                    .version(have.version)
                    .build();
                timed("update config", docker.update_config(&have.id, spec, opts)).await?;
            }
            same
        }
    };
    let result = if !same_data {
        Err(format!(
            "a {w} of that name exists with other content, and Docker {w}s cannot change: \
             rename the {w} in the compose file (a new name makes a new {w}), or remove the \
             services using it and then `docker {w} rm {n}`",
            w = kind.word(),
            n = p.name
        ))
    } else {
        Ok(EnsureResult {
            name: p.name.clone(),
            id: have.id,
            outcome: if same_labels {
                Ensured::Already
            } else {
                Ensured::LabelsUpdated
            },
        })
    };
    let mut after = after;
    after["outcome"] = match &result {
        Ok(r) => json!(r.outcome),
        Err(_) => json!("refused"),
    };
    Ok(Done {
        target: p.name.clone(),
        result,
        before,
        after,
    })
}

/// The file's bytes; errors name the path and the reason, never the content.
pub(crate) fn read_object_file(path: &str, max: u64) -> Result<Vec<u8>, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "file '{path}' must be an absolute path on the node"
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    if meta.len() > max {
        return Err(format!(
            "{path} has {} bytes; Docker takes at most {max}",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("{path} grew past {max} bytes while read"));
    }
    Ok(bytes)
}

fn name_filter(name: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("name", vec![name.to_string()])])
}

/// The `name` filter matches prefixes too; only the exact name counts.
async fn find_secret(docker: &Docker, name: &str) -> Result<Option<Existing>, CallError> {
    let opts = ListSecretsOptionsBuilder::default()
        .filters(&name_filter(name))
        .build();
    let all = timed("list secrets", docker.list_secrets(Some(opts))).await?;
    Ok(all.into_iter().find_map(|s| {
        let spec = s.spec?;
        (spec.name.as_deref() == Some(name)).then(|| Existing {
            id: s.id.unwrap_or_default(),
            version: s.version.and_then(|v| v.index).unwrap_or(0) as i64,
            labels: spec.labels.unwrap_or_default(),
            data: None,
        })
    }))
}

async fn find_config(docker: &Docker, name: &str) -> Result<Option<Existing>, CallError> {
    let opts = ListConfigsOptionsBuilder::default()
        .filters(&name_filter(name))
        .build();
    let all = timed("list configs", docker.list_configs(Some(opts))).await?;
    Ok(all.into_iter().find_map(|c| {
        let spec = c.spec?;
        (spec.name.as_deref() == Some(name)).then(|| Existing {
            id: c.id.unwrap_or_default(),
            version: c.version.and_then(|v| v.index).unwrap_or(0) as i64,
            labels: spec.labels.unwrap_or_default(),
            data: spec.data,
        })
    }))
}

// ---- service.apply ----

async fn apply_service(docker: Docker, raw: &Value) -> Result<Done<ServiceApplyResult>, CallError> {
    let name = raw["Name"].as_str().unwrap_or("").to_string();
    let mut want = match checked_spec(raw) {
        Ok(v) => v,
        Err(e) => return Ok(refused(&name, e)),
    };
    if let Err(e) = object_name(&name) {
        return Ok(refused(&name, format!("the spec's Name: {e}")));
    }
    let digest = spec_digest(&want);
    if let Err(e) = resolve_refs(&docker, &mut want).await? {
        return Ok(refused(&name, e));
    }
    labels_of(&mut want).insert(SPEC_LABEL.into(), Value::String(digest));
    let current = match timed("inspect service", docker.inspect_service(&name, None)).await {
        Ok(s) => Some(s),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    let Some(current) = current else {
        let spec = to_spec(&want);
        let created = timed("create service", docker.create_service(spec, None)).await?;
        return Ok(Done {
            target: name.clone(),
            before: json!({"exists": false}),
            after: json!({"outcome": Applied::Created}),
            result: Ok(ServiceApplyResult {
                name,
                id: created.id.unwrap_or_default(),
                outcome: Applied::Created,
                changed: Vec::new(),
                warnings: created.warnings.unwrap_or_default(),
            }),
        });
    };
    let id = current.id.clone().unwrap_or_default();
    let version = current.version.as_ref().and_then(|v| v.index).unwrap_or(0);
    let have = serde_json::to_value(current.spec.unwrap_or_default()).unwrap_or(Value::Null);
    let mut changed = spec_differences(&comparable(&want), &have);
    name_removals(&mut changed);
    let before = json!({"exists": true, "version": version});
    if changed.is_empty() {
        return Ok(Done {
            target: name.clone(),
            before,
            after: json!({"outcome": Applied::Unchanged}),
            result: Ok(ServiceApplyResult {
                name,
                id,
                outcome: Applied::Unchanged,
                changed,
                warnings: Vec::new(),
            }),
        });
    }
    // Like `docker stack deploy`: keep the current force counter, so tasks are replaced only
    // because something asked for changed.
    if want["TaskTemplate"].get("ForceUpdate").is_none() {
        if let Some(n) = have["TaskTemplate"].get("ForceUpdate") {
            want["TaskTemplate"]["ForceUpdate"] = n.clone();
        }
    }
    let opts = UpdateServiceOptionsBuilder::default()
        .version(version as i32)
        .build();
    let updated = timed(
        "update service",
        docker.update_service(&id, to_spec(&want), opts, None),
    )
    .await?;
    Ok(Done {
        target: name.clone(),
        before,
        after: json!({"outcome": Applied::Updated, "changed": changed}),
        result: Ok(ServiceApplyResult {
            name,
            id,
            outcome: Applied::Updated,
            changed,
            warnings: updated.warnings.unwrap_or_default(),
        }),
    })
}

/// The spec as the Engine API types read it, as JSON again. A field those types do not know
/// would be dropped without a word on the way to the Engine; it is refused here instead.
fn checked_spec(raw: &Value) -> Result<Value, String> {
    if !raw.is_object() {
        return Err("the spec must be a JSON object (a ServiceSpec)".into());
    }
    let spec: ServiceSpec = serde_json::from_value(raw.clone())
        .map_err(|e| format!("not a ServiceSpec: {}", without_quoted(&e.to_string())))?;
    let back = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    let lost = spec_differences(raw, &back);
    if let Some(path) = lost.first() {
        return Err(format!(
            "the spec's {path} is not part of the Engine API's ServiceSpec"
        ));
    }
    Ok(back)
}

/// serde's type errors quote the offending value (`invalid type: string "..."`), which may be a
/// password from the environment; the quoted parts are left out.
fn without_quoted(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in msg.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…\"");
            }
            ('"', true) => quoted = false,
            (c, false) => out.push(c),
            _ => {}
        }
    }
    out
}

fn to_spec(v: &Value) -> ServiceSpec {
    // `v` came from a ServiceSpec (checked_spec) plus ids and a label of the same types.
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// A digest of the spec as asked (names, not ids), keys in a fixed order.
fn spec_digest(spec: &Value) -> String {
    // serde_json's maps are sorted, so equal specs serialize to equal bytes.
    let bytes = serde_json::to_vec(spec).unwrap_or_default();
    let digest = Sha256::digest(bytes);
    pfproto::hex(&digest)
}

fn labels_of(spec: &mut Value) -> &mut Map<String, Value> {
    if !spec["Labels"].is_object() {
        spec["Labels"] = json!({});
    }
    spec["Labels"].as_object_mut().expect("just made an object")
}

/// Named networks, secrets and configs become ids, as the Engine stores them. The outer error is
/// the Engine's; the inner one names a reference that does not exist.
async fn resolve_refs(docker: &Docker, spec: &mut Value) -> Result<Result<(), String>, CallError> {
    for net in items(&mut spec["TaskTemplate"]["Networks"]) {
        let Some(target) = net["Target"].as_str().map(str::to_string) else {
            continue;
        };
        if let Err(e) = object_name(&target) {
            return Ok(Err(format!("network '{target}': {e}")));
        }
        match timed("inspect network", docker.inspect_network(&target, None)).await {
            Ok(n) => net["Target"] = json!(n.id.unwrap_or(target)),
            Err(e) if is_not_found(&e) => {
                return Ok(Err(format!(
                    "network {target} does not exist: create it first (network.ensure)"
                )))
            }
            Err(e) => return Err(e),
        }
    }
    for s in items(&mut spec["TaskTemplate"]["ContainerSpec"]["Secrets"]) {
        let Some(name) = s["SecretName"].as_str().map(str::to_string) else {
            continue;
        };
        match find_secret(docker, &name).await? {
            Some(found) => s["SecretID"] = json!(found.id),
            None => {
                return Ok(Err(format!(
                    "secret {name} does not exist: create it first (secret.ensure)"
                )))
            }
        }
    }
    for c in items(&mut spec["TaskTemplate"]["ContainerSpec"]["Configs"]) {
        let Some(name) = c["ConfigName"].as_str().map(str::to_string) else {
            continue;
        };
        match find_config(docker, &name).await? {
            Some(found) => c["ConfigID"] = json!(found.id),
            None => {
                return Ok(Err(format!(
                    "config {name} does not exist: create it first (config.ensure)"
                )))
            }
        }
    }
    Ok(Ok(()))
}

fn items(v: &mut Value) -> std::slice::IterMut<'_, Value> {
    match v {
        Value::Array(a) => a.iter_mut(),
        _ => [].iter_mut(),
    }
}

/// What of `want` can be compared with a spec read back through bollard. The Engine answers
/// with `ContainerSpec.Healthcheck`, which bollard's type (`HealthCheck`) does not read, so a
/// healthcheck never reads back; a changed one still changes the spec's digest label.
fn comparable(want: &Value) -> Value {
    let mut v = want.clone();
    if let Some(c) = v["TaskTemplate"]["ContainerSpec"].as_object_mut() {
        c.remove("HealthCheck");
    }
    v
}

/// The digest label differs whenever anything does; alone, it means a setting was removed.
fn name_removals(changed: &mut Vec<String>) {
    let label = format!("Labels.{SPEC_LABEL}");
    if changed.len() > 1 {
        changed.retain(|p| *p != label);
    } else if changed.first() == Some(&label) {
        changed[0] = "settings no longer in the spec".into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_spec_fields_are_refused_by_name() {
        let e =
            checked_spec(&json!({"Name": "s", "TaskTemplate": {"ContainerSpec": {"Imagee": "x"}}}))
                .unwrap_err();
        assert!(e.contains("TaskTemplate.ContainerSpec.Imagee"), "{e}");
        let ok =
            checked_spec(&json!({"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "x"}}}));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn type_errors_do_not_repeat_the_value() {
        let e = checked_spec(
            &json!({"Name": "s", "TaskTemplate": {"ContainerSpec": {"Env": "PASSWORD=hunter2"}}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("not a ServiceSpec") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn the_digest_ignores_key_order() {
        let a = json!({"Name": "s", "Labels": {"a": "1", "b": "2"}});
        let b: Value =
            serde_json::from_str(r#"{"Labels": {"b": "2", "a": "1"}, "Name": "s"}"#).unwrap();
        assert_eq!(spec_digest(&a), spec_digest(&b));
        assert_ne!(spec_digest(&a), spec_digest(&json!({"Name": "s"})));
    }

    #[test]
    fn names_that_could_leave_the_api_path_are_refused() {
        assert!(object_name("pfdeploytest_app").is_ok());
        assert!(object_name("a.b-c_1").is_ok());
        for bad in ["", "../containers/x", "a/b", "a?b", "-x", "a b"] {
            assert!(object_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_are_read_with_limits_and_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"hunter2-secret").unwrap();
        let path = p.to_str().unwrap();
        assert_eq!(read_object_file(path, 100).unwrap(), b"hunter2-secret");
        let e = read_object_file(path, 4).unwrap_err();
        assert!(e.contains(path) && !e.contains("hunter2"), "{e}");
        assert!(read_object_file("rel/path", 100)
            .unwrap_err()
            .contains("absolute"));
        let e = read_object_file(dir.path().to_str().unwrap(), 100).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn network_differences_name_what_differs() {
        let want = NetworkEnsureParams {
            name: "s_net".into(),
            driver: "overlay".into(),
            attachable: true,
            labels: BTreeMap::from([(STACK_LABEL.into(), "s".into())]),
            ..Default::default()
        };
        let mut have = NetworkInspect {
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(HashMap::from([(STACK_LABEL.into(), "s".into())])),
            options: Some(HashMap::from([(
                "com.docker.network.driver.overlay.vxlanid_list".into(),
                "4097".into(),
            )])),
            ..Default::default()
        };
        assert!(network_differences(&want, &have).is_empty());
        have.driver = Some("bridge".into());
        have.attachable = Some(false);
        let d = network_differences(&want, &have).join(", ");
        assert_eq!(
            d,
            "driver is bridge, not overlay, attachable is false, not true"
        );
    }
}

/// The controller's translation (stored as golden files by src/stack.rs's tests) must be specs
/// these Engine API types read whole: a misspelt field would be refused at deploy time.
#[cfg(test)]
mod golden_specs {
    use super::*;

    #[test]
    fn every_translated_spec_is_a_service_spec() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/stack");
        let mut seen = 0;
        for name in ["demo-stack.json", "powerflow.json"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let plan: Value = serde_json::from_str(&text).unwrap();
            for s in plan["services"].as_array().unwrap() {
                checked_spec(&s["spec"]).unwrap_or_else(|e| panic!("{name} {}: {e}", s["service"]));
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen} specs");
    }
}
