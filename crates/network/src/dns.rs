//! The embedded DNS server of user-defined networks.
//!
//! Like Docker's, it answers at 127.0.0.11 inside each container — but without entering the
//! container from the daemon's runtime threads: the UDP socket is opened inside the container's
//! namespace by a short-lived helper thread ([`crate::netns::udp_socket_in`]) and then served
//! here, in the daemon's own namespace. Names of the container's networks (container names,
//! aliases, ID prefixes) are answered from the daemon's state through [`Lookup`]; anything else
//! is forwarded to the host's resolvers — from the host's namespace, so a resolver on the host's
//! loopback (systemd-resolved) works too.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

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

/// Serves DNS on `socket` for container `container_id` until the task is aborted.
pub fn serve(
    socket: std::net::UdpSocket,
    container_id: String,
    lookup: Arc<dyn Lookup>,
    upstreams: Arc<Vec<SocketAddr>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let socket = Arc::new(UdpSocket::from_std(socket)?);
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let query = buf[..n].to_vec();
            let q = match parse_question(&query) {
                Some(q) => q,
                None => continue,
            };
            let name = q.name.trim_end_matches('.').to_ascii_lowercase();
            match lookup.lookup(&container_id, &name) {
                Some(ips) => {
                    let ips = if q.qtype == TYPE_A { ips } else { Vec::new() };
                    let _ = socket.send_to(&answer(&query, &q, &ips, 0), peer).await;
                }
                None if lookup.may_forward(&container_id) && !upstreams.is_empty() => {
                    let (socket, upstreams) = (socket.clone(), upstreams.clone());
                    tokio::spawn(async move {
                        let reply = match forward(&query, &upstreams).await {
                            Some(r) => r,
                            None => answer(&query, &q, &[], RCODE_SERVFAIL),
                        };
                        let _ = socket.send_to(&reply, peer).await;
                    });
                }
                None => {
                    let _ = socket
                        .send_to(&answer(&query, &q, &[], RCODE_SERVFAIL), peer)
                        .await;
                }
            }
        }
    }))
}

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
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf)).await
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
