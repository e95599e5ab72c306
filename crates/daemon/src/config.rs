//! Daemon configuration: dockerd's flag names and daemon.json keys.
//!
//! A key of daemon.json that dockerd does not know is an error, as with dockerd ("the following
//! directives don't match any configuration option"). Keys that dockerd knows but Berth does
//! not act on yet are accepted and listed in a warning, so that an existing daemon.json keeps
//! working.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// The name of the built-in runtime (youki's libcontainer inside the shim).
pub const BUILTIN_RUNTIME: &str = "berth";

/// An external OCI runtime as daemon.json `runtimes` describes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RuntimeConfig {
    pub path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub hosts: Vec<String>,
    pub pidfile: Option<PathBuf>,
    pub log_level: String,
    pub default_runtime: String,
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    /// Default json-file options (`log-opts`): max-size, max-file.
    pub log_opts: BTreeMap<String, String>,
    /// The berth binary the shims and docker-init run from.
    pub berth_exe: PathBuf,
    /// Keys read from daemon.json that Berth accepts but does not act on yet.
    pub ignored_keys: Vec<String>,
    /// Networking: default bridge, its subnet, address pools.
    pub network: NetworkConfig,
    /// Containers keep running when the daemon stops (daemon.json `live-restore`, on by
    /// default in Berth). Off: the daemon stops them on shutdown, as dockerd does.
    pub live_restore: bool,
    /// `userns-remap` (`default`, `user[:group]`, `uid[:gid]`): containers' root mapped to a
    /// subordinate range (see [`crate::userns`]).
    pub userns_remap: Option<String>,
    /// The mappings `userns_remap` resolved to; set by [`crate::Daemon::open`], which also
    /// moves `data_root` to the mapping's subtree (`<data-root>/<uid>.<gid>`).
    pub id_map: Option<berth_types::idmap::IdMap>,
    /// `insecure-registries`, `registry-mirrors` and Berth's per-registry mirrors.
    pub registries: berth_distribution::RegistryConfig,
}

/// The default bridge's name (`None` = no default bridge, dockerd's `--bridge none`).
pub const DEFAULT_BRIDGE: &str = "berth0";

/// dockerd's networking flags and keys.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub bridge: Option<String>,
    /// `--bip`: the gateway address and prefix; `None` = pick a free subnet from the pools.
    pub bip: Option<berth_network::Subnet>,
    /// `--fixed-cidr`: allocate default-bridge addresses from this range only.
    pub fixed_cidr: Option<berth_network::Subnet>,
    pub pools: Vec<berth_network::Pool>,
    pub mtu: u32,
    /// `--icc` / daemon.json `icc`: traffic between containers of the default bridge.
    pub icc: bool,
}

#[derive(Debug, Deserialize)]
struct PoolJson {
    base: String,
    size: u8,
}

/// daemon.json, with dockerd's key names.
#[derive(Debug, Default, Deserialize)]
struct DaemonJson {
    #[serde(rename = "data-root")]
    data_root: Option<PathBuf>,
    #[serde(rename = "exec-root")]
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    pidfile: Option<PathBuf>,
    #[serde(rename = "log-level")]
    log_level: Option<String>,
    debug: Option<bool>,
    #[serde(rename = "default-runtime")]
    default_runtime: Option<String>,
    runtimes: Option<BTreeMap<String, RuntimeConfig>>,
    #[serde(rename = "log-driver")]
    log_driver: Option<String>,
    #[serde(rename = "log-opts")]
    log_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "live-restore")]
    live_restore: Option<bool>,
    bridge: Option<String>,
    bip: Option<String>,
    #[serde(rename = "fixed-cidr")]
    fixed_cidr: Option<String>,
    #[serde(rename = "default-address-pools")]
    default_address_pools: Option<Vec<PoolJson>>,
    mtu: Option<u32>,
    icc: Option<bool>,
    #[serde(rename = "userns-remap")]
    userns_remap: Option<String>,
    // Known to dockerd; acted on by later milestones of Berth.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// dockerd's other daemon.json keys. Accepted (with a warning) rather than refused.
const OTHER_DOCKERD_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip6",
    "builder",
    "cgroup-parent",
    "containerd",
    "containerd-namespace",
    "containerd-plugin-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cri-containerd",
    "data-root",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-network-opts",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "experimental",
    "features",
    "fixed-cidr-v6",
    "group",
    "host-gateway-ip",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "labels",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "proxies",
    "raw-logs",
    "registry-mirrors",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "log-format",
    "min-api-version",
];

/// Command-line values; `None` means "not given", so daemon.json may supply it.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub hosts: Vec<String>,
    pub config_file: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub log_level: Option<String>,
    pub default_runtime: Option<String>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub default_address_pools: Vec<String>,
    pub mtu: Option<u32>,
    /// `--icc`.
    pub icc: Option<bool>,
    /// `--userns-remap`.
    pub userns_remap: Option<String>,
}

impl DaemonConfig {
    /// Flags win over daemon.json, as with dockerd (which refuses a conflict; we let the flag
    /// win because tests pass both).
    pub fn load(flags: Flags, berth_exe: PathBuf) -> Result<DaemonConfig> {
        let mut json = match &flags.config_file {
            Some(path) => read_daemon_json(path)?,
            None => {
                let default = Path::new("/etc/berth/daemon.json");
                if default.exists() {
                    read_daemon_json(default)?
                } else {
                    DaemonJson::default()
                }
            }
        };
        let network = network_config(&flags, &json)?;
        let mut runtimes = json.runtimes.unwrap_or_default();
        if runtimes.contains_key(BUILTIN_RUNTIME) {
            return Err(Error::Config(format!(
                "runtime name '{BUILTIN_RUNTIME}' is reserved for the built-in runtime"
            )));
        }
        if !runtimes.contains_key("runc") {
            if let Some(path) = find_in_path("runc") {
                runtimes.insert(
                    "runc".into(),
                    RuntimeConfig {
                        path,
                        runtime_args: Vec::new(),
                    },
                );
            }
        }
        let default_runtime = flags
            .default_runtime
            .or(json.default_runtime)
            .unwrap_or_else(|| BUILTIN_RUNTIME.into());
        if default_runtime != BUILTIN_RUNTIME && !runtimes.contains_key(&default_runtime) {
            return Err(Error::Config(format!(
                "default runtime {default_runtime:?} is not configured"
            )));
        }
        if let Some(driver) = &json.log_driver {
            if driver != "json-file" {
                return Err(Error::Config(format!(
                    "log driver {driver:?} is not supported; Berth writes json-file logs"
                )));
            }
        }
        let registries = crate::distribution::registry_config(&mut json.other)?;
        let ignored_keys: Vec<String> = json.other.keys().cloned().collect();
        let unknown: Vec<&String> = ignored_keys
            .iter()
            .filter(|k| !OTHER_DOCKERD_KEYS.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            let list: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            return Err(Error::Config(format!(
                "the following directives don't match any configuration option: {}",
                list.join(", ")
            )));
        }
        let log_level = flags.log_level.or(json.log_level).unwrap_or_else(|| {
            if json.debug == Some(true) {
                "debug".into()
            } else {
                "info".into()
            }
        });
        if !matches!(
            log_level.as_str(),
            "debug" | "info" | "warn" | "error" | "fatal" | "trace"
        ) {
            return Err(Error::Config(format!(
                "unable to parse logging level: {log_level}"
            )));
        }
        let log_opts = json.log_opts.unwrap_or_default();
        for key in log_opts.keys() {
            if !matches!(
                key.as_str(),
                "max-size" | "max-file" | "compress" | "labels" | "env" | "tag"
            ) {
                return Err(Error::Config(format!(
                    "unknown log opt '{key}' for json-file log driver"
                )));
            }
        }
        Ok(DaemonConfig {
            data_root: flags
                .data_root
                .or(json.data_root)
                .unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
            exec_root: flags
                .exec_root
                .or(json.exec_root)
                .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into()),
            hosts: if !flags.hosts.is_empty() {
                flags.hosts
            } else {
                json.hosts
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| vec![DEFAULT_HOST.into()])
            },
            pidfile: flags.pidfile.or(json.pidfile),
            log_level,
            default_runtime,
            runtimes,
            log_opts,
            berth_exe,
            ignored_keys,
            network,
            live_restore: json.live_restore.unwrap_or(true),
            userns_remap: flags
                .userns_remap
                .or(json.userns_remap)
                .filter(|u| !u.is_empty()),
            id_map: None,
            registries,
        })
    }

    /// The unix socket paths to listen on; other schemes are refused.
    pub fn unix_sockets(&self) -> Result<Vec<PathBuf>> {
        self.hosts
            .iter()
            .map(|h| {
                h.strip_prefix("unix://").map(PathBuf::from).ok_or_else(|| {
                    Error::Config(format!("host {h:?}: only unix:// sockets are supported"))
                })
            })
            .collect()
    }
}

fn network_config(flags: &Flags, json: &DaemonJson) -> Result<NetworkConfig> {
    let net_err = |e: berth_network::Error| Error::Config(e.to_string());
    let bridge = match flags.bridge.clone().or(json.bridge.clone()) {
        Some(b) if b == "none" => None,
        Some(b) if b.is_empty() || b.len() > 15 || b.contains('/') || b.contains(' ') => {
            return Err(Error::Config(format!("invalid bridge name {b:?}")))
        }
        Some(b) => Some(b),
        None => Some(DEFAULT_BRIDGE.to_owned()),
    };
    let bip = flags
        .bip
        .clone()
        .or(json.bip.clone())
        .map(|s| s.parse::<berth_network::Subnet>())
        .transpose()
        .map_err(net_err)?;
    let fixed_cidr = flags
        .fixed_cidr
        .clone()
        .or(json.fixed_cidr.clone())
        .map(|s| s.parse::<berth_network::Subnet>().map(|s| s.network()))
        .transpose()
        .map_err(net_err)?;
    if let (Some(b), Some(f)) = (bip, fixed_cidr) {
        if !f.within(&b.network()) {
            return Err(Error::Config(format!(
                "fixed-cidr {f} is not within the bridge's subnet {}",
                b.network()
            )));
        }
    }
    let pools = if !flags.default_address_pools.is_empty() {
        flags
            .default_address_pools
            .iter()
            .map(|p| berth_network::Pool::parse(p))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(net_err)?
    } else if let Some(list) = &json.default_address_pools {
        list.iter()
            .map(|p| berth_network::Pool::parse(&format!("base={},size={}", p.base, p.size)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(net_err)?
    } else {
        berth_network::subnet::default_pools()
    };
    Ok(NetworkConfig {
        bridge,
        bip,
        fixed_cidr,
        pools,
        mtu: flags.mtu.or(json.mtu).unwrap_or(1500),
        icc: flags.icc.or(json.icc).unwrap_or(true),
    })
}

fn read_daemon_json(path: &Path) -> Result<DaemonJson> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_json(text: &str) -> Result<DaemonConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, text).unwrap();
        DaemonConfig::load(
            Flags {
                config_file: Some(path),
                ..Flags::default()
            },
            "/bin/true".into(),
        )
    }

    #[test]
    fn defaults_are_dockerd_like() {
        let c = load_json("{}").unwrap();
        assert_eq!(c.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(c.exec_root, PathBuf::from(DEFAULT_EXEC_ROOT));
        assert_eq!(c.hosts, vec![DEFAULT_HOST.to_string()]);
        assert_eq!(c.default_runtime, BUILTIN_RUNTIME);
    }

    #[test]
    fn unknown_key_is_a_clear_error() {
        let err = load_json(r#"{"data-root":"/x","no-such-key":1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("don't match any configuration option: no-such-key"),
            "{err}"
        );
    }

    #[test]
    fn known_dockerd_keys_are_accepted() {
        let c = load_json(r#"{"ip-forward":true,"data-root":"/d","log-opts":{"max-size":"1m"}}"#)
            .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.ignored_keys, vec!["ip-forward".to_string()]);
        assert_eq!(c.log_opts["max-size"], "1m");
    }

    #[test]
    fn flags_win_and_hosts_must_be_unix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, r#"{"data-root":"/a"}"#).unwrap();
        let flags = Flags {
            config_file: Some(path),
            data_root: Some("/b".into()),
            hosts: vec!["tcp://0.0.0.0:2375".into()],
            ..Flags::default()
        };
        let c = DaemonConfig::load(flags, "/bin/true".into()).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/b"));
        assert!(c.unix_sockets().is_err());
    }

    #[test]
    fn network_keys_are_read() {
        let c = load_json(
            r#"{"bip":"10.77.0.1/24","default-address-pools":[{"base":"10.80.0.0/16","size":24}]}"#,
        )
        .unwrap();
        assert_eq!(c.network.bip.unwrap().to_string(), "10.77.0.1/24");
        assert_eq!(c.network.pools[0].size, 24);
        assert_eq!(c.network.bridge.as_deref(), Some(DEFAULT_BRIDGE));
        assert!(load_json(r#"{"bip":"nonsense"}"#).is_err());
        assert!(load_json(r#"{"bip":"10.1.0.1/24","fixed-cidr":"10.2.0.0/25"}"#).is_err());
        assert!(load_json(r#"{"bridge":"none"}"#)
            .unwrap()
            .network
            .bridge
            .is_none());
    }

    #[test]
    fn bad_json_and_bad_level_are_errors() {
        assert!(load_json("{not json").is_err());
        assert!(load_json(r#"{"log-level":"loud"}"#).is_err());
        assert!(load_json(r#"{"default-runtime":"crun"}"#).is_err());
    }
}
