use clap::Parser;
use pfctl::cli::FirewallCommand;
use pfctl::cli::{join_legacy_credentials, AgentCommand, Cli, Command, LegacyKind};
use pfctl::commands;
use pfctl::context::Ctx;

/// Usage errors and failures before any node was asked are "unknown" to a monitoring system.
const EXIT_UNKNOWN: i32 = 3;

fn main() {
    let args = join_legacy_credentials(std::env::args().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { EXIT_UNKNOWN } else { 0 });
        }
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pfctl: cannot start the async runtime: {e}");
            std::process::exit(EXIT_UNKNOWN);
        }
    };
    let code = runtime.block_on(run(cli)).unwrap_or_else(|e| {
        eprintln!("pfctl: error: {e:#}");
        EXIT_UNKNOWN
    });
    // Open SSH sessions and spawned tasks need not be waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}

async fn run(mut cli: Cli) -> anyhow::Result<i32> {
    pfctl::cron::prepare(&mut cli)?;
    let ctx = Ctx::from_cli(&cli.global)?;
    match &cli.command {
        Command::Facts => commands::facts::run(&ctx, "facts").await,
        Command::NodeAction(a) | Command::ClusterAction(a) => match a.action {
            LegacyKind::Facts => commands::facts::run(&ctx, "facts").await,
            LegacyKind::Healthcheck => commands::healthcheck::run(&ctx, &a.health).await,
            LegacyKind::GenerateHaproxyConfig => {
                let args = pfctl::cli::HaproxyArgs {
                    profile: a.health.profile.clone(),
                    out: None,
                };
                commands::haproxy::run(&ctx, &args).await
            }
            LegacyKind::Upgrade => {
                let input = match a.upgrade_args.as_slice() {
                    [mode, path] if mode == "offline" => pfctl::cli::UpgradeInput {
                        images: Some(path.into()),
                        sha256: a.sha256.clone(),
                        ..Default::default()
                    },
                    [mode, url] if mode == "online" => pfctl::cli::UpgradeInput {
                        url: Some(url.clone()),
                        sha256: a.sha256.clone(),
                        ..Default::default()
                    },
                    _ => anyhow::bail!(
                        "--action upgrade needs --upgrade_args offline BUNDLE or --upgrade_args online URL --sha256 HEX"
                    ),
                };
                if input.url.is_some() && input.sha256.is_none() {
                    anyhow::bail!("--upgrade_args online URL needs --sha256 HEX: a download is checked before anything changes");
                }
                let args = pfctl::cli::UpgradeApplyArgs {
                    input,
                    profile: a.health.profile.clone(),
                    yes: a.heal.yes,
                    allow_warn: false,
                    skip_backup: false,
                    backup_to: None,
                    until: None,
                };
                commands::upgrade::run(&ctx, &pfctl::cli::UpgradeCommand::Apply(args)).await
            }
            LegacyKind::OpenFirewallPorts => {
                pfctl::firewall::run(&ctx, a.health.profile.as_ref()).await
            }
            LegacyKind::Autoheal | LegacyKind::ModifyIservicesVolumesOwner => {
                let args = pfctl::cli::AutohealArgs {
                    profile: a.health.profile.clone(),
                    opts: a.heal.clone(),
                };
                let only_owner = a.action == LegacyKind::ModifyIservicesVolumesOwner;
                commands::autoheal::run(&ctx, &args, only_owner).await
            }
        },
        Command::Autoheal(args) => commands::autoheal::run(&ctx, args, false).await,
        Command::Autocluster(args) => commands::autocluster::run(&ctx, args).await,
        Command::Resume(args) => commands::autocluster::resume(&ctx, args).await,
        Command::Backup(cmd) => commands::backup::run(&ctx, cmd).await,
        Command::Upgrade(cmd) => commands::upgrade::run(&ctx, cmd).await,
        Command::Restore(args) => commands::restore::run(&ctx, args).await,
        Command::License(cmd) => commands::license::run(&ctx, cmd).await,
        Command::Password(cmd) => commands::password::run(&ctx, cmd).await,
        Command::Firewall(FirewallCommand::Open(args)) => {
            pfctl::firewall::run(&ctx, args.profile.as_ref()).await
        }
        Command::Audit(args) => commands::audit::run(&ctx, args).await,
        Command::HaproxyConfig(args) => commands::haproxy::run(&ctx, args).await,
        Command::Healthcheck(args) => commands::healthcheck::run(&ctx, args).await,
        Command::Agent(AgentCommand::Install(args)) => commands::agent::install(&ctx, args).await,
        Command::Agent(AgentCommand::Status) => commands::agent::status(&ctx).await,
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "pfctl=info,warn",
        _ => "pfctl=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
