//! The engine against an in-memory worker: planning, parallel stages, the cache, COPY layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_types::image::{History, ImageConfig};

use crate::*;

/// Parent, config, and every file path of the image's layers.
type FakeImage = (Option<String>, ImageConfig, Vec<String>);

#[derive(Default)]
struct Fake {
    images: Mutex<HashMap<String, FakeImage>>,
    cache: Mutex<HashMap<String, String>>,
    runs: Mutex<Vec<Vec<String>>>,
    tags: Mutex<HashMap<String, String>>,
    barrier: Option<tokio::sync::Barrier>,
    scratch: PathBuf,
}

impl Fake {
    fn new(scratch: &Path) -> Fake {
        let f = Fake {
            scratch: scratch.to_path_buf(),
            ..Default::default()
        };
        f.images.lock().unwrap().insert(
            "sha256:base".into(),
            (None, ImageConfig::default(), Vec::new()),
        );
        f
    }

    fn store(&self, parent: Option<&str>, mut config: ImageConfig, files: Vec<String>) -> String {
        let mut all = parent
            .and_then(|p| self.images.lock().unwrap().get(p).map(|i| i.2.clone()))
            .unwrap_or_default();
        all.extend(files);
        config.created = None;
        for h in &mut config.history {
            h.created = None;
        }
        let n = self.images.lock().unwrap().len();
        let id = format!("sha256:{n:064x}");
        self.images
            .lock()
            .unwrap()
            .insert(id.clone(), (parent.map(str::to_string), config, all));
        id
    }

    fn files(&self, id: &str) -> Vec<String> {
        self.images.lock().unwrap()[id].2.clone()
    }
}

struct NoMount(PathBuf);
impl MountedImage for NoMount {
    fn path(&self) -> &Path {
        &self.0
    }
}

#[async_trait]
impl Worker for Fake {
    async fn resolve_image(&self, name: &str, _pull: bool, _out: &Output) -> Result<BaseImage> {
        let id = if name == "base" { "sha256:base" } else { name };
        let cfg = self
            .images
            .lock()
            .unwrap()
            .get(id)
            .map(|i| i.1.clone())
            .ok_or_else(|| Error::NotFound(name.into()))?;
        Ok(BaseImage {
            id: id.into(),
            config: cfg,
        })
    }
    async fn image_config(&self, id: &str) -> Result<ImageConfig> {
        Ok(self.images.lock().unwrap()[id].1.clone())
    }
    async fn run(&self, req: RunRequest, out: &Output) -> Result<String> {
        let script = req.argv.last().cloned().unwrap_or_default();
        self.runs.lock().unwrap().push(req.argv.clone());
        if script.contains("parallel") {
            if let Some(b) = &self.barrier {
                tokio::time::timeout(Duration::from_secs(10), b.wait())
                    .await
                    .map_err(|_| Error::Invalid("stages did not run in parallel".into()))?;
            }
        }
        if let Some(code) = script.strip_prefix("exit ") {
            return Err(Error::RunFailed {
                command: script.clone(),
                code: code.parse().unwrap_or(1),
            });
        }
        out.stream(format!("ran {script}\n"));
        Ok(self.store(
            req.image.as_deref(),
            req.commit_config,
            vec![format!("run:{script}")],
        ))
    }
    async fn commit(
        &self,
        parent: Option<&str>,
        config: ImageConfig,
        layer: NewLayer,
    ) -> Result<String> {
        let mut files = Vec::new();
        if let NewLayer::Tar(p) = layer {
            let mut a = tar::Archive::new(std::fs::File::open(&p).unwrap());
            for e in a.entries().unwrap() {
                let e = e.unwrap();
                let h = e.header();
                files.push(format!(
                    "{} {}:{} {:o}",
                    e.path().unwrap().display(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap()
                ));
            }
            let _ = std::fs::remove_file(p);
        }
        Ok(self.store(parent, config, files))
    }
    async fn mount(&self, _id: &str) -> Result<Box<dyn MountedImage>> {
        let d = self.scratch.join("empty-root");
        std::fs::create_dir_all(&d).unwrap();
        Ok(Box::new(NoMount(d)))
    }
    async fn cache_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.cache.lock().unwrap().get(key).cloned())
    }
    async fn cache_put(&self, key: &str, id: &str) -> Result<()> {
        self.cache.lock().unwrap().insert(key.into(), id.into());
        Ok(())
    }
    async fn tag(&self, id: &str, tag: &str) -> Result<()> {
        self.tags.lock().unwrap().insert(tag.into(), id.into());
        Ok(())
    }
    fn scratch_dir(&self) -> PathBuf {
        self.scratch.clone()
    }
    fn cache_mount_dir(&self, id: &str) -> Result<PathBuf> {
        Ok(self.scratch.join("cache").join(id))
    }
}

fn request(df: &str, ctx: &Path) -> BuildRequest {
    BuildRequest {
        dockerfile: parse(df).unwrap(),
        context_dir: ctx.to_path_buf(),
        secrets: HashMap::new(),
        tags: vec!["t:1".into()],
        target: None,
        build_args: HashMap::new(),
        labels: HashMap::new(),
        no_cache: false,
        no_cache_filter: Vec::new(),
        pull: false,
        network_mode: None,
        extra_hosts: Vec::new(),
        quiet: false,
        remove: true,
        force_remove: false,
    }
}

async fn go(w: &Arc<Fake>, req: BuildRequest) -> (Result<String>, String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = build(w.clone(), req, Output::new(tx, false)).await;
    let mut text = String::new();
    while let Ok(m) = rx.try_recv() {
        if let Message::Stream(s) = m {
            text.push_str(&s);
        }
    }
    (r, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_stages_run_in_parallel_and_print_in_order() {
    let d = tempfile::tempdir().unwrap();
    let mut w = Fake::new(d.path());
    w.barrier = Some(tokio::sync::Barrier::new(2));
    let w = Arc::new(w);
    let df = "FROM base AS a\nRUN parallel a\nFROM base AS b\nRUN parallel b\nFROM base\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n";
    // Both stages must be waiting at the barrier at once, or the build times out.
    let (r, text) = go(&w, request(df, d.path())).await;
    let err = r.err().map(|e| e.to_string()).unwrap_or_default();
    // /x does not exist in the fake mount: the COPY fails, after both stages ran.
    assert!(err.contains("COPY failed"), "{err}\n{text}");
    assert_eq!(w.runs.lock().unwrap().len(), 2);
    let a = text.find("ran parallel a").unwrap();
    let b = text.find("Step 3/7 : FROM base AS b").unwrap();
    assert!(a < b, "stage a's output comes first: {text}");
}

#[tokio::test]
async fn target_builds_only_needed_stages() {
    let d = tempfile::tempdir().unwrap();
    let w = Arc::new(Fake::new(d.path()));
    let df = "FROM base AS a\nRUN one\nFROM base AS b\nRUN two\nFROM a AS c\nRUN three\n";
    let mut req = request(df, d.path());
    req.target = Some("c".into());
    let (r, text) = go(&w, req).await;
    let id = r.unwrap();
    let runs: Vec<String> = w
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|a| a[2].clone())
        .collect();
    assert_eq!(runs, vec!["one", "three"], "{text}");
    assert_eq!(w.files(&id), vec!["run:one", "run:three"]);
    assert!(text.contains("Step 4/4 : RUN three"), "{text}");
    assert_eq!(w.tags.lock().unwrap()["t:1"], id);
}

#[tokio::test]
async fn cache_reuses_until_a_copied_file_changes() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(ctx.join("package.json"), "{}").unwrap();
    std::fs::write(ctx.join("src/app.js"), "1").unwrap();
    let w = Arc::new(Fake::new(d.path()));
    let df = "FROM base\nCOPY package.json /app/\nRUN install\nCOPY src /app/src\nRUN build\n";
    let (r1, _) = go(&w, request(df, &ctx)).await;
    let (r2, t2) = go(&w, request(df, &ctx)).await;
    assert_eq!(r1.unwrap(), r2.unwrap());
    assert_eq!(t2.matches("Using cache").count(), 4, "{t2}");
    std::fs::write(ctx.join("src/app.js"), "2").unwrap();
    let (r3, t3) = go(&w, request(df, &ctx)).await;
    r3.unwrap();
    assert_eq!(t3.matches("Using cache").count(), 2, "{t3}");
    let runs: Vec<String> = w
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|a| a[2].clone())
        .collect();
    assert_eq!(runs, vec!["install", "build", "build"]);
}

#[tokio::test]
async fn copy_layers_follow_docker_destination_rules() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(ctx.join("dir/sub")).unwrap();
    std::fs::write(ctx.join("a.txt"), "a").unwrap();
    std::fs::write(ctx.join("b.txt"), "b").unwrap();
    std::fs::write(ctx.join("dir/sub/c"), "c").unwrap();
    let w = Arc::new(Fake::new(d.path()));
    let df = "FROM base\nWORKDIR /w\nCOPY *.txt out/\nCOPY --chown=7:8 --chmod=600 dir /d\nCOPY a.txt renamed\n";
    let (r, text) = go(&w, request(df, &ctx)).await;
    let id = r.unwrap_or_else(|e| panic!("{e}\n{text}"));
    let files = w.files(&id).join("\n");
    assert!(files.contains("w/out/a.txt 0:0"), "{files}");
    assert!(files.contains("w/out/b.txt 0:0"), "{files}");
    assert!(files.contains("d/sub/c 7:8 600"), "{files}");
    assert!(files.contains("w/renamed 0:0"), "{files}");
    // Several sources need a directory destination.
    let (r, _) = go(&w, request("FROM base\nCOPY a.txt b.txt /one\n", &ctx)).await;
    assert!(r.unwrap_err().to_string().contains("must be a directory"));
    // A failing RUN names the command and its code.
    let (r, _) = go(&w, request("FROM base\nRUN exit 7\n", &ctx)).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), Some(7));
    assert_eq!(
        e.to_string(),
        "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    );
}

#[tokio::test]
async fn args_env_and_history() {
    let d = tempfile::tempdir().unwrap();
    let w = Arc::new(Fake::new(d.path()));
    let df = "ARG V=1\nFROM base\nARG V\nARG W=w\nENV E=$V-$W\nRUN echo $E\nLABEL l=$W\n";
    let mut req = request(df, d.path());
    req.build_args.insert("V".into(), Some("9".into()));
    req.build_args
        .insert("HTTP_PROXY".into(), Some("http://p".into()));
    let (r, text) = go(&w, req).await;
    let id = r.unwrap();
    let cfg = w.images.lock().unwrap()[&id].1.clone();
    let c = cfg.config.unwrap();
    assert!(c.env.unwrap().contains(&"E=9-w".to_string()));
    assert_eq!(c.labels.unwrap()["l"], "w");
    let run = cfg
        .history
        .iter()
        .find(|h: &&History| !h.empty_layer)
        .and_then(|h| h.created_by.clone())
        .unwrap();
    // Declared args are in the history; the proxy arg is not.
    assert_eq!(run, "|2 V=9 W=w /bin/sh -c echo $E");
    assert!(!text.contains("were not consumed"), "{text}");
}

#[tokio::test]
async fn exclude_and_no_cache_filter() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(ctx.join("docs")).unwrap();
    std::fs::write(ctx.join("keep.txt"), "k").unwrap();
    std::fs::write(ctx.join("skip.md"), "s").unwrap();
    std::fs::write(ctx.join("docs/also.md"), "s").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "x").unwrap();
    let w = Arc::new(Fake::new(d.path()));
    let df = "FROM base AS deps\nRUN deps\nFROM deps AS app\nCOPY --exclude=*.md --exclude=Dockerfile . /x/\nRUN app\n";
    let (r, _) = go(&w, request(df, &ctx)).await;
    let id = r.unwrap();
    let files = w.files(&id).join("\n");
    assert!(files.contains("x/keep.txt"), "{files}");
    assert!(!files.contains(".md"), "{files}");
    assert!(!files.contains("Dockerfile"), "{files}");
    // no-cache-filter rebuilds the named stage only.
    let mut req = request(df, &ctx);
    req.no_cache_filter = vec!["app".into()];
    let (r, text) = go(&w, req).await;
    r.unwrap();
    assert_eq!(text.matches("Using cache").count(), 1, "{text}");
    let runs: Vec<String> = w
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|a| a[2].clone())
        .collect();
    assert_eq!(runs, vec!["deps", "app", "app"]);
}
