"""Hostile: reloads that take a service away while the proxy holds its
clients.  summond once freed the service under its own loop and crashed
(a use-after-free in pconn_refuse_held); now the held clients are closed
and counted, and everything else goes on.  The hypervisor is libvirt's
test driver; the guests never print their readiness line, so clients
stay held until the reload."""
import os
import signal
import socket
import time
import unittest
import urllib.request

from hostile import served
from summon_test import Summond, free_port, wait_for

HEAD = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
[dns]
listen =
[metrics]
listen = 127.0.0.1:%(metrics)d
[network]
mode = user
user-ports = 32100-32120
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
"""


class HeldReloadTest(unittest.TestCase):
    def setUp(self):
        self.mport = free_port()
        self.hold_port, self.stay_port = free_port(), free_port()
        self.d = Summond(self.conf(("held", 2, self.hold_port),
                                   ("stay", 3, self.stay_port)))
        self.addCleanup(self.d.stop, signal.SIGTERM)
        self.d.test_driver_files()
        self.d.start()

    def conf(self, *services):
        text = HEAD % {"metrics": self.mport}
        for name, ip, port in services:
            text += SERVICE % {"name": name, "ip": ip, "port": port}
        return text

    def hold(self, ip, port, n=1):
        """n clients connected and held (each sent a request)."""
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.%d" % ip, port),
                                         timeout=10)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            socks.append(s)
        wait_for(lambda: self.d.ctl("status", "held", json_out=True)
                 ["state"] == "starting", what="starting")
        return socks

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" %
                                    self.mport, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def assert_closed(self, socks):
        for s in socks:
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
            s.close()

    def assert_alive(self):
        self.assertIsNone(self.d.proc.poll(), "summond died:\n" +
                          self.d.logtext()[-3000:])
        served(self, lambda: self.d.ctl("list", json_out=True), "list")

    def reload(self, how):
        if how == "sighup":
            before = self.d.logtext().count("reloaded ")
            self.d.send_signal(signal.SIGHUP)
            wait_for(lambda: self.d.proc.poll() is not None or
                     self.d.logtext().count("reloaded ") > before,
                     what="reload")
        else:
            self.d.ctl("reload")

    def removed(self, how):
        socks = self.hold(2, self.hold_port, 3)
        self.d.write_conf(self.conf(("stay", 3, self.stay_port)))
        self.reload(how)
        self.assert_alive()
        self.assert_closed(socks)
        self.assertEqual(self.metric("summon_proxy_removed_total"), 3)
        names = [s["service"] for s in self.d.ctl("list", json_out=True)]
        self.assertEqual(names, ["stay"])
        # The port of the removed service is closed; the other one works.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.2", self.hold_port),
                                     timeout=5).close()
        s = socket.create_connection(("127.0.0.3", self.stay_port),
                                     timeout=10)
        s.close()

    def test_removed_sighup(self):
        self.removed("sighup")

    def test_removed_summonctl(self):
        self.removed("summonctl")

    def test_renamed(self):
        socks = self.hold(2, self.hold_port, 2)
        self.d.write_conf(self.conf(("renamed", 2, self.hold_port),
                                    ("stay", 3, self.stay_port)))
        self.reload("summonctl")
        self.assert_alive()
        self.assert_closed(socks)
        self.assertEqual(self.metric("summon_proxy_removed_total"), 2)
        # The port now belongs to the new name: a client there wakes it.
        s = socket.create_connection(("127.0.0.2", self.hold_port),
                                     timeout=10)
        wait_for(lambda: self.d.ctl("status", "renamed", json_out=True)
                 ["state"] == "starting", what="renamed starting")
        s.close()

    def test_removed_and_readded_many_times(self):
        for _ in range(5):
            socks = self.hold(2, self.hold_port, 2)
            self.d.write_conf(self.conf(("stay", 3, self.stay_port)))
            self.reload("summonctl")
            self.assert_closed(socks)
            self.d.write_conf(self.conf(("held", 2, self.hold_port),
                                        ("stay", 3, self.stay_port)))
            self.reload("sighup")
            self.assert_alive()
            time.sleep(0.1)
        self.assertEqual(self.metric("summon_proxy_removed_total"), 10)


if __name__ == "__main__":
    unittest.main()
