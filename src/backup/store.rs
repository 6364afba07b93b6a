//! Where backups live: a directory on this machine, or one on another host over SFTP (the same
//! SSH layer as the nodes: keys, agent, known_hosts). Archives are written under a `.partial`
//! name and renamed only when complete; small records are replaced atomically.

use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use anyhow::{anyhow, bail, Context, Result};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::OpenFlags;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::context::Ctx;
use crate::fanout::{self, Node};

pub enum Store {
    Local(std::path::PathBuf),
    Sftp {
        url: String,
        dir: String,
        // Kept so the SSH session outlives the SFTP channel.
        node: Box<Node>,
        sftp: SftpSession,
    },
}

/// An archive being written.
pub enum StoreWriter {
    Local(tokio::fs::File),
    Sftp(Box<russh_sftp::client::fs::File>),
}

impl Store {
    /// `spec`: a directory, or `sftp://[user@]host[:port]/dir` (`/~/dir` or `dir` after the host
    /// is relative to the remote home).
    pub async fn open(spec: &str, ctx: &Ctx) -> Result<Store> {
        let Some(rest) = spec.strip_prefix("sftp://") else {
            let dir = std::path::PathBuf::from(spec);
            std::fs::create_dir_all(&dir).with_context(|| {
                format!("backup destination {}: cannot create it", dir.display())
            })?;
            return Ok(Store::Local(dir));
        };
        let (host, dir) = rest.split_once('/').ok_or_else(|| {
            anyhow!("destination {spec}: give a directory after the host (sftp://user@host/dir)")
        })?;
        let dir = dir.strip_prefix("~/").unwrap_or(dir);
        let dir = if dir.is_empty() {
            ".".to_string()
        } else {
            dir.to_string()
        };
        let inventory = ctx.inventory.clone().unwrap_or_default();
        let target = inventory
            .host_target(host)
            .with_context(|| format!("destination {spec}"))?;
        let node = fanout::connect(&target, &ctx.fanout)
            .await
            .map_err(|e| anyhow!("destination {spec}: {e}"))?;
        let session = node
            .session
            .as_ref()
            .ok_or_else(|| anyhow!("destination {spec}: no SSH session"))?;
        let sftp = session
            .sftp()
            .await
            .map_err(|e| anyhow!("destination {spec}: {e}"))?;
        if !sftp.try_exists(dir.clone()).await.unwrap_or(false) {
            sftp.create_dir(dir.clone())
                .await
                .map_err(|e| anyhow!("destination {spec}: cannot create {dir}: {e}"))?;
        }
        Ok(Store::Sftp {
            url: spec.to_string(),
            dir,
            node: Box::new(node),
            sftp,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Store::Local(d) => d.display().to_string(),
            Store::Sftp { url, .. } => url.clone(),
        }
    }

    /// Where `name` is, for messages.
    pub fn place(&self, name: &str) -> String {
        match self {
            Store::Local(d) => d.join(name).display().to_string(),
            Store::Sftp { url, .. } => format!("{}/{name}", url.trim_end_matches('/')),
        }
    }

    fn remote(&self, name: &str) -> String {
        match self {
            Store::Local(d) => d.join(name).display().to_string(),
            Store::Sftp { dir, .. } => format!("{}/{name}", dir.trim_end_matches('/')),
        }
    }

    /// Regular files in the destination, with sizes.
    pub async fn list(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        match self {
            Store::Local(d) => {
                let rd =
                    std::fs::read_dir(d).with_context(|| format!("listing {}", d.display()))?;
                for e in rd.flatten() {
                    if let (Ok(meta), Some(name)) = (e.metadata(), e.file_name().to_str()) {
                        if meta.is_file() {
                            out.push((name.to_string(), meta.len()));
                        }
                    }
                }
            }
            Store::Sftp { sftp, dir, url, .. } => {
                let rd = sftp
                    .read_dir(dir.clone())
                    .await
                    .map_err(|e| anyhow!("listing {url}: {e}"))?;
                for e in rd {
                    let meta = e.metadata();
                    if meta.is_regular() {
                        out.push((e.file_name(), meta.len()));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A new file; refuses to replace one.
    pub async fn create(&self, name: &str) -> Result<StoreWriter> {
        match self {
            Store::Local(_) => {
                let path = self.remote(name);
                let f = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await
                    .with_context(|| format!("creating {path}"))?;
                Ok(StoreWriter::Local(f))
            }
            Store::Sftp { sftp, .. } => {
                let f = sftp
                    .open_with_flags(
                        self.remote(name),
                        OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE,
                    )
                    .await
                    .map_err(|e| anyhow!("creating {}: {e}", self.place(name)))?;
                Ok(StoreWriter::Sftp(Box::new(f)))
            }
        }
    }

    pub async fn open_read(&self, name: &str) -> Result<Pin<Box<dyn AsyncRead + Send>>> {
        match self {
            Store::Local(_) => {
                let path = self.remote(name);
                let f = tokio::fs::File::open(&path)
                    .await
                    .with_context(|| format!("opening {path}"))?;
                Ok(Box::pin(f))
            }
            Store::Sftp { sftp, .. } => {
                let f = sftp
                    .open(self.remote(name))
                    .await
                    .map_err(|e| anyhow!("opening {}: {e}", self.place(name)))?;
                Ok(Box::pin(f))
            }
        }
    }

    /// Renames within the destination; refuses to replace an existing file.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if self.exists(to).await? {
            bail!("{} exists already: not replaced", self.place(to));
        }
        match self {
            Store::Local(d) => {
                std::fs::rename(d.join(from), d.join(to))
                    .with_context(|| format!("renaming {} to {to}", self.place(from)))?;
                crate::atomic::sync_dir(d);
            }
            Store::Sftp { sftp, .. } => sftp
                .rename(self.remote(from), self.remote(to))
                .await
                .map_err(|e| anyhow!("renaming {} to {to}: {e}", self.place(from)))?,
        }
        Ok(())
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        match self {
            Store::Local(d) => Ok(d.join(name).exists()),
            Store::Sftp { sftp, .. } => sftp
                .try_exists(self.remote(name))
                .await
                .map_err(|e| anyhow!("looking for {}: {e}", self.place(name))),
        }
    }

    pub async fn remove(&self, name: &str) -> Result<()> {
        match self {
            Store::Local(d) => std::fs::remove_file(d.join(name))
                .with_context(|| format!("removing {}", self.place(name))),
            Store::Sftp { sftp, .. } => sftp
                .remove_file(self.remote(name))
                .await
                .map_err(|e| anyhow!("removing {}: {e}", self.place(name))),
        }
    }

    /// A small file (a catalogue record) read whole; `None` when absent.
    pub async fn read_small(&self, name: &str) -> Result<Option<Vec<u8>>> {
        if !self.exists(name).await? {
            return Ok(None);
        }
        match self {
            Store::Local(d) => {
                Ok(Some(std::fs::read(d.join(name)).with_context(|| {
                    format!("reading {}", self.place(name))
                })?))
            }
            Store::Sftp { sftp, .. } => {
                Ok(Some(sftp.read(self.remote(name)).await.map_err(|e| {
                    anyhow!("reading {}: {e}", self.place(name))
                })?))
            }
        }
    }

    /// Replaces a small file whole: a reader sees the old contents or the new, never a part.
    pub async fn write_small(&self, name: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Store::Local(d) => crate::atomic::write_keeping_prev(&d.join(name), bytes, 0o644)
                .with_context(|| format!("writing {}", self.place(name))),
            Store::Sftp { sftp, .. } => {
                let tmp = format!(".{name}.tmp");
                let _ = sftp.remove_file(self.remote(&tmp)).await;
                let mut f = self.create(&tmp).await?;
                f.write_all(bytes).await?;
                f.finish().await?;
                if self.exists(name).await? {
                    sftp.remove_file(self.remote(name))
                        .await
                        .map_err(|e| anyhow!("replacing {}: {e}", self.place(name)))?;
                }
                sftp.rename(self.remote(&tmp), self.remote(name))
                    .await
                    .map_err(|e| anyhow!("writing {}: {e}", self.place(name)))
            }
        }
    }

    pub async fn close(self) {
        if let Store::Sftp { sftp, node, .. } = self {
            let _ = sftp.close().await;
            node.close().await;
        }
    }
}

impl StoreWriter {
    /// Flushes, makes the bytes durable (fsync; the SFTP server's fsync extension) and closes.
    pub async fn finish(&mut self) -> Result<()> {
        match self {
            StoreWriter::Local(f) => {
                f.flush().await?;
                f.sync_all().await.context("fsync of the archive")?;
            }
            StoreWriter::Sftp(f) => {
                f.flush().await?;
                // Servers without the fsync extension still have the bytes once close answers.
                let _ = f.sync_all().await;
                f.shutdown().await?;
            }
        }
        Ok(())
    }
}

impl AsyncWrite for StoreWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            StoreWriter::Local(f) => Pin::new(f).poll_write(cx, buf),
            StoreWriter::Sftp(f) => Pin::new(f.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            StoreWriter::Local(f) => Pin::new(f).poll_flush(cx),
            StoreWriter::Sftp(f) => Pin::new(f.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            StoreWriter::Local(f) => Pin::new(f).poll_shutdown(cx),
            StoreWriter::Sftp(f) => Pin::new(f.as_mut()).poll_shutdown(cx),
        }
    }
}
