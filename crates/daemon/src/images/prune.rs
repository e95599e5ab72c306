//! `image prune` and `system prune`'s image half.

use berth_api::backend::Filters;
use berth_types::api::{EventMessageTypeEnum, ImagePruneResponse};

use super::blocking;
use crate::error::Result;
use crate::Daemon;

impl Daemon {
    /// `POST /images/prune`: dangling images, or (`dangling=false`) every image no container
    /// uses.
    pub async fn prune_images(&self, filters: Filters) -> Result<ImagePruneResponse> {
        let in_use = self.image_ids_in_use();
        let images = self.images.clone();
        let resp =
            blocking(move || Ok(images.prune(true, &filters, &|id| in_use.contains_key(id))?))
                .await?;
        for item in resp.images_deleted.iter().flatten() {
            if let Some(d) = &item.deleted {
                self.events
                    .publish(EventMessageTypeEnum::IMAGE, "delete", d, Default::default());
            }
            if let Some(u) = &item.untagged {
                self.events
                    .publish(EventMessageTypeEnum::IMAGE, "untag", u, Default::default());
            }
        }
        self.events.publish(
            EventMessageTypeEnum::IMAGE,
            "prune",
            "",
            [(
                "reclaimed".to_string(),
                resp.space_reclaimed.unwrap_or(0).to_string(),
            )]
            .into(),
        );
        Ok(resp)
    }
}
