//! `berth rmi` / `berth image rm` and `berth tag` / `berth image tag`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth rmi [OPTIONS] IMAGE [IMAGE...]`
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub async fn rmi(ctx: &Ctx, a: RmiArgs) -> Result {
    let mut failed = false;
    for name in &a.images {
        match ctx.client.image_remove(name, a.force, a.no_prune).await {
            Ok(items) => {
                for item in items.as_array().into_iter().flatten() {
                    if let Some(u) = item.get("Untagged").and_then(|v| v.as_str()) {
                        outln!("Untagged: {u}");
                    }
                    if let Some(d) = item.get("Deleted").and_then(|v| v.as_str()) {
                        outln!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                errln!("{}", CliError::from(e).render());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`
#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

pub async fn tag(ctx: &Ctx, a: TagArgs) -> Result {
    let (repo, tag) = split_tag(&a.target);
    ctx.client.image_tag(&a.source, repo, tag).await?;
    Ok(0)
}

/// Splits `repo[:tag]` at the last `:` after the last `/` (a registry port is not a tag).
pub fn split_tag(s: &str) -> (&str, Option<&str>) {
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[slash..].rfind(':') {
        Some(i) => (&s[..slash + i], Some(&s[slash + i + 1..])),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_registry_port() {
        assert_eq!(split_tag("a/b:c"), ("a/b", Some("c")));
        assert_eq!(split_tag("localhost:5000/b"), ("localhost:5000/b", None));
        assert_eq!(
            split_tag("localhost:5000/b:1"),
            ("localhost:5000/b", Some("1"))
        );
    }
}
