//! `pfagent serve --stdio`: one connection on stdin/stdout, for nodes with no resident agent.

use std::sync::Arc;

use pfproto::AgentMode;

use crate::agent::Agent;
use crate::cli::ServeArgs;
use crate::service;

pub async fn run(args: ServeArgs) {
    // State is a bonus here (run by a user who may not own the state dir): never fatal.
    let _ = std::fs::create_dir_all(&args.state_dir);
    let agent = Arc::new(Agent::new(
        AgentMode::Stdio,
        args.state_dir,
        &args.docker_host,
    ));
    service::serve(agent, tokio::io::stdin(), tokio::io::stdout(), "stdio").await;
}
