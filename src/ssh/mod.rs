//! SSH: OpenSSH client config, known_hosts, and the russh-based client that
//! every node connection goes through.
//!
//! - [`config`]: `~/.ssh/config` lookup with OpenSSH semantics.
//! - [`known_hosts`]: verify and record host keys.
//! - [`Session`]: connect (optionally via a jump host), authenticate
//!   (agent, key files, password), then exec / streamlocal / sftp channels.

pub mod config;
mod error;
mod exec;
pub mod known_hosts;
mod session;

pub use config::{HostOptions, JumpHost, SshConfig};
pub use error::SshError;
pub use exec::{shell_quote, ExecOutput, ExecStream, ExecWatch};
pub use known_hosts::{fingerprint, Verdict};
pub use session::{default_identity_files, Endpoint, HostKeyPolicy, Session, SshStream};
