//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks, and each
//! container's place on them.
//!
//! Lifecycle. At start-up ([`Networks::open`]) the networks are loaded from the database, the
//! default bridge is created (subnet from `--bip`, else the one recorded, else a free one from
//! the address pools, chosen under a host-wide lock so that daemons side by side never pick the
//! same), and every network's bridge is made to exist. After the containers are restored,
//! [`Daemon::network_reconcile`] re-derives the rest from what is running: host ports held
//! again, DNS served again, the firewall table re-rendered, stale address allocations and
//! namespace files removed. A container's network is built at each start
//! ([`Daemon::network_setup`]) and torn down with its runtime ([`Daemon::network_teardown`]).

mod links;
mod lookup;
mod sandbox;
mod verbs;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use berth_network::firewall::{BridgeRules, Firewall, PortRule, Proto, Ruleset};
use berth_network::ports::Reserved;
use berth_network::{netns, Subnet};
use serde::{Deserialize, Serialize};

use crate::config::DaemonConfig;
use crate::error::{Error, Result};

pub(crate) use sandbox::Setup;
pub use sandbox::{port_summaries, veth_name, ContainerNetworking};

/// A network as the daemon records it (the `record` JSON of its metadata row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    /// The Linux bridge (empty for `host` and `null`).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub ip_range: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
}

impl NetworkRecord {
    pub fn subnet(&self) -> Option<Subnet> {
        self.subnet.as_deref().and_then(|s| s.parse().ok())
    }

    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway.as_deref().and_then(|s| s.parse().ok())
    }

    /// The range addresses are handed out from (`--ip-range`, `--fixed-cidr`, else the subnet).
    pub fn range(&self) -> Option<Subnet> {
        self.ip_range
            .as_deref()
            .and_then(|s| s.parse().ok())
            .or(self.subnet())
    }

    /// `bridge`, `host` and `none` are predefined; the rest are user-defined.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The first free address of the range: not the network, broadcast or gateway address.
    pub fn pick_address(&self, used: &std::collections::HashSet<String>) -> Option<String> {
        let subnet = self.subnet()?;
        let range = self.range()?;
        let gw = self.gateway();
        let (first, bcast) = (subnet.first(), u32::from(subnet.broadcast()));
        (0..range.size().min(1 << 24) as u32)
            .map(|i| range.nth(i))
            .filter(|ip| {
                let v = u32::from(*ip);
                v != first && v != bcast && Some(*ip) != gw
            })
            .map(|ip| ip.to_string())
            .find(|a| !used.contains(a))
    }
}

/// The daemon's networks and the host resources its running containers hold.
pub struct Networks {
    nets: RwLock<Vec<NetworkRecord>>,
    firewall: Firewall,
    /// Serialises network create/remove and firewall renders.
    pub(crate) op: tokio::sync::Mutex<()>,
    /// Host ports held per container, with the address their traffic goes to.
    ports: Mutex<HashMap<String, (Ipv4Addr, Vec<Reserved>)>>,
    /// The embedded DNS server task per container.
    dns: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// The `[::]` proxies of published ports, per container.
    proxies: Mutex<HashMap<String, Vec<tokio::task::JoinHandle<()>>>>,
    /// The host's resolvers (for names the embedded DNS does not know).
    upstreams: Arc<Vec<SocketAddr>>,
    /// Where container network namespaces are mounted.
    pub(crate) netns_dir: PathBuf,
    pub(crate) mtu: u32,
    /// The default bridge network's ID, if there is a default bridge.
    default_bridge: Option<String>,
}

/// A lock shared by every Berth daemon on the host, held while a subnet is chosen and its
/// bridge given its address, so two daemons starting together do not pick the same subnet.
pub(crate) struct HostLock(std::fs::File);

impl HostLock {
    pub(crate) fn take() -> Result<HostLock> {
        let path = "/run/berth-network.lock";
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("opening {path}")))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(format!("locking {path}"))(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(HostLock(f))
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: as above; closing would release it too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn new_id() -> String {
    berth_types::id::generate_id()
}

impl Networks {
    /// Loads the networks and makes their bridges exist (see the module docs).
    pub fn open(config: &DaemonConfig, db: &berth_metadata::Db) -> Result<Networks> {
        let mut nets: Vec<NetworkRecord> = Vec::new();
        for row in db.list_networks()? {
            match serde_json::from_str::<NetworkRecord>(&row.record) {
                Ok(r) => nets.push(r),
                Err(e) => tracing::error!("network {} has an unreadable record: {e}", row.id),
            }
        }
        for (name, driver) in [("none", "null"), ("host", "host")] {
            if !nets.iter().any(|n| n.name == name) {
                let r = NetworkRecord {
                    id: new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: crate::container::now_rfc3339(),
                    bridge: String::new(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    internal: false,
                    attachable: false,
                    labels: HashMap::new(),
                    options: HashMap::new(),
                };
                insert_row(db, &r)?;
                nets.push(r);
            }
        }
        let nc = &config.network;
        let mut firewall = Firewall::new(nc.bridge.as_deref().unwrap_or("nobridge"));
        // A knob for tests: exercise the iptables fallback on a host that has nft.
        if std::env::var("BERTH_FIREWALL").as_deref() == Ok("iptables") {
            firewall = firewall.with_backend(berth_network::firewall::Backend::Iptables);
        }
        let mut default_bridge = None;
        if let Some(bridge) = &nc.bridge {
            let _lock = HostLock::take()?;
            let existing = nets.iter().position(|n| n.name == "bridge");
            let (gateway, prefix) = match nc.bip {
                Some(bip) => {
                    let gw = if bip.addr == bip.network().addr {
                        bip.nth(1)
                    } else {
                        bip.addr
                    };
                    (gw, bip.prefix)
                }
                None => match existing.map(|i| &nets[i]).filter(|n| &n.bridge == bridge) {
                    Some(n) if n.gateway().is_some() && n.subnet().is_some() => (
                        n.gateway().unwrap_or(Ipv4Addr::UNSPECIFIED),
                        n.subnet().map(|s| s.prefix).unwrap_or(16),
                    ),
                    _ => match netns::link_addresses(bridge)?.and_then(|a| a.first().copied()) {
                        // A bridge of that name is there already (made by an earlier run whose
                        // database is gone, or by the administrator): use its address.
                        Some((ip, p)) => (ip, p),
                        None => {
                            let mut used = berth_network::subnet::host_prefixes();
                            used.extend(nets.iter().filter_map(|n| n.subnet()));
                            let s = berth_network::subnet::choose(&nc.pools, &used).ok_or_else(
                                || {
                                    Error::Config(
                                        "no free subnet in the default address pools for the default bridge"
                                            .into(),
                                    )
                                },
                            )?;
                            (s.nth(1), s.prefix)
                        }
                    },
                },
            };
            netns::ensure_bridge(bridge, gateway, prefix)?;
            let subnet = Subnet::new(gateway, prefix).network();
            let mut r = match existing {
                Some(i) => nets.remove(i),
                None => NetworkRecord {
                    id: new_id(),
                    name: "bridge".into(),
                    driver: "bridge".into(),
                    created: crate::container::now_rfc3339(),
                    bridge: String::new(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    internal: false,
                    attachable: false,
                    labels: HashMap::new(),
                    options: HashMap::new(),
                },
            };
            r.bridge = bridge.clone();
            r.subnet = Some(subnet.to_string());
            r.gateway = Some(gateway.to_string());
            r.ip_range = nc.fixed_cidr.map(|f| f.to_string());
            r.options = HashMap::from([
                (
                    "com.docker.network.bridge.default_bridge".into(),
                    "true".into(),
                ),
                (
                    "com.docker.network.bridge.enable_icc".into(),
                    nc.icc.to_string(),
                ),
                (
                    "com.docker.network.bridge.enable_ip_masquerade".into(),
                    "true".into(),
                ),
                (
                    "com.docker.network.bridge.host_binding_ipv4".into(),
                    "0.0.0.0".into(),
                ),
                ("com.docker.network.bridge.name".into(), bridge.clone()),
                ("com.docker.network.driver.mtu".into(), nc.mtu.to_string()),
            ]);
            if existing.is_some() {
                update_row(db, &r)?;
            } else {
                insert_row(db, &r)?;
            }
            default_bridge = Some(r.id.clone());
            nets.push(r);
        }
        // User networks' bridges (gone after a host reboot, say) are made again.
        for n in nets.iter().filter(|n| n.is_bridge() && n.name != "bridge") {
            if let (Some(gw), Some(s)) = (n.gateway(), n.subnet()) {
                if let Err(e) = netns::ensure_bridge(&n.bridge, gw, s.prefix) {
                    tracing::warn!("recreating bridge {} of network {}: {e}", n.bridge, n.name);
                }
            }
        }
        if let Err(e) = netns::enable_ip_forward() {
            tracing::warn!("{e}");
        }
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Ok(Networks {
            nets: RwLock::new(nets),
            firewall,
            op: tokio::sync::Mutex::new(()),
            ports: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            upstreams: Arc::new(berth_network::dns::host_upstreams(&resolv)),
            netns_dir: config.exec_root.join("netns"),
            mtu: nc.mtu,
            default_bridge,
        })
    }

    pub fn all(&self) -> Vec<NetworkRecord> {
        self.nets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn by_id(&self, id: &str) -> Option<NetworkRecord> {
        self.all().into_iter().find(|n| n.id == id)
    }

    /// Docker's lookup order: full ID, exact name, then a unique ID prefix.
    pub fn find(&self, key: &str) -> Result<NetworkRecord> {
        let all = self.all();
        if let Some(n) = all.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let matches: Vec<&NetworkRecord> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(Error::NoSuchNetwork(key.to_owned())),
            _ => Err(Error::InvalidArgument(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    pub fn default_bridge(&self) -> Option<NetworkRecord> {
        self.default_bridge.as_deref().and_then(|id| self.by_id(id))
    }

    fn add(&self, r: NetworkRecord) {
        self.nets.write().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    fn forget(&self, id: &str) {
        self.nets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| n.id != id);
    }

    /// Re-renders the firewall table from the networks and the ports held now.
    pub(crate) fn apply_firewall(&self) -> Result<()> {
        let bridges = self
            .all()
            .into_iter()
            .filter(|n| n.is_bridge())
            .filter_map(|n| {
                Some(BridgeRules {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet()?,
                    internal: n.internal,
                    masquerade: n
                        .options
                        .get("com.docker.network.bridge.enable_ip_masquerade")
                        .is_none_or(|v| v != "false"),
                })
            })
            .collect();
        let mut ports = Vec::new();
        for (ip, held) in self
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            for r in held {
                ports.push(PortRule {
                    proto: r.proto,
                    host_ip: Some(r.host_ip),
                    host_port: r.host_port,
                    container_ip: *ip,
                    container_port: r.container_port,
                });
            }
        }
        ports.sort_by_key(|p| (p.host_port, p.proto));
        self.firewall.apply(&Ruleset { bridges, ports })?;
        Ok(())
    }

    pub(crate) fn hold_ports(&self, id: &str, ip: Ipv4Addr, held: Vec<Reserved>) {
        self.ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), (ip, held));
    }

    pub(crate) fn add_proxy(&self, id: &str, task: tokio::task::JoinHandle<()>) {
        self.proxies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_default()
            .push(task);
    }

    /// Drops the ports of `id` (and stops their proxies); whether it had any.
    pub(crate) fn release_ports(&self, id: &str) -> bool {
        for t in self
            .proxies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .unwrap_or_default()
        {
            t.abort();
        }
        self.ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some_and(|(_, v)| !v.is_empty())
    }

    pub(crate) fn set_dns(&self, id: &str, task: tokio::task::JoinHandle<()>) {
        if let Some(old) = self
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), task)
        {
            old.abort();
        }
    }

    pub(crate) fn stop_dns(&self, id: &str) {
        if let Some(t) = self
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
        {
            t.abort();
        }
    }

    pub(crate) fn upstreams(&self) -> Arc<Vec<SocketAddr>> {
        self.upstreams.clone()
    }
}

fn insert_row(db: &berth_metadata::Db, r: &NetworkRecord) -> Result<()> {
    db.insert_network(&berth_metadata::NetworkRow {
        id: r.id.clone(),
        name: r.name.clone(),
        created: r.created.clone(),
        record: serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?,
    })?;
    Ok(())
}

fn update_row(db: &berth_metadata::Db, r: &NetworkRecord) -> Result<()> {
    db.update_network_record(
        &r.id,
        &serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?,
    )?;
    Ok(())
}

/// `berth daemon --network-cleanup`: removes every bridge the daemon's networks own, its
/// firewall table and its iptables rules — for test harnesses that throw a daemon away.
pub fn cleanup(config: &DaemonConfig) -> Result<()> {
    // A remapped daemon keeps its database in its mapping's subtree.
    let db_path = crate::userns::effective_data_root(config).map(|d| d.join("berth.db"));
    if let Some(db_path) = db_path.filter(|p| p.exists()) {
        let db = berth_metadata::Db::open(&db_path)?;
        for row in db.list_networks()? {
            if let Ok(r) = serde_json::from_str::<NetworkRecord>(&row.record) {
                if r.is_bridge() && !r.bridge.is_empty() {
                    netns::delete_link(&r.bridge)?;
                }
            }
        }
    }
    if let Some(b) = &config.network.bridge {
        netns::delete_link(b)?;
    }
    Firewall::new(config.network.bridge.as_deref().unwrap_or("nobridge")).clear()?;
    Ok(())
}

pub(crate) fn proto_of(s: &str) -> Proto {
    Proto::parse(s).unwrap_or(Proto::Tcp)
}
