use crate::common::*;

#[test]
fn install_replaces_the_agent_and_keeps_its_state() {
    let _l = exclusive();
    let c = cluster();
    let marker = c.dir.join("nodes/node3/state/kept-by-install");
    std::fs::write(&marker, "state that must survive").unwrap();
    let binary = repo().join("target/debug/pfagent");
    let r = pfctl(&[
        "agent",
        "install",
        "--binary",
        binary.to_str().unwrap(),
        "--limit",
        "node3",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let msg = r.result("agent.install", "node3")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("/opt/pfagent/bin/pfagent") && msg.contains("streamlocal"),
        "{msg}"
    );
    assert!(
        c.dir.join("nodes/node3/opt/bin/pfagent.prev").exists(),
        "previous binary kept"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "state that must survive"
    );
    let s = pfctl(&["agent", "status", "-o", "json"]);
    assert_eq!(s.code, 0, "{s:?}");
    let up = s.result("agent.status", "node3")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        up.contains(&format!("pfagent {}", env!("CARGO_PKG_VERSION"))) && up.contains("resident"),
        "{up}"
    );
    std::fs::remove_file(&marker).unwrap();
}

#[test]
fn status_reports_a_stopped_agent() {
    let _l = exclusive();
    let _f = Fault::inject("node2", "agent-stop");
    let s = pfctl(&["agent", "status", "-o", "json"]);
    assert_eq!(s.code, 1, "{s:?}");
    let r = s.result("agent.status", "node2");
    assert_eq!(r["status"], "warn");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("resident agent is not running"),
        "{r}"
    );
}
