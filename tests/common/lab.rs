//! A test's own view of the test cluster: an empty home and the lab inventory (demo profile), and
//! reading healthcheck and autoheal documents: what is wrong, what was planned and how it ended.

use super::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct Lab {
    pub home: tempfile::TempDir,
    pub inv: PathBuf,
}

/// (check, node) -> (status, message), for everything not ok or skipped.
pub type Problems = BTreeMap<(String, String), (String, String)>;

impl Lab {
    pub fn new() -> Lab {
        Lab::with("")
    }

    /// `extra`: TOML appended to the lab inventory.
    pub fn with(extra: &str) -> Lab {
        let home = fresh_home();
        let inv = lab_inventory(home.path(), extra);
        Lab { home, inv }
    }

    pub fn pfctl(&self, args: &[&str]) -> Run {
        run(pfctl_cmd(self.home.path())
            .arg("--inventory")
            .arg(&self.inv)
            .args(args))
    }

    /// `autoheal --yes -o json` with `extra` arguments.
    pub fn heal(&self, extra: &[&str]) -> Run {
        let mut args = vec!["autoheal", "--yes", "-o", "json"];
        args.extend_from_slice(extra);
        self.pfctl(&args)
    }

    /// Re-runs the healthcheck until `done` holds on its problems (or `secs` pass).
    pub fn until(&self, secs: u64, done: impl Fn(&Problems) -> bool) -> (Run, Problems) {
        let start = Instant::now();
        loop {
            let r = self.pfctl(&["healthcheck", "-o", "json"]);
            let p = problems(&r);
            if done(&p) || start.elapsed() > Duration::from_secs(secs) {
                return (r, p);
            }
            std::thread::sleep(Duration::from_millis(700));
        }
    }

    /// Waits for the healthcheck to come back clean and asserts it.
    pub fn clean(&self) {
        let (r, p) = self.until(60, |p| p.is_empty());
        assert!(p.is_empty(), "still wrong: {p:#?}");
        assert_eq!(r.code, 0);
    }

    /// Waits for `check` on `node` to fail and asserts it.
    pub fn has(&self, check: &str, node: &str) {
        let (_, p) = self.until(60, |p| p.contains_key(&key(check, node)));
        assert!(
            p.contains_key(&key(check, node)),
            "{check} {node} not failing: {p:#?}"
        );
    }
}

pub fn key(check: &str, node: &str) -> (String, String) {
    (check.to_string(), node.to_string())
}

/// Everything not ok, except the skips this machine and the demo profile always have.
pub fn problems(r: &Run) -> Problems {
    r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] != "ok" && x["status"] != "skip")
        .map(|x| {
            (
                key(x["check"].as_str().unwrap(), x["node"].as_str().unwrap()),
                (
                    x["status"].as_str().unwrap().to_string(),
                    x["message"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// An autoheal document's planned actions answering `check`, each with its outcome (null when
/// it has none).
pub fn actions(r: &Run, check: &str) -> Vec<(Value, Value)> {
    let doc = r.json();
    doc["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["check"] == check)
        .map(|a| {
            let o = doc["outcomes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["id"] == a["id"])
                .cloned()
                .unwrap_or(Value::Null);
            (a.clone(), o)
        })
        .collect()
}

/// The first planned action answering `check`, and its outcome.
pub fn action(r: &Run, check: &str) -> (Value, Value) {
    actions(r, check)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no action for {check}: {r:?}"))
}

pub fn assert_fixed(r: &Run, check: &str) -> Value {
    let (a, o) = action(r, check);
    assert_eq!(o["result"], "fixed", "{a}\n{o}\n{r:?}");
    a
}
