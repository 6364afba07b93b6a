//! pfctl: the controller. The binary (`main.rs`) is thin glue over these modules.

pub mod atomic;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod context;
pub mod cron;
pub mod docs;
pub mod endpoint;
pub mod fanout;
pub mod firewall;
pub mod haproxy;
pub mod heal;
pub mod history;
pub mod images;
pub mod inventory;
pub mod notify;
pub mod ops;
pub mod output;
pub mod profile;
pub mod report;
pub mod rpc;
pub mod secret;
pub mod ssh;
pub mod stack;
pub mod tls;
pub mod transport;
