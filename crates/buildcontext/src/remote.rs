//! Remote contexts: a git repository (`URL#ref:subdir`) or an http(s) URL of a tar or of a
//! plain Dockerfile.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::receive::{finish, new_context_dir, receive_with, Limits};
use crate::ReceivedContext;

/// `http://` or `https://` (Docker's `urlutil.IsURL`).
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Docker's `urlutil.IsGitURL`: an http(s) URL whose path ends in `.git` (optionally with a
/// `#fragment`), or one starting `git://`, `github.com/` or `git@`.
pub fn is_git_url(s: &str) -> bool {
    if is_url(s) {
        let before_fragment = s.split('#').next().unwrap_or(s);
        if before_fragment.ends_with(".git") {
            return true;
        }
    }
    ["git://", "github.com/", "git@"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// A parsed git context URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    pub remote: String,
    /// Branch, tag or commit; `None` for the remote's default branch (as BuildKit).
    pub git_ref: Option<String>,
    pub subdir: Option<String>,
}

/// Splits `URL#ref:subdir` (moby's `parseRemoteURL`): `github.com/...` gains `https://`.
pub fn parse_git_url(url: &str) -> Result<GitUrl> {
    let url = if ["http://", "https://", "git://", "git@"]
        .iter()
        .any(|p| url.starts_with(p))
    {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    let (remote, fragment) = match url.split_once('#') {
        Some((r, f)) => (r.to_string(), f),
        None => (url.clone(), ""),
    };
    let (r, s) = fragment.split_once(':').unwrap_or((fragment, ""));
    if r.starts_with('-') {
        return Err(Error::InvalidArgument(format!("invalid refspec: {r}")));
    }
    if remote.starts_with('-') || remote.is_empty() {
        return Err(Error::InvalidArgument(format!("invalid git URL {url:?}")));
    }
    Ok(GitUrl {
        remote,
        git_ref: (!r.is_empty()).then(|| r.to_string()),
        subdir: (!s.is_empty()).then(|| s.to_string()),
    })
}

/// Fetches a remote context into a new directory under `scratch_dir`: a git URL is cloned
/// (shallowly when the ref allows), an http(s) URL is downloaded and either unpacked (a tar,
/// possibly compressed) or taken as the Dockerfile itself.
pub fn fetch_remote(
    url: &str,
    dockerfile_path: &str,
    scratch_dir: &Path,
) -> Result<ReceivedContext> {
    let limits = Limits::default();
    if is_git_url(url) {
        let git = parse_git_url(url)?;
        let dir = clone(&git, scratch_dir)?;
        return finish(dir, dockerfile_path, &limits);
    }
    if !is_url(url) {
        return Err(Error::InvalidArgument(format!(
            "unable to prepare context: unsupported remote context {url:?}: expected a git URL or an http(s) URL"
        )));
    }
    let resp = crate::fetch::get(url)?;
    let mut body = BufReader::with_capacity(64 << 10, resp.into_body().into_reader());
    let head = body
        .fill_buf()
        .map_err(|e| Error::Http(format!("failed to read {url}: {e}")))?;
    if crate::pack::looks_like_archive(head) {
        return receive_with(body, dockerfile_path, scratch_dir, &limits);
    }
    // A plain Dockerfile: the context is empty.
    let mut dockerfile = Vec::new();
    body.take(limits.max_dockerfile + 1)
        .read_to_end(&mut dockerfile)
        .map_err(|e| Error::Http(format!("failed to read {url}: {e}")))?;
    if dockerfile.len() as u64 > limits.max_dockerfile {
        return Err(Error::TooLarge {
            what: format!("Dockerfile at {url}"),
            limit: limits.max_dockerfile,
        });
    }
    let dir = new_context_dir(scratch_dir)?;
    Ok(ReceivedContext {
        root: dir,
        dockerfile,
        dockerfile_name: if dockerfile_path.is_empty() {
            crate::DEFAULT_DOCKERFILE.into()
        } else {
            dockerfile_path.into()
        },
        dockerignore: None,
        secrets: Default::default(),
    })
}

/// `git` with no system or user configuration, no prompts, no hooks, and only network
/// transports (a remote may not make us read host paths through `file://` or run commands
/// through `ext::`).
fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", "/nonexistent")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("GIT_PROTOCOL_FROM_USER", "0")
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.file.allow=never",
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "advice.detachedHead=false",
        ])
        .stdin(Stdio::null());
    for k in [
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    ] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    c
}

fn run(mut c: Command, what: &str) -> Result<()> {
    let out = c
        .output()
        .map_err(|e| Error::Git(format!("{what}: running git: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Git(format!("{what}: {}", msg.trim())));
    }
    Ok(())
}

/// Clones `g` and returns a directory holding exactly the context (the subdir, without `.git`).
fn clone(g: &GitUrl, scratch_dir: &Path) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(scratch_dir).map_err(Error::io("create", scratch_dir))?;
    let work = tempfile::Builder::new()
        .prefix("git-")
        .tempdir_in(scratch_dir)
        .map_err(Error::io("create a directory in", scratch_dir))?;
    let repo = work.path().join("repo");
    std::fs::create_dir(&repo).map_err(Error::io("create", &repo))?;
    let mut c = git(&repo);
    c.args(["init", "-q"]);
    run(c, "git init")?;
    let mut c = git(&repo);
    c.args(["remote", "add", "origin", "--", &g.remote]);
    run(c, "adding the remote")?;
    let git_ref = g.git_ref.as_deref().unwrap_or("HEAD");
    let mut c = git(&repo);
    c.args([
        "fetch",
        "-q",
        "--depth",
        "1",
        "--no-tags",
        "origin",
        "--",
        git_ref,
    ]);
    if run(c, "fetching").is_err() {
        // Servers that refuse shallow fetches of a commit: fetch everything, then look it up.
        let mut c = git(&repo);
        c.args(["fetch", "-q", "origin"]);
        run(c, &format!("fetching {}", g.remote))?;
        let mut c = git(&repo);
        c.args(["checkout", "-q", git_ref]);
        run(c, &format!("checking out {git_ref}"))?;
    } else {
        let mut c = git(&repo);
        c.args(["checkout", "-q", "FETCH_HEAD"]);
        run(c, &format!("checking out {git_ref}"))?;
    }
    let mut c = git(&repo);
    c.args([
        "submodule",
        "update",
        "-q",
        "--init",
        "--recursive",
        "--depth=1",
    ]);
    run(c, "updating submodules")?;
    let ctx_src = match &g.subdir {
        None => repo.clone(),
        Some(sub) => {
            let real_repo = repo.canonicalize().map_err(Error::io("resolve", &repo))?;
            let p = repo.join(sub.trim_start_matches('/'));
            let real = p.canonicalize().map_err(|_| {
                Error::Git(format!("subdirectory {sub:?} not found in the repository"))
            })?;
            if !real.starts_with(&real_repo) {
                return Err(Error::Git(format!(
                    "error setting git context, {sub:?} not within git root"
                )));
            }
            if !real.is_dir() {
                return Err(Error::Git(format!(
                    "error setting git context, not a directory: {sub}"
                )));
            }
            real
        }
    };
    let dot_git = repo.join(".git");
    std::fs::remove_dir_all(&dot_git).map_err(Error::io("remove", &dot_git))?;
    let ctx = new_context_dir(scratch_dir)?;
    // Replacing the empty directory keeps the TempDir's ownership of the context.
    std::fs::rename(&ctx_src, ctx.path()).map_err(Error::io("rename", &ctx_src))?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_like_docker() {
        for (u, want) in [
            ("https://github.com/docker/docker.git", true),
            ("https://example.com/a/b.git#main:sub", true),
            ("git://example.com/a", true),
            ("git@github.com:docker/docker.git", true),
            ("github.com/docker/docker", true),
            ("https://example.com/ctx.tar.gz", false),
            ("http://example.com/a.git.tar", false),
            ("./dir", false),
        ] {
            assert_eq!(is_git_url(u), want, "{u}");
        }
        assert_eq!(
            parse_git_url("https://h/r.git#v1:docker/sub").unwrap(),
            GitUrl {
                remote: "https://h/r.git".into(),
                git_ref: Some("v1".into()),
                subdir: Some("docker/sub".into())
            }
        );
        assert_eq!(
            parse_git_url("github.com/a/b#:sub").unwrap(),
            GitUrl {
                remote: "https://github.com/a/b".into(),
                git_ref: None,
                subdir: Some("sub".into())
            }
        );
        assert_eq!(
            parse_git_url("git@h:a/b.git").unwrap().remote,
            "git@h:a/b.git"
        );
        assert!(parse_git_url("https://h/r.git#--upload-pack=x").is_err());
    }
}
