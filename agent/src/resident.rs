//! `pfagent serve`: the resident daemon on a Unix socket.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{chown, Gid};
use pfproto::{AgentMode, ErrorCode, Reply};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};

use crate::access::{self, SocketGroup};
use crate::agent::Agent;
use crate::cli::ServeArgs;
use crate::log::{info, warning};
use crate::service;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let group = SocketGroup::resolve(&args.group);
    if !group.exists {
        warning!(
            "group '{}' does not exist; the socket gets this process's group (gid {}) instead",
            group.name,
            group.gid
        );
    }
    let socket = &args.socket;
    refuse_if_served(socket)?;
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir, Some(group.gid))
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    create_private_dir(&args.state_dir, None)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;

    let listener = bind(socket, group.gid)?;
    let pidfile = args.state_dir.join("pfagent.pid");
    fs::write(&pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pidfile.display()))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let agent = Arc::new(Agent::new(
        AgentMode::Resident,
        args.state_dir.clone(),
        &args.docker_host,
    ));
    let group = Arc::new(group);
    info!(
        "serving {} (group {}, state {})",
        socket.display(),
        group.name,
        args.state_dir.display()
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(agent.clone(), group.clone(), stream));
                }
                // Out of descriptors or similar: back off instead of spinning.
                Err(e) => {
                    warning!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
        }
    }
    remove_quietly(socket);
    remove_quietly(&pidfile);
    Ok(())
}

/// A leftover socket from a crashed agent is replaced; a live one means someone else serves.
fn refuse_if_served(socket: &Path) -> anyhow::Result<()> {
    let Ok(meta) = fs::symlink_metadata(socket) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; not replacing it",
            socket.display()
        );
    }
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        bail!("another pfagent is already serving {}", socket.display());
    }
    warning!("removing stale socket {}", socket.display());
    fs::remove_file(socket).with_context(|| format!("removing stale socket {}", socket.display()))
}

/// Only a directory the agent creates gets its mode set: an existing one (say /tmp) is the
/// administrator's business.
fn create_private_dir(dir: &Path, gid: Option<u32>) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))?;
    if let Some(gid) = gid {
        if let Err(e) = chown(dir, None, Some(Gid::from_raw(gid))) {
            warning!("cannot give {} to gid {gid}: {e}", dir.display());
        }
    }
    Ok(())
}

fn bind(socket: &Path, gid: u32) -> anyhow::Result<UnixListener> {
    // Bind owner-only, then widen to the group once it is the right group: no moment where
    // the socket is reachable by the wrong people.
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(socket);
    umask(old);
    let listener = listener.with_context(|| format!("binding {}", socket.display()))?;
    if let Err(e) = chown(socket, None, Some(Gid::from_raw(gid))) {
        warning!("cannot give {} to gid {gid}: {e}", socket.display());
    }
    fs::set_permissions(socket, fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

fn remove_quietly(path: &PathBuf) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warning!("cannot remove {}: {e}", path.display());
        }
    }
}

async fn connection(agent: Arc<Agent>, group: Arc<SocketGroup>, mut stream: UnixStream) {
    let cred = match getsockopt(&stream, PeerCredentials) {
        Ok(c) => c,
        Err(e) => {
            warning!("cannot read peer credentials: {e}; closing the connection");
            return;
        }
    };
    let (uid, gid, pid) = (cred.uid(), cred.gid(), cred.pid());
    let agent_uid = nix::unistd::getuid().as_raw();
    let allowed = if uid == 0 || uid == agent_uid || gid == group.gid {
        true
    } else {
        let gids = tokio::task::spawn_blocking(move || access::user_gids(uid))
            .await
            .unwrap_or_default();
        access::permits(uid, gid, agent_uid, group.gid, &gids)
    };
    if !allowed {
        warning!(
            "refused a connection from uid {uid} (pid {pid}): not root and not in group '{}'",
            group.name
        );
        let reply = Reply::err(
            None,
            ErrorCode::PermissionDenied,
            access::refusal(uid, &group),
        );
        if let Ok(mut line) = serde_json::to_vec(&reply) {
            line.push(b'\n');
            let _ = stream.write_all(&line).await;
        }
        let _ = stream.shutdown().await;
        return;
    }
    let (r, w) = stream.into_split();
    service::serve(agent, r, w, &format!("uid {uid} pid {pid}")).await;
}
