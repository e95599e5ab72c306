//! `--mount`: docker's CSV syntax (`type=bind,source=/a,target=/b,readonly`) parsed into the
//! Engine API's `Mount`, with docker's error texts. Beyond docker: `chown` / `chown=UID:GID`
//! on a volume mount makes the volume's root owned by the container's user (or those ids),
//! carried to the daemon as the driver option `berth.chown`.

use std::collections::HashMap;

use berth_client::api::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

/// The driver option that carries `chown` (see `berth_volume::mountspec::CHOWN_OPTION`).
const CHOWN_OPTION: &str = "berth.chown";

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(_) => Err(format!("invalid value for {key}: {}", v.unwrap_or(""))),
    }
}

/// Parses one `--mount` value.
pub fn parse_mount(value: &str) -> Result<Mount, String> {
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Mount::default()
    };
    let mut bind = MountBindOptions::default();
    let mut vol = MountVolumeOptions::default();
    let mut driver_opts: HashMap<String, String> = HashMap::new();
    let mut driver_name: Option<String> = None;
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut tmpfs = MountTmpfsOptions::default();
    let (mut has_bind, mut has_vol, mut has_tmpfs) = (false, false, false);
    for field in value.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need =
            || val.ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"));
        match key.as_str() {
            "type" => {
                m.typ = Some(match need()? {
                    "volume" => MountType::VOLUME,
                    "bind" => MountType::BIND,
                    "tmpfs" => MountType::TMPFS,
                    "image" => MountType::IMAGE,
                    "npipe" => MountType::NPIPE,
                    "cluster" => MountType::CLUSTER,
                    other => return Err(format!("invalid mount type: {other}")),
                })
            }
            "source" | "src" => m.source = Some(need()?.to_string()),
            "target" | "dst" | "destination" => m.target = Some(need()?.to_string()),
            "readonly" | "ro" => m.read_only = Some(parse_bool(&key, val)?),
            "consistency" => m.consistency = Some(need()?.to_string()),
            "bind-propagation" => {
                has_bind = true;
                bind.propagation = Some(
                    need()?
                        .parse::<MountBindOptionsPropagationEnum>()
                        .map_err(|_| format!("invalid bind propagation: {}", val.unwrap_or("")))?,
                );
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.non_recursive = Some(parse_bool(&key, val)?);
            }
            "volume-nocopy" => {
                has_vol = true;
                vol.no_copy = Some(parse_bool(&key, val)?);
            }
            "volume-driver" => {
                has_vol = true;
                driver_name = Some(need()?.to_string());
            }
            "volume-label" => {
                has_vol = true;
                let (k, v) = need()?.split_once('=').unwrap_or((val.unwrap_or(""), ""));
                labels.insert(k.to_string(), v.to_string());
            }
            "volume-opt" => {
                has_vol = true;
                let v = need()?;
                let (k, x) = v
                    .split_once('=')
                    .ok_or_else(|| format!("invalid volume-opt '{v}'"))?;
                driver_opts.insert(k.to_string(), x.to_string());
            }
            "volume-subpath" => {
                has_vol = true;
                vol.subpath = Some(need()?.to_string());
            }
            "chown" => {
                has_vol = true;
                driver_opts.insert(CHOWN_OPTION.into(), val.unwrap_or("").to_string());
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                let v = need()?;
                tmpfs.size_bytes = Some(
                    crate::container_config::ram_in_bytes(v)
                        .ok_or_else(|| format!("invalid value for {key}: {v}"))?,
                );
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                let v = need()?;
                tmpfs.mode = Some(
                    i64::from_str_radix(v, 8)
                        .map_err(|_| format!("invalid value for {key}: {v}"))?,
                );
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if has_bind {
        m.bind_options = Some(bind);
    }
    if has_vol {
        if driver_name.is_some() || !driver_opts.is_empty() {
            vol.driver_config = Some(MountVolumeOptionsDriverConfig {
                name: driver_name,
                options: (!driver_opts.is_empty()).then_some(driver_opts),
            });
        }
        if !labels.is_empty() {
            vol.labels = Some(labels);
        }
        m.volume_options = Some(vol);
    }
    if has_tmpfs {
        m.tmpfs_options = Some(tmpfs);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_csv() {
        let m =
            parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rslave").unwrap();
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.read_only, Some(true));
        assert_eq!(
            m.bind_options.unwrap().propagation,
            Some(MountBindOptionsPropagationEnum::RSLAVE)
        );
        let m =
            parse_mount("src=data,dst=/d,volume-nocopy,volume-opt=type=tmpfs,chown=1:2").unwrap();
        assert_eq!(m.typ, Some(MountType::VOLUME));
        let v = m.volume_options.unwrap();
        assert_eq!(v.no_copy, Some(true));
        let opts = v.driver_config.unwrap().options.unwrap();
        assert_eq!(opts["type"], "tmpfs");
        assert_eq!(opts[CHOWN_OPTION], "1:2");
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (Some(1 << 20), Some(0o1770)));
    }

    #[test]
    fn refuses_like_docker() {
        assert_eq!(
            parse_mount("target=/x,readonly=maybe").unwrap_err(),
            "invalid value for readonly: maybe"
        );
        assert_eq!(
            parse_mount("type").unwrap_err(),
            "invalid field 'type' must be a key=value pair"
        );
        assert_eq!(
            parse_mount("bogus=1").unwrap_err(),
            "unexpected key 'bogus' in 'bogus=1'"
        );
    }
}
