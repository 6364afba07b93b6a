//! Host settings autoheal and autocluster change outside Docker: letting ports in through the
//! node's firewall (`host.firewall_open`) and turning on time sync (`host.timesync`). Both run the
//! node's own tools (firewall-cmd, nft, timedatectl, systemctl) as argument vectors, never through
//! a shell, each with a deadline, and both are audited like the actions in `actions.rs`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pfproto::action::{
    FirewallChain, FirewallOpen, FirewallOpenParams, FirewallPort, PortProto, TimeSync,
    TimeSyncParams,
};
use pfproto::{method, ErrorCode, RpcError};
use serde_json::{json, Value};

use crate::actions::{finish, Done};
use crate::agent::Agent;
use crate::methods::{parse, rpc};

/// The comment on every rule this module adds, so a later call recognises its own rules.
pub const RULE_COMMENT: &str = "pfctl";
/// How long one tool may run before it is killed and the action fails.
const TOOL_DEADLINE: Duration = Duration::from_secs(15);
/// The most output read from one tool (a big ruleset is well below this).
const MAX_OUTPUT: usize = 16 * 1024 * 1024;
const MAX_PORTS: usize = 256;
/// Jumps between chains followed when deciding whether a port is dropped.
const MAX_JUMP_DEPTH: usize = 16;
/// Time services tried, in this order, where `timedatectl` cannot turn sync on.
const TIME_SERVICES: [&str; 4] = ["chronyd", "chrony", "systemd-timesyncd", "ntpd"];
const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

pub fn handles(name: &str) -> bool {
    matches!(name, method::HOST_FIREWALL_OPEN | method::HOST_TIMESYNC)
}

pub async fn call(agent: &Agent, name: &str, params: Value, peer: &str) -> Result<Value, RpcError> {
    let host = crate::host::hostname();
    match name {
        method::HOST_FIREWALL_OPEN => {
            let p: FirewallOpenParams = parse(name, params)?;
            if p.ports.is_empty() || p.ports.len() > MAX_PORTS {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("{name}: between 1 and {MAX_PORTS} ports"),
                ));
            }
            let ports = p.ports.clone();
            let r = tokio::task::spawn_blocking(move || open_ports(&ports))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            let (before, after) = match &r {
                Ok(o) => (
                    json!({"manager": o.manager, "chains": o.chains.iter().map(|c| json!({"chain": c.chain, "open": names(&c.before)})).collect::<Vec<_>>()}),
                    json!({"opened": names(&o.opened), "chains": o.chains.iter().map(|c| json!({"chain": c.chain, "added": names(&c.added)})).collect::<Vec<_>>()}),
                ),
                Err(_) => (json!({"asked": names(&p.ports)}), Value::Null),
            };
            finish(
                agent,
                name,
                &p.meta,
                peer,
                Done {
                    target: host,
                    result: r,
                    before,
                    after,
                },
            )
        }
        method::HOST_TIMESYNC => {
            let p: TimeSyncParams = parse(name, params)?;
            let r = tokio::task::spawn_blocking(enable_timesync)
                .await
                .map_err(|e| rpc(ErrorCode::Internal, e.to_string()))?;
            let (before, after) = match &r {
                Ok(t) => (
                    json!({"via": t.via, "state": t.before}),
                    json!({"state": t.after}),
                ),
                Err(_) => (Value::Null, Value::Null),
            };
            finish(
                agent,
                name,
                &p.meta,
                peer,
                Done {
                    target: host,
                    result: r,
                    before,
                    after,
                },
            )
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

fn names(ports: &[FirewallPort]) -> Vec<String> {
    ports.iter().map(|p| p.to_string()).collect()
}

// ---- running the node's tools ----

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The tool's own complaint, one line, for error messages.
    fn why(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let line = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if line.is_empty() {
            "failed without a message".into()
        } else {
            line.chars().take(400).collect()
        }
    }
}

/// The tool's path: the agent's PATH first, then the usual system directories (a daemon's PATH
/// often lacks the sbin ones).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// Runs `tool args` with `stdin`, killed after [`TOOL_DEADLINE`].
fn run(tool: &Path, args: &[&str], stdin: Option<&str>) -> Result<Out, String> {
    let shown = format!("{} {}", tool.display(), args.join(" "));
    let mut child = Command::new(tool)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > TOOL_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown}: no answer within {}s (killed)",
                    TOOL_DEADLINE.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    Ok(Out {
        ok: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

// ---- host.firewall_open ----

fn open_ports(ports: &[FirewallPort]) -> Result<FirewallOpen, String> {
    let mut ports = ports.to_vec();
    ports.sort();
    ports.dedup();
    let mut looked = Vec::new();
    match find_tool("firewall-cmd") {
        Some(cmd) => {
            let state = run(&cmd, &["--state"], None)?;
            if state.ok {
                return firewalld_open(&cmd, &ports);
            }
            looked.push(format!("firewalld is not running ({})", state.why()));
        }
        None => looked.push("firewalld is not installed (no firewall-cmd)".into()),
    }
    match find_tool("nft") {
        Some(nft) => nft_open(&nft, &ports),
        None => {
            looked.push("nftables is not installed (no nft)".into());
            let list = names(&ports).join(" ");
            Err(format!(
                "no firewall manager to open ports with: {}. Open {list} by hand in the node's firewall, \
                 e.g. `firewall-cmd --permanent --add-port=PORT/PROTO` for each, then `firewall-cmd --reload`; \
                 or `iptables -I INPUT -p PROTO --dport PORT -j ACCEPT` and save the rules",
                looked.join("; ")
            ))
        }
    }
}

/// Ports (and ranges such as `8000-8010/tcp`) as `firewall-cmd --list-ports` prints them.
fn firewalld_has(listed: &str, p: FirewallPort) -> bool {
    listed.split_whitespace().any(|item| {
        let Some((range, proto)) = item.split_once('/') else {
            return false;
        };
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        proto == p.proto.as_str()
            && lo.parse::<u16>().is_ok_and(|lo| lo <= p.port)
            && hi.parse::<u16>().is_ok_and(|hi| p.port <= hi)
    })
}

/// Runtime and permanent configuration of the default zone: both get the missing ports, so the
/// change holds now and after a reload or reboot.
fn firewalld_open(cmd: &Path, ports: &[FirewallPort]) -> Result<FirewallOpen, String> {
    let zone = run(cmd, &["--get-default-zone"], None)?;
    let zone = zone.stdout.trim().to_string();
    let mut out = FirewallOpen {
        manager: "firewalld".into(),
        ..Default::default()
    };
    for permanent in [true, false] {
        let flag: &[&str] = if permanent { &["--permanent"] } else { &[] };
        let list = run(cmd, &[flag, &["--list-ports"]].concat(), None)?;
        if !list.ok {
            return Err(format!("firewall-cmd --list-ports: {}", list.why()));
        }
        let (open, missing): (Vec<FirewallPort>, Vec<FirewallPort>) =
            ports.iter().partition(|p| firewalld_has(&list.stdout, **p));
        if !missing.is_empty() {
            let adds: Vec<String> = missing.iter().map(|p| format!("--add-port={p}")).collect();
            let mut args: Vec<&str> = flag.to_vec();
            args.extend(adds.iter().map(String::as_str));
            let r = run(cmd, &args, None)?;
            if !r.ok {
                return Err(format!("firewall-cmd {}: {}", args.join(" "), r.why()));
            }
        }
        let kind = if permanent { "permanent" } else { "runtime" };
        out.chains.push(FirewallChain {
            chain: format!("firewalld zone {zone} ({kind})"),
            before: open,
            added: missing,
        });
    }
    finish_open(&mut out, ports);
    out.note = format!("firewalld, default zone {zone}");
    Ok(out)
}

/// `opened`: added anywhere; `already_open`: added nowhere.
fn finish_open(out: &mut FirewallOpen, ports: &[FirewallPort]) {
    for p in ports {
        if out.chains.iter().any(|c| c.added.contains(p)) {
            out.opened.push(*p);
        } else {
            out.already_open.push(*p);
        }
    }
}

fn nft_open(nft: &Path, ports: &[FirewallPort]) -> Result<FirewallOpen, String> {
    let rules = nft_ruleset(nft)?;
    let plans = plan_chains(&rules, ports);
    let script = nft_script(&plans)?;
    if !script.is_empty() {
        // One transaction: every rule goes in, or none does.
        let r = run(nft, &["-f", "-"], Some(&script))?;
        if !r.ok {
            return Err(format!("nft -f - (inserting accept rules): {}", r.why()));
        }
        let check = plan_chains(&nft_ruleset(nft)?, ports);
        if let Some(c) = check.iter().find(|c| !c.added.is_empty()) {
            return Err(format!(
                "after inserting the rules, {} still drops {}: another rule or chain wins; look at `nft list ruleset`",
                c.chain,
                names(&c.added).join(", ")
            ));
        }
    }
    let mut out = FirewallOpen {
        manager: "nftables".into(),
        chains: plans
            .iter()
            .map(|c| FirewallChain {
                chain: c.chain.clone(),
                before: c.before.clone(),
                added: c.added.clone(),
            })
            .collect(),
        ..Default::default()
    };
    finish_open(&mut out, ports);
    out.note = if plans.is_empty() {
        "nftables: no input chain drops these ports, nothing changed".into()
    } else if out.opened.is_empty() {
        "nftables: every port is already let in".into()
    } else {
        format!(
            "nftables: accept rules (comment \"{RULE_COMMENT}\") inserted at the top of {}",
            plans
                .iter()
                .filter(|c| !c.added.is_empty())
                .map(|c| c.chain.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok(out)
}

fn nft_ruleset(nft: &Path) -> Result<Value, String> {
    let r = run(nft, &["-j", "list", "ruleset"], None)?;
    if !r.ok {
        return Err(format!("nft -j list ruleset: {}", r.why()));
    }
    serde_json::from_str(&r.stdout)
        .map_err(|e| format!("nft -j list ruleset printed no JSON ruleset: {e}"))
}

#[derive(Debug, Default)]
struct Chain {
    family: String,
    table: String,
    name: String,
    /// Set on base chains: (type, hook, policy).
    base: Option<(String, String, String)>,
    rules: Vec<Value>,
}

/// What is to happen in one base input chain that drops at least one of the ports.
#[derive(Debug, PartialEq)]
struct ChainPlan {
    /// `family table chain`, as nft names it.
    chain: String,
    family: String,
    table: String,
    name: String,
    /// Ports pfctl's own rules already let in here.
    before: Vec<FirewallPort>,
    added: Vec<FirewallPort>,
}

type Chains = BTreeMap<(String, String, String), Chain>;

fn chains_of(ruleset: &Value) -> Chains {
    let mut chains: Chains = BTreeMap::new();
    let items = ruleset["nftables"].as_array().cloned().unwrap_or_default();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    for item in &items {
        if let Some(c) = item.get("chain") {
            let key = (s(c, "family"), s(c, "table"), s(c, "name"));
            let entry = chains.entry(key.clone()).or_default();
            (entry.family, entry.table, entry.name) = key;
            if c.get("hook").is_some() {
                entry.base = Some((s(c, "type"), s(c, "hook"), s(c, "policy")));
            }
        } else if let Some(r) = item.get("rule") {
            let key = (s(r, "family"), s(r, "table"), s(r, "chain"));
            chains.entry(key).or_default().rules.push(r.clone());
        }
    }
    chains
}

/// The base input chains (filter type, families that see IP) that would drop a port, and what
/// to add to each so none does.
fn plan_chains(ruleset: &Value, ports: &[FirewallPort]) -> Vec<ChainPlan> {
    let chains = chains_of(ruleset);
    let mut out = Vec::new();
    for c in chains.values() {
        let Some((kind, hook, _)) = &c.base else {
            continue;
        };
        if kind != "filter"
            || hook != "input"
            || !["ip", "ip6", "inet"].contains(&c.family.as_str())
        {
            continue;
        }
        let blocked: Vec<FirewallPort> = ports
            .iter()
            .copied()
            .filter(|p| verdict(&chains, c, *p, 0) == Verdict::Drop)
            .collect();
        if blocked.is_empty() {
            continue;
        }
        let before: Vec<FirewallPort> = ports
            .iter()
            .copied()
            .filter(|p| {
                c.rules
                    .iter()
                    .any(|r| r["comment"] == RULE_COMMENT && admits(r, *p))
            })
            .collect();
        out.push(ChainPlan {
            chain: format!("{} {} {}", c.family, c.table, c.name),
            family: c.family.clone(),
            table: c.table.clone(),
            name: c.name.clone(),
            before,
            added: blocked,
        });
    }
    out
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Verdict {
    Accept,
    Drop,
    /// Fell off the end of a chain that was jumped to: the caller goes on.
    Continue,
}

/// What a new connection to `p` meets in `chain`: rules in order, following jumps; at the end of
/// a base chain, its policy.
fn verdict(chains: &Chains, chain: &Chain, p: FirewallPort, depth: usize) -> Verdict {
    for r in &chain.rules {
        let exprs = r["expr"].as_array().map(Vec::as_slice).unwrap_or_default();
        if !may_match(exprs, p) {
            continue;
        }
        if admits(r, p) {
            return Verdict::Accept;
        }
        for e in exprs {
            if e.get("drop").is_some() || e.get("reject").is_some() {
                return Verdict::Drop;
            }
            let target = e
                .get("jump")
                .or_else(|| e.get("goto"))
                .and_then(|j| j["target"].as_str());
            if let Some(target) = target {
                let key = (
                    chain.family.clone(),
                    chain.table.clone(),
                    target.to_string(),
                );
                match chains.get(&key) {
                    Some(next) if depth < MAX_JUMP_DEPTH => {
                        match verdict(chains, next, p, depth + 1) {
                            Verdict::Continue => {}
                            v => return v,
                        }
                    }
                    // Unknown or too deep: assume the worst, so the port is let in explicitly.
                    _ => return Verdict::Drop,
                }
            }
            if e.get("return").is_some() {
                return Verdict::Continue;
            }
        }
    }
    match &chain.base {
        Some((_, _, policy)) if policy == "drop" => Verdict::Drop,
        Some(_) => Verdict::Accept,
        None => Verdict::Continue,
    }
}

/// The protocol a `meta l4proto` / `ip protocol` value names.
fn proto_of(v: &Value) -> Option<PortProto> {
    match v {
        Value::String(s) if s == "tcp" => Some(PortProto::Tcp),
        Value::String(s) if s == "udp" => Some(PortProto::Udp),
        Value::Number(n) if n.as_u64() == Some(6) => Some(PortProto::Tcp),
        Value::Number(n) if n.as_u64() == Some(17) => Some(PortProto::Udp),
        _ => None,
    }
}

/// Whether `right` (a number, a range or a set of those) holds `port`.
fn holds(right: &Value, port: u16) -> bool {
    let port = port as u64;
    match right {
        Value::Number(n) => n.as_u64() == Some(port),
        Value::Object(o) if o.contains_key("range") => {
            let r = &o["range"];
            r[0].as_u64().is_some_and(|lo| lo <= port) && r[1].as_u64().is_some_and(|hi| port <= hi)
        }
        Value::Object(o) if o.contains_key("set") => o["set"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| holds(x, port as u16))),
        _ => false,
    }
}

/// What one `match` says about port `p`: `Some(false)` when it can never hold for a packet to
/// `p`, `Some(true)` when it always does, `None` when it depends on something else (an address,
/// an interface, the connection state).
fn match_on(m: &Value, p: FirewallPort) -> Option<bool> {
    let left = &m["left"];
    let right = &m["right"];
    let op = m["op"].as_str().unwrap_or("==");
    let negated = op == "!=";
    if !negated && op != "==" && op != "in" {
        return None;
    }
    let is = |holds: bool| Some(holds != negated);
    let payload = left.get("payload");
    // `meta l4proto tcp`, `ip protocol tcp`, `ip6 nexthdr tcp`
    if left.get("meta").is_some_and(|k| k["key"] == "l4proto")
        || payload.is_some_and(|k| k["field"] == "protocol" || k["field"] == "nexthdr")
    {
        return is(proto_of(right)? == p.proto);
    }
    // A new connection's state is `new`: `ct state invalid drop` never drops it.
    if left.get("ct").is_some_and(|k| k["key"] == "state") {
        let states: Vec<&str> = match right {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        return is(states.contains(&"new"));
    }
    let pl = payload?;
    // `th dport` is the port of either protocol.
    let proto = if pl["protocol"] == "th" {
        p.proto
    } else {
        proto_of(&pl["protocol"])?
    };
    if proto != p.proto {
        // `tcp ...` holds only for tcp packets, negated or not.
        return Some(false);
    }
    if pl["field"] != "dport" {
        return None;
    }
    is(holds(right, p.port))
}

/// False when some match of the rule can never hold for a new connection to `p`.
fn may_match(exprs: &[Value], p: FirewallPort) -> bool {
    exprs
        .iter()
        .filter_map(|e| e.get("match"))
        .all(|m| match_on(m, p) != Some(false))
}

/// The rule lets every new connection to `p` in: all its matches hold for `p` whatever else the
/// packet carries, and it accepts.
fn admits(rule: &Value, p: FirewallPort) -> bool {
    let exprs = rule["expr"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let accepts = exprs.iter().any(|e| e.get("accept").is_some());
    let matches: Vec<&Value> = exprs.iter().filter_map(|e| e.get("match")).collect();
    let only_counters = exprs.iter().all(|e| {
        e.get("match").is_some() || e.get("accept").is_some() || e.get("counter").is_some()
    });
    accepts
        && only_counters
        && !matches.is_empty()
        && matches.iter().all(|m| match_on(m, p) == Some(true))
}

/// Only plain nft names are written into the script; anything else is refused, not quoted.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.starts_with(['-', '.'])
}

fn nft_script(plans: &[ChainPlan]) -> Result<String, String> {
    let mut script = String::new();
    for c in plans {
        for part in [&c.family, &c.table, &c.name] {
            if !plain_name(part) {
                return Err(format!(
                    "chain {} has a name pfctl does not write rules for ('{part}'); let the ports in by hand",
                    c.chain
                ));
            }
        }
        for p in &c.added {
            // `insert` without a position puts the rule first in the chain.
            script.push_str(&format!(
                "insert rule {} {} {} {} dport {} accept comment \"{RULE_COMMENT}\"\n",
                c.family,
                c.table,
                c.name,
                p.proto.as_str(),
                p.port
            ));
        }
    }
    Ok(script)
}

// ---- host.timesync ----

fn unit_installed(unit: &str) -> bool {
    UNIT_DIRS
        .iter()
        .any(|d| Path::new(d).join(format!("{unit}.service")).exists())
}

fn enable_timesync() -> Result<TimeSync, String> {
    let mut tried = Vec::new();
    match find_tool("timedatectl") {
        Some(t) => {
            let before = run(&t, &["show", "-p", "NTP", "--value"], None)
                .map(|o| o.stdout.trim().to_string())
                .unwrap_or_default();
            let r = run(&t, &["set-ntp", "true"], None)?;
            if r.ok {
                let after = run(&t, &["show", "-p", "NTP", "--value"], None)
                    .map(|o| o.stdout.trim().to_string())
                    .unwrap_or_default();
                return Ok(TimeSync {
                    via: "timedatectl set-ntp true".into(),
                    before: format!("NTP={before}"),
                    after: format!("NTP={after}"),
                });
            }
            tried.push(format!("`timedatectl set-ntp true` failed: {}", r.why()));
        }
        None => tried.push("timedatectl is not installed".into()),
    }
    match (
        TIME_SERVICES.iter().find(|u| unit_installed(u)),
        find_tool("systemctl"),
    ) {
        (Some(unit), Some(sc)) => {
            let state = |sc: &Path| {
                run(sc, &["is-active", unit], None)
                    .map(|o| o.stdout.trim().to_string())
                    .unwrap_or_default()
            };
            let before = state(&sc);
            let r = run(&sc, &["enable", "--now", unit], None)?;
            if r.ok {
                return Ok(TimeSync {
                    via: format!("systemctl enable --now {unit}"),
                    before,
                    after: state(&sc),
                });
            }
            tried.push(format!(
                "`systemctl enable --now {unit}` failed: {}",
                r.why()
            ));
        }
        (Some(unit), None) => tried.push(format!("{unit} is installed but there is no systemctl")),
        (None, _) => tried.push(format!(
            "none of the time services {} is installed",
            TIME_SERVICES.join(", ")
        )),
    }
    Err(format!(
        "time sync could not be turned on: {}. Looked for timedatectl and the services {}. Install and \
         start a time service by hand (e.g. `systemctl enable --now chronyd`, or start chronyd or ntpd \
         from the node's init system where systemd does not run)",
        tried.join("; "),
        TIME_SERVICES.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> FirewallPort {
        FirewallPort {
            port,
            proto: PortProto::Tcp,
        }
    }
    fn udp(port: u16) -> FirewallPort {
        FirewallPort {
            port,
            proto: PortProto::Udp,
        }
    }

    fn chain(family: &str, name: &str, hook: Option<(&str, &str)>) -> Value {
        let mut c = json!({"family": family, "table": "t", "name": name, "handle": 1});
        if let Some((hook, policy)) = hook {
            c["type"] = json!("filter");
            c["hook"] = json!(hook);
            c["prio"] = json!(0);
            c["policy"] = json!(policy);
        }
        json!({ "chain": c })
    }

    fn rule(family: &str, chain: &str, expr: Value, comment: Option<&str>) -> Value {
        let mut r =
            json!({"family": family, "table": "t", "chain": chain, "handle": 9, "expr": expr});
        if let Some(c) = comment {
            r["comment"] = json!(c);
        }
        json!({ "rule": r })
    }

    fn dport(proto: &str, right: Value) -> Value {
        json!({"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": "dport"}}, "right": right}})
    }

    fn ruleset(items: Vec<Value>) -> Value {
        let mut all = vec![json!({"metainfo": {"json_schema_version": 1}})];
        all.extend(items);
        json!({ "nftables": all })
    }

    #[test]
    fn a_drop_rule_for_one_port_asks_for_that_port_only() {
        let rs = ruleset(vec![
            chain("inet", "input", Some(("input", "accept"))),
            rule(
                "inet",
                "input",
                json!([dport("tcp", json!(7946)), {"drop": null}]),
                None,
            ),
            // Output and non-filter chains are not the receiving side.
            chain("inet", "out", Some(("output", "drop"))),
        ]);
        let ports = [tcp(2377), tcp(7946), udp(7946), udp(4789)];
        let plans = plan_chains(&rs, &ports);
        assert_eq!(plans.len(), 1, "{plans:?}");
        assert_eq!(plans[0].chain, "inet t input");
        assert_eq!(plans[0].added, [tcp(7946)]);
        assert_eq!(
            nft_script(&plans).unwrap(),
            "insert rule inet t input tcp dport 7946 accept comment \"pfctl\"\n"
        );
    }

    #[test]
    fn a_drop_policy_chain_gets_every_port_not_already_let_in() {
        let rs = ruleset(vec![
            chain("ip", "INPUT", Some(("input", "drop"))),
            rule(
                "ip",
                "INPUT",
                json!([{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]),
                None,
            ),
            rule(
                "ip",
                "INPUT",
                json!([dport("tcp", json!({"set": [22, 2377]})), {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]),
                None,
            ),
            // Accepts 4789/udp only from one address: not open for the others.
            rule(
                "ip",
                "INPUT",
                json!([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.1"}}, dport("udp", json!(4789)), {"accept": null}]),
                None,
            ),
        ]);
        let plans = plan_chains(&rs, &[tcp(2377), tcp(7946), udp(4789)]);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].added, [tcp(7946), udp(4789)]);
    }

    #[test]
    fn pfctl_rules_make_it_idempotent_and_are_reported_as_before() {
        let rs = ruleset(vec![
            chain("inet", "input", Some(("input", "drop"))),
            rule(
                "inet",
                "input",
                json!([dport("tcp", json!(7946)), {"accept": null}]),
                Some("pfctl"),
            ),
        ]);
        assert!(plan_chains(&rs, &[tcp(7946)]).is_empty());
        let plans = plan_chains(&rs, &[tcp(7946), udp(7946)]);
        assert_eq!(plans[0].before, [tcp(7946)]);
        assert_eq!(plans[0].added, [udp(7946)]);
    }

    #[test]
    fn jumps_are_followed_and_other_protocols_do_not_drop() {
        let rs = ruleset(vec![
            chain("inet", "input", Some(("input", "accept"))),
            chain("inet", "guard", None),
            rule(
                "inet",
                "input",
                json!([{"jump": {"target": "guard"}}]),
                None,
            ),
            rule(
                "inet",
                "guard",
                json!([{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}}, {"reject": null}]),
                None,
            ),
        ]);
        let plans = plan_chains(&rs, &[tcp(2377), udp(4789)]);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].added, [udp(4789)]);
        assert!(plan_chains(&ruleset(vec![]), &[tcp(1)]).is_empty());
    }

    #[test]
    fn dropping_invalid_packets_does_not_drop_new_connections() {
        let rs = ruleset(vec![
            chain("inet", "input", Some(("input", "accept"))),
            rule(
                "inet",
                "input",
                json!([{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]),
                None,
            ),
        ]);
        assert!(plan_chains(&rs, &[tcp(2377)]).is_empty());
        // A drop that depends on the source may hit a peer: the port is let in explicitly.
        let rs = ruleset(vec![
            chain("inet", "input", Some(("input", "accept"))),
            rule(
                "inet",
                "input",
                json!([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"drop": null}]),
                None,
            ),
        ]);
        assert_eq!(plan_chains(&rs, &[tcp(2377)])[0].added, [tcp(2377)]);
    }

    #[test]
    fn odd_chain_names_are_refused_not_quoted() {
        let plan = ChainPlan {
            chain: "inet t x;y".into(),
            family: "inet".into(),
            table: "t".into(),
            name: "x;y".into(),
            before: vec![],
            added: vec![tcp(1)],
        };
        assert!(nft_script(&[plan]).unwrap_err().contains("x;y"));
    }

    #[test]
    fn firewalld_port_lists_and_ranges_are_read() {
        assert!(firewalld_has("22/tcp 7946/udp", udp(7946)));
        assert!(!firewalld_has("22/tcp 7946/udp", tcp(7946)));
        assert!(firewalld_has("8000-8010/tcp", tcp(8005)));
        assert!(!firewalld_has("", tcp(1)));
    }

    #[test]
    fn tools_run_with_a_deadline_and_their_complaint_is_kept() {
        let sh = find_tool("sh").unwrap();
        let r = run(&sh, &["-c", "echo oops >&2; exit 3"], None).unwrap();
        assert!(!r.ok);
        assert_eq!(r.why(), "oops");
        let cat = find_tool("cat").unwrap();
        assert_eq!(run(&cat, &[], Some("in\n")).unwrap().stdout, "in\n");
    }
}
