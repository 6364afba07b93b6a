//! `history.append` / `history.list`: the outcomes of past healthcheck runs, kept by each node's
//! agent so that any controller can say what changed since the last pass.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One healthcheck run as recorded on a node: the run's verdict, the results that concern this
/// node (plus the cluster-wide ones) and the node's facts at the time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryRecord {
    pub run_id: String,
    pub started_unix_ms: i64,
    /// Hostname of the machine pfctl ran on.
    pub controller: String,
    /// The run's overall status: `ok`, `warn`, `fail` or `unknown`.
    pub status: String,
    pub results: Vec<RecordedResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedResult {
    pub check: String,
    pub node: String,
    pub status: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryListParams {
    pub limit: u32,
}

/// Newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HistoryList {
    pub records: Vec<HistoryRecord>,
}

/// The most records `history.list` returns and an agent keeps.
pub const MAX_RECORDS: usize = 100;
