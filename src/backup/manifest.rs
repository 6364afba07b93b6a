//! The archive's table of contents (`manifest.json`, the archive's last entry) and the naming of
//! archive files.
//!
//! An archive holds every agent entry as `data/<node>/<agent entry name>`, then `manifest.json`.
//! The manifest records what each entry must be (kind, size, sha256, owner, mode), so an archive
//! can be checked without trusting the bytes that come before it, and a restore can tell the agent
//! what to expect ([`Entry::to_expect`]).
//!
//! File names: `<cluster>-backup[-data-only]-<YYYYMMDDTHHMMSSZ>.tar.zst[.age]` (`.tar.gz` for
//! gzip); the time is the creation time in UTC, so names sort by age within a cluster.

use std::collections::BTreeMap;

use pfproto::bundle::{EntryKind, Expect, SourceKind};
use serde::{Deserialize, Serialize};

/// The manifest format this pfctl writes and reads.
pub const FORMAT: u32 = 1;

/// The name of the manifest entry, always the archive's last.
pub const MANIFEST_ENTRY: &str = "manifest.json";

/// The prefix of every data entry: `data/<node>/<agent entry name>`.
pub const DATA_PREFIX: &str = "data/";

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Gzip,
}

impl Compression {
    /// The file name extension, without the `.age` an encrypted archive adds.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => ".tar.zst",
            Compression::Gzip => ".tar.gz",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// The archive's file name without its extensions, e.g. `demo-backup-20261122T101500Z`.
    pub id: String,
    pub cluster: String,
    #[serde(default)]
    pub swarm_cluster_id: Option<String>,
    pub profile: String,
    /// RFC 3339 UTC, e.g. `2026-11-22T10:15:00Z`.
    pub created: String,
    pub pfctl_version: String,
    /// Node name -> the version of its agent that read the data.
    #[serde(default)]
    pub agent_versions: BTreeMap<String, String>,
    pub data_only: bool,
    pub compression: Compression,
    pub encrypted: bool,
    /// Identifies the key or passphrase (never the key itself).
    #[serde(default)]
    pub encryption_key_fingerprint: Option<String>,
    pub sources: Vec<SourceRecord>,
    pub entries: Vec<Entry>,
}

/// One source as it was read: where it came from, so a restore can put it back.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SourceRecord {
    pub name: String,
    pub node: String,
    pub kind: SourceKind,
    /// `Path`: the absolute path. `Volume`: the part of the volume that was read, if not all.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub volume: Option<String>,
    /// The swarm service the source belongs to, when the profile says.
    #[serde(default)]
    pub service: Option<String>,
    /// `true` for application data (what a data-only backup keeps), `false` for configuration.
    pub data: bool,
}

/// One agent entry in the archive.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Entry {
    pub node: String,
    pub source: String,
    /// The agent's entry name: `<source>` or `<source>/<rel>`.
    pub name: String,
    /// Where it lives on the node: an absolute path for path sources; `<volume>:<rel>` for volumes,
    /// `rel` being relative to the volume's root (so it includes the source's part, if any).
    pub path: String,
    pub kind: EntryKind,
    #[serde(default)]
    pub size: u64,
    /// Permission bits only (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Files only, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Symlinks only: the target, as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Entry {
    /// What the agent must receive for this entry on restore.
    pub fn to_expect(&self) -> Expect {
        Expect {
            name: self.name.clone(),
            kind: self.kind,
            size: self.size,
            sha256: self.sha256.clone(),
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            link: self.link.clone(),
        }
    }

    /// The entry's name inside the archive.
    pub fn archive_name(&self) -> String {
        data_entry_name(&self.node, &self.name)
    }
}

/// `data/<node>/<name>`.
pub fn data_entry_name(node: &str, name: &str) -> String {
    format!("{DATA_PREFIX}{node}/{name}")
}

/// Inventory node names, which become a directory level in the archive: `[A-Za-z0-9_.-]+`.
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Cluster names usable in an archive's file name: the same set as node names. Check before
/// [`archive_name`]: [`parse_archive_name`] does not recognise names made from others.
pub fn valid_cluster_name(name: &str) -> bool {
    valid_node_name(name)
}

/// What an archive's file name says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    pub cluster: String,
    pub data_only: bool,
    pub created_unix: u64,
    pub compression: Compression,
    pub encrypted: bool,
}

/// `<cluster>-backup[-data-only]-<YYYYMMDDTHHMMSSZ>.tar.zst[.age]` (`.tar.gz` for gzip).
pub fn archive_name(
    cluster: &str,
    data_only: bool,
    created_unix: u64,
    compression: Compression,
    encrypted: bool,
) -> String {
    format!(
        "{}{}",
        archive_id(cluster, data_only, created_unix),
        archive_extension(compression, encrypted)
    )
}

/// The file name without extensions: the manifest's `id`.
pub fn archive_id(cluster: &str, data_only: bool, created_unix: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(created_unix);
    format!(
        "{cluster}-backup{}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z",
        if data_only { "-data-only" } else { "" }
    )
}

pub fn archive_extension(compression: Compression, encrypted: bool) -> String {
    format!(
        "{}{}",
        compression.extension(),
        if encrypted { ".age" } else { "" }
    )
}

/// The inverse of [`archive_name`]; `None` for any other name (sidecars, partial files, strays).
pub fn parse_archive_name(file: &str) -> Option<NameInfo> {
    let (rest, encrypted) = match file.strip_suffix(".age") {
        Some(r) => (r, true),
        None => (file, false),
    };
    let (rest, compression) = if let Some(r) = rest.strip_suffix(".tar.zst") {
        (r, Compression::Zstd)
    } else if let Some(r) = rest.strip_suffix(".tar.gz") {
        (r, Compression::Gzip)
    } else {
        return None;
    };
    // The timestamp has a fixed width, so the cluster name may hold anything before it, even
    // "-backup".
    const STAMP: usize = "YYYYMMDDTHHMMSSZ".len();
    if rest.len() < STAMP + 1 || !rest.is_char_boundary(rest.len() - STAMP) {
        return None;
    }
    let (rest, stamp) = rest.split_at(rest.len() - STAMP);
    let rest = rest.strip_suffix('-')?;
    let created_unix = parse_compact(stamp)?;
    let (rest, data_only) = match rest.strip_suffix("-data-only") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let cluster = rest.strip_suffix("-backup")?;
    if !valid_cluster_name(cluster) {
        return None;
    }
    Some(NameInfo {
        cluster: cluster.to_string(),
        data_only,
        created_unix,
        compression,
        encrypted,
    })
}

/// `2026-11-22T10:15:00Z`.
pub fn rfc3339(unix_secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses what [`rfc3339`] writes (UTC, whole seconds, `Z`); `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let compact = format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    );
    parse_compact(&compact)
}

/// `YYYYMMDDTHHMMSSZ` -> unix seconds; rejects impossible dates (a round trip must give the
/// same text).
fn parse_compact(stamp: &str) -> Option<u64> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = &stamp[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if y < 1970 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let unix = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    let (ry, rmo, rd, ..) = civil(unix);
    (ry == y as i64 && rmo == mo as u32 && rd == d as u32).then_some(unix)
}

/// (year, month, day, hour, minute, second) in UTC.
pub(crate) fn civil(unix_secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// `YYYY-MM-DD` (UTC) of a time.
pub(crate) fn utc_day(unix_secs: u64) -> String {
    let (y, m, d, ..) = civil(unix_secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-Www`, the ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday).
pub(crate) fn iso_week(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    // 1970-01-01 was a Thursday: weekday 3 counting from Monday = 0.
    let weekday = (days + 3).rem_euclid(7);
    // A week belongs to the year its Thursday is in.
    let thursday = days - weekday + 3;
    let (year, ..) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    format!("{year:04}-W{week:02}")
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) -> days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-22T10:15:00Z
    const T: u64 = 1_795_342_500;

    #[test]
    fn utc_formatting() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(T), "2026-11-22T10:15:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(parse_rfc3339("2026-11-22T10:15:00Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22 10:15:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22T10:15:00+01:00"), None);
        // Every day for ~130 years round-trips, which checks both conversions against each other.
        for day in 0..48_000u64 {
            let t = day * 86_400 + 43_210;
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            archive_name("demo", true, T, Compression::Zstd, true),
            "demo-backup-data-only-20261122T101500Z.tar.zst.age"
        );
        assert_eq!(
            archive_name("demo", false, T, Compression::Gzip, false),
            "demo-backup-20261122T101500Z.tar.gz"
        );
        assert_eq!(archive_id("demo", false, T), "demo-backup-20261122T101500Z");
        for cluster in ["demo", "pf-prod.eu_1", "a-backup", "x-backup-data-only"] {
            for data_only in [false, true] {
                for compression in [Compression::Zstd, Compression::Gzip] {
                    for encrypted in [false, true] {
                        let name = archive_name(cluster, data_only, T, compression, encrypted);
                        assert_eq!(
                            parse_archive_name(&name),
                            Some(NameInfo {
                                cluster: cluster.to_string(),
                                data_only,
                                created_unix: T,
                                compression,
                                encrypted
                            }),
                            "{name}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn other_names_are_not_archives() {
        for name in [
            "demo-backup-20261122T101500Z.tar.zst.json",
            "demo-backup-20261122T101500Z.tar.zst.partial",
            "demo-backup-20261122T101500Z.tar.xz",
            "demo-backup-20261122T101500Z.zst",
            "demo-20261122T101500Z.tar.zst",
            "-backup-20261122T101500Z.tar.zst",
            "demo-backup-20261322T101500Z.tar.zst",
            "demo-backup-20260230T101500Z.tar.zst",
            "demo-backup-20261122T101500.tar.zst",
            "demo-backup20261122T101500Z.tar.zst",
            "de mo-backup-20261122T101500Z.tar.zst",
            "notes.txt",
            ".tar.zst",
        ] {
            assert_eq!(parse_archive_name(name), None, "{name}");
        }
    }

    #[test]
    fn iso_weeks_and_days() {
        let at = |s: &str| parse_rfc3339(s).unwrap();
        assert_eq!(iso_week(at("2026-11-22T10:15:00Z")), "2026-W47");
        assert_eq!(iso_week(at("2026-11-23T00:00:00Z")), "2026-W48");
        // 2026 starts on a Thursday, so it has 53 weeks and the first days of 2027 are in its last.
        assert_eq!(iso_week(at("2026-01-01T00:00:00Z")), "2026-W01");
        assert_eq!(iso_week(at("2026-12-31T23:59:59Z")), "2026-W53");
        assert_eq!(iso_week(at("2027-01-03T12:00:00Z")), "2026-W53");
        assert_eq!(iso_week(at("2027-01-04T00:00:00Z")), "2027-W01");
        // And the other way: 2024-12-30 (a Monday) is in week 1 of 2025.
        assert_eq!(iso_week(at("2024-12-29T00:00:00Z")), "2024-W52");
        assert_eq!(iso_week(at("2024-12-30T00:00:00Z")), "2025-W01");
        assert_eq!(utc_day(at("2026-12-31T23:59:59Z")), "2026-12-31");
    }

    #[test]
    fn manifest_json_shape() {
        let e = Entry {
            node: "node1".into(),
            source: "db".into(),
            name: "db/x".into(),
            path: "pgdata:x".into(),
            kind: EntryKind::File,
            size: 3,
            mode: 0o600,
            uid: 999,
            gid: 999,
            mtime: T,
            sha256: Some("ab".into()),
            link: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "file");
        assert!(v.get("link").is_none());
        let back: Entry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        let x = e.to_expect();
        assert_eq!(
            (x.name.as_str(), x.size, x.mode, x.uid, x.sha256.as_deref()),
            ("db/x", 3, 0o600, 999, Some("ab"))
        );
        assert_eq!(e.archive_name(), "data/node1/db/x");
        assert_eq!(
            serde_json::to_string(&Compression::Gzip).unwrap(),
            "\"gzip\""
        );
        assert_eq!(pfproto::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn node_names() {
        assert!(valid_node_name("node1"));
        assert!(valid_node_name("pf-01.example_x"));
        assert!(!valid_node_name(""));
        assert!(!valid_node_name(".."));
        assert!(!valid_node_name("a/b"));
        assert!(!valid_node_name("a b"));
    }
}
