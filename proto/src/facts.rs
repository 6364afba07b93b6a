//! `node.facts`: what an agent reports about its node. Facts, not verdicts: the controller decides.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeFacts {
    pub hostname: String,
    pub os: OsFacts,
    pub cpu: CpuFacts,
    pub memory: MemoryFacts,
    /// The mounts that matter: `/`, the Docker root and the agent's state directory (deduplicated by mount).
    pub disks: Vec<DiskFacts>,
    pub clock: ClockFacts,
    pub docker: DockerFacts,
    pub agent: AgentFacts,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OsFacts {
    /// `PRETTY_NAME` from /etc/os-release.
    pub name: String,
    pub kernel: String,
    pub boot_id: String,
    pub uptime_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CpuFacts {
    pub count: u32,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MemoryFacts {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DiskFacts {
    /// Why this path is reported: `root`, `docker`, `state`.
    pub role: String,
    pub path: String,
    pub mount_point: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ClockFacts {
    pub unix_ms: i64,
    /// The kernel's view (adjtimex): `Some(true)` when a time daemon keeps the clock in sync.
    pub synchronized: Option<bool>,
    /// Human detail, e.g. "adjtimex: clock synchronized, est. error 1 ms".
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DockerFacts {
    pub reachable: bool,
    /// Why the engine could not be reached ("engine unreachable: ..."), when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub version: String,
    /// The API version the agent negotiated with the engine.
    pub api_version: String,
    pub root_dir: String,
    pub containers_running: u64,
    pub containers_total: u64,
    pub swarm: SwarmFacts,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SwarmFacts {
    /// `inactive`, `pending`, `active`, `error`, `locked` (Docker's LocalNodeState).
    pub state: String,
    pub node_id: String,
    pub node_addr: String,
    pub is_manager: bool,
    pub cluster_id: String,
    pub managers: u64,
    pub nodes: u64,
    /// Managers as this node sees them (only filled in on managers).
    pub remote_managers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentFacts {
    pub version: String,
    pub uptime_s: u64,
    pub pid: u32,
    pub mode: String,
    pub state_dir: String,
}
