//! Container root filesystems: the daemon's side of the image store's snapshots — mounting a
//! container's prepared snapshot at its bundle, unmounting it, and sweeping orphans.

use std::collections::HashSet;
use std::path::Path;

use berth_image::ImageStore;

use crate::error::Result;

/// Mounts container `id`'s writable root filesystem at `target`.
pub fn mount(images: &ImageStore, id: &str, target: &Path) -> Result<()> {
    mount_with(images, id, target, false)
}

/// Like [`mount`], for a root filesystem whose writable layer is thrown away after this mount
/// (an `--rm` container's run) or never written (copy-up into a volume): the overlay is mounted
/// `volatile`, so its unmount skips syncing the whole host filesystem under the upper dir —
/// tens of milliseconds of every `run --rm` on a machine with dirty pages.
pub fn mount_discardable(images: &ImageStore, id: &str, target: &Path) -> Result<()> {
    mount_with(images, id, target, true)
}

fn mount_with(images: &ImageStore, id: &str, target: &Path, volatile: bool) -> Result<()> {
    let mut mounts = images.container_rootfs_mounts(id)?;
    for m in mounts.iter_mut().filter(|m| m.kind == "overlay") {
        // A volatile mount leaves `work/incompat/volatile` behind, and the kernel refuses any
        // later mount while it exists. Only the daemon mounts these dirs, and it mounts them
        // volatile only when their content does not have to survive a crash, so the marker
        // of an earlier run is cleared rather than kept as a reason to fail.
        let workdir = m.options.iter().find_map(|o| o.strip_prefix("workdir="));
        if let Some(w) = workdir {
            let marker = Path::new(w).join("work/incompat/volatile");
            if marker.exists() {
                std::fs::remove_dir_all(&marker).map_err(crate::error::Error::io(format!(
                    "removing {}",
                    marker.display()
                )))?;
            }
        }
        if volatile && workdir.is_some() {
            m.options.push("volatile".into());
        }
    }
    berth_snapshot::mount_all(&mounts, target)?;
    Ok(())
}

/// Unmounts whatever is mounted at `target`; nothing mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    if is_mountpoint(target) {
        berth_snapshot::unmount(target)?;
    }
    Ok(())
}

fn is_mountpoint(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Some(p) = path.to_str() else { return false };
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p))
}

/// Removes container snapshots (keyed by a 64-hex container ID) that belong to no container:
/// the leftovers of a create interrupted before its database row was written.
pub fn remove_orphans(images: &ImageStore, known: &HashSet<String>) -> Result<()> {
    let snaps = images.snapshotter();
    for info in snaps.list()? {
        if info.kind == berth_snapshot::Kind::Active
            && berth_types::id::is_full_id(&info.key)
            && !known.contains(&info.key)
        {
            tracing::info!("removing the orphaned container snapshot {}", info.key);
            snaps.remove(&info.key)?;
        }
    }
    Ok(())
}

/// The unpacked size of image `id`, 0 when unknown.
pub fn image_size(images: &ImageStore, id: &str) -> i64 {
    images.resolve(id).map(|r| r.row.size).unwrap_or(0)
}
