//! `save` and `history`: reading images out of the store.

use berth_api::backend::ByteStream;
use berth_types::api::ImageHistoryResponseItem;
use berth_types::Kinded;
use bytes::Bytes;
use futures_util::StreamExt;

use super::blocking;
use crate::error::{Error, Result};
use crate::Daemon;

/// A `Write` that hands its bytes to an async body stream; fails once the client is gone.
pub(crate) struct ChannelWriter(pub tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `produce` on a blocking thread, streaming what it writes. A failure half-way ends the
/// stream early (the client sees a truncated archive, as with Docker).
pub(crate) fn blocking_stream(
    produce: impl FnOnce(std::io::BufWriter<ChannelWriter>) -> Result<()> + Send + 'static,
) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(256 << 10, ChannelWriter(tx));
        if let Err(e) = produce(w) {
            tracing::warn!("streaming an archive failed: {e}");
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> ByteStream {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

pub(super) fn not_found(name: String) -> impl FnOnce(berth_image::Error) -> Error {
    move |e| {
        if e.kind() == berth_types::ErrorKind::NotFound {
            Error::NoSuchImage(name)
        } else {
            e.into()
        }
    }
}

impl Daemon {
    pub async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let images = self.images.clone();
        let name = name.to_owned();
        blocking(move || images.history(&name).map_err(not_found(name))).await
    }

    /// `GET /images/get`: every name is resolved before the archive starts.
    pub async fn save_images(&self, names: Vec<String>) -> Result<ByteStream> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("no image names given".into()));
        }
        let images = self.images.clone();
        let given = names.clone();
        let (plan, ids) = blocking(move || {
            let mut ids = Vec::new();
            for n in &names {
                ids.push(images.resolve(n).map_err(not_found(n.clone()))?.id);
            }
            Ok((images.save_plan(&names)?, ids))
        })
        .await?;
        for (id, name) in ids.iter().zip(given) {
            self.events.publish(
                berth_types::api::EventMessageTypeEnum::IMAGE,
                "save",
                id,
                [("name".to_string(), name)].into(),
            );
        }
        let images = self.images.clone();
        Ok(blocking_stream(move |w| Ok(images.save(&plan, w)?)))
    }
}
