//! Running commands on the server: collected ([`Session::exec`]) or
//! streamed ([`Session::exec_stream`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use russh::ChannelMsg;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::{oneshot, watch};

use super::error::SshError;
use super::session::{channel_error, Session};

/// How much stderr an [`ExecStream`] keeps.
const STDERR_LIMIT: usize = 64 * 1024;
/// Buffer between the channel pump and the reader of an [`ExecStream`].
const PIPE_SIZE: usize = 256 * 1024;

/// What a finished command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status; `None` when the server sent none (killed by a signal,
    /// or the connection dropped).
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// POSIX shell quoting: `'...'` with embedded `'` written as `'\''`.
/// Plain words made of safe characters are returned as they are.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

impl Session {
    /// Opens a session channel, starts `command` on it and hands back its two halves.
    async fn start_command(
        &self,
        command: &str,
    ) -> Result<
        (
            russh::ChannelReadHalf,
            russh::ChannelWriteHalf<russh::client::Msg>,
        ),
        SshError,
    > {
        let what = format!("running a command on {}", self.target());
        let ch = self.open_session_channel(&what).await?;
        ch.exec(true, command)
            .await
            .map_err(|e| channel_error(&what, &e))?;
        Ok(ch.split())
    }

    /// Runs `command`, sends `stdin` (if any) followed by EOF, and collects
    /// stdout, stderr and the exit status.
    pub async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, SshError> {
        let started = Instant::now();
        let (mut rd, wr) = self.start_command(command).await?;

        let writer = async {
            if let Some(data) = stdin {
                if let Err(e) = wr.data(data).await {
                    // The command may exit without reading its input.
                    tracing::debug!(error = %e, "stdin not fully sent");
                }
            }
            let _ = wr.eof().await;
        };
        let reader = async {
            let mut out = ExecOutput::default();
            let mut refused = false;
            while let Some(msg) = rd.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    ChannelMsg::Failure => refused = true,
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            (out, refused)
        };
        let ((out, refused), ()) = tokio::join!(reader, writer);
        if refused && out.status.is_none() {
            return Err(SshError::Channel {
                what: format!("running a command on {}", self.target()),
                reason: "the server refused to run the command".into(),
            });
        }
        tracing::debug!(
            target_host = %self.target(),
            status = ?out.status,
            stdout = out.stdout.len(),
            stderr = out.stderr.len(),
            elapsed = ?started.elapsed(),
            "exec done"
        );
        Ok(out)
    }

    /// Runs `command` and returns a stream: reading gives its stdout, writing
    /// feeds its stdin, and `shutdown` sends EOF.
    pub async fn exec_stream(&self, command: &str) -> Result<ExecStream, SshError> {
        let (mut rd, wr) = self.start_command(command).await?;
        let writer: Pin<Box<dyn AsyncWrite + Send>> = Box::pin(wr.make_writer());
        let (reader, mut pump_end) = tokio::io::duplex(PIPE_SIZE);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (status_tx, status_rx) = watch::channel(None::<Option<u32>>);
        let (drop_tx, mut drop_rx) = oneshot::channel::<()>();
        let pump_stderr = stderr.clone();
        let target = self.target().to_string();

        tokio::spawn(async move {
            let mut status = None;
            let mut stdout_open = true;
            let mut dropped = false;
            loop {
                let msg = tokio::select! {
                    m = rd.wait() => m,
                    _ = &mut drop_rx, if !dropped => {
                        dropped = true;
                        let _ = wr.close().await;
                        continue;
                    }
                };
                let Some(msg) = msg else { break };
                match msg {
                    ChannelMsg::Data { data } if stdout_open => {
                        if let Err(e) = pump_end.write_all(&data).await {
                            // Nobody reads any more: stop the command.
                            tracing::debug!(error = %e, "exec stream reader gone; closing");
                            stdout_open = false;
                            let _ = wr.close().await;
                        }
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        let mut buf = pump_stderr.lock().unwrap();
                        let room = STDERR_LIMIT.saturating_sub(buf.len());
                        buf.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::Eof => {
                        let _ = pump_end.shutdown().await;
                    }
                    ChannelMsg::Failure => {
                        let mut buf = pump_stderr.lock().unwrap();
                        if buf.len() < STDERR_LIMIT {
                            buf.extend_from_slice(
                                b"[pfctl: the server refused to run the command]\n",
                            );
                        }
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            let _ = pump_end.shutdown().await;
            tracing::debug!(target_host = %target, ?status, "exec stream finished");
            let _ = status_tx.send(Some(status));
        });

        Ok(ExecStream {
            reader,
            writer,
            stderr,
            status: status_rx,
            _drop: drop_tx,
        })
    }
}

/// A running remote command. `AsyncRead` is its stdout, `AsyncWrite` its
/// stdin (`shutdown` sends EOF). Dropping it closes the channel.
///
/// Read stdout to the end (or drop the stream) before awaiting
/// [`ExecStream::exit_status`]: output nobody reads holds the command up.
pub struct ExecStream {
    reader: DuplexStream,
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    status: watch::Receiver<Option<Option<u32>>>,
    _drop: oneshot::Sender<()>,
}

impl ExecStream {
    /// A handle on the exit status and stderr that outlives the stream, for callers that hand the
    /// stream itself to someone else (the agent connection) and inspect the command afterwards.
    pub fn watch(&self) -> ExecWatch {
        ExecWatch {
            stderr: self.stderr.clone(),
            status: self.status.clone(),
        }
    }

    /// The exit status, once the channel has closed (`None` if the server
    /// sent none).
    pub async fn exit_status(&self) -> Option<u32> {
        self.watch().exit_status().await
    }

    /// The stderr received so far (at most 64 KiB), lossily decoded.
    pub fn stderr(&self) -> String {
        self.watch().stderr()
    }
}

/// See [`ExecStream::watch`].
#[derive(Clone)]
pub struct ExecWatch {
    stderr: Arc<Mutex<Vec<u8>>>,
    status: watch::Receiver<Option<Option<u32>>>,
}

impl ExecWatch {
    pub async fn exit_status(&self) -> Option<u32> {
        let mut rx = self.status.clone();
        let status = match rx.wait_for(|s| s.is_some()).await {
            Ok(v) => v.flatten(),
            Err(_) => None,
        };
        status
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::fmt::Debug for ExecStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecStream").finish_non_exhaustive()
    }
}

impl AsyncRead for ExecStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for ExecStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("/opt/x-1.2/file_name"), "/opt/x-1.2/file_name");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$HOME;rm -rf /"), "'$HOME;rm -rf /'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
        assert_eq!(shell_quote("*"), "'*'");
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        let tricky = [
            "it's",
            "a b  c",
            "$(echo pwned)",
            "`x`",
            "\\\"",
            "'",
            "''",
            "é ü",
            "-n",
        ];
        for s in tricky {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", shell_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }
}
