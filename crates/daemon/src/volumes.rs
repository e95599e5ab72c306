//! The volume verbs of the Engine API (`/volumes…`) over the volume store; the store knows
//! volumes, the daemon knows which containers use them.

use std::collections::BTreeMap;

use berth_api::backend::Filters;
use berth_types::api::VolumeCreateRequest;
use berth_volume::{CreateRequest, Volume};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::Daemon;

fn label_matches(v: &Volume, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(want),
    }
}

fn truthy(v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "invalid filter 'dangling={v}'"
        ))),
    }
}

impl Daemon {
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("volume task: {e}")))?
    }

    pub async fn volume_list(&self, filters: Filters) -> Result<Value> {
        for k in filters.keys() {
            if !matches!(
                k.as_str(),
                "dangling" | "name" | "label" | "label!" | "driver"
            ) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
        }
        let store = self.volumes.clone();
        let all = Self::blocking(move || Ok(store.list()?)).await?;
        let mut out = Vec::new();
        for v in all {
            let mut keep = true;
            for (k, values) in &filters {
                keep &= match k.as_str() {
                    "dangling" => {
                        let unused = self.volume_users(&v.name).is_empty();
                        let mut any = false;
                        for x in values {
                            any |= truthy(x)? == unused;
                        }
                        any
                    }
                    "name" => values.iter().any(|x| v.name.contains(x.as_str())),
                    "driver" => values.contains(&v.driver),
                    "label" => values.iter().all(|x| label_matches(&v, x)),
                    "label!" => values.iter().all(|x| !label_matches(&v, x)),
                    _ => true,
                };
            }
            if keep {
                out.push(self.volumes.to_api(&v, None));
            }
        }
        Ok(json!({"Volumes": out, "Warnings": Value::Null}))
    }

    pub async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Value> {
        if req.cluster_volume_spec.is_some() {
            return Err(Error::NotImplemented(
                "cluster volumes are not implemented in Berth".into(),
            ));
        }
        let create = CreateRequest {
            name: req.name,
            driver: req.driver,
            labels: req.labels.unwrap_or_default().into_iter().collect(),
            options: req.driver_opts.unwrap_or_default().into_iter().collect(),
        };
        let store = self.volumes.clone();
        let (v, created) = Self::blocking(move || Ok(store.create(create)?)).await?;
        if created {
            self.volume_event(&v.name, "create", &[("driver", v.driver.clone())]);
        }
        Ok(self.volumes.to_api(&v, None))
    }

    pub async fn volume_inspect(&self, name: &str) -> Result<Value> {
        let v = self.volumes.get(name)?;
        Ok(self.volumes.to_api(&v, None))
    }

    /// `force` ignores a missing volume (Docker's `PurgeOnError`); a volume in use is refused
    /// either way.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let store = self.volumes.clone();
        let n = name.to_owned();
        match Self::blocking(move || Ok(store.remove(&n)?)).await {
            Ok(()) => {
                self.volume_event(name, "destroy", &[]);
                Ok(())
            }
            Err(Error::Volume(berth_volume::Error::NotFound(_))) if force => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes unused volumes: anonymous ones only, unless the `all` filter is true.
    pub async fn volume_prune(&self, filters: Filters) -> Result<Value> {
        let mut all = false;
        for (k, values) in &filters {
            match k.as_str() {
                "all" => {
                    for v in values {
                        all |= truthy(v).map_err(|_| {
                            Error::InvalidArgument(format!("invalid filter 'all={v}'"))
                        })?;
                    }
                }
                "label" | "label!" => {}
                other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
            }
        }
        let store = self.volumes.clone();
        let vols = Self::blocking(move || Ok(store.list()?)).await?;
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for v in vols {
            if !all && !v.is_anonymous() {
                continue;
            }
            let labels_ok = filters
                .get("label")
                .is_none_or(|w| w.iter().all(|x| label_matches(&v, x)))
                && filters
                    .get("label!")
                    .is_none_or(|w| w.iter().all(|x| !label_matches(&v, x)));
            if !labels_ok {
                continue;
            }
            if !self.volume_users(&v.name).is_empty() {
                continue;
            }
            let store = self.volumes.clone();
            let name = v.name.clone();
            let res = Self::blocking(move || {
                let size = store.size(&name);
                store.remove(&name)?;
                Ok(size)
            })
            .await;
            if let Ok(size) = res {
                reclaimed += size;
                self.volume_event(&v.name, "destroy", &[]);
                deleted.push(v.name);
            }
        }
        self.events.publish(
            berth_types::api::EventMessageTypeEnum::VOLUME,
            "prune",
            "",
            [("reclaimed".to_string(), reclaimed.to_string())].into(),
        );
        Ok(json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}))
    }

    /// `/system/df`'s `Volumes`: every volume with its `UsageData` (size and containers that
    /// refer to it).
    pub async fn volumes_disk_usage(&self) -> Result<Vec<Value>> {
        let store = self.volumes.clone();
        let vols = Self::blocking(move || Ok(store.list()?)).await?;
        let refs: BTreeMap<String, i64> = vols
            .iter()
            .map(|v| (v.name.clone(), self.volume_users(&v.name).len() as i64))
            .collect();
        let store = self.volumes.clone();
        Self::blocking(move || {
            Ok(vols
                .iter()
                .map(|v| {
                    let usage = (store.size(&v.name), refs.get(&v.name).copied().unwrap_or(0));
                    store.to_api(v, Some(usage))
                })
                .collect())
        })
        .await
    }
}
