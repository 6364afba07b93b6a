//! Profiles: what a platform needs checked, as data. Built in: `powerflow` (default) and `demo`;
//! any other name is read as a TOML file. A cluster may override parts in the inventory.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const POWERFLOW: &str = include_str!("../profiles/powerflow.toml");
const DEMO: &str = include_str!("../profiles/demo.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// The swarm stack's name (service names start with `<stack>_`).
    pub stack: String,
    pub managers_min: u64,
    pub swarm_ports: Vec<u16>,
    pub thresholds: Thresholds,
    #[serde(default)]
    pub files: Vec<FileExpect>,
    #[serde(default)]
    pub services: Vec<ServiceExpect>,
    /// Nodes (hostnames) meant to be drained; every other swarm node must be active.
    #[serde(default)]
    pub drained_nodes: Vec<String>,
    #[serde(default)]
    pub endpoints: Vec<EndpointProbe>,
    /// "verify cmd in container": run on every running container of the service, on its node.
    #[serde(default)]
    pub exec: Vec<ExecProbe>,
    /// Application probes below run once per healthcheck, from one node (cluster-wide answers).
    #[serde(default)]
    pub compose: Option<crate::checks::compose::Config>,
    #[serde(default)]
    pub dex: Option<DexProbe>,
    #[serde(default)]
    pub tls: Option<TlsExpect>,
    #[serde(default)]
    pub rabbitmq: Option<crate::checks::rabbitmq::Config>,
    #[serde(default)]
    pub couchbase: Option<crate::checks::couchbase::Config>,
    /// Ports the platform's services publish, opened with the swarm's by `pfctl firewall open`.
    #[serde(default)]
    pub firewall: Option<crate::firewall::Config>,
    /// Frontends of `pfctl haproxy-config` (a load balancer over the swarm's managers).
    #[serde(default)]
    pub haproxy: Option<crate::haproxy::Config>,
    /// What `pfctl autocluster` deploys and what it asks of fresh nodes.
    #[serde(default)]
    pub autocluster: Option<AutoclusterCfg>,
    /// What `pfctl backup create` takes, and how old the newest backup may be.
    #[serde(default)]
    pub backup: Option<crate::backup::config::Config>,
    /// Where the license lives on the nodes, which vendor keys are trusted, whether it is needed.
    #[serde(default)]
    pub license: Option<LicenseCfg>,
    /// `pfctl upgrade`: the order services are upgraded in and Swarm's rolling-update settings.
    #[serde(default)]
    pub upgrade: Option<crate::upgrade::plan::UpgradeCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseCfg {
    /// Test systems run without a license: `license.valid` skips when none is installed.
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "license_path")]
    pub path: String,
    /// Vendor public keys (`pfctl-license-key-v1:...`) trusted besides the built-in one.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
}

impl Default for LicenseCfg {
    fn default() -> Self {
        LicenseCfg {
            optional: false,
            path: license_path(),
            trusted_keys: vec![],
        }
    }
}

fn license_path() -> String {
    "/etc/iservices/pfctl-license.json".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoclusterCfg {
    /// The compose file written on every node (at `compose.files[0]`) and deployed; the pins of
    /// `services` (`pinned_node`) are added to it. Without it, the file the platform's install
    /// left at `compose.files[0]` on the first node that has it.
    #[serde(default)]
    pub compose: Option<String>,
    /// Labels every node gets, besides `types=master|worker`.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default = "one")]
    pub min_cpus: u32,
    #[serde(default = "min_memory")]
    pub min_memory_mb: u64,
    #[serde(default = "min_disk")]
    pub min_disk_free_mb: u64,
    /// How long the stack may take to converge before the run stops.
    #[serde(default = "converge_timeout")]
    pub converge_timeout_s: u64,
    /// Services deployed ahead of the rest, stage by stage, each converged before the next
    /// (PowerFlow: couchbase, then its workers one at a time). The others follow together.
    #[serde(default)]
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Compose service names; a trailing `*` matches by prefix.
    pub services: Vec<String>,
    /// Deploy the stage's services one by one, each converged before the next.
    #[serde(default)]
    pub one_at_a_time: bool,
}

impl Profile {
    /// The cluster's encryption key file, as the profile's `[[files]]` name it.
    pub fn encryption_key_path(&self) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path.ends_with("/encryption_key"))
            .map(|f| f.path.as_str())
    }
}

impl Stage {
    pub fn matches(&self, service: &str) -> bool {
        self.services.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => service.starts_with(prefix),
            None => service == p,
        })
    }
}

fn one() -> u32 {
    1
}
fn min_memory() -> u64 {
    512
}
fn min_disk() -> u64 {
    1024
}
fn converge_timeout() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub memory_available_mb_warn: u64,
    pub memory_used_pct_warn: f64,
    pub load_per_cpu_warn: f64,
    pub load_per_cpu_fail: f64,
    pub disk_used_pct_warn: f64,
    pub disk_used_pct_fail: f64,
    pub exited_containers_warn: u64,
    pub clock_offset_ms_warn: u64,
    pub clock_offset_ms_fail: u64,
    pub require_time_sync: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    pub path: String,
    /// Secret files must be owned by root and unreadable by others.
    #[serde(default)]
    pub secret: bool,
    /// Absent everywhere is fine; present on some nodes only is still a mismatch.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceExpect {
    pub name: String,
    /// Exactly one task cluster-wide.
    #[serde(default)]
    pub singleton: bool,
    /// The node (hostname) its tasks must run on.
    pub pinned_node: Option<String>,
    /// Replicas the platform needs; a service scaled below this fails even when it is "converged".
    pub replicas: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointProbe {
    pub name: String,
    /// Probed by the agent on each node, so loopback-only services count.
    pub url: String,
    #[serde(default = "default_endpoint_timeout")]
    pub timeout_ms: u64,
}

fn default_endpoint_timeout() -> u64 {
    5000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecProbe {
    /// Full swarm service name (`<stack>_<service>`).
    pub service: String,
    pub cmd: Vec<String>,
    #[serde(default = "default_endpoint_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexProbe {
    /// Where dex answers from a node; `/.well-known/openid-configuration` is appended.
    pub url: String,
    /// The issuer the discovery document must name, when the profile knows it.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default = "default_endpoint_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsExpect {
    /// PEM certificate the GUI serves.
    pub cert: String,
    /// Flat YAML file holding the name the certificate must carry, and that key.
    pub config: String,
    pub name_key: String,
    #[serde(default = "default_cert_warn_days")]
    pub warn_days: i64,
}

fn default_cert_warn_days() -> i64 {
    30
}

/// `overrides` (from the inventory) is merged key by key over the profile's own table.
pub fn load(name: &str, overrides: Option<&toml::Table>) -> Result<Profile> {
    let text = match name {
        "powerflow" => POWERFLOW.to_string(),
        "demo" => DEMO.to_string(),
        path => std::fs::read_to_string(path).with_context(|| {
            format!("profile '{path}' is neither built in (powerflow, demo) nor a readable file")
        })?,
    };
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("profile {name} is not valid TOML"))?;
    if let Some(o) = overrides {
        merge(&mut table, o);
    }
    let profile: Profile = toml::Value::Table(table)
        .try_into()
        .map_err(|e| anyhow::anyhow!("profile {name} (with the inventory's overrides): {e}"))?;
    if profile.thresholds.load_per_cpu_warn > profile.thresholds.load_per_cpu_fail
        || profile.thresholds.disk_used_pct_warn > profile.thresholds.disk_used_pct_fail
    {
        bail!("profile {name}: a warn threshold is above its fail threshold");
    }
    if let Some(b) = &profile.backup {
        b.validate().with_context(|| format!("profile {name}"))?;
    }
    if let Some(u) = &profile.upgrade {
        u.validate().with_context(|| format!("profile {name}"))?;
    }
    Ok(profile)
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_load_and_overrides_merge_deeply() {
        let p = load("powerflow", None).unwrap();
        assert_eq!(p.thresholds.memory_available_mb_warn, 2000);
        assert!(p
            .files
            .iter()
            .any(|f| f.path.ends_with("encryption_key") && f.secret));
        let o: toml::Table =
            toml::from_str("[thresholds]\nmemory_available_mb_warn = 999999\n").unwrap();
        let d = load("demo", Some(&o)).unwrap();
        assert_eq!(d.thresholds.memory_available_mb_warn, 999999);
        assert_eq!(d.thresholds.disk_used_pct_fail, 97.0, "other keys kept");
    }

    #[test]
    fn unknown_keys_and_missing_files_are_named() {
        let o: toml::Table = toml::from_str("[thresholds]\nmemroy = 1\n").unwrap();
        assert!(load("demo", Some(&o))
            .unwrap_err()
            .to_string()
            .contains("memroy"));
        assert!(load("/nonexistent.toml", None)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent.toml"));
    }
}
