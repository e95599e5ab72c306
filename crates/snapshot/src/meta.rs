//! The snapshot records shared by both backends: one small JSON file per key under `meta/`,
//! written to a temporary name, fsynced and renamed, next to numbered snapshot directories.
//! Numbers rather than keys name the directories so that overlay's mount options stay short.
//!
//! Crash safety: a directory is populated before its record is written, so a directory without
//! a record is debris and is removed at open; a commit writes the committed record before it
//! removes the active one, so two records for one directory resolve to the committed one.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::{Info, Kind};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub key: String,
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub created: String,
}

impl Record {
    pub fn info(&self) -> Info {
        Info {
            key: self.key.clone(),
            kind: self.kind,
            parent: self.parent.clone(),
            created: self.created.clone(),
        }
    }
}

pub(crate) struct State {
    pub records: HashMap<String, Record>,
    /// Keys being created, with their parents.
    pending: HashMap<String, Option<String>>,
    next_id: u64,
}

pub(crate) struct MetaStore {
    root: PathBuf,
    state: Mutex<State>,
}

const MAX_KEY_LEN: usize = 4096;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Active => "active",
        Kind::Committed => "committed",
        Kind::View => "a view",
    }
}

impl MetaStore {
    pub fn open(root: &Path) -> Result<MetaStore> {
        let meta = root.join("meta");
        fs::create_dir_all(&meta).map_err(Error::io("create", &meta))?;
        let mut records: HashMap<String, Record> = HashMap::new();
        let mut by_id: HashMap<u64, String> = HashMap::new();
        for entry in fs::read_dir(&meta).map_err(Error::io("read", &meta))? {
            let path = entry.map_err(Error::io("read", &meta))?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                continue;
            }
            let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
            let rec: Record = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if let Some(other) = by_id.get(&rec.id).cloned() {
                // An interrupted commit: keep the committed record.
                let (keep, drop) = if rec.kind == Kind::Committed {
                    (rec.key.clone(), other)
                } else {
                    (other, rec.key.clone())
                };
                let drop_path = meta.join(key_file(&drop));
                fs::remove_file(&drop_path).map_err(Error::io("remove", &drop_path))?;
                records.remove(&drop);
                by_id.insert(rec.id, keep.clone());
                if keep != rec.key {
                    continue;
                }
            }
            by_id.insert(rec.id, rec.key.clone());
            records.insert(rec.key.clone(), rec);
        }
        // Directories no record names are debris of interrupted prepares or removals.
        let mut max_id = 0;
        for entry in fs::read_dir(root).map_err(Error::io("read", root))? {
            let entry = entry.map_err(Error::io("read", root))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == "meta" {
                continue;
            }
            match name.parse::<u64>() {
                Ok(id) if by_id.contains_key(&id) => max_id = max_id.max(id),
                _ => {
                    let p = entry.path();
                    fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
                }
            }
        }
        let next_id = by_id.keys().copied().max().unwrap_or(0).max(max_id) + 1;
        Ok(MetaStore {
            root: root.to_path_buf(),
            state: Mutex::new(State {
                records,
                pending: HashMap::new(),
                next_id,
            }),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Records on disk are always whole; a panic mid-operation leaves at most debris that the
        // next open removes, so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self, id: u64) -> PathBuf {
        self.root.join(id.to_string())
    }

    pub fn get(&self, st: &State, key: &str) -> Result<Record> {
        st.records
            .get(key)
            .cloned()
            .ok_or_else(|| Error::NotFound(key.to_string()))
    }

    pub fn expect(
        &self,
        st: &State,
        key: &str,
        kinds: &[Kind],
        wanted: &'static str,
    ) -> Result<Record> {
        let r = self.get(st, key)?;
        if !kinds.contains(&r.kind) {
            return Err(Error::WrongKind {
                key: key.into(),
                actual: kind_name(r.kind),
                wanted,
            });
        }
        Ok(r)
    }

    /// The committed ancestors of `rec`, nearest first.
    pub fn ancestors(&self, st: &State, rec: &Record) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut next = rec.parent.clone();
        while let Some(p) = next {
            let r = self.get(st, &p)?;
            next = r.parent.clone();
            out.push(r);
        }
        Ok(out)
    }

    /// Creates snapshot `key`: allocates its directory, lets `populate` fill it (without
    /// holding the lock, so a long copy does not stall other snapshots), then records it.
    /// While `populate` runs the key is reserved and the parent cannot be removed.
    pub fn create(
        &self,
        key: &str,
        kind: Kind,
        parent: Option<&str>,
        populate: impl FnOnce(&Path, Option<&Record>) -> Result<()>,
    ) -> Result<Record> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || key.contains('\0') {
            return Err(Error::InvalidKey(key.to_string()));
        }
        let (id, parent_rec) = {
            let mut st = self.lock();
            if st.records.contains_key(key) || st.pending.contains_key(key) {
                return Err(Error::AlreadyExists(key.to_string()));
            }
            let parent_rec = match parent {
                Some(p) => Some(self.expect(&st, p, &[Kind::Committed], "committed")?),
                None => None,
            };
            let id = st.next_id;
            st.next_id += 1;
            st.pending
                .insert(key.to_string(), parent.map(str::to_string));
            (id, parent_rec)
        };
        let dir = self.dir(id);
        let made = fs::create_dir(&dir)
            .map_err(Error::io("create", &dir))
            .and_then(|()| populate(&dir, parent_rec.as_ref()));
        let rec = Record {
            key: key.to_string(),
            id,
            kind,
            parent: parent.map(str::to_string),
            created: now(),
        };
        let mut st = self.lock();
        st.pending.remove(key);
        if let Err(e) = made.and_then(|()| self.write(&rec)) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        st.records.insert(key.to_string(), rec.clone());
        Ok(rec)
    }

    pub fn commit(&self, st: &mut State, name: &str, key: &str) -> Result<Record> {
        let active = self.expect(st, key, &[Kind::Active], "active")?;
        if name.is_empty() || name.len() > MAX_KEY_LEN || name.contains('\0') {
            return Err(Error::InvalidKey(name.to_string()));
        }
        if st.records.contains_key(name) || st.pending.contains_key(name) {
            return Err(Error::AlreadyExists(name.to_string()));
        }
        let rec = Record {
            key: name.to_string(),
            kind: Kind::Committed,
            ..active.clone()
        };
        self.write(&rec)?;
        self.delete_record(key)?;
        st.records.remove(key);
        st.records.insert(name.to_string(), rec.clone());
        Ok(rec)
    }

    pub fn remove(&self, st: &mut State, key: &str) -> Result<Record> {
        let rec = self.get(st, key)?;
        if let Some(child) = st
            .records
            .values()
            .find(|r| r.parent.as_deref() == Some(key))
        {
            return Err(Error::InUse {
                key: key.into(),
                child: child.key.clone(),
            });
        }
        // Record first: a leftover directory is removed at the next open, but a record without
        // its directory would be a lie.
        self.delete_record(key)?;
        st.records.remove(key);
        let dir = self.dir(rec.id);
        fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
        Ok(rec)
    }

    fn write(&self, rec: &Record) -> Result<()> {
        let meta = self.root.join("meta");
        let path = meta.join(key_file(&rec.key));
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(rec).map_err(|e| Error::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(Error::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
        File::open(&meta)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("sync", &meta))
    }

    fn delete_record(&self, key: &str) -> Result<()> {
        let path = self.root.join("meta").join(key_file(key));
        fs::remove_file(&path).map_err(Error::io("remove", &path))
    }
}

/// Keys are arbitrary strings; their hash is a safe file name.
fn key_file(key: &str) -> String {
    format!("{}.json", hex::encode(Sha256::digest(key.as_bytes())))
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
