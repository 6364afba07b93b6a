//! The result of a run, independent of how it is rendered: status words, per-node and per-check
//! results, summary counts and the Nagios exit code.

use serde::Serialize;
use serde_json::Value;

/// Ordered by severity for the run's verdict; `Skip` never raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Skip,
    Warn,
    Unknown,
    Fail,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Fail => "fail",
        }
    }

    /// Nagios plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok | Status::Skip => 0,
            Status::Warn => 1,
            Status::Fail => 2,
            Status::Unknown => 3,
        }
    }

    /// The run's verdict: the most severe status, skips excluded.
    pub fn worst(items: impl IntoIterator<Item = Status>) -> Status {
        items
            .into_iter()
            .filter(|s| *s != Status::Skip)
            .max()
            .unwrap_or(Status::Ok)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub name: String,
    /// `None` for the local node.
    pub host: Option<String>,
    pub reachable: bool,
    pub error: Option<String>,
    /// How the agent was reached: streamlocal, exec-connect, exec-stdio, local-socket, local-spawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Value>,
    /// Milliseconds per collector (healthcheck), so the slowest checks are visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings_ms: Option<Value>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub title: String,
    /// Node name, or `cluster` for checks that compare nodes.
    pub node: String,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub evidence: Value,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub unknown: usize,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Ok => s.ok += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
                Status::Unknown => s.unknown += 1,
            }
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub action: String,
    pub status: Status,
    pub started_unix_ms: i64,
    pub duration_ms: u64,
    pub nodes: Vec<NodeReport>,
    pub results: Vec<CheckResult>,
    pub summary: Summary,
    /// The run's id in the nodes' history (healthcheck).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// What differs from the runs the nodes remember (healthcheck).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

/// The difference between this run and the history the nodes keep: problems that appeared since
/// the last run that passed, and problems of the previous run that are gone.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Changes {
    /// The last run whose status was ok; `None` when the nodes remember none.
    pub since: Option<Since>,
    pub new: Vec<Change>,
    pub resolved: Vec<Change>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.resolved.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Since {
    pub run_id: String,
    pub started_unix_ms: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub check: String,
    pub node: String,
    /// The status now.
    pub status: String,
    /// The status in the run compared with; absent when the check did not report this node then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

pub const SCHEMA: &str = "pfctl/v1";

impl Report {
    pub fn new(
        action: &str,
        started_unix_ms: i64,
        duration_ms: u64,
        nodes: Vec<NodeReport>,
        results: Vec<CheckResult>,
    ) -> Report {
        let status = Status::worst(results.iter().map(|r| r.status));
        Report {
            schema: SCHEMA,
            action: action.to_string(),
            status,
            started_unix_ms,
            duration_ms,
            summary: Summary::of(&results),
            nodes,
            results,
            run_id: None,
            changes: None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_ignores_skips_and_ranks_fail_highest() {
        assert_eq!(Status::worst([Status::Ok, Status::Skip]), Status::Ok);
        assert_eq!(
            Status::worst([Status::Warn, Status::Unknown]),
            Status::Unknown
        );
        assert_eq!(Status::worst([Status::Unknown, Status::Fail]), Status::Fail);
        assert_eq!(Status::worst([]), Status::Ok);
        assert_eq!(Status::Unknown.exit_code(), 3);
        assert_eq!(Status::Fail.exit_code(), 2);
    }
}
