//! The Engine API's [`Backend`], implemented by delegating to the daemon's verbs.

use async_trait::async_trait;
use berth_api::backend::*;
use berth_types::api;
use futures_util::stream::BoxStream;
use serde_json::Value;

use crate::Daemon;

#[async_trait]
impl Backend for Daemon {
    async fn version(&self) -> ApiResult<api::SystemVersion> {
        Ok(self.system_version())
    }
    async fn info(&self) -> ApiResult<Value> {
        Ok(self.system_info())
    }
    async fn events(
        &self,
        opts: EventsOptions,
    ) -> ApiResult<BoxStream<'static, api::EventMessage>> {
        Ok(self.event_stream(opts))
    }

    async fn container_create(
        &self,
        name: Option<String>,
        body: api::ContainerCreateBody,
    ) -> ApiResult<api::ContainerCreateResponse> {
        Ok(self.create_container(name, body).await?)
    }
    async fn container_list(&self, opts: ListOptions) -> ApiResult<Vec<api::ContainerSummary>> {
        Ok(self.list_containers(opts).await?)
    }
    async fn container_inspect(&self, id: &str, size: bool) -> ApiResult<Value> {
        Ok(self.inspect_container(id, size).await?)
    }
    async fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> ApiResult<api::ContainerTopResponse> {
        Ok(self.top_container(id, ps_args).await?)
    }
    async fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> ApiResult<ByteStream> {
        Ok(Daemon::container_stats(self, id, stream, one_shot).await?)
    }
    async fn container_update(
        &self,
        id: &str,
        body: api::ContainerUpdateBody,
    ) -> ApiResult<api::ContainerUpdateResponse> {
        Ok(self.update_container(id, body).await?)
    }
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> ApiResult<(bool, ByteStream)> {
        Ok(Daemon::container_logs(self, id, opts).await?)
    }
    async fn container_start(&self, id: &str) -> ApiResult<Changed> {
        Ok(self.start_container(id).await?)
    }
    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> ApiResult<Changed> {
        Ok(self.stop_container(id, signal, timeout).await?)
    }
    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> ApiResult<()> {
        Ok(self.restart_container(id, signal, timeout).await?)
    }
    async fn container_kill(&self, id: &str, signal: Option<String>) -> ApiResult<()> {
        Ok(self.kill_container(id, signal).await?)
    }
    async fn container_pause(&self, id: &str) -> ApiResult<()> {
        Ok(self.pause_container(id).await?)
    }
    async fn container_unpause(&self, id: &str) -> ApiResult<()> {
        Ok(self.unpause_container(id).await?)
    }
    async fn container_rename(&self, id: &str, new_name: &str) -> ApiResult<()> {
        Ok(self.rename_container(id, new_name).await?)
    }
    async fn container_resize(&self, id: &str, height: u16, width: u16) -> ApiResult<()> {
        Ok(self.resize_container(id, height, width).await?)
    }
    async fn container_wait(&self, id: &str, condition: WaitCondition) -> ApiResult<WaitFuture> {
        Ok(self.wait_container(id, condition).await?)
    }
    async fn container_remove(&self, id: &str, force: bool, volumes: bool) -> ApiResult<()> {
        Ok(self.remove_container(id, force, volumes).await?)
    }
    async fn container_prune(&self, filters: Filters) -> ApiResult<api::ContainerPruneResponse> {
        Ok(self.prune_containers(filters).await?)
    }
    async fn container_attach(&self, id: &str, opts: AttachOptions) -> ApiResult<AttachedStream> {
        Ok(self.attach_container(id, opts).await?)
    }

    async fn exec_create(&self, id: &str, config: api::ExecConfig) -> ApiResult<api::IdResponse> {
        Ok(Daemon::exec_create(self, id, config).await?)
    }
    async fn exec_start(
        &self,
        exec_id: &str,
        config: api::ExecStartConfig,
    ) -> ApiResult<Option<AttachedStream>> {
        Ok(Daemon::exec_start(self, exec_id, config).await?)
    }
    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> ApiResult<()> {
        Ok(Daemon::exec_resize(self, exec_id, height, width).await?)
    }
    async fn exec_inspect(&self, exec_id: &str) -> ApiResult<Value> {
        Ok(Daemon::exec_inspect(self, exec_id).await?)
    }

    async fn image_list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> ApiResult<Vec<api::ImageSummary>> {
        Ok(self.list_images(all, filters, digests).await?)
    }
    async fn image_inspect(&self, name: &str) -> ApiResult<Value> {
        Ok(self.inspect_image(name).await?)
    }
    async fn image_load(&self, body: ByteStream, quiet: bool) -> ApiResult<ByteStream> {
        Ok(self.load_images(body, quiet).await?)
    }
    async fn image_import(&self, body: ByteStream, opts: ImportOptions) -> ApiResult<ByteStream> {
        Ok(self.import_image(body, opts).await?)
    }
    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> ApiResult<Vec<api::ImageDeleteResponseItem>> {
        Ok(self.remove_image(name, force, noprune).await?)
    }
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> ApiResult<()> {
        Ok(self.tag_image(name, repo, tag).await?)
    }

    async fn image_history(&self, name: &str) -> ApiResult<Vec<api::ImageHistoryResponseItem>> {
        Ok(Daemon::image_history(self, name).await?)
    }
    async fn image_layers(&self, name: &str) -> ApiResult<berth_types::waste::LayerReport> {
        Ok(Daemon::image_layers(self, name).await?)
    }
    async fn image_prune(&self, filters: Filters) -> ApiResult<api::ImagePruneResponse> {
        Ok(self.prune_images(filters).await?)
    }
    async fn image_save(&self, names: Vec<String>) -> ApiResult<ByteStream> {
        Ok(self.save_images(names).await?)
    }
    async fn container_commit(&self, opts: CommitOptions) -> ApiResult<String> {
        Ok(self.commit_container(opts).await?)
    }
    async fn container_changes(&self, id: &str) -> ApiResult<Vec<api::FilesystemChange>> {
        Ok(Daemon::container_changes(self, id).await?)
    }
    async fn container_export(&self, id: &str) -> ApiResult<ByteStream> {
        Ok(self.export_container(id).await?)
    }
    async fn build(
        &self,
        opts: berth_api::backend::BuildOptions,
        context: ByteStream,
    ) -> ApiResult<ByteStream> {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| crate::error::Error::Internal("the daemon is shutting down".into()))?;
        Ok(me.build_image(opts, context).await?)
    }
    async fn build_prune(&self, opts: berth_api::backend::BuildPruneOptions) -> ApiResult<Value> {
        Ok(Daemon::build_prune(self, opts).await?)
    }
    async fn system_df(&self) -> ApiResult<Value> {
        Ok(Daemon::system_df(self).await?)
    }
    async fn system_check(&self, repair: bool) -> ApiResult<Value> {
        Ok(Daemon::system_check(self, repair).await?)
    }
    async fn archive_stat(&self, id: &str, path: &str) -> ApiResult<ArchiveStat> {
        Ok(stat(Daemon::archive_stat(self, id, path).await?))
    }
    async fn archive_get(&self, id: &str, path: &str) -> ApiResult<(ArchiveStat, ByteStream)> {
        let (s, body) = Daemon::archive_get(self, id, path).await?;
        Ok((stat(s), body))
    }
    async fn archive_put(
        &self,
        id: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        body: ByteStream,
    ) -> ApiResult<()> {
        Ok(Daemon::archive_put(self, id, path, no_overwrite_dir_non_dir, body).await?)
    }
    async fn volume_list(&self, filters: Filters) -> ApiResult<Value> {
        Ok(Daemon::volume_list(self, filters).await?)
    }
    async fn volume_create(&self, req: api::VolumeCreateRequest) -> ApiResult<Value> {
        Ok(Daemon::volume_create(self, req).await?)
    }
    async fn volume_inspect(&self, name: &str) -> ApiResult<Value> {
        Ok(Daemon::volume_inspect(self, name).await?)
    }
    async fn volume_remove(&self, name: &str, force: bool) -> ApiResult<()> {
        Ok(Daemon::volume_remove(self, name, force).await?)
    }
    async fn volume_prune(&self, filters: Filters) -> ApiResult<Value> {
        Ok(Daemon::volume_prune(self, filters).await?)
    }
    async fn volume_disk_usage(&self) -> ApiResult<Vec<Value>> {
        Ok(self.volumes_disk_usage().await?)
    }
    async fn network_list(&self, filters: Filters) -> ApiResult<Vec<Value>> {
        Ok(Daemon::network_list(self, filters).await?)
    }
    async fn network_inspect(&self, id: &str) -> ApiResult<Value> {
        Ok(Daemon::network_inspect(self, id).await?)
    }
    async fn network_create(&self, req: api::NetworkCreateRequest) -> ApiResult<Value> {
        Ok(Daemon::network_create(self, req).await?)
    }
    async fn network_remove(&self, id: &str) -> ApiResult<()> {
        Ok(Daemon::network_remove(self, id).await?)
    }
    async fn network_prune(&self, filters: Filters) -> ApiResult<Value> {
        Ok(Daemon::network_prune(self, filters).await?)
    }
    async fn network_connect(&self, id: &str, req: api::NetworkConnectRequest) -> ApiResult<()> {
        Ok(Daemon::network_connect(self, id, &req.container, req.endpoint_config).await?)
    }
    async fn network_disconnect(
        &self,
        id: &str,
        req: api::NetworkDisconnectRequest,
    ) -> ApiResult<()> {
        Ok(
            Daemon::network_disconnect(self, id, &req.container, req.force.unwrap_or(false))
                .await?,
        )
    }
    async fn image_pull(&self, opts: PullOptions) -> ApiResult<ByteStream> {
        Ok(self.pull_image(opts).await?)
    }
    async fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: Option<String>,
    ) -> ApiResult<ByteStream> {
        Ok(self.push_image(name, tag, auth).await?)
    }
    async fn distribution_inspect(&self, name: &str, auth: Option<String>) -> ApiResult<Value> {
        Ok(self.inspect_distribution(name, auth).await?)
    }
    async fn image_search(
        &self,
        term: &str,
        limit: Option<usize>,
        filters: Filters,
        auth: Option<String>,
    ) -> ApiResult<Value> {
        Ok(self.search_images(term, limit, filters, auth).await?)
    }
    async fn registry_login(&self, body: Value) -> ApiResult<Value> {
        Ok(Daemon::registry_login(self, body).await?)
    }
}

fn stat(s: berth_archive::PathStat) -> ArchiveStat {
    ArchiveStat {
        name: s.name,
        size: s.size,
        mode: s.mode,
        mtime: s.mtime,
        link_target: s.link_target,
    }
}
