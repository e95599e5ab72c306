//! User namespaces (`--userns-remap`): the spec's side, and what the built-in runtime does
//! about network namespaces created outside the container's user namespace.
//!
//! The spec gains a `user` namespace with the daemon's uid/gid mappings (root in the
//! container is the first subordinate id on the host). The network namespace, though, is the
//! daemon's, made before the container and so owned by the host's user namespace. Two things
//! follow, as with runc:
//!
//! * `sysfs` cannot be mounted (the kernel wants the mounter to own the network namespace):
//!   the host's `/sys` is bind-mounted read-only instead, as for `--network host`.
//! * The namespace must be joined before the user namespace is made. runc joins every
//!   namespace given by path first; libcontainer 0.7 joins them after, when the process has
//!   no privilege over the daemon's namespace left (EPERM). So for the built-in runtime the
//!   network entry leaves the bundle ([`detach_netns`], the path kept in an annotation) and
//!   the runtime is called from inside that namespace ([`in_netns`]): its processes, the init
//!   and later the execs, inherit it.
//!
//! libcontainer 0.7's exec (its "tenant" builder) never joined the container's user
//! namespace (an exec would have run as the host's root): the workspace uses a copy patched
//! to join it (`vendor/README.md`).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_types::idmap::{IdMap, IdRange};
use serde_json::{json, Value};

use crate::error::RuntimeError;

/// The annotation that keeps a detached network namespace's path (see the module docs).
pub const NETNS_ANNOTATION: &str = "io.berth.userns.netns";

fn mappings(ranges: &[IdRange]) -> Value {
    json!(ranges
        .iter()
        .map(|r| json!({"containerID": r.container, "hostID": r.host, "size": r.size}))
        .collect::<Vec<_>>())
}

/// Adds the user namespace with `map` to a spec built by [`crate::spec::build_spec`].
pub(crate) fn apply(spec: &mut Value, map: &IdMap) {
    let linux = &mut spec["linux"];
    let joins_netns = linux["namespaces"].as_array().is_some_and(|ns| {
        !ns.iter()
            .any(|n| n["type"] == "network" && n["path"].is_null())
    });
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.insert(0, json!({"type": "user"}));
    }
    linux["uidMappings"] = mappings(&map.uids);
    linux["gidMappings"] = mappings(&map.gids);
    if joins_netns {
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            for m in mounts.iter_mut().filter(|m| m["type"] == "sysfs") {
                *m = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
        }
    }
}

/// For the built-in runtime: when the bundle makes a user namespace and joins a network
/// namespace by path, takes the network entry out of `config.json` (recording its path in
/// [`NETNS_ANNOTATION`]) and returns the path. Idempotent.
pub(crate) fn detach_netns(bundle: &Path) -> Result<Option<PathBuf>, RuntimeError> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("read {}", path.display()), e))?;
    let mut spec: Value = serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::InvalidSpec(format!("config.json: {e}")))?;
    if let Some(p) = spec["annotations"][NETNS_ANNOTATION].as_str() {
        return Ok(Some(PathBuf::from(p)));
    }
    let Some(ns) = spec["linux"]["namespaces"].as_array_mut() else {
        return Ok(None);
    };
    let new_userns = ns
        .iter()
        .any(|n| n["type"] == "user" && n["path"].is_null());
    let Some(i) = ns
        .iter()
        .position(|n| n["type"] == "network" && n["path"].is_string())
    else {
        return Ok(None);
    };
    if !new_userns {
        return Ok(None);
    }
    let netns = ns.remove(i)["path"].as_str().unwrap_or_default().to_owned();
    if !spec["annotations"].is_object() {
        spec["annotations"] = json!({});
    }
    spec["annotations"][NETNS_ANNOTATION] = json!(netns);
    let bytes = serde_json::to_vec_pretty(&spec)
        .map_err(|e| RuntimeError::InvalidSpec(format!("config.json: {e}")))?;
    crate::durable_write(&path, &bytes)?;
    Ok(Some(PathBuf::from(netns)))
}

/// The network namespace a built-in container's execs must be started from, if
/// [`detach_netns`] took it out of its bundle.
pub(crate) fn exec_netns(spec: &oci_spec::runtime::Spec) -> Option<PathBuf> {
    spec.annotations()
        .as_ref()?
        .get(NETNS_ANNOTATION)
        .map(PathBuf::from)
}

/// Runs `f` with the calling thread in the network namespace at `netns` (none: as is), then
/// returns the thread to its own. Processes `f` forks stay in `netns`.
pub(crate) fn in_netns<T>(
    netns: Option<&Path>,
    f: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let Some(netns) = netns else {
        return f();
    };
    use nix::sched::{setns, CloneFlags};
    let own = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| RuntimeError::io("open /proc/thread-self/ns/net", e))?;
    let target = std::fs::File::open(netns)
        .map_err(|e| RuntimeError::io(format!("open {}", netns.display()), e))?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| {
        RuntimeError::io(
            format!("join network namespace {}", netns.display()),
            e.into(),
        )
    })?;
    let out = f();
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| RuntimeError::io("return to the runtime's network namespace", e.into()))?;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(netns: Value) -> Value {
        json!({
            "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}],
            "linux": {"namespaces": [{"type": "mount"}, netns]},
        })
    }

    #[test]
    fn user_namespace_and_mappings_are_added() {
        let map = IdMap::from_subordinate(&[(100000, 65536)], &[(200000, 1000), (300000, 5)]);
        let mut s = spec(json!({"type": "network", "path": "/run/netns/x"}));
        apply(&mut s, &map);
        assert_eq!(s["linux"]["namespaces"][0], json!({"type": "user"}));
        assert_eq!(
            s["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
        );
        assert_eq!(
            s["linux"]["gidMappings"][1],
            json!({"containerID": 1000, "hostID": 300000, "size": 5})
        );
        // The daemon's network namespace is not the user namespace's: no sysfs mount.
        assert_eq!(s["mounts"][0]["type"], "bind");

        // A namespace of its own (`--network none`) can mount sysfs.
        let mut s = spec(json!({"type": "network"}));
        apply(&mut s, &map);
        assert_eq!(s["mounts"][0]["type"], "sysfs");
    }

    #[test]
    fn detach_moves_the_network_path_to_an_annotation_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(json!({"type": "network", "path": "/run/netns/x"}));
        apply(
            &mut s,
            &IdMap::from_subordinate(&[(100000, 10)], &[(100000, 10)]),
        );
        std::fs::write(dir.path().join("config.json"), s.to_string()).unwrap();
        let got = detach_netns(dir.path()).unwrap();
        assert_eq!(got.as_deref(), Some(Path::new("/run/netns/x")));
        let back: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert!(!back["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        assert_eq!(detach_netns(dir.path()).unwrap(), got);

        // Without a user namespace the bundle is left alone.
        let dir = tempfile::tempdir().unwrap();
        let s = spec(json!({"type": "network", "path": "/run/netns/x"}));
        std::fs::write(dir.path().join("config.json"), s.to_string()).unwrap();
        assert_eq!(detach_netns(dir.path()).unwrap(), None);
    }
}
