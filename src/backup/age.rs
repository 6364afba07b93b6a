//! The `backup.age` check: how old the newest verified backup at the profile's destination is.
//! Run by the controller (the catalogue is beside the archives, not on the nodes).

use serde_json::json;

use crate::backup::catalogue;
use crate::backup::manifest::parse_archive_name;
use crate::backup::store::Store;
use crate::checks::Finding;
use crate::context::Ctx;
use crate::profile::Profile;
use crate::report::Status;

const ID: &str = "backup.age";
const CLUSTER: &str = "cluster";

/// No finding when the profile says nothing about backups.
pub async fn check(ctx: &Ctx, profile: &Profile, now_unix: i64) -> Option<Finding> {
    let cfg = profile.backup.as_ref()?;
    let Some(dest) = &cfg.destination else {
        return Some(Finding::new(
            ID,
            CLUSTER,
            Status::Skip,
            "no destination in the profile's [backup]: set destination to have backups' age checked",
        ));
    };
    let cluster = ctx.cluster.clone().unwrap_or_else(|| profile.stack.clone());
    let store = match Store::open(dest, ctx).await {
        Ok(s) => s,
        Err(e) => {
            return Some(Finding::new(
                ID,
                CLUSTER,
                Status::Unknown,
                format!("cannot read the backup destination: {e:#}"),
            ))
        }
    };
    let rows = crate::commands::backup::catalogue_rows(&store).await;
    store.close().await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            return Some(Finding::new(
                ID,
                CLUSTER,
                Status::Unknown,
                format!("cannot list {dest}: {e:#}"),
            ))
        }
    };
    Some(judge(&rows, &cluster, dest, cfg.max_age_hours, now_unix))
}

fn judge(
    rows: &[catalogue::Row],
    cluster: &str,
    dest: &str,
    max_age_hours: u64,
    now_unix: i64,
) -> Finding {
    let newest = rows
        .iter()
        .filter(|r| r.status == catalogue::RowStatus::Verified)
        .filter_map(|r| {
            let info = parse_archive_name(&r.file)?;
            (info.cluster == cluster).then_some((info.created_unix, r.file.as_str()))
        })
        .max();
    let Some((created, file)) = newest else {
        return Finding::new(
            ID,
            CLUSTER,
            Status::Warn,
            format!("no verified backup of {cluster} at {dest}: run pfctl backup create"),
        )
        .with(json!({"destination": dest}));
    };
    let age_h = (now_unix - created as i64).max(0) as f64 / 3600.0;
    let evidence = json!({"file": file, "age_hours": (age_h * 10.0).round() / 10.0, "max_age_hours": max_age_hours});
    if age_h > max_age_hours as f64 {
        Finding::new(
            ID,
            CLUSTER,
            Status::Warn,
            format!("newest verified backup {file} is {age_h:.1} h old (limit {max_age_hours} h): check the backup schedule"),
        )
        .with(evidence)
    } else {
        Finding::new(
            ID,
            CLUSTER,
            Status::Ok,
            format!("newest verified backup {file} is {age_h:.1} h old"),
        )
        .with(evidence)
    }
}
