//! `history`: an image's build steps, newest first, as `docker history` shows them.

use berth_types::api::ImageHistoryResponseItem;

use crate::error::Result;
use crate::store::unix_seconds;
use crate::unpack::chain_id;
use crate::ImageStore;

impl ImageStore {
    /// The history of the image `name` resolves to. Steps that made a layer carry that layer's
    /// unpacked size; the newest step carries the image ID and tags, the last step of each
    /// local parent image (see `commit`) that image's ID and tags, the others `<missing>`.
    pub fn history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let rec = self.resolve(name)?;
        let config = self.config(&rec.id)?;
        let mut diff_ids = config.rootfs.diff_ids.iter();
        let mut parent: Option<String> = None;
        let mut out = Vec::with_capacity(config.history.len());
        for h in &config.history {
            let mut size = 0;
            if !h.empty_layer {
                // A history that names more layers than the rootfs has is malformed metadata:
                // show the step, without a size.
                if let Some(diff) = diff_ids.next() {
                    let chain = chain_id(parent.as_deref(), diff);
                    size = self.db.get_layer(&chain)?.map_or(0, |l| l.size);
                    parent = Some(chain);
                }
            }
            out.push(ImageHistoryResponseItem {
                id: "<missing>".into(),
                created: h.created.as_deref().map_or(0, unix_seconds),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        // Ancestors present locally (commit records them) name the step they ended on, as
        // Docker's history shows a local parent's ID instead of `<missing>`.
        let mut parent = rec.row.parent.clone();
        let mut hops = 0;
        while !parent.is_empty() && hops < 128 {
            hops += 1;
            let Some(row) = self.db.get_image(&parent)? else {
                break;
            };
            let p = self.record(row)?;
            let n = self.config(&p.id).map_or(0, |c| c.history.len());
            if let Some(step) = n.checked_sub(1).and_then(|i| out.get_mut(i)) {
                step.id = p.id.clone();
                step.tags = p.repo_tags.clone();
            }
            parent = p.row.parent.clone();
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = rec.id.clone();
            top.tags = rec.repo_tags.clone();
        }
        Ok(out)
    }
}
