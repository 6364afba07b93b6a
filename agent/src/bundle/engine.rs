//! The Docker Engine's part in backup and restore: where a volume is, making one, freezing the
//! containers that write to it, and running a dump command in one. Tested on a real cluster
//! (it needs an Engine); kept small so that everything else is testable without one.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerSummary, VolumeCreateRequest};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveVolumeOptions};
use bollard::Docker;
use futures_util::StreamExt;
use pfproto::bundle::ReadSource;

/// Per Engine request (until its answer starts): a pause freezes cgroups, which can be slow on a
/// loaded node, so more than the facts' few seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A dump command's whole run; a database dump of a big volume takes a while, but one that
/// hangs must not hold the backup forever.
const DUMP_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// The end of a dump's output kept for the error message.
const OUTPUT_TAIL: usize = 64 * 1024;
/// Lines of that output quoted in the message.
const QUOTED_LINES: usize = 10;

pub struct Engine {
    host: String,
    runtime: Option<tokio::runtime::Runtime>,
    docker: Option<Docker>,
}

/// A container this command paused.
pub struct Paused {
    pub id: String,
    pub name: String,
    pub volume: String,
}

impl Engine {
    /// Nothing is contacted until a request needs the Engine: path sources work without one.
    pub fn new(host: &str) -> Self {
        Engine {
            host: host.to_string(),
            runtime: None,
            docker: None,
        }
    }

    fn run<T, Fut>(&mut self, f: impl FnOnce(Docker) -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let Engine {
            host,
            runtime,
            docker,
        } = self;
        let rt = match runtime {
            Some(rt) => rt,
            None => runtime.insert(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the tokio runtime")?,
            ),
        };
        let client = match docker {
            Some(d) => d.clone(),
            None => {
                let d = rt
                    .block_on(crate::docker::Engine::new(host).client())
                    .map_err(|e| anyhow!("the Docker Engine at {host} is unreachable: {e}"))?
                    .with_timeout(REQUEST_TIMEOUT);
                docker.insert(d).clone()
            }
        };
        rt.block_on(f(client))
    }

    /// The volume's `_data` directory, or `None` when there is no such volume.
    pub fn volume_mountpoint(&mut self, volume: &str) -> Result<Option<PathBuf>> {
        let v = volume.to_string();
        let found = self.run(|docker| async move {
            match docker.inspect_volume(&v).await {
                Ok(found) => Ok(Some(found)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(anyhow!("inspecting volume {v}: {}", engine_text(&e))),
            }
        })?;
        found
            .map(|v| mountpoint(volume, &v.driver, &v.mountpoint))
            .transpose()
    }

    /// Creates a local volume for a restore; its (empty) `_data` directory.
    pub fn create_volume(&mut self, volume: &str) -> Result<PathBuf> {
        let request = VolumeCreateRequest {
            name: Some(volume.to_string()),
            driver: Some("local".into()),
            ..Default::default()
        };
        let v = self
            .run(|docker| async move { Ok(docker.create_volume(request).await) })?
            .map_err(|e| anyhow!("creating volume {volume}: {}", engine_text(&e)))?;
        mountpoint(volume, &v.driver, &v.mountpoint)
    }

    pub fn remove_volume(&mut self, volume: &str) -> Result<()> {
        self.run(|docker| async move {
            Ok(docker
                .remove_volume(volume, None::<RemoveVolumeOptions>)
                .await)
        })?
        .map_err(|e| anyhow!("removing volume {volume}: {}", engine_text(&e)))
    }

    /// Runs the source's dump command in a running container of this node (one mounting the
    /// volume, or one of `dump_service`); fails unless it exits 0.
    pub fn dump(&mut self, s: &ReadSource) -> Result<()> {
        let cmd = s.dump.clone().unwrap_or_default();
        let (filter, value, wanted) = match (&s.dump_service, &s.volume) {
            (Some(service), _) => (
                "label",
                format!("com.docker.swarm.service.name={service}"),
                format!("of service {service}"),
            ),
            (None, Some(volume)) => (
                "volume",
                volume.clone(),
                format!("mounting volume {volume}"),
            ),
            (None, None) => bail!("source {}: no volume or service to run the dump in", s.name),
        };
        let name = s.name.clone();
        self.run(|docker| async move {
            let found = running(&docker, filter, &value).await?;
            let Some(container) = found.first() else {
                bail!(
                    "source {name}: no running container {wanted} on this node to run the dump command in (is the service running here?)"
                );
            };
            let (id, cname) = ids(container);
            let run = exec(&docker, &id, cmd);
            let (code, tail) = match tokio::time::timeout(DUMP_TIMEOUT, run).await {
                Ok(r) => r.with_context(|| format!("source {name}: dump in container {cname}"))?,
                Err(_) => bail!(
                    "source {name}: the dump command in container {cname} did not finish within {}h",
                    DUMP_TIMEOUT.as_secs() / 3600
                ),
            };
            if code != 0 {
                bail!(
                    "source {name}: the dump command in container {cname} exited with status {code}{}",
                    quoted_tail(&tail)
                );
            }
            Ok(())
        })
    }

    /// Pauses every running container that mounts `volume`; on a failure, unpauses those it
    /// paused before failing.
    pub fn pause(&mut self, volume: &str) -> Result<Vec<Paused>> {
        self.run(|docker| async move {
            let found = running(&docker, "volume", volume).await?;
            let mut paused = Vec::new();
            for c in &found {
                let (id, name) = ids(c);
                if let Err(e) = docker.pause_container(&id).await {
                    let undone = unpause_all(&docker, &paused).await;
                    let undone = match undone {
                        Ok(()) => String::new(),
                        Err(still) => format!("; {still}"),
                    };
                    bail!(
                        "pausing container {name} of volume {volume}: {}{undone}",
                        engine_text(&e)
                    );
                }
                paused.push(Paused {
                    id,
                    name,
                    volume: volume.to_string(),
                });
            }
            Ok(paused)
        })
    }

    pub fn unpause(&mut self, volume: &str, paused: &[Paused]) -> Result<()> {
        self.run(|docker| async move { unpause_all(&docker, paused).await })
            .with_context(|| format!("volume {volume}"))
    }
}

/// Tries every container; the error names those still paused and what to run.
async fn unpause_all(docker: &Docker, paused: &[Paused]) -> Result<()> {
    let mut stuck = Vec::new();
    let mut last = String::new();
    for p in paused {
        if let Err(e) = docker.unpause_container(&p.id).await {
            stuck.push(p.name.as_str());
            last = engine_text(&e);
        }
    }
    if stuck.is_empty() {
        return Ok(());
    }
    bail!(
        "could not unpause container(s) {} ({last}): run `docker unpause {}` on this node",
        stuck.join(", "),
        stuck.join(" ")
    )
}

async fn running(docker: &Docker, filter: &str, value: &str) -> Result<Vec<ContainerSummary>> {
    let filters = HashMap::from([
        (filter, vec![value.to_string()]),
        ("status", vec!["running".to_string()]),
    ]);
    let opts = ListContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(opts))
        .await
        .map_err(|e| anyhow!("listing containers ({filter} {value}): {}", engine_text(&e)))
}

/// The id, and a name for messages.
fn ids(c: &ContainerSummary) -> (String, String) {
    let id = c.id.clone().unwrap_or_default();
    let name = c
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| id.chars().take(12).collect());
    (id, name)
}

/// The exit code and the end of the output.
async fn exec(docker: &Docker, container: &str, cmd: Vec<String>) -> Result<(i64, Vec<u8>)> {
    let config = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd),
        ..Default::default()
    };
    let created = docker
        .create_exec(container, config)
        .await
        .map_err(|e| anyhow!("creating the exec: {}", engine_text(&e)))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| anyhow!("starting the command: {}", engine_text(&e)))?;
    let mut tail = Vec::new();
    if let StartExecResults::Attached { mut output, .. } = started {
        // Read to the end so the command never blocks on a full pipe; keep only the end.
        while let Some(item) = output.next().await {
            let chunk = item.map_err(|e| anyhow!("reading the command's output: {e}"))?;
            tail.extend_from_slice(&chunk.into_bytes());
            if tail.len() > OUTPUT_TAIL {
                tail.drain(..tail.len() - OUTPUT_TAIL);
            }
        }
    }
    // The output ends when the process exits, but dockerd may record the code a moment later.
    for _ in 0..50 {
        let inspect = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| anyhow!("inspecting the exec: {}", engine_text(&e)))?;
        if inspect.running != Some(true) {
            let code = inspect
                .exit_code
                .ok_or_else(|| anyhow!("the Engine recorded no exit code"))?;
            return Ok((code, tail));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the command's output ended but it is still running")
}

/// `: last output: a | b | c`, or nothing when the command said nothing.
fn quoted_tail(tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(tail);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(QUOTED_LINES);
    let mut quoted = lines[start..].join(" | ");
    if quoted.len() > 2000 {
        let mut cut = quoted.len() - 2000;
        while !quoted.is_char_boundary(cut) {
            cut += 1;
        }
        quoted = format!("...{}", &quoted[cut..]);
    }
    format!("; last output: {quoted}")
}

fn mountpoint(volume: &str, driver: &str, mountpoint: &str) -> Result<PathBuf> {
    if mountpoint.is_empty() || !mountpoint.starts_with('/') {
        bail!(
            "volume {volume} (driver {driver}) has no local directory on this node; only volumes whose data is on the node can be backed up or restored"
        );
    }
    Ok(PathBuf::from(mountpoint))
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The Engine's own words when it answered, else the transport's.
fn engine_text(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_output_is_quoted_from_the_end() {
        let out: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let q = quoted_tail(out.as_bytes());
        assert!(q.starts_with("; last output: line 21 | "), "{q}");
        assert!(q.ends_with("line 30"), "{q}");
        assert_eq!(quoted_tail(b"\n\n"), "");
        let long = "é".repeat(3000);
        assert!(quoted_tail(long.as_bytes()).len() < 2100);
    }

    #[test]
    fn remote_volumes_are_refused() {
        assert!(mountpoint("v", "local", "/var/lib/docker/volumes/v/_data").is_ok());
        let e = mountpoint("v", "rexray", "").unwrap_err();
        assert!(e.to_string().contains("volume v (driver rexray)"), "{e}");
    }

    #[test]
    fn missing_engine_is_said_in_words() {
        let mut e = Engine::new("unix:///nonexistent/docker.sock");
        let err = e.volume_mountpoint("v").unwrap_err();
        assert!(err.to_string().contains("is unreachable"), "{err}");
    }
}
