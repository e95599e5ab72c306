//! The layer-waste report: what each layer of an image adds, which bytes later layers delete or
//! overwrite (so that they travel with the image but are invisible in its filesystem), and
//! what to do about it. Served by Berth's extension route `GET /images/{name}/layers`.

use serde::{Deserialize, Serialize};

/// The report for one image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerReport {
    /// The image ID (`sha256:<hex>`).
    pub id: String,
    /// Bytes of file content all layers carry (sum of [`LayerInfo::size`]).
    pub size: u64,
    /// Bytes carried by some layer but invisible in the final filesystem.
    pub wasted_size: u64,
    /// The layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// Who hides whose bytes, largest first.
    pub waste: Vec<Waste>,
    /// Advice naming the instructions involved, largest waste first.
    pub suggestions: Vec<Suggestion>,
}

/// What to do about the bytes layer `layer` hides of layer `added_by` (both kinds together).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Suggestion {
    pub layer: usize,
    pub added_by: usize,
    pub size: u64,
    /// `layer 4 (RUN rm -rf /var/lib/apt/lists) removes 38.2 MB that layer 3 (RUN apt-get
    /// update) added: do both in one RUN`.
    pub text: String,
}

/// One layer of the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerInfo {
    /// 1-based position among the image's layers (history steps that made no layer are skipped).
    pub index: usize,
    #[serde(rename = "DiffID")]
    pub diff_id: String,
    /// The history entry's `created_by`, as recorded.
    pub created_by: String,
    /// `created_by` as the Dockerfile instruction it came from (`RUN apt-get update`).
    pub instruction: String,
    /// Bytes of regular-file content the layer adds.
    pub size: u64,
    /// Entries in the layer (files, directories, links, whiteouts).
    pub entries: u64,
    /// Bytes this layer adds that later layers delete or overwrite.
    pub wasted_size: u64,
    /// Bytes of earlier layers this layer deletes or overwrites.
    pub removed_size: u64,
}

/// How a layer hides an earlier layer's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasteKind {
    /// A whiteout or an opaque directory removed the files.
    Deleted,
    /// The same path was written again (also with another type).
    Overwritten,
}

/// Bytes layer `layer` hides that layer `added_by` added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Waste {
    /// The layer that deletes or overwrites (1-based).
    pub layer: usize,
    /// The layer whose bytes are hidden (1-based).
    pub added_by: usize,
    pub kind: WasteKind,
    pub size: u64,
    pub files: u64,
    /// The largest hidden paths (at most five), absolute.
    pub paths: Vec<String>,
}
