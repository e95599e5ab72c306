//! Layer waste: the bytes an image carries that its final filesystem never shows.
//!
//! A file deleted in a later layer still travels in the layer that added it (the later layer only
//! adds a whiteout), and a file written again is carried twice. [`ImageStore::layer_report`]
//! reads each layer's file index, replays the layers bottom up the way overlayfs stacks them
//! (whiteouts and opaque directories hide what is below; a path written again hides its earlier
//! version, and a directory replaced by a non-directory hides its whole subtree) and attributes
//! every hidden byte to the layer that added it and the layer that hid it, with both layers'
//! history entries, then suggests what to merge.
//!
//! Each layer's index (path, type, size of every entry, in tar order) is read from its layer
//! blob once and cached under `<data-root>/layer-index/<diff-id hex>.json`, written to a temp
//! name, fsynced and renamed; an index whose diff ID no layer has any more is removed with the
//! layer and, after a crash, at the next open. Nothing here touches a path named in a layer:
//! the layer is only read as a tar stream.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use berth_archive::decompress;
use berth_content::Digest;
use berth_types::waste::{LayerInfo, LayerReport, Suggestion, Waste, WasteKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::oci::Manifest;
use crate::store::MAX_DOC_SIZE;
use crate::ImageStore;

/// The directory of cached layer indexes, under the data root.
pub(crate) const INDEX_DIR: &str = "layer-index";
/// Bumped when [`LayerIndex`]'s meaning changes; older files are rebuilt.
const INDEX_VERSION: u32 = 1;
/// Waste between two layers below this is listed but earns no suggestion (an `adduser` rewriting
/// `/etc/passwd` is not worth a Dockerfile change).
const SUGGEST_MIN: u64 = 64 << 10;
const MAX_SUGGESTIONS: usize = 10;
const MAX_PATHS: usize = 5;

/// The kind of one layer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum EntryKind {
    #[serde(rename = "f")]
    File,
    #[serde(rename = "d")]
    Dir,
    #[serde(rename = "l")]
    Symlink,
    #[serde(rename = "h")]
    Hardlink,
    #[serde(rename = "o")]
    Other,
    /// `.wh.<name>`: `<name>` and everything below it are deleted.
    #[serde(rename = "w")]
    Whiteout,
    /// `.wh..wh..opq`: everything below the directory in earlier layers is hidden.
    #[serde(rename = "q")]
    Opaque,
}

/// One entry: the path is relative, `/`-separated, without `./`; for whiteouts it is the path
/// deleted, for opaque markers the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    p: String,
    k: EntryKind,
    #[serde(default, skip_serializing_if = "is_zero")]
    s: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// What a layer holds, in tar order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LayerIndex {
    version: u32,
    entries: Vec<Entry>,
}

impl LayerIndex {
    /// Reads a layer tar (compressed or not).
    fn from_tar(r: impl Read) -> io::Result<LayerIndex> {
        let (_, r) = decompress(r)?;
        let mut ar = tar::Archive::new(r);
        let mut entries = Vec::new();
        for e in ar.entries()? {
            let e = e?;
            let Some(path) = normalise(&e.path()?) else {
                continue;
            };
            let h = e.header();
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (d, n),
                None => ("", path.as_str()),
            };
            let entry = if name == ".wh..wh..opq" {
                Entry {
                    p: dir.to_string(),
                    k: EntryKind::Opaque,
                    s: 0,
                }
            } else if path.split('/').any(|c| c.starts_with(".wh..wh.")) {
                continue; // aufs bookkeeping (`.wh..wh.plnk/…`), no meaning in the image
            } else if let Some(gone) = name.strip_prefix(".wh.") {
                Entry {
                    p: join(dir, gone),
                    k: EntryKind::Whiteout,
                    s: 0,
                }
            } else {
                let t = h.entry_type();
                let (k, s) = if t.is_file() || t == tar::EntryType::Continuous {
                    (EntryKind::File, e.size())
                } else if t.is_dir() {
                    (EntryKind::Dir, 0)
                } else if t.is_symlink() {
                    (EntryKind::Symlink, 0)
                } else if t.is_hard_link() {
                    (EntryKind::Hardlink, 0)
                } else {
                    (EntryKind::Other, 0)
                };
                Entry { p: path, k, s }
            };
            entries.push(entry);
        }
        Ok(LayerIndex {
            version: INDEX_VERSION,
            entries,
        })
    }
}

/// `./a/b/` → `a/b`; the root itself and paths that climb out (`..`) give `None`.
fn normalise(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// A path visible after the layers replayed so far.
#[derive(Debug, Clone, Copy)]
struct Live {
    /// 0-based layer that wrote it.
    layer: usize,
    kind: EntryKind,
    size: u64,
}

/// Hidden bytes between two layers, while replaying.
#[derive(Default)]
struct Tally {
    size: u64,
    files: u64,
    /// (size, path), the largest kept.
    paths: Vec<(u64, String)>,
}

impl Tally {
    fn add(&mut self, path: &str, size: u64) {
        self.size += size;
        self.files += 1;
        self.paths.push((size, format!("/{path}")));
        if self.paths.len() > MAX_PATHS * 4 {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.paths
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.paths.truncate(MAX_PATHS);
    }
}

/// Replays `layers` (bottom first) and returns who hid whose bytes, keyed by (hiding layer,
/// adding layer, kind), all 0-based. Only regular files carry bytes; entries that carry none
/// (directories, links, empty files) are not waste.
fn replay(layers: &[LayerIndex]) -> Tallies {
    let mut live: BTreeMap<String, Live> = BTreeMap::new();
    let mut out = Tallies::new();
    for (n, layer) in layers.iter().enumerate() {
        // A layer's whiteouts and opaque markers hide only what is below it, whatever their
        // place in the tar, so they go first.
        for e in &layer.entries {
            match e.k {
                EntryKind::Whiteout => {
                    if let Some(l) = live.remove(&e.p) {
                        hide(&mut out, n, WasteKind::Deleted, &e.p, l);
                    }
                    for (p, l) in take_below(&mut live, &e.p) {
                        hide(&mut out, n, WasteKind::Deleted, &p, l);
                    }
                }
                EntryKind::Opaque => {
                    for (p, l) in take_below(&mut live, &e.p) {
                        if l.layer < n {
                            hide(&mut out, n, WasteKind::Deleted, &p, l);
                        } else {
                            live.insert(p, l);
                        }
                    }
                }
                _ => {}
            }
        }
        for e in &layer.entries {
            if matches!(e.k, EntryKind::Whiteout | EntryKind::Opaque) {
                continue;
            }
            let new = Live {
                layer: n,
                kind: e.k,
                size: e.s,
            };
            // The same path twice in one tar is the layer's own business.
            if let Some(old) = live.insert(e.p.clone(), new).filter(|o| o.layer < n) {
                hide(&mut out, n, WasteKind::Overwritten, &e.p, old);
            }
        }
        // Nothing can be seen below a non-directory: a directory replaced by a file or link
        // takes its lower subtree with it (the tar need not list the directory itself).
        for e in &layer.entries {
            if matches!(
                e.k,
                EntryKind::Dir | EntryKind::Whiteout | EntryKind::Opaque
            ) {
                continue;
            }
            for (p, l) in take_below(&mut live, &e.p) {
                if l.layer < n {
                    hide(&mut out, n, WasteKind::Overwritten, &p, l);
                } else {
                    live.insert(p, l);
                }
            }
        }
    }
    out
}

type Tallies = BTreeMap<(usize, usize, WasteKind), Tally>;

/// Records that layer `by` hid `l` at `path`.
fn hide(out: &mut Tallies, by: usize, kind: WasteKind, path: &str, l: Live) {
    if l.kind == EntryKind::File && l.size > 0 {
        out.entry((by, l.layer, kind))
            .or_default()
            .add(path, l.size);
    }
}

/// Removes and returns every live path strictly below `dir` (`""` is the root).
fn take_below(live: &mut BTreeMap<String, Live>, dir: &str) -> Vec<(String, Live)> {
    let keys: Vec<String> = if dir.is_empty() {
        live.keys().cloned().collect()
    } else {
        // Paths below `dir` sort between `dir/` and `dir0` ('0' follows '/').
        live.range(format!("{dir}/")..format!("{dir}0"))
            .map(|(k, _)| k.clone())
            .collect()
    };
    keys.into_iter()
        .filter_map(|k| live.remove(&k).map(|l| (k, l)))
        .collect()
}

/// The Dockerfile instruction a history `created_by` came from: the legacy builder records
/// `/bin/sh -c #(nop)  COPY …` for metadata and file steps and `/bin/sh -c cmd` (after `|N
/// ARG=v` when build args were set) for `RUN`; BuildKit records `RUN /bin/sh -c cmd # buildkit`.
pub fn instruction(created_by: &str) -> String {
    let s = created_by.trim();
    let s = s.strip_suffix("# buildkit").unwrap_or(s).trim();
    let s = match s.strip_prefix('|') {
        // `|2 A=1 B=2 /bin/sh -c …`: skip the count and the N assignments.
        Some(rest) => {
            let mut words = rest.splitn(2, ' ');
            let n: usize = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let mut rest = words.next().unwrap_or("");
            for _ in 0..n {
                rest = rest.split_once(' ').map_or("", |(_, r)| r);
            }
            rest
        }
        None => s,
    };
    if let Some(rest) = s.strip_prefix("/bin/sh -c #(nop)") {
        return rest.trim().to_string();
    }
    if let Some(rest) = s
        .strip_prefix("/bin/sh -c ")
        .or_else(|| s.strip_prefix("RUN /bin/sh -c "))
    {
        return format!("RUN {}", rest.trim());
    }
    s.to_string()
}

/// Decimal units with one decimal, as people read them (`38.2 MB`, `512 B`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    format!("{s} {unit}")
}

fn short(instr: &str) -> String {
    const MAX: usize = 60;
    if instr.is_empty() {
        return "no history".into();
    }
    if instr.chars().count() <= MAX {
        return instr.to_string();
    }
    let mut s: String = instr.chars().take(MAX - 1).collect();
    s.push('…');
    s
}

fn is_run(instr: &str) -> bool {
    instr.starts_with("RUN ")
}

fn is_copy(instr: &str) -> bool {
    instr.starts_with("COPY ") || instr.starts_with("ADD ")
}

/// The sentence for layer `by` hiding `size` bytes of layer `added`.
fn suggestion(by: &LayerInfo, added: &LayerInfo, kinds: &HashSet<WasteKind>, size: u64) -> String {
    let verb = match (
        kinds.contains(&WasteKind::Deleted),
        kinds.contains(&WasteKind::Overwritten),
    ) {
        (true, true) => "removes or overwrites",
        (false, true) => "overwrites",
        _ => "removes",
    };
    let (a, b) = (added.instruction.as_str(), by.instruction.as_str());
    let advice = if is_run(a) && is_run(b) {
        "do both in one RUN"
    } else if is_copy(a) && is_run(b) {
        "leave those files out of the context (.dockerignore), use them through RUN --mount=type=bind, or work in a build stage and COPY --from only the result"
    } else if is_copy(a) && is_copy(b) {
        "copy the final version once"
    } else {
        "merge the two steps, or build in a separate stage and COPY --from only the result"
    };
    format!(
        "layer {} ({}) {verb} {} that layer {} ({}) added: {advice}",
        by.index,
        short(b),
        human_bytes(size),
        added.index,
        short(a),
    )
}

impl ImageStore {
    /// The layer-waste report of the image `name` resolves to.
    pub fn layer_report(&self, name: &str) -> Result<LayerReport> {
        let rec = self.resolve(name)?;
        let config = self.config(&rec.id)?;
        let diff_ids = &config.rootfs.diff_ids;
        let blobs =
            self.manifest_layer_blobs(&rec.id, rec.row.manifest.as_deref(), diff_ids.len())?;
        // History steps that made a layer, in order; a malformed history leaves the rest blank.
        let mut created_by = config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .map(|h| h.created_by.clone().unwrap_or_default());
        let mut indexes = Vec::with_capacity(diff_ids.len());
        let mut layers = Vec::with_capacity(diff_ids.len());
        for (i, (diff, blob)) in diff_ids.iter().zip(&blobs).enumerate() {
            let index = self.layer_index(diff, blob)?;
            let by = created_by.next().unwrap_or_default();
            layers.push(LayerInfo {
                index: i + 1,
                diff_id: diff.clone(),
                instruction: instruction(&by),
                created_by: by,
                size: index.entries.iter().map(|e| e.s).sum(),
                entries: index.entries.len() as u64,
                wasted_size: 0,
                removed_size: 0,
            });
            indexes.push(index);
        }
        let tallies = replay(&indexes);
        let mut waste = Vec::new();
        let mut pairs: BTreeMap<(usize, usize), (u64, HashSet<WasteKind>)> = BTreeMap::new();
        for ((by, added, kind), mut t) in tallies {
            layers[by].removed_size += t.size;
            layers[added].wasted_size += t.size;
            let pair = pairs.entry((by, added)).or_default();
            pair.0 += t.size;
            pair.1.insert(kind);
            t.trim();
            waste.push(Waste {
                layer: by + 1,
                added_by: added + 1,
                kind,
                size: t.size,
                files: t.files,
                paths: t.paths.into_iter().map(|(_, p)| p).collect(),
            });
        }
        waste.sort_by(|a, b| {
            b.size
                .cmp(&a.size)
                .then_with(|| (a.layer, a.added_by).cmp(&(b.layer, b.added_by)))
        });
        let mut pairs: Vec<_> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
        let suggestions = pairs
            .iter()
            .filter(|(_, (size, _))| *size >= SUGGEST_MIN)
            .take(MAX_SUGGESTIONS)
            .map(|((by, added), (size, kinds))| Suggestion {
                layer: by + 1,
                added_by: added + 1,
                size: *size,
                text: suggestion(&layers[*by], &layers[*added], kinds, *size),
            })
            .collect();
        Ok(LayerReport {
            id: rec.id,
            size: layers.iter().map(|l| l.size).sum(),
            wasted_size: waste.iter().map(|w| w.size).sum(),
            layers,
            waste,
            suggestions,
        })
    }

    /// The layer blobs of image `id`, in rootfs order.
    fn manifest_layer_blobs(
        &self,
        id: &str,
        manifest: Option<&str>,
        n: usize,
    ) -> Result<Vec<Digest>> {
        let bad = |reason: String| Error::InvalidConfig {
            id: id.to_string(),
            reason,
        };
        let manifest = manifest.ok_or_else(|| bad("the image has no manifest".into()))?;
        let manifest = Digest::parse(manifest).map_err(|e| bad(e.to_string()))?;
        let m: Manifest = serde_json::from_slice(&self.content.read_blob(&manifest, MAX_DOC_SIZE)?)
            .map_err(|e| bad(format!("manifest: {e}")))?;
        if m.layers.len() != n {
            return Err(bad(
                "manifest and config disagree on the number of layers".into()
            ));
        }
        m.layers
            .iter()
            .map(|l| Digest::parse(&l.digest).map_err(|e| bad(e.to_string())))
            .collect()
    }

    /// The index of layer `diff_id`, from the cache or read from `blob` and cached.
    fn layer_index(&self, diff_id: &str, blob: &Digest) -> Result<LayerIndex> {
        let path = index_path(&self.layer_index_dir, diff_id)?;
        if let Ok(bytes) = fs::read(&path) {
            // A file that does not parse (another version, a disk error) is rebuilt.
            if let Ok(ix) = serde_json::from_slice::<LayerIndex>(&bytes) {
                if ix.version == INDEX_VERSION {
                    return Ok(ix);
                }
            }
        }
        let ix =
            LayerIndex::from_tar(io::BufReader::new(self.content.reader(blob)?)).map_err(|e| {
                Error::Io {
                    op: format!("reading layer {diff_id}"),
                    source: e,
                }
            })?;
        let bytes = serde_json::to_vec(&ix).map_err(|e| Error::Io {
            op: "encoding a layer index".into(),
            source: e.into(),
        })?;
        write_atomic(&self.layer_index_dir, &path, &bytes).map_err(|e| Error::Io {
            op: format!("caching the index of layer {diff_id}"),
            source: e,
        })?;
        Ok(ix)
    }

    /// Removes cached indexes whose diff ID no recorded layer has, and temp files a crash left.
    pub(crate) fn sweep_layer_indexes(&self) -> Result<()> {
        let Ok(rd) = fs::read_dir(&self.layer_index_dir) else {
            return Ok(());
        };
        let keep: HashSet<String> = self
            .db
            .list_layers()?
            .into_iter()
            .filter_map(|l| l.diff_id.strip_prefix("sha256:").map(str::to_string))
            .collect();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = match name.strip_suffix(".json") {
                Some(hex) if !name.starts_with('.') => !keep.contains(hex),
                _ => true,
            };
            if stale {
                match fs::remove_file(e.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::Io {
                            op: "removing a stale layer index".into(),
                            source: e,
                        })
                    }
                }
            }
        }
        Ok(())
    }
}

/// `<dir>/<hex>.json` for `sha256:<hex>`; anything else is refused (it names a file).
fn index_path(dir: &Path, diff_id: &str) -> Result<PathBuf> {
    let hex = diff_id
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::InvalidConfig {
            id: diff_id.to_string(),
            reason: "not a sha256 diff ID".into(),
        })?;
    Ok(dir.join(format!("{hex}.json")))
}

/// Temp name, fsync, rename, fsync the directory: a crash leaves the old file, the new one, or a
/// `.tmp-` file that the next sweep removes.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, EntryKind, u64)]) -> LayerIndex {
        LayerIndex {
            version: INDEX_VERSION,
            entries: entries
                .iter()
                .map(|(p, k, s)| Entry {
                    p: p.to_string(),
                    k: *k,
                    s: *s,
                })
                .collect(),
        }
    }

    fn tar_of(entries: &[(&str, tar::EntryType, usize)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, t, n) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*t);
            h.set_size(*n as u64);
            h.set_mode(0o644);
            if *t == tar::EntryType::Symlink {
                h.set_link_name("target").unwrap();
            }
            b.append_data(&mut h, p, &vec![7u8; *n][..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    use EntryKind::*;

    #[test]
    fn index_reads_whiteouts_opaque_dirs_and_sizes() {
        let t = tar_of(&[
            ("./", tar::EntryType::Directory, 0),
            ("./var/lib/apt/", tar::EntryType::Directory, 0),
            ("var/lib/apt/.wh..wh..opq", tar::EntryType::Regular, 0),
            ("var/lib/apt/lists.bin", tar::EntryType::Regular, 300),
            ("etc/.wh.motd", tar::EntryType::Regular, 0),
            ("bin/sh", tar::EntryType::Symlink, 0),
            (".wh..wh.plnk/x", tar::EntryType::Regular, 0),
        ]);
        let ix = LayerIndex::from_tar(&t[..]).unwrap();
        assert_eq!(
            ix,
            layer(&[
                ("var/lib/apt", Dir, 0),
                ("var/lib/apt", Opaque, 0),
                ("var/lib/apt/lists.bin", File, 300),
                ("etc/motd", Whiteout, 0),
                ("bin/sh", Symlink, 0),
            ])
        );
        // Gzip is sniffed like any layer blob.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        assert_eq!(LayerIndex::from_tar(&gz.finish().unwrap()[..]).unwrap(), ix);
    }

    #[test]
    fn deletions_and_overwrites_are_attributed_to_both_layers() {
        let layers = [
            layer(&[("bin", Dir, 0), ("bin/busybox", File, 1000)]),
            layer(&[
                ("var", Dir, 0),
                ("var/cache", Dir, 0),
                ("var/cache/a", File, 5000),
                ("var/cache/b", File, 70),
                ("etc/conf", File, 10),
            ]),
            layer(&[("var/cache", Whiteout, 0), ("etc/conf", File, 20)]),
            layer(&[("bin/busybox", File, 1200)]),
        ];
        let r = replay(&layers);
        let del = &r[&(2, 1, WasteKind::Deleted)];
        assert_eq!((del.size, del.files), (5070, 2));
        assert_eq!(r[&(2, 1, WasteKind::Overwritten)].size, 10);
        assert_eq!(r[&(3, 0, WasteKind::Overwritten)].size, 1000);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn opaque_dirs_hide_only_lower_layers_and_type_changes_hide_subtrees() {
        let layers = [
            layer(&[("d/old", File, 100), ("x/y/z", File, 9)]),
            // The opaque marker may come after the layer's own files in the tar.
            layer(&[("d/new", File, 1), ("d", Opaque, 0), ("x", Symlink, 0)]),
        ];
        let r = replay(&layers);
        assert_eq!(r[&(1, 0, WasteKind::Deleted)].size, 100);
        assert_eq!(r[&(1, 0, WasteKind::Overwritten)].size, 9);
        assert_eq!(r.len(), 2);
        // A whiteout for a path that is not there, and re-adding a deleted file, waste nothing
        // more than the deletion.
        let layers = [
            layer(&[("a", File, 50)]),
            layer(&[("a", Whiteout, 0), ("nothere", Whiteout, 0)]),
            layer(&[("a", File, 50)]),
        ];
        let r = replay(&layers);
        assert_eq!(r[&(1, 0, WasteKind::Deleted)].size, 50);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn no_waste_without_hiding() {
        let layers = [
            layer(&[("a", Dir, 0), ("a/1", File, 10)]),
            layer(&[("a", Dir, 0), ("a/2", File, 10)]),
        ];
        assert!(replay(&layers).is_empty());
    }

    #[test]
    fn instructions_from_history() {
        assert_eq!(
            instruction("/bin/sh -c apt-get update"),
            "RUN apt-get update"
        );
        assert_eq!(
            instruction("/bin/sh -c #(nop) COPY file:abc in /app "),
            "COPY file:abc in /app"
        );
        assert_eq!(instruction("|2 A=1 B=x /bin/sh -c make"), "RUN make");
        assert_eq!(
            instruction("RUN /bin/sh -c rm -rf /x # buildkit"),
            "RUN rm -rf /x"
        );
        assert_eq!(instruction("COPY app /app # buildkit"), "COPY app /app");
        assert_eq!(instruction("berth commit"), "berth commit");
    }

    #[test]
    fn suggestions_name_both_instructions() {
        let l = |i, by: &str| LayerInfo {
            index: i,
            instruction: instruction(by),
            created_by: by.into(),
            ..Default::default()
        };
        let s = suggestion(
            &l(4, "/bin/sh -c rm -rf /var/lib/apt/lists"),
            &l(3, "/bin/sh -c apt-get update"),
            &[WasteKind::Deleted].into_iter().collect(),
            38_200_000,
        );
        assert_eq!(
            s,
            "layer 4 (RUN rm -rf /var/lib/apt/lists) removes 38.2 MB that layer 3 \
             (RUN apt-get update) added: do both in one RUN"
        );
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(5_000_000), "5 MB");
        assert_eq!(human_bytes(5_242_880), "5.2 MB");
    }

    #[test]
    fn index_paths_refuse_anything_but_a_digest() {
        let d = Path::new("/x");
        assert!(index_path(d, "sha256:../../etc").is_err());
        assert!(index_path(d, &format!("sha256:{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn atomic_writes_and_sweeps_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(dir.path(), &p, b"{}").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }
}
