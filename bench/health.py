"""What healthchecks cost: CPU used by the engine while N containers (default 50) run a
healthcheck every second, over a window (default 30 s), Berth beside Docker.

Usage: python3 bench/health.py   (env: HEALTH_CONTAINERS, HEALTH_WINDOW, BERTH_BIN,
ANCHOR_DOCKER_HOST). Reported, in CPU seconds over the window and as % of one core:

* daemon: utime+stime of the Berth daemon / of dockerd + containerd;
* total: that plus every shim with its reaped children (the exec'd probes and, for Docker,
  runc), i.e. everything the engine spends on probing.

The containers run `sleep`, so they add nothing themselves. Docker's daemons are shared with
whatever else uses the reference engine at the time: its figures are an upper bound.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

N = int(os.environ.get("HEALTH_CONTAINERS", "50"))
WINDOW = float(os.environ.get("HEALTH_WINDOW", "30"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, children=False):
    """utime+stime (and cutime+cstime with `children`) of `pid`, in seconds; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command: state is field 3; utime, stime, cutime, cstime are fields 14–17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def pids_named(pattern, exact=False):
    args = ["pgrep", "-x" if exact else "-f", pattern]
    return [int(p) for p in subprocess.run(args, stdout=subprocess.PIPE).stdout.split()]


def berth_shims(b):
    out = []
    for p in pids_named(b.exec_root):
        try:
            argv = open(f"/proc/{p}/cmdline").read().split("\0")
        except FileNotFoundError:
            continue
        if argv[1:2] == ["shim"]:
            out.append(p)
    return out


def docker_daemons():
    return pids_named("dockerd", exact=True) + pids_named("containerd", exact=True)


def docker_shims():
    return pids_named("containerd-shim")


def measure(daemon_pids, shim_pids_fn):
    """CPU of the daemons and of daemons+shims over WINDOW seconds."""
    shims = shim_pids_fn()
    d0 = sum(cpu_seconds(p) for p in daemon_pids)
    s0 = {p: cpu_seconds(p, children=True) for p in shims}
    time.sleep(WINDOW)
    d1 = sum(cpu_seconds(p) for p in daemon_pids)
    s1 = {p: cpu_seconds(p, children=True) for p in shims}
    shim_cpu = sum(max(0.0, s1[p] - s0[p]) for p in shims)
    return d1 - d0, d1 - d0 + shim_cpu


def start_many(cli, prefix):
    for i in range(N):
        bench.sh(cli("run", "-d", "--name", f"{prefix}-{i}", "--health-cmd", "true",
                     "--health-interval", "1s", "busybox", "sleep", "100000"))


def wait_healthy(cli, prefix):
    deadline = time.time() + 120
    while time.time() < deadline:
        out = bench.sh(cli("ps", "--filter", f"name={prefix}-", "--filter", "health=healthy", "-q"),
                       check=False).stdout.split()
        if len(out) >= N:
            return True
        time.sleep(1)
    return False


def remove_all(cli, prefix):
    ids = bench.sh(cli("ps", "-aq", "--filter", f"name={prefix}-"), check=False).stdout.decode().split()
    if ids:
        bench.sh(cli("rm", "-f", *ids), check=False)


def main():
    docker = bench.docker_available()
    rows = []
    b = bench.Berth()
    try:
        # Idle baseline with the same containers but no healthcheck is not needed: an idle
        # Berth daemon uses no CPU (it only waits on sockets).
        start_many(b.cli, "hb")
        if not wait_healthy(b.cli, "hb"):
            sys.exit("berth: the containers did not become healthy")
        daemon_cpu, total_cpu = measure([b.proc.pid], lambda: berth_shims(b))
        rows.append(("berth", daemon_cpu, total_cpu))
        remove_all(b.cli, "hb")
    finally:
        b.close()
    if docker:
        remove_all(bench.anchor, "hb")
        try:
            start_many(bench.anchor, "hb")
            if wait_healthy(bench.anchor, "hb"):
                daemon_cpu, total_cpu = measure(docker_daemons(), docker_shims)
                rows.append(("docker", daemon_cpu, total_cpu))
        finally:
            remove_all(bench.anchor, "hb")
    print(f"{N} containers, healthcheck every 1 s, {WINDOW:.0f} s window")
    print(f"{'engine':<8} {'daemon cpu-s':>12} {'daemon %core':>13} {'total cpu-s':>12} {'total %core':>12}")
    for name, d, t in rows:
        print(f"{name:<8} {d:12.2f} {100 * d / WINDOW:12.1f}% {t:12.2f} {100 * t / WINDOW:11.1f}%")
    if len(rows) == 2 and rows[1][1] and rows[1][2]:
        print(f"ratio berth/docker: daemon {rows[0][1] / rows[1][1]:.2f}x, total {rows[0][2] / rows[1][2]:.2f}x")


if __name__ == "__main__":
    main()
