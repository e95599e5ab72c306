"""What resource limits and the default seccomp profile cost a `run --rm true`, Berth beside
Docker. Usage: python3 bench/limits.py (after a release build; BERTH_BIN overrides the binary).

Four variants of the same run, each the median of BENCH_RUNS runs (interleaved, so that the
shared machine's noise spreads evenly):
  plain            --security-opt seccomp=unconfined (no filter, no limits)
  seccomp          Docker's default profile (the default)
  limits           --memory 64m --cpus 0.5 --pids-limit 100 --blkio-weight 500, unconfined
  limits+seccomp   both
The "cost" columns are each variant's median minus `plain`'s, per engine.
"""

import statistics
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import bench  # noqa: E402

LIMITS = ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "--blkio-weight", "500"]
UNCONFINED = ["--security-opt", "seccomp=unconfined"]
VARIANTS = {
    "plain": UNCONFINED,
    "seccomp": [],
    "limits": LIMITS + UNCONFINED,
    "limits+seccomp": LIMITS,
}


def main():
    docker = bench.docker_available()
    b = bench.Berth()
    samples = {(v, e): [] for v in VARIANTS for e in ("berth", "docker")}
    try:
        # A warm-up of each, then interleaved runs.
        for v, flags in VARIANTS.items():
            bench.sh(b.cli("run", "--rm", *flags, "busybox", "true"))
            if docker:
                bench.sh(bench.anchor("run", "--rm", *flags, "busybox", "true"))
        for _ in range(bench.RUNS):
            for v, flags in VARIANTS.items():
                samples[(v, "berth")].append(bench.timed(b.cli("run", "--rm", *flags, "busybox", "true")))
                if docker:
                    samples[(v, "docker")].append(bench.timed(bench.anchor("run", "--rm", *flags, "busybox", "true")))
    finally:
        b.close()

    def med(v, e):
        s = samples[(v, e)]
        return statistics.median(s) if s else float("nan")

    print(f"{'run --rm true':<16} {'berth ms':>9} {'cost':>7} {'docker ms':>10} {'cost':>7} {'ratio':>7}")
    for v in VARIANTS:
        bm, dm = med(v, "berth"), med(v, "docker")
        bc, dc = bm - med("plain", "berth"), dm - med("plain", "docker")
        ratio = f"{bm / dm:.2f}x" if docker and dm else "-"
        dtext = f"{dm:10.1f} {dc:+7.1f}" if docker else f"{'-':>10} {'-':>7}"
        print(f"{v:<16} {bm:9.1f} {bc:+7.1f} {dtext} {ratio:>7}", flush=True)


if __name__ == "__main__":
    main()
