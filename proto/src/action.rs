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
    /// Sets one environment variable of the tasks, replacing its value if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvVar>,
    /// Replaces the placement's most tasks per node when set (0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceState {
    pub replicas: Option<u64>,
    pub constraints: Vec<String>,
    pub force_update: u64,
    pub version: u64,
    /// The variable an `env` update sets, as `NAME=value` (`None`: not set). Values of names that
    /// look secret are hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
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
    /// Make the file's missing directories (root's, mode 0700) instead of refusing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub make_dirs: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileWrite {
    pub path: String,
    pub sha256_before: Option<String>,
    pub sha256_after: String,
    /// Where the replaced content was kept.
    pub previous: Option<String>,
}

/// `files.remove`: the file is renamed to `<path>.pfctl-prev` (kept, not deleted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileRemoveParams {
    pub meta: ActionMeta,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileRemove {
    pub path: String,
    /// `None`: there was no file (nothing done).
    pub sha256_before: Option<String>,
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

// ---- http.post ----

/// A form POST from the node to an http:// URL (the same URL rules as `http.get`), e.g. a
/// Couchbase REST call. The form is sent as `application/x-www-form-urlencoded`; its keys and
/// values are recorded in the audit log, the credentials never.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HttpPostParams {
    pub meta: ActionMeta,
    pub url: String,
    /// In this order; at most [`MAX_FORM_FIELDS`] fields and [`MAX_FORM_BYTES`] encoded.
    pub form: Vec<(String, String)>,
    #[serde(default)]
    pub auth: Option<crate::probe::BasicAuth>,
    /// The whole call; capped at [`crate::probe::MAX_HTTP_TIMEOUT_MS`].
    pub timeout_ms: u64,
    /// How much of the body to return, as for `http.get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
}

pub const MAX_FORM_FIELDS: usize = 64;
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The answer has `http.get`'s shape: status, a bounded body snippet, an error when no answer came.
pub type HttpPost = crate::probe::HttpGet;

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

/// An action the controller performed on the node itself (over SSH, without the agent: installing
/// the agent), recorded in the node's audit log by the agent that resulted from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditRecordParams {
    pub meta: ActionMeta,
    /// One of [`RECORDABLE`].
    pub method: String,
    pub target: String,
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
}

/// What `audit.record` accepts: only what the agent cannot do and audit itself.
pub const RECORDABLE: &[&str] = &["agent.install"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditListParams {
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}

// ---- host.firewall_open ----

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PortProto {
    Tcp,
    Udp,
}

impl PortProto {
    pub fn as_str(self) -> &'static str {
        match self {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
        }
    }
}

/// A port a firewall must let in, e.g. 7946/udp.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FirewallPort {
    pub port: u16,
    pub proto: PortProto,
}

impl std::fmt::Display for FirewallPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FirewallOpenParams {
    pub meta: ActionMeta,
    pub ports: Vec<FirewallPort>,
}

/// One place rules live in: an nftables input chain (`inet filter input`) or a firewalld zone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FirewallChain {
    pub chain: String,
    /// Ports this place already let in before the call (for nftables: pfctl's own rules).
    pub before: Vec<FirewallPort>,
    pub added: Vec<FirewallPort>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FirewallOpen {
    /// `firewalld` or `nftables`.
    pub manager: String,
    /// Ports let in by this call somewhere they were blocked.
    pub opened: Vec<FirewallPort>,
    /// Ports nothing needed to be done for.
    pub already_open: Vec<FirewallPort>,
    pub chains: Vec<FirewallChain>,
    /// In words, e.g. "no input chain drops traffic: every port is already open".
    pub note: String,
}

// ---- host.timesync ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TimeSyncParams {
    pub meta: ActionMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TimeSync {
    /// The command that enabled time sync, e.g. `timedatectl set-ntp true`.
    pub via: String,
    /// The service's or NTP setting's state before and after, as the tool reports it.
    pub before: String,
    pub after: String,
}

// ---- secret.rotate / secret.remove ----

/// A new version of the secret that services mount as `target` (e.g. `is_pass`), made from a
/// file on the node, and every service mounting it moved to the new version (same file name,
/// owner and mode inside the containers). The old versions are left for `secret.remove` once the
/// services run on the new one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecretRotateParams {
    pub meta: ActionMeta,
    /// The file name the services mount the secret as (`/run/secrets/<target>`).
    pub target: String,
    /// Absolute path on the node of the new content.
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecretMove {
    pub service: String,
    pub from: String,
    pub to: String,
    /// `None`: moved; else why not (the service keeps the old version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecretRotate {
    pub target: String,
    /// The version made (`None`: no service mounts `target`, nothing made).
    pub new_secret: Option<String>,
    /// The versions the services mounted before.
    pub old_secrets: Vec<String>,
    pub services: Vec<SecretMove>,
}

/// Removes a secret no service uses any more; refused (naming them) while services use it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecretRemoveParams {
    pub meta: ActionMeta,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SecretRemove {
    pub name: String,
    /// `false`: there was no such secret.
    pub removed: bool,
}
