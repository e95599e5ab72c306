//! The per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, written as Docker
//! writes them, into the container's directory and bind-mounted by the runtime spec.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` durably: temporary name, fsync, rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_replacing(path, contents, true)
}

/// Replaces `path` with `contents` atomically (readers see the old or the new file, never a
/// part) but without fsync: for files rebuilt at every container start, where a crash loses
/// nothing that the next start does not write again, and an fsync would cost milliseconds.
pub fn write_regenerated(path: &Path, contents: &[u8]) -> Result<()> {
    write_replacing(path, contents, false)
}

fn write_replacing(path: &Path, contents: &[u8], sync: bool) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no parent", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let ctx = || format!("writing {}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(Error::io(ctx()))?;
    f.write_all(contents).map_err(Error::io(ctx()))?;
    if sync {
        f.sync_all().map_err(Error::io(ctx()))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io(ctx()))?;
    Ok(())
}

pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// Docker's `/etc/hosts`: the standard entries, `--add-host` entries (name, address), then
/// the container's own name on its address (`127.0.1.1` when it has none).
pub fn hosts_file(
    hostname: &str,
    domainname: &str,
    network_host: bool,
    ip: Option<std::net::Ipv4Addr>,
    extra: &[(String, String)],
) -> String {
    let mut out = if network_host {
        // With the host's network the host's own file is the truth.
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_owned()
    };
    for (name, addr) in extra {
        out.push_str(&format!("{addr}\t{name}\n"));
    }
    if !network_host {
        let fqdn = if domainname.is_empty() {
            hostname.to_owned()
        } else {
            format!("{hostname}.{domainname} {hostname}")
        };
        let addr = ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "127.0.1.1".into());
        out.push_str(&format!("{addr}\t{fqdn}\n"));
    }
    out
}

/// `--dns`, `--dns-search`, `--dns-option`: each replaces the host's lines of its kind.
#[derive(Debug, Default, Clone)]
pub struct DnsOverrides {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The container's resolv.conf, as Docker writes it: on the host's network the host's file;
/// with the embedded DNS server (user-defined networks) `nameserver 127.0.0.11` and
/// `ndots:0`, the server forwarding the rest; otherwise the host's file with loopback
/// nameservers removed (they cannot be reached from a container's own namespace) and Google's
/// public servers if none remain. `--dns*` replace the lines of their kind.
pub fn resolv_conf(
    host_resolv: &str,
    network_host: bool,
    embedded_dns: bool,
    o: &DnsOverrides,
) -> String {
    if network_host && o.servers.is_empty() && o.search.is_empty() && o.options.is_empty() {
        return host_resolv.to_owned();
    }
    let mut servers = Vec::new();
    let mut search = Vec::new();
    let mut options = Vec::new();
    let mut other = String::new();
    for line in host_resolv.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(a) = words.next() {
                    if network_host || !(a.starts_with("127.") || a == "::1") {
                        servers.push(a.to_owned());
                    }
                }
            }
            Some("search") | Some("domain") => search = words.map(str::to_owned).collect(),
            Some("options") => options.extend(words.map(str::to_owned)),
            _ => {
                other.push_str(line);
                other.push('\n');
            }
        }
    }
    if !o.servers.is_empty() {
        servers = o.servers.clone();
    }
    if !o.search.is_empty() {
        search = o
            .search
            .iter()
            .filter(|s| s.as_str() != ".")
            .cloned()
            .collect();
    }
    if !o.options.is_empty() {
        options = o.options.clone();
    }
    if embedded_dns {
        servers = vec!["127.0.0.11".into()];
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    } else if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = other;
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let none = DnsOverrides::default();
        let host = "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        let out = resolv_conf(host, false, false, &none);
        assert_eq!(out, "nameserver 10.0.0.2\nsearch example.com\n");
        let out = resolv_conf("nameserver 127.0.0.53\n", false, false, &none);
        assert!(out.contains("nameserver 8.8.8.8"));
        let out = resolv_conf(host, false, true, &none);
        assert_eq!(
            out,
            "nameserver 127.0.0.11\nsearch example.com\noptions ndots:0\n"
        );
        let o = DnsOverrides {
            servers: vec!["1.1.1.1".into()],
            search: vec!["a.test".into()],
            options: vec!["timeout:2".into()],
        };
        assert_eq!(
            resolv_conf(host, false, false, &o),
            "nameserver 1.1.1.1\nsearch a.test\noptions timeout:2\n"
        );
    }

    #[test]
    fn hosts_file_names_the_container() {
        let h = hosts_file("abc123", "", false, None, &[]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("127.0.1.1\tabc123\n"));
        assert!(hosts_file("web", "example.org", false, None, &[]).contains("web.example.org web"));
        let h = hosts_file(
            "web",
            "",
            false,
            Some("10.1.0.2".parse().unwrap()),
            &[("db".into(), "10.9.9.9".into())],
        );
        assert!(h.ends_with("10.9.9.9\tdb\n10.1.0.2\tweb\n"), "{h}");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
