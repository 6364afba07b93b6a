//! Copying an image from one node to another when the nodes have no registry (autocluster's image
//! phase). The archive goes as raw bytes on two channels of their own, never through the agent's
//! JSON protocol: `pfagent image save REF` runs on the source node, `pfagent image load` on the
//! destination, and pfctl pumps one's stdout into the other's stdin through a fixed buffer,
//! hashing on the way. The destination hashes what it read too; both hashes, and then the image ids
//! the two agents report, must agree before the copy counts as done.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use pfproto::method;
use pfproto::swarm::{ImageLoadReport, ImagePresence, ImagesList};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::bulk::{read_bounded, wait, BulkCommand};
use crate::fanout::Node;
use crate::ssh::shell_quote;

/// The pump's buffer: what is in flight between the nodes, whatever the image's size.
const PUMP_CHUNK: usize = 64 * 1024;

/// What [`copy_image`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub reference: String,
    pub from: String,
    pub to: String,
    /// Archive bytes that went from one node to the other.
    pub bytes: u64,
    /// Hex sha256 of those bytes (the destination read the same).
    pub sha256: String,
    /// The image id both nodes now hold.
    pub image_id: String,
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Copies image `reference` from `from` to `to` and proves it arrived: same bytes read as sent,
/// same image id on both nodes. Sets no deadline of its own (a big image takes what it takes):
/// the caller bounds it. Errors name the node at fault.
pub async fn copy_image(from: &Node, to: &Node, reference: &str) -> Result<CopyReport> {
    let started = Instant::now();
    let (src, dst) = (from.target.name.as_str(), to.target.name.as_str());
    check_reference(reference)?;
    if src == dst {
        bail!("copying image '{reference}': {src} is both the source and the destination");
    }
    let what = || format!("copying image '{reference}' from {src} to {dst}");
    let save = BulkCommand::start(from, &format!("image save {}", shell_quote(reference)))
        .await
        .with_context(what)?;
    let load = BulkCommand::start(to, "image load")
        .await
        .with_context(what)?;
    let moved = transfer(save, load)
        .await
        .map_err(|e| anyhow!("{}: {e}", what()))?;
    let image_id = verify(from, to, reference, &moved)
        .await
        .with_context(what)?;
    Ok(CopyReport {
        reference: reference.to_string(),
        from: src.to_string(),
        to: dst.to_string(),
        bytes: moved.bytes,
        sha256: moved.sha256,
        image_id,
        elapsed: started.elapsed(),
    })
}

/// Loads an image archive from this machine (an offline upgrade bundle) into `to`'s engine, then
/// checks that every `(tag, image id)` expected is there with that id. The node hashes what it
/// read; it must be what was sent.
pub async fn load_file(
    to: &Node,
    path: &std::path::Path,
    expect: &[(String, String)],
) -> Result<ImageLoadReport> {
    let dst = to.target.name.clone();
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let BulkCommand {
        stdout: load_out,
        stdin: load_in,
        finished,
        ..
    } = BulkCommand::start(to, "image load").await?;
    let (mut load_in, mut load_out) = (load_in, load_out);
    let (pumped, answer) = tokio::join!(pump(file, &mut load_in), read_bounded(&mut load_out));
    let loaded = wait(finished).await;
    let (bytes, sha256) = match pumped {
        Ok(v) => v,
        Err(PumpError::Read(e)) => bail!("reading {}: {e}", path.display()),
        Err(PumpError::Write(e)) => bail!(
            "{dst}: sending {} failed ({e}); {}",
            path.display(),
            loaded.failure("pfagent image load")
        ),
    };
    if loaded.status != Some(0) {
        bail!("{dst}: {}", loaded.failure("pfagent image load"));
    }
    let answer = answer.map_err(|e| anyhow!("{dst}: reading pfagent image load's answer: {e}"))?;
    let report: ImageLoadReport = serde_json::from_slice(answer.trim_ascii())
        .map_err(|e| anyhow!("{dst}: pfagent image load answered something unreadable ({e})"))?;
    if report.bytes != bytes || report.sha256 != sha256 {
        bail!(
            "{dst} read {} bytes (sha256 {}) of the {bytes} sent (sha256 {sha256}): damaged on the way; run again",
            report.bytes,
            report.sha256
        );
    }
    for (tag, id) in expect {
        let p = presence(to, tag).await?;
        if !p.present || &p.id != id {
            bail!(
                "{dst}: after loading, {tag} is {} instead of {id}",
                if p.present { p.id.as_str() } else { "missing" }
            );
        }
    }
    Ok(report)
}

/// A reference goes into a command line and an Engine URL: no spaces, controls, or leading `-`.
fn check_reference(r: &str) -> Result<()> {
    pfproto::swarm::check_image_reference(r).map_err(|e| anyhow::anyhow!(e))
}

/// What crossed from one node to the other.
struct Moved {
    bytes: u64,
    sha256: String,
    loaded: ImageLoadReport,
}

/// Pumps save's stdout into load's stdin while reading load's answer, then judges both commands:
/// the source's failure first (a missing image also makes the load fail, for want of bytes).
async fn transfer(save: BulkCommand, load: BulkCommand) -> Result<Moved> {
    let BulkCommand {
        node: src,
        stdout: save_out,
        stdin: save_in,
        finished: save_finished,
    } = save;
    let BulkCommand {
        node: dst,
        stdout: load_out,
        stdin: load_in,
        finished: load_finished,
    } = load;
    // The source reads nothing: EOF now, so nothing waits on it.
    let mut save_in = save_in;
    let _ = save_in.shutdown().await;
    // Borrowed, not moved: the streams (and so the channels) must outlive the exit status. A
    // channel dropped at EOF is closed before the server has sent the command's exit status.
    let (mut save_out, mut load_in, mut load_out) = (save_out, load_in, load_out);
    let (pumped, answer) = tokio::join!(
        pump(&mut save_out, &mut load_in),
        read_bounded(&mut load_out)
    );
    let saved = wait(save_finished).await;
    if saved.status != Some(0) {
        bail!("{src}: {}", saved.failure("pfagent image save"));
    }
    let (bytes, sha256) = match pumped {
        Ok(v) => v,
        Err(PumpError::Read(e)) => bail!("{src}: reading the archive failed: {e}"),
        Err(PumpError::Write(e)) => {
            let loaded = wait(load_finished).await;
            bail!(
                "{dst}: sending the archive failed ({e}); {}",
                loaded.failure("pfagent image load")
            );
        }
    };
    let loaded = wait(load_finished).await;
    if loaded.status != Some(0) {
        bail!("{dst}: {}", loaded.failure("pfagent image load"));
    }
    let answer = answer.map_err(|e| anyhow!("{dst}: reading pfagent image load's answer: {e}"))?;
    let loaded: ImageLoadReport = serde_json::from_slice(answer.trim_ascii()).map_err(|e| {
        anyhow!(
            "{dst}: pfagent image load answered something unreadable ({e}): {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        )
    })?;
    if loaded.bytes != bytes || loaded.sha256 != sha256 {
        bail!(
            "{dst} read {} bytes (sha256 {}) but {src} sent {bytes} (sha256 {sha256}): the archive was damaged on the way; copy again",
            loaded.bytes,
            loaded.sha256
        );
    }
    Ok(Moved {
        bytes,
        sha256,
        loaded,
    })
}

/// The image id on both nodes, from their agents; an error names both nodes and both ids when they
/// differ.
async fn verify(from: &Node, to: &Node, reference: &str, moved: &Moved) -> Result<String> {
    let (src, dst) = (&from.target.name, &to.target.name);
    let (a, b) = tokio::join!(presence(from, reference), presence(to, reference));
    let (a, b) = (a?, b?);
    if !a.present {
        bail!("{src} no longer has the image after sending it");
    }
    if !b.present {
        let named: Vec<&str> = moved
            .loaded
            .images
            .iter()
            .map(|i| i.reference.as_str())
            .collect();
        bail!(
            "{dst} loaded {named:?} but has no '{reference}': save it from {src} by its name:tag, not by id"
        );
    }
    if a.id != b.id {
        bail!(
            "the copy differs: {src} has {reference} as {} but {dst} has {}",
            a.id,
            b.id
        );
    }
    Ok(b.id)
}

async fn presence(node: &Node, reference: &str) -> Result<ImagePresence> {
    let name = &node.target.name;
    let (conn, _) = node.agent().await.map_err(|e| anyhow!("{name}: {e}"))?;
    let list: ImagesList = conn
        .call(method::IMAGES_LIST, json!({ "refs": [reference] }))
        .await
        .map_err(|e| anyhow!("{name}: images.list: {e}"))?;
    let p = list
        .images
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{name}: images.list answered no image for '{reference}'"))?;
    if let Some(e) = &p.error {
        bail!("{name}: images.list for '{reference}': {e}");
    }
    Ok(p)
}

enum PumpError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies until EOF through one fixed buffer, then ends the destination's stdin. Returns the
/// bytes copied and their hex sha256.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> Result<(u64, String), PumpError> {
    let mut buf = vec![0u8; PUMP_CHUNK];
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await.map_err(PumpError::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).await.map_err(PumpError::Write)?;
        total += n as u64;
    }
    to.shutdown().await.map_err(PumpError::Write)?;
    Ok((total, pfproto::hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked() {
        assert!(check_reference("pfdemo/only4:1").is_ok());
        assert!(check_reference("a b").is_err());
        assert!(check_reference("-rf").is_err());
        assert!(check_reference("").is_err());
    }

    #[tokio::test]
    async fn pump_copies_hashes_and_ends_the_input() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (mut w, r) = tokio::io::duplex(1024);
        let (out_w, mut out_r) = tokio::io::duplex(1024);
        let src = data.clone();
        let feeder = tokio::spawn(async move {
            w.write_all(&src).await.unwrap();
        });
        let drain = tokio::spawn(async move {
            let mut got = Vec::new();
            out_r.read_to_end(&mut got).await.unwrap();
            got
        });
        let (n, sha) = match pump(r, out_w).await {
            Ok(v) => v,
            Err(_) => panic!("pump failed"),
        };
        feeder.await.unwrap();
        let got = drain.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(got, data);
        assert_eq!(sha, pfproto::hex(&Sha256::digest(&data)));
    }
}
