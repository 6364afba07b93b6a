//! What every command needs before it starts: the nodes to act on, how to reach them and how to
//! report. Built once from the command line and the environment.

use crate::cli::{split_legacy, Global};
use crate::endpoint::Overrides;
use crate::fanout::{FanoutOpts, NodeOutcome};
use crate::inventory::{apply_limit, Inventory, Target};
use crate::output::{self, Emitter, Format};
use crate::report::{CheckResult, NodeReport, Report};
use crate::secret::Secret;
use crate::ssh::config::SshConfig;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Ctx {
    pub cluster: Option<String>,
    pub inventory: Option<Inventory>,
    pub targets: Vec<Target>,
    pub fanout: FanoutOpts,
    pub format: Format,
    pub quiet: bool,
    started: Instant,
    started_unix_ms: i64,
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(p),
    }
}

fn find_inventory(explicit: Option<&PathBuf>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.clone());
    }
    let candidates = [
        PathBuf::from("pfctl.toml"),
        expand_home("~/.config/pfctl/inventory.toml"),
    ];
    candidates.into_iter().find(|p| p.is_file())
}

pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_unix() -> u64 {
    (now_unix_ms() / 1000).max(0) as u64
}

impl Ctx {
    /// JSON or NDJSON asked for: machine-readable output instead of text.
    pub fn json_out(&self) -> bool {
        matches!(
            self.format,
            crate::output::Format::Json | crate::output::Format::Ndjson
        )
    }

    pub fn from_cli(g: &Global) -> Result<Ctx> {
        let inventory = match find_inventory(g.inventory.as_ref()) {
            Some(path) => Some(Inventory::load(&path)?),
            None => None,
        };
        let mut targets = Vec::new();
        let mut cluster = None;
        if !g.hosts.is_empty() {
            let inv = inventory.clone().unwrap_or_default();
            for value in &g.hosts {
                let (host, creds) = split_legacy(value);
                let mut t = inv.host_target(&host)?;
                if let Some((user, pass)) = creds {
                    if !user.is_empty() {
                        t.conn.user = Some(user);
                    }
                    t.password = Some(Secret::new(pass));
                }
                targets.push(t);
            }
        } else if let Some(inv) = &inventory {
            let (name, t) = inv.cluster_targets(g.cluster.as_deref())?;
            cluster = Some(name);
            targets = t;
        } else {
            // No inventory and no --host: this machine, through its local agent.
            let name = nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or("local".into());
            targets.push(Target {
                name,
                host: None,
                groups: vec![],
                conn: Default::default(),
                password: None,
            });
        }
        let targets = apply_limit(targets, &g.limit)?;
        let password = match std::env::var("PFCTL_PASSWORD") {
            Ok(p) if !p.is_empty() => Some(Secret::new(p)),
            _ if g.ask_pass => Some(prompt_password()?),
            _ => None,
        };
        let ssh_path = expand_home(&g.ssh_config);
        let ssh_config = SshConfig::load(&ssh_path)
            .with_context(|| format!("ssh config {}", ssh_path.display()))?;
        let fanout = FanoutOpts {
            parallel: g.parallel,
            node_timeout: Duration::from_secs(g.timeout.max(1)),
            overrides: Overrides {
                identity_files: g.identity_files.clone(),
                host_key_checking: g.host_key_checking.clone(),
                connect_timeout: Duration::from_secs(g.connect_timeout.max(1)),
                password,
            },
            ssh_config: Arc::new(ssh_config),
        };
        if let Some(p) = &g.host_key_checking {
            crate::endpoint::parse_policy(p, "--host-key-checking")?;
        }
        Ok(Ctx {
            cluster,
            inventory,
            targets,
            fanout,
            format: g.output.unwrap_or_else(Format::default_for_stdout),
            quiet: g.quiet,
            started: Instant::now(),
            started_unix_ms: now_unix_ms(),
        })
    }

    /// The inventory's definition of the cluster acted on, if any.
    pub fn cluster_def(&self) -> Option<&crate::inventory::ClusterDef> {
        self.inventory
            .as_ref()?
            .clusters
            .get(self.cluster.as_deref()?)
    }

    pub fn emitter(&self, action: &str) -> Emitter {
        Emitter::new(self.format, action, self.targets.len(), self.quiet)
    }

    pub fn report(
        &self,
        action: &str,
        nodes: Vec<NodeReport>,
        results: Vec<CheckResult>,
    ) -> Report {
        Report::new(
            action,
            self.started_unix_ms,
            self.started.elapsed().as_millis() as u64,
            nodes,
            results,
        )
    }

    /// Prints the report and returns the exit code.
    pub fn finish(&self, emitter: &Emitter, report: &Report) -> i32 {
        emitter.finish();
        print!("{}", output::render(report, self.format));
        report.exit_code()
    }
}

fn prompt_password() -> Result<Secret> {
    if !std::io::stdin().is_terminal() {
        bail!("--ask-pass needs a terminal; in scripts set PFCTL_PASSWORD instead");
    }
    let p = dialoguer::Password::new()
        .with_prompt("SSH password")
        .interact()
        .context("reading the password")?;
    Ok(Secret::new(p))
}

/// The node part of a report, common to every command.
pub fn node_report<T>(o: &NodeOutcome<T>) -> NodeReport {
    NodeReport {
        name: o.target.name.clone(),
        host: o.target.host.clone(),
        reachable: !matches!(&o.result, Err(e) if e.is_unreachable()),
        error: o.result.as_ref().err().map(|e| e.to_string()),
        route: o.route.map(|r| r.name().to_string()),
        agent: o.hello.as_ref().and_then(|h| serde_json::to_value(h).ok()),
        facts: None,
        timings_ms: None,
        duration_ms: o.duration.as_millis() as u64,
    }
}
