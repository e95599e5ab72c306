//! `berth stop` and `berth restart`.

use clap::Args;

use crate::error::Result;
use crate::Ctx;

/// `berth stop [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth restart [OPTIONS] CONTAINER [CONTAINER...]`
pub type RestartArgs = StopArgs;

pub async fn run(ctx: &Ctx, a: StopArgs) -> Result {
    let (sig, t) = (a.signal.as_deref(), a.time);
    super::for_each(&a.containers, |c| async move {
        ctx.client.container_stop(&c, sig, t).await
    })
    .await
}

pub async fn restart(ctx: &Ctx, a: RestartArgs) -> Result {
    let (sig, t) = (a.signal.as_deref(), a.time);
    super::for_each(&a.containers, |c| async move {
        ctx.client.container_restart(&c, sig, t).await
    })
    .await
}
