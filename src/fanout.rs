//! Running one piece of work on many nodes: bounded parallelism, a deadline per node, and a
//! failure on one node never stalls or aborts the others.

use crate::endpoint::{self, Overrides};
use crate::inventory::Target;
use crate::rpc::AgentConn;
use crate::ssh::config::SshConfig;
use crate::ssh::{Session, SshError};
use crate::transport::{self, AgentPlace, Route, TransportError};
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct FanoutOpts {
    pub parallel: usize,
    /// The whole budget of one node: connecting, reaching the agent and the work itself.
    pub node_timeout: Duration,
    pub overrides: Overrides,
    pub ssh_config: Arc<SshConfig>,
}

/// Why a node produced no result. Typed: "unreachable" is exit code 3, the others are failures.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Agent(String),
    #[error("no result within {0:?} (the per-node --timeout)")]
    Timeout(Duration),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl NodeError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, NodeError::Unreachable(_) | NodeError::Timeout(_))
    }
}

impl From<SshError> for NodeError {
    fn from(e: SshError) -> Self {
        if e.is_unreachable() {
            NodeError::Unreachable(e.to_string())
        } else {
            NodeError::Other(anyhow::Error::new(e))
        }
    }
}

impl From<TransportError> for NodeError {
    fn from(e: TransportError) -> Self {
        NodeError::Agent(e.to_string())
    }
}

/// A connected node: its SSH session (none for the local node) and, on demand, its agent.
pub struct Node {
    pub target: Target,
    pub session: Option<Session>,
    place: AgentPlace,
    agent: tokio::sync::OnceCell<(AgentConn, Route)>,
}

impl Node {
    /// The agent connection, opened on first use and shared by every later call.
    pub async fn agent(&self) -> Result<&(AgentConn, Route), NodeError> {
        self.agent
            .get_or_try_init(|| async {
                match &self.session {
                    Some(s) => transport::over_ssh(s, &self.place).await,
                    None => transport::local(&self.place).await,
                }
            })
            .await
            .map_err(NodeError::from)
    }

    pub fn place(&self) -> &AgentPlace {
        &self.place
    }

    /// Says goodbye to the node's SSH server; the agent connection ends with it.
    pub async fn close(&self) {
        if let Some(s) = &self.session {
            s.close().await;
        }
    }
}

pub struct NodeOutcome<T> {
    pub target: Target,
    pub route: Option<Route>,
    pub hello: Option<pfproto::HelloResult>,
    pub result: Result<T, NodeError>,
    pub duration: Duration,
}

pub fn place_of(target: &Target) -> AgentPlace {
    AgentPlace {
        path: target
            .conn
            .agent_path
            .clone()
            .unwrap_or_else(|| AgentPlace::DEFAULT_PATH.to_string()),
        socket: target
            .conn
            .agent_socket
            .clone()
            .unwrap_or_else(|| pfproto::DEFAULT_SOCKET.to_string()),
    }
}

pub async fn connect(target: &Target, opts: &FanoutOpts) -> Result<Node, NodeError> {
    let session = match &target.host {
        Some(_) => {
            let ep = endpoint::build(target, &opts.ssh_config, &opts.overrides)
                .map_err(NodeError::Other)?;
            Some(Session::connect(&ep).await?)
        }
        None => None,
    };
    Ok(Node {
        target: target.clone(),
        session,
        place: place_of(target),
        agent: Default::default(),
    })
}

/// Runs `work` on every target, at most `opts.parallel` at a time, calling `done` as each node
/// finishes (for streaming output). Results come back in the targets' order. Each node's SSH
/// session is closed as soon as its work ends, so at most `opts.parallel` are open at once.
pub async fn each_node<T, W, D>(
    targets: &[Target],
    opts: &FanoutOpts,
    work: W,
    done: D,
) -> Vec<NodeOutcome<T>>
where
    W: AsyncFn(&Node) -> Result<T, NodeError>,
    D: Fn(&NodeOutcome<T>),
{
    let work = &work;
    let close_after = async |node: &Node| {
        let out = work(node).await;
        node.close().await;
        out
    };
    each_node_open(targets, opts, close_after, done)
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect()
}

/// [`each_node`], but every node whose work finished in time comes back still connected (its
/// agent connection too), for a second round of calls without a second SSH handshake. The
/// caller closes them with [`Node::close`]. A node that timed out comes back as `None`.
pub async fn each_node_open<T, W, D>(
    targets: &[Target],
    opts: &FanoutOpts,
    work: W,
    done: D,
) -> Vec<(NodeOutcome<T>, Option<Node>)>
where
    W: AsyncFn(&Node) -> Result<T, NodeError>,
    D: Fn(&NodeOutcome<T>),
{
    let work = &work;
    let mut outcomes: Vec<(usize, NodeOutcome<T>, Option<Node>)> =
        stream::iter(targets.iter().enumerate())
            .map(|(i, target)| async move {
                let start = Instant::now();
                let run = async {
                    let node = connect(target, opts).await?;
                    let out = work(&node).await;
                    Ok::<_, NodeError>((out, node))
                };
                let (result, node) = match tokio::time::timeout(opts.node_timeout, run).await {
                    Ok(Ok((out, node))) => (out, Some(node)),
                    Ok(Err(e)) => (Err(e), None),
                    Err(_) => (Err(NodeError::Timeout(opts.node_timeout)), None),
                };
                let agent = node.as_ref().and_then(|n| n.agent.get());
                let outcome = NodeOutcome {
                    target: target.clone(),
                    route: agent.map(|(_, r)| *r),
                    hello: agent.and_then(|(conn, _)| conn.hello.clone()),
                    result,
                    duration: start.elapsed(),
                };
                (i, outcome, node)
            })
            .buffer_unordered(opts.parallel.max(1))
            .inspect(|(_, o, _)| done(o))
            .collect()
            .await;
    outcomes.sort_by_key(|(i, _, _)| *i);
    outcomes.into_iter().map(|(_, o, n)| (o, n)).collect()
}
