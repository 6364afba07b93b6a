//! `pfctl::stack::deploy` on the real 3-node swarm: a small stack goes in through node1's agent
//! (no Docker client on the controller), `docker stack ls/ps` recognise it, a second deploy
//! changes nothing and a changed replica count updates exactly that service. Everything the test
//! makes (services, network, secret, the secret's file) is removed when it ends, also on panic.

use crate::common::*;
use pfctl::fanout::Node;
use pfctl::stack::{converge, deploy, Change, ComposeFile, DeployReport, ItemKind};
use pfproto::action::ActionMeta;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = "pfdeploytest";
/// On node1 only: the agent reads it there, where the deploy runs.
const SECRET_FILE: &str = "/etc/iservices/pfdeploytest-token";
const SECRET_TEXT: &str = "pfdeploytest-token-7f3a9c";
/// Where the compose file would live; its directory resolves `./pfdeploytest-token`.
const COMPOSE_PATH: &str = "/etc/iservices/pfdeploytest.yml";

/// Two services on one overlay network; `pinned` runs on node2 only. No ports and endpoint mode
/// dnsrr: this kernel has no IPVS. `sleep` ignores SIGTERM, so a short grace period keeps
/// updates and removal quick.
fn compose(app_replicas: u32) -> String {
    format!(
        r#"version: "3.7"
services:
  app:
    image: pfdemo/busybox:1
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    depends_on: [pinned]
    environment:
      ROLE: app
    deploy:
      replicas: {app_replicas}
      endpoint_mode: dnsrr
      restart_policy:
        condition: any
        delay: 1s
    networks: [back]
    secrets:
      - source: token
        mode: 0400
  pinned:
    image: pfdemo/busybox:1
    command: sleep 1000000
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: ["node.hostname == node2"]
    networks:
      back:
        aliases: [pinned.back]
networks:
  back:
    attachable: true
secrets:
  token:
    file: ./pfdeploytest-token
"#
    )
}

fn files(app_replicas: u32) -> Vec<ComposeFile> {
    vec![ComposeFile {
        path: COMPOSE_PATH.into(),
        text: compose(app_replicas),
    }]
}

/// `testcluster ARGS`: stdout when it worked, `None` otherwise (for cleanup, which must not panic).
fn try_tc(args: &[&str]) -> Option<String> {
    let out = Command::new(repo().join("tests/cluster/testcluster"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes a stack the way an admin would, then the networks Docker could not remove while the
/// last tasks were stopping, the volumes its tasks made, and the files the test put on node1.
fn remove_stack(stack: &str, node1_files: &[&str]) {
    try_tc(&["exec", "node1", "--", "docker", "stack", "rm", stack]);
    let label = format!("label=com.docker.stack.namespace={stack}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = try_tc(&[
            "exec", "node1", "--", "docker", "network", "ls", "-q", "--filter", &label,
        ])
        .unwrap_or_default();
        let left: Vec<&str> = left.split_whitespace().collect();
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        for id in left {
            try_tc(&["exec", "node1", "--", "docker", "network", "rm", id]);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for n in ["node1", "node2", "node3"] {
        let vols = try_tc(&[
            "exec", n, "--", "docker", "volume", "ls", "-q", "--filter", &label,
        ])
        .unwrap_or_default();
        for v in vols.split_whitespace() {
            try_tc(&["exec", n, "--", "docker", "volume", "rm", "-f", v]);
        }
    }
    for f in node1_files {
        try_tc(&["exec", "node1", "--", "rm", "-f", f]);
    }
}

/// The stack removed when dropped (also on panic), and before the test too, so what a killed
/// earlier run left goes first.
struct Cleanup {
    stack: &'static str,
    files: &'static [&'static str],
}

impl Cleanup {
    fn new(stack: &'static str, files: &'static [&'static str]) -> Cleanup {
        remove_stack(stack, files);
        Cleanup { stack, files }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_stack(self.stack, self.files);
    }
}

/// Writes `text` to `path` on node1, readable by root only.
fn put_on_node1(path: &str, text: &str) {
    testcluster(&[
        "exec",
        "node1",
        "--",
        "sh",
        "-c",
        "umask 077 && printf %s \"$1\" > \"$2\"",
        "sh",
        text,
        path,
    ]);
}

async fn connect(name: &str) -> Node {
    connect_node(None, name).await
}

fn results(r: &DeployReport) -> Vec<(ItemKind, String, Change)> {
    r.items
        .iter()
        .map(|i| (i.kind, i.name.clone(), i.result))
        .collect()
}

fn all(change: Change, replicas_changed: Option<Change>) -> Vec<(ItemKind, String, Change)> {
    vec![
        (ItemKind::Network, "pfdeploytest_back".into(), change),
        (ItemKind::Secret, "pfdeploytest_token".into(), change),
        (
            ItemKind::Service,
            "pfdeploytest_app".into(),
            replicas_changed.unwrap_or(change),
        ),
        (ItemKind::Service, "pfdeploytest_pinned".into(), change),
    ]
}

/// `docker stack ps` on node1: (task name, node) of the tasks meant to run, all running.
fn running_tasks() -> Vec<(String, String)> {
    let out = docker(
        "node1",
        &[
            "stack",
            "ps",
            STACK,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Name}} {{.Node}} {{.CurrentState}}",
        ],
    );
    let mut tasks = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.get(2), Some(&"Running"), "a task is not running: {out}");
        tasks.push((f[0].to_string(), f[1].to_string()));
    }
    tasks.sort();
    tasks
}

/// The secret as a task of `app` sees it, hashed inside the container.
fn secret_hash_in_a_task() -> String {
    for n in ["node1", "node2", "node3"] {
        let ids = docker(
            n,
            &[
                "ps",
                "-q",
                "--filter",
                "label=com.docker.swarm.service.name=pfdeploytest_app",
            ],
        );
        if let Some(id) = ids.split_whitespace().next() {
            let out = docker(
                n,
                &["exec", id, "busybox", "sha256sum", "/run/secrets/token"],
            );
            return out.split_whitespace().next().unwrap_or("").to_string();
        }
    }
    panic!("no container of pfdeploytest_app on any node");
}

#[test]
fn a_compose_stack_deploys_through_the_agent_and_docker_recognises_it() {
    let _l = exclusive();
    let _clean = Cleanup::new(STACK, &[SECRET_FILE]);
    put_on_node1(SECRET_FILE, SECRET_TEXT);
    let meta = ActionMeta {
        run_id: "e2e-stack-deploy".into(),
        actor: "e2e@pfctl-tests".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = connect("node1").await;
        let (conn, _) = node.agent().await.unwrap();
        let wait = |what: &'static str| {
            let conn = conn.clone();
            async move {
                converge(&conn, STACK, Duration::from_secs(120), |p| {
                    let lines: Vec<String> = p.iter().map(|s| s.line()).collect();
                    eprintln!("{what}: {}", lines.join(", "));
                })
                .await
                .unwrap_or_else(|e| panic!("{what}: {e:#}"))
            }
        };

        let first = deploy(conn, &meta, STACK, &files(2)).await.unwrap();
        assert_eq!(results(&first), all(Change::Created, None), "{first:?}");
        let ignored: Vec<(&str, &str)> = first
            .ignored
            .iter()
            .map(|i| (i.service.as_str(), i.key.as_str()))
            .collect();
        assert_eq!(ignored, [("app", "depends_on")]);
        let progress = wait("first deploy").await;
        assert_eq!(progress.len(), 2, "{progress:?}");

        // Docker's own CLI sees one stack of two services, and the pin held.
        let stacks = docker(
            "node1",
            &["stack", "ls", "--format", "{{.Name}} {{.Services}}"],
        );
        assert!(
            stacks.lines().any(|l| l == "pfdeploytest 2"),
            "docker stack ls:\n{stacks}"
        );
        let tasks = running_tasks();
        assert_eq!(tasks.len(), 3, "{tasks:?}");
        for (task, node) in &tasks {
            if task.starts_with("pfdeploytest_pinned.") {
                assert_eq!(node, "node2", "{tasks:?}");
            }
        }
        let net = docker(
            "node1",
            &[
                "network",
                "inspect",
                "pfdeploytest_back",
                "--format",
                "{{.Driver}} {{.Attachable}} {{index .Labels \"com.docker.stack.namespace\"}}",
            ],
        );
        assert_eq!(net.trim(), "overlay true pfdeploytest");
        assert_eq!(
            secret_hash_in_a_task(),
            pfctl::heal::sha256_hex(SECRET_TEXT.as_bytes()),
            "the task sees the file's bytes as the secret"
        );

        let again = deploy(conn, &meta, STACK, &files(2)).await.unwrap();
        assert_eq!(results(&again), all(Change::Unchanged, None), "{again:?}");
        assert!(again.unchanged());

        let more = deploy(conn, &meta, STACK, &files(3)).await.unwrap();
        assert_eq!(
            results(&more),
            all(Change::Unchanged, Some(Change::Updated)),
            "{more:?}"
        );
        let app = more.item(ItemKind::Service, "pfdeploytest_app").unwrap();
        assert_eq!(app.changed, ["Mode.Replicated.Replicas"], "{app:?}");
        let progress = wait("after the replica change").await;
        let app = progress
            .iter()
            .find(|p| p.service == "pfdeploytest_app")
            .unwrap();
        assert_eq!((app.desired, app.running), (Some(3), 3));
        assert_eq!(running_tasks().len(), 4);

        // Docker secrets cannot change: other bytes in the file are refused, naming the secret.
        put_on_node1(SECRET_FILE, "pfdeploytest-other-bytes");
        let e = deploy(conn, &meta, STACK, &files(3)).await.unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("secret pfdeploytest_token") && e.contains("cannot change"),
            "{e}"
        );
        assert!(!e.contains("pfdeploytest-other-bytes") && !e.contains(SECRET_TEXT));
        node.close().await;
    });

    // The agent recorded each step, and neither its audit log nor its log holds the secret.
    let audit =
        std::fs::read_to_string(tc_dir().join("nodes/node1/state/audit.log")).unwrap_or_default();
    assert!(
        audit.lines().any(|l| l.contains("\"secret.ensure\"")
            && l.contains("pfdeploytest_token")
            && l.contains("e2e-stack-deploy")),
        "no secret.ensure entry in the audit log"
    );
    let log = std::fs::read_to_string(tc_dir().join("nodes/node1/agent.log")).unwrap_or_default();
    assert!(!audit.contains(SECRET_TEXT) && !log.contains(SECRET_TEXT));
}

const RICH: &str = "pfdeployrich";
const RICH_CONFIG: &str = "/etc/iservices/pfdeployrich.conf";

/// Most of what the translation handles, in one stack: merge keys, entrypoint and command, a
/// healthcheck, logging, every mount kind, a config, global mode, resources, restart, update and
/// rollback settings, a host-mode port, placement preferences, an internal network with a subnet
/// and a driver option.
const RICH_COMPOSE: &str = r#"version: "3.7"
x-common: &common
  image: pfdemo/busybox:1
  stop_grace_period: 1s
  init: true
services:
  everywhere:
    <<: *common
    entrypoint: ["sleep"]
    command: "1000000"
    hostname: "{{.Node.Hostname}}-agent"
    user: "0:0"
    working_dir: /tmp
    environment: [B=2, A=1]
    labels:
      role: agent
    extra_hosts: ["db.example:10.213.0.11"]
    healthcheck:
      test: ["CMD", "busybox", "true"]
      interval: 2s
      timeout: 2s
      retries: 2
      start_period: 1s
    logging:
      driver: json-file
      options: {max-size: 1m}
    volumes:
      - data:/data
      - /etc/hostname:/host-hostname:ro
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1M}
    configs:
      - source: conf
        target: /etc/rich.conf
    deploy:
      mode: global
      endpoint_mode: dnsrr
      labels: {tier: test}
      resources:
        limits: {cpus: "0.25", memory: 64M}
        reservations: {memory: 8M}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 3, window: 10s}
      update_config: {parallelism: 2, delay: 1s, failure_action: rollback, monitor: 2s, max_failure_ratio: 0.5, order: stop-first}
      rollback_config: {parallelism: 1}
    networks:
      front:
        aliases: [agent]
  published:
    <<: *common
    command: sleep 1000000
    ports:
      - {target: 9999, published: 18099, mode: host}
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role == manager]
        preferences: [{spread: node.id}]
    networks: [front]
networks:
  front:
    internal: true
    labels: {purpose: test}
    driver_opts: {com.docker.network.driver.mtu: "1400"}
    ipam:
      config: [{subnet: 10.231.0.0/24}]
volumes:
  data:
    labels: {purpose: test}
configs:
  conf:
    file: ./pfdeployrich.conf
"#;

/// What Docker stores for each translated key reads back as asked: a second deploy of a stack
/// using most of them changes nothing.
#[test]
fn a_stack_using_most_compose_keys_deploys_and_redeploys_unchanged() {
    let _l = exclusive();
    let _clean = Cleanup::new(RICH, &[RICH_CONFIG]);
    put_on_node1(RICH_CONFIG, "listen 9999\n");
    let files = vec![ComposeFile {
        path: "/etc/iservices/pfdeployrich.yml".into(),
        text: RICH_COMPOSE.into(),
    }];
    let meta = ActionMeta {
        run_id: "e2e-stack-rich".into(),
        actor: "e2e@pfctl-tests".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = connect("node1").await;
        let (conn, _) = node.agent().await.unwrap();
        let first = deploy(conn, &meta, RICH, &files).await.unwrap();
        assert!(
            first.items.iter().all(|i| i.result == Change::Created),
            "{first:?}"
        );
        assert_eq!(
            first.items.len(),
            4,
            "network, config, two services: {first:?}"
        );
        let progress = converge(conn, RICH, Duration::from_secs(120), |_| {})
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let everywhere = progress
            .iter()
            .find(|p| p.service == "pfdeployrich_everywhere")
            .unwrap();
        assert_eq!((everywhere.desired, everywhere.running), (None, 3));
        let again = deploy(conn, &meta, RICH, &files).await.unwrap();
        let changed: Vec<_> = again
            .items
            .iter()
            .filter(|i| i.result != Change::Unchanged)
            .collect();
        assert!(changed.is_empty(), "a second deploy changed {changed:?}");
        node.close().await;
    });
    let net = docker(
        "node1",
        &[
            "network",
            "inspect",
            "pfdeployrich_front",
            "--format",
            "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        ],
    );
    assert_eq!(net.trim(), "true 10.231.0.0/24");
}
