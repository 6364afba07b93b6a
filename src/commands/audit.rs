//! `pfctl audit`: the actions the agents performed on request (what autoheal did), read from
//! every node's audit log and merged cluster-wide, newest first.

use crate::cli::AuditArgs;
use crate::context::Ctx;
use crate::fanout::{each_node, NodeError};
use crate::output::{utc, Format};
use crate::report::SCHEMA;
use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use pfproto::action::{AuditEntry, AuditList, AuditListParams};
use pfproto::method;
use serde_json::{json, Value};

pub async fn run(ctx: &Ctx, args: &AuditArgs) -> Result<i32> {
    let params = serde_json::to_value(AuditListParams { limit: args.last })?;
    let outcomes = each_node(
        &ctx.targets,
        &ctx.fanout,
        async |node| {
            let (conn, _) = node.agent().await?;
            conn.call::<AuditList>(method::AUDIT_LIST, params.clone())
                .await
                .map_err(|e| NodeError::Agent(e.to_string()))
        },
        |_| {},
    )
    .await;
    let mut entries: Vec<(String, AuditEntry)> = Vec::new();
    let mut nodes = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(list) => {
                nodes.push(json!({"name": o.target.name, "entries": list.entries.len()}));
                entries.extend(
                    list.entries
                        .iter()
                        .map(|e| (o.target.name.clone(), e.clone())),
                );
            }
            Err(e) => nodes.push(json!({"name": o.target.name, "error": e.to_string()})),
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.1.at_unix_ms));
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    match ctx.format {
        Format::Json | Format::Ndjson => {
            let list: Vec<Value> = entries
                .iter()
                .map(|(node, e)| {
                    let mut v = serde_json::to_value(e).unwrap_or_default();
                    v["node"] = json!(node);
                    v
                })
                .collect();
            let doc = json!({"schema": SCHEMA, "action": "audit", "nodes": nodes, "entries": list});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        _ => {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
            if ctx.format != Format::Table {
                t.force_no_tty();
            }
            t.set_header(vec![
                "time", "node", "run", "actor", "method", "target", "result", "before", "after",
            ]);
            for (node, e) in &entries {
                let result = match (&e.ok, &e.error) {
                    (true, _) => "ok".to_string(),
                    (false, err) => format!("failed: {}", err.as_deref().unwrap_or("?")),
                };
                t.add_row(vec![
                    utc(e.at_unix_ms),
                    node.clone(),
                    e.run_id.clone(),
                    e.actor.clone(),
                    e.method.clone(),
                    e.target.clone(),
                    result,
                    compact(&e.before),
                    compact(&e.after),
                ]);
            }
            println!("{t}");
            for o in outcomes.iter().filter(|o| o.result.is_err()) {
                if let Err(e) = &o.result {
                    eprintln!("pfctl: audit: {}: {e}", o.target.name);
                }
            }
        }
    }
    Ok(if failed > 0 { 3 } else { 0 })
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
