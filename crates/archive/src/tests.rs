//! Tests of apply/tar against real directories. They run as root (ownership, devices and
//! `trusted.*` xattrs need it), as the project's tests do.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_content::Digest;
use tar::{EntryType, Header};

use crate::*;

/// A tar builder that writes names verbatim (the `tar` crate refuses `..` and absolute names,
/// which hostile archives contain).
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn raw(&mut self, name: &str, kind: EntryType, mode: u32, link: Option<&str>, data: &[u8]) {
        let mut h = Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name, EntryType::Directory, 0o755, None, b"");
        self
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name, EntryType::Regular, 0o644, None, data);
        self
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, EntryType::Symlink, 0o777, Some(target), b"");
        self
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, EntryType::Link, 0o644, Some(target), b"");
        self
    }
    fn bytes(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

fn apply(bytes: &[u8], root: &Path, mode: WhiteoutMode) -> Result<Applied> {
    apply_layer(bytes, root, &ApplyOptions::new(mode))
}

#[test]
fn unpacks_files_links_metadata_and_computes_diff_id() {
    let mut l = Layer::new();
    l.dir("etc/")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
    l.raw("bin/tool", EntryType::Regular, 0o4755, None, b"#!binary");
    l.symlink("bin/sh", "/bin/tool")
        .hardlink("bin/tool2", "bin/tool");
    l.raw("dev/null", EntryType::Char, 0o666, None, b"");
    l.raw("run/fifo", EntryType::Fifo, 0o600, None, b"");
    let tar = l.bytes();

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let applied = apply(&tar, root, WhiteoutMode::Delete).unwrap();
    assert_eq!(applied.diff_id, Digest::of(&tar));
    assert_eq!(applied.compression, Compression::None);
    assert_eq!(applied.size, 26 + 8);

    assert_eq!(
        fs::read(root.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    let m = fs::metadata(root.join("bin/tool")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o4755));
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(
        fs::metadata(root.join("etc")).unwrap().mtime(),
        1_600_000_000,
        "dir mtime last"
    );
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(
        fs::symlink_metadata(root.join("bin/sh")).unwrap().uid(),
        1000
    );
    assert_eq!(fs::metadata(root.join("bin/tool2")).unwrap().ino(), m.ino());
    assert!(fs::symlink_metadata(root.join("dev/null"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(fs::symlink_metadata(root.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    // Devices can be refused.
    let dir2 = tempfile::tempdir().unwrap();
    let opts = ApplyOptions {
        allow_devices: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    let a2 = apply_layer(&tar[..], dir2.path(), &opts).unwrap();
    assert_eq!(a2.skipped_devices, 1);
    assert!(!dir2.path().join("dev/null").exists());
}

#[test]
fn compressed_layers_have_the_uncompressed_diff_id() {
    let tar = Layer::new().dir("a/").file("a/b", b"hello").bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (bytes, c) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
        let dir = tempfile::tempdir().unwrap();
        let a = apply(&bytes, dir.path(), WhiteoutMode::Overlay).unwrap();
        assert_eq!(a.compression, c);
        assert_eq!(a.diff_id, Digest::of(&tar));
        assert_eq!(fs::read(dir.path().join("a/b")).unwrap(), b"hello");
    }
}

#[test]
fn delete_mode_whiteouts_remove_files_and_opaque_dirs_keep_this_layers_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let base = Layer::new()
        .dir("a/")
        .file("a/old1", b"1")
        .dir("a/sub/")
        .file("a/sub/old2", b"2")
        .dir("b/")
        .file("b/x", b"x")
        .file("c", b"c")
        .bytes();
    apply(&base, root, WhiteoutMode::Delete).unwrap();
    // The new file comes before the opaque marker: it must survive.
    let upper = Layer::new()
        .file("a/new", b"n")
        .file("a/.wh..wh..opq", b"")
        .file(".wh.b", b"")
        .file(".wh.c", b"")
        .bytes();
    apply(&upper, root, WhiteoutMode::Delete).unwrap();
    let mut names: Vec<_> = fs::read_dir(root.join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["new"]);
    assert!(!root.join("b").exists());
    assert!(!root.join("c").exists());
    assert!(!root.join(".wh.b").exists());
}

#[test]
fn overlay_mode_whiteouts_become_devices_and_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let upper = Layer::new()
        .dir("a/")
        .file("a/.wh..wh..opq", b"")
        .file("a/keep", b"k")
        .file(".wh.gone", b"")
        .file(".wh..wh.plnk", b"")
        .bytes();
    apply(&upper, root, WhiteoutMode::Overlay).unwrap();
    let m = fs::symlink_metadata(root.join("gone")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    let v = crate::sys::get_xattr_path(&root.join("a"), c"trusted.overlay.opaque").unwrap();
    assert_eq!(v.as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read(root.join("a/keep")).unwrap(), b"k");
    assert!(!root.join(".wh..wh.plnk").exists());
}

#[test]
fn hostile_paths_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"original").unwrap();
    let root_parent = tempfile::tempdir().unwrap();
    let root = root_parent.path().join("root");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", Layer::new().file("../escape", b"x").bytes()),
        (
            "nested dotdot",
            Layer::new().file("a/../../escape", b"x").bytes(),
        ),
        (
            "symlink climbing out",
            Layer::new()
                .symlink("up", "../../../../../..")
                .file("up/escape", b"x")
                .bytes(),
        ),
        (
            "symlink chain climbing out",
            Layer::new()
                .dir("d/")
                .symlink("d/l1", "..")
                .symlink("l2", "d/l1/..")
                .file("l2/escape", b"x")
                .bytes(),
        ),
        (
            "hardlink out",
            Layer::new().hardlink("h", "../victim").bytes(),
        ),
        (
            "whiteout of parent",
            Layer::new().file("a/.wh...", b"").bytes(),
        ),
    ];
    for (what, bytes) in cases {
        fs::create_dir_all(&root).unwrap();
        let err = apply(&bytes, &root, WhiteoutMode::Delete).expect_err(what);
        assert!(
            matches!(
                err,
                Error::UnsafePath { .. }
                    | Error::SymlinkEscape { .. }
                    | Error::SymlinkLoop { .. }
                    | Error::BadHardlink { .. }
            ),
            "{what}: {err}"
        );
        assert!(!root_parent.path().join("escape").exists(), "{what}");
        fs::remove_dir_all(&root).unwrap();
    }
    assert_eq!(fs::read(&victim).unwrap(), b"original");
}

#[test]
fn absolute_symlinks_resolve_inside_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let target = outside.path().display().to_string();
    // A link to an absolute host path: writing through it must land inside the root.
    let tar = Layer::new()
        .dir(&format!("{}/", target.trim_start_matches('/')))
        .symlink("abs", &target)
        .file("abs/pwned", b"x")
        .symlink("hosts", "/")
        .file("hosts/inside", b"y")
        .hardlink("hl", "hosts/inside")
        .bytes();
    apply(&tar, root, WhiteoutMode::Delete).unwrap();
    assert!(!outside.path().join("pwned").exists());
    let inner = root.join(target.trim_start_matches('/')).join("pwned");
    assert_eq!(fs::read(inner).unwrap(), b"x");
    assert_eq!(fs::read(root.join("inside")).unwrap(), b"y");
    assert_eq!(fs::read(root.join("hl")).unwrap(), b"y");
}

#[test]
fn hardlink_through_symlink_cannot_reach_host_files() {
    let dir = tempfile::tempdir().unwrap();
    let tar = Layer::new()
        .symlink("e", "/etc")
        .hardlink("shadow", "e/passwd")
        .bytes();
    // /etc/passwd exists on the host but not in the root: the link must fail, not reach it.
    let err = apply(&tar, dir.path(), WhiteoutMode::Delete).unwrap_err();
    assert!(matches!(err, Error::BadHardlink { .. }), "{err}");
    assert!(!dir.path().join("shadow").exists());
}

#[test]
fn replacing_entries_and_truncated_archives() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    apply(
        &Layer::new()
            .dir("x/")
            .file("x/f", b"1")
            .file("y", b"2")
            .bytes(),
        root,
        WhiteoutMode::Delete,
    )
    .unwrap();
    // A file replaces a directory and a directory replaces a file.
    apply(
        &Layer::new().file("x", b"now a file").dir("y/").bytes(),
        root,
        WhiteoutMode::Delete,
    )
    .unwrap();
    assert_eq!(fs::read(root.join("x")).unwrap(), b"now a file");
    assert!(root.join("y").is_dir());

    let mut tar = Layer::new().file("big", &[7u8; 5000]).bytes();
    tar.truncate(2048);
    let err = apply(&tar, root, WhiteoutMode::Delete).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn tar_dir_round_trips_and_writes_whiteouts() {
    let src = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .dir("d/")
        .file("d/f", b"data")
        .hardlink("d/g", "d/f")
        .symlink("l", "d/f")
        .file(".wh.deleted", b"")
        .dir("o/")
        .file("o/.wh..wh..opq", b"")
        .bytes();
    apply(&layer, src.path(), WhiteoutMode::Overlay).unwrap();
    fs::set_permissions(src.path().join("d/f"), fs::Permissions::from_mode(0o600)).unwrap();
    let f = fs::File::open(src.path().join("d/f")).unwrap();
    crate::sys::set_xattr_fd(std::os::fd::AsFd::as_fd(&f), c"user.berth.test", b"v\0=1").unwrap();
    // A value with a newline is written correctly but the tar crate cannot read it back: the
    // layer must still apply.
    let nl = src.path().join("d/nl");
    fs::write(&nl, b"nl").unwrap();
    let nf = fs::File::open(&nl).unwrap();
    crate::sys::set_xattr_fd(std::os::fd::AsFd::as_fd(&nf), c"user.nl", b"a\nb").unwrap();
    // A long name makes the writer add a GNU long-name entry after the PAX header.
    let long = format!("d/{}", "n".repeat(150));
    fs::write(src.path().join(&long), b"long").unwrap();
    let lf = fs::File::open(src.path().join(&long)).unwrap();
    crate::sys::set_xattr_fd(std::os::fd::AsFd::as_fd(&lf), c"user.k", b"long").unwrap();

    let out = tar_dir(src.path(), Vec::new()).unwrap();
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(&out[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        names.push((
            e.path().unwrap().display().to_string(),
            e.header().entry_type(),
        ));
    }
    assert!(
        names.contains(&(".wh.deleted".into(), EntryType::Regular)),
        "{names:?}"
    );
    assert!(
        names.contains(&("o/.wh..wh..opq".into(), EntryType::Regular)),
        "{names:?}"
    );
    assert!(
        names.contains(&("d/g".into(), EntryType::Link)),
        "{names:?}"
    );

    let dst = tempfile::tempdir().unwrap();
    fs::write(dst.path().join("deleted"), b"lower").unwrap();
    apply(&out, dst.path(), WhiteoutMode::Delete).unwrap();
    assert!(!dst.path().join("deleted").exists());
    assert_eq!(fs::read(dst.path().join("d/g")).unwrap(), b"data");
    assert_eq!(
        fs::metadata(dst.path().join("d/f")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_link(dst.path().join("l")).unwrap(),
        Path::new("d/f")
    );
}

/// What a hostile-corpus case must end in.
enum Expect {
    /// Applied, and this holds of the root.
    Applied(fn(&Path)),
    /// Refused as hostile input.
    Refused,
}

/// Whether two paths name one inode, each resolved inside its root (as the container would
/// see it) rather than on the host.
fn same_inode(a: &Path, b: &Path) -> bool {
    let open = |p: &Path| {
        let (root, rel) = split_root(p);
        let h = pathrs::Root::open(root).unwrap().resolve(rel).unwrap();
        h.reopen(pathrs::flags::OpenFlags::O_PATH)
            .unwrap()
            .metadata()
            .unwrap()
    };
    let (a, b) = (open(a), open(b));
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// containerd's `TestBreakouts` cases (pkg/archive/tar_test.go), recreated: each archive is
/// applied in both whiteout modes onto a root whose sibling holds a decoy `etc/passwd`, and
/// whatever the outcome, nothing outside the root may change. Where containerd clamps a
/// symlink that climbs above the root, Berth refuses the archive, as Docker's unpacker does.
#[test]
fn containerd_breakout_corpus() {
    let unbroken = |r: &Path| assert_eq!(fs::read(r.join("etc/unbroken")).unwrap(), b"unbroken");
    let passwd_linked =
        |r: &Path| assert!(same_inode(&r.join("localpasswd"), &r.join("etc/passwd")));
    let local_linked = |r: &Path| {
        assert!(same_inode(
            &r.join("localetc/localpasswd"),
            &r.join("etc/passwd")
        ))
    };
    type Pre = fn(&Path);
    let none: Pre = |_| {};
    let etc_passwd: Pre = |r| {
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/passwd"), b"inside").unwrap();
    };
    let cases: Vec<(&str, Pre, Vec<u8>, Expect)> = vec![
        (
            "SymlinkAbsolute",
            none,
            Layer::new()
                .dir("etc/")
                .symlink("localetc", "/etc")
                .file("/localetc/unbroken", b"unbroken")
                .bytes(),
            Expect::Applied(unbroken),
        ),
        (
            "SymlinkUpAndOut",
            none,
            Layer::new()
                .dir("etc/")
                .dir("dummy/")
                .symlink("localetc", "/dummy/../etc")
                .file("/localetc/unbroken", b"unbroken")
                .bytes(),
            Expect::Applied(unbroken),
        ),
        (
            "SymlinkMultipleAbsolute",
            none,
            Layer::new()
                .dir("etc/")
                .dir("dummy/")
                .symlink("/dummy/etc", "/etc")
                .symlink("localetc", "/dummy/etc")
                .file("/dummy/etc/unbroken", b"unbroken")
                .bytes(),
            Expect::Applied(unbroken),
        ),
        (
            "SymlinkMultipleRelative",
            none,
            Layer::new()
                .dir("etc/")
                .dir("dummy/")
                .symlink("/dummy/etc", "/etc")
                .symlink("localetc", "./dummy/etc")
                .file("/dummy/etc/unbroken", b"unbroken")
                .bytes(),
            Expect::Applied(unbroken),
        ),
        (
            "SymlinkEmptyFile",
            none,
            Layer::new()
                .dir("etc/")
                .file("etc/emptied", b"notempty")
                .symlink("localetc", "/etc")
                .file("/localetc/emptied", b"")
                .bytes(),
            Expect::Applied(|r| assert!(fs::read(r.join("etc/emptied")).unwrap().is_empty())),
        ),
        (
            "HardlinkRelative",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .dir("breakouts/")
                .symlink("breakouts/d1", "../../etc")
                .hardlink("breakouts/mypasswd", "/breakouts/d1/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkDownAndOut",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .dir("breakouts/")
                .dir("downandout/")
                .symlink("breakouts/d1", "../downandout/../../etc")
                .hardlink("breakouts/mypasswd", "/breakouts/d1/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkAbsolute",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("localetc", "/etc")
                .hardlink("localpasswd", "/localetc/passwd")
                .bytes(),
            Expect::Applied(passwd_linked),
        ),
        (
            "HardlinkRelativeLong",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("localetc", "../../../../../../../etc")
                .hardlink("localpasswd", "/localetc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkRelativeUpAndOut",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("localetc", "upandout/../../../etc")
                .hardlink("localpasswd", "/localetc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkDirectRelative",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .hardlink("localpasswd", "../../../../../etc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkDirectAbsolute",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .hardlink("localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Applied(passwd_linked),
        ),
        (
            "SymlinkParentDirectory",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("..", "/etc/")
                .hardlink("localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "SymlinkEmptyFilename",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("", "/etc/")
                .hardlink("localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Applied(passwd_linked),
        ),
        (
            "SymlinkParentRelative",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("localetc/sub/..", "/etc/")
                .hardlink("/localetc/localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "SymlinkSlashEnded",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .dir("localetc/")
                .hardlink("/localetc/localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Applied(local_linked),
        ),
        (
            "SymlinkOverrideDirectory",
            |r| {
                etc_passwd_at(r);
                fs::create_dir(r.join("localetc")).unwrap();
            },
            Layer::new()
                .symlink("localetc", "/etc")
                .hardlink("/localetc/localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Applied(local_linked),
        ),
        (
            "SymlinkOverrideDirectoryRelative",
            |r| {
                etc_passwd_at(r);
                fs::create_dir(r.join("localetc")).unwrap();
            },
            Layer::new()
                .symlink("localetc", "../../etc")
                .hardlink("/localetc/localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Refused,
        ),
        (
            "DirectoryOverrideSymlink",
            |r| {
                etc_passwd_at(r);
                std::os::unix::fs::symlink("/etc", r.join("localetc")).unwrap();
            },
            Layer::new()
                .dir("/localetc/")
                .hardlink("/localetc/localpasswd", "/etc/passwd")
                .bytes(),
            Expect::Applied(|r| {
                assert!(!fs::symlink_metadata(r.join("localetc"))
                    .unwrap()
                    .is_symlink());
                assert!(same_inode(
                    &r.join("localetc/localpasswd"),
                    &r.join("etc/passwd")
                ));
            }),
        ),
        (
            "DirectoryOverrideSymlinkAndHardlink",
            |r| {
                etc_passwd_at(r);
                std::os::unix::fs::symlink("etc", r.join("localetc")).unwrap();
                fs::hard_link(r.join("etc/passwd"), r.join("etc/localpasswd")).unwrap();
            },
            Layer::new()
                .dir("/localetc/")
                .file("/localetc/localpasswd", b"different")
                .bytes(),
            Expect::Applied(|r| {
                assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"inside");
                assert!(!same_inode(
                    &r.join("localetc/localpasswd"),
                    &r.join("etc/passwd")
                ));
            }),
        ),
        (
            "WhiteoutRootParent",
            etc_passwd,
            Layer::new().file(".wh...", b"").bytes(),
            Expect::Refused,
        ),
        (
            "WhiteoutParent",
            etc_passwd,
            Layer::new().file("etc/.wh...", b"").bytes(),
            Expect::Refused,
        ),
        (
            "WhiteoutRoot",
            etc_passwd,
            Layer::new().file(".wh..", b"").bytes(),
            Expect::Refused,
        ),
        (
            "WhiteoutCurrentDirectory",
            etc_passwd,
            Layer::new().file("etc/.wh..", b"").bytes(),
            Expect::Refused,
        ),
        (
            "WhiteoutSymlink",
            |r| {
                etc_passwd_at(r);
                std::os::unix::fs::symlink("/etc", r.join("localetc")).unwrap();
            },
            Layer::new().file(".wh.localetc", b"").bytes(),
            Expect::Applied(|r| {
                assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"inside");
                assert!(
                    fs::symlink_metadata(r.join("localetc"))
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                        || fs::symlink_metadata(r.join("localetc"))
                            .unwrap()
                            .file_type()
                            .is_char_device()
                );
            }),
        ),
        (
            "WhiteoutSymlinkPath",
            |r| {
                etc_passwd_at(r);
                fs::write(r.join("etc/whitedout"), b"x").unwrap();
                std::os::unix::fs::symlink("/etc", r.join("localetc")).unwrap();
            },
            Layer::new().file("localetc/.wh.whitedout", b"").bytes(),
            Expect::Applied(|r| {
                assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"inside");
                assert!(fs::read(r.join("etc/whitedout")).is_err());
            }),
        ),
        (
            "WhiteoutDirectoryName",
            etc_passwd,
            Layer::new().file(".wh.etc/somefile", b"non-empty").bytes(),
            Expect::Applied(|r| {
                assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"inside");
                assert_eq!(fs::read(r.join(".wh.etc/somefile")).unwrap(), b"non-empty");
            }),
        ),
        (
            "WhiteoutDeadSymlinkParent",
            |r| {
                etc_passwd_at(r);
                std::os::unix::fs::symlink("/dne", r.join("localetc")).unwrap();
            },
            Layer::new().file("localetc/.wh.etc", b"").bytes(),
            Expect::Applied(|r| assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"inside")),
        ),
        (
            "WhiteoutRelativePath",
            etc_passwd,
            Layer::new().file("dne/../.wh.etc", b"").bytes(),
            Expect::Refused,
        ),
        (
            "HardlinkSymlinkBeforeCreateTarget",
            none,
            Layer::new()
                .dir("etc/")
                .symlink("localpasswd", "/etc/passwd")
                .hardlink("localpasswd-dup", "localpasswd")
                .file("/etc/passwd", b"after")
                .bytes(),
            Expect::Applied(|r| {
                let l = fs::read_link(r.join("localpasswd-dup")).unwrap();
                assert_eq!(l, Path::new("/etc/passwd"));
                assert_eq!(fs::read(r.join("etc/passwd")).unwrap(), b"after");
            }),
        ),
        (
            "HardlinkSymlinkRelative",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("passwdlink", "../../../../../etc/passwd")
                .hardlink("localpasswd", "/passwdlink")
                .bytes(),
            Expect::Applied(|r| {
                assert_eq!(
                    fs::read_link(r.join("localpasswd")).unwrap(),
                    fs::read_link(r.join("passwdlink")).unwrap()
                );
            }),
        ),
        (
            "HardlinkSymlinkAbsolute",
            none,
            Layer::new()
                .dir("etc/")
                .file("/etc/passwd", b"inside")
                .symlink("passwdlink", "/etc/passwd")
                .hardlink("localpasswd", "/passwdlink")
                .bytes(),
            Expect::Applied(|r| {
                assert_eq!(
                    fs::read_link(r.join("localpasswd")).unwrap(),
                    Path::new("/etc/passwd")
                );
            }),
        ),
        (
            "AbsoluteNameIsRootRelative",
            none,
            Layer::new().file("/etc/placed", b"here").bytes(),
            Expect::Applied(|r| assert_eq!(fs::read(r.join("etc/placed")).unwrap(), b"here")),
        ),
    ];
    for mode in [WhiteoutMode::Delete, WhiteoutMode::Overlay] {
        for (name, pre, bytes, expect) in &cases {
            let parent = tempfile::tempdir().unwrap();
            // A decoy host tree beside the root: what a breakout would reach.
            let outside = parent.path().join("etc");
            fs::create_dir(&outside).unwrap();
            fs::write(outside.join("passwd"), b"host").unwrap();
            fs::set_permissions(outside.join("passwd"), fs::Permissions::from_mode(0o400)).unwrap();
            let root = parent.path().join("root");
            fs::create_dir(&root).unwrap();
            pre(&root);
            eprintln!("case {name} ({mode:?})");
            let got = apply(bytes, &root, mode);
            match (expect, got) {
                (Expect::Applied(check), Ok(_)) => check(&root),
                (Expect::Refused, Err(e)) => assert!(
                    matches!(
                        e,
                        Error::UnsafePath { .. }
                            | Error::SymlinkEscape { .. }
                            | Error::SymlinkLoop { .. }
                            | Error::BadHardlink { .. }
                    ),
                    "{name} ({mode:?}): refused for the wrong reason: {e}"
                ),
                (Expect::Applied(_), Err(e)) => panic!("{name} ({mode:?}): refused: {e}"),
                (Expect::Refused, Ok(_)) => panic!("{name} ({mode:?}): applied"),
            }
            let names: Vec<_> = fs::read_dir(parent.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names.len(),
                2,
                "{name} ({mode:?}): wrote beside the root: {names:?}"
            );
            assert_eq!(fs::read(outside.join("passwd")).unwrap(), b"host", "{name}");
            let m = fs::metadata(outside.join("passwd")).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o400, "{name}: host file mode changed");
            assert_eq!(m.nlink(), 1, "{name}: host file gained a hard link");
            assert_eq!(fs::read_dir(&outside).unwrap().count(), 1, "{name}");
        }
    }
}

/// Splits `<tmp>/root/<rel>` at the test root.
fn split_root(p: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut root = std::path::PathBuf::new();
    let mut comps = p.components();
    for c in comps.by_ref() {
        root.push(c);
        if c.as_os_str() == "root" {
            break;
        }
    }
    (root, comps.as_path().to_path_buf())
}

fn etc_passwd_at(r: &Path) {
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::write(r.join("etc/passwd"), b"inside").unwrap();
}

#[test]
fn decompression_bombs_are_capped() {
    // 64 MiB of zeros gzips to ~64 KiB: over a 1000:1 ratio once past the grace, and over a
    // small absolute cap at once.
    let mut l = Layer::new();
    l.raw(
        "zeros",
        EntryType::Regular,
        0o644,
        None,
        &vec![0u8; 8 << 20],
    );
    let plain = l.bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ApplyOptions::new(WhiteoutMode::Delete);
    opts.max_size = 1 << 20;
    let err = apply_layer(&gz[..], dir.path(), &opts).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let err = apply_layer(&plain[..], dir.path(), &opts).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    // Under the caps it applies.
    apply_layer(
        &gz[..],
        dir.path(),
        &ApplyOptions::new(WhiteoutMode::Delete),
    )
    .unwrap();
    assert_eq!(
        fs::metadata(dir.path().join("zeros")).unwrap().len(),
        8 << 20
    );
}

#[test]
fn setuid_bits_and_devices_are_kept_as_docker_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.raw("suid", EntryType::Regular, 0o4755, None, b"#!");
    let mut h = Header::new_gnu();
    h.set_path("null").unwrap();
    h.set_entry_type(EntryType::Char);
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h.set_cksum();
    l.0.append(&h, &b""[..]).unwrap();
    apply(&l.bytes(), dir.path(), WhiteoutMode::Delete).unwrap();
    let m = fs::metadata(dir.path().join("suid")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755);
    let n = fs::symlink_metadata(dir.path().join("null")).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), libc::makedev(1, 3));
}

#[test]
fn cp_archives_resolve_inside_the_root() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    fs::create_dir_all(root.join("data/sub")).unwrap();
    fs::write(root.join("data/a"), b"A").unwrap();
    fs::write(root.join("data/sub/b"), b"B").unwrap();
    fs::write(parent.path().join("secret"), b"host secret").unwrap();
    // Links that would leave the root on the host resolve inside it.
    std::os::unix::fs::symlink("../../..", root.join("data/up")).unwrap();
    std::os::unix::fs::symlink("/secret", root.join("abs")).unwrap();
    std::os::unix::fs::symlink("/data", root.join("datalink")).unwrap();

    let (tar, st) = tar_from_root(&root, "/data", Vec::new()).unwrap();
    assert_eq!(st.name, "data");
    assert!(st.mode & (1 << 31) != 0, "a directory in Go's FileMode");
    let mut names = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        names.push(e.path().unwrap().display().to_string());
    }
    assert_eq!(
        names,
        ["data", "data/a", "data/sub", "data/sub/b", "data/up"]
    );

    // The symlink itself, with where it leads inside the container.
    let st = stat_in_root(&root, "/datalink").unwrap();
    assert!(st.mode & (1 << 27) != 0);
    assert_eq!(st.link_target, "/data");
    // Through a link: `/abs` is `/secret` inside the root, which does not exist.
    assert!(tar_from_root(&root, "/abs/.", Vec::new()).is_err());
    // `..` cannot climb out either: /data/up/secret is /secret inside the root.
    let err = tar_from_root(&root, "/data/up/secret", Vec::new()).unwrap_err();
    assert_eq!(
        berth_types::Kinded::kind(&err),
        berth_types::ErrorKind::NotFound,
        "{err}"
    );
    // Contents of a directory through a link ending in "/.".
    let (tar, _) = tar_from_root(&root, "/datalink/.", Vec::new()).unwrap();
    let first = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .unwrap()
        .display()
        .to_string();
    assert_eq!(first, ".");

    // Extraction lands inside, even through a link that points at the host's /.
    let up = Layer::new()
        .file("x/.wh.keep", b"literal")
        .file("y", b"Y")
        .bytes();
    extract_into_root(&root, "/data/up", &up[..], true).unwrap();
    assert_eq!(fs::read(root.join("x/.wh.keep")).unwrap(), b"literal");
    assert_eq!(fs::read(root.join("y")).unwrap(), b"Y");
    assert!(!parent.path().join("y").exists());
    let err = extract_into_root(&root, "/data/a", &up[..], true).unwrap_err();
    assert!(matches!(err, Error::NotADirectory(_)), "{err}");
    // noOverwriteDirNonDir: a file may not replace the directory /data/sub.
    let clash = Layer::new().file("sub", b"file").bytes();
    let err = extract_into_root(&root, "/data", &clash[..], true).unwrap_err();
    assert!(matches!(err, Error::OverwriteDirNonDir(_)), "{err}");
    assert!(root.join("data/sub/b").exists());
    extract_into_root(&root, "/data", &clash[..], false).unwrap();
    assert_eq!(fs::read(root.join("data/sub")).unwrap(), b"file");
}

#[test]
fn id_map_shifts_owners_and_refuses_unmapped_ones() {
    let tar = Layer::new().dir("etc").file("etc/passwd", b"x").bytes();
    let dir = tempfile::tempdir().unwrap();
    // uid 1000 / gid 1001 (the helper's owners) map into the ranges.
    let opts = ApplyOptions {
        id_map: Some(berth_types::idmap::IdMap::from_subordinate(
            &[(400000, 65536)],
            &[(500000, 65536)],
        )),
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    apply_layer(&tar[..], dir.path(), &opts).unwrap();
    let md = fs::symlink_metadata(dir.path().join("etc/passwd")).unwrap();
    assert_eq!((md.uid(), md.gid()), (401000, 501001));
    let md = fs::symlink_metadata(dir.path().join("etc")).unwrap();
    assert_eq!((md.uid(), md.gid()), (401000, 501001));

    // A range too small for uid 1000 fails the layer instead of leaving it unshifted.
    let dir = tempfile::tempdir().unwrap();
    let opts = ApplyOptions {
        id_map: Some(berth_types::idmap::IdMap::from_subordinate(
            &[(400000, 100)],
            &[(500000, 65536)],
        )),
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    let err = apply_layer(&tar[..], dir.path(), &opts).unwrap_err();
    assert!(err.to_string().contains("cannot be mapped"), "{err}");
}
