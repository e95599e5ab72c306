//! `berth create`, and the container creation that `run` shares: pull when the image is
//! missing, write `--cidfile`, print the daemon's warnings.

use std::io::Write;

use clap::Args;

use crate::container_config::{to_create_body, CreateOptions};
use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth create [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub create: CreateOptions,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: CreateArgs) -> Result {
    // Unlike `run`, docker's `create` reports daemon errors plainly with status 1.
    let id = create_container(ctx, "create", &a.create, &a.args[0], &a.args[1..], true).await?;
    outln!("{id}");
    Ok(0)
}

/// Wraps an error of `run`/`create` the way docker does: `berth: <error>`, the help hint, and
/// status 125 (unless the error already carries a status).
pub fn engine_error(command: &str, e: CliError) -> CliError {
    match e {
        CliError::Status { .. } | CliError::Usage { .. } => e,
        other => CliError::Status {
            code: 125,
            message: Some(format!(
                "berth: {}\n\nRun 'berth {command} --help' for more information",
                other.render()
            )),
        },
    }
}

/// `busybox` → `busybox:latest`; references with a tag or digest are kept.
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Pulls a missing image, rendering progress on stderr as the docker CLI does for `run`.
pub async fn pull(ctx: &Ctx, image: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let image = with_default_tag(image);
    crate::commands::pull::pull_image(
        ctx,
        &image,
        false,
        platform,
        quiet,
        crate::progress::Target::Stderr,
    )
    .await
}

/// Creates the container (pulling the image first if it is missing and `--pull` allows).
pub async fn create_container(
    ctx: &Ctx,
    command: &str,
    o: &CreateOptions,
    image: &str,
    cmd: &[String],
    attached: bool,
) -> Result<String> {
    let read = |p: &str| std::fs::read_to_string(p);
    let lookup = |k: &str| std::env::var(k).ok();
    let body = to_create_body(command, o, image, cmd, attached, &read, &lookup)?;

    // docker refuses to overwrite a cidfile: it may belong to a running container.
    let cid_file = match &o.cidfile {
        Some(path) => {
            if std::path::Path::new(path).exists() {
                return Err(CliError::local(format!(
                    "Container ID file found, make sure the other container isn't running or delete {path}"
                )));
            }
            Some(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(|e| {
                        CliError::local(format!("failed to create the container ID file: {e}"))
                    })?,
            )
        }
        None => None,
    };

    if o.pull == "always" {
        pull(ctx, image, o.platform.as_deref(), o.quiet).await?;
    }
    let resp = match ctx
        .client
        .container_create(o.name.as_deref(), o.platform.as_deref(), &body)
        .await
    {
        Err(e)
            if e.is_not_found()
                && o.pull == "missing"
                && e.to_string().contains("No such image") =>
        {
            errln!("Unable to find image '{}' locally", with_default_tag(image));
            pull(ctx, image, o.platform.as_deref(), o.quiet).await?;
            ctx.client
                .container_create(o.name.as_deref(), o.platform.as_deref(), &body)
                .await?
        }
        r => r?,
    };
    for w in &resp.warnings {
        errln!("WARNING: {w}");
    }
    if let (Some(mut f), Some(path)) = (cid_file, &o.cidfile) {
        f.write_all(resp.id.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| {
                CliError::local(format!(
                    "failed to write the container ID to the file {path}: {e}"
                ))
            })?;
    }
    Ok(resp.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tags() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1"), "busybox:1");
        assert_eq!(
            with_default_tag("localhost:5000/b"),
            "localhost:5000/b:latest"
        );
        assert_eq!(with_default_tag("b@sha256:00"), "b@sha256:00");
    }
}
