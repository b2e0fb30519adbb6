#!/usr/bin/env python3
"""Cold and warm starts through summond, next to raw QEMU, in one run.

For each variant (no standby, standby = 1 created paused, standby = 1
booted then paused (standby-booted), stop-mode = suspend) and each
run: put the service back to rest, then time a DNS query to summond
followed by an HTTP request to the answered address through the proxy,
until the first byte of the response.  The same image is also booted
with raw QEMU (exec to its readiness line on the serial console).  The
Linux guest of images/linux (SUMMON_LINUX_DIR, which bench/coldstart.sh
builds) has rows of its own: no standby, standby-booted, suspend, and
raw QEMU booting the same kernel and initramfs; and the QEMU process of
each kind of guest, ready, has its resident memory reported.
Prints p50/p90/p99 per variant, the split of summond's own time
(domain create or resume vs. guest boot and readiness) and ratios.
Runs inside the namespace of the guests (bench/coldstart.sh puts it
there).  CSV=file also writes every run (bench/plot_coldstart.sh draws
it).  Not run by CI."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SUMMON_BUILD", os.path.join(TOP, "build"))
SUMMOND = os.path.join(BUILD, "src", "summond")
SUMMONCTL = os.path.join(BUILD, "src", "summonctl")
IMAGE = os.path.join(BUILD, "images", "hello.elf")
LINUX = os.environ.get("SUMMON_LINUX_DIR", os.path.join(BUILD, "linux"))
RUNS = int(os.environ.get("RUNS", "20"))
# VARIANTS="cold warm booted susp raw lcold lbooted lsusp lraw" (the
# default) or a subset; the l* ones are the Linux guest's.
VARIANTS = os.environ.get(
    "VARIANTS", "cold warm booted susp raw lcold lbooted lsusp lraw").split()
KVM = subprocess.run([os.path.join(TOP, "scripts", "accel")], capture_output=True,
                     text=True).stdout.strip() == "kvm"

CONF = """
[summond]
state = {dir}/state.db
control = {dir}/summond.sock
hypervisor = qemu:///system
templates = {top}/images/templates
serial-dir = {dir}/serial
on-exit = stop
[dns]
listen = 127.0.0.1:{dns}
zone = bench.summon.
rate-limit = 0
[metrics]
listen =
[proxy]
hold-timeout = 120s
[network]
name = summon-bench
bridge = smnbench0
gateway = 10.95.0.1/24
pool = 10.95.0.10-10.95.0.60
[service "cold"]
kernel = {image}
address = 127.0.0.11
ports = 80
boot-timeout = 120s
[service "warm"]
kernel = {image}
address = 127.0.0.12
ports = 80
standby = 1
boot-timeout = 120s
[service "booted"]
kernel = {image}
address = 127.0.0.14
ports = 80
standby = 1
standby-booted = yes
boot-timeout = 120s
[service "susp"]
kernel = {image}
address = 127.0.0.13
ports = 80
stop-mode = suspend
boot-timeout = 120s
"""

# The Linux guest, three times over, with the build's own settings.
LINUX_CONF = """
[service "{name}"]
kernel = {kernel}
initrd = {initrd}
cmdline = {cmdline}
template = {template}
memory = {memory}
ready = {ready}
address = {address}
ports = 80
boot-timeout = 120s
{extra}
"""
LINUX_SERVICES = (("lcold", "127.0.0.31", ""),
                  ("lbooted", "127.0.0.32",
                   "standby = 1\nstandby-booted = yes"),
                  ("lsusp", "127.0.0.33", "stop-mode = suspend"))


def linux_settings():
    """The keys of the service.conf images/linux/build wrote."""
    keys = {}
    with open(os.path.join(LINUX, "service.conf")) as f:
        for line in f:
            k, eq, v = line.partition(" = ")
            if eq and not line.startswith("#"):
                keys[k.strip()] = v.strip()
    return keys


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def dns_query(name, port):
    q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(q, ("127.0.0.1", port))
    r, _ = s.recvfrom(512)
    s.close()
    return socket.inet_ntoa(r[-4:])       # the one A record, last


def first_byte(addr):
    s = socket.create_connection((addr, 80), timeout=60)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    b = s.recv(1)
    s.close()
    return b


def ctl(sock, *args):
    p = subprocess.run([SUMMONCTL, "-s", sock, "--json"] + list(args),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout) if p.stdout.strip() else None


def wait_state(sock, svc, states, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ctl(sock, "status", svc)["state"] in states:
            return
        time.sleep(0.05)
    raise RuntimeError("%s never reached %s" % (svc, states))


def raw_qemu(runs, linux=None):
    """exec of QEMU to the readiness line, microvm, same image (the
    Linux guest's kernel, initramfs, memory and command line when linux
    holds its settings)."""
    out = []
    for _ in range(runs):
        if linux is None:
            boot = ["-m", "32", "-kernel", IMAGE, "-append",
                    "ip=10.0.2.15/24 gw=10.0.2.2"]
        else:
            # What summond fills in for user-mode networking.
            line = linux["cmdline"]
            for k, v in (("ip", "10.0.2.15"), ("gateway", "10.0.2.2"),
                         ("prefix", "24"), ("name", "raw")):
                line = line.replace("${%s}" % k, v)
            boot = ["-m", linux["memory"].rstrip("M"), "-kernel",
                    linux["kernel"], "-initrd", linux["initrd"],
                    "-append", line]
        cmd = ["qemu-system-x86_64", "-M", "microvm", "-accel",
               "kvm" if KVM else "tcg", "-nodefaults",
               "-no-user-config", "-nographic", "-serial", "stdio",
               "-netdev", "user,id=n0", "-device",
               "virtio-net-device,netdev=n0"] + boot
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        for line in p.stdout:
            if b"ready" in line:
                out.append((time.monotonic() - t0) * 1000)
                break
        p.kill()
        p.wait()
    return out


def qemu_rss(sock, svc):
    """Resident memory (MiB) of the QEMU process of svc's ready domain:
    all of it, and the anonymous part (the guest's touched memory and
    QEMU's heap; the rest is shared code)."""
    dom = ctl(sock, "status", svc)["domain"]
    pid = subprocess.run(["pgrep", "-f", "guest=%s," % dom],
                         capture_output=True, text=True).stdout.split()[0]
    rss = {}
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                rss[k] = int(v.split()[0]) / 1024
    return rss["VmRSS"], rss["RssAnon"]


def events_split(sock, svc, n):
    """(create-or-resume ms, total ms) of the last n ready events."""
    ev = ctl(sock, "events", "-n", "10000", svc)
    res = []
    for e in ev:
        if e["kind"] == "ready":
            words = e["detail"].split()
            res.append((float(words[5]), float(words[2])))
    return res[-n:]


def main():
    d = tempfile.mkdtemp(prefix="summon-bench-")
    os.makedirs(os.path.join(d, "serial"))
    dns = 15353
    linux = None
    text = CONF.format(dir=d, top=TOP, image=IMAGE, dns=dns)
    if any(v.startswith("l") for v in VARIANTS):
        linux = linux_settings()
        for name, address, extra in LINUX_SERVICES:
            text += LINUX_CONF.format(
                name=name, address=address, extra=extra,
                **{k: linux[k] for k in ("kernel", "initrd", "cmdline",
                                         "template", "memory", "ready")})
    with open(os.path.join(d, "summond.conf"), "w") as f:
        f.write(text)
    sock = os.path.join(d, "summond.sock")
    log = open(os.path.join(d, "summond.log"), "w")
    proc = subprocess.Popen([SUMMOND, "-d", "-f",
                             os.path.join(d, "summond.conf")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 60
        while not os.path.exists(sock) and time.monotonic() < end:
            time.sleep(0.05)
        ctl(sock, "list")
        results, rss = {}, {}
        rest = {"cold": ("stopped",), "warm": ("standby",),
                "booted": ("standby",), "susp": ("suspended",),
                "lcold": ("stopped",), "lbooted": ("standby",),
                "lsusp": ("suspended",)}
        for svc in [v for v in VARIANTS if v in rest]:
            if svc in ("susp", "lsusp"):
                ctl(sock, "boot", svc)
            if svc in ("cold", "lcold"):
                ctl(sock, "boot", svc)
                rss[svc] = qemu_rss(sock, svc)
            times, dns_ms = [], []
            for _ in range(RUNS):
                if svc not in ("warm", "booted", "lbooted") or \
                        ctl(sock, "status", svc)["state"] == "ready":
                    subprocess.run([SUMMONCTL, "-s", sock, "reap", svc],
                                   capture_output=True)
                wait_state(sock, svc, rest[svc])
                time.sleep(0.3)     # let the standby pool settle
                t0 = time.monotonic()
                addr = dns_query(svc + ".bench.summon", dns)
                t1 = time.monotonic()
                first_byte(addr)
                times.append((time.monotonic() - t0) * 1000)
                dns_ms.append((t1 - t0) * 1000)
            results[svc] = (times, events_split(sock, svc, RUNS), dns_ms)
            # Back to rest before the next variant: a standby refill
            # still being created would delay that variant's first
            # resume inside libvirtd (seen: 650-800 ms, docs).
            if svc in ("warm", "booted", "lbooted"):
                ctl(sock, "reap", svc)
                wait_state(sock, svc, rest[svc])
        raw = raw_qemu(RUNS) if "raw" in VARIANTS else []
        lraw = raw_qemu(RUNS, linux) if "lraw" in VARIANTS else []
    except BaseException:
        # What summond saw of the run that failed.
        log.flush()
        with open(os.path.join(d, "summond.log"), errors="replace") as f:
            sys.stderr.write("".join(f.readlines()[-30:]))
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        shutil.rmtree(d, ignore_errors=True)
        for cmd in ("net-destroy", "net-undefine"):
            subprocess.run(["virsh", "-c", "qemu:///system", cmd,
                            "summon-bench"], capture_output=True)

    if os.environ.get("CSV"):
        # One row a run: variant, run, milliseconds (for the plot).
        with open(os.environ["CSV"], "w") as f:
            f.write("variant,run,ms\n")
            for svc in results:
                for i, ms in enumerate(results[svc][0]):
                    f.write("%s,%d,%.3f\n" % (svc, i, ms))
            for i, ms in enumerate(raw):
                f.write("raw,%d,%.3f\n" % (i, ms))
            for i, ms in enumerate(lraw):
                f.write("lraw,%d,%.3f\n" % (i, ms))
    accel = "KVM" if KVM else "TCG (no usable KVM)"
    print("cold start, DNS query to first HTTP byte, %d runs, %s" %
          (RUNS, accel))
    print("%-28s %8s %8s %8s   %s" % ("variant", "p50 ms", "p90 ms",
                                      "p99 ms", "summond split (p50)"))
    for svc, label in (("cold", "no standby (create)"),
                       ("warm", "standby = 1 (resume)"),
                       ("booted", "standby-booted (resume)"),
                       ("susp", "stop-mode = suspend"),
                       ("lcold", "linux: no standby"),
                       ("lbooted", "linux: standby-booted"),
                       ("lsusp", "linux: stop-mode = suspend")):
        if svc not in results:
            continue
        times, split, dns_ms = results[svc]
        dom = pct([s[0] for s in split], 50) if split else float("nan")
        tot = pct([s[1] for s in split], 50) if split else float("nan")
        print("%-28s %8.1f %8.1f %8.1f   domain %.0f ms, boot+ready "
              "%.0f ms" % (label, pct(times, 50), pct(times, 90),
                           pct(times, 99), dom, tot - dom))
        # The slowest run, taken apart: where did its time go?
        i = times.index(max(times))
        if i < len(split):
            print("%-28s %8.1f ms: DNS answer %.1f ms, then first byte "
                  "%.1f ms; summond: domain %.0f ms, ready at %.0f ms"
                  % ("  slowest run (#%d)" % (i + 1), times[i], dns_ms[i],
                     times[i] - dns_ms[i], split[i][0], split[i][1]))
    if raw:
        print("%-28s %8.1f %8.1f %8.1f" % ("raw QEMU exec to ready line",
                                           pct(raw, 50), pct(raw, 90),
                                           pct(raw, 99)))
    if raw and "cold" in results:
        print("ratio no-standby p50 / raw QEMU p50: %.2f" %
              (pct(results["cold"][0], 50) / pct(raw, 50)))
    if lraw:
        print("%-28s %8.1f %8.1f %8.1f" % ("linux: raw QEMU to ready line",
                                           pct(lraw, 50), pct(lraw, 90),
                                           pct(lraw, 99)))
    if lraw and "lcold" in results:
        print("ratio linux no-standby p50 / raw QEMU p50: %.2f" %
              (pct(results["lcold"][0], 50) / pct(lraw, 50)))
    for svc, what in (("cold", "reference image"), ("lcold", "linux")):
        if svc in rss:
            print("QEMU resident memory, %s ready: %.1f MiB (anonymous "
                  "%.1f MiB)" % (what, rss[svc][0], rss[svc][1]))


if __name__ == "__main__":
    sys.exit(main())
