"""What the tests of ports shared by name (test_route.py,
test_hostile_route.py) share: a summond on libvirt's test driver whose
services all listen on one address, the test's own servers standing in
for their guests on the user-mode ports, made ready by writing READY
into their serial logs, and the clients: HTTP requests by Host and real
ClientHellos by server name."""
import os
import re
import selectors
import socket
import sqlite3
import ssl
import threading
import time

from summon_test import Summond, free_port

ADDRESS = "127.0.0.31"
ZONE = "r.test"

HEAD = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
max-instances = 1000
memory-budget = 64G
[dns]
listen = 127.0.0.1:%(dns)d
zone = %(zone)s.
rate-limit = 0
[metrics]
listen = 127.0.0.1:%(metrics)d
[network]
mode = user
user-ports = %(ulo)d-%(uhi)d
[proxy]
hold-timeout = 60s
"""

SERVICE = """
[service "%(name)s"]
kernel = /k
address = %(address)s
ports = %(ports)s
template = @DIR@/test.xml
ready = serial:READY
boot-timeout = 60s
%(extra)s
"""

HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ")


def port_range(n, avoid):
    """The first of n consecutive loopback ports free now, none of them
    in avoid."""
    while True:
        lo = free_port()
        if lo + n >= 65000 or any(lo <= p < lo + n for p in avoid):
            continue
        ok = True
        for p in range(lo, lo + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return lo


class Guests:
    """A server on each user-mode port, as a guest would be there: an
    HTTP request head gets "port=P" back (P: the port it came in on);
    anything else is echoed, and kept, until the client half-closes."""

    def __init__(self, lo, n):
        self.received = {}
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.stop = threading.Event()
        for port in range(lo, lo + n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(256)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, port)
            self.socks.append(s)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                try:
                    c, _ = key.fileobj.accept()
                except OSError:
                    continue
                c.setblocking(True)
                threading.Thread(target=self.conn, args=(c, key.data),
                                 daemon=True).start()

    def conn(self, c, port):
        got = b""
        with c:
            c.settimeout(30)
            try:
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    got += data
                    if got.startswith(HTTP_METHODS):
                        if b"\r\n\r\n" in got:
                            body = b"port=%d\n" % port
                            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: "
                                      b"%d\r\nConnection: close\r\n\r\n%s"
                                      % (len(body), body))
                            break
                        continue
                    c.sendall(data)
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        with self.lock:
            self.received.setdefault(port, []).append(got)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


class ReadyWriter:
    """Every instance summond creates prints READY on its console."""

    def __init__(self, d):
        self.d = d
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        db = os.path.join(self.d.dir, "state.db")
        done = set()
        while not self.stop.is_set():
            try:
                with sqlite3.connect("file:%s?mode=ro" % db, uri=True,
                                     timeout=1) as c:
                    rows = c.execute("SELECT domain FROM instances"
                                     ).fetchall()
            except sqlite3.Error:
                rows = []
            for (dom,) in rows:
                if dom and dom not in done:
                    with open(os.path.join(self.d.dir, "serial",
                                           dom + ".log"), "w") as f:
                        f.write("READY\n")
                    done.add(dom)
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


def start(testcase, services, ports_per_service=2):
    """A summond serving services, [(name, ports, extra)], on ADDRESS,
    with guests on its user-mode ports; everything is cleaned up when
    testcase ends.  Returns (summond, guests, dns port, metrics port)."""
    n = len(services) * ports_per_service + 20
    public = {int(p) for _, ports, _ in services
              for p in re.findall(r"(\d+):", ports)}
    lo = port_range(n, public)
    # Bound before summond's own ports are picked, so none is among them.
    guests = Guests(lo, n)
    testcase.addCleanup(guests.close)
    dns, metrics = free_port(), free_port()
    text = HEAD % {"dns": dns, "metrics": metrics, "zone": ZONE, "ulo": lo,
                   "uhi": lo + n - 1}
    for name, ports, extra in services:
        text += SERVICE % {"name": name, "address": ADDRESS,
                           "ports": ports, "extra": extra}
    d = Summond(text)
    d.test_driver_files()
    testcase.addCleanup(d.stop)
    d.start()
    ready = ReadyWriter(d)
    testcase.addCleanup(ready.close)
    return d, guests, dns, metrics


def guest_port(d, service):
    """The user-mode port of the service's first guest port, once it
    runs."""
    g = d.ctl("status", service, json_out=True)["guest_address"]
    return int(g.rsplit(":", 1)[1]) if g else None


def connect(port, timeout=30):
    s = socket.create_connection((ADDRESS, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s):
    got = b""
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        got += data
    return got


def http_get(port, host, timeout=30):
    """(status line, body) of GET / with Host: host."""
    with connect(port, timeout) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                  % host.encode())
        got = read_all(s)
    head, _, body = got.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), body


def client_hello(name):
    """The ClientHello a TLS client (Python's OpenSSL) sends for name."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def send_slowly(port, data, step, pause=0.001, timeout=30):
    """Send data step bytes a segment, half-close, and read to the end."""
    with connect(port, timeout) as s:
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            time.sleep(pause)
        s.shutdown(socket.SHUT_WR)
        return read_all(s)


def closed_within(s, seconds):
    """Whether the peer closes s (EOF or reset) within seconds; what it
    sent before is returned too."""
    s.settimeout(seconds)
    got = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True, got
            got += data
    except ConnectionResetError:
        return True, got
    except socket.timeout:
        return False, got
