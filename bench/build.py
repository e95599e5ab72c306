"""Build benchmark (issue 5, item 9): `berth build` beside Docker's legacy builder in the same run.

Scenarios, each a median over BENCH_RUNS runs (default 5):
  cold         a small Dockerfile (FROM the busybox test image, 2 RUN, a COPY, metadata) built
               with --no-cache                      (Docker 20.10 in the issue: 1.2 s; target <= 0.3x)
  cached       the same build, every step cached    (Docker: 89 ms; target <= 0.5x)
  big_context  the cached build with 400 MB of random files beside it in the context
               (BENCH_BUILD_CONTEXT_MB to change)   (Docker: 3.1 s; target <= 0.3x)
  two_stage    --no-cache build of two stages that do not depend on each other until the final
               COPY --from (each RUN sleeps 1 s as a stand-in for work): a builder that runs
               independent stages in parallel needs ~1 s less than one that does not.

Docker is measured when ANCHOR_DOCKER_HOST is set (../shared/tools/anchors.sh starts it), with
DOCKER_BUILDKIT=0 so that it is the legacy builder the issue's figures come from. Berth runs on a
daemon of its own (bench.py's Berth). If `berth build` fails (before the builder lands it answers
501) its column says so and Docker's figures are still printed.

Usage: python3 bench/build.py [scenario…]   (root; BERTH_BIN picks the binary, BENCH_BUILD_NETWORK=none
runs the RUN steps of both engines without a network)
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the Berth daemon wrapper and the busybox test image)

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ANCHOR = os.environ.get("ANCHOR_DOCKER_HOST")
CONTEXT_MB = int(os.environ.get("BENCH_BUILD_CONTEXT_MB", "400"))
# `none` runs every RUN without a network on both engines (the default is each engine's bridge).
NETWORK = os.environ.get("BENCH_BUILD_NETWORK")
TAG = f"berth-bench-build-{os.getpid()}"
BASE = f"{TAG}-busybox"

SMALL = f"""FROM {BASE}
LABEL org.example.bench="build" org.example.size="small"
ENV APP_HOME=/app
RUN mkdir -p /app/data && echo built > /app/data/built.txt
COPY src/ /app/src/
RUN ls -R /app > /app/listing.txt && wc -l /app/listing.txt
WORKDIR /app
EXPOSE 8080
CMD ["sh"]
"""

TWO_STAGE = f"""FROM {BASE} AS compile
RUN sleep 1 && echo compiled > /out.txt

FROM {BASE}
RUN sleep 1 && echo deps > /deps.txt
COPY --from=compile /out.txt /out.txt
CMD ["sh"]
"""

TARGETS = {"cold": 0.3, "cached": 0.5, "big_context": 0.3}


class NotAvailable(Exception):
    pass


def write_context(root, dockerfile):
    os.makedirs(os.path.join(root, "src"), exist_ok=True)
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    for i in range(5):
        with open(os.path.join(root, "src", f"mod{i}.txt"), "w") as f:
            f.write(f"module {i}\n" * 200)


def big_files(root, mb):
    """`mb` MB of random (incompressible) files of 10 MB under root/big/, written once."""
    d = os.path.join(root, "big")
    os.makedirs(d, exist_ok=True)
    rng = random.Random(7)
    left, i = mb, 0
    while left > 0:
        n = min(10, left)
        with open(os.path.join(d, f"blob{i:03d}.bin"), "wb") as f:
            f.write(rng.randbytes(n << 20))
        left -= n
        i += 1


class Engine:
    """How to build, tag-clean and check on one engine."""

    def __init__(self, name, cmd, env=None):
        self.name = name
        self.cmd = cmd  # argv prefix: [berth, -H, host] or [docker, -H, anchor]
        self.env = env

    def build(self, ctx, tag, *flags):
        t = time.perf_counter()
        net = ["--network", NETWORK] if NETWORK else []
        r = subprocess.run([*self.cmd, "build", "-q", *net, *flags, "-t", tag, ctx], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = (time.perf_counter() - t) * 1000.0
        if r.returncode != 0:
            raise NotAvailable(f"{self.name} build failed: {(r.stdout + r.stderr).decode().strip()[-400:]}")
        return dt

    def rmi(self, *tags):
        subprocess.run([*self.cmd, "rmi", "-f", *tags], env=self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def scenario_cold(e, ctx):
    out = []
    for _ in range(RUNS):
        out.append(e.build(ctx["small"], f"{TAG}:cold", "--no-cache"))
        e.rmi(f"{TAG}:cold")
    return out


def scenario_cached(e, ctx):
    e.build(ctx["small"], f"{TAG}:cached")
    out = [e.build(ctx["small"], f"{TAG}:cached") for _ in range(RUNS)]
    e.rmi(f"{TAG}:cached")
    return out


def scenario_big_context(e, ctx):
    e.build(ctx["big"], f"{TAG}:big")
    out = [e.build(ctx["big"], f"{TAG}:big") for _ in range(RUNS)]
    e.rmi(f"{TAG}:big")
    return out


def scenario_two_stage(e, ctx):
    out = []
    for _ in range(RUNS):
        out.append(e.build(ctx["two"], f"{TAG}:two", "--no-cache"))
        e.rmi(f"{TAG}:two")
    return out


SCENARIOS = {
    "cold": scenario_cold,
    "cached": scenario_cached,
    "big_context": scenario_big_context,
    "two_stage": scenario_two_stage,
}


def docker_engine():
    if not ANCHOR:
        return None
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    cmd = [bench.DOCKER, "-H", ANCHOR]
    if subprocess.run([*cmd, "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        print(f"ANCHOR_DOCKER_HOST={ANCHOR} does not answer: Docker's column stays empty")
        return None
    # The same busybox test image Berth builds on, under a name of this run's own.
    bench.sh([*cmd, "import", "--change", 'CMD ["/bin/sh"]', bench.busybox_tar(), BASE])
    return Engine("docker", cmd, env)


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    tmp = tempfile.mkdtemp(prefix="berth-bench-build-")
    ctx = {k: os.path.join(tmp, k) for k in ("small", "big", "two")}
    write_context(ctx["small"], SMALL)
    write_context(ctx["two"], TWO_STAGE)
    docker = None
    b = None
    try:
        if "big_context" in names:
            write_context(ctx["big"], SMALL)
            big_files(ctx["big"], CONTEXT_MB)
        docker = docker_engine()
        b = bench.Berth()
        bench.sh(b.cli("tag", "busybox:latest", BASE))
        berth = Engine("berth", [bench.BERTH, "-H", b.host])
        print(f"{RUNS} runs per scenario; big context {CONTEXT_MB} MB; network {NETWORK or 'default'}; "
              f"berth={bench.BERTH}; "
              f"docker={'legacy builder at ' + ANCHOR if docker else 'not measured'}")
        print(f"{'scenario':<14} {'unit':>4} {'berth':>10} {'docker':>10} {'ratio':>7} {'target':>7}")
        berth_error = None
        for n in names:
            bm = dm = None
            if berth_error is None:
                try:
                    bm = statistics.median(SCENARIOS[n](berth, ctx))
                except NotAvailable as e:
                    berth_error = str(e)
            if docker:
                dm = statistics.median(SCENARIOS[n](docker, ctx))
            btext = f"{bm:10.1f}" if bm is not None else f"{'-':>10}"
            dtext = f"{dm:10.1f}" if dm is not None else f"{'-':>10}"
            ratio = f"{bm / dm:.2f}x" if bm is not None and dm else "-"
            target = f"<={TARGETS[n]}x" if n in TARGETS else "-"
            print(f"{n:<14} {'ms':>4} {btext} {dtext} {ratio:>7} {target:>7}", flush=True)
        if berth_error:
            print(f"berth: {berth_error}")
    finally:
        if docker:
            docker.rmi(*(f"{TAG}:{t}" for t in ("cold", "cached", "big", "two")), BASE)
        if b:
            b.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if bench._TAR:
            os.unlink(bench._TAR)


if __name__ == "__main__":
    main()
