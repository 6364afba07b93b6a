//! The controller's journal of one operation run (autocluster, upgrade, backup, restore): which
//! phases are done, what each found, and what the run needs to continue. Rewritten atomically
//! after every change, so a controller killed at any point leaves a journal `pfctl resume RUN_ID`
//! can continue from, without redoing what is done.
//!
//! Never holds secrets (passwords, join tokens, keys): what a resumed run needs of those it asks
//! for again (tokens from the swarm, passwords from the admin).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "pfctl-run/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    Pending,
    /// Begun and not finished: the controller stopped in it (or is in it now).
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub status: PhaseStatus,
    #[serde(default)]
    pub started_unix_ms: Option<i64>,
    #[serde(default)]
    pub ended_unix_ms: Option<i64>,
    /// One line for the report: what the phase did, or why it failed.
    #[serde(default)]
    pub detail: String,
    /// What later phases (and a resumed run) need from this one.
    #[serde(default)]
    pub data: Value,
    /// How many times the phase was begun (more than one after a resume).
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDoc {
    pub schema: String,
    pub run_id: String,
    pub operation: String,
    pub created_unix_ms: i64,
    pub actor: String,
    /// The nodes the run acts on, by inventory name; a resume must name the same.
    pub nodes: Vec<String>,
    /// The operation's own arguments, enough to continue it (never a secret).
    pub args: Value,
    pub phases: Vec<PhaseRecord>,
}

pub struct Journal {
    path: PathBuf,
    pub doc: RunDoc,
}

/// Where journals live: `<state dir>/runs/RUN_ID.json`.
pub fn runs_dir() -> Result<PathBuf> {
    let d = crate::cron::state_dir()?.join("runs");
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl Journal {
    /// A new run with every phase pending, written before anything is done.
    pub fn create(
        dir: &Path,
        run_id: &str,
        operation: &str,
        actor: &str,
        nodes: Vec<String>,
        args: Value,
        phases: &[&str],
    ) -> Result<Journal> {
        if !valid_run_id(run_id) {
            bail!("run id '{run_id}' is not a run id (letters, digits and '-')");
        }
        let j = Journal {
            path: dir.join(format!("{run_id}.json")),
            doc: RunDoc {
                schema: SCHEMA.into(),
                run_id: run_id.into(),
                operation: operation.into(),
                created_unix_ms: crate::context::now_unix_ms(),
                actor: actor.into(),
                nodes,
                args,
                phases: phases
                    .iter()
                    .map(|n| PhaseRecord {
                        name: n.to_string(),
                        status: PhaseStatus::Pending,
                        started_unix_ms: None,
                        ended_unix_ms: None,
                        detail: String::new(),
                        data: Value::Null,
                        attempts: 0,
                    })
                    .collect(),
            },
        };
        if j.path.exists() {
            bail!(
                "a journal for run {run_id} exists already: {}",
                j.path.display()
            );
        }
        j.save()?;
        Ok(j)
    }

    pub fn load(dir: &Path, run_id: &str) -> Result<Journal> {
        if !valid_run_id(run_id) {
            bail!("'{run_id}' is not a run id (letters, digits and '-')");
        }
        let path = dir.join(format!("{run_id}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no run {run_id} in {} (runs are kept where they were started: same user, same PFCTL_STATE_DIR)",
                dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc: RunDoc = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a pfctl run journal", path.display()))?;
        if doc.schema != SCHEMA {
            bail!(
                "{} is journal format {}, this pfctl reads {SCHEMA}",
                path.display(),
                doc.schema
            );
        }
        Ok(Journal { path, doc })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn save(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.doc)?;
        text.push('\n');
        crate::atomic::write_keeping_prev(&self.path, text.as_bytes(), 0o600)
            .with_context(|| format!("writing the run journal {}", self.path.display()))
    }

    fn phase_mut(&mut self, name: &str) -> Result<&mut PhaseRecord> {
        let run = self.doc.run_id.clone();
        self.doc
            .phases
            .iter_mut()
            .find(|p| p.name == name)
            .with_context(|| format!("run {run} has no phase '{name}'"))
    }

    pub fn phase(&self, name: &str) -> Option<&PhaseRecord> {
        self.doc.phases.iter().find(|p| p.name == name)
    }

    /// The first phase not done: where a run (or a resumed run) goes on.
    pub fn next(&self) -> Option<&PhaseRecord> {
        self.doc
            .phases
            .iter()
            .find(|p| p.status != PhaseStatus::Done)
    }

    pub fn is_complete(&self) -> bool {
        self.next().is_none()
    }

    pub fn begin(&mut self, name: &str) -> Result<()> {
        let p = self.phase_mut(name)?;
        p.status = PhaseStatus::Running;
        p.started_unix_ms = Some(crate::context::now_unix_ms());
        p.ended_unix_ms = None;
        p.attempts += 1;
        self.save()
    }

    pub fn done(&mut self, name: &str, detail: impl Into<String>, data: Value) -> Result<()> {
        let p = self.phase_mut(name)?;
        p.status = PhaseStatus::Done;
        p.ended_unix_ms = Some(crate::context::now_unix_ms());
        p.detail = detail.into();
        p.data = data;
        self.save()
    }

    pub fn fail(&mut self, name: &str, why: impl Into<String>) -> Result<()> {
        let p = self.phase_mut(name)?;
        p.status = PhaseStatus::Failed;
        p.ended_unix_ms = Some(crate::context::now_unix_ms());
        p.detail = why.into();
        self.save()
    }

    /// The data a done phase left for the ones after it.
    pub fn data(&self, name: &str) -> Option<&Value> {
        self.phase(name)
            .filter(|p| p.status == PhaseStatus::Done)
            .map(|p| &p.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(dir: &Path) -> Journal {
        Journal::create(
            dir,
            "abc123",
            "autocluster",
            "root@here",
            vec!["node1".into(), "node2".into()],
            json!({"workers": 0}),
            &["preflight", "swarm", "deploy"],
        )
        .unwrap()
    }

    #[test]
    fn a_resumed_run_goes_on_at_the_first_phase_not_done() {
        let d = tempfile::tempdir().unwrap();
        let mut j = new(d.path());
        assert_eq!(j.next().unwrap().name, "preflight");
        j.begin("preflight").unwrap();
        j.done("preflight", "3 nodes ready", json!({"leader": "node1"}))
            .unwrap();
        j.begin("swarm").unwrap();
        j.fail("swarm", "node2: link down").unwrap();

        let j = Journal::load(d.path(), "abc123").unwrap();
        assert_eq!(j.next().unwrap().name, "swarm");
        assert_eq!(j.next().unwrap().status, PhaseStatus::Failed);
        assert_eq!(j.data("preflight").unwrap()["leader"], "node1");
        assert!(j.data("swarm").is_none(), "a failed phase leaves no data");
        assert_eq!(j.doc.args["workers"], 0);
        assert!(!j.is_complete());
    }

    #[test]
    fn a_run_is_complete_when_every_phase_is_done_and_counts_its_attempts() {
        let d = tempfile::tempdir().unwrap();
        let mut j = new(d.path());
        for p in ["preflight", "swarm", "deploy"] {
            j.begin(p).unwrap();
            j.done(p, "", Value::Null).unwrap();
        }
        j.begin("swarm").unwrap();
        j.done("swarm", "again", Value::Null).unwrap();
        assert!(j.is_complete());
        assert_eq!(j.phase("swarm").unwrap().attempts, 2);
    }

    #[test]
    fn bad_ids_missing_runs_and_foreign_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let e = Journal::load(d.path(), "../etc/passwd").err().unwrap();
        assert!(e.to_string().contains("not a run id"), "{e}");
        let e = Journal::load(d.path(), "nope").err().unwrap();
        assert!(e.to_string().contains("no run nope"), "{e}");
        std::fs::write(d.path().join("junk.json"), "{\"x\": 1}").unwrap();
        let e = format!("{:#}", Journal::load(d.path(), "junk").err().unwrap());
        assert!(e.contains("not a pfctl run journal"), "{e}");
        let _ = new(d.path());
        let e = Journal::create(d.path(), "abc123", "x", "y", vec![], Value::Null, &["a"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("exists already"), "{e}");
    }
}
