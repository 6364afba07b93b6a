//! Which backups a retention policy keeps, with restic's `forget` semantics: keep the N newest;
//! for each of the D most recent UTC days that have backups, the newest of that day; likewise for
//! the W most recent ISO weeks. A backup kept by several rules lists every reason.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::manifest::{iso_week, utc_day};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PrunePlan {
    /// Newest first, each with why: `last 1`, `daily 2026-11-20`, `weekly 2026-W47`.
    pub keep: Vec<(String, Vec<String>)>,
    /// Newest first.
    pub remove: Vec<String>,
}

/// Plans a prune of one cluster's backups (file name, creation time in unix seconds).
pub fn plan(backups: &[(String, u64)], policy: &Policy) -> Result<PrunePlan> {
    if policy.keep_last == 0 && policy.keep_daily == 0 && policy.keep_weekly == 0 {
        bail!("the retention policy keeps nothing (keep_last, keep_daily and keep_weekly are all 0); refusing to delete every backup");
    }
    let mut sorted: Vec<&(String, u64)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    sorted.dedup_by(|a, b| a.0 == b.0);

    let mut daily = Bucket::new(policy.keep_daily);
    let mut weekly = Bucket::new(policy.keep_weekly);
    let mut out = PrunePlan::default();
    for (i, (file, created)) in sorted.into_iter().enumerate() {
        let mut why = Vec::new();
        if (i as u64) < u64::from(policy.keep_last) {
            why.push(format!("last {}", i + 1));
        }
        if let Some(day) = daily.take(utc_day(*created)) {
            why.push(format!("daily {day}"));
        }
        if let Some(week) = weekly.take(iso_week(*created)) {
            why.push(format!("weekly {week}"));
        }
        if why.is_empty() {
            out.remove.push(file.clone());
        } else {
            out.keep.push((file.clone(), why));
        }
    }
    Ok(out)
}

/// One periodic rule: keeps the first (newest) backup of each new period, `left` times.
struct Bucket {
    left: u32,
    last: Option<String>,
}

impl Bucket {
    fn new(count: u32) -> Self {
        Bucket {
            left: count,
            last: None,
        }
    }

    fn take(&mut self, period: String) -> Option<String> {
        if self.left == 0 || self.last.as_ref() == Some(&period) {
            return None;
        }
        self.left -= 1;
        self.last = Some(period.clone());
        Some(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::parse_rfc3339;

    fn backups(times: &[&str]) -> Vec<(String, u64)> {
        times
            .iter()
            .map(|t| (format!("b-{t}"), parse_rfc3339(t).unwrap()))
            .collect()
    }

    fn policy(keep_last: u32, keep_daily: u32, keep_weekly: u32) -> Policy {
        Policy {
            keep_last,
            keep_daily,
            keep_weekly,
        }
    }

    fn kept(plan: &PrunePlan) -> Vec<(&str, Vec<&str>)> {
        plan.keep
            .iter()
            .map(|(f, why)| (f.as_str(), why.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn keeps_the_last_n_whatever_the_input_order() {
        let b = backups(&[
            "2026-11-20T10:00:00Z",
            "2026-11-22T10:00:00Z",
            "2026-11-21T10:00:00Z",
            "2026-11-19T10:00:00Z",
        ]);
        let p = plan(&b, &policy(2, 0, 0)).unwrap();
        assert_eq!(
            kept(&p),
            [
                ("b-2026-11-22T10:00:00Z", vec!["last 1"]),
                ("b-2026-11-21T10:00:00Z", vec!["last 2"]),
            ]
        );
        assert_eq!(
            p.remove,
            ["b-2026-11-20T10:00:00Z", "b-2026-11-19T10:00:00Z"]
        );
        // More to keep than there are: nothing is removed.
        let p = plan(&b, &policy(10, 0, 0)).unwrap();
        assert_eq!(p.keep.len(), 4);
        assert!(p.remove.is_empty());
    }

    #[test]
    fn daily_keeps_the_newest_of_each_recent_day() {
        let b = backups(&[
            "2026-11-22T01:00:00Z",
            "2026-11-22T23:00:00Z",
            "2026-11-22T12:00:00Z",
            "2026-11-20T08:00:00Z",
            "2026-11-20T20:00:00Z",
            "2026-11-19T23:59:59Z",
            "2026-11-18T00:00:00Z",
        ]);
        let p = plan(&b, &policy(1, 3, 0)).unwrap();
        assert_eq!(
            kept(&p),
            [
                ("b-2026-11-22T23:00:00Z", vec!["last 1", "daily 2026-11-22"]),
                ("b-2026-11-20T20:00:00Z", vec!["daily 2026-11-20"]),
                ("b-2026-11-19T23:59:59Z", vec!["daily 2026-11-19"]),
            ]
        );
        assert_eq!(
            p.remove,
            [
                "b-2026-11-22T12:00:00Z",
                "b-2026-11-22T01:00:00Z",
                "b-2026-11-20T08:00:00Z",
                "b-2026-11-18T00:00:00Z",
            ]
        );
    }

    #[test]
    fn weekly_follows_iso_weeks_across_the_year_end() {
        // 2026-12-31 (Thu) and 2027-01-03 (Sun) are both in 2026-W53; 2027-01-04 starts 2027-W01.
        let b = backups(&[
            "2026-12-24T10:00:00Z",
            "2026-12-28T10:00:00Z",
            "2026-12-31T10:00:00Z",
            "2027-01-01T10:00:00Z",
            "2027-01-04T10:00:00Z",
            "2027-01-05T10:00:00Z",
        ]);
        let p = plan(&b, &policy(0, 0, 3)).unwrap();
        assert_eq!(
            kept(&p),
            [
                ("b-2027-01-05T10:00:00Z", vec!["weekly 2027-W01"]),
                ("b-2027-01-01T10:00:00Z", vec!["weekly 2026-W53"]),
                ("b-2026-12-24T10:00:00Z", vec!["weekly 2026-W52"]),
            ]
        );
        assert_eq!(
            p.remove,
            [
                "b-2027-01-04T10:00:00Z",
                "b-2026-12-31T10:00:00Z",
                "b-2026-12-28T10:00:00Z",
            ]
        );
        // Daily sees the year boundary as two days.
        let p = plan(&b, &policy(0, 4, 1)).unwrap();
        assert_eq!(
            kept(&p),
            [
                (
                    "b-2027-01-05T10:00:00Z",
                    vec!["daily 2027-01-05", "weekly 2027-W01"]
                ),
                ("b-2027-01-04T10:00:00Z", vec!["daily 2027-01-04"]),
                ("b-2027-01-01T10:00:00Z", vec!["daily 2027-01-01"]),
                ("b-2026-12-31T10:00:00Z", vec!["daily 2026-12-31"]),
            ]
        );
    }

    #[test]
    fn keeping_nothing_is_refused() {
        let b = backups(&["2026-11-22T10:00:00Z"]);
        let e = plan(&b, &policy(0, 0, 0)).unwrap_err();
        assert!(e.to_string().contains("keeps nothing"), "{e}");
        assert_eq!(plan(&[], &policy(1, 0, 0)).unwrap(), PrunePlan::default());
    }
}
