"""The configuration file as an attack surface: bytes that pass the
parser and break the domain XML or the event stream later (control
characters, a NUL), values cut short without a word (a long continued
list), errors hidden behind the first (several bad ports), a directory
given as the file, templates and kernels that fail only at the first
wake, and a control socket path that would delete the state database.

`summond -n -f FILE` must print every error as FILE:LINE: message and
exit 1, and never echo a control character; warnings keep exit 0.  The
end-to-end cases start a real summond on libvirt's test driver."""
import hashlib
import json
import os
import pwd
import re
import subprocess
import tempfile
import unittest

from summon_test import SUMMOND, SUMMONCTL, Summond, free_port, wait_for

BASE = """[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
templates = @DIR@/tpl
[dns]
listen =
[metrics]
listen =
"""
# Line numbers below count from here: BASE is 10 lines.
BASE_LINES = 10

SERVICE = """[service "web"]
kernel = /img/web.elf
address = 127.0.0.1
ports = %d:80
"""

TEMPLATE = ("<domain type='test'><name>${name}</name><memory unit='KiB'>"
            "${memory_kib}</memory><os><type>hvm</type>"
            "<kernel>${kernel}</kernel><cmdline>${cmdline}</cmdline></os>"
            "</domain>\n")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class HostileConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="summon-hcfg-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir])
        os.mkdir(os.path.join(self.dir, "tpl"))
        for name in ("microvm", "pc"):
            with open(os.path.join(self.dir, "tpl", name + ".xml"),
                      "w") as f:
                f.write(TEMPLATE)
        self.conf = os.path.join(self.dir, "summond.conf")
        self.port = free_port()

    def write(self, tail, base=BASE):
        """BASE then tail (bytes or text) as the file; its path."""
        data = base.replace("@DIR@", self.dir).encode() + (
            tail if isinstance(tail, bytes) else tail.encode())
        with open(self.conf, "wb") as f:
            f.write(data)
        return self.conf

    def check(self, path, code=1):
        """summond -n on path: its output lines, having checked the exit
        code and that no control character came out."""
        p = subprocess.run([SUMMOND, "-n", "-f", path], capture_output=True,
                           timeout=60)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, code, out.decode(errors="replace"))
        self.assertIsNone(re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", out),
                          "raw control character in %r" % out)
        return p.stderr.decode().splitlines()

    def at(self, n):
        return "%s:%d: " % (self.conf, BASE_LINES + n)

    def test_control_characters_in_values(self):
        # ESC (a terminal escape) in cmdline, \x01 in kernel, DEL in ready.
        lines = self.check(self.write(
            b'[service "web"]\n'                            # 1
            b"kernel = /img/web\x01.elf\n"                  # 2
            b"cmdline = x=1 \x1b]0;owned\x07\n"             # 3
            b"address = 127.0.0.1\n"                        # 4
            b"ports = %d:80\n" % self.port +                # 5
            b"ready = serial:READY\x7f\n"))                 # 6
        self.assertIn(self.at(2) + "kernel: control character 0x01 in "
                      "value", lines)
        self.assertIn(self.at(3) + "cmdline: control character 0x1b in "
                      "value", lines)
        self.assertIn(self.at(6) + "ready: control character 0x7f in "
                      "value", lines)

    def test_nul_byte(self):
        lines = self.check(self.write(
            b'[service "web"]\n'                            # 1
            b"kernel = /img/web.elf\x00.old\n"              # 2
            b"address = 127.0.0.1\n"
            b"ports = %d:80\n" % self.port))
        self.assertIn(self.at(2) + "NUL byte", lines)

    def test_long_continued_value(self):
        names = ["n%03d-%s.%s" % (i, "a" * 36, "b" * 40) for i in range(1000)]
        # 100 long names (8 KiB) are served whole...
        self.check(self.write(SERVICE % self.port + "names = " +
                              "\n  ".join(names[:100]) + "\n",
                              base=BASE.replace("listen =\n[metrics]",
                                                "zone = svc.test\n"
                                                "listen = 127.0.0.1:%d\n"
                                                "[metrics]" % free_port(),
                                                1)), code=0)
        # ...past 64 KiB a value is an error at the line crossing it.
        lines = self.check(self.write(SERVICE % self.port + "names = " +
                                      "\n  ".join(names) + "\n"))
        length, line = len(names[0]), 5
        for n in names[1:]:
            line += 1
            length += 1 + len(n)
            if length > 65536:
                break
        self.assertEqual(lines[0], self.at(line) + "names: value longer "
                         "than 65536 bytes")

    def test_every_bad_port_reported(self):
        lines = self.check(self.write(
            '[service "web"]\nkernel = /img/web.elf\naddress = 127.0.0.1\n'
            "ports = 0 %d x 81:0 %d 70000\n" % (self.port, self.port)))
        want = ["bad port '0'", "bad port 'x'", "bad port '81:0'",
                "public port %d listed twice" % self.port,
                "bad port '70000'"]
        got = [ln for ln in lines if ln.startswith(self.at(4) + "ports: ")]
        self.assertEqual(len(got), len(want), lines)
        for w, g in zip(want, got):
            self.assertIn(w, g)

    def test_directory_as_file(self):
        lines = self.check(self.dir)
        self.assertEqual(lines[0], self.dir + ": Is a directory")
        self.assertNotIn("zone", "\n".join(lines))

    def test_endless_file(self):
        # A device that never ends (and a file too large) is refused
        # after 64 MiB, not read for ever.
        lines = self.check("/dev/zero")
        self.assertEqual(lines[0], "/dev/zero: larger than 64 MiB")

    def test_not_utf8(self):
        lines = self.check(self.write(
            (SERVICE % self.port).encode().replace(b"kernel = ",
                                                   b"kernel = /img/\xff") +
            "cmdline = caf\u00e9\n".encode()))
        self.assertTrue(any("kernel: byte that is not UTF-8 0xff" in l
                            for l in lines), lines)
        self.assertFalse(any("cmdline" in l for l in lines), lines)

    def test_missing_template_directory(self):
        lines = self.check(self.write(
            SERVICE % self.port,
            base=BASE.replace("@DIR@/tpl", "@DIR@/no-such-dir")))
        self.assertIn("%s:6: templates: %s/no-such-dir: No such file or "
                      "directory" % (self.conf, self.dir), lines)

    def test_bad_template_file(self):
        with open(os.path.join(self.dir, "bad.xml"), "w") as f:
            f.write("<domain>\n<name>${name}</name>\n${nope}</domain>\n")
        lines = self.check(self.write(
            SERVICE % self.port + "template = %s/bad.xml\n"       # 5
            '[service "api"]\nkernel = /k\naddress = 127.0.0.1\n'
            "ports = %d:80\n" % (self.dir, free_port()) +
            "template = %s/gone.xml\n" % self.dir))                # 10
        self.assertIn(self.at(5) + "template: %s/bad.xml:3: unknown "
                      "variable '${nope}'" % self.dir, lines)
        self.assertIn(self.at(10) + "template: %s/gone.xml: No such file "
                      "or directory" % self.dir, lines)

    def test_control_is_the_state_database(self):
        for control, what in (("state.db", "path"),
                              ("state.db-wal", "-wal file"),
                              ("./state.db-shm", "-shm file"),
                              ("state.db.lock", ".lock file")):
            lines = self.check(self.write(
                "", base=BASE.replace("@DIR@/summond.sock",
                                      "@DIR@/" + control)))
            self.assertIn("%s:3: control: %s/%s is the state database's %s"
                          % (self.conf, self.dir, control, what), lines)

    def test_control_is_the_state_database_through_a_link(self):
        os.mkdir(os.path.join(self.dir, "var"))
        os.symlink(os.path.join(self.dir, "var"),
                   os.path.join(self.dir, "run"))
        lines = self.check(self.write(
            "", base=BASE.replace("@DIR@/state.db", "@DIR@/var/s.db")
            .replace("@DIR@/summond.sock", "@DIR@/run/s.db")))
        self.assertIn("%s:3: control: %s/run/s.db is the state database's "
                      "path" % (self.conf, self.dir), lines)

    def test_start_refused_and_state_kept(self):
        """Started for real, summond with control = its state database
        exits 1 before it touches the file (it used to delete it)."""
        d = Summond(BASE.replace("@DIR@/tpl", self.dir + "/tpl") +
                    SERVICE % self.port)
        self.addCleanup(d.stop)
        d.start()
        d.stop()
        state = os.path.join(d.dir, "state.db")
        before = sha256(state)
        d.write_conf(BASE.replace("@DIR@/tpl", self.dir + "/tpl")
                     .replace("@DIR@/summond.sock", "@DIR@/state.db") +
                     SERVICE % self.port)
        os.truncate(d.log, 0)
        self.refused(d, "control: %s is the state database's path" % state)
        self.assertEqual(sha256(state), before)

    def test_kernel_unreadable_by_qemu_user_warns(self):
        try:
            pwd.getpwnam("libvirt-qemu")
        except KeyError:
            self.skipTest("no user libvirt-qemu")
        qemu_user = "libvirt-qemu"
        if os.path.exists("/etc/libvirt/qemu.conf"):
            with open("/etc/libvirt/qemu.conf") as f:
                m = re.search(r'^\s*user\s*=\s*"([^"]*)"', f.read(), re.M)
            if m:
                qemu_user = m.group(1)
        if qemu_user in ("root", "+0", "0") or \
                os.geteuid() == pwd.getpwnam("libvirt-qemu").pw_uid:
            self.skipTest("QEMU runs as root, or so does this test")
        # mkdtemp made self.dir 0700: QEMU's user cannot search it.
        kernel = os.path.join(self.dir, "hello.elf")
        with open(kernel, "wb") as f:
            f.write(b"\x7fELF")
        lines = self.check(self.write(
            '[service "web"]\nkernel = %s\naddress = 127.0.0.1\n'
            "ports = %d:80\n" % (kernel, self.port),
            base=BASE.replace("test:///default", "qemu:///system")), code=0)
        self.assertIn(self.at(2) + "warning: kernel %s: %s, the user QEMU "
                      "runs as, cannot search %s" % (kernel, qemu_user,
                                                     self.dir), lines)

    def test_quoted_kernel_boots_and_events_are_clean(self):
        """A kernel path with ' and & used in the command line renders a
        domain the test driver accepts, and the events stay plain JSON
        (no control characters: the file cannot bring them in)."""
        kernel = "/img/it's&co.elf"
        conf = (BASE.replace("@DIR@/tpl", self.dir + "/tpl") +
                '[service "web"]\nkernel = %s\n'
                "cmdline = k=${kernel} n=${name} a<b\n"
                "address = 127.0.0.1\nports = %d:80\n"
                "ready = serial:READY\nboot-timeout = 30s\n"
                % (kernel, self.port))
        d = Summond(conf)
        self.addCleanup(d.stop)
        os.makedirs(os.path.join(d.dir, "serial"), exist_ok=True)
        with open(os.path.join(d.dir, "serial", "summon-web-1.log"),
                  "w") as f:
            f.write("READY\n")
        d.start()
        try:
            d.ctl("boot", "web", timeout=90)
            wait_for(lambda: d.ctl("status", "web", json_out=True)
                     ["state"] == "ready", what="ready")
            raw = subprocess.run([SUMMONCTL, "-s", d.sock, "--json",
                                  "events", "-n", "50"],
                                 capture_output=True, timeout=60).stdout
            self.assertIsNone(re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw),
                              raw)
            kinds = [e["kind"] for e in json.loads(raw)]
            self.assertIn("ready", kinds)
        finally:
            self.assertEqual(d.stop(), 0)

        # The same file with an ESC in the command line never starts.
        bad = Summond(conf.replace("a<b", "a<b \x1b[2J"))
        self.addCleanup(bad.stop)
        self.refused(bad, "cmdline: control character 0x1b in value")

    def refused(self, d, want):
        """d exits 1 before it is ready, saying want."""
        d.start(wait=False)
        wait_for(lambda: d.proc.poll() is not None or
                 "summond ready" in d.logtext(), timeout=60,
                 what="summond to exit or be ready")
        text = d.logtext()
        self.assertNotIn("summond ready", text)
        self.assertEqual(d.proc.wait(timeout=30), 1, text)
        self.assertEqual(d.stop(), 1)      # and no sanitizer report
        self.assertIn(want, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
