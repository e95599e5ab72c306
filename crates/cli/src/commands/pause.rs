//! `berth pause` and `berth unpause`.

use clap::Args;

use crate::error::Result;
use crate::Ctx;

/// `berth pause CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth unpause CONTAINER [CONTAINER...]`
pub type UnpauseArgs = PauseArgs;

pub async fn pause(ctx: &Ctx, a: PauseArgs) -> Result {
    super::for_each(&a.containers, |c| async move {
        ctx.client.container_pause(&c).await
    })
    .await
}

pub async fn unpause(ctx: &Ctx, a: UnpauseArgs) -> Result {
    super::for_each(&a.containers, |c| async move {
        ctx.client.container_unpause(&c).await
    })
    .await
}
