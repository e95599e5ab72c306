//! `start`: mount the rootfs, write the per-container files and the OCI bundle, spawn the
//! shim (which creates the container and waits), connect attaches that were waiting, then let
//! the init run.

use std::path::Path;
use std::sync::Arc;

use berth_api::backend::Changed;
use berth_runtime::spec::{BindMount, SpecInput};
use berth_shim::protocol::{LogOptions, RuntimeChoice, ShimErrorKind, ShimOptions};

use super::files::{hostname_file, hosts_file, resolv_conf, write_regenerated, DnsOverrides};
use super::{now_rfc3339, Container, Entry, Status};
use crate::config::BUILTIN_RUNTIME;
use crate::error::{Error, Result};
use crate::Daemon;

/// Default json-file rotation: a chatty container can never fill the disk (3 × 10 MiB).
const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
const DEFAULT_LOG_MAX_FILE: u32 = 3;

impl Daemon {
    pub async fn start_container(&self, key: &str) -> Result<Changed> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        match c.state.status {
            Status::Running | Status::Restarting => return Ok(Changed::AlreadyInState),
            Status::Paused => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::Conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ))
            }
            Status::Created | Status::Exited => {}
        }
        self.reset_restart_manager(&entry)?;
        match self.start_locked(&entry, &c).await {
            Ok(()) => Ok(Changed::Yes),
            Err(e) => {
                let message = e.to_string();
                let code = match &e {
                    Error::StartFailed(m)
                        if m.contains("executable file not found")
                            || m.contains("no such file or directory") =>
                    {
                        127
                    }
                    Error::StartFailed(m)
                        if m.contains("permission denied") || m.contains("is a directory") =>
                    {
                        126
                    }
                    _ => 128,
                };
                self.teardown_runtime(&c.id).await;
                let _ = self.update(&entry, |c| {
                    c.state.status =
                        if c.state.finished_at.is_empty() && c.state.started_at.is_empty() {
                            Status::Created
                        } else {
                            Status::Exited
                        };
                    c.state.exit_code = code;
                    c.state.error = message.clone();
                });
                if c.host_config.auto_remove == Some(true) {
                    // Docker removes an --rm container whose start failed.
                    let _ = self.remove_locked(&entry, true).await;
                }
                Err(e)
            }
        }
    }

    /// Starts the container; the caller holds the op lock.
    pub(crate) async fn start_locked(&self, entry: &Arc<Entry>, c: &Container) -> Result<()> {
        let state_dir = self.state_dir(&c.id);
        // Leftovers of an earlier run (a crash between mount and start) are cleared first.
        self.teardown_runtime(&c.id).await;
        std::fs::create_dir_all(&state_dir)
            .map_err(Error::io(format!("creating {}", state_dir.display())))?;
        let rootfs = state_dir.join("rootfs");
        std::fs::create_dir_all(&rootfs)
            .map_err(Error::io(format!("creating {}", rootfs.display())))?;

        let images = self.images.clone();
        let (cid, target) = (c.id.clone(), rootfs.clone());
        let discardable = c.host_config.auto_remove == Some(true);
        let mount = async move {
            tokio::task::spawn_blocking(move || {
                if discardable {
                    crate::rootfs::mount_discardable(&images, &cid, &target)
                } else {
                    crate::rootfs::mount(&images, &cid, &target)
                }
            })
            .await
            .map_err(|e| Error::Internal(format!("mount task: {e}")))?
        };
        // Independent of each other: the rootfs is mounted while the network namespace is
        // made and plugged. Whatever one did when the other failed is undone by the caller's
        // teardown, as for any failed start.
        let (mounted, net) = tokio::join!(mount, self.network_setup(entry, c));
        mounted?;
        let net = net?;
        let mut spec_input = self.spec_input(c, &rootfs, &net)?;
        spec_input.extra_mounts = self
            .prepare_mounts(c, &rootfs, spec_input.uid, spec_input.gid)
            .await?;
        let mut spec = berth_runtime::spec::build_spec(&spec_input)?;
        if c.runtime == BUILTIN_RUNTIME {
            super::mounts::adapt_spec_for_builtin(&mut spec);
        }
        berth_runtime::spec::write_spec(&state_dir, &spec)?;

        let (max_size, max_file) = self.log_rotation(c)?;
        let runtime = if c.runtime == BUILTIN_RUNTIME {
            RuntimeChoice::Builtin
        } else {
            let rc = self.config.runtimes.get(&c.runtime).ok_or_else(|| {
                Error::InvalidArgument(format!("unknown or invalid runtime name: {}", c.runtime))
            })?;
            RuntimeChoice::External {
                path: rc.path.clone(),
                args: rc.runtime_args.clone(),
            }
        };
        let options = ShimOptions {
            id: c.id.clone(),
            bundle: state_dir.clone(),
            runtime,
            runtime_root: self.config.exec_root.join("runtime"),
            tty: c.tty(),
            open_stdin: c.config.open_stdin.unwrap_or(false),
            stdin_once: c.config.stdin_once.unwrap_or(false),
            log: LogOptions {
                path: self.log_path(&c.id),
                max_size,
                max_file,
            },
        };
        let options_json =
            serde_json::to_vec_pretty(&options).map_err(|e| Error::Internal(e.to_string()))?;
        write_regenerated(
            &state_dir.join(berth_shim::protocol::OPTIONS_FILE),
            &options_json,
        )?;

        // The log exists before the process does, so a `logs -f` that starts right away has a
        // file to hold on to.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let log = self.log_path(&c.id);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(&log)
                .map_err(Error::io(format!("creating {}", log.display())))?;
        }
        let exe = self.shim_exe.path.clone();
        let dir = state_dir.clone();
        tokio::task::spawn_blocking(move || berth_shim::client::spawn(&exe, &dir))
            .await
            .map_err(|e| Error::Internal(format!("shim spawn task: {e}")))?
            .map_err(|e| match e.shim_error() {
                Some(se) => match se.kind {
                    ShimErrorKind::CommandNotFound
                    | ShimErrorKind::CommandNotInvokable
                    | ShimErrorKind::Runtime => Error::StartFailed(docker_start_error(&se.message)),
                    _ => Error::Shim(se.message.clone()),
                },
                None => Error::Shim(format!("starting shim: {e}")),
            })?;

        let shim = berth_shim::client::ShimClient::new(&state_dir);
        // Attaches that arrived while the container was only created are connected now, so
        // they see the very first byte of output.
        let pending: Vec<_> = std::mem::take(
            &mut *entry
                .pending_attaches
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for p in pending {
            match shim.attach(p.stdin, p.stdout, p.stderr).await {
                Ok(stream) => {
                    let _ = p.deliver.send(stream);
                }
                Err(e) => tracing::warn!("connecting a waiting attach of {}: {e}", c.id),
            }
        }
        let pid = shim.start().await.map_err(|e| match e.shim_error() {
            Some(se) => Error::StartFailed(docker_start_error(&se.message)),
            None => Error::Shim(format!("starting container: {e}")),
        })?;

        let started = self.update(entry, |c| {
            c.state.status = Status::Running;
            c.state.pid = pid as i64;
            c.state.exit_code = 0;
            c.state.error.clear();
            c.state.oom_killed = false;
            c.state.started_at = now_rfc3339();
            c.state.finished_at.clear();
            // Copy-up happens once, into the volume as it was first mounted.
            for m in &mut c.mount_points {
                m.copy_data = false;
            }
        })?;
        entry.wait_tx.send_modify(|w| w.running = true);
        self.container_event(&started, "start", &[]);
        self.spawn_monitor(entry.clone());
        self.start_health_monitor(entry, true);
        Ok(())
    }

    /// The runtime spec's input for container `c` whose rootfs is mounted at `rootfs`.
    fn spec_input(
        &self,
        c: &Container,
        rootfs: &Path,
        net: &crate::network::Setup,
    ) -> Result<SpecInput> {
        let mut args = vec![c.path.clone()];
        args.extend(c.args.iter().cloned());
        let mut input = SpecInput::new(c.id.clone(), args, rootfs);
        let hc = &c.host_config;
        let user = c.config.user.clone().unwrap_or_default();
        let exec_user = berth_runtime::user::resolve_user(
            rootfs,
            &user,
            hc.group_add.as_deref().unwrap_or(&[]),
        )?;
        input.uid = exec_user.uid;
        input.gid = exec_user.gid;
        input.additional_gids = exec_user.additional_gids;
        input.home = exec_user.home;
        let linked = self.linked_hosts(c)?;
        input.env = c.config.env.clone().unwrap_or_default();
        // Link variables come first and yield to the container's own (Docker's order).
        let own: Vec<&str> = input
            .env
            .iter()
            .map(|v| v.split_once('=').map_or(v.as_str(), |(k, _)| k))
            .collect();
        let link_env: Vec<String> = linked
            .env
            .iter()
            .filter(|v| !own.contains(&v.split_once('=').map_or(v.as_str(), |(k, _)| k)))
            .cloned()
            .collect();
        input.env.splice(0..0, link_env);
        input.cwd = c
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        input.hostname = c.config.hostname.clone().unwrap_or_default();
        input.domainname = c.config.domainname.clone().unwrap_or_default();
        input.tty = c.tty();
        input.readonly_rootfs = hc.readonly_rootfs.unwrap_or(false);
        input.privileged = hc.privileged.unwrap_or(false);
        input.cap_add = hc.cap_add.clone().unwrap_or_default();
        input.cap_drop = hc.cap_drop.clone().unwrap_or_default();
        input.resources = super::limits::resources(hc);
        input.devices = super::limits::devices(hc);
        input.cgroupns_private = super::limits::cgroupns_private(hc);
        if let Some(shm) = hc.shm_size.filter(|s| *s > 0) {
            input.shm_size = shm as u64;
        }
        input.oom_score_adj = hc.oom_score_adj.map(|v| v as i32);
        let security = super::limits::security(hc)?;
        input.no_new_privileges = security.no_new_privileges;
        input.seccomp = security.seccomp;
        input.cgroup_parent = super::limits::cgroup_parent(hc);
        input.rlimits = super::limits::rlimits(hc);
        input.rlimit_policy = berth_runtime::spec::RlimitPolicy::Error;
        if hc.init == Some(true) {
            input.init_binary = Some(self.config.berth_exe.clone());
        }
        let network_host = hc.network_mode.as_deref() == Some("host");
        input.network = net.mode.clone();
        input.userns = self.container_id_map(c);
        input.annotations.insert(
            "org.opencontainers.image.ref.name".into(),
            c.config.image.clone().unwrap_or_default(),
        );

        // /etc/hostname, /etc/hosts, /etc/resolv.conf: Docker's files, owned by the daemon.
        let dir = self.container_dir(&c.id);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        write_regenerated(
            &dir.join("hostname"),
            hostname_file(&input.hostname).as_bytes(),
        )?;
        write_regenerated(
            &dir.join("hosts"),
            hosts_file(
                &input.hostname,
                &input.domainname,
                network_host,
                net.ip,
                &[self.extra_hosts(hc)?, linked.hosts].concat(),
            )
            .as_bytes(),
        )?;
        write_regenerated(
            &dir.join("resolv.conf"),
            resolv_conf(
                &host_resolv,
                network_host,
                net.embedded_dns,
                &DnsOverrides {
                    servers: hc.dns.clone().unwrap_or_default(),
                    search: hc.dns_search.clone().unwrap_or_default(),
                    options: hc.dns_options.clone().unwrap_or_default(),
                },
            )
            .as_bytes(),
        )?;
        if let Some(map) = &input.userns {
            // Root in the container may edit them, as with dockerd.
            let (uid, gid) = map.root();
            for file in ["hostname", "hosts", "resolv.conf"] {
                let p = dir.join(file);
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                    .map_err(Error::io(format!("chown {}", p.display())))?;
            }
        }
        for (file, dest) in [
            ("resolv.conf", "/etc/resolv.conf"),
            ("hostname", "/etc/hostname"),
            ("hosts", "/etc/hosts"),
        ] {
            // The image may make these symlinks to anywhere (CVE-2021-30465): mount on the
            // file they lead to inside the root.
            let destination = berth_runtime::mount_target::resolve_file_target(rootfs, dest)?;
            input.mounts.push(BindMount {
                source: dir.join(file),
                destination,
                readonly: false,
            });
        }
        Ok(input)
    }

    fn log_rotation(&self, c: &Container) -> Result<(u64, u32)> {
        let opts = c
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.config.clone())
            .unwrap_or_default();
        let get = |k: &str| {
            opts.get(k)
                .cloned()
                .or_else(|| self.config.log_opts.get(k).cloned())
        };
        let max_size = match get("max-size") {
            Some(v) => super::create::parse_size(&v)?,
            None => DEFAULT_LOG_MAX_SIZE,
        };
        let max_file = match get("max-file") {
            Some(v) => v
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("invalid value for max-file: {v}")))?,
            None => DEFAULT_LOG_MAX_FILE,
        };
        Ok((max_size, max_file.max(1)))
    }

    /// Stops any shim left for `id`, unmounts its rootfs and removes its state directory. Safe
    /// to call when nothing is there.
    pub(crate) async fn teardown_runtime(&self, id: &str) {
        // Independent resources, released side by side: the network namespace and its
        // interfaces, and the shim, rootfs and volumes.
        tokio::join!(self.network_teardown(id), self.teardown_state(id));
    }

    async fn teardown_state(&self, id: &str) {
        let state_dir = self.state_dir(id);
        if !state_dir.exists() {
            return;
        }
        let shim = berth_shim::client::ShimClient::new(&state_dir);
        if state_dir.join(berth_shim::protocol::SOCKET_FILE).exists() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), shim.shutdown()).await;
        }
        let rootfs = state_dir.join("rootfs");
        let _ = tokio::task::spawn_blocking(move || crate::rootfs::unmount(&rootfs)).await;
        self.release_volumes(id);
        if let Err(e) = std::fs::remove_dir_all(&state_dir) {
            tracing::warn!("removing {}: {e}", state_dir.display());
        }
    }
}

/// Docker's wording for a failed start, which clients parse for 126/127.
fn docker_start_error(runtime_message: &str) -> String {
    format!("failed to create task for container: OCI runtime create failed: unable to start container process: {runtime_message}: unknown")
}
