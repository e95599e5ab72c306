//! `version`, `info`, `events`.

use berth_api::backend::EventsOptions;
use berth_types::api::{EventMessage, SystemVersion};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::container::Status;
use crate::Daemon;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// `cgroup2` when /sys/fs/cgroup is a unified hierarchy, else `cgroupfs` v1 (hybrid hosts
/// count as v1, as Docker reports them).
fn cgroup_version() -> &'static str {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "2",
        _ => "1",
    }
}

impl Daemon {
    pub fn system_version(&self) -> SystemVersion {
        serde_json::from_value(json!({
            "Platform": {"Name": "Berth Engine"},
            "Components": [{"Name": "Engine", "Version": VERSION, "Details": {
                "ApiVersion": berth_types::API_VERSION,
                "MinAPIVersion": berth_types::MIN_API_VERSION,
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel_version(),
            }}],
            "Version": VERSION,
            "ApiVersion": berth_types::API_VERSION,
            "MinAPIVersion": berth_types::MIN_API_VERSION,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
            "GoVersion": "n/a (Rust)",
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": kernel_version(),
            "BuildTime": "",
        }))
        .unwrap_or_default()
    }

    pub fn system_info(&self) -> Value {
        let all: Vec<_> = self.containers.all().iter().map(|e| e.snapshot()).collect();
        let count = |s: Status| all.iter().filter(|c| c.state.status == s).count();
        let running = count(Status::Running) + count(Status::Restarting);
        let paused = count(Status::Paused);
        let images = self.images.list().map(|l| l.len()).unwrap_or(0);
        let uts = nix::sys::utsname::uname().ok();
        let hostname = uts
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default();
        let mem_total = nix::sys::sysinfo::sysinfo()
            .map(|s| s.ram_total())
            .unwrap_or(0);
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let os_name = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("PRETTY_NAME=")
                        .map(|v| v.trim_matches('"').to_owned())
                })
            })
            .unwrap_or_else(|| "Linux".into());
        let mut runtimes = serde_json::Map::new();
        runtimes.insert(
            crate::config::BUILTIN_RUNTIME.into(),
            json!({"path": self.config.berth_exe, "runtimeArgs": []}),
        );
        for (name, rc) in &self.config.runtimes {
            runtimes.insert(
                name.clone(),
                json!({"path": rc.path, "runtimeArgs": rc.runtime_args}),
            );
        }
        let now = time::OffsetDateTime::now_utc();
        json!({
            "ID": self.daemon_id(),
            "Containers": all.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": all.len() - running - paused,
            "Images": images,
            "Driver": self.images.snapshotter().driver_name(),
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": [], "Network": ["host", "null"], "Authorization": Value::Null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "KernelMemoryTCP": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").map(|s| s.trim() == "1").unwrap_or(false),
            "BridgeNfIptables": false,
            "BridgeNfIp6tables": false,
            "Debug": self.config.log_level == "debug",
            "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
            "OomKillDisable": false,
            "NGoroutines": 0,
            "SystemTime": crate::container::format_rfc3339(now),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version(),
            "NEventsListener": 0,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os_name,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [], "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": {}, "Mirrors": []},
            "NCPU": ncpu,
            "MemTotal": mem_total,
            "GenericResources": Value::Null,
            "DockerRootDir": self.config.data_root,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": VERSION,
            "Runtimes": runtimes,
            "DefaultRuntime": self.config.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": Value::Null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": if self.config.id_map.is_some() {
                // dockerd lists `name=userns` when remapping.
                json!(["name=seccomp,profile=builtin", "name=userns"])
            } else {
                json!(["name=seccomp,profile=builtin"])
            },
            "CDISpecDirs": [],
            "Warnings": Value::Null,
            "Uptime": (now - self.started).whole_seconds(),
        })
    }

    /// A stable identity for this daemon, kept in the data root.
    fn daemon_id(&self) -> String {
        let path = self.config.data_root.join("engine-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            return id.trim().to_owned();
        }
        let id = berth_types::id::generate_id();
        let _ = crate::container::files::write_atomic(&path, id.as_bytes());
        id
    }

    pub fn event_stream(&self, opts: EventsOptions) -> BoxStream<'static, EventMessage> {
        let (past, rx) = self.events.subscribe(opts.since);
        let filters = opts.filters.clone();
        let until_ns = opts.until.map(|u| (u * 1e9) as i64);
        let in_window =
            move |e: &EventMessage| until_ns.is_none_or(|u| e.time_nano.unwrap_or(0) <= u);
        let f1 = filters.clone();
        let history = futures_util::stream::iter(
            past.into_iter()
                .filter(move |e| crate::events::matches(e, &f1) && in_window(e)),
        );
        let live = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => return Some((ev, rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| std::future::ready(crate::events::matches(e, &filters)));
        match until_ns {
            Some(u) if u <= time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 => {
                history.boxed()
            }
            Some(u) => {
                let deadline = std::time::Duration::from_nanos(
                    (u - time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64).max(0)
                        as u64,
                );
                let live = live.take_until(tokio::time::sleep(deadline));
                history.chain(live).boxed()
            }
            None => history.chain(live).boxed(),
        }
    }
}
