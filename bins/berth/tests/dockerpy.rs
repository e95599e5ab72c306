//! docker-py, an SDK we did not write, drives Berth.

mod common;

use common::*;

const SCRIPT: &str = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
assert c.ping()
out = c.containers.run("busybox", ["sh", "-c", "echo from-python"], remove=True)
assert out == b"from-python\n", out
ct = c.containers.run("busybox", ["sleep", "30"], detach=True, name="py1")
ct.reload()
assert ct.status == "running", ct.status
assert ct.attrs["State"]["Running"] is True
code, output = ct.exec_run(["sh", "-c", "echo exec-ok"])
assert code == 0 and output == b"exec-ok\n", (code, output)
assert [x.name for x in c.containers.list()] == ["py1"]
ct.stop(timeout=1)
res = ct.wait()
assert res["StatusCode"] in (137, 143), res
ct.remove()
assert c.containers.list(all=True) == []
print("docker-py ok")
"#;

#[test]
fn docker_py_runs_execs_and_removes() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        have,
        "python3-docker is required (scripts/test.sh installs it)"
    );
    let d = TestDaemon::start("dockerpy");
    d.load_busybox();
    assert!(d.docker_py(SCRIPT).contains("docker-py ok"));
}
