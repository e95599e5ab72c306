//! The layer-waste report (issue 5, item 7) through real interfaces: images made by `import`,
//! `commit` and `load`, the report read through the Engine API (`GET /images/{name}/layers`)
//! and the CLI (`berth image inspect --layers`).

mod common;

use common::*;
use serde_json::Value;

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        code(o),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Runs `script` in a container of `image` and commits the result as `name`.
fn commit_step(d: &TestDaemon, image: &str, name: &str, script: &str) {
    let ctr = format!("waste-{}", name.replace([':', '/'], "-"));
    ok(
        &d.berth(&["run", "--name", &ctr, image, "sh", "-c", script]),
        "run",
    );
    ok(&d.berth(&["commit", &ctr, name]), "commit");
    ok(&d.berth(&["rm", &ctr]), "rm");
}

fn report(d: &TestDaemon, name: &str) -> Value {
    let (status, _, body) = d.api("GET", &format!("/images/{name}/layers"), None);
    assert_eq!(status, 200, "layers of {name}: {body}");
    serde_json::from_str(&body).unwrap()
}

const BIG: u64 = 5 << 20;
const CONF: u64 = 300_000;

/// busybox (imported) → layer 2 adds a 5 MiB file and a 300 kB one → layer 3 deletes the first
/// and overwrites the second.
fn wasteful_image(d: &TestDaemon) {
    d.load_busybox();
    commit_step(
        d,
        "busybox",
        "waste:fetch",
        &format!("head -c {BIG} /dev/zero > /big && mkdir /data && head -c {CONF} /dev/zero > /data/conf"),
    );
    commit_step(
        d,
        "waste:fetch",
        "waste:clean",
        "rm /big && echo small > /data/conf",
    );
}

fn check_wasteful_report(r: &Value) {
    let layers = r["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{r:#}");
    // Layer 2 adds both files (plus nothing else of size: commit leaves out /etc/hosts & co).
    assert_eq!(layers[1]["Size"], BIG + CONF, "{r:#}");
    assert_eq!(layers[1]["WastedSize"], BIG + CONF);
    assert_eq!(layers[2]["RemovedSize"], BIG + CONF);
    assert_eq!(layers[0]["WastedSize"], 0);
    assert!(layers[1]["CreatedBy"].as_str().unwrap().contains("head -c"));
    assert_eq!(r["WastedSize"], BIG + CONF);
    let waste = r["Waste"].as_array().unwrap();
    assert_eq!(waste.len(), 2, "{r:#}");
    assert_eq!(waste[0]["Layer"], 3);
    assert_eq!(waste[0]["AddedBy"], 2);
    assert_eq!(waste[0]["Kind"], "deleted");
    assert_eq!(waste[0]["Size"], BIG);
    assert_eq!(waste[0]["Paths"][0], "/big");
    assert_eq!(waste[1]["Kind"], "overwritten");
    assert_eq!(waste[1]["Size"], CONF);
    assert_eq!(waste[1]["Paths"][0], "/data/conf");
    let s = r["Suggestions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{r:#}");
    assert_eq!(
        (s[0]["Layer"].as_u64(), s[0]["AddedBy"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(s[0]["Size"], BIG + CONF);
    let s = s[0]["Text"].as_str().unwrap();
    assert!(
        s.starts_with("layer 3 (sh -c rm /big && echo small > /data/conf) removes or overwrites 5.5 MB that layer 2 (sh -c head -c"),
        "{s}"
    );
}

#[test]
fn waste_report_through_the_api_and_the_cli() {
    let d = TestDaemon::start("waste-rep");
    wasteful_image(&d);

    let r = report(&d, "waste:clean");
    check_wasteful_report(&r);
    let percent = r["WastedSize"].as_u64().unwrap() * 100 / r["Size"].as_u64().unwrap();
    assert!(percent > 50, "{r:#}");

    // Images without waste report none and suggest nothing.
    for name in ["busybox", "waste:fetch"] {
        let r = report(&d, name);
        assert_eq!(r["WastedSize"], 0, "{name}: {r:#}");
        assert_eq!(r["Waste"].as_array().unwrap().len(), 0);
        assert_eq!(r["Suggestions"].as_array().unwrap().len(), 0);
    }
    let (status, _, body) = d.api("GET", "/images/nosuch:1/layers", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such image: nosuch:1"), "{body}");

    // The CLI: the table, the summary, the suggestion.
    let out = ok(
        &d.berth(&["image", "inspect", "--layers", "waste:clean"]),
        "inspect --layers",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("LAYER"), "{out}");
    assert!(
        lines[0].contains("CREATED BY") && lines[0].contains("WASTED"),
        "{out}"
    );
    let row2: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row2[0], "2", "{out}");
    assert_eq!(row2[1], "5.54MB", "{out}");
    assert_eq!(*row2.last().unwrap(), "5.54MB", "{out}");
    assert!(
        out.contains(&format!(
            "in 3 layers; 5.54MB ({percent}%) deleted or overwritten by later layers"
        )),
        "{out}"
    );
    assert!(
        out.contains("  - layer 3 (sh -c rm /big && echo small > /data/conf) removes or overwrites 5.5 MB that layer 2"),
        "{out}"
    );
    let out = ok(
        &d.berth(&[
            "image",
            "inspect",
            "--layers",
            "--format",
            "{{.Layer}} {{.Wasted}} {{.Removes}}",
            "waste:clean",
        ]),
        "inspect --layers --format",
    );
    assert_eq!(
        out,
        format!("1 0 0\n2 {} 0\n3 0 {}\n", BIG + CONF, BIG + CONF)
    );
    let out = ok(
        &d.berth(&["image", "inspect", "--layers", "busybox"]),
        "inspect --layers busybox",
    );
    assert!(out.contains("(0%) deleted or overwritten"), "{out}");
    assert!(!out.contains("  - "), "{out}");
    let o = d.berth(&["image", "inspect", "--layers", "nosuch:1"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("No such image: nosuch:1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn waste_report_of_a_loaded_image_and_its_cache_goes_with_it() {
    let d = TestDaemon::start("waste-load");
    wasteful_image(&d);
    check_wasteful_report(&report(&d, "waste:clean"));
    let cache = d.data_root.join("layer-index");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3);

    // Saved, removed (the cached indexes go with the layers), loaded back: the same report,
    // now read from the loaded layer blobs.
    let tar = d.data_root.join("waste.tar");
    ok(
        &d.berth(&["save", "-o", tar.to_str().unwrap(), "waste:clean"]),
        "save",
    );
    ok(
        &d.berth(&["rmi", "waste:clean", "waste:fetch", "busybox"]),
        "rmi",
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    ok(&d.berth(&["load", "-i", tar.to_str().unwrap()]), "load");
    check_wasteful_report(&report(&d, "waste:clean"));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3);
    std::fs::remove_file(&tar).unwrap();
}

/// After a build, `berth build` names the instructions that waste space — only when the waste is
/// significant, and never with `-q`.
#[test]
fn build_prints_the_waste_report_when_significant() {
    let d = TestDaemon::start("waste-build");
    d.load_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = |text: &str| std::fs::write(ctx.path().join("Dockerfile"), text).unwrap();
    let build = |args: &[&str]| {
        let mut a = vec!["build", "--progress", "plain"];
        a.extend_from_slice(args);
        a.push(ctx.path().to_str().unwrap());
        ok(&d.berth(&a), "build")
    };

    dockerfile(
        "FROM busybox\nRUN head -c 3000000 /dev/zero > /blob && echo keep > /keep\nENV A=1\nRUN rm /blob\n",
    );
    let out = build(&["-t", "waste:built"]);
    assert!(
        out.contains("\nLayer waste: 3MB of ")
            && out.contains("is deleted or overwritten by later layers but still travels"),
        "{out}"
    );
    assert!(
        out.contains("  - layer 3 (RUN rm /blob) removes 3 MB that layer 2 (RUN head -c 3000000 /dev/zero > /blob && echo keep > /keep) added: do both in one RUN"),
        "{out}"
    );
    // The same report through the API names the same layers.
    let r = report(&d, "waste:built");
    assert_eq!(r["Waste"][0]["Layer"], 3);
    assert_eq!(r["Waste"][0]["AddedBy"], 2);
    assert_eq!(r["Waste"][0]["Size"], 3_000_000);
    // Quiet builds print the ID only.
    let out = build(&["-q", "-t", "waste:quiet"]);
    assert_eq!(out.lines().count(), 1, "{out}");

    // Built on a base that wastes space: the base's waste is not this build's to fix.
    dockerfile("FROM waste:built\nRUN echo more > /more\n");
    let out = build(&["-t", "waste:on-top"]);
    assert!(out.contains("Successfully tagged waste:on-top"), "{out}");
    assert!(!out.contains("Layer waste"), "{out}");
    assert_eq!(report(&d, "waste:on-top")["WastedSize"], 3_000_000);

    // The right way: nothing to report.
    dockerfile(
        "FROM busybox\nRUN head -c 3000000 /dev/zero > /blob && echo keep > /keep && rm /blob\n",
    );
    let out = build(&["-t", "waste:lean"]);
    assert!(!out.contains("Layer waste"), "{out}");
    assert_eq!(report(&d, "waste:lean")["WastedSize"], 0);
}
