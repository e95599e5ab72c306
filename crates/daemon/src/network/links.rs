//! Legacy container links (`--link name[:alias]`), as Docker keeps them.
//!
//! On the default bridge a link is an `/etc/hosts` line (`IP\talias hostname name`) and the
//! `ALIAS_PORT_*`, `ALIAS_NAME`, `ALIAS_ENV_*` variables, both taken from the linked container
//! when the linking one starts — so the linked container must be running then. On a
//! user-defined network a link is a name that only the linking container's embedded DNS
//! answers. Links are recorded as Docker shows them in `HostConfig.Links`: `/db:/web/db`.

use std::net::Ipv4Addr;

use berth_types::api::HostConfig;

use crate::container::{Container, Status};
use crate::error::{Error, Result};
use crate::Daemon;

/// One recorded link: the linked container's name and the alias it has for the linker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub target: String,
    pub alias: String,
}

impl Link {
    /// Parses `name[:alias]` as given to `--link`, or `/name:/linker/alias` as recorded.
    pub(crate) fn parse(spec: &str) -> Result<Link> {
        let (target, alias) = match spec.split_once(':') {
            Some((t, a)) => (t, a),
            None => (spec, spec),
        };
        let target = target.trim_start_matches('/');
        // A recorded alias is `/linker/alias`: the alias is its last part.
        let alias = alias.rsplit('/').next().unwrap_or_default();
        if target.is_empty() || alias.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid link {spec:?}: expected name[:alias]"
            )));
        }
        Ok(Link {
            target: target.to_owned(),
            alias: alias.to_owned(),
        })
    }

    pub(crate) fn all(hc: &HostConfig) -> Vec<Link> {
        hc.links
            .iter()
            .flatten()
            .filter_map(|l| Link::parse(l).ok())
            .collect()
    }
}

/// What the default bridge's links add to a starting container.
#[derive(Debug, Default)]
pub(crate) struct LinkedHosts {
    /// `/etc/hosts` entries: (names, address).
    pub hosts: Vec<(String, String)>,
    pub env: Vec<String>,
}

impl Daemon {
    /// Checks `--link`s at create and rewrites them as Docker records them.
    pub(crate) fn record_links(&self, linker: &str, hc: &mut HostConfig) -> Result<()> {
        let Some(links) = hc.links.take().filter(|l| !l.is_empty()) else {
            return Ok(());
        };
        if hc
            .network_mode
            .as_deref()
            .is_some_and(|m| m == "host" || m == "none" || m.starts_with("container:"))
        {
            return Err(Error::InvalidArgument(
                "conflicting options: links and the host, none or container network modes".into(),
            ));
        }
        let mut out = Vec::new();
        for spec in &links {
            let link = Link::parse(spec)?;
            let target = self.containers.lookup(&link.target).map_err(|_| {
                Error::InvalidArgument(format!(
                    "could not get container for {}: no such container",
                    link.target
                ))
            })?;
            let target = target.snapshot().name;
            out.push(format!("/{target}:/{linker}/{}", link.alias));
        }
        hc.links = Some(out);
        Ok(())
    }

    /// The hosts entries and variables of `c`'s links on the default bridge (none on other
    /// networks, where links are DNS names).
    pub(crate) fn linked_hosts(&self, c: &Container) -> Result<LinkedHosts> {
        let mut out = LinkedHosts::default();
        let links = Link::all(&c.host_config);
        let Some(bridge) = self.networks.default_bridge() else {
            return Ok(out);
        };
        let on_bridge = c
            .networking
            .attachments
            .first()
            .is_some_and(|a| a.network_id == bridge.id);
        if links.is_empty() || !on_bridge {
            return Ok(out);
        }
        for link in links {
            let child = self
                .containers
                .lookup(&link.target)
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "could not get container for {}: no such container",
                        link.target
                    ))
                })?
                .snapshot();
            let ip = (child.state.status == Status::Running)
                .then(|| endpoint_ip(&child, &bridge.id))
                .flatten()
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Cannot link to a non running container: /{} AS /{}/{}",
                        child.name, c.name, link.alias
                    ))
                })?;
            let hostname = child
                .config
                .hostname
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| child.id[..12].to_owned());
            let mut names = format!("{} {hostname}", link.alias);
            if link.alias != child.name {
                names.push(' ');
                names.push_str(&child.name);
            }
            out.hosts.push((names, ip.to_string()));
            out.env.extend(link_env(&link.alias, &c.name, ip, &child));
        }
        Ok(out)
    }

    /// The address that `alias`, a link of container `linker`, has on network `network_id`.
    pub(crate) fn link_address(
        &self,
        linker: &Container,
        alias: &str,
        network_id: &str,
    ) -> Option<Ipv4Addr> {
        let link = Link::all(&linker.host_config)
            .into_iter()
            .find(|l| l.alias.eq_ignore_ascii_case(alias))?;
        let child = self.containers.lookup(&link.target).ok()?.snapshot();
        endpoint_ip(&child, network_id)
    }
}

fn endpoint_ip(c: &Container, network_id: &str) -> Option<Ipv4Addr> {
    c.networking
        .live
        .as_ref()?
        .endpoints
        .iter()
        .find(|e| e.network_id == network_id)
        .map(|e| e.ip)
}

/// Docker's link variables (moby `daemon/links`): the lowest port as `ALIAS_PORT`, every
/// exposed port's `_PORT_<n>_<PROTO>{,_ADDR,_PORT,_PROTO}`, `ALIAS_NAME`, and the linked
/// container's environment as `ALIAS_ENV_*` (but `HOME` and `PATH`).
fn link_env(alias: &str, linker: &str, ip: Ipv4Addr, child: &Container) -> Vec<String> {
    let prefix = alias.to_ascii_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = child
        .config
        .exposed_ports
        .iter()
        .flatten()
        .chain(
            child
                .host_config
                .port_bindings
                .iter()
                .flat_map(|m| m.keys()),
        )
        .filter_map(|spec| {
            let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
            Some((port.parse().ok()?, proto.to_ascii_lowercase()))
        })
        .collect();
    // Ascending by number, tcp before udp, as Docker sorts them.
    ports.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| (a.1 != "tcp").cmp(&(b.1 != "tcp")))
    });
    ports.dedup();
    let mut env = Vec::new();
    if let Some((port, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &ports {
        let p = proto.to_ascii_uppercase();
        env.push(format!("{prefix}_PORT_{port}_{p}={proto}://{ip}:{port}"));
        env.push(format!("{prefix}_PORT_{port}_{p}_ADDR={ip}"));
        env.push(format!("{prefix}_PORT_{port}_{p}_PORT={port}"));
        env.push(format!("{prefix}_PORT_{port}_{p}_PROTO={proto}"));
    }
    env.push(format!("{prefix}_NAME=/{linker}/{alias}"));
    for var in child.config.env.iter().flatten() {
        if let Some((name, value)) = var.split_once('=') {
            if name != "HOME" && name != "PATH" {
                env.push(format!("{prefix}_ENV_{name}={value}"));
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_given_and_recorded_links() {
        let l = Link::parse("db").unwrap();
        assert_eq!((l.target.as_str(), l.alias.as_str()), ("db", "db"));
        let l = Link::parse("db:database").unwrap();
        assert_eq!((l.target.as_str(), l.alias.as_str()), ("db", "database"));
        let l = Link::parse("/db:/web/database").unwrap();
        assert_eq!((l.target.as_str(), l.alias.as_str()), ("db", "database"));
        assert!(Link::parse(":x").is_err());
        assert!(Link::parse("db:").is_err());
    }
}
