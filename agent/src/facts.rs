//! `node.facts`: everything the agent knows about its node, gathered concurrently.

use std::path::PathBuf;

use pfproto::facts::{AgentFacts, NodeFacts};

use crate::agent::Agent;
use crate::{clock, disks, host};

pub async fn collect(agent: &Agent) -> anyhow::Result<NodeFacts> {
    // The Engine may take seconds to answer; the kernel's files never should, so read them meanwhile.
    let host =
        tokio::task::spawn_blocking(|| (host::hostname(), host::os(), host::cpu(), host::memory()));
    let (docker, host) = tokio::join!(agent.engine.facts(), host);
    let (hostname, os, cpu, memory) = host?;

    let mut paths = vec![("root", PathBuf::from("/"))];
    if !docker.root_dir.is_empty() {
        paths.push(("docker", PathBuf::from(&docker.root_dir)));
    }
    paths.push(("state", agent.state_dir.clone()));
    let (disks, clock) =
        tokio::task::spawn_blocking(move || (disks::disks(&paths), clock::clock())).await?;

    Ok(NodeFacts {
        hostname,
        os,
        cpu,
        memory,
        disks,
        clock,
        docker,
        agent: AgentFacts {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: agent.uptime_s(),
            pid: agent.pid,
            mode: agent.mode_name().to_string(),
            state_dir: agent.state_dir.display().to_string(),
        },
    })
}
