//! `inspect`: the container as Docker's `ContainerJSON` shows it. Every top-level field Docker
//! sends is present, with the right JSON type, so Go templates and SDKs that index into it
//! find what they expect.

use serde_json::{json, Value};

use super::{Container, ZERO_TIME};
use crate::error::Result;
use crate::Daemon;

fn or_zero(t: &str) -> &str {
    if t.is_empty() {
        ZERO_TIME
    } else {
        t
    }
}

impl Daemon {
    pub async fn inspect_container(&self, key: &str, size: bool) -> Result<Value> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        let mut v = self.container_json(&c);
        if let Some(h) = &c.health {
            v["State"]["Health"] = json!(h);
        }
        if size {
            let rw = self.images.snapshotter().usage(&c.id).unwrap_or(0) as i64;
            let image_size = crate::rootfs::image_size(&self.images, &c.image_id);
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rw + image_size);
        }
        let exec_ids: Vec<String> = self
            .execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.container_id == c.id)
            .map(|r| r.id.clone())
            .collect();
        v["ExecIDs"] = if exec_ids.is_empty() {
            Value::Null
        } else {
            json!(exec_ids)
        };
        Ok(v)
    }

    pub(crate) fn container_json(&self, c: &Container) -> Value {
        let mut v = self.container_json_inner(c);
        docker_mount_field_order(&mut v["HostConfig"]["Mounts"]);
        v
    }

    fn container_json_inner(&self, c: &Container) -> Value {
        let s = &c.state;
        let dir = self.container_dir(&c.id);
        let state_dir = self.state_dir(&c.id);
        json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": {
                "Status": s.status.as_str(),
                "Running": s.status.is_running(),
                "Paused": s.status == super::Status::Paused,
                "Restarting": s.status == super::Status::Restarting,
                "OOMKilled": s.oom_killed,
                "Dead": s.status == super::Status::Dead,
                "Pid": s.pid,
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": or_zero(&s.started_at),
                "FinishedAt": or_zero(&s.finished_at),
            },
            "Image": c.image_id,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": self.log_path(&c.id),
            "Name": format!("/{}", c.name),
            "RestartCount": c.restart_count,
            "Driver": c.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": c.host_config,
            "GraphDriver": {
                "Name": c.driver,
                "Data": {
                    "MergedDir": state_dir.join("rootfs"),
                },
            },
            "Mounts": mounts_json(c),
            "Config": c.config,
            "NetworkSettings": self.network_settings(c),
        })
    }
}

/// Inspect's `Mounts`: Docker lists them sorted by destination and leaves out `--tmpfs` ones.
pub(crate) fn mounts_json(c: &Container) -> Value {
    let mut points: Vec<_> = c.mount_points.iter().filter(|m| !m.hidden).collect();
    points.sort_by(|a, b| a.destination.cmp(&b.destination));
    Value::Array(points.iter().map(|m| m.to_api()).collect())
}

/// `HostConfig.Mounts` entries in the field order of Docker's Go struct (ours follow the
/// swagger file's), so `{{json .HostConfig.Mounts}}` prints the same bytes.
fn docker_mount_field_order(mounts: &mut Value) {
    const ORDER: &[&str] = &[
        "Type",
        "Source",
        "Target",
        "ReadOnly",
        "Consistency",
        "BindOptions",
        "VolumeOptions",
        "ImageOptions",
        "TmpfsOptions",
    ];
    let Some(list) = mounts.as_array_mut() else {
        return;
    };
    for m in list {
        let Some(obj) = m.as_object_mut() else {
            continue;
        };
        let mut ordered = serde_json::Map::new();
        for k in ORDER {
            if let Some(x) = obj.remove(*k) {
                ordered.insert((*k).to_owned(), x);
            }
        }
        ordered.append(obj);
        *m = Value::Object(ordered);
    }
}
