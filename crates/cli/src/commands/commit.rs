//! `berth commit` / `berth container commit` and `berth diff` / `berth container diff`.

use clap::{ArgAction, Args};

use crate::error::Result;
use crate::Ctx;

/// `berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long, value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn commit(ctx: &Ctx, a: CommitArgs) -> Result {
    let (repo, tag) = match a.reference.as_deref() {
        Some(r) => {
            let (repo, tag) = super::rmi::split_tag(r);
            (Some(repo.to_string()), tag.map(str::to_string))
        }
        None => (None, None),
    };
    let id = ctx
        .client
        .container_commit(
            &a.container,
            &berth_client::CommitOptions {
                repo,
                tag,
                author: a.author,
                comment: a.message,
                changes: a.change,
                pause: a.pause,
            },
        )
        .await?;
    outln!("{id}");
    Ok(0)
}

/// `berth diff CONTAINER`
#[derive(Args, Debug)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn diff(ctx: &Ctx, a: DiffArgs) -> Result {
    for c in ctx.client.container_changes(&a.container).await? {
        let kind = match c["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        outln!("{kind} {}", c["Path"].as_str().unwrap_or(""));
    }
    Ok(0)
}
