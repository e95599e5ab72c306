//! Persistent network namespaces and the bridge/veth plumbing that needs them.
//!
//! A container's namespace is made *before* its process exists: a short-lived thread unshares
//! a new network namespace and bind-mounts `/proc/thread-self/ns/net` onto a file under the exec
//! root; the OCI spec then joins that path. So the interfaces, addresses and routes are all in
//! place before the container's first instruction runs, nothing depends on the runtime's create
//! hooks, and the namespace (with its veth) outlives a daemon restart for as long as the mount
//! stays. Namespace switches happen only on threads spawned for that purpose, which end right
//! after: no thread of the async runtime ever changes namespace.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// Runs `f` on a fresh thread (which may change its namespaces and then ends).
fn on_own_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|_| {
            Err(Error::Netns {
                what: "helper thread panicked".into(),
                source: std::io::Error::other("panic"),
            })
        })
    })
}

/// Moves the calling thread into the namespace mounted at `path`.
fn enter(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(Error::netns(format!("open {}", path.display())))?;
    setns(f.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::netns(format!("enter {}", path.display()))(e.into()))
}

/// Creates a network namespace mounted at `path` with `lo` up.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    on_own_thread(|| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(Error::netns(format!("creating {}", path.display())))?;
        let made = (|| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::netns("unshare")(e.into()))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::netns(format!("mount on {}", path.display()))(e.into()))?;
            let mut nl = Netlink::open()?;
            let lo = nl.link_index("lo")?.unwrap_or(1);
            nl.set_up(lo)
        })();
        if made.is_err() {
            let _ = umount2(path, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(path);
        }
        made
    })
}

/// Unmounts and removes the namespace file; the kernel frees the namespace (and the veth
/// ends inside it) once no process uses it. Missing is fine.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// One interface of a container on a bridge.
#[derive(Debug, Clone)]
pub struct Link {
    /// Host-side veth name (`veth` + 7 hex).
    pub host_name: String,
    /// Name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    pub bridge: String,
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Set for the interface that carries the default route.
    pub default_gateway: Option<Ipv4Addr>,
    pub mtu: u32,
    /// `enable_icc=false`: an isolated bridge port, which the bridge forwards nothing to from
    /// another isolated port — containers reach the gateway and the outside, not each other.
    pub isolated: bool,
}

/// Plugs the container whose namespace is at `netns` into its bridge.
pub fn attach(netns: &Path, link: &Link) -> Result<()> {
    on_own_thread(|| {
        let mut host = Netlink::open()?;
        let master = host
            .link_index(&link.bridge)?
            .ok_or_else(|| Error::Netlink {
                what: format!("bridge {} is missing", link.bridge),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })?;
        let ns = std::fs::File::open(netns)
            .map_err(Error::netns(format!("open {}", netns.display())))?;
        host.create_veth(
            &link.host_name,
            master,
            &link.ifname,
            ns.as_fd(),
            link.mac,
            link.mtu,
        )?;
        // Hairpin lets a container reach its own published port through the host.
        let _ = std::fs::write(
            format!("/sys/class/net/{}/brport/hairpin_mode", link.host_name),
            "1",
        );
        let inside = (|| {
            if link.isolated {
                std::fs::write(
                    format!("/sys/class/net/{}/brport/isolated", link.host_name),
                    "1",
                )
                .map_err(Error::netns(format!(
                    "isolating bridge port {} (enable_icc=false)",
                    link.host_name
                )))?;
            }
            enter(netns)?;
            let mut nl = Netlink::open()?;
            let idx = nl.link_index(&link.ifname)?.ok_or_else(|| Error::Netlink {
                what: format!("{} did not arrive in the namespace", link.ifname),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })?;
            nl.add_address(idx, link.address, link.prefix)?;
            nl.set_up(idx)?;
            if let Some(gw) = link.default_gateway {
                nl.add_default_route(gw)?;
            }
            Ok(())
        })();
        if inside.is_err() {
            let _ = host.delete_link(&link.host_name);
        }
        inside
    })
}

/// Removes a container's host-side veth (its peer goes with it).
pub fn detach(host_name: &str) -> Result<()> {
    Netlink::open()?.delete_link(host_name)
}

/// Opens the UDP socket and the TCP listener bound to `addr` inside the namespace at `netns`:
/// the embedded DNS server answers on them from the daemon's own namespace.
pub fn dns_sockets_in(netns: &Path, addr: std::net::SocketAddr) -> Result<crate::dns::Sockets> {
    on_own_thread(|| {
        enter(netns)?;
        let udp = std::net::UdpSocket::bind(addr).map_err(Error::netns(format!(
            "binding UDP {addr} inside the container"
        )))?;
        udp.set_nonblocking(true)
            .map_err(Error::io("setting the DNS socket non-blocking"))?;
        let tcp = std::net::TcpListener::bind(addr).map_err(Error::netns(format!(
            "binding TCP {addr} inside the container"
        )))?;
        tcp.set_nonblocking(true)
            .map_err(Error::io("setting the DNS listener non-blocking"))?;
        Ok(crate::dns::Sockets { udp, tcp })
    })
}

/// Creates bridge `name` with `gateway/prefix`, up, with `route_localnet` so that connections
/// from the host's loopback can be forwarded onto it; returns whether it was created now.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<bool> {
    let mut nl = Netlink::open()?;
    let existed = nl.link_index(name)?.is_some();
    let idx = nl.ensure_bridge(name)?;
    nl.add_address(idx, gateway, prefix)?;
    nl.set_up(idx)?;
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
        "1",
    );
    Ok(!existed)
}

/// The IPv4 addresses of link `name`, `None` when it does not exist.
pub fn link_addresses(name: &str) -> Result<Option<Vec<(Ipv4Addr, u8)>>> {
    let mut nl = Netlink::open()?;
    match nl.link_index(name)? {
        Some(i) => Ok(Some(nl.addresses(Some(i))?)),
        None => Ok(None),
    }
}

/// Deletes link `name` (a bridge); missing is fine.
pub fn delete_link(name: &str) -> Result<()> {
    Netlink::open()?.delete_link(name)
}

/// Whether link `name` exists in the daemon's namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Turns on IPv4 forwarding if it is off (as dockerd does); containers need it to reach out.
pub fn enable_ip_forward() -> Result<()> {
    let p = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(p)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return Ok(());
    }
    std::fs::write(p, "1").map_err(Error::io("enabling net.ipv4.ip_forward"))
}
