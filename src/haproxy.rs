//! An HAProxy configuration that balances the platform's ports over the cluster's swarm managers,
//! in the shape of the PowerFlow manual's template ("HAProxy Configuration (Optional)"): TCP
//! frontends, round-robin backends with one checked server per manager. The frontends come from
//! the profile's `[haproxy]` table; the servers from the swarm (see `commands::haproxy`).

use anyhow::{bail, Result};
use pfproto::probe::SwarmView;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

/// A profile's `[haproxy]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Connections haproxy accepts at once (the template's 6000).
    #[serde(default = "default_maxconn")]
    pub maxconn: u32,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub frontends: Vec<Frontend>,
}

fn default_maxconn() -> u32 {
    6000
}

/// HAProxy time values (`5s`, `1m`, `500ms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "default_connect")]
    pub connect: String,
    #[serde(default = "default_minute")]
    pub client: String,
    #[serde(default = "default_minute")]
    pub server: String,
    #[serde(default = "default_minute")]
    pub queue: String,
    #[serde(default = "default_check")]
    pub check: String,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: default_connect(),
            client: default_minute(),
            server: default_minute(),
            queue: default_minute(),
            check: default_check(),
        }
    }
}

// The template waits a minute to connect; a manager that does not accept within 5 s is better
// skipped for the next one (`option redispatch`) than waited for.
fn default_connect() -> String {
    "5s".into()
}

fn default_minute() -> String {
    "1m".into()
}

fn default_check() -> String {
    "10s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frontend {
    /// `http` becomes `frontend http_front` and `backend http_back`.
    pub name: String,
    /// Ports haproxy listens on (all addresses).
    pub bind: Vec<u16>,
    /// The managers' port. Absent: each connection goes on to the port it came in on (80 to 80,
    /// 443 to 443).
    #[serde(default)]
    pub port: Option<u16>,
    /// Where health checks go when `port` is absent (default: the first `bind` port).
    #[serde(default)]
    pub check_port: Option<u16>,
    /// Plain HTTP behind it: haproxy reads the requests, so one that fails on a server going
    /// away (refused, reset, no answer; a task stopped by a rolling update) is sent again to
    /// another server instead of failing. TLS passed through must stay TCP.
    #[serde(default)]
    pub http: bool,
}

/// One backend server: a swarm manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The node's hostname as the swarm knows it; the server's name in every backend.
    pub name: String,
    /// IP address or DNS name.
    pub addr: String,
    /// Written as a comment above the server line (e.g. that it was down).
    pub note: Option<String>,
}

/// The managers of a swarm view, one per hostname, in hostname order. A node that left and came
/// back appears twice under one hostname; its live entry (ready) is the one kept. Managers whose
/// address the swarm does not know (empty or 0.0.0.0) get `addr_of(hostname)` instead, or an
/// empty address that [`render`] refuses by name.
pub fn managers(view: &SwarmView, addr_of: impl Fn(&str) -> Option<String>) -> Vec<Server> {
    let mut nodes: Vec<_> = view.nodes.iter().filter(|n| n.role == "manager").collect();
    // Ready entries first within a hostname, so the dedup below keeps them.
    nodes.sort_by_key(|n| (n.hostname.clone(), n.state != "ready"));
    nodes.dedup_by(|later, first| later.hostname == first.hostname);
    nodes
        .into_iter()
        .map(|n| {
            let known = n
                .addr
                .parse::<IpAddr>()
                .map(|ip| !ip.is_unspecified())
                .unwrap_or(!n.addr.is_empty());
            let addr = if known {
                n.addr.clone()
            } else {
                addr_of(&n.hostname).unwrap_or_default()
            };
            let unreachable = n.manager_reachability.as_deref() == Some("unreachable");
            let note = (n.state != "ready" || unreachable).then(|| {
                format!(
                    "{} was {} ({}) when this was written; its check keeps it out until it answers",
                    n.hostname,
                    word(&n.state),
                    word(n.manager_reachability.as_deref().unwrap_or("unknown")),
                )
            });
            Server {
                name: n.hostname.clone(),
                addr,
                note,
            }
        })
        .collect()
}

/// A state word from the swarm, kept to characters that cannot break a comment line.
fn word(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The configuration text. `source` says where the servers came from (written in the header).
/// Everything that ends up in the file is checked first: a name or address haproxy would read
/// differently (a space, a newline, a `#`) is refused, naming it.
pub fn render(cfg: &Config, profile: &str, servers: &[Server], source: &str) -> Result<String> {
    validate(cfg, servers)?;
    comment_safe("the profile name", profile)?;
    comment_safe("the servers' source", source)?;
    let mut out = String::new();
    let t = &cfg.timeouts;
    // `write!` to a String cannot fail.
    let _ = write!(
        out,
        "# HAProxy configuration for the cluster's swarm managers (pfctl haproxy-config, profile {profile}).\n\
         # Servers: {source}.\n\
         # Check it with `haproxy -c -f FILE` before reloading haproxy.\n\
         \n\
         global\n    log /dev/log local0\n    maxconn {max}\n\
         \n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n    \
         option redispatch\n    retries 3\n    maxconn {max}\n    \
         timeout connect {connect}\n    timeout client {client}\n    timeout server {server}\n    \
         timeout queue {queue}\n    timeout check {check}\n",
        max = cfg.maxconn,
        connect = t.connect,
        client = t.client,
        server = t.server,
        queue = t.queue,
        check = t.check,
    );
    // The template's `tcp-request inspect-delay 5s` is left out: it only matters with
    // `tcp-request content` rules, and there are none.
    for f in &cfg.frontends {
        let _ = write!(out, "\nfrontend {}_front\n", f.name);
        for port in &f.bind {
            let _ = writeln!(out, "    bind *:{port}");
        }
        let mode = if f.http {
            "    mode http\n    option httplog\n"
        } else {
            "    mode tcp\n    option tcplog\n"
        };
        let _ = writeln!(out, "{mode}    default_backend {}_back", f.name);
    }
    for f in &cfg.frontends {
        let _ = write!(out, "\nbackend {}_back\n", f.name);
        if f.http {
            // Retried requests go to another server each time (redispatch 1), not the same one.
            let _ = write!(
                out,
                "    mode http\n    balance roundrobin\n    option redispatch 1\n    \
                 retry-on conn-failure empty-response response-timeout\n"
            );
        } else {
            let _ = write!(out, "    mode tcp\n    balance roundrobin\n");
        }
        for s in servers {
            if let Some(note) = &s.note {
                let _ = writeln!(out, "    # {note}");
            }
            let _ = writeln!(out, "    {}", server_line(s, f));
        }
    }
    Ok(out)
}

fn server_line(s: &Server, f: &Frontend) -> String {
    let host = match s.addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => s.addr.clone(),
    };
    match f.port {
        Some(port) => format!("server {} {host}:{port} check", s.name),
        // No port on the server: haproxy connects to the port the client connected to.
        None => format!(
            "server {} {host} check port {}",
            s.name,
            f.check_port.unwrap_or(f.bind[0])
        ),
    }
}

fn validate(cfg: &Config, servers: &[Server]) -> Result<()> {
    if cfg.maxconn == 0 {
        bail!("[haproxy] maxconn must be above 0");
    }
    let t = &cfg.timeouts;
    for (key, value) in [
        ("connect", &t.connect),
        ("client", &t.client),
        ("server", &t.server),
        ("queue", &t.queue),
        ("check", &t.check),
    ] {
        if !is_haproxy_time(value) {
            bail!(
                "[haproxy.timeouts] {key} = {value:?} is not an HAProxy time: digits and a unit (us, ms, s, m, h, d), e.g. \"5s\""
            );
        }
    }
    validate_frontends(&cfg.frontends)?;
    validate_servers(servers)
}

fn validate_frontends(frontends: &[Frontend]) -> Result<()> {
    if frontends.is_empty() {
        bail!("[haproxy] has no frontends: add [[haproxy.frontends]] with a name and bind ports");
    }
    let mut names = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for f in frontends {
        let name_ok = !f.name.is_empty()
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            bail!(
                "haproxy frontend name {:?}: use letters, digits, '_' and '-' only",
                f.name
            );
        }
        if !names.insert(&f.name) {
            bail!("haproxy frontend {:?} is defined twice", f.name);
        }
        if f.bind.is_empty() {
            bail!(
                "haproxy frontend {:?} binds no port: give bind = [PORT, ...]",
                f.name
            );
        }
        for &p in f.bind.iter().chain(&f.port).chain(&f.check_port) {
            if p == 0 {
                bail!("haproxy frontend {:?}: port 0 is not a port", f.name);
            }
        }
        for &p in &f.bind {
            if !ports.insert(p) {
                bail!(
                    "haproxy frontend {:?}: port {p} is bound by another frontend too",
                    f.name
                );
            }
        }
    }
    Ok(())
}

fn validate_servers(servers: &[Server]) -> Result<()> {
    if servers.is_empty() {
        bail!("no swarm managers to balance over: the backends would be empty");
    }
    let mut names = BTreeSet::new();
    for s in servers {
        let name_ok = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
        if !name_ok {
            bail!(
                "node name {:?} cannot be an HAProxy server name (letters, digits, '.', '_', ':' and '-' only); rename the node or leave it out with --limit",
                s.name
            );
        }
        if !names.insert(&s.name) {
            bail!("node name {:?} appears twice among the managers", s.name);
        }
        check_addr(s)?;
        if let Some(note) = &s.note {
            comment_safe(&format!("the note on {}", s.name), note)?;
        }
    }
    Ok(())
}

fn check_addr(s: &Server) -> Result<()> {
    if s.addr.is_empty() {
        bail!(
            "node {}: the swarm does not know its address and the inventory has none; give it a host in the inventory",
            s.name
        );
    }
    match s.addr.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => {
            bail!(
                "node {}: address {} is no address to connect to",
                s.name,
                s.addr
            )
        }
        Ok(_) => Ok(()),
        Err(_) if is_dns_name(&s.addr) => Ok(()),
        Err(_) => bail!(
            "node {}: address {:?} is neither an IP address nor a DNS name",
            s.name,
            s.addr
        ),
    }
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_haproxy_time(s: &str) -> bool {
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && ["", "us", "ms", "s", "m", "h", "d"].contains(&&s[digits..])
}

/// Text written into a comment line must stay on that line.
fn comment_safe(what: &str, text: &str) -> Result<()> {
    if text.chars().any(char::is_control) {
        bail!("{what} {text:?} holds a control character (a newline?) and cannot be written into the configuration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfproto::probe::SwarmNode;

    fn cfg() -> Config {
        crate::profile::load("powerflow", None)
            .unwrap()
            .haproxy
            .expect("powerflow has [haproxy]")
    }

    fn three() -> Vec<Server> {
        (1..=3)
            .map(|n| Server {
                name: format!("node{n}"),
                addr: format!("10.2.11.{}", 220 + n),
                note: None,
            })
            .collect()
    }

    const GOLDEN: &str = "\
# HAProxy configuration for the cluster's swarm managers (pfctl haproxy-config, profile powerflow).
# Servers: the swarm's managers as node1 sees them.
# Check it with `haproxy -c -f FILE` before reloading haproxy.

global
    log /dev/log local0
    maxconn 6000

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    option redispatch
    retries 3
    maxconn 6000
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    timeout queue 1m
    timeout check 10s

frontend http_front
    bind *:80
    bind *:443
    mode tcp
    option tcplog
    default_backend http_back

frontend dex_front
    bind *:5556
    mode tcp
    option tcplog
    default_backend dex_back

frontend devpi_front
    bind *:3141
    mode tcp
    option tcplog
    default_backend devpi_back

backend http_back
    mode tcp
    balance roundrobin
    server node1 10.2.11.221 check port 443
    server node2 10.2.11.222 check port 443
    server node3 10.2.11.223 check port 443

backend dex_back
    mode tcp
    balance roundrobin
    server node1 10.2.11.221:5556 check
    server node2 10.2.11.222:5556 check
    server node3 10.2.11.223:5556 check

backend devpi_back
    mode tcp
    balance roundrobin
    server node1 10.2.11.221:3141 check
    server node2 10.2.11.222:3141 check
    server node3 10.2.11.223:3141 check
";

    #[test]
    fn three_managers_render_the_templates_shape() {
        let text = render(
            &cfg(),
            "powerflow",
            &three(),
            "the swarm's managers as node1 sees them",
        )
        .unwrap();
        assert_eq!(text, GOLDEN);
    }

    #[test]
    fn an_http_frontend_retries_a_request_on_another_server() {
        let mut c = cfg();
        c.frontends[0].http = true;
        let text = render(&c, "powerflow", &three(), "x").unwrap();
        let first = format!("\nbackend {}_back", c.frontends[0].name);
        let second = format!("\nbackend {}_back", c.frontends[1].name);
        let (a, b) = (text.find(&first).unwrap(), text.find(&second).unwrap());
        let http = &text[a..b];
        assert!(http.contains("mode http\n"), "{http}");
        assert!(http.contains("option redispatch 1\n"), "{http}");
        assert!(
            http.contains("retry-on conn-failure empty-response response-timeout\n"),
            "{http}"
        );
        // The other frontends stay TCP (TLS passed through).
        assert!(text[b..].contains("mode tcp\n") && !text[b..].contains("retry-on"));
    }

    #[test]
    fn names_with_a_space_or_newline_are_refused_by_name() {
        for bad in ["node 1", "node1\nbind *:22", "node#1", ""] {
            let mut servers = three();
            servers[1].name = bad.into();
            let e = render(&cfg(), "powerflow", &servers, "x")
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("server name"), "{e}");
        }
    }

    #[test]
    fn bad_addresses_are_refused_and_ipv6_is_bracketed() {
        for bad in ["10.0.0.1 backup", "10.0.0.1\n", "0.0.0.0", "", "-x.example"] {
            let mut servers = three();
            servers[0].addr = bad.into();
            let e = render(&cfg(), "powerflow", &servers, "x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("node node1"), "{bad:?}: {e}");
        }
        let mut servers = three();
        servers[0].addr = "fd00::1".into();
        servers[1].addr = "node2.example.com".into();
        let text = render(&cfg(), "powerflow", &servers, "x").unwrap();
        assert!(
            text.contains("server node1 [fd00::1]:5556 check\n"),
            "{text}"
        );
        assert!(
            text.contains("server node2 node2.example.com:5556 check\n"),
            "{text}"
        );
    }

    #[test]
    fn a_newline_in_the_header_or_a_note_is_refused() {
        assert!(render(&cfg(), "powerflow", &three(), "a\nbind *:1").is_err());
        let mut servers = three();
        servers[2].note = Some("down\nserver evil 1.2.3.4:1".into());
        let e = render(&cfg(), "powerflow", &servers, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("node3"), "{e}");
    }

    #[test]
    fn frontends_and_timeouts_are_checked() {
        let mut c = cfg();
        c.frontends[1].bind = vec![443];
        let e = render(&c, "p", &three(), "x").unwrap_err().to_string();
        assert!(e.contains("port 443 is bound by another frontend"), "{e}");
        let mut c = cfg();
        c.frontends[0].name = "http front".into();
        assert!(render(&c, "p", &three(), "x").is_err());
        let mut c = cfg();
        c.timeouts.connect = "5 s".into();
        let e = render(&c, "p", &three(), "x").unwrap_err().to_string();
        assert!(e.contains("connect"), "{e}");
        let mut c = cfg();
        c.frontends.clear();
        assert!(render(&c, "p", &three(), "x").is_err());
        assert!(render(&cfg(), "p", &[], "x").is_err());
    }

    fn node(host: &str, addr: &str, role: &str, state: &str) -> SwarmNode {
        SwarmNode {
            id: format!("id-{host}-{state}"),
            hostname: host.into(),
            addr: addr.into(),
            role: role.into(),
            availability: "active".into(),
            state: state.into(),
            manager_reachability: Some(
                if state == "ready" {
                    "reachable"
                } else {
                    "unreachable"
                }
                .into(),
            ),
            leader: false,
            engine_version: "20.10".into(),
        }
    }

    #[test]
    fn managers_are_taken_once_each_with_their_swarm_address() {
        let view = SwarmView {
            nodes: vec![
                node("node3", "10.0.0.3", "manager", "down"),
                node("node2", "10.0.0.2", "manager", "down"),
                node("node2", "10.0.0.2", "manager", "ready"),
                node("node1", "0.0.0.0", "manager", "ready"),
                node("node4", "10.0.0.4", "worker", "ready"),
            ],
            services: vec![],
            error: None,
        };
        let got = managers(&view, |h| (h == "node1").then(|| "10.0.0.1".to_string()));
        let names: Vec<_> = got
            .iter()
            .map(|s| (s.name.as_str(), s.addr.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("node1", "10.0.0.1"),
                ("node2", "10.0.0.2"),
                ("node3", "10.0.0.3")
            ]
        );
        assert_eq!(got[1].note, None, "the ready node2 was kept");
        assert!(got[2]
            .note
            .as_deref()
            .unwrap()
            .contains("node3 was down (unreachable)"));
    }

    #[test]
    fn demo_profile_renders_one_web_frontend() {
        let c = crate::profile::load("demo", None).unwrap().haproxy.unwrap();
        let text = render(&c, "demo", &three(), "x").unwrap();
        assert!(
            text.contains("frontend web_front\n    bind *:8080\n"),
            "{text}"
        );
        assert!(
            text.contains("server node1 10.2.11.221:8080 check\n"),
            "{text}"
        );
    }
}
