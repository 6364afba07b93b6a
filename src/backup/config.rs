//! The profile's `[backup]` section: what a backup holds and where it goes by default.

use anyhow::{bail, Result};
use pfproto::bundle::{valid_source_name, ReadSource, SourceKind, WriteSource};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `backup create` writes and `backup list` looks when `--to` is not given: a
    /// directory on this machine or `sftp://user@host[:port]/dir`.
    #[serde(default)]
    pub destination: Option<String>,
    /// Nodes one-node sources are taken from, first reachable wins (default: inventory order).
    #[serde(default)]
    pub from: Vec<String>,
    /// `backup.age` warns when the newest verified backup is older than this.
    #[serde(default = "max_age")]
    pub max_age_hours: u64,
    /// The retention `backup create --prune` applies (also `backup prune` without options).
    #[serde(default)]
    pub keep_last: u32,
    #[serde(default)]
    pub keep_daily: u32,
    #[serde(default)]
    pub keep_weekly: u32,
    pub sources: Vec<Source>,
}

fn max_age() -> u64 {
    26
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Copied as it is (files that do not change while copied).
    #[default]
    None,
    /// The containers using the volume are paused while it is copied.
    Pause,
    /// `dump` runs first, in a container of `service` (else one using the volume); then what it
    /// wrote is copied (`path`, or `subpath` of the volume).
    Dump,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub name: String,
    /// A file or directory on the node.
    #[serde(default)]
    pub path: Option<String>,
    /// A Docker volume on the node.
    #[serde(default)]
    pub volume: Option<String>,
    /// Only this directory inside the volume (where a dump command writes).
    #[serde(default)]
    pub subpath: Option<String>,
    /// The compose service (without the stack prefix) using this source: stopped while a restore
    /// writes it, and where a dump runs.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub consistency: Consistency,
    /// The dump command (`consistency = "dump"`), run in the service's container.
    #[serde(default)]
    pub dump: Option<Vec<String>>,
    /// Application data (kept by `--data-only`); the rest is configuration.
    #[serde(default)]
    pub data: bool,
    /// Taken from every node instead of the first reachable one.
    #[serde(default)]
    pub all_nodes: bool,
    /// A node without it is not an error.
    #[serde(default)]
    pub optional: bool,
}

impl Config {
    /// Refuses a section a backup could not be made from, naming the source at fault.
    pub fn validate(&self) -> Result<()> {
        if self.sources.is_empty() {
            bail!("profile [backup] lists no sources");
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.sources {
            s.validate()?;
            if !seen.insert(&s.name) {
                bail!("profile [backup]: source '{}' is listed twice", s.name);
            }
        }
        Ok(())
    }
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        if self.volume.is_some() {
            SourceKind::Volume
        } else {
            SourceKind::Path
        }
    }

    fn validate(&self) -> Result<()> {
        let name = &self.name;
        if !valid_source_name(name) {
            bail!("profile [backup]: source name '{name}' may use only letters, digits, '_', '.' and '-'");
        }
        match (&self.path, &self.volume) {
            (Some(p), None) if p.starts_with('/') && !p.split('/').any(|c| c == "..") => {}
            (Some(p), None) => {
                bail!("profile [backup] source '{name}': path '{p}' must be absolute, without '..'")
            }
            (None, Some(_)) => {}
            _ => bail!("profile [backup] source '{name}': give exactly one of path or volume"),
        }
        if let Some(sub) = &self.subpath {
            if self.volume.is_none() || sub.starts_with('/') || sub.split('/').any(|c| c == "..") {
                bail!("profile [backup] source '{name}': subpath '{sub}' must be relative, inside a volume");
            }
        }
        match (self.consistency, &self.dump) {
            (Consistency::Dump, None) => {
                bail!(
                    "profile [backup] source '{name}': consistency = \"dump\" needs a dump command"
                )
            }
            (Consistency::Dump, Some(_)) if self.volume.is_none() && self.service.is_none() => {
                bail!("profile [backup] source '{name}': a dump runs in a container of the volume or of service; give one")
            }
            (Consistency::Pause, _) if self.volume.is_none() => {
                bail!("profile [backup] source '{name}': pause applies to a volume's containers; give volume")
            }
            (c, Some(_)) if c != Consistency::Dump => {
                bail!(
                    "profile [backup] source '{name}': dump is set but consistency is not \"dump\""
                )
            }
            _ => {}
        }
        Ok(())
    }

    /// What the agent is asked to read. `stack` prefixes the service name.
    pub fn read_request(&self, stack: &str) -> ReadSource {
        ReadSource {
            name: self.name.clone(),
            kind: self.kind(),
            path: match self.kind() {
                SourceKind::Path => self.path.clone(),
                SourceKind::Volume => self.subpath.clone(),
            },
            volume: self.volume.clone(),
            pause: self.consistency == Consistency::Pause,
            dump: if self.consistency == Consistency::Dump {
                self.dump.clone()
            } else {
                None
            },
            dump_service: self
                .service
                .as_ref()
                .filter(|_| self.consistency == Consistency::Dump)
                .map(|s| format!("{stack}_{s}")),
            optional: self.optional,
        }
    }

    pub fn write_request(&self) -> WriteSource {
        let r = self.read_request("");
        WriteSource {
            name: r.name,
            kind: r.kind,
            path: r.path,
            volume: r.volume,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn a_valid_section_maps_to_agent_requests() {
        let c = parse(
            r#"
            [[sources]]
            name = "iservices"
            path = "/etc/iservices"
            [[sources]]
            name = "dbdata"
            volume = "pfdemo_dbdata"
            service = "db"
            consistency = "pause"
            data = true
            "#,
        )
        .unwrap();
        assert_eq!(c.max_age_hours, 26);
        let r = c.sources[1].read_request("pfdemo");
        assert_eq!(r.kind, SourceKind::Volume);
        assert!(r.pause);
        assert_eq!(r.dump_service, None);
        assert_eq!(
            c.sources[0].read_request("pfdemo").path.as_deref(),
            Some("/etc/iservices")
        );
    }

    #[test]
    fn bad_sections_name_the_source() {
        let cases = [
            ("name = \"a b\"\npath = \"/x\"", "a b"),
            ("name = \"x\"\npath = \"rel\"", "absolute"),
            ("name = \"x\"\npath = \"/x\"\nvolume = \"v\"", "exactly one"),
            (
                "name = \"x\"\nvolume = \"v\"\nconsistency = \"dump\"",
                "dump command",
            ),
            (
                "name = \"x\"\npath = \"/x\"\nconsistency = \"pause\"",
                "give volume",
            ),
            (
                "name = \"x\"\nvolume = \"v\"\nsubpath = \"../y\"",
                "subpath",
            ),
        ];
        for (body, want) in cases {
            let err = parse(&format!("[[sources]]\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
        let twice =
            "[[sources]]\nname = \"x\"\npath = \"/x\"\n[[sources]]\nname = \"x\"\npath = \"/y\"";
        assert!(parse(twice).unwrap_err().to_string().contains("twice"));
    }
}
