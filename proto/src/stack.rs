//! Deploying a stack through a manager's agent: `network.ensure`, `secret.ensure`,
//! `config.ensure` and `service.apply`. Each is idempotent (a second call with the same input
//! changes nothing and says so) and audited like the methods in [`crate::action`].
//!
//! Secret and config contents never travel in these messages: the agent reads them from a file on
//! its own node, and neither the answer nor the audit log carries them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::ActionMeta;

/// The label `docker stack ls/ps/rm` group a stack's objects by.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The image label `docker stack deploy` puts on each service.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";
/// Set by `service.apply` on the services it creates or updates: a digest of the spec it was
/// given, so a field removed from the compose file is noticed even though Docker keeps no trace of
/// what was set before.
pub const SPEC_LABEL: &str = "io.pfctl.spec-sha256";

/// Docker's limits (swarmkit's `MaxSecretSize` and `MaxConfigSize`).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;
pub const MAX_CONFIG_BYTES: u64 = 1000 * 1024;

// ---- network.ensure ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NetworkEnsureParams {
    pub meta: ActionMeta,
    pub name: String,
    /// `overlay` for a stack's networks.
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub internal: bool,
    /// Driver options (compose's `driver_opts`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// IPAM subnets, e.g. `172.21.0.0/16`; empty lets Docker choose.
    #[serde(default)]
    pub subnets: Vec<String>,
}

/// What an `*.ensure` call did.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ensured {
    Created,
    /// An equal object existed: nothing changed.
    Already,
    /// The object existed with the same content; its labels were set to the asked ones.
    LabelsUpdated,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnsureResult {
    pub name: String,
    pub id: String,
    pub outcome: Ensured,
}

// ---- secret.ensure, config.ensure ----

/// A secret or config made from a file on the node the agent runs on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ObjectEnsureParams {
    pub meta: ActionMeta,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Absolute path on the node.
    pub file: String,
}

// ---- service.apply ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceApplyParams {
    pub meta: ActionMeta,
    /// An Engine API `ServiceSpec`. Networks, secrets and configs are named (`Target`,
    /// `SecretName`, `ConfigName`); the agent looks their ids up.
    pub spec: Value,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Created,
    Updated,
    /// Everything the spec sets is already so (defaults Docker filled in are not compared).
    Unchanged,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceApplyResult {
    pub name: String,
    pub id: String,
    pub outcome: Applied,
    /// Where an update differed from the running spec, as paths such as
    /// `TaskTemplate.ContainerSpec.Env` (never values: they may hold passwords).
    #[serde(default)]
    pub changed: Vec<String>,
    /// The Engine's warnings, e.g. about an image it could not check.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Paths (dotted, e.g. `TaskTemplate.ContainerSpec.Env`) where `want` is not so in `have`, never
/// values: an environment may hold passwords. Only what `want` sets is compared: defaults the
/// Engine fills in are not differences, and neither is an empty value the Engine left out. A list
/// is one path: entries have no names to point at.
pub fn spec_differences(want: &Value, have: &Value) -> Vec<String> {
    let mut out = Vec::new();
    differences(want, have, "", &mut out);
    out
}

fn differences(want: &Value, have: &Value, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (want, have) {
        (w, Value::Null) if is_empty(w) => {}
        (Value::Object(w), Value::Object(h)) => {
            for (k, wv) in w {
                differences(wv, h.get(k).unwrap_or(&Value::Null), &at(k), out);
            }
        }
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => {
            let mut inner = Vec::new();
            for (wv, hv) in w.iter().zip(h) {
                differences(wv, hv, path, &mut inner);
            }
            if !inner.is_empty() {
                out.push(path.to_string());
            }
        }
        (Value::Number(w), Value::Number(h)) if w.as_f64() == h.as_f64() => {}
        (w, h) if w == h => {}
        _ => out.push(path.to_string()),
    }
}

/// What the Engine leaves out of a spec it reads back: null, false, zero, "", [] and {}.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_snake_case_words() {
        assert_eq!(
            serde_json::to_value(Ensured::LabelsUpdated).unwrap(),
            "labels_updated"
        );
        assert_eq!(
            serde_json::to_value(Applied::Unchanged).unwrap(),
            "unchanged"
        );
    }

    use serde_json::json;

    fn diffs(want: Value, have: Value) -> Vec<String> {
        spec_differences(&want, &have)
    }

    #[test]
    fn only_what_is_asked_is_compared() {
        let want = json!({"Name": "s_web", "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "i", "Env": ["A=1"]}}});
        let have = json!({"Name": "s_web", "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "i", "Env": ["A=1"], "Isolation": "default"},
                "ForceUpdate": 0, "Runtime": "container"}});
        assert!(diffs(want, have).is_empty());
    }

    #[test]
    fn differences_are_paths_without_values() {
        let want = json!({"Mode": {"Replicated": {"Replicas": 3}},
            "TaskTemplate": {"ContainerSpec": {"Env": ["PASSWORD=new"]}}});
        let have = json!({"Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Env": ["PASSWORD=old"]}}});
        let d = diffs(want, have);
        assert_eq!(
            d,
            vec!["Mode.Replicated.Replicas", "TaskTemplate.ContainerSpec.Env"]
        );
        assert!(!d.concat().contains("new") && !d.concat().contains("old"));
    }

    #[test]
    fn empty_values_the_engine_omits_are_not_differences() {
        let want =
            json!({"UpdateConfig": {"Delay": 0, "Parallelism": 1}, "Labels": {}, "X": false});
        assert!(diffs(want.clone(), json!({"UpdateConfig": {"Parallelism": 1}})).is_empty());
        assert_eq!(
            diffs(want, json!({"UpdateConfig": {"Parallelism": 1}, "X": true})),
            vec!["X"]
        );
    }

    #[test]
    fn a_missing_list_entry_is_a_difference() {
        let want = json!({"Env": ["A=1", "B=2"]});
        assert_eq!(diffs(want, json!({"Env": ["A=1"]})), vec!["Env"]);
    }

    #[test]
    fn numbers_compare_by_value_and_types_must_match() {
        assert!(diffs(json!({"N": 1.0}), json!({"N": 1})).is_empty());
        assert_eq!(diffs(json!({"N": "1"}), json!({"N": 1})), vec!["N"]);
    }

    #[test]
    fn optional_network_fields_default() {
        let p: NetworkEnsureParams = serde_json::from_value(serde_json::json!({
            "meta": {"run_id": "r", "actor": "a"}, "name": "s_net", "driver": "overlay"
        }))
        .unwrap();
        assert!(!p.attachable && p.labels.is_empty() && p.subnets.is_empty());
    }
}

// ---- services.inspect (read-only) ----

/// Specs as `service.apply` takes them, plus the swarm's account of the last update: what an
/// upgrade needs to plan, journal the previous specs, and see a rollback happen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServicesInspectParams {
    /// These services (none: every service, or the stack's).
    #[serde(default)]
    pub names: Vec<String>,
    /// Only the services labelled `com.docker.stack.namespace=<stack>`.
    #[serde(default)]
    pub stack: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceInspect {
    pub id: String,
    pub name: String,
    pub version: u64,
    pub spec: Value,
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed` (none: never updated).
    #[serde(default)]
    pub update_state: Option<String>,
    #[serde(default)]
    pub update_message: Option<String>,
    /// Unix seconds the last update started.
    #[serde(default)]
    pub update_started_unix: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServicesInspect {
    pub services: Vec<ServiceInspect>,
}
