#!/usr/bin/env python3
"""summond's proxy against a direct connection and HAProxy (mode tcp),
in one run, for two backends:

  native  a loopback HTTP server (HAProxy answering every request itself
          for the small requests, bench/bulk.py for the bulk ones), with
          summond on test:///default and a fixed guest-address: what the
          proxy itself costs, without a TCG guest on the same two cores;
  guest   the reference image booted through libvirt (TCG here).

For each backend, paths `direct`, `summond` with `relay = copy`,
`summond` with `relay = splice` (switched by a reload between runs),
`shared host` (summond, `relay = copy`, on a port that the service
shares with another by the Host header: `ports = 8090:80/host`),
`haproxy` (its default: a thread per CPU) and `haproxy 1 thread`, and,
native only, `summond close` and `shared close` (the dedicated and the
shared port again, with `Connection: close`: a connection a request, so
that the shared port reads every request's head for its name; through
the guest, 64 connects at once measure the unikernel's accept queue
instead), each measured ROUNDS times, interleaved in a rotating order,
and the median taken:
wrk with 64 connections (throughput, and the proxy's CPU time per
request from /proc), wrk with 1 connection (p50/p99 latency; "added" is
the path's p50 minus direct's p50 of the same round), and one bulk GET
and one bulk POST with curl (MB/s).  Runs in the guests'
namespace (bench/proxy.sh).  Not run by CI.

Environment: BACKENDS="native guest", ROUNDS=3, DURATION=5 (seconds per
wrk run), BULK_MB_NATIVE=512, BULK_MB_GUEST=16, RELAY_THREADS=auto
(summond's relay-threads)."""
import os
import re
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SUMMON_BUILD", os.path.join(TOP, "build"))
SUMMOND = os.path.join(BUILD, "src", "summond")
SUMMONCTL = os.path.join(BUILD, "src", "summonctl")
IMAGE = os.path.join(BUILD, "images", "hello.elf")
BULK = [sys.executable, os.path.join(TOP, "bench", "bulk.py")]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
THREADS = os.environ.get("RELAY_THREADS", "auto")   # summond's relay-threads
PATHS = ["direct", "summond copy", "summond splice", "shared host",
         "haproxy", "haproxy 1 thread", "summond close", "shared close"]
# Paths that are a connection a request; no bulk transfer is measured
# there (a bulk transfer is one connection whatever the path).
CLOSE = ("summond close", "shared close")
VHOST = "web.bench.test"    # the service's name on its shared port
PUBLIC = "127.0.0.21"       # summond's listener
HAPROXY = "127.0.0.22"      # HAProxy's frontend (its default threads)
HAPROXY1 = "127.0.0.23"     # HAProxy with nbthread 1
NATIVE = "127.0.0.50"       # the native backend's "guest" address
# summond's paths, and its shared port (web and "other", never booted).
SUMMOND_PATHS = ("summond copy", "summond splice", "shared host",
                 "summond close", "shared close")
SHARED = "8090:80/host 8091:81/host"

CONF = """[summond]
state = {d}/state.db
control = {d}/summond.sock
hypervisor = {hv}
templates = {top}/images/templates
serial-dir = {d}/serial
on-exit = stop
[dns]
listen =
zone = bench.test
[metrics]
listen =
[proxy]
relay = {relay}
relay-threads = {threads}
{network}
[service "web"]
kernel = {kernel}
address = {public}
ports = {ports}
{extra}
boot-timeout = 120s
idle-timeout = 1h

[service "other"]
kernel = {kernel}
address = {public}
ports = {shared}
"""

NET_NATIVE = """[network]
create = no
gateway = 127.0.0.1/8
pool = 127.0.0.50-127.0.0.60"""

NET_GUEST = """[network]
name = summon-pbench
bridge = smnpb0
gateway = 10.94.0.1/24
pool = 10.94.0.10-10.94.0.20"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def us(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def wrk(url, conns, headers=()):
    threads = 2 if conns > 1 else 1
    args = []
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns,
                          "-d%ds" % DURATION, "--latency"] + args + [url],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = us(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = us(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors", out)
    if errors:
        raise SystemExit("wrk %s: errors\n%s" % (url, out))
    return rps, p50, p99


def bulk(kind, host, port, n, upload, vhost=None):
    """MB/s of one GET /bytes/N or POST /sink of N bytes, with curl."""
    url = "http://%s:%d/" % (host, port)
    hdr = ["-H", "Host: " + vhost] if vhost else []
    if kind == "get":
        args = hdr + ["-w", "%{speed_download}", url + "bytes/%d" % n]
    else:
        args = hdr + ["-w", "%{speed_upload}", "-H", "Expect:", "-X",
                      "POST", "-T", upload, url + "sink"]
    out = subprocess.run(["curl", "-sSf", "-o", "/dev/null"] + args,
                         capture_output=True, text=True, check=True)
    return float(out.stdout) / 1e6


def cpu_s(pid):
    """User + system CPU seconds of a process and its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Summond:
    def __init__(self, d, fields):
        self.d, self.fields = d, fields
        self.conf = os.path.join(d, "summond.conf")
        self.log = os.path.join(d, "summond.log")
        self.relay = "copy"
        self.write()
        self.p = subprocess.Popen([SUMMOND, "-d", "-f", self.conf],
                                  stdout=open(self.log, "w"),
                                  stderr=subprocess.STDOUT)
        while self.ctl("list").returncode != 0:
            if self.p.poll() is not None:
                raise SystemExit(open(self.log).read())
            time.sleep(0.05)

    def write(self):
        with open(self.conf, "w") as f:
            f.write(CONF.format(relay=self.relay, threads=THREADS,
                                **self.fields))

    def ctl(self, *args):
        return subprocess.run([SUMMONCTL, "-s",
                               os.path.join(self.d, "summond.sock")]
                              + list(args), capture_output=True, text=True)

    def set_relay(self, relay):
        if relay == self.relay:
            return
        self.relay = relay
        self.write()
        before = open(self.log, errors="replace").read().count("reloaded ")
        self.p.send_signal(signal.SIGHUP)
        while open(self.log, errors="replace").read().count("reloaded ") == before:
            time.sleep(0.02)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)


def haproxy_conf(d, name, text, threads=None):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("global\n  maxconn 4096\n%sdefaults\n"
                "  timeout connect 5s\n  timeout client 60s\n"
                "  timeout server 60s\n%s"
                % ("  nbthread %d\n" % threads if threads else "", text))
    return subprocess.Popen(["haproxy", "-f", path, "-db"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def measure(d, backend, targets, pids, bulk_n):
    """targets: path -> (host, small port, bulk port); pids: path ->
    the proxy's pid, whose CPU time per request is reported."""
    paths = [p for p in PATHS if p in targets]
    res = {p: {"rps": [], "cpu": [], "p50": [], "p99": [], "added": [],
               "get": [], "post": []} for p in paths}
    upload = os.path.join(d, "upload")
    with open(upload, "wb") as f:
        f.truncate(bulk_n)
    for rnd in range(ROUNDS):
        # Direct first (the others are compared with it), the rest in a
        # rotating order so that none always follows the same path.
        rest = paths[1:]
        rest = rest[rnd % len(rest):] + rest[:rnd % len(rest)]
        direct_p50 = None
        for path in ["direct"] + rest:
            host, port, bport = targets[path]
            if path in pids and pids[path] == backend.p.pid:
                backend.set_relay("splice" if "splice" in path else "copy")
            vhost = VHOST if path.startswith("shared") else None
            headers = (["Host: " + vhost] if vhost else []) + \
                (["Connection: close"] if path in CLOSE else [])
            url = "http://%s:%d/healthz" % (host, port)
            r = res[path]
            pid = pids.get(path)
            c0 = cpu_s(pid) if pid else 0
            rps = wrk(url, 64, headers)[0]
            r["rps"].append(rps)
            r["cpu"].append((cpu_s(pid) - c0) / (rps * DURATION) * 1e6
                            if pid else float("nan"))
            _, p50, p99 = wrk(url, 1, headers)
            r["p50"].append(p50)
            r["p99"].append(p99)
            if direct_p50 is None:
                direct_p50 = p50
            r["added"].append(p50 - direct_p50)
            if path in CLOSE:
                r["get"].append(float("nan"))
                r["post"].append(float("nan"))
                continue
            r["get"].append(bulk("get", host, bport, bulk_n, upload, vhost))
            r["post"].append(bulk("post", host, bport, bulk_n, upload,
                                  vhost))
    return {p: {k: statistics.median(v) for k, v in r.items()}
            for p, r in res.items()}


def report(title, m):
    print(title)
    print("%-16s %10s %8s %9s %9s %9s %9s %9s" % (
        "path", "req/s 64c", "cpu us/r", "p50 us 1c", "p99 us 1c",
        "added p50", "GET MB/s", "POST MB/s"))
    for p in [p for p in PATHS if p in m]:
        r = m[p]
        print("%-16s %10.0f %8.1f %9.0f %9.0f %+9.0f %9.0f %9.0f" % (
            p, r["rps"], r["cpu"], r["p50"], r["p99"], r["added"],
            r["get"], r["post"]))
    h, h1 = m["haproxy"], m["haproxy 1 thread"]
    for shared, dedicated in (("shared host", "summond copy"),
                              ("shared close", "summond close")):
        if shared not in m:
            continue
        print("%s: req/s %.2f x %s (target 0.95), p50 %+.0f us against "
              "it" % (shared, m[shared]["rps"] / m[dedicated]["rps"],
                      dedicated, m[shared]["p50"] - m[dedicated]["p50"]))
    for p in ("summond copy", "summond splice"):
        r = m[p]
        print("%s: req/s %.2f x direct, %.2f x haproxy, %.2f x haproxy "
              "1 thread; bulk GET %.2f x haproxy, POST %.2f x haproxy"
              % (p, r["rps"] / m["direct"]["rps"], r["rps"] / h["rps"],
                 r["rps"] / h1["rps"], r["get"] / h["get"],
                 r["post"] / h["post"]))
    print()


def native(d):
    procs = [haproxy_conf(d, "backend.cfg",
                          "frontend be\n  mode http\n  bind %s:80\n"
                          "  http-request return status 200 content-type "
                          "text/plain string \"ok\\n\"\n" % NATIVE),
             subprocess.Popen(BULK + ["serve", NATIVE, "81"]),
             haproxy_conf(d, "tcp.cfg",
                          "listen a\n  mode tcp\n  bind %s:8080\n"
                          "  server g %s:80\n"
                          "listen b\n  mode tcp\n  bind %s:8081\n"
                          "  server g %s:81\n"
                          % (HAPROXY, NATIVE, HAPROXY, NATIVE)),
             haproxy_conf(d, "tcp1.cfg",
                          "listen a\n  mode tcp\n  bind %s:8080\n"
                          "  server g %s:80\n"
                          "listen b\n  mode tcp\n  bind %s:8081\n"
                          "  server g %s:81\n"
                          % (HAPROXY1, NATIVE, HAPROXY1, NATIVE), 1)]
    s = None
    try:
        s = Summond(d, dict(d=d, top=TOP, hv="test:///default",
                            network=NET_NATIVE, kernel="/k", public=PUBLIC,
                            ports="8080:80 8081:81 " + SHARED,
                            shared=SHARED,
                            extra="guest-address = %s" % NATIVE))
        time.sleep(0.5)
        if s.ctl("boot", "web").returncode != 0:
            raise SystemExit("boot web failed:\n" + open(s.log).read())
        n = int(os.environ.get("BULK_MB_NATIVE", "512")) << 20
        m = measure(d, s, {"direct": (NATIVE, 80, 81),
                        "summond copy": (PUBLIC, 8080, 8081),
                        "summond splice": (PUBLIC, 8080, 8081),
                        "shared host": (PUBLIC, 8090, 8091),
                        "summond close": (PUBLIC, 8080, 8081),
                        "shared close": (PUBLIC, 8090, 8091),
                        "haproxy": (HAPROXY, 8080, 8081),
                        "haproxy 1 thread": (HAPROXY1, 8080, 8081)},
                    dict({p: s.p.pid for p in SUMMOND_PATHS},
                         **{"haproxy": procs[2].pid,
                            "haproxy 1 thread": procs[3].pid}), n)
        report("backend native (loopback; HAProxy answers the small "
               "requests, bulk.py the bulk ones), %d rounds, wrk %d s, "
               "bulk %d MiB" % (ROUNDS, DURATION, n >> 20), m)
    finally:
        if s:
            s.stop()
        for p in procs:
            p.kill()
            p.wait()


def guest(d):
    os.makedirs(os.path.join(d, "serial"), exist_ok=True)
    s = Summond(d, dict(d=d, top=TOP, hv="qemu:///system",
                        network=NET_GUEST, kernel=IMAGE, public=PUBLIC,
                        ports="8080:80 8090:80/host", shared="8090:80/host",
                        extra=""))
    h = h1 = None
    try:
        if s.ctl("boot", "web").returncode != 0:
            raise SystemExit("boot web failed:\n" + open(s.log).read())
        g = re.search(r'"guest_address": "([^"]+)"',
                      s.ctl("--json", "status", "web").stdout).group(1)
        h = haproxy_conf(d, "tcp.cfg", "listen a\n  mode tcp\n"
                         "  bind %s:8080\n  server g %s:80\n"
                         % (HAPROXY, g))
        h1 = haproxy_conf(d, "tcp1.cfg", "listen a\n  mode tcp\n"
                          "  bind %s:8080\n  server g %s:80\n"
                          % (HAPROXY1, g), 1)
        time.sleep(0.5)
        n = int(os.environ.get("BULK_MB_GUEST", "16")) << 20
        m = measure(d, s, {"direct": (g, 80, 80),
                        "summond copy": (PUBLIC, 8080, 8080),
                        "summond splice": (PUBLIC, 8080, 8080),
                        "shared host": (PUBLIC, 8090, 8090),
                        "haproxy": (HAPROXY, 8080, 8080),
                        "haproxy 1 thread": (HAPROXY1, 8080, 8080)},
                    dict({p: s.p.pid for p in SUMMOND_PATHS[:3]},
                         **{"haproxy": h.pid, "haproxy 1 thread": h1.pid}),
                    n)
        report("backend guest (reference image, %s), %d rounds, wrk %d s, "
               "bulk %d MiB" % ("KVM" if subprocess.run(
                   [os.path.join(TOP, "scripts", "accel")],
                   capture_output=True, text=True).stdout.strip() == "kvm"
                   else "TCG", ROUNDS, DURATION, n >> 20), m)
    finally:
        for p in (h, h1):
            if p:
                p.kill()
                p.wait()
        s.stop()
        for cmd in ("net-destroy", "net-undefine"):
            subprocess.run(["virsh", "-q", "-c", "qemu:///system", cmd,
                            "summon-pbench"], capture_output=True)


def main():
    for b in os.environ.get("BACKENDS", "native guest").split():
        d = tempfile.mkdtemp(prefix="summon-proxybench-")
        os.makedirs(os.path.join(d, "serial"), exist_ok=True)
        try:
            {"native": native, "guest": guest}[b](d)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
