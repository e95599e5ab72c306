//! The flags shared by `run` and `create`, and their translation into the Engine API's create
//! body (`Config` + `HostConfig`), following the docker CLI's rules: env files before `-e`,
//! label files before `-l`, `-e NAME` taking the value from the CLI's own environment.

use std::collections::HashMap;

use berth_client::api::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};
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
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
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
            use berth_client::api::{RestartPolicy, RestartPolicyNameEnum};
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
        None => None,
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

    let host_config = HostConfig {
        auto_remove: Some(o.rm),
        privileged: Some(o.privileged),
        readonly_rootfs: Some(o.read_only),
        init: o.init.then_some(true),
        runtime: o.runtime.clone(),
        network_mode: Some(o.network.clone().unwrap_or_else(|| "default".to_string())),
        cap_add: (!o.cap_add.is_empty()).then(|| o.cap_add.clone()),
        cap_drop: (!o.cap_drop.is_empty()).then(|| o.cap_drop.clone()),
        group_add: (!o.group_add.is_empty()).then(|| o.group_add.clone()),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        memory,
        nano_cpus,
        pids_limit: o.pids_limit,
        binds: (!o.volume.is_empty()).then(|| o.volume.clone()),
        container_id_file: o.cidfile.clone(),
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
        host_config: Some(host_config),
        ..Default::default()
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
        assert_eq!(h["CapAdd"], serde_json::json!(["NET_ADMIN"]));
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
