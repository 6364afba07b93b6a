//! The wire protocol spoken between `pfctl` and `pfagent`, defined once for both.
//!
//! Newline-delimited JSON. The client sends `hello` first; then requests `{id, method, params}`.
//! The agent answers each with `{id, result}` or `{id, error}` and may send `{id, event}` progress
//! lines before the answer. Lines are bounded by [`MAX_LINE`].

pub mod action;
pub mod bundle;
pub mod facts;
pub mod framing;
pub mod history;
pub mod probe;
pub mod stack;
pub mod swarm;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lower-case hex of `bytes` (hashes in messages, manifests and logs).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Bumped when a message changes shape incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;
/// The longest line either side accepts. Anything longer is discarded and answered with `too_large`.
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Requests a single connection may have in flight before the agent stops reading more.
pub const MAX_IN_FLIGHT: usize = 32;
pub const DEFAULT_SOCKET: &str = "/run/pfagent/pfagent.sock";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pfagent";
pub const DEFAULT_GROUP: &str = "pfagent";

/// Method names, so that a typo is a compile error rather than `method_not_found`.
pub mod method {
    pub const HELLO: &str = "hello";
    pub const NODE_FACTS: &str = "node.facts";
    pub const AGENT_PING: &str = "agent.ping";
    pub const FILES_STAT: &str = "files.stat";
    pub const CONTAINERS_LIST: &str = "containers.list";
    pub const SWARM_INSPECT: &str = "swarm.inspect";
    pub const NET_PROBE: &str = "net.probe";
    pub const HTTP_GET: &str = "http.get";
    /// A form POST over HTTP from the node (an action: audited).
    pub const HTTP_POST: &str = "http.post";
    pub const CONTAINER_EXEC: &str = "container.exec";
    pub const HISTORY_APPEND: &str = "history.append";
    pub const HISTORY_LIST: &str = "history.list";
    pub const FILES_READ: &str = "files.read";
    pub const CONTAINERS_REMOVE: &str = "containers.remove";
    pub const SERVICE_UPDATE: &str = "service.update";
    pub const NODE_AVAILABILITY: &str = "node.availability";
    pub const FILES_WRITE: &str = "files.write";
    pub const FILES_MODE: &str = "files.mode";
    pub const FILES_REMOVE: &str = "files.remove";
    pub const AUDIT_LIST: &str = "audit.list";
    pub const HOST_FIREWALL_OPEN: &str = "host.firewall_open";
    pub const HOST_TIMESYNC: &str = "host.timesync";
    pub const AUDIT_RECORD: &str = "audit.record";
    pub const SWARM_INIT: &str = "swarm.init";
    pub const SWARM_JOIN: &str = "swarm.join";
    pub const SWARM_LEAVE: &str = "swarm.leave";
    pub const SWARM_TOKENS: &str = "swarm.tokens";
    pub const NODE_UPDATE: &str = "node.update";
    pub const IMAGES_LIST: &str = "images.list";
    pub const NETWORK_ENSURE: &str = "network.ensure";
    pub const SECRET_ENSURE: &str = "secret.ensure";
    pub const CONFIG_ENSURE: &str = "config.ensure";
    pub const SERVICE_APPLY: &str = "service.apply";
    pub const SECRET_ROTATE: &str = "secret.rotate";
    pub const SERVICES_INSPECT: &str = "services.inspect";
    pub const SECRET_REMOVE: &str = "secret.remove";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub id: u64,
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

/// One line from the agent: an answer (`result` or `error`) or a progress `event`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Reply {
    /// `None` only when the agent could not read an id from the offending line.
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
}

impl Reply {
    pub fn ok(id: u64, result: Value) -> Self {
        Reply {
            id: Some(id),
            result: Some(result),
            ..Default::default()
        }
    }
    pub fn err(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        Reply {
            id,
            error: Some(RpcError {
                code,
                message: message.into(),
            }),
            ..Default::default()
        }
    }
    pub fn event(id: u64, event: Value) -> Self {
        Reply {
            id: Some(id),
            event: Some(event),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
}

/// Error codes callers branch on. Unknown codes from a newer agent decode as `Other`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line was not JSON, or was cut short.
    ParseError,
    /// JSON, but not a request (missing id or method, wrong types).
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    /// The line exceeded [`MAX_LINE`].
    TooLarge,
    /// `hello` named a protocol version this agent does not speak.
    VersionMismatch,
    /// A request arrived before `hello`.
    HelloRequired,
    PermissionDenied,
    /// A dependency of the method (the Docker Engine, a file) is not available.
    Unavailable,
    Internal,
    #[serde(other)]
    Other,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok();
        let s = s.as_ref().and_then(Value::as_str).unwrap_or("other");
        f.write_str(s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HelloParams {
    pub protocol: u32,
    /// Free text naming the client, e.g. `pfctl 0.1.0`; logged by the agent.
    pub client: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AgentMode {
    /// The resident daemon behind the Unix socket.
    Resident,
    /// A one-connection agent on stdin/stdout (`pfagent serve --stdio`).
    Stdio,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HelloResult {
    pub protocol: u32,
    pub agent_version: String,
    pub capabilities: Vec<String>,
    pub mode: AgentMode,
    pub pid: u32,
    /// Seconds since this agent process started.
    pub uptime_s: u64,
}

/// `agent.ping` answer: the agent's wall clock, for round-trip-bounded clock comparisons.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PingResult {
    pub unix_ms: i64,
}
