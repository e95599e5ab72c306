//! `berth build [OPTIONS] PATH | URL | -` (also `berth image build`, `berth builder build`):
//! packs the context as the docker CLI does, sends it to `POST /build`, and shows the legacy
//! builder's stream — as docker prints it (`--progress plain`), as a live step display on a
//! terminal (`auto`), or only the image ID (`quiet`, `-q`).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_buildcontext::pack::{self, DockerfileSource};
use bytes::Bytes;
use clap::Args;
use serde_json::Value;

use crate::container_config::ram_in_bytes;
use crate::error::{CliError, Result};
use crate::format::size::human_size;
use crate::terminal;
use crate::Ctx;

/// `berth build [OPTIONS] PATH | URL | -`
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Set the target build stage to build.
    #[arg(long, value_name = "string")]
    pub target: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_args: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_name = "stringArray")]
    pub no_cache_filter: Vec<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    pub iidfile: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Set type of progress output (auto, plain, quiet)
    #[arg(long, value_name = "string", default_value = "auto")]
    pub progress: String,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret|env=VAR]")
    #[arg(long, value_name = "stringArray")]
    pub secret: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string", default_value = "default")]
    pub network: String,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes")]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int")]
    pub cpu_quota: Option<i64>,
    /// Remove intermediate containers after a successful build
    #[arg(long, value_name = "bool", default_value = "true", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Build context: a directory, a tar file, a git or http(s) URL, or "-" for stdin
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::invalid_flag("build", msg)
}

/// `k=v` stays; `k` takes the value of `$k` when set and is sent as `null` otherwise (the
/// docker CLI's `ValidateEnv` and `ConvertKVStringsToMapWithNil`).
pub fn build_args(list: &[String]) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), Some(v.to_string()));
            }
            None => {
                out.insert(a.clone(), std::env::var(a).ok());
            }
        }
    }
    out
}

/// `--secret id=x[,src=FILE|source=FILE|env=VAR][,type=file|env]`; with neither `src` nor
/// `env`, the variable named like the id is used, then a file of that name, as buildx does.
pub fn parse_secret(spec: &str) -> std::result::Result<(String, Vec<u8>), String> {
    let mut id = None;
    let mut src = None;
    let mut env = None;
    let mut typ = None;
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field {field:?} must be a key=value pair"))?;
        match k.trim().to_ascii_lowercase().as_str() {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => typ = Some(v.to_string()),
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    let id = id
        .or_else(|| {
            src.as_ref()
                .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
        })
        .ok_or_else(|| format!("secret {spec:?}: id is required"))?;
    if typ.as_deref() == Some("env") && env.is_none() {
        env = Some(src.take().unwrap_or_else(|| id.clone()));
    }
    if let Some(v) = env {
        return std::env::var(&v)
            .map(|s| (id.clone(), s.into_bytes()))
            .map_err(|_| format!("secret {id}: environment variable {v} is not set"));
    }
    let file = match src {
        Some(f) => f,
        None => {
            if let Ok(v) = std::env::var(&id) {
                return Ok((id, v.into_bytes()));
            }
            id.clone()
        }
    };
    std::fs::read(&file)
        .map(|b| (id.clone(), b))
        .map_err(|e| format!("failed to read secret {id} from {file}: {e}"))
}

fn bytes_flag(name: &str, v: &Option<String>) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(s) if s == "-1" => Ok(Some(-1)),
        Some(s) => ram_in_bytes(s)
            .map(Some)
            .ok_or_else(|| usage(format!("invalid argument {s:?} for \"--{name}\" flag"))),
    }
}

/// The request's options from the flags.
fn options(a: &BuildArgs, quiet: bool) -> Result<berth_client::BuildOptions> {
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(berth_client::BuildOptions {
        tags: a.tags.clone(),
        dockerfile: None,
        remote: None,
        context_dir: None,
        quiet,
        no_cache: a.no_cache,
        no_cache_filter: a
            .no_cache_filter
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        pull: a.pull,
        remove: a.rm || a.force_rm,
        force_remove: a.force_rm,
        build_args: build_args(&a.build_args),
        labels,
        target: a.target.clone().filter(|s| !s.is_empty()),
        platform: a.platform.clone().filter(|s| !s.is_empty()),
        network_mode: Some(a.network.clone()).filter(|n| !n.is_empty()),
        extra_hosts: a.add_host.clone(),
        shm_size: bytes_flag("shm-size", &a.shm_size)?,
        memory: bytes_flag("memory", &a.memory)?,
        memory_swap: bytes_flag("memory-swap", &a.memory_swap)?,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
    })
}

const UPLOAD_CLOSED: &str = "the daemon closed the upload";

/// A `std::io::Write` that hands chunks to the async request body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    sent: Arc<AtomicU64>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(1 << 16),
        ));
        self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, UPLOAD_CLOSED))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 16 {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Whether the daemon can read a directory context in place: the client only speaks unix
/// sockets, so the daemon is on this host; it must be Berth (a Docker daemon would wait for a
/// tar), and the user must not have asked for the upload.
async fn reads_context_in_place(ctx: &Ctx) -> bool {
    if std::env::var("BERTH_BUILD_CONTEXT").is_ok_and(|v| v == "upload") {
        return false;
    }
    ctx.client
        .get_json::<serde_json::Value>("/version", &[])
        .await
        .ok()
        .and_then(|v| {
            v["Platform"]["Name"]
                .as_str()
                .map(|n| n.starts_with("Berth"))
        })
        .unwrap_or(false)
}

/// The request body, the thread producing it, and its byte count (none for remote contexts).
type Upload = (
    Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    Option<Producer>,
    Option<Arc<AtomicU64>>,
);

type Producer = tokio::task::JoinHandle<std::result::Result<(), String>>;

/// Runs `produce` on a blocking thread, streaming what it writes as the request body.
fn spawn_body(
    produce: impl FnOnce(&mut ChannelWriter) -> std::result::Result<(), String> + Send + 'static,
) -> (
    Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    Producer,
    Arc<AtomicU64>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let sent = Arc::new(AtomicU64::new(0));
    let mut w = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(1 << 16),
        sent: sent.clone(),
    };
    let handle = tokio::task::spawn_blocking(move || {
        let r = produce(&mut w).and_then(|()| w.send().map_err(|e| e.to_string()));
        if let Err(e) = &r {
            let _ = w.tx.blocking_send(Err(io::Error::other(e.clone())));
        }
        r
    });
    drop(tx);
    let mut rx = rx;
    let stream = Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (
        Box::new(tokio_util::io::StreamReader::new(stream)),
        handle,
        sent,
    )
}

pub async fn run(ctx: &Ctx, a: BuildArgs) -> Result {
    let progress = a.progress.as_str();
    if !matches!(progress, "auto" | "plain" | "tty" | "quiet" | "rawjson") {
        return Err(usage(format!(
            "invalid progress mode {progress:?}: expected auto, plain, tty or quiet"
        )));
    }
    let quiet = a.quiet || progress == "quiet";
    let mut opts = options(&a, quiet)?;
    let mut secrets = Vec::new();
    for s in &a.secret {
        secrets.push(parse_secret(s).map_err(usage)?);
    }
    let stdin_df = a.file.as_deref() == Some("-");
    let context = a.context.as_str();
    let is_remote = berth_buildcontext::is_git_url(context) || berth_buildcontext::is_url(context);
    let (body, producer, sent): Upload = if context == "-" {
        if stdin_df {
            return Err(usage(
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        let (reader, df) = pack::stdin_context(io::stdin(), secrets)
            .map_err(|e| CliError::local(format!("unable to prepare context: {e}")))?;
        opts.dockerfile = df.or_else(|| a.file.clone());
        let (r, h, s) = spawn_body(move |w| {
            let mut reader = reader;
            io::copy(&mut reader, w)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        (Some(r), Some(h), Some(s))
    } else if is_remote {
        if !secrets.is_empty() {
            return Err(usage(
                "--secret is not supported with a remote build context",
            ));
        }
        opts.remote = Some(context.to_string());
        opts.dockerfile = a.file.clone();
        (None, None, None)
    } else if Path::new(context).is_file() {
        // A tar file: sent as it is (the daemon sniffs its compression).
        if !secrets.is_empty() {
            return Err(usage(
                "--secret is not supported with an archive build context; use a directory",
            ));
        }
        let f =
            pack::open_archive(Path::new(context)).map_err(|e| CliError::local(e.to_string()))?;
        opts.dockerfile = a.file.clone();
        let (r, h, s) = spawn_body(move |w| {
            let mut f = f;
            io::copy(&mut f, w).map(|_| ()).map_err(|e| e.to_string())
        });
        (Some(r), Some(h), Some(s))
    } else {
        let source = match a.file.as_deref() {
            None | Some("") => DockerfileSource::Default,
            Some("-") => {
                let mut b = Vec::new();
                io::stdin().read_to_end(&mut b).map_err(|e| {
                    CliError::local(format!("reading the Dockerfile from stdin: {e}"))
                })?;
                DockerfileSource::Bytes(b)
            }
            Some(p) => DockerfileSource::Path(PathBuf::from(p)),
        };
        let mut plan = pack::plan_dir(Path::new(context), source)
            .map_err(|e| CliError::local(format!("unable to prepare context: {e}")))?;
        for (id, v) in secrets {
            plan.add_secret(&id, v).map_err(|e| usage(e.to_string()))?;
        }
        opts.dockerfile = Some(plan.dockerfile_name().to_string());
        if plan.is_self_contained() && reads_context_in_place(ctx).await {
            // The daemon is Berth on this host: it links the directory instead of receiving
            // every byte of it (BERTH_BUILD_CONTEXT=upload sends the tar anyway).
            opts.context_dir = Some(plan.context_dir().display().to_string());
            (None, None, None)
        } else {
            let (r, h, s) =
                spawn_body(move |w| plan.write_to(w).map(|_| ()).map_err(|e| e.to_string()));
            (Some(r), Some(h), Some(s))
        }
    };

    let tty = terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stderr()))
        && terminal::is_tty(std::os::fd::AsFd::as_fd(&std::io::stdout()));
    let mode = match progress {
        _ if quiet => Mode::Quiet,
        "plain" | "rawjson" => Mode::Plain,
        "tty" => Mode::Live,
        _ if tty => Mode::Live,
        _ => Mode::Plain,
    };

    let resp = ctx.client.build(&opts, body).await;
    // A failure to read the context explains a failed upload better than the transport does.
    // (A daemon that answers before reading the whole body closes the upload: that is not
    // the context's fault, and the daemon's answer is the error to show.)
    if let (Err(_), Some(h)) = (&resp, producer) {
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(2), h).await {
            if !e.contains(UPLOAD_CLOSED) {
                return Err(CliError::local(format!("unable to prepare context: {e}")));
            }
        }
    }
    let mut stream = resp?;
    if let (Some(sent), Mode::Plain) = (&sent, mode) {
        // Byte for byte what the docker CLI's last upload progress line is.
        out!(
            "Sending build context to Docker daemon  {}\r\r\n",
            human_size(sent.load(Ordering::Relaxed) as f64)
        );
    }
    let image_id = match mode {
        Mode::Quiet => render_quiet(&mut stream).await?,
        Mode::Plain => render_plain(&mut stream).await?,
        Mode::Live => render_live(&mut stream).await?,
    };
    if let Some(path) = &a.iidfile {
        let Some(id) = &image_id else {
            return Err(CliError::local(format!(
                "Server did not provide an image ID. Cannot write {path}"
            )));
        };
        write_atomic(Path::new(path), id.as_bytes())
            .map_err(|e| CliError::local(format!("writing {path}: {e}")))?;
    }
    if let (Some(id), false) = (&image_id, mode == Mode::Quiet) {
        // Advice only: a daemon that cannot make the report does not fail the build.
        let _ = super::layers::print_waste_report(&ctx.client, id, &mut std::io::stdout()).await;
    }
    Ok(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Plain,
    Live,
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The error in a message, with docker's exit code rule (errorDetail.code, else 1).
fn stream_error(m: &Value) -> Option<CliError> {
    let msg = m
        .get("errorDetail")
        .and_then(|e| e.get("message"))
        .or_else(|| m.get("error"))
        .and_then(Value::as_str)?;
    let code = m
        .get("errorDetail")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64)
        .filter(|c| *c != 0)
        .unwrap_or(1);
    Some(CliError::Status {
        code: code as i32,
        message: Some(msg.to_string()),
    })
}

fn aux_id(m: &Value) -> Option<String> {
    m.get("aux")
        .and_then(|a| a.get("ID"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

async fn render_quiet(stream: &mut berth_client::JsonStream<Value>) -> Result<Option<String>> {
    let mut out = String::new();
    let mut id = None;
    while let Some(m) = stream.next().await? {
        if let Some(e) = stream_error(&m) {
            return Err(e);
        }
        if let Some(i) = aux_id(&m) {
            id = Some(i);
        }
        if let Some(s) = m.get("stream").and_then(Value::as_str) {
            out.push_str(s);
        }
    }
    // The daemon's quiet stream is the image ID alone, which docker prints; when the daemon
    // also says which ID it built (`aux`), that is the one line to print.
    let text = match &id {
        Some(i) => format!("{i}\n"),
        None => out,
    };
    out!("{text}");
    Ok(id.or_else(|| Some(text.trim().to_string()).filter(|s| !s.is_empty())))
}

/// docker's `jsonmessage.DisplayJSONMessagesStream` without a terminal.
async fn render_plain(stream: &mut berth_client::JsonStream<Value>) -> Result<Option<String>> {
    let mut id = None;
    while let Some(m) = stream.next().await? {
        if let Some(e) = stream_error(&m) {
            return Err(e);
        }
        if let Some(i) = aux_id(&m) {
            id = Some(i);
            continue;
        }
        if let Some(s) = m.get("stream").and_then(Value::as_str) {
            out!("{s}");
        } else if let Some(s) = m.get("status").and_then(Value::as_str) {
            let progress = m.get("progress").and_then(Value::as_str).unwrap_or("");
            match m.get("id").and_then(Value::as_str) {
                Some(i) => outln!("{i}: {s} {progress}"),
                None => outln!("{s} {progress}"),
            }
        }
    }
    Ok(id)
}

/// Lines of the running step's output kept on screen.
const TAIL: usize = 6;

/// The live display: one spinner line per running step with its elapsed time and the tail of
/// its output; finished steps collapse to one line with their duration.
async fn render_live(stream: &mut berth_client::JsonStream<Value>) -> Result<Option<String>> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let style = ProgressStyle::with_template("{spinner:.cyan} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut id = None;
    let mut bar: Option<(ProgressBar, String, Instant)> = None;
    let mut tail: Vec<String> = Vec::new();
    let mut partial = String::new();
    let mut trailer: Vec<String> = Vec::new();
    let start = Instant::now();
    // Lines wider than the terminal would wrap and break the in-place redraw.
    let width = terminal::size().map_or(80, |(_, c)| c as usize).max(20);
    let cut = |l: &str, room: usize| -> String { l.chars().take(room).collect() };
    let redraw = |bar: &Option<(ProgressBar, String, Instant)>, tail: &[String]| {
        if let Some((b, title, t0)) = bar {
            let secs = format!(" {:.1}s", t0.elapsed().as_secs_f64());
            let mut msg = cut(title, width.saturating_sub(4 + secs.len()));
            msg.push_str(&secs);
            for l in tail {
                msg.push_str("\n   │ ");
                msg.push_str(&cut(l, width.saturating_sub(6)));
            }
            b.set_message(msg);
        }
    };
    let finish = |bar: &mut Option<(ProgressBar, String, Instant)>, ok: bool| {
        if let Some((b, title, t0)) = bar.take() {
            b.finish_and_clear();
            let mark = if ok { "✔" } else { "✘" };
            errln!("{mark} {title} ({:.1}s)", t0.elapsed().as_secs_f64());
        }
    };
    loop {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let m = match next {
            Err(_) => {
                // No message: only the spinner and the elapsed time move.
                redraw(&bar, &tail);
                continue;
            }
            Ok(m) => m?,
        };
        let Some(m) = m else { break };
        if let Some(e) = stream_error(&m) {
            if let Some((b, _, _)) = &bar {
                b.finish_and_clear();
            }
            for l in &tail {
                errln!("   │ {l}");
            }
            finish(&mut bar, false);
            return Err(e);
        }
        if let Some(i) = aux_id(&m) {
            id = Some(i);
            continue;
        }
        let text = match (m.get("stream"), m.get("status")) {
            (Some(s), _) => s.as_str().unwrap_or("").to_string(),
            (None, Some(s)) => format!("{}\n", s.as_str().unwrap_or("")),
            _ => continue,
        };
        partial.push_str(&text);
        while let Some(nl) = partial.find('\n') {
            let line: String = partial.drain(..=nl).collect();
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            if let Some(rest) = line.strip_prefix("Step ") {
                finish(&mut bar, true);
                tail.clear();
                let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                b.set_style(style.clone());
                b.enable_steady_tick(Duration::from_millis(120));
                bar = Some((
                    b,
                    format!("[{}", rest.replacen(" : ", "] ", 1)),
                    Instant::now(),
                ));
                redraw(&bar, &tail);
            } else if line.starts_with("Successfully built")
                || line.starts_with("Successfully tagged")
            {
                finish(&mut bar, true);
                trailer.push(line);
            } else if line.starts_with(" ---> ")
                || line.starts_with("Removing intermediate container")
            {
                // Bookkeeping lines of the legacy builder: not worth screen space.
            } else if !line.trim().is_empty() {
                tail.push(line);
                if tail.len() > TAIL {
                    tail.remove(0);
                }
                redraw(&bar, &tail);
            }
        }
    }
    finish(&mut bar, true);
    errln!("Build finished in {:.1}s", start.elapsed().as_secs_f64());
    for l in trailer {
        outln!("{l}");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_take_the_environment_for_bare_names() {
        std::env::set_var("BERTH_TEST_BUILD_ARG", "from-env");
        let m = build_args(&[
            "A=1".into(),
            "B=".into(),
            "BERTH_TEST_BUILD_ARG".into(),
            "BERTH_TEST_SURELY_UNSET".into(),
        ]);
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some(""));
        assert_eq!(m["BERTH_TEST_BUILD_ARG"].as_deref(), Some("from-env"));
        assert_eq!(m["BERTH_TEST_SURELY_UNSET"], None);
    }

    #[test]
    fn secrets_from_files_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "s3cret").unwrap();
        let (id, v) = parse_secret(&format!("id=tok,src={}", f.display())).unwrap();
        assert_eq!((id.as_str(), v.as_slice()), ("tok", &b"s3cret"[..]));
        std::env::set_var("BERTH_TEST_SECRET", "e");
        let (id, v) = parse_secret("id=x,env=BERTH_TEST_SECRET").unwrap();
        assert_eq!((id.as_str(), v.as_slice()), ("x", &b"e"[..]));
        assert!(parse_secret("id=x,env=BERTH_TEST_SURELY_UNSET").is_err());
        assert!(parse_secret("nonsense").is_err());
    }
}
