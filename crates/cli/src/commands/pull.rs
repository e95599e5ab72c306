//! `berth pull [-a] [--platform] [-q] NAME[:TAG|@DIGEST]`, and the pull `run`/`create` start
//! for a missing image.

use clap::Args;

use crate::credentials;
use crate::error::{CliError, Result};
use crate::progress::{self, Target};
use crate::Ctx;

/// `berth pull [OPTIONS] NAME[:TAG|@DIGEST]`
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

/// Splits `repo[:tag][@digest]` into the repository and the tag or digest.
pub fn split_reference(image: &str) -> (&str, Option<&str>) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, Some(digest));
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// The fully qualified name the docker CLI prints after a pull (`docker.io/library/busybox`).
pub fn full_name(repo: &str) -> String {
    let domain = credentials::domain_of(repo);
    if domain == "docker.io" {
        let path = repo
            .strip_prefix("docker.io/")
            .or_else(|| repo.strip_prefix("index.docker.io/"))
            .unwrap_or(repo);
        if path.contains('/') {
            format!("docker.io/{path}")
        } else {
            format!("docker.io/library/{path}")
        }
    } else {
        repo.to_string()
    }
}

/// Pulls `image` (`tag` `None` with `all_tags`), rendering progress on `target` unless quiet.
pub async fn pull_image(
    ctx: &Ctx,
    image: &str,
    all_tags: bool,
    platform: Option<&str>,
    quiet: bool,
    target: Target,
) -> Result<()> {
    let (repo, tag) = split_reference(image);
    let tag = if all_tags {
        None
    } else {
        Some(tag.unwrap_or("latest"))
    };
    let auth = credentials::header_for_image(image)?;
    let mut stream = ctx
        .client
        .image_pull_auth(repo, tag, platform, auth.as_deref())
        .await?;
    if quiet {
        while let Some(m) = stream.next().await? {
            if let Some(e) = m.get("error").and_then(|e| e.as_str()) {
                return Err(CliError::local(e.to_string()));
            }
        }
        return Ok(());
    }
    progress::display(&mut stream, target, |_| {}).await
}

pub async fn run(ctx: &Ctx, a: PullArgs) -> Result {
    let (repo, tag) = split_reference(&a.name);
    if a.all_tags && tag.is_some() {
        return Err(CliError::local("tag can't be used with --all-tags/-a"));
    }
    if !a.all_tags && tag.is_none() && !a.quiet {
        outln!("Using default tag: latest");
    }
    pull_image(
        ctx,
        &a.name,
        a.all_tags,
        a.platform.as_deref(),
        a.quiet,
        Target::Stdout,
    )
    .await?;
    let shown = full_name(repo);
    match (a.all_tags, a.name.contains('@')) {
        (true, _) => outln!("{shown}"),
        (false, true) => outln!("{shown}@{}", tag.unwrap_or_default()),
        (false, false) => outln!("{shown}:{}", tag.unwrap_or("latest")),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_and_qualify_like_the_docker_cli() {
        assert_eq!(split_reference("busybox"), ("busybox", None));
        assert_eq!(
            split_reference("127.0.0.1:5000/a/b:1"),
            ("127.0.0.1:5000/a/b", Some("1"))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/a@sha256:ab"),
            ("127.0.0.1:5000/a", Some("sha256:ab"))
        );
        assert_eq!(full_name("busybox"), "docker.io/library/busybox");
        assert_eq!(full_name("u/app"), "docker.io/u/app");
        assert_eq!(full_name("localhost:5000/app"), "localhost:5000/app");
    }
}
