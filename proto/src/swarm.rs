//! Forming a swarm through the agents (`swarm.init`, `swarm.join`, `swarm.leave`, `node.update`,
//! `swarm.tokens`) and the images it needs (`images.list`, plus what `pfagent image load` prints).
//!
//! The mutating methods are audited like those in [`crate::action`]. Join tokens are secrets: they
//! travel as [`JoinToken`], whose `Debug` and `Display` never show the value, and the agent
//! records them in its audit log as `"<redacted>"`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::action::ActionMeta;

/// What the audit log and any message show instead of a join token.
pub const REDACTED: &str = "<redacted>";

/// A swarm join token. Serialized as the plain string (it has to reach the joining node), but
/// never printed: `{:?}` and `{}` show [`REDACTED`].
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct JoinToken(String);

impl JoinToken {
    pub fn new(token: impl Into<String>) -> Self {
        JoinToken(token.into())
    }
    /// The token itself, for the one place that needs it (the Engine's join request).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

// ---- swarm.init ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmInitParams {
    pub meta: ActionMeta,
    /// The address other nodes reach this one on, e.g. `10.213.0.14` (port 2377 when none given).
    pub advertise_addr: String,
}

/// The swarm a manager belongs to and how others join it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmInit {
    /// True when this node already managed a swarm: nothing was changed.
    pub already: bool,
    pub node_id: String,
    pub cluster_id: String,
    /// The address this node advertises (`addr`, without port), as the Engine reports it.
    pub node_addr: String,
    pub manager_token: JoinToken,
    pub worker_token: JoinToken,
}

// ---- swarm.join ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmJoinParams {
    pub meta: ActionMeta,
    pub advertise_addr: String,
    /// Managers of the swarm to join, `addr[:port]` (port 2377 when none given); at most 16.
    pub remote_addrs: Vec<String>,
    /// A manager or worker token: it decides the role the node joins with.
    pub token: JoinToken,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmJoin {
    /// True when the node was already in that swarm: nothing was changed.
    pub already: bool,
    pub node_id: String,
    /// Whether the node is a manager now (a manager token makes one).
    pub manager: bool,
    /// Empty on a worker, which cannot see the cluster's id.
    #[serde(default)]
    pub cluster_id: String,
}

// ---- swarm.leave ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmLeaveParams {
    pub meta: ActionMeta,
    /// Needed to leave as a manager (the Engine's `--force`).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmLeave {
    /// True when the node was in no swarm: nothing was changed.
    pub already: bool,
    /// The node's id in the swarm it left (empty when `already`).
    #[serde(default)]
    pub node_id: String,
}

// ---- node.update ----

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Manager,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Manager => "manager",
            NodeRole::Worker => "worker",
        }
    }
}

/// Run on a manager: sets labels on a node of its swarm and, when `role` is given, promotes or
/// demotes it. Labels not named are left as they are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeUpdateParams {
    pub meta: ActionMeta,
    /// Node id or hostname.
    pub node: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub role: Option<NodeRole>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeSettings {
    pub role: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeUpdate {
    pub node_id: String,
    pub hostname: String,
    /// False when the node already had these labels and role: nothing was sent to the Engine.
    pub changed: bool,
    pub before: NodeSettings,
    pub after: NodeSettings,
}

// ---- swarm.tokens ----

/// `swarm.tokens` (no parameters, run on a manager): the current join tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmTokens {
    pub cluster_id: String,
    pub manager_token: JoinToken,
    pub worker_token: JoinToken,
}

// ---- images.list ----

pub const MAX_IMAGE_REFS: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImagesListParams {
    /// Image references (`name:tag`, `name@digest` or an id); at most [`MAX_IMAGE_REFS`].
    pub refs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImagePresence {
    pub reference: String,
    pub present: bool,
    /// The image id (`sha256:` of its config); empty when absent.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub size: u64,
    /// Why presence could not be decided (engine unreachable, bad reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImagesList {
    /// In the order asked.
    pub images: Vec<ImagePresence>,
}

// ---- pfagent image load ----

/// One image `pfagent image load` loaded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LoadedImage {
    /// The tag the archive carried, or the id for an untagged image.
    pub reference: String,
    pub id: String,
}

/// The JSON line `pfagent image load` prints on stdout once the Engine has loaded the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImageLoadReport {
    pub images: Vec<LoadedImage>,
    /// Bytes read from stdin.
    pub bytes: u64,
    /// Hex sha256 of those bytes, to compare with what the sender hashed.
    pub sha256: String,
}

/// An image reference both ends accept before it reaches an engine or a command line: a name
/// with tag or digest, or an id; nothing an option parser or a URL could take for more.
pub fn check_image_reference(r: &str) -> Result<(), String> {
    let bad = r.is_empty()
        || r.len() > 512
        || r.starts_with('-')
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%'));
    if bad {
        Err(format!(
            "'{r}' is not an image reference (name:tag, name@sha256:... or an id)"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let p = SwarmJoinParams {
            token: JoinToken::new("SWMTKN-1-abc-def"),
            ..Default::default()
        };
        let shown = format!("{p:?} {}", p.token);
        assert!(!shown.contains("SWMTKN"), "{shown}");
        assert!(shown.contains(REDACTED));
        // but they do travel
        let wire = serde_json::to_string(&p).unwrap();
        assert!(wire.contains("\"token\":\"SWMTKN-1-abc-def\""), "{wire}");
        let back: SwarmJoinParams = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.token.expose(), "SWMTKN-1-abc-def");
    }

    #[test]
    fn role_names() {
        let r: NodeRole = serde_json::from_str("\"manager\"").unwrap();
        assert_eq!(r, NodeRole::Manager);
        assert_eq!(NodeRole::Worker.as_str(), "worker");
        assert!(serde_json::from_str::<NodeRole>("\"leader\"").is_err());
    }
}
