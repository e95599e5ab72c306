//! `history`: an image's build steps, newest first, as `docker history` shows them.

use berth_types::api::ImageHistoryResponseItem;

use crate::error::Result;
use crate::store::unix_seconds;
use crate::unpack::chain_id;
use crate::ImageStore;

impl ImageStore {
    /// The history of the image `name` resolves to. Steps that made a layer carry that layer's
    /// unpacked size; the newest step carries the image ID and tags, older ones `<missing>`
    /// (Berth, like Docker since the content store, keeps no intermediate images).
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
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = rec.id.clone();
            top.tags = rec.repo_tags.clone();
        }
        Ok(out)
    }
}
