//! Operations as runs of named phases (the model of DESIGN.md: autocluster, upgrade, backup,
//! restore): each phase begun and finished in the run's journal, the run stopped at the first
//! failure with the phase and the reason, and continued later (`pfctl resume RUN_ID`) from the
//! first phase not done.

pub mod journal;

use anyhow::Result;
use journal::{Journal, PhaseStatus};
use serde::Serialize;
use serde_json::Value;

/// One kind of operation: what each of its phases does.
// Driven only by `drive` on the caller's own task, so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Operation {
    /// Runs phase `name`: a one-line account of what it did and the data later phases (and a
    /// resumed run) need. Phases must be idempotent: a phase that failed, or was interrupted, runs
    /// again in full on resume.
    async fn phase(&mut self, name: &str, journal: &Journal) -> Result<(String, Value)>;
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseReport {
    pub name: String,
    /// `done` (now), `was_done` (before this run: not redone), `failed`, `not_reached`.
    pub result: &'static str,
    pub detail: String,
    pub ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub operation: String,
    pub complete: bool,
    /// The phase the run stopped in, when it did not complete.
    pub stopped_in: Option<String>,
    pub phases: Vec<PhaseReport>,
    pub journal: String,
}

/// How a phase is shown on a terminal: `  name ...` as it starts, `  name: done (ms) detail` as
/// it ends.
pub fn phase_line(name: &str, r: Option<&PhaseReport>) -> String {
    match r {
        None => format!("  {name} ..."),
        Some(r) => format!(
            "  {name}: {} ({} ms) {}",
            r.result.replace('_', " "),
            r.ms,
            r.detail
        ),
    }
}

/// Runs every phase of the journal not done yet, in order; stops at the first that fails, or
/// after the phase `until` (the run stays resumable). `progress` hears of each phase as it
/// starts (name) and ends (its report).
pub async fn drive(
    op: &mut impl Operation,
    journal: &mut Journal,
    until: Option<&str>,
    progress: &dyn Fn(&str, Option<&PhaseReport>),
) -> Result<RunReport> {
    if let Some(u) = until {
        if journal.phase(u).is_none() {
            let names: Vec<&str> = journal.doc.phases.iter().map(|p| p.name.as_str()).collect();
            anyhow::bail!("--until {u}: no such phase (phases: {})", names.join(", "));
        }
    }
    let names: Vec<(String, PhaseStatus, String)> = journal
        .doc
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.status, p.detail.clone()))
        .collect();
    let mut phases = Vec::new();
    let mut stopped_in = None;
    let mut paused = false;
    for (name, status, detail) in names {
        if stopped_in.is_some() || paused {
            phases.push(PhaseReport {
                name,
                result: "not_reached",
                detail: String::new(),
                ms: 0,
            });
            continue;
        }
        if status == PhaseStatus::Done {
            phases.push(PhaseReport {
                name,
                result: "was_done",
                detail,
                ms: 0,
            });
            continue;
        }
        progress(&name, None);
        journal.begin(&name)?;
        let t = std::time::Instant::now();
        let outcome = op.phase(&name, journal).await;
        let ms = t.elapsed().as_millis() as u64;
        let report = match outcome {
            Ok((detail, data)) => {
                journal.done(&name, detail.clone(), data)?;
                PhaseReport {
                    name: name.clone(),
                    result: "done",
                    detail,
                    ms,
                }
            }
            Err(e) => {
                let why = format!("{e:#}");
                journal.fail(&name, why.clone())?;
                stopped_in = Some(name.clone());
                PhaseReport {
                    name: name.clone(),
                    result: "failed",
                    detail: why,
                    ms,
                }
            }
        };
        progress(&name, Some(&report));
        phases.push(report);
        paused = until == Some(name.as_str());
    }
    Ok(RunReport {
        run_id: journal.doc.run_id.clone(),
        operation: journal.doc.operation.clone(),
        complete: journal.is_complete(),
        stopped_in,
        phases,
        journal: journal.path().display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Counts the runs of each phase; `broken` fails until it is repaired.
    struct Counting {
        runs: Vec<String>,
        broken: Option<&'static str>,
    }

    impl Operation for Counting {
        async fn phase(&mut self, name: &str, journal: &Journal) -> Result<(String, Value)> {
            self.runs.push(name.to_string());
            if self.broken == Some(name) {
                anyhow::bail!("node3: link down");
            }
            let before = journal
                .data("one")
                .map(|d| d["n"].as_u64().unwrap_or(0))
                .unwrap_or(0);
            Ok((format!("{name} ok"), json!({"n": before + 1})))
        }
    }

    fn journal(dir: &std::path::Path) -> Journal {
        Journal::create(
            dir,
            "r1",
            "test",
            "me",
            vec![],
            Value::Null,
            &["one", "two", "three"],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_failed_phase_stops_the_run_and_a_resume_redoes_only_what_is_not_done() {
        let d = tempfile::tempdir().unwrap();
        let mut j = journal(d.path());
        let mut op = Counting {
            runs: vec![],
            broken: Some("two"),
        };
        let r = drive(&mut op, &mut j, None, &|_, _| {}).await.unwrap();
        assert!(!r.complete);
        assert_eq!(r.stopped_in.as_deref(), Some("two"));
        let results: Vec<&str> = r.phases.iter().map(|p| p.result).collect();
        assert_eq!(results, ["done", "failed", "not_reached"]);
        assert!(r.phases[1].detail.contains("link down"));

        let mut j = Journal::load(d.path(), "r1").unwrap();
        let mut op = Counting {
            runs: vec![],
            broken: None,
        };
        let r = drive(&mut op, &mut j, None, &|_, _| {}).await.unwrap();
        assert!(r.complete);
        assert_eq!(op.runs, ["two", "three"], "phase one is not redone");
        let results: Vec<&str> = r.phases.iter().map(|p| p.result).collect();
        assert_eq!(results, ["was_done", "done", "done"]);
        assert_eq!(j.phase("two").unwrap().attempts, 2);
        assert!(Journal::load(d.path(), "r1").unwrap().is_complete());
    }

    #[tokio::test]
    async fn until_stops_after_the_phase_and_the_rest_runs_on_resume() {
        let d = tempfile::tempdir().unwrap();
        let mut j = journal(d.path());
        let mut op = Counting {
            runs: vec![],
            broken: None,
        };
        let r = drive(&mut op, &mut j, Some("one"), &|_, _| {})
            .await
            .unwrap();
        assert!(!r.complete);
        assert_eq!(r.stopped_in, None, "paused, not failed");
        assert_eq!(op.runs, ["one"]);
        let r = drive(&mut op, &mut j, None, &|_, _| {}).await.unwrap();
        assert!(r.complete);
        assert_eq!(op.runs, ["one", "two", "three"]);
        let e = drive(&mut op, &mut j, Some("nine"), &|_, _| {})
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("no such phase"), "{e}");
    }
}
