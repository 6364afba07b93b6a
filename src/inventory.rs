//! The inventory: named clusters of nodes with connection settings, in TOML. Settings merge
//! node over cluster over file defaults; the command line overrides all of them.

use crate::secret::Secret;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Connection settings that may appear at every level. `None` means "not set here".
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Option<Vec<PathBuf>>,
    /// Allowed only when the inventory file is readable by its owner alone.
    pub password: Option<String>,
    /// A password as `pfctl password encrypt --inventory` printed it: decrypted at load, in
    /// memory only, with the local inventory key.
    pub password_encrypted: Option<String>,
    pub known_hosts: Option<Vec<PathBuf>>,
    /// `strict` or `accept-new`.
    pub host_key_checking: Option<String>,
    pub proxy_jump: Option<String>,
    /// Where pfagent is installed on the node (used for the exec fallbacks).
    pub agent_path: Option<String>,
    pub agent_socket: Option<String>,
}

impl ConnSettings {
    /// `self` where set, else `base`.
    pub fn over(&self, base: &ConnSettings) -> ConnSettings {
        ConnSettings {
            user: self.user.clone().or_else(|| base.user.clone()),
            port: self.port.or(base.port),
            identity_files: self
                .identity_files
                .clone()
                .or_else(|| base.identity_files.clone()),
            password: self.password.clone().or_else(|| base.password.clone()),
            password_encrypted: None,
            known_hosts: self
                .known_hosts
                .clone()
                .or_else(|| base.known_hosts.clone()),
            host_key_checking: self
                .host_key_checking
                .clone()
                .or_else(|| base.host_key_checking.clone()),
            proxy_jump: self.proxy_jump.clone().or_else(|| base.proxy_jump.clone()),
            agent_path: self.agent_path.clone().or_else(|| base.agent_path.clone()),
            agent_socket: self
                .agent_socket
                .clone()
                .or_else(|| base.agent_socket.clone()),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterDef {
    pub nodes: Vec<String>,
    /// The platform profile (used by healthcheck and later actions).
    pub profile: Option<String>,
    /// Merged over the profile, e.g. `[clusters.X.overrides.thresholds]`.
    pub overrides: Option<toml::Table>,
    #[serde(default)]
    pub defaults: ConnSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    pub host: String,
    #[serde(default)]
    pub groups: Vec<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Option<Vec<PathBuf>>,
    pub password: Option<String>,
    pub password_encrypted: Option<String>,
    pub known_hosts: Option<Vec<PathBuf>>,
    pub host_key_checking: Option<String>,
    pub proxy_jump: Option<String>,
    pub agent_path: Option<String>,
    pub agent_socket: Option<String>,
}

impl NodeDef {
    fn conn(&self) -> ConnSettings {
        ConnSettings {
            user: self.user.clone(),
            port: self.port,
            identity_files: self.identity_files.clone(),
            password: self.password.clone(),
            password_encrypted: None,
            known_hosts: self.known_hosts.clone(),
            host_key_checking: self.host_key_checking.clone(),
            proxy_jump: self.proxy_jump.clone(),
            agent_path: self.agent_path.clone(),
            agent_socket: self.agent_socket.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub default_cluster: Option<String>,
    #[serde(default)]
    pub defaults: ConnSettings,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterDef>,
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeDef>,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// One node to act on, with its settings merged.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// `None`: this machine, reached without SSH.
    pub host: Option<String>,
    pub groups: Vec<String>,
    pub conn: ConnSettings,
    /// A password given for this node alone (the legacy `--host H user:pass` form).
    pub password: Option<Secret>,
}

impl Inventory {
    pub fn load(path: &Path) -> Result<Inventory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read inventory {}", path.display()))?;
        let mut inv: Inventory = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("inventory {} is not valid: {e}", path.display()))?;
        inv.path = Some(path.to_path_buf());
        inv.validate()?;
        if inv.holds_passwords() {
            ensure_private(path)?;
        }
        inv.decrypt_passwords(path)?;
        Ok(inv)
    }

    /// Replaces every `password_encrypted` with the password it holds (memory only).
    fn decrypt_passwords(&mut self, path: &Path) -> Result<()> {
        let key = crate::password::inventory_key_path();
        let open =
            |what: &str, enc: &mut Option<String>, plain: &mut Option<String>| -> Result<()> {
                let Some(token) = enc.take() else {
                    return Ok(());
                };
                if plain.is_some() {
                    bail!(
                        "inventory {}: {what} has both password and password_encrypted; keep one",
                        path.display()
                    );
                }
                let secret = crate::password::decrypt_inventory_password(&token, &key)
                    .with_context(|| {
                        format!("inventory {}: {what}'s password_encrypted", path.display())
                    })?;
                *plain = Some(secret.expose().to_string());
                Ok(())
            };
        open(
            "[defaults]",
            &mut self.defaults.password_encrypted,
            &mut self.defaults.password,
        )?;
        for (name, c) in self.clusters.iter_mut() {
            open(
                &format!("[clusters.{name}.defaults]"),
                &mut c.defaults.password_encrypted,
                &mut c.defaults.password,
            )?;
        }
        for (name, n) in self.nodes.iter_mut() {
            open(
                &format!("[nodes.{name}]"),
                &mut n.password_encrypted,
                &mut n.password,
            )?;
        }
        Ok(())
    }

    fn holds_passwords(&self) -> bool {
        self.defaults.password.is_some()
            || self
                .clusters
                .values()
                .any(|c| c.defaults.password.is_some())
            || self.nodes.values().any(|n| n.password.is_some())
            || self
                .clusters
                .values()
                .filter_map(|c| c.overrides.as_ref())
                .any(table_has_password)
    }

    fn validate(&self) -> Result<()> {
        let file = self
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for (name, cluster) in &self.clusters {
            for node in &cluster.nodes {
                if !self.nodes.contains_key(node) {
                    bail!("inventory {file}: cluster '{name}' lists node '{node}', which has no [nodes.{node}] table");
                }
            }
        }
        if let Some(d) = &self.default_cluster {
            if !self.clusters.contains_key(d) {
                bail!("inventory {file}: default_cluster '{d}' is not defined under [clusters]");
            }
        }
        for (name, node) in &self.nodes {
            if node.host.trim().is_empty() {
                bail!("inventory {file}: node '{name}' has an empty host");
            }
        }
        Ok(())
    }

    /// The nodes of one cluster: the named one, else `default_cluster`, else the only one.
    pub fn cluster_targets(&self, name: Option<&str>) -> Result<(String, Vec<Target>)> {
        let file = self
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let chosen = match name.or(self.default_cluster.as_deref()) {
            Some(n) => n.to_string(),
            None if self.clusters.len() == 1 => {
                self.clusters.keys().next().cloned().unwrap_or_default()
            }
            None if self.clusters.is_empty() => bail!("inventory {file} defines no [clusters]"),
            None => bail!(
                "inventory {file} defines several clusters ({}); choose one with --cluster",
                self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        let Some(cluster) = self.clusters.get(&chosen) else {
            bail!(
                "cluster '{chosen}' is not in inventory {file} (it has: {})",
                self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        };
        let base = cluster.defaults.over(&self.defaults);
        let targets = cluster
            .nodes
            .iter()
            .map(|n| {
                let def = &self.nodes[n];
                Target {
                    name: n.clone(),
                    host: Some(def.host.clone()),
                    groups: def.groups.clone(),
                    conn: def.conn().over(&base),
                    password: None,
                }
            })
            .collect();
        Ok((chosen, targets))
    }

    /// A node given with `--host`: known to the inventory by name or address, or ad hoc.
    pub fn host_target(&self, spec: &str) -> Result<Target> {
        let (user, host, port) = split_host_spec(spec)?;
        let by_name = self.nodes.get(&host).map(|d| (host.clone(), d));
        let by_addr = || {
            self.nodes
                .iter()
                .find(|(_, d)| d.host == host)
                .map(|(n, d)| (n.clone(), d))
        };
        let mut target = match by_name.or_else(by_addr) {
            Some((name, def)) => Target {
                name,
                host: Some(def.host.clone()),
                groups: def.groups.clone(),
                conn: def.conn().over(&self.defaults),
                password: None,
            },
            None => Target {
                name: host.clone(),
                host: Some(host.clone()),
                groups: vec![],
                conn: self.defaults.clone(),
                password: None,
            },
        };
        target.conn.user = user.or(target.conn.user);
        target.conn.port = port.or(target.conn.port);
        Ok(target)
    }
}

/// `[user@]host[:port]`, with `[v6addr]:port` accepted.
pub fn split_host_spec(spec: &str) -> Result<(Option<String>, String, Option<u16>)> {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, tail) = inner
            .split_once(']')
            .with_context(|| format!("host '{spec}': missing ']'"))?;
        let port = tail.strip_prefix(':').map(|p| p.parse::<u16>()).transpose();
        (
            h.to_string(),
            port.with_context(|| format!("host '{spec}': bad port"))?,
        )
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
        (
            h.to_string(),
            Some(
                p.parse::<u16>()
                    .with_context(|| format!("host '{spec}': bad port '{p}'"))?,
            ),
        )
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() {
        bail!("host '{spec}' names no host");
    }
    Ok((user, host, port))
}

/// Refuses a password-bearing file that others can read.
fn ensure_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "inventory {} holds a password but others can read it (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// `--limit` patterns, comma separated or repeated: node names, addresses or group names, with
/// `*`/`?` globs; a leading `!` excludes. Only exclusions means "all but these".
pub fn apply_limit(targets: Vec<Target>, patterns: &[String]) -> Result<Vec<Target>> {
    let pats: Vec<&str> = patterns
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if pats.is_empty() {
        return Ok(targets);
    }
    let matches = |t: &Target, pat: &str| -> bool {
        let Ok(p) = glob::Pattern::new(pat) else {
            return false;
        };
        p.matches(&t.name)
            || t.host.as_deref().is_some_and(|h| p.matches(h))
            || t.groups.iter().any(|g| p.matches(g))
    };
    let includes: Vec<&str> = pats
        .iter()
        .copied()
        .filter(|p| !p.starts_with('!'))
        .collect();
    let excludes: Vec<&str> = pats.iter().filter_map(|p| p.strip_prefix('!')).collect();
    let kept: Vec<Target> = targets
        .into_iter()
        .filter(|t| includes.is_empty() || includes.iter().any(|p| matches(t, p)))
        .filter(|t| !excludes.iter().any(|p| matches(t, p)))
        .collect();
    if kept.is_empty() {
        bail!("--limit {} matches no node", patterns.join(","));
    }
    Ok(kept)
}

/// Whether a profile override carries a `password` anywhere (RabbitMQ, Couchbase credentials).
fn table_has_password(t: &toml::Table) -> bool {
    t.iter().any(|(k, v)| match v {
        toml::Value::Table(inner) => table_has_password(inner),
        toml::Value::Array(items) => items.iter().any(|i| match i {
            toml::Value::Table(inner) => table_has_password(inner),
            _ => false,
        }),
        _ => k == "password",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = r#"
default_cluster = "lab"
[defaults]
user = "isadmin"
agent_path = "/opt/pfagent/bin/pfagent"
[clusters.lab]
nodes = ["a", "b"]
[clusters.lab.defaults]
port = 2222
[nodes.a]
host = "10.0.0.1"
groups = ["managers"]
[nodes.b]
host = "10.0.0.2"
user = "root"
"#;

    fn inv() -> Inventory {
        toml::from_str(INV).unwrap()
    }

    #[test]
    fn settings_merge_node_over_cluster_over_defaults() {
        let (name, t) = inv().cluster_targets(None).unwrap();
        assert_eq!(name, "lab");
        assert_eq!(t[0].conn.user.as_deref(), Some("isadmin"));
        assert_eq!(t[1].conn.user.as_deref(), Some("root"));
        assert_eq!(t[0].conn.port, Some(2222));
        assert_eq!(
            t[1].conn.agent_path.as_deref(),
            Some("/opt/pfagent/bin/pfagent")
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_line() {
        let err = toml::from_str::<Inventory>("[nodes.a]\nhost = \"x\"\nhots = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("hots"), "{err}");
    }

    #[test]
    fn a_cluster_naming_a_missing_node_is_refused() {
        let mut i: Inventory = toml::from_str("[clusters.c]\nnodes=[\"x\"]\n").unwrap();
        i.path = Some("inv.toml".into());
        let e = i.validate().unwrap_err().to_string();
        assert!(e.contains("'x'") && e.contains("inv.toml"), "{e}");
    }

    #[test]
    fn host_specs() {
        assert_eq!(
            split_host_spec("u@h:2200").unwrap(),
            (Some("u".into()), "h".into(), Some(2200))
        );
        assert_eq!(
            split_host_spec("10.1.2.3").unwrap(),
            (None, "10.1.2.3".into(), None)
        );
        assert_eq!(
            split_host_spec("[fe80::1]:22").unwrap(),
            (None, "fe80::1".into(), Some(22))
        );
        assert!(split_host_spec("h:notaport").is_err());
    }

    #[test]
    fn host_arg_finds_inventory_nodes_by_address() {
        let t = inv().host_target("10.0.0.2").unwrap();
        assert_eq!(t.name, "b");
        assert_eq!(t.conn.user.as_deref(), Some("root"));
        let adhoc = inv().host_target("me@10.9.9.9").unwrap();
        assert_eq!(adhoc.conn.user.as_deref(), Some("me"));
    }

    #[test]
    fn limits_by_name_group_and_exclusion() {
        let (_, t) = inv().cluster_targets(None).unwrap();
        let names = |v: Vec<Target>| v.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(apply_limit(t.clone(), &["managers".into()]).unwrap()),
            ["a"]
        );
        assert_eq!(
            names(apply_limit(t.clone(), &["!a".into()]).unwrap()),
            ["b"]
        );
        assert_eq!(
            names(apply_limit(t.clone(), &["10.0.0.*".into()]).unwrap()),
            ["a", "b"]
        );
        assert!(apply_limit(t, &["zzz".into()]).is_err());
    }
}
