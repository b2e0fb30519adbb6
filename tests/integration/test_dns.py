"""DNS end to end: summond answering real dig and drill over UDP and TCP,
pipelined TCP queries, and a burst of garbage that changes nothing."""
import os
import random
import signal
import socket
import struct
import subprocess
import unittest

from summon_test import Summond, free_port

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
templates = @TEMPLATES@
[dns]
listen = 127.0.0.1:%(port)d
zone = svc.test.
ttl = 7
rate-limit = 0
[metrics]
listen =
[network]
create = no
[service "hello"]
names = hello www
kernel = /nonexistent/hello.elf
address = 127.0.0.2
ports = %(pport)d:80
boot-timeout = 100ms
"""


def query(name, qtype=1, qid=0x4242):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


class DnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.d = Summond(CONF % {"port": cls.port, "pport": free_port()})
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop(signal.SIGTERM)

    def dig(self, *args, tcp=False):
        cmd = ["dig", "@127.0.0.1", "-p", str(self.port), "+time=3",
               "+tries=1", "+norecurse"] + (["+tcp"] if tcp else []) + \
            list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=30).stdout

    def drill(self, *args, tcp=False):
        cmd = ["drill", "-p", str(self.port)] + (["-t"] if tcp else []) + \
            list(args) + ["@127.0.0.1"]
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=30).stdout

    def check_all(self, tcp):
        out = self.dig("svc.test", "SOA", tcp=tcp)
        self.assertIn("status: NOERROR", out)
        self.assertIn("flags: qr aa;", out)
        self.assertRegex(out, r"svc\.test\.\s+\d+\s+IN\s+SOA")
        out = self.dig("svc.test", "NS", tcp=tcp)
        self.assertRegex(out, r"svc\.test\.\s+\d+\s+IN\s+NS")
        out = self.dig("HeLLo.svc.TEST", "A", tcp=tcp)
        self.assertIn("status: NOERROR", out)
        self.assertRegex(out, r"HeLLo\.svc\.TEST\.\s+7\s+IN\s+A\s+127\.0\.0\.2")
        out = self.dig("nope.svc.test", "A", tcp=tcp)
        self.assertIn("status: NXDOMAIN", out)
        self.assertRegex(out, r"AUTHORITY SECTION:\nsvc\.test\.\s+\d+\s+IN\s+SOA")
        out = self.dig("www.svc.test", "AAAA", tcp=tcp)
        self.assertIn("status: NOERROR", out)
        self.assertIn("ANSWER: 0", out)
        self.assertRegex(out, r"AUTHORITY SECTION:\nsvc\.test\.\s+\d+\s+IN\s+SOA")
        out = self.dig("example.org", "A", tcp=tcp)
        self.assertIn("status: REFUSED", out)
        out = self.drill("hello.svc.test", "A", tcp=tcp)
        self.assertIn("rcode: NOERROR", out)
        self.assertRegex(out, r"hello\.svc\.test\.\s+7\s+IN\s+A\s+127\.0\.0\.2")
        out = self.drill("missing.svc.test", "A", tcp=tcp)
        self.assertIn("rcode: NXDOMAIN", out)
        out = self.drill("example.org", "SOA", tcp=tcp)
        self.assertIn("rcode: REFUSED", out)

    def test_udp(self):
        self.check_all(tcp=False)

    def test_tcp(self):
        self.check_all(tcp=True)

    def test_pipelined_tcp(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        names = ["hello.svc.test", "nope.svc.test", "svc.test"]
        msg = b""
        for i, n in enumerate(names):
            q = query(n, 1, 100 + i)
            msg += struct.pack(">H", len(q)) + q
        s.sendall(msg)          # three queries in one write
        got = {}
        buf = b""
        while len(got) < 3:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "connection closed early")
            buf += chunk
            while len(buf) >= 2:
                n = struct.unpack(">H", buf[:2])[0]
                if len(buf) < 2 + n:
                    break
                r = buf[2:2 + n]
                buf = buf[2 + n:]
                qid, flags = struct.unpack(">HH", r[:4])
                got[qid] = flags & 0xf
        s.close()
        self.assertEqual(got, {100: 0, 101: 3, 102: 0})

    def test_garbage_then_normal(self):
        rnd = random.Random(7)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(2000):
            pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 600)))
            s.sendto(pkt, ("127.0.0.1", self.port))
        s.close()
        out = self.dig("hello.svc.test", "A")
        self.assertIn("127.0.0.2", out)
        self.assertEqual(self.d.proc.poll(), None)

    def test_lookup_is_a_wake(self):
        before = self.d.ctl("status", "hello", json_out=True)["wakes"]["dns"]
        self.dig("hello.svc.test", "A")
        after = self.d.ctl("status", "hello", json_out=True)["wakes"]["dns"]
        self.assertEqual(after, before + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
