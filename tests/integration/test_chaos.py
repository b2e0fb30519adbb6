"""Faults injected into a running summond with real libvirt: kill -9 at
bad moments, a full disk under the state database, a control client
that never reads.  After each: no record lost, no domain orphaned, every
instance in a true state."""
import os
import signal
import socket
import sqlite3
import subprocess
import time
import unittest

from summon_test import Summond, free_port, wait_for
import guests

NET = "summon-ct"
PREFIX = "summon-hello-"

CONF = """
[summond]
state = %(state)s
control = @DIR@/summond.sock
hypervisor = qemu:///system
templates = %(templates)s
serial-dir = @DIR@/serial
on-exit = keep
[dns]
listen = 127.0.0.1:%(dns)d
zone = chaos.summon.
rate-limit = 0
[metrics]
listen =
[network]
name = %(net)s
bridge = smnct0
gateway = 10.93.0.1/24
pool = 10.93.0.10-10.93.0.30
[service "hello"]
kernel = %(image)s
address = 127.0.0.2
ports = %(port)d:80
boot-timeout = 120s
idle-timeout = 1h
"""


def consistent(state_db):
    """Live rows and our domains agree one to one."""
    db = sqlite3.connect(state_db)
    live = sorted(r[0] for r in db.execute(
        "SELECT domain FROM instances WHERE stopped_ms IS NULL"))
    db.close()
    return live, sorted(guests.domains(PREFIX))


@unittest.skipUnless(guests.libvirt_ready(), "no libvirtd (run scripts/setup)")
@unittest.skipUnless(os.path.exists(guests.IMAGE), "reference image not built")
class ChaosTest(unittest.TestCase):
    def setUp(self):
        guests.cleanup(PREFIX, NET)
        self.d = None
        self.mounted = None

    def tearDown(self):
        if self.d is not None:
            self.d.stop(signal.SIGKILL)
        guests.cleanup(PREFIX, NET)
        if self.mounted:
            subprocess.run(["umount", self.mounted])
            os.rmdir(self.mounted)      # the mount point is ours too

    def start(self, state=None):
        self.port = free_port()
        self.dns = free_port()
        self.d = Summond(CONF % {
            "templates": guests.TEMPLATES, "net": NET,
            "image": guests.IMAGE, "port": self.port, "dns": self.dns,
            "state": state or "@DIR@/state.db"}, prefix=guests.in_ns([]))
        self.state = state or os.path.join(self.d.dir, "state.db")
        self.d.start()
        return self.d

    def settle_and_check(self):
        """Restart summond; rows and domains must agree, nothing lost."""
        self.d.start()
        wait_for(lambda: self.d.ctl("status", "hello", json_out=True)
                 ["state"] in ("ready", "stopped"), timeout=180,
                 what="a settled state")
        wait_for(lambda: consistent(self.state)[0] ==
                 consistent(self.state)[1], timeout=30,
                 what="store and libvirt agree")

    def boot_async(self):
        return subprocess.Popen(
            [os.path.join(os.environ["SUMMON_BUILD"], "src", "summonctl"),
             "-s", self.d.sock, "boot", "hello"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_kill9_during_boot(self):
        self.start()
        p = self.boot_async()
        time.sleep(0.3)             # the create is in flight
        self.d.stop(signal.SIGKILL)
        p.wait(timeout=30)
        self.settle_and_check()
        kinds = [e["kind"] for e in self.d.ctl("events", "-n", "100",
                                               "hello", json_out=True)]
        self.assertIn("boot", kinds)    # the first boot was recorded

    def test_kill9_during_stop(self):
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        subprocess.run([os.path.join(os.environ["SUMMON_BUILD"], "src",
                                     "summonctl"), "-s", d.sock, "reap",
                        "hello"], capture_output=True)
        time.sleep(0.05)            # the destroy is in flight
        d.stop(signal.SIGKILL)
        self.settle_and_check()

    @unittest.skipUnless(guests.setup_pids(),
                         "libvirtd is not ours to restart")
    def test_libvirtd_killed_during_boot(self):
        d = self.start()
        p = self.boot_async()
        time.sleep(0.3)             # the create is in flight
        guests.restart_libvirtd()
        p.wait(timeout=180)
        self.assertIsNone(d.proc.poll())    # summond lived through it
        # Whatever became of that boot, the next one works and nothing
        # is left unaccounted for.
        d.ctl("boot", "hello", timeout=180)
        self.assertEqual(d.ctl("status", "hello", json_out=True)["state"],
                         "ready")
        wait_for(lambda: consistent(self.state)[0] ==
                 consistent(self.state)[1], timeout=60,
                 what="store and libvirt agree")

    def test_disk_full_keeps_serving(self):
        mnt = os.path.join("/tmp", "summon-chaos-%d" % os.getpid())
        os.makedirs(mnt, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                        mnt], check=True)
        self.mounted = mnt
        d = self.start(state=os.path.join(mnt, "state.db"))
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"],
                       capture_output=True)      # until ENOSPC
        # DNS and the proxy work; the boot's rows wait in memory.
        r = subprocess.run(guests.in_ns(
            ["dig", "+short", "@127.0.0.1", "-p", str(self.dns),
             "hello.chaos.summon"]), capture_output=True, text=True,
            timeout=30)
        self.assertEqual(r.stdout.strip(), "127.0.0.2")
        r = subprocess.run(guests.in_ns(
            ["curl", "-sS", "-m", "120", "http://127.0.0.2:%d/healthz" %
             self.port]), capture_output=True, text=True, timeout=150)
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)
        wait_for(lambda: "full" in d.logtext(), timeout=30,
                 what="the full disk logged")
        os.unlink(filler)
        wait_for(lambda: "delayed writes are on disk" in d.logtext(),
                 timeout=30, what="catching up")
        live, doms = consistent(self.state)
        self.assertEqual(live, doms)
        self.assertEqual(len(live), 1)

    def test_control_client_never_reads(self):
        d = self.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        s.setblocking(False)
        req = b'{"v":1,"id":1,"cmd":"list"}\n' * 1000
        end = time.monotonic() + 60
        while time.monotonic() < end and \
                "does not read its answers" not in d.logtext():
            try:
                s.send(req)
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        # Others are still served, and the greedy client was dropped.
        self.assertEqual(d.ctl("list", json_out=True)[0]["service"],
                         "hello")
        wait_for(lambda: "does not read its answers" in d.logtext(),
                 timeout=30, what="the client dropped")
        s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
