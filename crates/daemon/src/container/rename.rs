//! `rename`.

use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let entry = self.containers.lookup(key)?;
        let _op = entry.op.lock().await;
        let new_name = new_name.trim_start_matches('/');
        if !berth_types::id::valid_container_name(new_name) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let old = entry.snapshot();
        if old.name == new_name {
            return Err(Error::Conflict(
                "Renaming a container with the same name as its current name".to_string(),
            ));
        }
        if let Some(owner) = self.containers.name_owner(new_name) {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        self.db.rename_container(&old.id, new_name)?;
        let c = self.update(&entry, |c| c.name = new_name.to_owned())?;
        self.container_event(&c, "rename", &[("oldName", format!("/{}", old.name))]);
        Ok(())
    }
}
