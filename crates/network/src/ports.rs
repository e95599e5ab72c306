//! Published ports: what `-p`/`-P` ask for, and holding the host ports.
//!
//! IPv4 traffic is DNATed by the kernel ([`crate::firewall`]); no userland proxy copies those
//! bytes. Like Docker, a TCP port published on every address is also published on `[::]`
//! (containers have IPv4 addresses only): that listener is handed to a small proxy
//! ([`proxy_v6`]). The daemon still binds each published host port (and keeps the socket) so that the
//! port is really ours: a port already used by another program, or by another container, is
//! refused at start with Docker's message, and no program can take it while it is published.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use berth_types::api::PortBinding;

use crate::error::{Error, Result};
use crate::firewall::Proto;

/// One binding to make: a container port, and the host address and port range to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub proto: Proto,
    pub container_port: u16,
    /// `0.0.0.0` for every address.
    pub host_ip: Ipv4Addr,
    /// Inclusive; `(0, 0)` = any free port.
    pub host_ports: (u16, u16),
}

/// `80/tcp` → (80, tcp).
pub fn parse_port_proto(s: &str) -> Result<(u16, Proto)> {
    let (p, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid port specification: {s:?}")))?;
    Ok((port, Proto::parse(proto)?))
}

fn parse_host_ports(s: &str) -> Result<(u16, u16)> {
    let bad = || Error::InvalidArgument(format!("invalid hostPort: {s}"));
    if s.is_empty() {
        return Ok((0, 0));
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The bindings of `HostConfig.PortBindings`, plus (with `-P`) every exposed port not bound
/// explicitly, on a free port. In the order Docker reports them (by port, then protocol).
pub fn wanted(
    bindings: &HashMap<String, Option<Vec<PortBinding>>>,
    exposed: &[String],
    publish_all: bool,
) -> Result<Vec<Wanted>> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (port, proto) = parse_port_proto(key)?;
        let list = list.clone().unwrap_or_default();
        let list = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list
        };
        for b in list {
            let host_ip = match b.host_ip.as_deref().unwrap_or("") {
                "" | "0.0.0.0" => Ipv4Addr::UNSPECIFIED,
                ip => ip.parse::<Ipv4Addr>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid host IP {ip:?}: Berth publishes ports on IPv4 addresses only"
                    ))
                })?,
            };
            out.push(Wanted {
                proto,
                container_port: port,
                host_ip,
                host_ports: parse_host_ports(b.host_port.as_deref().unwrap_or(""))?,
            });
        }
    }
    if publish_all {
        for key in exposed {
            if bindings.contains_key(key) {
                continue;
            }
            let (port, proto) = parse_port_proto(key)?;
            out.push(Wanted {
                proto,
                container_port: port,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_ports: (0, 0),
            });
        }
    }
    out.sort_by_key(|w| (w.container_port, w.proto, w.host_ip, w.host_ports));
    Ok(out)
}

/// A host port held for a container.
#[derive(Debug)]
pub struct Reserved {
    pub proto: Proto,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    _socket: Holder,
    /// `[::]:host_port` (IPv6 only) for a TCP port published on every address, when the host
    /// has IPv6; take it with [`Reserved::take_v6`] to serve it.
    v6: Option<TcpListener>,
}

impl Reserved {
    /// The IPv6 listener, to be served by [`proxy_v6`].
    pub fn take_v6(&mut self) -> Option<TcpListener> {
        self.v6.take()
    }
}

/// A TCP listener on `[::]:port` that does not also take the IPv4 port (IPV6_V6ONLY).
fn bind_v6_only(port: u16) -> std::io::Result<TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on an fd we own; on error it is closed before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let listener = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        if libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = port.to_be();
        if libc::bind(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        ) != 0
            || libc::listen(fd, 128) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(listener)
    }
}

/// Serves `listener` by connecting each client to `target` and copying both ways, until the
/// task is aborted.
pub fn proxy_v6(
    listener: TcpListener,
    target: SocketAddr,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    }))
}

#[derive(Debug)]
enum Holder {
    Tcp(#[allow(dead_code)] TcpListener),
    Udp(#[allow(dead_code)] UdpSocket),
    None,
}

fn bind(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<(Holder, u16)> {
    let addr = SocketAddr::from((ip, port));
    match proto {
        Proto::Tcp => {
            let l = TcpListener::bind(addr)?;
            let p = l.local_addr()?.port();
            Ok((Holder::Tcp(l), p))
        }
        Proto::Udp => {
            let s = UdpSocket::bind(addr)?;
            let p = s.local_addr()?.port();
            Ok((Holder::Udp(s), p))
        }
        // No SCTP sockets in std: the port is published but not held.
        Proto::Sctp => Ok((Holder::None, port)),
    }
}

/// Takes a host port for `w`: the first free one of its range, or any free one.
pub fn reserve(w: &Wanted) -> Result<Reserved> {
    let (lo, hi) = w.host_ports;
    let mut last_err = None;
    for port in lo..=hi {
        match bind(w.proto, w.host_ip, port) {
            Ok((holder, host_port)) => {
                // Docker publishes on [::] too; a host without IPv6 simply has no such binding.
                let v6 = (w.proto == Proto::Tcp && w.host_ip.is_unspecified())
                    .then(|| bind_v6_only(host_port).ok())
                    .flatten();
                return Ok(Reserved {
                    proto: w.proto,
                    host_ip: w.host_ip,
                    host_port,
                    container_port: w.container_port,
                    _socket: holder,
                    v6,
                });
            }
            Err(e) => last_err = Some((port, e)),
        }
    }
    let (port, e) = last_err.unwrap_or((lo, std::io::Error::other("empty port range")));
    let what = if e.kind() == std::io::ErrorKind::AddrInUse {
        "port is already allocated".to_owned()
    } else {
        e.to_string()
    };
    let port_text = if lo == hi {
        port.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    Err(Error::Conflict(format!(
        "Bind for {}:{port_text} failed: {what}",
        w.host_ip
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    #[test]
    fn wanted_from_bindings_and_publish_all() {
        let b = HashMap::from([
            (
                "80/tcp".to_string(),
                Some(vec![pb("", "8080"), pb("127.0.0.1", "9000-9002")]),
            ),
            ("53/udp".to_string(), Some(vec![pb("", "")])),
        ]);
        let w = wanted(&b, &["80/tcp".into(), "443/tcp".into()], true).unwrap();
        assert_eq!(w.len(), 4);
        assert_eq!((w[0].container_port, w[0].proto), (53, Proto::Udp));
        assert_eq!(w[0].host_ports, (0, 0));
        assert!(w
            .iter()
            .any(|x| x.host_ip == Ipv4Addr::LOCALHOST && x.host_ports == (9000, 9002)));
        assert!(w
            .iter()
            .any(|x| x.container_port == 443 && x.host_ports == (0, 0)));
        assert!(wanted(&HashMap::from([("x/tcp".into(), None)]), &[], false).is_err());
        assert!(wanted(
            &HashMap::from([("80".into(), Some(vec![pb("::", "1")]))]),
            &[],
            false
        )
        .is_err());
    }

    #[test]
    fn a_taken_port_is_a_clear_conflict() {
        let hold = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = hold.local_addr().unwrap().port();
        let w = Wanted {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Ipv4Addr::LOCALHOST,
            host_ports: (port, port),
        };
        let e = reserve(&w).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        let any = reserve(&Wanted {
            host_ports: (0, 0),
            ..w
        })
        .unwrap();
        assert_ne!(any.host_port, 0);
    }
}
