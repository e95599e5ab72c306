//! Berth's extension `GET /images/{name}/layers`: the layer-waste report.

use berth_types::waste::LayerReport;

use crate::error::Result;
use crate::images::encode_name;
use crate::Client;

impl Client {
    /// What each layer of `name` adds and which bytes later layers delete or overwrite.
    pub async fn image_layers(&self, name: &str) -> Result<LayerReport> {
        self.get_json(&format!("/images/{}/layers", encode_name(name)), &[])
            .await
    }
}
