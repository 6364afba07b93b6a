//! `pfctl license request|issue|keygen|install|status|remove` and the `license.valid` check.
//!
//! The license file is stored on every node through its agent (`files.write`, audited, the
//! previous copy kept); any node answers for the cluster. What makes a license good is decided in
//! [`crate::license`]: a trusted signer, an intact signature, this swarm's cluster id, not expired.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use pfproto::action::{FileRemove, FileWrite};
use pfproto::facts::NodeFacts;
use pfproto::method;
use pfproto::probe::FileRead;
use serde_json::{json, Value};

use super::healthcheck::{load_profile, Evaluation};
use crate::checks::Finding;
use crate::cli::{LicenseCommand, LicenseKeyArgs};
use crate::context::Ctx;
use crate::fanout::{each_node, NodeError};
use crate::license::{self, PublicKey, Severity, State, Verdict};
use crate::profile::{LicenseCfg, Profile};
use crate::report::Status;

pub async fn run(ctx: &Ctx, cmd: &LicenseCommand) -> Result<i32> {
    match cmd {
        LicenseCommand::Keygen { out } => keygen(out),
        LicenseCommand::Request {
            customer,
            email,
            out,
            platform_version,
            profile,
        } => {
            request(
                ctx,
                customer,
                email,
                out.as_deref(),
                platform_version.clone(),
                profile.as_ref(),
            )
            .await
        }
        LicenseCommand::Issue {
            signing_key,
            request,
            tier,
            days,
            feature,
            out,
        } => issue(signing_key, request, tier, *days, feature, out),
        LicenseCommand::Install { file, keys } => install(ctx, file, keys).await,
        LicenseCommand::Status { keys } => status(ctx, keys).await,
        LicenseCommand::Remove { yes, profile } => remove(ctx, *yes, profile.as_ref()).await,
    }
}

fn cfg(profile: &Profile) -> LicenseCfg {
    profile.license.clone().unwrap_or_default()
}

/// Writes `bytes` beside nothing else: temp file, fsync, rename; an existing file is kept as
/// `FILE.prev`.
fn write_out(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    crate::atomic::write_keeping_prev(path, bytes, mode)
        .with_context(|| format!("writing {}", path.display()))
}

fn keygen(out: &str) -> Result<i32> {
    let (secret, public) = license::keygen();
    let key = Path::new(out).with_extension("key");
    let publ = Path::new(out).with_extension("pub");
    if key.exists() {
        bail!(
            "{} exists: not replaced (a signing key is not something to overwrite)",
            key.display()
        );
    }
    write_out(&key, format!("{}\n", secret.to_text()).as_bytes(), 0o600)?;
    write_out(&publ, format!("{}\n", public.to_text()).as_bytes(), 0o644)?;
    println!(
        "signing key {} (keep it secret), public key {} (key id {}): give the public key to pfctl with --trust-key or the profile's [license] trusted_keys",
        key.display(),
        publ.display(),
        public.key_id()
    );
    Ok(0)
}

/// The swarm's cluster id and every node's swarm node id, from the nodes' agents.
async fn cluster_identity(ctx: &Ctx) -> Result<(String, Vec<String>)> {
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<NodeFacts>(method::NODE_FACTS, Value::Null)
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let mut cluster = None;
    let mut ids = Vec::new();
    for o in &outcomes {
        if let Ok(f) = &o.result {
            if !f.docker.swarm.cluster_id.is_empty() {
                cluster.get_or_insert(f.docker.swarm.cluster_id.clone());
            }
            if !f.docker.swarm.node_id.is_empty() {
                ids.push(f.docker.swarm.node_id.clone());
            }
        }
    }
    let cluster = cluster.ok_or_else(|| {
        let why: Vec<String> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(_) => format!("{}: not in a swarm", o.target.name),
                Err(e) => format!("{}: {e}", o.target.name),
            })
            .collect();
        anyhow!(
            "no node reports a swarm cluster id ({}): a license binds to a swarm",
            why.join("; ")
        )
    })?;
    ids.sort();
    Ok((cluster, ids))
}

async fn request(
    ctx: &Ctx,
    customer: &str,
    email: &str,
    out: Option<&str>,
    platform_version: Option<String>,
    profile: Option<&String>,
) -> Result<i32> {
    let profile = load_profile(ctx, profile)?;
    let (cluster, ids) = cluster_identity(ctx).await?;
    let version = platform_version.or(Some(profile.name.clone()));
    let req = license::make_request(
        customer,
        email,
        &cluster,
        ids,
        version,
        crate::context::now_unix(),
    )?;
    let name = match out {
        Some(o) => o.to_string(),
        None => {
            let safe: String = customer
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{safe}_key.iskey")
        }
    };
    write_out(Path::new(&name), &serde_json::to_vec_pretty(&req)?, 0o644)?;
    if ctx.json_out() {
        println!(
            "{}",
            json!({"request": name, "cluster_id": cluster, "nodes": req.node_ids.len()})
        );
    } else {
        println!(
            "license request {name} for cluster {cluster} ({} nodes): send it to your vendor",
            req.node_ids.len()
        );
    }
    Ok(0)
}

fn issue(
    signing_key: &Path,
    request: &Path,
    tier: &str,
    days: u32,
    features: &[String],
    out: &Path,
) -> Result<i32> {
    let text = std::fs::read_to_string(signing_key)
        .with_context(|| format!("reading the signing key {}", signing_key.display()))?;
    let key = license::SigningKey::parse(text.trim())
        .map_err(|e| anyhow!("{}: {e}", signing_key.display()))?;
    let req: license::Request = serde_json::from_slice(
        &std::fs::read(request).with_context(|| format!("reading {}", request.display()))?,
    )
    .with_context(|| format!("{} is not a license request", request.display()))?;
    let tier: license::Tier = tier.parse().map_err(|e| anyhow!("--tier: {e}"))?;
    let bytes = license::issue(
        &key,
        &req,
        tier,
        days,
        features.to_vec(),
        crate::context::now_unix(),
    )?;
    write_out(out, &bytes, 0o644)?;
    println!(
        "license {} for {} ({tier:?}, {days} days, cluster {})",
        out.display(),
        req.customer,
        req.cluster_id
    );
    Ok(0)
}

/// Built-in vendor keys, the profile's `trusted_keys` and `--trust-key` files.
fn trusted(cfg: &LicenseCfg, keys: &LicenseKeyArgs) -> Result<Vec<PublicKey>> {
    let mut out = license::builtin_keys();
    for k in &cfg.trusted_keys {
        out.push(PublicKey::parse(k).map_err(|e| anyhow!("profile [license] trusted_keys: {e}"))?);
    }
    for f in &keys.trust_key {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading the public key {}", f.display()))?;
        out.push(PublicKey::parse(text.trim()).map_err(|e| anyhow!("{}: {e}", f.display()))?);
    }
    Ok(out)
}

fn severity_code(s: Severity) -> i32 {
    match s {
        Severity::Ok => 0,
        Severity::Warn => 1,
        Severity::Fail => 2,
    }
}

async fn install(ctx: &Ctx, file: &Path, keys: &LicenseKeyArgs) -> Result<i32> {
    let profile = load_profile(ctx, keys.profile.as_ref())?;
    let cfg = cfg(&profile);
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (cluster, _) = cluster_identity(ctx).await?;
    let verdict = license::check(
        &bytes,
        &trusted(&cfg, keys)?,
        Some(&cluster),
        crate::context::now_unix(),
    );
    if verdict.state.severity() == Severity::Fail {
        eprintln!(
            "pfctl: license install: {} refused: {}; nothing installed",
            file.display(),
            verdict.reason
        );
        return Ok(2);
    }
    let meta = crate::history::action_meta(&crate::history::new_run_id());
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let path = cfg.path.clone();
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<FileWrite>(
                method::FILES_WRITE,
                json!({"meta": meta, "path": path, "content_b64": content, "mode": 0o644,
                       "uid": 0, "gid": 0, "any_previous": true}),
            )
            .await
            .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let per_node: BTreeMap<String, String> = outcomes
        .iter()
        .map(|o| {
            let r = match &o.result {
                Ok(_) => "installed".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            (o.target.name.clone(), r)
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if ctx.json_out() {
        println!(
            "{}",
            json!({"installed": failed == 0, "path": cfg.path, "nodes": per_node, "license": verdict_json(&verdict)})
        );
    } else {
        for (n, r) in &per_node {
            println!("{n}: {r}");
        }
        print_verdict(&verdict);
    }
    Ok(if failed > 0 {
        2
    } else {
        severity_code(verdict.state.severity())
    })
}

fn verdict_json(v: &Verdict) -> Value {
    let p = v.payload.as_ref();
    json!({
        "state": v.state.word(),
        "reason": v.reason,
        "customer": p.map(|p| p.customer.clone()),
        "tier": p.map(|p| p.tier),
        "expires": p.map(|p| p.expires.clone()),
        "days_left": v.days_left,
        "cluster_id": p.map(|p| p.cluster_id.clone()),
        "id": p.map(|p| p.id.clone()),
    })
}

fn print_verdict(v: &Verdict) {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |code: &str, s: String| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s
        }
    };
    let word = match v.state.severity() {
        Severity::Ok => paint("32", "green".into()),
        Severity::Warn => paint("33", "yellow".into()),
        Severity::Fail => paint("31", "red".into()),
    };
    match &v.payload {
        Some(p) => println!(
            "license {word}: {} ({:?}), expires {}{}: {}",
            p.customer,
            p.tier,
            p.expires,
            v.days_left
                .map(|d| format!(" ({d} days left)"))
                .unwrap_or_default(),
            v.reason
        ),
        None => println!("license {word}: {}", v.reason),
    }
}

/// The license as the nodes hold it: (node, bytes) for each node that has one, and the nodes
/// without it or not answering.
async fn read_all(ctx: &Ctx, path: &str) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<FileRead>(method::FILES_READ, json!({"path": path}))
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let mut have = Vec::new();
    let mut missing = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(r) if r.exists && r.content.is_some() => have.push((
                o.target.name.clone(),
                r.content.unwrap_or_default().into_bytes(),
            )),
            Ok(r) => missing.push(format!(
                "{}: {}",
                o.target.name,
                r.error.unwrap_or_else(|| "no license".into())
            )),
            Err(e) => missing.push(format!("{}: {e}", o.target.name)),
        }
    }
    (have, missing)
}

async fn status(ctx: &Ctx, keys: &LicenseKeyArgs) -> Result<i32> {
    let profile = load_profile(ctx, keys.profile.as_ref())?;
    let cfg = cfg(&profile);
    let trusted = trusted(&cfg, keys)?;
    let (have, missing) = read_all(ctx, &cfg.path).await;
    let cluster = cluster_identity(ctx).await.ok().map(|(c, _)| c);
    let Some((node, bytes)) = have.first() else {
        if ctx.json_out() {
            println!(
                "{}",
                json!({"state": "missing", "reason": "no node holds a license", "nodes": missing})
            );
        } else {
            println!(
                "license red: no node holds a license at {} ({})",
                cfg.path,
                missing.join("; ")
            );
        }
        return Ok(2);
    };
    let verdict = license::check(
        bytes,
        &trusted,
        cluster.as_deref(),
        crate::context::now_unix(),
    );
    let differing: Vec<&str> = have
        .iter()
        .filter(|(_, b)| b != bytes)
        .map(|(n, _)| n.as_str())
        .collect();
    if ctx.json_out() {
        let mut v = verdict_json(&verdict);
        v["read_from"] = json!(node);
        v["nodes_without"] = json!(missing);
        v["nodes_differing"] = json!(differing);
        println!("{v}");
    } else {
        print_verdict(&verdict);
        if !missing.is_empty() {
            println!(
                "not on every node: {}; run pfctl license install FILE",
                missing.join("; ")
            );
        }
        if !differing.is_empty() {
            println!("nodes holding another license: {}", differing.join(", "));
        }
    }
    let code = severity_code(verdict.state.severity());
    Ok(
        if code == 0 && (!missing.is_empty() || !differing.is_empty()) {
            1
        } else {
            code
        },
    )
}

async fn remove(ctx: &Ctx, yes: bool, profile: Option<&String>) -> Result<i32> {
    let profile = load_profile(ctx, profile)?;
    let cfg = cfg(&profile);
    if !yes {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            eprintln!(
                "pfctl: license remove: no terminal to confirm on: nothing changed; pass --yes"
            );
            return Ok(3);
        }
        let ok = dialoguer::Confirm::new()
            .with_prompt("Remove the license from every node (kept beside it as .pfctl-prev)?")
            .default(false)
            .interact()
            .unwrap_or(false);
        if !ok {
            eprintln!("pfctl: license remove: not confirmed: nothing changed");
            return Ok(3);
        }
    }
    let meta = crate::history::action_meta(&crate::history::new_run_id());
    let path = cfg.path.clone();
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<FileRemove>(method::FILES_REMOVE, json!({"meta": meta, "path": path}))
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let mut failed = 0;
    let mut nodes = BTreeMap::new();
    for o in &outcomes {
        let r = match &o.result {
            Ok(r) if r.sha256_before.is_some() => "removed".to_string(),
            Ok(_) => "had none".to_string(),
            Err(e) => {
                failed += 1;
                format!("failed: {e}")
            }
        };
        nodes.insert(o.target.name.clone(), r);
    }
    if ctx.json_out() {
        println!("{}", json!({"nodes": nodes}));
    } else {
        for (n, r) in &nodes {
            println!("{n}: {r}");
        }
    }
    Ok(if failed > 0 { 2 } else { 0 })
}

/// `license.valid`: read through the first node that answers. Optional licensing (test
/// systems) with no license installed is a skip.
pub async fn finding(ev: &Evaluation, profile: &Profile) -> Option<Finding> {
    let cfg = profile.license.clone()?;
    let reachable = ev.reachable();
    let cluster = reachable
        .values()
        .filter_map(|o| o.facts.as_ref().ok())
        .map(|f| f.docker.swarm.cluster_id.clone())
        .find(|c| !c.is_empty());
    let mut read = None;
    for name in reachable.keys() {
        if let Some(conn) = ev.conn(name).await {
            if let Ok(r) = conn
                .call::<FileRead>(method::FILES_READ, json!({"path": cfg.path}))
                .await
            {
                read = Some((name.clone(), r));
                break;
            }
        }
    }
    let f = |s, m: String| Finding::new("license.valid", "cluster", s, m);
    let Some((node, r)) = read else {
        return Some(f(Status::Unknown, "no node's agent answered".into()));
    };
    let Some(content) = r.content.filter(|_| r.exists) else {
        return Some(match (cfg.optional, r.error) {
            (_, Some(e)) => f(Status::Fail, format!("{} on {node}: {e}", cfg.path)),
            (true, None) => f(
                Status::Skip,
                "no license installed; licensing is optional in this profile (test systems)".into(),
            ),
            (false, None) => f(
                Status::Fail,
                format!(
                    "no license at {} on {node}: run pfctl license install FILE",
                    cfg.path
                ),
            ),
        });
    };
    let trusted = match trusted(&cfg, &LicenseKeyArgs::default()) {
        Ok(t) => t,
        Err(e) => return Some(f(Status::Unknown, format!("{e:#}"))),
    };
    let v = license::check(
        content.as_bytes(),
        &trusted,
        cluster.as_deref(),
        crate::context::now_unix(),
    );
    let status = match v.state.severity() {
        Severity::Ok => Status::Ok,
        Severity::Warn => Status::Warn,
        Severity::Fail => Status::Fail,
    };
    let msg = match (&v.payload, v.state) {
        (Some(p), State::Valid | State::Expiring | State::Expired) => format!(
            "{} ({:?}) expires {}{}: {}",
            p.customer,
            p.tier,
            p.expires,
            v.days_left
                .map(|d| format!(", {d} days left"))
                .unwrap_or_default(),
            v.reason
        ),
        _ => v.reason.clone(),
    };
    Some(f(status, msg).with(verdict_json(&v)))
}
