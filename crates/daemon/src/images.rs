//! Image verbs of the API, delegating to [`berth_image::ImageStore`] on blocking threads (the
//! store does synchronous file and database I/O).

use std::collections::HashMap;

use berth_api::backend::{ByteStream, Filters, ImportOptions};
use berth_types::api::{EventMessageTypeEnum, ImageDeleteResponseItem, ImageSummary};
use berth_types::Kinded;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{Error, Result};
use crate::Daemon;

mod archive;
mod check;
mod commit;
mod df;
mod fetch;
mod layers;
mod prune;
mod save;

/// The request body as a chunk stream that `StreamReader` accepts.
type BodyChunks = futures_util::stream::Map<ByteStream, fn(Bytes) -> std::io::Result<Bytes>>;

/// The request body as a blocking reader, for the store's tar readers.
pub(crate) fn body_reader(body: ByteStream) -> SyncIoBridge<StreamReader<BodyChunks, Bytes>> {
    let chunks: BodyChunks = body.map(Ok);
    SyncIoBridge::new(StreamReader::new(chunks))
}

pub(crate) fn json_line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("image task: {e}")))?
}

impl Daemon {
    pub async fn list_images(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> Result<Vec<ImageSummary>> {
        let images = self.images.clone();
        let in_use = self.image_ids_in_use();
        let refs: Vec<(String, String)> = ["since", "before"]
            .iter()
            .flat_map(|k| {
                filters
                    .get(*k)
                    .into_iter()
                    .flatten()
                    .map(move |v| (k.to_string(), v.clone()))
            })
            .collect();
        let (list, bounds, created) = blocking(move || {
            // `since`/`before` name an image; compare creation times with it.
            let mut bounds = Vec::new();
            for (k, v) in refs {
                let created = match images.resolve(&v) {
                    Ok(r) => r.row.created.unwrap_or_default(),
                    Err(e) if e.kind() == berth_types::ErrorKind::NotFound => {
                        return Err(Error::NoSuchImage(v))
                    }
                    Err(e) => return Err(e.into()),
                };
                bounds.push((k, rfc3339_nanos(&created)));
            }
            let list = images.list()?;
            // The summaries carry whole seconds; Docker compares full creation times, so an
            // image made in the same second as the named one still counts as later or earlier.
            let mut created: HashMap<String, i128> = HashMap::new();
            if !bounds.is_empty() {
                for s in &list {
                    let c = images.resolve(&s.id)?.row.created.unwrap_or_default();
                    created.insert(s.id.clone(), rfc3339_nanos(&c));
                }
            }
            Ok((list, bounds, created))
        })
        .await?;
        // Untagged parents of other images are intermediate images, shown only with `all`.
        let parents: std::collections::HashSet<String> = list
            .iter()
            .map(|s| s.parent_id.clone())
            .filter(|p| !p.is_empty())
            .collect();
        let mut out = Vec::new();
        for mut s in list {
            if !all && s.repo_tags.is_empty() && parents.contains(&s.id) {
                continue;
            }
            let c = created.get(&s.id).copied().unwrap_or_default();
            if bounds.iter().any(|(k, t)| match k.as_str() {
                "since" => c <= *t,
                _ => c >= *t,
            }) {
                continue;
            }
            if !image_matches(&s, &filters, all)? {
                continue;
            }
            s.containers = in_use.get(&s.id).copied().unwrap_or(0);
            if !digests && s.repo_digests.is_empty() {
                s.repo_digests = Vec::new();
            }
            out.push(s);
        }
        Ok(out)
    }

    /// For each image in use, the container that conflict messages name: a running one if
    /// any (that cannot be forced), else any.
    fn image_users(&self) -> HashMap<String, berth_image::ImageUser> {
        let mut m: HashMap<String, berth_image::ImageUser> = HashMap::new();
        for e in self.containers.all() {
            let c = e.snapshot();
            let running = c.state.status.is_running();
            let slot = m
                .entry(c.image_id.clone())
                .or_insert(berth_image::ImageUser {
                    container: c.id.clone(),
                    running,
                });
            if running && !slot.running {
                *slot = berth_image::ImageUser {
                    container: c.id,
                    running,
                };
            }
        }
        m
    }

    /// How many containers use each image.
    pub(crate) fn image_ids_in_use(&self) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for e in self.containers.all() {
            *m.entry(e.snapshot().image_id).or_insert(0) += 1;
        }
        m
    }

    pub async fn inspect_image(&self, name: &str) -> Result<Value> {
        let images = self.images.clone();
        let name = name.to_owned();
        blocking(move || match images.inspect_json(&name) {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == berth_types::ErrorKind::NotFound => Err(Error::NoSuchImage(name)),
            Err(e) => Err(e.into()),
        })
        .await
    }

    pub async fn load_images(&self, body: ByteStream, quiet: bool) -> Result<ByteStream> {
        let images = self.images.clone();
        let loaded = blocking(move || {
            let reader = body_reader(body);
            Ok(images.load(reader)?)
        })
        .await?;
        let mut lines = Vec::new();
        // Docker prints the loaded names even when quiet: quiet only drops progress bars.
        let _ = quiet;
        for l in &loaded {
            let name = l.tags.first().cloned().unwrap_or_else(|| l.id.clone());
            self.events.publish(
                EventMessageTypeEnum::IMAGE,
                "load",
                &l.id,
                HashMap::from([("name".into(), name)]),
            );
            for text in l.messages() {
                lines.push(json_line(json!({ "stream": format!("{text}\n") })));
            }
        }
        Ok(futures_util::stream::iter(lines).boxed())
    }

    pub async fn import_image(&self, body: ByteStream, opts: ImportOptions) -> Result<ByteStream> {
        let body = match &opts.url {
            Some(url) => fetch::fetch(url).await?,
            None => body,
        };
        let reference = match (&opts.repo, &opts.tag) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r.clone()),
            _ => None,
        };
        let images = self.images.clone();
        let changes = opts.changes.clone();
        let message = opts.message.clone();
        let platform = opts.platform.clone();
        let r2 = reference.clone();
        let id = blocking(move || {
            let reader = body_reader(body);
            Ok(images.import(
                reader,
                r2.as_deref(),
                &changes,
                message.as_deref(),
                platform.as_deref(),
            )?)
        })
        .await?;
        self.events.publish(
            EventMessageTypeEnum::IMAGE,
            "import",
            &id,
            HashMap::from([("name".into(), reference.unwrap_or_else(|| id.clone()))]),
        );
        Ok(futures_util::stream::iter(vec![json_line(json!({ "status": id }))]).boxed())
    }

    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let users = self.image_users();
        let images = self.images.clone();
        let name = name.to_owned();
        let items = blocking(move || {
            match images.remove_with(&name, force, noprune, &|id| users.get(id).cloned()) {
                Ok(items) => Ok(items),
                Err(e) if e.kind() == berth_types::ErrorKind::NotFound => {
                    Err(Error::NoSuchImage(name))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await?;
        for item in &items {
            if let Some(d) = &item.deleted {
                self.events
                    .publish(EventMessageTypeEnum::IMAGE, "delete", d, HashMap::new());
            }
            if let Some(u) = &item.untagged {
                self.events
                    .publish(EventMessageTypeEnum::IMAGE, "untag", u, HashMap::new());
            }
        }
        Ok(items)
    }

    pub async fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let images = self.images.clone();
        let (name, target) = (
            name.to_owned(),
            format!("{repo}:{}", tag.unwrap_or("latest")),
        );
        let t2 = target.clone();
        let id = blocking(move || {
            images.tag(&name, &t2)?;
            Ok(images.resolve(&t2)?.id)
        })
        .await?;
        self.events.publish(
            EventMessageTypeEnum::IMAGE,
            "tag",
            &id,
            HashMap::from([("name".into(), target)]),
        );
        Ok(())
    }
}

/// Docker's image list filters: `dangling`, `label`, `reference`, `before`, `since` (the last
/// two applied by the caller). Intermediate images are hidden by the caller unless `all`.
fn image_matches(s: &ImageSummary, filters: &Filters, _all: bool) -> Result<bool> {
    for (key, values) in filters {
        for v in values {
            let ok = match key.as_str() {
                "dangling" => match v.as_str() {
                    "true" | "1" => s.repo_tags.is_empty(),
                    "false" | "0" => !s.repo_tags.is_empty(),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "invalid filter 'dangling={v}'"
                        )))
                    }
                },
                "label" => match v.split_once('=') {
                    Some((k, val)) => s.labels.get(k).is_some_and(|x| x == val),
                    None => s.labels.contains_key(v.as_str()),
                },
                "reference" => s.repo_tags.iter().any(|t| reference_matches(t, v)),
                "since" | "before" => true, // applied by the caller, which can resolve names
                other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
            };
            if !ok {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn rfc3339_nanos(s: &str) -> i128 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_or(0, |t| t.unix_timestamp_nanos())
}

/// `reference` filters match `repo` or `repo:tag`, with `*` as a wildcard in either part.
fn reference_matches(tag: &str, pattern: &str) -> bool {
    let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    let (prepo, ptag) = match pattern.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (pattern, None),
    };
    glob(prepo, repo) && ptag.is_none_or(|pt| glob(pt, t))
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs() {
        assert!(reference_matches("busybox:latest", "busybox"));
        assert!(reference_matches("busybox:1.36", "busybox:1.*"));
        assert!(!reference_matches("busybox:1.36", "busybox:2*"));
        assert!(reference_matches("example.com/a/b:x", "example.com/*/b"));
        assert!(!reference_matches("alpine:latest", "busybox"));
    }
}
