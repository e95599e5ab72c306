//! The build driver: plan the stages, run them (independent ones concurrently, their output
//! shown stage by stage in Dockerfile order), tag the result.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_dockerfile::{Dockerfile, ShellLex};

use crate::expand;
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, watch};

use crate::copy::HashCache;
use crate::error::{Error, Result};
use crate::output::{Message, Output};
use crate::plan::needed_stages;
use crate::stage::StageBuilder;
use crate::worker::Worker;

/// Proxy variables usable as build args without an `ARG`, and kept out of the history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Docker's limit on the layers of an image.
pub const MAX_LAYERS: usize = 127;

/// Everything one build needs.
pub struct BuildRequest {
    pub dockerfile: Dockerfile,
    /// The received context, `.dockerignore` applied.
    pub context_dir: PathBuf,
    pub secrets: HashMap<String, Vec<u8>>,
    pub tags: Vec<String>,
    pub target: Option<String>,
    pub build_args: HashMap<String, Option<String>>,
    pub labels: HashMap<String, String>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub pull: bool,
    /// `networkmode` for `RUN` steps with the default network.
    pub network_mode: Option<String>,
    pub extra_hosts: Vec<String>,
    pub quiet: bool,
    /// Remove intermediate containers on success (`rm`) / always (`forcerm`).
    pub remove: bool,
    pub force_remove: bool,
}

/// State shared by the stages of one build.
pub(crate) struct Shared {
    pub worker: Arc<dyn Worker>,
    pub req: BuildRequest,
    pub lex: ShellLex,
    /// Meta `ARG` values (build args override defaults).
    pub meta_args: HashMap<String, String>,
    /// Expanded `FROM` of every stage.
    pub bases: Vec<String>,
    /// Step number of each stage's `FROM` and the total.
    pub first_step: HashMap<usize, usize>,
    pub total_steps: usize,
    pub target: usize,
    pub results: HashMap<usize, watch::Receiver<Option<std::result::Result<String, String>>>>,
    pub hashes: HashCache,
    /// Build args some `ARG` declared.
    pub used_args: Mutex<HashSet<String>>,
}

impl Shared {
    /// The final image of stage `i`, waiting for it to be built.
    pub async fn stage_image(&self, i: usize) -> Result<String> {
        let mut rx = self
            .results
            .get(&i)
            .ok_or_else(|| Error::Invalid(format!("stage {i} is not part of this build")))?
            .clone();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r.map_err(|e| Error::Invalid(format!("stage {i} failed: {e}")));
            }
            if rx.changed().await.is_err() {
                return Err(Error::Invalid(format!("stage {i} was not built")));
            }
        }
    }

    pub fn build_arg(&self, name: &str) -> Option<String> {
        self.req.build_args.get(name).cloned().flatten()
    }
}

/// Runs the build; returns the final image's ID. Progress goes to `out`.
pub async fn build(worker: Arc<dyn Worker>, req: BuildRequest, out: Output) -> Result<String> {
    let df = &req.dockerfile;
    let lex = ShellLex::new(df.directives.escape);
    for w in &df.warnings {
        out.stream(format!("[Warning] line {}: {}\n", w.line, w.message));
    }

    // Meta args: defaults expanded in order, build args win.
    let mut meta_args: HashMap<String, String> = HashMap::new();
    let mut used = HashSet::new();
    for a in &df.meta_args {
        for d in &a.args {
            used.insert(d.name.clone());
            let v = match req.build_args.get(&d.name).cloned().flatten() {
                Some(v) => Some(v),
                None => match &d.default {
                    Some(def) => Some(expand::word(&lex, def, &|k: &str| {
                        meta_args.get(k).cloned()
                    })?),
                    None => None,
                },
            };
            if let Some(v) = v {
                meta_args.insert(d.name.clone(), v);
            }
        }
    }
    let mut bases = Vec::new();
    for st in &df.stages {
        let b = expand::word(&lex, &st.base, &|k: &str| meta_args.get(k).cloned())?;
        if b.is_empty() {
            return Err(Error::Dockerfile(format!(
                "base name ({}) should not be blank",
                st.base
            )));
        }
        bases.push(b);
    }
    let crate::plan::StagePlan { target, needed } =
        needed_stages(df, req.target.as_deref(), &|i| bases[i].clone())?;

    let mut first_step = HashMap::new();
    let mut total = 0;
    for &i in &needed {
        first_step.insert(i, total + 1);
        total += 1 + df.stages[i].instructions.len();
    }
    if !req.labels.is_empty() {
        total += 1;
    }

    let mut senders = HashMap::new();
    let mut results = HashMap::new();
    for &i in &needed {
        let (tx, rx) = watch::channel(None);
        senders.insert(i, tx);
        results.insert(i, rx);
    }
    let shared = Arc::new(Shared {
        worker,
        lex,
        meta_args,
        bases,
        first_step,
        total_steps: total,
        target,
        results,
        hashes: HashCache::default(),
        used_args: Mutex::new(used),
        req,
    });

    // Each stage writes to its own channel; the forwarder shows them in stage order, so the
    // output reads as a sequential legacy build even when stages run at the same time.
    let mut stage_rx = Vec::new();
    let mut stage_futs = Vec::new();
    for &i in &needed {
        let (tx, rx) = mpsc::unbounded_channel();
        stage_rx.push(rx);
        let stage_out = Output::new(tx, shared.req.quiet);
        let sh = shared.clone();
        let done = senders.remove(&i).expect("a sender per needed stage");
        stage_futs.push(async move {
            let r = StageBuilder::run(&sh, i, &stage_out).await;
            let _ = done.send(Some(
                r.as_ref().map(|s| s.clone()).map_err(|e| e.to_string()),
            ));
            drop(stage_out);
            r.map(|id| (i, id))
        });
    }
    let fwd_out = out.clone();
    let forward = async move {
        for mut rx in stage_rx {
            while let Some(m) = rx.recv().await {
                match m {
                    Message::Stream(s) => fwd_out.force(s),
                    Message::Raw(v) => fwd_out.raw(v),
                    Message::Aux(v) => fwd_out.aux(v),
                }
            }
        }
    };
    let (results, ()) = tokio::join!(try_join_all(stage_futs), forward);
    let results = results?;
    let mut image = results
        .into_iter()
        .find(|(i, _)| *i == shared.target)
        .map(|(_, id)| id)
        .ok_or_else(|| Error::Invalid("the target stage produced no image".into()))?;

    if !shared.req.labels.is_empty() {
        image = StageBuilder::label_step(&shared, &image, &out).await?;
    }

    let used = shared
        .used_args
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let unused: BTreeSet<&String> = shared
        .req
        .build_args
        .keys()
        .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        out.force(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            list.join(" ")
        ));
    }
    out.aux(serde_json::json!({ "ID": image }));
    if shared.req.quiet {
        out.force(format!("{image}\n"));
    } else {
        out.stream(format!("Successfully built {}\n", short(&image)));
    }
    for t in &shared.req.tags {
        shared.worker.tag(&image, t).await?;
        let shown = if has_tag(t) {
            t.clone()
        } else {
            format!("{t}:latest")
        };
        out.stream(format!("Successfully tagged {shown}\n"));
    }
    Ok(image)
}

/// Whether a reference names a tag or digest (a colon after the last slash).
fn has_tag(r: &str) -> bool {
    let last = r.rsplit('/').next().unwrap_or(r);
    last.contains(':') || r.contains('@')
}

/// The 12-digit short form of an image ID.
pub fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
