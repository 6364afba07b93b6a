//! `pfctl agent install` and `pfctl agent status`.

use crate::cli::InstallArgs;
use crate::context::{node_report, Ctx};
use crate::fanout::{each_node, Node, NodeError};
use crate::report::{CheckResult, NodeReport, Status};
use crate::secret::Secret;
use crate::ssh::shell_quote;
use crate::transport::{local_agent_binary, AgentPlace};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// Installs the uploaded binary as root on the node. Arguments: upload path, install path, socket.
/// The previous binary stays as `.prev`; the state directory is never touched. With systemd the
/// unit is (re)written and restarted; without it the old agent is stopped by its pidfile and the
/// new one started detached.
const INSTALL_SCRIPT: &str = r#"set -eu
up="$1"; dest="$2"; sock="$3"; state=/var/lib/pfagent
getent group pfagent >/dev/null 2>&1 || groupadd -r pfagent 2>/dev/null || addgroup -S pfagent
install -d -m 0755 "$(dirname "$dest")"
[ -f "$dest" ] && cp -p "$dest" "$dest.prev"
install -m 0755 "$up" "$dest.new"
mv -f "$dest.new" "$dest"
rm -f "$up"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  unit=/etc/systemd/system/pfagent.service
  cat > "$unit.new" <<UNIT
[Unit]
Description=pfctl node agent
After=docker.service
Wants=docker.service

[Service]
ExecStart=$dest serve --socket $sock
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
  mv -f "$unit.new" "$unit"
  systemctl daemon-reload
  systemctl enable pfagent >/dev/null 2>&1 || true
  systemctl restart pfagent
else
  if [ -f "$state/pfagent.pid" ]; then
    old=$(cat "$state/pfagent.pid")
    if kill -TERM "$old" 2>/dev/null; then
      i=0; while kill -0 "$old" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    fi
  fi
  setsid "$dest" serve --socket "$sock" </dev/null >>/var/log/pfagent.log 2>&1 &
fi
i=0; while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -S "$sock" ] || { echo "pfagent did not create $sock; see /var/log/pfagent.log or journalctl -u pfagent" >&2; exit 1; }
"#;

fn check(node: &str, title: &str, status: Status, message: String) -> CheckResult {
    CheckResult {
        check: format!("agent.{title}"),
        title: format!("agent {title}"),
        node: node.into(),
        status,
        message,
        evidence: Value::Null,
    }
}

pub async fn status(ctx: &Ctx) -> Result<i32> {
    let emitter = ctx.emitter("agent status");
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| Ok(node.agent().await?.0.hello.clone()),
        |o| emitter.node_done(&node_report(o)),
    )
    .await;
    let mut results = Vec::new();
    let nodes: Vec<NodeReport> = outcomes.iter().map(node_report).collect();
    for o in &outcomes {
        let r = match (&o.result, o.route) {
            (Ok(Some(h)), Some(route)) if route.is_one_shot() => check(
                &o.target.name,
                "status",
                Status::Warn,
                format!("pfagent {} reachable, but the resident agent is not running (a one-shot agent answered via {route})", h.agent_version),
            ),
            (Ok(Some(h)), route) => check(
                &o.target.name,
                "status",
                Status::Ok,
                format!(
                    "pfagent {} resident, up {}, protocol {} via {}",
                    h.agent_version,
                    human_secs(h.uptime_s),
                    h.protocol,
                    route.map(|r| r.name()).unwrap_or("?")
                ),
            ),
            (Ok(None), _) => check(&o.target.name, "status", Status::Unknown, "no hello recorded".into()),
            (Err(e), _) => check(&o.target.name, "status", Status::Unknown, e.to_string()),
        };
        emitter.result(&r);
        results.push(r);
    }
    let report = ctx.report("agent status", nodes, results);
    Ok(ctx.finish(&emitter, &report))
}

fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// The version a binary reports, so the node's answer can be compared with what was sent.
async fn binary_version(path: &PathBuf) -> Result<String> {
    let out = tokio::process::Command::new(path)
        .arg("--version")
        .output()
        .await
        .with_context(|| format!("cannot run {} --version", path.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} --version printed nothing useful", path.display()))
}

/// The agent binary to install (beside pfctl unless given) and its version.
pub(crate) async fn local_binary(given: Option<PathBuf>) -> Result<(Vec<u8>, String)> {
    let binary = given.unwrap_or_else(|| local_agent_binary(AgentPlace::DEFAULT_PATH));
    if !binary.is_file() {
        bail!("agent binary {} not found; build it (cargo build --release -p pfagent) or pass --binary", binary.display());
    }
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let version = binary_version(&binary).await?;
    Ok((bytes, version))
}

pub async fn install(ctx: &Ctx, args: &InstallArgs) -> Result<i32> {
    let (bytes, version) = local_binary(args.binary.clone()).await?;
    let emitter = ctx.emitter("agent install");
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            install_on(
                node,
                &bytes,
                &version,
                ctx.fanout.overrides.password.as_ref(),
            )
            .await
            .map(|i| i.message)
        },
        |o| emitter.node_done(&node_report(o)),
    )
    .await;
    let mut results = Vec::new();
    let nodes: Vec<NodeReport> = outcomes.iter().map(node_report).collect();
    for o in &outcomes {
        let r = match &o.result {
            Ok(msg) => check(&o.target.name, "install", Status::Ok, msg.clone()),
            Err(e) if e.is_unreachable() => {
                check(&o.target.name, "install", Status::Unknown, e.to_string())
            }
            Err(e) => check(&o.target.name, "install", Status::Fail, e.to_string()),
        };
        emitter.result(&r);
        results.push(r);
    }
    let report = ctx.report("agent install", nodes, results);
    Ok(ctx.finish(&emitter, &report))
}

/// A freshly installed agent, answering.
pub(crate) struct Installed {
    pub message: String,
    pub dest: String,
    pub conn: crate::rpc::AgentConn,
}

/// Uploads the binary over SFTP, installs and starts it with sudo, and checks the resident agent
/// answers with the expected version.
pub(crate) async fn install_on(
    node: &Node,
    bytes: &[u8],
    version: &str,
    shared: Option<&Secret>,
) -> Result<Installed, NodeError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| NodeError::Other(anyhow!("{what}: {e}"));
    let Some(session) = &node.session else {
        return Err(NodeError::Other(anyhow!(
            "agent install works over SSH; give the node with --host or an inventory"
        )));
    };
    let place = node.place();
    let dest = if place.path == AgentPlace::DEFAULT_PATH {
        "/usr/local/bin/pfagent".to_string()
    } else {
        place.path.clone()
    };
    let upload = format!(
        "/tmp/.pfagent-upload-{}-{}",
        std::process::id(),
        crate::context::now_unix_ms()
    );
    let sftp = session.sftp().await.map_err(|e| fail("opening SFTP", &e))?;
    {
        let mut file = sftp
            .create(&upload)
            .await
            .map_err(|e| fail(&format!("creating {upload}"), &e))?;
        file.write_all(bytes)
            .await
            .map_err(|e| fail(&format!("writing {upload}"), &e))?;
        file.shutdown()
            .await
            .map_err(|e| fail(&format!("closing {upload}"), &e))?;
    }
    let _ = sftp.close().await;
    let script = format!(
        "sh -c {} pfagent-install {} {} {}",
        shell_quote(INSTALL_SCRIPT),
        shell_quote(&upload),
        shell_quote(&dest),
        shell_quote(&place.socket)
    );
    let password = node
        .target
        .password
        .clone()
        .or_else(|| shared.cloned())
        .or_else(|| node.target.conn.password.clone().map(Secret::new));
    let (command, stdin) = match &password {
        Some(p) => (
            format!("sudo -S -p '' {script}"),
            Some(format!("{}\n", p.expose()).into_bytes()),
        ),
        None => (format!("sudo -n {script}"), None),
    };
    let out = session
        .exec(&command, stdin.as_deref())
        .await
        .map_err(|e| fail("running the installer", &e))?;
    if out.status != Some(0) {
        let err = String::from_utf8_lossy(&out.stderr);
        let _ = session
            .exec(&format!("rm -f {}", shell_quote(&upload)), None)
            .await;
        return Err(NodeError::Other(anyhow!(
            "installing {dest} failed (exit {}): {}",
            out.status.map(|s| s.to_string()).unwrap_or("?".into()),
            err.trim()
        )));
    }
    let place = AgentPlace {
        path: dest.clone(),
        socket: place.socket.clone(),
    };
    let (conn, route) = crate::transport::over_ssh(session, &place).await?;
    let hello = conn
        .hello
        .clone()
        .ok_or_else(|| NodeError::Agent("no hello".into()))?;
    if hello.agent_version != version {
        return Err(NodeError::Agent(format!(
            "installed {version}, but the agent answers as {}",
            hello.agent_version
        )));
    }
    if route.is_one_shot() {
        return Err(NodeError::Agent(format!(
            "installed pfagent {version} at {dest}, but the resident agent is not answering"
        )));
    }
    Ok(Installed {
        message: format!("pfagent {version} installed at {dest} (previous kept as {dest}.prev) and answering via {route}"),
        dest,
        conn,
    })
}

/// autoheal's agent reinstall on a node it reached over SSH: installs this pfctl's agent, then
/// has the new agent record the install in the node's audit log (the agent could not audit its
/// own arrival).
pub(crate) async fn reinstall(
    node: &Node,
    shared: Option<&Secret>,
    meta: &pfproto::action::ActionMeta,
    before: Value,
) -> Result<Value, String> {
    let (bytes, version) = local_binary(None).await.map_err(|e| format!("{e:#}"))?;
    let inst = install_on(node, &bytes, &version, shared)
        .await
        .map_err(|e| e.to_string())?;
    let after = serde_json::json!({
        "version": version,
        "sha256": crate::heal::sha256_hex(&bytes),
    });
    let record = pfproto::action::AuditRecordParams {
        meta: meta.clone(),
        method: "agent.install".into(),
        target: inst.dest.clone(),
        before,
        after: after.clone(),
    };
    let params = serde_json::to_value(record).map_err(|e| e.to_string())?;
    // Installed but not on record is still installed: the report says so instead of failing.
    let audited = match inst
        .conn
        .call::<Value>(pfproto::method::AUDIT_RECORD, params)
        .await
    {
        Ok(_) => Value::Bool(true),
        Err(e) => Value::String(format!("not audited: {e}")),
    };
    Ok(serde_json::json!({"message": inst.message, "after": after, "audited": audited}))
}
