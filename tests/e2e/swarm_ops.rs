//! The building blocks of autocluster on real nodes: a swarm formed, labelled and dissolved through
//! the agents (swarm.init/join/leave, node.update, swarm.tokens), and images copied between nodes
//! as raw bytes (pfagent image save/load, pfctl's copy_image). Only the fresh nodes node4..node6
//! are used (`testcluster fresh 4 6`), never the shared swarm of node1..node3, so these tests hold
//! fresh_lock() rather than exclusive().

use super::common::*;
use pfctl::fanout::Node;
use pfctl::images::copy_image;
use pfproto::action::{ActionMeta, AuditList};
use pfproto::method;
use pfproto::probe::SwarmView;
use pfproto::swarm::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The fresh nodes for one test, emptied again when dropped (also when the test panics).
struct Fresh {
    _lock: Lock,
}

impl Fresh {
    fn take() -> Fresh {
        let lock = fresh_lock();
        testcluster(&["fresh", "4", "6"]);
        Fresh { _lock: lock }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/cluster/testcluster"))
            .args(["fresh", "4", "6"])
            .stdin(Stdio::null())
            .output();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Nodes of the inventory's `fresh` cluster.
async fn connect(names: &[&str]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(connect_node(Some("fresh"), name).await);
    }
    nodes
}

async fn call<T: DeserializeOwned>(node: &Node, method: &str, params: Value) -> Result<T, String> {
    let (conn, _) = node.agent().await.map_err(|e| e.to_string())?;
    conn.call(method, params).await.map_err(|e| e.to_string())
}

fn meta() -> ActionMeta {
    ActionMeta {
        run_id: format!("swarm-ops-{}", std::process::id()),
        actor: "e2e@swarm_ops".into(),
    }
}

fn addr(node: &str) -> String {
    let n: u32 = node.trim_start_matches("node").parse().unwrap();
    cluster().addr(n)
}

fn swarm_state(node: &str) -> String {
    docker(node, &["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .trim()
        .to_string()
}

fn init_params(node: &str) -> Value {
    serde_json::to_value(SwarmInitParams {
        meta: meta(),
        advertise_addr: addr(node),
    })
    .unwrap()
}

fn join_params(node: &str, manager: &str, token: &JoinToken) -> Value {
    serde_json::to_value(SwarmJoinParams {
        meta: meta(),
        advertise_addr: addr(node),
        remote_addrs: vec![addr(manager)],
        token: token.clone(),
    })
    .unwrap()
}

fn leave_params(force: bool) -> Value {
    serde_json::to_value(SwarmLeaveParams {
        meta: meta(),
        force,
    })
    .unwrap()
}

/// Waits until node4's view lists `n` managers, all ready and reachable.
async fn managers_ready(node: &Node, n: usize) -> SwarmView {
    let start = Instant::now();
    loop {
        let v: SwarmView = call(node, method::SWARM_INSPECT, Value::Null)
            .await
            .unwrap();
        let ready = v
            .nodes
            .iter()
            .filter(|m| {
                m.role == "manager"
                    && m.state == "ready"
                    && m.manager_reachability.as_deref() == Some("reachable")
            })
            .count();
        if ready == n || start.elapsed() > Duration::from_secs(45) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn swarm_formed_labelled_and_dissolved_through_the_agents() {
    let _fresh = Fresh::take();
    rt().block_on(async {
        let nodes = connect(&["node4", "node5", "node6"]).await;
        let (n4, n5, n6) = (&nodes[0], &nodes[1], &nodes[2]);
        for name in ["node4", "node5", "node6"] {
            assert_eq!(swarm_state(name), "inactive", "{name} is not fresh");
        }

        // init on node4, join the others as managers
        let init: SwarmInit = call(n4, method::SWARM_INIT, init_params("node4"))
            .await
            .unwrap();
        assert!(!init.already);
        assert!(!init.node_id.is_empty() && !init.cluster_id.is_empty());
        assert_eq!(init.node_addr, addr("node4"));
        assert!(init.manager_token.expose().starts_with("SWMTKN-"));
        assert!(init.worker_token.expose().starts_with("SWMTKN-"));
        assert_ne!(init.manager_token, init.worker_token);
        for (node, name) in [(n5, "node5"), (n6, "node6")] {
            let j: SwarmJoin = call(
                node,
                method::SWARM_JOIN,
                join_params(name, "node4", &init.manager_token),
            )
            .await
            .unwrap();
            assert!(!j.already && j.manager, "{name}: {j:?}");
            assert_eq!(j.cluster_id, init.cluster_id, "{name} joined another swarm");
        }

        let view = managers_ready(n4, 3).await;
        let mut hosts: Vec<&str> = view.nodes.iter().map(|n| n.hostname.as_str()).collect();
        hosts.sort();
        assert_eq!(hosts, ["node4", "node5", "node6"], "{view:#?}");
        assert!(
            view.nodes.iter().all(|n| n.role == "manager"
                && n.state == "ready"
                && n.manager_reachability.as_deref() == Some("reachable")),
            "not 3 ready managers: {view:#?}"
        );

        // labels on node5, set through node4 (a manager), seen by the Engine
        let labels = json!({"types": "master", "zone": "a"});
        let params = json!({"meta": meta(), "node": "node5", "labels": labels});
        let u: NodeUpdate = call(n4, method::NODE_UPDATE, params.clone()).await.unwrap();
        assert!(u.changed && u.hostname == "node5", "{u:?}");
        assert_eq!(
            u.after.labels.get("types").map(String::as_str),
            Some("master")
        );
        let seen = docker(
            "node6",
            &[
                "node",
                "inspect",
                "node5",
                "--format",
                "{{json .Spec.Labels}}",
            ],
        );
        let seen: Value = serde_json::from_str(seen.trim()).unwrap();
        assert_eq!(seen, labels, "node6 sees other labels on node5");
        let again: NodeUpdate = call(n4, method::NODE_UPDATE, params).await.unwrap();
        assert!(
            !again.changed,
            "the same labels again changed something: {again:?}"
        );
        // a role change goes through too (and back; node6 is left out of what follows while its
        // manager settles again)
        let demote = json!({"meta": meta(), "node": "node6", "role": "worker"});
        let d: NodeUpdate = call(n4, method::NODE_UPDATE, demote).await.unwrap();
        assert_eq!(
            (d.before.role.as_str(), d.after.role.as_str()),
            ("manager", "worker")
        );
        let promote = json!({"meta": meta(), "node": "node6", "role": "manager"});
        let _: NodeUpdate = call(n4, method::NODE_UPDATE, promote).await.unwrap();
        managers_ready(n4, 3).await;

        // asking again changes nothing and says so
        let init2: SwarmInit = call(n4, method::SWARM_INIT, init_params("node4"))
            .await
            .unwrap();
        assert!(init2.already);
        assert_eq!(
            (&init2.cluster_id, &init2.node_id, &init2.manager_token),
            (&init.cluster_id, &init.node_id, &init.manager_token)
        );
        let on5: SwarmInit = call(n5, method::SWARM_INIT, init_params("node5"))
            .await
            .unwrap();
        assert!(on5.already && on5.cluster_id == init.cluster_id);
        let j2: SwarmJoin = call(
            n5,
            method::SWARM_JOIN,
            join_params("node5", "node4", &init.manager_token),
        )
        .await
        .unwrap();
        assert!(j2.already && j2.manager);
        let tokens: SwarmTokens = call(n5, method::SWARM_TOKENS, json!({})).await.unwrap();
        assert_eq!(tokens.manager_token, init.manager_token);
        assert_eq!(tokens.cluster_id, init.cluster_id);

        // a manager will not leave without force, and says why
        let e = call::<SwarmLeave>(n5, method::SWARM_LEAVE, leave_params(false))
            .await
            .unwrap_err();
        assert!(e.contains("needs force"), "{e}");

        // the tokens are in no audit entry and no agent log
        let secret = init.manager_token.expose().to_string();
        let audit: AuditList = call(n5, method::AUDIT_LIST, json!({"limit": 50}))
            .await
            .unwrap();
        let joins: Vec<_> = audit
            .entries
            .iter()
            .filter(|e| e.method == method::SWARM_JOIN && e.actor == "e2e@swarm_ops")
            .collect();
        assert!(!joins.is_empty(), "swarm.join not audited on node5");
        // Other runs (autocluster's) join through these nodes too: every join is redacted.
        assert!(audit
            .entries
            .iter()
            .filter(|e| e.method == method::SWARM_JOIN)
            .all(|e| e.before["token"] == REDACTED));
        for node in [n4, n5, n6] {
            let audit: AuditList = call(node, method::AUDIT_LIST, json!({"limit": 200}))
                .await
                .unwrap();
            let text = serde_json::to_string(&audit).unwrap();
            assert!(
                !text.contains(&secret),
                "{}: token in the audit log",
                node.target.name
            );
            assert!(!text.contains(init.worker_token.expose()));
        }
        for name in ["node4", "node5", "node6"] {
            let log = tc_dir().join(format!("nodes/{name}/agent.log"));
            let log = std::fs::read_to_string(log).unwrap_or_default();
            assert!(
                !log.contains("SWMTKN"),
                "{name}: a token in the agent's log"
            );
        }

        // leaving restores the fresh nodes; leaving again is a no-op
        for node in [n6, n5, n4] {
            let l: SwarmLeave = call(node, method::SWARM_LEAVE, leave_params(true))
                .await
                .unwrap();
            assert!(
                !l.already && !l.node_id.is_empty(),
                "{}: {l:?}",
                node.target.name
            );
        }
        let l: SwarmLeave = call(n4, method::SWARM_LEAVE, leave_params(true))
            .await
            .unwrap();
        assert!(l.already);
        for name in ["node4", "node5", "node6"] {
            assert_eq!(swarm_state(name), "inactive", "{name} still in a swarm");
        }
        for n in &nodes {
            n.close().await;
        }
    });
}

async fn image_id(node: &Node, reference: &str) -> ImagePresence {
    let list: ImagesList = call(node, method::IMAGES_LIST, json!({"refs": [reference]}))
        .await
        .unwrap();
    assert_eq!(list.images.len(), 1);
    list.images.into_iter().next().unwrap()
}

#[test]
fn an_image_on_one_node_is_copied_to_the_others_with_the_same_id() {
    let _fresh = Fresh::take();
    docker("node4", &["tag", "pfdemo/busybox:1", "pfdemo/only4:1"]);
    rt().block_on(async {
        let nodes = connect(&["node4", "node5", "node6"]).await;
        let (n4, n5, n6) = (&nodes[0], &nodes[1], &nodes[2]);
        let only4 = "pfdemo/only4:1";
        let source = image_id(n4, only4).await;
        assert!(
            source.present && source.id.starts_with("sha256:"),
            "{source:?}"
        );
        for n in [n5, n6] {
            let p = image_id(n, only4).await;
            assert!(!p.present && p.id.is_empty(), "{}: {p:?}", n.target.name);
        }

        // two copies at once: two pairs of exec channels, one of them sharing node4's connection
        let (to5, to6) = tokio::join!(copy_image(n4, n5, only4), copy_image(n4, n6, only4));
        let (to5, to6) = (to5.unwrap(), to6.unwrap());
        for r in [&to5, &to6] {
            assert_eq!(r.from, "node4");
            assert_eq!(r.reference, only4);
            assert_eq!(r.image_id, source.id, "{r:?}");
            assert!(r.bytes > 100_000, "only {} bytes copied: {r:?}", r.bytes);
            assert_eq!(r.sha256.len(), 64);
        }
        assert_eq!((to5.to.as_str(), to6.to.as_str()), ("node5", "node6"));
        // `docker save` of one image is the same archive each time
        assert_eq!((to5.bytes, &to5.sha256), (to6.bytes, &to6.sha256));

        for n in [n4, n5, n6] {
            let p = image_id(n, only4).await;
            assert!(p.present && p.id == source.id, "{}: {p:?}", n.target.name);
        }
        // the Engine itself agrees
        let id6 = docker("node6", &["image", "inspect", only4, "--format", "{{.Id}}"]);
        assert_eq!(id6.trim(), source.id);
        for n in &nodes {
            n.close().await;
        }
    });
}

#[test]
fn a_missing_image_fails_clearly_and_names_the_node() {
    let _fresh = Fresh::take();
    let missing = "pfdemo/missing:1";
    let out = Command::new(repo().join("tests/cluster/testcluster"))
        .args([
            "exec",
            "node4",
            "--",
            "/opt/pfagent/bin/pfagent",
            "image",
            "save",
            missing,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "saving a missing image succeeded");
    assert!(
        out.stdout.is_empty(),
        "an archive was written for a missing image"
    );
    assert!(
        stderr.contains("on node4")
            && stderr.contains(&format!("image '{missing}' is not on this node")),
        "unclear: {stderr}"
    );

    // garbage on load's stdin: refused in words, nothing loaded
    let out = Command::new(repo().join("tests/cluster/testcluster"))
        .args([
            "exec",
            "node5",
            "--",
            "sh",
            "-c",
            "echo not-a-tar | /opt/pfagent/bin/pfagent image load",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "garbage loaded: {stderr}"
    );
    assert!(
        stderr.contains("the Engine refused the archive"),
        "unclear: {stderr}"
    );

    rt().block_on(async {
        let nodes = connect(&["node4", "node5"]).await;
        let e = copy_image(&nodes[0], &nodes[1], missing).await.unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("node4: pfagent image save failed")
                && msg.contains(&format!("image '{missing}' is not on this node"))
                && msg.contains("to node5"),
            "unclear: {msg}"
        );
        assert!(!image_id(&nodes[1], missing).await.present);
        for n in &nodes {
            n.close().await;
        }
    });
}
