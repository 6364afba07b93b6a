//! Probe methods behind `pfctl healthcheck`: what a node can see from where it stands (files,
//! containers, the swarm as its managers know it, TCP and HTTP reachability, a command inside a
//! container). Facts, not verdicts: a failed probe is an answer with `error` set, not an RPC error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Files larger than this are not hashed (`sha256: None`, `error: "too large to hash"`).
pub const MAX_HASH_BYTES: u64 = 64 * 1024 * 1024;
/// Upper bound on `NetProbeParams::timeout_ms`.
pub const MAX_NET_TIMEOUT_MS: u64 = 10_000;
/// Upper bound on `HttpGetParams::timeout_ms`.
pub const MAX_HTTP_TIMEOUT_MS: u64 = 30_000;
/// Bytes of body returned in `HttpGet::body_snippet`.
pub const HTTP_SNIPPET_BYTES: usize = 512;
/// The most body `http.get` returns when asked for more than a snippet (JSON APIs).
pub const MAX_HTTP_BODY_BYTES: usize = 1024 * 1024;
/// Upper bound on `ContainerExecParams::timeout_ms`.
pub const MAX_EXEC_TIMEOUT_MS: u64 = 60_000;
/// Bytes of output returned in `ContainerExec::output`.
pub const EXEC_OUTPUT_BYTES: usize = 4096;
/// Tasks reported per service in `swarm.inspect` (the most recent by status timestamp).
pub const TASKS_PER_SERVICE: usize = 20;

// ---- files.stat ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FilesStatParams {
    pub paths: Vec<String>,
}

/// Largest file `files.read` returns.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FilesReadParams {
    pub path: String,
    /// When set, only these top-level `key: value` entries of a flat YAML file are returned
    /// (in `values`), never the rest of the file. Without it the whole file is returned, and only
    /// when it is world-readable: files that may hold secrets never cross the wire whole.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// The whole file even when it is not world-readable: asked only to copy a secret file from
    /// one node to another on the admin's explicit order (`autoheal --source NODE --force`).
    #[serde(default)]
    pub private: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileRead {
    pub path: String,
    /// False for a missing path (which is not an error).
    pub exists: bool,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    /// Why the file could not be read (permissions, not a regular file, too large, not UTF-8).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FilesStat {
    /// One entry per requested path, in request order.
    pub files: Vec<FileStat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FileStat {
    pub path: String,
    /// False for a missing path (which is not an error).
    pub exists: bool,
    /// Lower-case hex SHA-256 of a regular file up to [`MAX_HASH_BYTES`]; `None` for directories,
    /// other non-regular files, larger files and unreadable files.
    #[serde(default)]
    pub sha256: Option<String>,
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// User name for `uid`, or the number when it has no name on this node.
    pub owner: String,
    /// Group name for `gid`, or the number when it has no name on this node.
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---- containers.list ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerList {
    /// All containers of the local engine, stopped ones included.
    pub containers: Vec<ContainerInfo>,
    /// "engine unreachable: ..." when the engine could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerInfo {
    /// The short (12 character) id.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `removing`, `dead`.
    pub state: String,
    /// Docker's human text, e.g. "Up 2 hours (healthy)", "Exited (137) 5 minutes ago".
    pub status: String,
    /// Known once the container has stopped at least once.
    #[serde(default)]
    pub exit_code: Option<i64>,
    pub created_unix: i64,
    /// Label `com.docker.swarm.service.name`.
    #[serde(default)]
    pub service: Option<String>,
    /// Label `com.docker.stack.namespace`.
    #[serde(default)]
    pub stack: Option<String>,
    /// From the container's inspect data; `None` when inspecting it failed.
    #[serde(default)]
    pub restart_count: Option<i64>,
}

// ---- swarm.inspect ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmView {
    pub nodes: Vec<SwarmNode>,
    pub services: Vec<ServiceView>,
    /// Why there is no view, e.g. "this node is not a swarm manager" or "engine unreachable: ...".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    pub addr: String,
    /// `manager` or `worker`.
    pub role: String,
    /// `active`, `pause`, `drain`.
    pub availability: String,
    /// `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    /// Managers only: `reachable`, `unreachable`, `unknown`.
    #[serde(default)]
    pub manager_reachability: Option<String>,
    pub leader: bool,
    pub engine_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    /// `replicated`, `global`, `replicated-job`, `global-job`.
    pub mode: String,
    /// Replicas asked for (replicated services only).
    #[serde(default)]
    pub desired: Option<u64>,
    /// Tasks of this service whose state is `running` (counted over all its tasks).
    pub running: u64,
    pub constraints: Vec<String>,
    #[serde(default)]
    pub max_replicas_per_node: Option<u64>,
    pub labels: BTreeMap<String, String>,
    /// The most recent [`TASKS_PER_SERVICE`] tasks, newest first.
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TaskView {
    pub id: String,
    pub node_id: String,
    /// Replicated services only.
    #[serde(default)]
    pub slot: Option<u64>,
    pub state: String,
    pub desired_state: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    pub timestamp_unix: i64,
}

// ---- net.probe ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NetProbeParams {
    pub targets: Vec<NetTarget>,
    /// Per target; capped at [`MAX_NET_TIMEOUT_MS`].
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct NetTarget {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NetProbe {
    /// One per target, in request order.
    pub results: Vec<NetResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NetResult {
    pub host: String,
    pub port: u16,
    pub ok: bool,
    /// Time to connect (or to fail).
    pub ms: u64,
    /// `refused`, `timed out after Nms`, `no route to host`, `network unreachable`,
    /// `cannot resolve ...`, or the OS's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---- http.get ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HttpGetParams {
    /// `http://host[:port]/path`; https is not supported.
    pub url: String,
    /// The whole call; capped at [`MAX_HTTP_TIMEOUT_MS`].
    pub timeout_ms: u64,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// How much of the body to return: [`HTTP_SNIPPET_BYTES`] when absent, at most
    /// [`MAX_HTTP_BODY_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HttpGet {
    /// `None` when no status line was received.
    #[serde(default)]
    pub status: Option<u16>,
    /// The first [`HTTP_SNIPPET_BYTES`] (or `max_body_bytes`) bytes of the body, lossily decoded
    /// as UTF-8.
    pub body_snippet: String,
    /// The body was longer than what was returned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---- container.exec ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerExecParams {
    /// Id (or unique prefix) or name.
    pub container: String,
    pub cmd: Vec<String>,
    /// Capped at [`MAX_EXEC_TIMEOUT_MS`].
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerExec {
    /// `None` when the command did not finish (or could not start).
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// stdout and stderr interleaved as produced, first [`EXEC_OUTPUT_BYTES`] bytes.
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_debug_hides_the_password() {
        let a = BasicAuth {
            user: "em7admin".into(),
            password: "s3cret".into(),
        };
        let s = format!("{a:?}");
        assert!(s.contains("em7admin") && !s.contains("s3cret"), "{s}");
    }

    #[test]
    fn optional_fields_may_be_omitted() {
        let p: HttpGetParams =
            serde_json::from_str(r#"{"url":"http://a/","timeout_ms":5}"#).unwrap();
        assert_eq!(p.basic_auth, None);
        let r: NetResult =
            serde_json::from_str(r#"{"host":"a","port":1,"ok":true,"ms":2}"#).unwrap();
        assert_eq!(r.error, None);
    }
}
