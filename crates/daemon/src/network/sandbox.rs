//! A container's place on its networks: what it asked for at create, what it holds while it
//! runs, how that is built at start and torn down after.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use berth_network::ports;
use berth_network::{netns, Subnet};
use berth_runtime::spec::NetworkMode;
use berth_types::api::{EndpointSettings, HostConfig, NetworkingConfig};
use serde::{Deserialize, Serialize};

use super::NetworkRecord;
use crate::container::{Container, Entry};
use crate::error::{Error, Result};
use crate::Daemon;

/// The networking part of a container's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerNetworking {
    /// The networks the container belongs to, in connection order; the first one carries the
    /// default route.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// What the running container holds; `None` when it does not run.
    #[serde(default)]
    pub live: Option<Live>,
}

/// Membership of one network, with what was asked for (`--network-alias`, `--ip`, `--mac-address`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Attachment {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Live {
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<LiveEndpoint>,
    pub ports: Vec<PublishedPort>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveEndpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub host_veth: String,
    pub ifname: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedPort {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// The host-side veth of container `id`'s `n`-th interface: derived from the ID so that a
/// teardown after a crash finds it without any record.
pub fn veth_name(id: &str, n: usize) -> String {
    format!("veth{}{:x}", &id[..9.min(id.len())], n % 16)
}

/// What the files and spec of a starting container need to know of its network.
pub(crate) struct Setup {
    pub mode: NetworkMode,
    /// The container's first address (for /etc/hosts).
    pub ip: Option<Ipv4Addr>,
    /// The embedded DNS server answers for it (resolv.conf points at 127.0.0.11).
    pub embedded_dns: bool,
}

fn endpoint_for<'a>(
    nc: Option<&'a NetworkingConfig>,
    keys: &[&str],
) -> Option<&'a EndpointSettings> {
    let map = nc?.endpoints_config.as_ref()?;
    keys.iter().find_map(|k| map.get(*k))
}

impl Daemon {
    /// Create-time: which networks the container joins, checked against what exists.
    pub(crate) fn plan_networking(
        &self,
        hc: &HostConfig,
        nc: Option<&NetworkingConfig>,
    ) -> Result<ContainerNetworking> {
        let mode = hc.network_mode.as_deref().unwrap_or("bridge");
        let publishes = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
            || hc.publish_all_ports == Some(true);
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            if publishes && mode != "host" {
                return Err(Error::InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            return Ok(ContainerNetworking::default());
        }
        let first = if mode == "bridge" {
            self.networks.default_bridge().ok_or_else(|| {
                Error::NoSuchNetwork("bridge (the daemon runs without a default bridge)".into())
            })?
        } else {
            self.networks.find(mode)?
        };
        if !first.is_bridge() {
            return Err(Error::InvalidArgument(format!(
                "container cannot be connected to network {} of driver {}",
                first.name, first.driver
            )));
        }
        let mut out = ContainerNetworking::default();
        out.attachments.push(attachment_for(
            &first,
            // docker CLI 28 names the endpoint of `NetworkMode: default` "default".
            endpoint_for(nc, &[mode, "default", &first.name, &first.id]),
        )?);
        for (key, ep) in nc
            .and_then(|n| n.endpoints_config.as_ref())
            .into_iter()
            .flatten()
        {
            // The docker CLI names the network of `--network` (or `default`) here too.
            if key == mode || key == "default" {
                continue;
            }
            let net = self.networks.find(key)?;
            if net.id == first.id {
                continue;
            }
            if !net.is_bridge() {
                return Err(Error::InvalidArgument(format!(
                    "container cannot be connected to network {} of driver {}",
                    net.name, net.driver
                )));
            }
            out.attachments.push(attachment_for(&net, Some(ep))?);
        }
        Ok(out)
    }

    /// Start-time: namespace, addresses, veths, host ports, firewall and DNS. On error the
    /// caller's teardown ([`Daemon::network_teardown`]) undoes what was done.
    pub(crate) async fn network_setup(&self, entry: &Arc<Entry>, c: &Container) -> Result<Setup> {
        let hc = &c.host_config;
        let mode = hc.network_mode.as_deref().unwrap_or("bridge");
        match mode {
            "host" => {
                return Ok(Setup {
                    mode: NetworkMode::Host,
                    ip: None,
                    embedded_dns: false,
                })
            }
            "none" => {
                return Ok(Setup {
                    mode: NetworkMode::None,
                    ip: None,
                    embedded_dns: false,
                })
            }
            m if m.starts_with("container:") => {
                let other = self.containers.lookup(&m["container:".len()..])?.snapshot();
                if !other.state.status.is_running() || other.state.pid <= 0 {
                    return Err(Error::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        other.id
                    )));
                }
                let path = other
                    .networking
                    .live
                    .as_ref()
                    .and_then(|l| l.netns.clone())
                    .unwrap_or_else(|| format!("/proc/{}/ns/net", other.state.pid).into());
                return Ok(Setup {
                    mode: NetworkMode::Join(path),
                    ip: None,
                    embedded_dns: false,
                });
            }
            _ => {}
        }
        // A record from before networking existed has no attachments: plan them now.
        let planned;
        let c = if c.networking.attachments.is_empty() {
            let mut with = c.clone();
            with.networking = self.plan_networking(hc, None)?;
            self.update(entry, |r| {
                r.networking.attachments = with.networking.attachments.clone()
            })?;
            planned = with;
            &planned
        } else {
            c
        };
        let t0 = std::time::Instant::now();
        let path = self.networks.netns_dir.join(&c.id);
        let p = path.clone();
        blocking(move || Ok(netns::create(&p)?)).await?;
        let t_netns = t0.elapsed();
        let mut live = Live {
            netns: Some(path.clone()),
            ..Live::default()
        };
        let mut embedded_dns = false;
        for (i, att) in c.networking.attachments.iter().enumerate() {
            let net = self
                .networks
                .by_id(&att.network_id)
                .ok_or_else(|| Error::NoSuchNetwork(att.network_id.clone()))?;
            embedded_dns |= !net.is_predefined();
            let ep = self.plug(&c.id, &path, &net, att, i, i == 0).await?;
            live.endpoints.push(ep);
        }
        // Published ports go to the first network's address, as with Docker.
        let wanted = ports::wanted(
            hc.port_bindings.as_ref().unwrap_or(&HashMap::new()),
            c.config.exposed_ports.as_deref().unwrap_or(&[]),
            hc.publish_all_ports == Some(true),
        )?;
        if !wanted.is_empty() {
            let ip = live
                .endpoints
                .first()
                .map(|e| e.ip)
                .ok_or_else(|| Error::Internal("published ports without an address".into()))?;
            let mut held = Vec::new();
            for w in &wanted {
                let mut r = ports::reserve(w).map_err(|e| {
                    Error::Conflict(format!(
                        "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): {e}",
                        c.name,
                        live.endpoints.first().map(|e| e.endpoint_id.as_str()).unwrap_or("")
                    ))
                })?;
                live.ports.push(PublishedPort {
                    proto: r.proto.as_str().into(),
                    host_ip: r.host_ip.to_string(),
                    host_port: r.host_port,
                    container_port: r.container_port,
                });
                if self.serve_v6(&c.id, &mut r, ip)? {
                    live.ports.push(PublishedPort {
                        proto: r.proto.as_str().into(),
                        host_ip: "::".into(),
                        host_port: r.host_port,
                        container_port: r.container_port,
                    });
                }
                held.push(r);
            }
            self.networks.hold_ports(&c.id, ip, held);
            let _g = self.networks.op.lock().await;
            self.networks.apply_firewall()?;
        }
        if embedded_dns {
            self.start_dns(&c.id, &path, hc).await?;
        }
        let ip = live.endpoints.first().map(|e| e.ip);
        let joined: Vec<String> = live
            .endpoints
            .iter()
            .map(|e| e.network_id.clone())
            .collect();
        self.update(entry, |c| c.networking.live = Some(live))?;
        // Docker reports each network a starting container joins.
        for net in joined.iter().filter_map(|n| self.networks.by_id(n)) {
            self.network_event("connect", &net.id, &net.name, &net.driver, Some(&c.id));
        }
        tracing::debug!(
            "network of {}: namespace {:?}, all {:?}",
            c.short_id(),
            t_netns,
            t0.elapsed()
        );
        Ok(Setup {
            mode: NetworkMode::Join(path),
            ip,
            embedded_dns,
        })
    }

    /// Allocates an address on `net` and plugs interface `n` of the namespace at `netns` in.
    pub(crate) async fn plug(
        &self,
        id: &str,
        netns_path: &std::path::Path,
        net: &NetworkRecord,
        att: &Attachment,
        n: usize,
        default_route: bool,
    ) -> Result<LiveEndpoint> {
        let subnet = net
            .subnet()
            .ok_or_else(|| Error::Internal(format!("network {} has no subnet", net.name)))?;
        let (db, netc, cid, want) = (
            self.db.clone(),
            net.clone(),
            id.to_owned(),
            att.ipv4.clone(),
        );
        let ip: Ipv4Addr = blocking(move || {
            db.allocate_ip(&netc.id, &cid, want.as_deref(), &|used| {
                netc.pick_address(used)
            })
            .map_err(Error::from)
        })
        .await?
        .parse()
        .map_err(|_| Error::Internal("IPAM handed out a malformed address".into()))?;
        let mac = match &att.mac {
            Some(m) => berth_network::parse_mac(m)?,
            None => berth_network::mac_for(ip),
        };
        let link = netns::Link {
            host_name: veth_name(id, n),
            ifname: format!("eth{n}"),
            bridge: net.bridge.clone(),
            mac,
            address: ip,
            prefix: subnet.prefix,
            // Docker gives containers of --internal networks no default route.
            default_gateway: if default_route && !net.internal {
                net.gateway()
            } else {
                None
            },
            mtu: self.networks.mtu,
            isolated: net
                .options
                .get("com.docker.network.bridge.enable_icc")
                .is_some_and(|v| v == "false"),
        };
        let (l, p) = (link.clone(), netns_path.to_owned());
        blocking(move || Ok(netns::attach(&p, &l)?)).await?;
        Ok(LiveEndpoint {
            network_id: net.id.clone(),
            endpoint_id: berth_types::id::generate_id(),
            ip,
            prefix: subnet.prefix,
            gateway: net.gateway(),
            mac: berth_network::format_mac(&mac),
            host_veth: link.host_name,
            ifname: link.ifname,
        })
    }

    /// Serves the `[::]` side of a published TCP port through the proxy; whether it did.
    fn serve_v6(&self, id: &str, r: &mut ports::Reserved, ip: Ipv4Addr) -> Result<bool> {
        let Some(l) = r.take_v6() else {
            return Ok(false);
        };
        let task = ports::proxy_v6(l, SocketAddr::from((ip, r.container_port)))
            .map_err(Error::io("serving a published port on IPv6"))?;
        self.networks.add_proxy(id, task);
        Ok(true)
    }

    /// Starts the embedded DNS server at 127.0.0.11:53 (UDP and TCP) in the namespace at
    /// `netns_path`.
    pub(crate) async fn start_dns(
        &self,
        id: &str,
        netns_path: &std::path::Path,
        hc: &HostConfig,
    ) -> Result<()> {
        let p = netns_path.to_owned();
        let sockets = blocking(move || {
            Ok(netns::dns_sockets_in(
                &p,
                SocketAddr::from((Ipv4Addr::new(127, 0, 0, 11), 53)),
            )?)
        })
        .await?;
        let upstreams = match hc.dns.as_ref().filter(|d| !d.is_empty()) {
            Some(list) => Arc::new(
                list.iter()
                    .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, 53))
                    .collect(),
            ),
            None => self.networks.upstreams(),
        };
        let lookup = Arc::new(super::lookup::DnsView(self.me.clone()));
        let task = berth_network::dns::serve(sockets, id.to_owned(), lookup, upstreams)
            .map_err(Error::io("serving DNS"))?;
        self.networks.set_dns(id, task);
        Ok(())
    }

    /// Undoes [`Daemon::network_setup`]; safe to call when nothing was set up, and after a
    /// crash (veth names and the namespace path derive from the ID).
    pub(crate) async fn network_teardown(&self, id: &str) {
        self.networks.stop_dns(id);
        let had_ports = self.networks.release_ports(id);
        let entry = self.containers.lookup(id).ok();
        let mut veths: Vec<String> = (0..4).map(|n| veth_name(id, n)).collect();
        let mut left = Vec::new();
        if let Some(e) = &entry {
            if let Some(live) = e.snapshot().networking.live {
                for ep in live.endpoints {
                    veths.push(ep.host_veth);
                    left.push(ep.network_id);
                }
            }
        }
        let netns_path = self.networks.netns_dir.join(id);
        let (db, cid) = (self.db.clone(), id.to_owned());
        let _ = blocking(move || {
            for v in veths {
                if netns::link_exists(&v) {
                    if let Err(e) = netns::detach(&v) {
                        tracing::warn!("removing {v}: {e}");
                    }
                }
            }
            netns::remove(&netns_path);
            db.release_ips(&cid, None)?;
            Ok(())
        })
        .await;
        if let Some(e) = &entry {
            if e.snapshot().networking.live.is_some() {
                let _ = self.update(e, |c| c.networking.live = None);
            }
        }
        for net in left.iter().filter_map(|n| self.networks.by_id(n)) {
            self.network_event("disconnect", &net.id, &net.name, &net.driver, Some(id));
        }
        if had_ports {
            let _g = self.networks.op.lock().await;
            if let Err(e) = self.networks.apply_firewall() {
                tracing::warn!("removing the port rules of {id}: {e}");
            }
        }
    }

    /// After the containers are restored: hold again what running containers held, serve
    /// their DNS, render the firewall, and drop what belongs to nothing.
    pub async fn network_reconcile(&self) {
        let mut running = std::collections::HashSet::new();
        for entry in self.containers.all() {
            let c = entry.snapshot();
            let Some(live) = c.networking.live.clone() else {
                continue;
            };
            if !c.state.status.is_running() {
                self.network_teardown(&c.id).await;
                continue;
            }
            running.insert(c.id.clone());
            if !live.ports.is_empty() {
                let mut held = Vec::new();
                let ip = live.endpoints.first().map(|e| e.ip);
                for p in live.ports.iter().filter(|p| p.host_ip != "::") {
                    let w = ports::Wanted {
                        proto: super::proto_of(&p.proto),
                        container_port: p.container_port,
                        host_ip: p.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                        host_ports: (p.host_port, p.host_port),
                    };
                    match ports::reserve(&w) {
                        Ok(mut r) => {
                            if let Some(ip) = ip {
                                let _ = self.serve_v6(&c.id, &mut r, ip);
                            }
                            held.push(r)
                        }
                        Err(e) => {
                            tracing::warn!("holding port {} of {} again: {e}", p.host_port, c.id)
                        }
                    }
                }
                if let Some(ep) = live.endpoints.first() {
                    self.networks.hold_ports(&c.id, ep.ip, held);
                }
            }
            let user_net = live.endpoints.iter().any(|e| {
                self.networks
                    .by_id(&e.network_id)
                    .is_some_and(|n| !n.is_predefined())
            });
            if let (true, Some(path)) = (user_net, live.netns.clone()) {
                if let Err(e) = self.start_dns(&c.id, &path, &c.host_config).await {
                    tracing::warn!("DNS of {}: {e}", c.id);
                }
            }
        }
        if let Ok(allocs) = self.db.list_ip_allocations() {
            for a in allocs {
                if !running.contains(&a.container_id) {
                    let _ = self.db.release_ips(&a.container_id, Some(&a.network_id));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(&self.networks.netns_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !running.contains(&name) {
                    netns::remove(&e.path());
                }
            }
        }
        let _g = self.networks.op.lock().await;
        if let Err(e) = self.networks.apply_firewall() {
            tracing::warn!("rendering the firewall: {e}");
        }
    }

    /// inspect's `NetworkSettings`, in Docker's shape.
    pub(crate) fn network_settings(&self, c: &Container) -> serde_json::Value {
        use serde_json::json;
        let live = c.networking.live.as_ref();
        let mut networks = serde_json::Map::new();
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let predefined: Option<NetworkRecord> = match mode.as_str() {
            "host" | "none" => self.networks.find(&mode).ok(),
            _ => None,
        };
        let mut all: Vec<(NetworkRecord, Attachment)> = c
            .networking
            .attachments
            .iter()
            .filter_map(|a| Some((self.networks.by_id(&a.network_id)?, a.clone())))
            .collect();
        if let Some(p) = predefined {
            let id = p.id.clone();
            all.push((
                p,
                Attachment {
                    network_id: id,
                    ..Attachment::default()
                },
            ));
        }
        for (net, att) in &all {
            let ep = live.and_then(|l| l.endpoints.iter().find(|e| e.network_id == net.id));
            let mut dns_names = Vec::new();
            if !net.is_predefined() {
                dns_names.push(c.name.clone());
                dns_names.extend(att.aliases.iter().cloned());
                dns_names.push(c.id[..12].to_owned());
            }
            networks.insert(
                net.name.clone(),
                json!({
                    "IPAMConfig": att.ipv4.as_ref().map(|ip| json!({"IPv4Address": ip})),
                    "Links": null,
                    "Aliases": if att.aliases.is_empty() { json!(null) } else { json!(att.aliases) },
                    "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                    "DriverOpts": null,
                    "GwPriority": 0,
                    "NetworkID": net.id,
                    "EndpointID": ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                    "Gateway": ep.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                    "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": if dns_names.is_empty() { json!(null) } else { json!(dns_names) },
                }),
            );
        }
        let mut ports = serde_json::Map::new();
        if c.state.status.is_running() && live.is_some() {
            for p in c.config.exposed_ports.iter().flatten() {
                ports.insert(p.clone(), json!(null));
            }
            for p in live.map(|l| l.ports.as_slice()).unwrap_or(&[]) {
                let key = format!("{}/{}", p.container_port, p.proto);
                let entry = ports.entry(key).or_insert(json!([]));
                if entry.is_null() {
                    *entry = json!([]);
                }
                if let Some(a) = entry.as_array_mut() {
                    a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
                }
            }
        }
        // The legacy top-level fields describe the default bridge endpoint.
        let default_ep = live.and_then(|l| {
            l.endpoints
                .iter()
                .find(|e| Some(&e.network_id) == self.networks.default_bridge.as_ref())
        });
        json!({
            "Bridge": "",
            "SandboxID": live.and_then(|l| l.netns.as_ref()).map(|_| c.id.clone()).unwrap_or_default(),
            "SandboxKey": live.and_then(|l| l.netns.as_ref()).map(|p| p.display().to_string())
                .unwrap_or_else(|| if c.state.pid > 0 { format!("/proc/{}/ns/net", c.state.pid) } else { String::new() }),
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": default_ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
            "Gateway": default_ep.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": default_ep.map(|e| e.ip.to_string()).unwrap_or_default(),
            "IPPrefixLen": default_ep.map(|e| e.prefix).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": default_ep.map(|e| e.mac.clone()).unwrap_or_default(),
            "Networks": networks,
        })
    }

    /// The default bridge's gateway, for `--add-host name:host-gateway`.
    pub(crate) fn host_gateway(&self) -> Option<Ipv4Addr> {
        self.networks.default_bridge().and_then(|n| n.gateway())
    }
}

pub(crate) fn attachment_for(
    net: &NetworkRecord,
    ep: Option<&EndpointSettings>,
) -> Result<Attachment> {
    let aliases = ep.and_then(|e| e.aliases.clone()).unwrap_or_default();
    let ipv4 = ep
        .and_then(|e| e.ipam_config.as_ref())
        .and_then(|c| c.ipv4_address.clone())
        .filter(|s| !s.is_empty());
    let mac = ep
        .and_then(|e| e.mac_address.clone())
        .filter(|s| !s.is_empty());
    if net.is_predefined() {
        if !aliases.is_empty() {
            return Err(Error::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if ipv4.is_some() {
            return Err(Error::InvalidArgument(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
    }
    if let Some(ip) = &ipv4 {
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address: {ip}")))?;
        if !net.subnet().is_some_and(|s: Subnet| s.contains(addr)) {
            return Err(Error::InvalidArgument(format!(
                "no configured subnet contains IP address {ip}"
            )));
        }
    }
    if let Some(m) = &mac {
        berth_network::parse_mac(m)?;
    }
    Ok(Attachment {
        network_id: net.id.clone(),
        aliases,
        ipv4,
        mac,
    })
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("network task: {e}")))?
}

impl Daemon {
    /// `--add-host name:addr` entries (also `name=addr`), `host-gateway` resolved to the
    /// default bridge's gateway as Docker does.
    pub(crate) fn extra_hosts(&self, hc: &HostConfig) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for e in hc.extra_hosts.iter().flatten() {
            let (name, addr) = e
                .split_once('=')
                .or_else(|| e.split_once(':'))
                .ok_or_else(|| Error::InvalidArgument(format!("invalid extra host: {e}")))?;
            let addr = if addr == "host-gateway" {
                self.host_gateway()
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "unable to derive the IP value for host-gateway (no default bridge)"
                                .into(),
                        )
                    })?
                    .to_string()
            } else {
                addr.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            };
            out.push((name.to_owned(), addr));
        }
        Ok(out)
    }
}

/// `ps`'s `Ports`: published bindings of a running container, then exposed ports alone.
pub fn port_summaries(c: &Container) -> Vec<berth_types::api::PortSummary> {
    use berth_types::api::{PortSummary, PortSummaryTypeEnum};
    let typ = |p: &str| match p {
        "udp" => PortSummaryTypeEnum::UDP,
        "sctp" => PortSummaryTypeEnum::SCTP,
        _ => PortSummaryTypeEnum::TCP,
    };
    let mut out = Vec::new();
    let live = c
        .networking
        .live
        .as_ref()
        .filter(|_| c.state.status.is_running());
    for p in live.map(|l| l.ports.as_slice()).unwrap_or(&[]) {
        out.push(PortSummary {
            ip: Some(p.host_ip.clone()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(typ(&p.proto)),
        });
    }
    for e in c.config.exposed_ports.iter().flatten() {
        let Ok((port, proto)) = berth_network::ports::parse_port_proto(e) else {
            continue;
        };
        if !out
            .iter()
            .any(|s| s.private_port == port && s.typ == Some(typ(proto.as_str())))
        {
            out.push(PortSummary {
                ip: None,
                private_port: port,
                public_port: None,
                typ: Some(typ(proto.as_str())),
            });
        }
    }
    out
}
