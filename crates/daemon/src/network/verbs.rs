//! The `/networks` verbs: create, list, inspect, remove, prune, connect, disconnect.

use std::net::Ipv4Addr;

use berth_api::backend::Filters;
use berth_network::{netns, Subnet};
use berth_types::api::{EndpointSettings, NetworkCreateRequest};
use serde_json::{json, Value};

use super::sandbox::{attachment_for, blocking};
use super::{insert_row, HostLock, NetworkRecord};
use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<Value> {
        let name = req.name.clone();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            || !name.as_bytes()[0].is_ascii_alphanumeric()
        {
            return Err(Error::InvalidArgument(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = req
            .driver
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(Error::NotImplemented(format!(
                "network driver {driver:?} is not implemented in Berth (bridge only)"
            )));
        }
        if req.enable_ipv6 == Some(true) {
            return Err(Error::NotImplemented(
                "IPv6 networks are not implemented in Berth yet".into(),
            ));
        }
        let _g = self.networks.op.lock().await;
        if self.networks.all().iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let configs = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        if configs.len() > 1 {
            return Err(Error::NotImplemented(
                "more than one IPAM configuration per network is not implemented in Berth".into(),
            ));
        }
        let cfg = configs.into_iter().next().unwrap_or_default();
        let subnet: Option<Subnet> = cfg
            .subnet
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .transpose()?;
        if subnet.is_some_and(|s| s.addr != s.network().addr) {
            return Err(Error::InvalidArgument(format!(
                "invalid subnet {}: it should be {}",
                subnet.unwrap_or(Subnet::new(Ipv4Addr::UNSPECIFIED, 0)),
                subnet
                    .map(|s| s.network())
                    .unwrap_or(Subnet::new(Ipv4Addr::UNSPECIFIED, 0))
            )));
        }
        let ip_range: Option<Subnet> = cfg
            .ip_range
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Subnet>().map(|r| r.network()))
            .transpose()?;
        let gateway: Option<Ipv4Addr> = cfg
            .gateway
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|g| {
                g.parse()
                    .map_err(|_| Error::InvalidArgument(format!("invalid gateway address: {g}")))
            })
            .transpose()?;
        if (ip_range.is_some() || gateway.is_some()) && subnet.is_none() {
            return Err(Error::InvalidArgument(
                "--ip-range and --gateway need --subnet".into(),
            ));
        }
        let lock = HostLock::take()?;
        let ours: Vec<Subnet> = self
            .networks
            .all()
            .iter()
            .filter_map(|n| n.subnet())
            .collect();
        let subnet = match subnet {
            Some(s) => {
                if ours.iter().any(|o| o.overlaps(&s)) {
                    return Err(Error::Conflict(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                s
            }
            None => {
                let mut used = berth_network::subnet::host_prefixes();
                used.extend(ours);
                berth_network::subnet::choose(&self.config.network.pools, &used).ok_or_else(
                    || {
                        Error::Conflict(
                            "all predefined address pools have been fully subnetted".into(),
                        )
                    },
                )?
            }
        };
        if let Some(r) = ip_range {
            if !r.within(&subnet) {
                return Err(Error::InvalidArgument(format!(
                    "ip-range {r} is not within subnet {subnet}"
                )));
            }
        }
        let gateway = gateway.unwrap_or_else(|| subnet.nth(1));
        if !subnet.contains(gateway) {
            return Err(Error::InvalidArgument(format!(
                "gateway {gateway} is not within subnet {subnet}"
            )));
        }
        let id = berth_types::id::generate_id();
        let options = req.options.clone().unwrap_or_default();
        let bridge = options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.len() > 15 {
            return Err(Error::InvalidArgument(format!(
                "bridge name {bridge:?} is longer than 15 characters"
            )));
        }
        if netns::link_exists(&bridge) {
            return Err(Error::Conflict(format!(
                "a network interface named {bridge} exists already on the host"
            )));
        }
        let record = NetworkRecord {
            id: id.clone(),
            name: name.clone(),
            driver,
            created: crate::container::now_rfc3339(),
            bridge: bridge.clone(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            ip_range: ip_range.map(|r| r.to_string()),
            internal: req.internal == Some(true),
            attachable: req.attachable == Some(true),
            labels: req.labels.clone().unwrap_or_default(),
            options,
        };
        let b = bridge.clone();
        blocking(move || {
            netns::ensure_bridge(&b, gateway, subnet.prefix)?;
            Ok(())
        })
        .await?;
        drop(lock);
        if let Err(e) = insert_row(&self.db, &record) {
            let _ = netns::delete_link(&bridge);
            return Err(match e {
                Error::Metadata(berth_metadata::Error::NameInUse(_)) => {
                    Error::Conflict(format!("network with name {name} already exists"))
                }
                e => e,
            });
        }
        self.network_event("create", &id, &name, &record.driver, None);
        self.networks.add(record);
        if let Err(e) = self.networks.apply_firewall() {
            tracing::warn!("firewall after creating network {name}: {e}");
        }
        Ok(json!({"Id": id, "Warning": ""}))
    }

    pub async fn network_list(&self, filters: Filters) -> Result<Vec<Value>> {
        for k in filters.keys() {
            if !matches!(
                k.as_str(),
                "name" | "id" | "driver" | "label" | "type" | "scope" | "dangling"
            ) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
        }
        let used = self.networks_in_use();
        let mut out = Vec::new();
        for n in self.networks.all() {
            let ok = |key: &str, f: &dyn Fn(&str) -> bool| {
                filters.get(key).is_none_or(|vs| vs.iter().any(|v| f(v)))
            };
            let keep = ok("name", &|v| n.name.contains(v))
                && ok("id", &|v| n.id.starts_with(v))
                && ok("driver", &|v| n.driver == v)
                && ok("scope", &|v| v == "local")
                && ok("type", &|v| match v {
                    "custom" => !n.is_predefined(),
                    "builtin" => n.is_predefined(),
                    _ => false,
                })
                && ok("dangling", &|v| {
                    let dangling = !n.is_predefined() && !used.contains(&n.id);
                    matches!(v, "true" | "1") == dangling
                })
                && ok("label", &|v| match v.split_once('=') {
                    Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                    None => n.labels.contains_key(v),
                });
            if keep {
                out.push(self.network_json(&n, false));
            }
        }
        Ok(out)
    }

    pub async fn network_inspect(&self, key: &str) -> Result<Value> {
        let n = self.networks.find(key)?;
        Ok(self.network_json(&n, true))
    }

    fn network_json(&self, n: &NetworkRecord, with_containers: bool) -> Value {
        let mut containers = serde_json::Map::new();
        if with_containers {
            for e in self.containers.all() {
                let c = e.snapshot();
                let Some(live) = &c.networking.live else {
                    continue;
                };
                for ep in live.endpoints.iter().filter(|ep| ep.network_id == n.id) {
                    containers.insert(
                        c.id.clone(),
                        json!({
                            "Name": c.name,
                            "EndpointID": ep.endpoint_id,
                            "MacAddress": ep.mac,
                            "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                            "IPv6Address": "",
                        }),
                    );
                }
            }
        }
        let mut ipam_cfg = serde_json::Map::new();
        if let Some(s) = &n.subnet {
            ipam_cfg.insert("Subnet".into(), json!(s));
        }
        if let Some(r) = &n.ip_range {
            ipam_cfg.insert("IPRange".into(), json!(r));
        }
        if let Some(g) = &n.gateway {
            ipam_cfg.insert("Gateway".into(), json!(g));
        }
        let config = if ipam_cfg.is_empty() {
            json!([])
        } else {
            json!([ipam_cfg])
        };
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": n.is_bridge(),
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": if n.is_predefined() { json!(null) } else { json!({}) }, "Config": config},
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        })
    }

    /// IDs of networks some container (running or not) belongs to.
    fn networks_in_use(&self) -> std::collections::HashSet<String> {
        self.containers
            .all()
            .iter()
            .flat_map(|e| {
                e.snapshot()
                    .networking
                    .attachments
                    .into_iter()
                    .map(|a| a.network_id)
            })
            .collect()
    }

    pub async fn network_remove(&self, key: &str) -> Result<()> {
        let n = self.networks.find(key)?;
        self.network_remove_record(&n).await
    }

    async fn network_remove_record(&self, n: &NetworkRecord) -> Result<()> {
        if n.is_predefined() {
            return Err(Error::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let _g = self.networks.op.lock().await;
        for e in self.containers.all() {
            let c = e.snapshot();
            if c.networking
                .live
                .as_ref()
                .is_some_and(|l| l.endpoints.iter().any(|ep| ep.network_id == n.id))
            {
                return Err(Error::Conflict(format!(
                    "error while removing network: network {} has active endpoints (name:\"{}\" id:\"{}\")",
                    n.name,
                    c.name,
                    &c.id[..12]
                )));
            }
        }
        let bridge = n.bridge.clone();
        blocking(move || {
            netns::delete_link(&bridge)?;
            Ok(())
        })
        .await?;
        self.db.delete_network(&n.id)?;
        self.networks.forget(&n.id);
        self.network_event("destroy", &n.id, &n.name, &n.driver, None);
        if let Err(e) = self.networks.apply_firewall() {
            tracing::warn!("firewall after removing network {}: {e}", n.name);
        }
        Ok(())
    }

    pub async fn network_prune(&self, filters: Filters) -> Result<Value> {
        let used = self.networks_in_use();
        let mut deleted = Vec::new();
        for n in self.networks.all() {
            if n.is_predefined() || used.contains(&n.id) {
                continue;
            }
            let label_ok = filters.get("label").is_none_or(|vs| {
                vs.iter().all(|v| match v.split_once('=') {
                    Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                    None => n.labels.contains_key(v),
                })
            });
            if !label_ok {
                continue;
            }
            if self.network_remove_record(&n).await.is_ok() {
                deleted.push(n.name.clone());
            }
        }
        Ok(json!({ "NetworksDeleted": deleted }))
    }

    pub async fn network_connect(
        &self,
        key: &str,
        container: &str,
        config: Option<EndpointSettings>,
    ) -> Result<()> {
        let net = self.networks.find(key)?;
        let entry = self.containers.lookup(container)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        if matches!(mode.as_str(), "host" | "none") || mode.starts_with("container:") {
            return Err(Error::Conflict(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network (network mode {mode})"
            )));
        }
        if !net.is_bridge() {
            return Err(Error::Conflict(format!(
                "container cannot be disconnected from host network or connected to host network ({})",
                net.name
            )));
        }
        if c.networking
            .attachments
            .iter()
            .any(|a| a.network_id == net.id)
        {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, net.name
            )));
        }
        let att = attachment_for(&net, config.as_ref())?;
        let live = c.networking.live.clone();
        if let (true, Some(live)) = (c.state.status.is_running(), live) {
            let netns_path = live
                .netns
                .clone()
                .ok_or_else(|| Error::Internal("running container without a namespace".into()))?;
            let n = (0..16)
                .find(|i| !live.endpoints.iter().any(|e| e.ifname == format!("eth{i}")))
                .unwrap_or(live.endpoints.len());
            let ep = self.plug(&c.id, &netns_path, &net, &att, n, false).await?;
            let user = !net.is_predefined();
            let had_dns = live.endpoints.iter().any(|e| {
                self.networks
                    .by_id(&e.network_id)
                    .is_some_and(|n| !n.is_predefined())
            });
            self.update(&entry, |c| {
                c.networking.attachments.push(att.clone());
                if let Some(l) = c.networking.live.as_mut() {
                    l.endpoints.push(ep.clone());
                }
            })?;
            if user && !had_dns {
                self.start_dns(&c.id, &netns_path, &c.host_config).await?;
            }
        } else {
            self.update(&entry, |c| c.networking.attachments.push(att.clone()))?;
        }
        self.network_event("connect", &net.id, &net.name, &net.driver, Some(&c.id));
        Ok(())
    }

    pub async fn network_disconnect(&self, key: &str, container: &str, force: bool) -> Result<()> {
        let net = self.networks.find(key)?;
        let entry = self.containers.lookup(container)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if !c
            .networking
            .attachments
            .iter()
            .any(|a| a.network_id == net.id)
        {
            if force {
                return Ok(());
            }
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        }
        let ep = c
            .networking
            .live
            .as_ref()
            .and_then(|l| l.endpoints.iter().find(|e| e.network_id == net.id).cloned());
        if let Some(ep) = ep {
            let (db, cid, nid) = (self.db.clone(), c.id.clone(), net.id.clone());
            blocking(move || {
                netns::detach(&ep.host_veth)?;
                db.release_ips(&cid, Some(&nid))?;
                Ok(())
            })
            .await?;
        }
        self.update(&entry, |c| {
            c.networking.attachments.retain(|a| a.network_id != net.id);
            if let Some(l) = c.networking.live.as_mut() {
                l.endpoints.retain(|e| e.network_id != net.id);
            }
        })?;
        self.network_event("disconnect", &net.id, &net.name, &net.driver, Some(&c.id));
        Ok(())
    }

    /// Docker's `network` events (`docker events --filter type=network`).
    pub(crate) fn network_event(
        &self,
        action: &str,
        id: &str,
        name: &str,
        driver: &str,
        container: Option<&str>,
    ) {
        let mut attrs = std::collections::HashMap::from([
            ("name".to_owned(), name.to_owned()),
            ("type".to_owned(), driver.to_owned()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_owned());
        }
        self.events.publish(
            berth_types::api::EventMessageTypeEnum::NETWORK,
            action,
            id,
            attrs,
        );
    }
}
