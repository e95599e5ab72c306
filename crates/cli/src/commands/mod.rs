//! One module per command; [`dispatch`] routes both spellings of each to the same function.

pub mod attach;
pub mod build;
pub mod builder;
pub mod commit;
pub mod cp;
pub mod create;
pub mod events;
pub mod exec;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod layers;
pub mod load;
pub mod login;
pub mod logs;
pub mod manifest;
pub mod network;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

use std::future::Future;

use crate::cli::{Command, ContainerCommand, ImageCommand, SystemCommand};
use crate::error::{CliError, Result};
use crate::Ctx;

/// Runs a parsed command.
pub async fn dispatch(ctx: &Ctx, command: Command) -> Result {
    match command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(ctx, a).await,
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            create::run(ctx, a).await
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            start::run(ctx, a).await
        }
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => stop::run(ctx, a).await,
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            stop::restart(ctx, a).await
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => kill::run(ctx, a).await,
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            pause::pause(ctx, a).await
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            pause::unpause(ctx, a).await
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => rm::run(ctx, a).await,
        Command::Container(ContainerCommand::Prune(a)) => prune::run(ctx, a).await,
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps::run(ctx, a).await,
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => logs::run(ctx, a).await,
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
            attach::run(ctx, a).await
        }
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => exec::run(ctx, a).await,
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => wait::run(ctx, a).await,
        Command::Inspect(a) => inspect::run(ctx, a).await,
        Command::Container(ContainerCommand::Inspect(a)) => inspect::run_container(ctx, a).await,
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => top::run(ctx, a).await,
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
            stats::run(ctx, a).await
        }
        Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => {
            update::run(ctx, a).await
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            rename::run(ctx, a).await
        }
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::run(ctx, a).await,
        Command::Version(a) => version::run(ctx, a).await,
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => info::run(ctx, a).await,
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::run(ctx, *a).await,
        Command::Builder(c) => builder::dispatch(ctx, c).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(ctx, a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(ctx, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(ctx, a).await,
        Command::Image(ImageCommand::Inspect(a)) => inspect::run_image(ctx, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::rmi(ctx, a).await,
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => rmi::tag(ctx, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            history::run(ctx, a).await
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::save(ctx, a).await,
        Command::Image(ImageCommand::Prune(a)) => system::image_prune(ctx, a).await,
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            save::export(ctx, a).await
        }
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            commit::commit(ctx, a).await
        }
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
            commit::diff(ctx, a).await
        }
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => cp::run(ctx, a).await,
        Command::System(SystemCommand::Df(a)) => system::df(ctx, a).await,
        Command::System(SystemCommand::Prune(a)) => system::system_prune(ctx, a).await,
        Command::System(SystemCommand::Check(a)) => system::check(ctx, a).await,
        Command::Volume(c) => volume::run(ctx, c).await,
        Command::Network(c) => network::dispatch(ctx, c).await,
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => port::run(ctx, a).await,
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(ctx, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(ctx, a).await,
        Command::Search(a) => search::run(ctx, a).await,
        Command::Manifest(c) => manifest::run(ctx, c).await,
        Command::Login(a) => login::login(ctx, a).await,
        Command::Logout(a) => login::logout(ctx, a).await,
    }
}

/// Applies `op` to each named container in turn, printing each name on success and docker's
/// error text on failure; exit status 1 if any failed (docker's multi-container commands).
pub async fn for_each<F, Fut>(names: &[String], mut op: F) -> Result
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = std::result::Result<(), berth_client::Error>>,
{
    let mut failed = false;
    for n in names {
        match op(n.clone()).await {
            Ok(()) => outln!("{n}"),
            Err(e) => {
                errln!("{}", CliError::from(e).render());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Prints `warning` and docker's prune question; true when the user answers `y` or `yes`.
pub fn confirm(warning: &str) -> bool {
    use std::io::{BufRead, Write};
    out!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Builds the `filters` query value (`{"key":{"value":true}}`, docker's legacy map form that
/// every daemon version accepts) from `key=value` flags.
pub fn filters_json(filters: &[String]) -> std::result::Result<Option<String>, String> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut m: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| "bad format of filter (expected name=value)".to_string())?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&m).map_err(|e| e.to_string())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_encode_as_docker_maps() {
        assert_eq!(filters_json(&[]).unwrap(), None);
        assert_eq!(
            filters_json(&[
                "status=exited".into(),
                "label=a=b".into(),
                "status=created".into()
            ])
            .unwrap()
            .unwrap(),
            r#"{"label":{"a=b":true},"status":{"created":true,"exited":true}}"#
        );
        assert!(filters_json(&["nope".into()]).is_err());
    }
}
