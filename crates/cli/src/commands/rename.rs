//! `berth rename`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth rename CONTAINER NEW_NAME`
#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub async fn run(ctx: &Ctx, a: RenameArgs) -> Result {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(CliError::local(
            "Error: Neither old nor new names may be empty",
        ));
    }
    ctx.client
        .container_rename(&a.container, new)
        .await
        .map_err(|e| CliError::Status {
            code: 1,
            message: Some(format!(
                "{}\nError: failed to rename container",
                CliError::from(e).render()
            )),
        })?;
    Ok(0)
}
