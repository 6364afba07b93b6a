//! `pfctl backup create|list|verify|prune`.
//!
//! Create streams each chosen node's sources (`pfagent bundle read`, raw bytes on an SSH channel
//! of its own) into one archive at the destination. The archive pipeline (tar, hashing, zstd,
//! age) runs on a blocking thread between two bridges to the async SSH/SFTP streams, so memory
//! stays bounded by a few fixed buffers whatever the size. The file is `<name>.partial` until
//! the manifest is written, every source arrived whole and the bytes are fsynced; only then is
//! it renamed and its catalogue record written.

use std::io::{BufReader, BufWriter, IsTerminal, Read};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use pfproto::bundle::ReadRequest;
use pfproto::facts::NodeFacts;
use pfproto::method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_util::io::SyncIoBridge;

use crate::backup::archive::{self, ArchiveWriter, Decryption, Encryption};
use crate::backup::catalogue::{self, Record, RowStatus, Verified};
use crate::backup::config::{Config, Source};
use crate::backup::manifest::{self, Compression, Manifest, SourceRecord};
use crate::backup::prune::{self, Policy};
use crate::backup::store::Store;
use crate::bulk::{wait, BulkCommand, Stall};
use crate::cli::{
    BackupCommand, BackupCreateArgs, BackupListArgs, BackupPruneArgs, BackupVerifyArgs, DecryptArgs,
};
use crate::commands::healthcheck::load_profile;
use crate::context::Ctx;
use crate::fanout::{self, Node};
use crate::output::Format;
use crate::profile::Profile;

/// Buffer between the SSH stream and the archive, and between the archive and the destination.
const BRIDGE_BUFFER: usize = 256 * 1024;

pub async fn run(ctx: &Ctx, cmd: &BackupCommand) -> Result<i32> {
    match cmd {
        BackupCommand::Create(a) => create(ctx, a).await,
        BackupCommand::List(a) => list(ctx, a).await,
        BackupCommand::Verify(a) => verify(ctx, a).await,
        BackupCommand::Prune(a) => prune_cmd(ctx, a).await,
    }
}

pub(crate) fn backup_cfg(profile: &Profile) -> Result<&Config> {
    profile.backup.as_ref().ok_or_else(|| {
        anyhow!(
            "profile {} has no [backup] section: nothing says what to back up",
            profile.name
        )
    })
}

/// The destination named on the command line, else the profile's.
pub(crate) async fn open_store(
    ctx: &Ctx,
    to: Option<&String>,
    cfg: Option<&Config>,
) -> Result<Store> {
    let spec = to
        .cloned()
        .or_else(|| cfg.and_then(|c| c.destination.clone()))
        .ok_or_else(|| {
            anyhow!("no destination: give --to DIR (or sftp://user@host/dir), or set destination in the profile's [backup]")
        })?;
    Store::open(&spec, ctx).await
}

/// The name the cluster's archives carry.
pub(crate) fn cluster_name(ctx: &Ctx, profile: &Profile) -> String {
    ctx.cluster.clone().unwrap_or_else(|| profile.stack.clone())
}

/// A path or `sftp://.../file` split into its destination and file name.
pub(crate) async fn open_file(ctx: &Ctx, file: &str) -> Result<(Store, String)> {
    let (dir, name) = match file.rsplit_once('/') {
        Some((d, n)) if !n.is_empty() => (if d.is_empty() { "/" } else { d }, n),
        Some(_) => bail!("{file}: name a file, not a directory"),
        None => (".", file),
    };
    if !file.starts_with("sftp://") && !std::path::Path::new(file).is_file() {
        bail!("{file}: no such backup file");
    }
    let store = Store::open(dir, ctx).await?;
    Ok((store, name.to_string()))
}

// ---------------------------------------------------------------- secrets

fn read_secret_file(path: &std::path::Path) -> Result<age::secrecy::SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        bail!("passphrase file {} is empty", path.display());
    }
    Ok(age::secrecy::SecretString::from(line))
}

fn env_passphrase() -> Option<age::secrecy::SecretString> {
    std::env::var("PFCTL_BACKUP_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(age::secrecy::SecretString::from)
}

fn prompt(what: &str, confirm: bool) -> Result<age::secrecy::SecretString> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!("{what}: no terminal to ask on; give --passphrase-file FILE or set PFCTL_BACKUP_PASSPHRASE");
    }
    let mut p = dialoguer::Password::new().with_prompt(what);
    if confirm {
        p = p.with_confirmation("Again", "the two passphrases differ");
    }
    Ok(age::secrecy::SecretString::from(
        p.interact().context("reading the passphrase")?,
    ))
}

fn encryption_of(a: &BackupCreateArgs) -> Result<Option<Encryption>> {
    if !a.recipient.is_empty() {
        if a.encrypt {
            bail!("give --encrypt (a passphrase) or --recipient, not both");
        }
        let r = a
            .recipient
            .iter()
            .map(|s| archive::parse_recipient(s))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Some(Encryption::Recipients(r)));
    }
    if !a.encrypt {
        if a.passphrase_file.is_some() {
            bail!("--passphrase-file is for --encrypt: add --encrypt to encrypt the backup");
        }
        return Ok(None);
    }
    let pass = match &a.passphrase_file {
        Some(f) => read_secret_file(f)?,
        None => match env_passphrase() {
            Some(p) => p,
            None => prompt("Backup passphrase", true)?,
        },
    };
    Ok(Some(Encryption::Passphrase(pass)))
}

/// What opens an archive: identities when given, else a passphrase (file, environment), else
/// nothing, and a prompt later only if the archive turns out to need one.
pub(crate) fn decryption_of(a: &DecryptArgs) -> Result<Option<Arc<Decryption>>> {
    if !a.age_identity.is_empty() {
        let mut ids = Vec::new();
        for f in &a.age_identity {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the identity file {}", f.display()))?;
            ids.extend(
                archive::read_identities(&text)
                    .with_context(|| format!("identity file {}", f.display()))?,
            );
        }
        return Ok(Some(Arc::new(Decryption::Identities(ids))));
    }
    if let Some(f) = &a.passphrase_file {
        return Ok(Some(Arc::new(Decryption::Passphrase(read_secret_file(f)?))));
    }
    Ok(env_passphrase().map(|p| Arc::new(Decryption::Passphrase(p))))
}

/// Opens `name` in `store` as an archive on a blocking thread and hands the reader to `work`;
/// asks for a passphrase on a terminal when the archive needs one and none was given.
pub(crate) async fn with_archive<T: Send + 'static>(
    store: &Store,
    name: &str,
    decrypt: Option<Arc<Decryption>>,
    work: impl FnOnce(archive::ArchiveReader<Box<dyn Read + Send>>) -> Result<T>
        + Send
        + Clone
        + 'static,
) -> Result<T> {
    let mut decrypt = decrypt;
    for attempt in 0..2 {
        let input = store.open_read(name).await?;
        let handle = tokio::runtime::Handle::current();
        let d = decrypt.clone();
        let w = work.clone();
        let place = store.place(name);
        let out =
            tokio::task::spawn_blocking(move || -> Result<Result<T>, archive::ArchiveError> {
                let bridge = SyncIoBridge::new_with_handle(input, handle);
                let reader: Box<dyn Read + Send> =
                    Box::new(BufReader::with_capacity(BRIDGE_BUFFER, bridge));
                let r = archive::open(reader, d.as_deref())?;
                Ok(w(r).with_context(|| place.clone()))
            })
            .await
            .map_err(|e| anyhow!("reading {}: {e}", store.place(name)))?;
        match out {
            Ok(r) => return r,
            Err(archive::ArchiveError::NeedsDecryption { passphrase: true })
                if attempt == 0 && decrypt.is_none() =>
            {
                decrypt = Some(Arc::new(Decryption::Passphrase(prompt(
                    &format!("Passphrase for {name}"),
                    false,
                )?)));
            }
            Err(e) => return Err(anyhow!("{}: {e}", store.place(name))),
        }
    }
    unreachable!("the second attempt returns")
}

// ---------------------------------------------------------------- create

/// One node's part of the backup.
struct NodePart {
    node: Arc<Node>,
    request: ReadRequest,
    records: Vec<SourceRecord>,
}

fn chosen_sources<'a>(cfg: &'a Config, a: &BackupCreateArgs) -> Result<Vec<&'a Source>> {
    for n in a.include.iter().chain(&a.exclude) {
        if !cfg.sources.iter().any(|s| &s.name == n) {
            let known: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "no backup source named '{n}'; the profile has: {}",
                known.join(", ")
            );
        }
    }
    let chosen: Vec<&Source> = cfg
        .sources
        .iter()
        .filter(|s| !a.data_only || s.data)
        .filter(|s| a.include.is_empty() || a.include.contains(&s.name))
        .filter(|s| !a.exclude.contains(&s.name))
        .collect();
    if chosen.is_empty() {
        bail!("no source left to back up (check --data-only, --include and --exclude)");
    }
    Ok(chosen)
}

/// Connects to `target` and its agent; the agent's facts come back too.
async fn reach(ctx: &Ctx, name: &str) -> Result<(Arc<Node>, NodeFacts)> {
    let target = ctx
        .targets
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| anyhow!("--from names {name}, which is not a node of this cluster"))?;
    let node = fanout::connect(target, &ctx.fanout)
        .await
        .map_err(|e| anyhow!("{name}: {e}"))?;
    let (conn, _) = node.agent().await.map_err(|e| anyhow!("{name}: {e}"))?;
    let facts: NodeFacts = conn
        .call(method::NODE_FACTS, Value::Null)
        .await
        .map_err(|e| anyhow!("{name}: node.facts: {e}"))?;
    Ok((Arc::new(node), facts))
}

/// The hex SHA-256 of the cluster's encryption key file as `node` holds it (never the key).
pub(crate) async fn key_fingerprint(node: &Node, profile: &Profile) -> Result<Option<String>> {
    let Some(path) = profile.encryption_key_path() else {
        return Ok(None);
    };
    let (conn, _) = node
        .agent()
        .await
        .map_err(|e| anyhow!("{}: {e}", node.target.name))?;
    let stat: pfproto::probe::FilesStat = conn
        .call(method::FILES_STAT, json!({ "paths": [path] }))
        .await
        .map_err(|e| anyhow!("{}: files.stat: {e}", node.target.name))?;
    Ok(stat
        .files
        .into_iter()
        .next()
        .filter(|f| f.exists)
        .and_then(|f| f.sha256)
        .map(|h| format!("sha256:{h}")))
}

async fn create(ctx: &Ctx, a: &BackupCreateArgs) -> Result<i32> {
    Ok(make(ctx, a, true).await?.0)
}

/// A backup made for another operation (upgrade's): nothing printed; the summary (file, id,
/// size, sha256, ...) returned.
pub(crate) async fn create_for_run(ctx: &Ctx, a: &BackupCreateArgs) -> Result<Value> {
    Ok(make(ctx, a, false).await?.1)
}

async fn make(ctx: &Ctx, a: &BackupCreateArgs, announce: bool) -> Result<(i32, Value)> {
    let started = Instant::now();
    let profile = load_profile(ctx, a.profile.as_ref())?;
    let cfg = backup_cfg(&profile)?;
    let sources = chosen_sources(cfg, a)?;
    let encryption = encryption_of(a)?;
    let compression = if a.gzip {
        Compression::Gzip
    } else {
        Compression::Zstd
    };
    let store = open_store(ctx, a.dest.to.as_ref(), Some(cfg)).await?;

    // Which nodes: every node for --from all (and for all-node sources), else the first of the
    // fallback list that answers with its agent.
    let from: Vec<String> = match a.from.as_deref() {
        Some("all") => vec!["all".into()],
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None if !cfg.from.is_empty() => cfg.from.clone(),
        None => ctx.targets.iter().map(|t| t.name.clone()).collect(),
    };
    let all = from.first().map(String::as_str) == Some("all");
    let mut reached: Vec<(Arc<Node>, NodeFacts)> = Vec::new();
    let mut why_not = Vec::new();
    let needs_all = all || sources.iter().any(|s| s.all_nodes);
    if needs_all {
        for t in &ctx.targets {
            reached.push(reach(ctx, &t.name).await.with_context(|| {
                format!("backing up from every node: {} must be reachable (or choose nodes with --from)", t.name)
            })?);
        }
    }
    let one: Option<usize> = if all || sources.iter().all(|s| s.all_nodes) {
        None
    } else {
        let mut found = None;
        for name in &from {
            if let Some(i) = reached.iter().position(|(n, _)| &n.target.name == name) {
                found = Some(i);
                break;
            }
            match reach(ctx, name).await {
                Ok(r) => {
                    reached.push(r);
                    found = Some(reached.len() - 1);
                    break;
                }
                Err(e) => why_not.push(format!("{e:#}")),
            }
        }
        match found {
            Some(i) => Some(i),
            None => bail!(
                "no node to back up from: {}",
                if why_not.is_empty() {
                    "the list is empty".to_string()
                } else {
                    why_not.join("; ")
                }
            ),
        }
    };
    for w in &why_not {
        eprintln!("pfctl: backup: skipped (fallback): {w}");
    }

    let mut parts: Vec<NodePart> = Vec::new();
    for (i, (node, _)) in reached.iter().enumerate() {
        let mine: Vec<&&Source> = sources
            .iter()
            .filter(|s| all || s.all_nodes || Some(i) == one)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let name = node.target.name.clone();
        parts.push(NodePart {
            node: node.clone(),
            request: ReadRequest {
                sources: mine
                    .iter()
                    .map(|s| s.read_request(&profile.stack))
                    .collect(),
            },
            records: mine
                .iter()
                .map(|s| SourceRecord {
                    name: s.name.clone(),
                    node: name.clone(),
                    kind: s.kind(),
                    path: s.read_request(&profile.stack).path,
                    volume: s.volume.clone(),
                    service: s.service.clone().map(|v| format!("{}_{v}", profile.stack)),
                    data: s.data,
                })
                .collect(),
        });
    }

    let first = &reached[one.unwrap_or(0)];
    let fingerprint = key_fingerprint(&first.0, &profile).await?;
    let created = crate::context::now_unix();
    let cluster = cluster_name(ctx, &profile);
    let encrypted = encryption.is_some();
    let file = manifest::archive_name(&cluster, a.data_only, created, compression, encrypted);
    let id = manifest::archive_id(&cluster, a.data_only, created);
    let cluster_id = Some(first.1.docker.swarm.cluster_id.clone()).filter(|c| !c.is_empty());
    let agent_versions = reached
        .iter()
        .map(|(n, f)| (n.target.name.clone(), f.agent.version.clone()))
        .collect();
    let mut manifest = Manifest {
        format: manifest::FORMAT,
        id: id.clone(),
        cluster: cluster.clone(),
        swarm_cluster_id: cluster_id,
        profile: profile.name.clone(),
        created: manifest::rfc3339(created),
        pfctl_version: env!("CARGO_PKG_VERSION").to_string(),
        agent_versions,
        data_only: a.data_only,
        compression,
        encrypted,
        encryption_key_fingerprint: fingerprint,
        sources: parts.iter().flat_map(|p| p.records.clone()).collect(),
        entries: vec![],
    };
    if announce && !ctx.json_out() && !ctx.quiet {
        for p in &parts {
            let names: Vec<&str> = p.request.sources.iter().map(|s| s.name.as_str()).collect();
            eprintln!("backup: {} from {}", names.join(", "), p.node.target.name);
        }
        eprintln!("backup: writing {}", store.place(&file));
    }

    let partial = format!("{file}.partial");
    let writer = store.create(&partial).await?;
    let handle = tokio::runtime::Handle::current();
    let progress = announce && !ctx.json_out() && !ctx.quiet && std::io::stderr().is_terminal();
    let job_manifest = manifest.clone();
    let stall = std::time::Duration::from_secs(a.stall_timeout.max(1));
    let job = tokio::task::spawn_blocking(move || {
        write_archive(
            handle,
            writer,
            parts,
            job_manifest,
            compression,
            encryption,
            progress,
            stall,
        )
    });
    let outcome = job
        .await
        .map_err(|e| anyhow!("the backup's writer died: {e}"));
    let (mut writer, written, entries, warnings) = match outcome.and_then(|r| r) {
        Ok(v) => v,
        Err(e) => {
            let _ = store.remove(&partial).await;
            store.close().await;
            return Err(e.context(format!("backup not made: no {} left behind", file)));
        }
    };
    if let Err(e) = writer.finish().await {
        let _ = store.remove(&partial).await;
        store.close().await;
        return Err(e.context(format!("writing {partial}: backup not made")));
    }
    drop(writer);
    manifest.entries = entries;
    store.rename(&partial, &file).await?;
    let mut record = Record::from_manifest(&manifest, &file, written.bytes, &written.sha256);
    record.verified = Some(Verified {
        at: manifest::rfc3339(crate::context::now_unix()),
        how: "create".into(),
    });
    store
        .write_small(
            &catalogue::sidecar_name(&file),
            &serde_json::to_vec_pretty(&record)?,
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let data_bytes: u64 = manifest.entries.iter().map(|e| e.size).sum();
    let summary = json!({
        "file": store.place(&file),
        "id": id,
        "size": written.bytes,
        "sha256": written.sha256,
        "entries": manifest.entries.len(),
        "data_bytes": data_bytes,
        "sources": record.sources,
        "encrypted": encrypted,
        "encryption_key_fingerprint": manifest.encryption_key_fingerprint,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "warnings": warnings,
    });
    if !announce {
    } else if ctx.json_out() {
        println!("{summary}");
    } else {
        for w in &warnings {
            eprintln!("pfctl: backup: {w}");
        }
        println!(
            "backup {} written: {} entries, {} of data, {} on disk, {:.1} s ({:.0} MiB/s)",
            store.place(&file),
            manifest.entries.len(),
            human(data_bytes),
            human(written.bytes),
            secs,
            data_bytes as f64 / 1048576.0 / secs.max(0.001)
        );
    }
    let mut code = 0;
    if a.prune {
        let policy = Policy {
            keep_last: cfg.keep_last,
            keep_daily: cfg.keep_daily,
            keep_weekly: cfg.keep_weekly,
        };
        code = apply_prune(ctx, &store, &cluster, &policy, false).await?;
    }
    store.close().await;
    Ok((code, summary))
}

type Written = (
    crate::backup::store::StoreWriter,
    archive::Written,
    Vec<manifest::Entry>,
    Vec<String>,
);

/// The archive, on a blocking thread: each node's stream in turn, then the manifest.
#[allow(clippy::too_many_arguments)]
fn write_archive(
    handle: tokio::runtime::Handle,
    writer: crate::backup::store::StoreWriter,
    parts: Vec<NodePart>,
    mut manifest: Manifest,
    compression: Compression,
    encryption: Option<Encryption>,
    progress: bool,
    stall: std::time::Duration,
) -> Result<Written> {
    let out = BufWriter::with_capacity(
        BRIDGE_BUFFER,
        SyncIoBridge::new_with_handle(writer, handle.clone()),
    );
    let mut aw = ArchiveWriter::new(out, compression, encryption.as_ref())?;
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for part in parts {
        let name = part.node.target.name.clone();
        if let Some(b) = &bar {
            b.set_message(format!("reading {name}"));
        }
        let cmd = handle
            .block_on(BulkCommand::start(&part.node, "bundle read"))
            .with_context(|| format!("{name}: starting pfagent bundle read"))?;
        let BulkCommand {
            stdout,
            mut stdin,
            finished,
            ..
        } = cmd;
        let mut line = serde_json::to_vec(&part.request)?;
        line.push(b'\n');
        handle
            .block_on(async {
                stdin.write_all(&line).await?;
                stdin.shutdown().await
            })
            .map_err(|e| anyhow!("{name}: sending the backup request: {e}"))?;
        let stdout = {
            let _runtime = handle.enter();
            Stall::new(stdout, stall)
        };
        let bridge = SyncIoBridge::new_with_handle(stdout, handle.clone());
        let mut reader = BufReader::with_capacity(BRIDGE_BUFFER, bridge);
        let appended = match &bar {
            Some(b) => {
                let mut counted = b.wrap_read(&mut reader);
                aw.append_node_stream(&name, &part.records, &mut counted)
            }
            None => aw.append_node_stream(&name, &part.records, &mut reader),
        };
        if appended.is_err() {
            // Stop reading: the agent's end closes, and it stops instead of waiting on us.
            drop(reader);
        }
        let ended = handle.block_on(wait(finished));
        if ended.status != Some(0) {
            bail!("{name}: {}", ended.failure("pfagent bundle read"));
        }
        let got = appended.with_context(|| format!("{name}: reading the backup stream"))?;
        warnings.extend(
            ended
                .stderr
                .lines()
                .filter_map(|l| l.strip_prefix("pfagent: warning: "))
                .map(|w| format!("{name}: {w}")),
        );
        // Every source must have arrived (its root entry), unless it may be missing.
        for s in &part.request.sources {
            if !got.iter().any(|e| e.name == s.name) && !s.optional {
                bail!(
                    "{name}: source '{}' sent nothing; the backup would be incomplete",
                    s.name
                );
            }
        }
        entries.extend(got);
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    manifest.entries = entries.clone();
    let (out, written) = aw.finish(&manifest)?;
    let bridge = out
        .into_inner()
        .map_err(|e| anyhow!("flushing the archive: {}", e.error()))?;
    Ok((bridge.into_inner(), written, entries, warnings))
}

pub(crate) fn human(bytes: u64) -> String {
    crate::output::human_bytes(bytes as f64)
}

// ---------------------------------------------------------------- list, verify, prune

async fn list(ctx: &Ctx, a: &BackupListArgs) -> Result<i32> {
    let profile = load_profile(ctx, a.profile.as_ref())?;
    let store = open_store(ctx, a.dest.to.as_ref(), profile.backup.as_ref()).await?;
    let rows = catalogue_rows(&store).await?;
    let place = store.describe();
    store.close().await;
    if ctx.json_out() {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "file": r.file, "size": r.size, "status": format!("{:?}", r.status).to_lowercase(),
                    "created": r.created_unix.map(manifest::rfc3339),
                    "record": r.record,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(["backup", "time (UTC)", "size", "sources", "verified"]);
    if ctx.format != Format::Table {
        t.force_no_tty();
    }
    for r in &rows {
        let (sources, verified) = match &r.record {
            Some(rec) => (
                rec.sources.join(" "),
                rec.verified
                    .as_ref()
                    .map(|v| format!("{} ({})", v.at, v.how))
                    .unwrap_or_else(|| "no".into()),
            ),
            None => (String::new(), format!("{:?}", r.status).to_lowercase()),
        };
        t.add_row([
            r.file.clone(),
            r.created_unix.map(manifest::rfc3339).unwrap_or_default(),
            human(r.size),
            sources,
            verified,
        ]);
    }
    if rows.is_empty() {
        println!("no backups at {place}");
    } else {
        println!("{t}");
    }
    Ok(0)
}

pub(crate) async fn catalogue_rows(store: &Store) -> Result<Vec<catalogue::Row>> {
    let listing = store.list().await?;
    let mut records = std::collections::BTreeMap::new();
    for (name, _) in &listing {
        if name.ends_with(".json") {
            if let Ok(Some(bytes)) = store.read_small(name).await {
                if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
                    records.insert(name.clone(), r);
                }
            }
        }
    }
    Ok(catalogue::rows(&listing, |sidecar| {
        records.get(sidecar).cloned()
    }))
}

async fn verify(ctx: &Ctx, a: &BackupVerifyArgs) -> Result<i32> {
    let started = Instant::now();
    let (store, name) = open_file(ctx, &a.file).await?;
    let decrypt = decryption_of(&a.decrypt)?;
    let deep = a.deep;
    let result = with_archive(&store, &name, decrypt, move |r| {
        if deep {
            let scratch = tempfile::Builder::new()
                .prefix("pfctl-verify-")
                .tempdir()
                .context("making a scratch directory")?;
            Ok(archive::deep_verify(r, scratch.path())?)
        } else {
            Ok(r.verify()?)
        }
    })
    .await;
    let (manifest, report) = match result {
        Ok(v) => v,
        Err(e) => {
            if ctx.json_out() {
                println!(
                    "{}",
                    json!({"file": store.place(&name), "ok": false, "error": format!("{e:#}")})
                );
            }
            store.close().await;
            eprintln!("pfctl: backup verify: {e:#}");
            return Ok(1);
        }
    };
    // The catalogue record says when and how it was last proven whole.
    let side = catalogue::sidecar_name(&name);
    let size = store
        .list()
        .await?
        .into_iter()
        .find(|(n, _)| n == &name)
        .map(|(_, s)| s)
        .unwrap_or(0);
    let mut record = match store.read_small(&side).await? {
        Some(b) => serde_json::from_slice::<Record>(&b)
            .unwrap_or_else(|_| Record::from_manifest(&manifest, &name, size, "")),
        None => Record::from_manifest(&manifest, &name, size, ""),
    };
    record.verified = Some(Verified {
        at: manifest::rfc3339(crate::context::now_unix()),
        how: if deep { "deep" } else { "verify" }.into(),
    });
    if let Err(e) = store
        .write_small(&side, &serde_json::to_vec_pretty(&record)?)
        .await
    {
        eprintln!(
            "pfctl: backup verify: the archive is whole, but its record was not updated: {e:#}"
        );
    }
    store.close().await;
    let out = json!({
        "file": a.file, "ok": true, "id": manifest.id, "entries": report.entries,
        "files": report.files, "bytes": report.bytes, "deep": deep,
        "encryption_key_fingerprint": manifest.encryption_key_fingerprint,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if ctx.json_out() {
        println!("{out}");
    } else {
        println!(
            "{}: whole: {} entries, {} files, {} checked{}",
            a.file,
            report.entries,
            report.files,
            human(report.bytes),
            if deep { ", extracted and compared" } else { "" }
        );
    }
    Ok(0)
}

async fn prune_cmd(ctx: &Ctx, a: &BackupPruneArgs) -> Result<i32> {
    let profile = load_profile(ctx, a.profile.as_ref())?;
    let cfg = profile.backup.as_ref();
    let policy = Policy {
        keep_last: a.keep_last.or(cfg.map(|c| c.keep_last)).unwrap_or(0),
        keep_daily: a.keep_daily.or(cfg.map(|c| c.keep_daily)).unwrap_or(0),
        keep_weekly: a.keep_weekly.or(cfg.map(|c| c.keep_weekly)).unwrap_or(0),
    };
    let store = open_store(ctx, a.dest.to.as_ref(), cfg).await?;
    let cluster = cluster_name(ctx, &profile);
    let code = apply_prune(ctx, &store, &cluster, &policy, a.dry_run).await;
    store.close().await;
    code
}

async fn apply_prune(
    ctx: &Ctx,
    store: &Store,
    cluster: &str,
    policy: &Policy,
    dry_run: bool,
) -> Result<i32> {
    let rows = catalogue_rows(store).await?;
    let backups: Vec<(String, u64)> = rows
        .iter()
        .filter(|r| r.status != RowStatus::Partial)
        .filter_map(|r| {
            let info = manifest::parse_archive_name(&r.file)?;
            (info.cluster == cluster).then_some((r.file.clone(), info.created_unix))
        })
        .collect();
    let plan = prune::plan(&backups, policy)?;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    if !dry_run {
        for f in &plan.remove {
            match store.remove(f).await {
                Ok(()) => {
                    let side = catalogue::sidecar_name(f);
                    for side in [side.clone(), format!("{side}.prev")] {
                        if store.exists(&side).await.unwrap_or(false) {
                            let _ = store.remove(&side).await;
                        }
                    }
                    removed.push(f.clone());
                }
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
    }
    if ctx.json_out() {
        println!(
            "{}",
            json!({"keep": plan.keep.iter().map(|(f, why)| json!({"file": f, "why": why})).collect::<Vec<_>>(),
                   "remove": plan.remove, "removed": removed, "failed": failed, "dry_run": dry_run})
        );
    } else {
        for (f, why) in &plan.keep {
            println!("keep   {f}  ({})", why.join(", "));
        }
        for f in &plan.remove {
            println!("{} {f}", if dry_run { "would remove" } else { "remove" });
        }
        for e in &failed {
            eprintln!("pfctl: backup prune: {e}");
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}
