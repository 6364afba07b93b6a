//! `pfctl autocluster`: fresh nodes to a running, verified cluster, as a journaled run of phases
//! (src/ops): preflight, confirm, firewall, swarm (leave, init, join), labels, images,
//! configuration, deploy, converge (with the healthcheck as the gate). `pfctl resume RUN_ID`
//! continues a run that stopped, from its first phase not done; every phase is idempotent.

use super::healthcheck::load_profile;
use crate::cli::{AutoclusterArgs, ResumeArgs};
use crate::context::Ctx;
use crate::fanout::{each_node_open, Node};
use crate::ops::journal::{runs_dir, Journal};
use crate::ops::{drive, Operation, PhaseReport, RunReport};
use crate::output::Format;
use crate::profile::{AutoclusterCfg, Profile};

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use pfproto::action::{ActionMeta, FileWrite, FileWriteParams};
use pfproto::facts::NodeFacts;
use pfproto::method;
use pfproto::probe::{FilesStat, FilesStatParams, NetProbe, NetProbeParams, NetTarget, SwarmView};
use pfproto::swarm::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

pub const OPERATION: &str = "autocluster";

pub const PHASES: &[&str] = &[
    "preflight",
    "confirm",
    "firewall",
    "swarm.leave",
    "swarm.init",
    "swarm.join",
    "labels",
    "images",
    "configuration",
    "deploy",
    "converge",
];

/// Exit code when the run was refused for want of a confirmation.
const EXIT_REFUSED: i32 = 2;
/// One agent call's bound (image copies and convergence have their own).
const CALL_DEADLINE: Duration = Duration::from_secs(60);

struct Autocluster<'a> {
    ctx: &'a Ctx,
    profile: Profile,
    cfg: AutoclusterCfg,
    /// In inventory order; `Err` names why a node was not reached.
    nodes: Vec<(String, Result<Node, String>)>,
    workers: usize,
    meta: ActionMeta,
    /// How the run was confirmed (for the journal's confirm phase).
    confirmed: String,
}

pub async fn run(ctx: &Ctx, args: &AutoclusterArgs) -> Result<i32> {
    let profile = load_profile(ctx, args.profile.as_ref())?;
    let cfg = autocluster_cfg(&profile)?;
    managers_of(ctx.targets.len(), args.workers)?;
    let run_id = crate::history::new_run_id();
    let mut op = Autocluster::open(ctx, profile, cfg, args.workers, &run_id).await;
    let json_out = ctx.json_out();

    // Read-only: what the nodes are now, and what the run would change on each.
    let pre = op.preflight().await;
    let plan = op.plan(&pre);
    if !json_out {
        print_plan(&run_id, &plan, &pre.problems);
    }
    if args.plan {
        emit(
            json_out,
            json!({"run_id": run_id, "plan": plan, "problems": pre.problems, "changed": false}),
        );
        op.close().await;
        return Ok(if pre.problems.is_empty() { 0 } else { 2 });
    }
    if !pre.problems.is_empty() {
        eprintln!(
            "pfctl: autocluster: preflight found {} problem(s): nothing changed",
            pre.problems.len()
        );
        emit(
            json_out,
            json!({"run_id": run_id, "plan": plan, "problems": pre.problems, "changed": false}),
        );
        op.close().await;
        return Ok(2);
    }
    let cluster = ctx.cluster.clone().unwrap_or_else(|| "cluster".into());
    match confirm(args.yes, &cluster) {
        Ok(how) => op.confirmed = how,
        Err(why) => {
            eprintln!("pfctl: autocluster: {why}");
            emit(
                json_out,
                json!({"run_id": run_id, "plan": plan, "refused": why, "changed": false}),
            );
            op.close().await;
            return Ok(EXIT_REFUSED);
        }
    }
    let dir = runs_dir()?;
    let names: Vec<String> = ctx.targets.iter().map(|t| t.name.clone()).collect();
    let mut journal = Journal::create(
        &dir,
        &run_id,
        OPERATION,
        &op.meta.actor,
        names,
        json!({"profile": op.profile.name, "workers": args.workers, "cluster": cluster}),
        PHASES,
    )?;
    let code = finish(&mut op, &mut journal, args.until.as_deref(), json_out).await;
    op.close().await;
    code
}

pub async fn resume(ctx: &Ctx, args: &ResumeArgs) -> Result<i32> {
    let dir = runs_dir()?;
    let mut journal = Journal::load(&dir, &args.run_id)?;
    let op = journal.doc.operation.as_str();
    if op == crate::upgrade::run::OPERATION || op == crate::upgrade::run::ROLLBACK {
        return super::upgrade::resume(ctx, journal, args.until.as_deref()).await;
    }
    if journal.doc.operation != OPERATION {
        bail!(
            "run {} is a {} run; this pfctl resumes autocluster runs",
            args.run_id,
            journal.doc.operation
        );
    }
    if journal.is_complete() {
        println!("run {} is complete: nothing to resume", args.run_id);
        return Ok(0);
    }
    let names: Vec<String> = ctx.targets.iter().map(|t| t.name.clone()).collect();
    if names != journal.doc.nodes {
        bail!(
            "run {} acted on {}, but this inventory and cluster select {}: give the same ones",
            args.run_id,
            journal.doc.nodes.join(", "),
            names.join(", ")
        );
    }
    let profile_name = journal.doc.args["profile"].as_str().map(str::to_string);
    let profile = load_profile(ctx, profile_name.as_ref())?;
    let cfg = autocluster_cfg(&profile)?;
    let workers = journal.doc.args["workers"].as_u64().unwrap_or(0) as usize;
    let mut op = Autocluster::open(ctx, profile, cfg, workers, &args.run_id).await;
    op.confirmed = "confirmed when the run started".into();
    let json_out = ctx.json_out();
    let code = finish(&mut op, &mut journal, args.until.as_deref(), json_out).await;
    op.close().await;
    code
}

fn autocluster_cfg(profile: &Profile) -> Result<AutoclusterCfg> {
    profile.autocluster.clone().ok_or_else(|| {
        anyhow!(
            "profile {} has no [autocluster] section: it does not say what to deploy",
            profile.name
        )
    })
}

/// Managers: every node but the workers; Raft wants an odd number, 3 to 7.
fn managers_of(nodes: usize, workers: usize) -> Result<usize> {
    let managers = nodes.saturating_sub(workers);
    if !matches!(managers, 3 | 5 | 7) {
        bail!(
            "{nodes} node(s) with --workers {workers} leaves {managers} manager(s): a swarm needs 3, 5 or 7 \
             (an odd number keeps a majority when one fails); change --workers or the nodes"
        );
    }
    Ok(managers)
}

async fn finish(
    op: &mut Autocluster<'_>,
    journal: &mut Journal,
    until: Option<&str>,
    json_out: bool,
) -> Result<i32> {
    let run_id = journal.doc.run_id.clone();
    if !json_out {
        println!(
            "autocluster run {run_id} (journal {})",
            journal.path().display()
        );
    }
    let show = |name: &str, r: Option<&PhaseReport>| {
        if json_out {
            return;
        }
        println!("{}", crate::ops::phase_line(name, r));
    };
    let report = drive(op, journal, until, &show).await?;
    print_end(json_out, &report);
    Ok(if report.complete { 0 } else { 2 })
}

fn print_end(json_out: bool, r: &RunReport) {
    if json_out {
        emit(true, json!(r));
        return;
    }
    match (&r.stopped_in, r.complete) {
        (_, true) => println!("autocluster {}: complete", r.run_id),
        (Some(p), _) => println!(
            "autocluster {}: stopped in {p}; fix what it names, then run: pfctl resume {}",
            r.run_id, r.run_id
        ),
        (None, _) => println!(
            "autocluster {}: paused as asked; continue with: pfctl resume {}",
            r.run_id, r.run_id
        ),
    }
}

fn emit(json_out: bool, doc: Value) {
    if json_out {
        let mut doc = doc;
        doc["schema"] = json!(crate::report::SCHEMA);
        doc["action"] = json!(OPERATION);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
}

/// Ok with how it was confirmed; Err with why not.
fn confirm(yes: bool, cluster: &str) -> Result<String, String> {
    if yes {
        return Ok("--yes".into());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(
            "no terminal to confirm on: nothing changed; pass --yes to wipe the nodes' swarm state and build the cluster"
                .into(),
        );
    }
    let typed: String = dialoguer::Input::new()
        .with_prompt(format!(
            "This wipes the swarm state of every node listed. Type the cluster name ({cluster}) to go on"
        ))
        .allow_empty(true)
        .interact_text()
        .map_err(|e| format!("no answer ({e}): nothing changed"))?;
    if typed.trim() == cluster {
        Ok("typed the cluster name on a terminal".into())
    } else {
        Err("the name typed is not the cluster's: nothing changed".into())
    }
}

/// What the nodes are before anything changes.
struct Preflight {
    facts: Vec<Option<NodeFacts>>,
    /// Image reference to the nodes holding it.
    images: BTreeMap<String, Vec<String>>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct PlanStep {
    phase: &'static str,
    node: String,
    what: String,
}

impl<'a> Autocluster<'a> {
    async fn open(
        ctx: &'a Ctx,
        profile: Profile,
        cfg: AutoclusterCfg,
        workers: usize,
        run_id: &str,
    ) -> Autocluster<'a> {
        let opened = each_node_open(
            &ctx.targets,
            &ctx.fanout,
            async |node| node.agent().await.map(|_| ()),
            |_| {},
        )
        .await;
        let nodes = opened
            .into_iter()
            .map(|(o, n)| {
                let name = o.target.name.clone();
                let node = match (o.result, n) {
                    (Ok(()), Some(n)) => Ok(n),
                    (Err(e), _) => Err(e.to_string()),
                    (Ok(()), None) => Err("not reached in time".to_string()),
                };
                (name, node)
            })
            .collect();
        Autocluster {
            ctx,
            profile,
            cfg,
            nodes,
            workers,
            meta: crate::history::action_meta(run_id),
            confirmed: String::new(),
        }
    }

    async fn close(&self) {
        for (_, n) in &self.nodes {
            if let Ok(n) = n {
                n.close().await;
            }
        }
    }

    fn node(&self, i: usize) -> Result<&Node> {
        let (name, n) = &self.nodes[i];
        n.as_ref().map_err(|e| anyhow!("{name}: not reached: {e}"))
    }

    fn name(&self, i: usize) -> &str {
        &self.nodes[i].0
    }

    async fn call<T: DeserializeOwned>(
        &self,
        i: usize,
        m: &str,
        params: impl Serialize,
    ) -> Result<T> {
        let name = self.name(i);
        let node = self.node(i)?;
        let (conn, _) = node.agent().await.map_err(|e| anyhow!("{name}: {e}"))?;
        let params = serde_json::to_value(params)?;
        match tokio::time::timeout(CALL_DEADLINE, conn.call::<T>(m, params)).await {
            Ok(r) => r.map_err(|e| anyhow!("{name}: {m}: {e}")),
            Err(_) => bail!("{name}: {m}: no answer within {}s", CALL_DEADLINE.as_secs()),
        }
    }

    /// The address the node advertises to the swarm: its inventory address, resolved.
    async fn addr(&self, i: usize) -> Result<String> {
        let t = &self.ctx.targets[i];
        let host = t.host.clone().unwrap_or_else(|| t.name.clone());
        if host.parse::<std::net::IpAddr>().is_ok() {
            return Ok(host);
        }
        let found = tokio::net::lookup_host((host.as_str(), 2377))
            .await
            .with_context(|| format!("{}: resolving {host}", t.name))?
            .next()
            .ok_or_else(|| anyhow!("{}: {host} resolves to no address", t.name))?;
        Ok(found.ip().to_string())
    }

    fn managers(&self) -> usize {
        self.nodes.len().saturating_sub(self.workers)
    }

    /// The stack as deployed: the rendered compose translated (so a key pfctl cannot deploy
    /// stops the preflight, before any node is wiped).
    async fn stack_plan(&self) -> Result<crate::stack::Plan> {
        let files = vec![crate::stack::ComposeFile {
            path: self.compose_path()?,
            text: self.render().await?,
        }];
        crate::stack::translate(&self.profile.stack, &files)
    }

    /// Which nodes hold each image, one `images.list` per node; and the nodes that did not say.
    async fn holders(&self, wanted: &[String]) -> (BTreeMap<String, Vec<usize>>, Vec<String>) {
        let mut held: BTreeMap<String, Vec<usize>> =
            wanted.iter().map(|w| (w.clone(), Vec::new())).collect();
        let mut errors = Vec::new();
        for i in 0..self.nodes.len() {
            let params = ImagesListParams {
                refs: wanted.to_vec(),
            };
            match self
                .call::<ImagesList>(i, method::IMAGES_LIST, params)
                .await
            {
                Ok(list) => {
                    for p in list.images.iter().filter(|p| p.present) {
                        if let Some(h) = held.get_mut(&p.reference) {
                            h.push(i);
                        }
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        (held, errors)
    }

    /// The compose file to start from: the profile's own, else the one the platform's install
    /// left on the nodes (the first node, in inventory order, that has it).
    async fn compose_source(&self) -> Result<String> {
        if let Some(c) = &self.cfg.compose {
            return Ok(c.clone());
        }
        let path = self.compose_path()?;
        let mut why = Vec::new();
        for i in 0..self.nodes.len() {
            match self
                .call::<pfproto::probe::FileRead>(
                    i,
                    method::FILES_READ,
                    pfproto::probe::FilesReadParams {
                        path: path.clone(),
                        keys: None,
                        private: false,
                    },
                )
                .await
            {
                Ok(r) if r.content.is_some() => return Ok(r.content.unwrap_or_default()),
                Ok(r) if !r.exists => why.push(format!("{}: missing", self.name(i))),
                Ok(r) => why.push(format!(
                    "{}: {}",
                    self.name(i),
                    r.error.unwrap_or_else(|| "unreadable".into())
                )),
                Err(e) => why.push(format!("{e:#}")),
            }
        }
        bail!(
            "profile {} has no compose of its own and no node has a readable {path} ({}): install the platform's files on one node first",
            self.profile.name,
            why.join("; ")
        )
    }

    async fn preflight(&self) -> Preflight {
        let n = self.nodes.len();
        let mut problems = Vec::new();
        let mut facts = Vec::new();
        for i in 0..n {
            match self
                .call::<NodeFacts>(i, method::NODE_FACTS, Value::Null)
                .await
            {
                Ok(f) => facts.push(Some(f)),
                Err(e) => {
                    problems.push(format!("{e:#}"));
                    facts.push(None);
                }
            }
        }
        let now = crate::context::now_unix_ms();
        let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, f) in facts.iter().enumerate() {
            let Some(f) = f else { continue };
            let name = self.name(i);
            if !f.docker.reachable {
                problems.push(format!(
                    "{name}: the Docker Engine does not answer ({})",
                    f.docker.error.as_deref().unwrap_or("?")
                ));
                continue;
            }
            versions
                .entry(f.docker.version.clone())
                .or_default()
                .push(name.to_string());
            if f.cpu.count < self.cfg.min_cpus {
                problems.push(format!(
                    "{name}: {} CPU(s), the profile asks for {}",
                    f.cpu.count, self.cfg.min_cpus
                ));
            }
            let mem_mb = f.memory.total_bytes / (1024 * 1024);
            if mem_mb < self.cfg.min_memory_mb {
                problems.push(format!(
                    "{name}: {mem_mb} MB of memory, the profile asks for {}",
                    self.cfg.min_memory_mb
                ));
            }
            let free_mb = f
                .disks
                .iter()
                .filter(|d| d.role == "docker" || d.mount_point == "/")
                .map(|d| d.available_bytes / (1024 * 1024))
                .min();
            if let Some(free) = free_mb.filter(|m| *m < self.cfg.min_disk_free_mb) {
                problems.push(format!(
                    "{name}: {free} MB free for Docker, the profile asks for {}",
                    self.cfg.min_disk_free_mb
                ));
            }
            let offset = (f.clock.unix_ms - now).unsigned_abs();
            if offset > self.profile.thresholds.clock_offset_ms_fail {
                problems.push(format!(
                    "{name}: clock {offset} ms off this controller's (limit {} ms): sync time first",
                    self.profile.thresholds.clock_offset_ms_fail
                ));
            }
        }
        if versions.len() > 1 {
            let v: Vec<String> = versions
                .iter()
                .map(|(v, ns)| format!("{v} on {}", ns.join(", ")))
                .collect();
            problems.push(format!(
                "Docker Engine versions differ ({}): upgrade them to one version first",
                v.join("; ")
            ));
        }
        problems.extend(self.reachability().await);
        let mut images: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match self.stack_plan().await {
            Err(e) => problems.push(format!("profile {}: {e:#}", self.profile.name)),
            Ok(plan) => {
                // A node that does not answer is named by its facts above already.
                let (held, _) = self.holders(&images_of(&plan)).await;
                for (image, on) in held {
                    if on.is_empty() {
                        problems.push(format!(
                            "image {image} is on no node: load it on one (docker load) and run again"
                        ));
                    } else {
                        images.insert(
                            image,
                            on.iter().map(|&i| self.name(i).to_string()).collect(),
                        );
                    }
                }
            }
        }
        Preflight {
            facts,
            images,
            problems,
        }
    }

    /// Every node reaches every other on the swarm's TCP ports. Before the swarm exists nothing
    /// listens there: a refused connection shows the way is open, a timeout that it is not.
    async fn reachability(&self) -> Vec<String> {
        let mut addrs = Vec::new();
        for i in 0..self.nodes.len() {
            addrs.push(self.addr(i).await.ok());
        }
        let mut problems = Vec::new();
        for i in 0..self.nodes.len() {
            if self.node(i).is_err() {
                continue;
            }
            let targets: Vec<NetTarget> = addrs
                .iter()
                .enumerate()
                .filter(|(j, a)| *j != i && a.is_some())
                .flat_map(|(_, a)| {
                    [2377u16, 7946].map(|port| NetTarget {
                        host: a.clone().unwrap_or_default(),
                        port,
                    })
                })
                .collect();
            let params = NetProbeParams {
                targets,
                timeout_ms: 2000,
            };
            match self.call::<NetProbe>(i, method::NET_PROBE, params).await {
                Ok(p) => {
                    for r in p.results.iter().filter(|r| !r.ok) {
                        let why = r.error.as_deref().unwrap_or("failed");
                        if why != "refused" {
                            problems.push(format!(
                                "{} cannot reach {}:{} ({why}): open the swarm ports between the nodes",
                                self.name(i),
                                r.host,
                                r.port
                            ));
                        }
                    }
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        problems
    }

    fn plan(&self, pre: &Preflight) -> Vec<PlanStep> {
        let mut steps = Vec::new();
        let mut step = |phase: &'static str, node: &str, what: String| {
            steps.push(PlanStep {
                phase,
                node: node.to_string(),
                what,
            })
        };
        let managers = self.managers();
        for (i, f) in pre.facts.iter().enumerate() {
            let name = self.name(i);
            if let Some(f) = f {
                let s = &f.docker.swarm;
                if s.state == "active" || s.state == "pending" || s.state == "error" {
                    step(
                        "swarm.leave",
                        name,
                        format!(
                            "leave swarm {} (as {}; its services and their containers on this node go)",
                            short(&s.cluster_id),
                            if s.is_manager { "manager" } else { "worker" }
                        ),
                    );
                }
            }
            step(
                "firewall",
                name,
                "open the swarm's and the profile's ports".into(),
            );
            let role = if i < managers { "manager" } else { "worker" };
            if i == 0 {
                step("swarm.init", name, "start the swarm (first manager)".into());
            } else {
                step("swarm.join", name, format!("join as {role}"));
            }
            step(
                "labels",
                name,
                format!("types={}", if i < managers { "master" } else { "worker" }),
            );
        }
        for (image, holders) in &pre.images {
            for i in 0..self.nodes.len() {
                let name = self.name(i);
                if !holders.iter().any(|h| h == name) {
                    step("images", name, format!("copy {image} from {}", holders[0]));
                }
            }
        }
        if let Some(c) = &self.profile.compose {
            if let Some(path) = c.files.first() {
                step(
                    "configuration",
                    "all",
                    format!(
                        "write {path} (the profile's compose with its pins), identical everywhere"
                    ),
                );
            }
        }
        step(
            "deploy",
            self.name(0),
            format!("deploy stack {} through the Engine API", self.profile.stack),
        );
        step(
            "converge",
            "all",
            format!(
                "wait up to {} s for every service, then run the healthcheck",
                self.cfg.converge_timeout_s
            ),
        );
        steps.sort_by_key(|s| PHASES.iter().position(|p| *p == s.phase));
        steps
    }

    // ---- the phases ----

    async fn phase_preflight(&self) -> Result<(String, Value)> {
        let pre = self.preflight().await;
        if !pre.problems.is_empty() {
            bail!("{}", pre.problems.join("; "));
        }
        let hostnames: Vec<String> = pre
            .facts
            .iter()
            .map(|f| f.as_ref().map(|f| f.hostname.clone()).unwrap_or_default())
            .collect();
        let version = pre
            .facts
            .iter()
            .flatten()
            .next()
            .map(|f| f.docker.version.clone())
            .unwrap_or_default();
        Ok((
            format!(
                "{} nodes ready: Docker {version}, swarm ports open, images {}",
                self.nodes.len(),
                pre.images.len()
            ),
            json!({"hostnames": hostnames, "images": pre.images}),
        ))
    }

    async fn phase_firewall(&self) -> Result<(String, Value)> {
        let ports = crate::firewall::required_ports(&self.profile);
        let mut notes = Vec::new();
        for i in 0..self.nodes.len() {
            let name = self.name(i).to_string();
            let node = self.node(i)?;
            let (conn, _) = node.agent().await.map_err(|e| anyhow!("{name}: {e}"))?;
            match crate::firewall::open_on(conn, self.meta.clone(), &ports).await {
                Ok(r) => notes.push(format!("{name}: {}", crate::firewall::describe(&r))),
                // No firewall manager means nothing filters: report it, do not stop.
                Err(e) if e.contains("firewalld") && e.contains("nft") => {
                    notes.push(format!("{name}: no firewalld or nftables, nothing to open"))
                }
                Err(e) => bail!("{name}: opening {}: {e}", crate::firewall::list(&ports)),
            }
        }
        Ok((notes.join("; "), Value::Null))
    }

    async fn phase_leave(&self) -> Result<(String, Value)> {
        let mut notes = Vec::new();
        for i in 0..self.nodes.len() {
            let r: SwarmLeave = self
                .call(
                    i,
                    method::SWARM_LEAVE,
                    SwarmLeaveParams {
                        meta: self.meta.clone(),
                        force: true,
                    },
                )
                .await?;
            if !r.already {
                notes.push(format!("{} left its swarm", self.name(i)));
            }
        }
        Ok((
            if notes.is_empty() {
                "no node was in a swarm".into()
            } else {
                notes.join("; ")
            },
            Value::Null,
        ))
    }

    async fn phase_init(&self) -> Result<(String, Value)> {
        let addr = self.addr(0).await?;
        let r: SwarmInit = self
            .call(
                0,
                method::SWARM_INIT,
                SwarmInitParams {
                    meta: self.meta.clone(),
                    advertise_addr: addr.clone(),
                },
            )
            .await?;
        Ok((
            format!(
                "swarm {} started on {} ({addr})",
                short(&r.cluster_id),
                self.name(0)
            ),
            json!({"cluster_id": r.cluster_id, "node_id": r.node_id, "addr": addr}),
        ))
    }

    async fn tokens(&self) -> Result<SwarmTokens> {
        // A manager just made may say it is "being prepared" for a moment.
        let mut last = None;
        for _ in 0..20 {
            match self
                .call::<SwarmTokens>(0, method::SWARM_TOKENS, Value::Null)
                .await
            {
                Ok(t) => return Ok(t),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(last.unwrap_or_else(|| anyhow!("no join tokens")))
    }

    async fn phase_join(&self, journal: &Journal) -> Result<(String, Value)> {
        let init = journal
            .data("swarm.init")
            .ok_or_else(|| anyhow!("swarm.init is not done"))?;
        let cluster_id = init["cluster_id"].as_str().unwrap_or_default().to_string();
        let leader_addr = init["addr"].as_str().unwrap_or_default().to_string();
        let tokens = self.tokens().await?;
        if tokens.cluster_id != cluster_id {
            bail!(
                "{} now manages swarm {}, not the swarm {} this run started: run autocluster again",
                self.name(0),
                short(&tokens.cluster_id),
                short(&cluster_id)
            );
        }
        let managers = self.managers();
        let mut joined = Vec::new();
        for i in 1..self.nodes.len() {
            let manager = i < managers;
            let token = if manager {
                tokens.manager_token.clone()
            } else {
                tokens.worker_token.clone()
            };
            let r: SwarmJoin = self
                .call(
                    i,
                    method::SWARM_JOIN,
                    SwarmJoinParams {
                        meta: self.meta.clone(),
                        advertise_addr: self.addr(i).await?,
                        remote_addrs: vec![format!("{leader_addr}:2377")],
                        token,
                    },
                )
                .await?;
            if manager && !r.cluster_id.is_empty() && r.cluster_id != cluster_id {
                bail!(
                    "{} is in swarm {}, not {}",
                    self.name(i),
                    short(&r.cluster_id),
                    short(&cluster_id)
                );
            }
            joined.push(format!(
                "{} {}{}",
                self.name(i),
                if manager { "manager" } else { "worker" },
                if r.already { " (already)" } else { "" }
            ));
        }
        let view = self.wait_ready(managers).await?;
        Ok((
            format!(
                "{} managers, {} workers ready: {}",
                managers,
                self.workers,
                joined.join(", ")
            ),
            json!({"nodes": view.nodes.len()}),
        ))
    }

    /// Until the first manager sees every node ready, the managers reachable.
    async fn wait_ready(&self, managers: usize) -> Result<SwarmView> {
        let start = std::time::Instant::now();
        loop {
            let view: SwarmView = self.call(0, method::SWARM_INSPECT, Value::Null).await?;
            let ready = view.nodes.iter().filter(|n| n.state == "ready").count();
            let m = view
                .nodes
                .iter()
                .filter(|n| n.state == "ready" && n.role == "manager")
                .count();
            if ready == self.nodes.len() && m == managers {
                return Ok(view);
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "after 60 s the swarm has {ready} of {} nodes ready, {m} of {managers} managers",
                    self.nodes.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn phase_labels(&self, journal: &Journal) -> Result<(String, Value)> {
        let hostnames: Vec<String> = journal
            .data("preflight")
            .and_then(|d| d["hostnames"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|h| h.as_str().unwrap_or_default().to_string())
            .collect();
        let managers = self.managers();
        let mut done = Vec::new();
        for (i, host) in hostnames.iter().enumerate() {
            let mut labels = self.cfg.labels.clone();
            labels.insert(
                "types".into(),
                if i < managers { "master" } else { "worker" }.into(),
            );
            let _: Value = self
                .call(
                    0,
                    method::NODE_UPDATE,
                    NodeUpdateParams {
                        meta: self.meta.clone(),
                        node: host.clone(),
                        labels: labels.clone(),
                        role: None,
                    },
                )
                .await?;
            done.push(format!("{host} types={}", labels["types"]));
        }
        Ok((done.join(", "), Value::Null))
    }

    async fn phase_images(&self) -> Result<(String, Value)> {
        let wanted = images_of(&self.stack_plan().await?);
        let (held, errors) = self.holders(&wanted).await;
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        let mut copies = Vec::new();
        for (image, on) in &held {
            let Some(&from) = on.first() else {
                bail!("image {image} is on no node: load it on one and resume");
            };
            for to in (0..self.nodes.len()).filter(|i| !on.contains(i)) {
                let r = crate::images::copy_image(self.node(from)?, self.node(to)?, image).await?;
                copies.push(format!(
                    "{image} {} -> {} ({} KiB)",
                    r.from,
                    r.to,
                    r.bytes / 1024
                ));
            }
        }
        Ok((
            if copies.is_empty() {
                format!("all {} image(s) on every node", wanted.len())
            } else {
                copies.join("; ")
            },
            Value::Null,
        ))
    }

    /// The compose file to write: the profile's, with its services' pins.
    async fn render(&self) -> Result<String> {
        let source = self.compose_source().await?;
        let prefix = format!("{}_", self.profile.stack);
        let pins: Vec<(String, String)> = self
            .profile
            .services
            .iter()
            .filter_map(|s| {
                let node = s.pinned_node.clone()?;
                Some((
                    s.name.strip_prefix(&prefix).unwrap_or(&s.name).to_string(),
                    node,
                ))
            })
            .collect();
        if pins.is_empty() {
            return Ok(source);
        }
        crate::heal::compose::add_pins(&source, &pins).map_err(|e| {
            anyhow!(
                "profile {}: the compose cannot take its pins: {e}",
                self.profile.name
            )
        })
    }

    fn compose_path(&self) -> Result<String> {
        self.profile
            .compose
            .as_ref()
            .and_then(|c| c.files.first().cloned())
            .ok_or_else(|| {
                anyhow!(
                    "profile {} names no compose file ([compose] files)",
                    self.profile.name
                )
            })
    }

    async fn phase_configuration(&self) -> Result<(String, Value)> {
        let path = self.compose_path()?;
        let text = self.render().await?;
        let want = crate::heal::sha256_hex(text.as_bytes());
        for i in 0..self.nodes.len() {
            let _: FileWrite = self
                .call(
                    i,
                    method::FILES_WRITE,
                    FileWriteParams {
                        meta: self.meta.clone(),
                        path: path.clone(),
                        content_b64: base64::engine::general_purpose::STANDARD
                            .encode(text.as_bytes()),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                        expect_sha256: None,
                        any_previous: true,
                        make_dirs: false,
                    },
                )
                .await?;
        }
        // Read back from every node: the deploy must not start from a file one node lacks.
        for i in 0..self.nodes.len() {
            let st: FilesStat = self
                .call(
                    i,
                    method::FILES_STAT,
                    FilesStatParams {
                        paths: vec![path.clone()],
                    },
                )
                .await?;
            let got = st
                .files
                .first()
                .and_then(|f| f.sha256.clone())
                .unwrap_or_default();
            if got != want {
                bail!(
                    "{}: {path} has sha256 {} after writing, not {}",
                    self.name(i),
                    short(&got),
                    short(&want)
                );
            }
        }
        Ok((
            format!(
                "{path} written on {} nodes, sha256 {}",
                self.nodes.len(),
                short(&want)
            ),
            json!({"path": path, "sha256": want}),
        ))
    }

    async fn phase_deploy(&self) -> Result<(String, Value)> {
        let plan = self.stack_plan().await?;
        let node = self.node(0)?;
        let (conn, _) = node
            .agent()
            .await
            .map_err(|e| anyhow!("{}: {e}", self.name(0)))?;
        let batches = stage(&plan, &self.cfg.stages);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut order = Vec::new();
        let last = batches.len().saturating_sub(1);
        for (k, batch) in batches.iter().enumerate() {
            let r = crate::stack::apply(conn, &self.meta, batch).await?;
            for item in &r.items {
                *counts
                    .entry(format!("{:?}", item.result).to_lowercase())
                    .or_default() += 1;
            }
            let names: Vec<&str> = batch.services.iter().map(|s| s.service.as_str()).collect();
            if !names.is_empty() {
                order.push(names.join("+"));
            }
            // A stage runs before the next starts; the last waits in the converge phase.
            if k < last && !batch.services.is_empty() {
                crate::stack::converge(
                    conn,
                    &self.profile.stack,
                    Duration::from_secs(self.cfg.converge_timeout_s),
                    |_| {},
                )
                .await
                .with_context(|| format!("stage {} did not converge", names.join("+")))?;
            }
        }
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        Ok((
            format!(
                "stack {}: {}; in order: {}",
                self.profile.stack,
                summary.join(", "),
                order.join(", then ")
            ),
            json!({"order": order}),
        ))
    }

    async fn phase_converge(&self) -> Result<(String, Value)> {
        let node = self.node(0)?;
        let (conn, _) = node
            .agent()
            .await
            .map_err(|e| anyhow!("{}: {e}", self.name(0)))?;
        let quiet = self.ctx.quiet || matches!(self.ctx.format, Format::Json | Format::Ndjson);
        let services = crate::stack::converge(
            conn,
            &self.profile.stack,
            Duration::from_secs(self.cfg.converge_timeout_s),
            |now| {
                if !quiet {
                    let line: Vec<String> = now
                        .iter()
                        .map(|s| match s.desired {
                            Some(d) => format!("{} {}/{d}", s.service, s.running),
                            None => format!("{} {}", s.service, s.running),
                        })
                        .collect();
                    eprintln!("    converging: {}", line.join(", "));
                }
            },
        )
        .await?;
        // The gate: the same healthcheck an admin runs.
        let warns = super::healthcheck::gate(self.ctx, &self.profile)
            .await
            .map_err(|e| anyhow!("the stack converged but {e}"))?;
        Ok((
            format!(
                "{} services running as asked; healthcheck clean{}",
                services.len(),
                if warns > 0 {
                    format!(" but {warns} warning(s)")
                } else {
                    String::new()
                }
            ),
            json!({"services": services.len(), "warnings": warns}),
        ))
    }
}

impl Operation for Autocluster<'_> {
    async fn phase(&mut self, name: &str, journal: &Journal) -> Result<(String, Value)> {
        match name {
            "preflight" => self.phase_preflight().await,
            "confirm" => Ok((self.confirmed.clone(), Value::Null)),
            "firewall" => self.phase_firewall().await,
            "swarm.leave" => self.phase_leave().await,
            "swarm.init" => self.phase_init().await,
            "swarm.join" => self.phase_join(journal).await,
            "labels" => self.phase_labels(journal).await,
            "images" => self.phase_images().await,
            "configuration" => self.phase_configuration().await,
            "deploy" => self.phase_deploy().await,
            "converge" => self.phase_converge().await,
            other => bail!("autocluster has no phase '{other}'"),
        }
    }
}

/// The plan cut into what is deployed one after the other: the networks, secrets and configs
/// with the first batch, then each stage (or each service of a one-at-a-time stage), then the
/// services no stage names. Without stages, one batch.
fn stage(plan: &crate::stack::Plan, stages: &[crate::profile::Stage]) -> Vec<crate::stack::Plan> {
    let only = |services: Vec<crate::stack::ServiceDef>, first: bool| crate::stack::Plan {
        networks: if first { plan.networks.clone() } else { vec![] },
        secrets: if first { plan.secrets.clone() } else { vec![] },
        configs: if first { plan.configs.clone() } else { vec![] },
        services,
        ..plan.clone()
    };
    let mut batches: Vec<Vec<crate::stack::ServiceDef>> = Vec::new();
    let mut left: Vec<crate::stack::ServiceDef> = plan.services.clone();
    for st in stages {
        let (mine, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|s| st.matches(&s.service));
        left = rest;
        if st.one_at_a_time {
            batches.extend(mine.into_iter().map(|s| vec![s]));
        } else if !mine.is_empty() {
            batches.push(mine);
        }
    }
    if !left.is_empty() || batches.is_empty() {
        batches.push(left);
    }
    batches
        .into_iter()
        .enumerate()
        .map(|(i, b)| only(b, i == 0))
        .collect()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The images the stack's services run, each once, in the plan's order.
fn images_of(plan: &crate::stack::Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &plan.services {
        if let Some(i) = s.spec["TaskTemplate"]["ContainerSpec"]["Image"].as_str() {
            if !out.iter().any(|o| o == i) {
                out.push(i.to_string());
            }
        }
    }
    out
}

fn print_plan(run_id: &str, steps: &[PlanStep], problems: &[String]) {
    println!("autocluster plan (run {run_id}):");
    let mut last = "";
    for s in steps {
        if s.phase != last {
            println!("  {}:", s.phase);
            last = s.phase;
        }
        println!("    {}: {}", s.node, s.what);
    }
    if !problems.is_empty() {
        println!("preflight problems (nothing will be changed until they are fixed):");
        for p in problems {
            println!("  - {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_are_three_five_or_seven() {
        assert_eq!(managers_of(3, 0).unwrap(), 3);
        assert_eq!(managers_of(5, 2).unwrap(), 3);
        assert_eq!(managers_of(7, 0).unwrap(), 7);
        let e = managers_of(4, 0).unwrap_err().to_string();
        assert!(e.contains("4 manager(s)") && e.contains("--workers"), "{e}");
        assert!(managers_of(2, 0).is_err());
        assert!(managers_of(3, 1).is_err());
    }

    #[test]
    fn stages_cut_the_services_in_order_and_one_at_a_time() {
        let compose = "services:\n  web:\n    image: a:1\n  couchbase:\n    image: b:1\n  couchbase-worker:\n    image: b:1\n  couchbase-worker2:\n    image: b:1\nnetworks: {}\n";
        let plan = crate::stack::translate(
            "s",
            &[crate::stack::ComposeFile {
                path: "/x/docker-compose.yml".into(),
                text: compose.into(),
            }],
        )
        .unwrap();
        let stages: Vec<crate::profile::Stage> = toml::from_str::<toml::Table>(
            "s = [{ services = [\"couchbase\"] }, { services = [\"couchbase-worker*\"], one_at_a_time = true }]",
        )
        .unwrap()["s"]
            .clone()
            .try_into()
            .unwrap();
        let batches = stage(&plan, &stages);
        let names: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.services.iter().map(|s| s.service.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["couchbase"],
                vec!["couchbase-worker"],
                vec!["couchbase-worker2"],
                vec!["web"]
            ]
        );
        assert!(
            !batches[0].networks.is_empty(),
            "the networks come with the first batch"
        );
        assert!(batches[1].networks.is_empty());
        assert_eq!(stage(&plan, &[]).len(), 1);
    }

    #[test]
    fn compose_images_are_listed_once_and_a_service_without_one_is_named() {
        let plan = |text: &str| {
            crate::stack::translate(
                "s",
                &[crate::stack::ComposeFile {
                    path: "/x/docker-compose.yml".into(),
                    text: text.into(),
                }],
            )
        };
        let text = "services:\n  a:\n    image: x:1\n  b:\n    image: y:2\n  c:\n    image: x:1\n";
        assert_eq!(images_of(&plan(text).unwrap()), ["x:1", "y:2"]);
        let e = plan("services:\n  a:\n    command: sh\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("service a: no image"), "{e}");
    }
}
