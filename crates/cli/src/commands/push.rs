//! `berth push [-a] [-q] NAME[:TAG]`.

use clap::Args;

use crate::commands::pull::split_reference;
use crate::credentials;
use crate::error::{CliError, Result};
use crate::progress::{self, Target};
use crate::Ctx;

/// `berth push [OPTIONS] NAME[:TAG]`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image signing
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

pub async fn run(ctx: &Ctx, a: PushArgs) -> Result {
    let (repo, tag) = split_reference(&a.name);
    if a.all_tags && tag.is_some() {
        return Err(CliError::local("tag can't be used with --all-tags/-a"));
    }
    let tag = match (a.all_tags, tag) {
        (true, _) => None,
        (false, Some(t)) => Some(t),
        (false, None) => {
            if !a.quiet {
                outln!("Using default tag: latest");
            }
            Some("latest")
        }
    };
    let auth = credentials::header_for_image(&a.name)?;
    let mut stream = ctx.client.image_push(repo, tag, auth.as_deref()).await?;
    if a.quiet {
        while let Some(m) = stream.next().await? {
            if let Some(e) = m.get("error").and_then(|e| e.as_str()) {
                return Err(CliError::local(e.to_string()));
            }
        }
        outln!("{}", a.name);
        return Ok(0);
    }
    progress::display(&mut stream, Target::Stdout, |_| {}).await?;
    Ok(0)
}
