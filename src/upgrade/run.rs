//! An upgrade run: the plan turned into journaled phases (gates, backup, artifacts, one phase per
//! group, new services, verify) and a rollback run that puts the journaled previous specs back,
//! group by group in reverse.
//!
//! Everything a resumed run or a rollback needs is in the journal's args, fixed when the run
//! starts: the new and the previous spec of every service. A resumed run applies exactly what
//! was planned, never a plan recomputed from a half-upgraded swarm. Specs can hold environment
//! values: the journal is written 0600 under the admin's state directory.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use pfproto::action::ActionMeta;
use pfproto::method;
use pfproto::probe::SwarmView;
use pfproto::stack::{ServiceApplyResult, ServicesInspect};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bundle;
use super::plan::{self, Current, Desired, Plan, SwarmNode, UpgradeCfg};
use crate::context::Ctx;
use crate::fanout::{self, each_node, Node, NodeError};
use crate::ops::journal::Journal;
use crate::ops::Operation;
use crate::profile::Profile;
use crate::rpc::AgentConn;
use crate::stack::swarm;

pub const OPERATION: &str = "upgrade";
pub const ROLLBACK: &str = "upgrade-rollback";
const POLL: Duration = Duration::from_millis(500);

/// Where the new specs come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A new compose file (on this machine).
    Compose { path: String },
    /// A `docker save` archive of the new images (on this machine), checked against its sha256.
    Images { path: String, sha256: String },
}

/// One service of a group as journaled: what it becomes, and what it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub service: String,
    pub new_spec: Value,
    /// `None`: a new service (rollback removes nothing; it says so).
    pub previous_spec: Option<Value>,
    pub image_to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupSteps {
    pub name: String,
    pub one_at_a_time: bool,
    pub steps: Vec<Step>,
}

/// The journal's args of an upgrade run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Args {
    pub profile: String,
    pub input: Input,
    pub allow_warn: bool,
    pub skip_backup: bool,
    /// The backup's destination when not the profile's.
    #[serde(default)]
    pub backup_to: Option<String>,
    /// Image ids the artifacts phase must find on every node: (tag, id).
    pub images: Vec<(String, String)>,
    pub groups: Vec<GroupSteps>,
    pub converge_timeout_s: u64,
}

impl Args {
    pub fn phases(&self) -> Vec<String> {
        let mut p = vec!["gates".to_string(), "backup".into(), "artifacts".into()];
        p.extend(self.groups.iter().map(|g| format!("group:{}", g.name)));
        p.push("verify".into());
        p
    }
}

/// What `upgrade plan` shows and `upgrade apply` journals.
pub struct Prepared {
    pub plan: Plan,
    pub args: Args,
}

pub fn cfg(profile: &Profile) -> UpgradeCfg {
    profile.upgrade.clone().unwrap_or_default()
}

/// Reads the swarm through `leader` and the input, and plans. Changes nothing.
pub async fn prepare(
    conn: &AgentConn,
    profile: &Profile,
    input: &Input,
    allow_warn: bool,
    skip_backup: bool,
) -> Result<Prepared> {
    let cfg = cfg(profile);
    let stack = &profile.stack;
    let current = current_services(conn, stack).await?;
    let view = swarm(conn).await?;
    let nodes: Vec<SwarmNode> = view
        .nodes
        .iter()
        .map(|n| SwarmNode {
            hostname: n.hostname.clone(),
            id: n.id.clone(),
            manager: n.role == "manager",
            leader: n.leader,
            ready: n.state == "ready",
            availability: n.availability.clone(),
        })
        .collect();
    let (desired, found_bundle) = match input {
        Input::Compose { path } => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            let files = [crate::stack::ComposeFile {
                path: path.clone(),
                text,
            }];
            let t = crate::stack::translate(stack, &files)?;
            let desired = t
                .services
                .into_iter()
                .map(|s| Desired {
                    name: s.spec["Name"].as_str().unwrap_or_default().to_string(),
                    spec: s.spec,
                })
                .collect::<Vec<_>>();
            (desired, None)
        }
        Input::Images { path, sha256 } => {
            let p = std::path::PathBuf::from(path);
            let sum = sha256.clone();
            let b = tokio::task::spawn_blocking(move || {
                bundle::inspect(&p, Some(sum.as_str()).filter(|s| !s.is_empty()))
            })
            .await
            .map_err(|e| anyhow!("checking the bundle: {e}"))??;
            let tags: Vec<String> = b.images.iter().flat_map(|i| i.tags.clone()).collect();
            (plan::retag(&current, &tags), Some(b))
        }
    };
    let plan = plan::plan(stack, &cfg, &current, &desired, &nodes)?;
    let previous = |name: &str| {
        current
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.spec.clone())
    };
    let mut groups: Vec<GroupSteps> = plan
        .groups
        .iter()
        .map(|g| GroupSteps {
            name: g.name.clone(),
            one_at_a_time: g.one_at_a_time,
            steps: g
                .services
                .iter()
                .map(|s| Step {
                    service: s.service.clone(),
                    new_spec: s.new_spec.clone(),
                    previous_spec: previous(&s.service),
                    image_to: s.image_to.clone(),
                })
                .collect(),
        })
        .collect();
    if !plan.new_services.is_empty() {
        groups.push(GroupSteps {
            name: "new".into(),
            one_at_a_time: false,
            steps: plan
                .new_services
                .iter()
                .map(|s| Step {
                    service: s.service.clone(),
                    new_spec: s.new_spec.clone(),
                    previous_spec: None,
                    image_to: s.image.clone(),
                })
                .collect(),
        });
    }
    let images = found_bundle
        .as_ref()
        .map(|b| {
            b.images
                .iter()
                .flat_map(|i| i.tags.iter().map(|t| (t.clone(), i.image_id.clone())))
                .collect()
        })
        .unwrap_or_default();
    let input = match (input, &found_bundle) {
        (Input::Images { path, .. }, Some(b)) => Input::Images {
            path: path.clone(),
            sha256: b.sha256.clone(),
        },
        (i, _) => i.clone(),
    };
    Ok(Prepared {
        plan,
        args: Args {
            profile: profile.name.clone(),
            input,
            allow_warn,
            skip_backup,
            backup_to: None,
            images,
            groups,
            converge_timeout_s: cfg.converge_timeout_s,
        },
    })
}

/// The stack's services: labelled with it, or named `<stack>_...` (services made by hand).
async fn current_services(conn: &AgentConn, stack: &str) -> Result<Vec<Current>> {
    let all: ServicesInspect = conn
        .call(method::SERVICES_INSPECT, json!({}))
        .await
        .map_err(|e| anyhow!("services.inspect: {e}"))?;
    let prefix = format!("{stack}_");
    Ok(all
        .services
        .into_iter()
        .filter(|s| {
            s.name.starts_with(&prefix)
                || s.spec["Labels"][pfproto::stack::STACK_LABEL].as_str() == Some(stack)
        })
        .map(|s| Current {
            name: s.name,
            spec: s.spec,
            version: s.version,
        })
        .collect())
}

/// The first selected node that is a reachable swarm manager, connected.
pub async fn manager(ctx: &Ctx) -> Result<Node> {
    let mut why = Vec::new();
    for t in &ctx.targets {
        let node = match fanout::connect(t, &ctx.fanout).await {
            Ok(n) => n,
            Err(e) => {
                why.push(format!("{}: {e}", t.name));
                continue;
            }
        };
        let ok = match node.agent().await {
            Ok((conn, _)) => swarm(conn).await.map(|_| ()),
            Err(e) => Err(anyhow!("{e}")),
        };
        match ok {
            Ok(()) => return Ok(node),
            Err(e) => {
                why.push(format!("{}: {e:#}", t.name));
                node.close().await;
            }
        }
    }
    bail!(
        "no selected node is a reachable swarm manager: {}",
        why.join("; ")
    )
}

/// The run's phases, over one manager's agent.
pub struct Upgrade<'a> {
    pub ctx: &'a Ctx,
    pub profile: Profile,
    pub args: Args,
    pub leader: Node,
    pub meta: ActionMeta,
}

impl Upgrade<'_> {
    async fn conn(&self) -> Result<&AgentConn> {
        let (conn, _) = self
            .leader
            .agent()
            .await
            .map_err(|e| anyhow!("{}: {e}", self.leader.target.name))?;
        Ok(conn)
    }

    async fn gates(&self) -> Result<(String, Value)> {
        let warns = crate::commands::healthcheck::gate(self.ctx, &self.profile).await?;
        if warns > 0 && !self.args.allow_warn {
            bail!(
                "the healthcheck warns ({warns}): fix it first (pfctl healthcheck shows what), or \
                 pass --allow-warn to upgrade anyway"
            );
        }
        Ok((
            format!("healthcheck clean ({warns} warning(s))"),
            json!({"warnings": warns}),
        ))
    }

    async fn backup(&self) -> Result<(String, Value)> {
        if self.args.skip_backup {
            eprintln!("pfctl: upgrade: WARNING: no backup bound to this run (--skip-backup): `upgrade rollback --restore-data` will have nothing to restore");
            return Ok(("SKIPPED (--skip-backup)".into(), json!({"skipped": true})));
        }
        let a = crate::cli::BackupCreateArgs {
            profile: Some(self.args.profile.clone()),
            dest: crate::cli::DestinationArg {
                to: self.args.backup_to.clone(),
            },
            stall_timeout: 60,
            ..Default::default()
        };
        let summary = crate::commands::backup::create_for_run(self.ctx, &a)
            .await
            .context("the backup bound to this run (or pass --skip-backup)")?;
        let file = summary["file"].as_str().unwrap_or_default().to_string();
        Ok((format!("verified backup {file}"), summary))
    }

    async fn artifacts(&self) -> Result<(String, Value)> {
        match &self.args.input {
            Input::Images { path, sha256 } => {
                // Checked again here: the file may have changed since the plan.
                let p = std::path::PathBuf::from(path);
                let sum = sha256.clone();
                tokio::task::spawn_blocking(move || bundle::inspect(&p, Some(sum.as_str())))
                    .await
                    .map_err(|e| anyhow!("checking the bundle: {e}"))??;
                let expect = &self.args.images;
                let path = std::path::Path::new(path);
                let outcomes = each_node(
                    &self.ctx.targets,
                    &self.ctx.fanout,
                    async |node| {
                        crate::images::load_file(node, path, expect)
                            .await
                            .map_err(NodeError::Other)
                    },
                    |_| {},
                )
                .await;
                let failed: Vec<String> = outcomes
                    .iter()
                    .filter_map(|o| {
                        Some(format!("{}: {}", o.target.name, o.result.as_ref().err()?))
                    })
                    .collect();
                if !failed.is_empty() {
                    bail!("the images are not on every node: {}", failed.join("; "));
                }
                Ok((
                    format!(
                        "{} image(s) loaded on {} node(s), ids verified",
                        expect.len(),
                        outcomes.len()
                    ),
                    json!({"nodes": outcomes.len()}),
                ))
            }
            Input::Compose { .. } => {
                let images: Vec<String> = self
                    .args
                    .groups
                    .iter()
                    .flat_map(|g| g.steps.iter().filter_map(|s| s.image_to.clone()))
                    .map(|i| i.split('@').next().unwrap_or_default().to_string())
                    .collect();
                let outcomes = each_node(
                    &self.ctx.targets,
                    &self.ctx.fanout,
                    async |node| {
                        let (conn, _) = node.agent().await?;
                        let list: pfproto::swarm::ImagesList = conn
                            .call(method::IMAGES_LIST, json!({ "refs": images }))
                            .await
                            .map_err(|e| NodeError::Agent(format!("images.list: {e}")))?;
                        Ok(list
                            .images
                            .into_iter()
                            .filter(|i| !i.present)
                            .map(|i| i.reference)
                            .collect::<Vec<_>>())
                    },
                    |_| {},
                )
                .await;
                let mut missing = Vec::new();
                for o in &outcomes {
                    match &o.result {
                        Ok(m) if m.is_empty() => {}
                        Ok(m) => missing.push(format!("{} lacks {}", o.target.name, m.join(", "))),
                        Err(e) => missing.push(format!("{}: {e}", o.target.name)),
                    }
                }
                if !missing.is_empty() {
                    bail!(
                        "{}: load them first (pfctl upgrade apply --images BUNDLE brings them)",
                        missing.join("; ")
                    );
                }
                Ok((
                    format!("{} image(s) present on every node", images.len()),
                    json!({"images": images}),
                ))
            }
        }
    }

    /// Applies `spec` to each service (one at a time, or all and then waits), waits for Swarm's
    /// rolling update to finish, and runs the health gate.
    async fn roll(
        &self,
        steps: &[(String, Value)],
        one_at_a_time: bool,
    ) -> Result<(String, Value)> {
        let conn = self.conn().await?;
        let timeout = Duration::from_secs(self.args.converge_timeout_s.max(1));
        let mut updated = Vec::new();
        let mut batch = Vec::new();
        for (service, spec) in steps {
            let started = crate::context::now_unix() as i64;
            let r: ServiceApplyResult = conn
                .call(
                    method::SERVICE_APPLY,
                    json!({"meta": self.meta, "spec": spec}),
                )
                .await
                .map_err(|e| anyhow!("{service}: service.apply: {e}"))?;
            if r.outcome != pfproto::stack::Applied::Unchanged {
                updated.push(service.clone());
            }
            batch.push((service.clone(), started));
            if one_at_a_time {
                wait_updated(conn, &batch, timeout, &self.meta.run_id).await?;
                batch.clear();
            }
        }
        wait_updated(conn, &batch, timeout, &self.meta.run_id).await?;
        let names: Vec<String> = steps.iter().map(|(s, _)| s.clone()).collect();
        crate::stack::converge_services(conn, &names, timeout, |_| {}).await?;
        crate::commands::healthcheck::gate(self.ctx, &self.profile)
            .await
            .context("after the group, the health gate")?;
        Ok((
            format!(
                "{} updated, {} already so; converged, healthcheck clean",
                list_or_none(&updated),
                steps.len() - updated.len()
            ),
            json!({"updated": updated}),
        ))
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Waits until Swarm says each service's update (begun at or after the time given) completed.
/// A paused or rolled-back update is an error naming the service, Swarm's message and the
/// newest task error.
async fn wait_updated(
    conn: &AgentConn,
    batch: &[(String, i64)],
    timeout: Duration,
    run_id: &str,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let names: Vec<&String> = batch.iter().map(|(n, _)| n).collect();
    let start = Instant::now();
    let ready = |v: &SwarmView| -> Vec<String> {
        v.nodes
            .iter()
            .filter(|n| n.state == "ready")
            .map(|n| n.hostname.clone())
            .collect()
    };
    let were_ready = ready(&swarm(conn).await?);
    loop {
        // A node lost mid-update: stop here, saying which, rather than wait out the timeout.
        let view = swarm(conn).await?;
        let now_ready = ready(&view);
        let lost: Vec<String> = view
            .nodes
            .iter()
            .filter(|n| were_ready.contains(&n.hostname) && !now_ready.contains(&n.hostname))
            .map(|n| format!("{} ({})", n.hostname, n.state))
            .collect();
        if !lost.is_empty() {
            let list: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            bail!(
                "node {} dropped out of the swarm during the update of {}: the run stops here. \
                 Bring it back (its Docker engine, its network; pfctl autoheal), then continue \
                 with pfctl resume {run_id}",
                lost.join(", "),
                list.join(", ")
            );
        }
        let now: ServicesInspect = conn
            .call(method::SERVICES_INSPECT, json!({ "names": names }))
            .await
            .map_err(|e| anyhow!("services.inspect: {e}"))?;
        let mut pending = Vec::new();
        for (name, since) in batch {
            let Some(s) = now.services.iter().find(|s| &s.name == name) else {
                bail!("{name} disappeared during its update");
            };
            // An older update's status may still show until this one begins (clocks: 5 s slack).
            let this_update = s.update_started_unix.is_some_and(|t| t >= since - 5);
            let state = if this_update {
                s.update_state.as_deref().unwrap_or("")
            } else {
                ""
            };
            match state {
                "completed" => {}
                "paused" | "rollback_paused" | "rollback_completed" => {
                    let task_error = last_task_error(&view, name);
                    let undone = if state.starts_with("rollback") {
                        "Swarm rolled it back to the previous spec"
                    } else {
                        "Swarm paused it"
                    };
                    bail!(
                        "{name}: the update failed and {undone} ({}){}",
                        s.update_message.as_deref().unwrap_or(state),
                        task_error
                            .map(|e| format!("; the new tasks failed with: {e}"))
                            .unwrap_or_default()
                    );
                }
                // Not begun (no change needed, or too early to tell) or still rolling.
                "" if start.elapsed() > Duration::from_secs(10) => {}
                _ => pending.push(format!(
                    "{name} {}",
                    if state.is_empty() { "starting" } else { state }
                )),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!(
                "after {} s the update is not done: {}; see `docker service ps --no-trunc` on a manager",
                timeout.as_secs(),
                pending.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn last_task_error(v: &SwarmView, service: &str) -> Option<String> {
    let s = v.services.iter().find(|s| s.name == service)?;
    s.tasks
        .iter()
        .find_map(|t| t.error.clone().filter(|e| !e.is_empty()))
}

impl Operation for Upgrade<'_> {
    async fn phase(&mut self, name: &str, _journal: &Journal) -> Result<(String, Value)> {
        match name {
            "gates" => self.gates().await,
            "backup" => self.backup().await,
            "artifacts" => self.artifacts().await,
            "verify" => {
                let conn = self.conn().await?;
                let names: Vec<String> = self
                    .args
                    .groups
                    .iter()
                    .flat_map(|g| g.steps.iter().map(|s| s.service.clone()))
                    .collect();
                let timeout = Duration::from_secs(self.args.converge_timeout_s.max(1));
                crate::stack::converge_services(conn, &names, timeout, |_| {}).await?;
                let warns = crate::commands::healthcheck::gate(self.ctx, &self.profile).await?;
                Ok((
                    format!(
                        "{} service(s) converged as planned; healthcheck clean ({warns} warning(s))",
                        names.len()
                    ),
                    json!({"services": names}),
                ))
            }
            other => {
                let group = other
                    .strip_prefix("group:")
                    .and_then(|g| self.args.groups.iter().find(|x| x.name == g))
                    .ok_or_else(|| anyhow!("an upgrade has no phase '{other}'"))?
                    .clone();
                let steps: Vec<(String, Value)> = group
                    .steps
                    .iter()
                    .map(|s| (s.service.clone(), s.new_spec.clone()))
                    .collect();
                self.roll(&steps, group.one_at_a_time).await
            }
        }
    }
}

/// Puts the previous specs of an upgrade run back, group by group in reverse.
pub struct Rollback<'a> {
    pub up: Upgrade<'a>,
    /// The backup to restore after the specs (`--restore-data`).
    pub restore: Option<String>,
}

impl Rollback<'_> {
    /// The phases: the upgrade's groups that were begun, last first; then data; then verify.
    pub fn phases(upgrade: &Journal, args: &Args, restore: bool) -> Vec<String> {
        let mut p: Vec<String> = args
            .groups
            .iter()
            .rev()
            .filter(|g| {
                upgrade
                    .phase(&format!("group:{}", g.name))
                    .is_some_and(|r| r.attempts > 0)
            })
            .map(|g| format!("group:{}", g.name))
            .collect();
        if restore {
            p.push("restore-data".into());
        }
        p.push("verify".into());
        p
    }
}

impl Operation for Rollback<'_> {
    async fn phase(&mut self, name: &str, journal: &Journal) -> Result<(String, Value)> {
        match name {
            "restore-data" => {
                let file = self.restore.clone().ok_or_else(|| {
                    anyhow!("the upgrade run made no backup (--skip-backup): nothing to restore")
                })?;
                let a = crate::cli::RestoreArgs {
                    file: file.clone(),
                    profile: Some(self.up.args.profile.clone()),
                    yes: true,
                    ..Default::default()
                };
                let code = crate::commands::restore::run(self.up.ctx, &a).await?;
                if code != 0 {
                    bail!("restoring {file} ended with exit code {code}");
                }
                Ok((format!("restored {file}"), json!({"file": file})))
            }
            "verify" => self.up.phase("verify", journal).await,
            other => {
                let group = other
                    .strip_prefix("group:")
                    .and_then(|g| self.up.args.groups.iter().find(|x| x.name == g))
                    .ok_or_else(|| anyhow!("a rollback has no phase '{other}'"))?
                    .clone();
                let mut skipped = Vec::new();
                let steps: Vec<(String, Value)> = group
                    .steps
                    .iter()
                    .rev()
                    .filter_map(|s| match &s.previous_spec {
                        Some(p) => Some((s.service.clone(), p.clone())),
                        None => {
                            skipped.push(s.service.clone());
                            None
                        }
                    })
                    .collect();
                let (detail, data) = self.up.roll(&steps, group.one_at_a_time).await?;
                let detail = if skipped.is_empty() {
                    detail
                } else {
                    format!(
                        "{detail}; new service(s) left in place: {} (docker service rm them if unwanted)",
                        skipped.join(", ")
                    )
                };
                Ok((detail, data))
            }
        }
    }
}
