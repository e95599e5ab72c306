//! `system df`.

use serde_json::{json, Value};

use super::blocking;
use crate::error::Result;
use crate::Daemon;

impl Daemon {
    /// `GET /system/df` in the shape API 1.24–1.51 clients read: `LayersSize` counts every
    /// layer once however many images share it; each image's `SharedSize` is the part of it
    /// other images also use; containers report their writable layer as `SizeRw`. Volumes and
    /// build cache are empty until Berth has them.
    pub async fn system_df(&self) -> Result<Value> {
        let in_use = self.image_ids_in_use();
        let images = self.images.clone();
        let (list, layers_size, shared) = blocking(move || {
            Ok((
                images.list()?,
                images.layers_size()?,
                images.shared_sizes()?,
            ))
        })
        .await?;
        // Intermediate images (untagged parents, e.g. build steps) are not listed, as in
        // Docker; their layers count in LayersSize.
        let parents: std::collections::HashSet<String> =
            list.iter().map(|s| s.parent_id.clone()).collect();
        let images_json: Vec<Value> = list
            .into_iter()
            .filter(|s| !(s.repo_tags.is_empty() && parents.contains(&s.id)))
            .map(|mut s| {
                s.containers = in_use.get(&s.id).copied().unwrap_or(0);
                s.shared_size = shared.get(&s.id).copied().unwrap_or(0);
                serde_json::to_value(s).unwrap_or(Value::Null)
            })
            .collect();
        let list = self
            .list_containers(berth_api::backend::ListOptions {
                all: true,
                ..Default::default()
            })
            .await?;
        let snaps = self.images.snapshotter().clone();
        let containers = blocking(move || {
            Ok(list
                .into_iter()
                .map(|c| {
                    let rw = c.id.as_deref().map_or(0, |id| snaps.usage(id).unwrap_or(0));
                    let mut v = serde_json::to_value(c).unwrap_or_default();
                    v["SizeRw"] = json!(rw);
                    v
                })
                .collect::<Vec<_>>())
        })
        .await?;
        let build_cache = self.build_cache_df().await?;
        Ok(json!({
            "LayersSize": layers_size,
            "Images": images_json,
            "Containers": containers,
            "Volumes": [],
            "BuildCache": build_cache,
        }))
    }
}
