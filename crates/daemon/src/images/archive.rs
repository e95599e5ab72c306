//! `docker cp`'s endpoints: `HEAD`/`GET`/`PUT /containers/{id}/archive`. The container's root
//! is the mounted one while it runs; a stopped container's is mounted privately for the call,
//! under its operation lock. Path handling is `berth_archive`'s: everything resolves inside the
//! root, never through the host's view of it.
//!
//! A path at or below a bind or volume mount's destination is served from the mount's host
//! source instead, resolved inside that source as if it were a root — so that, as in Docker,
//! `cp` sees what the container sees there (the root's directory under a mount point is hidden
//! in the container) and a symlink in a volume cannot lead out of it. The match is lexical:
//! a path that reaches a mount only through a symlink in the root goes to the root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::backend::ByteStream;
use berth_archive::PathStat;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::save::ChannelWriter;
use crate::container::Entry;
use crate::error::{Error, Result};
use crate::Daemon;

fn archive_err(e: berth_archive::Error, path: &str, id: &str) -> Error {
    match berth_types::Kinded::kind(&e) {
        berth_types::ErrorKind::NotFound => {
            Error::NotFound(format!("Could not find the file {path} in container {id}"))
        }
        berth_types::ErrorKind::InvalidArgument => Error::InvalidArgument(e.to_string()),
        _ => Error::Internal(e.to_string()),
    }
}

/// A bind or volume mount of the container (tmpfs mounts live only in the container).
#[derive(Debug, Clone)]
struct MountTarget {
    /// Components of the destination (`/var/lib/x` → `[var, lib, x]`).
    destination: Vec<String>,
    source: PathBuf,
    rw: bool,
}

/// Where a cp path lives: the root at `path`, or a mount's source.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    /// The directory to resolve `path` in.
    root: PathBuf,
    path: String,
    /// Set when `path` is served from a mount.
    mount: Option<MountHit>,
}

#[derive(Debug, Clone, PartialEq)]
struct MountHit {
    /// The mount point in the container (`/data`).
    destination: String,
    rw: bool,
    /// `path` names the mount point itself: the top entry takes the mount point's name.
    top_name: Option<std::ffi::OsString>,
}

/// Lexical components of a container path (`.` dropped, `..` popped, as from `/`).
fn components(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in Path::new(path).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The target of `path`: the deepest mount whose destination contains it, else the root.
fn target(root: &Path, mounts: &[MountTarget], path: &str) -> Target {
    let parts = components(path);
    let hit = mounts
        .iter()
        .filter(|m| !m.destination.is_empty() && parts.starts_with(&m.destination))
        .max_by_key(|m| m.destination.len());
    let Some(m) = hit else {
        return Target {
            root: root.to_path_buf(),
            path: path.to_string(),
            mount: None,
        };
    };
    // `/.` and a trailing `/` mean something to cp (contents; follow a link): keep them.
    let suffix = if path.ends_with("/.") {
        "/."
    } else if path.ends_with('/') {
        "/"
    } else {
        ""
    };
    let rest = &parts[m.destination.len()..];
    let exact = rest.is_empty();
    let destination = format!("/{}", m.destination.join("/"));
    let top_name = exact.then(|| m.destination.last().cloned().unwrap_or_default().into());
    // A bound file is resolved in its directory; nothing is below it.
    let (root, base) = match (m.source.is_dir(), m.source.parent(), m.source.file_name()) {
        (false, Some(dir), Some(name)) => {
            (dir.to_path_buf(), format!("/{}", name.to_string_lossy()))
        }
        _ => (m.source.clone(), String::new()),
    };
    let mut p = base;
    for c in rest {
        p.push('/');
        p.push_str(c);
    }
    if p.is_empty() {
        p.push('/');
        if suffix == "/." {
            p.push('.');
        }
    } else {
        p.push_str(suffix);
    }
    Target {
        root,
        path: p,
        mount: Some(MountHit {
            destination,
            rw: m.rw,
            top_name,
        }),
    }
}

/// A container root to run a cp on, resolved on the async side; [`RootJob::run`] does the
/// (blocking) mounting and the work.
struct RootJob {
    entry: Arc<Entry>,
    id: String,
    /// The name the client used, for messages (Docker echoes it).
    key: String,
    mounted: PathBuf,
    scratch: PathBuf,
    images: Arc<berth_image::ImageStore>,
    running: bool,
    mounts: Vec<MountTarget>,
}

impl RootJob {
    /// Runs `f` on where `path` lives: a mount's source, or the container root (mounted for the
    /// call when the container is stopped).
    fn run<T>(self, path: &str, f: impl FnOnce(&Target, &str) -> Result<T>) -> Result<T> {
        let t = target(&self.mounted, &self.mounts, path);
        if self.running || t.mount.is_some() {
            return f(&t, &self.key);
        }
        let _op = self.entry.op.blocking_lock();
        std::fs::create_dir_all(&self.scratch).map_err(Error::io("creating a cp mount point"))?;
        if let Err(e) = crate::rootfs::mount(&self.images, &self.id, &self.scratch) {
            let _ = std::fs::remove_dir(&self.scratch);
            return Err(e);
        }
        let t = Target {
            root: self.scratch.clone(),
            ..t
        };
        let r = f(&t, &self.key);
        let u = crate::rootfs::unmount(&self.scratch);
        let _ = std::fs::remove_dir(&self.scratch);
        let v = r?;
        u?;
        Ok(v)
    }
}

impl Daemon {
    fn root_job(&self, key: &str) -> Result<RootJob> {
        let entry: Arc<Entry> = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let mounts = c
            .mount_points
            .iter()
            .filter(|m| m.kind != berth_volume::MountKind::Tmpfs && !m.source.is_empty())
            .map(|m| MountTarget {
                destination: components(&m.destination),
                source: PathBuf::from(&m.source),
                rw: m.rw,
            })
            .collect();
        Ok(RootJob {
            mounts,
            mounted: self.state_dir(&c.id).join("rootfs"),
            scratch: self.config.exec_root.join("cp").join(format!(
                "{}-{}",
                c.id,
                rand::random::<u32>()
            )),
            images: self.images.clone(),
            running: c.state.status.is_running(),
            id: c.id,
            key: key.to_string(),
            entry,
        })
    }

    /// Runs `f` on where `path` lives on a blocking thread (see the module doc).
    async fn with_root<T: Send + 'static>(
        &self,
        key: &str,
        path: &str,
        f: impl FnOnce(&Target, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let job = self.root_job(key)?;
        let path = path.to_string();
        super::blocking(move || job.run(&path, f)).await
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat> {
        let path = path.to_string();
        self.with_root(key, &path.clone(), move |t, id| {
            stat(t).map_err(|e| archive_err(e, &path, id))
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=`: the stat (for the header) and the tar stream.
    pub async fn archive_get(&self, key: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let (stat_tx, stat_rx) = tokio::sync::oneshot::channel::<Result<PathStat>>();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let path = path.to_string();
        let job = self.root_job(key)?;
        let given = path.clone();
        let map = self.config.id_map.clone();
        let work = move |t: &Target, id: &str| {
            let stat = match stat(t) {
                Ok(s) => s,
                Err(e) => {
                    let _ = stat_tx.send(Err(archive_err(e, &path, id)));
                    return Ok(());
                }
            };
            let _ = stat_tx.send(Ok(stat));
            let w = std::io::BufWriter::with_capacity(256 << 10, ChannelWriter(tx));
            let top = t.mount.as_ref().and_then(|m| m.top_name.as_deref());
            if let Err(e) =
                berth_archive::tar_from_root_named(&t.root, &t.path, top, w, map.as_ref())
            {
                tracing::warn!("copying {path} out of {id}: {e}");
            }
            Ok(())
        };
        // The walk runs (and holds the mount) while the body streams.
        let handle = tokio::task::spawn_blocking(move || job.run(&given, work));
        let stat = match stat_rx.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(match handle.await {
                    Ok(Err(e)) => e,
                    _ => Error::Internal("cp ended before reporting".into()),
                })
            }
        };
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
        Ok((stat, body))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `body` into directory `path`.
    pub async fn archive_put(
        &self,
        key: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        body: ByteStream,
    ) -> Result<()> {
        let c = self.containers.lookup(key)?.snapshot();
        let readonly_rootfs = c.host_config.readonly_rootfs.unwrap_or(false);
        let path = path.to_string();
        let chunks = body.map(Ok::<Bytes, std::io::Error>);
        let reader = SyncIoBridge::new(StreamReader::new(chunks));
        // Into a remapped daemon's root filesystem, owners are shifted as the layers' are.
        let map = self.config.id_map.clone();
        self.with_root(key, &path.clone(), move |t, id| {
            match &t.mount {
                // Docker's wording; a plain error there, hence a 500.
                Some(m) if !m.rw => {
                    return Err(Error::Internal("mounted volume is marked read-only".into()))
                }
                None if readonly_rootfs => {
                    return Err(Error::Conflict(
                        "container rootfs is marked read-only".into(),
                    ))
                }
                _ => {}
            }
            berth_archive::extract_into_root_as(
                &t.root,
                &t.path,
                reader,
                no_overwrite_dir_non_dir,
                map.as_ref(),
            )
            .map_err(|e| archive_err(e, &path, id))
        })
        .await?;
        self.container_event(&c, "extract-to-dir", &[]);
        Ok(())
    }
}

/// The stat of a target; at a mount point it carries the mount point's name, and link targets
/// inside a mount are given as the container sees them.
fn stat(t: &Target) -> std::result::Result<PathStat, berth_archive::Error> {
    let mut st = berth_archive::stat_in_root(&t.root, &t.path)?;
    if let Some(m) = &t.mount {
        if let Some(n) = &m.top_name {
            st.name = n.to_string_lossy().into_owned();
        }
        if !st.link_target.is_empty() {
            st.link_target = format!("{}{}", m.destination.trim_end_matches('/'), st.link_target);
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(dir: &Path) -> Vec<MountTarget> {
        std::fs::create_dir_all(dir.join("vol")).unwrap();
        std::fs::write(dir.join("file.conf"), b"x").unwrap();
        vec![
            MountTarget {
                destination: components("/data"),
                source: dir.join("vol"),
                rw: true,
            },
            MountTarget {
                destination: components("/data/ro/"),
                source: dir.join("vol"),
                rw: false,
            },
            MountTarget {
                destination: components("/etc/app.conf"),
                source: dir.join("file.conf"),
                rw: true,
            },
        ]
    }

    #[test]
    fn paths_under_mounts_go_to_their_sources() {
        let tmp = tempfile::tempdir().unwrap();
        let m = mounts(tmp.path());
        let root = Path::new("/root-of-ctr");
        let t = target(root, &m, "/etc/passwd");
        assert_eq!(
            (t.root.as_path(), t.path.as_str(), t.mount),
            (root, "/etc/passwd", None)
        );
        // `/database` is not under `/data`.
        assert!(target(root, &m, "/database/x").mount.is_none());
        let t = target(root, &m, "/data/a/b/");
        assert_eq!((t.root, t.path.as_str()), (tmp.path().join("vol"), "/a/b/"));
        assert!(t.mount.as_ref().unwrap().top_name.is_none());
        let t = target(root, &m, "/x/../data");
        assert_eq!(t.path, "/");
        assert_eq!(
            t.mount.as_ref().unwrap().top_name.as_deref(),
            Some("data".as_ref())
        );
        assert_eq!(target(root, &m, "/data/.").path, "/.");
        assert_eq!(target(root, &m, "/data/").path, "/");
        // The deepest mount wins.
        let t = target(root, &m, "/data/ro/f");
        assert_eq!(t.path, "/f");
        assert!(!t.mount.unwrap().rw);
        // A bound file resolves in its directory.
        let t = target(root, &m, "/etc/app.conf");
        assert_eq!(
            (t.root.as_path(), t.path.as_str()),
            (tmp.path(), "/file.conf")
        );
        assert_eq!(
            t.mount.unwrap().top_name.as_deref(),
            Some("app.conf".as_ref())
        );
    }
}
