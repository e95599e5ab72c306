//! `berth manifest inspect NAME`: the manifest (or manifest list) a reference names, printed
//! as the docker CLI does. Like the docker CLI, this talks to the registry itself rather than
//! through the daemon, using `config.json` credentials. Creating and pushing manifest lists
//! (`manifest create/annotate/push`) is not implemented.

use clap::{Args, Subcommand};

use crate::credentials;
use crate::error::{CliError, Result};
use crate::format::json_indent::indent;
use crate::Ctx;

/// `berth manifest COMMAND`
#[derive(Subcommand, Debug)]
pub enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
}

/// `berth manifest inspect [OPTIONS] NAME`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Allow communication with an insecure registry
    #[arg(long)]
    pub insecure: bool,
    /// Output additional info including layers and platform
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// NAME
    pub name: String,
}

pub async fn run(_ctx: &Ctx, c: ManifestCommand) -> Result {
    let ManifestCommand::Inspect(a) = c;
    if a.verbose {
        return Err(CliError::local(
            "manifest inspect --verbose is not implemented in Berth",
        ));
    }
    let reference =
        berth_image::Reference::parse(&a.name).map_err(|e| CliError::local(e.to_string()))?;
    let creds = credentials::get(&reference.domain)?.map(|c| berth_distribution::Credentials {
        username: c.username,
        password: c.password,
        identity_token: None,
        registry_token: None,
    });
    let mut config = berth_distribution::RegistryConfig::default();
    if a.insecure {
        config.insecure.push(reference.domain.clone());
    }
    let client = berth_distribution::Client::new(config);
    let repo = client
        .repository(&reference.domain, &reference.path, creds, false)
        .await
        .map_err(|e| CliError::local(e.to_string()))?;
    let name = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let what = reference.to_string();
    let f = berth_distribution::manifest::fetch(&repo, &name, &what)
        .await
        .map_err(|e| CliError::local(e.to_string()))?;
    outln!("{}", indent(&f.bytes, "   "));
    Ok(0)
}
