//! Reaching the agent on a node. Over SSH, in order: a `direct-streamlocal` channel to the
//! agent's socket; exec of `pfagent connect` (relays to the socket when streamlocal forwarding
//! is disabled); exec of `pfagent serve --stdio` (no resident agent: a one-shot agent for this
//! run, through `sudo -n` first so it sees what root sees). Locally: the socket, else a spawned
//! `pfagent serve --stdio`.

use crate::rpc::{AgentConn, AgentError};
use crate::ssh::{shell_quote, Session};
use pfproto::ErrorCode;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    Streamlocal,
    ExecConnect,
    ExecStdioSudo,
    ExecStdio,
    LocalSocket,
    LocalSpawn,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Streamlocal => "streamlocal",
            Route::ExecConnect => "exec-connect",
            Route::ExecStdioSudo => "exec-stdio-sudo",
            Route::ExecStdio => "exec-stdio",
            Route::LocalSocket => "local-socket",
            Route::LocalSpawn => "local-spawn",
        }
    }

    /// True when no resident agent answered and a one-shot agent serves this run.
    pub fn is_one_shot(self) -> bool {
        matches!(
            self,
            Route::ExecStdioSudo | Route::ExecStdio | Route::LocalSpawn
        )
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the agent lives on the node.
#[derive(Debug, Clone)]
pub struct AgentPlace {
    pub path: String,
    pub socket: String,
}

impl AgentPlace {
    pub const DEFAULT_PATH: &'static str = "pfagent";
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Every route failed; each attempt is listed.
    #[error("cannot reach pfagent: {}{}", .attempts.join("; "), hint(.attempts))]
    NoRoute { attempts: Vec<String> },
    /// The agent answered but refused us; falling back would not help.
    #[error("{0}")]
    Refused(AgentError),
}

fn hint(attempts: &[String]) -> &'static str {
    if attempts
        .iter()
        .any(|a| a.contains("not found") || a.contains("No such file"))
    {
        ". Is pfagent installed there? Run: pfctl agent install"
    } else {
        ""
    }
}

/// A version mismatch is final: another route would reach the same binary.
fn is_final(e: &AgentError) -> bool {
    matches!(e.code(), Some(ErrorCode::VersionMismatch))
}

pub async fn over_ssh(
    session: &Session,
    place: &AgentPlace,
) -> Result<(AgentConn, Route), TransportError> {
    let mut attempts = Vec::new();
    match session.open_streamlocal(&place.socket).await {
        Ok(stream) => match hello(stream).await {
            Ok(conn) => return Ok((conn, Route::Streamlocal)),
            Err(e) if is_final(&e) => return Err(TransportError::Refused(e)),
            Err(e) => attempts.push(format!("streamlocal {}: {e}", place.socket)),
        },
        Err(e) => attempts.push(format!("streamlocal {}: {e}", place.socket)),
    }
    let agent = shell_quote(&place.path);
    let socket = shell_quote(&place.socket);
    let tries = [
        (
            Route::ExecConnect,
            format!("{agent} connect --socket {socket}"),
        ),
        (
            Route::ExecStdioSudo,
            format!("sudo -n {agent} serve --stdio"),
        ),
        (Route::ExecStdio, format!("{agent} serve --stdio")),
    ];
    for (route, command) in tries {
        let stream = match session.exec_stream(&command).await {
            Ok(s) => s,
            Err(e) => {
                attempts.push(format!("{}: {e}", route.name()));
                continue;
            }
        };
        let watch = stream.watch();
        match hello(stream).await {
            Ok(conn) => return Ok((conn, route)),
            Err(e) if is_final(&e) => return Err(TransportError::Refused(e)),
            Err(e) => {
                // Only for the message: a channel whose close never arrives must not hold the node
                // until its overall deadline.
                let status = tokio::time::timeout(EXIT_STATUS_WAIT, watch.exit_status())
                    .await
                    .ok()
                    .flatten();
                let stderr = watch.stderr();
                let why = match (stderr.trim(), status) {
                    ("", Some(code)) => format!("exited with {code} ({e})"),
                    ("", None) => e.to_string(),
                    (text, _) => last_line(text).to_string(),
                };
                attempts.push(format!("{}: {why}", route.name()));
            }
        }
    }
    Err(TransportError::NoRoute { attempts })
}

/// Something that is not an agent (a shell banner, a hung command) must not hold a node until its
/// overall deadline: a real agent answers `hello` in milliseconds.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a failed route's exit status is waited for, to explain the failure.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(2);

async fn hello(stream: impl crate::rpc::Stream) -> Result<AgentConn, AgentError> {
    match tokio::time::timeout(HELLO_TIMEOUT, AgentConn::handshake(stream)).await {
        Ok(r) => r,
        Err(_) => Err(AgentError::Timeout(HELLO_TIMEOUT)),
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

/// This machine: the resident socket, else a one-shot agent spawned for the run.
pub async fn local(place: &AgentPlace) -> Result<(AgentConn, Route), TransportError> {
    let mut attempts = Vec::new();
    match tokio::net::UnixStream::connect(&place.socket).await {
        Ok(stream) => match hello(stream).await {
            Ok(conn) => return Ok((conn, Route::LocalSocket)),
            Err(e) if is_final(&e) => return Err(TransportError::Refused(e)),
            Err(e) => attempts.push(format!("socket {}: {e}", place.socket)),
        },
        Err(e) => attempts.push(format!("socket {}: {e}", place.socket)),
    }
    let binary = local_agent_binary(&place.path);
    let child = tokio::process::Command::new(&binary)
        .args(["serve", "--stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    match child {
        Ok(mut child) => {
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                attempts.push(format!("{}: no pipes", binary.display()));
                return Err(TransportError::NoRoute { attempts });
            };
            // The child lives as long as the connection's tasks hold its pipes; reap it when it exits.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            match hello(tokio::io::join(stdout, stdin)).await {
                Ok(conn) => Ok((conn, Route::LocalSpawn)),
                Err(e) => {
                    attempts.push(format!("{} serve --stdio: {e}", binary.display()));
                    Err(TransportError::NoRoute { attempts })
                }
            }
        }
        Err(e) => {
            attempts.push(format!("{} serve --stdio: {e}", binary.display()));
            Err(TransportError::NoRoute { attempts })
        }
    }
}

/// An explicit path wins; else the `pfagent` installed beside this `pfctl`; else `$PATH`.
pub fn local_agent_binary(configured: &str) -> PathBuf {
    if configured != AgentPlace::DEFAULT_PATH {
        return PathBuf::from(configured);
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("pfagent")))
    {
        if beside.is_file() {
            return beside;
        }
    }
    PathBuf::from(configured)
}
