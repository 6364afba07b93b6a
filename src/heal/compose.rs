//! compose.valid's remedy: one rewrite of the compose file that wins the merge (the override when
//! it exists) fixing every problem it can at once (pins, replicas, `db_host` lists, spread),
//! written on every node by one action that then brings the running services in line. What it
//! cannot fix stays a manual recipe. Pure, like the rest of the planner.

use super::{manager_view, push, sha256_hex, Action, Manual, Plan, Remedy};
use crate::checks::collect::NodeObs;
use crate::checks::compose::{self as check, Config};
use crate::checks::Finding;
use crate::profile::Profile;
use pfproto::action::{EnvVar, ServiceUpdateParams};
use pfproto::probe::SwarmView;
use std::collections::BTreeMap;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// The environment variable that lists the Couchbase services a service connects to.
pub const DB_HOST: &str = "db_host";

const REFERENCE: &str = "L1648-1656, L5906-5913, L7527-7535";

const BY_HAND: &str =
    "edit the compose file (or its override), copy it to every node and redeploy the stack";

/// Changes to one compose file, by compose service name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Edits {
    /// (service, node): a `node.hostname == node` constraint replacing any other hostname pin.
    pub pins: Vec<(String, String)>,
    pub replicas: Vec<(String, u64)>,
    pub max_per_node: Vec<(String, u64)>,
    /// (service, variable, value).
    pub env: Vec<(String, String, String)>,
}

impl Edits {
    fn is_empty(&self) -> bool {
        self.pins.is_empty()
            && self.replicas.is_empty()
            && self.max_per_node.is_empty()
            && self.env.is_empty()
    }

    /// What the rewrite does, for the plan.
    fn describe(&self) -> Vec<String> {
        let pins = self.pins.iter().map(|(s, n)| format!("pin {s} to {n}"));
        let replicas = self
            .replicas
            .iter()
            .map(|(s, n)| format!("{s} replicas {n}"));
        let max = self
            .max_per_node
            .iter()
            .map(|(s, m)| format!("{s} max_replicas_per_node {m}"));
        let env = self.env.iter().map(|(s, k, v)| format!("{s} {k} '{v}'"));
        pins.chain(replicas).chain(max).chain(env).collect()
    }
}

/// What the planner knows of the compose files, gathered from the observations.
struct Seen<'a> {
    /// The files that exist, in merge order: (path, content).
    files: Vec<(String, String)>,
    /// Nodes whose copy of the winning file differs from `files`' last.
    differ: Vec<String>,
    /// Every node reached: the rewrite goes to each.
    nodes: Vec<String>,
    /// A manager and the swarm it describes.
    swarm: Option<(String, &'a SwarmView)>,
}

pub(super) fn plan(
    p: &mut Plan,
    f: &Finding,
    nodes: &BTreeMap<String, &NodeObs>,
    profile: &Profile,
) {
    let Some(cfg) = &profile.compose else { return };
    // Without the files' text (a read failed, the base file is missing) the generic recipe of
    // the finding's message is all there is.
    let Some(seen) = gather(cfg, nodes) else {
        return;
    };
    remedy(p, f, cfg, profile, &seen);
}

fn gather<'a>(cfg: &Config, nodes: &BTreeMap<String, &'a NodeObs>) -> Option<Seen<'a>> {
    let reads = nodes
        .values()
        .find_map(|o| o.app.as_ref())?
        .compose
        .as_ref()?;
    let mut files = Vec::new();
    for (path, r) in cfg.files.iter().zip(reads) {
        let r = r.as_ref().ok()?;
        if r.exists {
            files.push((path.clone(), r.content.clone()?));
        }
    }
    let (path, text) = files.last()?;
    let sha = sha256_hex(text.as_bytes());
    let differ = nodes
        .iter()
        .filter(|(_, o)| {
            o.files
                .as_ref()
                .ok()
                .and_then(|s| s.files.iter().find(|s| &s.path == path))
                .is_some_and(|s| s.sha256.as_deref() != Some(sha.as_str()))
        })
        .map(|(n, _)| n.clone())
        .collect();
    Some(Seen {
        files,
        differ,
        nodes: nodes.keys().cloned().collect(),
        swarm: manager_view(nodes),
    })
}

fn manual(p: &mut Plan, problem: String, recipe: String) {
    p.manual.push(Manual {
        check: "compose.valid".into(),
        node: "cluster".into(),
        problem,
        recipe,
        reference: REFERENCE.into(),
    });
}

/// The hints for what the rewrite cannot do, then the generic recipe.
fn recipe(hints: &[String]) -> String {
    let mut r = hints.join("; ");
    if !r.is_empty() {
        r.push_str("; ");
    }
    r.push_str(BY_HAND);
    r
}

fn remedy(p: &mut Plan, f: &Finding, cfg: &Config, profile: &Profile, seen: &Seen) {
    let Ok(docs) = seen
        .files
        .iter()
        .map(|(_, t)| load(t))
        .collect::<Result<Vec<_>, _>>()
    else {
        return; // the check names the file that is not YAML
    };
    let Some((path, text)) = seen.files.last() else {
        return;
    };
    let merged = merge_all(docs.clone());
    let before = check::problems(cfg, &merged);
    let (edits, hints) = decide(cfg, &merged, profile, seen.swarm.as_ref().map(|(_, v)| *v));
    if edits.is_empty() {
        manual(p, before.join("; "), recipe(&hints));
        return;
    }
    let content = match rewrite(text, &merged, &edits) {
        Ok(c) => c,
        Err(e) => {
            manual(
                p,
                format!("{path} cannot be rewritten: {e}"),
                recipe(&hints),
            );
            return;
        }
    };
    let mut after_docs = docs;
    after_docs.pop();
    after_docs.push(load(&content).unwrap_or(Yaml::Null));
    let after = check::problems(cfg, &merge_all(after_docs));
    let fixed: Vec<&String> = before.iter().filter(|b| !after.contains(b)).collect();
    if !after.is_empty() {
        manual(p, after.join("; "), recipe(&hints));
    }
    let Some(first) = fixed.first() else { return };
    let fixed_text = fixed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if !seen.differ.is_empty() {
        manual(
            p,
            format!("{fixed_text} in {path}, and {path} differs on {}", seen.differ.join(", ")),
            "make the file identical on every node first (autoheal syncs it when it is in the profile's files), then run autoheal again".into(),
        );
        return;
    }
    let (manager, updates) = match &seen.swarm {
        Some((m, view)) => (m.clone(), updates(&edits, profile, view, &p.actions)),
        None => (String::new(), Vec::new()),
    };
    let disruptive = updates
        .iter()
        .any(|u| u.env.is_some() || u.max_replicas_per_node.is_some());
    let mut what = format!(
        "rewrite {path} on every node, atomically: {}",
        edits.describe().join("; ")
    );
    if !updates.is_empty() {
        let list: Vec<String> = updates.iter().map(describe_update).collect();
        what.push_str(&format!("; then on {manager}: {}", list.join("; ")));
    }
    let running = if updates.is_empty() {
        "the running services change at the next `docker stack deploy`".to_string()
    } else if disruptive {
        "the running services follow at once (their tasks are replaced, one after the other)"
            .to_string()
    } else {
        "the running services follow at once".to_string()
    };
    push(
        p,
        Action {
            id: String::new(),
            node: seen.nodes.join(","),
            what,
            reason: format!("compose.valid: {}", f.message),
            disruptive,
            effect: format!(
                "{path} answers the profile on every node; {running}; the previous file stays as {path}.pfctl-prev (comments are not kept)"
            ),
            check: "compose.valid",
            check_node: "cluster".into(),
            // One write makes every fix, so the first one gone means they all are.
            subject: first.to_string(),
            remedy: Remedy::Compose {
                path: path.clone(),
                expect_sha256: sha256_hex(text.as_bytes()),
                content,
                nodes: seen.nodes.clone(),
                manager,
                updates,
            },
        },
    );
}

fn describe_update(u: &ServiceUpdateParams) -> String {
    let mut parts = Vec::new();
    if let Some(n) = u.replicas {
        parts.push(format!("scale to {n}"));
    }
    if let Some(m) = u.max_replicas_per_node {
        parts.push(format!("max {m} per node"));
    }
    if let Some(e) = &u.env {
        parts.push(format!("set {}='{}'", e.name, e.value));
    }
    format!("update {} ({})", u.service, parts.join(", "))
}

/// The edits that answer the profile's compose rules in `merged`, and hints for what they cannot.
fn decide(
    cfg: &Config,
    merged: &Yaml,
    profile: &Profile,
    view: Option<&SwarmView>,
) -> (Edits, Vec<String>) {
    let svcs = check::services(merged);
    let find = |name: &str| svcs.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
    let mut e = Edits::default();
    let mut hints = Vec::new();
    for name in &cfg.pinned {
        let Some(s) = find(name) else { continue };
        if check::constraints(s)
            .iter()
            .any(|c| check::is_hostname_pin(c))
        {
            continue;
        }
        match pin_node(profile, view, name) {
            Some(node) => e.pins.push((name.clone(), node)),
            None => hints.push(format!(
                "no node to pin {name} to: the profile names none and it does not run on exactly one node; add `node.hostname == NODE` by hand"
            )),
        }
    }
    // Both rules ask for replicas; the larger number answers both. A global service is fine
    // for the spread rule (one task per node), not for the replicated one.
    let mut want: Vec<(&str, u64, bool)> = Vec::new();
    let asks = cfg
        .replicated
        .iter()
        .map(|r| (r.service.as_str(), r.min_replicas, true))
        .chain(
            cfg.spread
                .iter()
                .map(|s| (s.service.as_str(), s.replicas, false)),
        );
    for (name, n, replicated) in asks {
        match want.iter_mut().find(|(s, _, _)| *s == name) {
            Some(w) => *w = (name, w.1.max(n), w.2 || replicated),
            None => want.push((name, n, replicated)),
        }
    }
    for (name, n, replicated) in want {
        let Some(s) = find(name) else { continue };
        match check::replicas(s) {
            (true, _) if replicated => hints.push(format!(
                "{name} runs in global mode, which has no replica count: make it `mode: replicated` with `replicas: {n}` (the service is recreated at the next deploy)"
            )),
            (false, have) if have < n => e.replicas.push((name.to_string(), n)),
            _ => {}
        }
    }
    for sp in &cfg.spread {
        let Some(s) = find(&sp.service) else { continue };
        let max = s["deploy"]["placement"]["max_replicas_per_node"].as_i64();
        let global = check::replicas(s).0;
        if !global && max.is_none_or(|m| m <= 0 || m as u64 > sp.max_per_node) {
            e.max_per_node.push((sp.service.clone(), sp.max_per_node));
        }
    }
    let couchbases: Vec<&str> = cfg
        .couchbase_services
        .iter()
        .map(String::as_str)
        .filter(|c| find(c).is_some())
        .collect();
    for name in &cfg.db_host_services {
        let Some(s) = find(name) else { continue };
        match check::env(s, DB_HOST) {
            None => hints.push(format!(
                "{name} has no {DB_HOST}: if it uses Couchbase, add `{DB_HOST}: '{}'` to its environment",
                couchbases.join(",")
            )),
            Some(v) => {
                if let Some(full) = complete_db_host(&v, &couchbases) {
                    e.env.push((name.clone(), DB_HOST.to_string(), full));
                }
            }
        }
    }
    (e, hints)
}

/// The node a compose service is to be pinned to: the profile's pin, else the one node it runs on.
fn pin_node(profile: &Profile, view: Option<&SwarmView>, service: &str) -> Option<String> {
    let full = format!("{}_{service}", profile.stack);
    let pinned = profile
        .services
        .iter()
        .find(|e| e.name == full)
        .and_then(|e| e.pinned_node.clone());
    pinned.or_else(|| {
        let v = view?;
        let svc = v.services.iter().find(|x| x.name == full)?;
        let mut hosts: Vec<&str> = svc
            .tasks
            .iter()
            .filter(|t| t.state == "running")
            .filter_map(|t| {
                v.nodes
                    .iter()
                    .find(|n| n.id == t.node_id)
                    .map(|n| n.hostname.as_str())
            })
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        (hosts.len() == 1).then(|| hosts[0].to_string())
    })
}

/// The service updates that make the running stack match the rewritten file. The file alone
/// changes nothing until the next `docker stack deploy`, and PowerFlow admins do not redeploy
/// for a fix; so they are part of the rewrite's action (not actions of their own): they run
/// only once the file is written on every node, and never when a changed copy stops the write.
fn updates(
    e: &Edits,
    profile: &Profile,
    view: &SwarmView,
    planned: &[Action],
) -> Vec<ServiceUpdateParams> {
    let mut names: Vec<&str> = Vec::new();
    let touched = e
        .replicas
        .iter()
        .map(|(s, _)| s)
        .chain(e.max_per_node.iter().map(|(s, _)| s))
        .chain(e.env.iter().map(|(s, _, _)| s));
    for s in touched {
        if !names.contains(&s.as_str()) {
            names.push(s);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let full = format!("{}_{name}", profile.stack);
        let Some(svc) = view.services.iter().find(|s| s.name == full) else {
            continue; // not deployed: the next deploy reads the new file
        };
        // A scale the stack.replicas action already makes is not made twice.
        let scaled = |n: u64| {
            planned.iter().any(|a| {
                matches!(&a.remedy, Remedy::Replicas { service, replicas } if *service == full && *replicas >= n)
            })
        };
        let replicas = e
            .replicas
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, n)| *n)
            .filter(|n| svc.desired.is_some_and(|d| d < *n) && !scaled(*n));
        let max_replicas_per_node = e
            .max_per_node
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, m)| *m)
            .filter(|m| svc.mode == "replicated" && svc.max_replicas_per_node != Some(*m));
        // The swarm view does not carry the environment: the update is asked for every time
        // and changes nothing where the variable already has the value.
        let env = e
            .env
            .iter()
            .find(|(s, _, _)| s == name)
            .map(|(_, k, v)| EnvVar {
                name: k.clone(),
                value: v.clone(),
            });
        if replicas.is_none() && max_replicas_per_node.is_none() && env.is_none() {
            continue;
        }
        out.push(ServiceUpdateParams {
            service: full,
            replicas,
            max_replicas_per_node,
            env,
            ..Default::default()
        });
    }
    out
}

/// The `db_host` value listing every Couchbase service, or `None` when it lists them all.
/// Listed entries keep their form and order; the missing ones follow in the profile's order,
/// with the domain the listed ones use (`couchbase.isnet` -> `couchbase-worker.isnet`); other
/// hosts (`localhost`) come after them, and connection options (`?n1ql_timeout=...`) last.
pub fn complete_db_host(value: &str, couchbases: &[&str]) -> Option<String> {
    let (hosts, options) = match value.split_once('?') {
        Some((h, o)) => (h, Some(o)),
        None => (value, None),
    };
    let entries: Vec<&str> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let is_cb = |h: &str| couchbases.contains(&check::db_host_name(h));
    let missing: Vec<&str> = couchbases
        .iter()
        .copied()
        .filter(|c| !entries.iter().any(|h| check::db_host_name(h) == *c))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let domain = entries
        .iter()
        .filter(|h| is_cb(h))
        .find_map(|h| h.split_once('.').map(|(_, d)| format!(".{d}")))
        .unwrap_or_default();
    let mut out: Vec<String> = entries
        .iter()
        .filter(|h| is_cb(h))
        .map(|h| h.to_string())
        .collect();
    out.extend(missing.iter().map(|c| format!("{c}{domain}")));
    out.extend(entries.iter().filter(|h| !is_cb(h)).map(|h| h.to_string()));
    let mut v = out.join(",");
    if let Some(o) = options {
        v.push('?');
        v.push_str(o);
    }
    Some(v)
}

fn load(text: &str) -> Result<Yaml, String> {
    match YamlLoader::load_from_str(text) {
        Ok(mut docs) if !docs.is_empty() => Ok(docs.swap_remove(0)),
        Ok(_) => Ok(Yaml::Hash(Default::default())),
        Err(e) => Err(format!("not valid YAML: {e}")),
    }
}

fn merge_all(docs: Vec<Yaml>) -> Yaml {
    docs.into_iter().reduce(check::merge).unwrap_or(Yaml::Null)
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_string())
}

/// Sets `k` in place: a new key goes last, an existing one keeps its position (`insert` would
/// move it to the end).
fn set(h: &mut Hash, k: &str, v: Yaml) {
    match h.get_mut(&key(k)) {
        Some(old) => *old = v,
        None => {
            h.insert(key(k), v);
        }
    }
}

/// The mapping at `path` from the document's root, made where missing.
fn mapping<'a>(doc: &'a mut Yaml, path: &[&str]) -> Result<&'a mut Hash, String> {
    if doc.is_null() {
        *doc = Yaml::Hash(Default::default());
    }
    let Yaml::Hash(root) = doc else {
        return Err("the file is not a mapping".into());
    };
    let mut cur = root;
    for k in path {
        match cur.get(&key(k)) {
            Some(Yaml::Hash(_)) => {}
            Some(Yaml::Null) | None => set(cur, k, Yaml::Hash(Default::default())),
            Some(_) => return Err(format!("`{k}` is not a mapping")),
        }
        let Some(Yaml::Hash(next)) = cur.get_mut(&key(k)) else {
            return Err(format!("`{k}` is not a mapping"));
        };
        cur = next;
    }
    Ok(cur)
}

/// A list in `h`, or where the file has none, the merged files' (the file's list replaces it).
fn list_or(h: &Hash, k: &str, merged: &Yaml) -> Vec<Yaml> {
    match (h.get(&key(k)), merged) {
        (Some(Yaml::Array(a)), _) => a.clone(),
        (None | Some(Yaml::Null), Yaml::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// Applies `edits` to the compose file `text`; `merged` is what all the files give together
/// (the same as `text` when it is the only one), so a list the file lacks starts from it.
pub fn rewrite(text: &str, merged: &Yaml, edits: &Edits) -> Result<String, String> {
    let mut doc = load(text)?;
    let merged_svc = |s: &str| &merged["services"][s];
    for (s, node) in &edits.pins {
        let placement = mapping(&mut doc, &["services", s, "deploy", "placement"])?;
        let mut list = list_or(
            placement,
            "constraints",
            &merged_svc(s)["deploy"]["placement"]["constraints"],
        );
        list.retain(|c| !c.as_str().is_some_and(check::is_hostname_pin));
        list.push(Yaml::String(format!("node.hostname == {node}")));
        set(placement, "constraints", Yaml::Array(list));
    }
    for (s, n) in &edits.replicas {
        let deploy = mapping(&mut doc, &["services", s, "deploy"])?;
        set(deploy, "replicas", Yaml::Integer(*n as i64));
    }
    for (s, m) in &edits.max_per_node {
        let placement = mapping(&mut doc, &["services", s, "deploy", "placement"])?;
        set(placement, "max_replicas_per_node", Yaml::Integer(*m as i64));
    }
    for (s, k, v) in &edits.env {
        let svc = mapping(&mut doc, &["services", s])?;
        set_env(svc, &merged_svc(s)["environment"], k, v)
            .map_err(|e| format!("service {s}: {e}"))?;
    }
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&doc)
        .map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

/// Sets one variable in a service's `environment`, in the form the file uses: a mapping
/// (`KEY: value`) or a list (`- KEY=value`). Where the file has none, a list from the other
/// files is copied whole (a later file's list replaces an earlier one), a mapping gets just
/// this key (mappings merge key by key).
fn set_env(svc: &mut Hash, merged_env: &Yaml, k: &str, v: &str) -> Result<(), String> {
    match svc.get_mut(&key("environment")) {
        Some(Yaml::Hash(h)) => set(h, k, Yaml::String(v.to_string())),
        Some(Yaml::Array(a)) => set_entry(a, k, v),
        Some(Yaml::Null) | None => {
            let env = match merged_env {
                Yaml::Array(a) => {
                    let mut a = a.clone();
                    set_entry(&mut a, k, v);
                    Yaml::Array(a)
                }
                _ => {
                    let mut h = Hash::new();
                    h.insert(key(k), Yaml::String(v.to_string()));
                    Yaml::Hash(h)
                }
            };
            set(svc, "environment", env);
        }
        Some(_) => return Err("`environment` is neither a list nor a mapping".into()),
    }
    Ok(())
}

fn set_entry(list: &mut Vec<Yaml>, k: &str, v: &str) {
    let entry = Yaml::String(format!("{k}={v}"));
    let named = |e: &Yaml| {
        e.as_str()
            .is_some_and(|s| s.split_once('=').map_or(s, |(n, _)| n).trim() == k)
    };
    match list.iter_mut().find(|e| named(e)) {
        Some(e) => *e = entry,
        None => list.push(entry),
    }
}

/// Adds `node.hostname == NODE` to each service's placement constraints (replacing any other
/// hostname pin); a service the file does not mention is added with just that.
pub fn add_pins(text: &str, pins: &[(String, String)]) -> Result<String, String> {
    let merged = load(text)?;
    let edits = Edits {
        pins: pins.to_vec(),
        ..Default::default()
    };
    rewrite(text, &merged, &edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;
    use pfproto::probe::{ServiceView, SwarmNode, TaskView};

    fn parse(text: &str) -> Yaml {
        YamlLoader::load_from_str(text).unwrap().swap_remove(0)
    }

    fn edit(text: &str, edits: Edits) -> Yaml {
        parse(&rewrite(text, &parse(text), &edits).unwrap())
    }

    #[test]
    fn pins_are_added_replacing_another_hostname_pin_and_keeping_the_rest() {
        let text = "version: \"3.7\"\nservices:\n  db:\n    image: x\n    deploy:\n      placement:\n        constraints: [\"node.role == manager\", \"node.hostname==old\"]\n  web:\n    image: y\n";
        let out = add_pins(
            text,
            &[
                ("db".into(), "node1".into()),
                ("cache".into(), "node2".into()),
            ],
        )
        .unwrap();
        let doc = parse(&out);
        let c = &doc["services"]["db"]["deploy"]["placement"]["constraints"];
        assert_eq!(c[0].as_str(), Some("node.role == manager"));
        assert_eq!(c[1].as_str(), Some("node.hostname == node1"));
        assert!(c[2].is_badvalue());
        assert_eq!(
            doc["version"].as_str(),
            Some("3.7"),
            "a version string stays a string"
        );
        assert_eq!(doc["services"]["web"]["image"].as_str(), Some("y"));
        let order: Vec<&str> = doc["services"]
            .as_hash()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(order, ["db", "web", "cache"], "services keep their order");
        assert_eq!(
            doc["services"]["cache"]["deploy"]["placement"]["constraints"][0].as_str(),
            Some("node.hostname == node2")
        );
        // Idempotent: pinning again changes nothing.
        assert_eq!(
            add_pins(
                &out,
                &[
                    ("db".into(), "node1".into()),
                    ("cache".into(), "node2".into())
                ]
            )
            .unwrap(),
            out
        );
    }

    #[test]
    fn an_override_pin_keeps_the_base_files_other_constraints() {
        let base = parse("services:\n  db:\n    deploy:\n      placement:\n        constraints: [\"node.role == manager\"]\n");
        let over = "services:\n  db:\n    image: x\n";
        let edits = Edits {
            pins: vec![("db".into(), "node1".into())],
            ..Default::default()
        };
        let merged = check::merge(base, parse(over));
        let doc = parse(&rewrite(over, &merged, &edits).unwrap());
        let c = &doc["services"]["db"]["deploy"]["placement"]["constraints"];
        assert_eq!(c[0].as_str(), Some("node.role == manager"));
        assert_eq!(c[1].as_str(), Some("node.hostname == node1"));
    }

    #[test]
    fn replicas_and_max_per_node_are_set_keeping_the_keys_in_place() {
        let text = "services:\n  dexserver:\n    deploy:\n      replicas: '1'\n      resources: {}\n  gui:\n    image: g\n";
        let doc = edit(
            text,
            Edits {
                replicas: vec![("dexserver".into(), 2), ("gui".into(), 3)],
                max_per_node: vec![("gui".into(), 1)],
                ..Default::default()
            },
        );
        let dex = &doc["services"]["dexserver"]["deploy"];
        assert_eq!(dex["replicas"].as_i64(), Some(2));
        let keys: Vec<&str> = dex
            .as_hash()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["replicas", "resources"]);
        let gui = &doc["services"]["gui"]["deploy"];
        assert_eq!(gui["replicas"].as_i64(), Some(3));
        assert_eq!(gui["placement"]["max_replicas_per_node"].as_i64(), Some(1));
        assert_eq!(doc["services"]["gui"]["image"].as_str(), Some("g"));
    }

    #[test]
    fn db_host_is_set_in_the_mapping_form_and_in_the_list_form() {
        let text = "services:\n  contentapi:\n    environment:\n      A: '1'\n      db_host: 'couchbase,localhost'\n      Z: '2'\n  steprunner:\n    environment:\n      - A=1\n      - db_host=couchbase.isnet\n      - Z=2\n  scheduler:\n    environment: [\"A=1\"]\n";
        let doc = edit(
            text,
            Edits {
                env: vec![
                    (
                        "contentapi".into(),
                        "db_host".into(),
                        "couchbase,w,localhost".into(),
                    ),
                    (
                        "steprunner".into(),
                        "db_host".into(),
                        "couchbase.isnet,w.isnet".into(),
                    ),
                    ("scheduler".into(), "db_host".into(), "couchbase".into()),
                ],
                ..Default::default()
            },
        );
        let api = doc["services"]["contentapi"]["environment"]
            .as_hash()
            .unwrap();
        let keys: Vec<&str> = api.keys().filter_map(|k| k.as_str()).collect();
        assert_eq!(keys, ["A", "db_host", "Z"], "the variable keeps its place");
        assert_eq!(api[&key("db_host")].as_str(), Some("couchbase,w,localhost"));
        let list = |s: &str| -> Vec<String> {
            doc["services"][s]["environment"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            list("steprunner"),
            ["A=1", "db_host=couchbase.isnet,w.isnet", "Z=2"]
        );
        assert_eq!(list("scheduler"), ["A=1", "db_host=couchbase"]);
    }

    #[test]
    fn an_override_without_environment_gets_the_merged_list_or_just_the_key() {
        let base = parse("services:\n  a:\n    environment: [\"X=1\", \"db_host=cb\"]\n  b:\n    environment:\n      X: '1'\n      db_host: cb\n");
        let over = "services:\n  a:\n    image: i\n";
        let merged = check::merge(base, parse(over));
        let edits = Edits {
            env: vec![
                ("a".into(), "db_host".into(), "cb,cb2".into()),
                ("b".into(), "db_host".into(), "cb,cb2".into()),
            ],
            ..Default::default()
        };
        let doc = parse(&rewrite(over, &merged, &edits).unwrap());
        let a: Vec<&str> = doc["services"]["a"]["environment"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(
            a,
            ["X=1", "db_host=cb,cb2"],
            "a later list replaces the earlier one"
        );
        let b = doc["services"]["b"]["environment"].as_hash().unwrap();
        assert_eq!(b.len(), 1, "mappings merge key by key");
        assert_eq!(b[&key("db_host")].as_str(), Some("cb,cb2"));
    }

    #[test]
    fn db_host_lists_are_completed_in_the_profiles_order_and_the_listed_form() {
        let cbs = ["couchbase", "couchbase-worker", "couchbase-worker2"];
        assert_eq!(
            complete_db_host("couchbase.isnet,localhost", &cbs).as_deref(),
            Some("couchbase.isnet,couchbase-worker.isnet,couchbase-worker2.isnet,localhost")
        );
        assert_eq!(
            complete_db_host("couchbase-worker2, couchbase", &cbs).as_deref(),
            Some("couchbase-worker2,couchbase,couchbase-worker"),
            "listed entries keep their order"
        );
        assert_eq!(
            complete_db_host("couchbase.isnet,localhost?n1ql_timeout=100000000.00", &cbs)
                .as_deref(),
            Some("couchbase.isnet,couchbase-worker.isnet,couchbase-worker2.isnet,localhost?n1ql_timeout=100000000.00"),
            "connection options stay last"
        );
        assert_eq!(
            complete_db_host("localhost", &["db"]).as_deref(),
            Some("db,localhost")
        );
        assert_eq!(
            complete_db_host("couchbase-worker2,couchbase-worker,couchbase", &cbs),
            None,
            "a complete list is left alone, in any order"
        );
    }

    fn profile() -> Profile {
        let mut p = crate::profile::load("demo", None).unwrap();
        p.compose = Some(
            toml::from_str(
                r#"
files = ["/c.yml", "/o.yml"]
pinned = ["db"]
replicated = [{ service = "worker", min_replicas = 2 }, { service = "web", min_replicas = 3 }]
db_host_services = ["worker", "web"]
couchbase_services = ["db", "db2"]
spread = [{ service = "web", replicas = 3, max_per_node = 1 }]
"#,
            )
            .unwrap(),
        );
        p
    }

    const BROKEN: &str = "services:\n  db:\n    image: b\n  db2:\n    image: b\n  web:\n    deploy:\n      mode: global\n    environment: [\"db_host=db\"]\n  worker:\n    deploy:\n      replicas: 1\n    environment:\n      db_host: db\n  extra:\n    image: e\n";

    fn view() -> SwarmView {
        let svc = |name: &str, mode: &str, desired: Option<u64>| ServiceView {
            name: name.into(),
            mode: mode.into(),
            desired,
            tasks: vec![TaskView {
                node_id: "n2".into(),
                state: "running".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        SwarmView {
            nodes: vec![SwarmNode {
                id: "n2".into(),
                hostname: "node2".into(),
                ..Default::default()
            }],
            services: vec![
                svc("pfdemo_worker", "replicated", Some(1)),
                svc("pfdemo_web", "global", None),
            ],
            error: None,
        }
    }

    fn finding(cfg: &Config, text: &str) -> Finding {
        let read = Ok(pfproto::probe::FileRead {
            exists: true,
            content: Some(text.into()),
            ..Default::default()
        });
        check::analyze(cfg, &[read, Ok(Default::default())])
    }

    #[test]
    fn one_rewrite_fixes_what_it_can_updates_the_services_and_leaves_the_rest_manual() {
        let profile = profile();
        let cfg = profile.compose.clone().unwrap();
        let f = finding(&cfg, BROKEN);
        assert_eq!(f.status, Status::Fail);
        let view = view();
        let seen = Seen {
            files: vec![("/c.yml".into(), BROKEN.into())],
            differ: vec![],
            nodes: vec!["node1".into(), "node2".into(), "node3".into()],
            swarm: Some(("node2".into(), &view)),
        };
        let mut p = Plan::default();
        remedy(&mut p, &f, &cfg, &profile, &seen);
        assert_eq!(p.actions.len(), 1, "{p:#?}");
        let a = &p.actions[0];
        assert_eq!(a.node, "node1,node2,node3");
        assert!(
            a.disruptive,
            "setting an environment variable replaces tasks"
        );
        assert!(
            f.message.contains(&a.subject),
            "{} in {}",
            a.subject,
            f.message
        );
        let Remedy::Compose {
            content,
            expect_sha256,
            manager,
            updates,
            ..
        } = &a.remedy
        else {
            panic!("{a:?}")
        };
        assert_eq!(*expect_sha256, sha256_hex(BROKEN.as_bytes()));
        assert_eq!(manager, "node2");
        // The profile pins db to node1 (the demo profile's pin wins over where it runs).
        let doc = parse(content);
        assert_eq!(
            doc["services"]["db"]["deploy"]["placement"]["constraints"][0].as_str(),
            Some("node.hostname == node1")
        );
        assert_eq!(
            doc["services"]["worker"]["deploy"]["replicas"].as_i64(),
            Some(2)
        );
        assert_eq!(
            doc["services"]["worker"]["environment"]["db_host"].as_str(),
            Some("db,db2")
        );
        assert_eq!(
            doc["services"]["web"]["environment"][0].as_str(),
            Some("db_host=db,db2")
        );
        assert_eq!(doc["services"]["extra"]["image"].as_str(), Some("e"));
        assert_eq!(
            updates,
            &[
                ServiceUpdateParams {
                    service: "pfdemo_worker".into(),
                    replicas: Some(2),
                    env: Some(EnvVar {
                        name: "db_host".into(),
                        value: "db,db2".into()
                    }),
                    ..Default::default()
                },
                ServiceUpdateParams {
                    service: "pfdemo_web".into(),
                    env: Some(EnvVar {
                        name: "db_host".into(),
                        value: "db,db2".into()
                    }),
                    ..Default::default()
                },
            ]
        );
        // A global service cannot be given replicas: that stays for the admin, with why.
        assert_eq!(p.manual.len(), 1, "{p:#?}");
        assert!(
            p.manual[0].problem.contains("web has mode global"),
            "{:?}",
            p.manual[0]
        );
        assert!(
            p.manual[0].recipe.contains("global mode"),
            "{:?}",
            p.manual[0]
        );
        assert!(!p.manual[0].problem.contains("worker"), "{:?}", p.manual[0]);
        // The rewritten file passes but for what is manual.
        let after = check::analyze(
            &cfg,
            &[Ok(pfproto::probe::FileRead {
                exists: true,
                content: Some(content.clone()),
                ..Default::default()
            })],
        );
        assert_eq!(after.message, p.manual[0].problem);
    }

    #[test]
    fn a_scale_already_planned_is_not_repeated_and_a_differing_file_is_not_rewritten() {
        let profile = profile();
        let cfg = profile.compose.clone().unwrap();
        let text = BROKEN.replace(
            "mode: global",
            "replicas: 3\n      placement:\n        max_replicas_per_node: 1",
        );
        let f = finding(&cfg, &text);
        let view = view();
        let mut seen = Seen {
            files: vec![("/c.yml".into(), text.clone())],
            differ: vec![],
            nodes: vec!["node1".into()],
            swarm: Some(("node2".into(), &view)),
        };
        let mut p = Plan::default();
        let scale = Action {
            id: String::new(),
            node: "node2".into(),
            what: String::new(),
            reason: String::new(),
            disruptive: false,
            effect: String::new(),
            check: "stack.replicas",
            check_node: "cluster".into(),
            subject: String::new(),
            remedy: Remedy::Replicas {
                service: "pfdemo_worker".into(),
                replicas: 2,
            },
        };
        p.actions.push(scale);
        remedy(&mut p, &f, &cfg, &profile, &seen);
        assert!(p.manual.is_empty(), "{p:#?}");
        let Remedy::Compose { updates, .. } = &p.actions[1].remedy else {
            panic!("{p:#?}")
        };
        assert_eq!(updates[0].service, "pfdemo_worker");
        assert_eq!(updates[0].replicas, None, "stack.replicas scales it");
        assert!(updates[0].env.is_some());

        seen.differ = vec!["node3".into()];
        let mut p = Plan::default();
        remedy(&mut p, &f, &cfg, &profile, &seen);
        assert!(p.actions.is_empty(), "{p:#?}");
        assert!(p.manual[0].problem.contains("differs on node3"), "{p:#?}");
    }
}
