#![recursion_limit = "256"]
//! The Berth daemon: the composition root.
//!
//! [`Daemon`] owns the configuration, the metadata database, the image store, the container
//! registry, exec instances and the event bus, and implements the Engine API's
//! [`berth_api::Backend`]. It never becomes the parent of a container process: each container
//! is run by its own detached shim (`berth shim`), so the daemon can be killed and restarted
//! while containers keep running — [`container::restore_all`] re-adopts them at start-up.
//!
//! Start-up ([`run`]): load the configuration → create the data and exec roots → take the
//! pidfile → open the database and the image store → restore containers → listen on every
//! `-H` socket (mode 0660) → serve until SIGTERM/SIGINT. Shutdown leaves containers running,
//! unless daemon.json turns `live-restore` off (see [`container`]'s `shutdown` module).

mod backend;
mod build;
pub mod config;
pub mod container;
mod distribution;
pub mod error;
pub mod events;
mod exe_guard;
mod images;
pub mod network;
mod rootfs;
mod system;
pub mod userns;
mod volumes;

use std::sync::{Arc, Weak};

pub use config::{DaemonConfig, Flags};
pub use error::{Error, Result};

use crate::container::exec::ExecTable;

pub struct Daemon {
    pub config: DaemonConfig,
    pub db: berth_metadata::Db,
    pub images: Arc<berth_image::ImageStore>,
    pub containers: container::Registry,
    pub volumes: Arc<berth_volume::VolumeStore>,
    pub networks: network::Networks,
    pub(crate) execs: ExecTable,
    pub events: events::EventBus,
    /// Pulls from registries (holds the downloads in flight, shared by concurrent pulls).
    pub(crate) puller: Arc<berth_distribution::Puller>,
    /// For tasks that outlive a request (monitors).
    pub(crate) me: Weak<Daemon>,
    pub(crate) started: time::OffsetDateTime,
    /// The read-only view of the berth binary that shims run from (CVE-2019-5736).
    pub(crate) shim_exe: exe_guard::ShimExe,
    /// Set once start-up recovery (containers re-adopted, networks reconciled) is over.
    /// Restarts scheduled during recovery wait for it, so that a restarted container's
    /// network is not mistaken for a leftover and torn down by the reconciliation.
    pub(crate) restored: tokio::sync::watch::Sender<bool>,
}

impl Daemon {
    /// Opens the stores under the configured roots and restores containers.
    pub async fn open(mut config: DaemonConfig) -> Result<Arc<Daemon>> {
        if let Some(remap) = config.userns_remap.clone() {
            // As dockerd: everything a remapped daemon keeps (images unpacked for this
            // mapping, containers, volumes) lives in a subtree of its own, so a restart with
            // another mapping (or none) never uses layers shifted for a different one.
            let map = userns::resolve(&remap)?;
            config.data_root = userns::prepare_root(&config.data_root, &map)?;
            tracing::info!(
                "userns-remap {remap}: container root is host {}:{}, data in {}",
                map.root().0,
                map.root().1,
                config.data_root.display()
            );
            config.id_map = Some(map);
        }
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
        }
        std::fs::create_dir_all(config.data_root.join("containers"))
            .map_err(Error::io("creating the containers directory"))?;
        let db = berth_metadata::Db::open(&config.data_root.join("berth.db"))?;
        let snapshots = berth_snapshot::open(&config.data_root, berth_snapshot::Backend::Auto)?;
        let images = Arc::new(
            berth_image::ImageStore::open(&config.data_root, db.clone(), snapshots)?
                .with_id_map(config.id_map.clone()),
        );
        build::recover(&config.data_root, &config.exec_root, &images)?;
        let volumes = Arc::new(
            berth_volume::VolumeStore::open(config.data_root.join("volumes"))?
                .with_data_owner(config.id_map.as_ref().map(|m| m.root())),
        );
        let networks = network::Networks::open(&config, &db)?;
        let shim_exe = exe_guard::protect(&config.berth_exe, &config.data_root)?;
        let puller = berth_distribution::Puller::new(
            berth_distribution::Client::new(config.registries.clone()),
            images.clone(),
        );
        let daemon = Arc::new_cyclic(|me| Daemon {
            puller,
            config,
            db,
            images,
            containers: container::Registry::default(),
            volumes,
            networks,
            execs: ExecTable::default(),
            events: events::EventBus::default(),
            me: me.clone(),
            started: time::OffsetDateTime::now_utc(),
            shim_exe,
            restored: tokio::sync::watch::channel(false).0,
        });
        container::restore_all(&daemon).await?;
        daemon.network_reconcile().await;
        daemon.restored.send_replace(true);
        Ok(daemon)
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: DaemonConfig) -> Result<()> {
    for key in &config.ignored_keys {
        tracing::warn!("daemon.json: {key} is accepted but not acted on by this version of Berth");
    }
    let sockets = config.unix_sockets()?;
    let pidfile = config.pidfile.clone();
    if let Some(p) = &pidfile {
        write_pidfile(p)?;
    }
    let daemon = Daemon::open(config).await?;
    let mut listeners = Vec::new();
    for path in &sockets {
        let l = berth_api::server::bind_unix(path)
            .map_err(Error::io(format!("listening on {}", path.display())))?;
        if let Some(gid) = berth_group_gid() {
            let _ = nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)));
        }
        listeners.push(l);
    }
    tracing::info!(
        "Berth daemon listening on {}",
        sockets
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = Vec::new();
    for l in listeners {
        let backend: Arc<dyn berth_api::Backend> = daemon.clone();
        let mut rx = stop_tx.subscribe();
        servers.push(tokio::spawn(berth_api::server::serve(
            l,
            backend,
            async move {
                let _ = rx.recv().await;
            },
        )));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Error::io("installing the SIGTERM handler"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = stop_tx.send(());
    for s in servers {
        let _ = s.await;
    }
    if daemon.config.live_restore {
        tracing::info!("shutting down; containers keep running");
    } else {
        tracing::info!("shutting down; stopping containers (live-restore is off)");
        daemon.stop_all_for_shutdown().await;
    }
    for path in &sockets {
        let _ = std::fs::remove_file(path);
    }
    daemon.shim_exe.release();
    if let Some(p) = pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// The gid of group `berth`, if the host has one: the socket is given to it (like `docker`).
/// Read from /etc/group directly: the binary is static, and glibc's NSS cannot be loaded into
/// a static program.
fn berth_group_gid() -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == "berth").then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Refuses to start when the pidfile names a live process, as dockerd does.
fn write_pidfile(path: &std::path::Path) -> Result<()> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            if pid > 0
                && pid as u32 != std::process::id()
                && std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                return Err(Error::Config(format!(
                    "pid file found, ensure berth is not running or delete {}",
                    path.display()
                )));
            }
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(Error::io(format!("creating {}", parent.display())))?;
    }
    container::files::write_atomic(path, format!("{}\n", std::process::id()).as_bytes())
}
