"""Helpers for the integration tests: run a real summond, talk to it with
the real summonctl, and clean up every process the test started."""
import atexit
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

BUILD = os.environ.get("SUMMON_BUILD", "")
SUMMOND = os.path.join(BUILD, "src", "summond")
SUMMONCTL = os.path.join(BUILD, "src", "summonctl")
# How the sanitizers start their reports (build-asan, scripts/check).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error: ")
SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


# Each Summond's directory (config, state, log) is removed when the test
# program exits; SUMMON_KEEP_TMP=1 keeps them for a post-mortem.
_dirs = []


def _remove_dirs():
    if not os.environ.get("SUMMON_KEEP_TMP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_dirs)


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port free for both UDP and TCP right now."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM \
            else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def dns_query(port, name):
    """The first A record of name from summond on port, or None."""
    q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, ("127.0.0.1", port))
        a, _ = s.recvfrom(4096)
    if struct.unpack(">H", a[6:8])[0] == 0:
        return None
    return socket.inet_ntoa(a[-4:])


def wait_for(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# A domain for libvirt's test driver (hypervisor = test:///default):
# services with "template = @DIR@/test.xml" (Summond.test_driver_files).
TEST_TEMPLATE = ("<domain type='test'><name>${name}</name><memory unit='KiB'>"
                 "${memory_kib}</memory><os><type>hvm</type></os>"
                 "</domain>\n")


class Summond:
    """A summond started on a config written into a fresh directory."""

    def __init__(self, conf_text, name="summond.conf", extra_args=(),
                 prefix=()):
        self.dir = tempfile.mkdtemp(prefix="summon-test-")
        _dirs.append(self.dir)
        self.conf = os.path.join(self.dir, name)
        self.sock = os.path.join(self.dir, "summond.sock")
        self.log = os.path.join(self.dir, "summond.log")
        self.write_conf(conf_text)
        self.extra_args = list(extra_args)
        self.prefix = list(prefix)   # e.g. ip netns exec summon
        self.proc = None
        self.logf = None

    def test_driver_files(self):
        """@DIR@/test.xml (TEST_TEMPLATE) and the serial directory, for
        guests of libvirt's test driver made ready by the test."""
        with open(os.path.join(self.dir, "test.xml"), "w") as f:
            f.write(TEST_TEMPLATE)
        os.makedirs(os.path.join(self.dir, "serial"), exist_ok=True)

    def write_conf(self, text):
        """@DIR@ is the test's directory, @TEMPLATES@ the templates of
        this tree (summond checks at load that they are there)."""
        with open(self.conf, "w") as f:
            f.write(text.replace("@DIR@", self.dir).replace(
                "@TEMPLATES@", os.path.join(SRCDIR, "images", "templates")))

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.prefix + [SUMMOND, "-d", "-v", "-f", self.conf] +
            self.extra_args,
            stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            if os.path.exists(self.sock):
                os.unlink(self.sock)    # a killed summond's leftover
            wait_for(lambda: self.proc.poll() is not None or
                     os.path.exists(self.sock), timeout=120,
                     what="control socket")
            if self.proc.poll() is not None:
                raise AssertionError("summond exited %d:\n%s" %
                                     (self.proc.returncode, self.logtext()))
            # The socket exists before start-up ends; an answer means the
            # loop runs and every listener is bound.
            p = self.ctl("list", check=False, timeout=120)
            if p.returncode != 0:
                # Not left behind by a test whose setUp fails here.
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("summond not answering: %s\n%s" %
                                     (p.stderr, self.logtext()))
        return self

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def ctl(self, *args, check=True, json_out=False, user=None, timeout=60):
        # summonctl's own deadline as long as the test's.
        cmd = [SUMMONCTL, "-s", self.sock, "-t", str(timeout)]
        if json_out:
            cmd.append("--json")
        cmd += list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                   "--clear-groups"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("summonctl %s: exit %d: %s" %
                                 (" ".join(args), p.returncode, p.stderr))
        if json_out and p.returncode == 0:
            return json.loads(p.stdout)
        return p

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop summond with sig (if it runs); return its exit status.
        Fails if summond (built with sanitizers) reported an error."""
        try:
            if self.proc is None:
                return None
            if self.proc.poll() is not None:
                return self.proc.returncode
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("summond did not exit on %s" % sig)
        finally:
            if self.logf is not None:
                self.logf.close()
                self.logf = None
            self.check_sanitizers()

    def check_sanitizers(self):
        """ASan, LeakSanitizer and UBSan write their reports to stderr,
        which is the log."""
        if self.proc is None or not os.path.exists(self.log):
            return
        text = self.logtext()
        for mark in SANITIZER_MARKS:
            at = text.find(mark)
            if at != -1:
                raise AssertionError("summond: sanitizer report:\n" +
                                     text[max(0, at - 200):at + 4000])

    def raw(self, data, timeout=5):
        """Send raw bytes on the control socket; return the reply lines."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(data)
        out = b""
        want = data.count(b"\n")
        while out.count(b"\n") < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        return [json.loads(line) for line in out.splitlines()]
