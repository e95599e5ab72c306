//! Berth's networking: the pieces the daemon composes into Docker's bridge networks.
//!
//! * [`subnet`]: IPv4 prefixes, address pools, and choosing a subnet that collides with nothing
//!   on the host.
//! * [`netlink`]: a small synchronous rtnetlink client (bridges, veth pairs, addresses, routes).
//! * [`netns`]: persistent network namespaces for containers and the veth plumbing into them.
//! * [`firewall`]: NAT, published ports and isolation in one nftables table per daemon.
//! * [`ports`]: what `-p`/`-P` ask for, and holding the host ports.
//! * [`dns`]: the embedded DNS server answering at 127.0.0.11 in containers of user networks.
//!
//! Lifecycle of a container on a bridge (driven by the daemon): at start, a namespace is created
//! and mounted under the exec root ([`netns::create`]); for each network an address is allocated
//! (IPAM rows in the metadata database) and a veth pair is plugged in ([`netns::attach`]); host
//! ports are reserved ([`ports::reserve`]) and the firewall table re-rendered
//! ([`firewall::Firewall::apply`]); the OCI spec joins the namespace. At teardown the veths are
//! deleted, the namespace unmounted, the addresses released and the table re-rendered. After a
//! SIGKILL the daemon re-derives all of it from the database at start-up.

pub mod dns;
mod error;
pub mod firewall;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod subnet;

pub use error::{Error, Result};
pub use subnet::{Pool, Subnet};

/// A random locally administered unicast MAC (`02:42:…` like Docker's) for a container
/// interface; Docker derives it from the IP, which we do too so it stays stable.
pub fn mac_for(ip: std::net::Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC the way Docker shows it.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::InvalidArgument(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(m)
}
