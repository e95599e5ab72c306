//! The local driver's `type`/`device`/`o` options: what `mount -t TYPE -o O DEVICE _data` would
//! do, done with mount(2) by the volume's first user.

use std::collections::BTreeMap;
use std::path::Path;

use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::Volume;

/// Checks options at create time, so that a bad volume fails at `volume create` rather than
/// at its first use.
pub(crate) fn validate_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    if opts.is_empty() {
        return Ok(());
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if typ.is_empty() && !device.is_empty() {
        return Err(Error::Invalid(format!(
            "create {name}: missing \"type\" option for device {device:?}"
        )));
    }
    if !typ.is_empty() && device.is_empty() {
        return Err(Error::Invalid(format!(
            "create {name}: missing required option: \"device\""
        )));
    }
    let (flags, _) = parse_o(opts.get("o").map(String::as_str).unwrap_or(""));
    if flags.contains(MsFlags::MS_BIND) && !device.starts_with('/') {
        return Err(Error::Invalid(format!(
            "create {name}: a bind device must be an absolute host path: {device:?}"
        )));
    }
    Ok(())
}

/// Splits `o` into mount flags and the remaining filesystem data (`size=64m,uid=1000`).
fn parse_o(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "suid" | "dev" | "exec" | "async" | "defaults" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

pub(crate) fn mount(vol: &Volume, target: &Path) -> Result<()> {
    let typ = vol.options.get("type").map(String::as_str).unwrap_or("");
    let device = vol.options.get("device").map(String::as_str).unwrap_or("");
    let (flags, data) = parse_o(vol.options.get("o").map(String::as_str).unwrap_or(""));
    let fstype = (!typ.is_empty() && typ != "none").then_some(typ);
    nix::mount::mount(
        Some(device),
        target,
        fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(|e| {
        Error::Invalid(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , flags: {:#x}, data: {data}: {e}",
            vol.name,
            target.display(),
            flags.bits()
        ))
    })?;
    if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
        // A bind mount ignores MS_RDONLY until remounted.
        let _ = nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        );
    }
    Ok(())
}

pub(crate) fn unmount(target: &Path) -> Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| Error::io(format!("unmounting {}", target.display()))(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o_splits_flags_from_data() {
        let (f, d) = parse_o("size=64m,ro,uid=1000,nosuid");
        assert!(f.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(d, "size=64m,uid=1000");
    }

    #[test]
    fn options_are_checked_at_create() {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(validate_options("v", &m(&[("type", "tmpfs"), ("device", "tmpfs")])).is_ok());
        assert!(validate_options("v", &m(&[("type", "tmpfs")])).is_err());
        assert!(validate_options("v", &m(&[("device", "/dev/sda")])).is_err());
        assert!(validate_options(
            "v",
            &m(&[("type", "none"), ("o", "bind"), ("device", "rel")])
        )
        .is_err());
    }
}
