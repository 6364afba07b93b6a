//! `pfctl upgrade plan|apply|rollback` and the resume of their runs: the CLI around
//! `crate::upgrade::run`. Exit codes: 0 done; 1 the run stopped (the report names the phase and
//! why; `pfctl resume RUN_ID` continues); 2 refused before anything changed (no confirmation, a
//! plan that would lose quorum, a damaged bundle).

use std::io::IsTerminal;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::healthcheck::load_profile;
use crate::cli::{UpgradeApplyArgs, UpgradeCommand, UpgradeInput};
use crate::context::Ctx;
use crate::ops::journal::{runs_dir, Journal};
use crate::ops::{drive, PhaseReport, RunReport};
use crate::upgrade::plan::render;
use crate::upgrade::run::{self, Args, Input, Rollback, Upgrade, OPERATION, ROLLBACK};

const EXIT_STOPPED: i32 = 1;
const EXIT_REFUSED: i32 = 2;

pub async fn run(ctx: &Ctx, cmd: &UpgradeCommand) -> Result<i32> {
    match cmd {
        UpgradeCommand::Plan { input, profile } => plan(ctx, input, profile.as_ref()).await,
        UpgradeCommand::Apply(a) => apply(ctx, a).await,
        UpgradeCommand::Rollback {
            run_id,
            restore_data,
            yes,
        } => rollback(ctx, run_id, *restore_data, *yes).await,
    }
}

/// The input as a local file: a URL is fetched (and its sum checked) into the state directory.
async fn input_of(i: &UpgradeInput) -> Result<Input> {
    if let Some(c) = &i.compose {
        return Ok(Input::Compose {
            path: c.display().to_string(),
        });
    }
    if let Some(b) = &i.images {
        return Ok(Input::Images {
            path: std::fs::canonicalize(b)
                .map_err(|e| anyhow!("{}: {e}", b.display()))?
                .display()
                .to_string(),
            sha256: i.sha256.clone().unwrap_or_default(),
        });
    }
    let url = i
        .url
        .as_deref()
        .ok_or_else(|| anyhow!("say where the new version comes from: --compose FILE, --images BUNDLE or --url URL --sha256 HEX"))?;
    let sum = i.sha256.as_deref().unwrap_or_default();
    let dir = crate::cron::state_dir()?.join("artifacts");
    std::fs::create_dir_all(&dir)?;
    let path = crate::upgrade::bundle::fetch(url, sum, &dir).await?;
    Ok(Input::Images {
        path: path.display().to_string(),
        sha256: sum.to_string(),
    })
}

fn emit(ctx: &Ctx, doc: Value) {
    let mut doc = doc;
    doc["schema"] = json!(crate::report::SCHEMA);
    doc["action"] = json!(OPERATION);
    // NDJSON: one line per document, so a pipeline can read it line by line.
    let text = if ctx.format == crate::output::Format::Ndjson {
        serde_json::to_string(&doc)
    } else {
        serde_json::to_string_pretty(&doc)
    };
    println!("{}", text.unwrap_or_default());
}

async fn plan(ctx: &Ctx, i: &UpgradeInput, profile: Option<&String>) -> Result<i32> {
    let profile = load_profile(ctx, profile)?;
    let input = input_of(i).await?;
    let leader = run::manager(ctx).await?;
    let prepared = async {
        let (conn, _) = leader.agent().await.map_err(|e| anyhow!("{e}"))?;
        run::prepare(conn, &profile, &input, false, false).await
    }
    .await;
    leader.close().await;
    let p = match prepared {
        Ok(p) => p,
        Err(e) => return refused(ctx, &format!("{e:#}")),
    };
    if ctx.json_out() {
        emit(
            ctx,
            json!({"plan": p.plan, "phases": p.args.phases(), "changed": false}),
        );
    } else {
        print!("{}", render(&p.plan));
        println!("phases: {}", p.args.phases().join(", "));
    }
    Ok(0)
}

fn refused(ctx: &Ctx, why: &str) -> Result<i32> {
    eprintln!("pfctl: upgrade: {why}; nothing changed");
    if ctx.json_out() {
        emit(ctx, json!({"refused": why, "changed": false}));
    }
    Ok(EXIT_REFUSED)
}

/// Ok with how it was confirmed; Err with why not.
fn confirm(yes: bool, what: &str) -> Result<String, String> {
    if yes {
        return Ok("--yes".into());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(format!("no terminal to confirm on; pass --yes to {what}"));
    }
    match dialoguer::Confirm::new()
        .with_prompt(format!("{what}?"))
        .default(false)
        .interact()
    {
        Ok(true) => Ok("confirmed on a terminal".into()),
        Ok(false) => Err("not confirmed".into()),
        Err(e) => Err(format!("no answer ({e})")),
    }
}

async fn apply(ctx: &Ctx, a: &UpgradeApplyArgs) -> Result<i32> {
    let profile = load_profile(ctx, a.profile.as_ref())?;
    let input = match input_of(&a.input).await {
        Ok(i) => i,
        Err(e) => return refused(ctx, &format!("{e:#}")),
    };
    let run_id = crate::history::new_run_id();
    let leader = run::manager(ctx).await?;
    let prepared = async {
        let (conn, _) = leader.agent().await.map_err(|e| anyhow!("{e}"))?;
        run::prepare(conn, &profile, &input, a.allow_warn, a.skip_backup).await
    }
    .await;
    let p = match prepared {
        Ok(p) => p,
        Err(e) => {
            leader.close().await;
            return refused(ctx, &format!("{e:#}"));
        }
    };
    if !ctx.json_out() {
        print!("{}", render(&p.plan));
    }
    if p.plan.changed() == 0 && p.args.groups.is_empty() {
        leader.close().await;
        if ctx.json_out() {
            emit(
                ctx,
                json!({"run_id": null, "plan": p.plan, "changed": false}),
            );
        }
        return Ok(0);
    }
    if let Err(why) = confirm(a.yes, &format!("upgrade {} service(s)", p.plan.changed())) {
        leader.close().await;
        return refused(ctx, &why);
    }
    let names: Vec<String> = ctx.targets.iter().map(|t| t.name.clone()).collect();
    let mut p = p;
    p.args.backup_to = a.backup_to.clone();
    let phases = p.args.phases();
    let phase_refs: Vec<&str> = phases.iter().map(String::as_str).collect();
    let m = crate::history::action_meta(&run_id);
    let mut journal = Journal::create(
        &runs_dir()?,
        &run_id,
        OPERATION,
        &m.actor,
        names,
        serde_json::to_value(&p.args)?,
        &phase_refs,
    )?;
    let mut op = Upgrade {
        ctx,
        profile,
        args: p.args,
        leader,
        meta: m,
    };
    let code = finish(ctx, &mut op, &mut journal, a.until.as_deref(), OPERATION).await;
    op.leader.close().await;
    code
}

/// `pfctl resume RUN_ID` for upgrade and rollback runs.
pub async fn resume(ctx: &Ctx, mut journal: Journal, until: Option<&str>) -> Result<i32> {
    let run_id = journal.doc.run_id.clone();
    if journal.is_complete() {
        println!("run {run_id} is complete: nothing to resume");
        return Ok(0);
    }
    let kind = journal.doc.operation.clone();
    let (args, restore) = if kind == ROLLBACK {
        let of = journal.doc.args["of"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let up = Journal::load(&runs_dir()?, &of)?;
        (
            upgrade_args(&up)?,
            journal.doc.args["restore"].as_str().map(str::to_string),
        )
    } else {
        (upgrade_args(&journal)?, None)
    };
    let profile = load_profile(ctx, Some(&args.profile))?;
    let leader = run::manager(ctx).await?;
    let up = Upgrade {
        ctx,
        profile,
        args,
        leader,
        meta: crate::history::action_meta(&run_id),
    };
    if kind == ROLLBACK {
        let mut op = Rollback { up, restore };
        let code = finish(ctx, &mut op, &mut journal, until, ROLLBACK).await;
        op.up.leader.close().await;
        code
    } else {
        let mut op = up;
        let code = finish(ctx, &mut op, &mut journal, until, OPERATION).await;
        op.leader.close().await;
        code
    }
}

fn upgrade_args(j: &Journal) -> Result<Args> {
    if j.doc.operation != OPERATION {
        bail!(
            "run {} is a {} run, not an upgrade",
            j.doc.run_id,
            j.doc.operation
        );
    }
    serde_json::from_value(j.doc.args.clone()).map_err(|e| {
        anyhow!(
            "run {}'s journal is not readable as an upgrade ({e})",
            j.doc.run_id
        )
    })
}

async fn rollback(ctx: &Ctx, of: &str, restore_data: bool, yes: bool) -> Result<i32> {
    let dir = runs_dir()?;
    let up = Journal::load(&dir, of)?;
    let args = upgrade_args(&up)?;
    let restore = if restore_data {
        match up.data("backup").and_then(|d| d["file"].as_str()) {
            Some(f) => Some(f.to_string()),
            None => {
                return refused(
                    ctx,
                    &format!("run {of} made no backup (skipped or not reached): --restore-data has nothing to restore"),
                )
            }
        }
    } else {
        None
    };
    let phases = Rollback::phases(&up, &args, restore.is_some());
    if phases.len() == 1 {
        println!("run {of} changed no service: nothing to roll back");
        return Ok(0);
    }
    if let Err(why) = confirm(yes, &format!("roll back run {of} ({})", phases.join(", "))) {
        return refused(ctx, &why);
    }
    let profile = load_profile(ctx, Some(&args.profile))?;
    let run_id = crate::history::new_run_id();
    let m = crate::history::action_meta(&run_id);
    let names: Vec<String> = ctx.targets.iter().map(|t| t.name.clone()).collect();
    let phase_refs: Vec<&str> = phases.iter().map(String::as_str).collect();
    let mut journal = Journal::create(
        &dir,
        &run_id,
        ROLLBACK,
        &m.actor,
        names,
        json!({"of": of, "restore": restore}),
        &phase_refs,
    )?;
    let leader = run::manager(ctx).await?;
    let mut op = Rollback {
        up: Upgrade {
            ctx,
            profile,
            args,
            leader,
            meta: m,
        },
        restore,
    };
    let code = finish(ctx, &mut op, &mut journal, None, ROLLBACK).await;
    op.up.leader.close().await;
    code
}

async fn finish(
    ctx: &Ctx,
    op: &mut impl crate::ops::Operation,
    journal: &mut Journal,
    until: Option<&str>,
    kind: &str,
) -> Result<i32> {
    let json_out = ctx.json_out();
    let run_id = journal.doc.run_id.clone();
    if !json_out {
        println!("{kind} run {run_id} (journal {})", journal.path().display());
        // A resumed run: what it will not redo.
        for p in journal
            .doc
            .phases
            .iter()
            .filter(|p| p.status == crate::ops::journal::PhaseStatus::Done)
        {
            println!("  {}: was done {}", p.name, p.detail);
        }
    }
    let show = |name: &str, r: Option<&PhaseReport>| {
        if json_out {
            // NDJSON progress for pipelines: one line per phase start and end.
            let line = match r {
                None => json!({"run_id": run_id, "phase": name, "event": "start"}),
                Some(r) => {
                    json!({"run_id": run_id, "phase": name, "event": r.result, "ms": r.ms, "detail": r.detail})
                }
            };
            if ctx.format == crate::output::Format::Ndjson {
                println!("{line}");
            }
            return;
        }
        println!("{}", crate::ops::phase_line(name, r));
    };
    let report = drive(op, journal, until, &show).await?;
    print_end(ctx, kind, &report);
    Ok(if report.complete || report.stopped_in.is_none() {
        0
    } else {
        EXIT_STOPPED
    })
}

fn print_end(ctx: &Ctx, kind: &str, r: &RunReport) {
    if ctx.json_out() {
        emit(ctx, json!({"run": r}));
        return;
    }
    match (&r.stopped_in, r.complete) {
        (_, true) => println!("{kind} {}: complete", r.run_id),
        (Some(p), _) => println!(
            "{kind} {}: stopped in {p}; fix what it names, then run: pfctl resume {} (or: pfctl upgrade rollback {})",
            r.run_id, r.run_id, r.run_id
        ),
        (None, _) => println!(
            "{kind} {}: paused as asked; continue with: pfctl resume {}",
            r.run_id, r.run_id
        ),
    }
}
