"""Pull and push benchmark: a synthetic image of 4 layers (mixed text and random files, about
400 MB unpacked and 260 MB compressed; BENCH_PULL_SCALE=0.25 for a quick run) generated here and
served by Debian's docker-registry on loopback, pulled cold each run by Berth and, when a
reference Docker is reachable (ANCHOR_DOCKER_HOST), by Docker; skopeo's download-only copy as a
floor; and Berth's push of the same image to an empty registry.

Usage: python3 bench/pull.py   (root; BERTH_BIN picks the binary, BENCH_RUNS the run count)
"""

import gzip
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.environ.get("BERTH_BIN") or os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release", "berth")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SCALE = float(os.environ.get("BENCH_PULL_SCALE", "1"))
ANCHOR = os.environ.get("ANCHOR_DOCKER_HOST")
CACHE = os.path.join(tempfile.gettempdir(), f"berth-bench-pull-{SCALE}")


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_layer(n, rng):
    """~100 MB unpacked: 60% random (incompressible), 40% text, in files of 1-8 MB."""
    buf = io.BytesIO()
    total = int(100e6 * SCALE)
    with tarfile.open(fileobj=buf, mode="w") as t:
        done, i = 0, 0
        words = [bytes(f"word{w} ", "ascii") for w in range(5000)]
        while done < total:
            size = min(rng.randint(1, 8) * 1_000_000, total - done)
            if i % 5 < 3:
                data = rng.randbytes(size)
            else:
                data = b"".join(rng.choice(words) for _ in range(size // 8))[:size]
            info = tarfile.TarInfo(f"layer{n}/f{i}.{'bin' if i % 5 < 3 else 'txt'}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            t.addfile(info, io.BytesIO(data))
            done += size
            i += 1
    return buf.getvalue()


def image():
    """The layers (compressed), config and manifest; generated once per scale and cached."""
    meta = os.path.join(CACHE, "manifest.json")
    if not os.path.exists(meta):
        os.makedirs(CACHE, exist_ok=True)
        rng = random.Random(42)
        diff_ids, descs = [], []
        for n in range(4):
            tar = make_layer(n, rng)
            gz = gzip.compress(tar, compresslevel=6, mtime=0)
            diff_ids.append(sha(tar))
            d = sha(gz)
            with open(os.path.join(CACHE, d[7:]), "wb") as f:
                f.write(gz)
            descs.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d, "size": len(gz)})
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }).encode()
        with open(os.path.join(CACHE, sha(config)[7:]), "wb") as f:
            f.write(config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(config), "size": len(config)},
            "layers": descs,
        }).encode()
        with open(meta + ".tmp", "wb") as f:
            f.write(manifest)
        os.rename(meta + ".tmp", meta)
    with open(meta, "rb") as f:
        return f.read()


class Registry:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="berth-bench-reg-")
        self.host = f"127.0.0.1:{free_port()}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\nhttp:\n  addr: {self.host}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(self.host.split(":") and ("127.0.0.1", int(self.host.split(":")[1])), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, timeout=600)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def push(self, repo, tag, manifest):
        m = json.loads(manifest)
        for d in [m["config"]] + m["layers"]:
            with open(os.path.join(CACHE, d["digest"][7:]), "rb") as f:
                data = f.read()
            st, h, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/")
            loc = h["Location"].split(self.host, 1)[-1]
            sep = "&" if "?" in loc else "?"
            st, _, body = self.req("PUT", f"{loc}{sep}digest={d['digest']}", data, {"Content-Type": "application/octet-stream"})
            assert st == 201, body
        st, _, body = self.req("PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": m["mediaType"]})
        assert st == 201, body

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    """A Berth daemon on private roots, fresh for every cold pull."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-pull-")
        self.exec_root = f"/run/bb/pull-{os.getpid()}"
        os.makedirs(self.exec_root, exist_ok=True)
        self.host = f"unix://{self.exec_root}/api.sock"
        self.proc = subprocess.Popen(
            [BERTH, "daemon", "--data-root", f"{self.tmp}/data", "--exec-root", self.exec_root, "-H", self.host],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            if os.path.exists(f"{self.exec_root}/api.sock"):
                return
            time.sleep(0.05)
        raise RuntimeError("berth daemon did not start")

    def berth(self, *args):
        return subprocess.run([BERTH, "-H", self.host, *args], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        subprocess.run(["umount", "-R", "-l", self.tmp], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    manifest = image()
    m = json.loads(manifest)
    compressed = sum(l["size"] for l in m["layers"]) / 1e6
    print(f"image: 4 layers, {compressed:.0f} MB compressed, ~{400 * SCALE:.0f} MB unpacked; {RUNS} runs; berth={BERTH}")
    reg = Registry()
    try:
        reg.push("bench/img", "1", manifest)
        ref = f"{reg.host}/bench/img:1"
        results = {}

        def berth_pull():
            d = Daemon()
            try:
                return timed(lambda: d.berth("pull", "-q", ref))
            finally:
                d.close()

        results["berth pull"] = [berth_pull() for _ in range(RUNS)]

        if shutil.which("skopeo"):
            def skopeo():
                out = tempfile.mkdtemp(prefix="berth-bench-skopeo-")
                try:
                    return timed(lambda: subprocess.run(
                        ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}/img"],
                        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                finally:
                    shutil.rmtree(out, ignore_errors=True)
            results["skopeo copy (download only)"] = [skopeo() for _ in range(RUNS)]

        if ANCHOR:
            env = dict(os.environ, DOCKER_HOST=ANCHOR)

            def docker_pull():
                subprocess.run(["docker", "rmi", "-f", ref], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                t = timed(lambda: subprocess.run(["docker", "pull", "-q", ref], env=env, check=True, stdout=subprocess.DEVNULL))
                subprocess.run(["docker", "rmi", "-f", ref], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return t
            results["docker pull"] = [docker_pull() for _ in range(RUNS)]

        # Push: the pulled image (its compressed blobs are kept) to an empty registry.
        def berth_push():
            target = Registry()
            d = Daemon()
            try:
                d.berth("pull", "-q", ref)
                dst = f"{target.host}/bench/pushed:1"
                subprocess.run(["docker", "-H", d.host, "tag", ref, dst], check=True, stdout=subprocess.DEVNULL)
                return timed(lambda: d.berth("push", "-q", dst))
            finally:
                d.close()
                target.close()
        results["berth push"] = [berth_push() for _ in range(RUNS)]

        for k, v in results.items():
            print(f"{k:32s} median {statistics.median(v):6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
        if "docker pull" in results:
            r = statistics.median(results["berth pull"]) / statistics.median(results["docker pull"])
            print(f"berth pull / docker pull = {r:.2f}x (target <= 0.3x)")
    finally:
        reg.close()


if __name__ == "__main__":
    sys.exit(main())
