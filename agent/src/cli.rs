//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "pfagent", version, about = "The pfctl node agent")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the agent protocol on a Unix socket (resident) or on stdin/stdout (--stdio).
    Serve(ServeArgs),
    /// Relay stdin/stdout to the resident agent's socket (what pfctl runs over SSH).
    Connect {
        #[arg(long, default_value = pfproto::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Move an image as raw bytes: `save` writes it to stdout, `load` reads one from stdin.
    Image(ImageArgs),
    /// Backup and restore bytes: `read` writes sources as a tar stream, `write` restores one.
    Bundle(BundleArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub action: ImageAction,
    /// The Docker Engine to talk to (only unix:// addresses are supported).
    #[arg(
        long,
        global = true,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Write image REF to stdout as a tar archive (what `docker save REF` writes).
    Save {
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Load a tar archive from stdin (as `docker load`) and print a JSON line naming the loaded
    /// images, their ids, and the bytes read and their sha256.
    Load,
}

#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub action: BundleAction,
    /// The Docker Engine to talk to (only unix:// addresses are supported).
    #[arg(
        long,
        global = true,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
}

#[derive(Debug, Subcommand)]
pub enum BundleAction {
    /// Read a JSON request line from stdin and write its sources to stdout as a tar stream.
    Read,
    /// Restore a tar stream from stdin (first entry: the request) and print a JSON report line.
    Write,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = pfproto::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Members of this group may use the socket.
    #[arg(long, default_value = pfproto::DEFAULT_GROUP)]
    pub group: String,
    #[arg(long, default_value = pfproto::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Serve one connection on stdin/stdout instead of a socket, for nodes without a resident agent.
    #[arg(long)]
    pub stdio: bool,
    /// The Docker Engine to talk to (only unix:// addresses are supported).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
}
