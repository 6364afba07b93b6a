//! One protocol connection, whatever carries it (the socket or stdin/stdout).
//!
//! The reader parses lines and answers protocol errors itself; each request runs as its own
//! task; a single writer owns the output so reply lines never interleave.

use std::sync::Arc;

use pfproto::framing::{read_frame, Frame};
use pfproto::{
    method, ErrorCode, HelloParams, HelloResult, Reply, MAX_IN_FLIGHT, MAX_LINE, PROTOCOL_VERSION,
};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};

use crate::agent::Agent;
use crate::log::{info, warning};
use crate::methods;

/// `peer` names the other end in log lines.
pub async fn serve<R, W>(agent: Arc<Agent>, reader: R, writer: W, peer: &str)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Reply>(MAX_IN_FLIGHT * 2);
    let writer = tokio::spawn(write_replies(writer, rx));
    read_requests(agent, reader, tx, peer).await;
    // The reader's sender is gone; the writer ends once every in-flight handler has answered.
    let _ = writer.await;
}

async fn write_replies<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Reply>) {
    while let Some(reply) = rx.recv().await {
        let mut line = match serde_json::to_vec(&reply) {
            Ok(l) => l,
            Err(e) => serde_json::to_vec(&Reply::err(reply.id, ErrorCode::Internal, e.to_string()))
                .unwrap_or_default(),
        };
        line.push(b'\n');
        if w.write_all(&line).await.is_err() || w.flush().await.is_err() {
            // The peer is gone; drain so handlers never block on a full channel.
            while rx.recv().await.is_some() {}
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_requests<R: AsyncRead + Unpin>(
    agent: Arc<Agent>,
    reader: R,
    tx: mpsc::Sender<Reply>,
    peer: &str,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut said_hello = false;
    loop {
        let frame = match read_frame(&mut reader, MAX_LINE).await {
            Ok(f) => f,
            Err(e) => {
                warning!("{peer}: read failed: {e}");
                return;
            }
        };
        let line = match frame {
            Frame::Eof => return,
            Frame::Line(l) => l,
            Frame::TooLong(n) => {
                warning!("{peer}: discarded a message of {n} bytes (over the limit)");
                let msg = format!(
                    "message of {n} bytes exceeds the {} MiB limit; it was discarded",
                    MAX_LINE / (1024 * 1024)
                );
                if send(&tx, Reply::err(None, ErrorCode::TooLarge, msg)).await {
                    continue;
                }
                return;
            }
            Frame::Truncated(bytes) => {
                warning!("{peer}: stream ended inside a message");
                let msg = format!(
                    "truncated message: the stream ended after {} bytes without a newline",
                    bytes.len()
                );
                send(&tx, Reply::err(None, ErrorCode::ParseError, msg)).await;
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (id, name, mut params) = match parse_request(&line) {
            Ok(r) => r,
            Err(reply) => {
                warning!(
                    "{peer}: bad request: {}",
                    reply.error.as_ref().map_or("", |e| &e.message)
                );
                if send(&tx, reply).await {
                    continue;
                }
                return;
            }
        };

        let reply = if name == method::HELLO {
            let r = hello(&agent, id, std::mem::take(&mut params), peer);
            said_hello |= r.error.is_none();
            Some(r)
        } else if !said_hello {
            Some(Reply::err(
                Some(id),
                ErrorCode::HelloRequired,
                "send hello first",
            ))
        } else if !methods::exists(&name) {
            Some(Reply::err(
                Some(id),
                ErrorCode::MethodNotFound,
                format!("unknown method '{}'", truncate(&name, 64)),
            ))
        } else {
            None
        };
        if let Some(reply) = reply {
            if send(&tx, reply).await {
                continue;
            }
            return;
        }

        // Waiting for a permit stops reading, which pushes back on a client that floods us.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let agent = agent.clone();
        let tx = tx.clone();
        let peer = peer.to_string();
        tokio::spawn(async move {
            // A nested task turns a handler panic into a JoinError we can answer.
            let handler =
                tokio::spawn(async move { methods::call(agent, &name, params, &peer).await });
            let reply = match handler.await {
                Ok(Ok(v)) => Reply::ok(id, v),
                Ok(Err(e)) => Reply::err(Some(id), e.code, e.message),
                Err(e) => {
                    crate::log::error!("handler for request {id} failed: {e}");
                    Reply::err(
                        Some(id),
                        ErrorCode::Internal,
                        "the agent failed handling this request",
                    )
                }
            };
            let _ = tx.send(reply).await;
            drop(permit);
        });
    }
}

/// False when the writer has gone away, so the reader should stop too.
async fn send(tx: &mpsc::Sender<Reply>, reply: Reply) -> bool {
    tx.send(reply).await.is_ok()
}

fn parse_request(line: &[u8]) -> Result<(u64, String, Value), Reply> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Reply::err(None, ErrorCode::ParseError, format!("not JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(Reply::err(
            None,
            ErrorCode::InvalidRequest,
            "a request must be a JSON object with a numeric id and a string method",
        ));
    };
    let id = obj.get("id").and_then(Value::as_u64);
    let Some(id) = id else {
        return Err(Reply::err(
            None,
            ErrorCode::InvalidRequest,
            "the request has no numeric id",
        ));
    };
    let Some(Value::String(name)) = obj.remove("method") else {
        return Err(Reply::err(
            Some(id),
            ErrorCode::InvalidRequest,
            "the request has no string method",
        ));
    };
    let params = obj.remove("params").unwrap_or(Value::Null);
    Ok((id, name, params))
}

fn hello(agent: &Agent, id: u64, params: Value, peer: &str) -> Reply {
    let p: HelloParams = match serde_json::from_value(params) {
        Ok(p) => p,
        Err(e) => return Reply::err(Some(id), ErrorCode::InvalidParams, format!("hello: {e}")),
    };
    let client = truncate(p.client.trim(), 64).replace(|c: char| c.is_control(), "?");
    if p.protocol != PROTOCOL_VERSION {
        warning!(
            "{peer}: hello from {client} with protocol {} (this agent speaks {PROTOCOL_VERSION})",
            p.protocol
        );
        let who = if client.starts_with("pfctl") {
            client.as_str()
        } else {
            "the client"
        };
        return Reply::err(
            Some(id),
            ErrorCode::VersionMismatch,
            format!(
                "protocol version mismatch: {who} speaks {}, this pfagent {} speaks {PROTOCOL_VERSION}; install matching versions (pfctl agent install)",
                p.protocol,
                env!("CARGO_PKG_VERSION")
            ),
        );
    }
    info!("{peer}: hello from {client}");
    let result = HelloResult {
        protocol: PROTOCOL_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        capabilities: methods::CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        mode: agent.mode,
        pid: agent.pid,
        uptime_s: agent.uptime_s(),
    };
    match serde_json::to_value(result) {
        Ok(v) => Reply::ok(id, v),
        Err(e) => Reply::err(Some(id), ErrorCode::Internal, e.to_string()),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfproto::AgentMode;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    async fn exchange(input: &[u8]) -> Vec<Reply> {
        let agent = Arc::new(Agent::new(
            AgentMode::Stdio,
            std::env::temp_dir(),
            "unix:///nonexistent/docker.sock",
        ));
        let (client, server) = tokio::io::duplex(1 << 20);
        let (sr, sw) = tokio::io::split(server);
        let task = tokio::spawn(async move { serve(agent, sr, sw, "test").await });
        let (cr, mut cw) = tokio::io::split(client);
        cw.write_all(input).await.unwrap();
        cw.shutdown().await.unwrap();
        let mut lines = tokio::io::BufReader::new(cr).lines();
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().await.unwrap() {
            out.push(serde_json::from_str(&l).unwrap());
        }
        task.await.unwrap();
        out
    }

    fn code(r: &Reply) -> Option<ErrorCode> {
        r.error.as_ref().map(|e| e.code)
    }

    #[tokio::test]
    async fn protocol_errors_keep_the_connection() {
        let replies = exchange(
            b"nope\n\n[1]\n{\"id\":1}\n{\"id\":\"x\",\"method\":\"a\"}\n{\"id\":2,\"method\":\"agent.ping\"}\n\
              {\"id\":3,\"method\":\"hello\",\"params\":{\"protocol\":1,\"client\":\"t\"}}\n\
              {\"id\":4,\"method\":\"nope\"}\n{\"id\":5,\"method\":\"agent.ping\",\"params\":7}\n\
              {\"id\":6,\"method\":\"agent.ping\"}\n",
        )
        .await;
        let codes: Vec<_> = replies.iter().map(|r| (r.id, code(r))).collect();
        assert_eq!(codes[0], (None, Some(ErrorCode::ParseError)));
        assert_eq!(codes[1], (None, Some(ErrorCode::InvalidRequest)));
        assert_eq!(codes[2], (Some(1), Some(ErrorCode::InvalidRequest)));
        assert_eq!(codes[3], (None, Some(ErrorCode::InvalidRequest)));
        assert_eq!(codes[4], (Some(2), Some(ErrorCode::HelloRequired)));
        assert_eq!(codes[5], (Some(3), None));
        assert_eq!(codes[6], (Some(4), Some(ErrorCode::MethodNotFound)));
        assert_eq!(replies.len(), 9);
        let rest: Vec<_> = replies[7..].iter().map(|r| (r.id, code(r))).collect();
        assert!(rest.contains(&(Some(5), Some(ErrorCode::InvalidParams))));
        assert!(rest.contains(&(Some(6), None)));
    }

    #[tokio::test]
    async fn version_mismatch_names_both_sides() {
        let replies = exchange(
            b"{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":2,\"client\":\"pfctl\"}}\n\
              {\"id\":2,\"method\":\"hello\",\"params\":{\"protocol\":9,\"client\":\"other\"}}\n",
        )
        .await;
        let m = &replies[0].error.as_ref().unwrap().message;
        assert_eq!(
            m,
            &format!(
                "protocol version mismatch: pfctl speaks 2, this pfagent {} speaks 1; install matching versions (pfctl agent install)",
                env!("CARGO_PKG_VERSION")
            )
        );
        let m = &replies[1].error.as_ref().unwrap().message;
        assert!(m.starts_with("protocol version mismatch: the client speaks 9"));
    }
}
