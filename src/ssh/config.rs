//! OpenSSH client configuration (`~/.ssh/config`), the subset pfctl needs.
//!
//! Semantics follow `ssh_config(5)`: for each option the first value found in
//! a block that applies wins, except `IdentityFile`, which accumulates.
//! Supported: `Host` pattern lists (`*`, `?`, `!negation`), `Match host` /
//! `Match originalhost` / `Match all` (any other criterion makes the block be
//! skipped with a warning), `Include` (globs, relative to `~/.ssh`, nested up
//! to 16 levels), `key value` and `key=value`, double-quoted values,
//! case-insensitive keywords.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

/// How deep `Include` may nest (OpenSSH uses the same limit).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One hop of a `ProxyJump` list: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl JumpHost {
    /// Parses `[ssh://][user@]host[:port]`; IPv6 addresses go in brackets.
    pub fn parse(spec: &str) -> anyhow::Result<JumpHost> {
        let spec = spec.trim();
        let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => bail!("empty user in jump host '{spec}'"),
            None => (None, spec),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| anyhow!("unclosed '[' in jump host '{spec}'"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None if after.is_empty() => None,
                None => bail!("unexpected '{after}' after ']' in jump host '{spec}'"),
            };
            (h.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), Some(parse_port(p)?)),
                _ => (rest.to_string(), None),
            }
        };
        if host.is_empty() {
            bail!("empty host in jump host '{spec}'");
        }
        Ok(JumpHost { user, host, port })
    }
}

/// The options that apply to one host alias. `None`/empty means "not set
/// anywhere", so callers can layer their own defaults and overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// In the order found, tokens and `~` expanded.
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    /// Hops in order (first hop is contacted first). Empty when unset or `none`.
    pub proxy_jump: Vec<JumpHost>,
    pub user_known_hosts: Vec<PathBuf>,
    pub global_known_hosts: Vec<PathBuf>,
    /// The raw value (`yes`, `no`, `accept-new`, `ask`, `off`); the caller decides.
    pub strict_host_key_checking: Option<String>,
    pub connect_timeout: Option<Duration>,
}

/// A parsed configuration: an ordered list of options with the conditions
/// under which each applies.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Condition {
    /// `Host p1 p2 !p3`: matched against the alias given on the command line.
    Host(Vec<String>),
    /// `Match host ...`: matched against the HostName found so far (or the alias).
    MatchHost(Vec<String>),
    /// `Match originalhost ...`: matched against the alias.
    MatchOriginalHost(Vec<String>),
    /// A `Match` block we do not understand: never applies.
    Never,
}

#[derive(Debug, Clone)]
struct Entry {
    /// All must hold (an `Include` inside a block adds the block's condition).
    conditions: Vec<Condition>,
    keyword: Keyword,
    args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    HostName,
    User,
    Port,
    IdentityFile,
    IdentitiesOnly,
    ProxyJump,
    UserKnownHostsFile,
    GlobalKnownHostsFile,
    StrictHostKeyChecking,
    ConnectTimeout,
}

impl Keyword {
    fn from_name(name: &str) -> Option<Keyword> {
        Some(match name.to_ascii_lowercase().as_str() {
            "hostname" => Keyword::HostName,
            "user" => Keyword::User,
            "port" => Keyword::Port,
            "identityfile" => Keyword::IdentityFile,
            "identitiesonly" => Keyword::IdentitiesOnly,
            "proxyjump" => Keyword::ProxyJump,
            "userknownhostsfile" => Keyword::UserKnownHostsFile,
            "globalknownhostsfile" => Keyword::GlobalKnownHostsFile,
            "stricthostkeychecking" => Keyword::StrictHostKeyChecking,
            "connecttimeout" => Keyword::ConnectTimeout,
            _ => return None,
        })
    }
}

impl SshConfig {
    /// Reads a config file. A missing file is an empty configuration; a
    /// malformed one is an error naming `file:line`.
    pub fn load(path: &Path) -> anyhow::Result<SshConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => SshConfig::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SshConfig::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Parses config text; `origin` names it in errors. Relative `Include`
    /// paths are resolved against `~/.ssh`.
    pub fn parse(text: &str, origin: &Path) -> anyhow::Result<SshConfig> {
        SshConfig::parse_with_include_dir(text, origin, &home_dir().join(".ssh"))
    }

    /// Like [`SshConfig::parse`], resolving relative `Include` paths against
    /// `include_dir` instead of `~/.ssh`.
    pub fn parse_with_include_dir(
        text: &str,
        origin: &Path,
        include_dir: &Path,
    ) -> anyhow::Result<SshConfig> {
        let mut parser = Parser {
            include_dir: include_dir.to_path_buf(),
            entries: Vec::new(),
        };
        parser.parse_text(text, origin, &[], 0)?;
        Ok(SshConfig {
            entries: parser.entries,
        })
    }

    /// The options for `alias` (what the user typed as host name).
    pub fn lookup(&self, alias: &str) -> HostOptions {
        let mut o = HostOptions::default();
        let mut hostname_raw: Option<String> = None;
        let mut identity_raw: Vec<String> = Vec::new();
        let mut proxy_jump_set = false;
        let mut user_kh_set = false;
        let mut global_kh_set = false;

        for entry in &self.entries {
            let current_host = hostname_raw
                .as_deref()
                .map(|h| expand_hostname(h, alias))
                .unwrap_or_else(|| alias.to_string());
            let applies = entry.conditions.iter().all(|c| match c {
                Condition::Host(p) | Condition::MatchOriginalHost(p) => {
                    pattern_list_matches(p, alias)
                }
                Condition::MatchHost(p) => pattern_list_matches(p, &current_host),
                Condition::Never => false,
            });
            if !applies {
                continue;
            }
            let first = entry.args.first().cloned().unwrap_or_default();
            match entry.keyword {
                Keyword::HostName => {
                    if hostname_raw.is_none() {
                        hostname_raw = Some(first);
                    }
                }
                Keyword::User => {
                    o.user.get_or_insert(first);
                }
                Keyword::Port => {
                    if o.port.is_none() {
                        o.port = first.parse().ok();
                    }
                }
                Keyword::IdentityFile => {
                    if !identity_raw.contains(&first) {
                        identity_raw.push(first);
                    }
                }
                Keyword::IdentitiesOnly => {
                    if o.identities_only.is_none() {
                        o.identities_only = parse_yes_no(&first);
                    }
                }
                Keyword::ProxyJump => {
                    if !proxy_jump_set {
                        proxy_jump_set = true;
                        if !first.eq_ignore_ascii_case("none") {
                            o.proxy_jump = first
                                .split(',')
                                .filter_map(|s| JumpHost::parse(s).ok())
                                .collect();
                        }
                    }
                }
                Keyword::UserKnownHostsFile => {
                    if !user_kh_set {
                        user_kh_set = true;
                        o.user_known_hosts = known_hosts_list(&entry.args);
                    }
                }
                Keyword::GlobalKnownHostsFile => {
                    if !global_kh_set {
                        global_kh_set = true;
                        o.global_known_hosts = known_hosts_list(&entry.args);
                    }
                }
                Keyword::StrictHostKeyChecking => {
                    o.strict_host_key_checking.get_or_insert(first);
                }
                Keyword::ConnectTimeout => {
                    if o.connect_timeout.is_none() {
                        o.connect_timeout = first.parse::<u64>().ok().map(Duration::from_secs);
                    }
                }
            }
        }

        o.hostname = hostname_raw.map(|h| expand_hostname(&h, alias));
        let remote_host = o.hostname.clone().unwrap_or_else(|| alias.to_string());
        let local_user = local_user();
        let remote_user = o.user.clone().unwrap_or_else(|| local_user.clone());
        o.identity_files = identity_raw
            .iter()
            .map(|raw| {
                PathBuf::from(expand_tilde(&expand_tokens(raw, |c| match c {
                    'd' => Some(home_dir().to_string_lossy().into_owned()),
                    'u' => Some(local_user.clone()),
                    'h' => Some(remote_host.clone()),
                    'r' => Some(remote_user.clone()),
                    'n' => Some(alias.to_string()),
                    'p' => Some(o.port.unwrap_or(22).to_string()),
                    _ => None,
                })))
            })
            .collect();
        o
    }
}

struct Parser {
    include_dir: PathBuf,
    entries: Vec<Entry>,
}

impl Parser {
    fn parse_text(
        &mut self,
        text: &str,
        origin: &Path,
        outer: &[Condition],
        depth: usize,
    ) -> anyhow::Result<()> {
        // The block condition of the current Host/Match section (None before the first).
        let mut block: Option<Condition> = None;
        for (idx, raw_line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let at = || format!("{}:{}", origin.display(), lineno);
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_keyword(line);
            let args = tokenize(rest).map_err(|e| anyhow!("{}: {e}", at()))?;
            let conditions = || {
                let mut c = outer.to_vec();
                if let Some(b) = &block {
                    c.push(b.clone());
                }
                c
            };
            match keyword.to_ascii_lowercase().as_str() {
                "host" => {
                    if args.is_empty() {
                        bail!("{}: Host needs at least one pattern", at());
                    }
                    block = Some(Condition::Host(args));
                }
                "match" => {
                    block = Some(parse_match(&args).map_err(|e| anyhow!("{}: {e}", at()))?);
                    if let Some(Condition::Never) = block {
                        tracing::warn!(
                            "{}: 'Match {}' is not supported by pfctl; that block is ignored",
                            at(),
                            args.join(" ")
                        );
                    }
                }
                "include" => {
                    if args.is_empty() {
                        bail!("{}: Include needs a path", at());
                    }
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        bail!(
                            "{}: Include nested more than {MAX_INCLUDE_DEPTH} levels deep (a loop?)",
                            at()
                        );
                    }
                    let conds = conditions();
                    for pattern in &args {
                        let expanded = expand_tilde(pattern);
                        let path = if Path::new(&expanded).is_absolute() {
                            PathBuf::from(expanded)
                        } else {
                            self.include_dir.join(expanded)
                        };
                        let mut files: Vec<PathBuf> = match glob::glob(&path.to_string_lossy()) {
                            Ok(paths) => paths.filter_map(Result::ok).collect(),
                            Err(e) => bail!("{}: bad Include pattern '{pattern}': {e}", at()),
                        };
                        files.sort();
                        for file in files {
                            if file.is_dir() {
                                continue;
                            }
                            let text = std::fs::read_to_string(&file).with_context(|| {
                                format!("{}: cannot read included {}", at(), file.display())
                            })?;
                            self.parse_text(&text, &file, &conds, depth + 1)?;
                        }
                    }
                }
                other => {
                    let Some(kw) = Keyword::from_name(other) else {
                        tracing::trace!("{}: ignoring unsupported option '{keyword}'", at());
                        continue;
                    };
                    if args.is_empty() {
                        bail!("{}: {keyword} needs a value", at());
                    }
                    validate(kw, &args).map_err(|e| anyhow!("{}: {keyword}: {e}", at()))?;
                    self.entries.push(Entry {
                        conditions: conditions(),
                        keyword: kw,
                        args,
                    });
                }
            }
        }
        Ok(())
    }
}

fn validate(kw: Keyword, args: &[String]) -> anyhow::Result<()> {
    let first = &args[0];
    match kw {
        Keyword::Port => {
            parse_port(first)?;
        }
        Keyword::ConnectTimeout => {
            first
                .parse::<u64>()
                .map_err(|_| anyhow!("'{first}' is not a number of seconds"))?;
        }
        Keyword::IdentitiesOnly => {
            parse_yes_no(first).ok_or_else(|| anyhow!("expected yes or no, got '{first}'"))?;
        }
        Keyword::ProxyJump if !first.eq_ignore_ascii_case("none") => {
            for hop in first.split(',') {
                JumpHost::parse(hop)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn parse_match(args: &[String]) -> anyhow::Result<Condition> {
    if args.is_empty() {
        bail!("Match needs a criterion");
    }
    let first = args[0].to_ascii_lowercase();
    match first.as_str() {
        "all" if args.len() == 1 => Ok(Condition::Host(vec!["*".into()])),
        "host" | "originalhost" if args.len() == 2 => {
            let patterns: Vec<String> = args[1].split(',').map(str::to_string).collect();
            Ok(if first == "host" {
                Condition::MatchHost(patterns)
            } else {
                Condition::MatchOriginalHost(patterns)
            })
        }
        _ => Ok(Condition::Never),
    }
}

/// Splits `Keyword rest`, `Keyword=rest` or `Keyword = rest`.
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    (keyword, rest)
}

/// Splits arguments on whitespace, honouring double quotes.
fn tokenize(s: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_token = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            '#' if !quoted && !in_token => break,
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if quoted {
        bail!("unbalanced quotes");
    }
    if in_token {
        out.push(cur);
    }
    Ok(out)
}

fn parse_port(s: &str) -> anyhow::Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => bail!("'{s}' is not a valid port"),
    }
}

fn parse_yes_no(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

fn known_hosts_list(args: &[String]) -> Vec<PathBuf> {
    if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    args.iter()
        .map(|a| PathBuf::from(expand_tilde(a)))
        .collect()
}

/// Whether `host` matches an OpenSSH pattern list: at least one positive
/// pattern matches and no negated one does. Case-insensitive.
pub fn pattern_list_matches<S: AsRef<str>>(patterns: &[S], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let mut matched = false;
    for p in patterns {
        let p = p.as_ref().to_ascii_lowercase();
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard_match(neg, &host) {
                return false;
            }
        } else if wildcard_match(&p, &host) {
            matched = true;
        }
    }
    matched
}

/// `*` matches any run of characters, `?` exactly one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn expand_hostname(raw: &str, alias: &str) -> String {
    expand_tokens(raw, |c| (c == 'h').then(|| alias.to_string()))
}

/// Expands `%x` tokens with `f`; `%%` is a literal `%`; unknown tokens stay.
fn expand_tokens(s: &str, f: impl Fn(char) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match f(t) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// Expands a leading `~` or `~/` to the home directory.
pub fn expand_tilde(s: &str) -> String {
    if s == "~" {
        return home_dir().to_string_lossy().into_owned();
    }
    if let Some(rest) = s.strip_prefix("~/") {
        return home_dir().join(rest).to_string_lossy().into_owned();
    }
    s.to_string()
}

/// The local user's home directory (`$HOME`, else the password database).
pub fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The local user name (`$USER`, else the password database).
pub fn local_user() -> String {
    if let Ok(u) = std::env::var("USER") {
        if !u.is_empty() {
            return u;
        }
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SshConfig {
        SshConfig::parse_with_include_dir(text, Path::new("test_config"), Path::new("/nonexistent"))
            .unwrap()
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = parse(
            "Host node1\n  HostName 10.0.0.1\n  User admin\n  IdentityFile /k/one\n\
             Host node*\n  HostName 10.9.9.9\n  User other\n  Port 2222\n  IdentityFile /k/two\n\
             Host *\n  User fallback\n  IdentityFile /k/one\n",
        );
        let o = c.lookup("node1");
        assert_eq!(o.hostname.as_deref(), Some("10.0.0.1"));
        assert_eq!(o.user.as_deref(), Some("admin"));
        assert_eq!(o.port, Some(2222));
        assert_eq!(
            o.identity_files,
            vec![PathBuf::from("/k/one"), PathBuf::from("/k/two")]
        );
        let o = c.lookup("other");
        assert_eq!(o.user.as_deref(), Some("fallback"));
        assert_eq!(o.hostname, None);
        assert_eq!(o.port, None);
    }

    #[test]
    fn wildcards_and_negation() {
        let c = parse("Host web?? !web13 *.example.com\n  User w\n");
        assert_eq!(c.lookup("web12").user.as_deref(), Some("w"));
        assert_eq!(c.lookup("web13").user, None);
        assert_eq!(c.lookup("web1").user, None);
        assert_eq!(c.lookup("a.b.EXAMPLE.com").user.as_deref(), Some("w"));
        // Only negation: never matches.
        let c = parse("Host !foo\n  User x\n");
        assert_eq!(c.lookup("bar").user, None);
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn global_options_before_first_host() {
        let c = parse("User top\nHost x\n  User xuser\n");
        assert_eq!(c.lookup("x").user.as_deref(), Some("top"));
    }

    #[test]
    fn equals_syntax_case_and_quotes() {
        let c = parse(
            "HOST=a\n  hostname=10.1.1.1\n  PORT = 2200\n  IdentityFile \"/path with space/key\"\n  user=\"bob\"  # comment\n",
        );
        let o = c.lookup("a");
        assert_eq!(o.hostname.as_deref(), Some("10.1.1.1"));
        assert_eq!(o.port, Some(2200));
        assert_eq!(o.user.as_deref(), Some("bob"));
        assert_eq!(
            o.identity_files,
            vec![PathBuf::from("/path with space/key")]
        );
    }

    #[test]
    fn match_host_and_all_and_unsupported() {
        let c = parse(
            "Host short\n  HostName real.example.com\n\
             Match host real.example.com\n  User matched\n\
             Match user foo\n  Port 1\n\
             Match exec true\n  Port 2\n\
             Match all\n  Port 3\n",
        );
        let o = c.lookup("short");
        assert_eq!(o.user.as_deref(), Some("matched"));
        assert_eq!(o.port, Some(3));
        let o = c.lookup("real.example.com");
        assert_eq!(o.user.as_deref(), Some("matched"));
        let o = c.lookup("zzz");
        assert_eq!(o.user, None);
        assert_eq!(o.port, Some(3));
    }

    #[test]
    fn tokens_and_tilde() {
        let c = parse(
            "Host n1\n  HostName %h.internal\n  User adm\n  IdentityFile ~/.ssh/%h_%r\n  IdentityFile %d/k_%u_%%\n",
        );
        let o = c.lookup("n1");
        assert_eq!(o.hostname.as_deref(), Some("n1.internal"));
        let home = home_dir();
        assert_eq!(o.identity_files[0], home.join(".ssh/n1.internal_adm"));
        assert_eq!(
            o.identity_files[1],
            PathBuf::from(format!("{}/k_{}_%", home.display(), local_user()))
        );
    }

    #[test]
    fn proxy_jump_list_and_none() {
        let c = parse(
            "Host direct\n  ProxyJump none\nHost *\n  ProxyJump alice@bastion1:2222,bastion2,[fe80::1]:22,ssh://u@b3\n",
        );
        assert!(c.lookup("direct").proxy_jump.is_empty());
        let o = c.lookup("target");
        assert_eq!(
            o.proxy_jump,
            vec![
                JumpHost {
                    user: Some("alice".into()),
                    host: "bastion1".into(),
                    port: Some(2222)
                },
                JumpHost {
                    user: None,
                    host: "bastion2".into(),
                    port: None
                },
                JumpHost {
                    user: None,
                    host: "fe80::1".into(),
                    port: Some(22)
                },
                JumpHost {
                    user: Some("u".into()),
                    host: "b3".into(),
                    port: None
                },
            ]
        );
    }

    #[test]
    fn known_hosts_options_and_timeouts() {
        let c = parse(
            "Host *\n  UserKnownHostsFile ~/.ssh/kh1 /etc/kh2\n  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts\n  \
             StrictHostKeyChecking accept-new\n  ConnectTimeout 7\n  IdentitiesOnly yes\n  UserKnownHostsFile /ignored\n",
        );
        let o = c.lookup("x");
        assert_eq!(
            o.user_known_hosts,
            vec![home_dir().join(".ssh/kh1"), PathBuf::from("/etc/kh2")]
        );
        assert_eq!(
            o.global_known_hosts,
            vec![PathBuf::from("/etc/ssh/ssh_known_hosts")]
        );
        assert_eq!(o.strict_host_key_checking.as_deref(), Some("accept-new"));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(o.identities_only, Some(true));
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let e = SshConfig::parse("Host a\n  Port notaport\n", Path::new("/x/cfg"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/x/cfg:2:"), "{e}");
        let e = SshConfig::parse("Host a\n  User \"bob\n", Path::new("/x/cfg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x/cfg:2") && e.contains("quotes"), "{e}");
        let e = SshConfig::parse("Host\n", Path::new("/x/cfg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/x/cfg:1"), "{e}");
    }

    #[test]
    fn missing_file_is_empty() {
        let c = SshConfig::load(Path::new("/nonexistent/pfctl/config")).unwrap();
        assert_eq!(c.lookup("x"), HostOptions::default());
    }

    #[test]
    fn include_globs_relative_and_conditional() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/10-a.conf"),
            "Host a\n  User from_a\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/20-b.conf"),
            "Host a b\n  User from_b\n  Port 2201\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("inner.conf"), "Port 2300\n").unwrap();
        let text = "Include conf.d/*.conf\nHost c\n  Include inner.conf\nHost *\n  User star\n";
        let c = SshConfig::parse_with_include_dir(text, &dir.path().join("config"), dir.path())
            .unwrap();
        let a = c.lookup("a");
        assert_eq!(a.user.as_deref(), Some("from_a"));
        assert_eq!(a.port, Some(2201));
        assert_eq!(c.lookup("b").user.as_deref(), Some("from_b"));
        // inner.conf is included inside "Host c" and applies only to c.
        assert_eq!(c.lookup("c").port, Some(2300));
        assert_eq!(c.lookup("c").user.as_deref(), Some("star"));
        assert_eq!(c.lookup("d").port, None);
    }

    #[test]
    fn include_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let me = dir.path().join("loop.conf");
        std::fs::write(&me, format!("Include {}\n", me.display())).unwrap();
        let e = SshConfig::load(&me).unwrap_err().to_string();
        assert!(e.contains("nested"), "{e}");
    }
}
