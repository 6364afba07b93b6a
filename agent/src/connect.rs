//! `pfagent connect`: a byte relay between stdio and the resident agent, for SSH servers that
//! cannot forward a Unix socket.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// What the controller takes as "no resident agent here; fall back to `serve --stdio`".
pub const EX_UNAVAILABLE: i32 = 69;

pub async fn run(socket: &Path) -> i32 {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "pfagent connect: cannot reach the resident agent at {}: {e}",
                socket.display()
            );
            return EX_UNAVAILABLE;
        }
    };
    let (mut from_agent, mut to_agent) = stream.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut to_agent).await;
        // Half-close: the agent still answers what it already received.
        let _ = to_agent.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let relayed = tokio::io::copy(&mut from_agent, &mut stdout).await;
    let _ = stdout.flush().await;
    match relayed {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("pfagent connect: relay failed: {e}");
            1
        }
    }
}
