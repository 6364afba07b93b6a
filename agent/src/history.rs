//! `history.append` / `history.list`: the node's record of recent healthcheck runs, one JSON file
//! per run under `<state>/history/`, bounded by count and by size.
//!
//! Each record is written to a temporary file, synced and renamed into place, so a crash or a
//! concurrent reader never sees half a record; appends in one process are serialized by
//! [`History::lock`] so that pruning never races another append's bookkeeping. A resident agent
//! and a `serve --stdio` agent may share the directory: renames keep it consistent there too.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pfproto::history::{HistoryList, HistoryRecord, MAX_RECORDS};
use pfproto::ErrorCode;
use pfproto::RpcError;

use crate::methods::rpc;

/// Whole directory budget: enough for 100 runs of a large cluster's results and facts.
pub const MAX_TOTAL_BYTES: u64 = 4 * 1024 * 1024;
/// One record may not take more than a quarter of the budget.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Temporary files older than this were left by a crash, not by an append under way.
const STALE_TMP: Duration = Duration::from_secs(600);

pub struct History {
    dir: PathBuf,
    lock: Mutex<()>,
}

struct Entry {
    started_unix_ms: i64,
    run_id: String,
    path: PathBuf,
    size: u64,
}

impl History {
    pub fn new(state_dir: &Path) -> History {
        History {
            dir: state_dir.join("history"),
            lock: Mutex::new(()),
        }
    }

    pub fn append(&self, record: &HistoryRecord) -> Result<(), RpcError> {
        if !valid_run_id(&record.run_id) {
            return Err(rpc(
                ErrorCode::InvalidParams,
                "history.append: run_id must be 1 to 64 characters of [A-Za-z0-9_-]",
            ));
        }
        if record.started_unix_ms < 0 {
            return Err(rpc(
                ErrorCode::InvalidParams,
                "history.append: started_unix_ms must not be negative",
            ));
        }
        let bytes =
            serde_json::to_vec(record).map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(rpc(
                ErrorCode::InvalidParams,
                format!(
                    "history.append: the record is {} bytes, over the limit of {MAX_RECORD_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!("{}-{}.json", record.started_unix_ms, record.run_id);
        self.write_atomically(&name, &bytes)
            .map_err(|e| self.unavailable("cannot write", e))?;
        self.prune()
            .map_err(|e| self.unavailable("cannot prune", e))
    }

    pub fn list(&self, limit: usize) -> Result<HistoryList, RpcError> {
        let entries = match self.entries() {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.unavailable("cannot read", e)),
        };
        let mut records = Vec::new();
        for e in entries.into_iter().take(limit) {
            // A record pruned or damaged since the listing is skipped, not fatal: history is advisory.
            let Ok(bytes) = fs::read(&e.path) else {
                continue;
            };
            match serde_json::from_slice::<HistoryRecord>(&bytes) {
                Ok(r) => records.push(r),
                Err(err) => crate::log::warning!("{}: unreadable record: {err}", e.path.display()),
            }
        }
        Ok(HistoryList { records })
    }

    fn unavailable(&self, what: &str, e: std::io::Error) -> RpcError {
        rpc(
            ErrorCode::Unavailable,
            format!("history: {what} {}: {e}", self.dir.display()),
        )
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(name))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        // The rename is durable only once the directory itself is synced.
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Drops the oldest records beyond [`MAX_RECORDS`] or [`MAX_TOTAL_BYTES`].
    fn prune(&self) -> std::io::Result<()> {
        let mut total = 0u64;
        for (i, e) in self.entries()?.into_iter().enumerate() {
            total += e.size;
            if i >= MAX_RECORDS || total > MAX_TOTAL_BYTES {
                match fs::remove_file(&e.path) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                }
            }
        }
        for item in fs::read_dir(&self.dir)?.flatten() {
            let name = item.file_name();
            let stale = item
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP);
            if name.to_string_lossy().ends_with(".tmp") && stale {
                let _ = fs::remove_file(item.path());
            }
        }
        Ok(())
    }

    /// The records on disk, newest first.
    fn entries(&self) -> std::io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name();
            let Some((started_unix_ms, run_id)) = parse_name(&name.to_string_lossy()) else {
                continue;
            };
            let Ok(meta) = item.metadata() else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            out.push(Entry {
                started_unix_ms,
                run_id,
                path: item.path(),
                size: meta.len(),
            });
        }
        out.sort_by(|a, b| (b.started_unix_ms, &b.run_id).cmp(&(a.started_unix_ms, &a.run_id)));
        Ok(out)
    }
}

/// Run ids become file names: no separators, no dots, bounded.
fn valid_run_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `<started_unix_ms>-<run_id>.json`; anything else in the directory is not a record.
fn parse_name(name: &str) -> Option<(i64, String)> {
    let stem = name.strip_suffix(".json")?;
    let (ms, id) = stem.split_once('-')?;
    if !ms.bytes().all(|b| b.is_ascii_digit()) || !valid_run_id(id) {
        return None;
    }
    Some((ms.parse().ok()?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfproto::history::RecordedResult;
    use std::sync::Arc;

    fn record(ms: i64, id: &str, facts_bytes: usize) -> HistoryRecord {
        HistoryRecord {
            run_id: id.to_string(),
            started_unix_ms: ms,
            controller: "ctl".into(),
            status: "ok".into(),
            results: vec![RecordedResult {
                check: "node.disk".into(),
                node: "node1".into(),
                status: "ok".into(),
                message: String::new(),
            }],
            facts: (facts_bytes > 0).then(|| serde_json::json!({"pad": "x".repeat(facts_bytes)})),
        }
    }

    fn ids(h: &History, limit: usize) -> Vec<String> {
        h.list(limit)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    }

    #[test]
    fn empty_history_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        assert!(h.list(10).unwrap().records.is_empty());
    }

    #[test]
    fn newest_first_and_at_most_the_count_bound() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        // Appended out of order: the listing follows the start time, not the append order.
        for i in (0..MAX_RECORDS as i64 + 5).rev() {
            h.append(&record(1_000 + i, &format!("r{i}"), 0)).unwrap();
        }
        let all = ids(&h, MAX_RECORDS);
        assert_eq!(all.len(), MAX_RECORDS);
        assert_eq!(all[0], format!("r{}", MAX_RECORDS + 4));
        assert_eq!(all[MAX_RECORDS - 1], "r5", "the oldest five were dropped");
        assert_eq!(ids(&h, 2), vec!["r104", "r103"]);
        let files = fs::read_dir(dir.path().join("history")).unwrap().count();
        assert_eq!(files, MAX_RECORDS, "no temporary files left behind");
    }

    #[test]
    fn size_bound_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        for i in 0..10 {
            h.append(&record(i, &format!("big{i}"), 900 * 1024))
                .unwrap();
        }
        let kept = ids(&h, MAX_RECORDS);
        assert_eq!(
            kept,
            vec!["big9", "big8", "big7", "big6"],
            "4 x 900 KiB fit in 4 MiB"
        );
        h.append(&record(100, "small", 0)).unwrap();
        assert_eq!(ids(&h, 1), vec!["small"]);
    }

    #[test]
    fn an_oversized_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let err = h.append(&record(1, "huge", MAX_RECORD_BYTES)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert!(err.message.contains("over the limit"), "{}", err.message);
        assert!(h.list(10).unwrap().records.is_empty());
    }

    #[test]
    fn run_ids_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        for bad in ["", "../x", "a/b", "a.b", &"x".repeat(65)] {
            let err = h.append(&record(1, bad, 0)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParams, "{bad:?}");
        }
    }

    #[test]
    fn the_same_run_appended_twice_is_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        h.append(&record(5, "again", 0)).unwrap();
        h.append(&record(5, "again", 0)).unwrap();
        assert_eq!(ids(&h, 10), vec!["again"]);
    }

    #[test]
    fn concurrent_appends_all_land_intact() {
        let dir = tempfile::tempdir().unwrap();
        let h = Arc::new(History::new(dir.path()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        h.append(&record(t * 100 + i, &format!("t{t}i{i}"), 2000))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = h.list(MAX_RECORDS).unwrap().records;
        assert_eq!(all.len(), 80);
        assert!(all
            .windows(2)
            .all(|w| w[0].started_unix_ms > w[1].started_unix_ms));
    }

    #[test]
    fn foreign_and_damaged_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        h.append(&record(1, "good", 0)).unwrap();
        let d = dir.path().join("history");
        fs::write(d.join("notes.txt"), "x").unwrap();
        fs::write(d.join("2-broken.json"), "{").unwrap();
        assert_eq!(ids(&h, 10), vec!["good"]);
    }
}
