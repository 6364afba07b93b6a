//! Rotating a swarm secret (`secret.rotate`, `secret.remove`): Docker secrets cannot change, so a
//! new password means a new secret, every service mounting the old one moved to it, and the old
//! one removed once nothing uses it. Contents never reach an answer, the audit log or an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use bollard::models::{SecretSpec, Service};
use bollard::query_parameters::{ListSecretsOptionsBuilder, UpdateServiceOptionsBuilder};
use bollard::Docker;
use pfproto::action::{
    SecretMove, SecretRemove, SecretRemoveParams, SecretRotate, SecretRotateParams,
};
use pfproto::{method, ErrorCode, RpcError};
use serde_json::{json, Value};

use crate::actions::{finish, full_spec, Done};
use crate::agent::Agent;
use crate::docker::{call as timed, CallError};
use crate::methods::{parse, rpc};
use crate::stack_ops::{read_object_file, refused, with_engine};

/// A password file is small; anything bigger is not what the caller meant to mount.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

pub fn handles(name: &str) -> bool {
    matches!(name, method::SECRET_ROTATE | method::SECRET_REMOVE)
}

pub async fn call(agent: &Agent, name: &str, params: Value, peer: &str) -> Result<Value, RpcError> {
    match name {
        method::SECRET_ROTATE => {
            let p: SecretRotateParams = parse(name, params)?;
            let done = with_engine(agent, &p.target, |d| rotate(agent, d, &p)).await;
            finish(agent, name, &p.meta, peer, done)
        }
        method::SECRET_REMOVE => {
            let p: SecretRemoveParams = parse(name, params)?;
            let done = with_engine(agent, &p.name, |d| remove(d, &p)).await;
            finish(agent, name, &p.meta, peer, done)
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

/// (service name, secret name) for every service mounting a secret as `target`.
fn mounts_of(services: &[Service], target: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in services {
        let Some(spec) = &s.spec else { continue };
        let refs = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.secrets.as_ref());
        for r in refs.into_iter().flatten() {
            let file = r.file.as_ref().and_then(|f| f.name.as_deref());
            if file == Some(target) {
                out.push((
                    spec.name.clone().unwrap_or_default(),
                    r.secret_name.clone().unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `is_pass` → `is_pass.v2`, `pfdemo_is_pass.v2` → `pfdemo_is_pass.v3`: the base name plus the
/// first version number above every existing one.
fn next_name(old: &str, existing: &[String]) -> String {
    let base = base_name(old);
    let highest = existing
        .iter()
        .filter_map(|n| version_of(base, n))
        .max()
        .unwrap_or(1);
    format!("{base}.v{}", highest + 1)
}

fn base_name(name: &str) -> &str {
    match name.rsplit_once(".v") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// The version `name` is of `base` (the base itself is version 1).
fn version_of(base: &str, name: &str) -> Option<u64> {
    if name == base {
        return Some(1);
    }
    name.strip_prefix(base)?.strip_prefix(".v")?.parse().ok()
}

async fn rotate(
    agent: &Agent,
    docker: Docker,
    p: &SecretRotateParams,
) -> Result<Done<SecretRotate>, CallError> {
    if p.target.is_empty() || p.target.contains('/') {
        return Ok(refused(
            &p.target,
            format!("'{}' is not a file name under /run/secrets", p.target),
        ));
    }
    let services = timed("list services", docker.list_services(None)).await?;
    let mounts = mounts_of(&services, &p.target);
    let old: BTreeSet<String> = mounts.iter().map(|(_, s)| s.clone()).collect();
    let Some(first) = old.iter().next().cloned() else {
        return Ok(Done {
            target: p.target.clone(),
            before: json!({"services": []}),
            after: json!({"new_secret": null}),
            result: Ok(SecretRotate {
                target: p.target.clone(),
                ..Default::default()
            }),
        });
    };
    let path = p.file.clone();
    let bytes = match tokio::task::spawn_blocking(move || read_object_file(&path, MAX_SECRET_BYTES))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Ok(refused(&p.target, e)),
        Err(e) => return Ok(refused(&p.target, e.to_string())),
    };
    let all = timed(
        "list secrets",
        docker.list_secrets(Some(ListSecretsOptionsBuilder::default().build())),
    )
    .await?;
    let names: Vec<String> = all
        .iter()
        .filter_map(|s| s.spec.as_ref()?.name.clone())
        .collect();
    let new_name = next_name(&first, &names);
    // The new version carries the old one's labels, so `docker stack rm` still removes it.
    let labels: HashMap<String, String> = all
        .iter()
        .filter_map(|s| s.spec.as_ref())
        .find(|s| s.name.as_deref() == Some(first.as_str()))
        .and_then(|s| s.labels.clone())
        .unwrap_or_default();
    let spec = SecretSpec {
        name: Some(new_name.clone()),
        labels: Some(labels),
        data: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
        ..Default::default()
    };
    drop(bytes);
    let new_id = timed("create secret", docker.create_secret(spec)).await?.id;

    let mut moves = Vec::new();
    let by_service: BTreeMap<String, String> = mounts.into_iter().collect();
    for (service, from) in by_service {
        let error = move_service(agent, &docker, &service, &p.target, &new_id, &new_name)
            .await
            .err();
        moves.push(SecretMove {
            service,
            from,
            to: new_name.clone(),
            error,
        });
    }
    let failed: Vec<String> = moves
        .iter()
        .filter_map(|m| Some(format!("{}: {}", m.service, m.error.as_ref()?)))
        .collect();
    let report = SecretRotate {
        target: p.target.clone(),
        new_secret: Some(new_name.clone()),
        old_secrets: old.into_iter().collect(),
        services: moves,
    };
    let after = json!({
        "new_secret": new_name,
        "moved": report.services.iter().filter(|m| m.error.is_none()).map(|m| &m.service).collect::<Vec<_>>(),
    });
    let before = json!({"secrets": report.old_secrets, "services": report.services.iter().map(|m| &m.service).collect::<Vec<_>>()});
    Ok(Done {
        target: p.target.clone(),
        result: if failed.is_empty() {
            Ok(report)
        } else {
            Err(format!(
                "{new_name} was made, but not every service moved to it ({}); run the rotation again",
                failed.join("; ")
            ))
        },
        before,
        after,
    })
}

/// Points `service`'s mounts of `target` at the new secret; file name, owner and mode stay.
async fn move_service(
    agent: &Agent,
    docker: &Docker,
    service: &str,
    target: &str,
    new_id: &str,
    new_name: &str,
) -> Result<(), String> {
    let (mut spec, version, id) = full_spec(agent, docker, service).await?;
    let refs = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
        .and_then(|c| c.secrets.as_mut())
        .ok_or_else(|| "it no longer mounts any secret".to_string())?;
    for r in refs.iter_mut() {
        if r.file.as_ref().and_then(|f| f.name.as_deref()) == Some(target) {
            r.secret_id = Some(new_id.to_string());
            r.secret_name = Some(new_name.to_string());
        }
    }
    let opts = UpdateServiceOptionsBuilder::default()
        .version(version as i32)
        .build();
    timed(
        "update service",
        docker.update_service(&id, spec, opts, None),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

async fn remove(docker: Docker, p: &SecretRemoveParams) -> Result<Done<SecretRemove>, CallError> {
    let services = timed("list services", docker.list_services(None)).await?;
    let users: Vec<String> = services
        .iter()
        .filter_map(|s| s.spec.as_ref())
        .filter(|spec| {
            spec.task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.secrets.as_ref())
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.secret_name.as_deref() == Some(p.name.as_str()))
                })
        })
        .filter_map(|spec| spec.name.clone())
        .collect();
    if !users.is_empty() {
        return Ok(refused(
            &p.name,
            format!(
                "secret {} is still used by {}: move them to another version first",
                p.name,
                users.join(", ")
            ),
        ));
    }
    let removed = match timed("remove secret", docker.delete_secret(&p.name)).await {
        Ok(()) => true,
        Err(CallError::Engine(
            _,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
        )) => false,
        Err(e) => return Err(e),
    };
    Ok(Done {
        target: p.name.clone(),
        before: json!({"exists": removed}),
        after: json!({"exists": false}),
        result: Ok(SecretRemove {
            name: p.name.clone(),
            removed,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_the_highest_existing_one() {
        let existing = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(next_name("is_pass", &existing(&["is_pass"])), "is_pass.v2");
        assert_eq!(
            next_name(
                "pfdemo_is_pass.v2",
                &existing(&["pfdemo_is_pass.v2", "pfdemo_is_pass.v7"])
            ),
            "pfdemo_is_pass.v8"
        );
        // A name that merely looks versioned elsewhere does not count.
        assert_eq!(
            next_name("a.vx", &existing(&["a.vx", "a.vx.v3", "other.v9"])),
            "a.vx.v4"
        );
        assert_eq!(base_name("x.v"), "x.v");
        assert_eq!(version_of("x", "x.v12"), Some(12));
        assert_eq!(version_of("x", "xy.v12"), None);
    }

    #[test]
    fn mounts_are_found_by_file_name_only() {
        let svc: Vec<Service> = serde_json::from_value(json!([
            {"Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Secrets": [
                {"File": {"Name": "is_pass"}, "SecretName": "s_is_pass", "SecretID": "1"},
                {"File": {"Name": "other"}, "SecretName": "s_other", "SecretID": "2"}]}}}},
            {"Spec": {"Name": "db", "TaskTemplate": {"ContainerSpec": {}}}},
            {"Spec": {"Name": "api", "TaskTemplate": {"ContainerSpec": {"Secrets": [
                {"File": {"Name": "is_pass"}, "SecretName": "s_is_pass.v2", "SecretID": "3"}]}}}}
        ]))
        .unwrap();
        assert_eq!(
            mounts_of(&svc, "is_pass"),
            vec![
                ("api".to_string(), "s_is_pass.v2".to_string()),
                ("web".to_string(), "s_is_pass".to_string())
            ]
        );
        assert!(mounts_of(&svc, "nothing").is_empty());
    }
}
