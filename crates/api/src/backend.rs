//! What the API needs from the engine. The daemon implements [`Backend`]; routes only translate
//! between HTTP and these calls.

use std::collections::HashMap;
use std::pin::Pin;

use async_trait::async_trait;
use berth_types::api;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ApiError;

pub type ApiResult<T> = Result<T, ApiError>;

/// Docker's `filters` query parameter: `{"status":["running"],"label":["a=b"]}` (the legacy
/// `{"status":{"running":true}}` shape is accepted too).
pub type Filters = HashMap<String, Vec<String>>;

/// A duplex byte stream taken over from an HTTP connection (attach, exec start).
pub trait DuplexStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> DuplexStream for T {}

/// The engine's side of a hijacked connection: bytes it produces go to the client (already in
/// stdcopy framing unless `tty`), bytes the client sends are the process's stdin, and a
/// half-close from the client is passed on as the end of stdin.
pub struct AttachedStream {
    pub tty: bool,
    pub stream: Pin<Box<dyn DuplexStream>>,
    /// Fired once the client holds the upgraded connection (its 101 head is written), for
    /// engines that must not produce output before then.
    pub on_upgraded: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A stream of body chunks (log output, JSON messages).
pub type ByteStream = BoxStream<'static, Bytes>;

/// A future that resolves when a waited-for container reaches its condition.
pub type WaitFuture = Pin<Box<dyn std::future::Future<Output = api::ContainerWaitResponse> + Send>>;

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix seconds (fractional), 0 = from the start.
    pub since: f64,
    /// Unix seconds (fractional), 0 = no limit.
    pub until: f64,
    pub timestamps: bool,
    /// `None` = all lines.
    pub tail: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log before streaming.
    pub logs: bool,
    pub stream: bool,
    pub detach_keys: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// The result of a state change that may already have happened (Docker answers 304).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Yes,
    AlreadyInState,
}

#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Unix seconds; `None` = only new events.
    pub since: Option<f64>,
    /// Unix seconds; `None` = stream until the client goes away.
    pub until: Option<f64>,
    pub filters: Filters,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
    /// `fromSrc=<URL>`: the daemon downloads the tar (the request body is then empty).
    pub url: Option<String>,
}

/// A path's stat inside a container, as `X-Docker-Container-Path-Stat` carries it (base64 of
/// this JSON; `mode` is Go's `os.FileMode`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ArchiveStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Dockerfile instructions (`CMD …`, `ENV …`) applied to the new image's config.
    pub changes: Vec<String>,
    pub pause: bool,
}

/// `POST /images/create?fromImage=`.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub from_image: String,
    /// A tag or a digest; `None` pulls every tag.
    pub tag: Option<String>,
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header.
    pub auth: Option<String>,
}

/// `POST /build` (the legacy builder's API, which the docker CLI uses without buildx).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `dockerfile`: path inside the context (default `Dockerfile`), or a path the `remote`
    /// context defines.
    pub dockerfile: Option<String>,
    /// `t`, repeated: `name[:tag]` for the result.
    pub tags: Vec<String>,
    /// `remote`: a git URL (`...git#ref:subdir`) or an http(s) URL of a tar or a Dockerfile;
    /// the request body is then empty.
    pub remote: Option<String>,
    /// `berthcontextdir` (Berth extension, for clients on the daemon's host): the context is
    /// this absolute directory, read in place; the request body is then empty.
    pub context_dir: Option<String>,
    /// `q`: only the image ID in the stream.
    pub quiet: bool,
    /// `nocache`.
    pub no_cache: bool,
    /// `nocachefilter` (Berth extension, BuildKit's `--no-cache-filter`): stage names.
    pub no_cache_filter: Vec<String>,
    /// `pull`: re-pull every `FROM` image.
    pub pull: bool,
    /// `rm` (default true) / `forcerm`: remove intermediate containers after success / always.
    pub remove: bool,
    pub force_remove: bool,
    /// `buildargs` (JSON object; a `null` value means "from the client's environment", which
    /// the client has already resolved).
    pub build_args: HashMap<String, Option<String>>,
    /// `labels` (JSON object) added to the final image.
    pub labels: HashMap<String, String>,
    /// `target`: the stage to stop at.
    pub target: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// `networkmode` for `RUN` (`default`, `none`, `host`, a network name).
    pub network_mode: Option<String>,
    /// `extrahosts` (`host:ip`, comma-separated in the query).
    pub extra_hosts: Vec<String>,
    /// `shmsize`, `memory`, `memswap`, `cpushares`, `cpusetcpus`, `cpuperiod`, `cpuquota` for
    /// `RUN` containers.
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    /// `X-Registry-Config`: base64 JSON of registry → auth config, for pulling `FROM` images.
    pub registry_config: Option<String>,
}

/// `POST /build/prune`.
#[derive(Debug, Clone, Default)]
pub struct BuildPruneOptions {
    /// `all`: also cache records still reachable from tagged images.
    pub all: bool,
    /// `keep-storage` / `reserved-space` in bytes.
    pub keep_storage: Option<u64>,
    pub filters: Filters,
}

/// The engine behind the API.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    // --- system ---
    async fn version(&self) -> ApiResult<api::SystemVersion>;
    async fn info(&self) -> ApiResult<serde_json::Value>;
    async fn events(&self, opts: EventsOptions)
        -> ApiResult<BoxStream<'static, api::EventMessage>>;

    // --- containers ---
    async fn container_create(
        &self,
        name: Option<String>,
        body: api::ContainerCreateBody,
    ) -> ApiResult<api::ContainerCreateResponse>;
    async fn container_list(&self, opts: ListOptions) -> ApiResult<Vec<api::ContainerSummary>>;
    async fn container_inspect(&self, id: &str, size: bool) -> ApiResult<serde_json::Value>;
    async fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> ApiResult<api::ContainerTopResponse>;
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> ApiResult<(bool, ByteStream)>;
    async fn container_start(&self, id: &str) -> ApiResult<Changed>;
    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> ApiResult<Changed>;
    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> ApiResult<()>;
    async fn container_kill(&self, id: &str, signal: Option<String>) -> ApiResult<()>;
    async fn container_pause(&self, id: &str) -> ApiResult<()>;
    async fn container_unpause(&self, id: &str) -> ApiResult<()>;
    async fn container_rename(&self, id: &str, new_name: &str) -> ApiResult<()>;
    async fn container_resize(&self, id: &str, height: u16, width: u16) -> ApiResult<()>;
    /// Registers the waiter and returns the future of its answer; errors (no such container)
    /// are reported before the 200 is sent.
    async fn container_wait(&self, id: &str, condition: WaitCondition) -> ApiResult<WaitFuture>;
    async fn container_remove(&self, id: &str, force: bool, volumes: bool) -> ApiResult<()>;
    async fn container_prune(&self, filters: Filters) -> ApiResult<api::ContainerPruneResponse>;
    async fn container_attach(&self, id: &str, opts: AttachOptions) -> ApiResult<AttachedStream>;
    /// `GET /containers/{id}/stats`: one JSON document per line, in Docker's shape; a single one
    /// when `stream` is false (after a second, so that `precpu_stats` is filled, unless
    /// `one_shot`).
    async fn container_stats(
        &self,
        _id: &str,
        _stream: bool,
        _one_shot: bool,
    ) -> ApiResult<ByteStream> {
        Err(ApiError::not_implemented("container stats"))
    }
    /// `POST /containers/{id}/update`: new resource limits (and restart policy).
    async fn container_update(
        &self,
        _id: &str,
        _body: api::ContainerUpdateBody,
    ) -> ApiResult<api::ContainerUpdateResponse> {
        Err(ApiError::not_implemented("container update"))
    }

    // --- exec ---
    async fn exec_create(&self, id: &str, config: api::ExecConfig) -> ApiResult<api::IdResponse>;
    /// `None` when detached.
    async fn exec_start(
        &self,
        exec_id: &str,
        config: api::ExecStartConfig,
    ) -> ApiResult<Option<AttachedStream>>;
    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> ApiResult<()>;
    async fn exec_inspect(&self, exec_id: &str) -> ApiResult<serde_json::Value>;

    // --- images ---
    async fn image_list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> ApiResult<Vec<api::ImageSummary>>;
    async fn image_inspect(&self, name: &str) -> ApiResult<serde_json::Value>;
    /// Loads a `docker save` or OCI layout archive; the stream carries JSON progress messages.
    async fn image_load(&self, body: ByteStream, quiet: bool) -> ApiResult<ByteStream>;
    /// Imports a rootfs tar as a one-layer image; the stream carries JSON progress messages.
    async fn image_import(&self, body: ByteStream, opts: ImportOptions) -> ApiResult<ByteStream>;
    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> ApiResult<Vec<api::ImageDeleteResponseItem>>;
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> ApiResult<()>;

    // --- image command set: history, prune, save, commit, diff, export, df, check ---
    async fn image_history(&self, name: &str) -> ApiResult<Vec<api::ImageHistoryResponseItem>>;
    async fn image_prune(&self, filters: Filters) -> ApiResult<api::ImagePruneResponse>;
    /// A `docker save` archive (Docker 25+ layout: OCI layout plus `manifest.json`).
    async fn image_save(&self, names: Vec<String>) -> ApiResult<ByteStream>;
    /// Returns the new image's ID.
    async fn container_commit(&self, opts: CommitOptions) -> ApiResult<String>;
    async fn container_changes(&self, id: &str) -> ApiResult<Vec<api::FilesystemChange>>;
    async fn container_export(&self, id: &str) -> ApiResult<ByteStream>;
    async fn system_df(&self) -> ApiResult<serde_json::Value>;
    /// Verifies (and with `repair` fixes) the image store; a Berth extension.
    async fn system_check(&self, repair: bool) -> ApiResult<serde_json::Value>;
    /// `docker cp`: the stat of a path in a container (`X-Docker-Container-Path-Stat`).
    async fn archive_stat(&self, id: &str, path: &str) -> ApiResult<ArchiveStat>;
    /// `docker cp` out: the stat and a tar of the path.
    async fn archive_get(&self, id: &str, path: &str) -> ApiResult<(ArchiveStat, ByteStream)>;
    /// `docker cp` in: extracts a tar into a directory of the container.
    async fn archive_put(
        &self,
        id: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        body: ByteStream,
    ) -> ApiResult<()>;
    // --- volumes (JSON values: Docker prints `null` for empty labels and options) ---
    async fn volume_list(&self, filters: Filters) -> ApiResult<serde_json::Value>;
    async fn volume_create(&self, req: api::VolumeCreateRequest) -> ApiResult<serde_json::Value>;
    async fn volume_inspect(&self, name: &str) -> ApiResult<serde_json::Value>;
    /// `force` ignores a missing volume; one in use is refused (409) either way.
    async fn volume_remove(&self, name: &str, force: bool) -> ApiResult<()>;
    async fn volume_prune(&self, filters: Filters) -> ApiResult<serde_json::Value>;
    /// Every volume with its `UsageData` (`Size`, `RefCount`), for `/system/df`.
    async fn volume_disk_usage(&self) -> ApiResult<Vec<serde_json::Value>>;
    // --- networks (Docker's JSON shapes, built by the engine) ---
    async fn network_list(&self, filters: Filters) -> ApiResult<Vec<serde_json::Value>>;
    async fn network_inspect(&self, id: &str) -> ApiResult<serde_json::Value>;
    async fn network_create(&self, req: api::NetworkCreateRequest) -> ApiResult<serde_json::Value>;
    async fn network_remove(&self, id: &str) -> ApiResult<()>;
    async fn network_prune(&self, filters: Filters) -> ApiResult<serde_json::Value>;
    async fn network_connect(&self, id: &str, req: api::NetworkConnectRequest) -> ApiResult<()>;
    async fn network_disconnect(
        &self,
        id: &str,
        req: api::NetworkDisconnectRequest,
    ) -> ApiResult<()>;
    // --- distribution (defaults answer 501 until an engine implements them) ---
    /// Pulls an image; the stream carries Docker's JSON progress messages.
    async fn image_pull(&self, _opts: PullOptions) -> ApiResult<ByteStream> {
        Err(ApiError::not_implemented("pulling images from a registry"))
    }
    /// Pushes `name` (`tag`: one tag; `None`: every tag); JSON progress messages.
    async fn image_push(
        &self,
        _name: &str,
        _tag: Option<String>,
        _auth: Option<String>,
    ) -> ApiResult<ByteStream> {
        Err(ApiError::not_implemented("image push"))
    }
    /// `POST /auth`: checks credentials against a registry.
    async fn registry_login(&self, _body: serde_json::Value) -> ApiResult<serde_json::Value> {
        Err(ApiError::not_implemented("registry login"))
    }
    /// `GET /distribution/{name}/json`.
    async fn distribution_inspect(
        &self,
        _name: &str,
        _auth: Option<String>,
    ) -> ApiResult<serde_json::Value> {
        Err(ApiError::not_implemented("distribution inspection"))
    }
    /// `GET /images/search`.
    async fn image_search(
        &self,
        _term: &str,
        _limit: Option<usize>,
        _filters: Filters,
        _auth: Option<String>,
    ) -> ApiResult<serde_json::Value> {
        Err(ApiError::not_implemented("image search"))
    }
    // --- Berth extensions ---
    /// `GET /images/{name}/layers`: what each layer adds and which bytes later layers delete
    /// or overwrite (see `berth_types::waste`).
    async fn image_layers(&self, _name: &str) -> ApiResult<berth_types::waste::LayerReport> {
        Err(ApiError::not_implemented("the layer report"))
    }
    // --- build ---
    /// Builds an image from `context` (a tar, possibly compressed; empty when
    /// `opts.remote` is set). The stream carries the legacy builder's JSON messages
    /// (`{"stream":"Step 1/7 : ..."}`, `{"aux":{"ID":...}}`, `{"error":...,"errorDetail":...}`).
    async fn build(&self, _opts: BuildOptions, _context: ByteStream) -> ApiResult<ByteStream> {
        Err(ApiError::not_implemented("image build"))
    }
    /// `POST /build/prune`: `{"CachesDeleted":[...],"SpaceReclaimed":n}`.
    async fn build_prune(&self, _opts: BuildPruneOptions) -> ApiResult<serde_json::Value> {
        Err(ApiError::not_implemented("build cache pruning"))
    }
}
