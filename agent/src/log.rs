//! A tiny stderr logger. The agent runs under systemd (journal) or at the end of an SSH exec
//! (stderr channel), so plain timestamped lines are all it needs.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn write(level: &str, args: std::fmt::Arguments<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let line = format!(
        "{}.{:03} pfagent[{}] {}: {}\n",
        now.as_secs(),
        now.subsec_millis(),
        std::process::id(),
        level,
        args
    );
    // One write per line so concurrent tasks never interleave within a line.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write("info", format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::write("warning", format_args!($($arg)*)) };
}
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write("error", format_args!($($arg)*)) };
}
pub(crate) use {error, info, warning};
