//! `pfctl password set`: the platform admin password changed cluster-wide in one step. The
//! manual's procedure (`ispasswd` on one node, then copy is_pass to every manager by hand) leaves
//! managers disagreeing whenever a copy is forgotten; here every manager gets the same token,
//! the backup copy follows, the Docker secret the services mount is replaced by a new version,
//! and every file is checked by hash afterwards.
//!
//! Order, so a failure leaves the cluster usable: nothing is written unless every manager
//! answers and holds the same encryption_key; the files go first (each atomically, the old one
//! kept as `.pfctl-prev`), then the secret's new version, then the services move to it, and the
//! old version is removed only once they run on the new one.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use base64::Engine as _;
use pfproto::action::{ActionMeta, FileWrite, SecretRemove, SecretRotate};
use pfproto::facts::NodeFacts;
use pfproto::method;
use pfproto::probe::FilesStat;
use serde::Serialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::backup::key_fingerprint;
use super::healthcheck::load_profile;
use super::password::{cluster_key, is_pass_path, read_password};
use crate::context::Ctx;
use crate::fanout::{each_node, NodeError};
use crate::password;
use crate::profile::Profile;

/// The platform's own rule for the admin password (`ispasswd`).
const MIN_CHARS: usize = 6;
const MAX_CHARS: usize = 24;
/// Where the platform keeps its second copy of is_pass.
const BACKUP_COPY: &str = "/opt/iservices/backup/is_pass";
/// The file name the stack's services mount the password secret as.
const SECRET_TARGET: &str = "is_pass";
const CONVERGE: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Serialize)]
struct NodeResult {
    /// First 12 hex digits of the written is_pass's SHA-256 as read back.
    is_pass: Option<String>,
    backup_copy: Option<String>,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn set(ctx: &Ctx, from_stdin: bool, profile: Option<&String>) -> Result<i32> {
    let plain = read_password(from_stdin)?;
    let chars = plain.expose().chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        bail!(
            "the platform takes passwords of {MIN_CHARS} to {MAX_CHARS} characters (this one has \
             {chars}); nothing changed"
        );
    }
    let profile = load_profile(ctx, profile)?;
    let path = is_pass_path(&profile);
    let managers = managers(ctx, &profile).await?;
    let (key_node, key) = cluster_key(ctx, &profile).await?;
    let token = Zeroizing::new(password::encrypt(
        &key,
        plain.expose().as_bytes(),
        crate::context::now_unix(),
        None,
    ));
    drop(plain);
    let want = crate::heal::sha256_hex(token.as_bytes());
    let meta = crate::history::action_meta(&crate::history::new_run_id());

    let content =
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(token.as_bytes()));
    let targets: Vec<_> = ctx
        .targets
        .iter()
        .filter(|t| managers.contains(&t.name))
        .cloned()
        .collect();
    let outcomes = each_node(
        &targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            let mut written = Vec::new();
            for file in [path.as_str(), BACKUP_COPY] {
                let w: FileWrite = conn
                    .call(
                        method::FILES_WRITE,
                        json!({"meta": meta, "path": file, "content_b64": content.as_str(),
                               "mode": 0o600, "uid": 0, "gid": 0, "any_previous": true,
                               "make_dirs": true}),
                    )
                    .await
                    .map_err(|e| NodeError::Agent(format!("writing {file}: {e}")))?;
                written.push(w.path);
            }
            // Read back, so the report says what the disk holds, not what was sent.
            let stat: FilesStat = conn
                .call(method::FILES_STAT, json!({ "paths": written }))
                .await
                .map_err(|e| NodeError::Agent(format!("files.stat: {e}")))?;
            Ok(stat
                .files
                .into_iter()
                .map(|f| f.sha256.filter(|_| f.exists))
                .collect::<Vec<_>>())
        },
        |_| {},
    )
    .await;
    let mut nodes: BTreeMap<String, NodeResult> = BTreeMap::new();
    for o in &outcomes {
        let r = match &o.result {
            Ok(hashes) => {
                let is_pass = hashes.first().cloned().flatten();
                let copy = hashes.get(1).cloned().flatten();
                let verified =
                    is_pass.as_deref() == Some(want.as_str()) && copy.as_deref() == Some(&want);
                NodeResult {
                    is_pass: is_pass.map(|h| h[..12].to_string()),
                    backup_copy: copy.map(|h| h[..12].to_string()),
                    verified,
                    error: (!verified).then(|| "read back a different hash".to_string()),
                }
            }
            Err(e) => NodeResult {
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        nodes.insert(o.target.name.clone(), r);
    }
    let written_ok: Vec<String> = nodes
        .iter()
        .filter(|(_, r)| r.verified)
        .map(|(n, _)| n.clone())
        .collect();

    // The secret, from a manager that holds the new file (the key's node when it is one).
    let rotator = written_ok
        .iter()
        .find(|n| **n == key_node)
        .or(written_ok.first())
        .cloned();
    let secret = match rotator {
        Some(node) => rotate_secret(ctx, &node, &path, &meta).await,
        None => Err(anyhow!(
            "no manager holds the new is_pass; the secret was left alone"
        )),
    };
    let all_written = written_ok.len() == nodes.len();
    let ok = all_written && secret.is_ok();

    if ctx.json_out() {
        let secret_json = match &secret {
            Ok(v) => v.clone(),
            Err(e) => json!({"error": format!("{e:#}")}),
        };
        println!(
            "{}",
            json!({"ok": ok, "path": path, "backup_copy": BACKUP_COPY, "sha256": &want[..12],
                   "nodes": nodes, "secret": secret_json})
        );
    } else {
        for (n, r) in &nodes {
            match &r.error {
                None => println!(
                    "{n}: {path} and {BACKUP_COPY} written, sha256 {} on both: verified",
                    r.is_pass.as_deref().unwrap_or("-")
                ),
                Some(e) => println!("{n}: FAILED: {e}"),
            }
        }
        match &secret {
            Ok(v) => println!("secret: {}", secret_line(v)),
            Err(e) => println!("secret: FAILED: {e:#}"),
        }
        if ok {
            println!(
                "password changed on {} manager(s); each kept its previous is_pass as {path}.pfctl-prev",
                nodes.len()
            );
        } else {
            println!(
                "the password change is incomplete: fix what is named above and run `pfctl password set` again \
                 (managers not reached still accept the old password)"
            );
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// The managers among the selected nodes (every selected node when there is no swarm). All of
/// them must answer and hold the same encryption_key: a password only some managers can read
/// is worse than the old one.
async fn managers(ctx: &Ctx, profile: &Profile) -> Result<Vec<String>> {
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            let facts: NodeFacts = conn
                .call(method::NODE_FACTS, Value::Null)
                .await
                .map_err(|e| NodeError::Agent(format!("node.facts: {e}")))?;
            let fp = key_fingerprint(node, profile)
                .await
                .map_err(NodeError::Other)?;
            Ok((facts.docker.swarm, fp))
        },
        |_| {},
    )
    .await;
    let mut down = Vec::new();
    let mut seen = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(v) => seen.push((o.target.name, v)),
            Err(e) => down.push(format!("{}: {e}", o.target.name)),
        }
    }
    if !down.is_empty() {
        bail!(
            "not every node answered ({}); nothing changed. Bring them back (pfctl autoheal) or \
             leave them out with --limit",
            down.join("; ")
        );
    }
    let in_swarm = seen.iter().any(|(_, (s, _))| s.state == "active");
    let managers: Vec<_> = seen
        .iter()
        .filter(|(_, (s, _))| !in_swarm || s.is_manager)
        .collect();
    let key_path = super::password::key_path(profile);
    let first = managers
        .first()
        .ok_or_else(|| anyhow!("none of the selected nodes is a swarm manager; nothing changed"))?;
    for (name, (_, fp)) in &managers {
        if fp.is_none() {
            bail!("{name} has no {key_path}; nothing changed (pfctl autoheal restores it)");
        }
        if *fp != first.1 .1 {
            bail!(
                "{name}'s {key_path} differs from {}'s; nothing changed. The managers must share \
                 one encryption_key (copy it from the node the platform was installed on)",
                first.0
            );
        }
    }
    Ok(managers.into_iter().map(|(n, _)| n.clone()).collect())
}

/// New secret version, services moved, converged, old versions removed.
async fn rotate_secret(ctx: &Ctx, node: &str, path: &str, meta: &ActionMeta) -> Result<Value> {
    let target = ctx
        .targets
        .iter()
        .find(|t| t.name == node)
        .ok_or_else(|| anyhow!("{node} is not a selected node"))?;
    let n = crate::fanout::connect(target, &ctx.fanout)
        .await
        .map_err(|e| anyhow!("{node}: {e}"))?;
    let r = async {
        let (conn, _) = n.agent().await.map_err(|e| anyhow!("{node}: {e}"))?;
        let rot: SecretRotate = conn
            .call(
                method::SECRET_ROTATE,
                json!({"meta": meta, "target": SECRET_TARGET, "file": path}),
            )
            .await
            .map_err(|e| anyhow!("{node}: secret.rotate: {e}"))?;
        let Some(new) = rot.new_secret.clone() else {
            return Ok(json!({"rotated": false, "services": [],
                             "note": format!("no service mounts a secret as {SECRET_TARGET}")}));
        };
        let moved: Vec<String> = rot.services.iter().map(|m| m.service.clone()).collect();
        crate::stack::converge_services(conn, &moved, CONVERGE, |_| {})
            .await
            .map_err(|e| {
                anyhow!("the services did not settle on {new}: {e:#}; the old version is kept")
            })?;
        let mut removed = Vec::new();
        for old in rot.old_secrets.iter().filter(|o| **o != new) {
            let r: SecretRemove = conn
                .call(method::SECRET_REMOVE, json!({"meta": meta, "name": old}))
                .await
                .map_err(|e| anyhow!("{node}: removing {old}: {e}"))?;
            if r.removed {
                removed.push(old.clone());
            }
        }
        Ok(json!({"rotated": true, "from": rot.old_secrets, "to": new,
                  "services": moved, "removed": removed}))
    }
    .await;
    n.close().await;
    r
}

fn secret_line(v: &Value) -> String {
    if v["rotated"] != json!(true) {
        return v["note"].as_str().unwrap_or("not rotated").to_string();
    }
    let list = |k: &str| {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    format!(
        "{} -> {}; services moved: {}; removed: {}",
        list("from"),
        v["to"].as_str().unwrap_or("?"),
        list("services"),
        list("removed")
    )
}
