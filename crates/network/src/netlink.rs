//! A small synchronous rtnetlink client: the handful of requests Berth needs (bridges, veth
//! pairs, addresses, routes, link state). Messages are built with the `netlink-packet-route`
//! types; the socket is bound to the network namespace of the thread that opened it, so a
//! socket opened inside a container's namespace keeps talking to that namespace.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens a route netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        // Opened here rather than by `Socket::new`, which has no SOCK_CLOEXEC: the daemon spawns
        // shims from other threads, and no fd of ours may leak into them.
        // SAFETY: a plain socket call; the fd is owned by `Socket` from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE as libc::c_int,
            )
        };
        if fd < 0 {
            return Err(Error::netlink("socket")(std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh netlink socket nobody else owns.
        let mut socket = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        socket.bind_auto().map_err(Error::netlink("bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(Error::netlink("connect"))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the answers until the kernel's ACK (or DONE).
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(Error::netlink(what.to_owned()))?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            let n = self
                .socket
                .recv(&mut &mut rbuf[..], 0)
                .map_err(Error::netlink(what.to_owned()))?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[off..n])
                    .map_err(|e| Error::Netlink {
                        what: what.to_owned(),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    })?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    off += len.max(1);
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(_) => Err(Error::Netlink {
                                what: what.to_owned(),
                                source: e.to_io(),
                            }),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The index of link `name`, `None` if there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.request("get link", RouteNetlinkMessage::GetLink(m), 0) {
            Ok(v) => Ok(v.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates bridge `name` (not an error when it exists) and returns its index.
    pub fn ensure_bridge(&mut self, name: &str) -> Result<u32> {
        if let Some(i) = self.link_index(name)? {
            return Ok(i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            &format!("creating bridge {name}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        self.link_index(name)?.ok_or_else(|| Error::Netlink {
            what: format!("bridge {name} vanished"),
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request("setting link up", RouteNetlinkMessage::SetLink(m), 0)?;
        Ok(())
    }

    /// Adds `addr/prefix` to link `index`; an address already there is fine.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr.into()));
        m.attributes.push(AddressAttribute::Address(addr.into()));
        if prefix < 31 {
            let bcast = crate::subnet::Subnet::new(addr, prefix).broadcast();
            m.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        match self.request(
            "adding address",
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// Every IPv4 address of link `index` (of every link with `None`), with its prefix length.
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let all = self.request(
            "listing addresses",
            RouteNetlinkMessage::GetAddress(m),
            netlink_packet_core::NLM_F_DUMP,
        )?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if index.is_none_or(|i| a.header.index == i) => {
                    a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(std::net::IpAddr::V4(ip)) => {
                            Some((*ip, a.header.prefix_len))
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Creates a veth pair: `host` in this socket's namespace, enslaved to bridge `master`, and
    /// `peer` created directly inside the namespace `peer_netns` with MAC `peer_mac`.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_netns: BorrowedFd<'_>,
        peer_mac: [u8; 6],
        mtu: u32,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_owned()));
        p.attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        p.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        p.attributes.push(LinkAttribute::Mtu(mtu));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_owned()));
        m.attributes.push(LinkAttribute::Controller(master));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            &format!("creating veth {host}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Deletes link `name`; a link that is gone already is fine.
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(
            &format!("deleting link {name}"),
            RouteNetlinkMessage::DelLink(m),
            0,
        ) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        match self.request(
            "adding the default route",
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }
}
