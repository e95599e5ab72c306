//! NAT, port publishing and isolation through nftables, in one table owned by this daemon.
//!
//! The whole table is rendered from the daemon's state and replaced in one `nft -f` transaction
//! (declare, delete, re-create): applying the same state twice gives the same rules, a daemon
//! that was SIGKILLed re-renders at start-up, and nothing of an earlier run can linger or be
//! doubled. Each daemon has its own table (named after its default bridge), so daemons side by
//! side never touch each other's rules.
//!
//! nftables cannot override a drop in another table: where iptables' `FORWARD` chain drops by
//! default (a host that runs Docker has that), the bridges are also accepted there, by rules
//! tagged with this table's name so they are found and removed again.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::subnet::Subnet;

/// A bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Subnet,
    /// `--internal`: no traffic in or out of the bridge other than among its members.
    pub internal: bool,
    /// Masquerade traffic leaving the host (off with `com.docker.network.bridge.enable_ip_masquerade=false`).
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// `None` = every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Result<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            other => Err(Error::InvalidArgument(format!("invalid proto: {other}"))),
        }
    }
}

/// Everything the table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub bridges: Vec<BridgeRules>,
    pub ports: Vec<PortRule>,
}

/// Which tool programs the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One nftables table (the default when `nft` is installed).
    Nftables,
    /// Chains of our own in iptables' `nat` and `filter` tables, where `nft` is missing.
    Iptables,
}

/// The daemon's firewall: its table name and the tools found on the host.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
    nft: Option<String>,
    iptables: Option<String>,
    backend: Backend,
}

fn find(name: &str) -> Option<String> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

impl Firewall {
    /// A firewall with table `berth_<suffix>` (the suffix sanitised to nft's identifier rules).
    pub fn new(suffix: &str) -> Firewall {
        let clean: String = suffix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let nft = find("nft");
        Firewall {
            table: format!("berth_{clean}"),
            backend: if nft.is_some() {
                Backend::Nftables
            } else {
                Backend::Iptables
            },
            nft,
            iptables: find("iptables"),
        }
    }

    /// Forces a backend (tests exercise the iptables one on hosts that have nft).
    pub fn with_backend(mut self, backend: Backend) -> Firewall {
        self.backend = backend;
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Replaces the table (or our iptables chains) with `rules`.
    pub fn apply(&self, rules: &Ruleset) -> Result<()> {
        match (self.backend, &self.nft) {
            (Backend::Nftables, Some(nft)) => {
                run(nft, &["-f", "-"], Some(&render(&self.table, rules)))?;
                self.iptables_accept(&rules.bridges)
            }
            _ => self.iptables_apply(rules),
        }
    }

    /// Removes the table, our chains and the iptables accept rules (daemon-wide teardown).
    pub fn clear(&self) -> Result<()> {
        if let Some(nft) = &self.nft {
            let script = format!("table ip {t} {{}}\ndelete table ip {t}\n", t = self.table);
            run(nft, &["-f", "-"], Some(&script))?;
        }
        if let Some(ipt) = &self.iptables {
            for (table, hook, chain) in self.iptables_jumps() {
                while run(ipt, &["-w", "-t", table, "-D", hook, "-j", &chain], None).is_ok()
                    || run(
                        ipt,
                        &[
                            "-w",
                            "-t",
                            table,
                            "-D",
                            hook,
                            "-m",
                            "addrtype",
                            "--dst-type",
                            "LOCAL",
                            "-j",
                            &chain,
                        ],
                        None,
                    )
                    .is_ok()
                {}
                let _ = run(ipt, &["-w", "-t", table, "-F", &chain], None);
                let _ = run(ipt, &["-w", "-t", table, "-X", &chain], None);
            }
        }
        self.iptables_accept(&[])
    }

    /// Our iptables chains: (table, built-in chain that jumps to it, chain).
    fn iptables_jumps(&self) -> Vec<(&'static str, &'static str, String)> {
        let c = |s: &str| format!("{}_{s}", self.table.to_ascii_uppercase());
        vec![
            ("nat", "PREROUTING", c("PORTS")),
            ("nat", "OUTPUT", c("PORTS")),
            ("nat", "POSTROUTING", c("POST")),
            ("filter", "FORWARD", c("FWD")),
        ]
    }

    /// The iptables fallback: our chains re-filled in one `iptables-restore --noflush`, and the
    /// jumps into them made once.
    fn iptables_apply(&self, rules: &Ruleset) -> Result<()> {
        let ipt = self.iptables.as_ref().ok_or_else(|| {
            Error::Firewall("neither nft nor iptables is installed (install nftables)".into())
        })?;
        let restore = format!("{ipt}-restore");
        let restore = if std::path::Path::new(&restore).exists() {
            restore
        } else {
            find("iptables-restore")
                .ok_or_else(|| Error::Firewall("iptables-restore is not installed".into()))?
        };
        let jumps = self.iptables_jumps();
        run(
            &restore,
            &["-w", "--noflush"],
            Some(&render_iptables(&jumps, rules)),
        )?;
        for (table, hook, chain) in &jumps {
            let mut spec: Vec<&str> = Vec::new();
            if *table == "nat" && *hook != "POSTROUTING" {
                spec.extend(["-m", "addrtype", "--dst-type", "LOCAL"]);
            }
            spec.extend(["-j", chain]);
            let mut check = vec!["-w", "-t", table, "-C", hook];
            check.extend(&spec);
            if run(ipt, &check, None).is_err() {
                let mut insert = vec!["-w", "-t", table, "-I", hook, "1"];
                insert.extend(&spec);
                run(ipt, &insert, None)?;
            }
        }
        Ok(())
    }

    fn tag(&self) -> String {
        format!("berth:{}", self.table)
    }

    /// Makes iptables' filter FORWARD chain accept exactly the given bridges' traffic (ours,
    /// tagged), when that chain exists and does not accept everything already.
    fn iptables_accept(&self, bridges: &[BridgeRules]) -> Result<()> {
        let Some(ipt) = &self.iptables else {
            return Ok(());
        };
        let Ok(out) = Command::new(ipt)
            .args(["-w", "-t", "filter", "-S", "FORWARD"])
            .stderr(Stdio::null())
            .output()
        else {
            return Ok(());
        };
        if !out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let tag = self.tag();
        let mut present = Vec::new();
        for line in text.lines() {
            // iptables quotes comments with a colon; ours have no spaces, so unquoted is exact.
            let line = line.replace('"', "");
            if line.contains(&format!("--comment {tag} ")) {
                present.push(line);
            }
        }
        let policy_drop = text.lines().any(|l| l == "-P FORWARD DROP");
        let wanted: Vec<Vec<String>> = if policy_drop {
            bridges
                .iter()
                .flat_map(|b| {
                    [("-i", &b.bridge), ("-o", &b.bridge)].map(|(dir, name)| {
                        [
                            dir,
                            name.as_str(),
                            "-m",
                            "comment",
                            "--comment",
                            &tag,
                            "-j",
                            "ACCEPT",
                        ]
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let as_line = |r: &Vec<String>| format!("-A FORWARD {}", r.join(" "));
        for line in &present {
            if !wanted.iter().any(|w| &as_line(w) == line) {
                let mut args = vec!["-w".to_string(), "-t".into(), "filter".into()];
                args.push("-D".into());
                args.extend(line.split_whitespace().skip(1).map(str::to_owned));
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                run(ipt, &a, None)?;
            }
        }
        for w in &wanted {
            if !present.contains(&as_line(w)) {
                let mut args = vec!["-w", "-t", "filter", "-I", "FORWARD", "1"];
                args.extend(w.iter().map(String::as_str));
                run(ipt, &args, None)?;
            }
        }
        Ok(())
    }
}

fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<()> {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Firewall(format!("running {tool}: {e}")))?;
    if let Some(text) = stdin {
        if let Some(mut i) = child.stdin.take() {
            i.write_all(text.as_bytes())
                .map_err(|e| Error::Firewall(format!("writing to {tool}: {e}")))?;
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Firewall(format!("running {tool}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Firewall(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// The nft script that replaces table `table` with `rules`.
pub fn render(table: &str, rules: &Ruleset) -> String {
    let mut s = String::new();
    s.push_str(&format!("table ip {table} {{}}\ndelete table ip {table}\n"));
    s.push_str(&format!("table ip {table} {{\n"));

    // DNAT for published ports: from outside and from containers (prerouting), and from the
    // host itself including its loopback (output).
    s.push_str("  chain ports {\n");
    for p in &rules.ports {
        let daddr = match p.host_ip {
            Some(ip) if !ip.is_unspecified() => format!("ip daddr {ip} "),
            _ => String::new(),
        };
        s.push_str(&format!(
            "    {daddr}{proto} dport {hp} dnat to {cip}:{cp}\n",
            proto = p.proto.as_str(),
            hp = p.host_port,
            cip = p.container_ip,
            cp = p.container_port
        ));
    }
    s.push_str("  }\n");
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");
    s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");

    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n",
    );
    for b in &rules.bridges {
        let (br, net) = (q(&b.bridge), b.subnet.network());
        // Connections from the host's loopback, DNATed onto the bridge, need a source the
        // container can answer.
        s.push_str(&format!(
            "    oifname {br} ip saddr 127.0.0.0/8 masquerade\n"
        ));
        // Hairpin: a container reaching a published port of its own network through the host.
        s.push_str(&format!(
            "    oifname {br} ip saddr {net} ct status dnat masquerade\n"
        ));
        if b.masquerade && !b.internal {
            s.push_str(&format!("    ip saddr {net} oifname != {br} masquerade\n"));
        }
    }
    s.push_str("  }\n");

    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str("    ct state established,related accept\n");
    for b in &rules.bridges {
        let br = q(&b.bridge);
        if b.internal {
            s.push_str(&format!("    iifname {br} oifname != {br} drop\n"));
            s.push_str(&format!("    oifname {br} iifname != {br} drop\n"));
        }
    }
    // Published ports are reachable from every network; otherwise networks are isolated.
    s.push_str("    ct status dnat accept\n");
    for a in &rules.bridges {
        for b in &rules.bridges {
            if a.bridge != b.bridge {
                s.push_str(&format!(
                    "    iifname {} oifname {} drop\n",
                    q(&a.bridge),
                    q(&b.bridge)
                ));
            }
        }
    }
    s.push_str("  }\n}\n");
    s
}

/// The `iptables-restore --noflush` input that re-fills our chains (declaring a chain in a
/// restore file flushes it) with the same rules as [`render`].
pub fn render_iptables(jumps: &[(&'static str, &'static str, String)], rules: &Ruleset) -> String {
    let chain = |hook: &str| {
        jumps
            .iter()
            .find(|j| j.1 == hook)
            .map(|j| j.2.clone())
            .unwrap_or_default()
    };
    let (ports, post, fwd) = (chain("PREROUTING"), chain("POSTROUTING"), chain("FORWARD"));
    let mut s = format!("*nat\n:{ports} - [0:0]\n:{post} - [0:0]\n");
    for p in &rules.ports {
        let daddr = match p.host_ip {
            Some(ip) if !ip.is_unspecified() => format!("-d {ip}/32 "),
            _ => String::new(),
        };
        s.push_str(&format!(
            "-A {ports} {daddr}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {cip}:{cp}\n",
            proto = p.proto.as_str(),
            hp = p.host_port,
            cip = p.container_ip,
            cp = p.container_port
        ));
    }
    for b in &rules.bridges {
        let (br, net) = (&b.bridge, b.subnet.network());
        s.push_str(&format!("-A {post} -s 127.0.0.0/8 -o {br} -j MASQUERADE\n"));
        s.push_str(&format!(
            "-A {post} -s {net} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE\n"
        ));
        if b.masquerade && !b.internal {
            s.push_str(&format!("-A {post} -s {net} ! -o {br} -j MASQUERADE\n"));
        }
    }
    s.push_str("COMMIT\n*filter\n");
    s.push_str(&format!(":{fwd} - [0:0]\n"));
    for b in rules.bridges.iter().filter(|b| b.internal) {
        let br = &b.bridge;
        s.push_str(&format!("-A {fwd} -i {br} ! -o {br} -j DROP\n"));
        s.push_str(&format!("-A {fwd} -o {br} ! -i {br} -j DROP\n"));
    }
    s.push_str(&format!(
        "-A {fwd} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n"
    ));
    for a in &rules.bridges {
        for b in &rules.bridges {
            if a.bridge != b.bridge {
                s.push_str(&format!(
                    "-A {fwd} -i {} -o {} -j DROP\n",
                    a.bridge, b.bridge
                ));
            }
        }
    }
    for b in &rules.bridges {
        s.push_str(&format!("-A {fwd} -i {} -j ACCEPT\n", b.bridge));
        s.push_str(&format!("-A {fwd} -o {} -j ACCEPT\n", b.bridge));
    }
    s.push_str("COMMIT\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_idempotent_replacement() {
        let rules = Ruleset {
            bridges: vec![
                BridgeRules {
                    bridge: "bt0".into(),
                    subnet: "10.5.0.0/24".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                },
                BridgeRules {
                    bridge: "br-1".into(),
                    subnet: "10.6.0.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![PortRule {
                proto: Proto::Tcp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                container_ip: "10.5.0.2".parse().unwrap(),
                container_port: 80,
            }],
        };
        let s = render("berth_t", &rules);
        assert!(s.starts_with("table ip berth_t {}\ndelete table ip berth_t\n"));
        assert!(s.contains("ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.5.0.2:80"));
        assert!(s.contains("ip saddr 10.5.0.0/24 oifname != \"bt0\" masquerade"));
        // An internal network is not masqueraded and is cut off.
        assert!(!s.contains("ip saddr 10.6.0.0/24 oifname"));
        assert!(s.contains("iifname \"br-1\" oifname != \"br-1\" drop"));
        assert!(s.contains("iifname \"bt0\" oifname \"br-1\" drop"));
        assert_eq!(Proto::parse("UDP").unwrap(), Proto::Udp);
        let fw = Firewall::new("bt0").with_backend(Backend::Iptables);
        let ipt = render_iptables(&fw.iptables_jumps(), &rules);
        assert!(ipt.starts_with("*nat\n:BERTH_BT0_PORTS - [0:0]\n"), "{ipt}");
        assert!(ipt.contains(
            "-A BERTH_BT0_PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.5.0.2:80"
        ));
        assert!(ipt.contains("-A BERTH_BT0_FWD -i bt0 -o br-1 -j DROP"));
        assert!(ipt.ends_with("COMMIT\n"));
        assert!(Proto::parse("icmp").is_err());
    }
}
