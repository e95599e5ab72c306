//! The embedded DNS server's view of the daemon: names on the querying container's
//! user-defined networks.

use std::net::Ipv4Addr;
use std::sync::Weak;

use crate::Daemon;

pub(crate) struct DnsView(pub(crate) Weak<Daemon>);

impl berth_network::dns::Lookup for DnsView {
    fn lookup(&self, container_id: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let d = self.0.upgrade()?;
        let me = d.containers.lookup(container_id).ok()?.snapshot();
        let mine: Vec<String> = me
            .networking
            .live
            .as_ref()?
            .endpoints
            .iter()
            .map(|e| e.network_id.clone())
            .filter(|n| d.networks.by_id(n).is_some_and(|r| !r.is_predefined()))
            .collect();
        let mut out = Vec::new();
        // `--link db:alias` on a user-defined network: a name only this container resolves.
        for net in &mine {
            if let Some(ip) = d.link_address(&me, name, net) {
                out.push(ip);
            }
        }
        for entry in d.containers.all() {
            let c = entry.snapshot();
            let Some(live) = &c.networking.live else {
                continue;
            };
            for ep in &live.endpoints {
                if !mine.contains(&ep.network_id) {
                    continue;
                }
                let Some(net) = d.networks.by_id(&ep.network_id) else {
                    continue;
                };
                // `web` and `web.my-net` both name container `web` on `my-net`.
                let n = name
                    .strip_suffix(&format!(".{}", net.name.to_ascii_lowercase()))
                    .unwrap_or(name);
                let aliases = c
                    .networking
                    .attachments
                    .iter()
                    .find(|a| a.network_id == ep.network_id)
                    .map(|a| a.aliases.clone())
                    .unwrap_or_default();
                let hit = c.name.eq_ignore_ascii_case(n)
                    || aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
                    || (n.len() >= 12 && c.id.starts_with(n));
                if hit && !out.contains(&ep.ip) {
                    out.push(ep.ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn may_forward(&self, container_id: &str) -> bool {
        let Some(d) = self.0.upgrade() else {
            return false;
        };
        let Ok(me) = d.containers.lookup(container_id) else {
            return false;
        };
        let me = me.snapshot();
        // Docker: containers only on --internal networks get no answers from outside.
        me.networking
            .attachments
            .iter()
            .any(|a| d.networks.by_id(&a.network_id).is_some_and(|n| !n.internal))
    }
}
