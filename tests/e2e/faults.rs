use crate::common::*;
use std::time::{Duration, Instant};

#[test]
fn sshd_stopped_node_is_unreachable_and_named() {
    let _l = exclusive();
    let _f = Fault::inject("node3", "sshd-stop");
    let r = pfctl(&["facts", "-o", "json"]);
    assert_eq!(r.code, 3, "{r:?}");
    let node = r.node("node3");
    assert_eq!(node["reachable"], false);
    let err = node["error"].as_str().unwrap();
    assert!(
        err.contains("10.213.0.13:22") && err.contains("refused"),
        "{err}"
    );
    assert_eq!(r.result("facts", "node1")["status"], "ok");
    assert_eq!(r.result("facts", "node2")["status"], "ok");
    assert_eq!(r.json()["summary"]["unknown"], 1);
}

#[test]
fn link_down_node_times_out_within_the_connect_timeout() {
    let _l = exclusive();
    let _f = Fault::inject("node2", "link-down");
    let start = Instant::now();
    let r = pfctl(&["facts", "-o", "json", "--connect-timeout", "2"]);
    let took = start.elapsed();
    assert_eq!(r.code, 3, "{r:?}");
    let err = r.node("node2")["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("10.213.0.12:22") && err.contains("2s"),
        "{err}"
    );
    assert_eq!(r.result("facts", "node1")["status"], "ok");
    assert_eq!(r.result("facts", "node3")["status"], "ok");
    // Bounded by the timeout, not by TCP's own minutes-long retries.
    assert!(took < Duration::from_secs(30), "run took {took:?}");
}

#[test]
fn stopped_agent_answers_through_the_one_shot_fallback() {
    let _l = exclusive();
    let _f = Fault::inject("node1", "agent-stop");
    let r = pfctl(&["facts", "-o", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let node = r.node("node1");
    assert_eq!(node["facts"]["hostname"], "node1");
    assert!(
        node["route"].as_str().unwrap().starts_with("exec-stdio"),
        "{node}"
    );
    let res = r.result("facts", "node1");
    assert_eq!(res["status"], "warn");
    assert!(
        res["message"]
            .as_str()
            .unwrap()
            .contains("resident agent not running"),
        "{res}"
    );
    assert_eq!(r.result("facts", "node2")["status"], "ok");
}

#[test]
fn stopped_engine_is_a_fact_not_a_failure_of_the_agent() {
    let _l = exclusive();
    let _f = Fault::inject("node2", "docker-stop");
    let r = pfctl(&["facts", "-o", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let docker = &r.node("node2")["facts"]["docker"];
    assert_eq!(docker["reachable"], false);
    assert!(
        docker["error"]
            .as_str()
            .unwrap()
            .starts_with("engine unreachable"),
        "{docker}"
    );
    assert_eq!(r.node("node2")["route"], "streamlocal");
    assert_eq!(r.result("facts", "node1")["status"], "ok");
}
