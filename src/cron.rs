//! `pfctl healthcheck --cron`: made for crontabs. No prompts, no colour, no progress; one run at
//! a time per cluster (a lock file); a `last-run.json` status file; and silence unless something
//! is wrong or changed, so cron mails only what needs reading.

use crate::cli::{Cli, Command, HealthArgs, LegacyKind};
use crate::context::{now_unix_ms, Ctx};
use crate::notify;
use crate::output::{self, utc, Emitter, Format};
use crate::report::{Report, Status};
use anyhow::{bail, Context, Result};
use fs4::fs_std::FileExt;
use serde_json::{json, Value};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// EX_TEMPFAIL: another run holds the lock; trying again later is the remedy.
pub const EXIT_BUSY: i32 = 75;

fn health_args(cli: &Cli) -> Option<&HealthArgs> {
    match &cli.command {
        Command::Healthcheck(a) => Some(a),
        Command::NodeAction(a) | Command::ClusterAction(a)
            if a.action == LegacyKind::Healthcheck =>
        {
            Some(&a.health)
        }
        _ => None,
    }
}

/// Settles the global options before anything could prompt or draw: `--cron` means quiet, plain
/// text unless `-o` says otherwise, no colour, and no password prompt.
pub fn prepare(cli: &mut Cli) -> Result<()> {
    let Some(args) = health_args(cli) else {
        return Ok(());
    };
    if let Some(url) = &args.notify {
        notify::check_url(url)?;
    }
    if !args.cron {
        return Ok(());
    }
    let g = &mut cli.global;
    if g.ask_pass {
        bail!("--cron never prompts, so --ask-pass cannot be used: set PFCTL_PASSWORD or use keys");
    }
    if g.output == Some(Format::Ndjson) {
        bail!("--cron prints only when something is wrong or changed, which ndjson cannot know while it streams: use -o json");
    }
    g.quiet = true;
    g.output.get_or_insert(Format::Plain);
    output::disable_colour();
    Ok(())
}

/// `$PFCTL_STATE_DIR`, else `$XDG_STATE_HOME/pfctl`, else `~/.local/state/pfctl`; created 0700.
pub fn state_dir() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = match (
        var("PFCTL_STATE_DIR"),
        var("XDG_STATE_HOME").filter(|p| p.is_absolute()),
        var("HOME"),
    ) {
        (Some(d), _, _) => d,
        (None, Some(x), _) => x.join("pfctl"),
        (None, None, Some(h)) => h.join(".local/state/pfctl"),
        (None, None, None) => bail!("no state directory: set PFCTL_STATE_DIR or HOME"),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    Ok(dir)
}

/// Cluster names become file names.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect()
}

/// A run under way: for `--cron`, the lock it holds and where its status file goes.
pub struct Run {
    cron: Option<CronRun>,
}

struct CronRun {
    /// Held (flock) for as long as this value lives.
    _lock: File,
    status_dir: PathBuf,
    started_unix_ms: i64,
    finished: bool,
}

/// What the lock file says about its holder, for the message of the run that has to give way.
fn holder(lock_path: &Path) -> String {
    let info: Option<Value> = fs::read_to_string(lock_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    match info {
        Some(v) => format!(
            "pid {}, started {}",
            v["pid"],
            v["started_unix_ms"].as_i64().map(utc).unwrap_or("?".into())
        ),
        None => "holder unknown".into(),
    }
}

/// Takes the cluster's lock for `--cron` (waiting up to `--lock-wait`). `None`: another run
/// holds it, which has been said on stderr; exit with [`EXIT_BUSY`].
pub async fn begin(ctx: &Ctx, args: &HealthArgs) -> Result<Option<Run>> {
    if !args.cron {
        return Ok(Some(Run { cron: None }));
    }
    let dir = state_dir()?;
    let name = file_safe(ctx.cluster.as_deref().unwrap_or("adhoc"));
    let lock_path = dir.join(format!("healthcheck-{name}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file {}", lock_path.display()))?;
    let waited = Instant::now();
    let deadline = waited + Duration::from_secs(args.lock_wait);
    loop {
        let locked = FileExt::try_lock_exclusive(&file)
            .with_context(|| format!("locking {}", lock_path.display()))?;
        if locked {
            break;
        }
        if Instant::now() >= deadline {
            let after = match args.lock_wait {
                0 => String::new(),
                s => format!(" after waiting {s}s"),
            };
            eprintln!(
                "pfctl: another healthcheck --cron run holds the lock {} ({}); giving up{after}",
                lock_path.display(),
                holder(&lock_path)
            );
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started_unix_ms = now_unix_ms();
    let me = json!({"pid": std::process::id(), "started_unix_ms": started_unix_ms});
    file.set_len(0)
        .and_then(|_| writeln!(file, "{me}"))
        .and_then(|_| file.flush())
        .with_context(|| format!("writing {}", lock_path.display()))?;
    let status_dir = dir.join(format!("healthcheck-{name}"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&status_dir)
        .with_context(|| format!("creating {}", status_dir.display()))?;
    Ok(Some(Run {
        cron: Some(CronRun {
            _lock: file,
            status_dir,
            started_unix_ms,
            finished: false,
        }),
    }))
}

impl Run {
    /// Prints the report (under `--cron` only when it is not ok or something changed), notifies,
    /// writes `last-run.json` and returns the exit code. Notifying never changes the exit code.
    pub async fn finish(
        mut self,
        ctx: &Ctx,
        args: &HealthArgs,
        emitter: &Emitter,
        report: &Report,
    ) -> i32 {
        emitter.finish();
        let changed = report.changes.as_ref().is_some_and(|c| !c.is_empty());
        let speak = self.cron.is_none() || report.status != Status::Ok || changed;
        if speak {
            print!("{}", output::render(report, ctx.format));
            let _ = std::io::stdout().flush();
        }
        let notified = match &args.notify {
            Some(url) if speak => {
                let body = serde_json::to_vec(report).unwrap_or_default();
                Some(notify::send(url, body).await)
            }
            _ => None,
        };
        if let Some(cron) = &mut self.cron {
            let problems: Vec<Value> = report
                .results
                .iter()
                .filter(|r| matches!(r.status, Status::Warn | Status::Fail | Status::Unknown))
                .map(|r| json!({"check": r.check, "node": r.node, "status": r.status, "message": r.message}))
                .collect();
            let finished = now_unix_ms();
            cron.write_last_run(json!({
                "schema": crate::report::SCHEMA,
                "run_id": report.run_id,
                "cluster": ctx.cluster,
                "started_unix_ms": report.started_unix_ms,
                "started": utc(report.started_unix_ms),
                "finished_unix_ms": finished,
                "finished": utc(finished),
                "status": report.status,
                "exit_code": report.exit_code(),
                "summary": report.summary,
                "problems": problems,
                "changes": report.changes,
                "printed": speak,
                "notify": notified,
            }));
        }
        report.exit_code()
    }
}

impl CronRun {
    /// Atomically replaces `last-run.json`, keeping the one before as `last-run.json.prev`.
    /// A status file that cannot be written is said on stderr; the run's verdict stands.
    fn write_last_run(&mut self, doc: Value) {
        self.finished = true;
        let path = self.status_dir.join("last-run.json");
        if let Err(e) = write_keeping_prev(&path, &doc) {
            eprintln!("pfctl: cannot write {}: {e}", path.display());
        }
    }
}

impl Drop for CronRun {
    /// A run that ended before its report (an error, a bad profile) still leaves its trace.
    fn drop(&mut self) {
        if !self.finished {
            let now = now_unix_ms();
            self.write_last_run(json!({
                "schema": crate::report::SCHEMA,
                "started_unix_ms": self.started_unix_ms,
                "started": utc(self.started_unix_ms),
                "finished_unix_ms": now,
                "finished": utc(now),
                "status": "unknown",
                "exit_code": 3,
                "error": "the run ended before its report; pfctl's stderr says why",
            }));
        }
    }
}

fn write_keeping_prev(path: &Path, doc: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    crate::atomic::write_keeping_prev(path, text.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_run_is_replaced_and_the_previous_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("last-run.json");
        write_keeping_prev(&p, &json!({"n": 1})).unwrap();
        write_keeping_prev(&p, &json!({"n": 2})).unwrap();
        let read =
            |p: &Path| -> Value { serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap() };
        assert_eq!(read(&p)["n"], 2);
        assert_eq!(read(&dir.path().join("last-run.json.prev"))["n"], 1);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left"
        );
    }

    #[test]
    fn cluster_names_are_file_safe() {
        assert_eq!(file_safe("prod-1.eu"), "prod-1.eu");
        assert_eq!(file_safe("a/../b c"), "a_.._b_c");
    }
}
