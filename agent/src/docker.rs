//! The Docker Engine as a source of facts. An unreachable engine is itself a fact, so nothing
//! here returns an error to the caller.

use std::future::Future;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::Docker;
use pfproto::facts::{DockerFacts, SwarmFacts};
use tokio::sync::Mutex;

/// Per Engine call; a hung dockerd must not hang `node.facts`.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Engine {
    host: String,
    /// Built and version-negotiated on first use, then reused so a facts call costs two requests.
    client: Mutex<Option<Docker>>,
}

impl Engine {
    pub fn new(host: &str) -> Self {
        Engine {
            host: host.to_string(),
            client: Mutex::new(None),
        }
    }

    pub async fn facts(&self) -> DockerFacts {
        let docker = match self.client().await {
            Ok(d) => d,
            Err(e) => return unreachable(e),
        };
        let (version, info) = tokio::join!(
            call("version", docker.version()),
            call("info", docker.info())
        );
        let version = match version {
            Ok(v) => v,
            Err(e) => {
                self.forget_if_broken(&e).await;
                return unreachable(e.to_string());
            }
        };
        let mut facts = DockerFacts {
            reachable: true,
            version: version.version.unwrap_or_default(),
            api_version: docker.client_version().to_string(),
            ..Default::default()
        };
        match info {
            Ok(info) => {
                facts.root_dir = info.docker_root_dir.unwrap_or_default();
                facts.containers_total = nonneg(info.containers);
                facts.containers_running = nonneg(info.containers_running);
                if let Some(s) = info.swarm {
                    facts.swarm = swarm_facts(s);
                }
            }
            Err(e) => {
                self.forget_if_broken(&e).await;
                facts.error = Some(format!("engine info failed: {e}"));
            }
        }
        facts
    }

    pub(crate) async fn client(&self) -> Result<Docker, String> {
        let mut slot = self.client.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let path = socket_path(&self.host)?;
        let docker =
            Docker::connect_with_unix(path, CALL_TIMEOUT.as_secs(), bollard::API_DEFAULT_VERSION)
                .map_err(|e| e.to_string())?;
        // bollard asks for its newest API by default, which Engines older than it refuse.
        let docker = call("version negotiation", docker.negotiate_version())
            .await
            .map_err(|e| e.to_string())?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// A document straight from the Engine's socket (`GET path`, HTTP/1.0 so the answer is not
    /// chunked): bollard's types drop what they spell differently from the Engine, such as a
    /// container spec's `Healthcheck`, and an update built from them would remove it.
    pub(crate) async fn raw_get(&self, path: &str) -> Result<serde_json::Value, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const MAX: u64 = 8 * 1024 * 1024;
        let sock = socket_path(&self.host)?.to_string();
        let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
        let exchange = async {
            let mut s = tokio::net::UnixStream::connect(&sock).await?;
            s.write_all(request.as_bytes()).await?;
            let mut buf = Vec::new();
            s.take(MAX).read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Err(format!("GET {path} on {sock}: {e}")),
            Err(_) => {
                return Err(format!(
                    "GET {path}: no answer within {}s",
                    CALL_TIMEOUT.as_secs()
                ))
            }
        };
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("GET {path}: no HTTP answer"))?;
        let head = String::from_utf8_lossy(&buf[..split]);
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(format!("GET {path}: HTTP {status}"));
        }
        serde_json::from_slice(&buf[split + 4..]).map_err(|e| format!("GET {path}: {e}"))
    }

    /// A transport failure may mean dockerd restarted (perhaps as another version): build a new
    /// client and negotiate again next time. An API-level error leaves the client as it is.
    pub(crate) async fn forget_if_broken(&self, e: &CallError) {
        let keep = matches!(
            e,
            CallError::Engine(_, BollardError::DockerResponseServerError { .. })
                | CallError::Engine(_, BollardError::JsonDataError { .. })
                | CallError::Engine(_, BollardError::JsonSerdeError { .. })
        );
        if !keep {
            *self.client.lock().await = None;
        }
    }
}

pub(crate) enum CallError {
    Timeout(&'static str),
    Engine(&'static str, BollardError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout(what) => {
                write!(f, "{what}: no answer within {}s", CALL_TIMEOUT.as_secs())
            }
            CallError::Engine(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

pub(crate) async fn call<T>(
    what: &'static str,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CallError::Engine(what, e)),
        Err(_) => Err(CallError::Timeout(what)),
    }
}

fn socket_path(host: &str) -> Result<&str, String> {
    if let Some(p) = host.strip_prefix("unix://") {
        Ok(p)
    } else if host.starts_with('/') {
        Ok(host)
    } else {
        Err(format!(
            "docker host '{host}' is not supported: the agent talks to the local engine over a unix:// socket"
        ))
    }
}

fn unreachable(e: impl std::fmt::Display) -> DockerFacts {
    DockerFacts {
        reachable: false,
        error: Some(format!("engine unreachable: {e}")),
        ..Default::default()
    }
}

pub(crate) fn nonneg(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

pub(crate) fn swarm_facts(s: bollard::models::SwarmInfo) -> SwarmFacts {
    SwarmFacts {
        state: s
            .local_node_state
            .map(|st| st.to_string())
            .unwrap_or_default(),
        node_id: s.node_id.unwrap_or_default(),
        node_addr: s.node_addr.unwrap_or_default(),
        is_manager: s.control_available.unwrap_or(false),
        cluster_id: s.cluster.and_then(|c| c.id).unwrap_or_default(),
        managers: nonneg(s.managers),
        nodes: nonneg(s.nodes),
        remote_managers: s
            .remote_managers
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.addr)
            .collect(),
        error: s.error.filter(|e| !e.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            socket_path("unix:///var/run/docker.sock").unwrap(),
            "/var/run/docker.sock"
        );
        assert_eq!(socket_path("/run/d.sock").unwrap(), "/run/d.sock");
        assert!(socket_path("tcp://10.0.0.1:2375").is_err());
    }

    #[tokio::test]
    async fn missing_engine_is_a_fact() {
        let e = Engine::new("unix:///nonexistent/docker.sock");
        let f = e.facts().await;
        assert!(!f.reachable);
        assert!(f.error.unwrap().starts_with("engine unreachable: "));
    }
}
