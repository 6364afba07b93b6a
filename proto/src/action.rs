//! Methods that change a node. Every call carries who asks and for which run, and the agent
//! records each one (before and after) in its audit log, whether it worked or not.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ActionMeta {
    pub run_id: String,
    /// `user@controller-host` of the admin.
    pub actor: String,
}

// ---- containers.remove ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainersRemoveParams {
    pub meta: ActionMeta,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainersRemove {
    pub removed: Vec<String>,
    /// (id, why): running containers are never removed.
    pub refused: Vec<(String, String)>,
}

// ---- service.update ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceUpdateParams {
    pub meta: ActionMeta,
    pub service: String,
    #[serde(default)]
    pub replicas: Option<u64>,
    /// Replaces the placement constraints when set.
    #[serde(default)]
    pub constraints: Option<Vec<String>>,
    /// Restart every task (`docker service update --force`).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceState {
    pub replicas: Option<u64>,
    pub constraints: Vec<String>,
    pub force_update: u64,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceUpdate {
    pub service: String,
    pub before: ServiceState,
    pub after: ServiceState,
    #[serde(default)]
    pub warnings: Vec<String>,
}

// ---- node.availability ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeAvailabilityParams {
    pub meta: ActionMeta,
    /// Hostname or node id.
    pub node: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeAvailability {
    pub node: String,
    pub before: String,
    pub after: String,
}

// ---- files.write / files.mode ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileWriteParams {
    pub meta: ActionMeta,
    pub path: String,
    /// Base64 (standard) of the new content.
    pub content_b64: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Refuse unless the file currently has this hash (`None`: must not exist); guards against
    /// changes made between the plan and the action.
    #[serde(default)]
    pub expect_sha256: Option<String>,
    /// Skip the check above (the file is replaced whatever it holds).
    #[serde(default)]
    pub any_previous: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileWrite {
    pub path: String,
    pub sha256_before: Option<String>,
    pub sha256_after: String,
    /// Where the replaced content was kept.
    pub previous: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileModeParams {
    pub meta: ActionMeta,
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileOwnerMode {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileMode {
    pub path: String,
    pub before: FileOwnerMode,
    pub after: FileOwnerMode,
}

// ---- audit.list ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditEntry {
    pub at_unix_ms: i64,
    pub run_id: String,
    pub actor: String,
    /// The local user the request came in as (SO_PEERCRED), when known.
    #[serde(default)]
    pub peer_uid: Option<u32>,
    pub method: String,
    /// What was acted on: a path, a service, a node, container ids.
    pub target: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// Before and after state (hashes, modes, replica counts); never file contents.
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditListParams {
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}
