//! Deploying a compose stack through a manager's agent, as `docker stack deploy -c a -c b` would,
//! with no Docker client on the controller. The compose files (merged like the healthcheck's
//! compose check merges them) become Engine API objects: the overlay networks the services use,
//! secrets and configs made from files on the manager, and one ServiceSpec per service, all
//! labelled so `docker stack ls/ps/rm` see one stack. The agent creates what is missing and
//! updates what differs (`network.ensure`, `secret.ensure`, `config.ensure`, `service.apply`),
//! so deploying the same files twice changes nothing.
//!
//! Keys Swarm ignores are listed in the result, as docker lists them; any other key this module
//! does not translate is refused by name, never dropped.

use crate::checks::compose::merge;
use crate::rpc::AgentConn;
use anyhow::{anyhow, bail, Result};
use pfproto::action::ActionMeta;
use pfproto::method;
use pfproto::probe::{ServiceView, SwarmView};
use pfproto::stack::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

/// One agent call: a few Engine requests, each bounded by the agent.
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// Between two looks at the swarm while waiting for convergence.
const POLL: Duration = Duration::from_millis(500);

/// Keys `docker stack deploy` accepts but Swarm does not use: listed in the result, not applied.
const IGNORED: &[&str] = &[
    "build",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "container_name",
    "depends_on",
    "devices",
    "domainname",
    "expose",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "security_opt",
    "shm_size",
    "sysctls",
    "ulimits",
    "userns_mode",
];

const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "labels",
    "deploy",
    "ports",
    "volumes",
    "secrets",
    "configs",
    "networks",
    "hostname",
    "user",
    "working_dir",
    "stop_grace_period",
    "stop_signal",
    "tty",
    "stdin_open",
    "read_only",
    "init",
    "extra_hosts",
    "dns",
    "dns_search",
    "healthcheck",
    "logging",
    "restart",
];

/// A compose file as read from a node: relative paths in it are relative to the first file's
/// directory, as for `docker stack deploy`.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub path: String,
    pub text: String,
}

/// What a stack's compose files ask the swarm for, ready for the agent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    pub stack: String,
    pub networks: Vec<NetworkDef>,
    pub secrets: Vec<ObjectDef>,
    pub configs: Vec<ObjectDef>,
    /// In the order the files name them (a caller may stage them).
    pub services: Vec<ServiceDef>,
    pub ignored: Vec<Ignored>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkDef {
    pub name: String,
    pub driver: String,
    pub attachable: bool,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub subnets: Vec<String>,
}

/// A secret or config: its bytes are the file's on the manager.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectDef {
    pub name: String,
    pub file: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceDef {
    /// The compose name (`web`); the spec's `Name` is `<stack>_web`.
    pub service: String,
    pub spec: Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ignored {
    pub service: String,
    pub key: String,
}

// ---- translation ----

/// The stack's networks, secrets, configs and services from its compose files (in order; later
/// ones override earlier ones).
pub fn translate(stack: &str, files: &[ComposeFile]) -> Result<Plan> {
    check_stack_name(stack)?;
    let Some(first) = files.first() else {
        bail!("stack {stack}: no compose file given");
    };
    let dir = parent_dir(&first.path);
    let mut merged = Yaml::Hash(Hash::new());
    let mut order: Vec<String> = Vec::new();
    for f in files {
        let doc = match YamlLoader::load_from_str(&f.text) {
            Ok(mut docs) if !docs.is_empty() => docs.swap_remove(0),
            Ok(_) => continue,
            Err(e) => bail!("{} is not valid YAML: {e}", f.path),
        };
        let doc = literal_doc(doc, "").map_err(|e| anyhow!("{}: {e}", f.path))?;
        if !matches!(doc, Yaml::Hash(_)) {
            bail!("{}: a compose file is a mapping (services: ...)", f.path);
        }
        for (name, _) in crate::checks::compose::services(&doc) {
            if !order.contains(&name) {
                order.push(name);
            }
        }
        merged = merge(merged, doc);
    }
    let top = Top::read(stack, dir, &merged)?;
    let mut plan = Plan {
        stack: stack.to_string(),
        networks: Vec::new(),
        secrets: top.objects(Kind::Secret)?,
        configs: top.objects(Kind::Config)?,
        services: Vec::new(),
        ignored: Vec::new(),
    };
    let mut used_networks: Vec<String> = Vec::new();
    for name in &order {
        let s = &merged["services"][name.as_str()];
        let spec = top.service(name, s, &mut plan.ignored, &mut used_networks)?;
        plan.services.push(ServiceDef {
            service: name.clone(),
            spec,
        });
    }
    for key in &used_networks {
        if let Some(def) = top.network(key)? {
            plan.networks.push(def);
        }
    }
    Ok(plan)
}

fn check_stack_name(stack: &str) -> Result<()> {
    let ok = stack
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        bail!("stack name '{stack}' must be letters, digits, '_' and '-', starting with a letter or digit");
    }
    Ok(())
}

fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.into(),
        None => ".".into(),
    }
}

/// `rel` against `dir`, `.` and `..` resolved without touching any file system.
fn join_path(dir: &str, rel: &str) -> String {
    let base = if rel.starts_with('/') { "" } else { dir };
    let mut parts: Vec<&str> = Vec::new();
    for p in base.split('/').chain(rel.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The document with YAML merge keys (`<<: *defaults`) applied and `$$` unescaped. Compose
/// interpolates `${VAR}` from the deploying shell's environment; pfctl has no such environment
/// to offer, so a `$VAR` is refused rather than deployed as written.
fn literal_doc(y: Yaml, path: &str) -> Result<Yaml> {
    Ok(match y {
        Yaml::String(s) => Yaml::String(literal(&s).map_err(|()| {
            anyhow!("{path}: a $NAME or ${{NAME}} in it asks for a variable from the environment, which pfctl does not interpolate: write the value itself (a literal $ is written $$)")
        })?),
        Yaml::Array(a) => Yaml::Array(
            a.into_iter()
                .enumerate()
                .map(|(i, v)| literal_doc(v, &format!("{path}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        Yaml::Hash(h) => {
            let mut out = Hash::new();
            for (k, v) in with_merge_keys(h) {
                let key = scalar(&k).unwrap_or_default();
                let at = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                let v = literal_doc(v, &at)?;
                out.insert(k, v);
            }
            Yaml::Hash(out)
        }
        other => other,
    })
}

/// A mapping's own keys over those merged in with `<<` (earlier sources win over later ones).
fn with_merge_keys(mut h: Hash) -> Hash {
    let merge_key = Yaml::String("<<".into());
    let Some(sources) = h.remove(&merge_key) else {
        return h;
    };
    let sources = match sources {
        Yaml::Array(a) => a,
        one => vec![one],
    };
    let mut out = Hash::new();
    for src in sources.into_iter().rev() {
        if let Yaml::Hash(s) = src {
            for (k, v) in with_merge_keys(s) {
                out.insert(k, v);
            }
        }
    }
    for (k, v) in h {
        out.insert(k, v);
    }
    out
}

/// `$$` becomes `$`; `$NAME` or `${...}` is an interpolation (Err). The variable is not named
/// in the error: in a password, what follows a `$` is part of the password.
fn literal(s: &str) -> std::result::Result<String, ()> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(c) if *c == '{' || *c == '_' || c.is_ascii_alphabetic() => return Err(()),
            _ => out.push('$'),
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
    fn section(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }
}

/// The merged document's top level, which services refer into.
struct Top<'a> {
    stack: &'a str,
    dir: String,
    doc: &'a Yaml,
}

impl<'a> Top<'a> {
    fn read(stack: &'a str, dir: String, doc: &'a Yaml) -> Result<Top<'a>> {
        let allowed = [
            "version", "services", "networks", "volumes", "secrets", "configs",
        ];
        for key in keys(doc) {
            if !allowed.contains(&key.as_str()) && !key.starts_with("x-") {
                bail!("top-level key '{key}' is not supported by pfctl's stack deploy; remove it");
            }
        }
        if crate::checks::compose::services(doc).is_empty() {
            bail!("the compose files define no services");
        }
        Ok(Top { stack, dir, doc })
    }

    fn scoped(&self, name: &str) -> String {
        format!("{}_{name}", self.stack)
    }

    fn stack_labels(&self, extra: BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut labels = extra;
        labels.insert(STACK_LABEL.into(), self.stack.into());
        labels
    }

    /// The name a declared network, volume, secret or config has in the swarm: an external one
    /// keeps its own name, `name:` sets one, anything else is scoped to the stack.
    fn swarm_name(&self, key: &str, def: &Yaml) -> String {
        if let Some(name) = def["external"]["name"].as_str() {
            return name.into();
        }
        if let Some(name) = def["name"].as_str() {
            return name.into();
        }
        if def["external"].as_bool() == Some(true) {
            return key.into();
        }
        self.scoped(key)
    }

    fn is_external(def: &Yaml) -> bool {
        match &def["external"] {
            Yaml::Boolean(b) => *b,
            Yaml::Hash(_) => true,
            _ => false,
        }
    }

    fn objects(&self, kind: Kind) -> Result<Vec<ObjectDef>> {
        let mut out = Vec::new();
        for (key, def) in entries(&self.doc[kind.section()]) {
            let at = format!("{} {key}", kind.word());
            only_keys(def, &["file", "external", "name", "labels"], &at)?;
            if Self::is_external(def) {
                continue;
            }
            let Some(file) = def["file"].as_str() else {
                bail!(
                    "{at}: no file; pfctl makes {}s from files on the manager (file: /path)",
                    kind.word()
                );
            };
            out.push(ObjectDef {
                name: self.swarm_name(&key, def),
                file: join_path(&self.dir, file),
                labels: self.stack_labels(string_map(&def["labels"], &format!("{at}: labels"))?),
            });
        }
        Ok(out)
    }

    /// The network a service calls `key`; `None` for external networks (they must exist).
    fn network(&self, key: &str) -> Result<Option<NetworkDef>> {
        let def = &self.doc["networks"][key];
        let at = format!("network {key}");
        only_keys(
            def,
            &[
                "driver",
                "driver_opts",
                "attachable",
                "internal",
                "labels",
                "external",
                "name",
                "ipam",
            ],
            &at,
        )?;
        if Self::is_external(def) {
            return Ok(None);
        }
        let ipam = &def["ipam"];
        only_keys(ipam, &["driver", "config"], &format!("{at}: ipam"))?;
        if let Some(d) = ipam["driver"].as_str().filter(|d| *d != "default") {
            bail!("{at}: ipam driver '{d}' is not supported; use the default driver");
        }
        let mut subnets = Vec::new();
        for c in list(&ipam["config"]) {
            only_keys(c, &["subnet"], &format!("{at}: ipam.config"))?;
            if let Some(s) = c["subnet"].as_str() {
                subnets.push(s.to_string());
            }
        }
        Ok(Some(NetworkDef {
            name: self.swarm_name(key, def),
            driver: def["driver"].as_str().unwrap_or("overlay").to_string(),
            attachable: flag(&def["attachable"], &format!("{at}: attachable"))?,
            internal: flag(&def["internal"], &format!("{at}: internal"))?,
            labels: self.stack_labels(string_map(&def["labels"], &format!("{at}: labels"))?),
            options: string_map(&def["driver_opts"], &format!("{at}: driver_opts"))?,
            subnets,
        }))
    }

    fn service(
        &self,
        name: &str,
        s: &Yaml,
        ignored: &mut Vec<Ignored>,
        used_networks: &mut Vec<String>,
    ) -> Result<Value> {
        let at = format!("service {name}");
        let Yaml::Hash(_) = s else {
            bail!("{at}: must be a mapping of settings");
        };
        for key in keys(s) {
            if IGNORED.contains(&key.as_str()) {
                ignored.push(Ignored {
                    service: name.into(),
                    key,
                });
            } else if !SERVICE_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
                bail!("{at}: '{key}' is not supported by pfctl's stack deploy; remove it or express it with supported keys");
            }
        }
        let Some(image) = scalar(&s["image"]) else {
            bail!("{at}: no image (a stack deploys images; it does not build them)");
        };
        let deploy = &s["deploy"];
        only_keys(
            deploy,
            &[
                "mode",
                "replicas",
                "placement",
                "restart_policy",
                "update_config",
                "rollback_config",
                "resources",
                "labels",
                "endpoint_mode",
            ],
            &format!("{at}: deploy"),
        )?;
        let mut labels = self.stack_labels(string_map(
            &deploy["labels"],
            &format!("{at}: deploy.labels"),
        )?);
        labels.insert(IMAGE_LABEL.into(), image.clone());
        let mut spec = Map::new();
        spec.insert("Name".into(), json!(self.scoped(name)));
        spec.insert("Labels".into(), json!(labels));
        spec.insert(
            "TaskTemplate".into(),
            self.task(name, &image, s, used_networks)?,
        );
        spec.insert("Mode".into(), mode(deploy, &at)?);
        if let Some(v) = update_config(
            &deploy["update_config"],
            &format!("{at}: deploy.update_config"),
        )? {
            spec.insert("UpdateConfig".into(), v);
        }
        if let Some(v) = update_config(
            &deploy["rollback_config"],
            &format!("{at}: deploy.rollback_config"),
        )? {
            spec.insert("RollbackConfig".into(), v);
        }
        if let Some(v) = endpoint(s, &at)? {
            spec.insert("EndpointSpec".into(), v);
        }
        Ok(Value::Object(spec))
    }

    fn task(
        &self,
        name: &str,
        image: &str,
        s: &Yaml,
        used_networks: &mut Vec<String>,
    ) -> Result<Value> {
        let at = format!("service {name}");
        let deploy = &s["deploy"];
        let mut task = Map::new();
        task.insert("ContainerSpec".into(), self.container(name, image, s)?);
        if let Some(p) = placement(&deploy["placement"], &format!("{at}: deploy.placement"))? {
            task.insert("Placement".into(), p);
        }
        if let Some(r) = resources(&deploy["resources"], &format!("{at}: deploy.resources"))? {
            task.insert("Resources".into(), r);
        }
        if let Some(r) = restart_policy(s, &at)? {
            task.insert("RestartPolicy".into(), r);
        }
        if let Some(l) = logging(&s["logging"], &format!("{at}: logging"))? {
            task.insert("LogDriver".into(), l);
        }
        task.insert("Networks".into(), self.attachments(name, s, used_networks)?);
        Ok(Value::Object(task))
    }

    fn container(&self, name: &str, image: &str, s: &Yaml) -> Result<Value> {
        let at = format!("service {name}");
        let mut c = Map::new();
        c.insert("Image".into(), json!(image));
        if !s["entrypoint"].is_badvalue() {
            c.insert(
                "Command".into(),
                json!(words(&s["entrypoint"], &format!("{at}: entrypoint"))?),
            );
        }
        if !s["command"].is_badvalue() {
            c.insert(
                "Args".into(),
                json!(words(&s["command"], &format!("{at}: command"))?),
            );
        }
        let env = environment(&s["environment"], &format!("{at}: environment"))?;
        if !env.is_empty() {
            c.insert("Env".into(), json!(env));
        }
        c.insert(
            "Labels".into(),
            json!(self.stack_labels(string_map(&s["labels"], &format!("{at}: labels"))?)),
        );
        for (key, field) in [
            ("hostname", "Hostname"),
            ("user", "User"),
            ("working_dir", "Dir"),
            ("stop_signal", "StopSignal"),
        ] {
            if let Some(v) = scalar(&s[key]) {
                c.insert(field.into(), json!(v));
            }
        }
        for (key, field) in [
            ("tty", "TTY"),
            ("stdin_open", "OpenStdin"),
            ("read_only", "ReadOnly"),
            ("init", "Init"),
        ] {
            if !s[key].is_badvalue() {
                c.insert(field.into(), json!(flag(&s[key], &format!("{at}: {key}"))?));
            }
        }
        if !s["stop_grace_period"].is_badvalue() {
            c.insert(
                "StopGracePeriod".into(),
                json!(duration_ns(
                    &s["stop_grace_period"],
                    &format!("{at}: stop_grace_period")
                )?),
            );
        }
        let hosts = extra_hosts(&s["extra_hosts"], &format!("{at}: extra_hosts"))?;
        if !hosts.is_empty() {
            c.insert("Hosts".into(), json!(hosts));
        }
        let dns = strings(&s["dns"], &format!("{at}: dns"))?;
        let search = strings(&s["dns_search"], &format!("{at}: dns_search"))?;
        if !dns.is_empty() || !search.is_empty() {
            c.insert(
                "DNSConfig".into(),
                json!({"Nameservers": dns, "Search": search}),
            );
        }
        if let Some(h) = healthcheck(&s["healthcheck"], &format!("{at}: healthcheck"))? {
            c.insert("HealthCheck".into(), h);
        }
        let mounts = self.mounts(s, &at)?;
        if !mounts.is_empty() {
            c.insert("Mounts".into(), json!(mounts));
        }
        for kind in [Kind::Secret, Kind::Config] {
            let refs = self.file_refs(kind, &s[kind.section()], &at)?;
            if !refs.is_empty() {
                let field = if kind == Kind::Secret {
                    "Secrets"
                } else {
                    "Configs"
                };
                c.insert(field.into(), json!(refs));
            }
        }
        Ok(Value::Object(c))
    }

    /// Networks the service joins, sorted as docker sorts them, each with the service's name as
    /// an alias; `default` (`<stack>_default`) when it names none.
    fn attachments(&self, name: &str, s: &Yaml, used: &mut Vec<String>) -> Result<Value> {
        let at = format!("service {name}: networks");
        let mut nets: Vec<(String, Vec<String>)> = Vec::new();
        match &s["networks"] {
            Yaml::BadValue | Yaml::Null => nets.push(("default".into(), Vec::new())),
            Yaml::Array(a) => {
                for n in a {
                    let Some(key) = n.as_str() else {
                        bail!("{at}: entries are network names");
                    };
                    nets.push((key.into(), Vec::new()));
                }
            }
            Yaml::Hash(h) => {
                for (k, v) in h {
                    let key = scalar(k).unwrap_or_default();
                    only_keys(v, &["aliases"], &format!("{at}.{key}"))?;
                    let aliases = strings(&v["aliases"], &format!("{at}.{key}.aliases"))?;
                    nets.push((key, aliases));
                }
            }
            _ => bail!("{at}: a list of network names or a mapping"),
        }
        let mut out = Vec::new();
        for (key, mut aliases) in nets {
            let def = &self.doc["networks"][key.as_str()];
            if key != "default" && def.is_badvalue() {
                bail!("{at}: network '{key}' is not declared under the top-level networks");
            }
            if !used.contains(&key) {
                used.push(key.clone());
            }
            aliases.push(name.to_string());
            out.push(json!({"Target": self.swarm_name(&key, def), "Aliases": aliases}));
        }
        out.sort_by(|a, b| a["Target"].as_str().cmp(&b["Target"].as_str()));
        Ok(Value::Array(out))
    }

    fn mounts(&self, s: &Yaml, at: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (i, v) in list(&s["volumes"]).iter().enumerate() {
            let at = format!("{at}: volumes[{i}]");
            let m = match v {
                Yaml::Hash(_) => self.long_mount(v, &at)?,
                _ => {
                    let Some(text) = v.as_str() else {
                        bail!("{at}: SOURCE:TARGET[:ro] or a mapping");
                    };
                    self.short_mount(text, &at)?
                }
            };
            out.push(m);
        }
        Ok(out)
    }

    fn short_mount(&self, text: &str, at: &str) -> Result<Value> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, opts) = match parts.as_slice() {
            [t] => (None, *t, ""),
            [s, t] => (Some(*s), *t, ""),
            [s, t, o] => (Some(*s), *t, *o),
            _ => bail!("{at}: '{text}' is not SOURCE:TARGET[:MODE]"),
        };
        let mut read_only = false;
        let mut nocopy = false;
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => read_only = true,
                "rw" => read_only = false,
                "nocopy" => nocopy = true,
                other => bail!("{at}: volume mode '{other}' is not supported (ro, rw, nocopy)"),
            }
        }
        let kind = match source {
            None => "volume",
            Some(s) if is_path(s) => "bind",
            Some(_) => "volume",
        };
        self.mount(kind, source, target, read_only, nocopy, at)
    }

    fn long_mount(&self, v: &Yaml, at: &str) -> Result<Value> {
        only_keys(
            v,
            &[
                "type",
                "source",
                "target",
                "read_only",
                "volume",
                "bind",
                "tmpfs",
            ],
            at,
        )?;
        only_keys(&v["volume"], &["nocopy"], &format!("{at}: volume"))?;
        only_keys(&v["bind"], &["propagation"], &format!("{at}: bind"))?;
        only_keys(&v["tmpfs"], &["size"], &format!("{at}: tmpfs"))?;
        let kind = v["type"].as_str().unwrap_or("volume");
        let Some(target) = v["target"].as_str() else {
            bail!("{at}: no target");
        };
        let read_only = flag(&v["read_only"], &format!("{at}: read_only"))?;
        let nocopy = flag(&v["volume"]["nocopy"], &format!("{at}: volume.nocopy"))?;
        let mut m = self.mount(kind, v["source"].as_str(), target, read_only, nocopy, at)?;
        if let Some(p) = v["bind"]["propagation"].as_str() {
            m["BindOptions"] = json!({"Propagation": p});
        }
        if !v["tmpfs"]["size"].is_badvalue() {
            m["TmpfsOptions"] =
                json!({"SizeBytes": bytes(&v["tmpfs"]["size"], &format!("{at}: tmpfs.size"))?});
        }
        Ok(m)
    }

    fn mount(
        &self,
        kind: &str,
        source: Option<&str>,
        target: &str,
        read_only: bool,
        nocopy: bool,
        at: &str,
    ) -> Result<Value> {
        let mut m = json!({"Type": kind, "Target": target});
        if read_only {
            m["ReadOnly"] = json!(true);
        }
        match (kind, source) {
            ("bind", Some(src)) => {
                if src.starts_with('~') {
                    bail!("{at}: '{src}': write the home directory out (pfctl does not expand ~)");
                }
                m["Source"] = json!(join_path(&self.dir, src));
            }
            ("bind", None) => bail!("{at}: a bind mount needs a source"),
            ("volume", None) => {
                // An anonymous volume, made by the Engine on each node.
                if nocopy {
                    m["VolumeOptions"] = json!({"NoCopy": true});
                }
            }
            ("volume", Some(key)) => {
                let def = &self.doc["volumes"][key];
                if def.is_badvalue() {
                    bail!("{at}: volume '{key}' is not declared under the top-level volumes");
                }
                let vat = format!("volume {key}");
                only_keys(
                    def,
                    &["driver", "driver_opts", "external", "labels", "name"],
                    &vat,
                )?;
                m["Source"] = json!(self.swarm_name(key, def));
                if !Self::is_external(def) {
                    let mut opts = json!({
                        "Labels": self.stack_labels(string_map(&def["labels"], &format!("{vat}: labels"))?)
                    });
                    if nocopy {
                        opts["NoCopy"] = json!(true);
                    }
                    let driver_opts =
                        string_map(&def["driver_opts"], &format!("{vat}: driver_opts"))?;
                    if def["driver"].as_str().is_some() || !driver_opts.is_empty() {
                        let mut d = json!({"Options": driver_opts});
                        if let Some(name) = def["driver"].as_str() {
                            d["Name"] = json!(name);
                        }
                        opts["DriverConfig"] = d;
                    }
                    m["VolumeOptions"] = opts;
                }
            }
            ("tmpfs", _) => {}
            (other, _) => {
                bail!("{at}: mount type '{other}' is not supported (volume, bind, tmpfs)")
            }
        }
        Ok(m)
    }

    /// A service's secrets or configs: each declared at the top level, referred to by name (the
    /// agent looks the id up).
    fn file_refs(&self, kind: Kind, y: &Yaml, at: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (i, r) in list(y).iter().enumerate() {
            let at = format!("{at}: {}[{i}]", kind.section());
            let (source, target, uid, gid, mode) = match r {
                Yaml::Hash(_) => {
                    only_keys(r, &["source", "target", "uid", "gid", "mode"], &at)?;
                    let Some(source) = r["source"].as_str() else {
                        bail!("{at}: no source");
                    };
                    let target = r["target"].as_str().unwrap_or(source);
                    let mode = match &r["mode"] {
                        Yaml::BadValue => 0o444,
                        m => file_mode(m, &format!("{at}: mode"))?,
                    };
                    (
                        source,
                        target,
                        scalar(&r["uid"]).unwrap_or("0".into()),
                        scalar(&r["gid"]).unwrap_or("0".into()),
                        mode,
                    )
                }
                _ => {
                    let Some(source) = r.as_str() else {
                        bail!("{at}: a name or a mapping with source");
                    };
                    (source, source, "0".into(), "0".into(), 0o444)
                }
            };
            let def = &self.doc[kind.section()][source];
            if def.is_badvalue() {
                bail!(
                    "{at}: {} '{source}' is not declared under the top-level {}",
                    kind.word(),
                    kind.section()
                );
            }
            let file = json!({"Name": target, "UID": uid, "GID": gid, "Mode": mode});
            let name = self.swarm_name(source, def);
            out.push(match kind {
                Kind::Secret => json!({"File": file, "SecretName": name}),
                Kind::Config => json!({"File": file, "ConfigName": name}),
            });
        }
        Ok(out)
    }
}

// ---- the parts of a service ----

fn mode(deploy: &Yaml, at: &str) -> Result<Value> {
    let replicas = &deploy["replicas"];
    match deploy["mode"].as_str().unwrap_or("replicated") {
        "replicated" => {
            let n = match replicas {
                Yaml::BadValue | Yaml::Null => 1,
                y => uint(y, &format!("{at}: deploy.replicas"))?,
            };
            Ok(json!({"Replicated": {"Replicas": n}}))
        }
        "global" => {
            if !replicas.is_badvalue() {
                bail!(
                    "{at}: deploy.replicas only applies to mode replicated; remove it or the mode"
                );
            }
            if !deploy["placement"]["max_replicas_per_node"].is_badvalue() {
                bail!(
                    "{at}: deploy.placement.max_replicas_per_node only applies to mode replicated"
                );
            }
            Ok(json!({"Global": {}}))
        }
        other => bail!("{at}: deploy.mode '{other}' is not supported (replicated, global)"),
    }
}

fn placement(p: &Yaml, at: &str) -> Result<Option<Value>> {
    if p.is_badvalue() {
        return Ok(None);
    }
    only_keys(
        p,
        &["constraints", "preferences", "max_replicas_per_node"],
        at,
    )?;
    let mut out = Map::new();
    let constraints = strings(&p["constraints"], &format!("{at}.constraints"))?;
    if !constraints.is_empty() {
        out.insert("Constraints".into(), json!(constraints));
    }
    let mut prefs = Vec::new();
    for pref in list(&p["preferences"]) {
        only_keys(pref, &["spread"], &format!("{at}.preferences"))?;
        let Some(spread) = pref["spread"].as_str() else {
            bail!("{at}.preferences: each is spread: LABEL");
        };
        prefs.push(json!({"Spread": {"SpreadDescriptor": spread}}));
    }
    if !prefs.is_empty() {
        out.insert("Preferences".into(), json!(prefs));
    }
    if !p["max_replicas_per_node"].is_badvalue() {
        out.insert(
            "MaxReplicas".into(),
            json!(uint(
                &p["max_replicas_per_node"],
                &format!("{at}.max_replicas_per_node")
            )?),
        );
    }
    Ok(Some(Value::Object(out)))
}

fn resources(r: &Yaml, at: &str) -> Result<Option<Value>> {
    if r.is_badvalue() {
        return Ok(None);
    }
    only_keys(r, &["limits", "reservations"], at)?;
    let mut out = Map::new();
    for (key, field, allowed) in [
        ("limits", "Limits", &["cpus", "memory", "pids"][..]),
        ("reservations", "Reservations", &["cpus", "memory"][..]),
    ] {
        let y = &r[key];
        if y.is_badvalue() {
            continue;
        }
        let at = format!("{at}.{key}");
        only_keys(y, allowed, &at)?;
        let mut m = Map::new();
        if !y["cpus"].is_badvalue() {
            m.insert(
                "NanoCPUs".into(),
                json!(nano_cpus(&y["cpus"], &format!("{at}.cpus"))?),
            );
        }
        if !y["memory"].is_badvalue() {
            m.insert(
                "MemoryBytes".into(),
                json!(bytes(&y["memory"], &format!("{at}.memory"))?),
            );
        }
        if !y["pids"].is_badvalue() {
            m.insert(
                "Pids".into(),
                json!(uint(&y["pids"], &format!("{at}.pids"))?),
            );
        }
        out.insert(field.into(), Value::Object(m));
    }
    Ok(Some(Value::Object(out)))
}

/// `deploy.restart_policy`, else the `restart` key as docker reads it for a service.
fn restart_policy(s: &Yaml, at: &str) -> Result<Option<Value>> {
    let p = &s["deploy"]["restart_policy"];
    if p.is_badvalue() {
        let Some(restart) = scalar(&s["restart"]) else {
            return Ok(None);
        };
        let condition = match restart.split(':').next().unwrap_or("") {
            "no" => return Ok(None),
            "always" | "unless-stopped" => "any",
            "on-failure" => "on-failure",
            other => {
                bail!("{at}: restart '{other}' is not no, always, unless-stopped or on-failure")
            }
        };
        let mut out = json!({"Condition": condition});
        if let Some((_, n)) = restart.split_once(':') {
            let n: u64 = n
                .parse()
                .map_err(|_| anyhow!("{at}: restart '{restart}': the attempts are a number"))?;
            out["MaxAttempts"] = json!(n);
        }
        return Ok(Some(out));
    }
    let at = format!("{at}: deploy.restart_policy");
    only_keys(p, &["condition", "delay", "max_attempts", "window"], &at)?;
    let mut out = Map::new();
    if let Some(c) = p["condition"].as_str() {
        if !["none", "on-failure", "any"].contains(&c) {
            bail!("{at}.condition '{c}' is not none, on-failure or any");
        }
        out.insert("Condition".into(), json!(c));
    }
    if !p["delay"].is_badvalue() {
        out.insert(
            "Delay".into(),
            json!(duration_ns(&p["delay"], &format!("{at}.delay"))?),
        );
    }
    if !p["max_attempts"].is_badvalue() {
        out.insert(
            "MaxAttempts".into(),
            json!(uint(&p["max_attempts"], &format!("{at}.max_attempts"))?),
        );
    }
    if !p["window"].is_badvalue() {
        out.insert(
            "Window".into(),
            json!(duration_ns(&p["window"], &format!("{at}.window"))?),
        );
    }
    Ok(Some(Value::Object(out)))
}

fn update_config(u: &Yaml, at: &str) -> Result<Option<Value>> {
    if u.is_badvalue() {
        return Ok(None);
    }
    only_keys(
        u,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
        at,
    )?;
    let parallelism = match &u["parallelism"] {
        Yaml::BadValue => 1,
        y => uint(y, &format!("{at}.parallelism"))?,
    };
    let mut out = json!({"Parallelism": parallelism});
    if !u["delay"].is_badvalue() {
        out["Delay"] = json!(duration_ns(&u["delay"], &format!("{at}.delay"))?);
    }
    if !u["monitor"].is_badvalue() {
        out["Monitor"] = json!(duration_ns(&u["monitor"], &format!("{at}.monitor"))?);
    }
    if let Some(a) = u["failure_action"].as_str() {
        if !["continue", "pause", "rollback"].contains(&a) {
            bail!("{at}.failure_action '{a}' is not continue, pause or rollback");
        }
        out["FailureAction"] = json!(a);
    }
    if !u["max_failure_ratio"].is_badvalue() {
        out["MaxFailureRatio"] = json!(number(
            &u["max_failure_ratio"],
            &format!("{at}.max_failure_ratio")
        )?);
    }
    if let Some(o) = u["order"].as_str() {
        if !["stop-first", "start-first"].contains(&o) {
            bail!("{at}.order '{o}' is not stop-first or start-first");
        }
        out["Order"] = json!(o);
    }
    Ok(Some(out))
}

/// Published ports (`ports:`) and `deploy.endpoint_mode`.
fn endpoint(s: &Yaml, at: &str) -> Result<Option<Value>> {
    let mut out = Map::new();
    if let Some(m) = s["deploy"]["endpoint_mode"].as_str() {
        if m != "vip" && m != "dnsrr" {
            bail!("{at}: deploy.endpoint_mode '{m}' is not vip or dnsrr");
        }
        out.insert("Mode".into(), json!(m));
    }
    let mut ports = Vec::new();
    for (i, p) in list(&s["ports"]).iter().enumerate() {
        let at = format!("{at}: ports[{i}]");
        match p {
            Yaml::Hash(_) => ports.push(long_port(p, &at)?),
            _ => match scalar(p) {
                Some(text) => ports.extend(short_port(&text, &at)?),
                None => bail!("{at}: PUBLISHED:TARGET[/PROTO] or a mapping"),
            },
        }
    }
    if !ports.is_empty() {
        out.insert("Ports".into(), json!(ports));
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn long_port(p: &Yaml, at: &str) -> Result<Value> {
    only_keys(p, &["target", "published", "protocol", "mode"], at)?;
    let target = port_number(&p["target"], &format!("{at}: target"))?;
    let protocol = p["protocol"].as_str().unwrap_or("tcp");
    check_protocol(protocol, at)?;
    let mode = p["mode"].as_str().unwrap_or("ingress");
    if mode != "ingress" && mode != "host" {
        bail!("{at}: mode '{mode}' is not ingress or host");
    }
    let mut out = json!({"Protocol": protocol, "TargetPort": target, "PublishMode": mode});
    if !p["published"].is_badvalue() {
        out["PublishedPort"] = json!(port_number(&p["published"], &format!("{at}: published"))?);
    }
    Ok(out)
}

/// `80`, `8080:80`, `8000-8001:9000-9001/udp`, in ingress mode as docker publishes them.
fn short_port(text: &str, at: &str) -> Result<Vec<Value>> {
    let (body, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    check_protocol(protocol, at)?;
    let (published, target) = match body.split(':').collect::<Vec<_>>().as_slice() {
        [t] => (None, *t),
        [p, t] => (Some(*p), *t),
        _ => bail!(
            "{at}: '{text}': a host address is not supported by Swarm; write PUBLISHED:TARGET"
        ),
    };
    let targets = port_range(target, at)?;
    let published = published.map(|p| port_range(p, at)).transpose()?;
    if published.as_ref().is_some_and(|p| p.len() != targets.len()) {
        bail!("{at}: '{text}': the published and target ranges differ in length");
    }
    Ok(targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut p = json!({"Protocol": protocol, "TargetPort": t, "PublishMode": "ingress"});
            if let Some(published) = &published {
                p["PublishedPort"] = json!(published[i]);
            }
            p
        })
        .collect())
}

fn port_range(text: &str, at: &str) -> Result<Vec<u16>> {
    let bad = || anyhow!("{at}: '{text}' is not a port or a range of ports");
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a..=b).collect())
}

fn port_number(y: &Yaml, at: &str) -> Result<u16> {
    scalar(y)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow!("{at}: a port number (1-65535)"))
}

fn check_protocol(p: &str, at: &str) -> Result<()> {
    if ["tcp", "udp", "sctp"].contains(&p) {
        Ok(())
    } else {
        bail!("{at}: protocol '{p}' is not tcp, udp or sctp")
    }
}

fn healthcheck(h: &Yaml, at: &str) -> Result<Option<Value>> {
    if h.is_badvalue() {
        return Ok(None);
    }
    only_keys(
        h,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "disable",
        ],
        at,
    )?;
    if flag(&h["disable"], &format!("{at}.disable"))? {
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    let mut out = Map::new();
    match &h["test"] {
        Yaml::BadValue => {}
        Yaml::String(s) => {
            out.insert("Test".into(), json!(["CMD-SHELL", s]));
        }
        t => {
            out.insert("Test".into(), json!(strings(t, &format!("{at}.test"))?));
        }
    }
    for (key, field) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
    ] {
        if !h[key].is_badvalue() {
            out.insert(
                field.into(),
                json!(duration_ns(&h[key], &format!("{at}.{key}"))?),
            );
        }
    }
    if !h["retries"].is_badvalue() {
        out.insert(
            "Retries".into(),
            json!(uint(&h["retries"], &format!("{at}.retries"))?),
        );
    }
    Ok(Some(Value::Object(out)))
}

fn logging(l: &Yaml, at: &str) -> Result<Option<Value>> {
    if l.is_badvalue() {
        return Ok(None);
    }
    only_keys(l, &["driver", "options"], at)?;
    let Some(driver) = l["driver"].as_str() else {
        bail!("{at}: no driver");
    };
    let options = string_map(&l["options"], &format!("{at}.options"))?;
    Ok(Some(json!({"Name": driver, "Options": options})))
}

/// `host:ip` (compose) becomes `ip host` (the Engine's /etc/hosts line).
fn extra_hosts(y: &Yaml, at: &str) -> Result<Vec<String>> {
    let entries: Vec<(String, String)> = match y {
        Yaml::Hash(_) => string_map(y, at)?.into_iter().collect(),
        _ => strings(y, at)?
            .into_iter()
            .map(|e| match e.split_once(':') {
                Some((h, ip)) => Ok((h.to_string(), ip.to_string())),
                None => Err(anyhow!("{at}: '{e}' is not HOST:IP")),
            })
            .collect::<Result<_>>()?,
    };
    Ok(entries
        .into_iter()
        .map(|(h, ip)| format!("{ip} {h}"))
        .collect())
}

/// `KEY=value` entries, sorted as docker sorts them. A variable without a value would be taken
/// from the deploying shell; pfctl refuses it instead (naming the variable, never a value).
fn environment(y: &Yaml, at: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match y {
        Yaml::BadValue | Yaml::Null => {}
        Yaml::Hash(h) => {
            for (k, v) in h {
                let key = scalar(k).unwrap_or_default();
                match scalar(v) {
                    Some(v) => out.push(format!("{key}={v}")),
                    None => bail!("{at}: {key} has no value; write {key}: VALUE (pfctl does not take values from its own environment)"),
                }
            }
        }
        Yaml::Array(a) => {
            for e in a {
                let Some(e) = scalar(e) else {
                    bail!("{at}: entries are KEY=VALUE");
                };
                if !e.contains('=') {
                    bail!("{at}: {e} has no value; write {e}=VALUE (pfctl does not take values from its own environment)");
                }
                out.push(e);
            }
        }
        _ => bail!("{at}: a mapping or a list of KEY=VALUE"),
    }
    out.sort();
    Ok(out)
}

/// A command as a list of words: a list as written, a string split the way a shell would.
fn words(y: &Yaml, at: &str) -> Result<Vec<String>> {
    match y {
        Yaml::Array(_) => strings(y, at),
        Yaml::Null => Ok(Vec::new()),
        _ => match scalar(y) {
            Some(s) => shell_words(&s).map_err(|e| anyhow!("{at}: {e}")),
            None => bail!("{at}: a string or a list of strings"),
        },
    }
}

fn shell_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

// ---- YAML values ----

fn keys(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Hash(h) => h.keys().filter_map(scalar).collect(),
        _ => Vec::new(),
    }
}

/// (name, definition) of a top-level section; `name: {}` and `name:` both define one.
fn entries(y: &Yaml) -> Vec<(String, &Yaml)> {
    match y {
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn list(y: &Yaml) -> &[Yaml] {
    match y {
        Yaml::Array(a) => a,
        _ => &[],
    }
}

fn only_keys(y: &Yaml, allowed: &[&str], at: &str) -> Result<()> {
    match y {
        Yaml::BadValue | Yaml::Null => Ok(()),
        Yaml::Hash(_) => {
            for key in keys(y) {
                if !allowed.contains(&key.as_str()) && !key.starts_with("x-") {
                    bail!("{at}: '{key}' is not supported by pfctl's stack deploy (supported: {}); remove it", allowed.join(", "));
                }
            }
            Ok(())
        }
        _ => bail!("{at}: must be a mapping"),
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(y: &Yaml, at: &str) -> Result<Vec<String>> {
    match y {
        Yaml::BadValue | Yaml::Null => Ok(Vec::new()),
        Yaml::Array(a) => a
            .iter()
            .map(|v| scalar(v).ok_or_else(|| anyhow!("{at}: entries are strings")))
            .collect(),
        _ => scalar(y)
            .map(|s| vec![s])
            .ok_or_else(|| anyhow!("{at}: a string or a list of strings")),
    }
}

/// A mapping of strings, or a list of `KEY=VALUE` (labels, options).
fn string_map(y: &Yaml, at: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match y {
        Yaml::BadValue | Yaml::Null => {}
        Yaml::Hash(h) => {
            for (k, v) in h {
                let key = scalar(k).unwrap_or_default();
                out.insert(key, scalar(v).unwrap_or_default());
            }
        }
        Yaml::Array(a) => {
            for e in a {
                let e = scalar(e).ok_or_else(|| anyhow!("{at}: entries are KEY=VALUE"))?;
                let (k, v) = e.split_once('=').unwrap_or((&e, ""));
                out.insert(k.to_string(), v.to_string());
            }
        }
        _ => bail!("{at}: a mapping or a list of KEY=VALUE"),
    }
    Ok(out)
}

fn flag(y: &Yaml, at: &str) -> Result<bool> {
    match y {
        Yaml::BadValue | Yaml::Null => Ok(false),
        Yaml::Boolean(b) => Ok(*b),
        _ => bail!("{at}: true or false"),
    }
}

fn uint(y: &Yaml, at: &str) -> Result<u64> {
    scalar(y)
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow!("{at}: a whole number of 0 or more"))
}

fn number(y: &Yaml, at: &str) -> Result<f64> {
    scalar(y)
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| anyhow!("{at}: a number"))
}

/// `0.5` cpus as the Engine's billionths of a CPU.
fn nano_cpus(y: &Yaml, at: &str) -> Result<i64> {
    Ok((number(y, at)? * 1e9).round() as i64)
}

/// A file mode. YAML 1.1 (docker's reader) reads `0440` as octal; yaml-rust2 (YAML 1.2) reads it
/// as 440. Modes are written in octal in practice, so digits that are all octal are read as octal.
fn file_mode(y: &Yaml, at: &str) -> Result<u32> {
    let bad = || anyhow!("{at}: a file mode such as 0440");
    let text = scalar(y).ok_or_else(bad)?;
    let text = text.trim_start_matches("0o");
    let mode = if text.chars().all(|c| ('0'..='7').contains(&c)) {
        u32::from_str_radix(text, 8).map_err(|_| bad())?
    } else {
        text.parse::<u32>().map_err(|_| bad())?
    };
    if mode > 0o777 {
        return Err(bad());
    }
    Ok(mode)
}

/// `512M`, `2g`, `1gb` or a number of bytes, 1024-based as docker reads them.
fn bytes(y: &Yaml, at: &str) -> Result<i64> {
    let bad = || anyhow!("{at}: a size such as 512M or 2G");
    let text = scalar(y).ok_or_else(bad)?.trim().to_ascii_lowercase();
    let text = text.strip_suffix('b').unwrap_or(&text);
    let text = text.strip_suffix('i').unwrap_or(text);
    let (num, mult) = match text.chars().last() {
        Some('k') => (&text[..text.len() - 1], 1i64 << 10),
        Some('m') => (&text[..text.len() - 1], 1 << 20),
        Some('g') => (&text[..text.len() - 1], 1 << 30),
        Some('t') => (&text[..text.len() - 1], 1 << 40),
        Some('p') => (&text[..text.len() - 1], 1 << 50),
        _ => (text, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

/// A Go duration (`10s`, `1m30s`, `500ms`, `1.5h`) in nanoseconds.
fn duration_ns(y: &Yaml, at: &str) -> Result<i64> {
    let bad = || anyhow!("{at}: a duration such as 10s, 1m30s or 500ms");
    let text = match y {
        Yaml::String(s) => s.trim().to_string(),
        _ => return Err(bad()),
    };
    if text == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = text.as_str();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * unit;
        rest = &rest[unit_len..];
    }
    Ok(total.round() as i64)
}

fn is_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

// ---- deploying ----

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Network,
    Secret,
    Config,
    Service,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub name: String,
    pub result: Change,
    /// For an updated service: where it differed (paths, never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeployReport {
    pub stack: String,
    pub items: Vec<Item>,
    pub ignored: Vec<Ignored>,
}

impl DeployReport {
    pub fn unchanged(&self) -> bool {
        self.items.iter().all(|i| i.result == Change::Unchanged)
    }
    pub fn item(&self, kind: ItemKind, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.kind == kind && i.name == name)
    }
}

/// Translates the compose files and deploys the result through `conn`, a manager's agent.
pub async fn deploy(
    conn: &AgentConn,
    meta: &ActionMeta,
    stack: &str,
    files: &[ComposeFile],
) -> Result<DeployReport> {
    let plan = translate(stack, files)?;
    apply(conn, meta, &plan).await
}

/// Networks, then secrets and configs, then the services in the plan's order. Stops at the first
/// failure; what was done before it stays (a later deploy finds it unchanged).
pub async fn apply(conn: &AgentConn, meta: &ActionMeta, plan: &Plan) -> Result<DeployReport> {
    let mut report = DeployReport {
        stack: plan.stack.clone(),
        items: Vec::new(),
        ignored: plan.ignored.clone(),
    };
    for n in &plan.networks {
        let params = NetworkEnsureParams {
            meta: meta.clone(),
            name: n.name.clone(),
            driver: n.driver.clone(),
            labels: n.labels.clone(),
            attachable: n.attachable,
            internal: n.internal,
            options: n.options.clone(),
            subnets: n.subnets.clone(),
        };
        let r: EnsureResult = step(
            &report,
            ItemKind::Network,
            &n.name,
            method::NETWORK_ENSURE,
            conn,
            &params,
        )
        .await?;
        report.items.push(ensured(ItemKind::Network, r));
    }
    for (kind, defs, name) in [
        (ItemKind::Secret, &plan.secrets, method::SECRET_ENSURE),
        (ItemKind::Config, &plan.configs, method::CONFIG_ENSURE),
    ] {
        for d in defs {
            let params = ObjectEnsureParams {
                meta: meta.clone(),
                name: d.name.clone(),
                labels: d.labels.clone(),
                file: d.file.clone(),
            };
            let r: EnsureResult = step(&report, kind, &d.name, name, conn, &params).await?;
            report.items.push(ensured(kind, r));
        }
    }
    for s in &plan.services {
        let name = s.spec["Name"].as_str().unwrap_or(&s.service).to_string();
        let params = ServiceApplyParams {
            meta: meta.clone(),
            spec: s.spec.clone(),
        };
        let r: ServiceApplyResult = step(
            &report,
            ItemKind::Service,
            &name,
            method::SERVICE_APPLY,
            conn,
            &params,
        )
        .await?;
        report.items.push(Item {
            kind: ItemKind::Service,
            name: r.name,
            result: match r.outcome {
                Applied::Created => Change::Created,
                Applied::Updated => Change::Updated,
                Applied::Unchanged => Change::Unchanged,
            },
            changed: r.changed,
            warnings: r.warnings,
        });
    }
    Ok(report)
}

fn ensured(kind: ItemKind, r: EnsureResult) -> Item {
    Item {
        kind,
        name: r.name,
        result: match r.outcome {
            Ensured::Created => Change::Created,
            Ensured::LabelsUpdated => Change::Updated,
            Ensured::Already => Change::Unchanged,
        },
        changed: Vec::new(),
        warnings: Vec::new(),
    }
}

/// One agent call of a deploy; its error names the item and what was done before it.
async fn step<P: Serialize, T: DeserializeOwned>(
    done: &DeployReport,
    kind: ItemKind,
    name: &str,
    method: &str,
    conn: &AgentConn,
    params: &P,
) -> Result<T> {
    let params = serde_json::to_value(params)?;
    let r = match tokio::time::timeout(CALL_DEADLINE, conn.call::<T>(method, params)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {}s", CALL_DEADLINE.as_secs())),
    };
    r.map_err(|e| {
        let kind = serde_json::to_value(kind).ok();
        let kind = kind.as_ref().and_then(Value::as_str).unwrap_or("item");
        let before = if done.items.is_empty() {
            "nothing".to_string()
        } else {
            done.items
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        anyhow!(
            "stack {}: {kind} {name}: {e}. Done before it: {before}; fix the cause and deploy again (what is in place is kept)",
            done.stack
        )
    })
}

// ---- convergence ----

/// A service of the stack as the swarm runs it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceProgress {
    pub service: String,
    /// `replicated` or `global`.
    pub mode: String,
    /// Replicated services only.
    pub desired: Option<u64>,
    /// Tasks meant to run that run.
    pub running: u64,
    /// Tasks meant to run that do not run yet (pending, preparing, starting, or failing).
    pub starting: u64,
    /// The newest task error, e.g. `No such image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl ServiceProgress {
    fn of(s: &ServiceView) -> ServiceProgress {
        let meant: Vec<_> = s
            .tasks
            .iter()
            .filter(|t| t.desired_state == "running")
            .collect();
        let running = meant.iter().filter(|t| t.state == "running").count() as u64;
        ServiceProgress {
            service: s.name.clone(),
            mode: s.mode.clone(),
            desired: s.desired,
            running,
            starting: meant.len() as u64 - running,
            last_error: s
                .tasks
                .iter()
                .find_map(|t| t.error.clone().filter(|e| !e.is_empty())),
        }
    }

    /// Replicated: as many running as asked. Global: every task meant to run runs (the swarm
    /// makes one per eligible node).
    pub fn converged(&self) -> bool {
        self.starting == 0
            && match self.desired {
                Some(d) => self.running == d,
                None => self.running > 0,
            }
    }

    /// `web 2/3` (`web 2 running` for a global service), plus the last error when not done.
    pub fn line(&self) -> String {
        let count = match self.desired {
            Some(d) => format!("{}/{d}", self.running),
            None => format!("{} running", self.running),
        };
        match &self.last_error {
            Some(e) => format!("{} {count} (last task error: {e})", self.service),
            None => format!("{} {count}", self.service),
        }
    }
}

/// Waits until every service of the stack runs as asked, seen twice in a row (a service updated
/// a moment ago may still show its old tasks running), calling `progress` whenever a service's
/// counts change. Asks `swarm.inspect` of the manager behind `conn`.
pub async fn converge(
    conn: &AgentConn,
    stack: &str,
    timeout: Duration,
    progress: impl FnMut(&[ServiceProgress]),
) -> Result<Vec<ServiceProgress>> {
    let in_stack = |s: &ServiceView| s.labels.get(STACK_LABEL).map(String::as_str) == Some(stack);
    converge_where(conn, in_stack, timeout, progress)
        .await
        .map_err(|pending| {
            let pending = if pending.is_empty() {
                vec![format!("no service carries the label {STACK_LABEL}={stack}")]
            } else {
                pending
            };
            anyhow!(
                "stack {stack} has not converged after {}s: {}. See `docker stack ps {stack} --no-trunc` on a manager",
                timeout.as_secs(),
                pending.join("; ")
            )
        })
}

/// [`converge`] for the services named, whatever stack (if any) they belong to.
pub async fn converge_services(
    conn: &AgentConn,
    names: &[String],
    timeout: Duration,
    progress: impl FnMut(&[ServiceProgress]),
) -> Result<Vec<ServiceProgress>> {
    let named = |s: &ServiceView| names.contains(&s.name);
    converge_where(conn, named, timeout, progress)
        .await
        .map_err(|pending| {
            let pending = if pending.is_empty() {
                vec![format!("none of {} exists", names.join(", "))]
            } else {
                pending
            };
            anyhow!(
                "not converged after {}s: {}. See `docker service ps --no-trunc` on a manager",
                timeout.as_secs(),
                pending.join("; ")
            )
        })
}

/// Polls until the selected services have converged twice in a row. `Err(lines)`: the
/// services still pending when `timeout` ran out (empty: none selected), or the one line saying
/// why the swarm could not be asked.
async fn converge_where(
    conn: &AgentConn,
    select: impl Fn(&ServiceView) -> bool,
    timeout: Duration,
    mut progress: impl FnMut(&[ServiceProgress]),
) -> std::result::Result<Vec<ServiceProgress>, Vec<String>> {
    let start = Instant::now();
    let mut last: Vec<ServiceProgress> = Vec::new();
    let mut steady = false;
    loop {
        let view = swarm(conn).await.map_err(|e| vec![format!("{e:#}")])?;
        let (now, done) = progress_of(&view, &select);
        if now != last {
            progress(&now);
        }
        if done && steady {
            return Ok(now);
        }
        steady = done;
        if start.elapsed() >= timeout {
            return Err(now.iter().map(ServiceProgress::line).collect());
        }
        last = now;
        tokio::time::sleep(POLL).await;
    }
}

/// The selected services (by name) and whether all have converged.
fn progress_of(
    view: &SwarmView,
    select: impl Fn(&ServiceView) -> bool,
) -> (Vec<ServiceProgress>, bool) {
    let mut services: Vec<&ServiceView> = view.services.iter().filter(|s| select(s)).collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let mut all = !services.is_empty();
    let out = services
        .into_iter()
        .map(|s| {
            let p = ServiceProgress::of(s);
            all &= p.converged();
            p
        })
        .collect();
    (out, all)
}

/// What a manager sees of the swarm, within the call deadline; an error when it sees none.
pub(crate) async fn swarm(conn: &AgentConn) -> Result<SwarmView> {
    let call = conn.call::<SwarmView>(method::SWARM_INSPECT, Value::Null);
    let view = match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(v) => v?,
        Err(_) => bail!(
            "swarm.inspect: no answer within {}s",
            CALL_DEADLINE.as_secs()
        ),
    };
    if let Some(e) = &view.error {
        bail!("cannot see the swarm through this node: {e}; ask a manager");
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack")
    }

    fn file(path: &str, text: &str) -> ComposeFile {
        ComposeFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Compares with the stored translation; `PFCTL_BLESS=1` stores the new one (check the diff).
    fn golden(name: &str, plan: &Plan) {
        let path = fixtures().join(name);
        let got = serde_json::to_string_pretty(plan).unwrap() + "\n";
        if std::env::var_os("PFCTL_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "{} differs from this translation (after checking it, store it with PFCTL_BLESS=1):\n{got}",
            path.display()
        );
    }

    /// The compose text tests/cluster/demo-stack writes to the nodes.
    fn demo_compose() -> String {
        let script = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/demo-stack"),
        )
        .unwrap();
        let start = script.find("COMPOSE='").expect("COMPOSE= in demo-stack") + "COMPOSE='".len();
        let len = script[start..].find("\n'").expect("the closing quote") + 1;
        script[start..start + len].to_string()
    }

    fn powerflow() -> Vec<ComposeFile> {
        let read = |n: &str| std::fs::read_to_string(fixtures().join(n)).unwrap();
        vec![
            file(
                "/opt/iservices/scripts/docker-compose.yml",
                &read("powerflow.yml"),
            ),
            file(
                "/opt/iservices/scripts/docker-compose-override.yml",
                &read("powerflow-override.yml"),
            ),
        ]
    }

    fn refusal(text: &str) -> String {
        translate("s", &[file("/c/docker-compose.yml", text)])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_demo_stack_translates_as_stored() {
        let plan = translate(
            "pfdemo",
            &[file("/etc/iservices/docker-compose.yml", &demo_compose())],
        )
        .unwrap();
        golden("demo-stack.json", &plan);
        let web = &plan.services[0].spec;
        assert_eq!(web["Name"], "pfdemo_web");
        assert_eq!(web["Labels"][STACK_LABEL], "pfdemo");
        assert_eq!(
            web["TaskTemplate"]["Networks"][0]["Target"],
            "pfdemo_default"
        );
        assert_eq!(plan.networks.len(), 1, "only the default network is used");
    }

    #[test]
    fn a_powerflow_like_stack_translates_as_stored() {
        let plan = translate("iservices", &powerflow()).unwrap();
        golden("powerflow.json", &plan);
        let names: Vec<&str> = plan.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(
            names,
            [
                "couchbase",
                "gui",
                "contentapi",
                "steprunner",
                "syncpacks_steprunner",
                "pypiserver",
                "dexserver",
                "redis"
            ],
            "the files' order, the override's new service last"
        );
        let nets: Vec<&str> = plan.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            nets,
            ["iservices_isnet", "iservices_default"],
            "used networks only"
        );
        assert_eq!(plan.networks[0].subnets, ["172.21.0.0/16"]);
        let secret_files: Vec<&str> = plan.secrets.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            secret_files,
            [
                "/etc/iservices/is_pass",
                "/opt/iservices/scripts/encryption_key"
            ]
        );
        let ignored: Vec<(&str, &str)> = plan
            .ignored
            .iter()
            .map(|i| (i.service.as_str(), i.key.as_str()))
            .collect();
        assert_eq!(
            ignored,
            [("couchbase", "container_name"), ("gui", "depends_on")]
        );
    }

    #[test]
    fn service_details_follow_docker_stack_deploy() {
        let plan = translate("iservices", &powerflow()).unwrap();
        let spec = |n: &str| {
            plan.services
                .iter()
                .find(|s| s.service == n)
                .unwrap()
                .spec
                .clone()
        };
        let steprunner = spec("steprunner");
        assert_eq!(
            steprunner["Mode"]["Replicated"]["Replicas"], 5,
            "the override's replicas"
        );
        assert_eq!(
            steprunner["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"],
            2i64 << 30,
            "merged in from the anchor"
        );
        assert_eq!(
            steprunner["TaskTemplate"]["ContainerSpec"]["Args"],
            json!([
                "celery",
                "worker",
                "-A",
                "ipaascommon.celeryapp:app",
                "--concurrency",
                "10",
                "-l",
                "info"
            ])
        );
        let secrets = &steprunner["TaskTemplate"]["ContainerSpec"]["Secrets"];
        assert_eq!(secrets[1]["File"]["Mode"], 0o400);
        assert_eq!(secrets[1]["SecretName"], "iservices_encryption_key");
        assert_eq!(spec("syncpacks_steprunner")["Mode"], json!({"Global": {}}));
        let api = spec("contentapi");
        assert_eq!(
            api["TaskTemplate"]["ContainerSpec"]["Env"],
            json!([
                "PRICE=$5",
                "db_host=couchbase.isnet,couchbase-worker.isnet",
                "result_backend=redis://redis:6379/0"
            ])
        );
        assert_eq!(
            api["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"],
            1_500_000_000i64
        );
        let couchbase = spec("couchbase");
        assert_eq!(
            couchbase["EndpointSpec"]["Ports"],
            json!([
                {"Protocol": "tcp", "TargetPort": 8091, "PublishedPort": 8091, "PublishMode": "host"},
                {"Protocol": "tcp", "TargetPort": 11210, "PublishedPort": 11210, "PublishMode": "ingress"}
            ])
        );
        assert_eq!(
            couchbase["TaskTemplate"]["Networks"],
            json!([{"Target": "iservices_isnet", "Aliases": ["couchbase.isnet", "couchbase"]}])
        );
        let pypi = spec("pypiserver");
        assert_eq!(
            pypi["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Source"],
            "iservices_devpi"
        );
        assert_eq!(
            pypi["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["Labels"],
            json!({STACK_LABEL: "iservices", "purpose": "packages"})
        );
        let gui = spec("gui");
        assert_eq!(
            gui["TaskTemplate"]["ContainerSpec"]["Mounts"][0],
            json!({"Type": "bind", "Source": "/opt/iservices/scripts/is_cert.pem", "Target": "/etc/iservices/is_cert.pem", "ReadOnly": true})
        );
        assert_eq!(
            gui["UpdateConfig"],
            json!({"Parallelism": 1, "Delay": 10_000_000_000i64, "Order": "start-first"})
        );
        let dex = spec("dexserver");
        assert_eq!(
            dex["TaskTemplate"]["RestartPolicy"],
            json!({"Condition": "any"})
        );
        assert_eq!(dex["EndpointSpec"], json!({"Mode": "dnsrr"}));
    }

    #[test]
    fn unsupported_keys_are_refused_by_service_and_name() {
        let e = refusal("services:\n  web:\n    image: x\n    env_file: web.env\n");
        assert!(e.contains("service web") && e.contains("'env_file'"), "{e}");
        let e = refusal(
            "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          devices: []\n",
        );
        assert!(
            e.contains("service web: deploy.resources.reservations") && e.contains("'devices'"),
            "{e}"
        );
        let e = refusal(
            "services:\n  web:\n    image: x\n    deploy:\n      mode: global\n      replicas: 2\n",
        );
        assert!(
            e.contains("service web: deploy.replicas only applies to mode replicated"),
            "{e}"
        );
        let e = refusal("services:\n  web:\n    image: x\nextensions: {}\n");
        assert!(e.contains("top-level key 'extensions'"), "{e}");
    }

    #[test]
    fn references_must_be_declared() {
        for (text, want) in [
            (
                "services:\n  web:\n    image: x\n    networks: [back]\n",
                "network 'back' is not declared",
            ),
            (
                "services:\n  web:\n    image: x\n    secrets: [pw]\n",
                "secret 'pw' is not declared",
            ),
            (
                "services:\n  web:\n    image: x\n    volumes: ['data:/d']\n",
                "volume 'data' is not declared",
            ),
            ("services:\n  web:\n    build: .\n", "service web: no image"),
        ] {
            let e = refusal(text);
            assert!(e.contains(want), "{want} in {e}");
        }
    }

    #[test]
    fn interpolation_is_refused_without_showing_the_value() {
        let e = refusal(
            "services:\n  web:\n    image: x\n    environment:\n      PASSWORD: \"s3cret${PW}\"\n",
        );
        assert!(
            e.contains("services.web.environment.PASSWORD: a $NAME"),
            "{e}"
        );
        assert!(!e.contains("s3cret") && !e.contains("PW}"), "{e}");
        let e = refusal("services:\n  web:\n    image: x\n    environment:\n      - TOKEN\n");
        assert!(e.contains("TOKEN has no value"), "{e}");
    }

    #[test]
    fn external_objects_keep_their_names_and_are_not_made() {
        let plan = translate(
            "s",
            &[file(
                "/c/dc.yml",
                "services:\n  web:\n    image: x\n    networks: [ext]\n    secrets: [pw]\nnetworks:\n  ext:\n    external: true\n    name: shared_net\nsecrets:\n  pw:\n    external: true\n",
            )],
        )
        .unwrap();
        assert!(plan.networks.is_empty() && plan.secrets.is_empty());
        let c = &plan.services[0].spec["TaskTemplate"];
        assert_eq!(c["Networks"][0]["Target"], "shared_net");
        assert_eq!(c["ContainerSpec"]["Secrets"][0]["SecretName"], "pw");
    }

    #[test]
    fn value_forms() {
        let d = |s: &str| duration_ns(&Yaml::String(s.into()), "t").unwrap();
        assert_eq!(d("1m30s"), 90_000_000_000);
        assert_eq!(d("500ms"), 500_000_000);
        assert_eq!(d("1.5h"), 5_400_000_000_000);
        assert!(duration_ns(&Yaml::String("10 seconds".into()), "t").is_err());
        let b = |s: &str| bytes(&Yaml::String(s.into()), "t").unwrap();
        assert_eq!(b("512M"), 512 << 20);
        assert_eq!(b("1gb"), 1 << 30);
        assert_eq!(bytes(&Yaml::Integer(1024), "t").unwrap(), 1024);
        assert_eq!(file_mode(&Yaml::Integer(440), "t").unwrap(), 0o440);
        assert_eq!(file_mode(&Yaml::Integer(0o444), "t").unwrap(), 0o444);
        assert!(file_mode(&Yaml::Integer(1777), "t").is_err());
        assert_eq!(
            shell_words(r#"sh -c "echo \"hi\" there" 'a b'"#).unwrap(),
            ["sh", "-c", "echo \"hi\" there", "a b"]
        );
        assert!(shell_words("echo 'open").is_err());
        assert_eq!(join_path("/etc/iservices", "../x/./y"), "/etc/x/y");
        assert_eq!(
            short_port("8000-8001:9000-9001/udp", "t").unwrap()[1],
            json!({"Protocol": "udp", "TargetPort": 9001, "PublishedPort": 8001, "PublishMode": "ingress"})
        );
        assert!(short_port("127.0.0.1:80:80", "t")
            .unwrap_err()
            .to_string()
            .contains("host address"));
    }

    #[test]
    fn convergence_counts_tasks_meant_to_run() {
        use pfproto::probe::TaskView;
        let task = |state: &str, desired: &str| TaskView {
            state: state.into(),
            desired_state: desired.into(),
            ..Default::default()
        };
        let svc = |name: &str, desired: Option<u64>, tasks: Vec<TaskView>| ServiceView {
            name: name.into(),
            mode: if desired.is_some() {
                "replicated"
            } else {
                "global"
            }
            .into(),
            desired,
            labels: BTreeMap::from([(STACK_LABEL.to_string(), "s".to_string())]),
            tasks,
            ..Default::default()
        };
        let mut view = SwarmView {
            services: vec![
                svc(
                    "s_web",
                    Some(2),
                    vec![
                        task("running", "running"),
                        task("running", "running"),
                        task("shutdown", "shutdown"),
                    ],
                ),
                svc("s_agent", None, vec![task("running", "running")]),
                svc("other", Some(1), vec![]),
            ],
            ..Default::default()
        };
        view.services[2].labels.clear();
        let (p, done) = progress_of(&view, |s| {
            s.labels.get(STACK_LABEL).map(String::as_str) == Some("s")
        });
        assert!(done, "{p:?}");
        assert_eq!(
            p.iter().map(|p| p.service.as_str()).collect::<Vec<_>>(),
            ["s_agent", "s_web"]
        );
        view.services[0].tasks[1] = task("preparing", "running");
        view.services[0].tasks[1].error = Some("No such image: x".into());
        let (p, done) = progress_of(&view, |s| {
            s.labels.get(STACK_LABEL).map(String::as_str) == Some("s")
        });
        assert!(!done);
        assert_eq!(p[1].line(), "s_web 1/2 (last task error: No such image: x)");
    }
}
