//! The overlay snapshotter: each snapshot is a directory (`<id>/fs`) holding only its own
//! changes; overlayfs stacks a snapshot's committed ancestors as lower layers. Directories are
//! named by small numbers so that the `lowerdir=` option stays short; a stack too long for one
//! page of mount options is mounted through `fsconfig` (see [`crate::mount_all`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::meta::{MetaStore, Record};
use crate::tree::disk_usage;
use crate::{Info, Kind, LayerFormat, Mount, Snapshotter};

pub struct Overlay {
    meta: MetaStore,
}

/// Whether an overlay mount works with upper and work directories under `root` (it does not on
/// top of another overlayfs, for example). Leaves nothing behind.
pub fn supported(root: &Path) -> bool {
    if fs::create_dir_all(root).is_err() {
        return false;
    }
    let Ok(probe) = tempfile_dir(root) else {
        return false;
    };
    let ok = (|| -> Result<()> {
        for d in ["l1", "l2", "u", "w", "m"] {
            fs::create_dir(probe.join(d)).map_err(Error::io("mkdir", probe.join(d)))?;
        }
        let p = |d: &str| probe.join(d).display().to_string();
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            target: None,
            options: vec![
                format!("lowerdir={}:{}", p("l2"), p("l1")),
                format!("upperdir={}", p("u")),
                format!("workdir={}", p("w")),
            ],
        };
        crate::mount_all(&[m], &probe.join("m"))?;
        crate::unmount(&probe.join("m"))
    })()
    .is_ok();
    let _ = fs::remove_dir_all(&probe);
    ok
}

fn tempfile_dir(root: &Path) -> std::io::Result<PathBuf> {
    let p = root.join(format!(".probe-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir(&p)?;
    Ok(p)
}

impl Overlay {
    /// Opens (creating) the overlay snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<Overlay> {
        Ok(Overlay {
            meta: MetaStore::open(root)?,
        })
    }

    fn fs_dir(&self, r: &Record) -> PathBuf {
        self.meta.dir(r.id).join("fs")
    }

    fn work_dir(&self, r: &Record) -> PathBuf {
        self.meta.dir(r.id).join("work")
    }

    fn lowers(&self, st: &crate::meta::State, r: &Record) -> Result<Vec<String>> {
        Ok(self
            .meta
            .ancestors(st, r)?
            .iter()
            .map(|a| self.fs_dir(a).display().to_string())
            .collect())
    }

    fn mounts_of(&self, st: &crate::meta::State, r: &Record) -> Result<Vec<Mount>> {
        let lowers = self.lowers(st, r)?;
        let bind = |src: String, mode: &str| Mount {
            kind: "bind".into(),
            source: src,
            target: None,
            options: vec!["rbind".into(), mode.into()],
        };
        Ok(match r.kind {
            Kind::Active if lowers.is_empty() => {
                vec![bind(self.fs_dir(r).display().to_string(), "rw")]
            }
            Kind::Active => vec![Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                target: None,
                options: vec![
                    "index=off".into(),
                    format!("lowerdir={}", lowers.join(":")),
                    format!("upperdir={}", self.fs_dir(r).display()),
                    format!("workdir={}", self.work_dir(r).display()),
                ],
            }],
            Kind::View if lowers.is_empty() => {
                vec![bind(self.fs_dir(r).display().to_string(), "ro")]
            }
            Kind::View if lowers.len() == 1 => vec![bind(lowers[0].clone(), "ro")],
            Kind::View => vec![Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                target: None,
                options: vec!["index=off".into(), format!("lowerdir={}", lowers.join(":"))],
            }],
            Kind::Committed => {
                return Err(Error::WrongKind {
                    key: r.key.clone(),
                    actual: "committed",
                    wanted: "active or a view",
                })
            }
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let rec = self.meta.create(key, kind, parent, |dir, _| {
            for d in ["fs", "work"] {
                fs::create_dir(dir.join(d)).map_err(Error::io("mkdir", dir.join(d)))?;
            }
            Ok(())
        })?;
        self.mounts_of(&self.meta.lock(), &rec)
    }
}

impl Snapshotter for Overlay {
    fn driver_name(&self) -> &'static str {
        "overlay2"
    }

    fn layer_format(&self) -> LayerFormat {
        LayerFormat::OverlayDiff
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
        let mut out = Vec::new();
        let lowers = self.lowers(&st, &r)?;
        if !lowers.is_empty() {
            out.push(("LowerDir".into(), lowers.join(":")));
        }
        out.push(("UpperDir".into(), self.fs_dir(&r).display().to_string()));
        out.push(("WorkDir".into(), self.work_dir(&r).display().to_string()));
        Ok(out)
    }
}
