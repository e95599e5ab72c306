//! `berth cp` / `berth container cp`: docker cp's semantics. Archives coming out of a container
//! are container-controlled, so they are unpacked on the host with the same in-root unpacker
//! the daemon uses for layers: nothing in them can write outside the destination.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::format::size;
use crate::Ctx;

/// `berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` and the reverse.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// `container:path`, or a local path (`-`, absolute, `./`-relative, or without a colon).
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg == "-" || arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

fn local(msg: impl Into<String>) -> CliError {
    CliError::local(msg.into())
}

pub async fn run(ctx: &Ctx, a: CpArgs) -> Result {
    match (split(&a.src), split(&a.dest)) {
        ((Some(c), p), (None, d)) => from_container(ctx, &a, c, p, d).await,
        ((None, s), (Some(c), p)) => to_container(ctx, &a, s, c, p).await,
        ((Some(_), _), (Some(_), _)) => Err(local("copying between containers is not supported")),
        _ => Err(local("must specify at least one container source")),
    }
}

fn is_dir_mode(stat: &Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
}

fn is_link_mode(stat: &Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 27) != 0)
}

/// Adapts a channel of chunks into a blocking reader.
struct ChanReader {
    rx: std::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

async fn from_container(ctx: &Ctx, a: &CpArgs, ctr: &str, path: &str, dest: &str) -> Result {
    let mut path = path.to_string();
    if a.follow_link {
        let st = ctx.client.archive_stat(ctr, &path).await?;
        if is_link_mode(&st) {
            if let Some(t) = st["linkTarget"].as_str().filter(|t| !t.is_empty()) {
                path = t.to_string();
            }
        }
    }
    let (stat, mut stream) = ctx.client.archive_get(ctr, &path).await?;
    if dest == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = stream.chunk().await? {
            out.write_all(&chunk).map_err(|e| local(e.to_string()))?;
        }
        return Ok(0);
    }
    let src_dir = is_dir_mode(&stat);
    let contents = path.ends_with("/.");
    let dest_path = PathBuf::from(dest);
    let existing = std::fs::metadata(&dest_path).ok();
    // Where the archive is unpacked, and what to rename afterwards.
    let (unpack_dir, rename): (PathBuf, Option<(PathBuf, PathBuf)>) = match existing {
        Some(m) if m.is_dir() => (dest_path.clone(), None),
        Some(_) if src_dir => return Err(local("cannot copy a directory to a file")),
        _ => {
            if existing.is_none() && dest.ends_with('/') {
                return Err(local(format!(
                    "destination directory {dest} does not exist"
                )));
            }
            let parent = dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            if !parent.is_dir() {
                return Err(local(format!(
                    "destination directory {} does not exist",
                    parent.display()
                )));
            }
            let tmp = tempfile::Builder::new()
                .prefix(".berth-cp-")
                .tempdir_in(&parent)
                .map_err(|e| local(e.to_string()))?
                .keep();
            let top = if contents {
                tmp.clone()
            } else {
                tmp.join(stat["name"].as_str().unwrap_or("file"))
            };
            (tmp, Some((top, dest_path.clone())))
        }
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(16);
    let target = unpack_dir.clone();
    let job = tokio::task::spawn_blocking(move || {
        let mut opts = berth_archive::ApplyOptions::new(berth_archive::WhiteoutMode::Keep);
        opts.allow_devices = false;
        opts.preserve_owner = unsafe { libc::geteuid() } == 0;
        berth_archive::apply_layer(
            ChanReader {
                rx,
                cur: bytes::Bytes::new(),
            },
            &target,
            &opts,
        )
    });
    let mut total = 0u64;
    while let Some(chunk) = stream.chunk().await? {
        total += chunk.len() as u64;
        if tx.send(chunk).is_err() {
            break;
        }
    }
    drop(tx);
    let applied = job.await.map_err(|e| local(e.to_string()))?;
    let finish = |r: std::result::Result<(), String>| {
        if let Some((_, _)) = &rename {
            if unpack_dir.exists() && unpack_dir != dest_path {
                let _ = std::fs::remove_dir_all(&unpack_dir);
            }
        }
        r
    };
    if let Err(e) = applied {
        finish(Ok(())).ok();
        return Err(local(e.to_string()));
    }
    if let Some((from, to)) = &rename {
        let r = std::fs::rename(from, to).map_err(|e| format!("{}: {e}", to.display()));
        finish(r).map_err(local)?;
    }
    if !a.quiet {
        errln!(
            "Successfully copied {} to {}",
            size::human_size(total as f64),
            dest
        );
    }
    Ok(0)
}

async fn to_container(ctx: &Ctx, a: &CpArgs, src: &str, ctr: &str, dest: &str) -> Result {
    if src == "-" {
        ctx.client
            .archive_put(ctr, dest, Box::new(tokio::io::stdin()), a.archive)
            .await?;
        return Ok(0);
    }
    let src_path = PathBuf::from(src);
    let meta = if a.follow_link {
        std::fs::metadata(&src_path)
    } else {
        std::fs::symlink_metadata(&src_path)
    }
    .map_err(|e| local(format!("could not find the file {src} on the host: {e}")))?;
    let contents = src.ends_with("/.");
    let dest_stat = match ctx.client.archive_stat(ctr, dest).await {
        Ok(s) => Some(s),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let base = |p: &str| {
        Path::new(p.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // The directory the archive is extracted into, and the name of its top entry.
    let (dir, top): (String, String) = match &dest_stat {
        Some(s) if is_dir_mode(s) => (
            dest.to_string(),
            if contents { ".".into() } else { base(src) },
        ),
        Some(_) if meta.is_dir() => return Err(local("cannot copy a directory to a file")),
        _ => {
            if dest_stat.is_none() && dest.ends_with('/') && !meta.is_dir() {
                return Err(local(format!(
                    "destination directory {dest} does not exist"
                )));
            }
            let parent = Path::new(dest.trim_end_matches('/'))
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            (parent, base(dest))
        }
    };
    let (w, r) = tokio::io::duplex(256 << 10);
    let archive = a.archive;
    let follow = a.follow_link;
    let src2 = src_path.clone();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let w = tokio_util::io::SyncIoBridge::new(w);
        let counted = Counted { inner: w, n: 0 };
        let mut b = tar::Builder::new(counted);
        b.follow_symlinks(follow);
        append_tree(&mut b, &src2, Path::new(&top), archive, follow, contents)?;
        let mut counted = b.into_inner()?;
        std::io::Write::flush(&mut counted)?;
        Ok(counted.n)
    });
    let put = ctx
        .client
        .archive_put(ctr, &dir, Box::new(r), archive)
        .await;
    let written = writer.await.map_err(|e| local(e.to_string()))?;
    put?;
    let written = written.map_err(|e| local(format!("reading {src}: {e}")))?;
    if !a.quiet {
        errln!(
            "Successfully copied {} to {ctr}:{dest}",
            size::human_size(written as f64)
        );
    }
    Ok(0)
}

struct Counted<W> {
    inner: W,
    n: u64,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Appends `path` as `name` (its contents at the top level when `contents`), owned by root
/// unless `archive` keeps the local owners, as the docker CLI does.
fn append_tree<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    archive: bool,
    follow: bool,
    contents: bool,
) -> std::io::Result<()> {
    let meta = if follow {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !archive {
        h.set_uid(0);
        h.set_gid(0);
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        if !contents {
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty())?;
        }
        let mut names: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let child_name = if contents && name == Path::new(".") {
                PathBuf::from(&n)
            } else {
                name.join(&n)
            };
            append_tree(b, &path.join(&n), &child_name, archive, false, false)?;
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)?;
        h.set_size(0);
        b.append_link(&mut h, name, target)?;
    } else if ft.is_file() {
        let f = std::fs::File::open(path)?;
        b.append_data(&mut h, name, f)?;
    }
    // Sockets, devices and FIFOs on the host are not copied, as with docker cp.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(split("c1:/etc/hosts"), (Some("c1"), "/etc/hosts"));
        assert_eq!(split("./c1:x"), (None, "./c1:x"));
        assert_eq!(split("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split("-"), (None, "-"));
        assert_eq!(split("file"), (None, "file"));
    }
}
