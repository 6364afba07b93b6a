//! The catalogue of a destination: a small JSON record beside each archive
//! (`<archive file name>.json`, written by the caller atomically), and the listing built from a
//! directory's names and those records.
//!
//! The record is a convenience (size, sha256, sources, last verification); the archive's own
//! manifest stays the authority. An archive without a record is still listed, and so is a
//! `.partial` file (a backup being written, or one that died), which is never a backup.

use serde::{Deserialize, Serialize};

use super::manifest::{parse_archive_name, Compression, Manifest};

/// Suffix of an archive still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub file: String,
    pub cluster: String,
    /// RFC 3339 UTC.
    pub created: String,
    pub size: u64,
    /// Lowercase hex sha256 of the archive file.
    pub sha256: String,
    /// `name@node`.
    pub sources: Vec<String>,
    pub data_only: bool,
    pub encrypted: bool,
    pub compression: Compression,
    #[serde(default)]
    pub encryption_key_fingerprint: Option<String>,
    #[serde(default)]
    pub verified: Option<Verified>,
}

/// When and how an archive was last proven whole.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// RFC 3339 UTC.
    pub at: String,
    /// `create` (read back as written), `verify` or `deep`.
    pub how: String,
}

impl Record {
    /// A record for an archive, not yet marked verified.
    pub fn from_manifest(m: &Manifest, file: &str, size: u64, sha256: &str) -> Record {
        Record {
            id: m.id.clone(),
            file: file.to_string(),
            cluster: m.cluster.clone(),
            created: m.created.clone(),
            size,
            sha256: sha256.to_string(),
            sources: m
                .sources
                .iter()
                .map(|s| format!("{}@{}", s.name, s.node))
                .collect(),
            data_only: m.data_only,
            encrypted: m.encrypted,
            compression: m.compression,
            encryption_key_fingerprint: m.encryption_key_fingerprint.clone(),
            verified: None,
        }
    }
}

/// `<archive>.json`.
pub fn sidecar_name(archive: &str) -> String {
    format!("{archive}.json")
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Has a record saying it was verified.
    Verified,
    /// Has a record, never verified (or the record does not fit the file: see `problem`).
    Unverified,
    /// An archive without a record.
    NoRecord,
    /// A `.partial` file: being written, or left by a backup that died. Never a backup.
    Partial,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub file: String,
    pub record: Option<Record>,
    /// The file's size as listed.
    pub size: u64,
    /// From the file name.
    pub created_unix: Option<u64>,
    pub status: RowStatus,
    /// Why a record was not trusted (it describes another file or size).
    pub problem: Option<String>,
}

/// The catalogue rows of a directory listing (file name, size), newest first. `load` gives the
/// record of a sidecar name, if it exists and parses. Archives are recognised by their names;
/// sidecars and unrelated files are left out.
pub fn rows(listing: &[(String, u64)], load: impl Fn(&str) -> Option<Record>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (file, size) in listing {
        if let Some(base) = file.strip_suffix(PARTIAL_SUFFIX) {
            if let Some(info) = parse_archive_name(base) {
                rows.push(Row {
                    file: file.clone(),
                    record: None,
                    size: *size,
                    created_unix: Some(info.created_unix),
                    status: RowStatus::Partial,
                    problem: None,
                });
            }
            continue;
        }
        let Some(info) = parse_archive_name(file) else {
            continue;
        };
        let record = load(&sidecar_name(file));
        let problem = record.as_ref().and_then(|r| {
            if r.file != *file {
                Some(format!("its record describes {}", r.file))
            } else if r.size != *size {
                Some(format!(
                    "it has {size} bytes but its record says {} (changed or cut short since?)",
                    r.size
                ))
            } else {
                None
            }
        });
        let status = match &record {
            None => RowStatus::NoRecord,
            Some(r) if r.verified.is_some() && problem.is_none() => RowStatus::Verified,
            Some(_) => RowStatus::Unverified,
        };
        rows.push(Row {
            file: file.clone(),
            record,
            size: *size,
            created_unix: Some(info.created_unix),
            status,
            problem,
        });
    }
    rows.sort_by(|a, b| {
        b.created_unix
            .cmp(&a.created_unix)
            .then_with(|| b.file.cmp(&a.file))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{archive_name, rfc3339, SourceRecord, FORMAT};
    use std::collections::BTreeMap;

    const T: u64 = 1_795_342_500;

    fn manifest(created: u64) -> Manifest {
        Manifest {
            format: FORMAT,
            id: crate::backup::manifest::archive_id("demo", false, created),
            cluster: "demo".into(),
            swarm_cluster_id: Some("abc".into()),
            profile: "powerflow".into(),
            created: rfc3339(created),
            pfctl_version: "0.1.0".into(),
            agent_versions: BTreeMap::new(),
            data_only: false,
            compression: Compression::Zstd,
            encrypted: true,
            encryption_key_fingerprint: Some("age1fp".into()),
            sources: vec![
                SourceRecord {
                    name: "db".into(),
                    node: "node1".into(),
                    data: true,
                    ..Default::default()
                },
                SourceRecord {
                    name: "conf".into(),
                    node: "node2".into(),
                    ..Default::default()
                },
            ],
            entries: vec![],
        }
    }

    #[test]
    fn record_from_manifest_and_json() {
        let file = archive_name("demo", false, T, Compression::Zstd, true);
        let r = Record::from_manifest(&manifest(T), &file, 1234, "ab12");
        assert_eq!(r.sources, ["db@node1", "conf@node2"]);
        assert_eq!(r.created, "2026-11-22T10:15:00Z");
        assert_eq!(r.id, "demo-backup-20261122T101500Z");
        assert_eq!(
            (r.size, r.sha256.as_str(), r.encrypted),
            (1234, "ab12", true)
        );
        assert_eq!(r.verified, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"compression\":\"zstd\""), "{json}");
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
        assert_eq!(sidecar_name(&file), format!("{file}.json"));
    }

    #[test]
    fn listing_becomes_rows_newest_first() {
        let old = archive_name("demo", false, T - 86_400, Compression::Zstd, false);
        let mid = archive_name("demo", true, T - 3600, Compression::Gzip, true);
        let new = archive_name("demo", false, T, Compression::Zstd, false);
        let partial = format!(
            "{}{PARTIAL_SUFFIX}",
            archive_name("demo", false, T + 60, Compression::Zstd, false)
        );
        let bad_size = archive_name("demo", false, T - 7200, Compression::Zstd, false);
        let listing: Vec<(String, u64)> = vec![
            (old.clone(), 10),
            (sidecar_name(&old), 1),
            (mid.clone(), 20),
            (sidecar_name(&mid), 1),
            (new.clone(), 30),
            (partial.clone(), 5),
            (bad_size.clone(), 41),
            (sidecar_name(&bad_size), 1),
            ("notes.txt".into(), 3),
            ("other.partial".into(), 3),
        ];
        let records = |verified: bool, file: &str, size: u64| {
            let mut r = Record::from_manifest(&manifest(T), file, size, "x");
            if verified {
                r.verified = Some(Verified {
                    at: rfc3339(T),
                    how: "create".into(),
                });
            }
            r
        };
        let rows = rows(&listing, |side| {
            if side == sidecar_name(&old) {
                Some(records(true, &old, 10))
            } else if side == sidecar_name(&mid) {
                Some(records(false, &mid, 20))
            } else if side == sidecar_name(&bad_size) {
                Some(records(true, &bad_size, 40))
            } else {
                None
            }
        });
        let got: Vec<(&str, RowStatus)> =
            rows.iter().map(|r| (r.file.as_str(), r.status)).collect();
        assert_eq!(
            got,
            [
                (partial.as_str(), RowStatus::Partial),
                (new.as_str(), RowStatus::NoRecord),
                (mid.as_str(), RowStatus::Unverified),
                (bad_size.as_str(), RowStatus::Unverified),
                (old.as_str(), RowStatus::Verified),
            ]
        );
        assert_eq!(rows[0].created_unix, Some(T + 60));
        assert_eq!(rows[0].size, 5);
        assert!(rows[3].problem.as_deref().unwrap().contains("41 bytes"));
        assert!(rows[4].problem.is_none());
        assert_eq!(rows[4].record.as_ref().unwrap().size, 10);
        assert_eq!(
            serde_json::to_value(RowStatus::NoRecord).unwrap(),
            serde_json::json!("norecord")
        );
    }
}
