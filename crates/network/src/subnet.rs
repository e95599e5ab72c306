//! IPv4 subnets: parsing, containment, and choosing a free one from address pools so that a new
//! bridge collides with no route or address already on the host.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IPv4 prefix. `addr` may carry host bits (`--bip 172.30.0.1/16` names the gateway);
/// [`Subnet::network`] drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet { addr, prefix }
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix as u32)
        }
    }

    /// The prefix without host bits.
    pub fn network(&self) -> Subnet {
        Subnet::new(
            Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            self.prefix,
        )
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.first()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = Subnet::new(Ipv4Addr::UNSPECIFIED, p).mask();
        self.first() & m == other.first() & m
    }

    /// The `i`-th address of the prefix (0 = the network address).
    pub fn nth(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.first().wrapping_add(i))
    }

    /// Number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    /// Whether `self` lies inside `outer`.
    pub fn within(&self, outer: &Subnet) -> bool {
        self.prefix >= outer.prefix && outer.contains(self.addr)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || Error::InvalidArgument(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Subnet { addr, prefix })
    }
}

/// One `default-address-pools` entry: carve `size`-long prefixes out of `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

impl Pool {
    /// `base=10.10.0.0/16,size=24` (dockerd's `--default-address-pool`).
    pub fn parse(s: &str) -> Result<Pool> {
        let mut base = None;
        let mut size = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("base", v)) => base = Some(v.parse::<Subnet>()?.network()),
                Some(("size", v)) => {
                    size = Some(v.parse::<u8>().map_err(|_| {
                        Error::InvalidArgument(format!("invalid pool size in {s:?}"))
                    })?)
                }
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid default address pool {s:?}: want base=CIDR,size=N"
                    )))
                }
            }
        }
        let (Some(base), Some(size)) = (base, size) else {
            return Err(Error::InvalidArgument(format!(
                "invalid default address pool {s:?}: want base=CIDR,size=N"
            )));
        };
        if size < base.prefix || size > 30 {
            return Err(Error::InvalidArgument(format!(
                "invalid default address pool {s:?}: size {size} must be between /{} and /30",
                base.prefix
            )));
        }
        Ok(Pool { base, size })
    }
}

/// Docker's default pools: 172.17–31.0.0/16, then 192.168.0.0/20 sliced into /20s.
pub fn default_pools() -> Vec<Pool> {
    let mut v: Vec<Pool> = (17..=31)
        .map(|b| Pool {
            base: Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16),
            size: 16,
        })
        .collect();
    v.push(Pool {
        base: Subnet::new(Ipv4Addr::new(192, 168, 0, 0), 16),
        size: 20,
    });
    v
}

/// The first prefix of the pools that overlaps none of `used`.
pub fn choose(pools: &[Pool], used: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        let step = 1u64 << (32 - pool.size as u32);
        let count = pool.base.size() / step;
        for i in 0..count {
            let candidate = Subnet::new(
                Ipv4Addr::from((pool.base.first() as u64 + i * step) as u32),
                pool.size,
            );
            if !used.iter().any(|u| u.overlaps(&candidate)) {
                return Some(candidate);
            }
        }
    }
    None
}

/// Every IPv4 prefix in use on the host: the addresses of all interfaces and every route of the
/// main table except the default route.
pub fn host_prefixes() -> Vec<Subnet> {
    let mut out = Vec::new();
    if let Ok(mut nl) = crate::netlink::Netlink::open() {
        if let Ok(all) = nl.addresses(None) {
            out.extend(all.into_iter().map(|(ip, p)| Subnet::new(ip, p).network()));
        }
    }
    // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                continue;
            }
            let (Ok(dst), Ok(mask)) =
                (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
            else {
                continue;
            };
            // The kernel prints the network-order bytes as a native u32.
            let dst = Ipv4Addr::from(dst.to_ne_bytes());
            let prefix = u32::from_be_bytes(mask.to_ne_bytes()).leading_ones() as u8;
            if prefix == 0 {
                continue;
            }
            out.push(Subnet::new(dst, prefix).network());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_math() {
        let s: Subnet = "172.30.1.1/16".parse().unwrap();
        assert_eq!(s.network().to_string(), "172.30.0.0/16");
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 30, 255, 255));
        assert!(s.contains(Ipv4Addr::new(172, 30, 9, 9)));
        assert!(!s.contains(Ipv4Addr::new(172, 31, 0, 1)));
        assert_eq!(s.nth(1), Ipv4Addr::new(172, 30, 0, 1));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        let a: Subnet = "10.1.0.0/16".parse().unwrap();
        let b: Subnet = "10.1.2.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(b.within(&a) && !a.within(&b));
        assert!(!a.overlaps(&"10.2.0.0/16".parse().unwrap()));
    }

    #[test]
    fn choose_skips_used_prefixes() {
        let pools = [Pool::parse("base=10.9.0.0/16,size=24").unwrap()];
        let used = vec![
            "10.9.0.0/24".parse().unwrap(),
            "10.9.1.128/25".parse().unwrap(),
        ];
        assert_eq!(choose(&pools, &used).unwrap().to_string(), "10.9.2.0/24");
        let all = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(choose(&pools, &all).is_none());
        assert_eq!(
            choose(&default_pools(), &["172.17.0.0/16".parse().unwrap()])
                .unwrap()
                .to_string(),
            "172.18.0.0/16"
        );
        assert!(Pool::parse("base=10.0.0.0/16,size=8").is_err());
        assert!(Pool::parse("size=24").is_err());
    }

    #[test]
    fn host_prefixes_include_loopback() {
        assert!(host_prefixes()
            .iter()
            .any(|s| s.contains(Ipv4Addr::LOCALHOST)));
    }
}
