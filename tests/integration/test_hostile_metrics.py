"""Hostile: clients of /metrics that would take summond's memory, time or
descriptors.  Each attack is bounded, and a good scrape (urllib) must be
answered while it runs.  Before the responder of metrics_http.c, evhttp
read a body or a header line of any size into memory, kept a connection
that sent a byte every few seconds forever, took any number of
connections, answered POST with 404, and spun at 100 % CPU on EMFILE.
The hypervisor is libvirt's test driver; nothing boots."""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from hostile import Attack, open_fds, rss_kib, served
from summon_test import Summond, free_port, wait_for

CONF = """
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
user-ports = 32200-32220
"""

SERVICE = """
[service "s%(i)d"]
kernel = /k
address = 127.1.%(hi)d.%(lo)d
template = @DIR@/test.xml
ready = serial:READY
"""

# metrics_http.c's limits.
CONNS_MAX = 16
REQUEST_S = 5
ANSWER_S = 10
# Slack for the sanitizer build on two busy cores.
SLACK_S = 3
# Resident memory an attack may add (small buffers, ASan's quarantine).
RSS_SLACK_KIB = 8 * 1024
CHUNK = b"a" * 65536


def start(services, prefix=()):
    port = free_port()
    conf = CONF % {"metrics": port} + "".join(
        SERVICE % {"i": i, "hi": i // 250, "lo": 1 + i % 250}
        for i in range(services))
    d = Summond(conf, prefix=prefix)
    d.test_driver_files()
    d.start()
    return d, port


def raw(port, data, timeout=10):
    """Send data on a new connection; everything answered until close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    s.close()
    return out


def stream(port, head, limit, seconds=20):
    """Send head, then filler up to limit bytes or until summond closes
    (or seconds pass).  Returns (bytes sent after the head, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    sent, deadline = 0, time.monotonic() + seconds
    try:
        while sent < limit and time.monotonic() < deadline:
            sent += s.send(CHUNK[:min(len(CHUNK), limit - sent)])
    except (BrokenPipeError, ConnectionResetError):
        return sent, True
    except socket.timeout:
        return sent, False     # not read, not closed
    finally:
        s.close()
    return sent, False


class HostileMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d, cls.port = start(3)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop(signal.SIGTERM)

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def good(self):
        with urllib.request.urlopen(self.url(), timeout=10) as r:
            return r.status == 200 and b"summon_reaps_total" in r.read()

    def assert_alive(self):
        self.assertIsNone(self.d.proc.poll(), "summond died:\n" +
                          self.d.logtext()[-3000:])

    def run_attack(self, fn, what, rounds=3):
        """Run fn on a thread; a good scrape is served meanwhile."""
        with Attack(fn) as a:
            for _ in range(rounds):
                served(self, self.good, "GET /metrics during " + what)
                time.sleep(0.2)
        self.assert_alive()
        return a

    def test_body(self):
        """A POST, or a GET with a Content-Length, followed by 64 MB:
        refused after the head, nothing of the body is kept."""
        self.good()
        before = rss_kib(self.d.proc.pid)
        results = []
        heads = [b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 67108864\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 67108864\r\n\r\n",
                 b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n4000000\r\n"]

        def attack():
            for head in heads * 2:
                results.append(stream(self.port, head, 64 << 20))
            return False
        self.run_attack(attack, "64 MB bodies")
        self.assertEqual(len(results), 6)
        for sent, closed in results:
            self.assertTrue(closed, "body read: %d bytes" % sent)
            self.assertLess(sent, 32 << 20)
        grew = rss_kib(self.d.proc.pid) - before
        self.assertLess(grew, RSS_SLACK_KIB, "RSS grew %d KiB" % grew)
        # What such a client is told, when it can read it.
        self.assertTrue(raw(self.port, b"POST /metrics HTTP/1.1\r\n"
                            b"Content-Length: 1\r\n\r\nx").startswith(
            b"HTTP/1.1 405 "))
        self.assertTrue(raw(self.port, b"GET /metrics HTTP/1.1\r\n"
                            b"Content-Length: 1\r\n\r\nx").startswith(
            b"HTTP/1.1 413 "))

    def test_header_line_of_100_mb(self):
        """One header line of 100 MB: closed after 8 KiB, a 431 first."""
        self.good()
        before = rss_kib(self.d.proc.pid)
        results = []

        def attack():
            for _ in range(2):
                results.append(stream(self.port, b"GET /metrics "
                                      b"HTTP/1.1\r\nX-Long: ", 100 << 20,
                                      seconds=10))
            return False
        self.run_attack(attack, "a 100 MB header line")
        self.assertEqual(len(results), 2)
        for sent, closed in results:
            self.assertTrue(closed, "header read: %d bytes" % sent)
            # What the socket buffers took before the close, no more.
            self.assertLess(sent, 32 << 20)
        grew = rss_kib(self.d.proc.pid) - before
        self.assertLess(grew, RSS_SLACK_KIB, "RSS grew %d KiB" % grew)
        answer = raw(self.port, b"GET /metrics HTTP/1.1\r\nX: " +
                     b"a" * 9000 + b"\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:40])

    def test_slow_header(self):
        """A header line a second: closed when the request's deadline
        (from the accept, not from the last byte) passes."""
        closed_after = []

        def attack():
            s = socket.create_connection(("127.0.0.1", self.port),
                                         timeout=10)
            start_t = time.monotonic()
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            n = 0
            try:
                while time.monotonic() - start_t < REQUEST_S * 3:
                    s.sendall(b"X-%d: y\r\n" % n)
                    n += 1
                    r, _, _ = select.select([s], [], [], 1.0)
                    if r and s.recv(4096) == b"":
                        break
                else:
                    return False    # never closed
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                s.close()
            closed_after.append(time.monotonic() - start_t)
            return False
        with Attack(attack) as a:
            while a.threads[0].is_alive():
                served(self, self.good, "GET /metrics during a slow head")
                time.sleep(1)
        self.assert_alive()
        self.assertEqual(len(closed_after), 1, "the slow client was kept")
        self.assertGreaterEqual(closed_after[0], REQUEST_S - 1)
        self.assertLess(closed_after[0], REQUEST_S + SLACK_S)

    def test_idle_connections_over_the_cap(self):
        """100 idle connections: summond keeps CONNS_MAX of them (the
        newest), and a client that asks is served at once."""
        self.good()
        fds = open_fds(self.d.proc.pid)
        socks = []
        try:
            for _ in range(100):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.port), timeout=10))
            time.sleep(0.5)
            held = open_fds(self.d.proc.pid) - fds
            self.assertLessEqual(held, CONNS_MAX, "%d held" % held)
            served(self, self.good, "GET /metrics with 100 idle clients")
            closed = 0
            for s in socks[:100 - CONNS_MAX]:
                s.settimeout(5)
                try:
                    closed += s.recv(1) == b""
                except ConnectionResetError:
                    closed += 1
            self.assertEqual(closed, 100 - CONNS_MAX)
        finally:
            for s in socks:
                s.close()
        self.assert_alive()

    def test_methods_paths_head(self):
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                       "CONNECT", "TRACE"):
            answer = raw(self.port, b"%s /metrics HTTP/1.1\r\nHost: x"
                         b"\r\n\r\n" % method.encode())
            self.assertTrue(answer.startswith(
                b"HTTP/1.1 405 Method Not Allowed\r\n"), answer[:60])
            self.assertIn(b"\r\nAllow: GET, HEAD\r\n", answer)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(
                self.url(), data=b"x=1"), timeout=10)
        self.assertEqual(e.exception.code, 405)
        self.assertEqual(e.exception.headers["Allow"], "GET, HEAD")
        for path in ("/", "/metric", "/metrics/x", "/../metrics"):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(self.url(path), timeout=10)
            self.assertEqual(e.exception.code, 404, path)
        for bad in (b"\r\n\r\n", b"GET\r\n\r\n", b"GET /metrics\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n"):
            self.assertTrue(raw(self.port, bad).startswith(
                b"HTTP/1.1 400 "), bad)
        # HEAD: the headers of the answer, no body.
        with urllib.request.urlopen(urllib.request.Request(
                self.url(), method="HEAD"), timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"")
            length = int(r.headers["Content-Length"])
        with urllib.request.urlopen(self.url(), timeout=10) as r:
            self.assertEqual(len(r.read()), length)
        answer = raw(self.port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
        self.assertTrue(answer.endswith(b"\r\n\r\n"), answer[-40:])
        # Real clients.
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-sS", self.url()],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(len(out.stdout), length)
            out = subprocess.run(["curl", "-sSI", self.url()],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stdout, rb"^HTTP/1.1 200 OK\r\n")
            self.assertIn(b"Content-Length: %d\r\n" % length, out.stdout)
        if shutil.which("wget"):
            out = subprocess.run(["wget", "-qO-", self.url()],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(len(out.stdout), length)
        self.assert_alive()


class SlowReaderTest(unittest.TestCase):
    def test_answer_deadline(self):
        """A client that reads its answer slowly but steadily and sends
        a byte now and then (evhttp's timeouts were per read and per
        write: it kept such a client for as long as it liked) is closed
        when the answer's deadline passes, the rest of the answer freed.
        Small segments and a small window keep the kernel's socket
        buffers from taking the whole answer (780 KB, 3000 services)."""
        d, port = start(3000)
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            got = s.recv(1024)
            length = int(re.search(rb"Content-Length: (\d+)",
                                   got).group(1))
            start_t, n, closed = time.monotonic(), 0, False
            # 40 KB/s: the whole answer would take 20 s.
            try:
                while time.monotonic() - start_t < ANSWER_S + SLACK_S:
                    got += s.recv(4096)
                    time.sleep(0.1)
                    n += 1
                    if n % 20 == 0:
                        s.sendall(b"\r\n")
                    if n % 40 == 0:
                        served(self, lambda: urllib.request.urlopen(
                            "http://127.0.0.1:%d/metrics" % port,
                            timeout=10).status == 200,
                            "GET /metrics during a slow reader")
                # Take what is left at once: the end comes before the
                # answer's.
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed = True
                        break
                    got += chunk
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            except socket.timeout:
                pass
            s.close()
            body = len(got) - got.index(b"\r\n\r\n") - 4
            self.assertTrue(closed)
            self.assertLess(body, length, "the whole answer was sent")
            self.assertIsNone(d.proc.poll())
        finally:
            d.stop(signal.SIGTERM)


class EmfileTest(unittest.TestCase):
    def test_out_of_descriptors(self):
        """summond at its descriptor limit with a metrics client waiting:
        accept pauses a second at a time instead of spinning (evhttp
        logged 'Too many open files' 320,000 times in 2 s), and the
        client is served once descriptors are free."""
        d, port = start(3, prefix=["prlimit", "--nofile=64:64"])
        socks = []
        try:
            pid = d.proc.pid

            def full():
                if open_fds(pid) >= 64 or len(socks) >= 100:
                    return True
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(d.sock)
                socks.append(s)
                time.sleep(0.02)
                return False
            wait_for(full, what="summond at its descriptor limit")
            self.assertEqual(open_fds(pid), 64)
            before = d.logtext().count("Too many open files")
            waiting = socket.create_connection(("127.0.0.1", port),
                                               timeout=10)
            waiting.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            time.sleep(2)
            logged = d.logtext().count("Too many open files") - before
            self.assertLess(logged, 20, "spinning: %d lines in 2 s" %
                            logged)
            self.assertIsNone(d.proc.poll())
            for s in socks:
                s.close()
            socks = []
            waiting.settimeout(SLACK_S + 2)
            answer = b""
            while True:
                chunk = waiting.recv(65536)
                if not chunk:
                    break
                answer += chunk
            waiting.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"),
                            answer[:60])
            served(self, lambda: urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % port, timeout=10).status
                == 200, "GET /metrics after EMFILE")
        finally:
            for s in socks:
                s.close()
            d.stop(signal.SIGTERM)


class ReloadTest(unittest.TestCase):
    """A reload applies a new [metrics] listen (it was ignored without a
    word), turns metrics off and on, and is refused whole when the new
    address cannot be bound."""

    def scrape(self, port):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=10) as r:
            return b"summon_dns_queries_total" in r.read()

    def refused(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError:
            return True
        return False

    def test_reload_moves_the_listener(self):
        d, old = start(1)
        self.addCleanup(d.stop, signal.SIGTERM)
        with open(d.conf) as f:
            text = f.read()
        new = free_port()
        d.write_conf(text.replace(":%d" % old, ":%d" % new))
        d.ctl("reload")
        served(self, lambda: self.scrape(new), "scrape on the new port")
        self.assertTrue(self.refused(old), "the old port still listens")
        # Off, then on again at the first port.
        d.write_conf(text.replace("listen = 127.0.0.1:%d" % old,
                                  "listen ="))
        d.ctl("reload")
        self.assertTrue(self.refused(new))
        d.write_conf(text)
        d.ctl("reload")
        served(self, lambda: self.scrape(old), "scrape after on again")
        # A port someone else holds: refused whole, the old one serves.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        d.write_conf(text.replace(":%d" % old, ":%d" %
                                  busy.getsockname()[1]))
        p = d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("[metrics] listen", p.stderr)
        served(self, lambda: self.scrape(old), "scrape after a refusal")


if __name__ == "__main__":
    unittest.main(verbosity=2)
