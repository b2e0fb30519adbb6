#!/usr/bin/env python3
"""Load: 10,000 configured services (RSS, reaper tick, DNS answers), and
1000 concurrent cold clients (500 DNS, 500 TCP) at one stopped service
booting the reference image.  Prints the figures for docs/reliability.md
and docs/benchmarks.md.  Runs in the guests' namespace (bench/load.sh).
Not run by CI."""
import concurrent.futures
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SUMMON_BUILD", os.path.join(TOP, "build"))
# More [summond] lines, e.g. SUMMOND_EXTRA="standby-budget = 10".
EXTRA = os.environ.get("SUMMOND_EXTRA", "").replace("\\n", "\n")
if EXTRA and not EXTRA.endswith("\n"):
    EXTRA += "\n"
SUMMOND = os.path.join(BUILD, "src", "summond")
SUMMONCTL = os.path.join(BUILD, "src", "summonctl")
IMAGE = os.path.join(BUILD, "images", "hello.elf")


def dns_query(name, port, timeout=10):
    q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        r, _ = s.recvfrom(512)
        return r[3] & 0xf, r
    finally:
        s.close()


def start(conf, d):
    path = os.path.join(d, "summond.conf")
    with open(path, "w") as f:
        f.write(conf)
    log = open(os.path.join(d, "summond.log"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen([SUMMOND, "-d", "-f", path], stdout=log,
                         stderr=subprocess.STDOUT)
    sock = os.path.join(d, "summond.sock")
    while subprocess.run([SUMMONCTL, "-s", sock, "list"],
                         capture_output=True).returncode != 0:
        if p.poll() is not None:
            raise RuntimeError(open(log.name).read())
        time.sleep(0.05)
    return p, sock, time.monotonic() - t0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def many_services(n=10000):
    d = tempfile.mkdtemp(prefix="summon-load-")
    dns, mp = 16353, 16354
    parts = ["[summond]\nstate = %s/state.db\ncontrol = %s/summond.sock\n"
             "hypervisor = test:///default\nserial-dir = %s/serial\n"
             "templates = %s/images/templates\n"
             "max-instances = 64\n%s[dns]\nlisten = 127.0.0.1:%d\n"
             "zone = load.summon.\nrate-limit = 0\n[metrics]\n"
             "listen = 127.0.0.1:%d\n[network]\ncreate = no\n" %
             (d, d, d, TOP, EXTRA, dns, mp)]
    for i in range(n):
        parts.append("[service \"s%d\"]\nkernel = /k\naddress = 127.%d.%d.%d"
                     "\nports = 80\n" % (i, 1 + i // 62500,
                                         (i // 250) % 250, i % 250 + 1))
    p, sock, took = start("".join(parts), d)
    try:
        ok = 0
        for i in range(0, n, n // 100):
            rc, _ = dns_query("s%d.load.summon" % i, dns)
            ok += rc == 0
        time.sleep(2.5)     # a few reaper ticks
        rss_idle = rss_kb(p.pid)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mp,
                                    timeout=60) as r:
            m = r.read().decode()
        time.sleep(0.5)     # the answer's memory goes with its connection
        rss_scraped = rss_kb(p.pid)
        tick = {k: float(v) for k, v in re.findall(
            r'summon_reaper_tick_seconds\{tick="(\w+)"\} (\S+)', m)}
        print("10,000 services: start-up %.2f s, RSS %.1f MiB (%.1f MiB "
              "after a /metrics scrape of %d KiB), %d fds, reaper tick "
              "last %.1f us / max %.1f us, DNS %d/100 answered"
              % (took, rss_idle / 1024, rss_scraped / 1024,
                 len(m) // 1024, fds(p.pid),
                 tick.get("last", -1) * 1e6, tick.get("max", -1) * 1e6, ok))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def stampede(n_dns=500, n_tcp=500):
    d = tempfile.mkdtemp(prefix="summon-load-")
    os.makedirs(os.path.join(d, "serial"))
    dns = 16355
    conf = ("[summond]\nstate = %s/state.db\ncontrol = %s/summond.sock\n"
            "hypervisor = qemu:///system\ntemplates = %s/images/templates\n"
            "serial-dir = %s/serial\non-exit = stop\n[dns]\n"
            "listen = 127.0.0.1:%d\nzone = load.summon.\nrate-limit = 0\n"
            "[metrics]\nlisten =\n[proxy]\nmax-held = 1000\nhold-timeout = 120s\n"
            "[network]\nname = summon-load\nbridge = smnload0\n"
            "gateway = 10.92.0.1/24\npool = 10.92.0.10-10.92.0.20\n"
            "[service \"hot\"]\nkernel = %s\naddress = 127.0.0.31\n"
            "ports = 8080:80\nboot-timeout = 120s\nidle-timeout = 1h\n" %
            (d, d, TOP, d, dns, IMAGE))
    p, sock, _ = start(conf, d)
    errors = []

    def dns_client(i):
        try:
            rc, r = dns_query("hot.load.summon", dns, timeout=30)
            if rc != 0:
                errors.append("dns rcode %d" % rc)
        except Exception as e:      # noqa: BLE001 - counted, not hidden
            errors.append("dns %s" % e)

    def tcp_client(i):
        try:
            s = socket.create_connection(("127.0.0.31", 8080), timeout=120)
            s.settimeout(120)
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                c = s.recv(4096)
                if not c:
                    break
                data += c
            s.close()
            if not data.startswith(b"HTTP/1.1 200"):
                errors.append("tcp %r" % data[:40])
        except Exception as e:      # noqa: BLE001
            errors.append("tcp %s" % e)
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(n_dns + n_tcp) as pool:
            futs = [pool.submit(dns_client, i) for i in range(n_dns)]
            futs += [pool.submit(tcp_client, i) for i in range(n_tcp)]
            for f in futs:
                f.result()
        took = time.monotonic() - t0
        ev = subprocess.run([SUMMONCTL, "-s", sock, "--json", "events", "-n",
                             "1000", "hot"], capture_output=True, text=True)
        boots = ev.stdout.count('"kind": "boot"')
        print("1000 concurrent cold clients (%d DNS + %d TCP): %d boot(s), "
              "%d errors, all done in %.1f s, peak fds %d" %
              (n_dns, n_tcp, boots, len(errors), took, fds(p.pid)))
        for e in errors[:5]:
            print("  error:", e)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        subprocess.run(["virsh", "-c", "qemu:///system", "net-destroy",
                        "summon-load"], capture_output=True)
        subprocess.run(["virsh", "-c", "qemu:///system", "net-undefine",
                        "summon-load"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    what = sys.argv[1:] or ["services", "stampede"]
    if "services" in what:
        many_services()
    if "stampede" in what:
        stampede()
