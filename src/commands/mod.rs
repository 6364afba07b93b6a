//! One module per command; each returns the process exit code.

pub mod agent;
pub mod audit;
pub mod autocluster;
pub mod autoheal;
pub mod backup;
pub mod facts;
pub mod haproxy;
pub mod healthcheck;
pub mod license;
pub mod password;
pub mod password_set;
pub mod restore;
pub mod upgrade;
