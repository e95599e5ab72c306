//! `berth wait`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth wait CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: WaitArgs) -> Result {
    let mut failed = false;
    for c in &a.containers {
        let r = async {
            ctx.client
                .container_wait(c, Some("not-running"))
                .await?
                .wait()
                .await
        }
        .await;
        match r {
            Ok(code) => outln!("{code}"),
            Err(e) => {
                errln!("{}", CliError::from(e).render());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
