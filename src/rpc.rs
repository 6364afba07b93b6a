//! The controller's end of the agent protocol: one connection, many calls in flight, replies
//! paired to callers by id.

use pfproto::framing::{read_frame, Frame};
use pfproto::{
    method, ErrorCode, HelloParams, HelloResult, Reply, Request, RpcError, MAX_LINE,
    PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Typed because callers branch on it: a refusal by the agent is not a broken connection.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the agent answered: {0}")]
    Rpc(RpcError),
    #[error("the agent connection closed{}", fmt_detail(.0))]
    Closed(String),
    #[error("the agent sent a reply pfctl cannot read: {0}")]
    Decode(String),
    #[error("no answer from the agent within {0:?}")]
    Timeout(std::time::Duration),
}

fn fmt_detail(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl AgentError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AgentError::Rpc(e) => Some(e.code),
            _ => None,
        }
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>>>;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A live connection to one agent. Cheap to clone; calls may run concurrently.
#[derive(Clone)]
pub struct AgentConn {
    tx: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    closed: Arc<Mutex<Option<String>>>,
    pub hello: Option<HelloResult>,
}

impl AgentConn {
    /// Starts the reader and writer tasks over `stream` and performs the `hello` exchange.
    pub async fn handshake(stream: impl Stream) -> Result<AgentConn, AgentError> {
        let mut conn = AgentConn::start(stream);
        let params = HelloParams {
            protocol: PROTOCOL_VERSION,
            client: format!("pfctl {}", env!("CARGO_PKG_VERSION")),
        };
        let hello: HelloResult = conn
            .call(
                method::HELLO,
                serde_json::to_value(params).unwrap_or_default(),
            )
            .await?;
        conn.hello = Some(hello);
        Ok(conn)
    }

    fn start(stream: impl Stream) -> AgentConn {
        let (read, mut write) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let pending: Pending = Arc::default();
        let closed: Arc<Mutex<Option<String>>> = Arc::default();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if write.write_all(&line).await.is_err() || write.flush().await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let (p, c) = (pending.clone(), closed.clone());
        tokio::spawn(async move {
            let mut reader = BufReader::new(read);
            let reason = loop {
                match read_frame(&mut reader, MAX_LINE).await {
                    Ok(Frame::Line(line)) => {
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        let reply: Reply = match serde_json::from_slice(&line) {
                            Ok(r) => r,
                            Err(e) => break format!("unreadable line from the agent: {e}"),
                        };
                        if reply.event.is_some() && reply.result.is_none() && reply.error.is_none()
                        {
                            continue;
                        }
                        let waiter = match reply.id {
                            Some(id) => p.lock().unwrap_or_else(|e| e.into_inner()).remove(&id),
                            // An error without an id (refused peer, unreadable line) concerns everyone.
                            None => {
                                if let Some(err) = reply.error {
                                    break err.to_string();
                                }
                                None
                            }
                        };
                        if let Some(w) = waiter {
                            let _ = w.send(match reply.error {
                                Some(e) => Err(e),
                                None => Ok(reply.result.unwrap_or(Value::Null)),
                            });
                        }
                    }
                    Ok(Frame::TooLong(n)) => {
                        break format!("the agent sent a line of {n} bytes, over the limit")
                    }
                    Ok(Frame::Truncated(_)) => {
                        break "the agent's last line was cut short".to_string()
                    }
                    Ok(Frame::Eof) => break String::new(),
                    Err(e) => break e.to_string(),
                }
            };
            *c.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
            // Dropping the senders wakes every waiting caller with `Closed`.
            p.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        AgentConn {
            tx,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            closed,
            hello: None,
        }
    }

    fn closed_reason(&self) -> String {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, AgentError> {
        let value = self.call_value(method, params).await?;
        serde_json::from_value(value).map_err(|e| AgentError::Decode(format!("{method}: {e}")))
    }

    pub async fn call_value(&self, method: &str, params: Value) -> Result<Value, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(reason) = self
                .closed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                return Err(AgentError::Closed(reason));
            }
            pending.insert(id, tx);
        }
        let mut line = serde_json::to_vec(&Request {
            id,
            method: method.to_string(),
            params,
        })
        .map_err(|e| AgentError::Decode(e.to_string()))?;
        line.push(b'\n');
        if self.tx.send(line).await.is_err() {
            return Err(AgentError::Closed(self.closed_reason()));
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(AgentError::Rpc(e)),
            Err(_) => Err(AgentError::Closed(self.closed_reason())),
        }
    }
}
