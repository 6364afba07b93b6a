//! `pfctl password encrypt|decrypt`: Fernet tokens under the cluster's `encryption_key` (what the
//! platform's Python services read with `cryptography.fernet`), and encrypted inventory passwords
//! under a local key file. The key is read from a node through its agent into memory only; no
//! password, token plaintext or key is ever printed except the one value asked for on stdout.

use std::io::{BufRead, IsTerminal};

use anyhow::{anyhow, bail, Context, Result};
use pfproto::method;
use pfproto::probe::FileRead;
use serde_json::json;
use zeroize::Zeroizing;

use super::healthcheck::load_profile;
use crate::cli::PasswordCommand;
use crate::context::Ctx;
use crate::fanout;
use crate::password::{self, Key};
use crate::profile::Profile;
use crate::secret::Secret;

pub async fn run(ctx: &Ctx, cmd: &PasswordCommand) -> Result<i32> {
    match cmd {
        PasswordCommand::Encrypt {
            for_inventory,
            stdin,
            profile,
        } => {
            let plain = read_password(*stdin)?;
            if *for_inventory {
                let path = password::inventory_key_path();
                let token = password::encrypt_inventory_password(&plain, &path)?;
                println!("password_encrypted = \"{token}\"");
                eprintln!(
                    "pfctl: put the line above in the inventory in place of password; the key is {}",
                    path.display()
                );
                return Ok(0);
            }
            let profile = load_profile(ctx, profile.as_ref())?;
            let (node, key) = cluster_key(ctx, &profile).await?;
            let now = crate::context::now_unix();
            println!(
                "{}",
                password::encrypt(&key, plain.expose().as_bytes(), now, None)
            );
            eprintln!("pfctl: encrypted with {node}'s encryption_key");
            Ok(0)
        }
        PasswordCommand::Set { stdin, profile } => {
            super::password_set::set(ctx, *stdin, profile.as_ref()).await
        }
        PasswordCommand::Decrypt { token, profile } => {
            let profile = load_profile(ctx, profile.as_ref())?;
            let (node, key) = cluster_key(ctx, &profile).await?;
            let (what, token) = match token {
                Some(t) => (
                    "the token given".to_string(),
                    Zeroizing::new(t.trim().to_string()),
                ),
                None => {
                    let path = is_pass_path(&profile);
                    (
                        format!("{path} on {node}"),
                        Zeroizing::new(read_private(ctx, &node, &path).await?.trim().to_string()),
                    )
                }
            };
            let plain = password::decrypt(&key, &token).map_err(|e| anyhow!("{what}: {e}"))?;
            let text = String::from_utf8_lossy(&plain).into_owned();
            println!("{}", Zeroizing::new(text).as_str());
            Ok(0)
        }
    }
}

/// From stdin (one line) when asked or when there is no terminal; else asked twice, no echo.
pub(super) fn read_password(from_stdin: bool) -> Result<Secret> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let p = line.trim_end_matches(['\n', '\r']);
        if p.is_empty() {
            bail!("no password on stdin (one line expected)");
        }
        return Ok(Secret::new(p));
    }
    let p = dialoguer::Password::new()
        .with_prompt("Password")
        .with_confirmation("Again", "the two passwords differ")
        .interact()
        .context("reading the password")?;
    Ok(Secret::new(p))
}

pub(super) fn key_path(profile: &Profile) -> String {
    profile
        .encryption_key_path()
        .unwrap_or("/etc/iservices/encryption_key")
        .to_string()
}

pub(super) fn is_pass_path(profile: &Profile) -> String {
    let key = key_path(profile);
    match key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/is_pass"),
        None => "/etc/iservices/is_pass".into(),
    }
}

/// A private file's text from `node`, through its agent.
async fn read_private(ctx: &Ctx, node: &str, path: &str) -> Result<String> {
    let target = ctx
        .targets
        .iter()
        .find(|t| t.name == node)
        .ok_or_else(|| anyhow!("{node} is not a selected node"))?;
    let n = fanout::connect(target, &ctx.fanout)
        .await
        .map_err(|e| anyhow!("{node}: {e}"))?;
    let r = async {
        let (conn, _) = n.agent().await.map_err(|e| anyhow!("{node}: {e}"))?;
        conn.call::<FileRead>(method::FILES_READ, json!({"path": path, "private": true}))
            .await
            .map_err(|e| anyhow!("{node}: files.read {path}: {e}"))
    }
    .await;
    n.close().await;
    let r = r?;
    if let Some(e) = r.error {
        bail!("{node}: {path}: {e}");
    }
    match (r.exists, r.content) {
        (true, Some(c)) => Ok(c),
        _ => bail!("{node} has no {path}"),
    }
}

/// The cluster's key, from the first selected node that has it.
pub(super) async fn cluster_key(ctx: &Ctx, profile: &Profile) -> Result<(String, Key)> {
    let path = key_path(profile);
    let mut why = Vec::new();
    for t in &ctx.targets {
        match read_private(ctx, &t.name, &path).await {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let key = Key::parse(&text).map_err(|e| anyhow!("{} on {}: {e}", path, t.name))?;
                return Ok((t.name.clone(), key));
            }
            Err(e) => why.push(format!("{e:#}")),
        }
    }
    bail!("no node gave its {path}: {}", why.join("; "))
}
