//! The upgrade planner: from the services the swarm runs and the ones an upgrade wants, which
//! change and how (paths, never values), in which order (the profile's groups), which roll
//! without downtime and which stop, and whether the managers can afford host-level work one node
//! at a time. Pure logic with no I/O, so `upgrade plan` and `upgrade apply` cannot disagree and
//! every rule is tested without a swarm.

use std::collections::{BTreeMap, BTreeSet};

use pfproto::stack::{spec_differences, IMAGE_LABEL};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A service as the swarm has it now (from the Engine's service inspect). Network `Target`s must
/// be names, as a compose file writes them (see [`name_networks`]): the Engine stores ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Current {
    /// Full name, e.g. `pfdemo_web`.
    pub name: String,
    /// An Engine `ServiceSpec`.
    pub spec: Value,
    pub version: u64,
}

/// What the upgrade wants a service to be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Desired {
    pub name: String,
    pub spec: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwarmNode {
    pub hostname: String,
    pub id: String,
    pub manager: bool,
    pub leader: bool,
    /// `Status.State == ready`.
    pub ready: bool,
    /// `active`, `pause` or `drain`.
    pub availability: String,
}

/// The profile's `[upgrade]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpgradeCfg {
    /// The order services are upgraded in; services in no group go in a last group, `others`.
    pub groups: Vec<Group>,
    /// Swarm's rolling-update settings, written into each changed spec's `UpdateConfig`.
    pub update: UpdatePolicy,
    /// How long one group may take to converge before the run stops.
    pub converge_timeout_s: u64,
}

impl Default for UpgradeCfg {
    fn default() -> Self {
        UpgradeCfg {
            groups: Vec::new(),
            update: UpdatePolicy::default(),
            converge_timeout_s: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    /// Compose service names, without the stack's prefix; a trailing `*` matches by prefix.
    pub services: Vec<String>,
    /// Update the group's services one by one, each converged before the next.
    #[serde(default)]
    pub one_at_a_time: bool,
}

impl Group {
    /// The index of the first pattern naming `compose_name`, which orders the group's services.
    pub fn position(&self, compose_name: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|p| match p.strip_suffix('*') {
                Some(prefix) => compose_name.starts_with(prefix),
                None => compose_name == p,
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdatePolicy {
    pub parallelism: u64,
    pub delay_s: u64,
    pub monitor_s: u64,
    /// `rollback`, `pause` or `continue`.
    pub failure_action: String,
    pub max_failure_ratio: f64,
    /// `stop-first` or `start-first`.
    pub order: String,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        UpdatePolicy {
            parallelism: 1,
            delay_s: 2,
            monitor_s: 5,
            failure_action: "rollback".into(),
            max_failure_ratio: 0.0,
            order: "stop-first".into(),
        }
    }
}

/// Longer than any sensible wait, and small enough that nanoseconds fit the Engine's i64.
const MAX_SECONDS: u64 = 86_400;
/// The group services in no configured group go to.
pub const OTHERS: &str = "others";

impl UpgradeCfg {
    /// Errors name the field at fault as the profile spells it.
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |m: String| Err(PlanError::BadPolicy(m));
        let u = &self.update;
        if !["rollback", "pause", "continue"].contains(&u.failure_action.as_str()) {
            return bad(format!(
                "upgrade.update.failure_action '{}' is not rollback, pause or continue",
                u.failure_action
            ));
        }
        if !["stop-first", "start-first"].contains(&u.order.as_str()) {
            return bad(format!(
                "upgrade.update.order '{}' is not stop-first or start-first",
                u.order
            ));
        }
        if u.parallelism == 0 {
            return bad(
                "upgrade.update.parallelism is 0: at least 1 task must be replaced at a time"
                    .into(),
            );
        }
        if !(0.0..=1.0).contains(&u.max_failure_ratio) {
            return bad(format!(
                "upgrade.update.max_failure_ratio {} is not between 0 and 1",
                u.max_failure_ratio
            ));
        }
        for (field, v) in [("delay_s", u.delay_s), ("monitor_s", u.monitor_s)] {
            if v > MAX_SECONDS {
                return bad(format!(
                    "upgrade.update.{field} {v} is more than a day ({MAX_SECONDS} s)"
                ));
            }
        }
        if self.converge_timeout_s == 0 {
            return bad("upgrade.converge_timeout_s is 0: give the groups time to converge".into());
        }
        let mut seen = BTreeSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            if g.name.trim().is_empty() {
                return bad(format!("upgrade.groups[{i}].name is empty"));
            }
            if g.name == OTHERS {
                return bad(format!(
                    "upgrade.groups[{i}].name '{OTHERS}' is the group of services in no group: choose another name"
                ));
            }
            if !seen.insert(g.name.as_str()) {
                return bad(format!(
                    "upgrade.groups[{i}].name '{}' is used twice: group names must be unique",
                    g.name
                ));
            }
            if g.services.is_empty() || g.services.iter().any(|s| s.is_empty() || s == "*") {
                return bad(format!(
                    "upgrade.groups[{i}].services of group '{}' must name services (a trailing * matches by prefix; '*' alone is what '{OTHERS}' is for)",
                    g.name
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("{detail}")]
    Quorum { detail: String },
    #[error("no swarm manager is known: is this node part of a swarm? (`pfctl healthcheck` shows the swarm's nodes)")]
    NoSwarm,
    /// The `[upgrade]` table, its field named as the profile spells it.
    #[error("{0}")]
    BadPolicy(String),
    /// The services handed to the planner contradict each other (a name twice, a spec that is not
    /// an object).
    #[error("{0}")]
    BadInput(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Availability {
    /// Some of the service's tasks serve while the others are replaced.
    Rolling { reason: String },
    /// The service is down while its tasks are replaced.
    Stops { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceChange {
    pub service: String,
    pub group: String,
    /// Set when the image changes.
    pub image_from: Option<String>,
    pub image_to: Option<String>,
    /// Dotted paths that differ, never values (an environment may hold passwords).
    pub changes: Vec<String>,
    pub availability: Availability,
    /// The spec to apply: the desired one with the policy's update and rollback settings and the
    /// current labels the desired lacks. Left out of the JSON: it holds the environment's values.
    #[serde(skip_serializing)]
    pub new_spec: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewService {
    pub service: String,
    pub image: Option<String>,
    /// As in [`ServiceChange::new_spec`], and left out of the JSON for the same reason.
    #[serde(skip_serializing)]
    pub new_spec: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanGroup {
    pub name: String,
    pub one_at_a_time: bool,
    pub services: Vec<ServiceChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStep {
    pub node: String,
    /// `worker`, `manager` or `leader`.
    pub role: String,
    pub ready: bool,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quorum {
    pub managers: usize,
    pub ready_managers: usize,
    /// A majority of the managers: `managers / 2 + 1`.
    pub needed: usize,
    /// The order for host-level work: workers, then managers, the leader last.
    pub node_order: Vec<NodeStep>,
    /// Set when the swarm has fewer than 3 managers: host-level work on a manager then stops the
    /// swarm's management until the node is back, though no manager is down now.
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    /// In the order they are upgraded.
    pub groups: Vec<PlanGroup>,
    /// Created after every group.
    pub new_services: Vec<NewService>,
    pub unchanged: Vec<String>,
    /// Running services the upgrade does not mention: left as they are.
    pub untouched: Vec<String>,
    pub quorum: Quorum,
}

impl Plan {
    /// How many existing services change.
    pub fn changed(&self) -> usize {
        self.groups.iter().map(|g| g.services.len()).sum()
    }
}

// ---- retag: the offline bundle ----

/// An image reference split as Docker reads it: `repo[:tag][@digest]`, where a ':' before the
/// last '/' belongs to a registry's port.
struct ImageRef<'a> {
    repo: &'a str,
    tag: Option<&'a str>,
}

fn parse_image(reference: &str) -> ImageRef<'_> {
    let name = without_digest(reference);
    let after_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[after_slash..].rfind(':') {
        Some(i) => ImageRef {
            repo: &name[..after_slash + i],
            tag: Some(&name[after_slash + i + 1..]),
        },
        None => ImageRef {
            repo: name,
            tag: None,
        },
    }
}

fn without_digest(reference: &str) -> &str {
    reference.split('@').next().unwrap_or(reference)
}

/// `docker.io/library/busybox` and `busybox` are one repository; `docker save` writes the short
/// form while a spec may hold either.
fn familiar(repo: &str) -> &str {
    let r = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    r.strip_prefix("library/").unwrap_or(r)
}

fn image_of(spec: &Value) -> Option<&str> {
    spec["TaskTemplate"]["ContainerSpec"]["Image"].as_str()
}

/// The services whose image has another tag of its repository in `tags` (a bundle's images),
/// with only that image (and the stack's image label, which `docker stack deploy` keeps equal to
/// it) changed. A repository with two or more other tags in the bundle is ambiguous and left out,
/// as are services with no match; the plan then lists them as untouched.
pub fn retag(current: &[Current], tags: &[String]) -> Vec<Desired> {
    let mut out = Vec::new();
    for c in current {
        let Some(image) = image_of(&c.spec) else {
            continue;
        };
        let have = parse_image(image);
        let have_tag = have.tag.unwrap_or("latest");
        let others: BTreeSet<&str> = tags
            .iter()
            .map(|t| (t.as_str(), parse_image(t)))
            .filter(|(_, r)| familiar(r.repo) == familiar(have.repo))
            .filter(|(_, r)| r.tag.unwrap_or("latest") != have_tag)
            .map(|(t, _)| t)
            .collect();
        let [to] = others.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let mut spec = c.spec.clone();
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!(to);
        if let Some(label) = spec["Labels"].get_mut(IMAGE_LABEL) {
            if label
                .as_str()
                .is_some_and(|l| l == image || without_digest(l) == without_digest(image))
            {
                *label = json!(to);
            }
        }
        out.push(Desired {
            name: c.name.clone(),
            spec,
        });
    }
    out
}

/// Replaces the network ids the Engine stores in `TaskTemplate.Networks[].Target` with their
/// names (`names_by_id`), so current specs compare with compose-made ones. Unknown ids stay.
pub fn name_networks(current: &mut [Current], names_by_id: &BTreeMap<String, String>) {
    for c in current {
        if let Some(nets) = c.spec["TaskTemplate"]["Networks"].as_array_mut() {
            for n in nets {
                let name = n["Target"].as_str().and_then(|id| names_by_id.get(id));
                if let Some(name) = name {
                    n["Target"] = json!(name);
                }
            }
        }
    }
}

// ---- plan ----

pub fn plan(
    stack: &str,
    cfg: &UpgradeCfg,
    current: &[Current],
    desired: &[Desired],
    nodes: &[SwarmNode],
) -> Result<Plan, PlanError> {
    cfg.validate()?;
    let quorum = quorum(nodes)?;
    let by_name = unique(current.iter().map(|c| (c.name.as_str(), c)), "current")?;
    let wanted = unique(desired.iter().map(|d| (d.name.as_str(), d)), "desired")?;
    // Global services run a task on every node that takes tasks.
    let task_nodes = nodes
        .iter()
        .filter(|n| n.ready && n.availability != "drain")
        .count();

    let mut changes = Vec::new();
    let mut new_services = Vec::new();
    let mut unchanged = Vec::new();
    for (name, d) in &wanted {
        if !d.spec.is_object() {
            return Err(PlanError::BadInput(format!(
                "the desired spec of {name} is not a JSON object (an Engine ServiceSpec)"
            )));
        }
        if let Some(n) = d.spec.get("Name").and_then(Value::as_str) {
            if n != *name {
                return Err(PlanError::BadInput(format!(
                    "the desired spec of {name} is named {n}: a rename is a new service and the removal of the old one, which an upgrade does not do"
                )));
            }
        }
        let Some(c) = by_name.get(name) else {
            new_services.push(NewService {
                service: name.to_string(),
                image: image_of(&d.spec).map(str::to_string),
                new_spec: with_policy(&d.spec, None, name, &cfg.update),
            });
            continue;
        };
        let paths: Vec<String> = spec_differences(&comparable(&d.spec, &c.spec), &c.spec)
            .into_iter()
            .filter(|p| !is_update_setting(p))
            .collect();
        if paths.is_empty() {
            unchanged.push(name.to_string());
            continue;
        }
        let image_changed = paths.iter().any(|p| p == IMAGE_PATH);
        let new_spec = with_policy(&d.spec, Some(&c.spec), name, &cfg.update);
        changes.push(ServiceChange {
            service: name.to_string(),
            group: String::new(),
            image_from: image_of(&c.spec)
                .filter(|_| image_changed)
                .map(str::to_string),
            image_to: image_of(&d.spec)
                .filter(|_| image_changed)
                .map(str::to_string),
            changes: paths,
            availability: availability(&new_spec, &cfg.update, task_nodes),
            new_spec,
        });
    }
    let untouched = by_name
        .keys()
        .filter(|n| !wanted.contains_key(*n))
        .map(|n| n.to_string())
        .collect();
    Ok(Plan {
        stack: stack.to_string(),
        groups: grouped(stack, cfg, changes),
        new_services,
        unchanged,
        untouched,
        quorum,
    })
}

const IMAGE_PATH: &str = "TaskTemplate.ContainerSpec.Image";

fn is_update_setting(path: &str) -> bool {
    ["UpdateConfig", "RollbackConfig"]
        .iter()
        .any(|k| path == *k || path.starts_with(&format!("{k}.")))
}

fn unique<'a, T>(
    items: impl Iterator<Item = (&'a str, T)>,
    what: &str,
) -> Result<BTreeMap<&'a str, T>, PlanError> {
    let mut out = BTreeMap::new();
    for (name, item) in items {
        if name.is_empty() {
            return Err(PlanError::BadInput(format!("a {what} service has no name")));
        }
        if out.insert(name, item).is_some() {
            return Err(PlanError::BadInput(format!(
                "the {what} services name {name} twice"
            )));
        }
    }
    Ok(out)
}

/// What of `want` can be compared with the current spec:
/// - the update and rollback settings are the policy's, not the upgrade's;
/// - `img:1` asks for what `img:1@sha256:...` runs: `docker stack deploy` pins the digest a
///   registry resolved the tag to, and that pin is no change;
/// - a healthcheck is compared only when the current spec shows one: specs read back through the
///   agent's Engine types lose it (the agent's own digest label still notices a changed one).
fn comparable(want: &Value, have: &Value) -> Value {
    let mut v = want.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("UpdateConfig");
        o.remove("RollbackConfig");
    }
    let have_c = &have["TaskTemplate"]["ContainerSpec"];
    if let Some(c) = v["TaskTemplate"]["ContainerSpec"].as_object_mut() {
        if let (Some(w), Some(h)) = (
            c.get("Image").and_then(Value::as_str),
            have_c["Image"].as_str(),
        ) {
            if !w.contains('@') && without_digest(h) == w {
                c.insert("Image".into(), json!(h));
            }
        }
        if have_c.get("HealthCheck").is_none() {
            match have_c.get("Healthcheck") {
                Some(h) => {
                    // The Engine's own spelling: compare under the name the spec is read with.
                    if let Some(w) = c.remove("HealthCheck") {
                        if spec_differences(&w, h).is_empty() {
                            c.insert("HealthCheck".into(), Value::Null);
                        } else {
                            c.insert("HealthCheck".into(), json!("changed"));
                        }
                    }
                }
                None => {
                    c.remove("HealthCheck");
                }
            }
        }
    }
    v
}

/// The desired spec with the policy's settings, its name, and the current labels it lacks (the
/// stack's namespace label above all: without it `docker stack ps` loses the service).
fn with_policy(desired: &Value, current: Option<&Value>, name: &str, p: &UpdatePolicy) -> Value {
    let mut spec = desired.clone();
    spec["Name"] = json!(name);
    if let Some(have) = current.and_then(|c| c["Labels"].as_object()) {
        if !spec["Labels"].is_object() {
            spec["Labels"] = json!({});
        }
        let labels = spec["Labels"].as_object_mut().expect("just made an object");
        for (k, v) in have {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let ns = |s: u64| s * 1_000_000_000;
    spec["UpdateConfig"] = json!({
        "Parallelism": p.parallelism,
        "Delay": ns(p.delay_s),
        "FailureAction": p.failure_action,
        "Monitor": ns(p.monitor_s),
        "MaxFailureRatio": p.max_failure_ratio,
        "Order": p.order,
    });
    // A failed rollback pauses: rolling back the rollback would loop.
    spec["RollbackConfig"] = json!({
        "Parallelism": p.parallelism,
        "Delay": ns(p.delay_s),
        "FailureAction": "pause",
        "Monitor": ns(p.monitor_s),
        "Order": p.order,
    });
    spec
}

fn has_host_port(spec: &Value) -> bool {
    spec["EndpointSpec"]["Ports"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["PublishMode"] == "host"))
}

fn availability(spec: &Value, p: &UpdatePolicy, task_nodes: usize) -> Availability {
    let at_a_time = p.parallelism;
    let start_first = p.order == "start-first";
    let host_port = has_host_port(spec);
    let mode = spec["Mode"].as_object().cloned().unwrap_or_default();
    let (tasks, what) = if mode.contains_key("Global") {
        let n = task_nodes as u64;
        (n, format!("global on {n} ready node{}", plural(n)))
    } else if mode.contains_key("ReplicatedJob") || mode.contains_key("GlobalJob") {
        return Availability::Stops {
            reason: "a job: its tasks run again".into(),
        };
    } else {
        // The Engine's default mode is one replica.
        let n = mode
            .get("Replicated")
            .and_then(|r| r["Replicas"].as_u64())
            .unwrap_or(1);
        (n, format!("{n} replica{}", plural(n)))
    };
    if tasks == 0 {
        return Availability::Rolling {
            reason: format!("{what}: no task runs, none stops"),
        };
    }
    if tasks > at_a_time {
        return Availability::Rolling {
            reason: format!("{what}, {at_a_time} at a time: no downtime"),
        };
    }
    if start_first && !host_port {
        return Availability::Rolling {
            reason: format!("{what}, start-first: each new task starts before its old one stops"),
        };
    }
    let mut reason = if tasks == 1 {
        format!("{what}: down while its task is replaced")
    } else {
        format!("{what}, {at_a_time} at a time: down while its tasks are replaced")
    };
    if start_first {
        reason.push_str(" (a host-mode published port keeps start-first from overlapping)");
    }
    Availability::Stops { reason }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The changed services in the profile's groups, groups in the profile's order, services in
/// pattern order then name order; the rest in `others`, by name.
fn grouped(stack: &str, cfg: &UpgradeCfg, changes: Vec<ServiceChange>) -> Vec<PlanGroup> {
    let prefix = format!("{stack}_");
    let others = cfg.groups.len();
    let mut keyed: Vec<((usize, usize), ServiceChange)> = changes
        .into_iter()
        .map(|c| {
            let compose = c.service.strip_prefix(&prefix).unwrap_or(&c.service);
            let key = cfg
                .groups
                .iter()
                .enumerate()
                .find_map(|(gi, g)| g.position(compose).map(|pi| (gi, pi)))
                .unwrap_or((others, 0));
            (key, c)
        })
        .collect();
    keyed.sort_by(|(a, ca), (b, cb)| a.cmp(b).then_with(|| ca.service.cmp(&cb.service)));
    let mut out: Vec<PlanGroup> = Vec::new();
    for ((gi, _), mut c) in keyed {
        let (name, one_at_a_time) = match cfg.groups.get(gi) {
            Some(g) => (g.name.as_str(), g.one_at_a_time),
            None => (OTHERS, false),
        };
        c.group = name.to_string();
        match out.last_mut() {
            Some(g) if g.name == name => g.services.push(c),
            _ => out.push(PlanGroup {
                name: name.to_string(),
                one_at_a_time,
                services: vec![c],
            }),
        }
    }
    out
}

fn quorum(nodes: &[SwarmNode]) -> Result<Quorum, PlanError> {
    let managers: Vec<&SwarmNode> = nodes.iter().filter(|n| n.manager).collect();
    if managers.is_empty() {
        return Err(PlanError::NoSwarm);
    }
    let ready = managers.iter().filter(|n| n.ready).count();
    let needed = managers.len() / 2 + 1;
    let down: Vec<&str> = managers
        .iter()
        .filter(|n| !n.ready)
        .map(|n| n.hostname.as_str())
        .collect();
    // With every manager up, a swarm of one or two managers cannot keep a majority through a
    // manager's host-level step anyway; that is its size, not a fault to heal first.
    if !down.is_empty() && ready.saturating_sub(1) < needed {
        let now = if ready < needed {
            "the swarm has lost quorum already"
        } else {
            "taking any manager down for host-level work would lose quorum"
        };
        return Err(PlanError::Quorum {
            detail: format!(
                "manager{} {} {} down ({ready} of {} ready, {needed} needed): {now}; heal the managers first (pfctl autoheal)",
                if down.len() == 1 { "" } else { "s" },
                down.join(", "),
                if down.len() == 1 { "is" } else { "are" },
                managers.len(),
            ),
        });
    }
    let warning = (managers.len() < 3).then(|| {
        format!(
            "{} manager{}: while a manager is down for host-level work the swarm cannot be managed (3 managers tolerate the loss of one)",
            managers.len(),
            if managers.len() == 1 { "" } else { "s" }
        )
    });
    let rank = |n: &SwarmNode| match (n.manager, n.leader) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let mut order: Vec<&SwarmNode> = nodes.iter().collect();
    order.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.hostname.cmp(&b.hostname))
    });
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let node_order = order
        .into_iter()
        .map(|n| NodeStep {
            node: n.hostname.clone(),
            role: ["worker", "manager", "leader"][rank(n)].into(),
            ready: n.ready,
            steps: if rank(n) == 2 {
                // Leadership moves to another manager before its node goes.
                words(&["demote", "drain", "act", "wait", "undrain", "promote"])
            } else {
                words(&["drain", "act", "wait", "undrain"])
            },
        })
        .collect();
    Ok(Quorum {
        managers: managers.len(),
        ready_managers: ready,
        needed,
        node_order,
        warning,
    })
}

// ---- render ----

/// Plain text, one line per fact, no colours: for terminals and logs alike.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    if plan.changed() == 0 && plan.new_services.is_empty() {
        line("nothing to upgrade: every service already matches".into());
    } else {
        line(format!(
            "stack {}: {} service{} change, {} new, {} unchanged, {} untouched",
            plan.stack,
            plan.changed(),
            plural(plan.changed() as u64),
            plan.new_services.len(),
            plan.unchanged.len(),
            plan.untouched.len()
        ));
    }
    for g in &plan.groups {
        let n = g.services.len();
        line(format!(
            "group {} ({n} service{}{})",
            g.name,
            plural(n as u64),
            if g.one_at_a_time && n > 1 {
                ", one at a time"
            } else {
                ""
            }
        ));
        let width = g
            .services
            .iter()
            .map(|s| s.service.len())
            .max()
            .unwrap_or(0);
        for s in &g.services {
            line(format!(
                "  {:width$}  {}   {}",
                s.service,
                what_changes(s),
                match &s.availability {
                    Availability::Rolling { reason } => format!("rolls: {reason}"),
                    Availability::Stops { reason } => format!("stops: {reason}"),
                }
            ));
        }
    }
    for s in &plan.new_services {
        line(format!(
            "new: {} (image {}), created after the groups",
            s.service,
            s.image.as_deref().unwrap_or("none")
        ));
    }
    if !plan.unchanged.is_empty() {
        line(format!("unchanged: {}", plan.unchanged.join(", ")));
    }
    if !plan.untouched.is_empty() {
        line(format!(
            "untouched (not in the upgrade): {}",
            plan.untouched.join(", ")
        ));
    }
    let q = &plan.quorum;
    let order: Vec<String> = q
        .node_order
        .iter()
        .map(|n| match (n.role.as_str(), n.ready) {
            ("leader", true) => format!("{} (leader, demoted first)", n.node),
            ("leader", false) => format!("{} (leader, down)", n.node),
            (_, false) => format!("{} (down)", n.node),
            _ => n.node.clone(),
        })
        .collect();
    line(format!(
        "quorum: {} manager{}, {} ready, {} needed; host-level order: {}",
        q.managers,
        plural(q.managers as u64),
        q.ready_managers,
        q.needed,
        order.join(", ")
    ));
    if let Some(w) = &q.warning {
        line(format!("warning: {w}"));
    }
    out
}

/// `image A -> B; changes: X, Y`; the image's own paths are not repeated.
fn what_changes(s: &ServiceChange) -> String {
    let mut parts = Vec::new();
    if let (Some(from), Some(to)) = (&s.image_from, &s.image_to) {
        // A digest only matters when it is the whole difference.
        let (f, t) = (without_digest(from), without_digest(to));
        let (f, t) = if f == t {
            (from.as_str(), to.as_str())
        } else {
            (f, t)
        };
        parts.push(format!("image {f} -> {t}"));
    }
    let image_label = format!("Labels.{IMAGE_LABEL}");
    let rest: Vec<&str> = s
        .changes
        .iter()
        .filter(|p| s.image_from.is_none() || (**p != IMAGE_PATH && **p != image_label))
        .map(String::as_str)
        .collect();
    if !rest.is_empty() {
        parts.push(format!("changes: {}", rest.join(", ")));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "pfdemo";

    fn spec(name: &str, image: &str, mode: Value) -> Value {
        json!({
            "Name": name,
            "Labels": {"com.docker.stack.namespace": STACK, IMAGE_LABEL: image},
            "Mode": mode,
            "TaskTemplate": {
                "ContainerSpec": {"Image": image, "Env": ["PASSWORD=hunter2"], "Isolation": "default"},
                "ForceUpdate": 0,
                "Runtime": "container"
            },
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause"},
            "EndpointSpec": {"Mode": "vip"}
        })
    }

    fn replicated(n: u64) -> Value {
        json!({"Replicated": {"Replicas": n}})
    }

    fn current(name: &str, image: &str, mode: Value) -> Current {
        Current {
            name: name.into(),
            spec: spec(name, image, mode),
            version: 10,
        }
    }

    fn node(name: &str, manager: bool, leader: bool, ready: bool) -> SwarmNode {
        SwarmNode {
            hostname: name.into(),
            id: format!("id-{name}"),
            manager,
            leader,
            ready,
            availability: "active".into(),
        }
    }

    fn three_managers() -> Vec<SwarmNode> {
        vec![
            node("node1", true, true, true),
            node("node3", true, false, true),
            node("node2", true, false, true),
        ]
    }

    fn demo_cfg() -> UpgradeCfg {
        let g = |name: &str, services: &[&str]| Group {
            name: name.into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            one_at_a_time: false,
        };
        UpgradeCfg {
            groups: vec![
                g("db", &["db"]),
                g("web", &["web"]),
                g("worker", &["worker"]),
            ],
            update: UpdatePolicy {
                parallelism: 1,
                delay_s: 1,
                monitor_s: 3,
                ..Default::default()
            },
            converge_timeout_s: 120,
        }
    }

    fn demo_v1() -> Vec<Current> {
        vec![
            current("pfdemo_worker", "pfdemo/busybox:1", replicated(2)),
            current("pfdemo_web", "pfdemo/busybox:1", replicated(3)),
            current("pfdemo_db", "pfdemo/busybox:1", replicated(1)),
        ]
    }

    fn names(p: &Plan) -> Vec<(String, Vec<String>)> {
        p.groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.services.iter().map(|s| s.service.clone()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn image_references_split_at_the_tag_not_the_registry_port() {
        let r = parse_image("registry:5000/x/y:1.2@sha256:abc");
        assert_eq!((r.repo, r.tag), ("registry:5000/x/y", Some("1.2")));
        let r = parse_image("host:5000/img");
        assert_eq!((r.repo, r.tag), ("host:5000/img", None));
        let r = parse_image("busybox");
        assert_eq!((r.repo, r.tag), ("busybox", None));
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
    }

    #[test]
    fn retag_replaces_only_the_matching_image() {
        let mut cur = vec![
            current(
                "pfdemo_web",
                "pfdemo/busybox:1@sha256:0123456789abcdef",
                replicated(3),
            ),
            current("pfdemo_reg", "host:5000/img", replicated(1)),
            current("pfdemo_other", "other/thing:1", replicated(1)),
            current("pfdemo_same", "registry:5000/x/y:1.2", replicated(1)),
        ];
        cur[0].spec["Labels"][IMAGE_LABEL] = json!("pfdemo/busybox:1");
        let tags = vec![
            "pfdemo/busybox:2".to_string(),
            "host:5000/img:7".into(),
            "registry:5000/x/y:1.2".into(),
            "elsewhere/img:9".into(),
        ];
        let d = retag(&cur, &tags);
        let got: Vec<(&str, &str)> = d
            .iter()
            .map(|d| (d.name.as_str(), image_of(&d.spec).unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("pfdemo_web", "pfdemo/busybox:2"),
                ("pfdemo_reg", "host:5000/img:7")
            ]
        );
        // Everything else is the current spec as it was.
        let mut back = d[0].spec.clone();
        assert_eq!(back["Labels"][IMAGE_LABEL], "pfdemo/busybox:2");
        back["TaskTemplate"]["ContainerSpec"]["Image"] =
            cur[0].spec["TaskTemplate"]["ContainerSpec"]["Image"].clone();
        back["Labels"][IMAGE_LABEL] = json!("pfdemo/busybox:1");
        assert_eq!(back, cur[0].spec);
    }

    #[test]
    fn retag_leaves_ambiguous_and_unmatched_services_alone() {
        let cur = vec![current("pfdemo_web", "pfdemo/busybox:1", replicated(3))];
        let two = vec!["pfdemo/busybox:2".to_string(), "pfdemo/busybox:3".into()];
        assert!(retag(&cur, &two).is_empty());
        // The old tag shipped beside the new one (kept for a downgrade) is no ambiguity.
        let with_old = vec!["pfdemo/busybox:1".to_string(), "pfdemo/busybox:2".into()];
        assert_eq!(retag(&cur, &with_old).len(), 1);
        assert!(retag(&cur, &["pfdemo/other:2".to_string()]).is_empty());
        assert!(retag(&cur, &[]).is_empty());
        // An untagged current image is `latest`.
        let latest = vec![current("pfdemo_x", "busybox", replicated(1))];
        assert!(retag(&latest, &["docker.io/library/busybox:latest".to_string()]).is_empty());
        assert_eq!(retag(&latest, &["busybox:1.36".to_string()]).len(), 1);
    }

    #[test]
    fn v1_to_v2_groups_in_profile_order_with_availability() {
        let cur = demo_v1();
        let desired = retag(&cur, &["pfdemo/busybox:2".to_string()]);
        let p = plan(STACK, &demo_cfg(), &cur, &desired, &three_managers()).unwrap();
        assert_eq!(
            names(&p),
            vec![
                ("db".to_string(), vec!["pfdemo_db".to_string()]),
                ("web".into(), vec!["pfdemo_web".into()]),
                ("worker".into(), vec!["pfdemo_worker".into()]),
            ]
        );
        assert_eq!(p.changed(), 3);
        let by = |n: &str| {
            p.groups
                .iter()
                .flat_map(|g| &g.services)
                .find(|s| s.service == n)
                .unwrap()
                .clone()
        };
        let web = by("pfdemo_web");
        assert_eq!(web.image_from.as_deref(), Some("pfdemo/busybox:1"));
        assert_eq!(web.image_to.as_deref(), Some("pfdemo/busybox:2"));
        assert_eq!(web.group, "web");
        assert_eq!(
            web.availability,
            Availability::Rolling {
                reason: "3 replicas, 1 at a time: no downtime".into()
            }
        );
        assert!(matches!(
            by("pfdemo_db").availability,
            Availability::Stops { .. }
        ));
        assert!(matches!(
            by("pfdemo_worker").availability,
            Availability::Rolling { .. }
        ));
        assert_eq!(
            web.changes,
            vec![format!("Labels.{IMAGE_LABEL}"), IMAGE_PATH.to_string()]
        );
        let text = render(&p);
        assert!(
            text.contains("pfdemo_web  image pfdemo/busybox:1 -> pfdemo/busybox:2   rolls: 3 replicas, 1 at a time: no downtime"),
            "{text}"
        );
        assert!(
            text.contains("stops: 1 replica: down while its task is replaced"),
            "{text}"
        );
        let db = text.find("group db").unwrap();
        let webg = text.find("group web").unwrap();
        let worker = text.find("group worker").unwrap();
        assert!(db < webg && webg < worker, "{text}");
        assert!(text.ends_with(
            "quorum: 3 managers, 3 ready, 2 needed; host-level order: node2, node3, node1 (leader, demoted first)\n"
        ), "{text}");
    }

    #[test]
    fn update_and_rollback_settings_come_from_the_policy_and_labels_survive() {
        let cur = demo_v1();
        // A compose-made spec: no stack label of its own, an update_config of its own.
        let desired = vec![Desired {
            name: "pfdemo_web".into(),
            spec: json!({
                "Name": "pfdemo_web",
                "Labels": {"team": "a"},
                "Mode": replicated(3),
                "TaskTemplate": {"ContainerSpec": {"Image": "pfdemo/busybox:2"}},
                "UpdateConfig": {"Parallelism": 3}
            }),
        }];
        let p = plan(STACK, &demo_cfg(), &cur, &desired, &three_managers()).unwrap();
        let s = &p.groups[0].services[0].new_spec;
        assert_eq!(
            s["UpdateConfig"],
            json!({"Parallelism": 1, "Delay": 1_000_000_000u64, "FailureAction": "rollback",
                "Monitor": 3_000_000_000u64, "MaxFailureRatio": 0.0, "Order": "stop-first"})
        );
        assert_eq!(s["RollbackConfig"]["FailureAction"], "pause");
        assert_eq!(s["RollbackConfig"]["Delay"], 1_000_000_000u64);
        assert_eq!(s["Labels"]["com.docker.stack.namespace"], STACK);
        assert_eq!(s["Labels"]["team"], "a");
        assert!(!p.groups[0].services[0]
            .changes
            .iter()
            .any(|c| c.starts_with("UpdateConfig")));
        assert_eq!(p.untouched, vec!["pfdemo_db", "pfdemo_worker"]);
    }

    #[test]
    fn an_env_change_is_a_path_and_never_a_value() {
        let cur = demo_v1();
        let mut d = cur[2].spec.clone();
        d["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["PASSWORD=s3cret-new"]);
        let desired = vec![Desired {
            name: "pfdemo_db".into(),
            spec: d,
        }];
        let p = plan(STACK, &demo_cfg(), &cur, &desired, &three_managers()).unwrap();
        let c = &p.groups[0].services[0];
        assert_eq!(c.changes, vec!["TaskTemplate.ContainerSpec.Env"]);
        assert_eq!((c.image_from.as_ref(), c.image_to.as_ref()), (None, None));
        let text = render(&p);
        assert!(
            text.contains("changes: TaskTemplate.ContainerSpec.Env"),
            "{text}"
        );
        let json = serde_json::to_string(&p).unwrap();
        for out in [&text, &json] {
            assert!(!out.contains("s3cret") && !out.contains("hunter2"), "{out}");
        }
        assert!(json.contains("TaskTemplate.ContainerSpec.Env"));
        // The spec to apply still carries it.
        assert_eq!(
            c.new_spec["TaskTemplate"]["ContainerSpec"]["Env"][0],
            "PASSWORD=s3cret-new"
        );
    }

    #[test]
    fn unchanged_new_and_untouched_services() {
        let cur = demo_v1();
        // Only some fields set, engine defaults absent, a pinned digest: still unchanged.
        let mut web = cur[1].clone();
        web.spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!("pfdemo/busybox:1@sha256:feed");
        let cur = vec![cur[0].clone(), web, cur[2].clone()];
        let desired = vec![
            Desired {
                name: "pfdemo_web".into(),
                spec: json!({"Name": "pfdemo_web", "Mode": replicated(3),
                    "TaskTemplate": {"ContainerSpec": {"Image": "pfdemo/busybox:1", "Env": ["PASSWORD=hunter2"],
                        "HealthCheck": {"Test": ["CMD", "true"]}}},
                    "UpdateConfig": {"Parallelism": 2}, "Labels": {}}),
            },
            Desired {
                name: "pfdemo_cache".into(),
                spec: json!({"Name": "pfdemo_cache", "Mode": replicated(1),
                    "TaskTemplate": {"ContainerSpec": {"Image": "redis:7"}}}),
            },
        ];
        let p = plan(STACK, &demo_cfg(), &cur, &desired, &three_managers()).unwrap();
        assert_eq!(p.changed(), 0);
        assert_eq!(p.unchanged, vec!["pfdemo_web"]);
        assert_eq!(p.untouched, vec!["pfdemo_db", "pfdemo_worker"]);
        assert_eq!(p.new_services.len(), 1);
        assert_eq!(p.new_services[0].service, "pfdemo_cache");
        assert_eq!(p.new_services[0].new_spec["UpdateConfig"]["Parallelism"], 1);
        let text = render(&p);
        assert!(text.contains("new: pfdemo_cache (image redis:7)"), "{text}");
        assert!(text.contains("unchanged: pfdemo_web"), "{text}");

        let none = plan(STACK, &demo_cfg(), &cur, &[], &three_managers()).unwrap();
        assert!(render(&none).starts_with("nothing to upgrade: every service already matches\n"));
    }

    #[test]
    fn a_changed_replica_count_and_a_desired_digest_are_changes() {
        let cur = demo_v1();
        let mut web = cur[1].spec.clone();
        web["Mode"] = replicated(4);
        let mut db = cur[2].spec.clone();
        db["TaskTemplate"]["ContainerSpec"]["Image"] = json!("pfdemo/busybox:1@sha256:beef");
        let desired = vec![
            Desired {
                name: "pfdemo_web".into(),
                spec: web,
            },
            Desired {
                name: "pfdemo_db".into(),
                spec: db,
            },
        ];
        let p = plan(STACK, &demo_cfg(), &cur, &desired, &three_managers()).unwrap();
        assert_eq!(p.groups[0].services[0].changes, vec![IMAGE_PATH]);
        assert_eq!(
            p.groups[1].services[0].changes,
            vec!["Mode.Replicated.Replicas"]
        );
        assert!(render(&p).contains("image pfdemo/busybox:1 -> pfdemo/busybox:1@sha256:beef"));
    }

    #[test]
    fn groups_keep_pattern_order_and_the_rest_goes_last() {
        let cfg = UpgradeCfg {
            groups: vec![
                Group {
                    name: "core".into(),
                    services: vec!["redis".into(), "scheduler".into(), "flower".into()],
                    one_at_a_time: false,
                },
                Group {
                    name: "data".into(),
                    services: vec!["couchbase*".into(), "rabbitmq*".into()],
                    one_at_a_time: true,
                },
            ],
            ..Default::default()
        };
        let all = [
            "iservices_rabbitmq2",
            "iservices_flower",
            "iservices_couchbase-worker",
            "iservices_gui",
            "iservices_rabbitmq",
            "iservices_redis",
            "iservices_couchbase",
            "iservices_contentapi",
        ];
        let cur: Vec<Current> = all
            .iter()
            .map(|n| current(n, "img:1", replicated(1)))
            .collect();
        let desired = retag(&cur, &["img:2".to_string()]);
        let p = plan("iservices", &cfg, &cur, &desired, &three_managers()).unwrap();
        let got: Vec<(String, Vec<String>)> = names(&p);
        let s = |v: &[&str]| {
            v.iter()
                .map(|x| format!("iservices_{x}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got,
            vec![
                ("core".to_string(), s(&["redis", "flower"])),
                (
                    "data".into(),
                    s(&["couchbase", "couchbase-worker", "rabbitmq", "rabbitmq2"])
                ),
                ("others".into(), s(&["contentapi", "gui"])),
            ]
        );
        assert!(p.groups[1].one_at_a_time && !p.groups[2].one_at_a_time);
        assert!(render(&p).contains("group data (4 services, one at a time)"));
    }

    #[test]
    fn availability_follows_mode_order_and_ports() {
        let p = UpdatePolicy::default();
        let start = UpdatePolicy {
            order: "start-first".into(),
            ..Default::default()
        };
        let one = json!({"Mode": replicated(1)});
        assert!(matches!(
            availability(&one, &p, 3),
            Availability::Stops { .. }
        ));
        assert!(matches!(
            availability(&one, &start, 3),
            Availability::Rolling { .. }
        ));
        let host = json!({"Mode": replicated(1), "EndpointSpec": {"Ports": [
            {"TargetPort": 80, "PublishedPort": 80, "PublishMode": "host"}]}});
        let Availability::Stops { reason } = availability(&host, &start, 3) else {
            panic!("a host port with one replica stops");
        };
        assert!(reason.contains("host-mode"), "{reason}");
        let global = json!({"Mode": {"Global": {}}});
        assert!(matches!(
            availability(&global, &p, 3),
            Availability::Rolling { .. }
        ));
        assert!(matches!(
            availability(&global, &p, 1),
            Availability::Stops { .. }
        ));
        let two_at_a_time = UpdatePolicy {
            parallelism: 2,
            ..Default::default()
        };
        let Availability::Stops { reason } =
            availability(&json!({"Mode": replicated(2)}), &two_at_a_time, 3)
        else {
            panic!("2 replicas 2 at a time stop");
        };
        assert_eq!(
            reason,
            "2 replicas, 2 at a time: down while its tasks are replaced"
        );
        // No mode: the Engine's one replica.
        assert!(matches!(
            availability(&json!({}), &p, 3),
            Availability::Stops { .. }
        ));
    }

    #[test]
    fn quorum_three_ready_managers_leader_last_workers_first() {
        let mut nodes = three_managers();
        nodes.push(node("w2", false, false, true));
        nodes.push(node("w1", false, false, false));
        let q = quorum(&nodes).unwrap();
        assert_eq!((q.managers, q.ready_managers, q.needed), (3, 3, 2));
        let order: Vec<(&str, &str)> = q
            .node_order
            .iter()
            .map(|n| (n.node.as_str(), n.role.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("w1", "worker"),
                ("w2", "worker"),
                ("node2", "manager"),
                ("node3", "manager"),
                ("node1", "leader")
            ]
        );
        assert_eq!(
            q.node_order[0].steps,
            vec!["drain", "act", "wait", "undrain"]
        );
        assert_eq!(
            q.node_order[4].steps,
            vec!["demote", "drain", "act", "wait", "undrain", "promote"]
        );
        assert!(q.warning.is_none());
    }

    #[test]
    fn quorum_refuses_when_one_more_manager_down_would_lose_it() {
        let mut nodes = three_managers();
        nodes[2].ready = false;
        let e = plan(STACK, &demo_cfg(), &demo_v1(), &[], &nodes).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, PlanError::Quorum { .. }));
        assert!(
            msg.contains("node2") && msg.contains("2 of 3 ready"),
            "{msg}"
        );
        assert!(
            msg.contains("would lose quorum") && msg.contains("pfctl autoheal"),
            "{msg}"
        );

        let five = |down: usize| -> Vec<SwarmNode> {
            (1..=5)
                .map(|i| node(&format!("m{i}"), true, i == 1, i > down))
                .collect()
        };
        let e = quorum(&five(2)).unwrap_err().to_string();
        assert!(
            e.contains("managers m1, m2 are down") && e.contains("3 of 5 ready, 3 needed"),
            "{e}"
        );
        let q = quorum(&five(1)).unwrap();
        assert_eq!((q.managers, q.ready_managers, q.needed), (5, 4, 3));
        let e = quorum(&five(3)).unwrap_err().to_string();
        assert!(e.contains("lost quorum already"), "{e}");
    }

    #[test]
    fn no_managers_is_no_swarm_and_small_swarms_are_warned_not_refused() {
        let workers = vec![node("w1", false, false, true)];
        assert_eq!(quorum(&workers).unwrap_err(), PlanError::NoSwarm);
        assert_eq!(quorum(&[]).unwrap_err(), PlanError::NoSwarm);
        let single = quorum(&[node("solo", true, true, true)]).unwrap();
        assert!(single.warning.unwrap().starts_with("1 manager:"));
        let two_one_down = [node("a", true, true, true), node("b", true, false, false)];
        assert!(matches!(
            quorum(&two_one_down),
            Err(PlanError::Quorum { .. })
        ));
    }

    #[test]
    fn policy_errors_name_the_field() {
        let check = |f: &dyn Fn(&mut UpgradeCfg), field: &str| {
            let mut c = demo_cfg();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
            let e = plan(STACK, &c, &[], &[], &three_managers()).unwrap_err();
            assert!(matches!(e, PlanError::BadPolicy(_)));
        };
        check(
            &|c| c.update.failure_action = "explode".into(),
            "upgrade.update.failure_action 'explode'",
        );
        check(
            &|c| c.update.order = "random".into(),
            "upgrade.update.order 'random'",
        );
        check(&|c| c.update.parallelism = 0, "upgrade.update.parallelism");
        check(
            &|c| c.update.max_failure_ratio = 1.5,
            "upgrade.update.max_failure_ratio",
        );
        check(
            &|c| c.update.delay_s = MAX_SECONDS + 1,
            "upgrade.update.delay_s",
        );
        check(
            &|c| c.groups[1].name = "db".into(),
            "upgrade.groups[1].name 'db' is used twice",
        );
        check(
            &|c| c.groups[0].name = OTHERS.into(),
            "upgrade.groups[0].name 'others'",
        );
        check(
            &|c| c.groups[2].services.clear(),
            "upgrade.groups[2].services",
        );
        check(&|c| c.converge_timeout_s = 0, "upgrade.converge_timeout_s");
        assert!(demo_cfg().validate().is_ok());
        assert!(UpgradeCfg::default().validate().is_ok());
    }

    #[test]
    fn the_table_defaults_and_refuses_unknown_keys() {
        let c: UpgradeCfg = toml::from_str("").unwrap();
        assert_eq!(c, UpgradeCfg::default());
        assert_eq!(c.converge_timeout_s, 300);
        assert_eq!(c.update.delay_s, 2);
        let c: UpgradeCfg = toml::from_str("[update]\nparallelism = 2\n").unwrap();
        assert_eq!((c.update.parallelism, c.update.monitor_s), (2, 5));
        let e = toml::from_str::<UpgradeCfg>("[update]\nparalelism = 2\n").unwrap_err();
        assert!(e.to_string().contains("paralelism"), "{e}");
    }

    #[test]
    fn built_in_profiles_carry_their_order() {
        let demo = crate::profile::load("demo", None).unwrap().upgrade.unwrap();
        let order: Vec<(&str, Vec<&str>)> = demo
            .groups
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.services.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(order, [("db", vec!["db"]), ("apps", vec!["web", "worker"])]);
        assert_eq!(
            (
                demo.update.delay_s,
                demo.update.monitor_s,
                demo.update.failure_action.as_str()
            ),
            (0, 2, "rollback")
        );
        let pf = crate::profile::load("powerflow", None)
            .unwrap()
            .upgrade
            .unwrap();
        let order: Vec<&str> = pf.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(order, ["core", "data", "gui", "apps"]);
        assert!(pf.groups[1].one_at_a_time && pf.groups[3].one_at_a_time);
        assert_eq!(pf.groups[3].position("steprunner_syncpacks"), Some(1));
        let bad: toml::Table = toml::from_str("[upgrade.update]\norder = \"sideways\"\n").unwrap();
        let e = crate::profile::load("demo", Some(&bad)).unwrap_err();
        assert!(
            format!("{e:#}").contains("upgrade.update.order 'sideways'"),
            "{e:#}"
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let cur = demo_v1();
        let twice = vec![cur[0].clone(), cur[0].clone()];
        let e = plan(STACK, &demo_cfg(), &twice, &[], &three_managers()).unwrap_err();
        assert!(e.to_string().contains("pfdemo_worker twice"), "{e}");
        let renamed = vec![Desired {
            name: "pfdemo_web".into(),
            spec: json!({"Name": "pfdemo_www"}),
        }];
        let e = plan(STACK, &demo_cfg(), &cur, &renamed, &three_managers()).unwrap_err();
        assert!(e.to_string().contains("pfdemo_www"), "{e}");
    }

    #[test]
    fn network_ids_become_names() {
        let mut cur = demo_v1();
        cur[0].spec["TaskTemplate"]["Networks"] =
            json!([{"Target": "abc123", "Aliases": ["worker"]}, {"Target": "zzz"}]);
        name_networks(
            &mut cur,
            &BTreeMap::from([("abc123".into(), "pfdemo_default".into())]),
        );
        assert_eq!(
            cur[0].spec["TaskTemplate"]["Networks"],
            json!([{"Target": "pfdemo_default", "Aliases": ["worker"]}, {"Target": "zzz"}])
        );
    }

    #[test]
    fn healthchecks_compare_only_when_the_current_spec_shows_one() {
        let hc = json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000u64});
        let want = json!({"TaskTemplate": {"ContainerSpec": {"Image": "i", "HealthCheck": hc}}});
        let lost = json!({"TaskTemplate": {"ContainerSpec": {"Image": "i"}}});
        assert!(spec_differences(&comparable(&want, &lost), &lost).is_empty());
        let same = json!({"TaskTemplate": {"ContainerSpec": {"Image": "i", "Healthcheck": hc}}});
        assert!(spec_differences(&comparable(&want, &same), &same).is_empty());
        let other = json!({"TaskTemplate": {"ContainerSpec": {"Image": "i",
            "Healthcheck": {"Test": ["CMD", "false"]}}}});
        assert_eq!(
            spec_differences(&comparable(&want, &other), &other),
            vec!["TaskTemplate.ContainerSpec.HealthCheck"]
        );
    }
}
