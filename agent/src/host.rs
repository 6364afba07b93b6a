//! Facts about the node read from the kernel: /proc, /etc/os-release, uname.
//! Parsers take text so they can be tested without the files.

use std::fs;

use pfproto::facts::{CpuFacts, MemoryFacts, OsFacts};

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn os() -> OsFacts {
    let name = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .and_then(|t| os_release_name(&t))
        .unwrap_or_default();
    let kernel = nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.release().to_string_lossy(),
                u.version().to_string_lossy()
            )
        })
        .unwrap_or_default();
    let boot_id = read_trimmed("/proc/sys/kernel/random/boot_id");
    let uptime_s = parse_uptime(&read_trimmed("/proc/uptime")).unwrap_or(0);
    OsFacts {
        name,
        kernel,
        boot_id,
        uptime_s,
    }
}

pub fn cpu() -> CpuFacts {
    // Online CPUs of the node, not this process's affinity or cgroup quota.
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let count = if online > 0 {
        online as u32
    } else {
        std::thread::available_parallelism().map_or(0, |n| n.get() as u32)
    };
    let load = parse_loadavg(&read_trimmed("/proc/loadavg")).unwrap_or_default();
    CpuFacts { count, load }
}

pub fn memory() -> MemoryFacts {
    parse_meminfo(&fs::read_to_string("/proc/meminfo").unwrap_or_default())
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `PRETTY_NAME` (else `NAME`) from os-release(5) text: shell-style assignments, optionally quoted.
pub fn os_release_name(text: &str) -> Option<String> {
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            (k == key).then(|| unquote(v.trim()))
        })
    };
    get("PRETTY_NAME")
        .or_else(|| get("NAME"))
        .filter(|s| !s.is_empty())
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return v[1..v.len() - 1].to_string();
    }
    let inner = if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn parse_uptime(text: &str) -> Option<u64> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(secs as u64)
}

pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>());
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

pub fn parse_meminfo(text: &str) -> MemoryFacts {
    let kb = |key: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            let n: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(n * 1024)
        })
    };
    let total_bytes = kb("MemTotal").unwrap_or(0);
    // Kernels before 3.14 lack MemAvailable; free + page cache is the usual approximation.
    let available_bytes = kb("MemAvailable").unwrap_or_else(|| {
        kb("MemFree").unwrap_or(0) + kb("Buffers").unwrap_or(0) + kb("Cached").unwrap_or(0)
    });
    MemoryFacts {
        total_bytes,
        available_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "MemTotal:       16315428 kB\nMemFree:          512000 kB\nMemAvailable:    8000000 kB\nBuffers: 1 kB\n";
        let m = parse_meminfo(text);
        assert_eq!(m.total_bytes, 16315428 * 1024);
        assert_eq!(m.available_bytes, 8000000 * 1024);
    }

    #[test]
    fn meminfo_without_available() {
        let text =
            "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 20 kB\nSwapCached: 5 kB\n";
        let m = parse_meminfo(text);
        assert_eq!(m.total_bytes, 1000 * 1024);
        assert_eq!(m.available_bytes, 130 * 1024);
        assert_eq!(parse_meminfo("garbage"), MemoryFacts::default());
    }

    #[test]
    fn loadavg() {
        assert_eq!(
            parse_loadavg("0.52 1.25 2.00 3/812 12345\n"),
            Some([0.52, 1.25, 2.0])
        );
        assert_eq!(parse_loadavg("0.5 x"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn uptime() {
        assert_eq!(parse_uptime("12345.67 54321.00"), Some(12345));
        assert_eq!(parse_uptime(""), None);
    }

    #[test]
    fn os_release() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nID=debian\n";
        assert_eq!(
            os_release_name(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_name("NAME=Alpine\n").as_deref(), Some("Alpine"));
        assert_eq!(
            os_release_name("PRETTY_NAME='Single quoted'\n").as_deref(),
            Some("Single quoted")
        );
        assert_eq!(
            os_release_name("PRETTY_NAME=\"Say \\\"hi\\\"\"\n").as_deref(),
            Some("Say \"hi\"")
        );
        // A key that merely starts with another must not match it.
        assert_eq!(
            os_release_name("PRETTY_NAMES=x\nNAME=y\n").as_deref(),
            Some("y")
        );
        assert_eq!(os_release_name(""), None);
    }
}
