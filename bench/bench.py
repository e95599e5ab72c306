"""Berth's scenario benchmarks: medians over repeated runs, Berth beside Docker, as ratios.

Each scenario is a function returning a list of samples (milliseconds or megabytes). Berth runs
on a daemon of its own (private roots under /run/bb and /tmp), never the host's default.
"""

import os
import re
import shutil
import socket
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.environ.get("BERTH_BIN") or os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release", "berth")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
ANCHOR = os.environ.get("ANCHOR_DOCKER_HOST", "unix:///run/anchor/docker.sock")


def sh(args, env=None, check=True, **kw):
    return subprocess.run(args, env=env, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def timed(args, env=None):
    t = time.perf_counter()
    sh(args, env=env)
    return (time.perf_counter() - t) * 1000.0


def private_mb(pid):
    """Memory only this process uses (USS): what one more shim really costs, since the text
    of a binary is shared by every process that runs it."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024.0


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Berth:
    def __init__(self, extra_args=(), tag=""):
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-")
        # The remapped root must traverse to the data root (--userns-remap); harmless otherwise.
        os.chmod(self.tmp, 0o711)
        self.exec_root = f"/run/bb/{os.getpid()}{tag}"
        os.makedirs(self.exec_root, exist_ok=True)
        self.host = f"unix://{self.exec_root}/api.sock"
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w")
        # A bridge and subnets of its own, never the host's defaults.
        self.net_args = ["--bridge", f"bb{os.getpid():x}{tag}", "--default-address-pool", "base=10.224.0.0/11,size=24",
                         *extra_args]
        self.proc = subprocess.Popen(
            [BERTH, "daemon", "--data-root", os.path.join(self.tmp, "data"), "--exec-root", self.exec_root, "-H", self.host,
             *self.net_args],
            stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(self.exec_root + "/api.sock"):
                break
            time.sleep(0.02)
        self.cli_env = dict(os.environ)
        self.docker_env = dict(os.environ, DOCKER_HOST=self.host)
        sh([BERTH, "-H", self.host, "import", "--change", 'CMD ["/bin/sh"]', busybox_tar(), "busybox:latest"])

    def cli(self, *args):
        return [BERTH, "-H", self.host, *args]

    def close(self):
        ids = sh(self.cli("ps", "-aq"), check=False).stdout.split()
        for i in ids:
            sh(self.cli("rm", "-f", i.decode()), check=False)
        for n in sh(self.cli("network", "ls", "-q", "--filter", "type=custom"), check=False).stdout.split():
            sh(self.cli("network", "rm", n.decode()), check=False)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        sh([BERTH, "daemon", "--data-root", os.path.join(self.tmp, "data"), "--exec-root", self.exec_root,
            *self.net_args, "--network-cleanup"], check=False)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        subprocess.run(["umount", "-R", self.tmp], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)


_TAR = None


def busybox_tar():
    global _TAR
    if _TAR:
        return _TAR
    d = tempfile.mkdtemp()
    for sub in ("bin", "etc", "tmp", "root"):
        os.makedirs(os.path.join(d, sub))
    bb = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(bb, os.path.join(d, "bin", "busybox"))
    for applet in sh([bb, "--list"]).stdout.decode().split():
        p = os.path.join(d, "bin", applet)
        if not os.path.exists(p):
            os.symlink("busybox", p)
    with open(os.path.join(d, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    _TAR = d + ".tar"
    with tarfile.open(_TAR, "w") as t:
        t.add(d, arcname=".")
    shutil.rmtree(d)
    return _TAR


def docker_available():
    r = subprocess.run([DOCKER, "-H", ANCHOR, "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def anchor(*args):
    return [DOCKER, "-H", ANCHOR, *args]


def scenario_run_rm_true(b, docker):
    berth = [timed(b.cli("run", "--rm", "busybox", "true")) for _ in range(RUNS)]
    ref = [timed(anchor("run", "--rm", "busybox", "true")) for _ in range(RUNS)] if docker else []
    return "ms", berth, ref


def scenario_docker_cli_run_rm_true(b, docker):
    berth = [timed([DOCKER, "run", "--rm", "busybox", "true"], env=b.docker_env) for _ in range(RUNS)]
    ref = [timed(anchor("run", "--rm", "busybox", "true")) for _ in range(RUNS)] if docker else []
    return "ms", berth, ref


def scenario_exec_true(b, docker):
    sh(b.cli("run", "-d", "--name", "bench-exec", "busybox", "sleep", "1000"))
    berth = [timed(b.cli("exec", "bench-exec", "true")) for _ in range(RUNS)]
    sh(b.cli("rm", "-f", "bench-exec"))
    ref = []
    if docker:
        sh(anchor("rm", "-f", "bench-exec"), check=False)  # a leftover of an interrupted run
        sh(anchor("run", "-d", "--name", "bench-exec", "busybox", "sleep", "1000"))
        ref = [timed(anchor("exec", "bench-exec", "true")) for _ in range(RUNS)]
        sh(anchor("rm", "-f", "bench-exec"))
    return "ms", berth, ref


def scenario_run_rm_volume(b, docker):
    """`run --rm` with a named volume and a bind mount: the cost of mounting them."""
    host = tempfile.mkdtemp(prefix="berth-bench-bind-")
    args = ("run", "--rm", "-v", "benchvol:/data", "-v", f"{host}:/h:ro", "busybox", "true")
    berth = [timed(b.cli(*args)) for _ in range(RUNS)]
    sh(b.cli("volume", "rm", "benchvol"))
    ref = []
    if docker:
        ref = [timed(anchor(*args)) for _ in range(RUNS)]
        sh(anchor("volume", "rm", "benchvol"))
    os.rmdir(host)
    return "ms", berth, ref


def scenario_volume_create_rm(b, docker):
    """`volume create` then `volume rm` of a named volume."""
    def cycle(cmd):
        t = time.perf_counter()
        sh(cmd("volume", "create", "benchcycle"))
        sh(cmd("volume", "rm", "benchcycle"))
        return (time.perf_counter() - t) * 1000.0
    berth = [cycle(b.cli) for _ in range(RUNS)]
    ref = [cycle(anchor) for _ in range(RUNS)] if docker else []
    return "ms", berth, ref


def scenario_ps_a_100(b, docker):
    def fill(cmd):
        for i in range(100):
            sh(cmd("create", "--name", f"bench-ps-{i}", "busybox", "true"))

    def clear(cmd):
        ids = sh(cmd("ps", "-aq", "--filter", "name=bench-ps-"), check=False).stdout.decode().split()
        if ids:
            sh(cmd("rm", "-f", *ids), check=False)

    fill(b.cli)
    berth = [timed(b.cli("ps", "-a")) for _ in range(RUNS)]
    clear(b.cli)
    ref = []
    if docker:
        fill(anchor)
        ref = [timed(anchor("ps", "-a")) for _ in range(RUNS)]
        clear(anchor)
    return "ms", berth, ref


def dockerd_rss():
    total = 0.0
    for name in ("dockerd", "containerd"):
        pids = subprocess.run(["pgrep", "-x", name], stdout=subprocess.PIPE).stdout.split()
        for p in pids:
            total += rss_mb(int(p))
    return total


def scenario_daemon_idle_rss(b, docker):
    time.sleep(1)
    return "MB", [rss_mb(b.proc.pid)], ([dockerd_rss()] if docker else [])


def shim_pids(parent_name):
    out = subprocess.run(["pgrep", "-f", parent_name], stdout=subprocess.PIPE).stdout.split()
    return [int(p) for p in out]


def alive(measure, pid):
    """`measure(pid)`, or None for a process that ended meanwhile."""
    try:
        value = measure(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if value != value else value  # NaN: no such field (not a user process)


def measure_shims(b, docker, measure):
    sh(b.cli("run", "-d", "--name", "bench-shim", "busybox", "sleep", "1000"))
    time.sleep(0.5)
    pids = [p for p in shim_pids(b.exec_root) if p != b.proc.pid and open(f"/proc/{p}/cmdline").read().split("\0")[1:2] == ["shim"]]
    berth = [m for m in (alive(measure, p) for p in pids) if m is not None]
    sh(b.cli("rm", "-f", "bench-shim"))
    ref = []
    if docker:
        sh(anchor("rm", "-f", "bench-shim"), check=False)  # a leftover of an interrupted run
        sh(anchor("run", "-d", "--name", "bench-shim", "busybox", "sleep", "1000"))
        time.sleep(0.5)
        ref = [m for m in (alive(measure, int(p)) for p in subprocess.run(["pgrep", "-f", "containerd-shim"], stdout=subprocess.PIPE).stdout.split()) if m is not None]
        sh(anchor("rm", "-f", "bench-shim"))
    return "MB", berth, ref


def scenario_shim_rss(b, docker):
    return measure_shims(b, docker, rss_mb)


def scenario_shim_private(b, docker):
    return measure_shims(b, docker, private_mb)


def synthetic_image_archive():
    """A `docker save` archive (the legacy layout every Docker loads) of `bench-load:1`: the
    busybox rootfs plus a layer of mixed text and random files (~48 MB)."""
    d = tempfile.mkdtemp(prefix="berth-bench-load-")
    layers = [busybox_tar()]
    mixed = os.path.join(d, "mixed.tar")
    with tarfile.open(mixed, "w") as t:
        import io
        import random
        rnd = random.Random(7)
        for i in range(24):
            data = os.urandom(1 << 20) if i % 2 else ("line %d of text\n" % i * 65536).encode()[: 1 << 20]
            info = tarfile.TarInfo(f"data/f{i:03d}")
            info.size = len(data)
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
        for i in range(2000):
            data = (f"small file {i} " * rnd.randint(1, 64)).encode()
            info = tarfile.TarInfo(f"small/{i:04d}.txt")
            info.size = len(data)
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    layers.append(mixed)
    import hashlib
    import json
    diff_ids = []
    for l in layers:
        h = hashlib.sha256()
        with open(l, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        diff_ids.append("sha256:" + h.hexdigest())
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "busybox"}, {"created_by": "mixed"}],
    }).encode()
    cfg = hashlib.sha256(config).hexdigest() + ".json"
    out = os.path.join(d, "image.tar")
    with tarfile.open(out, "w") as t:
        import io
        info = tarfile.TarInfo(cfg)
        info.size = len(config)
        t.addfile(info, io.BytesIO(config))
        names = []
        for i, l in enumerate(layers):
            name = f"{i:064x}/layer.tar"
            t.add(l, arcname=name)
            names.append(name)
        manifest = json.dumps([{"Config": cfg, "RepoTags": ["bench-load:1"], "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        t.addfile(info, io.BytesIO(manifest))
    return out


def scenario_load(b, docker):
    """`load` of a ~50 MB two-layer image, cold each time (the image and its layers removed
    before every run)."""
    archive = synthetic_image_archive()
    runs = int(os.environ.get("BENCH_LOAD_RUNS", "5"))

    def measure(cmd):
        out = []
        for _ in range(runs):
            sh(cmd("rmi", "-f", "bench-load:1"), check=False)
            try:
                out.append(timed(cmd("load", "-q", "-i", archive)))
            except subprocess.CalledProcessError as e:
                print(f"load failed ({e.stderr.decode().strip()}); sample skipped", file=sys.stderr)
        sh(cmd("rmi", "-f", "bench-load:1"), check=False)
        return out

    berth = measure(b.cli)
    ref = measure(anchor) if docker else []
    shutil.rmtree(os.path.dirname(archive), ignore_errors=True)
    return "ms", berth, ref


def scenario_image_ls_500(b, docker):
    """`images` with 500 distinct images (tiny one-file imports)."""
    n = int(os.environ.get("BENCH_IMAGES", "500"))
    d = tempfile.mkdtemp(prefix="berth-bench-ls-")
    tars = []
    import io
    for i in range(n):
        p = os.path.join(d, f"{i}.tar")
        with tarfile.open(p, "w") as t:
            data = f"image {i}\n".encode()
            info = tarfile.TarInfo("id")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        tars.append(p)

    def fill(cmd):
        for i, p in enumerate(tars):
            sh(cmd("import", p, f"bench-ls-{i}:1"))

    def clear(cmd):
        names = [f"bench-ls-{i}:1" for i in range(n)]
        for k in range(0, n, 100):
            sh(cmd("rmi", "-f", *names[k:k + 100]), check=False)

    fill(b.cli)
    berth = [timed(b.cli("images")) for _ in range(RUNS)]
    clear(b.cli)
    ref = []
    if docker:
        fill(anchor)
        ref = [timed(anchor("images")) for _ in range(RUNS)]
        clear(anchor)
    shutil.rmtree(d, ignore_errors=True)
    return "ms", berth, ref


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never answered")


_IPERF_TAR = None


def iperf_tar():
    """busybox plus the host's iperf3 (Debian's, with the libraries it links) as a rootfs tar:
    the same server and client in Berth's and Docker's containers."""
    global _IPERF_TAR
    if _IPERF_TAR:
        return _IPERF_TAR
    iperf = shutil.which("iperf3")
    if not iperf:
        sys.exit("iperf3 is needed for the network scenarios (apt-get install iperf3; scripts/deps.sh)")
    d = tempfile.mkdtemp()
    with tarfile.open(busybox_tar()) as t:
        t.extractall(d)
    files = [iperf]
    for line in sh(["ldd", iperf]).stdout.decode().splitlines():
        m = re.search(r"(/\S+)", line)
        if m:
            files.append(m.group(1))
    for f in files:
        dst = os.path.join(d, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.realpath(f), dst)
    _IPERF_TAR = d + ".tar"
    with tarfile.open(_IPERF_TAR, "w") as t:
        t.add(d, arcname=".")
    shutil.rmtree(d)
    return _IPERF_TAR


IPERF_IMAGE = "berth-bench-iperf3:1"


def load_iperf(cmd):
    sh(cmd("import", iperf_tar(), IPERF_IMAGE))


def iperf_mbps(argv):
    """Runs an iperf3 client (JSON output) until a run completes; MB/s received. The first
    tries may meet a server that is not up yet (docker-proxy accepts before it is)."""
    import json
    last = None
    for _ in range(10):
        r = sh(argv, check=False)
        try:
            return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / 1e6
        except (ValueError, KeyError) as e:
            last = (e, r.stdout[-300:], r.stderr[-300:])
            time.sleep(0.5)
    raise RuntimeError(f"iperf3 never completed: {last}")


def scenario_run_rm_none(b, docker):
    berth = [timed(b.cli("run", "--rm", "--network", "none", "busybox", "true")) for _ in range(RUNS)]
    ref = [timed(anchor("run", "--rm", "--network", "none", "busybox", "true")) for _ in range(RUNS)] if docker else []
    return "ms", berth, ref


def published(cmd, name, port, argv, image="busybox"):
    sh(cmd("rm", "-f", name), check=False)
    sh(cmd("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{argv[0]}", image, *argv[1:]))
    wait_port(port)


def scenario_published_tcp_mbps(b, docker):
    """iperf3 throughput from the host's loopback into a container through a published port
    (Docker: its userland docker-proxy; Berth: kernel DNAT)."""
    samples = max(3, RUNS // 4)

    def measure(cmd, name):
        load_iperf(cmd)
        port = free_port()
        published(cmd, name, port, ["5201", "iperf3", "-s"], image=IPERF_IMAGE)
        out = [iperf_mbps(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "2", "-J"])
               for _ in range(samples)]
        sh(cmd("rm", "-f", name))
        return out

    return "MB/s", measure(b.cli, "bench-iperf"), (measure(anchor, "bench-iperf") if docker else [])


def scenario_published_http_ms(b, docker):
    """Latency of one HTTP request (connect, GET, response) through a published port."""
    import urllib.request

    def measure(cmd, name):
        port = free_port()
        published(cmd, name, port, ["80", "httpd", "-f", "-p", "80", "-h", "/etc"])
        url = f"http://127.0.0.1:{port}/passwd"
        for _ in range(3):
            urllib.request.urlopen(url, timeout=5).read()
        out = []
        for _ in range(RUNS * 5):
            t = time.perf_counter()
            urllib.request.urlopen(url, timeout=5).read()
            out.append((time.perf_counter() - t) * 1000.0)
        sh(cmd("rm", "-f", name))
        return out

    return "ms", measure(b.cli, "bench-http"), (measure(anchor, "bench-http") if docker else [])


def scenario_c2c_tcp_mbps(b, docker):
    """iperf3 throughput between two containers on a user-defined network, by name."""
    samples = max(3, RUNS // 4)

    def measure(cmd):
        load_iperf(cmd)
        sh(cmd("rm", "-f", "bench-srv"), check=False)
        sh(cmd("network", "rm", "bench-net"), check=False)
        sh(cmd("network", "create", "bench-net"))
        sh(cmd("run", "-d", "--name", "bench-srv", "--network", "bench-net", IPERF_IMAGE, "iperf3", "-s"))
        time.sleep(0.5)
        out = [iperf_mbps(cmd("run", "--rm", "--network", "bench-net", IPERF_IMAGE,
                              "iperf3", "-c", "bench-srv", "-t", "2", "-J"))
               for _ in range(samples)]
        sh(cmd("rm", "-f", "bench-srv"))
        sh(cmd("network", "rm", "bench-net"), check=False)
        return out

    return "MB/s", measure(b.cli), (measure(anchor) if docker else [])


SCENARIOS = {
    "run_rm_true": scenario_run_rm_true,
    "run_rm_none": scenario_run_rm_none,
    "published_tcp_mbps": scenario_published_tcp_mbps,
    "published_http_ms": scenario_published_http_ms,
    "c2c_tcp_mbps": scenario_c2c_tcp_mbps,
    "docker_cli_run_rm_true": scenario_docker_cli_run_rm_true,
    "exec_true": scenario_exec_true,
    "ps_a_100": scenario_ps_a_100,
    "run_rm_volume": scenario_run_rm_volume,
    "volume_create_rm": scenario_volume_create_rm,
    "daemon_idle_rss": scenario_daemon_idle_rss,
    "shim_rss": scenario_shim_rss,
    "shim_private": scenario_shim_private,
    "load": scenario_load,
    "image_ls_500": scenario_image_ls_500,
}


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    docker = docker_available()
    if docker:
        sh(anchor("image", "inspect", "busybox"), check=False)
    b = Berth()
    print(f"{'scenario':<26} {'unit':>4} {'berth':>10} {'docker':>10} {'ratio':>7}")
    try:
        for n in names:
            unit, berth, ref = SCENARIOS[n](b, docker)
            bm = statistics.median(berth) if berth else float("nan")
            dm = statistics.median(ref) if ref else float("nan")
            ratio = f"{bm / dm:.2f}x" if ref and dm else "-"
            dtext = f"{dm:10.1f}" if ref else f"{'-':>10}"
            print(f"{n:<26} {unit:>4} {bm:10.1f} {dtext} {ratio:>7}", flush=True)
    finally:
        b.close()


if __name__ == "__main__":
    main()
