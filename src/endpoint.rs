//! From an inventory target to an SSH endpoint: the command line over the inventory over
//! `~/.ssh/config` over OpenSSH's defaults, so pfctl connects the way `ssh` would.

use crate::inventory::{split_host_spec, Target};
use crate::secret::Secret;
use crate::ssh::config::SshConfig;
use crate::ssh::{Endpoint, HostKeyPolicy};
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::time::Duration;

/// Connection choices made on the command line or in the environment, shared by every node.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub identity_files: Vec<PathBuf>,
    pub host_key_checking: Option<String>,
    pub connect_timeout: Duration,
    /// From `PFCTL_PASSWORD` or the one prompt of `--ask-pass`.
    pub password: Option<Secret>,
}

pub fn parse_policy(word: &str, origin: &str) -> Result<HostKeyPolicy> {
    match word.to_ascii_lowercase().as_str() {
        "strict" | "yes" | "ask" => Ok(HostKeyPolicy::Strict),
        "accept-new" => Ok(HostKeyPolicy::AcceptNew),
        "no" | "off" | "false" => bail!(
            "{origin}: host key checking cannot be turned off; use accept-new to trust new hosts on first contact"
        ),
        other => bail!("{origin}: unknown host key checking policy '{other}' (use strict or accept-new)"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Inventory paths may start with `~/`, as they would in ssh_config.
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| match p.strip_prefix("~") {
            Ok(rest) => home().join(rest),
            Err(_) => p.clone(),
        })
        .collect()
}

fn local_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "root".to_string())
}

pub fn build(target: &Target, ssh: &SshConfig, over: &Overrides) -> Result<Endpoint> {
    let alias = target.host.clone().unwrap_or_else(|| target.name.clone());
    let opts = ssh.lookup(&alias);
    let conn = &target.conn;
    let policy = match (
        &over.host_key_checking,
        &conn.host_key_checking,
        &opts.strict_host_key_checking,
    ) {
        (Some(p), _, _) => parse_policy(p, "--host-key-checking")?,
        (None, Some(p), _) => parse_policy(p, "inventory host_key_checking")?,
        (None, None, Some(p)) => parse_policy(p, "ssh config StrictHostKeyChecking")?,
        _ => HostKeyPolicy::Strict,
    };
    let mut identity_files = if !over.identity_files.is_empty() {
        over.identity_files.clone()
    } else if let Some(files) = &conn.identity_files {
        expand(files)
    } else {
        opts.identity_files.clone()
    };
    if identity_files.is_empty() {
        let ssh_dir = home().join(".ssh");
        identity_files = ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|f| ssh_dir.join(f))
            .collect();
    }
    let mut known_hosts = match &conn.known_hosts {
        Some(files) => expand(files),
        None if !opts.user_known_hosts.is_empty() => opts.user_known_hosts.clone(),
        None => vec![home().join(".ssh/known_hosts")],
    };
    if opts.global_known_hosts.is_empty() {
        known_hosts.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    } else {
        known_hosts.extend(opts.global_known_hosts.iter().cloned());
    }
    let password = target
        .password
        .clone()
        .or_else(|| over.password.clone())
        .or_else(|| conn.password.clone().map(Secret::new));
    let connect_timeout = match opts.connect_timeout {
        Some(t) if over.connect_timeout.is_zero() => t,
        _ if over.connect_timeout.is_zero() => Duration::from_secs(5),
        _ => over.connect_timeout,
    };
    let jump = match conn.proxy_jump.as_deref() {
        Some("none") => None,
        Some(spec) => Some(spec.to_string()),
        None => opts.proxy_jump.first().map(|j| {
            let user = j.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
            let port = j.port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{user}{}{port}", j.host)
        }),
    };
    let jump = match jump {
        Some(spec) => {
            let (user, host, port) = split_host_spec(&spec)?;
            let hop = Target {
                name: host.clone(),
                host: Some(host),
                groups: vec![],
                conn: crate::inventory::ConnSettings {
                    user,
                    port,
                    identity_files: conn.identity_files.clone(),
                    known_hosts: conn.known_hosts.clone(),
                    host_key_checking: conn.host_key_checking.clone(),
                    proxy_jump: Some("none".into()),
                    ..Default::default()
                },
                password: None,
            };
            Some(Box::new(build(&hop, ssh, over)?))
        }
        None => None,
    };
    Ok(Endpoint {
        host: opts.hostname.clone().unwrap_or(alias),
        port: conn.port.or(opts.port).unwrap_or(22),
        user: conn
            .user
            .clone()
            .or_else(|| opts.user.clone())
            .unwrap_or_else(local_user),
        identity_files,
        identities_only: opts.identities_only.unwrap_or(false),
        password,
        use_agent: true,
        known_hosts,
        policy,
        connect_timeout,
        jump,
    })
}
