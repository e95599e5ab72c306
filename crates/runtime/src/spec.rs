//! OCI runtime spec generation: Docker's defaults (capabilities, masked and read-only paths, the
//! standard `/proc`, `/dev`, `/sys` mounts, device cgroup rules) applied to one container's
//! configuration, described by [`SpecInput`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::error::RuntimeError;

/// Docker's default capability set for unprivileged containers.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows of (as of 6.x), in the kernel's numbering order, for `ALL`
/// and `--privileged`.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths Docker hides from unprivileged containers (a `/dev/null` bind or an empty tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in unprivileged containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where the daemon bind-mounts the init binary for `--init`, as Docker does.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The network namespace of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A new network namespace with only `lo` (up). The network crate adds interfaces later.
    #[default]
    New,
    /// `--network none`: a new namespace with only `lo`; same spec as `New`.
    None,
    /// `--network host`: no network namespace, the host's network.
    Host,
    /// Join an existing namespace by path (`container:<id>` → `/proc/<pid>/ns/net`, or a
    /// bind-mounted netns file).
    Join(PathBuf),
}

/// A bind mount the daemon prepared (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, volumes,
/// the init binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Host path (absolute).
    pub source: PathBuf,
    /// Path inside the container (absolute).
    pub destination: String,
    /// Mount read-only.
    pub readonly: bool,
}

/// A volume, bind or tmpfs mount of the container's configuration, passed to the runtime as
/// given: the daemon has already resolved `destination` inside the rootfs (no symlinks left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub destination: String,
    /// `bind` or `tmpfs`.
    pub typ: String,
    pub source: String,
    /// OCI mount options (`rbind`, `rprivate`, `ro`, `size=…`).
    pub options: Vec<String>,
}

/// One `--ulimit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// Docker's name: `nofile`, `nproc`, `core`, `memlock`, `stack`, ... (without `RLIMIT_`).
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// What to do with an rlimit above the host's hard limit (we lack CAP_SYS_RESOURCE, so the
/// runtime's setrlimit would fail at start with an obscure error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RlimitPolicy {
    /// Lower soft and hard to the host's hard limit.
    #[default]
    Clamp,
    /// Refuse with [`RuntimeError::RlimitTooHigh`].
    Error,
}

/// The seccomp filter of a container.
#[derive(Debug, Clone, Default)]
pub enum Seccomp {
    /// Docker's default profile ([`crate::seccomp_default`]).
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// A profile in Docker's format (`seccomp=<file>`; the client sends the file's content).
    Profile(crate::seccomp::Profile),
}

/// Everything that varies between containers. Build one with `SpecInput::new` and set what the
/// container config asks for; [`build_spec`] adds Docker's defaults around it.
#[derive(Debug, Clone)]
pub struct SpecInput {
    /// The container ID; also names the cgroup (`<cgroup_parent>/<id>`).
    pub id: String,
    /// The command: entrypoint + cmd, already combined. Must not be empty.
    pub args: Vec<String>,
    /// `KEY=value` entries; the image's env merged with the container's. A `PATH` is added
    /// (Docker's default) when missing, and `HOSTNAME` and `HOME` likewise.
    pub env: Vec<String>,
    /// Working directory inside the container (absolute); empty means `/`.
    pub cwd: String,
    /// Resolved user (see [`crate::user::resolve_user`]).
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from `/etc/group` membership and `--group-add`).
    pub additional_gids: Vec<u32>,
    /// The user's home, for `HOME` when the env does not set it.
    pub home: String,
    /// UTS hostname (ignored with `NetworkMode::Host`, like Docker, which keeps the host's UTS
    /// namespace in that case only when asked; we always give a UTS namespace).
    pub hostname: String,
    /// NIS domain name (`--domainname`), empty for none.
    pub domainname: String,
    /// Allocate a PTY for the process (`-t`).
    pub tty: bool,
    /// The rootfs path (the snapshot's mounted merged dir), absolute.
    pub rootfs: PathBuf,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// Bind mounts from the host, in order (later ones may stack on earlier ones).
    pub mounts: Vec<BindMount>,
    /// Volumes, binds and tmpfs mounts, after `mounts`; one at the destination of a default
    /// mount (`/dev/shm`, `/etc/hosts`, …) replaces it, as in Docker.
    pub extra_mounts: Vec<MountEntry>,
    /// Network namespace choice.
    pub network: NetworkMode,
    /// `--pid host`: share the host's pid namespace.
    pub host_pid: bool,
    /// `--ipc host`: share the host's IPC namespace.
    pub host_ipc: bool,
    /// `--cap-add` (`NET_ADMIN`, `CAP_NET_ADMIN`, `all`, any case).
    pub cap_add: Vec<String>,
    /// `--cap-drop` (same forms; `ALL` drops everything not added back).
    pub cap_drop: Vec<String>,
    /// `--privileged`: all capabilities, no masked or read-only paths, `/sys` writable, every
    /// device allowed by the device cgroup.
    pub privileged: bool,
    /// `--ulimit` entries.
    pub rlimits: Vec<Rlimit>,
    /// What to do with rlimits above the host's hard limit.
    pub rlimit_policy: RlimitPolicy,
    /// The cgroup parent (absolute cgroup path), `/berth` by default.
    pub cgroup_parent: String,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--shm-size` in bytes (Docker's default 64 MiB).
    pub shm_size: u64,
    /// `--sysctl` entries (namespaced ones only; the runtime refuses others).
    pub sysctls: BTreeMap<String, String>,
    /// `--init`: the host path of the init binary (the berth executable itself). It is
    /// bind-mounted read-only at [`INIT_PATH`] and the command becomes
    /// `/sbin/docker-init -- <args>`; the binary dispatches on `argv[0] == "docker-init"`.
    pub init_binary: Option<PathBuf>,
    /// Resource limits (`--memory`, `--cpus`, `--pids-limit`, blkio...).
    pub resources: crate::resources::Resources,
    /// `--device` requests (`--privileged` gets every host device regardless).
    pub devices: Vec<crate::devices::DeviceRequest>,
    /// `--security-opt seccomp=...`; ignored with `--privileged` (no seccomp, like Docker).
    pub seccomp: Seccomp,
    /// `--cgroupns`: `Some(true)` private, `Some(false)` host, `None` Docker's default
    /// (private on a cgroup v2 host, host otherwise).
    pub cgroupns_private: Option<bool>,
    /// OCI annotations.
    pub annotations: BTreeMap<String, String>,
    /// `--userns-remap`: run in a new user namespace with these mappings (see
    /// [`crate::userns`]).
    pub userns: Option<berth_types::idmap::IdMap>,
}

impl SpecInput {
    /// A spec input with Docker's defaults: root user, `/`, new network namespace, 64 MiB
    /// `/dev/shm`, cgroup parent `/berth`.
    pub fn new(id: impl Into<String>, args: Vec<String>, rootfs: impl Into<PathBuf>) -> Self {
        SpecInput {
            id: id.into(),
            args,
            env: Vec::new(),
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/root".into(),
            hostname: String::new(),
            domainname: String::new(),
            tty: false,
            rootfs: rootfs.into(),
            readonly_rootfs: false,
            mounts: Vec::new(),
            extra_mounts: Vec::new(),
            network: NetworkMode::New,
            host_pid: false,
            host_ipc: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            rlimits: Vec::new(),
            rlimit_policy: RlimitPolicy::Clamp,
            cgroup_parent: "/berth".into(),
            no_new_privileges: false,
            oom_score_adj: None,
            shm_size: 64 * 1024 * 1024,
            sysctls: BTreeMap::new(),
            init_binary: None,
            resources: Default::default(),
            devices: Vec::new(),
            seccomp: Seccomp::Default,
            cgroupns_private: None,
            annotations: BTreeMap::new(),
            userns: None,
        }
    }
}

/// Docker's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Normalise a capability name the way Docker accepts it: any case, with or without `CAP_`.
pub fn normalize_capability(name: &str) -> Result<String, RuntimeError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "unknown capability: {name:?}"
        )))
    }
}

/// The capabilities this process may hand on (its bounding set). Like Docker, `ALL` and
/// `--privileged` mean every capability *available here*: a runtime cannot raise one the host
/// withheld (e.g. CAP_SYS_RESOURCE in some sandboxes), and asking fails the start.
pub fn available_capabilities() -> Vec<String> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .filter(|c| cap_number(c).is_some_and(|n| mask & (1u64 << n) != 0))
        .map(|s| s.to_string())
        .collect()
}

/// The kernel's number of a capability (its bit in the masks): [`ALL_CAPABILITIES`] is in
/// the kernel's order.
fn cap_number(name: &str) -> Option<u32> {
    ALL_CAPABILITIES
        .iter()
        .position(|c| *c == name)
        .map(|p| p as u32)
}

/// The capability set after Docker's rules: start from the defaults (or all when privileged),
/// drop `cap_drop` (`ALL` empties the set), then add `cap_add` (`ALL` adds everything).
pub fn capabilities(input: &SpecInput) -> Result<Vec<String>, RuntimeError> {
    let available = available_capabilities();
    if input.privileged {
        return Ok(available);
    }
    let adds = input
        .cap_add
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = input
        .cap_drop
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut caps: Vec<String> = if drops.iter().any(|d| d == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    if adds.iter().any(|a| a == "ALL") {
        return Ok(available);
    }
    for a in adds {
        if !available.contains(&a) {
            return Err(RuntimeError::InvalidSpec(format!(
                "capability {a} is not available on this host (it is not in the daemon's bounding set)"
            )));
        }
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    caps.retain(|c| available.contains(c));
    Ok(caps)
}

fn rlimit_resource(name: &str) -> Option<(&'static str, nix::sys::resource::Resource)> {
    use nix::sys::resource::Resource as R;
    Some(match name {
        "core" => ("RLIMIT_CORE", R::RLIMIT_CORE),
        "cpu" => ("RLIMIT_CPU", R::RLIMIT_CPU),
        "data" => ("RLIMIT_DATA", R::RLIMIT_DATA),
        "fsize" => ("RLIMIT_FSIZE", R::RLIMIT_FSIZE),
        "locks" => ("RLIMIT_LOCKS", R::RLIMIT_LOCKS),
        "memlock" => ("RLIMIT_MEMLOCK", R::RLIMIT_MEMLOCK),
        "msgqueue" => ("RLIMIT_MSGQUEUE", R::RLIMIT_MSGQUEUE),
        "nice" => ("RLIMIT_NICE", R::RLIMIT_NICE),
        "nofile" => ("RLIMIT_NOFILE", R::RLIMIT_NOFILE),
        "nproc" => ("RLIMIT_NPROC", R::RLIMIT_NPROC),
        "rss" => ("RLIMIT_RSS", R::RLIMIT_RSS),
        "rtprio" => ("RLIMIT_RTPRIO", R::RLIMIT_RTPRIO),
        "rttime" => ("RLIMIT_RTTIME", R::RLIMIT_RTTIME),
        "sigpending" => ("RLIMIT_SIGPENDING", R::RLIMIT_SIGPENDING),
        "stack" => ("RLIMIT_STACK", R::RLIMIT_STACK),
        "as" => ("RLIMIT_AS", R::RLIMIT_AS),
        _ => return None,
    })
}

/// The rlimits for the spec, checked against this host's current hard limits.
pub fn rlimits(input: &SpecInput) -> Result<Vec<Value>, RuntimeError> {
    let mut out = Vec::new();
    for r in &input.rlimits {
        let (oci, res) = rlimit_resource(&r.name.to_ascii_lowercase())
            .ok_or_else(|| RuntimeError::InvalidSpec(format!("invalid ulimit type: {}", r.name)))?;
        if r.soft > r.hard {
            return Err(RuntimeError::InvalidSpec(format!(
                "ulimit soft limit must be less than hard limit: {} > {}",
                r.soft, r.hard
            )));
        }
        let (_, host_hard) = nix::sys::resource::getrlimit(res)
            .map_err(|e| RuntimeError::io("getrlimit", e.into()))?;
        let (mut soft, mut hard) = (r.soft, r.hard);
        if hard > host_hard {
            match input.rlimit_policy {
                RlimitPolicy::Clamp => {
                    hard = host_hard;
                    soft = soft.min(host_hard);
                }
                RlimitPolicy::Error => {
                    return Err(RuntimeError::RlimitTooHigh {
                        name: r.name.clone(),
                        requested: r.hard,
                        host_hard,
                    })
                }
            }
        }
        out.push(json!({"type": oci, "soft": soft, "hard": hard}));
    }
    Ok(out)
}

fn check_abs(what: &str, p: &str) -> Result<(), RuntimeError> {
    if !p.starts_with('/') {
        return Err(RuntimeError::InvalidSpec(format!(
            "{what} must be an absolute path: {p:?}"
        )));
    }
    Ok(())
}

/// Build the OCI spec (what goes into the bundle's `config.json`).
pub fn build_spec(input: &SpecInput) -> Result<Spec, RuntimeError> {
    let value = build_spec_value(input)?;
    serde_json::from_value(value)
        .map_err(|e| RuntimeError::InvalidSpec(format!("generated spec does not parse: {e}")))
}

/// Write `spec` as `<bundle>/config.json` durably (temp, fsync, rename).
pub fn write_spec(bundle: &std::path::Path, spec: &Spec) -> Result<(), RuntimeError> {
    let bytes = serde_json::to_vec_pretty(spec)
        .map_err(|e| RuntimeError::InvalidSpec(format!("spec does not serialise: {e}")))?;
    crate::durable_write(&bundle.join("config.json"), &bytes)
}

fn build_spec_value(input: &SpecInput) -> Result<Value, RuntimeError> {
    if input.args.is_empty() {
        return Err(RuntimeError::InvalidSpec("no command specified".into()));
    }
    if input.id.is_empty() || input.id.contains('/') || input.id.starts_with('.') {
        return Err(RuntimeError::InvalidSpec(format!(
            "invalid container id {:?}",
            input.id
        )));
    }
    let cwd = if input.cwd.is_empty() {
        "/"
    } else {
        input.cwd.as_str()
    };
    check_abs("working directory", cwd)?;
    if !input.rootfs.is_absolute() {
        return Err(RuntimeError::InvalidSpec(
            "rootfs must be an absolute path".into(),
        ));
    }
    check_abs("cgroup parent", &input.cgroup_parent)?;

    let mut env = input.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") && !input.hostname.is_empty() {
        env.push(format!("HOSTNAME={}", input.hostname));
    }
    if !has(&env, "HOME") {
        env.push(format!(
            "HOME={}",
            if input.home.is_empty() {
                "/"
            } else {
                &input.home
            }
        ));
    }
    if input.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }

    let mut args = input.args.clone();
    let mut mounts = default_mounts(input);
    if let Some(init) = &input.init_binary {
        mounts.push(json!({
            "destination": INIT_PATH, "type": "bind", "source": init,
            "options": ["rbind", "ro", "nosuid", "nodev"],
        }));
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    for m in &input.mounts {
        check_abs("mount destination", &m.destination)?;
        if !m.source.is_absolute() {
            return Err(RuntimeError::InvalidSpec(format!(
                "mount source must be an absolute path: {}",
                m.source.display()
            )));
        }
        let mut opts = vec!["rbind", "rprivate"];
        opts.push(if m.readonly { "ro" } else { "rw" });
        mounts.push(json!({
            "destination": m.destination, "type": "bind", "source": m.source, "options": opts,
        }));
    }
    let mut rootfs_propagation = None;
    for m in &input.extra_mounts {
        check_abs("mount destination", &m.destination)?;
        mounts.retain(|d| d["destination"] != json!(m.destination));
        mounts.push(json!({
            "destination": m.destination, "type": m.typ, "source": m.source, "options": m.options,
        }));
        // A shared bind needs a shared root to carry events out (Docker's rule). A slave one
        // needs a slave root: what both runtimes do by default (runc: MS_SLAVE|MS_REC when
        // unset; libcontainer, which knows no `r` spellings, likewise), so it is left unset.
        if m.options.iter().any(|o| o == "shared" || o == "rshared") {
            rootfs_propagation = Some("rshared");
        }
    }

    let caps = capabilities(input)?;
    let mut process = json!({
        "terminal": input.tty,
        "user": {
            "uid": input.uid,
            "gid": input.gid,
            "additionalGids": input.additional_gids,
        },
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": rlimits(input)?,
    });
    // Only when set: libcontainer 0.7 tests the field's presence, not its value, to decide
    // whether seccomp loads before capabilities are dropped (without no_new_privs, loading
    // needs CAP_SYS_ADMIN, which is gone afterwards).
    if input.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(adj) = input.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(RuntimeError::InvalidSpec(format!(
                "invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
        process["oomScoreAdj"] = json!(adj);
    }

    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "uts"})];
    if !input.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    if !input.host_ipc {
        namespaces.push(json!({"type": "ipc"}));
    }
    if !input.privileged && input.cgroupns_private.unwrap_or_else(cgroupns_supported) {
        namespaces.push(json!({"type": "cgroup"}));
    }
    match &input.network {
        NetworkMode::New | NetworkMode::None => namespaces.push(json!({"type": "network"})),
        NetworkMode::Host => {}
        NetworkMode::Join(path) => {
            if !path.is_absolute() {
                return Err(RuntimeError::InvalidSpec(
                    "netns path must be absolute".into(),
                ));
            }
            namespaces.push(json!({"type": "network", "path": path}))
        }
    }

    let (linux_devices, device_rules) = if input.privileged {
        // Every host device node, created in the container's /dev, as Docker does.
        let host = crate::devices::devices_under(std::path::Path::new("/dev"));
        (
            host.iter().map(|d| d.oci_device(&d.path)).collect(),
            vec![json!({"allow": true, "access": "rwm"})],
        )
    } else {
        let (devs, mut rules) = crate::devices::resolve(&input.devices)?;
        let mut all = default_device_rules();
        all.append(&mut rules);
        (devs, all)
    };
    let mut resources = json!({ "devices": device_rules });
    for (k, v) in input.resources.to_oci()? {
        resources[k] = v;
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("{}/{}", input.cgroup_parent.trim_end_matches('/'), input.id),
        "sysctl": input.sysctls,
    });
    if let Some(p) = rootfs_propagation {
        linux["rootfsPropagation"] = json!(p);
    }
    if !linux_devices.is_empty() {
        linux["devices"] = json!(linux_devices);
    }
    if !input.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        let profile = match &input.seccomp {
            Seccomp::Default => Some(crate::seccomp_default::profile()),
            Seccomp::Unconfined => None,
            Seccomp::Profile(p) => Some(p.clone()),
        };
        if let Some(p) = profile {
            linux["seccomp"] = crate::seccomp::render(&p, &caps, crate::seccomp::kernel_version())?;
        }
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": input.rootfs, "readonly": input.readonly_rootfs },
        "hostname": input.hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": input.annotations,
    });
    if !input.domainname.is_empty() {
        spec["domainname"] = json!(input.domainname);
    }
    if let Some(map) = &input.userns {
        crate::userns::apply(&mut spec, map);
    }
    Ok(spec)
}

/// What `docker exec` varies; the rest of an exec process comes from the container's spec.
#[derive(Debug, Clone, Default)]
pub struct ExecInput {
    /// The command (must not be empty).
    pub args: Vec<String>,
    /// `KEY=value` entries added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Working directory; empty = the container's.
    pub cwd: String,
    /// `--user`, resolved with [`crate::user::resolve_user`]; `None` = the container's user.
    pub user: Option<crate::user::ExecUser>,
    /// `-t`.
    pub tty: bool,
    /// `--privileged`: every capability.
    pub privileged: bool,
}

/// The OCI `Process` of an exec in a container created from `container` (its `config.json`):
/// capabilities, rlimits, `noNewPrivileges`, apparmor and oom score are inherited, as Docker
/// does; a process without capabilities would run as a powerless root.
pub fn exec_process(
    container: &Spec,
    exec: &ExecInput,
) -> Result<oci_spec::runtime::Process, RuntimeError> {
    if exec.args.is_empty() {
        return Err(RuntimeError::InvalidSpec("no command specified".into()));
    }
    let base = container
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("container spec has no process".into()))?;
    let mut v = serde_json::to_value(base)
        .map_err(|e| RuntimeError::InvalidSpec(format!("container process: {e}")))?;
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    for e in &exec.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if exec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    v["args"] = json!(exec.args);
    v["env"] = json!(env);
    v["terminal"] = json!(exec.tty);
    if !exec.cwd.is_empty() {
        check_abs("working directory", &exec.cwd)?;
        v["cwd"] = json!(exec.cwd);
    }
    if let Some(u) = &exec.user {
        v["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        if !exec.env.iter().any(|e| e.starts_with("HOME=")) {
            let mut env: Vec<String> = serde_json::from_value(v["env"].take()).unwrap_or_default();
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", u.home));
            v["env"] = json!(env);
        }
    }
    if exec.privileged {
        let all = available_capabilities();
        v["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
    }
    // The console size belongs to the container's terminal, not the exec's.
    if let Some(o) = v.as_object_mut() {
        o.remove("consoleSize");
    }
    serde_json::from_value(v)
        .map_err(|e| RuntimeError::InvalidSpec(format!("exec process does not parse: {e}")))
}

/// Like Docker, a private cgroup namespace only on a pure cgroup v2 host; on v1 or hybrid hosts
/// the container sees the host's cgroup paths (read-only).
fn cgroupns_supported() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

fn default_mounts(input: &SpecInput) -> Vec<Value> {
    let sys_opts: Vec<&str> = if input.privileged {
        vec!["nosuid", "noexec", "nodev", "rw"]
    } else {
        vec!["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_opts: Vec<&str> = if input.privileged {
        vec!["nosuid", "noexec", "nodev", "relatime", "rw"]
    } else {
        vec!["nosuid", "noexec", "nodev", "relatime", "ro"]
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
    ];
    // Without a network namespace of its own a container cannot mount sysfs (the kernel
    // refuses): bind the host's, as runc documents.
    if input.network == NetworkMode::Host {
        mounts[3] = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", if input.privileged {"rw"} else {"ro"}]});
    } else {
        mounts.push(
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                           "options": cgroup_opts}),
        );
    }
    mounts.push(
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                       "options": ["nosuid", "noexec", "nodev"]}),
    );
    mounts.push(
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777",
                                   format!("size={}", input.shm_size)]}),
    );
    mounts
}

/// Docker's device cgroup rules: deny everything, then allow the standard character devices.
fn default_device_rules() -> Vec<Value> {
    let c = |major: i64, minor: Option<i64>, access: &str| json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": access});
    vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "access": "m"}),
        json!({"allow": true, "type": "b", "access": "m"}),
        c(1, Some(3), "rwm"),    // null
        c(1, Some(8), "rwm"),    // random
        c(1, Some(7), "rwm"),    // full
        c(5, Some(0), "rwm"),    // tty
        c(1, Some(5), "rwm"),    // zero
        c(1, Some(9), "rwm"),    // urandom
        c(136, None, "rwm"),     // pts/*
        c(5, Some(1), "rwm"),    // console
        c(5, Some(2), "rwm"),    // ptmx
        c(10, Some(200), "rwm"), // net/tun
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType};

    #[test]
    fn extra_mounts_follow_and_replace_defaults() {
        let mut i = input();
        i.extra_mounts.push(MountEntry {
            destination: "/dev/shm".into(),
            typ: "tmpfs".into(),
            source: "tmpfs".into(),
            options: vec!["nosuid".into(), "size=1m".into()],
        });
        i.extra_mounts.push(MountEntry {
            destination: "/data".into(),
            typ: "bind".into(),
            source: "/srv/v".into(),
            options: vec!["rbind".into(), "rshared".into(), "rw".into()],
        });
        let v = build_spec_value(&i).unwrap();
        let mounts = v["mounts"].as_array().unwrap();
        let shm: Vec<_> = mounts
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["options"][1], "size=1m");
        assert_eq!(mounts.last().unwrap()["source"], "/srv/v");
        assert_eq!(v["linux"]["rootfsPropagation"], "rshared");
        i.extra_mounts.pop();
        let v = build_spec_value(&i).unwrap();
        assert!(v["linux"].get("rootfsPropagation").is_none());
    }

    fn input() -> SpecInput {
        let mut i = SpecInput::new("abc", vec!["sh".into(), "-c".into(), "true".into()], "/r");
        i.hostname = "abc".into();
        i
    }

    fn caps_of(spec: &Spec) -> Vec<String> {
        let mut v: Vec<String> = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| format!("CAP_{c}"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn defaults_match_docker() {
        let spec = build_spec(&input()).unwrap();
        let mut want: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(caps_of(&spec), want);
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.args().as_ref().unwrap()[0], "sh");
        let env = process.env().as_ref().unwrap();
        assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(env.contains(&"HOSTNAME=abc".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path().as_ref().unwrap(),
            &PathBuf::from("/berth/abc")
        );
        let ns: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        for t in [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Network,
        ] {
            assert!(ns.contains(&t), "{t:?} missing");
        }
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert!(linux
            .readonly_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/sys".to_string()));
        let mounts = spec.mounts().as_ref().unwrap();
        let find = |d: &str| {
            mounts
                .iter()
                .find(|m| m.destination() == &PathBuf::from(d))
                .unwrap()
        };
        assert!(find("/dev/pts")
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ptmxmode=0666".into()));
        assert!(find("/dev/shm")
            .options()
            .as_ref()
            .unwrap()
            .contains(&"size=67108864".into()));
        assert!(find("/sys")
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ro".into()));
        assert!(find("/sys/fs/cgroup")
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ro".into()));
        find("/dev/mqueue");
        find("/proc");
        assert_eq!(spec.hostname().as_deref(), Some("abc"));
        assert!(!spec.root().as_ref().unwrap().readonly().unwrap_or(false));
    }

    #[test]
    fn cap_add_and_drop() {
        let mut i = input();
        i.cap_add = vec!["net_admin".into(), "CAP_SYS_TIME".into()];
        i.cap_drop = vec!["CHOWN".into()];
        let caps = caps_of(&build_spec(&i).unwrap());
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(caps.contains(&"CAP_SYS_TIME".into()));
        assert!(!caps.contains(&"CAP_CHOWN".into()));
        assert!(caps.contains(&"CAP_KILL".into()));

        i.cap_drop = vec!["all".into()];
        i.cap_add = vec!["KILL".into()];
        assert_eq!(
            caps_of(&build_spec(&i).unwrap()),
            vec!["CAP_KILL".to_string()]
        );

        i.cap_add = vec!["ALL".into()];
        assert_eq!(
            caps_of(&build_spec(&i).unwrap()).len(),
            available_capabilities().len()
        );

        i.cap_add = vec!["NOT_A_CAP".into()];
        assert!(matches!(build_spec(&i), Err(RuntimeError::InvalidSpec(_))));
    }

    #[test]
    fn privileged_unmasks_everything() {
        let mut i = input();
        i.privileged = true;
        let spec = build_spec(&i).unwrap();
        assert_eq!(caps_of(&spec).len(), available_capabilities().len());
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux
            .masked_paths()
            .as_ref()
            .map(|m| m.is_empty())
            .unwrap_or(true));
        let dev = &linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap()[0];
        assert!(dev.allow());
    }

    #[test]
    fn network_modes() {
        let mut i = input();
        i.network = NetworkMode::Host;
        let spec = build_spec(&i).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));

        i.network = NetworkMode::Join("/proc/42/ns/net".into());
        let spec = build_spec(&i).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let net = ns
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(
            net.path().as_deref(),
            Some(std::path::Path::new("/proc/42/ns/net"))
        );
    }

    #[test]
    fn rlimits_are_clamped_or_refused() {
        let (_, host_hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        let mut i = input();
        i.rlimits = vec![Rlimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 1024,
        }];
        let spec = build_spec(&i).unwrap();
        let r = &spec.process().as_ref().unwrap().rlimits().as_ref().unwrap()[0];
        assert_eq!(r.typ(), PosixRlimitType::RlimitNofile);
        assert_eq!((r.soft(), r.hard()), (1024, 1024));

        if host_hard < u64::MAX {
            i.rlimits = vec![Rlimit {
                name: "nofile".into(),
                soft: u64::MAX,
                hard: u64::MAX,
            }];
            let spec = build_spec(&i).unwrap();
            let r = &spec.process().as_ref().unwrap().rlimits().as_ref().unwrap()[0];
            assert_eq!(r.hard(), host_hard);
            i.rlimit_policy = RlimitPolicy::Error;
            assert!(matches!(
                build_spec(&i),
                Err(RuntimeError::RlimitTooHigh { .. })
            ));
        }
        i.rlimits = vec![Rlimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1,
        }];
        assert!(build_spec(&i).is_err());
    }

    #[test]
    fn init_mounts_and_prefixes() {
        let mut i = input();
        i.init_binary = Some("/usr/bin/berth".into());
        i.mounts.push(BindMount {
            source: "/var/lib/berth/containers/abc/hosts".into(),
            destination: "/etc/hosts".into(),
            readonly: false,
        });
        i.readonly_rootfs = true;
        i.oom_score_adj = Some(500);
        i.no_new_privileges = true;
        let spec = build_spec(&i).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_ref().unwrap()[..3],
            ["/sbin/docker-init", "--", "sh"]
        );
        assert_eq!(p.oom_score_adj(), Some(500));
        assert_eq!(p.no_new_privileges(), Some(true));
        let mounts = spec.mounts().as_ref().unwrap();
        let init = mounts
            .iter()
            .find(|m| m.destination() == &PathBuf::from(INIT_PATH))
            .unwrap();
        assert!(init.options().as_ref().unwrap().contains(&"ro".to_string()));
        assert!(mounts
            .iter()
            .any(|m| m.destination() == &PathBuf::from("/etc/hosts")));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let mut i = input();
        i.args.clear();
        assert!(build_spec(&i).is_err());
        let mut i = input();
        i.cwd = "relative".into();
        assert!(build_spec(&i).is_err());
        let mut i = input();
        i.id = "../x".into();
        assert!(build_spec(&i).is_err());
        let mut i = input();
        i.oom_score_adj = Some(5000);
        assert!(build_spec(&i).is_err());
    }

    #[test]
    fn exec_inherits_container_security() {
        let mut i = input();
        i.env = vec!["A=1".into(), "B=2".into()];
        i.cap_add = vec!["NET_ADMIN".into()];
        i.no_new_privileges = true;
        let spec = build_spec(&i).unwrap();
        let p = exec_process(
            &spec,
            &ExecInput {
                args: vec!["id".into()],
                env: vec!["B=3".into()],
                tty: true,
                user: Some(crate::user::ExecUser {
                    uid: 5,
                    gid: 6,
                    additional_gids: vec![7],
                    home: "/home/u".into(),
                }),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &vec!["id".to_string()]);
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&"A=1".to_string()));
        assert!(env.contains(&"B=3".to_string()));
        assert!(!env.contains(&"B=2".to_string()));
        assert!(env.contains(&"HOME=/home/u".to_string()));
        assert!(env.contains(&"TERM=xterm".to_string()));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert_eq!(p.no_new_privileges(), Some(true));
        let caps = p
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap();
        assert!(caps.iter().any(|c| c.to_string() == "NET_ADMIN"));
        assert_eq!(p.cwd(), &PathBuf::from("/"));
        assert!(exec_process(&spec, &ExecInput::default()).is_err());
    }
}
