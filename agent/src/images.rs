//! Images between nodes without a registry. The bytes never pass through the JSON protocol
//! (DESIGN.md: bulk bytes go on their own channel, raw): `pfagent image save REF` writes the
//! Engine's export of REF to stdout and `pfagent image load` feeds stdin to the Engine's import,
//! each chunk by chunk so memory stays bounded whatever the image's size. The controller runs one
//! on each node over SSH and pumps between them; `images.list` then tells it which image ids each
//! node holds, to prove the copy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::ImageInspect;
use bollard::query_parameters::ImportImageOptionsBuilder;
use bollard::Docker;
use futures_util::stream::{self, StreamExt};
use pfproto::swarm::{
    ImageLoadReport, ImagePresence, ImagesList, ImagesListParams, LoadedImage, MAX_IMAGE_REFS,
};
use pfproto::{method, ErrorCode, RpcError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::agent::Agent;
use crate::docker::Engine;
use crate::methods::{parse, rpc, to_value};

/// How long the Engine may take before it starts answering a save or a load: it writes a save's
/// layers to a scratch directory, and reads a load's whole archive, before the first byte of its
/// answer. The bytes themselves then flow without a deadline, as fast as the other end takes them.
const BULK_CALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Bytes read from stdin per chunk handed to the Engine.
const CHUNK: usize = 64 * 1024;

pub fn handles(name: &str) -> bool {
    name == method::IMAGES_LIST
}

pub async fn call(agent: &Agent, name: &str, params: Value) -> Result<Value, RpcError> {
    let p: ImagesListParams = parse(name, params)?;
    if p.refs.len() > MAX_IMAGE_REFS {
        return Err(rpc(
            ErrorCode::InvalidParams,
            format!("{name}: at most {MAX_IMAGE_REFS} references per call"),
        ));
    }
    let docker = agent
        .engine
        .client()
        .await
        .map_err(|e| rpc(ErrorCode::Unavailable, format!("engine unreachable: {e}")))?;
    let mut images = Vec::with_capacity(p.refs.len());
    for reference in p.refs {
        images.push(presence(&docker, reference).await);
    }
    to_value(ImagesList { images })
}

async fn presence(docker: &Docker, reference: String) -> ImagePresence {
    let mut out = ImagePresence {
        reference,
        ..Default::default()
    };
    if let Err(e) = check_reference(&out.reference) {
        out.error = Some(e);
        return out;
    }
    match docker.inspect_image(&out.reference).await {
        Ok(img) => {
            out.present = true;
            out.id = img.id.unwrap_or_default();
            out.repo_digests = img.repo_digests.unwrap_or_default();
            out.size = img.size.unwrap_or(0).max(0) as u64;
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => out.error = Some(format!("inspecting the image: {e}")),
    }
    out
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

/// A reference goes into an Engine URL path: no spaces, controls or `?`/`#`, and not an option.
use pfproto::swarm::check_image_reference as check_reference;

// ---- pfagent image save / load ----

/// `pfagent image ...`: the exit code.
pub async fn run(args: crate::cli::ImageArgs) -> i32 {
    match args.action {
        crate::cli::ImageAction::Save { reference } => save(&args.docker_host, &reference).await,
        crate::cli::ImageAction::Load => load(&args.docker_host).await,
    }
}

/// The Engine for the bulk commands, with a deadline that allows for big images.
async fn bulk_client(docker_host: &str) -> Result<Docker, String> {
    let d = Engine::new(docker_host)
        .client()
        .await
        .map_err(|e| format!("the Docker Engine at {docker_host} is unreachable: {e}"))?;
    Ok(d.with_timeout(BULK_CALL_TIMEOUT))
}

fn fail(what: &str, message: impl std::fmt::Display) -> i32 {
    eprintln!(
        "pfagent image {what} on {}: {message}",
        crate::host::hostname()
    );
    1
}

/// `pfagent image save REF`: the archive on stdout. Exit 0 only when every byte was written.
pub async fn save(docker_host: &str, reference: &str) -> i32 {
    if let Err(e) = check_reference(reference) {
        return fail("save", e);
    }
    let docker = match bulk_client(docker_host).await {
        Ok(d) => d,
        Err(e) => return fail("save", e),
    };
    // Asked first so that a missing image is said in words, not as a cut-short archive.
    match docker.inspect_image(reference).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            return fail(
                "save",
                format!("image '{reference}' is not on this node: nothing to save (check the name and tag, or copy it here first)"),
            )
        }
        Err(e) => return fail("save", format!("inspecting image '{reference}': {e}")),
    }
    let mut stdout = tokio::io::stdout();
    let mut body = std::pin::pin!(docker.export_image(reference));
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return fail("save", format!("exporting '{reference}': {e}")),
        };
        if let Err(e) = stdout.write_all(&chunk).await {
            return fail("save", format!("writing the archive to stdout: {e}"));
        }
    }
    if let Err(e) = stdout.flush().await {
        return fail("save", format!("writing the archive to stdout: {e}"));
    }
    0
}

/// What the stdin reader has seen, read again once the Engine is done with the stream.
#[derive(Default)]
struct Tally {
    bytes: u64,
    hasher: Sha256,
    error: Option<String>,
}

/// `pfagent image load`: an archive from stdin into the Engine, then one JSON line
/// ([`ImageLoadReport`]) on stdout.
pub async fn load(docker_host: &str) -> i32 {
    let docker = match bulk_client(docker_host).await {
        Ok(d) => d,
        Err(e) => return fail("load", e),
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let body = stdin_chunks(tally.clone());
    let opts = ImportImageOptionsBuilder::default().quiet(true).build();
    let mut answers = std::pin::pin!(docker.import_image_stream(opts, body, None));
    let mut loaded = Vec::new();
    let mut engine_error = None;
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(info) => {
                if let Some(line) = info.stream.as_deref().and_then(loaded_name) {
                    loaded.push(line);
                }
            }
            Err(e) => {
                engine_error = Some(e.to_string());
                break;
            }
        }
    }
    let (bytes, sha256, read_error) = {
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        let hasher = std::mem::take(&mut t.hasher);
        (t.bytes, pfproto::hex(&hasher.finalize()), t.error.take())
    };
    if let Some(e) = read_error {
        return fail("load", format!("reading the archive from stdin: {e}"));
    }
    if let Some(e) = engine_error {
        return fail(
            "load",
            format!("the Engine refused the archive ({bytes} bytes read): {e}"),
        );
    }
    if bytes == 0 {
        return fail("load", "no archive on stdin (0 bytes)");
    }
    if loaded.is_empty() {
        return fail(
            "load",
            format!("the Engine read {bytes} bytes but named no loaded image"),
        );
    }
    let mut images = Vec::new();
    for reference in loaded {
        match docker.inspect_image(&reference).await {
            Ok(ImageInspect { id: Some(id), .. }) => images.push(LoadedImage { reference, id }),
            Ok(_) => return fail("load", format!("loaded '{reference}' has no id")),
            Err(e) => return fail("load", format!("inspecting loaded '{reference}': {e}")),
        }
    }
    let report = ImageLoadReport {
        images,
        bytes,
        sha256,
    };
    let mut line = serde_json::to_vec(&report).unwrap_or_default();
    line.push(b'\n');
    let mut stdout = tokio::io::stdout();
    if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
        return fail("load", "the archive was loaded, but stdout is closed");
    }
    0
}

/// Stdin as a stream of chunks for the Engine, counted and hashed on the way. A read error ends
/// the stream early and is kept in the tally, so the caller reports it rather than the Engine's
/// complaint about a short archive.
/// Generic over the chunk type so that the Engine client's own byte type is used without naming it.
fn stdin_chunks<B: From<Vec<u8>> + Send + 'static>(
    tally: Arc<Mutex<Tally>>,
) -> impl futures_util::Stream<Item = Result<B, std::io::Error>> + Send + 'static {
    stream::unfold(
        (tokio::io::stdin(), tally),
        |(mut stdin, tally)| async move {
            let mut buf = vec![0u8; CHUNK];
            match stdin.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    {
                        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                        t.bytes += n as u64;
                        t.hasher.update(&buf);
                    }
                    Some((Ok(B::from(buf)), (stdin, tally)))
                }
                Err(e) => {
                    tally.lock().unwrap_or_else(|e| e.into_inner()).error = Some(e.to_string());
                    None
                }
            }
        },
    )
}

/// The image named by one line of the Engine's load output: `Loaded image: name:tag` or
/// `Loaded image ID: sha256:...`.
fn loaded_name(line: &str) -> Option<String> {
    let line = line.trim();
    let name = line
        .strip_prefix("Loaded image ID: ")
        .or_else(|| line.strip_prefix("Loaded image: "))?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_output_lines() {
        assert_eq!(
            loaded_name("Loaded image: pfdemo/only4:1\n").as_deref(),
            Some("pfdemo/only4:1")
        );
        assert_eq!(
            loaded_name("Loaded image ID: sha256:abc\n").as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(loaded_name("Loading layer 1/2"), None);
        assert_eq!(loaded_name("Loaded image: "), None);
    }

    #[test]
    fn references() {
        assert!(check_reference("pfdemo/busybox:1").is_ok());
        assert!(check_reference("reg.example:5000/a/b@sha256:0123").is_ok());
        assert!(check_reference("").is_err());
        assert!(check_reference("-q").is_err());
        assert!(check_reference("a b").is_err());
        assert!(check_reference("a?all=1").is_err());
    }

    #[tokio::test]
    async fn missing_engine_is_said_in_words() {
        let code = save("unix:///nonexistent/docker.sock", "pfdemo/busybox:1").await;
        assert_eq!(code, 1);
    }
}
