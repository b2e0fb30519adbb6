"""A guest that someone else wrote: Debian's Linux kernel with a busybox
initramfs, made by images/linux/build into the build directory (cached),
booted by summond through qemu:///system under KVM or TCG, in bridge
mode, with summond and its clients in the namespace of the guests.  The
service is the section the build writes (service.conf), appended as it
is; the test adds only its own [summond], [dns] and [network], and the
standby keys for the second case."""
import os
import re
import signal
import subprocess
import unittest

from summon_test import BUILD, SRCDIR, Summond, free_port, wait_for
import guests

NET = "summon-lx"
PREFIX = "summon-linux-"
# scripts/check builds it once for all its build directories.
OUT = os.environ.get("SUMMON_LINUX_DIR", os.path.join(BUILD, "linux"))

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = qemu:///system
templates = @TEMPLATES@
serial-dir = @DIR@/serial
on-exit = stop

[dns]
listen = 127.0.0.1:%(dns)d
zone = lx.summon.
rate-limit = 0

[metrics]
listen =

[proxy]
; A TCG Linux boot takes seconds, more on a busy machine.
hold-timeout = 120s

[network]
name = %(net)s
bridge = smnlx0
gateway = 10.89.0.1/24
pool = 10.89.0.10-10.89.0.20

"""


# A second service on the same network: the reference image.
KEEPER = """
[service "keeper"]
kernel = %s
address = 127.0.0.81
ports = 80
boot-timeout = 120s
idle-timeout = 1h
"""


def build_guest():
    """images/linux/build into BUILD/linux: its output directory, or
    raises with what it printed."""
    p = subprocess.run([os.path.join(SRCDIR, "images", "linux", "build"),
                        OUT], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("images/linux/build failed:\n" + p.stdout +
                             p.stderr)
    return p.stdout.strip().splitlines()[-1]


@unittest.skipUnless(guests.libvirt_ready(), "no libvirtd (run scripts/setup)")
class LinuxGuest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = build_guest()
        with open(os.path.join(out, "service.conf")) as f:
            cls.service = f.read()

    def setUp(self):
        guests.cleanup(PREFIX, NET)
        guests.cleanup("summon-keeper-")
        self.d = None
        self.dns = free_port()

    def tearDown(self):
        if self.d is not None:
            self.d.stop(signal.SIGKILL)
        guests.cleanup("summon-keeper-")
        guests.cleanup(PREFIX, NET)

    def start(self, other="", extra=""):
        """summond with the build's service, extra appended to it, and
        the services in other before it."""
        conf = (CONF % {"dns": self.dns, "net": NET} + other + self.service +
                extra)
        self.d = Summond(conf, prefix=guests.in_ns([]))
        self.d.start()
        return self.d

    def status(self):
        return self.d.ctl("status", "linux", json_out=True)

    def dig(self):
        p = subprocess.run(guests.in_ns(
            ["dig", "+short", "+time=5", "+tries=2", "@127.0.0.1", "-p",
             str(self.dns), "linux.lx.summon", "A"]),
            capture_output=True, text=True, timeout=60)
        return p.stdout.strip()

    def get(self, addr):
        """GET / through the proxy: (status code, body)."""
        p = subprocess.run(guests.in_ns(
            ["curl", "-sS", "-m", "150", "-o", "-", "-w", "\n%{http_code}",
             "http://%s/" % addr]),
            capture_output=True, text=True, timeout=180)
        body, _, code = p.stdout.rpartition("\n")
        return code, body + p.stderr

    def serve(self):
        """dig, then curl through the proxy: the guest's own page, naming
        the domain and the address it took from ip=."""
        addr = self.dig()
        self.assertEqual(addr, "127.0.0.80")
        code, body = self.get(addr)
        self.assertEqual(code, "200", body)
        st = self.status()
        self.assertEqual(st["state"], "ready")
        self.assertIn("summon-linux on %s:" % st["domain"], body)
        self.assertIn("address %s" % st["guest_address"], body)
        self.assertRegex(body, r"Linux \d+\.\d+\.\d+-\d+-cloud-amd64")
        return st

    def reap(self):
        self.d.ctl("reap", "linux")
        wait_for(lambda: self.status()["state"] in ("stopped", "standby"),
                 timeout=60, what="reaped")

    def mac(self, domain):
        p = guests.virsh("domiflist", domain)
        return re.search(r"([0-9a-f]{2}(:[0-9a-f]{2}){5})",
                         p.stdout).group(1)

    def neighbour(self, addr):
        """The MAC the host's bridge sends addr's packets to, or None."""
        p = subprocess.run(guests.in_ns(["ip", "neigh", "show", addr,
                                         "dev", "smnlx0"]),
                           capture_output=True, text=True, timeout=30)
        m = re.search(r"lladdr (\S+)", p.stdout)
        return m.group(1) if m else None

    def test_cold_starts(self):
        # The reference image, booted first, keeps the bridge up: with no
        # port left it would lose its carrier, and the kernel its
        # neighbour entries, as when the only guest goes.
        d = self.start(KEEPER % guests.IMAGE)
        d.ctl("boot", "keeper", timeout=180)
        first = self.serve()
        old_mac = self.mac(first["domain"])
        self.assertEqual(self.neighbour(first["guest_address"]), old_mac)
        self.reap()
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="domain gone")
        # The pool hands the address out again, to a guest with another
        # MAC.  Its gratuitous ARP puts the new MAC in the host's
        # neighbour entry before it says it is ready; without it the
        # entry would hold the old one until it went stale, and the
        # proxy's first packets would go nowhere for seconds.
        p = d.ctl("boot", "linux", timeout=180)
        self.assertIn("linux: ready in", p.stdout)
        st = self.status()
        self.assertEqual(st["guest_address"], first["guest_address"])
        new_mac = self.mac(st["domain"])
        self.assertNotEqual(new_mac, old_mac)
        self.assertEqual(self.neighbour(st["guest_address"]), new_mac)
        # And a cold start by DNS and the proxy again.
        self.reap()
        second = self.serve()
        self.assertNotIn(second["domain"], (first["domain"], st["domain"]))
        self.assertEqual(self.status()["boots"], 3)
        for e in d.ctl("events", "linux", json_out=True):
            if e["kind"] == "ready":
                print("# cold start: " + e["detail"])
        with open(os.path.join(d.dir, "serial",
                               second["domain"] + ".log"),
                  errors="replace") as f:
            m = re.search(r"summon-linux: ready ip=\S+ uptime=(\S+)",
                          f.read())
        self.assertIsNotNone(m, "no readiness line on the console")
        print("# guest uptime at its readiness line: %s s" % m.group(1))

    def test_standby_booted(self):
        d = self.start(extra="standby = 1\nstandby-booted = yes\n")
        wait_for(lambda: self.status()["state"] == "standby", timeout=180,
                 what="a standby booted and paused")
        [dom] = guests.domains(PREFIX)
        self.assertEqual(guests.virsh("domstate", dom).stdout.strip(),
                         "paused")
        with open(os.path.join(d.dir, "serial", dom + ".log"),
                  errors="replace") as f:
            self.assertIn("summon-linux: ready", f.read())
        st = self.serve()
        self.assertEqual(st["domain"], dom)
        boots = [e["detail"] for e in d.ctl("events", "linux",
                                            json_out=True)
                 if e["kind"] == "boot"]
        self.assertEqual(boots, ["resume standby " + dom])
        # The pool is refilled, and the next wake takes that one.
        wait_for(lambda: len(guests.domains(PREFIX)) == 2, timeout=180,
                 what="the standby pool refilled")
        self.reap()
        wait_for(lambda: self.status()["state"] == "standby", timeout=180,
                 what="back to a booted standby")
        st = self.serve()
        self.assertNotEqual(st["domain"], dom)


if __name__ == "__main__":
    unittest.main(verbosity=2)
