//! The repositories' view of the shared blob store: small link files that say which blobs and
//! manifests belong to a repository and what each tag points at.
//!
//! ```text
//! <root>/content/blobs/sha256/<hex>                      every blob and manifest (berth-content)
//! <root>/repositories/<name>/_layers/<hex>               blob <hex> is in the repository
//! <root>/repositories/<name>/_manifests/revisions/<hex>  manifest <hex> is in it; holds its media type
//! <root>/repositories/<name>/_manifests/tags/<tag>       the tag; holds the manifest digest
//! ```
//!
//! A link is written to a temporary name, fsynced and renamed (then the directory is fsynced), so
//! a reader sees either the old link or the new one. Links are written only after the blob they
//! name is durable, and removed before it, so no link ever names missing content for long: the
//! one window (a blob swept by GC while a link to it is removed) is closed by checking both.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_content::Digest;

use crate::error::{Error, Result};

/// Link storage under `<root>/repositories`.
#[derive(Debug, Clone)]
pub struct Repos {
    root: PathBuf,
}

impl Repos {
    pub fn open(root: &Path) -> Result<Repos> {
        let root = root.join("repositories");
        fs::create_dir_all(&root).map_err(Error::io("create repositories dir"))?;
        Ok(Repos { root })
    }

    /// The directory of a (validated) repository name.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether the repository has ever received a blob or manifest.
    pub fn exists(&self, name: &str) -> bool {
        let d = self.dir(name);
        d.join("_manifests").is_dir() || d.join("_layers").is_dir()
    }

    fn layer(&self, name: &str, d: &Digest) -> PathBuf {
        self.dir(name).join("_layers").join(d.hex())
    }
    fn revision(&self, name: &str, d: &Digest) -> PathBuf {
        self.dir(name).join("_manifests/revisions").join(d.hex())
    }
    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.dir(name).join("_manifests/tags").join(tag)
    }

    pub fn has_layer(&self, name: &str, d: &Digest) -> bool {
        self.layer(name, d).is_file()
    }
    pub fn link_layer(&self, name: &str, d: &Digest) -> Result<()> {
        if self.has_layer(name, d) {
            return Ok(());
        }
        write_atomic(&self.layer(name, d), d.as_str().as_bytes())
    }
    /// Removes a blob from a repository; false if it was not there.
    pub fn unlink_layer(&self, name: &str, d: &Digest) -> Result<bool> {
        remove(&self.layer(name, d))
    }

    /// The media type a manifest was pushed with, if the repository has it.
    pub fn revision_type(&self, name: &str, d: &Digest) -> Option<String> {
        fs::read_to_string(self.revision(name, d)).ok()
    }
    pub fn link_revision(&self, name: &str, d: &Digest, media_type: &str) -> Result<()> {
        write_atomic(&self.revision(name, d), media_type.as_bytes())
    }
    pub fn unlink_revision(&self, name: &str, d: &Digest) -> Result<bool> {
        remove(&self.revision(name, d))
    }

    pub fn tag(&self, name: &str, tag: &str) -> Option<Digest> {
        let s = fs::read_to_string(self.tag_path(name, tag)).ok()?;
        Digest::parse(s.trim()).ok()
    }
    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> Result<()> {
        write_atomic(&self.tag_path(name, tag), d.as_str().as_bytes())
    }
    pub fn remove_tag(&self, name: &str, tag: &str) -> Result<bool> {
        remove(&self.tag_path(name, tag))
    }

    /// Every tag of the repository, sorted; `None` if it was never tagged (distribution then
    /// answers `NAME_UNKNOWN` too).
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        if !self.dir(name).join("_manifests/tags").is_dir() {
            return None;
        }
        let mut tags = list_names(&self.dir(name).join("_manifests/tags"));
        tags.retain(|t| crate::names::tag_ok(t));
        tags.sort();
        Some(tags)
    }

    /// Every manifest digest of the repository.
    pub fn revisions(&self, name: &str) -> Vec<Digest> {
        digests_in(&self.dir(name).join("_manifests/revisions"))
    }

    /// Every blob digest linked into the repository.
    pub fn layers(&self, name: &str) -> Vec<Digest> {
        digests_in(&self.dir(name).join("_layers"))
    }

    /// Every repository name, sorted (the catalog order distribution uses: lexical).
    pub fn list(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, String::new(), &mut out, 0);
        out.sort();
        out
    }
}

/// Repository names nest (`a/b` inside `a`), so the catalog walks the tree; depth is bounded by
/// the name grammar (255 characters), and a hostile tree cannot recurse forever.
fn walk(dir: &Path, prefix: String, out: &mut Vec<String>, depth: usize) {
    if depth > 128 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut is_repo = false;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name == "_manifests" || name == "_layers" {
            is_repo = true;
            continue;
        }
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let child = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            walk(&entry.path(), child, out, depth + 1);
        }
    }
    if is_repo && !prefix.is_empty() {
        out.push(prefix);
    }
}

fn list_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with(".tmp-"))
        .collect()
}

fn digests_in(dir: &Path) -> Vec<Digest> {
    list_names(dir)
        .into_iter()
        .filter_map(|h| Digest::parse(&format!("sha256:{h}")).ok())
        .collect()
}

fn remove(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                sync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove link")(e)),
    }
}

/// Writes `data` to `path` so that a crash leaves the old file or the new one, never a part.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal("link without a directory".into()))?;
    create_dirs(dir)?;
    let tmp = dir.join(format!(".tmp-{:032x}", rand::random::<u128>()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write link")(e));
    }
    sync_dir(dir)
}

/// Creates a directory and its missing parents, fsyncing each parent so the new entries survive
/// a crash together with the files put into them.
fn create_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io("create dir")(e)),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync dir"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_listing() {
        let t = tempfile::tempdir().unwrap();
        let r = Repos::open(t.path()).unwrap();
        let d = Digest::of(b"x");
        assert!(!r.exists("a/b"));
        r.link_layer("a/b", &d).unwrap();
        r.link_revision("a", &d, "application/vnd.oci.image.manifest.v1+json")
            .unwrap();
        r.set_tag("a", "v1", &d).unwrap();
        assert_eq!(r.list(), vec!["a".to_string(), "a/b".to_string()]);
        assert_eq!(r.tag("a", "v1"), Some(d.clone()));
        assert_eq!(r.tags("a").unwrap(), vec!["v1".to_string()]);
        assert!(r.tags("zzz").is_none());
        assert!(r.has_layer("a/b", &d));
        assert!(r.unlink_layer("a/b", &d).unwrap());
        assert!(!r.unlink_layer("a/b", &d).unwrap());
        assert_eq!(r.revisions("a"), vec![d]);
    }
}
