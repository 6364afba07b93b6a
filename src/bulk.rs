//! `pfagent ARGS` on a node with raw bytes on its stdin and stdout: the channel bulk data takes
//! (image copies, backups, restores) instead of the agent's JSON protocol. Over an SSH exec
//! channel, or as a child process when the node is this machine.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::fanout::Node;
use crate::ssh::shell_quote;

/// The most of a command's stdout (a JSON answer) or stderr kept.
const OUTPUT_LIMIT: usize = 64 * 1024;
/// How long a command's exit status is waited for once its output has ended.
const STATUS_WAIT: Duration = Duration::from_secs(15);

/// Reads to EOF, keeping at most [`OUTPUT_LIMIT`] bytes (the rest is read and dropped, so the
/// writer never blocks on us).
pub async fn read_bounded(mut r: impl AsyncRead + Unpin) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// How a command ended.
pub struct Finished {
    pub status: Option<u32>,
    pub stderr: String,
}

impl Finished {
    pub fn failure(&self, what: &str) -> String {
        let last = self
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim);
        match (self.status, last) {
            (_, Some(line)) => format!("{what} failed: {line}"),
            (Some(code), None) => format!("{what} exited with {code} and said nothing"),
            (None, None) => {
                format!("{what} ended without an exit status (killed, or the connection dropped)")
            }
        }
    }
}

pub type FinishedFuture = Pin<Box<dyn Future<Output = Finished> + Send>>;

pub async fn wait(finished: FinishedFuture) -> Finished {
    tokio::time::timeout(STATUS_WAIT, finished)
        .await
        .unwrap_or(Finished {
            status: None,
            stderr: String::new(),
        })
}

/// `pfagent ARGS` running on a node: over an SSH exec channel, or as a child process when the
/// node is this machine.
pub struct BulkCommand {
    pub node: String,
    pub stdout: Pin<Box<dyn AsyncRead + Send>>,
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    pub finished: FinishedFuture,
}

impl BulkCommand {
    pub async fn start(node: &Node, args: &str) -> Result<BulkCommand> {
        let name = node.target.name.clone();
        match &node.session {
            Some(session) => {
                let line = as_root(&shell_quote(&node.place().path), args);
                let stream = session
                    .exec_stream(&line)
                    .await
                    .map_err(|e| anyhow!("{name}: starting pfagent {args}: {e}"))?;
                let watch = stream.watch();
                let (stdout, stdin) = tokio::io::split(stream);
                Ok(BulkCommand {
                    node: name,
                    stdout: Box::pin(stdout),
                    stdin: Box::pin(stdin),
                    finished: Box::pin(async move {
                        Finished {
                            status: watch.exit_status().await,
                            stderr: watch.stderr(),
                        }
                    }),
                })
            }
            None => {
                let binary = crate::transport::local_agent_binary(&node.place().path);
                let line = as_root(&shell_quote(&binary.to_string_lossy()), args);
                local(name, &line)
            }
        }
    }
}

/// The command line for `pfagent ARGS` with root's view of the Engine: directly as root, else
/// through `sudo -n` where it works without a password (as the transport runs a one-shot agent),
/// else as the user (enough when the user may use the Docker socket).
fn as_root(agent: &str, args: &str) -> String {
    format!(
        "if [ \"$(id -u)\" -eq 0 ]; then exec {agent} {args}; \
         elif sudo -n true 2>/dev/null; then exec sudo -n {agent} {args}; \
         else exec {agent} {args}; fi"
    )
}

fn local(name: String, line: &str) -> Result<BulkCommand> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow!("{name}: starting pfagent: {e}"))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        bail!("{name}: pfagent started without pipes");
    };
    let stderr = tokio::spawn(read_bounded(stderr));
    Ok(BulkCommand {
        node: name,
        stdout: Box::pin(stdout),
        stdin: Box::pin(stdin),
        finished: Box::pin(async move {
            let status = child
                .wait()
                .await
                .ok()
                .and_then(|s| s.code())
                .map(|c| c as u32);
            let stderr = match stderr.await {
                Ok(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            Finished { status, stderr }
        }),
    })
}

/// Ends a read that waits longer than `limit` for its next byte with a `TimedOut` error: a node
/// whose link went down mid-stream fails in seconds instead of when SSH keepalives give up.
pub struct Stall<R> {
    inner: R,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<R> Stall<R> {
    pub fn new(inner: R, limit: Duration) -> Stall<R> {
        Stall {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Stall<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let deadline = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(r)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "nothing arrived for {} s (is the node or its link down?)",
                        this.limit.as_secs()
                    ),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_command_reports_status_and_stderr() {
        let c = local(
            "here".into(),
            "echo out; echo 'oops: no such image' >&2; exit 3",
        )
        .unwrap();
        let out = read_bounded(c.stdout).await.unwrap();
        assert_eq!(out, b"out\n");
        let f = wait(c.finished).await;
        assert_eq!(f.status, Some(3));
        assert_eq!(
            f.failure("pfagent image save"),
            "pfagent image save failed: oops: no such image"
        );
    }

    #[tokio::test]
    async fn a_stalled_stream_times_out_and_a_flowing_one_does_not() {
        let (mut w, r) = tokio::io::duplex(64);
        let mut s = Stall::new(r, Duration::from_millis(200));
        let writer = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::io::AsyncWriteExt::write_all(&mut w, b"x")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // then silence, with the writer still open
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 8];
        let err = loop {
            match s.read(&mut buf).await {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got, b"xxxxx");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        writer.abort();
    }

    #[test]
    fn root_command_line_runs_in_sh() {
        let line = as_root("/opt/pfagent/bin/pfagent", "image save 'a b'");
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}");
        assert!(line.contains("sudo -n /opt/pfagent/bin/pfagent image save 'a b'"));
    }
}
