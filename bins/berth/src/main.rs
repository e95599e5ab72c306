//! The one `berth` binary: the CLI, `berth daemon`, the hidden `berth shim`, and — when
//! invoked as `docker-init` inside a container started with `--init` — the tiny init.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// `berth daemon` takes dockerd's flag names.
#[derive(Parser, Debug)]
#[command(
    name = "berth daemon",
    about = "Run the Berth daemon (Docker Engine API on a unix socket)"
)]
struct DaemonArgs {
    /// Root of persisted state
    #[arg(long = "data-root", value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// Root of run-time state (sockets, bundles)
    #[arg(long = "exec-root", value_name = "DIR")]
    exec_root: Option<PathBuf>,
    /// Socket(s) to listen on (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// daemon.json with dockerd's key names
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Path of the pid file
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Logging level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// Default OCI runtime for containers (`berth` = built-in)
    #[arg(long = "default-runtime", value_name = "NAME")]
    default_runtime: Option<String>,
    /// Name of the default bridge (`none` for no default bridge)
    #[arg(short = 'b', long = "bridge", value_name = "NAME")]
    bridge: Option<String>,
    /// The default bridge's address and prefix (its gateway), e.g. 172.30.0.1/16
    #[arg(long = "bip", value_name = "CIDR")]
    bip: Option<String>,
    /// Hand out default-bridge addresses from this sub-range only
    #[arg(long = "fixed-cidr", value_name = "CIDR")]
    fixed_cidr: Option<String>,
    /// Pools new networks take their subnets from: base=CIDR,size=N (repeatable)
    #[arg(long = "default-address-pool", value_name = "POOL")]
    default_address_pools: Vec<String>,
    /// MTU of container interfaces
    #[arg(long = "mtu", value_name = "BYTES")]
    mtu: Option<u32>,
    /// Enable inter-container communication on the default bridge
    #[arg(long = "icc", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    icc: Option<bool>,
    /// Remove this daemon's bridges and firewall rules, then exit (for test harnesses)
    #[arg(long = "network-cleanup", hide = true)]
    network_cleanup: bool,
    /// User/Group setting for user namespaces (`default`, `user[:group]`, `uid[:gid]`)
    #[arg(long = "userns-remap", value_name = "USER[:GROUP]")]
    userns_remap: Option<String>,
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_owned()));
    if argv0.as_deref() == Some(std::ffi::OsStr::new("docker-init")) {
        berth_shim::init::main(
            args.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        );
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("shim") => {
            let dir = args.get(2).map(PathBuf::from).unwrap_or_default();
            berth_shim::main(&dir);
        }
        Some("registry") => std::process::exit(berth_registry::cli_main(&args[1..])),
        Some("daemon") => {
            if let Err(e) = daemon_main(&args[1..]) {
                eprintln!("berth daemon: {e:#}");
                std::process::exit(1);
            }
        }
        _ => {
            // The CLI is one request at a time: a single-threaded runtime starts fastest.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("berth: starting the async runtime: {e}");
                    std::process::exit(125);
                }
            };
            let code = runtime.block_on(berth_cli::run(args));
            std::process::exit(code);
        }
    }
}

fn daemon_main(args: &[OsString]) -> anyhow::Result<()> {
    let a = DaemonArgs::parse_from(args);
    let flags = berth_daemon::Flags {
        data_root: a.data_root,
        exec_root: a.exec_root,
        hosts: a.hosts,
        config_file: a.config_file,
        pidfile: a.pidfile,
        log_level: a.log_level,
        default_runtime: a.default_runtime,
        bridge: a.bridge,
        bip: a.bip,
        fixed_cidr: a.fixed_cidr,
        default_address_pools: a.default_address_pools,
        mtu: a.mtu,
        icc: a.icc,
        userns_remap: a.userns_remap,
    };
    let exe = std::env::current_exe().context("locating the berth executable")?;
    let config = berth_daemon::DaemonConfig::load(flags, exe)?;
    if a.network_cleanup {
        berth_daemon::network::cleanup(&config)?;
        return Ok(());
    }
    let level = match config.log_level.as_str() {
        "fatal" => "error",
        l => l,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "{level},hyper=warn"
        )))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(berth_daemon::run(config))?;
    Ok(())
}
