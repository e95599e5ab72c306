//! `GET /images/{name}/layers`: the layer-waste report, computed by the image store on a
//! blocking thread (it reads layer blobs the first time it meets a layer).

use berth_types::waste::LayerReport;

use super::blocking;
use super::save::not_found;
use crate::error::Result;
use crate::Daemon;

impl Daemon {
    pub async fn image_layers(&self, name: &str) -> Result<LayerReport> {
        let images = self.images.clone();
        let name = name.to_owned();
        blocking(move || images.layer_report(&name).map_err(not_found(name))).await
    }
}
