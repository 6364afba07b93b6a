//! Agents that are missing, not resident, or older than this pfctl: reinstalled over SSH before
//! anything else, so the node's own checks can run and be healed in the same autoheal run.

use super::{push, Action, Plan, Remedy};
use crate::checks::collect::NodeObs;
use crate::checks::Finding;
use std::collections::BTreeMap;

/// The version this pfctl ships its agent at.
pub const OURS: &str = env!("CARGO_PKG_VERSION");

pub fn plan(p: &mut Plan, failing: &[&Finding], nodes: &BTreeMap<String, &NodeObs>) {
    for f in failing.iter().filter(|f| f.id == "agent.resident") {
        // Reached by SSH, but no agent answered at all (the node is missing from `nodes`), or
        // only a one-shot one: either way the resident agent has to be (re)installed.
        let why = if nodes.contains_key(&f.node) {
            "the resident agent is not running"
        } else {
            "no agent answers"
        };
        push(p, install(&f.node, why, f));
    }
    for (name, obs) in nodes {
        let Some(v) = obs.agent_version.as_deref() else {
            continue;
        };
        let handled = p
            .actions
            .iter()
            .any(|a| matches!(a.remedy, Remedy::InstallAgent) && a.node == *name);
        if !handled && older(v, OURS) {
            let f = Finding::new(
                "agent.resident",
                name,
                crate::report::Status::Warn,
                format!("pfagent {v} is older than pfctl {OURS}"),
            );
            push(p, install(name, "the agent is older than pfctl", &f));
        }
    }
}

fn install(node: &str, why: &str, f: &Finding) -> Action {
    Action {
        id: String::new(),
        node: node.to_string(),
        what: format!("install pfagent {OURS} over SSH and start it ({why})"),
        reason: format!("{} {}: {}", f.id, f.node, f.message),
        disruptive: false,
        effect: format!(
            "pfagent {OURS} resident on {node} (the previous binary kept as .prev, its state untouched); \
             {node}'s checks then run and the plan is made again with what they find"
        ),
        check: "agent.resident",
        check_node: node.to_string(),
        subject: String::new(),
        remedy: Remedy::InstallAgent,
    }
}

/// Dotted numeric versions compared part by part; anything unparsable is not called older.
pub fn older(theirs: &str, ours: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.split(['-', '+'])
            .next()?
            .split('.')
            .map(|x| x.parse().ok())
            .collect()
    };
    match (parse(theirs), parse(ours)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::older;

    #[test]
    fn versions_compare_by_number_not_text() {
        assert!(older("0.9.0", "0.10.0"));
        assert!(older("1.2", "1.2.1"));
        assert!(!older("0.10.0", "0.9.0"));
        assert!(!older("0.3.0", "0.3.0"));
        assert!(!older("0.3.0-dev", "0.3.0"));
        assert!(!older("garbage", "0.3.0"));
    }
}
