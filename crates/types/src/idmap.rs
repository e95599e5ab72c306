//! User-namespace id mappings (`--userns-remap`): which host uid/gid each container id is.
//!
//! A daemon started with `--userns-remap` runs containers in a user namespace whose ids map
//! onto the remap user's subordinate ranges (`/etc/subuid`, `/etc/subgid`), the container's
//! root onto the first id of the first range. The image store unpacks layers with ids shifted
//! the same way, so that files appear owned by root inside; volumes and container roots are
//! owned by the remapped root.

/// One contiguous range: container ids `container..container+size` are host ids
/// `host..host+size` (the OCI `LinuxIDMapping` and `/proc/<pid>/uid_map` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The uid and gid mappings of a remapped daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl IdMap {
    /// Builds the mappings from subordinate ranges `(start, count)` in file order, as dockerd
    /// does: the ranges are laid end to end from container id 0.
    pub fn from_subordinate(uids: &[(u32, u32)], gids: &[(u32, u32)]) -> IdMap {
        fn lay(ranges: &[(u32, u32)]) -> Vec<IdRange> {
            let mut next = 0u32;
            ranges
                .iter()
                .map(|&(host, size)| {
                    let r = IdRange {
                        container: next,
                        host,
                        size,
                    };
                    next = next.saturating_add(size);
                    r
                })
                .collect()
        }
        IdMap {
            uids: lay(uids),
            gids: lay(gids),
        }
    }

    /// The host uid and gid of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (
            to_host(&self.uids, 0).unwrap_or(0),
            to_host(&self.gids, 0).unwrap_or(0),
        )
    }

    /// The host uid of container uid `id`; `None` when the mapping does not cover it.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        to_host(&self.uids, id)
    }

    /// The host gid of container gid `id`.
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        to_host(&self.gids, id)
    }

    /// The container uid that host uid `id` appears as, if mapped.
    pub fn container_uid(&self, id: u32) -> Option<u32> {
        to_container(&self.uids, id)
    }

    /// The container gid that host gid `id` appears as, if mapped.
    pub fn container_gid(&self, id: u32) -> Option<u32> {
        to_container(&self.gids, id)
    }

    /// The name of the daemon's data subtree for this mapping, `<uid>.<gid>` as dockerd's.
    pub fn subtree_name(&self) -> String {
        let (u, g) = self.root();
        format!("{u}.{g}")
    }
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container && id - r.container < r.size)
        .map(|r| r.host + (id - r.container))
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.host && id - r.host < r.size)
        .map(|r| r.container + (id - r.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_laid_end_to_end_and_map_both_ways() {
        let m = IdMap::from_subordinate(&[(100000, 10), (300000, 5)], &[(200000, 65536)]);
        assert_eq!(m.root(), (100000, 200000));
        assert_eq!(m.host_uid(9), Some(100009));
        assert_eq!(m.host_uid(10), Some(300000));
        assert_eq!(m.host_uid(14), Some(300004));
        assert_eq!(m.host_uid(15), None);
        assert_eq!(m.container_uid(300001), Some(11));
        assert_eq!(m.container_uid(0), None);
        assert_eq!(m.host_gid(65535), Some(265535));
        assert_eq!(m.container_gid(200000), Some(0));
        assert_eq!(m.subtree_name(), "100000.200000");
    }
}
