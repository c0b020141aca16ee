#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Streaming server under floods.  One cleatd with a pod and a `sleep`
container; then, for each N (default 100, 500, 1000):

- N idle connections to the streaming port, held, and re-opened as soon as
  the server drops one (tests/e2e/flood_clients.py IdleFlood, sustain);
  meanwhile `--reps` execs of `true` over SPDY, each timed from the Exec RPC
  to its exit status, retried while refused (503, reset) for at most
  `--give-up` seconds;

and, with no flood, a port-forward client that sends 64 MiB of frames that
each ask for a reply (SPDY PING + DATA; WebSocket PING) and never reads:
the growth of cleatd's RssAnon (peak, sampled every 50 ms) and how much of
the 64 MiB cleatd took.

    /usr/bin/python3 bench/stream_flood.py [--build-dir DIR] [-n 100 500 1000] [--reps 3] [--quick]
                                           [--json FILE]

(as root; the binaries come from the build dir).  Everything it made is
removed at the end.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
E2E = os.path.join(SOURCE, "tests", "e2e")


def set_env(build):
    os.environ.update({"CLEATD": os.path.join(build, "core", "cleatd"), "CLEAT_SOURCE_DIR": SOURCE,
                       "CLEAT_BUILD_DIR": build, "CLEAT_TEST_PLUGIN_DIR": os.path.join(build, "tests", "plugins"),
                       "CLEAT_SHIM": os.path.join(build, "shim", "cleat-shim"),
                       "CLEAT_TESTBIN": os.path.join(build, "tests", "helpers", "cleat-testbin")})
    sys.path.insert(0, E2E)


def timed_exec(env, cid, give_up):
    """Seconds from the Exec RPC to the exit status of `true`, retrying refusals; (seconds, refusals) or
    (None, refusals) after give_up seconds."""
    import httpupgrade
    import stream_clients as sc
    start, refused = time.monotonic(), 0
    while time.monotonic() - start < give_up:
        url = env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=["true"], stdout=True), timeout=30).url
        try:
            r = sc.run("spdy", url, timeout=max(1, give_up - (time.monotonic() - start)))
            if r.exit_code == 0:
                return time.monotonic() - start, refused
        except (httpupgrade.UpgradeRefused, OSError, EOFError, TimeoutError):
            refused += 1
            time.sleep(0.05)
    return None, refused


def latency_under_flood(env, cid, n, reps, give_up):
    import flood_clients as fc
    import stream_clients as sc  # noqa: F401
    host, port = fc.host_port(env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=["true"], stdout=True),
                                          timeout=30).url)
    flood = fc.IdleFlood(host, port, n, sustain=True)
    try:
        time.sleep(0.5)
        results = [timed_exec(env, cid, give_up) for _ in range(reps)]
    finally:
        flood.close()
    ok = [t for t, _ in results if t is not None]
    refused = sum(r for _, r in results)
    med = f"median {statistics.median(ok) * 1e3:8.1f} ms" if ok else "never served"
    print(f"N={n:5d} idle: exec of `true` {med}   ({len(ok)}/{reps} within {give_up}s, "
          f"{refused} refusals retried, flood re-opened {flood.reopened})", flush=True)
    time.sleep(7)  # the rest of the flood reaches its deadline before the next round
    return statistics.median(ok) if ok else None


def rss_under_unread_flood(env, pod, transport):
    import flood_clients as fc
    url = env.rt.PortForward(env.pb2.PortForwardRequest(pod_sandbox_id=pod, port=[8080]), timeout=30).url
    if transport == "spdy":
        sock, chunk = fc.spdy_portforward_socket(url), fc.spdy_flood_chunk()
    else:
        sock, chunk = fc.ws_portforward_socket(url, 8080), fc.ws_flood_chunk()
    total = 64 << 20
    sampler = fc.RssSampler(env.d.proc.pid)
    start = time.monotonic()
    try:
        sent = fc.flood_without_reading(sock, chunk, total)
    finally:
        grown = sampler.stop()
        sock.close()
    print(f"port-forward {transport:4s} never reading: cleatd RssAnon +{grown / 1024:7.1f} MiB, it took "
          f"{sent / (1 << 20):5.1f} of 64 MiB ({time.monotonic() - start:.1f}s)", flush=True)
    time.sleep(2)
    return grown


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("-n", type=int, nargs="+", default=[100, 500, 1000], help="idle connections (default 100 500 1000)")
    ap.add_argument("--reps", type=int, default=3, help="execs timed under each flood")
    ap.add_argument("--give-up", type=float, default=30, help="seconds an exec may be refused before it counts lost")
    ap.add_argument("--quick", action="store_true", help="one flood of 20, one exec (what CI runs)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE (bench/all.py reads it)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.reps = [20], 1
    figures = {}
    set_env(os.path.abspath(args.build_dir))
    import conftest
    import flood_clients as fc
    import pod_fixture
    from cri_client import cri_modules, save_figures
    fc.raise_nofile(max(args.n) + 512)
    base = tempfile.mkdtemp(prefix="cleat-bench-flood-")
    layout = os.path.join(base, "layout")
    pod_fixture.build_test_layout(layout)
    cri = cri_modules(base)
    env = pod_fixture.make_env(conftest.Cleatd, os.path.join(base, "d"), cri, layout)
    try:
        pod = env.run_pod()
        cid = env.run(pod, command=["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && "
                                                 "exec httpd -f -p 127.0.0.1:8080 -h /www"])
        for n in args.n:
            figures[f"exec_ms_under_{n}_idle"] = (latency_under_flood(env, cid, n, args.reps, args.give_up) or 0) * 1e3
        for transport in ("spdy", "ws"):
            figures[f"rss_anon_growth_kib_unread_{transport}"] = rss_under_unread_flood(env, pod, transport)
        save_figures(args.json, figures)
    finally:
        try:
            env.remove_all()
        finally:
            env.d.stop()
            env.remove_cgroups()


if __name__ == "__main__":
    main()
