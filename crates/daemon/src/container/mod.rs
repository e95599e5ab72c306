//! Containers: the record the daemon keeps for each one, the in-memory registry, and one module
//! per verb.
//!
//! Lifecycle (Docker's states): `created` → (`start`) → `running` ⇄ `paused` → (init exits) →
//! `exited` → (`start` again) … → (`rm`) → gone. `dead` marks a container whose removal failed
//! half-way. Every transition is persisted in the metadata database before it is announced
//! (event, waiters), so a daemon killed at any point restarts into a state it recognises.
//!
//! Concurrency: each container has an operation lock ([`Entry::op`]) held for the whole of a
//! lifecycle verb (start, stop, rm, …) so verbs on one container never interleave; reads take
//! only the record lock.

mod attach;
mod create;
pub(crate) mod exec;
pub(crate) mod files;
mod health;
mod inspect;
pub(crate) mod limits;
mod list;
mod logs;
mod monitor;
pub(crate) mod mounts;
mod names;
mod remove;
mod rename;
mod restart;
mod restore;
mod shutdown;
mod signal;
mod start;
mod stats;
mod status;
mod stop;
mod top;
mod update;
pub(crate) mod userns;
mod wait;

pub use exec::ExecRecord;
pub use restore::restore_all;
pub use signal::parse_signal;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use berth_types::api::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::Daemon;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether the container has a live init process.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The run state, as inspect's `State` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    /// RFC 3339 nanoseconds; empty = never.
    pub started_at: String,
    pub finished_at: String,
}

/// What the daemon stores for a container (the `record` JSON of its metadata row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub created: String,
    /// The command: entrypoint and cmd resolved against the image.
    pub path: String,
    pub args: Vec<String>,
    /// The effective configuration (the image's defaults merged with the request).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// `sha256:…` of the image.
    pub image_id: String,
    pub state: RunState,
    pub restart_count: i64,
    /// The storage backend's name (`overlay2`-like or `native`).
    pub driver: String,
    /// The runtime chosen at create time (`berth`, `runc`, …).
    pub runtime: String,
    /// Volumes, binds and tmpfs mounts, resolved at create (see [`mounts`]).
    #[serde(default)]
    pub mount_points: Vec<berth_volume::MountPoint>,
    /// The networks it belongs to and, while running, what it holds on them.
    #[serde(default)]
    pub networking: crate::network::ContainerNetworking,
    /// The healthcheck's state, once a container with a healthcheck has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<health::HealthState>,
    /// Stopped or killed by a user since its last start: `unless-stopped` does not bring it
    /// back, not even when the daemon starts (Docker's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// The restart back-off last waited (ms), kept so it keeps doubling across daemon restarts.
    #[serde(default)]
    pub restart_backoff_ms: u64,
}

impl Container {
    pub fn short_id(&self) -> &str {
        berth_types::id::short_id(&self.id)
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }
}

/// Condition variables for waiters: bumped on every exit and on removal.
#[derive(Debug, Clone, Default)]
pub struct WaitState {
    /// How many times the init has exited since the daemon started watching.
    pub exits: u64,
    pub running: bool,
    pub exit_code: i64,
    pub error: Option<String>,
    pub removed: bool,
}

/// An attach that arrived before the container started: connected to the shim right before the
/// init is let go, so not a byte of output is missed.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub deliver: tokio::sync::oneshot::Sender<tokio::net::UnixStream>,
}

/// A container in memory.
pub struct Entry {
    pub record: Mutex<Container>,
    /// Serialises lifecycle verbs on this container.
    pub op: tokio::sync::Mutex<()>,
    pub wait_tx: watch::Sender<WaitState>,
    pub pending_attaches: Mutex<Vec<PendingAttach>>,
    /// The healthcheck monitor and the pending automatic restart, if any.
    pub(crate) supervision: Mutex<restart::Supervision>,
}

impl Entry {
    pub fn new(c: Container) -> Arc<Entry> {
        let ws = WaitState {
            exits: 0,
            running: c.state.status.is_running(),
            exit_code: c.state.exit_code,
            error: None,
            removed: false,
        };
        Arc::new(Entry {
            record: Mutex::new(c),
            op: tokio::sync::Mutex::new(()),
            wait_tx: watch::channel(ws).0,
            pending_attaches: Mutex::new(Vec::new()),
            supervision: Mutex::new(restart::Supervision::default()),
        })
    }

    /// A copy of the current record.
    pub fn snapshot(&self) -> Container {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn id(&self) -> String {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .id
            .clone()
    }
}

/// All containers, by ID.
#[derive(Default)]
pub struct Registry {
    by_id: RwLock<HashMap<String, Arc<Entry>>>,
}

impl Registry {
    pub fn insert(&self, entry: Arc<Entry>) {
        let id = entry.id();
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, entry);
    }

    pub fn remove(&self, id: &str) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Docker's lookup order: full ID, exact name, unique ID prefix.
    pub fn lookup(&self, key: &str) -> Result<Arc<Entry>> {
        let key_trim = key.strip_prefix('/').unwrap_or(key);
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(key_trim) {
            return Ok(e.clone());
        }
        if let Some(e) = map
            .values()
            .find(|e| e.record.lock().unwrap_or_else(|p| p.into_inner()).name == key_trim)
        {
            return Ok(e.clone());
        }
        if !key_trim.is_empty() {
            let mut found = map.iter().filter(|(id, _)| id.starts_with(key_trim));
            if let Some((_, e)) = found.next() {
                if found.next().is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "multiple IDs found with provided prefix: {key_trim}"
                    )));
                }
                return Ok(e.clone());
            }
        }
        Err(Error::NoSuchContainer(key.to_owned()))
    }

    pub fn name_owner(&self, name: &str) -> Option<String> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .map(|e| e.record.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .find(|c| c.name == name)
            .map(|c| c.id)
    }
}

/// RFC 3339 with nanoseconds in UTC, as Docker prints times.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

pub fn parse_rfc3339(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Docker's zero time, printed for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Daemon {
    /// Where a container's durable files live: logs, hostname, hosts, resolv.conf.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    /// The bundle and shim state directory (on tmpfs under the exec root: nothing there survives
    /// a reboot, and nothing there needs to).
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("c").join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Writes the record to the database.
    pub fn persist(&self, c: &Container) -> Result<()> {
        let record = serde_json::to_string(c)
            .map_err(|e| Error::Internal(format!("encoding container record: {e}")))?;
        self.db.update_container_record(&c.id, &record)?;
        Ok(())
    }

    /// Applies `f` to the record, persists it, and returns the new copy.
    pub fn update(&self, entry: &Entry, f: impl FnOnce(&mut Container)) -> Result<Container> {
        let mut rec = entry.record.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = rec.clone();
        f(&mut next);
        self.persist(&next)?;
        *rec = next.clone();
        Ok(next)
    }

    pub fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: HashMap<String, String> = c.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.config.image.clone().unwrap_or_default());
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events.publish(
            berth_types::api::EventMessageTypeEnum::CONTAINER,
            action,
            &c.id,
            attrs,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_nanoseconds_and_parses_back() {
        let t = time::macros::datetime!(2026-11-22 07:34:38.000123456 UTC);
        let s = format_rfc3339(t);
        assert_eq!(s, "2026-11-22T07:34:38.000123456Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
    }
}
