//! Backup and restore bytes between pfctl and a node (`pfagent bundle read|write`). Like images,
//! the bytes travel raw on an SSH exec channel of their own, never through the JSON protocol.
//!
//! `pfagent bundle read`: stdin carries one JSON line, a [`ReadRequest`], then ends; stdout
//! carries a tar stream (ustar/GNU, as the `tar` crate writes it) of every source in request
//! order. Each source's entries are named `<source>` (its root: a directory, or the file itself)
//! and `<source>/<path relative to the root>`. Nothing else is written to stdout. Warnings
//! (skipped sockets, an optional source that is missing) go to stderr as lines starting with
//! `pfagent: warning:`; any failure ends the command with a non-zero status and a last stderr
//! line naming the path or volume at fault.
//!
//! `pfagent bundle write`: stdin carries a tar stream whose first entry is [`WRITE_REQUEST_ENTRY`]
//! holding a [`WriteRequest`] as JSON; the other entries are named like `bundle read`'s. Nothing
//! is changed until every entry has been received and matches its [`Expect`]; then the sources
//! are committed (files renamed into place, each replaced file kept as `<file>.pfctl-prev`;
//! volumes swapped whole, the previous contents kept as `_data.pfctl-prev`). stdout then carries
//! one JSON line, a [`WriteReport`].

use serde::{Deserialize, Serialize};

/// The first entry of a `bundle write` stream.
pub const WRITE_REQUEST_ENTRY: &str = ".pfctl-bundle.json";
/// Suffix of the copy a restore keeps of each file (and volume directory) it replaced.
pub const PREV_SUFFIX: &str = ".pfctl-prev";

/// What a source is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A file or a directory tree on the node.
    #[default]
    Path,
    /// A Docker volume on the node (its `_data` directory, or `subpath` inside it).
    Volume,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReadRequest {
    pub sources: Vec<ReadSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReadSource {
    /// Names the source's entries; `[A-Za-z0-9_.-]+`.
    pub name: String,
    pub kind: SourceKind,
    /// `Path`: the absolute path. `Volume`: an optional directory relative to the volume's root
    /// (only that part is read), e.g. where a dump command writes.
    #[serde(default)]
    pub path: Option<String>,
    /// `Volume`: the volume's name.
    #[serde(default)]
    pub volume: Option<String>,
    /// Pause every running container that mounts the volume while it is read; unpaused after,
    /// whatever happens.
    #[serde(default)]
    pub pause: bool,
    /// Run first, in a running container of this node that mounts the volume (or of
    /// `dump_service` when given); must exit 0.
    #[serde(default)]
    pub dump: Option<Vec<String>>,
    /// The swarm service whose container runs `dump` (label `com.docker.swarm.service.name`).
    #[serde(default)]
    pub dump_service: Option<String>,
    /// A missing path or volume is a warning and an empty source, not a failure.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WriteRequest {
    pub sources: Vec<WriteSource>,
    /// Every entry the stream carries after the request, in any order.
    pub expect: Vec<Expect>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WriteSource {
    pub name: String,
    pub kind: SourceKind,
    /// As in [`ReadSource`]: the absolute path, or the part of the volume.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub volume: Option<String>,
}

/// Kind of an entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    #[default]
    File,
    Dir,
    Symlink,
}

/// One entry the writer must receive, as the backup's manifest recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Expect {
    /// The entry's name in the stream (`<source>` or `<source>/<relative path>`).
    pub name: String,
    pub kind: EntryKind,
    #[serde(default)]
    pub size: u64,
    /// Hex SHA-256 of a file's contents.
    #[serde(default)]
    pub sha256: Option<String>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// A symlink's target.
    #[serde(default)]
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WriteReport {
    pub sources: Vec<WrittenSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WrittenSource {
    pub name: String,
    /// Where it went on the node (the path, or the volume's directory).
    pub target: String,
    pub files: u64,
    pub bytes: u64,
    /// Files (or the volume directory) replaced, each kept with [`PREV_SUFFIX`].
    pub replaced: u64,
}

/// `true` for names usable as a source name (and so as an entry's first component).
pub fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert!(valid_source_name("iservices"));
        assert!(valid_source_name("db-data.v1"));
        assert!(!valid_source_name(""));
        assert!(!valid_source_name(".."));
        assert!(!valid_source_name("a/b"));
        assert!(!valid_source_name("a b"));
    }

    #[test]
    fn kinds_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&SourceKind::Volume).unwrap(),
            "\"volume\""
        );
        assert_eq!(
            serde_json::to_string(&EntryKind::Symlink).unwrap(),
            "\"symlink\""
        );
    }
}
