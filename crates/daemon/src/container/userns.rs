//! `--userns` on a container, and what a `--userns-remap` daemon refuses (dockerd's rules).
//!
//! On a remapped daemon every container runs in a user namespace with the daemon's mappings
//! unless it asks for `--userns=host`. A container in the host's user namespace still runs on
//! the remapped layers, as with dockerd: its root is the real root, and sees the image's files
//! owned by the remapped ids.

use berth_types::api::HostConfig;
use berth_types::idmap::IdMap;

use super::Container;
use crate::error::{Error, Result};

/// Whether the container asked for the host's user namespace.
fn host_userns(hc: &HostConfig) -> bool {
    hc.userns_mode.as_deref() == Some("host")
}

/// Checks `--userns` and the options a user namespace rules out, as dockerd does.
pub(crate) fn check(remapped: bool, hc: &HostConfig) -> Result<()> {
    match hc.userns_mode.as_deref() {
        None | Some("") | Some("host") => {}
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "invalid userns mode {other:?}: only \"host\" is supported"
            )))
        }
    }
    if !remapped || host_userns(hc) {
        return Ok(());
    }
    if hc.privileged == Some(true) {
        return Err(Error::InvalidArgument(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode".into(),
        ));
    }
    if hc.network_mode.as_deref() == Some("host") {
        return Err(Error::InvalidArgument(
            "cannot share the host's network namespace when user namespaces are enabled".into(),
        ));
    }
    if hc.pid_mode.as_deref() == Some("host") {
        return Err(Error::InvalidArgument(
            "cannot share the host PID namespace when user namespaces are enabled".into(),
        ));
    }
    Ok(())
}

impl crate::Daemon {
    /// The mappings container `c` runs with: the daemon's, unless it is remapped not at all or
    /// the container chose `--userns=host`.
    pub(crate) fn container_id_map(&self, c: &Container) -> Option<IdMap> {
        if host_userns(&c.host_config) {
            return None;
        }
        self.config.id_map.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remapped_daemons_refuse_what_dockerd_refuses() {
        let hc = |f: fn(&mut HostConfig)| {
            let mut h = HostConfig::default();
            f(&mut h);
            h
        };
        let privileged = hc(|h| h.privileged = Some(true));
        assert!(check(true, &privileged)
            .unwrap_err()
            .to_string()
            .contains("privileged mode is incompatible"));
        assert!(check(false, &privileged).is_ok());
        let mut opt_out = privileged.clone();
        opt_out.userns_mode = Some("host".into());
        assert!(check(true, &opt_out).is_ok());
        assert!(check(true, &hc(|h| h.network_mode = Some("host".into()))).is_err());
        assert!(check(true, &hc(|h| h.pid_mode = Some("host".into()))).is_err());
        assert!(check(true, &hc(|h| h.userns_mode = Some("private".into()))).is_err());
        assert!(check(true, &HostConfig::default()).is_ok());
    }
}
