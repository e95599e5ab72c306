"""What `--userns-remap` costs a `run --rm true` and an `exec true`: two Berth daemons, one
remapped, medians of BENCH_RUNS interleaved runs (the reference Docker, not remapped, beside
them when it answers). Usage: python3 bench/userns.py (after a release build; BERTH_BIN
overrides the binary). Creates a remap user with a free subordinate range, and removes it.
"""

import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402


def free_range(size=65536):
    taken = []
    for f in ("/etc/subuid", "/etc/subgid"):
        try:
            for line in open(f):
                p = line.strip().split(":")
                if len(p) == 3 and p[1].isdigit() and p[2].isdigit():
                    taken.append((int(p[1]), int(p[1]) + int(p[2])))
        except FileNotFoundError:
            pass
    start = 500000
    for a, b in sorted(taken):
        if a < start + size and start < b:
            start = b
    return start


def main():
    user = f"bb{os.getpid()}"
    subprocess.run(["useradd", "-r", "-s", "/bin/false", "-U", user], check=True)
    start = free_range()
    rng = f"{start}-{start + 65535}"
    try:
        subprocess.run(["usermod", "-v", rng, "-w", rng, user], check=True)
        # The reference only when it can run a container (its default bridge may be gone).
        docker = bench.docker_available() and bench.sh(
            bench.anchor("run", "--rm", "busybox", "true"), check=False).returncode == 0
        plain, remap = bench.Berth(tag="p"), bench.Berth(["--userns-remap", user], tag="r")
        engines = {"berth": plain.cli, "berth remapped": remap.cli}
        if docker:
            engines["docker"] = bench.anchor
        samples = {(e, s): [] for e in engines for s in ("run", "exec")}
        try:
            for e, cli in engines.items():
                bench.sh(cli("run", "--rm", "busybox", "true"))
                bench.sh(cli("run", "-d", "--name", f"ux{os.getpid()}", "busybox", "sleep", "600"))
            for _ in range(bench.RUNS):
                for e, cli in engines.items():
                    samples[(e, "run")].append(bench.timed(cli("run", "--rm", "busybox", "true")))
                    samples[(e, "exec")].append(bench.timed(cli("exec", f"ux{os.getpid()}", "true")))
        finally:
            for e, cli in engines.items():
                bench.sh(cli("rm", "-f", f"ux{os.getpid()}"), check=False)
            plain.close()
            remap.close()
        print(f"{'engine':<16} {'run --rm true ms':>17} {'exec true ms':>13}")
        for e in engines:
            r, x = statistics.median(samples[(e, "run")]), statistics.median(samples[(e, "exec")])
            print(f"{e:<16} {r:17.1f} {x:13.1f}", flush=True)
    finally:
        subprocess.run(["usermod", "--del-subuids", rng, "--del-subgids", rng, user], check=False)
        subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", user], check=False, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
