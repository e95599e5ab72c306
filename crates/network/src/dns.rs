//! The embedded DNS server of user-defined networks.
//!
//! Like Docker's, it answers at 127.0.0.11 inside each container — but without entering the
//! container from the daemon's runtime threads: the UDP socket and TCP listener are opened inside the container's
//! namespace by a short-lived helper thread ([`crate::netns::dns_sockets_in`]) and then served
//! here, in the daemon's own namespace. Names of the container's networks (container names,
//! aliases, ID prefixes) are answered from the daemon's state through [`Lookup`]; anything else
//! is forwarded to the host's resolvers — from the host's namespace, so a resolver on the host's
//! loopback (systemd-resolved) works too.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Answers names for one container.
pub trait Lookup: Send + Sync + 'static {
    /// The IPv4 addresses `name` (lower-case, no trailing dot) has for container
    /// `container_id`; `None` when the name is not one of its networks'.
    fn lookup(&self, container_id: &str, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// Whether names we do not know may be forwarded to the host's resolvers (not on
    /// `--internal` networks).
    fn may_forward(&self, container_id: &str) -> bool;
}

/// The nameservers of the host's resolv.conf.
pub fn host_upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The embedded server's sockets, opened inside a container's namespace.
#[derive(Debug)]
pub struct Sockets {
    pub udp: std::net::UdpSocket,
    /// Resolvers retry over TCP when a UDP answer comes back truncated (and some clients,
    /// `dig +tcp`, ask over TCP only), so Docker's server listens on both.
    pub tcp: std::net::TcpListener,
}

/// Serves DNS on `sockets` for container `container_id` until the task is aborted.
pub fn serve(
    sockets: Sockets,
    container_id: String,
    lookup: Arc<dyn Lookup>,
    upstreams: Arc<Vec<SocketAddr>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let socket = Arc::new(UdpSocket::from_std(sockets.udp)?);
    let listener = TcpListener::from_std(sockets.tcp)?;
    let resolver = Arc::new(Resolver {
        container_id,
        lookup,
        upstreams,
    });
    Ok(tokio::spawn(async move {
        // Connection tasks are children of this one: aborting the server ends them too.
        let mut connections = tokio::task::JoinSet::new();
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let Ok((n, peer)) = r else { continue };
                    if connections.len() >= MAX_IN_FLIGHT {
                        continue;
                    }
                    let (query, socket, resolver) = (buf[..n].to_vec(), socket.clone(), resolver.clone());
                    connections.spawn(async move {
                        if let Some(reply) = resolver.resolve(&query, Transport::Udp).await {
                            let _ = socket.send_to(&reply, peer).await;
                        }
                    });
                }
                r = listener.accept() => {
                    let Ok((stream, _)) = r else { continue };
                    if connections.len() >= MAX_IN_FLIGHT {
                        continue;
                    }
                    connections.spawn(serve_tcp(stream, resolver.clone()));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

struct Resolver {
    container_id: String,
    lookup: Arc<dyn Lookup>,
    upstreams: Arc<Vec<SocketAddr>>,
}

impl Resolver {
    /// The reply to `query`, `None` for messages that are not queries.
    async fn resolve(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let q = parse_question(query)?;
        let name = q.name.trim_end_matches('.').to_ascii_lowercase();
        Some(match self.lookup.lookup(&self.container_id, &name) {
            Some(ips) => {
                let ips = if q.qtype == TYPE_A { ips } else { Vec::new() };
                answer(query, &q, &ips, 0)
            }
            None if self.lookup.may_forward(&self.container_id) && !self.upstreams.is_empty() => {
                let reply = match transport {
                    Transport::Udp => forward(query, &self.upstreams).await,
                    Transport::Tcp => forward_tcp(query, &self.upstreams).await,
                };
                reply.unwrap_or_else(|| answer(query, &q, &[], RCODE_SERVFAIL))
            }
            None => answer(query, &q, &[], RCODE_SERVFAIL),
        })
    }
}

/// DNS over TCP (RFC 1035 4.2.2, RFC 7766): length-prefixed messages, several per connection,
/// answered in order; an idle connection is closed.
async fn serve_tcp(mut stream: TcpStream, resolver: Arc<Resolver>) {
    loop {
        let Some(query) = read_tcp_message(&mut stream, TCP_IDLE).await else {
            return;
        };
        let Some(reply) = resolver.resolve(&query, Transport::Tcp).await else {
            return;
        };
        if write_tcp_message(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

/// Queries and connections served at once per container: a container flooding its resolver
/// gets dropped queries, not an ever-growing pile of tasks in the daemon.
const MAX_IN_FLIGHT: usize = 256;

const TCP_IDLE: Duration = Duration::from_secs(10);

async fn read_tcp_message(stream: &mut TcpStream, idle: Duration) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    tokio::time::timeout(idle, stream.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    tokio::time::timeout(idle, stream.read_exact(&mut msg))
        .await
        .ok()?
        .ok()?;
    Some(msg)
}

async fn write_tcp_message(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    stream.write_all(&out).await
}

async fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(Ok(mut s)) = tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(up)).await
        else {
            continue;
        };
        if write_tcp_message(&mut s, query).await.is_err() {
            continue;
        }
        if let Some(reply) = read_tcp_message(&mut s, UPSTREAM_TIMEOUT).await {
            return Some(reply);
        }
    }
    None
}

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) = tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

const TYPE_A: u16 = 1;
const RCODE_SERVFAIL: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    /// Offset just past the question in the query.
    pub end: usize,
}

/// The first question of a query.
pub fn parse_question(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount == 0 {
        return None;
    }
    let mut off = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(off)? as usize;
        off += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(off..off + len)?).into_owned());
        off += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(off)?, *msg.get(off + 1)?]);
    off += 4;
    if off > msg.len() {
        return None;
    }
    Some(Question {
        name: labels.join("."),
        qtype,
        end: off,
    })
}

/// A response to `query` with A records `ips` (authoritative, recursion available).
pub fn answer(query: &[u8], q: &Question, ips: &[Ipv4Addr], rcode: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + ips.len() * 16);
    out.extend_from_slice(&query[..2]);
    let rd = u16::from_be_bytes([query[2], query[3]]) & 0x0100;
    let opcode = u16::from_be_bytes([query[2], query[3]]) & 0x7800;
    let flags: u16 = 0x8000 | opcode | 0x0400 | rd | 0x0080 | rcode;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in ips {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&600u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn answers_a_queries() {
        let qm = query("web.my-net", 1);
        let q = parse_question(&qm).unwrap();
        assert_eq!(q.name, "web.my-net");
        assert_eq!(q.qtype, 1);
        let r = answer(&qm, &q, &[Ipv4Addr::new(10, 1, 0, 2)], 0);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "QR set");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 1, 0, 2]);
        let r = answer(&qm, &q, &[], RCODE_SERVFAIL);
        assert_eq!(r[3] & 0x0f, 2);
        assert!(parse_question(&r).is_none(), "responses are not questions");
        assert!(parse_question(&[0; 5]).is_none());
    }

    #[test]
    fn upstreams_from_resolv_conf() {
        let u = host_upstreams("search x\nnameserver 127.0.0.53\nnameserver ::1\n#c\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].to_string(), "127.0.0.53:53");
    }
}
