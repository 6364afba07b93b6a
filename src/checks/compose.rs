//! The stack's compose file (and its override), read from a node and checked against what the
//! platform needs: pinned services pinned, replicated ones replicated, every `db_host` list
//! complete, spread services spread. Files merge like `docker stack deploy -c a -c b`: mappings
//! key by key, anything else replaced by the later file.

use super::app::CLUSTER;
use super::Finding;
use crate::report::Status;
use pfproto::probe::FileRead;
use serde::Deserialize;
use serde_json::json;
use yaml_rust2::{Yaml, YamlLoader};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The compose file first, then overrides; the first must exist, the others may not.
    pub files: Vec<String>,
    /// Services that must carry a `node.hostname ==` constraint (their data lives on one node).
    #[serde(default)]
    pub pinned: Vec<String>,
    #[serde(default)]
    pub replicated: Vec<Replicated>,
    /// Services whose `db_host` must list every Couchbase service in `couchbase_services`.
    #[serde(default)]
    pub db_host_services: Vec<String>,
    #[serde(default)]
    pub couchbase_services: Vec<String>,
    #[serde(default)]
    pub spread: Vec<Spread>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicated {
    pub service: String,
    pub min_replicas: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    pub service: String,
    pub replicas: u64,
    pub max_per_node: u64,
}

pub fn analyze(cfg: &Config, files: &[Result<FileRead, String>]) -> Finding {
    let f = |s, m: String| Finding::new("compose.valid", CLUSTER, s, m);
    let mut merged: Option<Yaml> = None;
    let mut read = Vec::new();
    for (i, r) in files.iter().enumerate() {
        let path = cfg.files.get(i).map(String::as_str).unwrap_or("?");
        let file = match r {
            Ok(file) => file,
            Err(e) => return f(Status::Unknown, format!("{path}: {e}")),
        };
        if !file.exists {
            if i == 0 {
                return f(Status::Fail, format!("{path} is missing"));
            }
            continue;
        }
        let text = match (&file.content, &file.error) {
            (Some(t), _) => t,
            (None, e) => {
                return f(
                    Status::Fail,
                    format!("{path}: {}", e.as_deref().unwrap_or("unreadable")),
                )
            }
        };
        let doc = match YamlLoader::load_from_str(text) {
            Ok(mut docs) if !docs.is_empty() => docs.swap_remove(0),
            Ok(_) => Yaml::Hash(Default::default()),
            Err(e) => return f(Status::Fail, format!("{path} is not valid YAML: {e}")),
        };
        read.push(path.to_string());
        merged = Some(match merged {
            None => doc,
            Some(base) => merge(base, doc),
        });
    }
    let doc = merged.unwrap_or(Yaml::Null);
    let problems = problems(cfg, &doc);
    let evidence = json!({"files": read, "problems": problems});
    if problems.is_empty() {
        f(
            Status::Ok,
            format!(
                "{} services; pins, replicas, db_host lists and spread as the profile says",
                services(&doc).len()
            ),
        )
        .with(evidence)
    } else {
        f(Status::Fail, problems.join("; ")).with(evidence)
    }
}

pub(crate) fn merge(base: Yaml, over: Yaml) -> Yaml {
    match (base, over) {
        (Yaml::Hash(mut b), Yaml::Hash(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Yaml::Hash(b)
        }
        (_, over) => over,
    }
}

pub(crate) fn services(doc: &Yaml) -> Vec<(String, &Yaml)> {
    match &doc["services"] {
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// What `doc` (the merged files) lacks, one sentence per problem; the planner re-checks its
/// rewrite with it.
pub(crate) fn problems(cfg: &Config, doc: &Yaml) -> Vec<String> {
    let svcs = services(doc);
    let find = |name: &str| svcs.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
    let mut out = Vec::new();
    if svcs.is_empty() {
        out.push("no services defined".to_string());
        return out;
    }
    for name in &cfg.pinned {
        match find(name) {
            None => out.push(format!("{name} is not defined")),
            Some(s) if !constraints(s).iter().any(|c| is_hostname_pin(c)) => out.push(format!(
                "{name} is not pinned (add a node.hostname == constraint)"
            )),
            Some(_) => {}
        }
    }
    for r in &cfg.replicated {
        match find(&r.service) {
            None => out.push(format!("{} is not defined", r.service)),
            Some(s) => {
                let (global, n) = replicas(s);
                if global || n < r.min_replicas {
                    out.push(format!(
                        "{} has {} (needs at least {} replicas)",
                        r.service,
                        if global {
                            "mode global".to_string()
                        } else {
                            format!("{n} replica(s)")
                        },
                        r.min_replicas
                    ));
                }
            }
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
        match env(s, "db_host") {
            None => out.push(format!("{name} has no db_host")),
            Some(v) => {
                let listed: Vec<&str> = v.split(',').map(db_host_name).collect();
                let missing: Vec<&str> = couchbases
                    .iter()
                    .copied()
                    .filter(|c| !listed.iter().any(|l| l == c))
                    .collect();
                if !missing.is_empty() {
                    out.push(format!("{name} db_host lacks {}", missing.join(", ")));
                }
            }
        }
    }
    for sp in &cfg.spread {
        match find(&sp.service) {
            None => out.push(format!("{} is not defined", sp.service)),
            Some(s) => {
                let (global, n) = replicas(s);
                let max = s["deploy"]["placement"]["max_replicas_per_node"].as_i64();
                if !global && n < sp.replicas {
                    out.push(format!(
                        "{} has {n} replica(s), needs {}",
                        sp.service, sp.replicas
                    ));
                }
                if !global && max.is_none_or(|m| m <= 0 || m as u64 > sp.max_per_node) {
                    out.push(format!(
                        "{} needs max_replicas_per_node: {} (has {})",
                        sp.service,
                        sp.max_per_node,
                        max.map_or("none".to_string(), |m| m.to_string())
                    ));
                }
            }
        }
    }
    out
}

pub(crate) fn constraints(s: &Yaml) -> Vec<String> {
    match &s["deploy"]["placement"]["constraints"] {
        Yaml::Array(a) => a
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The service a `db_host` entry names: `couchbase.isnet` and `couchbase?n1ql_timeout=5` are
/// both `couchbase` (the connection options follow the last host).
pub(crate) fn db_host_name(entry: &str) -> &str {
    entry.trim().split(['.', '?']).next().unwrap_or("")
}

pub fn is_hostname_pin(c: &str) -> bool {
    let c: String = c.chars().filter(|c| !c.is_whitespace()).collect();
    c.starts_with("node.hostname==")
}

/// (global mode, replica count; compose's default is 1).
pub(crate) fn replicas(s: &Yaml) -> (bool, u64) {
    let d = &s["deploy"];
    let global = d["mode"].as_str() == Some("global");
    let n = match &d["replicas"] {
        Yaml::Integer(n) => (*n).max(0) as u64,
        Yaml::String(t) => t.parse().unwrap_or(0),
        _ => 1,
    };
    (global, n)
}

/// An environment value from the map form (`KEY: v`) or the list form (`- KEY=v`).
pub(crate) fn env(s: &Yaml, key: &str) -> Option<String> {
    match &s["environment"] {
        Yaml::Hash(h) => h.iter().find_map(|(k, v)| {
            (k.as_str() == Some(key)).then(|| match v {
                Yaml::String(t) => t.clone(),
                Yaml::Integer(i) => i.to_string(),
                _ => String::new(),
            })
        }),
        Yaml::Array(a) => a.iter().find_map(|e| {
            let (k, v) = e.as_str()?.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version: "3.7"
services:
  couchbase:
    image: is-couchbase
  couchbase-worker:
    image: is-couchbase
  contentapi:
    environment:
      db_host: 'couchbase,couchbase-worker'
  steprunner:
    environment:
      - db_host=couchbase.isnet,couchbase-worker.isnet
  pypiserver:
    deploy:
      placement:
        constraints: ["node.hostname == pf-node1"]
  dexserver:
    deploy:
      replicas: 2
  gui:
    deploy:
      replicas: 3
      placement:
        max_replicas_per_node: 1
"#;

    fn cfg() -> Config {
        toml::from_str(
            r#"
files = ["/c.yml", "/o.yml"]
pinned = ["pypiserver"]
replicated = [{ service = "dexserver", min_replicas = 2 }]
db_host_services = ["contentapi", "steprunner", "scheduler"]
couchbase_services = ["couchbase", "couchbase-worker", "couchbase-worker2"]
spread = [{ service = "gui", replicas = 3, max_per_node = 1 }]
"#,
        )
        .unwrap()
    }

    fn file(text: &str) -> Result<FileRead, String> {
        Ok(FileRead {
            path: "x".into(),
            exists: true,
            content: Some(text.into()),
            ..Default::default()
        })
    }

    #[test]
    fn a_good_file_passes_and_the_missing_override_is_fine() {
        let missing = Ok(FileRead::default());
        let r = analyze(&cfg(), &[file(GOOD), missing]);
        assert_eq!(r.status, Status::Ok, "{}", r.message);
    }

    #[test]
    fn each_rule_names_the_service_at_fault() {
        let bad = GOOD
            .replace(
                "constraints: [\"node.hostname == pf-node1\"]",
                "constraints: []",
            )
            .replace("replicas: 2", "replicas: 1")
            .replace("'couchbase,couchbase-worker'", "'couchbase,localhost'")
            .replace("max_replicas_per_node: 1", "max_replicas_per_node: 2");
        let r = analyze(&cfg(), &[file(&bad)]);
        assert_eq!(r.status, Status::Fail);
        for want in [
            "pypiserver is not pinned",
            "dexserver has 1 replica(s)",
            "contentapi db_host lacks couchbase-worker",
            "gui needs max_replicas_per_node: 1 (has 2)",
        ] {
            assert!(r.message.contains(want), "{want} in {}", r.message);
        }
        assert!(!r.message.contains("steprunner"), "{}", r.message);
    }

    #[test]
    fn the_override_fixes_what_the_base_file_lacks() {
        let bad = GOOD.replace("replicas: 2", "replicas: 1");
        let over = "services:\n  dexserver:\n    deploy:\n      replicas: 3\n";
        let r = analyze(&cfg(), &[file(&bad), file(over)]);
        assert_eq!(r.status, Status::Ok, "{}", r.message);
    }

    #[test]
    fn connection_options_after_the_last_host_do_not_hide_it() {
        let text = GOOD.replace(
            "'couchbase,couchbase-worker'",
            "'couchbase.isnet,couchbase-worker?n1ql_timeout=100000000.00'",
        );
        let r = analyze(&cfg(), &[file(&text)]);
        assert_eq!(r.status, Status::Ok, "{}", r.message);
    }

    #[test]
    fn broken_yaml_and_a_missing_base_file_fail_with_the_path() {
        let r = analyze(&cfg(), &[file("services: [unclosed")]);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.contains("/c.yml is not valid YAML"),
            "{}",
            r.message
        );
        let r = analyze(&cfg(), &[Ok(FileRead::default())]);
        assert!(r.message.contains("/c.yml is missing"));
    }
}
