//! Disk facts: which mount each interesting path lives on and how full it is.

use std::path::{Path, PathBuf};

use pfproto::facts::DiskFacts;

/// Reports each `(role, path)` once per mount, with the roles sharing a mount joined by ",".
/// Paths that cannot be examined (not created yet, no permission) are left out.
pub fn disks(paths: &[(&str, PathBuf)]) -> Vec<DiskFacts> {
    let mounts = mount_points(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    let mut out: Vec<DiskFacts> = Vec::new();
    for (role, path) in paths {
        let real = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => continue,
        };
        let Ok(st) = nix::sys::statvfs::statvfs(&real) else {
            continue;
        };
        let mount_point = longest_mount(&mounts, &real).unwrap_or_else(|| "/".to_string());
        if let Some(d) = out.iter_mut().find(|d| d.mount_point == mount_point) {
            d.role.push(',');
            d.role.push_str(role);
            continue;
        }
        let frag = st.fragment_size();
        out.push(DiskFacts {
            role: role.to_string(),
            path: path.display().to_string(),
            mount_point,
            total_bytes: st.blocks() * frag,
            available_bytes: st.blocks_available() * frag,
        });
    }
    out
}

/// Mount points from /proc/self/mountinfo (field 5), with the kernel's octal escapes undone.
pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_octal)
        .collect()
}

/// The kernel writes space, tab, newline and backslash in paths as `\040`, `\011`, `\012`, `\134`.
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount containing `path`: the longest mount point that is a whole-component prefix of it.
pub fn longest_mount(mounts: &[String], path: &Path) -> Option<String> {
    mounts
        .iter()
        .filter(|m| path.starts_with(Path::new(m.as_str())))
        .max_by_key(|m| Path::new(m.as_str()).components().count())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 254:2 / /var/lib/docker rw,relatime shared:20 - xfs /dev/vdb rw
41 22 254:3 / /mnt/my\\040disk rw,relatime shared:21 - ext4 /dev/vdc rw
42 22 254:4 / /var/lib/dockerx rw - ext4 /dev/vdd rw
";

    #[test]
    fn unescapes_mountinfo() {
        let m = mount_points(MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert!(m.contains(&"/mnt/my disk".to_string()));
        assert_eq!(unescape_octal("a\\011b\\134c\\012"), "a\tb\\c\n");
        // Not an escape: left alone rather than misread.
        assert_eq!(unescape_octal("x\\09y\\"), "x\\09y\\");
    }

    #[test]
    fn picks_longest_whole_component_mount() {
        let m = mount_points(MOUNTINFO);
        let at = |p: &str| longest_mount(&m, Path::new(p)).unwrap();
        assert_eq!(at("/var/lib/docker/overlay2"), "/var/lib/docker");
        assert_eq!(at("/var/lib/docker"), "/var/lib/docker");
        assert_eq!(at("/var/lib/dockerx/a"), "/var/lib/dockerx");
        assert_eq!(at("/var/lib/docker-old"), "/");
        assert_eq!(at("/mnt/my disk/state"), "/mnt/my disk");
        assert_eq!(at("/etc"), "/");
    }

    #[test]
    fn deduplicates_by_mount() {
        let dir = std::env::temp_dir();
        let d = disks(&[
            ("root", PathBuf::from("/")),
            ("state", dir.clone()),
            ("missing", PathBuf::from("/nonexistent/pfagent")),
        ]);
        assert!(!d.is_empty());
        assert!(d.iter().all(|x| !x.role.contains("missing")));
        let mounts: Vec<_> = d.iter().map(|x| &x.mount_point).collect();
        let mut uniq = mounts.clone();
        uniq.dedup();
        assert_eq!(mounts.len(), uniq.len());
        let roles: Vec<&str> = d.iter().flat_map(|x| x.role.split(',')).collect();
        assert!(roles.contains(&"root") && roles.contains(&"state"));
        assert!(d[0].total_bytes > 0);
    }
}
