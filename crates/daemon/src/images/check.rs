//! `system check`: verify the store and, with repair, mend it — re-fetching from its registry
//! each broken image that was pulled, and removing what cannot be mended.

use berth_api::backend::PullOptions;
use berth_image::RemovedImage;
use futures_util::StreamExt;
use serde_json::Value;

use super::blocking;
use crate::error::Result;
use crate::Daemon;

impl Daemon {
    /// `POST /system/check` (a Berth extension): verifies the image store, repairing it when
    /// `repair` is set.
    pub async fn system_check(&self, repair: bool) -> Result<Value> {
        let images = self.images.clone();
        let mut report = blocking(move || Ok(images.check(repair)?)).await?;
        for removed in std::mem::take(&mut report.removed_images) {
            match self.refetch(&removed).await {
                Ok(Some(from)) => report.repaired.push(format!(
                    "re-fetched image {} from {from}{}",
                    removed.id,
                    if removed.tags.is_empty() {
                        String::new()
                    } else {
                        format!(" and tagged it {}", removed.tags.join(", "))
                    }
                )),
                Ok(None) => {}
                Err(e) => report.problems.push(format!(
                    "image {} could not be re-fetched: {e}; pull or load it again",
                    removed.id
                )),
            }
        }
        Ok(serde_json::to_value(report).unwrap_or_default())
    }

    /// Pulls a removed image again by one of its repo digests (the first that works) and puts
    /// its tags back; `None` when it was never pulled (loaded, imported, built, committed).
    async fn refetch(&self, removed: &RemovedImage) -> Result<Option<String>> {
        let mut last_error = None;
        for name in &removed.repo_digests {
            let Some((repo, digest)) = name.split_once('@') else {
                continue;
            };
            let pulled = self
                .pull_image(PullOptions {
                    from_image: repo.to_owned(),
                    tag: Some(digest.to_owned()),
                    ..PullOptions::default()
                })
                .await;
            let error = match pulled {
                Ok(mut stream) => {
                    // The pull reports failures inside its progress stream.
                    let mut error = None;
                    while let Some(chunk) = stream.next().await {
                        for line in chunk.split(|b| *b == b'\n') {
                            if let Ok(msg) = serde_json::from_slice::<Value>(line) {
                                if let Some(e) = msg.get("error").and_then(Value::as_str) {
                                    error = Some(e.to_owned());
                                }
                            }
                        }
                    }
                    error
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = error {
                last_error = Some(e);
                continue;
            }
            // The same manifest digest must give the same image back.
            let images = self.images.clone();
            let (id, tags) = (removed.id.clone(), removed.tags.clone());
            let restored = blocking(move || {
                let got = images.resolve(&id)?;
                if got.id != id {
                    return Ok(false);
                }
                for t in &tags {
                    images.tag(&id, t)?;
                }
                Ok(true)
            })
            .await;
            match restored {
                Ok(true) => return Ok(Some(name.clone())),
                Ok(false) => last_error = Some(format!("{name} is now a different image")),
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        match last_error {
            Some(e) => Err(crate::error::Error::Internal(e)),
            None => Ok(None),
        }
    }
}
