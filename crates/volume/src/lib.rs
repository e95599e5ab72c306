//! Volumes: directories managed by the engine whose life is independent of any container.
//!
//! # The store
//!
//! [`VolumeStore`] is the local driver. Each volume lives in `<data-root>/volumes/<name>/`: its
//! data in `_data` (the `Mountpoint` that inspect shows, as Docker lays it out) and its record
//! (driver, labels, options, creation time) in `volume.json` next to it, written to a temporary
//! name, fsynced and renamed. A volume directory without a record is the leftover of a create
//! that was interrupted, and [`VolumeStore::open`] removes it when its `_data` is empty; a
//! `.removing-*` directory is a removal that was interrupted, and is finished.
//!
//! # Lifecycle
//!
//! `create` (explicit, or implicitly by a container that names a missing volume, or anonymous:
//! a 64-hex name and the label [`ANONYMOUS_LABEL`]) → referenced by each container that names
//! it ([`VolumeStore::create_referenced`] at container create, [`VolumeStore::reference`] when
//! the daemon loads its containers) → `acquire` by each container that starts with it →
//! `release` when that container stops → … → `unreference` when the container is removed →
//! `remove` (refused while any reference or holder is left) or `prune`.
//!
//! The store counts the users of each volume that are running ([`VolumeStore::acquire`] /
//! [`VolumeStore::release`]). A volume created with the local driver's `type`/`device`/`o`
//! options (`-o type=tmpfs,device=tmpfs,o=size=64m`, `-o type=none,o=bind,device=/srv/x`) is
//! mounted on its `_data` by its first user and unmounted when the last one stops, as Docker's
//! local driver does. After a daemon restart the daemon acquires again for every container it
//! re-adopts; a volume that is still mounted is recognised and not mounted twice, and
//! [`VolumeStore::unmount_unused`] then unmounts those nobody uses any more.
//!
//! # Drivers
//!
//! What a driver does for a volume is the [`Driver`] trait: check options at create, mount on
//! first use, unmount after the last. Berth has one, [`LocalDriver`]; a request for another
//! driver answers 501 (`NotImplemented`).
//!
//! # Mounting into containers
//!
//! [`mountspec`] turns the Engine API's `Binds`, `Mounts` and `Tmpfs` into [`MountPoint`]s;
//! [`target`] resolves a mount's destination inside a container's root with `RESOLVE_IN_ROOT`
//! semantics (a symlink in an image can never make a mount land on the host: CVE-2021-30465,
//! CVE-2022-23648); [`copyup`] fills a new empty volume with what the image has at its path,
//! keeping owners and modes; [`hostmount`] reads the host's mount table for propagation checks.

pub mod copyup;
mod error;
pub mod hostmount;
mod local;
pub mod mountspec;
pub mod target;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use error::{Error, Result};
pub use mountspec::{Chown, MountKind, MountPoint};

/// The label Docker (23+) puts on anonymous volumes; `volume prune` without `-a` removes only
/// volumes that carry it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The only driver Berth has.
pub const LOCAL_DRIVER: &str = "local";
const RECORD_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";
/// Options of the local driver.
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o"];

/// A volume driver: what happens to a volume's `_data` besides being a directory.
pub trait Driver: Send + Sync {
    /// The name volumes record (`local`).
    fn name(&self) -> &'static str;
    /// Checks a create request's options, so bad ones fail at create and not at first use.
    fn validate(&self, volume: &str, options: &BTreeMap<String, String>) -> Result<()>;
    /// Whether [`Driver::mount`] has anything to do for this volume.
    fn needs_mount(&self, volume: &Volume) -> bool;
    /// Makes `data` hold the volume's content (first user).
    fn mount(&self, volume: &Volume, data: &Path) -> Result<()>;
    /// Undoes [`Driver::mount`] (last user gone, or removal).
    fn unmount(&self, data: &Path) -> Result<()>;
}

/// Docker's `local` driver: a plain directory, or what its `type`/`device`/`o` options mount.
pub struct LocalDriver;

impl Driver for LocalDriver {
    fn name(&self) -> &'static str {
        LOCAL_DRIVER
    }
    fn validate(&self, volume: &str, options: &BTreeMap<String, String>) -> Result<()> {
        for k in options.keys() {
            if !LOCAL_OPTIONS.contains(&k.as_str()) {
                return Err(Error::Invalid(format!(
                    "create {volume}: invalid option: {k:?}"
                )));
            }
        }
        local::validate_options(volume, options)
    }
    fn needs_mount(&self, volume: &Volume) -> bool {
        volume.options.contains_key("type") || volume.options.contains_key("device")
    }
    fn mount(&self, volume: &Volume, data: &Path) -> Result<()> {
        local::mount(volume, data)
    }
    fn unmount(&self, data: &Path) -> Result<()> {
        local::unmount(data)
    }
}

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// RFC 3339, seconds, UTC (Docker's `CreatedAt`).
    pub created_at: String,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Whether its driver mounts something on `_data` for this volume.
    pub fn needs_mount(&self) -> bool {
        LocalDriver.needs_mount(self)
    }
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `None` or empty: an anonymous volume with a random 64-hex name.
    pub name: Option<String>,
    /// `None` or empty: `local`.
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The local volume store; see the crate documentation for its lifecycle.
pub struct VolumeStore {
    root: PathBuf,
    driver: Box<dyn Driver>,
    /// Owner of a new volume's `_data` (`--userns-remap`: the remapped root), host root
    /// otherwise.
    data_owner: Option<(u32, u32)>,
    /// Serialises create, remove, reference, acquire and release.
    state: Mutex<State>,
}

/// Who uses each volume, by volume name.
#[derive(Default)]
struct State {
    /// Containers (any state) whose configuration names the volume: it cannot be removed
    /// while any is left. Rebuilt from the containers' records at daemon start.
    refs: HashMap<String, HashSet<String>>,
    /// Running containers that acquired it: the first mounts driver options, the last
    /// unmounts them.
    active: HashMap<String, HashSet<String>>,
}

/// Checks a volume name against Docker's rule for local volumes: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(Error::Invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    if name.len() < 2 {
        return Err(Error::Invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    Ok(())
}

fn now_rfc3339_seconds() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn random_name() -> String {
    berth_types::id::generate_id()
}

impl VolumeStore {
    /// Opens (creating) the store under `root` (`<data-root>/volumes`) and cleans up what an
    /// interrupted create or remove left.
    pub fn open(root: impl Into<PathBuf>) -> Result<VolumeStore> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(Error::io(format!("creating {}", root.display())))?;
        // As Docker's: others may traverse to a path they know (a bind of a volume path) but
        // not list the volumes.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o701))
            .map_err(Error::io(format!("chmod {}", root.display())))?;
        let store = VolumeStore {
            root,
            driver: Box::new(LocalDriver),
            data_owner: None,
            state: Mutex::new(State::default()),
        };
        store.clean_leftovers();
        Ok(store)
    }

    /// New volumes' `_data` will belong to `uid:gid`: a remapped daemon's containers' root,
    /// so that it can write to the volumes it gets, as with dockerd.
    pub fn with_data_owner(mut self, owner: Option<(u32, u32)>) -> Self {
        self.data_owner = owner;
        self
    }

    fn clean_leftovers(&self) {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(".removing-") || name.starts_with(".creating-") {
                if !hostmount::has_mounts_under(&path) {
                    let _ = std::fs::remove_dir_all(&path);
                }
                continue;
            }
            if name.starts_with('.') || path.join(RECORD_FILE).exists() {
                continue;
            }
            let data = path.join(DATA_DIR);
            let empty = std::fs::read_dir(&data).map_or(true, |mut d| d.next().is_none());
            if empty && !hostmount::is_mountpoint(&data) {
                tracing::info!("removing an interrupted volume create: {}", path.display());
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }

    /// The directory of a volume (its record and `_data`).
    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The volume's data directory: Docker's `Mountpoint`.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA_DIR)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a volume, or returns the existing one of that name (as Docker does, when the
    /// driver matches). The boolean says whether it was created now.
    pub fn create(&self, req: CreateRequest) -> Result<(Volume, bool)> {
        self.create_inner(req, None)
    }

    /// [`VolumeStore::create`], and records `user` (a container ID) as referring to the
    /// volume in the same step, so no removal can come in between.
    pub fn create_referenced(&self, req: CreateRequest, user: &str) -> Result<(Volume, bool)> {
        self.create_inner(req, Some(user))
    }

    /// Records that `user` refers to volume `name` (a container loaded at daemon start).
    pub fn reference(&self, name: &str, user: &str) -> Result<()> {
        let mut guard = self.lock();
        self.read_record(name)?;
        guard
            .refs
            .entry(name.to_owned())
            .or_default()
            .insert(user.to_owned());
        Ok(())
    }

    /// Forgets every reference of `user` (a removed container, or one whose create failed).
    pub fn unreference(&self, user: &str) {
        let mut guard = self.lock();
        guard.refs.retain(|_, users| {
            users.remove(user);
            !users.is_empty()
        });
    }

    /// The containers that refer to or hold volume `name`, sorted.
    pub fn users(&self, name: &str) -> Vec<String> {
        let guard = self.lock();
        Self::users_locked(&guard, name)
    }

    fn users_locked(state: &State, name: &str) -> Vec<String> {
        let mut all: Vec<String> = state
            .refs
            .get(name)
            .into_iter()
            .chain(state.active.get(name))
            .flatten()
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    fn create_inner(&self, req: CreateRequest, user: Option<&str>) -> Result<(Volume, bool)> {
        let driver = req
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| LOCAL_DRIVER.to_owned());
        let name = req.name.filter(|n| !n.is_empty());
        if let Some(n) = &name {
            validate_name(n)?;
        }
        if driver != self.driver.name() {
            return Err(Error::NotImplemented(format!(
                "create {}: volume driver {driver:?} is not available: Berth has only the local driver",
                name.as_deref().unwrap_or("")
            )));
        }
        let mut labels = req.labels;
        let name = match name {
            Some(n) => n,
            None => {
                labels.entry(ANONYMOUS_LABEL.to_owned()).or_default();
                random_name()
            }
        };
        self.driver.validate(&name, &req.options)?;
        let mut guard = self.lock();
        let mut add_ref = |name: &str| {
            if let Some(u) = user {
                guard
                    .refs
                    .entry(name.to_owned())
                    .or_default()
                    .insert(u.to_owned());
            }
        };
        if let Ok(v) = self.read_record(&name) {
            add_ref(&name);
            return Ok((v, false));
        }
        let vol = Volume {
            name: name.clone(),
            driver,
            labels,
            options: req.options,
            created_at: now_rfc3339_seconds(),
        };
        // Built under a temporary name and renamed into place: a crash leaves either nothing
        // or a complete volume.
        let tmp = self.root.join(format!(".creating-{name}"));
        let _ = std::fs::remove_dir_all(&tmp);
        let data = tmp.join(DATA_DIR);
        std::fs::create_dir_all(&data)
            .map_err(Error::io(format!("creating {}", data.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io(format!("chmod {}", data.display())))?;
        if let Some((uid, gid)) = self.data_owner {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .map_err(Error::io(format!("chown {}", data.display())))?;
        }
        write_atomic(
            &tmp.join(RECORD_FILE),
            &serde_json::to_vec_pretty(&vol).map_err(|e| Error::Invalid(e.to_string()))?,
        )?;
        let dir = self.dir(&name);
        if dir.exists() {
            // A leftover without a record (checked above) that holds data: keep the data.
            let _ = std::fs::remove_dir_all(&tmp);
            write_atomic(
                &dir.join(RECORD_FILE),
                &serde_json::to_vec_pretty(&vol).map_err(|e| Error::Invalid(e.to_string()))?,
            )?;
            std::fs::create_dir_all(dir.join(DATA_DIR))
                .map_err(Error::io(format!("creating {}", dir.display())))?;
        } else {
            std::fs::rename(&tmp, &dir)
                .map_err(Error::io(format!("renaming {} into place", tmp.display())))?;
        }
        sync_dir(&self.root);
        add_ref(&name);
        Ok((vol, true))
    }

    fn read_record(&self, name: &str) -> Result<Volume> {
        if validate_name(name).is_err() {
            return Err(Error::NotFound(name.to_owned()));
        }
        let path = self.dir(name).join(RECORD_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(name.to_owned()))
            }
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Io {
            context: format!("reading {}", path.display()),
            source: std::io::Error::other(e),
        })
    }

    /// The volume named `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        self.read_record(name)
    }

    /// Every volume, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.root)
            .map_err(Error::io(format!("reading {}", self.root.display())))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(v) = self.read_record(&name) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume; one that any container refers to or holds is a conflict, with
    /// Docker's text.
    pub fn remove(&self, name: &str) -> Result<()> {
        let guard = self.lock();
        self.read_record(name)?;
        let all = Self::users_locked(&guard, name);
        if !all.is_empty() {
            return Err(Error::InUse {
                name: name.to_owned(),
                users: all,
            });
        }
        let dir = self.dir(name);
        let data = dir.join(DATA_DIR);
        if hostmount::is_mountpoint(&data) {
            self.driver.unmount(&data)?;
        }
        // Never delete through a mount: with the driver's bind option `_data` may be the host's
        // own directory.
        if hostmount::has_mounts_under(&dir) {
            return Err(Error::Conflict(format!(
                "remove {name}: the volume's directory still has something mounted on it"
            )));
        }
        let tomb = self
            .root
            .join(format!(".removing-{name}-{}", &random_name()[..8]));
        std::fs::rename(&dir, &tomb).map_err(Error::io(format!("removing {}", dir.display())))?;
        sync_dir(&self.root);
        std::fs::remove_dir_all(&tomb)
            .map_err(Error::io(format!("removing {}", tomb.display())))?;
        Ok(())
    }

    /// Registers `user` (a container ID) as running with the volume and returns the path to
    /// bind-mount. The first user of a volume with driver options mounts it.
    pub fn acquire(&self, name: &str, user: &str) -> Result<PathBuf> {
        let mut guard = self.lock();
        let vol = self.read_record(name)?;
        let data = self.data_path(name);
        let users = guard.active.entry(name.to_owned()).or_default();
        if vol.needs_mount() && users.is_empty() && !hostmount::is_mountpoint(&data) {
            self.driver.mount(&vol, &data)?;
        }
        users.insert(user.to_owned());
        Ok(data)
    }

    /// Drops `user` from every volume it acquired; a volume with driver options whose last
    /// user this was is unmounted.
    pub fn release(&self, user: &str) {
        let mut guard = self.lock();
        let mut emptied = Vec::new();
        for (name, users) in guard.active.iter_mut() {
            if users.remove(user) && users.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            guard.active.remove(&name);
            self.unmount_if_mounted(&name);
        }
    }

    fn unmount_if_mounted(&self, name: &str) {
        let Ok(vol) = self.read_record(name) else {
            return;
        };
        let data = self.data_path(name);
        if vol.needs_mount() && hostmount::is_mountpoint(&data) {
            if let Err(e) = self.driver.unmount(&data) {
                tracing::warn!("unmounting volume {name}: {e}");
            }
        }
    }

    /// Unmounts every driver-option volume that no running container uses (after a restart,
    /// once the running containers have acquired theirs again).
    pub fn unmount_unused(&self) {
        let names: Vec<String> = match self.list() {
            Ok(v) => v
                .into_iter()
                .filter(|v| v.needs_mount())
                .map(|v| v.name)
                .collect(),
            Err(_) => return,
        };
        let guard = self.lock();
        for n in names {
            if guard.active.get(&n).is_none_or(|u| u.is_empty()) {
                self.unmount_if_mounted(&n);
            }
        }
    }

    /// How many running users hold the volume.
    pub fn active_users(&self, name: &str) -> usize {
        self.lock().active.get(name).map_or(0, |u| u.len())
    }

    /// Bytes used by the volume's data (regular file sizes, not following symlinks, not
    /// crossing into other filesystems), as Docker's `UsageData.Size`.
    pub fn size(&self, name: &str) -> i64 {
        dir_size(&self.data_path(name)) as i64
    }

    /// Docker's JSON for a volume (`volume inspect`, list items). `usage` adds `UsageData`.
    pub fn to_api(&self, v: &Volume, usage: Option<(i64, i64)>) -> Value {
        let map_or_null = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                Value::Null
            } else {
                json!(m)
            }
        };
        let mut out = json!({
            "CreatedAt": v.created_at,
            "Driver": v.driver,
            "Labels": map_or_null(&v.labels),
            "Mountpoint": self.data_path(&v.name),
            "Name": v.name,
            "Options": map_or_null(&v.options),
            "Scope": "local",
        });
        if let Some((size, refs)) = usage {
            out["UsageData"] = json!({"Size": size, "RefCount": refs});
        }
        out
    }
}

fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.dev() != dev {
                continue;
            }
            if md.is_dir() {
                stack.push(e.path());
            } else if md.nlink() < 2 || seen.insert(md.ino()) {
                total += md.len();
            }
        }
    }
    total
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(format!(
        "creating a temporary file in {}",
        dir.display()
    )))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(Error::io(format!("writing {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| Error::io(format!("renaming to {}", path.display()))(e.error))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests;
