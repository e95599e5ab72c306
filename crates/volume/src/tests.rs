use super::*;
use berth_types::Kinded;

fn store() -> (tempfile::TempDir, VolumeStore) {
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(d.path().join("volumes")).unwrap();
    (d, s)
}

#[test]
fn create_get_list_remove() {
    let (_d, s) = store();
    let mut labels = BTreeMap::new();
    labels.insert("a".to_string(), "b".to_string());
    let (v, created) = s
        .create(CreateRequest {
            name: Some("data1".into()),
            labels,
            ..Default::default()
        })
        .unwrap();
    assert!(created);
    assert!(s.data_path("data1").is_dir());
    let (again, created) = s
        .create(CreateRequest {
            name: Some("data1".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(!created);
    assert_eq!(again, v);
    let (anon, _) = s.create(CreateRequest::default()).unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.is_anonymous());
    assert_eq!(s.list().unwrap().len(), 2);
    let api = s.to_api(&v, None);
    assert_eq!(api["Labels"]["a"], "b");
    assert_eq!(api["Options"], Value::Null);
    assert_eq!(api["Scope"], "local");
    s.reference("data1", "c1").unwrap();
    s.create_referenced(
        CreateRequest {
            name: Some("data1".into()),
            ..Default::default()
        },
        "c0",
    )
    .unwrap();
    assert_eq!(s.users("data1"), vec!["c0", "c1"]);
    let e = s.remove("data1").unwrap_err();
    assert_eq!(e.to_string(), "remove data1: volume is in use - [c0, c1]");
    s.unreference("c1");
    s.unreference("c0");
    assert!(s.reference("nosuch", "c1").is_err());
    s.remove("data1").unwrap();
    assert!(matches!(s.get("data1"), Err(Error::NotFound(_))));
    assert_eq!(
        s.remove("data1").unwrap_err().to_string(),
        "get data1: no such volume"
    );
}

#[test]
fn names_are_checked_like_docker() {
    let (_d, s) = store();
    let e = |n: &str| {
        s.create(CreateRequest {
            name: Some(n.into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        e("x"),
        "create x: volume name is too short, names should be at least two alphanumeric characters"
    );
    assert!(e("a/b").starts_with("create a/b: \"a/b\" includes invalid characters"));
    assert!(e("../x").contains("invalid characters"));
    assert!(s.get("../../etc").is_err());
    let bad_opt = s
        .create(CreateRequest {
            name: Some("vv".into()),
            options: [("foo".to_string(), "1".to_string())].into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(bad_opt.to_string(), "create vv: invalid option: \"foo\"");
    let other_driver = s
        .create(CreateRequest {
            name: Some("vv".into()),
            driver: Some("nfs-plugin".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(other_driver.kind(), berth_types::ErrorKind::NotImplemented);
}

#[test]
fn interrupted_creates_and_removes_are_cleaned_at_open() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("volumes");
    std::fs::create_dir_all(root.join(".creating-x1/_data")).unwrap();
    std::fs::create_dir_all(root.join(".removing-x2-1234/_data")).unwrap();
    std::fs::create_dir_all(root.join("norecord/_data")).unwrap();
    std::fs::create_dir_all(root.join("withdata/_data")).unwrap();
    std::fs::write(root.join("withdata/_data/f"), "keep").unwrap();
    let s = VolumeStore::open(&root).unwrap();
    assert!(!root.join(".creating-x1").exists());
    assert!(!root.join(".removing-x2-1234").exists());
    assert!(!root.join("norecord").exists());
    assert!(root.join("withdata/_data/f").exists(), "data was lost");
    assert!(s.list().unwrap().is_empty());
    // Creating it adopts the data.
    s.create(CreateRequest {
        name: Some("withdata".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(root.join("withdata/_data/f").exists());
}

#[test]
fn tmpfs_volume_is_mounted_by_first_user_and_unmounted_by_last() {
    let (_d, s) = store();
    let (v, _) = s
        .create(CreateRequest {
            name: Some("tv".into()),
            options: [
                ("type".to_string(), "tmpfs".to_string()),
                ("device".to_string(), "tmpfs".to_string()),
                ("o".to_string(), "size=1m".to_string()),
            ]
            .into(),
            ..Default::default()
        })
        .unwrap();
    let data = s.data_path(&v.name);
    let p = s.acquire("tv", "c1").unwrap();
    assert_eq!(p, data);
    assert!(hostmount::is_mountpoint(&data));
    s.acquire("tv", "c2").unwrap();
    assert_eq!(s.active_users("tv"), 2);
    assert!(s.remove("tv").is_err(), "removed while mounted");
    s.release("c1");
    assert!(hostmount::is_mountpoint(&data));
    s.release("c2");
    assert!(!hostmount::is_mountpoint(&data));
    s.remove("tv").unwrap();
}
