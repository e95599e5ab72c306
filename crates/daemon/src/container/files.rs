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

/// Docker's default `/etc/hosts` for a container in its own network namespace.
pub fn hosts_file(hostname: &str, domainname: &str, network_host: bool) -> String {
    if network_host {
        // With the host's network the host's own file is the truth.
        return std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    }
    let fqdn = if domainname.is_empty() {
        hostname.to_owned()
    } else {
        format!("{hostname}.{domainname} {hostname}")
    };
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{fqdn}\n"
    )
}

/// The host's resolv.conf with loopback nameservers removed (they cannot be reached from a
/// container's own network namespace); Google's public servers if none remain, as Docker does.
pub fn resolv_conf(host_resolv: &str, network_host: bool) -> String {
    if network_host {
        return host_resolv.to_owned();
    }
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host_resolv.lines() {
        let trimmed = line.trim();
        if let Some(addr) = trimmed.strip_prefix("nameserver") {
            let addr = addr.trim();
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let out = resolv_conf(
            "search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n",
            false,
        );
        assert_eq!(out, "search example.com\nnameserver 10.0.0.2\n");
        let out = resolv_conf("nameserver 127.0.0.53\n", false);
        assert!(out.contains("nameserver 8.8.8.8"));
    }

    #[test]
    fn hosts_file_names_the_container() {
        let h = hosts_file("abc123", "", false);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("127.0.1.1\tabc123\n"));
        assert!(hosts_file("web", "example.org", false).contains("web.example.org web"));
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
