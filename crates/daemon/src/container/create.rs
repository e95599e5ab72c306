//! `create`: resolve the image, merge its configuration with the request, prepare the
//! container's writable layer, and record the container.
//!
//! Order matters for crash safety: the snapshot and the container directory are made first,
//! the database row last. A crash before the row exists leaves only orphans that
//! [`super::restore_all`] removes; a crash after it leaves a complete `created` container.

use std::collections::HashMap;

use berth_types::api::{
    ContainerConfig, ContainerCreateBody, ContainerCreateResponse, HostConfig, HostConfigLogConfig,
    RestartPolicy, RestartPolicyNameEnum,
};
use berth_types::id::{generate_id, valid_container_name};
use berth_types::image::ImageConfig;
use berth_types::Kinded;

use super::names::random_name;
use super::{now_rfc3339, Container, Entry, RunState, Status};
use crate::config::BUILTIN_RUNTIME;
use crate::error::{Error, Result};
use crate::Daemon;

impl Daemon {
    pub async fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let image_ref = body
            .image
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::InvalidArgument("Config.Image is required".into()))?;
        let name = match name {
            Some(n) => {
                if !valid_container_name(&n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = n.trim_start_matches('/').to_owned();
                if let Some(owner) = self.containers.name_owner(&n) {
                    return Err(name_conflict(&n, &owner));
                }
                n
            }
            None => self.unused_random_name(),
        };

        let images = self.images.clone();
        let lookup = image_ref.clone();
        let (image_id, image_config) =
            tokio::task::spawn_blocking(move || -> Result<(String, ImageConfig)> {
                let id = images
                    .resolve(&lookup)
                    .map(|r| r.id)
                    .map_err(|e| match e.kind() {
                        berth_types::ErrorKind::NotFound => Error::NoSuchImage(lookup.clone()),
                        _ => Error::Image(e),
                    })?;
                let config = images.config(&id)?;
                Ok((id, config))
            })
            .await
            .map_err(|e| Error::Internal(format!("image lookup task: {e}")))??;

        let id = generate_id();
        let networking_config = body.networking_config.clone();
        let (config, mut host_config) = merge_config(
            &id,
            body,
            image_config.config.unwrap_or_default(),
            &self.config.default_runtime,
        )?;
        let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        argv.extend(config.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(Error::InvalidArgument("no command specified".into()));
        }
        let runtime = host_config
            .runtime
            .clone()
            .unwrap_or_else(|| self.config.default_runtime.clone());
        if runtime != BUILTIN_RUNTIME && !self.config.runtimes.contains_key(&runtime) {
            return Err(Error::InvalidArgument(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        validate_log_opts(&host_config)?;
        self.record_links(&name, &mut host_config)?;
        let networking = self.plan_networking(&host_config, networking_config.as_ref())?;
        super::userns::check(self.config.id_map.is_some(), &host_config)?;
        // Last of the checks: it creates volumes (undone if the create fails later).
        let mount_points = self.resolve_mounts(&id, &config, &host_config)?;

        let container = Container {
            id: id.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            host_config,
            image_id: image_id.clone(),
            state: RunState {
                status: Status::Created,
                ..RunState::default()
            },
            restart_count: 0,
            driver: self.images.snapshotter().driver_name().to_owned(),
            runtime,
            mount_points,
            networking,
            health: None,
            manually_stopped: false,
            restart_backoff_ms: 0,
        };

        let dir = self.container_dir(&id);
        let images = self.images.clone();
        let (cid, iid) = (id.clone(), image_id.clone());
        let prepared = match std::fs::create_dir_all(&dir) {
            Ok(()) => tokio::task::spawn_blocking(move || {
                images.rootfs_for_container(&cid, &iid).map(|_| ())
            })
            .await
            .map_err(|e| Error::Internal(format!("snapshot task: {e}")))
            .and_then(|r| r.map_err(Error::from)),
            Err(e) => Err(Error::io(format!("creating {}", dir.display()))(e)),
        };
        let mut container = container;
        let prepared = match prepared {
            Ok(()) => {
                self.copy_up_at_create(&id, &mut container.mount_points)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = prepared {
            self.discard_half_created(&id).await;
            // The anonymous volumes made for it go too (the container was never recorded).
            self.remove_anonymous_volumes(&container);
            return Err(e);
        }

        let row = berth_metadata::ContainerRow {
            id: id.clone(),
            name: name.clone(),
            created: container.created.clone(),
            record: serde_json::to_string(&container)
                .map_err(|e| Error::Internal(e.to_string()))?,
        };
        if let Err(e) = self.db.insert_container(&row) {
            self.discard_half_created(&id).await;
            self.remove_anonymous_volumes(&container);
            return Err(match e {
                berth_metadata::Error::NameInUse(n) => {
                    name_conflict(&n, &self.containers.name_owner(&n).unwrap_or_default())
                }
                other => other.into(),
            });
        }
        self.container_event(&container, "create", &[]);
        self.containers.insert(Entry::new(container));
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }

    fn unused_random_name(&self) -> String {
        for retry in 0..10 {
            let n = random_name(retry);
            if self.containers.name_owner(&n).is_none() {
                return n;
            }
        }
        // Ten clashes in a row: fall back to something that cannot clash.
        format!("berth_{}", &generate_id()[..12])
    }

    /// Removes what a failed create made before its row was written.
    async fn discard_half_created(&self, id: &str) {
        let images = self.images.clone();
        let cid = id.to_owned();
        let _ = tokio::task::spawn_blocking(move || images.remove_container_rootfs(&cid)).await;
        let _ = std::fs::remove_dir_all(self.container_dir(id));
    }
}

fn name_conflict(name: &str, owner: &str) -> Error {
    Error::Conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

fn validate_log_opts(hc: &HostConfig) -> Result<()> {
    let Some(lc) = &hc.log_config else {
        return Ok(());
    };
    if let Some(t) = lc.typ.as_deref() {
        if !t.is_empty() && t != "json-file" {
            return Err(Error::InvalidArgument(format!(
                "logging driver {t:?} is not supported by Berth (json-file only)"
            )));
        }
    }
    for (k, v) in lc.config.iter().flatten() {
        match k.as_str() {
            "max-size" => {
                parse_size(v)?;
            }
            "max-file" => {
                let n: u32 = v.parse().map_err(|_| {
                    Error::InvalidArgument(format!("invalid value for max-file: {v}"))
                })?;
                if n == 0 {
                    return Err(Error::InvalidArgument(
                        "max-file cannot be less than 1".into(),
                    ));
                }
            }
            "compress" | "labels" | "env" | "tag" | "labels-regex" | "env-regex" => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    Ok(())
}

/// Parses Docker's size strings (`10m`, `1g`, `512k`, `100`): binary multiples, as
/// `units.RAMInBytes` does for log sizes.
pub fn parse_size(v: &str) -> Result<u64> {
    let v = v.trim();
    let invalid = || Error::InvalidArgument(format!("invalid size: '{v}'"));
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| invalid())?;
    let mult: u64 = match unit.to_ascii_lowercase().trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(invalid()),
    };
    if n < 0.0 {
        return Err(invalid());
    }
    Ok((n * mult as f64) as u64)
}

/// Merges the request with the image's configuration the way Docker does: the request wins
/// field by field; an entrypoint given in the request drops the image's cmd; env and labels
/// merge by key.
fn merge_config(
    id: &str,
    body: ContainerCreateBody,
    image: ContainerConfig,
    default_runtime: &str,
) -> Result<(ContainerConfig, HostConfig)> {
    let mut host_config = body.host_config.clone().unwrap_or_default();

    let user_entrypoint = body.entrypoint.clone();
    let entrypoint = match &user_entrypoint {
        // `--entrypoint ""` clears the image's entrypoint.
        Some(e) if e.len() == 1 && e[0].is_empty() => None,
        Some(e) => Some(e.clone()),
        None => image.entrypoint.clone(),
    };
    let cmd = match (&body.cmd, &user_entrypoint) {
        (Some(c), _) if !c.is_empty() => Some(c.clone()),
        (_, Some(_)) => None,
        _ => image.cmd.clone(),
    };

    let mut env: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for e in image.env.iter().flatten().chain(body.env.iter().flatten()) {
        let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e).to_owned();
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid environment variable: {e}"
            )));
        }
        match index.get(&key) {
            Some(&i) => env[i] = e.clone(),
            None => {
                index.insert(key, env.len());
                env.push(e.clone());
            }
        }
    }
    if !index.contains_key("PATH") {
        env.insert(0, format!("PATH={}", berth_runtime::spec::DEFAULT_PATH));
    }

    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(body.labels.clone().unwrap_or_default());

    let hostname = body
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| id[..12].to_owned());
    if hostname.len() > 63
        || !hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(Error::InvalidArgument(format!(
            "invalid hostname format: {hostname}"
        )));
    }

    let mut exposed = image.exposed_ports.clone().unwrap_or_default();
    for p in body.exposed_ports.iter().flatten() {
        if !exposed.contains(p) {
            exposed.push(p.clone());
        }
    }

    let config = ContainerConfig {
        hostname: Some(hostname),
        domainname: Some(body.domainname.clone().unwrap_or_default()),
        user: Some(
            body.user
                .clone()
                .filter(|u| !u.is_empty())
                .or(image.user.clone())
                .unwrap_or_default(),
        ),
        attach_stdin: Some(body.attach_stdin.unwrap_or(false)),
        attach_stdout: Some(body.attach_stdout.unwrap_or(false)),
        attach_stderr: Some(body.attach_stderr.unwrap_or(false)),
        exposed_ports: if exposed.is_empty() {
            None
        } else {
            Some(exposed)
        },
        tty: Some(body.tty.unwrap_or(false)),
        open_stdin: Some(body.open_stdin.unwrap_or(false)),
        stdin_once: Some(body.stdin_once.unwrap_or(false)),
        env: Some(env),
        cmd,
        healthcheck: super::health::merge(body.healthcheck.clone(), image.healthcheck.clone()),
        args_escaped: None,
        image: body.image.clone(),
        // The image's VOLUMEs and the request's anonymous volumes together, as Docker does.
        volumes: {
            let mut v: Vec<String> = image.volumes.clone().unwrap_or_default();
            for x in body.volumes.iter().flatten() {
                if !v.contains(x) {
                    v.push(x.clone());
                }
            }
            (!v.is_empty()).then_some(v)
        },
        working_dir: Some(
            body.working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or(image.working_dir.clone())
                .unwrap_or_default(),
        ),
        entrypoint,
        network_disabled: body.network_disabled,
        on_build: image.on_build.clone(),
        labels: Some(labels),
        stop_signal: body.stop_signal.clone().or(image.stop_signal.clone()),
        stop_timeout: body.stop_timeout,
        shell: body.shell.clone().or(image.shell.clone()),
    };
    if let Some(wd) = config.working_dir.as_deref() {
        if !wd.is_empty() && !wd.starts_with('/') {
            return Err(Error::InvalidArgument(format!(
                "the working directory '{wd}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    if let Some(sig) = config.stop_signal.as_deref() {
        super::parse_signal(sig)?;
    }
    super::health::validate(config.healthcheck.as_ref())?;

    // Docker's defaults, so inspect shows what Docker shows.
    if host_config
        .network_mode
        .as_deref()
        .is_none_or(|m| m.is_empty() || m == "default")
    {
        host_config.network_mode = Some("bridge".into());
    }
    let lc = host_config
        .log_config
        .get_or_insert_with(HostConfigLogConfig::default);
    if lc.typ.as_deref().is_none_or(str::is_empty) {
        lc.typ = Some("json-file".into());
    }
    lc.config.get_or_insert_with(HashMap::new);
    host_config.restart_policy.get_or_insert(RestartPolicy {
        name: Some(RestartPolicyNameEnum::NO),
        maximum_retry_count: Some(0),
    });
    if host_config.runtime.as_deref().is_none_or(str::is_empty) {
        host_config.runtime = Some(default_runtime.to_owned());
    }
    if let Some(rp) = &host_config.restart_policy {
        super::restart::validate_policy(rp)?;
    }
    super::limits::check_and_default(&mut host_config)?;
    if host_config.auto_remove == Some(true)
        && host_config
            .restart_policy
            .as_ref()
            .and_then(|r| r.name)
            .is_some_and(|n| n != RestartPolicyNameEnum::NO && n != RestartPolicyNameEnum::EMPTY)
    {
        return Err(Error::InvalidArgument(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    Ok((config, host_config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ContainerConfig {
        ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: None,
            working_dir: Some("/srv".into()),
            labels: Some(HashMap::from([("from".into(), "image".into())])),
            ..ContainerConfig::default()
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn request_overrides_image_by_key() {
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            env: Some(vec!["A=2".into(), "B=3".into()]),
            labels: Some(HashMap::from([("mine".into(), "x".into())])),
            ..ContainerCreateBody::default()
        };
        let (c, hc) = merge_config(ID, body, image(), "berth").unwrap();
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.working_dir.unwrap(), "/srv");
        assert_eq!(c.hostname.unwrap(), "0123456789ab");
        let labels = c.labels.unwrap();
        assert_eq!(labels["from"], "image");
        assert_eq!(labels["mine"], "x");
        assert_eq!(hc.network_mode.as_deref(), Some("bridge"));
        assert_eq!(hc.log_config.unwrap().typ.as_deref(), Some("json-file"));
        assert_eq!(hc.runtime.as_deref(), Some("berth"));
    }

    #[test]
    fn entrypoint_in_request_drops_image_cmd() {
        let body = ContainerCreateBody {
            entrypoint: Some(vec!["echo".into()]),
            ..ContainerCreateBody::default()
        };
        let (c, _) = merge_config(ID, body, image(), "berth").unwrap();
        assert_eq!(c.entrypoint.unwrap(), vec!["echo"]);
        assert!(c.cmd.is_none());
    }

    #[test]
    fn missing_path_gets_docker_default_and_bad_input_is_refused() {
        let img = ContainerConfig {
            env: None,
            ..image()
        };
        let (c, _) = merge_config(ID, ContainerCreateBody::default(), img, "berth").unwrap();
        assert!(c.env.unwrap()[0].starts_with("PATH=/usr/local/sbin"));
        let body = ContainerCreateBody {
            working_dir: Some("rel".into()),
            ..ContainerCreateBody::default()
        };
        assert!(merge_config(ID, body, image(), "berth").is_err());
        let body = ContainerCreateBody {
            env: Some(vec!["=x".into()]),
            ..ContainerCreateBody::default()
        };
        assert!(merge_config(ID, body, image(), "berth").is_err());
        let body = ContainerCreateBody {
            stop_signal: Some("SIGNOPE".into()),
            ..ContainerCreateBody::default()
        };
        assert!(merge_config(ID, body, image(), "berth").is_err());
    }

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5x").is_err());
    }
}
