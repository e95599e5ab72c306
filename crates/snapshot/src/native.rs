//! The native (copying) snapshotter, for where overlayfs cannot be mounted: every active
//! snapshot starts as a full copy of its parent, and layers are applied onto that copy with
//! deletions carried out directly. Views bind-mount the committed tree read-only.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::meta::{MetaStore, Record};
use crate::tree::{copy_tree, disk_usage};
use crate::{Info, Kind, LayerFormat, Mount, Snapshotter};

pub struct Native {
    meta: MetaStore,
}

impl Native {
    /// Opens (creating) the native snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<Native> {
        Ok(Native {
            meta: MetaStore::open(root)?,
        })
    }

    fn fs_dir(&self, r: &Record) -> PathBuf {
        self.meta.dir(r.id).join("fs")
    }

    fn mounts_of(&self, st: &crate::meta::State, r: &Record) -> Result<Vec<Mount>> {
        let (src, mode) = match r.kind {
            Kind::Active => (self.fs_dir(r), "rw"),
            Kind::View => match &r.parent {
                Some(p) => (self.fs_dir(&self.meta.get(st, p)?), "ro"),
                None => (self.fs_dir(r), "ro"),
            },
            Kind::Committed => {
                return Err(Error::WrongKind {
                    key: r.key.clone(),
                    actual: "committed",
                    wanted: "active or a view",
                })
            }
        };
        Ok(vec![Mount {
            kind: "bind".into(),
            source: src.display().to_string(),
            target: None,
            options: vec!["rbind".into(), mode.into()],
        }])
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let rec = self.meta.create(key, kind, parent, |dir, parent| {
            let fs_dir = dir.join("fs");
            fs::create_dir(&fs_dir).map_err(Error::io("mkdir", &fs_dir))?;
            match (parent, kind) {
                (Some(p), Kind::Active) => copy_tree(&self.fs_dir(p), &fs_dir),
                _ => Ok(()),
            }
        })?;
        self.mounts_of(&self.meta.lock(), &rec)
    }
}

impl Snapshotter for Native {
    fn driver_name(&self) -> &'static str {
        "native"
    }

    fn layer_format(&self) -> LayerFormat {
        LayerFormat::Full
    }

    fn stat(&self, key: &str) -> Result<Info> {
        Ok(self.meta.get(&self.meta.lock(), key)?.info())
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::View)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let st = self.meta.lock();
        let r = self.meta.get(&st, key)?;
        self.mounts_of(&st, &r)
    }

    fn upper_dir(&self, key: &str) -> Result<PathBuf> {
        let st = self.meta.lock();
        Ok(self.fs_dir(&self.meta.expect(&st, key, &[Kind::Active], "active")?))
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        let mut st = self.meta.lock();
        self.meta.commit(&mut st, name, key).map(|_| ())
    }

    fn remove(&self, key: &str) -> Result<()> {
        let mut st = self.meta.lock();
        self.meta.remove(&mut st, key).map(|_| ())
    }

    fn list(&self) -> Result<Vec<Info>> {
        let st = self.meta.lock();
        let mut v: Vec<Info> = st.records.values().map(Record::info).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    }

    fn usage(&self, key: &str) -> Result<u64> {
        let dir = {
            let st = self.meta.lock();
            self.fs_dir(&self.meta.get(&st, key)?)
        };
        disk_usage(&dir)
    }

    fn driver_data(&self, key: &str) -> Result<Vec<(String, String)>> {
        let st = self.meta.lock();
        let r = self.meta.get(&st, key)?;
        Ok(vec![("Dir".into(), self.fs_dir(&r).display().to_string())])
    }
}
