//! Licenses on the test cluster: request, issue (vendor side), install on every node through the
//! agents, status and the `license.valid` check, and every way a license can be bad.

use crate::common::lab::Lab;
use crate::common::*;
use pfctl::license::{self, Tier};
use std::path::{Path, PathBuf};

const PATH: &str = "/etc/iservices/pfctl-license.json";

/// Removes the license from every node when dropped (license.valid is the other tests' business).
struct Unlicensed;

impl Drop for Unlicensed {
    fn drop(&mut self) {
        for n in ["node1", "node2", "node3"] {
            let _ = testcluster(&[
                "exec",
                n,
                "--",
                "rm",
                "-f",
                PATH,
                &format!("{PATH}.pfctl-prev"),
            ]);
        }
    }
}

fn on_node(node: &str) -> String {
    let out = testcluster(&[
        "exec",
        node,
        "--",
        "sh",
        "-c",
        &format!("sha256sum {PATH} 2>/dev/null | cut -d' ' -f1"),
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Vendor {
    dir: tempfile::TempDir,
    key: license::SigningKey,
}

impl Vendor {
    fn new(lab: &Lab) -> Vendor {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("vendor");
        let r = lab.pfctl(&["license", "keygen", "--out", prefix.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{r:?}");
        let text = std::fs::read_to_string(dir.path().join("vendor.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("vendor.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
        Vendor {
            key: license::SigningKey::parse(text.trim()).unwrap(),
            dir,
        }
    }
    fn public(&self) -> PathBuf {
        self.dir.path().join("vendor.pub")
    }
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A license for `req` made at `now_unix` (the library, to make old ones).
    fn issue_at(&self, req: &license::Request, days: u32, now_unix: u64, name: &str) -> PathBuf {
        let bytes = license::issue(&self.key, req, Tier::Standard, days, vec![], now_unix).unwrap();
        let f = self.file(name);
        std::fs::write(&f, bytes).unwrap();
        f
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn lab_trusting(vendor_pub: &Path) -> Lab {
    let key = std::fs::read_to_string(vendor_pub).unwrap();
    Lab::with(&format!(
        "\n[clusters.test.overrides.license]\ntrusted_keys = [\"{}\"]\n",
        key.trim()
    ))
}

fn check(lab: &Lab) -> (String, String) {
    let r = lab.pfctl(&["healthcheck", "-o", "json"]);
    let x = r.result("license.valid", "cluster");
    (
        x["status"].as_str().unwrap().to_string(),
        x["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn request_issue_install_status_round_trip_and_every_bad_license() {
    let _lock = exclusive();
    let _clean = Unlicensed;
    // A license binds to the swarm: on a fresh machine no test may have formed it yet.
    demo_stack("up");
    let plain = Lab::new();
    let vendor = Vendor::new(&plain);
    let lab = lab_trusting(&vendor.public());

    // No license on a test system (licensing optional in the demo profile): a skip.
    let (status, message) = check(&lab);
    assert_eq!(status, "skip", "{message}");

    // The customer asks; the request names this swarm.
    let req_file = vendor.file("acme_key.iskey");
    let r = lab.pfctl(&[
        "license",
        "request",
        "--customer",
        "Acme Corp",
        "--email",
        "ops@acme.example",
        "--out",
        req_file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let req = license::Request::parse(&std::fs::read(&req_file).unwrap()).unwrap();
    let swarm_id = docker("node1", &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    assert_eq!(req.cluster_id, swarm_id.trim());
    assert_eq!(req.node_ids.len(), 3, "{req:?}");

    // The vendor signs; the customer installs on the whole cluster.
    let lic = vendor.file("acme.license");
    let r = lab.pfctl(&[
        "license",
        "issue",
        "--signing-key",
        vendor.file("vendor.key").to_str().unwrap(),
        "--request",
        req_file.to_str().unwrap(),
        "--tier",
        "premium",
        "--days",
        "365",
        "--out",
        lic.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = plain.pfctl(&[
        "license",
        "install",
        lic.to_str().unwrap(),
        "--trust-key",
        vendor.public().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["installed"], true);
    let hashes: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| on_node(n))
        .collect();
    assert!(
        !hashes[0].is_empty() && hashes.iter().all(|h| h == &hashes[0]),
        "{hashes:?}"
    );

    let st = lab.pfctl(&["license", "status", "-o", "json"]);
    assert_eq!(st.code, 0, "{st:?}");
    let doc = st.json();
    assert_eq!(doc["state"], "valid");
    assert_eq!(doc["tier"], "premium");
    assert_eq!(doc["customer"], "Acme Corp");
    assert_eq!(doc["days_left"], 365);
    assert_eq!(check(&lab).0, "ok");

    // 5 days left: yellow, exit 1, a warning.
    let five = vendor.issue_at(&req, 5, now(), "five.license");
    let r = lab.pfctl(&["license", "install", five.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    let st = lab.pfctl(&["license", "status", "-o", "json"]);
    assert_eq!(
        (st.code, st.json()["state"].clone()),
        (1, "expiring".into()),
        "{st:?}"
    );
    assert_eq!(check(&lab).0, "warn");

    // Expired: install refuses it; one already on the nodes is red, exit 2, a failure.
    let old = vendor.issue_at(&req, 30, now() - 40 * 86400, "old.license");
    let r = lab.pfctl(&["license", "install", old.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("refused"), "{r:?}");
    assert_eq!(on_node("node2"), hashes_of(&five), "nothing installed");
    for n in ["node1", "node2", "node3"] {
        let text = std::fs::read_to_string(&old).unwrap();
        let out = testcluster(&[
            "exec",
            n,
            "--",
            "sh",
            "-c",
            &format!("printf '%s' '{text}' > {PATH}"),
        ]);
        assert!(out.status.success());
    }
    let st = lab.pfctl(&["license", "status", "-o", "json"]);
    assert_eq!(
        (st.code, st.json()["state"].clone()),
        (2, "expired".into()),
        "{st:?}"
    );
    assert_eq!(check(&lab).0, "fail");

    // Bound to another cluster.
    let mut other = req.clone();
    other.cluster_id = "x0therc1usterid0000000000".into();
    let wrong = vendor.issue_at(&other, 30, now(), "wrong.license");
    let r = lab.pfctl(&["license", "install", wrong.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("x0therc1usterid0000000000") && r.stderr.contains(swarm_id.trim()),
        "{r:?}"
    );

    // One byte flipped.
    let mut bytes = std::fs::read(&lic).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let flipped = vendor.file("flipped.license");
    std::fs::write(&flipped, &bytes).unwrap();
    let r = lab.pfctl(&["license", "install", flipped.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("refused"), "{r:?}");

    // Signed by someone not trusted.
    let (stranger, _) = license::keygen();
    let bytes = license::issue(&stranger, &req, Tier::Premium, 30, vec![], now()).unwrap();
    let unknown = vendor.file("stranger.license");
    std::fs::write(&unknown, bytes).unwrap();
    let r = lab.pfctl(&["license", "install", unknown.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not a trusted license key"), "{r:?}");
    // The same file on the nodes: status and healthcheck refuse it too.
    for n in ["node1", "node2", "node3"] {
        let text = std::fs::read_to_string(&unknown).unwrap();
        testcluster(&[
            "exec",
            n,
            "--",
            "sh",
            "-c",
            &format!("printf '%s' '{text}' > {PATH}"),
        ]);
    }
    let st = lab.pfctl(&["license", "status", "-o", "json"]);
    assert_eq!(st.code, 2, "{st:?}");
    assert_eq!(check(&lab).0, "fail");

    // Removed from every node (kept beside it): back to a skip.
    let r = lab.pfctl(&["license", "remove", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(on_node("node3"), "");
    assert_eq!(check(&lab).0, "skip");
}

fn hashes_of(f: &Path) -> String {
    pfctl::heal::sha256_hex(&std::fs::read(f).unwrap())
}
