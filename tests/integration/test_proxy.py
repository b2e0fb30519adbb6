"""The boot-masking proxy against the reference image through libvirt:
cold starts masked, a stampede makes one boot, bytes relayed exactly,
half-close, max-held, hold-timeout, a boot that fails, a client that
leaves.  summond and every client run in the namespace of the guests."""
import concurrent.futures
import hashlib
import os
import re
import signal
import socket
import subprocess
import time
import unittest

from summon_test import Summond, free_port, wait_for
import guests

NET = "summon-pt"
PREFIX = "summon-"

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = qemu:///system
templates = %(templates)s
serial-dir = @DIR@/serial
on-exit = stop

[dns]
listen =

[metrics]
listen = 127.0.0.1:%(metrics)d

[proxy]
hold-timeout = %(hold)s
max-held = %(max_held)d

[network]
mode = bridge
name = %(net)s
bridge = smnpt0
gateway = 10.96.0.1/24
pool = 10.96.0.10-10.96.0.30

[service "hello"]
kernel = %(image)s
address = 127.0.0.2
ports = %(port)d:80
boot-timeout = 180s
idle-timeout = %(idle)s

[service "never"]
kernel = %(image)s
address = 127.0.0.3
ports = %(port)d:80
ready = serial:this line never comes
boot-timeout = 180s

[service "broken"]
kernel = /nonexistent/kernel.elf
address = 127.0.0.4
ports = %(port)d:80
boot-timeout = 180s
"""


def pattern(n):
    """The reference image's GET /bytes/N body: byte i is
    i ^ i>>8 ^ i>>16 (low 8 bits), built 64 KiB at a time."""
    low = bytes(((j ^ (j >> 8)) & 255) for j in range(65536))
    out = bytearray()
    for block in range((n + 65535) // 65536):
        k = block & 255
        table = bytes((x ^ k) for x in range(256))
        out += low.translate(table)
    return bytes(out[:n])


def fnv1a(data):
    h = 2166136261
    for x in data:
        h = ((h ^ x) * 16777619) & 0xffffffff
    return h


def metric(text, name, **labels):
    """The value of one sample in a Prometheus exposition."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) \
                if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    raise KeyError("%s{%s}" % (name, want))


@unittest.skipUnless(guests.libvirt_ready(), "no libvirtd (run scripts/setup)")
@unittest.skipUnless(os.path.exists(guests.IMAGE), "reference image not built")
class ProxyTest(unittest.TestCase):
    def setUp(self):
        guests.cleanup(PREFIX + "hello-", NET)
        guests.cleanup(PREFIX + "never-")
        guests.cleanup(PREFIX + "broken-")
        self.port = free_port()
        self.metrics_port = free_port()
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.stop(signal.SIGKILL)
        guests.cleanup(PREFIX + "hello-", NET)
        guests.cleanup(PREFIX + "never-")
        guests.cleanup(PREFIX + "broken-")

    def start(self, idle="1h", hold="120s", max_held=256):
        self.d = Summond(CONF % {
            "templates": guests.TEMPLATES, "net": NET,
            "image": guests.IMAGE, "idle": idle, "hold": hold,
            "max_held": max_held, "port": self.port,
            "metrics": self.metrics_port}, prefix=guests.in_ns([]))
        self.d.start()

    def run_ns(self, cmd, timeout=300, stdin_bytes=None, **kw):
        if stdin_bytes is not None:
            kw.pop("input", None)
            p = subprocess.run(guests.in_ns(cmd), capture_output=True,
                               timeout=timeout, input=stdin_bytes, **kw)
            p.stdout = p.stdout.decode(errors="replace")
            p.stderr = p.stderr.decode(errors="replace")
            return p
        return subprocess.run(guests.in_ns(cmd), capture_output=True,
                              text=True, timeout=timeout, **kw)

    def curl(self, addr, path="/", timeout=240):
        return self.run_ns(["curl", "-sS", "-o", "/dev/null", "-w",
                            "%{http_code}", "-m", str(timeout),
                            "http://%s:%d%s" % (addr, self.port, path)],
                           timeout=timeout + 30)

    def metrics(self):
        return self.run_ns(["curl", "-sS", "http://127.0.0.1:%d/metrics" %
                            self.metrics_port]).stdout

    def boots(self):
        ev = self.d.ctl("events", "-n", "1000", "hello", json_out=True)
        return [e for e in ev if e["kind"] == "boot"]

    def test_first_request_after_reap_succeeds(self):
        self.start(idle="2s")
        r = self.curl("127.0.0.2", "/healthz")
        self.assertEqual(r.stdout, "200", r.stderr)
        wait_for(lambda: self.d.ctl("status", "hello", json_out=True)
                 ["state"] == "stopped", timeout=60, what="reap")
        r = self.curl("127.0.0.2", "/")
        self.assertEqual(r.stdout, "200", r.stderr)
        self.assertEqual(len(self.boots()), 2)

    def test_stampede_makes_one_boot(self):
        self.start()
        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            codes = list(pool.map(lambda i: self.curl("127.0.0.2",
                                                      "/healthz").stdout,
                                  range(200)))
        self.assertEqual(codes, ["200"] * 200)
        self.assertEqual(len(self.boots()), 1)
        self.assertEqual(len(guests.domains(PREFIX + "hello-")), 1)
        m = self.metrics()
        self.assertEqual(metric(m, "summon_proxy_connections_total",
                                service="hello"), 200)
        self.assertEqual(metric(m, "summon_proxy_held", service="hello"), 0)

    def test_100mb_each_way_byte_exact(self):
        """GET /bytes/N streams a known pattern; POST /sink answers the
        length and FNV-1a of what it received: both through the proxy."""
        n = 100 << 20
        data = pattern(n)
        self.start()
        r = self.run_ns(["sh", "-c", "curl -sS -m 600 http://127.0.0.2:%d/"
                         "bytes/%d | sha256sum" % (self.port, n)], timeout=700)
        self.assertEqual(r.stdout.split()[0],
                         hashlib.sha256(data).hexdigest(), r.stderr)
        r = self.run_ns(["curl", "-sS", "-m", "600", "--data-binary", "@-",
                         "http://127.0.0.2:%d/sink" % self.port],
                        timeout=700, input=None, stdin_bytes=data)
        self.assertEqual(r.stdout.strip(), "bytes=%d fnv=%x" % (n, fnv1a(data)))

    def test_half_close(self):
        self.start()
        self.assertEqual(self.curl("127.0.0.2").stdout, "200")
        # socat shuts its write side after the request; the whole
        # response must still come back.
        r = self.run_ns(["socat", "-t", "30", "-",
                         "TCP:127.0.0.2:%d" % self.port],
                        input="GET /healthz HTTP/1.0\r\n\r\n")
        self.assertIn("200", r.stdout.splitlines()[0])
        self.assertTrue(r.stdout.rstrip().endswith("ok"), r.stdout)

    def test_hold_timeout_and_max_held(self):
        self.start(hold="3s", max_held=2)
        procs = [subprocess.Popen(guests.in_ns(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "-m", "60", "http://127.0.0.3:%d/" % self.port]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
        outs = [p.communicate(timeout=90) for p in procs]
        # Nobody got an HTTP answer: closed, not hung.
        self.assertEqual([o[0] for o in outs], ["000"] * 3)
        m = self.metrics()
        self.assertEqual(metric(m, "summon_proxy_refused_total",
                                service="never", reason="max-held"), 1)
        self.assertEqual(metric(m, "summon_proxy_refused_total",
                                service="never", reason="hold-timeout"), 2)
        self.assertEqual(metric(m, "summon_proxy_held", service="never"), 0)

    def test_failed_boot_closes_held_clients_promptly(self):
        self.start()
        t0 = time.monotonic()
        r = self.curl("127.0.0.4", "/", timeout=100)
        self.assertEqual(r.stdout, "000")
        self.assertLess(time.monotonic() - t0, 60)
        m = self.metrics()
        self.assertEqual(metric(m, "summon_proxy_refused_total",
                                service="broken", reason="boot-failed"), 1)
        self.assertEqual(metric(m, "summon_boots_total", service="broken",
                                result="failed"), 1)

    def test_client_leaving_while_held_leaks_nothing(self):
        self.start(hold="120s")
        script = ("import socket,time\n"
                  "ss=[socket.create_connection(('127.0.0.3',%d)) "
                  "for _ in range(20)]\n"
                  "time.sleep(1)\n"
                  "[s.close() for s in ss]\n" % self.port)
        r = self.run_ns(["python3", "-c", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: metric(self.metrics(), "summon_proxy_held",
                                service="never") == 0, timeout=30,
                 what="held clients forgotten")
        m = self.metrics()
        self.assertEqual(metric(m, "summon_proxy_connections_total",
                                service="never"), 20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
