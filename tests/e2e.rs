//! End-to-end tests on the real test cluster: real OpenSSH, real Docker Engines, real agents.
//! `tests/run` brings the cluster up; each test also makes sure it is up.

mod common;

#[path = "e2e/agent_install.rs"]
mod agent_install;
#[path = "e2e/autocluster.rs"]
mod autocluster;
#[path = "e2e/autoheal.rs"]
mod autoheal;
#[path = "e2e/backup.rs"]
mod backup;
#[path = "e2e/couchbase.rs"]
mod couchbase;
#[path = "e2e/facts.rs"]
mod facts;
#[path = "e2e/faults.rs"]
mod faults;
#[path = "e2e/firewall.rs"]
mod firewall;
#[path = "e2e/haproxy.rs"]
mod haproxy;
#[path = "e2e/healthcheck.rs"]
mod healthcheck;
#[path = "e2e/history_cron.rs"]
mod history_cron;
#[path = "e2e/hostkeys.rs"]
mod hostkeys;
#[path = "e2e/license.rs"]
mod license;
#[path = "e2e/password.rs"]
mod password;
#[path = "e2e/rabbitmq.rs"]
mod rabbitmq;
#[path = "e2e/stack_deploy.rs"]
mod stack_deploy;
#[path = "e2e/swarm_ops.rs"]
mod swarm_ops;
#[path = "e2e/upgrade.rs"]
mod upgrade;
