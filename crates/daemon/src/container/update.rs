//! `update`: new resource limits for a container. They are checked as `create` checks them,
//! stored (so the next start uses them, and inspect shows them), and written into the cgroups
//! of a running container at once.

use berth_types::api::{
    ContainerUpdateBody, ContainerUpdateResponse, HostConfig, RestartPolicyNameEnum,
};

use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    pub async fn update_container(
        &self,
        key: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        let mut hc = c.host_config.clone();
        apply(&mut hc, &body)?;
        let resources = super::limits::resources(&hc);
        resources.validate()?;
        if c.state.status.is_running() {
            // Write only what the request names, so that an unrelated limit the host cannot
            // set (e.g. a blkio weight without BFQ) does not fail an update of another.
            let mut asked = super::limits::resources(&requested_only(&body));
            if body.memory.unwrap_or(0) > 0 || body.memory_swap.unwrap_or(0) != 0 {
                asked.memory = resources.memory;
                asked.memory_swap = hc.memory_swap.unwrap_or(0);
            }
            let mut oci = asked.to_oci()?;
            if body.pids_limit.is_some_and(|p| p <= 0) {
                oci.insert("pids".into(), serde_json::json!({"limit": -1}));
            }
            let linux: oci_spec::runtime::LinuxResources =
                serde_json::from_value(serde_json::Value::Object(oci))
                    .map_err(|e| Error::Internal(format!("resources: {e}")))?;
            let path = format!("{}/{}", super::limits::cgroup_parent(&hc), c.id);
            tokio::task::spawn_blocking(move || berth_runtime::cgroups::update(&path, &linux))
                .await
                .map_err(|e| Error::Internal(format!("update task: {e}")))?
                .map_err(|e| {
                    Error::InvalidArgument(format!("Cannot update container {}: {e}", c.id))
                })?;
        }
        let updated = self.update(&entry, |c| c.host_config = hc)?;
        self.container_event(&updated, "update", &[]);
        Ok(ContainerUpdateResponse {
            warnings: Some(Vec::new()),
        })
    }
}

/// A `HostConfig` holding only the resource fields the request sets.
fn requested_only(b: &ContainerUpdateBody) -> HostConfig {
    let mut hc = HostConfig::default();
    apply(&mut hc, b).ok();
    hc
}

/// Docker's update semantics: a field given (non-zero) replaces the stored one.
fn apply(hc: &mut HostConfig, b: &ContainerUpdateBody) -> Result<()> {
    macro_rules! set_nonzero {
        ($($f:ident),*) => {$(
            if let Some(v) = b.$f.filter(|v| *v != 0) {
                hc.$f = Some(v);
            }
        )*};
    }
    set_nonzero!(
        cpu_shares,
        cpu_period,
        cpu_quota,
        nano_cpus,
        memory_reservation,
        blkio_weight
    );
    if let Some(m) = b.memory.filter(|v| *v != 0) {
        // Raising the memory limit above the stored swap limit needs a new swap limit too.
        let swap = b.memory_swap.or(hc.memory_swap).unwrap_or(0);
        if b.memory_swap.is_none() && swap > 0 && m > swap {
            return Err(Error::Conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
            ));
        }
        hc.memory = Some(m);
    }
    if let Some(s) = b.memory_swap.filter(|v| *v != 0) {
        hc.memory_swap = Some(s);
    }
    if let Some(p) = b.pids_limit {
        hc.pids_limit = Some(p);
    }
    if let Some(c) = b.cpuset_cpus.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_cpus = Some(c);
    }
    if let Some(m) = b.cpuset_mems.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_mems = Some(m);
    }
    // As Docker: a policy without a name leaves the stored one; the next exit follows the new.
    if let Some(rp) = b
        .restart_policy
        .as_ref()
        .filter(|rp| !matches!(rp.name, None | Some(RestartPolicyNameEnum::EMPTY)))
    {
        super::restart::validate_policy(rp)?;
        if hc.auto_remove == Some(true) && rp.name != Some(RestartPolicyNameEnum::NO) {
            return Err(Error::InvalidArgument(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        hc.restart_policy = Some(rp.clone());
    }
    for (what, given) in [
        (
            "--cpu-rt-period",
            b.cpu_realtime_period.is_some_and(|v| v != 0),
        ),
        (
            "--cpu-rt-runtime",
            b.cpu_realtime_runtime.is_some_and(|v| v != 0),
        ),
    ] {
        if given {
            return Err(Error::NotImplemented(format!(
                "updating {what} is not implemented in Berth"
            )));
        }
    }
    if b.blkio_device_read_bps
        .as_ref()
        .is_some_and(|v| !v.is_empty())
        || b.blkio_device_write_bps
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.blkio_device_read_iops
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.blkio_device_write_iops
            .as_ref()
            .is_some_and(|v| !v.is_empty())
    {
        hc.blkio_device_read_bps = b
            .blkio_device_read_bps
            .clone()
            .or(hc.blkio_device_read_bps.take());
        hc.blkio_device_write_bps = b
            .blkio_device_write_bps
            .clone()
            .or(hc.blkio_device_write_bps.take());
        hc.blkio_device_read_iops = b
            .blkio_device_read_iops
            .clone()
            .or(hc.blkio_device_read_iops.take());
        hc.blkio_device_write_iops = b
            .blkio_device_write_iops
            .clone()
            .or(hc.blkio_device_write_iops.take());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_fields_change() {
        let mut hc = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpu_shares: Some(512),
            ..Default::default()
        };
        apply(
            &mut hc,
            &ContainerUpdateBody {
                memory: Some(100 << 20),
                pids_limit: Some(7),
                cpu_shares: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(hc.memory, Some(100 << 20));
        assert_eq!(hc.cpu_shares, Some(512));
        assert_eq!(hc.pids_limit, Some(7));
        let e = apply(
            &mut hc,
            &ContainerUpdateBody {
                memory: Some(1 << 30),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("memoryswap"));
    }
}
