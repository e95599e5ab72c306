//! `berth registry ...`: the command line. Flags override the YAML file, which overrides the
//! defaults (127.0.0.1:5000, /var/lib/berth/registry).

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{AclRule, Config, Htpasswd, ProxyRemote, Tls, Token};
use crate::server::Server;

#[derive(Parser, Debug)]
#[command(
    name = "berth registry",
    about = "A registry server (Docker Registry HTTP API v2 / OCI distribution)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the registry.
    Serve(Box<ServeArgs>),
    /// Collect garbage in a storage directory no server is using (while serving: POST /admin/gc).
    Gc {
        #[command(flatten)]
        common: Common,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove manifests no tag, index or referrer subject keeps.
        #[arg(long)]
        delete_untagged: bool,
    },
    /// Print an htpasswd line (bcrypt) for USER, the password read from standard input.
    Htpasswd {
        user: String,
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// YAML configuration (distribution's config.yml shape, with Berth's extensions).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Storage root directory.
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Users for basic auth (bcrypt htpasswd file).
    #[arg(long, value_name = "FILE")]
    htpasswd: Option<PathBuf>,
    /// Use bearer tokens from the built-in /token endpoint instead of basic auth.
    #[arg(long)]
    token_auth: bool,
    /// Token rule ACCOUNT:NAME:ACTIONS (e.g. `alice:alice/*:pull,push,delete`); repeatable.
    #[arg(long = "token-acl", value_name = "RULE")]
    token_acl: Vec<String>,
    /// Refuse every write.
    #[arg(long)]
    read_only: bool,
    /// Refuse deletions.
    #[arg(long)]
    no_delete: bool,
    /// Mirror an upstream: URL, or PREFIX=URL for repositories under PREFIX; repeatable.
    #[arg(long = "proxy-remote-url", value_name = "[PREFIX=]URL")]
    proxy_remote_url: Vec<String>,
    /// How long a mirrored tag is trusted before upstream is asked again.
    #[arg(long, value_name = "DURATION")]
    proxy_ttl: Option<String>,
    /// Collect garbage this often while serving (e.g. 24h).
    #[arg(long, value_name = "DURATION")]
    gc_interval: Option<String>,
    /// Scheduled collections also remove untagged manifests.
    #[arg(long)]
    gc_delete_untagged: bool,
    /// Keep unreferenced blobs younger than this (default 1h).
    #[arg(long, value_name = "DURATION")]
    gc_grace: Option<String>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG wins when set.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,
    /// Log lines as `text` (key=value) or `json` (one object per line, for log shippers);
    /// default: the config file's `log.formatter`, else text.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

fn load(common: &Common) -> Result<Config, String> {
    let mut cfg = match &common.config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(s) = &common.storage {
        cfg.storage.filesystem.rootdirectory = Some(s.clone());
    }
    Ok(cfg)
}

fn apply(a: &ServeArgs) -> Result<Config, String> {
    let mut cfg = load(&a.common)?;
    if let Some(addr) = &a.addr {
        cfg.http.addr = Some(addr.clone());
    }
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        cfg.http.tls = Some(Tls {
            certificate: c.clone(),
            key: k.clone(),
        });
    }
    if let Some(h) = &a.htpasswd {
        cfg.auth.htpasswd = Some(Htpasswd {
            realm: "berth-registry".into(),
            path: h.clone(),
        });
    }
    if a.token_auth || !a.token_acl.is_empty() {
        let t = cfg.auth.token.get_or_insert_with(Token::default);
        for r in &a.token_acl {
            let mut parts = r.splitn(3, ':');
            let (Some(account), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("--token-acl {r:?}: expected ACCOUNT:NAME:ACTIONS"));
            };
            t.acl.push(AclRule {
                account: account.into(),
                name: name.into(),
                actions: actions.split(',').map(str::to_string).collect(),
            });
        }
    }
    if a.read_only {
        cfg.storage.maintenance.readonly.enabled = true;
    }
    if a.no_delete {
        cfg.storage.delete.enabled = false;
    }
    for p in &a.proxy_remote_url {
        let (prefix, url) = match p.split_once('=') {
            Some((pre, url)) => (pre.to_string(), url.to_string()),
            None => (String::new(), p.clone()),
        };
        cfg.proxies.push(ProxyRemote {
            prefix,
            remoteurl: url,
            username: None,
            password: None,
            ca: None,
            ttl: a.proxy_ttl.clone().unwrap_or_else(|| "10m".into()),
        });
    }
    if let Some(i) = &a.gc_interval {
        cfg.gc.interval = Some(i.clone());
    }
    if a.gc_delete_untagged {
        cfg.gc.deleteuntagged = true;
    }
    if let Some(g) = &a.gc_grace {
        cfg.gc.grace = g.clone();
    }
    Ok(cfg)
}

/// Entry point of `berth registry`; `args[0]` is `registry`. Returns the exit code.
pub fn cli_main(args: &[OsString]) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth registry: runtime: {e}");
            return 1;
        }
    };
    match cli.command {
        Command::Serve(a) => {
            let cfg = match apply(&a) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("berth registry: {e}");
                    return 1;
                }
            };
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&a.log_level));
            let logs = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr);
            let json = match a.log_format.as_deref() {
                Some(f) => f == "json",
                None => cfg.log_formatter() == Some("json"),
            };
            let _ = if json {
                logs.json().flatten_event(true).try_init()
            } else {
                logs.try_init()
            };
            runtime.block_on(async {
                let server = match Server::start(cfg).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("berth registry: {e}");
                        return 1;
                    }
                };
                wait_for_signal().await;
                server.shutdown().await;
                0
            })
        }
        Command::Gc {
            common,
            dry_run,
            delete_untagged,
        } => {
            let cfg = match load(&common) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("berth registry gc: {e}");
                    return 1;
                }
            };
            match runtime.block_on(crate::gc::collect_offline(cfg, dry_run, delete_untagged)) {
                Ok(r) => {
                    for (repo, d) in &r.untagged {
                        println!(
                            "{} manifest {repo}@{d}",
                            if dry_run { "would untag" } else { "removed" }
                        );
                    }
                    for (d, size) in &r.deleted {
                        println!(
                            "{} {d} {size}",
                            if dry_run { "would delete" } else { "deleted" }
                        );
                    }
                    println!(
                        "{} blobs, {} referenced, {} kept as recent, {} bytes {}",
                        r.blobs_total,
                        r.marked,
                        r.kept_recent,
                        r.freed_bytes(),
                        if dry_run { "would be freed" } else { "freed" }
                    );
                    0
                }
                Err(e) => {
                    eprintln!("berth registry gc: {e}");
                    1
                }
            }
        }
        Command::Htpasswd { user, cost } => {
            let mut pw = String::new();
            if std::io::stdin().read_to_string(&mut pw).is_err() {
                eprintln!("berth registry htpasswd: cannot read the password");
                return 1;
            }
            let pw = pw.trim_end_matches(['\n', '\r']);
            match bcrypt::hash(pw, cost) {
                Ok(h) => {
                    println!("{user}:{h}");
                    0
                }
                Err(e) => {
                    eprintln!("berth registry htpasswd: {e}");
                    1
                }
            }
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
