//! Firewall ports and time sync on the real test cluster. nftables is real and per node: each
//! node is its own network namespace, so a table added there filters only that node's traffic.
//! Every test table is deleted when its guard drops (also on panic); a table here never drops
//! SSH (22) or established traffic, so the node stays reachable whatever happens.

use crate::common::lab::*;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// `nft ARGS` in node N's network namespace, with `stdin`; stdout, or a panic with stderr.
fn nft(node: u32, args: &[&str], stdin: Option<&str>) -> String {
    let netns = format!("--net=/var/run/netns/pfnode{node}");
    let mut child = Command::new("nsenter")
        .arg(&netns)
        .arg("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nsenter nft (testcluster up installs nftables)");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node{node}: nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A table of the test's own in one node, deleted on drop.
struct Table {
    node: u32,
    name: &'static str,
}

impl Table {
    fn add(node: u32, name: &'static str, body: &str) -> Table {
        // A table left by a killed run goes first (`table` creates it when missing).
        let script = format!(
            "table inet {name}\ndelete table inet {name}\ntable inet {name} {{\n{body}\n}}\n"
        );
        nft(node, &["-f", "-"], Some(&script));
        Table { node, name }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/pfnode{}", self.node))
            .args(["nft", "delete", "table", "inet", self.name])
            .output();
    }
}

/// The ports of every rule carrying pfctl's comment in node N's whole ruleset, as `PORT/PROTO`.
fn pfctl_rules(node: u32) -> Vec<String> {
    let v: Value = serde_json::from_str(&nft(node, &["-j", "list", "ruleset"], None)).unwrap();
    let mut out = Vec::new();
    for item in v["nftables"].as_array().unwrap() {
        let r = &item["rule"];
        if r["comment"] != "pfctl" {
            continue;
        }
        for e in r["expr"].as_array().unwrap() {
            let pl = &e["match"]["left"]["payload"];
            if pl["field"] == "dport" {
                out.push(format!(
                    "{}/{}",
                    e["match"]["right"],
                    pl["protocol"].as_str().unwrap()
                ));
            }
        }
    }
    out.sort();
    out
}

fn required_demo_ports() -> BTreeSet<String> {
    let profile = pfctl::profile::load("demo", None).unwrap();
    pfctl::firewall::required_ports(&profile)
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn port_names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a port list: {v}"))
        .iter()
        .map(|p| format!("{}/{}", p["port"], p["proto"].as_str().unwrap()))
        .collect()
}

fn names(p: &Problems, check: &str, node: &str, text: &str) -> bool {
    p.get(&(check.to_string(), node.to_string()))
        .is_some_and(|(_, m)| m.contains(text))
}

#[test]
fn a_port_dropped_on_a_peer_is_opened_there_by_autoheal_once() {
    let _l = exclusive();
    let _s = Stack::reset();
    let lab = Lab::new();
    let node3 = cluster().addr(3);
    let _t = Table::add(
        3,
        "pfctl_e2e_gossip",
        "chain input { type filter hook input priority 0; policy accept; tcp dport 7946 drop; }",
    );
    let blocked = format!("{node3}:7946");
    let (_, p) = lab.until(60, |p| {
        names(p, "net.connectivity", "node1", &blocked)
            && names(p, "net.connectivity", "node2", &blocked)
    });
    assert!(
        names(&p, "net.connectivity", "node1", &blocked)
            && names(&p, "net.connectivity", "node2", &blocked),
        "net.connectivity does not name {blocked}: {p:#?}"
    );

    let r = lab.pfctl(&["autoheal", "--yes", "-o", "json"]);
    let planned = actions(&r, "net.connectivity");
    assert_eq!(planned.len(), 1, "one action for node3: {r:?}");
    let (a, o) = &planned[0];
    assert_eq!(a["node"], "node3", "the receiving side is opened: {a}");
    assert_eq!(a["disruptive"], false);
    assert_eq!(o["result"], "fixed", "{o}\n{r:?}");
    let chains = o["done"]["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1, "only the dropping chain is touched: {o}");
    assert_eq!(chains[0]["chain"], "inet pfctl_e2e_gossip input");
    assert_eq!(
        port_names(&chains[0]["added"]),
        BTreeSet::from(["7946/tcp".to_string()])
    );
    let deferred = r.json()["deferred"].clone();
    let other = if a["check_node"] == "node1" {
        "node2"
    } else {
        "node1"
    };
    assert!(
        deferred
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["check"] == "net.connectivity" && d["node"] == other),
        "the second reporter waits for the same action: {deferred}"
    );
    assert_eq!(pfctl_rules(3), ["7946/tcp"]);
    let (_, p) = lab.until(60, |p| p.is_empty());
    assert!(p.is_empty(), "still wrong after autoheal: {p:#?}");

    // Idempotent: opening again finds pfctl's rule and adds nothing.
    let again = lab.pfctl(&["-l", "node3", "firewall", "open", "-o", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
    let res = again.result("firewall.open", "node3");
    assert_eq!(res["evidence"]["opened"], Value::Array(vec![]), "{res}");
    assert_eq!(
        port_names(&res["evidence"]["already_open"]),
        required_demo_ports()
    );
    assert_eq!(pfctl_rules(3), ["7946/tcp"], "no second rule");
    let healed = lab.pfctl(&["autoheal", "--yes", "-o", "json"]);
    assert!(
        actions(&healed, "net.connectivity").is_empty(),
        "{healed:?}"
    );
}

#[test]
fn open_firewall_ports_lets_exactly_the_required_ports_through_a_drop_policy() {
    let _l = exclusive();
    let lab = Lab::new();
    // Drop by default, but SSH and replies still pass, so pfctl keeps reaching node2.
    let _t = Table::add(
        2,
        "pfctl_e2e_policy",
        "chain input { type filter hook input priority 0; policy drop; \
         ct state established,related accept; iif lo accept; tcp dport 22 accept; }",
    );
    let want = required_demo_ports();
    let r = lab.pfctl(&[
        "-l",
        "node2",
        "node-action",
        "--action",
        "open_firewall_ports",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let results = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 1, "only the selected node: {r:?}");
    let res = r.result("firewall.open", "node2");
    assert_eq!(res["status"], "ok", "{res}");
    let ev = &res["evidence"];
    assert_eq!(ev["manager"], "nftables");
    assert_eq!(port_names(&ev["opened"]), want);
    let chains = ev["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1, "{ev}");
    assert_eq!(chains[0]["chain"], "inet pfctl_e2e_policy input");
    assert_eq!(port_names(&chains[0]["added"]), want);
    let rules: BTreeSet<String> = pfctl_rules(2).into_iter().collect();
    assert_eq!(rules, want, "exactly the required ports, nowhere else");
    assert_eq!(pfctl_rules(2).len(), want.len());

    // The modern spelling finds them open; nothing is added twice.
    let again = lab.pfctl(&["-l", "node2", "firewall", "open", "-o", "json"]);
    assert_eq!(again.code, 0, "{again:?}");
    let ev = &again.result("firewall.open", "node2")["evidence"];
    assert_eq!(ev["opened"], Value::Array(vec![]), "{ev}");
    assert_eq!(port_names(&ev["already_open"]), want);
    assert_eq!(pfctl_rules(2).len(), want.len());

    // Both calls are on node2's audit record.
    let audit = lab.pfctl(&["-l", "node2", "audit", "-o", "json"]);
    let entries = audit.json()["entries"].as_array().unwrap().clone();
    let ours: Vec<&Value> = entries
        .iter()
        .filter(|e| e["method"] == "host.firewall_open")
        .take(2)
        .collect();
    assert_eq!(ours.len(), 2, "{audit:?}");
    for e in ours {
        assert_eq!(e["ok"], true, "{e}");
        assert!(e["actor"].as_str().unwrap().starts_with("root@"), "{e}");
        assert_eq!(e["target"], "node2", "{e}");
    }
}

#[test]
fn time_sync_without_systemd_fails_clearly_and_autoheal_says_failed() {
    if std::path::Path::new("/run/systemd/system").exists() {
        // With systemd running, the action would really change this machine's time settings.
        eprintln!("skipped: systemd runs here, and host.timesync would turn on NTP for real");
        return;
    }
    let _l = exclusive();
    let lab = Lab::with("require_time_sync = true\n");
    let (_, p) = lab.until(30, |p| {
        p.contains_key(&("time.sync".into(), "node3".into()))
    });
    assert!(
        p.contains_key(&("time.sync".into(), "node3".into())),
        "this test needs an unsynchronized clock (adjtimex): {p:#?}"
    );
    let r = lab.pfctl(&["-l", "node3", "autoheal", "--yes", "-o", "json"]);
    let planned = actions(&r, "time.sync");
    assert_eq!(planned.len(), 1, "{r:?}");
    let (a, o) = &planned[0];
    assert_eq!(a["node"], "node3");
    assert_eq!(o["result"], "failed", "{o}\n{r:?}");
    let detail = o["detail"].as_str().unwrap();
    for text in [
        "node3",
        "time sync could not be turned on",
        "timedatectl",
        "chronyd",
    ] {
        assert!(detail.contains(text), "{text:?} missing from: {detail}");
    }
    assert_eq!(r.code, 2, "time.sync still fails: {r:?}");
}
