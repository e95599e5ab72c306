//! Image store tests over real archives built here from the host's static busybox. They mount
//! (overlay and bind), so they run as root.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use berth_content::Digest;
use berth_metadata::Db;
use berth_snapshot::{mount_all, unmount, Backend};
use serde_json::json;
use tar::{EntryType, Header};

use crate::*;

const BUSYBOX: &str = "/bin/busybox";

/// A tar being built, with names written verbatim (hostile names included).
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }
    fn entry(
        &mut self,
        name: &str,
        kind: EntryType,
        mode: u32,
        link: Option<&str>,
        data: &[u8],
    ) -> &mut Tar {
        let mut h = Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                g.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn dir(&mut self, name: &str) -> &mut Tar {
        self.entry(name, EntryType::Directory, 0o755, None, b"")
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        self.entry(name, EntryType::Regular, 0o644, None, data)
    }
    fn exe(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        self.entry(name, EntryType::Regular, 0o755, None, data)
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.entry(name, EntryType::Symlink, 0o777, Some(target), b"")
    }
    fn bytes(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

fn base_layer() -> Vec<u8> {
    let busybox = fs::read(BUSYBOX).expect("busybox-static is installed on test machines");
    Tar::new()
        .dir("bin/")
        .exe("bin/busybox", &busybox)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ls", "busybox")
        .dir("etc/")
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .file("etc/group", b"root:x:0:\n")
        .bytes()
}

fn top_layer() -> Vec<u8> {
    Tar::new()
        .file("hello.txt", b"hello from layer 2\n")
        .file("etc/.wh.group", b"")
        .bytes()
}

fn config_for(layers: &[&[u8]], cmd: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": platform::host().1,
        "os": "linux",
        "created": "2024-05-01T10:00:00Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"], "Labels": {"test": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"}]
    }))
    .unwrap()
}

/// `docker save` as Docker before 25 writes it.
fn docker_save_legacy(layers: &[Vec<u8>], config: &[u8], tags: &[&str]) -> Vec<u8> {
    let mut t = Tar::new();
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dir = format!("{:064x}", i + 1);
        t.dir(&format!("{dir}/"))
            .file(&format!("{dir}/VERSION"), b"1.0")
            .file(&format!("{dir}/json"), b"{}");
        t.file(&format!("{dir}/layer.tar"), l);
        paths.push(format!("{dir}/layer.tar"));
    }
    let cfg_name = format!("{}.json", Digest::of(config).hex());
    t.file(&cfg_name, config);
    let manifest = json!([{"Config": cfg_name, "RepoTags": tags, "Layers": paths}]);
    t.file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    t.file("repositories", b"{}");
    t.bytes()
}

/// `docker save` as Docker 25+ writes it: OCI blobs, plus manifest.json, plus legacy symlinks.
fn docker_save_v25(layers: &[Vec<u8>], config: &[u8], tags: &[&str]) -> Vec<u8> {
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .dir("blobs/")
        .dir("blobs/sha256/");
    let mut paths = Vec::new();
    for l in layers {
        let d = Digest::of(l);
        t.file(&format!("blobs/sha256/{}", d.hex()), l);
        // Docker 25 keeps the old layout's names as symlinks into blobs/.
        t.dir(&format!("{}/", d.hex())).symlink(
            &format!("{}/layer.tar", d.hex()),
            &format!("../blobs/sha256/{}", d.hex()),
        );
        paths.push(format!("{}/layer.tar", d.hex()));
    }
    let c = Digest::of(config);
    t.file(&format!("blobs/sha256/{}", c.hex()), config);
    let manifest =
        json!([{"Config": format!("blobs/sha256/{}", c.hex()), "RepoTags": tags, "Layers": paths}]);
    t.file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    t.file("index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
    t.bytes()
}

/// An OCI image layout tar, the image behind an index (platform choice) and tagged by
/// annotation.
fn oci_layout(layers: &[Vec<u8>], config: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut descs = Vec::new();
    for l in layers {
        let d = Digest::of(l);
        t.file(&format!("blobs/sha256/{}", d.hex()), l);
        descs.push(json!({"mediaType": oci::MEDIA_OCI_LAYER_GZIP, "digest": d.to_string(), "size": l.len()}));
    }
    let c = Digest::of(config);
    t.file(&format!("blobs/sha256/{}", c.hex()), config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::MEDIA_OCI_MANIFEST,
        "config": {"mediaType": oci::MEDIA_OCI_CONFIG, "digest": c.to_string(), "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    let m = Digest::of(&manifest);
    t.file(&format!("blobs/sha256/{}", m.hex()), &manifest);
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::MEDIA_OCI_INDEX,
        "manifests": [
            {"mediaType": oci::MEDIA_OCI_MANIFEST, "digest": "sha256:".to_string() + &"0".repeat(64), "size": 1,
             "platform": {"os": "linux", "architecture": "s390x-not-us"}},
            {"mediaType": oci::MEDIA_OCI_MANIFEST, "digest": m.to_string(), "size": manifest.len(),
             "platform": {"os": "linux", "architecture": platform::host().1}}
        ]
    }))
    .unwrap();
    let n = Digest::of(&nested);
    t.file(&format!("blobs/sha256/{}", n.hex()), &nested);
    let mut ann = serde_json::Map::new();
    if let Some(name) = name {
        ann.insert(oci::ANNOTATION_CONTAINERD_NAME.into(), name.into());
        ann.insert(oci::ANNOTATION_REF_NAME.into(), "latest".into());
    }
    let index = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": oci::MEDIA_OCI_INDEX, "digest": n.to_string(), "size": nested.len(), "annotations": ann}
    ]});
    t.file("index.json", &serde_json::to_vec(&index).unwrap());
    t.bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    store: ImageStore,
}

fn env(backend: Backend) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let db = Db::open(&root.join("berth.db")).unwrap();
    let snaps = berth_snapshot::open(&root, backend).unwrap();
    let store = ImageStore::open(&root, db, snaps).unwrap();
    Env {
        _dir: dir,
        root,
        store,
    }
}

/// Mounts a container root for `image`, runs `check` on it, and cleans up.
fn with_rootfs(e: &Env, ctr: &str, image: &str, check: impl FnOnce(&Path)) {
    let mounts = e.store.rootfs_for_container(ctr, image).unwrap();
    let target = e.root.join(format!("mnt-{ctr}"));
    fs::create_dir_all(&target).unwrap();
    mount_all(&mounts, &target).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&target)));
    unmount(&target).unwrap();
    e.store.remove_container_rootfs(ctr).unwrap();
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

fn assert_empty(e: &Env, what: &str) {
    assert!(e.store.list().unwrap().is_empty(), "{what}: images left");
    assert!(
        e.store.content().list().unwrap().is_empty(),
        "{what}: blobs left"
    );
    assert!(
        e.store.snapshotter().list().unwrap().is_empty(),
        "{what}: snapshots left"
    );
    assert!(
        e.store.db.list_layers().unwrap().is_empty(),
        "{what}: layer rows left"
    );
}

#[test]
fn load_docker_save_list_resolve_and_run_rootfs_on_both_backends() {
    for backend in [Backend::Overlay, Backend::Native] {
        let e = env(backend);
        let layers = vec![base_layer(), top_layer()];
        let config = config_for(&[&layers[0], &layers[1]], &["sh"]);
        let id = Digest::of(&config).to_string();
        let loaded = e
            .store
            .load(&docker_save_legacy(&layers, &config, &["busybox:latest"])[..])
            .unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].messages(), ["Loaded image: busybox:latest"]);

        let list = e.store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].repo_tags, ["busybox:latest"]);
        assert_eq!(list[0].created, 1_714_557_600);
        assert_eq!(list[0].labels["test"], "yes");
        assert!(list[0].size > 500_000, "busybox counted: {}", list[0].size);

        let hex = id.strip_prefix("sha256:").unwrap();
        for name in [
            "busybox",
            "busybox:latest",
            "docker.io/library/busybox:latest",
            &id,
            hex,
            &hex[..12],
            &hex[..3],
            &id[..19],
        ] {
            assert_eq!(e.store.resolve(name).unwrap().id, id, "{name}");
        }
        for missing in ["busybox:other", "nothere", "sha256:0000", "ffffffffffff"] {
            assert!(
                matches!(e.store.resolve(missing), Err(Error::NotFound(_))),
                "{missing}"
            );
        }
        assert!(matches!(
            e.store.resolve("Bad_Name"),
            Err(Error::InvalidReference { .. })
        ));

        let inspect = e.store.inspect("busybox").unwrap();
        assert_eq!(inspect.id.as_deref(), Some(id.as_str()));
        assert_eq!(
            inspect.config.as_ref().unwrap().cmd.as_deref().unwrap(),
            ["sh"]
        );
        assert_eq!(
            inspect.root_fs.unwrap().layers.unwrap(),
            [
                Digest::of(&layers[0]).to_string(),
                Digest::of(&layers[1]).to_string()
            ]
        );
        let gd = inspect.graph_driver.unwrap();
        assert_eq!(gd.name, e.store.snapshotter().driver_name());
        assert!(inspect.metadata.unwrap().last_tag_time.is_some());
        let j = e.store.inspect_json("busybox").unwrap();
        assert_eq!(j["Parent"], "");
        assert_eq!(j["RepoTags"][0], "busybox:latest");
        assert_eq!(j["RootFS"]["Type"], "layers");
        assert_eq!(j["Config"]["Cmd"][0], "sh");
        assert_eq!(j["Config"]["Labels"]["test"], "yes");
        assert_eq!(j["Created"], "2024-05-01T10:00:00Z");
        assert!(j["GraphDriver"]["Data"].is_object());

        with_rootfs(&e, "ctr1", &id, |root| {
            assert!(fs::metadata(root.join("bin/busybox")).unwrap().len() > 500_000);
            assert_eq!(
                fs::read_link(root.join("bin/sh")).unwrap(),
                Path::new("busybox")
            );
            assert_eq!(
                fs::read_to_string(root.join("hello.txt")).unwrap(),
                "hello from layer 2\n"
            );
            assert!(root.join("etc/passwd").is_file());
            assert!(!root.join("etc/group").exists(), "whited out by layer 2");
            fs::write(root.join("written-by-container"), "x").unwrap();
        });

        // Loading again changes nothing and leaves no stray blobs.
        let blobs_before = e.store.content().list().unwrap();
        assert_eq!(blobs_before.len(), 4, "config, two layers, manifest");
        e.store
            .load(&docker_save_legacy(&layers, &config, &["busybox:latest"])[..])
            .unwrap();
        assert_eq!(e.store.content().list().unwrap(), blobs_before);
        assert_eq!(e.store.list().unwrap().len(), 1);
    }
}

#[test]
fn load_docker_25_layout_with_symlinked_layers() {
    let e = env(Backend::Overlay);
    let layers = vec![base_layer(), top_layer()];
    let config = config_for(&[&layers[0], &layers[1]], &["sh"]);
    let loaded = e
        .store
        .load(&docker_save_v25(&layers, &config, &["app:1", "localhost:5000/app:2"])[..])
        .unwrap();
    assert_eq!(loaded[0].tags, ["app:1", "localhost:5000/app:2"]);
    assert_eq!(
        e.store.resolve("localhost:5000/app:2").unwrap().id,
        Digest::of(&config).to_string()
    );
}

#[test]
fn load_oci_layout_picks_platform_and_names_from_annotations() {
    let e = env(Backend::Overlay);
    let raw = [base_layer(), top_layer()];
    let gz: Vec<Vec<u8>> = raw.iter().map(|l| gzip(l)).collect();
    // Diff IDs are of the uncompressed layers.
    let config = config_for(&[&raw[0], &raw[1]], &["ls"]);
    let loaded = e
        .store
        .load(&oci_layout(&gz, &config, Some("docker.io/library/ocitest:v1"))[..])
        .unwrap();
    assert_eq!(loaded[0].messages(), ["Loaded image: ocitest:v1"]);
    let id = loaded[0].id.clone();
    with_rootfs(&e, "c", &id, |root| {
        assert!(root.join("bin/busybox").is_file());
        assert!(!root.join("etc/group").exists());
    });
    // The same image without a name loads by ID; shared layers are not unpacked again.
    let e2 = env(Backend::Native);
    let l2 = e2.store.load(&oci_layout(&gz, &config, None)[..]).unwrap();
    assert_eq!(l2[0].messages(), [format!("Loaded image ID: {id}")]);
}

#[test]
fn retagging_on_load_reports_the_old_image() {
    let e = env(Backend::Overlay);
    let l = vec![base_layer()];
    let c1 = config_for(&[&l[0]], &["sh"]);
    let c2 = config_for(&[&l[0]], &["ls"]);
    e.store
        .load(&docker_save_legacy(&l, &c1, &["x:1"])[..])
        .unwrap();
    let loaded = e
        .store
        .load(&docker_save_legacy(&l, &c2, &["x:1"])[..])
        .unwrap();
    let old = Digest::of(&c1).to_string();
    assert_eq!(
        loaded[0].messages()[0],
        format!("The image x:1 already exists, renaming the old one with ID {old} to empty string")
    );
    // Two images now share one layer snapshot.
    assert_eq!(e.store.snapshotter().list().unwrap().len(), 1);
    assert!(e.store.resolve(&old).unwrap().repo_tags.is_empty());
}

#[test]
fn hostile_and_broken_archives_are_refused_and_leave_nothing() {
    let layers = vec![base_layer(), top_layer()];
    let config = config_for(&[&layers[0], &layers[1]], &["sh"]);

    let evil_layer = Tar::new()
        .file("ok", b"fine")
        .file("../escape", b"x")
        .bytes();
    let symlink_layer = Tar::new()
        .symlink("up", "../../../../..")
        .file("up/escape", b"x")
        .bytes();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    {
        let cfg = config_for(&[&layers[0], &evil_layer], &["sh"]);
        cases.push((
            "layer with ../",
            docker_save_legacy(&[layers[0].clone(), evil_layer.clone()], &cfg, &["evil:1"]),
        ));
        let cfg = config_for(&[&layers[0], &symlink_layer], &["sh"]);
        cases.push((
            "layer with symlink escape",
            docker_save_legacy(
                &[layers[0].clone(), symlink_layer.clone()],
                &cfg,
                &["evil:1"],
            ),
        ));
    }
    // Config promises a different second layer.
    let wrong_cfg = config_for(&[&layers[0], &evil_layer], &["sh"]);
    cases.push((
        "diff ID mismatch",
        docker_save_legacy(&layers, &wrong_cfg, &["evil:1"]),
    ));
    // Layer count vs diff IDs.
    let one_cfg = config_for(&[&layers[0]], &["sh"]);
    cases.push((
        "layer count",
        docker_save_legacy(&layers, &one_cfg, &["evil:1"]),
    ));
    // Manifest names a path outside the archive, or one that is missing.
    {
        let mut t = Tar::new();
        let cfg_name = format!("{}.json", Digest::of(&config).hex());
        t.file(&cfg_name, &config).file("l1.tar", &layers[0]);
        let m = json!([{"Config": cfg_name, "RepoTags": ["evil:1"], "Layers": ["l1.tar", "../../etc/passwd"]}]);
        t.file("manifest.json", &serde_json::to_vec(&m).unwrap());
        cases.push(("manifest path traversal", t.bytes()));
        let m = json!([{"Config": cfg_name, "RepoTags": ["evil:1"], "Layers": ["l1.tar", "missing.tar"]}]);
        t.file(&format!("{}.json", Digest::of(&config).hex()), &config)
            .file("l1.tar", &layers[0]);
        t.file("manifest.json", &serde_json::to_vec(&m).unwrap());
        cases.push(("missing layer", t.bytes()));
    }
    // Outer archive entry escaping.
    cases.push((
        "archive path traversal",
        Tar::new().file("../../evil", b"x").bytes(),
    ));
    // OCI blob whose bytes do not match its name.
    {
        let mut oci = oci_layout(&layers, &config, Some("evil:1"));
        let needle = b"hello from layer 2";
        let pos = oci.windows(needle.len()).position(|w| w == needle).unwrap();
        oci[pos] = b'j';
        cases.push(("bad blob digest", oci));
    }
    cases.push((
        "not an image archive",
        Tar::new().file("README", b"hi").bytes(),
    ));
    cases.push(("garbage", b"this is not a tar file at all".repeat(40)));
    cases.push((
        "bad tag",
        docker_save_legacy(&layers, &config, &["UPPER:case"]),
    ));

    for backend in [Backend::Overlay, Backend::Native] {
        let e = env(backend);
        for (what, bytes) in &cases {
            let err = e.store.load(&bytes[..]).expect_err(what);
            let msg = err.to_string();
            eprintln!("{what}: {msg}");
            assert!(!msg.is_empty(), "{what}");
            assert_eq!(
                berth_types::Kinded::kind(&err),
                berth_types::ErrorKind::InvalidArgument,
                "{what}: {msg}"
            );
            assert_empty(&e, what);
            assert!(!e.root.parent().unwrap().join("escape").exists(), "{what}");
        }
    }
}

#[test]
fn import_with_changes() {
    for backend in [Backend::Overlay, Backend::Native] {
        let e = env(backend);
        let rootfs = gzip(&base_layer());
        let changes: Vec<String> = [
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENV FOO=bar",
            "WORKDIR /srv",
            "EXPOSE 8080",
            "LABEL a=b",
            "USER nobody",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let id = e
            .store
            .import(&rootfs[..], Some("imported:v1"), &changes, None, None)
            .unwrap();
        let rec = e.store.resolve("imported:v1").unwrap();
        assert_eq!(rec.id, id);
        let cfg = e.store.config(&id).unwrap();
        let rc = cfg.config.clone().unwrap();
        assert_eq!(rc.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(rc.env.unwrap(), ["FOO=bar"]);
        assert_eq!(rc.working_dir.unwrap(), "/srv");
        assert_eq!(rc.exposed_ports.unwrap(), ["8080/tcp"]);
        assert_eq!(rc.user.unwrap(), "nobody");
        assert_eq!(cfg.history[0].comment.as_deref(), Some("Imported from -"));
        assert_eq!(cfg.rootfs.diff_ids, [Digest::of(&base_layer()).to_string()]);
        assert_eq!(cfg.architecture.as_deref(), Some(platform::host().1));
        with_rootfs(&e, "imp", &id, |root| {
            assert!(root.join("bin/busybox").is_file())
        });

        let id2 = e
            .store
            .import(
                &base_layer()[..],
                None,
                &[],
                Some("my message"),
                Some("linux/arm64"),
            )
            .unwrap();
        let cfg2 = e.store.config(&id2).unwrap();
        assert_eq!(cfg2.comment.as_deref(), Some("my message"));
        assert_eq!(cfg2.history[0].comment.as_deref(), Some("my message"));
        assert_eq!(cfg2.architecture.as_deref(), Some("arm64"));
        assert!(e.store.resolve(&id2).unwrap().repo_tags.is_empty());
        assert_eq!(
            e.store.snapshotter().list().unwrap().len(),
            1,
            "same layer shared"
        );

        // Bad input is refused before anything is stored.
        let before = e.store.content().list().unwrap().len();
        assert!(matches!(
            e.store
                .import(&rootfs[..], None, &["RUN rm -rf /".into()], None, None),
            Err(Error::InvalidChange { .. })
        ));
        assert!(matches!(
            e.store.import(&rootfs[..], Some("Bad"), &[], None, None),
            Err(Error::InvalidReference { .. })
        ));
        assert!(matches!(
            e.store
                .import(&rootfs[..], None, &[], None, Some("windows/amd64")),
            Err(Error::InvalidPlatform(_))
        ));
        let hostile = Tar::new().file("../x", b"x").bytes();
        assert!(e.store.import(&hostile[..], None, &[], None, None).is_err());
        assert_eq!(e.store.content().list().unwrap().len(), before);
    }
}

#[test]
fn tag_untag_and_remove_like_docker() {
    let e = env(Backend::Overlay);
    let layers = vec![base_layer(), top_layer()];
    let config = config_for(&[&layers[0], &layers[1]], &["sh"]);
    let id = Digest::of(&config).to_string();
    e.store
        .load(&docker_save_legacy(&layers, &config, &["busybox:latest"])[..])
        .unwrap();
    e.store.tag("busybox", "other/name:1").unwrap();
    assert_eq!(e.store.resolve("other/name:1").unwrap().id, id);
    assert!(e
        .store
        .tag("busybox", &format!("x@sha256:{}", "0".repeat(64)))
        .is_err());
    assert!(matches!(
        e.store.tag("nope", "x:1"),
        Err(Error::NotFound(_))
    ));

    let not_used = |_: &str| None;
    let used = |_: &str| {
        Some(crate::ImageUser {
            container: "c0ffee".repeat(10) + "abcd",
            running: false,
        })
    };
    // Removing one of several names only untags.
    let out = e.store.remove("other/name:1", false, &not_used).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].untagged.as_deref(), Some("other/name:1"));
    e.store.tag("busybox", "other/name:1").unwrap();
    // By ID with names in two repositories: needs force.
    assert!(matches!(
        e.store.remove(&id, false, &not_used),
        Err(Error::Conflict(_))
    ));
    e.store.untag("other/name:1").unwrap();
    assert!(matches!(
        e.store.untag("other/name:1"),
        Err(Error::NotFound(_))
    ));
    // In use by a container: conflict.
    assert!(matches!(
        e.store.remove("busybox", false, &used),
        Err(Error::Conflict(_))
    ));
    // A container's snapshot keeps the layers alive even once the image is gone.
    e.store.rootfs_for_container("ctr", &id).unwrap();
    let out = e.store.remove("busybox", false, &not_used).unwrap();
    assert_eq!(out[0].untagged.as_deref(), Some("busybox:latest"));
    assert_eq!(out[1].deleted.as_deref(), Some(id.as_str()));
    assert_eq!(out.len(), 2, "layers still used by the container: {out:?}");
    assert!(matches!(e.store.resolve(&id), Err(Error::NotFound(_))));
    e.store.remove_container_rootfs("ctr").unwrap();
    e.store.remove_container_rootfs("ctr").unwrap();

    // A fresh load and a clean delete removes layers and blobs too.
    e.store
        .load(&docker_save_legacy(&layers, &config, &["busybox:latest"])[..])
        .unwrap();
    let out = e.store.remove(&id[7..19], false, &not_used).unwrap();
    let deleted: Vec<_> = out.iter().filter_map(|o| o.deleted.clone()).collect();
    assert_eq!(deleted.len(), 3, "image and both layers: {out:?}");
    assert!(e.store.list().unwrap().is_empty());
    assert!(e.store.snapshotter().list().unwrap().is_empty());
    let left: HashMap<_, _> = e
        .store
        .content()
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.digest, i.size))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn ambiguous_prefixes_are_reported() {
    let e = env(Backend::Native);
    for id in ["abc1", "abc2"] {
        e.store
            .db
            .put_image(&berth_metadata::ImageRow {
                id: format!("sha256:{id}{}", "0".repeat(60)),
                added: "2024-01-01T00:00:00Z".into(),
                ..Default::default()
            })
            .unwrap();
    }
    assert!(matches!(e.store.resolve("abc"), Err(Error::Ambiguous(_))));
    assert_eq!(
        e.store.resolve("abc1").unwrap().id,
        format!("sha256:abc1{}", "0".repeat(60))
    );
    assert!(
        matches!(e.store.resolve("ab"), Err(Error::NotFound(_))),
        "too short for a prefix"
    );
}

#[test]
fn leftover_unpacks_are_discarded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let snaps = berth_snapshot::open(root, Backend::Overlay).unwrap();
    snaps.prepare("extract-deadbeef", None).unwrap();
    let db = Db::open(&root.join("berth.db")).unwrap();
    let store = ImageStore::open(root, db, Arc::clone(&snaps)).unwrap();
    assert!(store.snapshotter().list().unwrap().is_empty());
}

/// Archives written by a tool we did not write: skopeo turns an OCI layout into a
/// `docker-archive` (docker save format, with its symlinked legacy layer names) and an
/// `oci-archive`. Skipped where skopeo is not installed.
#[test]
fn loads_what_skopeo_writes() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skopeo not installed; skipping");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = Digest::of(b);
        fs::write(blobs.join(d.hex()), b).unwrap();
        json!({"digest": d.to_string(), "size": b.len()})
    };
    let raw = [base_layer(), top_layer()];
    let config = config_for(&[&raw[0], &raw[1]], &["sh"]);
    let mut layers = Vec::new();
    for l in &raw {
        let mut d = put(&gzip(l));
        d["mediaType"] = oci::MEDIA_OCI_LAYER_GZIP.into();
        layers.push(d);
    }
    let mut c = put(&config);
    c["mediaType"] = oci::MEDIA_OCI_CONFIG.into();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::MEDIA_OCI_MANIFEST, "config": c, "layers": layers
    }))
    .unwrap();
    let mut m = put(&manifest);
    m["mediaType"] = oci::MEDIA_OCI_MANIFEST.into();
    m["annotations"] = json!({oci::ANNOTATION_REF_NAME: "v1"});
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();

    let src = format!("oci:{}:v1", layout.display());
    let docker_tar = work.path().join("docker.tar");
    let oci_tar = work.path().join("oci.tar");
    for dst in [
        format!("docker-archive:{}:skopeo/test:v1", docker_tar.display()),
        format!("oci-archive:{}:v2", oci_tar.display()),
    ] {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", &src, &dst])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let id = Digest::of(&config).to_string();
    let e = env(Backend::Overlay);
    let loaded = e.store.load(fs::File::open(&docker_tar).unwrap()).unwrap();
    assert_eq!(loaded[0].messages(), ["Loaded image: skopeo/test:v1"]);
    assert_eq!(loaded[0].id, id);
    // A bare ref.name ("v2") names no repository: the image loads by ID, as in Docker.
    let loaded = e.store.load(fs::File::open(&oci_tar).unwrap()).unwrap();
    assert_eq!(loaded[0].messages(), [format!("Loaded image ID: {id}")]);
    with_rootfs(&e, "sk", &id, |root| {
        assert!(root.join("bin/busybox").is_file());
        assert!(!root.join("etc/group").exists());
    });
}

/// Runs `change` on a mounted container root for `image` and leaves the container's snapshot
/// in place (unmounted) for diff and commit.
fn change_container(e: &Env, ctr: &str, image: &str, change: impl FnOnce(&Path)) {
    let mounts = e.store.rootfs_for_container(ctr, image).unwrap();
    let target = e.root.join(format!("mnt-{ctr}"));
    fs::create_dir_all(&target).unwrap();
    mount_all(&mounts, &target).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change(&target)));
    unmount(&target).unwrap();
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn diff_commit_history_save_and_load_round_trip_on_both_backends() {
    for backend in [Backend::Overlay, Backend::Native] {
        let e = env(backend);
        let layers = vec![base_layer(), top_layer()];
        let config = config_for(&[&layers[0], &layers[1]], &["sh"]);
        let base = Digest::of(&config).to_string();
        e.store
            .load(&docker_save_legacy(&layers, &config, &["base:1"])[..])
            .unwrap();
        let ctr = "c".repeat(64);
        change_container(&e, &ctr, &base, |root| {
            fs::write(root.join("etc/passwd"), b"root:x:0:0::/:/bin/sh\n").unwrap();
            fs::remove_file(root.join("hello.txt")).unwrap();
            fs::create_dir(root.join("new")).unwrap();
            fs::write(root.join("new/file"), b"added").unwrap();
            // Engine mount points are not changes.
            fs::write(root.join("etc/hostname"), b"").unwrap();
            fs::create_dir_all(root.join("proc")).unwrap();
        });
        let changes: Vec<(String, i32)> = e
            .store
            .container_changes(&ctr)
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.kind as i32))
            .collect();
        let want = vec![
            ("/etc".to_string(), 0),
            ("/etc/passwd".to_string(), 0),
            ("/hello.txt".to_string(), 2),
            ("/new".to_string(), 1),
            ("/new/file".to_string(), 1),
        ];
        assert_eq!(changes, want, "{backend:?}");

        let id = e
            .store
            .commit_container(
                &ctr,
                &base,
                CommitOptions {
                    reference: Some("committed:1".into()),
                    author: Some("me".into()),
                    comment: Some("msg".into()),
                    changes: vec!["ENV A=b".into()],
                    config: Default::default(),
                    created_by: "sh -c change".into(),
                },
            )
            .unwrap();
        e.store.remove_container_rootfs(&ctr).unwrap();
        let h = e.store.history("committed:1").unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].id, id);
        assert_eq!(h[0].created_by, "sh -c change");
        assert_eq!(h[0].comment, "msg");
        assert_eq!(h[0].tags, vec!["committed:1".to_string()]);
        assert_eq!(h[1].id, base, "the local parent names its step");
        let cfg = e.store.config(&id).unwrap();
        assert_eq!(cfg.author.as_deref(), Some("me"));
        assert!(cfg
            .config
            .unwrap()
            .env
            .unwrap()
            .contains(&"A=b".to_string()));
        with_rootfs(&e, &"d".repeat(64), &id, |root| {
            assert_eq!(fs::read(root.join("new/file")).unwrap(), b"added");
            assert!(!root.join("hello.txt").exists());
            assert!(fs::read_to_string(root.join("etc/passwd"))
                .unwrap()
                .starts_with("root:x:0:0::/"));
            assert!(!root.join("etc/hostname").exists());
        });

        // Save both images into one archive and load it into an empty store.
        let plan = e
            .store
            .save_plan(&["base:1".into(), "committed:1".into()])
            .unwrap();
        let mut archive = Vec::new();
        e.store.save(&plan, &mut archive).unwrap();
        let e2 = env(backend);
        let loaded = e2.store.load(&archive[..]).unwrap();
        let mut ids: Vec<&str> = loaded.iter().map(|l| l.id.as_str()).collect();
        ids.sort();
        let mut want = vec![base.as_str(), id.as_str()];
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(e2.store.resolve("committed:1").unwrap().id, id);
        // The shared base layer is written once.
        let mut t = tar::Archive::new(&archive[..]);
        let names: Vec<String> = t
            .entries()
            .unwrap()
            .map(|en| en.unwrap().path().unwrap().display().to_string())
            .collect();
        for f in ["index.json", "manifest.json", "oci-layout", "repositories"] {
            assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
        }
        let base_diff = format!("blobs/sha256/{}", Digest::of(&layers[0]).hex());
        assert_eq!(names.iter().filter(|n| **n == base_diff).count(), 1);
        assert!(e2.store.check(false).unwrap().is_clean());
    }
}

#[test]
fn prune_dangling_then_all_and_check_repairs_a_corrupt_blob() {
    let e = env(Backend::Native);
    let l1 = vec![base_layer()];
    let c1 = config_for(&[&l1[0]], &["one"]);
    let c2 = config_for(&[&l1[0]], &["two"]);
    let (id1, id2) = (Digest::of(&c1).to_string(), Digest::of(&c2).to_string());
    e.store
        .load(&docker_save_legacy(&l1, &c1, &["a:1"])[..])
        .unwrap();
    // The tag moves: the first image is left dangling.
    let loaded = e
        .store
        .load(&docker_save_legacy(&l1, &c2, &["a:1"])[..])
        .unwrap();
    assert_eq!(loaded[0].replaced, vec![("a:1".to_string(), id1.clone())]);
    let none = |_: &str| false;
    let r = e.store.prune(true, &Default::default(), &none).unwrap();
    let deleted: Vec<String> = r
        .images_deleted
        .unwrap()
        .into_iter()
        .filter_map(|i| i.deleted)
        .collect();
    // Only the image goes: its layer is shared with the tagged one.
    assert_eq!(deleted, vec![id1.clone()]);
    assert_eq!(r.space_reclaimed, Some(0));
    assert!(e.store.resolve(&id1).is_err());
    assert!(e.store.check(false).unwrap().is_clean());

    // A label filter that does not match keeps everything; `until` in the past too.
    let f: PruneFilters = [("label".to_string(), vec!["test=no".to_string()])].into();
    let r = e.store.prune(false, &f, &none).unwrap();
    assert!(r.images_deleted.is_none());
    let f: PruneFilters = [("until".to_string(), vec!["2000-01-01".to_string()])].into();
    assert!(e
        .store
        .prune(false, &f, &none)
        .unwrap()
        .images_deleted
        .is_none());
    // In use: kept even with all.
    assert!(e
        .store
        .prune(false, &Default::default(), &|id: &str| id == id2)
        .unwrap()
        .images_deleted
        .is_none());

    // A lost layer blob does not condemn the image (it runs from its snapshot); loading it
    // again restores what save and push need.
    let layer_blob = e.store.content().blob_path(&Digest::of(&l1[0]));
    fs::remove_file(&layer_blob).unwrap();
    let r = e.store.check(true).unwrap();
    assert!(r.problems.iter().any(|p| p.contains("layer blob")), "{r:?}");
    assert!(
        e.store.resolve(&id2).is_ok(),
        "repair removed a runnable image"
    );
    e.store
        .load(&docker_save_legacy(&l1, &c2, &["a:1"])[..])
        .unwrap();
    assert!(layer_blob.exists());
    assert!(e.store.check(false).unwrap().is_clean());

    // Corrupt the config blob: check finds it, repair removes the image and its layer.
    let blob = e.store.content().blob_path(&Digest::parse(&id2).unwrap());
    fs::write(&blob, b"{\"tampered\":true}").unwrap();
    let r = e.store.check(false).unwrap();
    assert!(!r.is_clean());
    assert!(
        r.problems.iter().any(|p| p.contains("does not match")),
        "{r:?}"
    );
    let r = e.store.check(true).unwrap();
    assert!(
        r.repaired
            .iter()
            .any(|p| p.contains("removed broken image")),
        "{r:?}"
    );
    assert!(e.store.check(false).unwrap().is_clean());
    assert_empty(&e, "after repair");
}

#[test]
fn committed_images_keep_their_parent_as_docker_keeps_intermediates() {
    let e = env(Backend::Native);
    let l = vec![base_layer()];
    let c = config_for(&[&l[0]], &["sh"]);
    let base = Digest::of(&c).to_string();
    e.store
        .load(&docker_save_legacy(&l, &c, &["p:1"])[..])
        .unwrap();
    let ctr = "e".repeat(64);
    change_container(&e, &ctr, &base, |root| {
        fs::write(root.join("x"), b"x").unwrap()
    });
    let child = e
        .store
        .commit_container(
            &ctr,
            &base,
            CommitOptions {
                reference: Some("child:1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    e.store.remove_container_rootfs(&ctr).unwrap();
    let h = e.store.history("child:1").unwrap();
    assert_eq!(
        (h[0].id.as_str(), h[1].id.as_str()),
        (child.as_str(), base.as_str())
    );
    assert_eq!(h[1].tags, vec!["p:1".to_string()]);
    let none = |_: &str| None;
    // Removing the parent's last tag keeps it as an intermediate image.
    let out = e.store.remove("p:1", false, &none).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].untagged.as_deref(), Some("p:1"));
    assert!(e.store.resolve(&base).is_ok());
    // By ID it cannot go while the child exists, not even forced.
    let err = e.store.remove(&base, true, &none).unwrap_err();
    assert!(
        err.to_string().contains("image has dependent child images"),
        "{err}"
    );
    // Prune leaves it; removing the child takes the untagged parent along.
    let r = e
        .store
        .prune(true, &Default::default(), &|_: &str| false)
        .unwrap();
    assert!(r.images_deleted.is_none(), "{r:?}");
    let out = e.store.remove("child:1", false, &none).unwrap();
    let deleted: Vec<&str> = out.iter().filter_map(|i| i.deleted.as_deref()).collect();
    assert!(
        deleted.contains(&child.as_str()) && deleted.contains(&base.as_str()),
        "{out:?}"
    );
    assert_empty(&e, "after removing the child");
}

#[test]
fn layer_report_names_the_layers_that_waste_and_its_cache_goes_with_the_image() {
    let e = env(Backend::Overlay);
    let big = vec![1u8; 300_000];
    let layers = vec![
        base_layer(),
        Tar::new()
            .dir("data/")
            .file("data/big", &big)
            .file("etc/conf", &[2u8; 100_000])
            .bytes(),
        Tar::new()
            .file("data/.wh.big", b"")
            .file("etc/conf", b"small")
            .bytes(),
    ];
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": platform::host().1,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:base in / "},
            {"created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true},
            {"created_by": "/bin/sh -c fetch-data"},
            {"created_by": "/bin/sh -c rm /data/big && shrink /etc/conf"}
        ]
    }))
    .unwrap();
    e.store
        .load(&docker_save_legacy(&layers, &config, &["waste:1"])[..])
        .unwrap();
    let r = e.store.layer_report("waste:1").unwrap();
    assert_eq!(r.layers.len(), 3);
    assert_eq!(r.layers[1].instruction, "RUN fetch-data");
    assert_eq!(r.layers[1].size, 400_000);
    assert_eq!(r.layers[1].wasted_size, 400_000);
    assert_eq!(r.layers[2].removed_size, 400_000);
    assert_eq!(r.wasted_size, 400_000);
    assert_eq!(r.waste.len(), 2);
    assert_eq!(
        (r.waste[0].layer, r.waste[0].added_by, r.waste[0].size),
        (3, 2, 300_000)
    );
    assert_eq!(r.waste[0].paths, ["/data/big"]);
    assert_eq!(r.waste[1].paths, ["/etc/conf"]);
    assert_eq!(r.suggestions.len(), 1);
    assert_eq!(
        (
            r.suggestions[0].layer,
            r.suggestions[0].added_by,
            r.suggestions[0].size
        ),
        (3, 2, 400_000)
    );
    assert_eq!(
        r.suggestions[0].text,
        "layer 3 (RUN rm /data/big && shrink /etc/conf) removes or overwrites 400 kB that \
          layer 2 (RUN fetch-data) added: do both in one RUN"
    );
    // The indexes are cached by diff ID, and a second report reads only them.
    let cached = e.root.join("layer-index");
    assert_eq!(fs::read_dir(&cached).unwrap().count(), 3);
    assert_eq!(e.store.layer_report("waste:1").unwrap(), r);
    // A temp file a crash left is swept at the next open.
    fs::write(cached.join(".tmp-crashed"), b"{").unwrap();
    let reopened = ImageStore::open(
        &e.root,
        Db::open(&e.root.join("berth.db")).unwrap(),
        e.store.snapshotter().clone(),
    )
    .unwrap();
    assert!(!cached.join(".tmp-crashed").exists());
    reopened.remove("waste:1", false, &|_| None).unwrap();
    assert_eq!(fs::read_dir(&cached).unwrap().count(), 0);
}
