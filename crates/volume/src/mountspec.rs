//! Mount specifications: the Engine API's `HostConfig.Binds` (`-v`), `HostConfig.Mounts`
//! (`--mount`), `HostConfig.Tmpfs` (`--tmpfs`) and `--volumes-from` entries, parsed into
//! [`MountPoint`]s with Docker's rules and error texts. Pure: nothing here touches the disk
//! except the existence check of a `--mount type=bind` source, which Docker makes at create.

use std::collections::BTreeMap;
use std::path::Path;

use berth_types::api::{Mount, MountBindOptionsPropagationEnum, MountType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::target::clean;

/// The driver option that carries the ownership extension through `--mount` (the Engine API's
/// `Mount` has no field for it): `""`/`"true"` for the container's user, or `"uid:gid"`.
pub const CHOWN_OPTION: &str = "berth.chown";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Beyond Docker (moby#7198): make the volume's root owned by someone at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Chown {
    /// The container's user (`:U`, `chown`).
    ContainerUser,
    /// Explicit ids (`chown=1000:1000`).
    Ids { uid: u32, gid: u32 },
}

/// One mount of a container, as recorded with it and shown by inspect's `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name (volumes only; filled in for anonymous ones when created).
    #[serde(default)]
    pub name: String,
    /// Host path: a bind's source, or a volume's `_data` (filled in by the daemon).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub driver: String,
    /// Docker's `Mode` string as inspect shows it.
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    /// Binds: `rprivate` unless asked otherwise; empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// Fill a new, empty volume with the image's content at the destination.
    #[serde(default)]
    pub copy_data: bool,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub chown: Option<Chown>,
    /// tmpfs options besides Docker's defaults (`size=…`, `mode=…`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// From `--tmpfs`: Docker does not list these in `Mounts`.
    #[serde(default)]
    pub hidden: bool,
    /// `-v /host:/ctr` creates a missing host directory; `--mount type=bind` refuses.
    #[serde(default)]
    pub create_source: bool,
    /// Driver options and labels for a volume that does not exist yet (`--mount volume-opt=`).
    #[serde(default)]
    pub volume_options: BTreeMap<String, String>,
    #[serde(default)]
    pub volume_labels: BTreeMap<String, String>,
}

impl MountPoint {
    fn new(kind: MountKind, destination: String) -> MountPoint {
        MountPoint {
            kind,
            name: String::new(),
            source: String::new(),
            destination,
            driver: String::new(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            copy_data: false,
            anonymous: false,
            chown: None,
            tmpfs_options: Vec::new(),
            hidden: false,
            create_source: false,
            volume_options: BTreeMap::new(),
            volume_labels: BTreeMap::new(),
        }
    }

    /// An anonymous volume at `destination` (image `VOLUME`, `-v /path`), filled by copy-up.
    pub fn anonymous_volume(destination: &str) -> MountPoint {
        let mut m = MountPoint::new(MountKind::Volume, clean(destination));
        m.driver = crate::LOCAL_DRIVER.into();
        m.anonymous = true;
        m.copy_data = true;
        m
    }

    /// Inspect's `Mounts` entry (Docker's field order; `Name`/`Driver` only for volumes).
    pub fn to_api(&self) -> serde_json::Value {
        let mut v = serde_json::Map::new();
        v.insert("Type".into(), self.kind.as_str().into());
        if self.kind == MountKind::Volume {
            v.insert("Name".into(), self.name.clone().into());
        }
        v.insert("Source".into(), self.source.clone().into());
        v.insert("Destination".into(), self.destination.clone().into());
        if self.kind == MountKind::Volume {
            v.insert("Driver".into(), self.driver.clone().into());
        }
        v.insert("Mode".into(), self.mode.clone().into());
        v.insert("RW".into(), self.rw.into());
        v.insert("Propagation".into(), self.propagation.clone().into());
        serde_json::Value::Object(v)
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn check_target(kind: MountKind, target: &str, wrap: impl Fn(String) -> String) -> Result<String> {
    if target.is_empty() {
        return Err(Error::Invalid(wrap(format!(
            "invalid mount config for type \"{}\": field Target must not be empty",
            kind.as_str()
        ))));
    }
    if !target.starts_with('/') {
        return Err(Error::Invalid(wrap(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{target}' mount path must be absolute",
            kind.as_str()
        ))));
    }
    let t = clean(target);
    if t == "/" {
        return Err(Error::Invalid(wrap(format!(
            "invalid mount config for type \"{}\": invalid specification: destination can't be '/'",
            kind.as_str()
        ))));
    }
    Ok(t)
}

/// Whether `mode` is a valid `-v` mode list (Docker's `ValidMountMode`, plus `U`).
fn valid_mode(mode: &str) -> bool {
    parse_mode(mode).is_ok()
}

#[derive(Default)]
struct Mode {
    rw: Option<bool>,
    label: Option<&'static str>,
    nocopy: bool,
    propagation: Option<String>,
    chown: bool,
}

fn parse_mode(mode: &str) -> std::result::Result<Mode, ()> {
    let mut m = Mode::default();
    if mode.is_empty() {
        return Err(());
    }
    for o in mode.split(',') {
        match o {
            "ro" | "rw" if m.rw.is_none() => m.rw = Some(o == "rw"),
            "z" | "Z" if m.label.is_none() => m.label = Some(if o == "z" { "z" } else { "Z" }),
            "nocopy" if !m.nocopy => m.nocopy = true,
            "U" if !m.chown => m.chown = true,
            p if PROPAGATIONS.contains(&p) && m.propagation.is_none() => {
                m.propagation = Some(p.to_owned())
            }
            _ => return Err(()),
        }
    }
    Ok(m)
}

/// Parses one `HostConfig.Binds` entry (`-v`): `[source:]destination[:mode]`.
pub fn parse_bind(spec: &str) -> Result<MountPoint> {
    let invalid = |why: String| format!("invalid volume specification: '{spec}': {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [a, b] if valid_mode(b) && !b.starts_with('/') => ("", *a, *b),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => {
            return Err(Error::Invalid(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    let m = if mode.is_empty() {
        Mode::default()
    } else {
        parse_mode(mode).map_err(|_| Error::Invalid(format!("invalid mode: {mode}")))?
    };
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    if parts.len() > 1 && source.is_empty() && parts.len() == 3 {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    let target = check_target(kind, target, invalid)?;
    let mut mp = MountPoint::new(kind, target);
    mp.rw = m.rw.unwrap_or(true);
    mp.mode = mode.to_owned();
    match kind {
        MountKind::Bind => {
            if m.nocopy || m.chown {
                return Err(Error::Invalid(format!("invalid mode: {mode}")));
            }
            mp.source = clean(source);
            mp.propagation = m.propagation.unwrap_or_else(|| "rprivate".into());
            mp.create_source = true;
        }
        _ => {
            if m.propagation.is_some() {
                return Err(Error::Invalid(format!("invalid mode: {mode}")));
            }
            mp.driver = crate::LOCAL_DRIVER.into();
            if source.is_empty() {
                mp.anonymous = true;
            } else {
                crate::validate_name(source)?;
                mp.name = source.to_owned();
                if mode.is_empty() {
                    // What Docker reports for a named volume given without a mode.
                    mp.mode = "z".into();
                }
            }
            mp.copy_data = !m.nocopy;
            if m.chown {
                mp.chown = Some(Chown::ContainerUser);
            }
        }
    }
    Ok(mp)
}

fn parse_chown(v: &str) -> Result<Chown> {
    if v.is_empty() || v == "true" || v == "U" {
        return Ok(Chown::ContainerUser);
    }
    let bad = || {
        Error::Invalid(format!(
            "invalid chown option {v:?}: use chown (the container's user) or chown=UID:GID"
        ))
    };
    let (u, g) = v.split_once(':').unwrap_or((v, v));
    Ok(Chown::Ids {
        uid: u.parse().map_err(|_| bad())?,
        gid: g.parse().map_err(|_| bad())?,
    })
}

/// Parses one `HostConfig.Mounts` entry (`--mount`).
pub fn parse_api_mount(m: &Mount) -> Result<MountPoint> {
    let kind = match m.typ {
        Some(MountType::BIND) => MountKind::Bind,
        Some(MountType::VOLUME) | None => MountKind::Volume,
        Some(MountType::TMPFS) => MountKind::Tmpfs,
        Some(other) => {
            return Err(Error::NotImplemented(format!(
                "invalid mount config for type \"{other}\": mounts of type {other} are not implemented in Berth"
            )))
        }
    };
    let t = kind.as_str();
    let cfg_err =
        |why: &str| Error::Invalid(format!("invalid mount config for type \"{t}\": {why}"));
    let target = check_target(kind, m.target.as_deref().unwrap_or(""), |s| s)?;
    let source = m.source.clone().unwrap_or_default();
    let mut mp = MountPoint::new(kind, target);
    mp.rw = !m.read_only.unwrap_or(false);
    if kind != MountKind::Bind && m.bind_options.is_some() {
        return Err(cfg_err("field BindOptions must not be specified"));
    }
    if kind != MountKind::Volume && m.volume_options.is_some() {
        return Err(cfg_err("field VolumeOptions must not be specified"));
    }
    if kind != MountKind::Tmpfs && m.tmpfs_options.is_some() {
        return Err(cfg_err("field TmpfsOptions must not be specified"));
    }
    match kind {
        MountKind::Bind => {
            if source.is_empty() {
                return Err(cfg_err("field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(cfg_err(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            let src = clean(&source);
            if !Path::new(&src).exists() {
                return Err(cfg_err(&format!("bind source path does not exist: {src}")));
            }
            mp.source = src;
            let prop = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .filter(|p| *p != MountBindOptionsPropagationEnum::EMPTY)
                .map(|p| p.to_string());
            mp.propagation = prop.unwrap_or_else(|| "rprivate".into());
            if m.bind_options
                .as_ref()
                .is_some_and(|b| b.non_recursive == Some(true))
            {
                return Err(Error::NotImplemented(
                    "non-recursive bind mounts are not implemented in Berth".into(),
                ));
            }
        }
        MountKind::Volume => {
            mp.driver = crate::LOCAL_DRIVER.into();
            // What Docker reports for every `--mount` volume, named or not.
            mp.mode = "z".into();
            if source.is_empty() {
                mp.anonymous = true;
            } else {
                crate::validate_name(&source)?;
                mp.name = source;
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            mp.copy_data = !vo.no_copy.unwrap_or(false);
            if vo.subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Error::NotImplemented(
                    "volume subpaths are not implemented in Berth".into(),
                ));
            }
            mp.volume_labels = vo.labels.unwrap_or_default().into_iter().collect();
            if let Some(dc) = vo.driver_config {
                if let Some(d) = dc.name.filter(|d| !d.is_empty()) {
                    mp.driver = d;
                }
                for (k, v) in dc.options.unwrap_or_default() {
                    if k == CHOWN_OPTION {
                        mp.chown = Some(parse_chown(&v)?);
                    } else {
                        mp.volume_options.insert(k, v);
                    }
                }
            }
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(cfg_err("field Source must not be specified"));
            }
            if let Some(o) = &m.tmpfs_options {
                if let Some(size) = o.size_bytes {
                    if size < 0 {
                        return Err(cfg_err("invalid tmpfs size"));
                    }
                    if size > 0 {
                        mp.tmpfs_options.push(format!("size={size}"));
                    }
                }
                if let Some(mode) = o.mode.filter(|m| *m != 0) {
                    mp.tmpfs_options.push(format!("mode={mode:o}"));
                }
                for kv in o.options.iter().flatten() {
                    mp.tmpfs_options.push(kv.join("="));
                }
            }
            check_tmpfs_options(&mp.tmpfs_options)?;
        }
    }
    Ok(mp)
}

fn check_tmpfs_options(opts: &[String]) -> Result<()> {
    for o in opts {
        let key = o.split('=').next().unwrap_or("");
        let ok = matches!(
            key,
            "size"
                | "mode"
                | "uid"
                | "gid"
                | "nr_inodes"
                | "nr_blocks"
                | "huge"
                | "mpol"
                | "ro"
                | "rw"
                | "exec"
                | "noexec"
                | "suid"
                | "nosuid"
                | "dev"
                | "nodev"
                | "atime"
                | "noatime"
                | "diratime"
                | "nodiratime"
                | "relatime"
                | "norelatime"
                | "strictatime"
                | "sync"
                | "async"
                | "tmpcopyup"
        );
        if !ok || o.contains(|c: char| c.is_whitespace()) {
            return Err(Error::Invalid(format!("invalid tmpfs option {o:?}")));
        }
    }
    Ok(())
}

/// Parses one `HostConfig.Tmpfs` entry (`--tmpfs /path:opts`).
pub fn parse_tmpfs(dest: &str, opts: &str) -> Result<MountPoint> {
    let target = check_target(MountKind::Tmpfs, dest, |s| s)?;
    let mut mp = MountPoint::new(MountKind::Tmpfs, target);
    mp.hidden = true;
    mp.tmpfs_options = opts
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    check_tmpfs_options(&mp.tmpfs_options)?;
    if mp.tmpfs_options.iter().any(|o| o == "ro") {
        mp.rw = false;
    }
    Ok(mp)
}

/// Parses one `--volumes-from` entry: `container[:ro|rw]`; `None` keeps each mount's mode.
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_owned(), None)),
        Some((c, "rw")) => Ok((c.to_owned(), Some(true))),
        Some((c, "ro")) => Ok((c.to_owned(), Some(false))),
        Some((_, m)) => Err(Error::Invalid(format!("invalid mode: {m}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::api::{MountBindOptions, MountTmpfsOptions, MountVolumeOptions};

    #[test]
    fn binds_parse_like_docker() {
        let m = parse_bind("data:/srv").unwrap();
        assert_eq!(
            (m.kind, m.name.as_str(), m.mode.as_str(), m.rw),
            (MountKind::Volume, "data", "z", true)
        );
        assert!(m.copy_data);
        let m = parse_bind("/host:/ctr:ro").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.rw),
            (MountKind::Bind, "/host", false)
        );
        assert_eq!(
            (m.mode.as_str(), m.propagation.as_str()),
            ("ro", "rprivate")
        );
        assert!(m.create_source);
        let m = parse_bind("/host:/ctr:rslave").unwrap();
        assert_eq!(m.propagation, "rslave");
        let m = parse_bind("/anon").unwrap();
        assert!(m.anonymous && m.kind == MountKind::Volume);
        let m = parse_bind("/anon:ro").unwrap();
        assert!(m.anonymous && !m.rw);
        let m = parse_bind("v1:/x:nocopy,U").unwrap();
        assert!(!m.copy_data);
        assert_eq!(m.chown, Some(Chown::ContainerUser));
    }

    #[test]
    fn bad_binds_have_docker_errors() {
        let e = |s: &str| parse_bind(s).unwrap_err().to_string();
        assert_eq!(e("nosuch-abc:/x:zz"), "invalid mode: zz");
        assert_eq!(
            e("vtest1:relative"),
            "invalid volume specification: 'vtest1:relative': invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"
        );
        assert!(e("a/b:/x").contains("includes invalid characters for a local volume name"));
        assert!(e("/h:/").contains("destination can't be '/'"));
        assert_eq!(e("v1:/x:rshared"), "invalid mode: rshared");
        assert_eq!(e("/h:/x:nocopy"), "invalid mode: nocopy");
        assert_eq!(e("v1:/x:ro,rw"), "invalid mode: ro,rw");
        assert!(e("a:b:c:d").starts_with("invalid volume specification"));
    }

    #[test]
    fn api_mounts_parse_and_refuse_like_docker() {
        let bind = |src: &str| Mount {
            typ: Some(MountType::BIND),
            source: Some(src.into()),
            target: Some("/x".into()),
            ..Mount::default()
        };
        assert_eq!(
            parse_api_mount(&bind("/nonexist-berth")).unwrap_err().to_string(),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexist-berth"
        );
        let m = parse_api_mount(&Mount {
            bind_options: Some(MountBindOptions {
                propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
                ..Default::default()
            }),
            read_only: Some(true),
            ..bind("/tmp")
        })
        .unwrap();
        assert_eq!(
            (m.propagation.as_str(), m.rw, m.create_source),
            ("rslave", false, false)
        );
        let t = parse_api_mount(&Mount {
            typ: Some(MountType::TMPFS),
            target: Some("/t".into()),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(1 << 20),
                mode: Some(0o1777),
                ..Default::default()
            }),
            ..Mount::default()
        })
        .unwrap();
        assert_eq!(t.tmpfs_options, vec!["size=1048576", "mode=1777"]);
        let e = parse_api_mount(&Mount {
            typ: Some(MountType::TMPFS),
            target: Some("/t".into()),
            source: Some("foo".into()),
            ..Mount::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        let v = parse_api_mount(&Mount {
            typ: Some(MountType::VOLUME),
            target: Some("/v".into()),
            source: Some("named".into()),
            volume_options: Some(MountVolumeOptions {
                no_copy: Some(true),
                driver_config: Some(berth_types::api::MountVolumeOptionsDriverConfig {
                    name: None,
                    options: Some(
                        [
                            (CHOWN_OPTION.to_string(), "1000:1001".to_string()),
                            ("type".to_string(), "tmpfs".to_string()),
                        ]
                        .into(),
                    ),
                }),
                ..Default::default()
            }),
            ..Mount::default()
        })
        .unwrap();
        assert!(!v.copy_data);
        assert_eq!(v.mode, "z");
        assert_eq!(
            v.chown,
            Some(Chown::Ids {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            v.volume_options.get("type").map(String::as_str),
            Some("tmpfs")
        );
        assert!(!v.volume_options.contains_key(CHOWN_OPTION));
        let e = parse_api_mount(&Mount {
            typ: Some(MountType::VOLUME),
            target: Some("/v".into()),
            source: Some("/abs".into()),
            ..Mount::default()
        })
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("create /abs: \"/abs\" includes invalid characters"));
    }

    #[test]
    fn tmpfs_and_volumes_from() {
        let t = parse_tmpfs("/run", "size=1m,mode=1777").unwrap();
        assert!(t.hidden);
        assert_eq!(t.tmpfs_options, vec!["size=1m", "mode=1777"]);
        assert!(parse_tmpfs("/run", "size=1m,bogus").is_err());
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), None));
        assert_eq!(
            parse_volumes_from("c1:ro").unwrap(),
            ("c1".into(), Some(false))
        );
        assert!(parse_volumes_from("c1:zz").is_err());
    }

    #[test]
    fn inspect_shape_is_dockers() {
        let m = parse_bind("/h:/c:ro").unwrap();
        assert_eq!(
            serde_json::to_string(&m.to_api()).unwrap(),
            r#"{"Type":"bind","Source":"/h","Destination":"/c","Mode":"ro","RW":false,"Propagation":"rprivate"}"#
        );
    }
}
