//! pfagent: the node agent behind pfctl. See DESIGN.md, "Parts and who owns what".

mod access;
mod actions;
mod agent;
mod bundle;
mod cli;
mod clock;
mod connect;
mod disks;
mod docker;
mod engine_probes;
mod facts;
mod files;
mod firewall;
mod history;
mod host;
mod images;
mod log;
mod methods;
mod net;
mod resident;
mod secrets;
mod service;
mod stack_ops;
mod stdio;
mod swarm_ops;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Connect { socket } => runtime(false).block_on(connect::run(&socket)),
        Command::Image(args) => runtime(false).block_on(images::run(args)),
        Command::Bundle(args) => bundle::run(args),
        Command::Serve(args) if args.stdio => {
            runtime(true).block_on(stdio::run(args));
            0
        }
        Command::Serve(args) => match runtime(true).block_on(resident::run(args)) {
            Ok(()) => 0,
            Err(e) => {
                log::error!("{e:#}");
                1
            }
        },
    };
    // Exit directly: a blocking stdin read may still be parked in tokio's thread pool.
    std::process::exit(code);
}

fn runtime(serving: bool) -> tokio::runtime::Runtime {
    let mut b = if serving {
        // Two workers are plenty for a node agent and keep its idle footprint small.
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .expect("cannot start the tokio runtime")
}
