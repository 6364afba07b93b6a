//! Clock facts from the kernel's NTP state (adjtimex), which every time daemon updates.

use std::time::{SystemTime, UNIX_EPOCH};

use pfproto::facts::ClockFacts;

pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn clock() -> ClockFacts {
    // SAFETY: timex is plain data; modes = 0 makes adjtimex read-only.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    let (synchronized, detail) = if state < 0 {
        (
            None,
            format!("adjtimex failed: {}", std::io::Error::last_os_error()),
        )
    } else {
        describe(state, tx.status, tx.esterror as i64)
    };
    ClockFacts {
        unix_ms: unix_ms(),
        synchronized,
        detail,
    }
}

pub fn describe(state: i32, status: i32, esterror_us: i64) -> (Option<bool>, String) {
    if state != libc::TIME_ERROR && status & libc::STA_UNSYNC == 0 {
        (
            Some(true),
            format!("adjtimex: clock synchronized, est. error {esterror_us} us"),
        )
    } else {
        (
            Some(false),
            "adjtimex: clock not synchronized (no time daemon has disciplined it)".to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_decision() {
        assert_eq!(describe(libc::TIME_OK, 0, 1200).0, Some(true));
        assert!(describe(libc::TIME_OK, 0, 1200).1.contains("1200 us"));
        assert_eq!(describe(libc::TIME_OK, libc::STA_UNSYNC, 0).0, Some(false));
        assert_eq!(describe(libc::TIME_ERROR, 0, 0).0, Some(false));
        let c = clock();
        assert!(c.unix_ms > 1_600_000_000_000);
        assert!(c.detail.starts_with("adjtimex"));
    }
}
