#!/usr/bin/env python3
"""Soak: services booting and being reaped every few seconds for a while
(default 10 minutes); file descriptors, RSS and domains sampled every 30 s
must not grow.  Runs in the guests' namespace (bench/soak.sh).  Not run
by CI.  DURATION=seconds."""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SUMMON_BUILD", os.path.join(TOP, "build"))
DURATION = int(os.environ.get("DURATION", "600"))
N = 3


def domains():
    p = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"],
                       capture_output=True, text=True)
    return len([d for d in p.stdout.split() if d.startswith("summon-soak")])


def sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    return len(os.listdir("/proc/%d/fd" % pid)), rss, domains()


def main():
    d = tempfile.mkdtemp(prefix="summon-soak-")
    os.makedirs(os.path.join(d, "serial"))
    conf = ["[summond]\nstate = %s/state.db\ncontrol = %s/summond.sock\n"
            "hypervisor = qemu:///system\ntemplates = %s/images/templates\n"
            "serial-dir = %s/serial\non-exit = stop\n[dns]\nlisten =\n"
            "[metrics]\nlisten =\n[network]\nname = summon-soak\n"
            "bridge = smnsoak0\ngateway = 10.91.0.1/24\n"
            "pool = 10.91.0.10-10.91.0.40\n" % (d, d, TOP, d)]
    for i in range(N):
        conf.append("[service \"soak%d\"]\nkernel = %s/images/hello.elf\n"
                    "address = 127.0.0.%d\nports = 8080:80\n"
                    "boot-timeout = 120s\nidle-timeout = 2s\n" %
                    (i, BUILD, 41 + i))
    with open(os.path.join(d, "summond.conf"), "w") as f:
        f.write("".join(conf))
    log = open(os.path.join(d, "summond.log"), "w")
    p = subprocess.Popen([os.path.join(BUILD, "src", "summond"), "-d", "-f",
                          os.path.join(d, "summond.conf")], stdout=log,
                         stderr=subprocess.STDOUT)
    time.sleep(3)
    samples, errors, requests = [], 0, 0
    rnd = random.Random(1)
    t0 = time.monotonic()
    next_sample = t0
    try:
        while time.monotonic() - t0 < DURATION:
            if time.monotonic() >= next_sample:
                samples.append((int(time.monotonic() - t0),) + sample(p.pid))
                next_sample += 30
            i = rnd.randrange(N)
            try:
                s = socket.create_connection(("127.0.0.%d" % (41 + i), 8080),
                                             timeout=120)
                s.settimeout(120)
                s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                data = s.recv(64)
                s.close()
                errors += not data.startswith(b"HTTP/1.1 200")
            except OSError:
                errors += 1
            requests += 1
            time.sleep(rnd.uniform(1.0, 4.0))
        time.sleep(5)   # let the last ones be reaped
        samples.append((int(time.monotonic() - t0),) + sample(p.pid))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        boots = open(log.name).read().count(": boot: ")
        for cmd in (["net-destroy", "summon-soak"],
                    ["net-undefine", "summon-soak"]):
            subprocess.run(["virsh", "-c", "qemu:///system"] + cmd,
                           capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    print("soak %d s: %d requests, %d errors, %d boots" %
          (DURATION, requests, errors, boots))
    print("%6s %5s %9s %8s" % ("t (s)", "fds", "RSS KiB", "domains"))
    for t, fds, rss, doms in samples:
        print("%6d %5d %9d %8d" % (t, fds, rss, doms))
    first, last = samples[1] if len(samples) > 2 else samples[0], samples[-1]
    print("growth from t=%d s to the end: fds %+d, RSS %+d KiB, domains %+d"
          % (first[0], last[1] - first[1], last[2] - first[2],
             last[3] - first[3]))


if __name__ == "__main__":
    sys.exit(main())
