//! `berth kill [-s SIGNAL]`.

use clap::Args;

use crate::error::Result;
use crate::Ctx;

/// `berth kill [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: KillArgs) -> Result {
    let sig = a.signal.as_deref();
    super::for_each(&a.containers, |c| async move {
        ctx.client.container_kill(&c, sig).await
    })
    .await
}
