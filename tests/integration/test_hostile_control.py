"""Hostile: the control socket and summonctl.  Clients that connect and
say nothing, half-send a request, trickle it a byte a second or pipeline
boots by the hundred thousand must not lock the operator out nor grow
summond without bound; summonctl gives up with a clear line instead of
hanging; the socket's group counts as a supplementary group too;
summond never deletes a file that is not its socket; and a reload's
errors and warnings reach summonctl whole and true."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from hostile import Attack, Files, rss_kib, served
from summon_test import SUMMOND, SUMMONCTL, Summond, free_port, wait_for

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
[dns]
listen =
[metrics]
listen =
[network]
mode = user
user-ports = 32200-32220
[service "hello"]
kernel = /k
address = 127.0.0.2
ports = %(port)d:80
template = @DIR@/test.xml
ready = serial:READY
boot-timeout = 60s
"""


def connect(path):
    """A connection to path; a full listen queue is waited out."""
    deadline = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def closed_by_peer(s, within):
    """Whether the peer closes s within `within` seconds."""
    s.settimeout(within)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class ControlTest(unittest.TestCase):
    def setUp(self):
        self.d = Summond(CONF % {"port": free_port()})
        self.addCleanup(self.d.stop, signal.SIGTERM)
        self.d.test_driver_files()
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])
        self.d.start()

    def good_list(self):
        p = self.d.ctl("-t", "5", "list", check=False, json_out=True)
        return isinstance(p, list) and p[0]["service"] == "hello"

    def test_idle_clients_do_not_lock_out(self):
        # More idle clients than the table holds: the oldest make room.
        for _ in range(300):
            self.socks.append(connect(self.d.sock))
        served(self, self.good_list, "list with 300 idle clients")
        wait_for(lambda: "closed to make room" in self.d.logtext(),
                 what="the evictions logged")
        self.assertIsNone(self.d.proc.poll())

    def test_half_sent_requests_do_not_lock_out(self):
        for _ in range(300):
            s = connect(self.d.sock)
            s.sendall(b'{"v":1,"id":1,"cmd":"li')
            self.socks.append(s)
        served(self, self.good_list, "list with 300 half-sent requests")

    def test_reconnecting_flood(self):
        # Idle clients made as fast as they can be, from two threads,
        # while a good client asks again and again.
        def flood():
            s = connect(self.d.sock)
            self.socks.append(s)
            if len(self.socks) > 600:
                return False
        with Attack(flood, threads=2):
            for _ in range(5):
                served(self, self.good_list, "list during a flood")

    def test_trickled_request_is_cut_off(self):
        s = connect(self.d.sock)
        self.socks.append(s)
        start = time.monotonic()
        line = b'{"v":1,"id":1,"cmd":"list"}'
        closed = False
        # One byte a second: far slower than the request deadline allows.
        for b in line:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(s, 1.0):
                closed = True
                break
        self.assertTrue(closed, "a request trickled over %.0f s was "
                        "still read" % (time.monotonic() - start))
        self.assertIn("did not finish a request", self.d.logtext())

    def test_pipelined_boots_are_bounded(self):
        before = rss_kib(self.d.proc.pid)
        s = connect(self.d.sock)
        self.socks.append(s)
        s.setblocking(False)
        data = b'{"v":1,"id":7,"cmd":"boot","service":"hello"}\n' * 200000
        sent, deadline = 0, time.monotonic() + 15
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        # Whatever summond took in: it must not have kept 200,000 boots.
        time.sleep(1)
        grown = rss_kib(self.d.proc.pid) - before
        self.assertLess(grown, 16 * 1024, "RSS grew by %d KiB" % grown)
        served(self, self.good_list, "list beside a pipelining client")
        self.assertIsNone(self.d.proc.poll())

    def test_supplementary_group_may_change(self):
        os.chmod(self.d.dir, 0o755)
        gid = os.stat(self.d.sock).st_gid
        p = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup",
             "--groups=%d" % gid, SUMMONCTL, "-s", self.d.sock, "reap",
             "--all"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Without the group: still refused.
        p = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup",
             "--clear-groups", SUMMONCTL, "-s", self.d.sock, "reap",
             "--all"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied", p.stderr)

    def test_reload_errors_whole_and_warnings_true(self):
        with open(self.d.conf) as f:
            good = f.read()
        bad = good + "".join("[service \"bad%d\"]\nkernel = /k\n"
                             "memory = lots\n" % i for i in range(161))
        with open(self.d.conf, "w") as f:
            f.write(bad)
        p = self.d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertGreaterEqual(p.stderr.count("memory"), 161, p.stderr)
        # A restart-only setting: each reload names the running value.
        with open(self.d.conf, "w") as f:
            f.write(good.replace("test:///default", "test:///other"))
        for _ in range(2):
            p = self.d.ctl("reload")
            self.assertIn("hypervisor is still test:///default", p.stderr)


class SummonctlTimeoutTest(unittest.TestCase):
    """summonctl against sockets that summond does not answer on."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="summon-test-")
        self.path = os.path.join(self.dir, "mute.sock")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])

    def run_ctl(self, *args):
        start = time.monotonic()
        p = subprocess.run([SUMMONCTL, "-s", self.path] + list(args),
                           capture_output=True, text=True, timeout=60)
        return p, time.monotonic() - start

    def test_no_answer(self):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.path)
        srv.listen(8)
        held = []
        t = threading.Thread(target=lambda: held.append(srv.accept()),
                             daemon=True)
        t.start()
        p, took = self.run_ctl("-t", "1", "list")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("no answer from summond within 1 s", p.stderr)
        self.assertLess(took, 30)
        t.join()
        for conn, _ in held:
            conn.close()
        srv.close()

    def test_not_accepting(self):
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.path)
        srv.listen(0)
        # Fill the listen queue: nobody accepts.
        fillers = []
        for _ in range(8):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(self.path)
            except (BlockingIOError, OSError):
                c.close()
                break
            fillers.append(c)
        p, took = self.run_ctl("--timeout", "1", "list")
        self.assertEqual(p.returncode, 1)
        self.assertIn("within 1 s", p.stderr)
        self.assertLess(took, 30)
        for c in fillers:
            c.close()
        srv.close()

    def test_bad_timeout_is_usage(self):
        p, _ = self.run_ctl("-t", "soon", "list")
        self.assertEqual(p.returncode, 2)


class ControlPathTest(unittest.TestCase):
    """summond must not delete what sits at its control path."""

    def test_regular_file_is_kept(self):
        d = Summond((CONF % {"port": free_port()}).replace(
            "control = @DIR@/summond.sock", "control = @DIR@/precious"))
        d.test_driver_files()
        precious = os.path.join(d.dir, "precious")
        with open(precious, "w") as f:
            f.write("an operator's file\n")
        files = Files(d.dir)
        p = subprocess.run([SUMMOND, "-d", "-f", d.conf],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists and is not a socket", p.stderr)
        files.check(self)
        with open(precious) as f:
            self.assertEqual(f.read(), "an operator's file\n")


if __name__ == "__main__":
    unittest.main()
