//! The command line: modern subcommands beside the original `node-action` / `cluster-action`
//! syntax of powerflowcontrol.

use crate::output::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Separates host and credentials inside one `--host` value after [`join_legacy_credentials`].
pub const LEGACY_SEP: char = '\u{0}';

#[derive(Debug, Parser)]
#[command(
    name = "pfctl",
    version,
    about = "Keep a PowerFlow (Docker Swarm) cluster healthy: facts, healthcheck, agents",
    long_about = "pfctl reaches every node of a cluster over SSH and talks there to pfagent, a small resident \
agent. Nodes come from an inventory file (--inventory, PFCTL_INVENTORY) or from --host.\n\n\
Exit codes follow the Nagios convention: 0 ok, 1 warning, 2 failure, 3 unknown or unreachable.",
    after_help = "The original syntax still works: pfctl --host 10.2.11.222 isadmin:pass node-action --action facts"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml.
    #[arg(
        long,
        short = 'i',
        env = "PFCTL_INVENTORY",
        global = true,
        value_name = "FILE"
    )]
    pub inventory: Option<PathBuf>,
    /// Cluster of the inventory to act on (default: its default_cluster, or its only cluster).
    #[arg(long, short = 'c', global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// A node to act on, instead of the inventory's cluster: [USER@]HOST[:PORT], repeatable.
    /// The original form `--host HOST USER:PASS` is accepted too.
    #[arg(long = "host", global = true, value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated.
    #[arg(long, short = 'l', global = true, value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// How many nodes to work on at once.
    #[arg(long, global = true, default_value_t = 32, value_name = "N")]
    pub parallel: usize,
    /// Seconds to wait for a node's SSH connection (TCP, key exchange and authentication).
    #[arg(long, global = true, default_value_t = 5, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds one node may take in all before it is reported and left behind.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS")]
    pub timeout: u64,
    /// Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys).
    #[arg(long, global = true, value_name = "POLICY")]
    pub host_key_checking: Option<String>,
    /// OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "~/.ssh/config"
    )]
    pub ssh_config: String,
    /// Private key to log in with (repeatable); replaces the inventory's and ssh config's.
    #[arg(long = "identity", global = true, value_name = "FILE")]
    pub identity_files: Vec<PathBuf>,
    /// Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts.
    #[arg(long, short = 'k', global = true)]
    pub ask_pass: bool,
    /// Output format (default: table on a terminal, plain otherwise).
    #[arg(long, short = 'o', global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// More diagnostics on stderr (repeat for more); RUST_LOG works too.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress display.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what each node's agent reports: OS, CPU, memory, disks, clock, Docker and swarm.
    Facts,
    /// Check the cluster: nodes, engines, swarm, stack, files, clocks, connectivity, endpoints.
    Healthcheck(HealthArgs),
    /// Fix what healthcheck finds: show a plan, apply it (asking first), check again and report
    /// per action fixed, not fixed, skipped or failed. Problems without a safe fix get a recipe.
    Autoheal(AutohealArgs),
    /// Turn the inventory's nodes into a running, verified cluster: preflight, confirmation,
    /// firewall, swarm (3, 5 or 7 managers; `--workers N` more as workers), labels, images,
    /// configuration, stack deploy, convergence and a healthcheck. Journaled: `pfctl resume RUN_ID`
    /// continues a run that stopped.
    Autocluster(AutoclusterArgs),
    /// Continue an operation run (autocluster) that stopped, from its first phase not done.
    Resume(ResumeArgs),
    /// Back up what a restore needs (the profile's files and volumes) into one verified archive;
    /// list, verify and prune the archives at a destination.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Licenses: request one for this cluster, install it on every node, show its status; and,
    /// vendor side, make signing keys and issue licenses.
    #[command(subcommand)]
    License(LicenseCommand),
    /// The platform's password tokens: encrypt a password with the cluster's encryption_key
    /// (Fernet, as the platform reads it), or print what is_pass (or a token) decrypts to.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Upgrade the stack: `plan` shows per service what changes, in which order, what rolls
    /// without downtime and what stops, and the quorum analysis; `apply` gates (healthcheck, a
    /// verified backup, the images on every node), then rolls group by group with a health gate
    /// after each, journaled (`pfctl resume RUN_ID`); `rollback RUN_ID` puts the previous specs
    /// back.
    #[command(subcommand)]
    Upgrade(UpgradeCommand),
    /// Put a backup back: shows the plan, asks, stops the services using what it writes, writes
    /// atomically (replaced files kept as `.pfctl-prev`), restarts them and runs healthcheck.
    Restore(RestoreArgs),
    /// What the agents did on request (autoheal's actions), per node and cluster-wide, newest first.
    Audit(AuditArgs),
    /// Install, upgrade or inspect pfagent on the nodes.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Let the ports the cluster needs (the swarm's and the profile's) in through each node's
    /// firewall: firewalld where it runs, else nftables. Same as `node-action --action open_firewall_ports`.
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// An HAProxy configuration balancing the profile's ports (powerflow: 80/443, 5556, 3141) over
    /// the swarm's managers, round robin with health checks. Same as `cluster-action --action
    /// generate_haproxy_config`.
    #[command(name = "haproxy-config")]
    HaproxyConfig(HaproxyArgs),
    /// The original per-node form: `node-action --action facts`.
    #[command(name = "node-action")]
    NodeAction(LegacyAction),
    /// The original cluster form: `cluster-action --action facts`.
    #[command(name = "cluster-action")]
    ClusterAction(LegacyAction),
}

#[derive(Debug, Subcommand)]
pub enum FirewallCommand {
    /// Open the profile's required ports on the selected nodes (only those still closed; the
    /// agents audit what they change).
    Open(FirewallArgs),
}

#[derive(Debug, Args)]
pub struct FirewallArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct HaproxyArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Write the configuration to FILE (atomically; the previous one kept as FILE.prev) instead
    /// of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Copy pfagent to the nodes over SFTP, install it (keeping the previous binary as .prev and the
    /// state directory untouched), start it and check the version it answers with.
    Install(InstallArgs),
    /// Version, mode and uptime of the agent on each node.
    Status,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The pfagent binary to install (default: the one beside this pfctl).
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LegacyAction {
    #[arg(long, value_enum)]
    pub action: LegacyKind,
    #[command(flatten)]
    pub health: HealthArgs,
    /// Used by `--action autoheal` and `--action modify_iservices_volumes_owner`.
    #[command(flatten)]
    pub heal: HealOpts,
    /// `--action upgrade`: `offline BUNDLE` (a `docker save` archive here) or `online URL`
    /// (with --sha256). Runs `pfctl upgrade apply`.
    #[arg(long = "upgrade_args", num_args = 2, value_names = ["MODE", "SOURCE"])]
    pub upgrade_args: Vec<String>,
    /// `--action upgrade`: the bundle's SHA-256 (required online).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LegacyKind {
    Facts,
    Healthcheck,
    Autoheal,
    /// Owner and mode of the profile's secret files (root, 0600): autoheal limited to that.
    #[value(name = "modify_iservices_volumes_owner")]
    ModifyIservicesVolumesOwner,
    /// Open the swarm's and the profile's ports in each node's firewall (`pfctl firewall open`).
    #[value(name = "open_firewall_ports")]
    OpenFirewallPorts,
    /// An HAProxy configuration for the swarm's managers, on stdout (`pfctl haproxy-config`).
    #[value(name = "generate_haproxy_config")]
    GenerateHaproxyConfig,
    /// `pfctl upgrade apply` with `--upgrade_args offline BUNDLE | online URL`.
    Upgrade,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AutoclusterArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow)
    #[arg(long)]
    pub profile: Option<String>,
    /// Show what each phase would do on each node; change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Do not ask (needed without a terminal): existing swarm state on the nodes is wiped.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The last N nodes (inventory order) join as workers; the others are managers (3, 5 or 7).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub workers: usize,
    /// Stop after this phase (the run stays resumable with `pfctl resume RUN_ID`).
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Read a password (no echo; or one line on stdin) and print its Fernet token under the
    /// cluster's encryption_key. `--for-inventory`: a token for the inventory's
    /// `password_encrypted`, under the local key file (~/.config/pfctl/inventory.key, or
    /// $PFCTL_INVENTORY_KEY; made when missing).
    Encrypt {
        #[arg(long)]
        for_inventory: bool,
        /// Read the password from stdin even on a terminal.
        #[arg(long)]
        stdin: bool,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Change the platform admin password on every manager: is_pass (and its backup copy under
    /// /opt/iservices/backup) written atomically and verified by hash, the Docker secret the
    /// services mount replaced by a new version, the services moved to it, the old one removed.
    /// Reads the password without echo (twice), or one line on stdin.
    Set {
        /// Read the password from stdin even on a terminal.
        #[arg(long)]
        stdin: bool,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Print the password is_pass holds (or a token decrypts to); changes nothing.
    Decrypt {
        /// Decrypt this token instead of the node's is_pass.
        #[arg(long)]
        token: Option<String>,
        #[arg(long)]
        profile: Option<String>,
    },
}

/// Where an upgrade's new specs come from: exactly one of the three.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct UpgradeInput {
    /// The new compose file (the stack's services as they should be).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["images", "url"])]
    pub compose: Option<std::path::PathBuf>,
    /// Offline: a `docker save` archive of the new images (gzip or zstd too); services running
    /// another tag of an image in it move to its tag.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "url")]
    pub images: Option<std::path::PathBuf>,
    /// Online: fetch the images bundle from this URL (checked against --sha256).
    #[arg(long, value_name = "URL", requires = "sha256")]
    pub url: Option<String>,
    /// The bundle's SHA-256 (required with --url; checked with --images when given).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UpgradeApplyArgs {
    #[command(flatten)]
    pub input: UpgradeInput,
    #[arg(long)]
    pub profile: Option<String>,
    /// Do not ask (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Go on when the healthcheck only warns.
    #[arg(long)]
    pub allow_warn: bool,
    /// Make no backup first (rollback --restore-data then has nothing to restore).
    #[arg(long, conflicts_with = "backup_to")]
    pub skip_backup: bool,
    /// Where the run's backup goes (default: the profile's `[backup] destination`).
    #[arg(long, value_name = "DEST")]
    pub backup_to: Option<String>,
    /// Stop after this phase (resumable with `pfctl resume RUN_ID`).
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Show what an upgrade would change, in which order, and what stops; change nothing.
    Plan {
        #[command(flatten)]
        input: UpgradeInput,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Upgrade: gates, backup, images on every node, then group by group.
    Apply(UpgradeApplyArgs),
    /// Put back the specs an upgrade run replaced, last group first.
    Rollback {
        /// The upgrade's run id.
        run_id: String,
        /// Restore the backup the upgrade made, too (stops the services that use the data).
        #[arg(long)]
        restore_data: bool,
        /// Do not ask (needed without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Write a license request (`<customer>_key.iskey`) naming this swarm (cluster id, node ids).
    Request {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        email: String,
        /// The request file (default: `<customer>_key.iskey` here).
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
        /// The platform version to name (default: the profile's name).
        #[arg(long)]
        platform_version: Option<String>,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Vendor side: sign a license for a request.
    Issue {
        /// The signing key `license keygen` made.
        #[arg(long, value_name = "FILE")]
        signing_key: std::path::PathBuf,
        #[arg(long, value_name = "FILE")]
        request: std::path::PathBuf,
        /// standard, advanced or premium.
        #[arg(long)]
        tier: String,
        /// Valid for this many days from now.
        #[arg(long)]
        days: u32,
        /// A feature to grant (repeatable).
        #[arg(long)]
        feature: Vec<String>,
        /// Where the license goes.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Vendor side: a new signing key (`PREFIX.key`, mode 600) and its public key (`PREFIX.pub`).
    Keygen {
        #[arg(long, value_name = "PREFIX")]
        out: String,
    },
    /// Check a license (signer, signature, this cluster, expiry) and store it on every node.
    Install {
        file: std::path::PathBuf,
        #[command(flatten)]
        keys: LicenseKeyArgs,
    },
    /// Customer, tier, expiry and days left; exit 0 green, 1 yellow (10 days or less), 2 red.
    Status {
        #[command(flatten)]
        keys: LicenseKeyArgs,
    },
    /// Remove the license from every node (each kept beside it as `.pfctl-prev`).
    Remove {
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        profile: Option<String>,
    },
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct LicenseKeyArgs {
    /// A vendor public key file to trust besides the built-in key (repeatable).
    #[arg(long, value_name = "FILE")]
    pub trust_key: Vec<std::path::PathBuf>,
    #[arg(long)]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Make a backup: `<cluster>-backup[-data-only]-<UTC time>.tar.zst[.age]` at the destination,
    /// written as `.partial` and renamed only when complete, with a catalogue record beside it.
    Create(BackupCreateArgs),
    /// The backups at a destination: id, time, size, sources, verified.
    List(BackupListArgs),
    /// Read a backup through and check the manifest and every checksum (`--deep`: also extract
    /// it into a scratch directory and compare). Names the damaged entry.
    Verify(BackupVerifyArgs),
    /// Delete the backups a retention policy does not keep (this cluster's only).
    Prune(BackupPruneArgs),
}

/// Where backups are (default: the profile's `[backup] destination`).
#[derive(Debug, Clone, clap::Args, Default)]
pub struct DestinationArg {
    /// A directory on this machine, or sftp://user@host[:port]/dir.
    #[arg(long, value_name = "DEST")]
    pub to: Option<String>,
}

/// How an encrypted backup is opened. The passphrase never goes on the command line.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct DecryptArgs {
    /// A file holding the passphrase (else PFCTL_BACKUP_PASSPHRASE, else a prompt on a terminal).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<std::path::PathBuf>,
    /// An age identity file (AGE-SECRET-KEY-1...) for backups encrypted to a recipient.
    #[arg(long, value_name = "FILE")]
    pub age_identity: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct BackupCreateArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow).
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub dest: DestinationArg,
    /// Nodes to take the sources from, first reachable wins (`node1,node2`), or `all`.
    #[arg(long, value_name = "NODES")]
    pub from: Option<String>,
    /// Only the sources marked as data (no configuration).
    #[arg(long)]
    pub data_only: bool,
    /// Only these sources (by name; repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "SOURCE")]
    pub include: Vec<String>,
    /// Not these sources.
    #[arg(long, value_delimiter = ',', value_name = "SOURCE")]
    pub exclude: Vec<String>,
    /// gzip instead of zstd.
    #[arg(long)]
    pub gzip: bool,
    /// Encrypt with a passphrase (from --passphrase-file, PFCTL_BACKUP_PASSPHRASE or a prompt).
    #[arg(long)]
    pub encrypt: bool,
    /// A file holding the passphrase for --encrypt.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<std::path::PathBuf>,
    /// Encrypt to this age recipient (age1...; repeatable) instead of a passphrase.
    #[arg(long, value_name = "AGE_RECIPIENT")]
    pub recipient: Vec<String>,
    /// Apply the profile's retention policy afterwards (keep_last / keep_daily / keep_weekly).
    #[arg(long)]
    pub prune: bool,
    /// Give up on a node that sends nothing for this long (its link or its disk stalled).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub stall_timeout: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BackupListArgs {
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub dest: DestinationArg,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BackupVerifyArgs {
    /// The archive: a path, or sftp://user@host/dir/file.
    pub file: String,
    /// Also extract into a scratch directory and compare every file with the manifest.
    #[arg(long)]
    pub deep: bool,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BackupPruneArgs {
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub dest: DestinationArg,
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last D days that have one.
    #[arg(long, value_name = "D")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last W ISO weeks that have one.
    #[arg(long, value_name = "W")]
    pub keep_weekly: Option<u32>,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct RestoreArgs {
    /// The archive: a path, or sftp://user@host/dir/file.
    pub file: String,
    #[arg(long)]
    pub profile: Option<String>,
    /// Show what goes where and which services stop; change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Do not ask (needed without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Only the data sources (for a cluster whose layout differs).
    #[arg(long)]
    pub data_only: bool,
    /// Restore what the backup took from OLD onto NEW (repeatable: `--map node1=node4`).
    #[arg(long, value_name = "OLD=NEW")]
    pub map: Vec<String>,
    /// Restore even though the cluster's encryption_key differs from the backup's (data
    /// encrypted with the other key becomes unreadable).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub decrypt: DecryptArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The run id autocluster printed.
    pub run_id: String,
    /// Stop after this phase.
    #[arg(long, value_name = "PHASE")]
    pub until: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct AutohealArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub opts: HealOpts,
}

#[derive(Debug, Args, Clone)]
pub struct HealOpts {
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (needed when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Apply at most this many actions; the rest are reported as skipped.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_actions: usize,
    /// Act even when more than half the nodes are unreachable or their agent or engine failed.
    #[arg(long)]
    pub force: bool,
    /// Copy drifted files from this node instead of from the majority. Secret files
    /// (encryption_key, is_pass) only with --force as well: data encrypted with another key
    /// becomes unreadable.
    #[arg(long, value_name = "NODE")]
    pub source: Option<String>,
    /// Stopped containers to keep per service (the newest), for diagnosis.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub keep_exited: usize,
}

impl Default for HealOpts {
    fn default() -> Self {
        HealOpts {
            dry_run: false,
            yes: false,
            max_actions: 10,
            force: false,
            source: None,
            keep_exited: 2,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    /// Entries to read from each node (its newest).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub last: u32,
}

#[derive(Debug, Args, Clone, Default)]
pub struct HealthArgs {
    /// Platform profile: powerflow, demo or a TOML file (default: the inventory's, else powerflow).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Make warnings count as failures (exit 2), for strict CI gates.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// List the last N runs the nodes remember (default 20, at most 100), newest first, instead
    /// of checking: time, run id, status, problems, controller.
    #[arg(
        long,
        value_name = "N",
        num_args = 0..=1,
        default_missing_value = "20",
        value_parser = clap::value_parser!(u32).range(1..=100),
        conflicts_with_all = ["cron", "fail_on"]
    )]
    pub history: Option<u32>,
    /// For crontabs: no prompts, colour or progress; one run at a time per cluster (a lock under
    /// $PFCTL_STATE_DIR, else $XDG_STATE_HOME/pfctl or ~/.local/state/pfctl); a last-run.json
    /// status file; output only when something is wrong or changed. Exit 75 when another run
    /// holds the lock.
    #[arg(long)]
    pub cron: bool,
    /// With --cron: seconds to wait for another run to release the lock before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 0, requires = "cron")]
    pub lock_wait: u64,
    /// POST the JSON report to this URL (3 attempts); a failure is reported on stderr and never
    /// changes the exit code. With --cron, only when something is wrong or changed. A URL with a
    /// token is better passed as PFCTL_NOTIFY_URL: arguments are visible to other local users.
    #[arg(
        long,
        value_name = "URL",
        env = "PFCTL_NOTIFY_URL",
        hide_env_values = true
    )]
    pub notify: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warn,
}

/// The original tool took `--host HOST USER:PASS`, two values after one flag. Clap cannot tell
/// a second value from a subcommand, so the pair is joined into one value before parsing: a
/// token after `--host HOST` that holds a `:` and is no option is the credentials.
pub fn join_legacy_credentials(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--host" && i + 2 < args.len() {
            let (host, creds) = (&args[i + 1], &args[i + 2]);
            if !host.starts_with('-') && !creds.starts_with('-') && creds.contains(':') {
                out.push(a.clone());
                out.push(format!("{host}{LEGACY_SEP}{creds}"));
                i += 3;
                continue;
            }
        }
        out.push(a.clone());
        i += 1;
    }
    out
}

/// Splits a `--host` value into the host and, in the legacy form, user and password.
pub fn split_legacy(value: &str) -> (String, Option<(String, String)>) {
    match value.split_once(LEGACY_SEP) {
        Some((host, creds)) => {
            let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
            (host.to_string(), Some((user.to_string(), pass.to_string())))
        }
        None => (value.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn legacy_pairs_are_joined_and_split() {
        let a = join_legacy_credentials(argv(&[
            "pfctl",
            "--host",
            "10.0.0.1",
            "isadmin:p@ss#w:rd x",
            "--host",
            "10.0.0.2",
            "node-action",
            "--action",
            "facts",
        ]));
        let cli = Cli::try_parse_from(&a).unwrap();
        assert_eq!(cli.global.hosts.len(), 2);
        let (h, c) = split_legacy(&cli.global.hosts[0]);
        assert_eq!(h, "10.0.0.1");
        assert_eq!(c, Some(("isadmin".into(), "p@ss#w:rd x".into())));
        assert_eq!(
            split_legacy(&cli.global.hosts[1]),
            ("10.0.0.2".into(), None)
        );
        assert!(matches!(
            cli.command,
            Command::NodeAction(LegacyAction {
                action: LegacyKind::Facts,
                ..
            })
        ));
    }

    #[test]
    fn a_subcommand_after_host_is_not_taken_for_credentials() {
        let a = join_legacy_credentials(argv(&["pfctl", "--host", "h", "facts"]));
        assert_eq!(a, argv(&["pfctl", "--host", "h", "facts"]));
    }
}
