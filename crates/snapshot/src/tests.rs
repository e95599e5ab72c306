//! Conformance tests that every snapshotter passes. They mount, so they run as root.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::*;

fn backends(dir: &Path) -> Vec<(&'static str, Arc<dyn Snapshotter>, std::path::PathBuf)> {
    let mut v: Vec<(&'static str, Arc<dyn Snapshotter>, std::path::PathBuf)> = Vec::new();
    let nroot = dir.join("native");
    v.push((
        "native",
        Arc::new(native::Native::open(&nroot).unwrap()),
        nroot,
    ));
    let oroot = dir.join("overlay");
    assert!(
        overlay::supported(&oroot),
        "overlay must work on this test machine"
    );
    v.push((
        "overlay",
        Arc::new(overlay::Overlay::open(&oroot).unwrap()),
        oroot,
    ));
    v
}

fn reopen(name: &str, root: &Path) -> Arc<dyn Snapshotter> {
    match name {
        "native" => Arc::new(native::Native::open(root).unwrap()),
        _ => Arc::new(overlay::Overlay::open(root).unwrap()),
    }
}

/// Writes a layer that adds `add` and deletes `del`, in the snapshotter's format.
fn write_layer(s: &dyn Snapshotter, key: &str, add: &[(&str, &str)], del: &[&str]) {
    let up = s.upper_dir(key).unwrap();
    for (p, data) in add {
        let p = up.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    for d in del {
        match s.layer_format() {
            LayerFormat::Full => fs::remove_file(up.join(d)).unwrap(),
            LayerFormat::OverlayDiff => {
                let c = std::ffi::CString::new(up.join(d).to_str().unwrap()).unwrap();
                // SAFETY: NUL-terminated path.
                assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
            }
        }
    }
}

#[test]
fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s, root) in backends(dir.path()) {
        let s = s.as_ref();
        // Layer 1 from scratch.
        s.prepare("extract-1", None).unwrap();
        write_layer(s, "extract-1", &[("a.txt", "A"), ("d/x", "X")], &[]);
        s.commit("layer1", "extract-1").unwrap();
        assert_eq!(s.stat("layer1").unwrap().kind, Kind::Committed, "{name}");
        assert!(
            matches!(s.stat("extract-1"), Err(Error::NotFound(_))),
            "{name}"
        );

        // Layer 2 deletes a.txt and adds b.txt.
        s.prepare("extract-2", Some("layer1")).unwrap();
        if s.layer_format() == LayerFormat::Full {
            assert!(
                s.upper_dir("extract-2").unwrap().join("d/x").is_file(),
                "{name}: full copy"
            );
        }
        write_layer(s, "extract-2", &[("b.txt", "B")], &["a.txt"]);
        s.commit("layer2", "extract-2").unwrap();
        assert_eq!(s.stat("layer2").unwrap().parent.as_deref(), Some("layer1"));

        // A container root on top, mounted.
        let mounts = s.prepare("ctr", Some("layer2")).unwrap();
        assert_eq!(s.mounts("ctr").unwrap(), mounts);
        let target = dir.path().join(format!("{name}-rootfs"));
        fs::create_dir(&target).unwrap();
        mount_all(&mounts, &target).unwrap();
        let seen = std::panic::catch_unwind(|| {
            assert_eq!(
                fs::read_to_string(target.join("b.txt")).unwrap(),
                "B",
                "{name}"
            );
            assert_eq!(
                fs::read_to_string(target.join("d/x")).unwrap(),
                "X",
                "{name}"
            );
            assert!(!target.join("a.txt").exists(), "{name}: deleted in layer 2");
            fs::write(target.join("c.txt"), "C").unwrap();
            fs::remove_file(target.join("d/x")).unwrap();
        });
        unmount(&target).unwrap();
        if let Err(p) = seen {
            std::panic::resume_unwind(p);
        }
        assert!(!target.join("b.txt").exists(), "{name}: unmounted");
        assert_eq!(
            fs::read_to_string(s.upper_dir("ctr").unwrap().join("c.txt")).unwrap(),
            "C"
        );
        assert!(s.usage("ctr").unwrap() >= 1);

        // A read-only view.
        let vm = s.view("v", Some("layer2")).unwrap();
        mount_all(&vm, &target).unwrap();
        let ro = fs::write(target.join("new"), "x");
        let b = fs::read_to_string(target.join("b.txt"));
        unmount(&target).unwrap();
        assert!(ro.is_err(), "{name}: view must be read-only");
        assert_eq!(b.unwrap(), "B");
        assert!(
            matches!(s.upper_dir("v"), Err(Error::WrongKind { .. })),
            "{name}"
        );

        // Misuse.
        assert!(
            matches!(s.prepare("ctr", None), Err(Error::AlreadyExists(_))),
            "{name}"
        );
        assert!(
            matches!(s.prepare("x", Some("ctr")), Err(Error::WrongKind { .. })),
            "{name}"
        );
        assert!(
            matches!(s.prepare("x", Some("nope")), Err(Error::NotFound(_))),
            "{name}"
        );
        assert!(
            matches!(s.commit("y", "v"), Err(Error::WrongKind { .. })),
            "{name}"
        );
        assert!(
            matches!(s.commit("layer1", "ctr"), Err(Error::AlreadyExists(_))),
            "{name}"
        );
        assert!(
            matches!(s.mounts("layer1"), Err(Error::WrongKind { .. })),
            "{name}"
        );
        assert!(
            matches!(s.prepare("", None), Err(Error::InvalidKey(_))),
            "{name}"
        );
        assert!(
            matches!(s.remove("layer2"), Err(Error::InUse { .. })),
            "{name}"
        );

        let keys: Vec<_> = s.list().unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["ctr", "layer1", "layer2", "v"], "{name}");

        // State survives a restart.
        let s2 = reopen(name, &root);
        assert_eq!(s2.stat("ctr").unwrap().kind, Kind::Active, "{name}");
        assert_eq!(s2.mounts("ctr").unwrap(), mounts, "{name}");

        for k in ["ctr", "v", "layer2", "layer1"] {
            s2.remove(k).unwrap();
        }
        assert!(s2.list().unwrap().is_empty(), "{name}");
        let left: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["meta"], "{name}: directories removed");
        assert_eq!(
            fs::read_dir(root.join("meta")).unwrap().count(),
            0,
            "{name}"
        );
    }
}

#[test]
fn debris_from_a_crash_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s, root) in backends(dir.path()) {
        s.prepare("keep", None).unwrap();
        fs::create_dir(root.join("999")).unwrap();
        fs::write(root.join("meta").join("half.tmp"), "{").unwrap();
        drop(s);
        let s = reopen(name, &root);
        assert!(!root.join("999").exists(), "{name}");
        assert!(!root.join("meta/half.tmp").exists(), "{name}");
        assert_eq!(s.stat("keep").unwrap().kind, Kind::Active);
        // New snapshots do not reuse the live directory number.
        s.prepare("next", None).unwrap();
        assert_ne!(s.upper_dir("next").unwrap(), s.upper_dir("keep").unwrap());
    }
}

#[test]
fn overlay_stacks_beyond_one_page_of_mount_options() {
    let dir = tempfile::tempdir().unwrap();
    // Long directory names make the lowerdir option exceed a page with fewer layers.
    let root = dir.path().join("x".repeat(120)).join("overlay");
    let s = overlay::Overlay::open(&root).unwrap();
    let mut parent: Option<String> = None;
    for i in 0..40 {
        let key = format!("extract-{i}");
        s.prepare(&key, parent.as_deref()).unwrap();
        fs::write(
            s.upper_dir(&key).unwrap().join(format!("f{i}")),
            i.to_string(),
        )
        .unwrap();
        let name = format!("layer-{i}");
        s.commit(&name, &key).unwrap();
        parent = Some(name);
    }
    let mounts = s.prepare("ctr", parent.as_deref()).unwrap();
    let opts = mounts[0].options.join(",");
    assert!(opts.len() > 4096, "test must exceed a page: {}", opts.len());
    let target = dir.path().join("rootfs");
    fs::create_dir(&target).unwrap();
    mount_all(&mounts, &target).unwrap();
    let first = fs::read_to_string(target.join("f0"));
    let last = fs::read_to_string(target.join("f39"));
    unmount(&target).unwrap();
    assert_eq!(first.unwrap(), "0");
    assert_eq!(last.unwrap(), "39");
}

#[test]
fn open_picks_a_backend_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Backend::Auto).unwrap();
    assert_eq!(s.driver_name(), "overlay2");
    assert!(dir.path().join("snapshots/overlay/meta").is_dir());
    assert_eq!(
        fs::read_dir(dir.path().join("snapshots/overlay"))
            .unwrap()
            .count(),
        1,
        "probe cleaned up"
    );
    let n = open(dir.path(), Backend::Native).unwrap();
    assert_eq!(n.layer_format(), LayerFormat::Full);
}

#[test]
fn mount_serialises_like_containerd() {
    let m = Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        target: None,
        options: vec!["lowerdir=/a".into()],
    };
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"type":"overlay","source":"overlay","options":["lowerdir=/a"]}"#
    );
}
