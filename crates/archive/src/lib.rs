//! Layer archives: the tar streams that carry image layers.
//!
//! * [`apply_layer`] unpacks a layer onto a directory: compression is sniffed from magic bytes
//!   (gzip, zstd, or none), the uncompressed stream's sha256 (the layer's *diff ID*) is computed
//!   in the same pass, and OCI/AUFS whiteouts (`.wh.<name>`, `.wh..wh..opq`) are either turned
//!   into overlayfs whiteouts ([`WhiteoutMode::Overlay`], for a layer directory that overlayfs will
//!   stack) or carried out by deleting ([`WhiteoutMode::Delete`], for a directory that already
//!   holds the parent layers).
//! * [`tar_dir`] writes a directory back as a layer tar, turning overlayfs whiteouts into `.wh.`
//!   entries.
//!
//! Archives are hostile input. Entry paths are normalised and refused when absolute or when they
//! contain `..`; every lookup happens inside the target root with `RESOLVE_IN_ROOT` semantics
//! (via `pathrs`), the last component is created with no-follow `*at` calls on the resolved
//! parent, symlink chains that would climb out of the root are refused, and hard links may only
//! point at files inside the root. Owners, modes, mtimes and extended attributes are preserved
//! (except `trusted.overlay.*`, which only Berth itself may set).

mod apply;
mod compression;
mod copy;
mod error;
mod pack;
mod sys;

pub use apply::{
    apply_layer, clean_path, unpack_scratch, Applied, ApplyOptions, WhiteoutMode, RATIO_GRACE,
};
pub use compression::{decompress, Compression};
pub use copy::{
    extract_into_root, extract_into_root_as, go_file_mode, stat_in_root, tar_from_root,
    tar_from_root_as, tar_from_root_named, PathStat,
};
pub use error::{Error, Result};
pub use pack::{tar_dir, tar_dir_as};

#[cfg(test)]
mod tests;
