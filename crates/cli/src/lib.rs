//! The `berth` command line: a client of the Docker Engine API with docker's commands, flags,
//! output formats and exit codes.
//!
//! # Lifecycle of one invocation
//!
//! 1. [`run`] parses the arguments with clap ([`cli::Cli`]). Flag errors print docker's text
//!    (`unknown flag: --foo`, the usage line, `Run 'berth run --help' …`) and exit 125; a
//!    missing argument exits 1, as docker does.
//! 2. The daemon address is `-H`, else `BERTH_HOST`, else `unix:///run/berth/berth.sock`. Only
//!    for that default address, when nothing answers and we are root, the CLI starts
//!    `berth daemon` in the background ([`autostart`]) and waits up to 10 s for `/_ping`.
//! 3. The command runs (`commands::<name>::run`) against a [`berth_client::Client`] and returns
//!    the exit status: the container's own for attached `run` / `start -a`, 125 for engine
//!    errors during `run`/`create`, 126/127 when the daemon says the command cannot be invoked
//!    or found, 1 for other failures.
//!
//! The CLI owns its process while it runs, so (unlike library crates) it installs signal
//! handlers for `SIGWINCH` and `--sig-proxy` and puts the local terminal in raw mode for `-t`,
//! restoring it before returning.
//!
//! Output formatting lives in [`format`]: human sizes and durations, docker's tab writer, Go
//! templates for `--format`, and the per-object fields of `ps` and `images`.

/// `println!` that never panics: a closed stdout (`berth ps | head -1`) is not our failure.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that never panics.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout();
        let _ = write!(o, $($t)*);
        let _ = o.flush();
    }};
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

pub mod attach_io;
pub mod autostart;
pub mod cli;
pub mod commands;
pub mod container_config;
pub mod credentials;
pub mod error;
pub mod format;
pub mod health_flags;
pub mod mount_flag;
pub mod progress;
pub mod terminal;

use std::ffi::OsString;
use std::io::Write;
use std::sync::Arc;

use berth_client::{select_host, Client, HostSource, HOST_ENV};
use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
use clap::Parser;

pub use error::{CliError, Result};

/// What every command gets: the client and where its address came from.
pub struct Ctx {
    pub client: Arc<Client>,
    pub host_source: HostSource,
}

/// Runs the `berth` CLI with `args` (including `argv[0]`) and returns the exit status.
pub async fn run(args: Vec<OsString>) -> i32 {
    let mut args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Help and usage texts say `berth` whatever the binary is called.
    if let Some(first) = args.first_mut() {
        *first = "berth".to_string();
    }
    let parsed = match cli::Cli::try_parse_from(&args) {
        Ok(p) => p,
        Err(e) => return clap_error(e, &args),
    };
    if parsed.version {
        outln!("Berth version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(command) = parsed.command else {
        let _ = <cli::Cli as clap::CommandFactory>::command().print_help();
        return 0;
    };
    let env_host = std::env::var(HOST_ENV).ok();
    let (addr, source) = select_host(parsed.host.as_deref(), env_host.as_deref());
    let client = match Client::from_addr(&addr) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            errln!("{e}");
            return 1;
        }
    };
    let ctx = Ctx {
        client,
        host_source: source,
    };
    if let Err(e) = autostart::ensure_daemon(&ctx).await {
        errln!("{}", e.render());
        return 1;
    }
    match commands::dispatch(&ctx, command).await {
        Ok(code) => code,
        Err(e) => report(e),
    }
}

/// Prints an error the way docker does for the command at `path`, returning the exit status.
fn report(e: CliError) -> i32 {
    let _ = std::io::stdout().flush();
    match e {
        CliError::Status { code, message } => {
            if let Some(m) = message.filter(|m| !m.is_empty()) {
                errln!("{m}");
            }
            code
        }
        CliError::Usage {
            message,
            command,
            code,
        } => {
            errln!(
                "{message}\n\nUsage:  berth {command} {}\n\nRun 'berth {command} --help' for more information",
                cli::usage_tail(&command)
            );
            code
        }
        other => {
            errln!("{}", other.render());
            1
        }
    }
}

/// Maps clap's parse errors onto docker's (cobra's) texts and exit codes.
fn clap_error(e: clap::Error, args: &[String]) -> i32 {
    let path = cli::command_path(args);
    let leaf = path.rsplit(' ').next().unwrap_or("").to_string();
    let usage = if path.is_empty() {
        "Usage:  berth [OPTIONS] COMMAND".to_string()
    } else {
        format!("Usage:  berth {path} {}", cli::usage_tail(&path))
    };
    let prog = if path.is_empty() {
        "berth".to_string()
    } else {
        format!("berth {path}")
    };
    match e.kind() {
        ClapKind::DisplayHelp | ClapKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ClapKind::UnknownArgument => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            let arg = arg.split('=').next().unwrap_or(&arg).to_string();
            let msg = if arg.starts_with("--") || arg.is_empty() {
                format!("unknown flag: {arg}")
            } else {
                let c = arg.trim_start_matches('-').chars().next().unwrap_or('?');
                format!("unknown shorthand flag: '{c}' in {arg}")
            };
            errln!("{msg}\n\n{usage}\n\nRun '{prog} --help' for more information");
            125
        }
        ClapKind::MissingRequiredArgument
        | ClapKind::TooFewValues
        | ClapKind::WrongNumberOfValues => {
            // docker's own exact-count checks say "Run …", cobra's minimum checks "See …".
            let (count, exact) = match leaf.as_str() {
                "logs" | "attach" => (1, true),
                "rename" => (2, true),
                "exec" => (2, false),
                _ => (1, false),
            };
            let noun = if count == 1 { "argument" } else { "arguments" };
            let (need, verb) = if exact {
                ("", "Run")
            } else {
                ("at least ", "See")
            };
            errln!(
                "berth: '{prog}' requires {need}{count} {noun}\n\n{usage}\n\n{verb} '{prog} --help' for more information"
            );
            1
        }
        ClapKind::InvalidSubcommand => {
            let cmd = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            // The path ends with the unknown word itself; the parent is what exists.
            let parent = path
                .strip_suffix(cmd.as_str())
                .unwrap_or(&path)
                .trim_end()
                .to_string();
            let parent_prog = if parent.is_empty() {
                "berth".to_string()
            } else {
                format!("berth {parent}")
            };
            let usage = if parent.is_empty() {
                String::new()
            } else {
                format!("\n\nUsage:  {parent_prog}")
            };
            errln!("berth: unknown command: {parent_prog} {cmd}{usage}\n\nRun '{parent_prog} --help' for more information");
            1
        }
        ClapKind::MissingSubcommand | ClapKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            // Invalid values and the like: docker reports them as flag errors (125).
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            errln!("{first}\n\n{usage}\n\nRun '{prog} --help' for more information");
            125
        }
    }
}
