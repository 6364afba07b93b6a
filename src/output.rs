//! Rendering a [`Report`]: a table for people, JSON / NDJSON for programs, the original plain
//! `title host.....[OK]` lines for scripts written against powerflowcontrol, JUnit for CI.
//! Progress goes to stderr and only on a terminal, so cron and pipes get clean output.

use crate::report::{CheckResult, NodeReport, Report, Status, SCHEMA};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Plain,
    Junit,
}

impl Format {
    /// A table on a terminal, the plain lines everywhere else (what cron and `| grep` expect).
    pub fn default_for_stdout() -> Format {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Plain
        }
    }
}

static NO_COLOUR: AtomicBool = AtomicBool::new(false);

/// Tables without colour even on a terminal (`--cron`: mail and log files want plain text).
pub fn disable_colour() {
    NO_COLOUR.store(true, Ordering::Relaxed);
}

/// `512 B`, `1.9 GiB`: binary units, one decimal above bytes.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `2026-11-22 07:11:22 UTC`, without a date library: the civil calendar from days since 1970.
pub fn utc(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// "Changed since the last pass (...): new: ...; resolved: ...", or `None` without history.
fn changes_block(report: &Report, always: bool) -> Option<String> {
    let c = report.changes.as_ref()?;
    if c.is_empty() && !always {
        return None;
    }
    let since = match &c.since {
        Some(s) => utc(s.started_unix_ms),
        None => "none recorded".to_string(),
    };
    if c.is_empty() {
        return Some(format!("No change since the last pass ({since})\n"));
    }
    let list = |items: &[crate::report::Change], with_status: bool| {
        if items.is_empty() {
            return "none".to_string();
        }
        items
            .iter()
            .map(|x| match with_status {
                true => format!("{} {} ({})", x.check, x.node, x.status),
                false => format!("{} {}", x.check, x.node),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "Changed since the last pass ({since}): new: {}; resolved: {}\n",
        list(&c.new, true),
        list(&c.resolved, false)
    ))
}

/// Streams what must appear while a run is under way: NDJSON events and the progress bar.
pub struct Emitter {
    format: Format,
    bar: Option<ProgressBar>,
    out: Mutex<()>,
}

impl Emitter {
    pub fn new(format: Format, action: &str, nodes: usize, quiet: bool) -> Emitter {
        let show = !quiet
            && std::io::stderr().is_terminal()
            && nodes > 1
            && std::env::var_os("CI").is_none();
        let bar = show.then(|| {
            let bar = ProgressBar::new(nodes as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} nodes ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(action.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Emitter {
            format,
            bar,
            out: Mutex::new(()),
        }
    }

    pub fn node_done(&self, node: &NodeReport) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.format == Format::Ndjson {
            self.line(&json!({"schema": SCHEMA, "event": "node", "node": node}));
        }
    }

    pub fn result(&self, result: &CheckResult) {
        if self.format == Format::Ndjson {
            self.line(&json!({"schema": SCHEMA, "event": "result", "result": result}));
        }
    }

    fn line(&self, value: &serde_json::Value) {
        let _guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Renders the whole report once the run is over (NDJSON ends with its summary event).
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Ndjson => {
            let mut summary = json!({
                "schema": SCHEMA, "event": "summary", "action": report.action,
                "status": report.status, "duration_ms": report.duration_ms, "summary": report.summary,
            });
            if let Some(c) = &report.changes {
                summary["run_id"] = json!(report.run_id);
                summary["changes"] = json!(c);
            }
            format!("{summary}\n")
        }
        Format::Plain => plain(report),
        Format::Table => table(report),
        Format::Junit => junit(report),
    }
}

fn status_cell(status: Status) -> Cell {
    let color = match status {
        Status::Ok => Color::Green,
        Status::Skip => Color::DarkGrey,
        Status::Warn => Color::Yellow,
        Status::Unknown => Color::Magenta,
        Status::Fail => Color::Red,
    };
    Cell::new(status.word().to_uppercase()).fg(color)
}

fn table(report: &Report) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if NO_COLOUR.load(Ordering::Relaxed) || std::env::var_os("NO_COLOR").is_some() {
        t.force_no_tty();
    }
    t.set_header(vec!["check", "node", "status", "message"]);
    for r in &report.results {
        t.add_row(vec![
            Cell::new(&r.title),
            Cell::new(&r.node),
            status_cell(r.status),
            Cell::new(&r.message),
        ]);
    }
    let s = &report.summary;
    format!(
        "{t}\n{}{}: {} ({} ok, {} warn, {} fail, {} unknown, {} skipped) in {:.2}s\n",
        changes_block(report, true).unwrap_or_default(),
        report.action,
        report.status.word().to_uppercase(),
        s.ok,
        s.warn,
        s.fail,
        s.unknown,
        s.skip,
        report.duration_ms as f64 / 1000.0
    )
}

/// The original tool's line shape: `<title> <host>.....[OK]`, padded to a fixed width.
fn plain(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.results {
        let head = format!("{} {}", r.title, r.node);
        let dots = ".".repeat(60usize.saturating_sub(head.len()).max(5));
        out.push_str(&format!("{head}{dots}[{}]", r.status.word().to_uppercase()));
        if r.status != Status::Ok && !r.message.is_empty() {
            out.push_str(&format!(" {}", r.message));
        }
        out.push('\n');
    }
    out.push_str(&changes_block(report, false).unwrap_or_default());
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit(report: &Report) -> String {
    let s = &report.summary;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"pfctl {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        xml_escape(&report.action),
        report.results.len(),
        s.fail + s.warn,
        s.unknown,
        s.skip,
        report.duration_ms as f64 / 1000.0
    );
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\">\n",
        xml_escape(&report.action),
        report.results.len()
    ));
    for r in &report.results {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml_escape(&r.node),
            xml_escape(&r.check)
        ));
        let msg = xml_escape(&r.message);
        match r.status {
            Status::Ok => {}
            Status::Skip => out.push_str(&format!("<skipped message=\"{msg}\"/>")),
            Status::Warn | Status::Fail => out.push_str(&format!(
                "<failure type=\"{}\" message=\"{msg}\"/>",
                r.status.word()
            )),
            Status::Unknown => {
                out.push_str(&format!("<error type=\"unknown\" message=\"{msg}\"/>"))
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn report() -> Report {
        let r = |node: &str, status| CheckResult {
            check: "facts".into(),
            title: "facts".into(),
            node: node.into(),
            status,
            message: if status == Status::Ok {
                String::new()
            } else {
                "no route to host <x>".into()
            },
            evidence: Value::Null,
        };
        Report::new(
            "facts",
            0,
            1500,
            vec![],
            vec![r("node1", Status::Ok), r("node2", Status::Unknown)],
        )
    }

    #[test]
    fn plain_lines_keep_the_original_shape() {
        let text = render(&report(), Format::Plain);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("facts node1....") && lines[0].ends_with("[OK]"),
            "{text}"
        );
        assert!(lines[1].contains("[UNKNOWN] no route to host"), "{text}");
        assert_eq!(lines[0].find('['), lines[1].find('['));
    }

    #[test]
    fn json_has_the_schema_and_summary() {
        let v: Value = serde_json::from_str(&render(&report(), Format::Json)).unwrap();
        assert_eq!(v["schema"], "pfctl/v1");
        assert_eq!(v["status"], "unknown");
        assert_eq!(v["summary"]["unknown"], 1);
        assert_eq!(v["results"][1]["node"], "node2");
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = render(&report(), Format::Junit);
        assert!(
            x.contains("tests=\"2\"")
                && x.contains("&lt;x&gt;")
                && x.contains("<error type=\"unknown\""),
            "{x}"
        );
    }

    #[test]
    fn utc_is_the_civil_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_300_000_999), "2026-11-21 22:26:40 UTC");
    }

    #[test]
    fn changes_are_named_in_plain_and_table_output() {
        use crate::report::{Change, Changes, Since};
        let mut r = report();
        assert!(!render(&r, Format::Plain).contains("Changed"));
        r.changes = Some(Changes::default());
        assert!(!render(&r, Format::Plain).contains("since the last pass"));
        assert!(render(&r, Format::Table).contains("No change since the last pass (none recorded)"));
        r.changes = Some(Changes {
            since: Some(Since {
                run_id: "ab12".into(),
                started_unix_ms: 0,
            }),
            new: vec![Change {
                check: "facts".into(),
                node: "node2".into(),
                status: "unknown".into(),
                was: Some("ok".into()),
                message: String::new(),
            }],
            resolved: vec![],
        });
        let text = render(&r, Format::Plain);
        assert!(
            text.ends_with("Changed since the last pass (1970-01-01 00:00:00 UTC): new: facts node2 (unknown); resolved: none\n"),
            "{text}"
        );
    }
}
