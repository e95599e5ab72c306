//! The flags shared by `run` and `create`, and their translation into the Engine API's create
//! body (`Config` + `HostConfig`), following the docker CLI's rules: env files before `-e`,
//! label files before `-l`, `-e NAME` taking the value from the CLI's own environment.

use std::collections::HashMap;

use berth_client::api::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigLogConfig, PortBinding, ResourcesBlkioWeightDevice, ResourcesUlimits, ThrottleDevice,
};
use clap::{ArgAction, Args};

use crate::error::{CliError, Result};

/// Flags of `berth create` (and, flattened, of `berth run`).
#[derive(Args, Debug, Clone, Default)]
pub struct CreateOptions {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "string")]
    pub cidfile: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Runtime to use for this container
    #[arg(long, value_name = "string")]
    pub runtime: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Ulimit options
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,

    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,

    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,

    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,

    #[arg(long = "blkio-weight-device", value_name = "list")]
    pub blkio_weight_device: Vec<String>,

    #[arg(long = "device-read-bps", value_name = "list")]
    pub device_read_bps: Vec<String>,

    #[arg(long = "device-write-bps", value_name = "list")]
    pub device_write_bps: Vec<String>,

    #[arg(long = "device-read-iops", value_name = "list")]
    pub device_read_iops: Vec<String>,

    #[arg(long = "device-write-iops", value_name = "list")]
    pub device_write_iops: Vec<String>,

    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Add link to another container (`name[:alias]`; legacy, as Docker)
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Sysctl options
    #[arg(long, value_name = "map")]
    pub sysctl: Vec<String>,
    /// IPC mode to use
    #[arg(long, value_name = "string")]
    pub ipc: Option<String>,
    /// PID namespace to use
    #[arg(long, value_name = "string")]
    pub pid: Option<String>,
    /// UTS namespace to use
    #[arg(long, value_name = "string")]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long, value_name = "string")]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "string")]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Add a host device to the container
    #[arg(long, value_name = "list")]
    pub device: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
}

/// Run-only flags.
#[derive(Args, Debug, Clone)]
pub struct RunOnlyOptions {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "bool")]
    pub sig_proxy: bool,
}

/// Reads `KEY=value` lines as docker's `opts.ParseEnvFile` does: `#` comments and blank lines
/// skipped, leading whitespace trimmed, a bare `KEY` filled from `lookup` (or dropped when unset).
pub fn parse_env_file(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some(("", _)) => {
                return Err(CliError::local(format!(
                    "no variable name on line '{line}'"
                )))
            }
            Some((k, _)) if k.contains(char::is_whitespace) => {
                return Err(CliError::local(format!(
                    "variable '{}' contains whitespaces (line {})",
                    k,
                    n + 1
                )))
            }
            Some(_) => out.push(line.to_string()),
            None => {
                let k = line.trim_end();
                if let Some(v) = lookup(k) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// `-e NAME` (no `=`) takes NAME's value from the CLI's environment; unset, it is sent bare.
pub fn expand_env(e: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match lookup(e) {
        Some(v) => format!("{e}={v}"),
        None => e.to_string(),
    }
}

/// Parses a label file: non-comment lines `k=v` (or bare `k`).
pub fn parse_label_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// go-units' `RAMInBytes`: a number with an optional binary unit `b k m g t p` (and optional
/// trailing `b`), e.g. `512m`, `1.5g`, `1024`.
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num.parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mul: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((n * mul) as i64)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` → (`"80/tcp"`, host IP, host port) per port;
/// ranges (`8000-8001:80-81`) expand into one binding per port, as docker's CLI does.
pub fn parse_publish(spec: &str) -> Option<Vec<(String, String, String)>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if matches!(p, "tcp" | "udp" | "sctp") => (r, p),
        Some(_) => return None,
        None => (spec, "tcp"),
    };
    // An IPv6 host address is bracketed: `[::1]:8080:80`.
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r.split_once("]:")?;
            (ip.to_string(), after)
        }
        None => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.len() {
                1 | 2 => (String::new(), rest),
                3 => (parts[0].to_string(), &rest[parts[0].len() + 1..]),
                _ => return None,
            }
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let range = |p: &str| -> Option<(u16, u16)> {
        match p.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some((a, b))
            }
            None => {
                let a = p.parse().ok()?;
                Some((a, a))
            }
        }
    };
    let (c1, c2) = range(container)?;
    let hosts: Vec<String> = if host.is_empty() {
        vec![String::new(); (c2 - c1) as usize + 1]
    } else {
        let (h1, h2) = range(host)?;
        if h2 - h1 == c2 - c1 {
            (h1..=h2).map(|h| h.to_string()).collect()
        } else if c1 == c2 {
            // One container port on a host range: the daemon picks a free host port in it.
            vec![host.to_string()]
        } else {
            return None;
        }
    };
    Some(
        (c1..=c2)
            .zip(hosts)
            .map(|(c, h)| (format!("{c}/{proto}"), ip.clone(), h))
            .collect(),
    )
}

/// Capability names as docker's CLI sends them: upper case with the `CAP_` prefix (`ALL`
/// stays as it is).
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    caps.iter()
        .map(|c| {
            let u = c.to_ascii_uppercase();
            if u == "ALL" || u.starts_with("CAP_") {
                u
            } else {
                format!("CAP_{u}")
            }
        })
        .collect()
}

/// `--ulimit name=soft[:hard]`.
pub fn parse_ulimit(s: &str) -> Option<ResourcesUlimits> {
    let (name, vals) = s.split_once('=')?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let v: i64 = vals.parse().ok()?;
            (v, v)
        }
    };
    if name.is_empty() || (soft > hard && hard != -1) {
        return None;
    }
    Some(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// Builds the create body from the flags, the image and the command words.
///
/// `attached` is false for `run -d`. File contents come through `read_file` and environment
/// lookups through `lookup`, so that the translation is pure and testable.
pub fn to_create_body(
    command: &str,
    o: &CreateOptions,
    image: &str,
    cmd: &[String],
    attached: bool,
    read_file: &dyn Fn(&str) -> std::io::Result<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ContainerCreateBody> {
    let flag_err = |flag: &str, val: &str, why: &str| {
        CliError::invalid_flag(
            command,
            format!("invalid argument \"{val}\" for \"{flag}\" flag: {why}"),
        )
    };

    let mut env = Vec::new();
    for f in &o.env_file {
        let text =
            read_file(f).map_err(|e| CliError::local(format!("open {f}: {}", io_text(&e))))?;
        env.extend(parse_env_file(&text, lookup)?);
    }
    env.extend(o.env.iter().map(|e| expand_env(e, lookup)));

    let mut labels = HashMap::new();
    let mut label_lines = Vec::new();
    for f in &o.label_file {
        let text =
            read_file(f).map_err(|e| CliError::local(format!("open {f}: {}", io_text(&e))))?;
        label_lines.extend(parse_label_file(&text));
    }
    label_lines.extend(o.label.iter().cloned());
    for l in label_lines {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        labels.insert(k.to_string(), v.to_string());
    }

    let mut attach_stdin = o.attach.iter().any(|a| a.eq_ignore_ascii_case("stdin"));
    let mut attach_stdout = o.attach.iter().any(|a| a.eq_ignore_ascii_case("stdout"));
    let mut attach_stderr = o.attach.iter().any(|a| a.eq_ignore_ascii_case("stderr"));
    for a in &o.attach {
        if !matches!(
            a.to_ascii_lowercase().as_str(),
            "stdin" | "stdout" | "stderr"
        ) {
            return Err(flag_err(
                "-a, --attach",
                a,
                "valid streams are STDIN, STDOUT and STDERR",
            ));
        }
    }
    if o.interactive {
        attach_stdin = true;
    }
    if o.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    let mut stdin_once = attach_stdin;
    if !attached {
        attach_stdin = false;
        attach_stdout = false;
        attach_stderr = false;
        stdin_once = false;
    }

    let entrypoint = o.entrypoint.as_ref().map(|e| {
        // `--entrypoint ""` resets the image's entrypoint, which the API spells `[""]`.
        vec![e.clone()]
    });

    let memory = match &o.memory {
        Some(m) => Some(
            ram_in_bytes(m)
                .ok_or_else(|| flag_err("-m, --memory", m, &format!("invalid size: '{m}'")))?,
        ),
        None => None,
    };
    let nano_cpus = match &o.cpus {
        Some(c) => {
            let v: f64 = c
                .parse()
                .map_err(|_| flag_err("--cpus", c, "failed to parse as a rational number"))?;
            Some((v * 1e9).round() as i64)
        }
        None => None,
    };
    let mut ulimits = Vec::new();
    for u in &o.ulimit {
        ulimits.push(parse_ulimit(u).ok_or_else(|| flag_err("--ulimit", u, "invalid ulimit"))?);
    }
    let mut log_config: HashMap<String, String> = HashMap::new();
    for lo in &o.log_opt {
        let (k, v) = lo.split_once('=').ok_or_else(|| {
            flag_err(
                "--log-opt",
                lo,
                "invalid key value pair format in driver options",
            )
        })?;
        log_config.insert(k.to_string(), v.to_string());
    }
    use berth_client::api::{RestartPolicy, RestartPolicyNameEnum};
    let restart_policy = match &o.restart {
        Some(r) => {
            let (name, count) = match r.split_once(':') {
                Some((n, c)) => (
                    n,
                    Some(
                        c.parse::<i64>()
                            .map_err(|_| flag_err("--restart", r, "invalid restart policy"))?,
                    ),
                ),
                None => (r.as_str(), None),
            };
            let name = match name {
                "no" | "" => RestartPolicyNameEnum::NO,
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => return Err(flag_err("--restart", r, "invalid restart policy")),
            };
            Some(RestartPolicy {
                name: Some(name),
                maximum_retry_count: count,
            })
        }
        // docker sends the "no" policy explicitly.
        None => Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: Some(0),
        }),
    };
    if !matches!(o.pull.as_str(), "always" | "missing" | "never") {
        return Err(CliError::Status {
            code: 125,
            message: Some(format!(
                "berth: invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'berth {command} --help' for more information",
                o.pull
            )),
        });
    }

    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed: Vec<String> = Vec::new();
    for p in &o.publish {
        let bindings =
            parse_publish(p).ok_or_else(|| flag_err("-p, --publish", p, "invalid publish spec"))?;
        for (port, ip, host_port) in bindings {
            if !exposed.contains(&port) {
                exposed.push(port.clone());
            }
            port_bindings
                .entry(port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(ip),
                    host_port: Some(host_port),
                });
        }
    }
    for e in &o.expose {
        let port = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        if !exposed.contains(&port) {
            exposed.push(port);
        }
    }
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        match v {
            Some(v) if v == "-1" => Ok(Some(-1)),
            Some(v) => ram_in_bytes(v)
                .map(Some)
                .ok_or_else(|| flag_err(flag, v, &format!("invalid size: '{v}'"))),
            None => Ok(None),
        }
    };
    let mut mounts = Vec::new();
    for m in &o.mount {
        mounts.push(crate::mount_flag::parse_mount(m).map_err(|why| flag_err("--mount", m, &why))?);
    }
    // As the docker CLI does: `-v /path` (no source) is an anonymous volume in
    // `Config.Volumes`, everything else a bind in `HostConfig.Binds`.
    let (anonymous, binds): (Vec<String>, Vec<String>) =
        o.volume.iter().cloned().partition(|v| !v.contains(':'));
    let mut tmpfs = HashMap::new();
    for t in &o.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(path.to_string(), opts.to_string());
    }
    let mut sysctls = HashMap::new();
    for kv in &o.sysctl {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| flag_err("--sysctl", kv, "sysctl must be in the format KEY=VALUE"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let mut devices = Vec::new();
    for d in &o.device {
        let parts: Vec<&str> = d.split(':').collect();
        let (host, cont, perms) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, c] if c.chars().all(|x| matches!(x, 'r' | 'w' | 'm')) => (*h, *h, *c),
            [h, c] => (*h, *c, "rwm"),
            [h, c, p] => (*h, *c, *p),
            _ => return Err(flag_err("--device", d, "invalid device specification")),
        };
        devices.push(DeviceMapping {
            path_on_host: Some(host.to_string()),
            path_in_container: Some(cont.to_string()),
            cgroup_permissions: Some(perms.to_string()),
        });
    }
    let cgroupns_mode = match o.cgroupns.as_deref() {
        None => None,
        Some("host") => Some(HostConfigCgroupnsModeEnum::HOST),
        Some("private") => Some(HostConfigCgroupnsModeEnum::PRIVATE),
        Some(other) => {
            return Err(flag_err(
                "--cgroupns",
                other,
                "invalid cgroup namespace mode",
            ))
        }
    };
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    // `/dev/sda:1mb` (bytes, binary units) or `/dev/sda:100` (operations).
    let throttle = |flag: &str, list: &[String], sizes: bool| -> Result<Vec<ThrottleDevice>> {
        let mut out = Vec::new();
        for v in list {
            let (path, rate) = v
                .rsplit_once(':')
                .ok_or_else(|| flag_err(flag, v, &format!("bad format: {v}")))?;
            let rate = if sizes {
                ram_in_bytes(rate)
            } else {
                rate.parse::<i64>().ok()
            }
            .filter(|r| *r >= 0)
            .ok_or_else(|| flag_err(flag, v, &format!("invalid rate for device: {v}")))?;
            if !path.starts_with("/dev/") {
                return Err(flag_err(
                    flag,
                    v,
                    &format!("bad format for device path: {v}"),
                ));
            }
            out.push(ThrottleDevice {
                path: Some(path.to_string()),
                rate: Some(rate),
            });
        }
        Ok(out)
    };
    let mut weight_devices = Vec::new();
    for v in &o.blkio_weight_device {
        let (path, w) = v
            .rsplit_once(':')
            .ok_or_else(|| flag_err("--blkio-weight-device", v, &format!("bad format: {v}")))?;
        let w: usize = w.parse().map_err(|_| {
            flag_err(
                "--blkio-weight-device",
                v,
                &format!("invalid weight for device: {v}"),
            )
        })?;
        weight_devices.push(ResourcesBlkioWeightDevice {
            path: Some(path.to_string()),
            weight: Some(w),
        });
    }
    // `seccomp=<file>`: the client reads the profile and sends its content, as docker does.
    let mut security_opt = Vec::new();
    for opt in &o.security_opt {
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        if k == "seccomp" && !v.is_empty() && v != "unconfined" && v != "builtin" {
            let text = read_file(v).map_err(|e| {
                CliError::invalid_flag(
                    command,
                    format!(
                        "invalid argument \"{opt}\" for \"--security-opt\" flag: opening seccomp profile ({v}) failed: open {v}: {}",
                        io_text(&e)
                    ),
                )
            })?;
            // docker compacts the JSON before sending it.
            let compact = serde_json::from_str::<serde_json::Value>(&text)
                .map(|j| j.to_string())
                .unwrap_or(text);
            security_opt.push(format!("seccomp={compact}"));
        } else {
            security_opt.push(opt.clone());
        }
    }

    let host_config = HostConfig {
        auto_remove: Some(o.rm),
        privileged: Some(o.privileged),
        readonly_rootfs: Some(o.read_only),
        init: o.init.then_some(true),
        runtime: o.runtime.clone(),
        network_mode: Some(o.network.clone().unwrap_or_else(|| "default".to_string())),
        cap_add: (!o.cap_add.is_empty()).then(|| normalize_caps(&o.cap_add)),
        cap_drop: (!o.cap_drop.is_empty()).then(|| normalize_caps(&o.cap_drop)),
        // docker's CLI always sends these lists, empty when unused.
        blkio_weight_device: Some(weight_devices),
        blkio_device_read_bps: Some(throttle("--device-read-bps", &o.device_read_bps, true)?),
        blkio_device_write_bps: Some(throttle("--device-write-bps", &o.device_write_bps, true)?),
        blkio_device_read_iops: Some(throttle("--device-read-iops", &o.device_read_iops, false)?),
        blkio_device_write_iops: Some(throttle(
            "--device-write-iops",
            &o.device_write_iops,
            false,
        )?),
        blkio_weight: o.blkio_weight,
        cpu_period: o.cpu_period,
        cpu_quota: o.cpu_quota,
        memory_swappiness: o.memory_swappiness,
        group_add: (!o.group_add.is_empty()).then(|| o.group_add.clone()),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        memory,
        nano_cpus,
        pids_limit: o.pids_limit,
        binds: (!binds.is_empty()).then_some(binds),
        mounts: (!mounts.is_empty()).then_some(mounts),
        container_id_file: o.cidfile.clone(),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        publish_all_ports: o.publish_all.then_some(true),
        extra_hosts: some_vec(&o.add_host),
        links: some_vec(&o.link),
        dns: some_vec(&o.dns),
        dns_options: Some(o.dns_option.clone()),
        dns_search: Some(o.dns_search.clone()),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        shm_size: bytes("--shm-size", &o.shm_size)?,
        cpu_shares: o.cpu_shares,
        cpuset_cpus: o.cpuset_cpus.clone(),
        cpuset_mems: o.cpuset_mems.clone(),
        memory_swap: bytes("--memory-swap", &o.memory_swap)?,
        memory_reservation: bytes("--memory-reservation", &o.memory_reservation)?,
        oom_kill_disable: o.oom_kill_disable.then_some(true),
        oom_score_adj: o.oom_score_adj,
        security_opt: some_vec(&security_opt),
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        ipc_mode: o.ipc.clone(),
        pid_mode: o.pid.clone(),
        uts_mode: o.uts.clone(),
        userns_mode: o.userns.clone(),
        cgroupns_mode,
        cgroup_parent: o.cgroup_parent.clone(),
        volumes_from: some_vec(&o.volumes_from),
        devices: Some(devices),
        restart_policy,
        log_config: Some(HostConfigLogConfig {
            typ: Some(o.log_driver.clone().unwrap_or_default()),
            config: Some(log_config),
        }),
        ..Default::default()
    };

    Ok(ContainerCreateBody {
        hostname: o.hostname.clone(),
        domainname: o.domainname.clone(),
        user: o.user.clone(),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach_stdout),
        attach_stderr: Some(attach_stderr),
        tty: Some(o.tty),
        open_stdin: Some(o.interactive),
        stdin_once: Some(stdin_once),
        env: Some(env),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        image: Some(image.to_string()),
        working_dir: o.workdir.clone(),
        entrypoint,
        labels: Some(labels),
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        healthcheck: crate::health_flags::healthcheck(command, o)?,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        volumes: (!anonymous.is_empty()).then_some(anonymous),
        host_config: Some(host_config),
        networking_config: networking_config(o),
        ..Default::default()
    })
}

/// `--network-alias`, `--ip`, `--mac-address` go in the endpoint of the `--network` network,
/// as the docker CLI sends them.
fn networking_config(o: &CreateOptions) -> Option<berth_types::api::NetworkingConfig> {
    if o.network_alias.is_empty() && o.ip.is_none() && o.mac_address.is_none() {
        return None;
    }
    let net = o
        .network
        .clone()
        .filter(|n| !n.is_empty() && n != "default")
        .unwrap_or_else(|| "bridge".into());
    let ep = berth_types::api::EndpointSettings {
        aliases: (!o.network_alias.is_empty()).then(|| o.network_alias.clone()),
        ipam_config: o.ip.clone().map(|ip| berth_types::api::EndpointIpamConfig {
            ipv4_address: Some(ip),
            ..Default::default()
        }),
        mac_address: o.mac_address.clone(),
        ..Default::default()
    };
    Some(berth_types::api::NetworkingConfig {
        endpoints_config: Some(std::collections::HashMap::from([(net, ep)])),
    })
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: CreateOptions,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    }

    fn body(
        argv: &[&str],
        files: &[(&str, &str)],
        env: &[(&str, &str)],
        attached: bool,
    ) -> serde_json::Value {
        let t = T::try_parse_from(std::iter::once("run").chain(argv.iter().copied())).unwrap();
        let files: HashMap<String, String> = files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let read = |p: &str| {
            files
                .get(p)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let lookup = |k: &str| env.get(k).cloned();
        let b = to_create_body(
            "run",
            &t.o,
            &t.args[0],
            &t.args[1..],
            attached,
            &read,
            &lookup,
        )
        .unwrap();
        serde_json::to_value(b).unwrap()
    }

    #[test]
    fn run_flags_become_the_create_body() {
        let b = body(
            &[
                "-e",
                "A=1",
                "--env-file",
                "f",
                "-e",
                "HOME_X",
                "-l",
                "x=y",
                "--rm",
                "-it",
                "busybox",
                "sh",
                "-c",
                "echo",
            ],
            &[("f", "# comment\n\nB=2\n  C=3\nD\n")],
            &[("D", "4"), ("HOME_X", "/h")],
            true,
        );
        assert_eq!(
            b["Env"],
            serde_json::json!(["B=2", "C=3", "D=4", "A=1", "HOME_X=/h"])
        );
        assert_eq!(b["Labels"], serde_json::json!({"x": "y"}));
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], serde_json::json!(["sh", "-c", "echo"]));
        assert_eq!(b["Tty"], true);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStderr"], true);
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(
            b["HostConfig"]["LogConfig"],
            serde_json::json!({"Type": "", "Config": {}})
        );
        assert!(b.get("Entrypoint").is_none());
    }

    #[test]
    fn detached_run_attaches_nothing() {
        let b = body(&["-d", "-i", "busybox"].as_slice()[1..], &[], &[], false);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["StdinOnce"], false);
        assert_eq!(b["OpenStdin"], true);
        assert!(b.get("Cmd").is_none());
    }

    #[test]
    fn resources_and_host_flags() {
        let b = body(
            &[
                "-m",
                "512m",
                "--cpus",
                "1.5",
                "--pids-limit",
                "-1",
                "--ulimit",
                "nofile=100:200",
                "--log-opt",
                "max-size=1m",
                "--cap-add",
                "NET_ADMIN",
                "--init",
                "--read-only",
                "--privileged",
                "--network",
                "none",
                "--runtime",
                "runc",
                "--entrypoint",
                "",
                "-u",
                "1:2",
                "-w",
                "/tmp",
                "-h",
                "box",
                "--stop-signal",
                "SIGUSR1",
                "--stop-timeout",
                "3",
                "--label-file",
                "lf",
                "-l",
                "a=override",
                "busybox",
            ],
            &[("lf", "a=1\nb\n")],
            &[],
            true,
        );
        let h = &b["HostConfig"];
        assert_eq!(h["Memory"], 512 * 1024 * 1024);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["PidsLimit"], -1);
        assert_eq!(
            h["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
        );
        assert_eq!(h["LogConfig"]["Config"]["max-size"], "1m");
        assert_eq!(h["CapAdd"], serde_json::json!(["CAP_NET_ADMIN"]));
        assert_eq!(
            h["RestartPolicy"],
            serde_json::json!({"Name": "no", "MaximumRetryCount": 0})
        );
        assert_eq!(h["DnsSearch"], serde_json::json!([]));
        assert_eq!(h["Init"], true);
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["NetworkMode"], "none");
        assert_eq!(h["Runtime"], "runc");
        assert_eq!(b["Entrypoint"], serde_json::json!([""]));
        assert_eq!(b["User"], "1:2");
        assert_eq!(b["WorkingDir"], "/tmp");
        assert_eq!(b["Hostname"], "box");
        assert_eq!(b["StopSignal"], "SIGUSR1");
        assert_eq!(b["StopTimeout"], 3);
        assert_eq!(b["Labels"], serde_json::json!({"a": "override", "b": ""}));
    }

    #[test]
    fn network_and_namespace_flags() {
        let b = body(
            &[
                "-p",
                "8080:80",
                "-p",
                "127.0.0.1:53:53/udp",
                "-p",
                "9000",
                "--expose",
                "7000",
                "--add-host",
                "h:1.2.3.4",
                "--dns",
                "8.8.8.8",
                "--tmpfs",
                "/run:size=1m",
                "--shm-size",
                "64m",
                "--memory-swap",
                "-1",
                "--sysctl",
                "net.ipv4.ip_forward=1",
                "--pid",
                "host",
                "--cgroupns",
                "private",
                "--device",
                "/dev/fuse",
                "busybox",
            ],
            &[],
            &[],
            true,
        );
        let h = &b["HostConfig"];
        assert_eq!(
            h["PortBindings"]["80/tcp"],
            serde_json::json!([{"HostIp": "", "HostPort": "8080"}])
        );
        assert_eq!(
            h["PortBindings"]["53/udp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "53"}])
        );
        assert_eq!(
            h["PortBindings"]["9000/tcp"],
            serde_json::json!([{"HostIp": "", "HostPort": ""}])
        );
        assert_eq!(
            b["ExposedPorts"],
            serde_json::json!({"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "7000/tcp": {}})
        );
        assert_eq!(h["ExtraHosts"], serde_json::json!(["h:1.2.3.4"]));
        assert_eq!(h["Dns"], serde_json::json!(["8.8.8.8"]));
        assert_eq!(h["Tmpfs"], serde_json::json!({"/run": "size=1m"}));
        assert_eq!(h["ShmSize"], 64 * 1024 * 1024);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(
            h["Sysctls"],
            serde_json::json!({"net.ipv4.ip_forward": "1"})
        );
        assert_eq!(h["PidMode"], "host");
        assert_eq!(h["CgroupnsMode"], "private");
        assert_eq!(
            h["Devices"],
            serde_json::json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}])
        );
        assert!(parse_publish("1:2:3:4").is_none());
        assert!(parse_publish("abc").is_none());
        assert!(parse_publish("1-3:1-2").is_none());
        assert_eq!(
            parse_publish("[::1]:80:8080").unwrap(),
            vec![("8080/tcp".into(), "::1".into(), "80".into())]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81/udp").unwrap(),
            vec![
                ("80/udp".into(), "".into(), "8000".into()),
                ("81/udp".into(), "".into(), "8001".into())
            ]
        );
    }

    #[test]
    fn sizes_and_ulimits_parse() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("1.5g"), Some(1610612736));
        assert_eq!(ram_in_bytes("10MB"), Some(10 * 1024 * 1024));
        assert_eq!(ram_in_bytes("abc"), None);
        assert_eq!(ram_in_bytes("1x"), None);
        assert!(parse_ulimit("nofile=10:5").is_none());
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, Some(5));
    }

    #[test]
    fn bad_env_file_line_is_an_error() {
        assert!(parse_env_file("=x\n", &|_| None).is_err());
        assert!(parse_env_file("A B=x\n", &|_| None).is_err());
        assert_eq!(
            parse_env_file("UNSET\n", &|_| None).unwrap(),
            Vec::<String>::new()
        );
    }
}
