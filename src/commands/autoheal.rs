//! `pfctl autoheal`: healthcheck, a plan from what fails, the plan shown, applied one action at a
//! time (after asking), the checks run again, and each action reported as fixed, not fixed,
//! skipped or failed. The agents audit every action they perform.

use super::healthcheck::{evaluate, load_profile, Evaluation};
use crate::checks::Finding;
use crate::cli::AutohealArgs;
use crate::context::{now_unix_ms, Ctx};
use crate::heal::{self, Action, Plan, Remedy, Scope};
use crate::output::Format;
use crate::report::{Status, Summary, SCHEMA};
use crate::rpc::AgentConn;
use anyhow::Result;
use base64::Engine as _;
use pfproto::action::*;
use pfproto::method;
use pfproto::probe::{FileRead, FilesReadParams, SwarmView};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Exit code when the plan was not applied for want of a confirmation.
const EXIT_REFUSED: i32 = 2;
/// How long one action's call may take on its node.
const ACTION_DEADLINE: Duration = Duration::from_secs(30);
/// How long a swarm change may take to converge before the health gate gives up.
const GATE: Duration = Duration::from_secs(45);

#[derive(Debug, Serialize)]
struct Outcome {
    id: String,
    /// `fixed`, `not_fixed`, `skipped`, `failed`.
    result: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    evidence: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    done: Value,
}

struct Doc<'a> {
    run_id: &'a str,
    dry_run: bool,
    refused: Option<String>,
    plan: &'a Plan,
    outcomes: Vec<Outcome>,
    findings: &'a [Finding],
    timings: Value,
}

pub async fn run(ctx: &Ctx, args: &AutohealArgs, owner_only: bool) -> Result<i32> {
    let opts = &args.opts;
    let profile = load_profile(ctx, args.profile.as_ref())?;
    let run_id = crate::history::new_run_id();
    let meta = crate::history::action_meta(&run_id);
    let json_out = matches!(ctx.format, Format::Json | Format::Ndjson);
    let t0 = Instant::now();
    let before = evaluate(ctx, &profile, &|_| {}).await;
    let t_eval = t0.elapsed();

    let unhealthy = unhealthy(&before);
    let total = before.outcomes.len();
    if unhealthy.len() * 2 > total {
        let why = format!(
            "{} of {total} nodes unreachable or without a working agent or engine ({}): the circuit breaker \
             refuses to act on a cluster in this state",
            unhealthy.len(),
            unhealthy.join(", ")
        );
        if !opts.force {
            let msg = format!("{why}; pass --force to act anyway");
            eprintln!("pfctl: autoheal: {msg}");
            let plan = Plan::default();
            emit_end(
                json_out,
                Doc {
                    run_id: &run_id,
                    dry_run: opts.dry_run,
                    refused: Some(msg),
                    plan: &plan,
                    outcomes: vec![],
                    findings: &before.findings,
                    timings: Value::Null,
                },
            );
            before.close().await;
            return Ok(worst(&before.findings).max(Status::Fail.exit_code()));
        }
        eprintln!("pfctl: autoheal: WARNING --force: {why}; acting anyway");
    }

    let scope = if owner_only {
        Scope::OwnerOnly
    } else {
        Scope::All
    };
    let plan = heal::plan(&before.findings, &before.reachable(), &profile, opts, scope);
    if !json_out {
        print_plan(&run_id, &plan);
    }
    if opts.dry_run || plan.actions.is_empty() {
        if !json_out {
            println!(
                "{}",
                if opts.dry_run {
                    "dry run: nothing changed"
                } else {
                    "nothing to apply"
                }
            );
        }
        emit_end(
            json_out,
            Doc {
                run_id: &run_id,
                dry_run: opts.dry_run,
                refused: None,
                plan: &plan,
                outcomes: vec![],
                findings: &before.findings,
                timings: Value::Null,
            },
        );
        before.close().await;
        return Ok(worst(&before.findings));
    }
    if let Some(msg) = ask(opts.yes, plan.actions.len().min(opts.max_actions)) {
        eprintln!("pfctl: autoheal: {msg}");
        emit_end(
            json_out,
            Doc {
                run_id: &run_id,
                dry_run: false,
                refused: Some(msg),
                plan: &plan,
                outcomes: vec![],
                findings: &before.findings,
                timings: Value::Null,
            },
        );
        before.close().await;
        return Ok(EXIT_REFUSED);
    }

    // Agents first: a node without one had none of its own checks run, so once the new agents
    // answer the cluster is checked again and the rest of the plan is made from what that finds.
    let mut before = before;
    let mut plan = plan;
    let mut outcomes = Vec::new();
    let mut installed: Vec<(Action, Value)> = Vec::new();
    let installs: Vec<Action> = plan
        .actions
        .iter()
        .take(opts.max_actions)
        .filter(|a| matches!(a.remedy, Remedy::InstallAgent))
        .cloned()
        .collect();
    for a in &installs {
        if !json_out {
            println!("applying {}: {}", a.id, a.what);
        }
        match apply(ctx, &before, a, &meta).await {
            Ok(done) => installed.push((a.clone(), done)),
            Err(e) => outcomes.push(failed(a, e)),
        }
    }
    if !installed.is_empty() {
        before.close().await;
        before = evaluate(ctx, &profile, &|_| {}).await;
        let mut again = heal::plan(&before.findings, &before.reachable(), &profile, opts, scope);
        again
            .actions
            .retain(|a| !matches!(a.remedy, Remedy::InstallAgent));
        for (i, a) in again.actions.iter_mut().enumerate() {
            a.id = format!("A{}", installs.len() + i + 1);
        }
        if !json_out {
            println!("agents answer again; the plan for the rest, from a fresh check:");
            print_plan(&run_id, &again);
        }
        let budget = opts.max_actions.saturating_sub(installs.len());
        let refused = match again.actions.len().min(budget) {
            0 => None,
            n => ask(opts.yes, n),
        };
        again.actions.splice(0..0, installs.iter().cloned());
        plan = again;
        if let Some(msg) = refused {
            eprintln!("pfctl: autoheal: {msg} (beyond the agent installs)");
            for (a, done) in installed {
                outcomes.push(verify(&a, &before.findings, done, false));
            }
            emit_end(
                json_out,
                Doc {
                    run_id: &run_id,
                    dry_run: false,
                    refused: Some(msg),
                    plan: &plan,
                    outcomes,
                    findings: &before.findings,
                    timings: Value::Null,
                },
            );
            before.close().await;
            return Ok(EXIT_REFUSED);
        }
    }

    let t1 = Instant::now();
    let mut applied: Vec<(&Action, Value, bool)> = Vec::new();
    let mut gate_closed: Option<String> = None;
    // A Couchbase rebalance applies the Couchbase changes before it: not after one failed.
    let mut couchbase_failed: Option<String> = None;
    let mut swarm_changed = false;
    for (i, a) in plan.actions.iter().enumerate() {
        if i >= opts.max_actions {
            outcomes.push(skipped(
                a,
                format!("over --max-actions {}", opts.max_actions),
            ));
            continue;
        }
        if matches!(a.remedy, Remedy::InstallAgent) {
            continue; // done above, first
        }
        if let (true, Some(why)) = (a.disruptive, &gate_closed) {
            outcomes.push(skipped(a, why.clone()));
            continue;
        }
        if let (Remedy::CouchbasePost { .. }, true, Some(why)) =
            (&a.remedy, a.disruptive, &couchbase_failed)
        {
            outcomes.push(skipped(a, why.clone()));
            continue;
        }
        if !json_out {
            println!("applying {}: {}", a.id, a.what);
        }
        match apply(ctx, &before, a, &meta).await {
            Ok(done) => {
                if let Remedy::Replicas { .. }
                | Remedy::Restart { .. }
                | Remedy::Pin { .. }
                | Remedy::Activate { .. } = a.remedy
                {
                    swarm_changed = true;
                }
                if matches!(&a.remedy, Remedy::Compose { updates, .. } if !updates.is_empty()) {
                    swarm_changed = true;
                }
                // Disruptive changes one at a time: the next waits until this one has converged.
                let mut converged = false;
                if a.disruptive {
                    match gate(&before, a).await {
                        Ok(()) => converged = true,
                        Err(e) => {
                            gate_closed = Some(format!("health gate closed after {}: {e}", a.id))
                        }
                    }
                }
                applied.push((a, done, converged));
            }
            Err(e) => {
                if matches!(a.remedy, Remedy::CouchbasePost { .. }) {
                    couchbase_failed.get_or_insert(format!(
                        "not started: the Couchbase change {} failed",
                        a.id
                    ));
                }
                outcomes.push(failed(a, e))
            }
        }
    }
    if swarm_changed {
        settle(&before, &profile).await;
    }
    before.close().await;
    let t_apply = t1.elapsed();

    let t2 = Instant::now();
    let after = evaluate(ctx, &profile, &|_| {}).await;
    let t_verify = t2.elapsed();
    for (a, done) in &installed {
        outcomes.push(verify(a, &after.findings, done.clone(), false));
    }
    for (a, done, converged) in applied {
        outcomes.push(verify(a, &after.findings, done, converged));
    }
    outcomes.sort_by_key(|o| o.id[1..].parse::<usize>().unwrap_or(0));
    let timings = json!({
        "evaluate_ms": t_eval.as_millis() as u64,
        "apply_ms": t_apply.as_millis() as u64,
        "verify_ms": t_verify.as_millis() as u64,
    });
    if !json_out {
        print_outcomes(&outcomes, &after.findings);
    }
    let code = worst(&after.findings);
    emit_end(
        json_out,
        Doc {
            run_id: &run_id,
            dry_run: false,
            refused: None,
            plan: &plan,
            outcomes,
            findings: &after.findings,
            timings,
        },
    );
    after.close().await;
    Ok(code)
}

fn worst(findings: &[Finding]) -> i32 {
    Status::worst(findings.iter().map(|f| f.status)).exit_code()
}

/// Nodes the circuit breaker counts against acting: not reached, no agent, or no engine.
fn unhealthy(ev: &Evaluation) -> Vec<String> {
    ev.outcomes
        .iter()
        .filter(|o| match &o.result {
            Err(_) => true,
            Ok(obs) => !obs.facts.as_ref().is_ok_and(|f| f.docker.reachable),
        })
        .map(|o| o.target.name.clone())
        .collect()
}

/// None to go ahead; else why not: no confirmation (a terminal asks; without one, `--yes` is needed).
fn ask(yes: bool, count: usize) -> Option<String> {
    if yes {
        return None;
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return Some(
            "no terminal to ask for confirmation: nothing changed; pass --yes to apply the plan"
                .into(),
        );
    }
    let go = dialoguer::Confirm::new()
        .with_prompt(format!("Apply these {count} action(s)?"))
        .default(false)
        .interact()
        .unwrap_or(false);
    (!go).then(|| "not confirmed: nothing changed".to_string())
}

fn failed(a: &Action, why: String) -> Outcome {
    Outcome {
        id: a.id.clone(),
        result: "failed",
        detail: why,
        evidence: Value::Null,
        done: Value::Null,
    }
}

fn skipped(a: &Action, why: String) -> Outcome {
    Outcome {
        id: a.id.clone(),
        result: "skipped",
        detail: why,
        evidence: Value::Null,
        done: Value::Null,
    }
}

async fn conn<'a>(ev: &'a Evaluation, node: &str) -> Result<&'a AgentConn, String> {
    ev.conn(node)
        .await
        .ok_or_else(|| format!("{node}: no agent connection"))
}

async fn call<T: serde::de::DeserializeOwned + Serialize>(
    conn: &AgentConn,
    method: &str,
    params: impl Serialize,
) -> Result<T, String> {
    let params = serde_json::to_value(params).map_err(|e| e.to_string())?;
    match tokio::time::timeout(ACTION_DEADLINE, conn.call::<T>(method, params)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "{method}: no answer within {}s",
            ACTION_DEADLINE.as_secs()
        )),
    }
}

async fn update_service(
    ev: &Evaluation,
    node: &str,
    p: ServiceUpdateParams,
) -> Result<Value, String> {
    let r: ServiceUpdate = call(conn(ev, node).await?, method::SERVICE_UPDATE, p).await?;
    Ok(json!(r))
}

/// Performs one action; the answer (before and after state) goes into the report.
async fn apply(ctx: &Ctx, ev: &Evaluation, a: &Action, meta: &ActionMeta) -> Result<Value, String> {
    let meta = meta.clone();
    match &a.remedy {
        Remedy::CouchbasePost { url, form, cfg } => {
            let c = conn(ev, &a.node).await?;
            heal::couchbase::apply(c, meta, url, form, cfg).await
        }
        Remedy::InstallAgent => {
            let node = ev
                .node(&a.node)
                .ok_or_else(|| format!("{}: not reached over SSH", a.node))?;
            let before = json!({"problem": a.reason});
            let shared = ctx.fanout.overrides.password.as_ref();
            super::agent::reinstall(node, shared, &meta, before).await
        }
        Remedy::OpenPorts { ports } => {
            let c = conn(ev, &a.node).await?;
            let r = crate::firewall::open_on(c, meta, ports)
                .await
                .map_err(|e| format!("{}: {e}", a.node))?;
            Ok(json!(r))
        }
        Remedy::TimeSync => {
            let c = conn(ev, &a.node).await?;
            let r: TimeSync = call(c, method::HOST_TIMESYNC, TimeSyncParams { meta })
                .await
                .map_err(|e| format!("{}: {e}", a.node))?;
            Ok(json!(r))
        }
        Remedy::RemoveContainers { ids } => {
            let c = conn(ev, &a.node).await?;
            let r: ContainersRemove = call(
                c,
                method::CONTAINERS_REMOVE,
                ContainersRemoveParams {
                    meta,
                    ids: ids.clone(),
                },
            )
            .await?;
            if !r.refused.is_empty() && r.removed.is_empty() {
                return Err(format!("nothing removed: {:?}", r.refused));
            }
            Ok(json!(r))
        }
        Remedy::Replicas { service, replicas } => {
            let p = ServiceUpdateParams {
                meta,
                service: service.clone(),
                replicas: Some(*replicas),
                ..Default::default()
            };
            update_service(ev, &a.node, p).await
        }
        Remedy::Restart { service } => {
            let p = ServiceUpdateParams {
                meta,
                service: service.clone(),
                force: true,
                ..Default::default()
            };
            update_service(ev, &a.node, p).await
        }
        Remedy::Pin {
            service,
            constraints,
            ..
        } => {
            let p = ServiceUpdateParams {
                meta,
                service: service.clone(),
                constraints: Some(constraints.clone()),
                ..Default::default()
            };
            update_service(ev, &a.node, p).await
        }
        Remedy::Activate { hostname } => {
            let c = conn(ev, &a.node).await?;
            let p = NodeAvailabilityParams {
                meta,
                node: hostname.clone(),
                availability: "active".into(),
            };
            let r: NodeAvailability = call(c, method::NODE_AVAILABILITY, p).await?;
            Ok(json!(r))
        }
        Remedy::Mode { path } => {
            let c = conn(ev, &a.node).await?;
            let p = FileModeParams {
                meta,
                path: path.clone(),
                mode: heal::SECRET_MODE,
                uid: 0,
                gid: 0,
            };
            let r: FileMode = call(c, method::FILES_MODE, p).await?;
            Ok(json!(r))
        }
        Remedy::Sync {
            path,
            source,
            source_sha256,
            expect_sha256,
            mode,
            uid,
            gid,
            secret,
        } => {
            let src = conn(ev, source).await?;
            let read: FileRead = call(
                src,
                method::FILES_READ,
                FilesReadParams {
                    path: path.clone(),
                    keys: None,
                    private: *secret,
                },
            )
            .await?;
            let content = match (read.content, read.error) {
                (Some(c), _) => c,
                (None, e) => {
                    return Err(format!(
                        "reading {path} on {source}: {}",
                        e.as_deref().unwrap_or("missing")
                    ))
                }
            };
            // The source may have changed since it was checked: never spread an unchecked copy.
            if heal::sha256_hex(content.as_bytes()) != *source_sha256 {
                return Err(format!(
                    "{path} on {source} changed since the check: run autoheal again"
                ));
            }
            let c = conn(ev, &a.node).await?;
            let p = FileWriteParams {
                meta,
                path: path.clone(),
                content_b64: base64::engine::general_purpose::STANDARD.encode(content.as_bytes()),
                mode: *mode,
                uid: *uid,
                gid: *gid,
                expect_sha256: expect_sha256.clone(),
                any_previous: false,
                make_dirs: false,
            };
            let r: FileWrite = call(c, method::FILES_WRITE, p).await?;
            Ok(json!(r))
        }
        Remedy::Compose {
            path,
            expect_sha256,
            content,
            nodes,
            manager,
            updates,
        } => {
            // Every node's copy is checked against the planned hash before any is written, so a
            // change made meanwhile on one node stops the whole rewrite.
            let mut conns = Vec::new();
            for n in nodes {
                let c = conn(ev, n).await?;
                let st: pfproto::probe::FilesStat = call(
                    c,
                    method::FILES_STAT,
                    pfproto::probe::FilesStatParams {
                        paths: vec![path.clone()],
                    },
                )
                .await?;
                let s = st.files.into_iter().next().unwrap_or_default();
                if s.sha256.as_deref() != Some(expect_sha256.as_str()) {
                    return Err(format!("{path} on {n} changed since the check: nothing written; run autoheal again"));
                }
                conns.push((n, c, s));
            }
            let mut done = Vec::new();
            for (n, c, s) in conns {
                let p = FileWriteParams {
                    meta: meta.clone(),
                    path: path.clone(),
                    content_b64: base64::engine::general_purpose::STANDARD
                        .encode(content.as_bytes()),
                    mode: s.mode,
                    uid: s.uid,
                    gid: s.gid,
                    expect_sha256: Some(expect_sha256.clone()),
                    any_previous: false,
                    make_dirs: false,
                };
                let r: FileWrite = call(c, method::FILES_WRITE, p)
                    .await
                    .map_err(|e| format!("{n}: {e} (written before: {})", done.len()))?;
                done.push(json!({"node": n, "write": r}));
            }
            compose_updates(ev, path, manager, updates, &meta, &mut done).await?;
            Ok(Value::Array(done))
        }
    }
}

/// After a compose rewrite, the running services are brought to what the file now says (see
/// heal::compose). A failure here leaves the file written: the error says what to run by hand,
/// since the compose check passes now and the next autoheal would not plan it again.
async fn compose_updates(
    ev: &Evaluation,
    path: &str,
    manager: &str,
    updates: &[ServiceUpdateParams],
    meta: &ActionMeta,
    done: &mut Vec<Value>,
) -> Result<(), String> {
    for u in updates {
        let p = ServiceUpdateParams {
            meta: meta.clone(),
            ..u.clone()
        };
        let by_hand = || {
            let mut cmd = String::from("docker service update");
            if let Some(n) = u.replicas {
                cmd.push_str(&format!(" --replicas {n}"));
            }
            if let Some(m) = u.max_replicas_per_node {
                cmd.push_str(&format!(" --replicas-max-per-node {m}"));
            }
            if let Some(e) = &u.env {
                cmd.push_str(&format!(" --env-add '{}={}'", e.name, e.value));
            }
            format!("{cmd} {}", u.service)
        };
        let r: ServiceUpdate = call(conn(ev, manager).await?, method::SERVICE_UPDATE, p)
            .await
            .map_err(|e| {
                format!(
                    "{path} is written on every node, but updating {} on {manager} failed: {e}; run `{}` on a manager",
                    u.service,
                    by_hand()
                )
            })?;
        // An agent from before `env` existed ignores it and answers without the variable.
        if u.env.is_some() && r.after.env.is_none() {
            return Err(format!(
                "{path} is written on every node, but the agent on {manager} does not set environment variables (upgrade it: pfctl agent install); run `{}` on a manager",
                by_hand()
            ));
        }
        done.push(json!({"node": manager, "service_update": r}));
    }
    Ok(())
}

async fn swarm(ev: &Evaluation, manager: &str) -> Result<SwarmView, String> {
    let c = conn(ev, manager).await?;
    call(c, method::SWARM_INSPECT, Value::Null).await
}

/// A service's desired replicas and its tasks meant to run and running: (node id, status time).
type Live = (Option<u64>, Vec<(String, i64)>);

fn live(view: &SwarmView, service: &str) -> Option<Live> {
    let s = view.services.iter().find(|s| s.name == service)?;
    let tasks = s
        .tasks
        .iter()
        .filter(|t| t.desired_state == "running" && t.state == "running")
        .map(|t| (t.node_id.clone(), t.timestamp_unix))
        .collect();
    Some((s.desired, tasks))
}

/// Waits until a disruptive swarm change has converged.
async fn gate(ev: &Evaluation, a: &Action) -> Result<(), String> {
    if matches!(a.remedy, Remedy::CouchbasePost { .. }) {
        // Not a swarm change: the healthcheck after the run shows the rebalance done or running.
        return Ok(());
    }
    let since = now_unix_ms() / 1000 - 1;
    let start = Instant::now();
    loop {
        let view = swarm(ev, &a.node).await?;
        let ok = match &a.remedy {
            Remedy::Restart { service } => live(&view, service).is_some_and(|(d, t)| {
                d.is_none_or(|d| t.len() as u64 == d)
                    && !t.is_empty()
                    && t.iter().all(|(_, ts)| *ts >= since)
            }),
            Remedy::Pin {
                service, node_id, ..
            } => live(&view, service).is_some_and(|(d, t)| {
                d.is_none_or(|d| t.len() as u64 == d) && t.iter().all(|(n, _)| n == node_id)
            }),
            _ => true,
        };
        if ok {
            return Ok(());
        }
        if start.elapsed() > GATE {
            return Err(format!("not converged within {} s", GATE.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// After swarm changes, waits (bounded) for the profile's services to run as asked, so the
/// re-check sees the result rather than the swarm midway.
async fn settle(ev: &Evaluation, profile: &crate::profile::Profile) {
    let Some((manager, _)) = heal::manager_view(&ev.reachable()) else {
        return;
    };
    let start = Instant::now();
    while start.elapsed() < GATE {
        let Ok(view) = swarm(ev, &manager).await else {
            return;
        };
        let done = profile.services.iter().all(|e| {
            live(&view, &e.name).is_none_or(|(d, t)| d.is_none_or(|d| t.len() as u64 >= d))
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Fixed when the check the action answers passes again, or no longer names the action's subject.
/// A restart-loop check keeps failing for a minute after any fix (it wants 60 s of stable
/// running), so a restart is fixed when every task was replaced and runs.
fn verify(a: &Action, after: &[Finding], done: Value, converged: bool) -> Outcome {
    let f = after
        .iter()
        .find(|f| f.id == a.check && f.node == a.check_node);
    let restarted = converged && a.check == "stack.restart_loop";
    // A copied file is fixed when its node now sits in the source's hash group.
    let synced = match (&a.remedy, f) {
        (Remedy::Sync { path, source, .. }, Some(f)) => {
            f.evidence[path.as_str()].as_object().map(|groups| {
                groups.values().any(|ns| {
                    let ns: Vec<&str> = ns
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    ns.contains(&a.node.as_str()) && ns.contains(&source.as_str())
                })
            })
        }
        _ => None,
    };
    let (result, detail, evidence) = match f {
        Some(f) if synced == Some(true) => (
            "fixed",
            format!("{} on {} now matches the source ({} {}: {})", a.subject, a.node, f.id, f.status.word(), f.message),
            Value::Null,
        ),
        Some(f) if synced == Some(false) => (
            "not_fixed",
            format!("{} on {} still differs from the source: {}", a.subject, a.node, f.message),
            f.evidence.clone(),
        ),
        Some(f) if restarted && !matches!(f.status, Status::Ok | Status::Skip) => (
            "fixed",
            format!(
                "every task replaced and running; {} {} clears after 60 s of stable running (now: {})",
                f.id, f.node, f.message
            ),
            Value::Null,
        ),
        None => ("not_fixed", format!("{} did not run again on {}", a.check, a.check_node), Value::Null),
        Some(f) if matches!(f.status, Status::Ok | Status::Skip) => ("fixed", format!("{} {}: {}", f.id, f.node, f.message), Value::Null),
        Some(f) if !a.subject.is_empty() && !f.message.contains(&a.subject) => (
            "fixed",
            format!("{} {} no longer names it (still {}: {})", f.id, f.node, f.status.word(), f.message),
            Value::Null,
        ),
        Some(f) => ("not_fixed", format!("{} {} still {}: {}", f.id, f.node, f.status.word(), f.message), f.evidence.clone()),
    };
    Outcome {
        id: a.id.clone(),
        result,
        detail,
        evidence,
        done,
    }
}

fn print_plan(run_id: &str, plan: &Plan) {
    println!(
        "autoheal plan (run {run_id}): {} action(s), {} manual",
        plan.actions.len(),
        plan.manual.len()
    );
    for a in &plan.actions {
        let kind = if a.disruptive { "disruptive" } else { "safe" };
        println!("  {} [{kind}] on {}: {}", a.id, a.node, a.what);
        println!("      why: {}", a.reason);
        println!("      expect: {}", a.effect);
    }
    for d in &plan.deferred {
        println!(
            "  waits: {} {}: {} ({})",
            d.check, d.node, d.problem, d.recipe
        );
    }
    if !plan.manual.is_empty() {
        println!("manual (no safe automatic fix):");
        for m in &plan.manual {
            let r = if m.reference.is_empty() {
                String::new()
            } else {
                format!(" [reference {}]", m.reference)
            };
            println!("  - {} {}: {}", m.check, m.node, m.problem);
            println!("      {}{r}", m.recipe);
        }
    }
}

fn print_outcomes(outcomes: &[Outcome], after: &[Finding]) {
    println!("outcome:");
    for o in outcomes {
        println!("  {} {}: {}", o.id, o.result.replace('_', " "), o.detail);
    }
    let left: Vec<&Finding> = after
        .iter()
        .filter(|f| !matches!(f.status, Status::Ok | Status::Skip))
        .collect();
    if left.is_empty() {
        println!("healthcheck after: all checks pass");
    } else {
        println!("healthcheck after: {} problem(s) left", left.len());
        for f in left {
            println!("  {} {} {}: {}", f.id, f.node, f.status.word(), f.message);
        }
    }
}

fn emit_end(json_out: bool, doc: Doc) {
    if !json_out {
        return;
    }
    let results: Vec<_> = doc
        .findings
        .iter()
        .cloned()
        .map(Finding::into_result)
        .collect();
    let status = Status::worst(results.iter().map(|r| r.status));
    let out = json!({
        "schema": SCHEMA,
        "action": "autoheal",
        "run_id": doc.run_id,
        "dry_run": doc.dry_run,
        "status": status,
        "refused": doc.refused,
        "plan": doc.plan.actions,
        "manual": doc.plan.manual,
        "deferred": doc.plan.deferred,
        "outcomes": doc.outcomes,
        "timings_ms": doc.timings,
        "summary": Summary::of(&results),
        "results": results,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
