//! `pfctl restore FILE`: a backup put back on purpose.
//!
//! Two passes over the archive. The first reads it whole and checks the manifest and every
//! checksum: nothing on the cluster changes before the archive is known to be good. Then the
//! refusals (a node missing, the cluster's encryption key differing from the backup's), the plan
//! and the confirmation. The second pass streams each (node, source) part to that node's
//! `pfagent bundle write`, which stages everything, checks it against the manifest and only then
//! renames it into place (replaced files kept as `.pfctl-prev`, a volume's previous contents as
//! `_data.pfctl-prev`). Services using what is written are scaled to zero first and brought back
//! afterwards, whatever happened; then convergence and healthcheck are the gate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, IsTerminal, Read};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use pfproto::action::{ActionMeta, ServiceUpdate};
use pfproto::bundle::{EntryKind, WriteReport, WriteRequest, WriteSource, WRITE_REQUEST_ENTRY};
use pfproto::method;
use pfproto::probe::SwarmView;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_util::io::SyncIoBridge;

use super::backup::{decryption_of, human, key_fingerprint, open_file, with_archive};
use super::healthcheck::{gate, load_profile};
use crate::backup::archive::EntryMeta;
use crate::backup::manifest::{Manifest, SourceRecord};
use crate::bulk::{read_bounded, wait, BulkCommand};
use crate::cli::RestoreArgs;
use crate::context::Ctx;
use crate::fanout::{self, Node};
use crate::output::Format;
use crate::rpc::AgentConn;

/// The exit code of a refused restore (nothing changed).
const EXIT_REFUSED: i32 = 3;
/// How long the stopped services' tasks may take to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(300);

/// One source of the backup and where it goes.
#[derive(Debug, Clone, Serialize)]
struct Part {
    source: String,
    from: String,
    to: String,
    what: String,
    entries: usize,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip)]
    record: SourceRecord,
}

pub async fn run(ctx: &Ctx, a: &RestoreArgs) -> Result<i32> {
    let json_out = matches!(ctx.format, Format::Json | Format::Ndjson);
    let say = |s: String| {
        if !json_out && !ctx.quiet {
            eprintln!("{s}");
        }
    };
    let profile = load_profile(ctx, a.profile.as_ref())?;
    let (store, name) = open_file(ctx, &a.file).await?;
    let decrypt = decryption_of(&a.decrypt)?;

    // Pass 1: the archive is whole, or nothing happens.
    say(format!("restore: checking {} ...", store.place(&name)));
    let (manifest, checked) = with_archive(&store, &name, decrypt.clone(), |r| Ok(r.verify()?))
        .await
        .context("the backup is not usable: nothing changed")?;
    say(format!(
        "restore: {} is whole ({} entries, {})",
        manifest.id,
        checked.entries,
        human(checked.bytes)
    ));

    let map = parse_map(&a.map)?;
    let parts = plan(ctx, &manifest, &map, a.data_only)?;
    let services: BTreeSet<String> = parts.iter().filter_map(|p| p.service.clone()).collect();
    let targets: BTreeSet<String> = parts.iter().map(|p| p.to.clone()).collect();

    // Every node written to must answer before anything stops.
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for t in ctx.targets.iter().filter(|t| targets.contains(&t.name)) {
        let node = fanout::connect(t, &ctx.fanout)
            .await
            .map_err(|e| anyhow!("{}: {e}: nothing changed", t.name))?;
        node.agent()
            .await
            .map_err(|e| anyhow!("{}: {e}: nothing changed", t.name))?;
        nodes.insert(t.name.clone(), node);
    }

    // The key the data was encrypted with must be the key the cluster has.
    let mut key_problems = Vec::new();
    if let Some(want) = &manifest.encryption_key_fingerprint {
        for (n, node) in &nodes {
            if let Some(have) = key_fingerprint(node, &profile).await? {
                if &have != want {
                    key_problems.push(format!("{n} has {}", short(&have)));
                }
            }
        }
    }
    let print_plan = || {
        if json_out {
            return;
        }
        println!(
            "restore {} ({}) onto {}:",
            manifest.id,
            manifest.created,
            targets.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        for p in &parts {
            println!(
                "  {:<12} {} -> {}:{}  ({} entries, {})",
                p.source,
                p.from,
                p.to,
                p.what,
                p.entries,
                human(p.bytes)
            );
        }
        if services.is_empty() {
            println!("  no service stops");
        } else {
            println!(
                "  stops while writing, then starts again: {}",
                services.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    };
    print_plan();
    let refuse = |why: String| -> Result<i32> {
        eprintln!("pfctl: restore: {why}");
        if json_out {
            println!(
                "{}",
                json!({"id": manifest.id, "refused": why, "changed": false})
            );
        }
        Ok(EXIT_REFUSED)
    };
    if !key_problems.is_empty() && !a.force {
        close_all(nodes, store).await;
        return refuse(format!(
            "the cluster's encryption_key differs from the backup's ({}; the backup's is {}): data written with the backup's key would be unreadable here. Nothing changed. Put the backup's key in place first, or pass --force to restore anyway (then whatever the current key encrypted becomes unreadable)",
            key_problems.join(", "),
            short(manifest.encryption_key_fingerprint.as_deref().unwrap_or("-"))
        ));
    }
    if !key_problems.is_empty() {
        eprintln!(
            "pfctl: restore: --force: the encryption_key differs ({}): data encrypted with one key will not be readable with the other",
            key_problems.join(", ")
        );
    }
    if a.plan {
        if json_out {
            println!(
                "{}",
                json!({"id": manifest.id, "plan": parts, "services": services, "changed": false, "key_differs": !key_problems.is_empty()})
            );
        }
        close_all(nodes, store).await;
        return Ok(0);
    }
    if let Err(why) = confirm(a.yes, &manifest.id) {
        close_all(nodes, store).await;
        return refuse(why);
    }

    let started = Instant::now();
    let meta = crate::history::action_meta(&crate::history::new_run_id());
    // Service changes go through a manager: the first node written to that can see the swarm.
    let manager = pick_manager(&nodes).await;
    let mut stopped: Vec<(String, u64)> = Vec::new();
    let mut result: Result<Vec<String>> = Ok(vec![]);
    if !services.is_empty() {
        match &manager {
            Some(conn) => {
                for s in &services {
                    match scale(conn, &meta, s, 0).await {
                        Ok(before) => stopped.push((s.clone(), before)),
                        Err(e) => {
                            result = Err(e.context(format!("stopping {s}")));
                            break;
                        }
                    }
                }
                if result.is_ok() {
                    say(format!(
                        "restore: stopped {}",
                        services.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                    result = wait_stopped(conn, &services).await.map(|_| vec![]);
                }
            }
            None => {
                result = Err(anyhow!(
                    "no node written to is a swarm manager: cannot stop {:?}; nothing changed",
                    services
                ))
            }
        }
    }

    // Pass 2: stream each part to its node.
    if result.is_ok() {
        let nodes_ref = &nodes;
        result = write_parts(&store, &name, decrypt, &manifest, &parts, nodes_ref).await;
    }

    // Whatever happened, what was stopped starts again.
    let mut restart_errors = Vec::new();
    if let Some(conn) = &manager {
        for (s, replicas) in &stopped {
            if let Err(e) = scale(conn, &meta, s, *replicas).await {
                restart_errors.push(format!(
                    "{s}: {e:#}; run: docker service scale {s}={replicas}"
                ));
            }
        }
    }
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            close_all(nodes, store).await;
            for r in &restart_errors {
                eprintln!("pfctl: restore: could not start again: {r}");
            }
            return Err(e.context("restore stopped"));
        }
    };
    if !restart_errors.is_empty() {
        close_all(nodes, store).await;
        bail!(
            "restored, but could not start again: {}",
            restart_errors.join("; ")
        );
    }
    say(format!("restore: written: {}", written.join("; ")));
    if let (Some(conn), false) = (&manager, stopped.is_empty()) {
        wait_running(conn, &stopped)
            .await
            .context("restored, but the services did not come back")?;
        say(format!(
            "restore: running again: {}",
            stopped
                .iter()
                .map(|(s, n)| format!("{s} {n}/{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    close_all(nodes, store).await;
    let warns = gate(ctx, &profile).await.context("restored")?;
    let secs = started.elapsed().as_secs_f64();
    if json_out {
        println!(
            "{}",
            json!({"id": manifest.id, "restored": parts, "written": written, "services": services, "healthcheck_warnings": warns, "seconds": secs})
        );
    } else {
        println!(
            "restored {} in {:.1} s: {}; services converged; healthcheck clean{}",
            manifest.id,
            secs,
            written.join("; "),
            if warns > 0 {
                format!(" but {warns} warning(s)")
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}

fn short(fp: &str) -> String {
    let hex = fp.strip_prefix("sha256:").unwrap_or(fp);
    format!("sha256:{}…", &hex[..hex.len().min(12)])
}

fn parse_map(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for p in pairs {
        let (old, new) = p
            .split_once('=')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty())
            .ok_or_else(|| {
                anyhow!("--map {p}: give OLD=NEW (a node of the backup = a node of this cluster)")
            })?;
        if m.insert(old.to_string(), new.to_string()).is_some() {
            bail!("--map names {old} twice");
        }
    }
    Ok(m)
}

/// What goes where; refuses sources whose node is not in this cluster.
fn plan(
    ctx: &Ctx,
    manifest: &Manifest,
    map: &BTreeMap<String, String>,
    data_only: bool,
) -> Result<Vec<Part>> {
    let known: BTreeSet<&str> = ctx.targets.iter().map(|t| t.name.as_str()).collect();
    for old in map.keys() {
        if !manifest.sources.iter().any(|s| &s.node == old) {
            bail!("--map {old}=...: the backup has nothing from {old}");
        }
    }
    let mut parts = Vec::new();
    for s in &manifest.sources {
        if data_only && !s.data {
            continue;
        }
        let to = map.get(&s.node).cloned().unwrap_or_else(|| s.node.clone());
        if !known.contains(to.as_str()) {
            bail!(
                "the backup holds {} from {}, which is not a node of this cluster: map it with --map {}=NODE; nothing changed",
                s.name,
                s.node,
                s.node
            );
        }
        let entries: Vec<_> = manifest
            .entries
            .iter()
            .filter(|e| e.node == s.node && e.source == s.name)
            .collect();
        parts.push(Part {
            source: s.name.clone(),
            from: s.node.clone(),
            to,
            what: match (&s.volume, &s.path) {
                (Some(v), Some(p)) => format!("volume {v}/{p}"),
                (Some(v), None) => format!("volume {v}"),
                (None, p) => p.clone().unwrap_or_default(),
            },
            entries: entries.len(),
            bytes: entries.iter().map(|e| e.size).sum(),
            service: s.service.clone(),
            record: s.clone(),
        });
    }
    if parts.is_empty() {
        bail!("nothing to restore (a --data-only restore of a backup without data sources?)");
    }
    let mut seen = BTreeSet::new();
    for p in &parts {
        if !seen.insert((p.to.clone(), p.source.clone())) {
            bail!(
                "two nodes' copies of {} would go to {}: map them to different nodes",
                p.source,
                p.to
            );
        }
    }
    Ok(parts)
}

fn confirm(yes: bool, id: &str) -> Result<(), String> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err("no terminal to confirm on: nothing changed; pass --yes to restore".into());
    }
    match dialoguer::Confirm::new()
        .with_prompt(format!("Restore {id} as planned above?"))
        .default(false)
        .interact()
    {
        Ok(true) => Ok(()),
        Ok(false) => Err("not confirmed: nothing changed".into()),
        Err(e) => Err(format!("no answer ({e}): nothing changed")),
    }
}

async fn close_all(nodes: BTreeMap<String, Node>, store: crate::backup::store::Store) {
    for n in nodes.values() {
        n.close().await;
    }
    store.close().await;
}

async fn pick_manager(nodes: &BTreeMap<String, Node>) -> Option<AgentConn> {
    for node in nodes.values() {
        if let Ok((conn, _)) = node.agent().await {
            if let Ok(v) = conn
                .call::<SwarmView>(method::SWARM_INSPECT, Value::Null)
                .await
            {
                if v.error.is_none() {
                    return Some(conn.clone());
                }
            }
        }
    }
    None
}

/// Sets a replicated service's replicas; returns what it had.
async fn scale(conn: &AgentConn, meta: &ActionMeta, service: &str, replicas: u64) -> Result<u64> {
    let r: ServiceUpdate = conn
        .call(
            method::SERVICE_UPDATE,
            json!({"meta": meta, "service": service, "replicas": replicas}),
        )
        .await
        .map_err(|e| anyhow!("service.update {service}: {e}"))?;
    r.before
        .replicas
        .ok_or_else(|| anyhow!("{service} is a global service: stop it by hand before restoring"))
}

/// Asks the swarm every `every` until `pending` names nothing; after `limit`, fails naming what
/// is still pending.
async fn poll_swarm(
    conn: &AgentConn,
    limit: Duration,
    every: Duration,
    pending: impl Fn(&SwarmView) -> Vec<String>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let v: SwarmView = conn
            .call(method::SWARM_INSPECT, Value::Null)
            .await
            .map_err(|e| anyhow!("swarm.inspect: {e}"))?;
        let left = pending(&v);
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!(
                "after {} s: {}; see `docker service ps --no-trunc` on a manager",
                limit.as_secs(),
                left.join(", ")
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits until no task of `services` runs or is about to.
async fn wait_stopped(conn: &AgentConn, services: &BTreeSet<String>) -> Result<()> {
    poll_swarm(conn, STOP_TIMEOUT, Duration::from_millis(300), |v| {
        v.services
            .iter()
            .filter(|s| services.contains(&s.name))
            .filter(|s| {
                s.tasks.iter().any(|t| {
                    matches!(
                        t.state.as_str(),
                        "running" | "starting" | "preparing" | "assigned" | "accepted" | "ready"
                    )
                })
            })
            .map(|s| format!("{} still running", s.name))
            .collect()
    })
    .await
}

/// Waits until each service runs as many tasks as it had before it was stopped.
async fn wait_running(conn: &AgentConn, services: &[(String, u64)]) -> Result<()> {
    poll_swarm(conn, CONVERGE_TIMEOUT, Duration::from_millis(500), |v| {
        services
            .iter()
            .filter_map(|(name, want)| {
                let running = v
                    .services
                    .iter()
                    .find(|s| &s.name == name)
                    .map(|s| {
                        s.tasks
                            .iter()
                            .filter(|t| t.state == "running" && t.desired_state == "running")
                            .count() as u64
                    })
                    .unwrap_or(0);
                (running < *want).then(|| format!("{name} {running}/{want}"))
            })
            .collect()
    })
    .await
}

/// A part's tar stream on its way into the node's `bundle write`.
type PartStream =
    tar::Builder<BufWriter<SyncIoBridge<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>>>;

/// The open `bundle write` of one part.
struct Writing {
    key: (String, String),
    to: String,
    tar: PartStream,
    stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    finished: crate::bulk::FinishedFuture,
}

/// Pass 2: walks the archive once, one `bundle write` per part at a time. Returns a line per
/// part written; on error, says which parts were written before it.
async fn write_parts(
    store: &crate::backup::store::Store,
    name: &str,
    decrypt: Option<std::sync::Arc<crate::backup::archive::Decryption>>,
    manifest: &Manifest,
    parts: &[Part],
    nodes: &BTreeMap<String, Node>,
) -> Result<Vec<String>> {
    // Nodes are borrowed by the blocking walk: it runs on this task's thread (block_in_place)
    // rather than a spawned one, so no 'static copy of the connections is needed.
    let handle = tokio::runtime::Handle::current();
    let input = store.open_read(name).await?;
    let place = store.place(name);
    let done: std::cell::RefCell<Vec<String>> = Default::default();
    let result = tokio::task::block_in_place(|| -> Result<()> {
        let bridge = SyncIoBridge::new_with_handle(input, handle.clone());
        let reader = std::io::BufReader::with_capacity(256 * 1024, bridge);
        let r = crate::backup::archive::open(reader, decrypt.as_deref())
            .map_err(|e| anyhow!("{place}: {e}"))?;
        let mut open: Option<Writing> = None;
        r.walk(|meta: &EntryMeta, data: &mut dyn Read| {
            let source = meta.name.split('/').next().unwrap_or("").to_string();
            let key = (meta.node.clone(), source.clone());
            let Some(part) = parts.iter().find(|p| p.from == key.0 && p.source == key.1) else {
                return Ok(());
            };
            if open.as_ref().map(|w| &w.key) != Some(&key) {
                if let Some(w) = open.take() {
                    done.borrow_mut().push(finish(&handle, w)?);
                }
                open = Some(start(&handle, manifest, part, nodes)?);
            }
            let w = open.as_mut().expect("opened above");
            append(&mut w.tar, meta, data)
                .with_context(|| format!("{}: sending {}", w.to, meta.name))
        })
        .map_err(|e| anyhow!("{place}: {e}"))?;
        if let Some(w) = open.take() {
            done.borrow_mut().push(finish(&handle, w)?);
        }
        Ok(())
    });
    let done = done.into_inner();
    match result {
        Ok(()) => Ok(done),
        Err(e) if done.is_empty() => Err(e.context("nothing was written")),
        Err(e) => Err(e.context(format!("written before this: {}", done.join("; ")))),
    }
}

fn start(
    handle: &tokio::runtime::Handle,
    manifest: &Manifest,
    part: &Part,
    nodes: &BTreeMap<String, Node>,
) -> Result<Writing> {
    let node = nodes
        .get(&part.to)
        .ok_or_else(|| anyhow!("{}: not connected", part.to))?;
    let cmd = handle
        .block_on(BulkCommand::start(node, "bundle write"))
        .with_context(|| format!("{}: starting pfagent bundle write", part.to))?;
    let BulkCommand {
        stdout,
        stdin,
        finished,
        ..
    } = cmd;
    let rec = &part.record;
    let request = WriteRequest {
        sources: vec![WriteSource {
            name: rec.name.clone(),
            kind: rec.kind,
            path: rec.path.clone(),
            volume: rec.volume.clone(),
        }],
        expect: manifest
            .entries
            .iter()
            .filter(|e| e.node == rec.node && e.source == rec.name)
            .map(|e| e.to_expect())
            .collect(),
    };
    let body = serde_json::to_vec(&request)?;
    let out = BufWriter::with_capacity(
        256 * 1024,
        SyncIoBridge::new_with_handle(stdin, handle.clone()),
    );
    let mut tar = tar::Builder::new(out);
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, WRITE_REQUEST_ENTRY, body.as_slice())
        .with_context(|| format!("{}: sending the restore request", part.to))?;
    Ok(Writing {
        key: (rec.node.clone(), rec.name.clone()),
        to: part.to.clone(),
        tar,
        stdout,
        finished,
    })
}

fn append(
    tar: &mut tar::Builder<impl std::io::Write>,
    meta: &EntryMeta,
    data: &mut dyn Read,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    match meta.kind {
        EntryKind::File => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.size);
            tar.append_data(&mut h, &meta.name, data)?;
        }
        EntryKind::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, &meta.name, std::io::empty())?;
        }
        EntryKind::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let link = meta.link.clone().unwrap_or_default();
            tar.append_link(&mut h, &meta.name, link)?;
        }
    }
    Ok(())
}

/// Ends a part's stream and reads the node's verdict.
fn finish(handle: &tokio::runtime::Handle, w: Writing) -> Result<String> {
    let Writing {
        to,
        tar,
        mut stdout,
        finished,
        key,
    } = w;
    // End of the tar, then of stdin: the node then checks what it got and commits or refuses.
    let sent = tar
        .into_inner()
        .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
        .map(|bridge| bridge.into_inner());
    let answer = handle.block_on(async {
        if let Ok(mut stdin) = sent {
            stdin.shutdown().await?;
        }
        read_bounded(&mut stdout).await
    });
    let ended = handle.block_on(wait(finished));
    if ended.status != Some(0) {
        bail!(
            "{to}: {} (nothing of {} was changed there)",
            ended.failure("pfagent bundle write"),
            key.1
        );
    }
    let answer = answer.map_err(|e| anyhow!("{to}: reading bundle write's answer: {e}"))?;
    let report: WriteReport = serde_json::from_slice(answer.trim_ascii())
        .map_err(|e| anyhow!("{to}: bundle write answered something unreadable: {e}"))?;
    Ok(report
        .sources
        .iter()
        .map(|s| {
            format!(
                "{} on {to}: {} files, {} ({} replaced)",
                s.name,
                s.files,
                human(s.bytes),
                s.replaced
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}
