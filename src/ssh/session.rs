//! The SSH client: connect (optionally through a jump host), check the host
//! key, authenticate, then open channels from any number of tasks.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{
    load_secret_key, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{Channel, ChannelStream, Disconnect};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::error::SshError;
use super::known_hosts::{self, Verdict};
use crate::secret::Secret;

/// What to do with a host key that no known_hosts file lists.
/// A changed or revoked key is refused under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown keys (the default).
    #[default]
    Strict,
    /// Record an unknown key in the first known_hosts file and go on.
    AcceptNew,
}

impl HostKeyPolicy {
    /// Parses a `--host-key-checking` / `StrictHostKeyChecking` value.
    /// Turning checking off is refused.
    pub fn parse(s: &str) -> Result<HostKeyPolicy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" | "yes" | "ask" | "true" => Ok(HostKeyPolicy::Strict),
            "accept-new" | "accept_new" => Ok(HostKeyPolicy::AcceptNew),
            "off" | "no" | "false" | "none" => Err(
                "host key checking cannot be turned off; use accept-new to trust new hosts on first contact"
                    .to_string(),
            ),
            other => Err(format!(
                "unknown host key checking mode '{other}' (use strict or accept-new)"
            )),
        }
    }
}

impl std::str::FromStr for HostKeyPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostKeyPolicy::parse(s)
    }
}

impl fmt::Display for HostKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostKeyPolicy::Strict => "strict",
            HostKeyPolicy::AcceptNew => "accept-new",
        })
    }
}

/// Everything needed to reach and log in to one SSH server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private keys to try, in order. Missing files are skipped. Nothing is
    /// added implicitly: see [`default_identity_files`].
    pub identity_files: Vec<PathBuf>,
    /// Only offer agent keys that match one of `identity_files` (`.pub` next to it).
    pub identities_only: bool,
    pub password: Option<Secret>,
    pub use_agent: bool,
    /// Checked in order; the first one receives accept-new appends.
    pub known_hosts: Vec<PathBuf>,
    pub policy: HostKeyPolicy,
    /// Bounds TCP connect, key exchange and authentication together.
    pub connect_timeout: Duration,
    pub jump: Option<Box<Endpoint>>,
}

impl Endpoint {
    /// An endpoint with the usual defaults: port 22, agent on, the user's
    /// `~/.ssh/known_hosts`, default identity files, strict, 10 s timeout.
    pub fn new(host: impl Into<String>, user: impl Into<String>) -> Endpoint {
        Endpoint {
            host: host.into(),
            port: 22,
            user: user.into(),
            identity_files: default_identity_files(),
            identities_only: false,
            password: None,
            use_agent: true,
            known_hosts: vec![super::config::home_dir().join(".ssh/known_hosts")],
            policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            jump: None,
        }
    }

    /// `host:port` as used in messages (IPv6 in brackets).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The keys OpenSSH tries when no IdentityFile is configured.
pub fn default_identity_files() -> Vec<PathBuf> {
    let ssh = super::config::home_dir().join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| ssh.join(n))
        .collect()
}

/// A stream over one SSH channel (direct-streamlocal, direct-tcpip, subsystem).
pub type SshStream = ChannelStream<client::Msg>;

/// An authenticated connection. Cheap to clone; every clone shares the one
/// connection, and channels can be opened from many tasks at once.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<ClientHandler>,
    label: String,
    /// Keeps the jump host's connection open as long as this one lives.
    jump: Option<Session>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.inner.label)
            .finish()
    }
}

/// The russh handler: checks the host key against known_hosts.
struct ClientHandler {
    host: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    policy: HostKeyPolicy,
    /// Set when the host key is refused, so `connect` can say exactly why.
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(_) => {
                // We never advertise certificate host-key algorithms, so a
                // server should not send one. Refuse rather than guess.
                *self.refusal.lock().unwrap() = Some(SshError::Protocol(format!(
                    "{} presented a host certificate, which pfctl does not verify",
                    self.host
                )));
                return Ok(false);
            }
        };
        let (host, port, files, policy) = (
            self.host.clone(),
            self.port,
            self.known_hosts.clone(),
            self.policy,
        );
        let outcome =
            tokio::task::spawn_blocking(move || check_key(&host, port, &files, policy, &key))
                .await
                .map_err(|e| russh::Error::IO(std::io::Error::other(e.to_string())))?;
        match outcome {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.refusal.lock().unwrap() = Some(e);
                Ok(false)
            }
        }
    }
}

/// The host-key decision, made off the async runtime (it reads files and may
/// wait for the known_hosts lock).
fn check_key(
    host: &str,
    port: u16,
    files: &[PathBuf],
    policy: HostKeyPolicy,
    key: &PublicKey,
) -> Result<(), SshError> {
    let fp = known_hosts::fingerprint(key);
    let key_type = key.algorithm().as_str().to_string();
    let verdict = known_hosts::verify(files, host, port, key);
    tracing::debug!(host, port, %fp, ?verdict, "host key checked");
    match verdict {
        Verdict::Trusted => Ok(()),
        Verdict::Revoked => Err(SshError::HostKeyRevoked {
            host: host.to_string(),
            fingerprint: format!("{key_type} {fp}"),
        }),
        Verdict::Changed { file, line } => Err(SshError::HostKeyChanged {
            host: host.to_string(),
            port,
            fingerprint: format!("{key_type} {fp}"),
            file,
            line,
        }),
        Verdict::Unknown => {
            let target = files
                .first()
                .cloned()
                .unwrap_or_else(|| super::config::home_dir().join(".ssh/known_hosts"));
            match policy {
                HostKeyPolicy::Strict => Err(SshError::HostKeyUnknown {
                    host: host.to_string(),
                    port,
                    fingerprint: fp,
                    key_type,
                    known_hosts: target,
                }),
                HostKeyPolicy::AcceptNew => {
                    known_hosts::append(&target, host, port, key).map_err(|e| {
                        SshError::Protocol(format!(
                            "cannot record the host key of {host} in {}: {e}",
                            target.display()
                        ))
                    })?;
                    tracing::info!(
                        "added {key_type} {fp} for {} to {}",
                        known_hosts::host_field(host, port),
                        target.display()
                    );
                    Ok(())
                }
            }
        }
    }
}

/// Describes an io error the way an admin expects to read it.
fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => return "connection refused".into(),
        K::TimedOut => return "connection timed out".into(),
        K::ConnectionReset => return "connection reset by peer".into(),
        K::PermissionDenied => return "permission denied (a firewall?)".into(),
        K::HostUnreachable => return "no route to host".into(),
        K::NetworkUnreachable => return "network unreachable".into(),
        _ => {}
    }
    match e.raw_os_error() {
        Some(113) => "no route to host".into(),
        Some(101) => "network unreachable".into(),
        Some(111) => "connection refused".into(),
        _ => e.to_string(),
    }
}

struct Deadline {
    end: Instant,
    total: Duration,
    addr: String,
}

impl Deadline {
    async fn run<T, F: std::future::Future<Output = T>>(
        &self,
        stage: &'static str,
        fut: F,
    ) -> Result<T, SshError> {
        let left = self.end.saturating_duration_since(Instant::now());
        timeout(left, fut).await.map_err(|_| SshError::Timeout {
            addr: self.addr.clone(),
            after: self.total,
            stage,
        })
    }
}

impl Session {
    /// Connects, checks the host key, and authenticates.
    pub async fn connect(ep: &Endpoint) -> Result<Session, SshError> {
        Box::pin(connect_inner(ep)).await
    }

    /// `user@host:port` of the target.
    pub fn target(&self) -> &str {
        &self.inner.label
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }

    pub(crate) async fn open_session_channel(
        &self,
        what: &str,
    ) -> Result<Channel<client::Msg>, SshError> {
        self.inner
            .handle
            .channel_open_session()
            .await
            .map_err(|e| channel_error(what, &e))
    }

    /// Opens a `direct-streamlocal@openssh.com` channel to a Unix socket on
    /// the server (needs `AllowStreamLocalForwarding` on the server).
    pub async fn open_streamlocal(&self, socket_path: &str) -> Result<SshStream, SshError> {
        let started = Instant::now();
        let what = format!("opening {socket_path} on {}", self.inner.label);
        let ch = self
            .inner
            .handle
            .channel_open_direct_streamlocal(socket_path)
            .await
            .map_err(|e| channel_error(&what, &e))?;
        tracing::debug!(target_host = %self.inner.label, socket_path, elapsed = ?started.elapsed(), "streamlocal channel open");
        Ok(ch.into_stream())
    }

    /// Opens a `direct-tcpip` channel to `host:port` as seen from the server.
    pub async fn open_tcpip(&self, host: &str, port: u16) -> Result<SshStream, SshError> {
        let what = format!("forwarding to {host}:{port} through {}", self.inner.label);
        let ch = self
            .inner
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| channel_error(&what, &e))?;
        Ok(ch.into_stream())
    }

    /// Starts an SFTP session on a new channel.
    pub async fn sftp(&self) -> Result<russh_sftp::client::SftpSession, SshError> {
        let what = format!("sftp on {}", self.inner.label);
        let ch = self.open_session_channel(&what).await?;
        ch.request_subsystem(true, "sftp")
            .await
            .map_err(|e| channel_error(&what, &e))?;
        russh_sftp::client::SftpSession::new(ch.into_stream())
            .await
            .map_err(|e| SshError::Channel {
                what,
                reason: e.to_string(),
            })
    }

    /// Says goodbye to the server (and to the jump host, if this session
    /// holds the last reference to it).
    pub async fn close(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        if let Some(j) = &self.inner.jump {
            if Arc::strong_count(&j.inner) == 1 {
                Box::pin(j.close()).await;
            }
        }
        tracing::debug!(target_host = %self.inner.label, "ssh session closed");
    }
}

pub(crate) fn channel_error(what: &str, e: &russh::Error) -> SshError {
    let reason = match e {
        russh::Error::ChannelOpenFailure(f) => match f {
            russh::ChannelOpenFailure::AdministrativelyProhibited => {
                "the server refused it (administratively prohibited; check AllowStreamLocalForwarding/AllowTcpForwarding in sshd_config)".to_string()
            }
            russh::ChannelOpenFailure::ConnectFailed => {
                "the server could not connect to it (is it listening?)".to_string()
            }
            other => format!("the server refused the channel ({other:?})"),
        },
        russh::Error::SendError | russh::Error::Disconnect | russh::Error::HUP => {
            "the connection is closed".to_string()
        }
        other => other.to_string(),
    };
    SshError::Channel {
        what: what.to_string(),
        reason,
    }
}

async fn connect_inner(ep: &Endpoint) -> Result<Session, SshError> {
    let addr = ep.addr();
    let label = format!("{}@{}", ep.user, addr);
    let started = Instant::now();
    let deadline = Deadline {
        end: started + ep.connect_timeout,
        total: ep.connect_timeout,
        addr: addr.clone(),
    };

    let refusal = Arc::new(Mutex::new(None));
    let handler = ClientHandler {
        host: ep.host.clone(),
        port: ep.port,
        known_hosts: ep.known_hosts.clone(),
        policy: ep.policy,
        refusal: refusal.clone(),
    };
    let config = Arc::new(client::Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    });

    let kex_result;
    let jump = match &ep.jump {
        Some(j) => {
            let jump = Session::connect(j).await?;
            tracing::debug!(via = %jump.inner.label, target = %addr, "opening direct-tcpip through jump host");
            let ch = deadline
                .run(
                    "connecting",
                    jump.inner.handle.channel_open_direct_tcpip(
                        ep.host.clone(),
                        u32::from(ep.port),
                        "127.0.0.1",
                        0,
                    ),
                )
                .await?
                .map_err(|e| SshError::Connect {
                    addr: addr.clone(),
                    reason: match channel_error("", &e) {
                        SshError::Channel { reason, .. } => {
                            format!(
                                "jump host {} could not reach it: {reason}",
                                jump.inner.label
                            )
                        }
                        other => other.to_string(),
                    },
                })?;
            tracing::debug!(target = %addr, elapsed = ?started.elapsed(), "tunnel open; key exchange");
            kex_result = deadline
                .run(
                    "key exchange",
                    client::connect_stream(config, ch.into_stream(), handler),
                )
                .await?;
            Some(jump)
        }
        None => {
            let stream = deadline
                .run("connecting", tcp_connect(&ep.host, ep.port, &addr))
                .await??;
            let _ = stream.set_nodelay(true);
            tracing::debug!(target = %addr, elapsed = ?started.elapsed(), "tcp connected; key exchange");
            kex_result = deadline
                .run(
                    "key exchange",
                    client::connect_stream(config, stream, handler),
                )
                .await?;
            None
        }
    };

    let mut handle = match kex_result {
        Ok(h) => h,
        Err(e) => {
            if let Some(refused) = refusal.lock().unwrap().take() {
                return Err(refused);
            }
            return Err(match e {
                russh::Error::IO(io) => SshError::Connect {
                    addr,
                    reason: format!("during key exchange: {}", describe_io(&io)),
                },
                russh::Error::Disconnect | russh::Error::HUP => SshError::Connect {
                    addr,
                    reason: "the server closed the connection during key exchange (sshd refusing us? check its log, MaxStartups, AllowUsers)".into(),
                },
                russh::Error::NoCommonAlgo { kind, theirs, .. } => SshError::Protocol(format!(
                    "{addr} offers no {kind:?} algorithm pfctl supports (it offers: {})",
                    theirs.join(", ")
                )),
                other => SshError::Protocol(format!("key exchange with {addr} failed: {other}")),
            });
        }
    };
    tracing::debug!(target = %addr, elapsed = ?started.elapsed(), "key exchange done; authenticating");

    deadline
        .run("authenticating", authenticate(&mut handle, ep))
        .await??;
    tracing::debug!(target = %label, elapsed = ?started.elapsed(), "ssh session ready");

    Ok(Session {
        inner: Arc::new(Inner {
            handle,
            label,
            jump,
        }),
    })
}

async fn tcp_connect(host: &str, port: u16, addr: &str) -> Result<TcpStream, SshError> {
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(_) => {
            return Err(SshError::Connect {
                addr: addr.to_string(),
                reason: format!("cannot resolve host '{host}'"),
            })
        }
    };
    if addrs.is_empty() {
        return Err(SshError::Connect {
            addr: addr.to_string(),
            reason: format!("cannot resolve host '{host}'"),
        });
    }
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                tracing::debug!(%a, error = %e, "tcp connect failed");
                last = Some(e);
            }
        }
    }
    Err(SshError::Connect {
        addr: addr.to_string(),
        reason: last.map(|e| describe_io(&e)).unwrap_or_default(),
    })
}

/// Tries the agent, then identity files, then the password. Returns the
/// list of what was tried in the error.
async fn authenticate(handle: &mut Handle<ClientHandler>, ep: &Endpoint) -> Result<(), SshError> {
    let mut tried: Vec<String> = Vec::new();
    let user = ep.user.as_str();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    // Public halves of the identity files, for IdentitiesOnly filtering.
    let wanted_pubs: Vec<PublicKey> = ep
        .identity_files
        .iter()
        .filter_map(|p| {
            let mut pubp = p.clone().into_os_string();
            pubp.push(".pub");
            russh::keys::load_public_key(PathBuf::from(pubp)).ok()
        })
        .collect();

    // 1. ssh-agent
    if ep.use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match AgentClient::connect_env().await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(ids) => {
                    let mut offered = 0usize;
                    for id in ids {
                        let AgentIdentity::PublicKey { key, .. } = id else {
                            continue; // agent certificates: not used yet
                        };
                        if ep.identities_only
                            && !wanted_pubs.iter().any(|w| w.key_data() == key.key_data())
                        {
                            continue;
                        }
                        offered += 1;
                        let hash = if key.algorithm().is_rsa() {
                            rsa_hash_for(handle, &mut rsa_hash).await
                        } else {
                            None
                        };
                        let fp = known_hosts::fingerprint(&key);
                        match handle
                            .authenticate_publickey_with(user, key, hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => {
                                tracing::debug!(%fp, "authenticated with ssh-agent key");
                                return Ok(());
                            }
                            Ok(_) => tracing::debug!(%fp, "ssh-agent key not accepted"),
                            Err(e) => tracing::debug!(%fp, error = %e, "ssh-agent could not sign"),
                        }
                        if handle.is_closed() {
                            break;
                        }
                    }
                    tried.push(format!(
                        "ssh-agent ({offered} key{})",
                        if offered == 1 { "" } else { "s" }
                    ));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "ssh-agent did not list identities");
                    tried.push("ssh-agent (unusable)".into());
                }
            },
            Err(e) => tracing::debug!(error = %e, "no ssh-agent"),
        }
    }

    // 2. identity files
    for path in &ep.identity_files {
        if !path.exists() {
            tracing::debug!(path = %path.display(), "identity file not found; skipping");
            continue;
        }
        let key = match load_secret_key(path, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.push(format!(
                    "{} (encrypted, skipped: load it into ssh-agent)",
                    path.display()
                ));
                continue;
            }
            Err(e) => {
                tried.push(format!("{} (unreadable: {e})", path.display()));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, &mut rsa_hash).await
        } else {
            None
        };
        tried.push(path.display().to_string());
        let res = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| SshError::Protocol(format!("authentication: {e}")))?;
        if res.success() {
            tracing::debug!(path = %path.display(), "authenticated with identity file");
            return Ok(());
        }
        tracing::debug!(path = %path.display(), "key not accepted");
    }

    // 3. password (then keyboard-interactive with the same password, which
    // is how PAM-only servers ask for it).
    if let Some(pw) = &ep.password {
        tried.push("password".into());
        let res = handle
            .authenticate_password(user, pw.expose())
            .await
            .map_err(|e| SshError::Protocol(format!("authentication: {e}")))?;
        match res {
            AuthResult::Success => {
                tracing::debug!("authenticated with password");
                return Ok(());
            }
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                if remaining_methods.contains(&russh::MethodKind::KeyboardInteractive) {
                    tried.push("keyboard-interactive".into());
                    if keyboard_interactive(handle, user, pw).await? {
                        tracing::debug!("authenticated with keyboard-interactive");
                        return Ok(());
                    }
                }
            }
        }
    }

    Err(SshError::Auth {
        user: ep.user.clone(),
        host: ep.host.clone(),
        tried,
    })
}

async fn keyboard_interactive(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    pw: &Secret,
) -> Result<bool, SshError> {
    let err = |e: russh::Error| SshError::Protocol(format!("authentication: {e}"));
    let mut resp = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await
        .map_err(err)?;
    // Answer at most a few rounds; only hidden prompts get the password.
    for _ in 0..4 {
        match resp {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| {
                        if p.echo {
                            String::new()
                        } else {
                            pw.expose().to_string()
                        }
                    })
                    .collect();
                resp = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(err)?;
            }
        }
    }
    Ok(false)
}

/// The best RSA signature hash the server accepts, asked once per connection.
async fn rsa_hash_for(
    handle: &Handle<ClientHandler>,
    cache: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cache {
        return *h;
    }
    let h = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    *cache = Some(h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parsing() {
        assert_eq!(HostKeyPolicy::parse("strict"), Ok(HostKeyPolicy::Strict));
        assert_eq!(HostKeyPolicy::parse("yes"), Ok(HostKeyPolicy::Strict));
        assert_eq!(
            HostKeyPolicy::parse("Accept-New"),
            Ok(HostKeyPolicy::AcceptNew)
        );
        for off in ["off", "no", "false"] {
            let e = HostKeyPolicy::parse(off).unwrap_err();
            assert_eq!(
                e,
                "host key checking cannot be turned off; use accept-new to trust new hosts on first contact"
            );
        }
        assert!(HostKeyPolicy::parse("maybe").is_err());
        assert_eq!(HostKeyPolicy::AcceptNew.to_string(), "accept-new");
    }

    #[test]
    fn endpoint_addr() {
        let mut ep = Endpoint::new("10.0.0.1", "root");
        assert_eq!(ep.addr(), "10.0.0.1:22");
        ep.host = "fe80::1".into();
        ep.port = 2222;
        assert_eq!(ep.addr(), "[fe80::1]:2222");
        ep.password = Some(Secret::new("hunter2"));
        assert!(!format!("{ep:?}").contains("hunter2"));
    }
}
