//! `berth rm [-f -v]`.

use clap::Args;

use crate::error::Result;
use crate::Ctx;

/// `berth rm [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: RmArgs) -> Result {
    let (f, v) = (a.force, a.volumes);
    super::for_each(&a.containers, |c| async move {
        // docker trims a leading slash so that names copied from inspect work.
        let c = c.strip_prefix('/').map(str::to_string).unwrap_or(c);
        ctx.client.container_remove(&c, f, v).await
    })
    .await
}
