//! What every connection shares: the process's identity, its mode and the Docker client.

use std::path::PathBuf;
use std::time::Instant;

use pfproto::AgentMode;

use crate::docker::Engine;
use crate::history::History;

pub struct Agent {
    pub mode: AgentMode,
    pub state_dir: PathBuf,
    pub started: Instant,
    pub pid: u32,
    pub engine: Engine,
    /// Records of past healthcheck runs; its lock serializes this process's appends.
    pub history: History,
}

impl Agent {
    pub fn new(mode: AgentMode, state_dir: PathBuf, docker_host: &str) -> Self {
        Agent {
            mode,
            started: Instant::now(),
            pid: std::process::id(),
            engine: Engine::new(docker_host),
            history: History::new(&state_dir),
            state_dir,
        }
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            AgentMode::Resident => "resident",
            AgentMode::Stdio => "stdio",
        }
    }
}
