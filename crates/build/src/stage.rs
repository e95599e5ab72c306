//! One stage: `FROM`, the `ONBUILD` triggers of its base, then each instruction — expanded
//! with the stage's `ARG`/`ENV`, looked up in the cache, executed, recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_dockerfile::{
    CommandForm, Healthcheck, Instruction, InstructionKind, MountType, RunNetwork as AstNetwork,
};
use berth_types::api::{ContainerConfig, HealthConfig};
use berth_types::image::{History, ImageConfig};
use sha2::{Digest, Sha256};

use crate::copy::{self, CopyJob};
use crate::engine::{short, Shared, MAX_LAYERS, PROXY_ARGS};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::paths::clean_abs;
use crate::plan::stage_ref;
use crate::worker::{NewLayer, RunMountSpec, RunNetwork, RunRequest};

pub(crate) struct StageBuilder<'a> {
    sh: &'a Arc<Shared>,
    out: &'a Output,
    /// The stage's current image (`None` right after `FROM scratch`).
    image: Option<String>,
    config: ImageConfig,
    /// `ARG`s declared in this stage, with their values.
    args: Vec<(String, Option<String>)>,
    no_cache: bool,
    cmd_set: bool,
    index: usize,
}

/// Variables with values, in order.
type Vars = Vec<(String, String)>;

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl<'a> StageBuilder<'a> {
    /// Builds stage `index`; returns its final image ID.
    pub async fn run(sh: &'a Arc<Shared>, index: usize, out: &'a Output) -> Result<String> {
        let df = &sh.req.dockerfile;
        let st = &df.stages[index];
        let mut step = sh.first_step[&index];
        out.stream(format!(
            "Step {step}/{} : {}\n",
            sh.total_steps, st.original
        ));
        let base = sh.bases[index].clone();
        let no_cache = sh.req.no_cache
            || st.name.as_ref().is_some_and(|n| {
                sh.req
                    .no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            });
        let (image, config) = if base.eq_ignore_ascii_case("scratch") {
            let (os, arch) = host_platform();
            (
                None,
                ImageConfig {
                    os: Some(os.into()),
                    architecture: Some(arch.into()),
                    config: Some(ContainerConfig {
                        env: Some(vec![
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                .into(),
                        ]),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
        } else if let Some(j) = stage_ref(df, &base, index) {
            let id = sh.stage_image(j).await?;
            let cfg = sh.worker.image_config(&id).await?;
            (Some(id), cfg)
        } else {
            let b = sh.worker.resolve_image(&base, sh.req.pull, out).await?;
            (Some(b.id), b.config)
        };
        out.stream(format!(
            " ---> {}\n",
            image.as_deref().map(short).unwrap_or_default()
        ));
        let mut sb = StageBuilder {
            sh,
            out,
            image,
            config,
            args: Vec::new(),
            no_cache,
            cmd_set: false,
            index,
        };
        // The base's ONBUILD triggers run first and are not inherited.
        let triggers = sb.run_config().on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            out.stream(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for t in &triggers {
                let parsed = crate::expand::parse(&format!("FROM scratch\n{t}\n"))
                    .map_err(|e| Error::Dockerfile(format!("ONBUILD trigger {t:?}: {e}")))?;
                let inst = parsed
                    .stages
                    .first()
                    .and_then(|s| s.instructions.first())
                    .cloned()
                    .ok_or_else(|| Error::Dockerfile(format!("empty ONBUILD trigger {t:?}")))?;
                sb.dispatch(&inst).await?;
            }
        }
        for inst in &st.instructions {
            step += 1;
            out.stream(format!(
                "Step {step}/{} : {}\n",
                sh.total_steps, inst.original
            ));
            sb.dispatch(inst).await?;
        }
        match sb.image {
            Some(id) => Ok(id),
            None => {
                // `FROM scratch` with only metadata steps still makes an image.
                sb.commit_meta(String::new(), None).await?;
                sb.image.ok_or_else(|| Error::Invalid("no image".into()))
            }
        }
    }

    /// The `--label`s of the request, as the legacy builder applies them: one more `LABEL`
    /// step on the final image.
    pub async fn label_step(sh: &'a Arc<Shared>, image: &str, out: &'a Output) -> Result<String> {
        let mut labels: Vec<(&String, &String)> = sh.req.labels.iter().collect();
        labels.sort();
        let text = labels
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
            .collect::<Vec<_>>()
            .join(" ");
        out.stream(format!(
            "Step {}/{} : LABEL {text}\n",
            sh.total_steps, sh.total_steps
        ));
        let config = sh.worker.image_config(image).await?;
        let mut sb = StageBuilder {
            sh,
            out,
            image: Some(image.to_string()),
            config,
            args: Vec::new(),
            no_cache: sh.req.no_cache,
            cmd_set: false,
            index: sh.target,
        };
        let l = sb.run_config().labels.get_or_insert_with(HashMap::new);
        for (k, v) in labels {
            l.insert(k.clone(), v.clone());
        }
        sb.commit_meta(format!("/bin/sh -c #(nop)  LABEL {text}"), None)
            .await?;
        sb.image.ok_or_else(|| Error::Invalid("no image".into()))
    }

    fn run_config(&mut self) -> &mut ContainerConfig {
        self.config.config.get_or_insert_with(Default::default)
    }

    fn env_list(&self) -> Vec<String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.env.clone())
            .unwrap_or_default()
    }

    /// A variable as expansion sees it: `ENV` first, then the stage's `ARG`s.
    fn lookup(&self, name: &str) -> Option<String> {
        for e in self.env_list().iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    /// Build args in scope with values, for `RUN`'s environment and the cache key (proxy args
    /// from the request included, though never in the history).
    fn run_args(&self) -> (Vars, Vars) {
        let mut shown: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            if let Some(v) = v {
                shown.retain(|(a, _)| a != k);
                shown.push((k.clone(), v.clone()));
            }
        }
        let mut proxies = Vec::new();
        for p in PROXY_ARGS {
            if !shown.iter().any(|(k, _)| k == p) {
                if let Some(v) = self.sh.build_arg(p) {
                    proxies.push((p.to_string(), v));
                }
            }
        }
        (shown, proxies)
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.shell.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    fn workdir(&self) -> String {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    /// The cache key of a step on the current image. Only `RUN` sees the build args (as its
    /// environment), so only its key includes them, as in Docker.
    fn cache_key(&self, created_by: &str, extra: &str) -> String {
        self.key_with(created_by, extra, false)
    }

    fn key_with(&self, created_by: &str, extra: &str, with_args: bool) -> String {
        let (args, proxies) = if with_args {
            self.run_args()
        } else {
            Default::default()
        };
        let v = serde_json::json!({
            "v": 1,
            "parent": self.image.clone().unwrap_or_else(|| "scratch".into()),
            "step": created_by,
            "args": args,
            "proxies": proxies,
            "extra": extra,
        });
        hex::encode(Sha256::digest(v.to_string().as_bytes()))
    }

    async fn cached(&mut self, key: &str) -> Result<bool> {
        if self.no_cache {
            return Ok(false);
        }
        let Some(id) = self.sh.worker.cache_get(key).await? else {
            return Ok(false);
        };
        let cfg = self.sh.worker.image_config(&id).await?;
        self.out
            .stream(format!(" ---> Using cache\n ---> {}\n", short(&id)));
        self.config = cfg;
        self.image = Some(id);
        Ok(true)
    }

    fn push_history(&mut self, created_by: &str, empty: bool) -> ImageConfig {
        let mut cfg = self.config.clone();
        let now = now();
        cfg.created = Some(now.clone());
        if !created_by.is_empty() {
            cfg.history.push(History {
                created: Some(now),
                created_by: Some(created_by.to_string()),
                empty_layer: empty,
                ..Default::default()
            });
        }
        cfg
    }

    /// A metadata-only step: the config changed in `self.config` is stored as a new image
    /// with no layer.
    async fn commit_meta(&mut self, created_by: String, key: Option<String>) -> Result<()> {
        let key = key.unwrap_or_else(|| self.cache_key(&created_by, ""));
        if self.cached(&key).await? {
            return Ok(());
        }
        let cfg = self.push_history(&created_by, true);
        let id = self
            .sh
            .worker
            .commit(self.image.as_deref(), cfg, NewLayer::None)
            .await?;
        self.finish_step(&key, id).await
    }

    async fn finish_step(&mut self, key: &str, id: String) -> Result<()> {
        self.sh.worker.cache_put(key, &id).await?;
        self.config = self.sh.worker.image_config(&id).await?;
        self.out.stream(format!(" ---> {}\n", short(&id)));
        self.image = Some(id);
        Ok(())
    }

    fn check_depth(&self) -> Result<()> {
        let n = self.config.rootfs.diff_ids.len();
        if n >= MAX_LAYERS {
            return Err(Error::MaxDepth(n + 1));
        }
        Ok(())
    }

    async fn dispatch(&mut self, raw: &Instruction) -> Result<()> {
        let inst = {
            let env = |k: &str| self.lookup(k);
            crate::expand::instruction(raw, &self.sh.lex, &env)?
        };
        let nop = "/bin/sh -c #(nop) ";
        match &inst.kind {
            InstructionKind::Run(run) => self.run_step(run).await,
            InstructionKind::Copy(c) => self.copy_step(c, false).await,
            InstructionKind::Add(c) => self.copy_step(c, true).await,
            InstructionKind::Cmd(f) => {
                let v = self.command(f);
                self.run_config().cmd = Some(v.clone());
                self.cmd_set = true;
                self.commit_meta(format!("{nop} CMD {}", json(&v)), None)
                    .await
            }
            InstructionKind::Entrypoint(f) => {
                let v = self.command(f);
                let cmd_set = self.cmd_set;
                let rc = self.run_config();
                rc.entrypoint = Some(v.clone());
                // An inherited CMD does not survive a new ENTRYPOINT (Docker's rule).
                if !cmd_set {
                    rc.cmd = None;
                }
                self.commit_meta(format!("{nop} ENTRYPOINT {}", json(&v)), None)
                    .await
            }
            InstructionKind::Env(pairs) => {
                let rc = self.run_config();
                let env = rc.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(a, _)| a) != k);
                    env.push(format!("{k}={v}"));
                }
                let text = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.commit_meta(format!("{nop} ENV {text}"), None).await
            }
            InstructionKind::Arg(a) => {
                let mut names = Vec::new();
                for d in &a.args {
                    self.sh
                        .used_args
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(d.name.clone());
                    let v = self
                        .sh
                        .build_arg(&d.name)
                        .or_else(|| d.default.clone())
                        .or_else(|| self.sh.meta_args.get(&d.name).cloned());
                    self.args.push((d.name.clone(), v));
                    names.push(match &d.default {
                        Some(def) => format!("{}={def}", d.name),
                        None => d.name.clone(),
                    });
                }
                self.commit_meta(format!("{nop} ARG {}", names.join(" ")), None)
                    .await
            }
            InstructionKind::Label(pairs) => {
                let l = self.run_config().labels.get_or_insert_with(HashMap::new);
                for (k, v) in pairs {
                    l.insert(k.clone(), v.clone());
                }
                let text = pairs
                    .iter()
                    .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.commit_meta(format!("{nop} LABEL {text}"), None).await
            }
            InstructionKind::Maintainer(m) => {
                self.config.author = Some(m.clone());
                self.commit_meta(format!("{nop} MAINTAINER {m}"), None)
                    .await
            }
            InstructionKind::Expose(ports) => {
                let mut added = Vec::new();
                for p in ports {
                    for w in p.split_whitespace() {
                        let spec = if w.contains('/') {
                            w.to_ascii_lowercase()
                        } else {
                            format!("{w}/tcp")
                        };
                        let (num, _) = spec.split_once('/').unwrap_or((&spec, ""));
                        let ok = num.split('-').all(|n| n.parse::<u16>().is_ok());
                        if !ok {
                            return Err(Error::Invalid(format!("invalid containerPort: {w}")));
                        }
                        added.push(spec);
                    }
                }
                let ep = self.run_config().exposed_ports.get_or_insert_with(Vec::new);
                for a in &added {
                    if !ep.contains(a) {
                        ep.push(a.clone());
                    }
                }
                self.commit_meta(format!("{nop} EXPOSE {}", added.join(" ")), None)
                    .await
            }
            InstructionKind::Volume(vols) => {
                let vs = self.run_config().volumes.get_or_insert_with(Vec::new);
                for v in vols {
                    if v.is_empty() {
                        return Err(Error::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    if !vs.contains(v) {
                        vs.push(v.clone());
                    }
                }
                self.commit_meta(format!("{nop} VOLUME {}", json(vols)), None)
                    .await
            }
            InstructionKind::Workdir(w) => self.workdir_step(w).await,
            InstructionKind::User(u) => {
                self.run_config().user = Some(u.clone());
                self.commit_meta(format!("{nop} USER {u}"), None).await
            }
            InstructionKind::Healthcheck(h) => {
                let hc = match h {
                    Healthcheck::None => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Healthcheck::Check {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let ns = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as i64);
                        HealthConfig {
                            test: Some(match test {
                                CommandForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                                CommandForm::Exec(v) => std::iter::once("CMD".to_string())
                                    .chain(v.iter().cloned())
                                    .collect(),
                            }),
                            interval: ns(interval),
                            timeout: ns(timeout),
                            start_period: ns(start_period),
                            start_interval: ns(start_interval),
                            retries: retries.map(i64::from),
                        }
                    }
                };
                let text = json(hc.test.as_deref().unwrap_or_default());
                self.run_config().healthcheck = Some(hc);
                self.commit_meta(format!("{nop} HEALTHCHECK &{{{text}}}"), None)
                    .await
            }
            InstructionKind::Onbuild(t) => {
                self.run_config()
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.clone());
                self.commit_meta(format!("{nop} ONBUILD {t}"), None).await
            }
            InstructionKind::Shell(s) => {
                self.run_config().shell = Some(s.clone());
                self.commit_meta(format!("{nop} SHELL {}", json(s)), None)
                    .await
            }
            InstructionKind::StopSignal(s) => {
                self.run_config().stop_signal = Some(s.clone());
                self.commit_meta(format!("{nop} STOPSIGNAL {s}"), None)
                    .await
            }
        }
    }

    fn command(&self, f: &CommandForm) -> Vec<String> {
        match f {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    async fn workdir_step(&mut self, w: &str) -> Result<()> {
        let abs = if w.starts_with('/') {
            format!("/{}", clean_abs(w).display())
        } else {
            format!(
                "/{}",
                clean_abs(&format!("{}/{w}", self.workdir())).display()
            )
        };
        self.run_config().working_dir = Some(abs.clone());
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {abs}");
        let key = self.cache_key(&created_by, "");
        if self.cached(&key).await? {
            return Ok(());
        }
        // The directory is created only when the parent lacks it (BuildKit's rule: no empty
        // layer for an existing directory).
        let exists = match &self.image {
            Some(img) => {
                let m = self.sh.worker.mount(img).await?;
                let rel = crate::paths::resolve_in_root(m.path(), &clean_abs(&abs))?;
                m.path().join(rel).is_dir()
            }
            None => false,
        };
        if exists || abs == "/" {
            let cfg = self.push_history(&created_by, true);
            let id = self
                .sh
                .worker
                .commit(self.image.as_deref(), cfg, NewLayer::None)
                .await?;
            return self.finish_step(&key, id).await;
        }
        self.check_depth()?;
        let tmp = self.scratch_file("workdir")?;
        {
            let f = std::fs::File::create(&tmp).map_err(Error::io("creating the layer file"))?;
            let mut b = tar::Builder::new(std::io::BufWriter::new(f));
            let rel = clean_abs(&abs);
            let mut acc = PathBuf::new();
            for c in rel.components() {
                acc.push(c);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(0);
                h.set_mtime(unix_now());
                b.append_data(&mut h, &acc, std::io::empty())
                    .map_err(Error::io("writing the layer"))?;
            }
            b.into_inner()
                .and_then(|mut w| std::io::Write::flush(&mut w))
                .map_err(Error::io("writing the layer"))?;
        }
        let cfg = self.push_history(&created_by, false);
        let id = self
            .sh
            .worker
            .commit(self.image.as_deref(), cfg, NewLayer::Tar(tmp))
            .await?;
        self.finish_step(&key, id).await
    }

    fn scratch_file(&self, what: &str) -> Result<PathBuf> {
        let dir = self.sh.worker.scratch_dir();
        std::fs::create_dir_all(&dir).map_err(Error::io("creating the build scratch directory"))?;
        Ok(dir.join(format!(
            "{what}-{}.tar",
            hex::encode(rand::random::<[u8; 8]>())
        )))
    }

    async fn run_step(&mut self, run: &berth_dockerfile::Run) -> Result<()> {
        if run.security_insecure {
            return Err(Error::Invalid(
                "RUN --security=insecure needs the security.insecure entitlement, which Berth does not grant".into(),
            ));
        }
        let shell = self.shell();
        let (argv, shown) = match &run.command {
            CommandForm::Exec(v) => (v.clone(), v.join(" ")),
            CommandForm::Shell(s) => {
                let mut script = s.clone();
                for h in &run.heredocs {
                    script.push('\n');
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                }
                let mut v = shell.clone();
                v.push(script.clone());
                (v, format!("{} {script}", shell.join(" ")))
            }
        };
        let (args, proxies) = self.run_args();
        let created_by = if args.is_empty() {
            shown.clone()
        } else {
            format!(
                "|{} {} {shown}",
                args.len(),
                args.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };

        // Mounts: resolved to host paths; their identity is part of the cache key.
        let mut mounts = Vec::new();
        let mut extra = String::new();
        let mut held = Vec::new();
        let mut secret_env = Vec::new();
        let mut temp_files = Vec::new();
        for m in &run.mounts {
            // tmpfs, cache and bind mounts need a target (a secret has a default one).
            let required_target = || {
                m.target
                    .clone()
                    .ok_or_else(|| Error::Invalid("mount: target is required".into()))
            };
            match m.kind {
                MountType::Ssh => {
                    return Err(Error::NotImplemented("RUN --mount=type=ssh".into()));
                }
                MountType::Tmpfs => {
                    let target = required_target()?;
                    extra.push_str(&format!("tmpfs:{target};"));
                    mounts.push(RunMountSpec::Tmpfs {
                        target,
                        size: m.size,
                    });
                }
                MountType::Cache => {
                    let target = required_target()?;
                    if m.from.is_some() {
                        return Err(Error::NotImplemented("RUN --mount=type=cache,from=".into()));
                    }
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self.sh.worker.cache_mount_dir(&id)?;
                    let data = dir.join("data");
                    if !data.exists() {
                        std::fs::create_dir_all(&data)
                            .map_err(Error::io("creating a cache mount"))?;
                        use std::os::unix::fs::PermissionsExt;
                        let mode = m.mode.unwrap_or(0o755);
                        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode))
                            .map_err(Error::io("setting a cache mount's mode"))?;
                        let _ = std::os::unix::fs::chown(
                            &data,
                            Some(m.uid.unwrap_or(0)),
                            Some(m.gid.unwrap_or(0)),
                        );
                    }
                    let source = match m.sharing {
                        berth_dockerfile::CacheSharing::Shared => data,
                        berth_dockerfile::CacheSharing::Locked => {
                            held.push(crate::lock::lock(&dir).await?);
                            data
                        }
                        berth_dockerfile::CacheSharing::Private => {
                            match crate::lock::try_lock(&dir)? {
                                Some(l) => {
                                    held.push(l);
                                    data
                                }
                                // In use: a private build gets a fresh directory of its own.
                                None => {
                                    let t = self.scratch_file("cache")?;
                                    std::fs::create_dir_all(&t)
                                        .map_err(Error::io("creating a private cache"))?;
                                    temp_files.push(t.clone());
                                    t
                                }
                            }
                        }
                    };
                    extra.push_str(&format!("cache:{id}:{target};"));
                    mounts.push(RunMountSpec::Bind {
                        source,
                        target,
                        read_only: m.read_only,
                    });
                }
                MountType::Bind => {
                    let target = required_target()?;
                    let src = m.source.clone().unwrap_or_else(|| "/".into());
                    let rel = crate::paths::clean_rel(&src).ok_or_else(|| {
                        Error::Copy(format!(
                            "RUN --mount: forbidden path outside the build context: {src}"
                        ))
                    })?;
                    let (root, tag) = match &m.from {
                        Some(f) => {
                            let id = self.resolve_from(f).await?;
                            let mnt = self.sh.worker.mount(&id).await?;
                            let p = mnt.path().to_path_buf();
                            held.push(crate::lock::Held::Mount(mnt));
                            (p, id)
                        }
                        None => (self.sh.req.context_dir.clone(), "context".to_string()),
                    };
                    let real = root.join(crate::paths::resolve_in_root(&root, &rel)?);
                    if !real.exists() {
                        return Err(Error::Copy(format!("RUN --mount: {src} not found")));
                    }
                    // Bound context files take part in the cache key, by content.
                    let sum = if tag == "context" {
                        let job = CopyJob {
                            src_root: root.clone(),
                            from_context: true,
                            sources: vec![src.clone()],
                            heredocs: Vec::new(),
                            dest: "/".into(),
                            dest_is_dir: true,
                            excludes: Vec::new(),
                            unpack: false,
                            instruction: "RUN --mount",
                            scratch: PathBuf::new(),
                        };
                        let sh = self.sh.clone();
                        tokio::task::spawn_blocking(move || {
                            copy::plan(job, &sh.hashes).map(|p| p.checksum.clone())
                        })
                        .await
                        .map_err(|e| Error::Invalid(format!("hashing task: {e}")))??
                    } else {
                        tag
                    };
                    extra.push_str(&format!("bind:{src}:{target}:{sum}:{};", m.read_only));
                    // Bind mounts are read-only unless `rw` (BuildKit discards writes; Berth
                    // refuses them instead of copying the source).
                    mounts.push(RunMountSpec::Bind {
                        source: real,
                        target,
                        read_only: true,
                    });
                }
                MountType::Secret => {
                    let id =
                        m.id.clone()
                            .or_else(|| {
                                m.target
                                    .as_ref()
                                    .and_then(|t| t.rsplit('/').next().map(str::to_string))
                            })
                            .ok_or_else(|| {
                                Error::Invalid("secret mount needs an id or target".into())
                            })?;
                    let Some(value) = self.sh.req.secrets.get(&id) else {
                        if m.required {
                            return Err(Error::Invalid(format!("secret {id}: not provided")));
                        }
                        continue;
                    };
                    if let Some(var) = &m.env {
                        secret_env.push(format!("{var}={}", String::from_utf8_lossy(value)));
                        if m.target.is_none() {
                            continue;
                        }
                    }
                    let target = m
                        .target
                        .clone()
                        .unwrap_or_else(|| format!("/run/secrets/{id}"));
                    let f = self.scratch_file("secret")?;
                    {
                        use std::io::Write;
                        use std::os::unix::fs::OpenOptionsExt;
                        let mut fh = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(m.mode.unwrap_or(0o400))
                            .open(&f)
                            .map_err(Error::io("writing a secret"))?;
                        fh.write_all(value).map_err(Error::io("writing a secret"))?;
                    }
                    let _ = std::os::unix::fs::chown(
                        &f,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    );
                    temp_files.push(f.clone());
                    // A secret is never part of the cache key's content, only its presence.
                    extra.push_str(&format!("secret:{id}:{target};"));
                    mounts.push(RunMountSpec::Bind {
                        source: f,
                        target,
                        read_only: true,
                    });
                }
            }
        }
        let network = match run.network {
            // `default` (what the docker CLI sends) and absent are the same network.
            AstNetwork::Default => RunNetwork::Default(
                self.sh
                    .req
                    .network_mode
                    .clone()
                    .filter(|m| !m.is_empty() && m != "default"),
            ),
            AstNetwork::None => RunNetwork::None,
            AstNetwork::Host => RunNetwork::Host,
        };
        extra.push_str(&format!("net:{network:?};"));
        let key = self.key_with(&created_by, &extra, true);
        let result = async {
            if self.cached(&key).await? {
                return Ok(());
            }
            self.check_depth()?;
            if self.image.is_none() {
                return Err(Error::Invalid(format!(
                    "The command '{shown}' cannot run: the stage has no filesystem (FROM scratch)"
                )));
            }
            let mut env = self.env_list();
            for (k, v) in args.iter().chain(proxies.iter()) {
                if !env
                    .iter()
                    .any(|e| e.split_once('=').map(|(a, _)| a) == Some(k.as_str()))
                {
                    env.push(format!("{k}={v}"));
                }
            }
            env.extend(secret_env.iter().cloned());
            let commit_config = self.push_history(&created_by, false);
            let rc = self.config.config.clone().unwrap_or_default();
            let req = RunRequest {
                image: self.image.clone(),
                argv,
                env,
                user: rc.user.filter(|u| !u.is_empty()),
                workdir: rc.working_dir.filter(|w| !w.is_empty()),
                network,
                mounts,
                extra_hosts: self.sh.req.extra_hosts.clone(),
                commit_config,
                force_remove: self.sh.req.force_remove,
                keep: !self.sh.req.remove,
            };
            let id = match self.sh.worker.run(req, self.out).await {
                Err(Error::RunFailed { code, .. }) => {
                    return Err(Error::RunFailed {
                        command: shown.clone(),
                        code,
                    })
                }
                r => r?,
            };
            self.finish_step(&key, id).await
        }
        .await;
        drop(held);
        for t in temp_files {
            let _ = std::fs::remove_file(&t).or_else(|_| std::fs::remove_dir_all(&t));
        }
        result
    }

    /// The image a `--from` names: a stage (by name or index) of this build, or an image.
    async fn resolve_from(&self, from: &str) -> Result<String> {
        if let Some(j) = stage_ref(&self.sh.req.dockerfile, from, self.index) {
            return self.sh.stage_image(j).await;
        }
        if from.parse::<usize>().is_ok() {
            return Err(Error::Invalid(format!(
                "invalid from flag value {from}: refers to current build stage or a later one"
            )));
        }
        Ok(self
            .sh
            .worker
            .resolve_image(from, false, self.out)
            .await?
            .id)
    }

    async fn copy_step(&mut self, c: &berth_dockerfile::Copy, add: bool) -> Result<()> {
        let instr = if add { "ADD" } else { "COPY" };
        if c.parents {
            return Err(Error::NotImplemented(format!("{instr} --parents")));
        }
        if c.checksum.is_some() {
            return Err(Error::NotImplemented("ADD --checksum".into()));
        }
        if !add && c.sources.iter().any(|s| is_url(s)) {
            return Err(Error::Copy(
                "COPY failed: source can't be a URL for COPY".into(),
            ));
        }
        let mode = match &c.chmod {
            None => None,
            Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                Error::NotImplemented(format!(
                    "{instr} --chmod={m} (only octal modes are supported)"
                ))
            })?),
        };
        if mode.is_some_and(|m| m > 0o7777) {
            return Err(Error::Invalid(format!(
                "invalid chmod parameter: {}",
                c.chmod.as_deref().unwrap_or_default()
            )));
        }
        let (src_root, from_context, from_id, _mount) = match &c.from {
            None => (self.sh.req.context_dir.clone(), true, None, None),
            Some(f) => {
                let id = self.resolve_from(f).await?;
                let m = self.sh.worker.mount(&id).await?;
                (m.path().to_path_buf(), false, Some(id), Some(m))
            }
        };
        let dest_raw = c.dest.clone();
        let dest_is_dir = dest_raw.ends_with('/')
            || dest_raw == "."
            || dest_raw.ends_with("/.")
            || (dest_raw.is_empty());
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{dest_raw}", self.workdir())
        };
        let job = CopyJob {
            src_root,
            from_context,
            sources: c.sources.clone(),
            heredocs: c
                .heredocs
                .iter()
                .map(|h| (h.name.clone(), h.content.clone()))
                .collect(),
            dest: dest.clone(),
            dest_is_dir,
            excludes: c.exclude.clone(),
            unpack: add && c.unpack != Some(false),
            instruction: instr,
            scratch: self.sh.worker.scratch_dir(),
        };
        let sh = self.sh.clone();
        let plan = tokio::task::spawn_blocking(move || copy::plan(job, &sh.hashes))
            .await
            .map_err(|e| Error::Invalid(format!("hashing task: {e}")))??;
        let created_by = format!(
            "/bin/sh -c #(nop) {instr} {}:{} in {dest_raw} ",
            plan.kind, plan.checksum
        );
        let extra = format!(
            "from:{};chown:{:?};chmod:{:?};link:{};exclude:{:?}",
            from_id.unwrap_or_default(),
            c.chown,
            c.chmod,
            c.link,
            c.exclude
        );
        let key = self.cache_key(&created_by, &extra);
        if self.cached(&key).await? {
            return Ok(());
        }
        self.check_depth()?;
        let parent_mount = match &self.image {
            Some(img) => Some(self.sh.worker.mount(img).await?),
            None => None,
        };
        let parent_root = parent_mount.as_ref().map(|m| m.path().to_path_buf());
        let owner = match &c.chown {
            Some(spec) => Some(crate::chown::resolve(spec, parent_root.as_deref())?),
            None => None,
        };
        let tmp = self.scratch_file("copy")?;
        let t2 = tmp.clone();
        let written = tokio::task::spawn_blocking(move || {
            copy::write_layer(&plan, parent_root.as_deref(), owner, mode, &t2)
        })
        .await
        .map_err(|e| Error::Invalid(format!("copy task: {e}")))?;
        drop(parent_mount);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let cfg = self.push_history(&created_by, false);
        let id = self
            .sh
            .worker
            .commit(self.image.as_deref(), cfg, NewLayer::Tar(tmp))
            .await?;
        self.finish_step(&key, id).await
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn quote(s: &str) -> String {
    if s.is_empty() || s.contains([' ', '"', '\t', '=']) {
        format!("{s:?}")
    } else {
        s.to_string()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    ("linux", arch)
}
