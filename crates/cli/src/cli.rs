//! The clap definitions of the command tree: docker's short spellings (`berth ps`) and the
//! management spellings (`berth container ls`) share one argument struct per command.

use clap::{Parser, Subcommand};

use crate::commands::*;

/// The root: global flags before the command, as in `docker -H unix:///x ps`.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", value_name = "string")]
    pub log_level: Option<String>,
    /// Location of client config files
    #[arg(long, value_name = "string")]
    pub config: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Restart one or more containers
    Restart(stop::RestartArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Pause all processes within one or more containers
    Pause(pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(pause::UnpauseArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Return low-level information on Docker objects
    Inspect(inspect::InspectArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Show the version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(builder::BuilderCommand),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(rmi::TagArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Export a container's filesystem as a tar archive
    Export(save::ExportArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commit::DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Search registries for images
    Search(search::SearchArgs),
    /// Manage Docker image manifests and manifest lists
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage the engine
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
}

/// `berth container …`.
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Restart one or more containers
    Restart(stop::RestartArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Pause all processes within one or more containers
    Pause(pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(pause::UnpauseArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove all stopped containers
    Prune(prune::PruneArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::ContainerInspectArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commit::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(save::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
}

/// `berth image …`.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// List images
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::ImageInspectArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Remove one or more images
    #[command(alias = "remove", alias = "rmi")]
    Rm(rmi::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(rmi::TagArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Remove unused images
    Prune(system::ImagePruneArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
}

/// `berth system …`.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Show docker disk usage
    Df(system::DfArgs),
    /// Remove unused data
    Prune(system::SystemPruneArgs),
    /// Verify the image store (every blob's digest, every layer chain); --repair fixes it
    Check(system::CheckArgs),
}

/// The usage line of a command (after `berth <path>`), as docker prints it under errors.
pub fn usage_tail(path: &str) -> &'static str {
    let leaf = path.rsplit(' ').next().unwrap_or(path);
    match leaf {
        "inspect" | "rm" | "remove" if path.starts_with("volume") => "[OPTIONS] VOLUME [VOLUME...]",
        "create" if path.starts_with("volume") => "[OPTIONS] [VOLUME]",
        "run" | "create" => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "start" | "stop" | "restart" | "kill" | "rm" | "remove" => {
            "[OPTIONS] CONTAINER [CONTAINER...]"
        }
        "pause" | "unpause" | "wait" => "CONTAINER [CONTAINER...]",
        "prune" | "ps" | "ls" | "list" | "events" | "version" | "info" | "load" => "[OPTIONS]",
        "logs" | "attach" => "[OPTIONS] CONTAINER",
        "exec" => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "inspect" if path.starts_with("image") => "[OPTIONS] IMAGE [IMAGE...]",
        "inspect" if path.starts_with("container") => "[OPTIONS] CONTAINER [CONTAINER...]",
        "inspect" => "[OPTIONS] NAME|ID [NAME|ID...]",
        "top" => "CONTAINER [ps OPTIONS]",
        "rename" => "CONTAINER NEW_NAME",
        "port" => "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "connect" => "[OPTIONS] NETWORK CONTAINER",
        "disconnect" => "[OPTIONS] NETWORK CONTAINER",
        "import" => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "images" => "[OPTIONS] [REPOSITORY[:TAG]]",
        "rmi" => "[OPTIONS] IMAGE [IMAGE...]",
        "tag" => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "history" => "[OPTIONS] IMAGE",
        "save" => "[OPTIONS] IMAGE [IMAGE...]",
        "export" => "[OPTIONS] CONTAINER",
        "commit" => "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "diff" => "CONTAINER",
        "cp" => "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
        "df" | "check" => "[OPTIONS]",
        "build" => "[OPTIONS] PATH | URL | -",
        _ => "[OPTIONS] COMMAND",
    }
}

/// The command path (`run`, `container ls`) named by raw arguments, skipping global flags.
pub fn command_path(args: &[String]) -> String {
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if words.is_empty() && matches!(a, "-H" | "--host" | "-l" | "--log-level" | "--config") {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            if words.is_empty() {
                i += 1;
                continue;
            }
            break;
        }
        words.push(a);
        if !matches!(a, "container" | "image" | "system" | "network" | "builder")
            || words.len() == 2
        {
            break;
        }
        i += 1;
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_path_skips_globals() {
        assert_eq!(
            command_path(&v(&["berth", "-H", "unix:///x", "run", "--foo"])),
            "run"
        );
        assert_eq!(
            command_path(&v(&["berth", "container", "ls", "-a"])),
            "container ls"
        );
        assert_eq!(command_path(&v(&["berth", "-D", "ps"])), "ps");
    }

    #[test]
    fn both_spellings_parse() {
        for argv in [
            &["berth", "ps", "-a"][..],
            &["berth", "container", "ls", "-a"],
            &["berth", "container", "list", "-a"],
            &["berth", "container", "ps", "-a"],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let all = match cli.command.unwrap() {
                Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => a.all,
                other => panic!("{other:?}"),
            };
            assert!(all);
        }
        assert!(matches!(
            Cli::try_parse_from(["berth", "image", "ls"])
                .unwrap()
                .command,
            Some(Command::Image(ImageCommand::Ls(_)))
        ));
        assert!(matches!(
            Cli::try_parse_from(["berth", "container", "remove", "x"])
                .unwrap()
                .command,
            Some(Command::Container(ContainerCommand::Rm(_)))
        ));
    }

    #[test]
    fn run_stops_parsing_flags_at_the_image() {
        let cli = Cli::try_parse_from([
            "berth", "run", "--rm", "-h", "box", "busybox", "ls", "-l", "--rm",
        ])
        .unwrap();
        let Some(Command::Run(r)) = cli.command else {
            panic!()
        };
        assert!(r.create.rm);
        assert_eq!(r.create.hostname.as_deref(), Some("box"));
        assert_eq!(r.args, vec!["busybox", "ls", "-l", "--rm"]);
    }

    #[test]
    fn help_is_available_everywhere_and_h_is_hostname_for_run() {
        use clap::error::ErrorKind;
        for argv in [
            &["berth", "--help"][..],
            &["berth", "ps", "--help"],
            &["berth", "ps", "-h"],
            &["berth", "container", "ls", "--help"],
            &["berth", "run", "--help"],
            &["berth", "create", "--help"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{argv:?}");
        }
        let cli = Cli::try_parse_from(["berth", "create", "-h", "box", "busybox"]).unwrap();
        let Some(Command::Create(c)) = cli.command else {
            panic!()
        };
        assert_eq!(c.create.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn sig_proxy_takes_an_optional_value() {
        let cli = Cli::try_parse_from(["berth", "run", "--sig-proxy=false", "busybox"]).unwrap();
        let Some(Command::Run(r)) = cli.command else {
            panic!()
        };
        assert!(!r.run.sig_proxy);
        let cli = Cli::try_parse_from(["berth", "run", "busybox"]).unwrap();
        let Some(Command::Run(r)) = cli.command else {
            panic!()
        };
        assert!(r.run.sig_proxy);
    }
}
