#!/usr/bin/env python3
"""Cold starts of distinct services per second: summond against libvirt
alone, in one run (the target: summond >= 0.9 x libvirt alone).

libvirt alone: N domains of the reference image from the microvm-user
template, created with `virsh create` by W workers at once (W = 1, 2, 4:
the best is the peer), each start counted when the guest's readiness
line is in its serial log.  summond: N services in user network mode
(the same template), all woken at once with `summonctl boot`, each
counted when summonctl returns (the readiness probe passed).  Rate = N /
(last ready - first request).  Runs in the guests' namespace
(bench/rate.sh).  Not run by CI.  N=8 services and ROUNDS=3 by
default; each figure is the median of the rounds.

`rate.py hosts` instead: summond with one, two and three libvirt hosts
(the local libvirtd and the lab hosts bench/rate.sh brings up, each a
libvirtd of its own with its own guest network), N services woken at
once in bridge mode and placed by summond, rounds interleaved; the peer
is the same summond with one host."""
import concurrent.futures
import json
import os
import shutil
import signal
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
URI = "qemu:///system"
N = int(os.environ.get("N", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
TYPE = "kvm" if subprocess.run([os.path.join(TOP, "scripts", "accel")], capture_output=True,
                               text=True).stdout.strip() == "kvm" else "qemu"


def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", URI] + list(args),
                          capture_output=True, text=True)


def libvirt_one(d, i):
    name = "summon-ratebench-%d-%d" % (os.getpid(), i)
    log = os.path.join(d, name + ".log")
    with open(os.path.join(TOP, "images", "templates",
                           "microvm-user.xml")) as f:
        xml = f.read()
    # No initrd: summond drops the element, and so does this.
    xml = xml.replace("    <initrd>${initrd}</initrd>\n", "")
    for k, v in (("domain_type", TYPE), ("name", name), ("metadata", ""),
                 ("kernel", IMAGE),
                 ("cmdline", "ip=10.0.2.15/24 gw=10.0.2.2"),
                 ("memory_kib", "32768"), ("vcpus", "1"),
                 ("mac", "52:54:00:62:02:%02x" % (i & 0xff)),
                 ("serial_log", log),
                 ("hostfwd", "hostfwd=tcp:127.0.0.1:%d-:80" % (23000 + i))):
        xml = xml.replace("${%s}" % k, v)
    path = os.path.join(d, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    if virsh("create", path).returncode != 0:
        raise SystemExit("virsh create %s failed" % name)
    while True:
        try:
            with open(log, "rb") as f:
                if b"summon-hello: ready " in f.read():
                    return name
        except FileNotFoundError:
            pass
        time.sleep(0.002)


def libvirt_rate(workers):
    d = tempfile.mkdtemp(prefix="summon-ratebench-")
    os.chmod(d, 0o755)
    names = []
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            names = list(ex.map(lambda i: libvirt_one(d, i), range(N)))
        took = time.monotonic() - t0
    finally:
        for i in range(N):
            virsh("destroy", "summon-ratebench-%d-%d" % (os.getpid(), i))
        shutil.rmtree(d, ignore_errors=True)
    return N / took


# The hosts of `rate.py hosts`: the local libvirtd on a network of the
# bench's own, then the lab hosts (LAB_HOSTS: "URI GATEWAY NETWORK;...").
LOCAL_HOST = """[host "local"]
uri = %s
network = summon-rb
bridge = smnrb0
create = yes
gateway = 10.95.0.1/24
pool = 10.95.0.10-10.95.0.250
""" % URI


SPREAD = []     # instances a host after each run of `rate.py hosts`


def lab_hosts():
    out = []
    for i, item in enumerate(filter(None, os.environ.get(
            "LAB_HOSTS", "").split(";"))):
        uri, gw, net = item.split()
        sub = gw.rsplit(".", 1)[0]
        out.append("[host \"lab%d\"]\nuri = %s\nnetwork = %s\n"
                   "gateway = %s/24\npool = %s.10-%s.250\n"
                   % (i + 1, uri, net, gw, sub, sub))
    return out


def summond_rate(hosts=None):
    """Starts/s of summond: user mode on URI, or (hosts: a list of
    [host] sections) bridge mode on those hosts."""
    d = tempfile.mkdtemp(prefix="summon-ratebench-")
    os.chmod(d, 0o755)
    os.makedirs(os.path.join(d, "serial"))
    conf = os.path.join(d, "summond.conf")
    if hosts is None:
        where = ("hypervisor = %s\n" % URI, "mode = user\n"
                 "user-ports = 24000-24999\n", "")
    else:
        where = ("", "create = no\n", "".join(hosts))
    parts = ["[summond]\nstate = %s/state.db\ncontrol = %s/summond.sock\n"
             "%stemplates = %s/images/templates\n"
             "serial-dir = %s/serial\non-exit = stop\nmax-instances = %d\n"
             "[dns]\nlisten =\n[metrics]\nlisten =\n[network]\n%s%s"
             % (d, d, where[0], TOP, d, N + 4, where[1], where[2])]
    for i in range(N):
        parts.append("[service \"r%d\"]\nkernel = %s\nports = %d:80\n"
                     "address = 127.0.0.1\nboot-timeout = 300s\n"
                     "idle-timeout = 1h\n" % (i, IMAGE, 25000 + i))
    with open(conf, "w") as f:
        f.write("".join(parts))
    log = open(os.path.join(d, "summond.log"), "w")
    p = subprocess.Popen([SUMMOND, "-d", "-f", conf], stdout=log,
                         stderr=subprocess.STDOUT)
    ctl = [SUMMONCTL, "-s", os.path.join(d, "summond.sock")]
    try:
        while subprocess.run(ctl + ["list"],
                             capture_output=True).returncode != 0:
            if p.poll() is not None:
                raise SystemExit(open(log.name).read())
            time.sleep(0.05)
        t0 = time.monotonic()
        boots = [subprocess.Popen(ctl + ["boot", "r%d" % i],
                                  stdout=subprocess.DEVNULL)
                 for i in range(N)]
        if any(b.wait() != 0 for b in boots):
            raise SystemExit("a boot failed:\n" + open(log.name).read())
        rate = N / (time.monotonic() - t0)
        if hosts is not None:
            out = subprocess.run(ctl + ["--json", "hosts"],
                                 capture_output=True, text=True).stdout
            SPREAD.append("/".join(str(h["instances"])
                                   for h in json.loads(out)))
        return rate
    finally:
        p.send_signal(signal.SIGTERM)      # on-exit = stop
        p.wait(timeout=120)
        shutil.rmtree(d, ignore_errors=True)


def main_hosts():
    labs = lab_hosts()
    counts = list(range(1, len(labs) + 2))
    print("cold starts of %d distinct services, %s, microvm template, "
          "bridge mode, summond with 1 to %d libvirt hosts, median of %d "
          "interleaved rounds" % (N, TYPE, counts[-1], ROUNDS))
    runs = {n: [] for n in counts}
    for _ in range(ROUNDS):
        for n in counts:
            runs[n].append(summond_rate([LOCAL_HOST] + labs[:n - 1]))
    med = {n: statistics.median(v) for n, v in runs.items()}
    for n in counts:
        print("summond, %d host(s): %5.2f starts/s  x %.2f of one host  "
              "(runs: %s; instances a host: %s)"
              % (n, med[n], med[n] / med[1],
                 " ".join("%.2f" % r for r in runs[n]),
                 " ".join(SPREAD[n - 1::len(counts)])))
    subprocess.run(["virsh", "-q", "-c", URI, "net-destroy", "summon-rb"],
                   capture_output=True)
    subprocess.run(["virsh", "-q", "-c", URI, "net-undefine", "summon-rb"],
                   capture_output=True)


def main():
    if sys.argv[1:] == ["hosts"]:
        return main_hosts()
    print("cold starts of %d distinct services, %s, microvm-user template, "
          "median of %d interleaved rounds" % (N, TYPE, ROUNDS))
    runs = {w: [] for w in (1, 2, 4)}
    runs["summond"] = []
    for _ in range(ROUNDS):
        for w in (1, 2, 4):
            runs[w].append(libvirt_rate(w))
        runs["summond"].append(summond_rate())
    med = {k: statistics.median(v) for k, v in runs.items()}
    for w in (1, 2, 4):
        print("libvirt alone, %d worker(s): %5.2f starts/s  (runs: %s)"
              % (w, med[w], " ".join("%.2f" % r for r in runs[w])))
    print("summond, %d wakes at once:  %5.2f starts/s  (runs: %s)"
          % (N, med["summond"],
             " ".join("%.2f" % r for r in runs["summond"])))
    best = max(med[w] for w in (1, 2, 4))
    print("ratio summond / best libvirt: %.2f (target >= 0.90)"
          % (med["summond"] / best))


if __name__ == "__main__":
    main()
