"""Reloads against a running summond with a relay live, a client held, a
boot in flight and a standby made: a reload that fails at any module's
prepare step (a DNS address, a proxy port or a metrics address in use,
a lifecycle change the running instances cannot follow) leaves every
service answering exactly as before; one that removes, renames and
re-adds services closes the held clients of what it removed and touches
nothing else.  The hypervisor is libvirt's test driver; the "guests" are
echo servers of the test on the user-mode ports, made ready by writing
their readiness line into their serial logs."""
import os
import signal
import socket
import sqlite3
import threading
import time
import unittest
import urllib.request

from summon_test import Summond, dns_query, free_port, wait_for

HEAD = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
[dns]
listen = %(dns)s
zone = r.test.
rate-limit = 0
[metrics]
listen = %(metrics)s
[network]
mode = %(mode)s
user-ports = %(ulo)d-%(uhi)d
[proxy]
hold-timeout = 60s
"""

SERVICE = """
[service "%(name)s"]
kernel = /k
address = 127.0.0.%(ip)d
ports = %(port)d:80
template = @DIR@/test.xml
ready = serial:READY
boot-timeout = 60s
%(extra)s
"""

NPORTS = 20


class EchoGuests:
    """An echo server on each user-mode port: what a guest would be."""

    def __init__(self, lo, n):
        self.socks = []
        self.stop = False
        for port in range(lo, lo + n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(16)
            s.settimeout(0.2)
            self.socks.append(s)
            threading.Thread(target=self.serve, args=(s,),
                             daemon=True).start()

    def serve(self, lsock):
        while not self.stop:
            try:
                c, _ = lsock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.echo, args=(c,),
                             daemon=True).start()

    @staticmethod
    def echo(c):
        with c:
            while True:
                try:
                    data = c.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                c.sendall(data)

    def close(self):
        self.stop = True
        for s in self.socks:
            s.close()


class ReloadTest(unittest.TestCase):
    def setUp(self):
        # 20 consecutive free ports for the guests.
        while True:
            lo = free_port()
            if lo + NPORTS < 65000 and all(
                    self.port_free(p) for p in range(lo, lo + NPORTS)):
                break
        self.ulo = lo
        self.dns, self.metrics = free_port(), free_port()
        self.ports = {n: free_port() for n in ("live", "held", "sby",
                                               "extra")}
        self.guests = EchoGuests(lo, NPORTS)
        self.addCleanup(self.guests.close)
        self.d = Summond(self.conf())
        self.addCleanup(self.d.stop, signal.SIGTERM)
        self.d.test_driver_files()
        self.ready_for = {"live", "live2", "sby", "extra"}
        self.stop_ready = threading.Event()
        t = threading.Thread(target=self.make_ready, daemon=True)
        t.start()
        self.addCleanup(self.stop_ready.set)
        self.d.start()
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])

    @staticmethod
    def port_free(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    def conf(self, services=("live", "held", "sby"), rename=None,
             dns=None, metrics=None, mode="user", extra_port=None):
        text = HEAD % {
            "dns": dns or "127.0.0.1:%d" % self.dns,
            "metrics": metrics or "127.0.0.1:%d" % self.metrics,
            "mode": mode, "ulo": self.ulo, "uhi": self.ulo + NPORTS - 1}
        ips = {"live": 2, "held": 3, "sby": 4, "extra": 5, "new": 6}
        for name in services:
            extra = "standby = 1\nstandby-booted = yes\n" \
                if name == "sby" else ""
            port = self.ports.get(name, extra_port)
            text += SERVICE % {"name": (rename or {}).get(name, name),
                               "ip": ips[name], "port": port,
                               "extra": extra}
        return text

    def make_ready(self):
        """The guests of services in ready_for print READY."""
        db = os.path.join(self.d.dir, "state.db")
        done = set()
        while not self.stop_ready.is_set():
            try:
                with sqlite3.connect("file:%s?mode=ro" % db,
                                     uri=True, timeout=1) as c:
                    rows = c.execute("SELECT service, domain FROM "
                                     "instances").fetchall()
            except sqlite3.Error:
                rows = []
            for svc, dom in rows:
                if dom and dom not in done and svc in self.ready_for:
                    with open(os.path.join(self.d.dir, "serial",
                                           dom + ".log"), "w") as f:
                        f.write("READY\n")
                    done.add(dom)
            time.sleep(0.05)

    def status(self, svc):
        return self.d.ctl("status", svc, json_out=True)

    def echo(self, s, data):
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return got

    def connect(self, svc):
        s = socket.create_connection(
            ("127.0.0.%d" % {"live": 2, "held": 3, "sby": 4,
                             "extra": 5}[svc], self.ports[svc]), timeout=30)
        self.socks.append(s)
        return s

    def held_open(self, s):
        """Still held: nothing to read, no end."""
        s.settimeout(0.3)
        try:
            return s.recv(1, socket.MSG_PEEK) not in (b"",)
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            s.settimeout(30)

    def scrape(self, port):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=10) as r:
            return r.read().decode()

    def metric(self, name):
        for line in self.scrape(self.metrics).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def running(self):
        """A relay, a held client (a boot in flight) and a standby."""
        relay = self.connect("live")
        self.assertEqual(self.echo(relay, b"one"), b"one")
        held = self.connect("held")
        held.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_for(lambda: self.status("held")["state"] == "starting",
                 what="held starting")
        wait_for(lambda: self.status("sby")["state"] == "standby",
                 timeout=60, what="a standby")
        return relay, held

    def as_before(self, relay, held, what):
        self.assertIsNone(self.d.proc.poll(), what + ": summond died")
        self.assertEqual(self.echo(relay, b"again"), b"again",
                         what + ": the relay")
        self.assertTrue(self.held_open(held), what + ": the held client")
        self.assertEqual(self.status("held")["state"], "starting", what)
        self.assertEqual(self.status("sby")["state"], "standby", what)
        self.assertEqual(self.status("live")["state"], "ready", what)
        self.assertEqual(dns_query(self.dns, "live.r.test"), "127.0.0.2",
                         what + ": DNS")
        self.assertIn("summon_dns_queries_total", self.scrape(self.metrics),
                      what + ": metrics")
        names = sorted(s["service"] for s in
                       self.d.ctl("list", json_out=True))
        self.assertEqual(names, ["held", "live", "sby"], what)
        s = socket.create_connection(("127.0.0.2", self.ports["live"]),
                                     timeout=30)
        self.assertEqual(self.echo(s, b"new"), b"new",
                         what + ": a new client")
        s.close()

    def refused(self, text, reason):
        before = self.d.logtext().count(": stop: ")
        self.d.write_conf(text)
        p = self.d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(reason, p.stderr)
        self.assertEqual(self.d.logtext().count(": stop: "), before)

    def test_restart_only_settings_are_said(self):
        """A hypervisor changed by a reload is used from the next start:
        the reload says so, and goes on with the one connected."""
        self.d.write_conf(self.conf().replace(
            "hypervisor = test:///default", "hypervisor = test:///other"))
        p = self.d.ctl("reload")
        self.assertIn("hypervisor is still test:///default until summond "
                      "restarts", p.stdout + p.stderr)
        self.assertEqual(self.d.ctl("hosts", json_out=True)[0]["uri"],
                         "test:///default")

    def test_failed_prepare_changes_nothing(self):
        relay, held = self.running()
        busy_tcp = socket.socket()
        busy_tcp.bind(("127.0.0.1", 0))
        busy_tcp.listen(1)
        busy = busy_tcp.getsockname()[1]
        busy_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy_udp.bind(("127.0.0.1", busy))
        self.addCleanup(busy_tcp.close)
        self.addCleanup(busy_udp.close)
        # A DNS address in use.
        self.refused(self.conf(dns="127.0.0.1:%d 127.0.0.1:%d" %
                               (self.dns, busy)), "[dns] listen")
        self.as_before(relay, held, "dns")
        # A proxy port in use (service "new" is at 127.0.0.6).
        busy6 = socket.socket()
        busy6.bind(("127.0.0.6", busy))
        busy6.listen(1)
        self.addCleanup(busy6.close)
        self.refused(self.conf(services=("live", "held", "sby", "new"),
                               extra_port=busy), "cannot listen")
        self.as_before(relay, held, "proxy")
        # A change the live instances cannot follow.
        self.refused(self.conf(mode="bridge"), "[network] mode")
        self.as_before(relay, held, "lifecycle")
        # A metrics address in use.
        self.refused(self.conf(metrics="127.0.0.1:%d" % busy),
                     "[metrics] listen")
        self.as_before(relay, held, "metrics")

    def test_remove_rename_readd(self):
        relay, held = self.running()
        sby_domain = self.status("sby")["domain"]
        # held removed, live renamed live2 (same address and port),
        # extra added; sby stays.
        self.d.write_conf(self.conf(services=("live", "sby", "extra"),
                                    rename={"live": "live2"}))
        self.d.ctl("reload")
        self.assertFalse(self.held_open(held), "the removed service's "
                         "held client was kept")
        self.assertGreaterEqual(self.metric("summon_proxy_removed_total"),
                                1)
        # The relay of the renamed service goes on; its port serves the
        # new name, which boots.
        self.assertEqual(self.echo(relay, b"still"), b"still")
        s = socket.create_connection(("127.0.0.2", self.ports["live"]),
                                     timeout=30)
        self.assertEqual(self.echo(s, b"renamed"), b"renamed")
        s.close()
        self.assertEqual(self.status("live2")["state"], "ready")
        self.assertEqual(self.status("sby")["state"], "standby")
        self.assertEqual(self.status("sby")["domain"], sby_domain)
        self.assertEqual(dns_query(self.dns, "extra.r.test"), "127.0.0.5")
        self.assertIsNone(dns_query(self.dns, "held.r.test"))
        # held again: a client is held again, a boot begins.
        self.d.write_conf(self.conf(services=("live", "sby", "extra",
                                              "held"),
                                    rename={"live": "live2"}))
        self.d.ctl("reload")
        again = self.connect("held")
        wait_for(lambda: self.status("held")["state"] == "starting",
                 what="held booting again")
        self.assertTrue(self.held_open(again))
        self.assertEqual(self.echo(relay, b"end"), b"end")
        self.assertIsNone(self.d.proc.poll())


if __name__ == "__main__":
    unittest.main()
