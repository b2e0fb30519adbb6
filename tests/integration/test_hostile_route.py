"""Hostile: a port shared by name, where summond reads a connection
before it knows whose it is.  A request head trickled a byte at a time,
a ClientHello that claims a huge length, and over a thousand connections
that send nothing: each is bounded in bytes, time and number (16 KiB,
5 s from the accept, 1024 read at once, the oldest closed beyond), and
a good client is routed and answered while they run.  The hypervisor is
libvirt's test driver and the guests are the test's own servers
(shared_ports.py)."""
import itertools
import resource
import socket
import time
import unittest

from hostile import Attack, open_fds, served
from shared_ports import (ADDRESS, ZONE, client_hello, closed_within, connect,
                          http_get, send_slowly, start)
from summon_test import free_port, wait_for

PEEK_DEADLINE = 5.0
PEEK_MAX_CONNS = 1024
# The closes the attacks wait for: the deadline, with room for the
# sanitizer build on two busy cores.
CLOSED_WITHIN = PEEK_DEADLINE + 10


class SharedPortTest(unittest.TestCase):
    def setUp(self):
        # Room for summond (which inherits it) and the test to hold
        # more connections than a shared port reads at once.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 4 * PEEK_MAX_CONNS)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        self.host_port, self.sni_port = free_port(), free_port()
        both = "%d:80/host %d:443/sni" % (self.host_port, self.sni_port)
        self.d, self.guests, _, _ = start(self, [("web", both, ""),
                                                 ("api", both, "")])

    def shared(self, port):
        for sh in self.d.ctl("status", "web", json_out=True)["proxy"][
                "shared"]:
            if sh["listener"].endswith(":%d" % port):
                return sh
        raise AssertionError("no shared listener on %d" % port)

    def good_http(self):
        status, body = http_get(self.host_port, "api." + ZONE)
        return status == "HTTP/1.1 200 OK" and body.startswith(b"port=")

    def good_tls(self):
        hello = client_hello("web." + ZONE)
        return send_slowly(self.sni_port, hello, len(hello), 0) == hello

    def test_trickled_head_is_cut_at_the_deadline(self):
        """A byte every 100 ms: the deadline counts from the accept, so
        the head never ends and the connection is closed at 5 s."""
        head = b"GET / HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 100
        socks = [connect(self.host_port) for _ in range(10)]
        start_at = time.monotonic()
        sent, closed = [0], {}

        def trickle():
            for n, s in enumerate(socks):
                if n in closed:
                    continue
                try:
                    s.sendall(head[sent[0]:sent[0] + 1])
                    s.setblocking(False)
                    if s.recv(1) == b"":
                        closed[n] = time.monotonic()
                except BlockingIOError:
                    pass
                except OSError:
                    closed[n] = time.monotonic()
                s.setblocking(True)
            sent[0] += 1
            time.sleep(0.1)
            return len(closed) < len(socks)

        with Attack(trickle):
            served(self, self.good_http, "a request among tricklers")
            wait_for(lambda: len(closed) == len(socks),
                     timeout=CLOSED_WITHIN, what="tricklers closed")
        for s in socks:
            s.close()
        took = max(closed.values()) - start_at
        self.assertGreaterEqual(min(closed.values()) - start_at,
                                PEEK_DEADLINE - 0.5)
        self.assertLess(took, CLOSED_WITHIN)
        self.assertLess(sent[0], len(head))
        self.assertEqual(self.shared(self.host_port)["refused"]
                         ["peek_timeout"], 10)

    def test_huge_claims_are_closed_at_once(self):
        """Handshake and record lengths past 16 KiB: malformed as soon
        as their header is in, not at the limit or the deadline."""
        claims = [bytes([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
                  bytes([22, 3, 1, 0xff, 0xff]),
                  bytes([22, 3, 1, 0, 4, 1, 0, 0x40, 0]) + b"\0" * 1000]
        rounds = itertools.count()

        def one_claim():
            with connect(self.sni_port) as s:
                try:
                    s.sendall(claims[next(rounds) % len(claims)])
                except OSError:
                    return True
                closed, got = closed_within(s, PEEK_DEADLINE - 1)
            if not closed or got:
                raise AssertionError("not closed at once")
            return True

        with Attack(one_claim, threads=4, reraise=True) as a:
            served(self, self.good_tls, "a ClientHello among huge claims")
            time.sleep(2)
        self.assertGreater(a.rounds, 10)
        self.assertEqual(self.shared(self.sni_port)["refused"]["malformed"],
                         a.rounds)
        self.assertEqual(self.shared(self.sni_port)["refused"]
                         ["peek_timeout"], 0)

    def test_silent_connections_bounded(self):
        """Connections that send nothing: at most 1024 are read at once
        (beyond, the oldest gives way), all are gone 5 s after their
        accept, and a good client is routed meanwhile."""
        want = PEEK_MAX_CONNS + 200
        fds0 = open_fds(self.d.proc.pid)
        socks = []
        for _ in range(want):
            s = socket.socket()
            s.settimeout(10)
            s.connect((ADDRESS, self.host_port))
            socks.append(s)
        try:
            wait_for(lambda: self.shared(self.host_port)["connections"] ==
                     want, what="all accepted")
            # All read at once up to the cap; every other one gave way
            # (or, on a slow run, reached its deadline).
            sh = self.shared(self.host_port)
            self.assertLessEqual(sh["peeking"], PEEK_MAX_CONNS)
            self.assertGreaterEqual(sh["refused"]["peek_timeout"],
                                    want - PEEK_MAX_CONNS)
            self.assertEqual(sh["peeking"] + sh["refused"]["peek_timeout"],
                             want)
            self.assertLessEqual(open_fds(self.d.proc.pid) - fds0,
                                 PEEK_MAX_CONNS + 16)
            served(self, self.good_http, "a request among 1224 silent ones")
            served(self, self.good_tls, "a ClientHello among them")
            # The oldest gave way first: the first socket is closed.
            closed, _ = closed_within(socks[0], 1)
            self.assertTrue(closed)
            wait_for(lambda: self.shared(self.host_port)["peeking"] == 0,
                     timeout=CLOSED_WITHIN, what="the deadline")
            self.assertEqual(self.shared(self.host_port)["refused"]
                             ["peek_timeout"], want)
            closed, _ = closed_within(socks[-1], 1)
            self.assertTrue(closed)
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
