//! What can go wrong on an SSH connection, worded for the administrator.
//!
//! Messages are what admins read: concise, precise, and saying what to do
//! next. They never contain a password or key material.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SshError {
    /// The TCP connection (or the jump host's forward) could not be made.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },

    /// Nothing came back in time. `stage`: `connecting`, `key exchange` or
    /// `authenticating`.
    #[error("no answer from {addr} within {} (while {stage})", human_duration(*after))]
    Timeout {
        addr: String,
        after: Duration,
        stage: &'static str,
    },

    /// Strict checking and the host is not in any known_hosts file.
    #[error(
        "host key for {} is not known ({key_type} {fingerprint}). If this is the right fingerprint, \
         trust it with: ssh-keyscan -t {} -p {port} {host} >> {}   (or run with --host-key-checking accept-new)",
        display_host(host, *port),
        keyscan_type(key_type),
        known_hosts.display()
    )]
    HostKeyUnknown {
        host: String,
        port: u16,
        fingerprint: String,
        key_type: String,
        known_hosts: PathBuf,
    },

    /// The host is known with another key of the same type.
    #[error(
        "HOST KEY CHANGED for {}: it now offers {fingerprint} which does not match {}:{line}. \
         This could be an attack or a reinstalled node. If you know why, remove the old key with: \
         ssh-keygen -R {} -f {}",
        display_host(host, *port),
        file.display(),
        keygen_host(host, *port),
        file.display()
    )]
    HostKeyChanged {
        host: String,
        port: u16,
        /// Key type and fingerprint, e.g. `ssh-ed25519 SHA256:...`.
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    /// The offered key is marked `@revoked`.
    #[error(
        "host key for {host} ({fingerprint}) is marked @revoked in known_hosts; refusing to connect. \
         The node needs a new host key"
    )]
    HostKeyRevoked { host: String, fingerprint: String },

    /// Every authentication method failed.
    #[error(
        "authentication failed for {user}@{host} (tried: {})",
        tried_list(tried)
    )]
    Auth {
        user: String,
        host: String,
        tried: Vec<String>,
    },

    /// A channel could not be opened or used (`what`: exec, sftp, streamlocal ...).
    #[error("{what} failed: {reason}")]
    Channel { what: String, reason: String },

    /// The SSH protocol itself failed.
    #[error("ssh protocol error: {0}")]
    Protocol(String),
}

impl SshError {
    /// True when the node could not be reached at all (network, sshd down,
    /// timeout), as opposed to being reached and refusing us.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SshError::Connect { .. } | SshError::Timeout { .. })
    }

    /// True for host key problems (unknown, changed, revoked).
    pub fn is_host_key(&self) -> bool {
        matches!(
            self,
            SshError::HostKeyUnknown { .. }
                | SshError::HostKeyChanged { .. }
                | SshError::HostKeyRevoked { .. }
        )
    }
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        "nothing: no ssh-agent key, no identity file found and no password given".to_string()
    } else {
        tried.join(", ")
    }
}

fn display_host(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("{host} port {port}")
    }
}

fn keygen_host(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("'[{host}]:{port}'")
    }
}

/// `ssh-ed25519` → `ed25519`, `ecdsa-sha2-nistp256` → `ecdsa`, `ssh-rsa` → `rsa`.
fn keyscan_type(key_type: &str) -> &str {
    if key_type.starts_with("ecdsa") {
        "ecdsa"
    } else if key_type.contains("rsa") {
        "rsa"
    } else if key_type.contains("ed25519") {
        "ed25519"
    } else {
        key_type.strip_prefix("ssh-").unwrap_or(key_type)
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = SshError::Timeout {
            addr: "10.213.0.12:22".into(),
            after: Duration::from_secs(5),
            stage: "connecting",
        };
        assert_eq!(
            e.to_string(),
            "no answer from 10.213.0.12:22 within 5s (while connecting)"
        );
        assert!(e.is_unreachable());
        let e = SshError::HostKeyUnknown {
            host: "10.213.0.12".into(),
            port: 22,
            fingerprint: "SHA256:abc".into(),
            key_type: "ssh-ed25519".into(),
            known_hosts: PathBuf::from("/root/.ssh/known_hosts"),
        };
        assert_eq!(
            e.to_string(),
            "host key for 10.213.0.12 is not known (ssh-ed25519 SHA256:abc). If this is the right \
             fingerprint, trust it with: ssh-keyscan -t ed25519 -p 22 10.213.0.12 >> \
             /root/.ssh/known_hosts   (or run with --host-key-checking accept-new)"
        );
        let e = SshError::HostKeyChanged {
            host: "n".into(),
            port: 2222,
            fingerprint: "ssh-ed25519 SHA256:x".into(),
            file: PathBuf::from("/kh"),
            line: 3,
        };
        let m = e.to_string();
        assert!(
            m.contains("/kh:3") && m.contains("ssh-keygen -R '[n]:2222' -f /kh"),
            "{m}"
        );
        let e = SshError::Auth {
            user: "isadmin".into(),
            host: "10.213.0.12".into(),
            tried: vec!["ssh-agent (2 keys)".into(), "password".into()],
        };
        assert_eq!(
            e.to_string(),
            "authentication failed for isadmin@10.213.0.12 (tried: ssh-agent (2 keys), password)"
        );
        assert!(!e.is_unreachable());
        assert_eq!(keyscan_type("ecdsa-sha2-nistp256"), "ecdsa");
        assert_eq!(keyscan_type("ssh-rsa"), "rsa");
    }
}
