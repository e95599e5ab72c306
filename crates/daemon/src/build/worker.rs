//! The daemon as the build engine's [`Worker`]: `RUN` steps go through the same container
//! create/start/wait/remove path as `berth run`; images are stored by the image store; cache
//! records live in the metadata database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use berth_api::backend::{LogsOptions, PullOptions, WaitCondition};
use berth_build::{
    BaseImage, Error as BError, MountedImage, NewLayer, Output, Result as BResult, RunMountSpec,
    RunNetwork, RunRequest, Worker,
};
use berth_types::api::{ContainerCreateBody, HostConfig, Mount, MountType};
use berth_types::image::ImageConfig;
use berth_types::Kinded;
use futures_util::StreamExt;

use crate::images::blocking;
use crate::Daemon;

pub(crate) struct DaemonWorker {
    pub daemon: Weak<Daemon>,
    pub registry_auth: Option<String>,
    /// The request's resource limits (`memory`, `cpushares`, ...) for every `RUN` container.
    pub limits: HostConfig,
}

fn werr(e: impl Kinded + std::fmt::Display) -> BError {
    BError::Worker {
        kind: e.kind(),
        message: e.to_string(),
    }
}

impl DaemonWorker {
    fn d(&self) -> BResult<Arc<Daemon>> {
        self.daemon.upgrade().ok_or_else(|| BError::Worker {
            kind: berth_types::ErrorKind::Unavailable,
            message: "the daemon is shutting down".into(),
        })
    }
}

/// An image's root filesystem mounted read-only at a private directory.
struct Mounted {
    images: Arc<berth_image::ImageStore>,
    key: String,
    path: PathBuf,
}

impl MountedImage for Mounted {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = crate::rootfs::unmount(&self.path);
        let _ = std::fs::remove_dir(&self.path);
        let _ = self.images.snapshotter().remove(&self.key);
    }
}

/// Prefix of the snapshot keys of build mounts (swept at start-up).
pub(crate) const MOUNT_PREFIX: &str = "build-view-";

#[async_trait]
impl Worker for DaemonWorker {
    async fn resolve_image(&self, name: &str, pull: bool, out: &Output) -> BResult<BaseImage> {
        let d = self.d()?;
        let images = d.images.clone();
        let n = name.to_string();
        let found = if pull {
            None
        } else {
            blocking(move || Ok(images.resolve(&n).ok().map(|r| r.id)))
                .await
                .map_err(werr)?
        };
        let id = match found {
            Some(id) => id,
            None => {
                let mut s = d
                    .pull_image(PullOptions {
                        from_image: name.to_string(),
                        tag: None,
                        platform: None,
                        auth: self.registry_auth.clone(),
                    })
                    .await
                    .map_err(|e| BError::NotFound(format!("pull access denied for {name}: {e}")))?;
                while let Some(chunk) = s.next().await {
                    for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                                return Err(BError::NotFound(e.to_string()));
                            }
                            out.raw(v);
                        }
                    }
                }
                let images = d.images.clone();
                let n = name.to_string();
                blocking(move || Ok(images.resolve(&n)?.id))
                    .await
                    .map_err(werr)?
            }
        };
        let config = self.image_config(&id).await?;
        Ok(BaseImage { id, config })
    }

    async fn image_config(&self, id: &str) -> BResult<ImageConfig> {
        let images = self.d()?.images.clone();
        let id = id.to_string();
        blocking(move || Ok(images.config(&id)?))
            .await
            .map_err(werr)
    }

    async fn run(&self, req: RunRequest, out: &Output) -> BResult<String> {
        let d = self.d()?;
        let image = req
            .image
            .clone()
            .ok_or_else(|| BError::Invalid("RUN needs a base image".into()))?;
        let network_mode = match &req.network {
            RunNetwork::Default(m) => m.clone().filter(|m| m != "default"),
            RunNetwork::None => Some("none".into()),
            RunNetwork::Host => Some("host".into()),
        };
        let mounts = req
            .mounts
            .iter()
            .map(|m| match m {
                RunMountSpec::Bind {
                    source,
                    target,
                    read_only,
                } => Mount {
                    typ: Some(MountType::BIND),
                    source: Some(source.display().to_string()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                RunMountSpec::Tmpfs { target, size } => Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target.clone()),
                    tmpfs_options: size.map(|s| berth_types::api::MountTmpfsOptions {
                        size_bytes: Some(s as i64),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            })
            .collect::<Vec<_>>();
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(req.argv.clone()),
            entrypoint: Some(Vec::new()),
            env: Some(req.env.clone()),
            user: req.user.clone(),
            working_dir: req.workdir.clone(),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            labels: Some([("berth.build".to_string(), "run".to_string())].into()),
            host_config: Some(HostConfig {
                network_mode,
                mounts: (!mounts.is_empty()).then_some(mounts),
                extra_hosts: (!req.extra_hosts.is_empty()).then(|| req.extra_hosts.clone()),
                ..self.limits.clone()
            }),
            ..Default::default()
        };
        let created = d.create_container(None, body).await.map_err(werr)?;
        let cid = created.id.clone();
        out.stream(format!(" ---> Running in {}\n", berth_build::short(&cid)));
        let result = self.run_created(&d, &cid, &req, out).await;
        // As Docker: `rm` (the default) removes the container of a step that succeeded; the
        // container of a failed step stays for inspection unless `forcerm`.
        let remove = match &result {
            Ok(_) => !req.keep,
            Err(_) => req.force_remove,
        };
        if remove {
            let _ = d.remove_container(&cid, true, true).await;
            if result.is_ok() {
                out.stream(format!(
                    "Removing intermediate container {}\n",
                    berth_build::short(&cid)
                ));
            }
        }
        result
    }

    async fn commit(
        &self,
        parent: Option<&str>,
        config: ImageConfig,
        layer: NewLayer,
    ) -> BResult<String> {
        let images = self.d()?.images.clone();
        let parent = parent.map(str::to_string);
        blocking(move || {
            let r = match &layer {
                NewLayer::None => images.create_step_image(
                    parent.as_deref(),
                    config,
                    berth_image::StepLayer::None,
                ),
                NewLayer::Tar(p) => {
                    let mut f = std::fs::File::open(p)
                        .map_err(crate::error::Error::io("opening a build layer"))?;
                    images.create_step_image(
                        parent.as_deref(),
                        config,
                        berth_image::StepLayer::Tar(&mut f),
                    )
                }
            };
            if let NewLayer::Tar(p) = &layer {
                let _ = std::fs::remove_file(p);
            }
            Ok(r?)
        })
        .await
        .map_err(werr)
    }

    async fn mount(&self, id: &str) -> BResult<Box<dyn MountedImage>> {
        let d = self.d()?;
        let images = d.images.clone();
        let id = id.to_string();
        let dir = d.config.exec_root.join("build-mounts");
        let m = blocking(move || {
            let rec = images.resolve(&id)?;
            let key = format!("{MOUNT_PREFIX}{}", hex_rand());
            let mounts = images
                .snapshotter()
                .view(&key, rec.row.chain_id.as_deref())?;
            let path = dir.join(&key);
            std::fs::create_dir_all(&path)
                .map_err(crate::error::Error::io("creating a build mount point"))?;
            let m = Mounted {
                images: images.clone(),
                key,
                path,
            };
            berth_snapshot::mount_all(&mounts, &m.path)?;
            Ok(m)
        })
        .await
        .map_err(werr)?;
        Ok(Box::new(m))
    }

    async fn cache_get(&self, key: &str) -> BResult<Option<String>> {
        let d = self.d()?;
        let db = d.db.clone();
        let key = key.to_string();
        blocking(move || Ok(db.build_cache_get(&key, &super::now())?))
            .await
            .map_err(werr)
    }

    async fn cache_put(&self, key: &str, id: &str) -> BResult<()> {
        let d = self.d()?;
        let db = d.db.clone();
        let (key, id) = (key.to_string(), id.to_string());
        blocking(move || Ok(db.build_cache_put(&key, &id, &super::now())?))
            .await
            .map_err(werr)
    }

    async fn tag(&self, id: &str, tag: &str) -> BResult<()> {
        let d = self.d()?;
        let images = d.images.clone();
        let (id2, t) = (id.to_string(), tag.to_string());
        blocking(move || Ok(images.set_tag(&t, &id2)?))
            .await
            .map_err(werr)?;
        d.events.publish(
            berth_types::api::EventMessageTypeEnum::IMAGE,
            "tag",
            id,
            [("name".to_string(), tag.to_string())].into(),
        );
        Ok(())
    }

    fn scratch_dir(&self) -> PathBuf {
        match self.daemon.upgrade() {
            Some(d) => d.config.data_root.join("build").join("tmp"),
            None => std::env::temp_dir(),
        }
    }

    fn cache_mount_dir(&self, id: &str) -> BResult<PathBuf> {
        let d = self.d()?;
        // The id is user text: hashed into a safe directory name.
        let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()));
        let dir = d
            .config
            .data_root
            .join("build")
            .join("cache-mounts")
            .join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| BError::io("creating a cache mount directory")(e))?;
        let _ = std::fs::write(dir.join("id"), id);
        Ok(dir)
    }
}

impl DaemonWorker {
    async fn run_created(
        &self,
        d: &Arc<Daemon>,
        cid: &str,
        req: &RunRequest,
        out: &Output,
    ) -> BResult<String> {
        let wait = d
            .wait_container(cid, WaitCondition::NextExit)
            .await
            .map_err(werr)?;
        d.start_container(cid).await.map_err(werr)?;
        // Follow the log live until the container exits.
        if let Ok((_, mut logs)) = d
            .container_logs(
                cid,
                LogsOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                },
            )
            .await
        {
            while let Some(chunk) = logs.next().await {
                out.stream(strip_stdcopy(&chunk));
            }
        }
        let status = wait.await;
        if status.status_code != 0 {
            return Err(BError::RunFailed {
                command: req.argv.join(" "),
                code: status.status_code,
            });
        }
        let images = d.images.clone();
        let cfg = req.commit_config.clone();
        let image = req.image.clone();
        let cid = cid.to_string();
        let targets: Vec<String> = req
            .mounts
            .iter()
            .map(|m| match m {
                RunMountSpec::Bind { target, .. } | RunMountSpec::Tmpfs { target, .. } => {
                    target.clone()
                }
            })
            .collect();
        blocking(move || {
            strip_mount_stubs(&images, &cid, &targets);
            Ok(images.create_step_image(
                image.as_deref(),
                cfg,
                berth_image::StepLayer::Container(&cid),
            )?)
        })
        .await
        .map_err(werr)
    }
}

/// The runtime creates missing mount points (`/run/secrets/x`, a cache target) in the
/// container's root; like BuildKit, the step's layer must not carry them. In an overlay upper
/// directory an empty, non-opaque entry hides nothing, so removing it leaves exactly the
/// parent's view; other snapshotters keep the stubs.
fn strip_mount_stubs(images: &berth_image::ImageStore, cid: &str, targets: &[String]) {
    let snaps = images.snapshotter();
    if snaps.layer_format() != berth_snapshot::LayerFormat::OverlayDiff {
        return;
    }
    let Ok(upper) = snaps.upper_dir(cid) else {
        return;
    };
    for t in targets {
        // Mount targets are absolute container paths; `..` is refused by the runtime anyway.
        let Ok(rel) = berth_archive::clean_path(Path::new(t.trim_start_matches('/'))) else {
            continue;
        };
        let mut cur = rel.as_path();
        loop {
            if cur.as_os_str().is_empty() {
                break;
            }
            let p = upper.join(cur);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                break;
            };
            let empty = if m.is_dir() {
                std::fs::read_dir(&p)
                    .map(|mut r| r.next().is_none())
                    .unwrap_or(false)
            } else {
                m.is_file() && m.len() == 0
            };
            if !empty || is_opaque(&p) {
                break;
            }
            let removed = if m.is_dir() {
                std::fs::remove_dir(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if removed.is_err() {
                break;
            }
            cur = cur.parent().unwrap_or(Path::new(""));
        }
    }
}

fn is_opaque(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return true;
    };
    let mut buf = [0u8; 4];
    // SAFETY: valid NUL-terminated path and buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n > 0
}

/// Log chunks of a non-tty container come in stdcopy frames (8-byte headers); the build
/// stream wants the text.
fn strip_stdcopy(chunk: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = chunk;
    while rest.len() >= 8 && matches!(rest[0], 0..=2) && rest[1..4] == [0, 0, 0] {
        let n = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + n).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_rand() -> String {
    let b: [u8; 8] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
