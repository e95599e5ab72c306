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

/// Splits `repo[:tag]` for the pull query.
fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// Pulls an image, printing the progress messages to stderr as plain lines.
pub async fn pull(ctx: &Ctx, image: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let (repo, tag) = split_tag(image);
    let mut stream = ctx
        .client
        .image_pull(repo, Some(tag.unwrap_or("latest")), platform)
        .await?;
    while let Some(msg) = stream.next().await? {
        if let Some(err) = msg.get("error").and_then(|e| e.as_str()) {
            return Err(CliError::local(err.to_string()));
        }
        if quiet {
            continue;
        }
        let status = msg.get("status").and_then(|s| s.as_str()).unwrap_or("");
        let line = match msg.get("id").and_then(|i| i.as_str()) {
            Some(id) => format!("{id}: {status}"),
            None => status.to_string(),
        };
        if !line.is_empty() {
            errln!("{line}");
        }
    }
    Ok(())
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
        assert_eq!(
            split_tag("localhost:5000/b:2"),
            ("localhost:5000/b", Some("2"))
        );
        assert_eq!(split_tag("busybox"), ("busybox", None));
    }
}
