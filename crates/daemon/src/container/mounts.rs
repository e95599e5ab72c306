//! A container's volumes, binds and tmpfs mounts.
//!
//! * At create ([`Daemon::resolve_mounts`]): the image's `VOLUME`s and `Config.Volumes`, then
//!   `--volumes-from`, then `Binds` (`-v`), `Mounts` (`--mount`) and `Tmpfs` (`--tmpfs`), each
//!   later one replacing an earlier one at the same destination (two explicit ones at the same
//!   destination are refused, as Docker does). Named volumes that do not exist are created,
//!   anonymous ones get a random name; the result is recorded with the container.
//! * At start ([`Daemon::prepare_mounts`]): each volume is acquired from the store (mounting
//!   its driver options on first use), a new empty volume is filled from the image (copy-up)
//!   and chowned if asked; bind sources are checked (and created for `-v`), propagation is
//!   checked against the host's mount; every destination is resolved inside the rootfs.
//! * At stop, [`Daemon::teardown_runtime`] releases the container's volumes.
//! * At `rm -v` (and for `--rm` containers) the container's anonymous volumes that nobody else
//!   uses are removed ([`Daemon::remove_anonymous_volumes`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use berth_runtime::spec::MountEntry;
use berth_types::api::{ContainerConfig, HostConfig};
use berth_volume::mountspec::{self, MountKind, MountPoint};
use berth_volume::target::{self, TargetKind};
use berth_volume::{copyup, hostmount, Chown, CreateRequest};

use super::Container;
use crate::error::{Error, Result};
use crate::Daemon;

fn duplicate(dest: &str) -> Error {
    Error::InvalidArgument(format!("Duplicate mount point: {dest}"))
}

impl Daemon {
    /// The mount points of a new container; creates the volumes they name. On error, the
    /// anonymous volumes made here are removed again.
    pub(crate) fn resolve_mounts(
        &self,
        id: &str,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<MountPoint>> {
        let mut by_dest: BTreeMap<String, MountPoint> = BTreeMap::new();
        for dest in config.volumes.iter().flatten() {
            if !dest.starts_with('/') {
                return Err(Error::InvalidArgument(format!(
                    "invalid volume specification: '{dest}': invalid mount path: '{dest}' mount path must be absolute"
                )));
            }
            let mp = MountPoint::anonymous_volume(dest);
            if mp.destination == "/" {
                return Err(Error::InvalidArgument(
                    "invalid specification: destination can't be '/'".into(),
                ));
            }
            by_dest.insert(mp.destination.clone(), mp);
        }
        for spec in hc.volumes_from.iter().flatten() {
            let (name, rw) = mountspec::parse_volumes_from(spec)?;
            // A bad reference is the request's fault (400, as Docker), not a missing object:
            // a 404 would send clients off to pull the image.
            let other = match self.containers.lookup(&name) {
                Ok(e) => e.snapshot(),
                Err(Error::NoSuchContainer(n)) => {
                    return Err(Error::InvalidArgument(format!("No such container: {n}")))
                }
                Err(e) => return Err(e),
            };
            for mp in other
                .mount_points
                .iter()
                .filter(|m| m.kind != MountKind::Tmpfs)
            {
                let mut m = mp.clone();
                if let Some(rw) = rw {
                    m.rw = rw;
                }
                // Docker shows no mode for inherited mounts.
                m.mode.clear();
                m.copy_data = false;
                m.chown = None;
                by_dest.insert(m.destination.clone(), m);
            }
        }
        let mut explicit = HashSet::new();
        let mut add = |mp: MountPoint, by_dest: &mut BTreeMap<String, MountPoint>| {
            if !explicit.insert(mp.destination.clone()) {
                return Err(duplicate(&mp.destination));
            }
            by_dest.insert(mp.destination.clone(), mp);
            Ok(())
        };
        for b in hc.binds.iter().flatten() {
            add(mountspec::parse_bind(b)?, &mut by_dest)?;
        }
        for m in hc.mounts.iter().flatten() {
            add(mountspec::parse_api_mount(m)?, &mut by_dest)?;
        }
        let mut tmpfs: Vec<_> = hc.tmpfs.iter().flatten().collect();
        tmpfs.sort();
        for (dest, opts) in tmpfs {
            add(mountspec::parse_tmpfs(dest, opts)?, &mut by_dest)?;
        }

        let mut out: Vec<MountPoint> = by_dest.into_values().collect();
        let mut created_anonymous = Vec::new();
        let result = (|| -> Result<()> {
            for mp in out.iter_mut().filter(|m| m.kind == MountKind::Volume) {
                let name = (!mp.name.is_empty()).then(|| mp.name.clone());
                let (vol, created) = self.volumes.create_referenced(
                    CreateRequest {
                        name: name.clone(),
                        driver: Some(mp.driver.clone()),
                        labels: mp.volume_labels.clone(),
                        options: mp.volume_options.clone(),
                    },
                    id,
                )?;
                if created {
                    if name.is_none() {
                        created_anonymous.push(vol.name.clone());
                    }
                    self.volume_event(&vol.name, "create", &[("driver", vol.driver.clone())]);
                }
                mp.name = vol.name.clone();
                mp.driver = vol.driver.clone();
                mp.source = self
                    .volumes
                    .data_path(&vol.name)
                    .to_string_lossy()
                    .into_owned();
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.volumes.unreference(id);
            for n in created_anonymous {
                let _ = self.volumes.remove(&n);
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Copy-up at create, as Docker does it: the container's rootfs is mounted for a moment
    /// (where `start` mounts it, so a crash here is cleaned up like a crashed start) and each
    /// new, empty volume is filled from it. Volumes with driver options are filled at start
    /// instead, once they are mounted.
    pub(crate) async fn copy_up_at_create(
        &self,
        id: &str,
        points: &mut [MountPoint],
    ) -> Result<()> {
        let mut todo = Vec::new();
        for m in points.iter_mut() {
            if m.kind == MountKind::Volume
                && m.copy_data
                && !self.volumes.get(&m.name)?.needs_mount()
            {
                todo.push((m.destination.clone(), PathBuf::from(&m.source)));
                m.copy_data = false;
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        let state_dir = self.state_dir(id);
        let rootfs = state_dir.join("rootfs");
        let images = self.images.clone();
        let cid = id.to_owned();
        let res = tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&rootfs)
                .map_err(Error::io(format!("creating {}", rootfs.display())))?;
            // Copy-up only reads the rootfs; its writable layer stays untouched.
            crate::rootfs::mount_discardable(&images, &cid, &rootfs)?;
            let copied = todo
                .iter()
                .try_for_each(|(dest, data)| copyup::copy_up(&rootfs, dest, data).map(|_| ()));
            crate::rootfs::unmount(&rootfs)?;
            Ok(copied?)
        })
        .await
        .map_err(|e| Error::Internal(format!("copy-up task: {e}")))
        .and_then(|r| r);
        if let Err(e) = std::fs::remove_dir_all(&state_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", state_dir.display());
            }
        }
        res
    }

    /// Readies every mount of `c` for a start with its rootfs at `rootfs`, and returns the
    /// runtime's mount list (parents before children). Volumes acquired here are released by
    /// [`Daemon::teardown_runtime`], also when the start fails later.
    pub(crate) async fn prepare_mounts(
        &self,
        c: &Container,
        rootfs: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<Vec<MountEntry>> {
        let mut points = c.mount_points.clone();
        points.sort_by_key(|m| m.destination.split('/').filter(|s| !s.is_empty()).count());
        let mut out = Vec::new();
        // `--mount …,chown` ids are the container's: on a remapped daemon, host ids differ.
        let map = self.container_id_map(c);
        for mp in points {
            let data = if mp.kind == MountKind::Volume {
                let p = self.volumes.acquire(&mp.name, &c.id)?;
                self.volume_event(&mp.name, "mount", &[("container", c.id.clone())]);
                Some(p)
            } else {
                None
            };
            let rootfs = rootfs.to_path_buf();
            let map = map.clone();
            let entry =
                tokio::task::spawn_blocking(move || prepare_one(&mp, &rootfs, data, uid, gid, map))
                    .await
                    .map_err(|e| Error::Internal(format!("mount preparation task: {e}")))??;
            out.push(entry);
        }
        Ok(out)
    }

    /// The IDs of the containers (any state) that refer to volume `name`.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        self.volumes.users(name)
    }

    /// Records the volume references of a container loaded at start-up.
    pub(crate) fn reference_volumes(&self, c: &Container) {
        for mp in c
            .mount_points
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            if let Err(e) = self.volumes.reference(&mp.name, &c.id) {
                tracing::warn!("container {}: volume {}: {e}", c.id, mp.name);
            }
        }
    }

    /// Drops the references of a removed (or never recorded) container and removes its
    /// anonymous volumes that no other container uses.
    pub(crate) fn remove_anonymous_volumes(&self, c: &Container) {
        self.volumes.unreference(&c.id);
        for mp in c
            .mount_points
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            let Ok(vol) = self.volumes.get(&mp.name) else {
                continue;
            };
            if !vol.is_anonymous() {
                continue;
            }
            match self.volumes.remove(&mp.name) {
                Ok(()) => self.volume_event(&mp.name, "destroy", &[]),
                Err(e) => tracing::info!("keeping volume {}: {e}", mp.name),
            }
        }
    }

    /// Releases what container `id` acquired at start (unmounting driver options after the
    /// last user), with Docker's `volume unmount` events.
    pub(crate) fn release_volumes(&self, id: &str) {
        if let Ok(entry) = self.containers.lookup(id) {
            let c = entry.snapshot();
            for mp in c
                .mount_points
                .iter()
                .filter(|m| m.kind == MountKind::Volume)
            {
                if self.volumes.users(&mp.name).contains(&c.id) {
                    self.volume_event(&mp.name, "unmount", &[("container", c.id.clone())]);
                }
            }
        }
        self.volumes.release(id);
    }

    /// Re-registers the volumes of a container re-adopted after a daemon restart.
    pub(crate) fn reacquire_volumes(&self, c: &Container) {
        for mp in c
            .mount_points
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            if let Err(e) = self.volumes.acquire(&mp.name, &c.id) {
                tracing::warn!("volume {} of running container {}: {e}", mp.name, c.id);
            }
        }
    }

    pub(crate) fn volume_event(&self, name: &str, action: &str, extra: &[(&str, String)]) {
        let attrs = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.events.publish(
            berth_types::api::EventMessageTypeEnum::VOLUME,
            action,
            name,
            attrs,
        );
    }
}

/// libcontainer spells the root's propagation without runc's `r` (it always recurses).
pub(crate) fn adapt_spec_for_builtin(spec: &mut oci_spec::runtime::Spec) {
    if let Some(linux) = spec.linux_mut() {
        if let Some(p) = linux.rootfs_propagation().clone() {
            if let Some(bare) = p
                .strip_prefix('r')
                .filter(|b| *b == "shared" || *b == "slave")
            {
                linux.set_rootfs_propagation(Some(bare.to_owned()));
            }
        }
    }
}

fn rw_opt(rw: bool) -> String {
    if rw { "rw" } else { "ro" }.to_owned()
}

fn prepare_one(
    mp: &MountPoint,
    rootfs: &Path,
    data: Option<PathBuf>,
    uid: u32,
    gid: u32,
    map: Option<berth_types::idmap::IdMap>,
) -> Result<MountEntry> {
    match mp.kind {
        MountKind::Volume => {
            let data = data.ok_or_else(|| Error::Internal("volume without a path".into()))?;
            if mp.copy_data {
                copyup::copy_up(rootfs, &mp.destination, &data)?;
            }
            let ids = match mp.chown {
                Some(Chown::ContainerUser) => Some((uid, gid)),
                Some(Chown::Ids { uid, gid }) => Some((uid, gid)),
                None => None,
            };
            if let Some((uid, gid)) = ids {
                let (uid, gid) = match &map {
                    None => (uid, gid),
                    Some(m) => m.host_uid(uid).zip(m.host_gid(gid)).ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "chown {uid}:{gid}: outside the daemon's userns-remap range"
                        ))
                    })?,
                };
                copyup::chown_root(&data, uid, gid)?;
            }
            let dest = target::prepare(rootfs, &mp.destination, TargetKind::Directory)?;
            Ok(MountEntry {
                destination: dest,
                typ: "bind".into(),
                source: data.to_string_lossy().into_owned(),
                options: vec!["rbind".into(), "rprivate".into(), rw_opt(mp.rw)],
            })
        }
        MountKind::Bind => {
            let src = Path::new(&mp.source);
            if std::fs::symlink_metadata(src).is_err() {
                if !mp.create_source {
                    return Err(Error::InvalidArgument(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        mp.source
                    )));
                }
                std::fs::create_dir_all(src)
                    .map_err(Error::io(format!("creating bind source {}", mp.source)))?;
            }
            check_propagation(src, &mp.propagation)?;
            let kind = if src.is_dir() {
                TargetKind::Directory
            } else {
                TargetKind::File
            };
            let dest = target::prepare(rootfs, &mp.destination, kind)?;
            Ok(MountEntry {
                destination: dest,
                typ: "bind".into(),
                source: mp.source.clone(),
                options: vec!["rbind".into(), mp.propagation.clone(), rw_opt(mp.rw)],
            })
        }
        MountKind::Tmpfs => {
            let mode = mp
                .tmpfs_options
                .iter()
                .find_map(|o| o.strip_prefix("mode="))
                .and_then(|m| u32::from_str_radix(m, 8).ok());
            let dest =
                target::prepare_with_mode(rootfs, &mp.destination, TargetKind::Directory, mode)?;
            let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            options.extend(mp.tmpfs_options.iter().cloned());
            if !mp.rw && !options.iter().any(|o| o == "ro") {
                options.push("ro".into());
            }
            Ok(MountEntry {
                destination: dest,
                typ: "tmpfs".into(),
                source: "tmpfs".into(),
                options,
            })
        }
    }
}

/// `shared`/`slave` propagation only works when the source's mount is shared (or a slave):
/// refuse with Docker's text rather than silently getting a private mount.
fn check_propagation(src: &Path, propagation: &str) -> Result<()> {
    let need_shared = matches!(propagation, "shared" | "rshared");
    let need_slave = matches!(propagation, "slave" | "rslave");
    if !need_shared && !need_slave {
        return Ok(());
    }
    let Some(m) = hostmount::mount_of(src) else {
        return Ok(());
    };
    if need_shared && !m.is_shared() {
        return Err(Error::InvalidArgument(format!(
            "path {} is mounted on {} but it is not a shared mount",
            src.display(),
            m.mount_point.display()
        )));
    }
    if need_slave && !m.is_shared() && !m.is_slave() {
        return Err(Error::InvalidArgument(format!(
            "path {} is mounted on {} but it is not a shared or slave mount",
            src.display(),
            m.mount_point.display()
        )));
    }
    Ok(())
}
