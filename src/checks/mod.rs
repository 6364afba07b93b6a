//! Healthcheck as data: a catalogue of checks (id, title, scope, stage, impact), collectors that
//! gather facts from the agents, and analyzers that turn facts into outcomes.

pub mod app;
pub mod cluster;
pub mod collect;
pub mod compose;
pub mod couchbase;
pub mod node;
pub mod rabbitmq;

use crate::report::{CheckResult, Status};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Node,
    Cluster,
}

/// Stages run in order on a node; a failed stage makes that node's later checks `skip`.
pub mod stage {
    pub const REACHABLE: u8 = 0;
    pub const AGENT_ENGINE: u8 = 1;
    pub const SWARM_STACK: u8 = 2;
    pub const APPLICATION: u8 = 3;
}

#[derive(Debug)]
pub struct CheckDef {
    pub id: &'static str,
    pub title: &'static str,
    pub scope: Scope,
    pub stage: u8,
    /// What breaks for users when this check fails.
    pub impact: &'static str,
}

macro_rules! checks {
    ($( $id:literal, $title:literal, $scope:ident, $stage:ident, $impact:literal; )*) => {
        pub const CATALOGUE: &[CheckDef] = &[
            $( CheckDef { id: $id, title: $title, scope: Scope::$scope, stage: stage::$stage, impact: $impact }, )*
        ];
    };
}

checks! {
    "node.reachable", "verify node reachable", Node, REACHABLE, "nothing on this node can be checked or managed";
    "agent.resident", "verify agent running", Node, AGENT_ENGINE, "pfctl falls back to a one-shot agent; history and journals are not kept";
    "agent.version_consistent", "verify agent version", Cluster, AGENT_ENGINE, "mixed agent versions may answer differently";
    "docker.reachable", "verify docker engine", Node, AGENT_ENGINE, "no container on this node can run";
    "docker.version_consistent", "verify docker version", Cluster, AGENT_ENGINE, "the manual requires the same Docker version on all hosts";
    "node.cpu", "check cpu", Node, AGENT_ENGINE, "an overloaded node slows every task placed on it";
    "node.memory", "check memory", Node, AGENT_ENGINE, "services are killed or swapped when memory runs out";
    "node.disk", "check disk", Node, AGENT_ENGINE, "a full disk stops Docker, Couchbase and RabbitMQ";
    "time.sync", "verify ntp sync", Node, AGENT_ENGINE, "x509 'not valid before' errors and Flower clock drift";
    "time.offset", "verify clock offset", Cluster, AGENT_ENGINE, "clocks that disagree break TLS and swarm raft";
    "files.consistent", "get file hash", Cluster, AGENT_ENGINE, "nodes with different configuration or keys behave differently";
    "files.secret_mode", "verify secret file mode", Node, AGENT_ENGINE, "secrets readable by other users leak";
    "net.connectivity", "verify pingable addr", Node, AGENT_ENGINE, "swarm gossip and raft fail between nodes that cannot reach each other";
    "swarm.node_active", "verify swarm node", Node, SWARM_STACK, "a drained, paused or down node runs no tasks";
    "swarm.managers", "verify swarm managers", Cluster, SWARM_STACK, "fewer than 3 managers, or an even number, loses quorum on one failure";
    "swarm.managers_reachable", "verify managers reachable", Cluster, SWARM_STACK, "an unreachable manager counts against quorum";
    "swarm.leader", "verify swarm leader", Cluster, SWARM_STACK, "without a leader the swarm cannot change";
    "swarm.quorum_margin", "verify quorum margin", Cluster, SWARM_STACK, "how many more managers may fail before the swarm stops";
    "stack.services_present", "verify stack services", Cluster, SWARM_STACK, "a missing service means a missing feature";
    "stack.replicas", "check replica count", Cluster, SWARM_STACK, "services below their replica count are degraded";
    "stack.restart_loop", "verify services not restarting", Cluster, SWARM_STACK, "a task failing again and again never serves";
    "stack.placement", "verify service placement", Cluster, SWARM_STACK, "pinned services (pypiserver, databases) lose their data elsewhere";
    "stack.singleton", "verify singleton services", Cluster, SWARM_STACK, "two copies of a singleton corrupt its data";
    "containers.exited", "get exited container count", Node, SWARM_STACK, "stale containers fill the disk";
    "containers.exited_total", "get exited container count cluster-wide", Cluster, SWARM_STACK, "stale containers fill the disk";
    "compose.valid", "verify compose file", Cluster, SWARM_STACK, "a wrong compose file redeploys the stack wrong (data on the wrong node, a single point of failure)";
    "endpoint.http", "verify endpoint", Node, APPLICATION, "the service behind this URL does not answer";
    "container.cmd", "verify cmd in container", Node, APPLICATION, "a container that runs but cannot do its work";
    "dex.discovery", "check dex connectivity", Cluster, APPLICATION, "nobody can log in to the GUI or the API";
    "tls.certificate", "verify tls certificate", Cluster, APPLICATION, "browsers and API clients refuse an expired or misnamed certificate";
    "license.valid", "verify license", Cluster, APPLICATION, "without a valid license applications cannot be created or scheduled";
    "backup.age", "verify backup age", Cluster, APPLICATION, "without a recent verified backup a lost node or a bad upgrade loses data";
    "rabbitmq.nodes", "check rabbit cluster count", Cluster, APPLICATION, "a missing RabbitMQ node loses its queues' mirrors";
    "rabbitmq.alarms", "check rabbit cluster alarms", Cluster, APPLICATION, "a memory or disk alarm blocks every publisher: no task is queued";
    "rabbitmq.partitions", "check rabbit partitions", Cluster, APPLICATION, "a partitioned RabbitMQ cluster loses or duplicates messages";
    "rabbitmq.ha_policy", "verify rabbit ha policy", Cluster, APPLICATION, "queues without mirrors are lost with their node";
    "couchbase.nodes", "verify couchbase nodes", Cluster, APPLICATION, "fewer Couchbase nodes than db_host lists: less redundancy, failed API calls";
    "couchbase.replicas", "verify bucket replicas", Cluster, APPLICATION, "a bucket without replicas loses data with one node";
    "couchbase.indexes", "verify node indexes", Cluster, APPLICATION, "queries fail with 'No index available' (HTTP 500 in the GUI)";
    "couchbase.rebalance", "verify couchbase rebalanced", Cluster, APPLICATION, "an unbalanced cluster serves some data from one copy only";
    "couchbase.primary_index", "verify no primary index", Cluster, APPLICATION, "a #primary index lets slow full scans run in production";
}

pub fn def(id: &str) -> &'static CheckDef {
    CATALOGUE
        .iter()
        .find(|d| d.id == id)
        .unwrap_or(&CATALOGUE[0])
}

/// One outcome before rendering.
#[derive(Debug, Clone)]
pub struct Finding {
    pub id: &'static str,
    /// Node name, or `cluster`.
    pub node: String,
    pub status: Status,
    pub message: String,
    pub evidence: Value,
}

impl Finding {
    pub fn new(
        id: &'static str,
        node: &str,
        status: Status,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            node: node.to_string(),
            status,
            message: message.into(),
            evidence: Value::Null,
        }
    }

    pub fn with(mut self, evidence: Value) -> Finding {
        self.evidence = evidence;
        self
    }

    pub fn into_result(self) -> CheckResult {
        let d = def(self.id);
        let title = match &self.evidence["endpoint"] {
            Value::String(name) => format!("{} {name}", d.title),
            _ => d.title.to_string(),
        };
        CheckResult {
            check: self.id.to_string(),
            title,
            node: self.node,
            status: self.status,
            message: self.message,
            evidence: self.evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_stages_ordered_by_meaning() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        assert_eq!(def("node.reachable").stage, stage::REACHABLE);
        assert_eq!(def("endpoint.http").stage, stage::APPLICATION);
    }
}
