"""Summoning for real: summond boots the reference image through
qemu:///system (KVM, or TCG where scripts/accel says tcg), in bridge mode, with
summond and every client that reaches a guest inside the namespace
scripts/setup made.  Every test removes its domains and its network."""
import os
import signal
import subprocess
import sys
import time
import concurrent.futures
import unittest

from summon_test import Summond, free_port, wait_for
import guests

NET = "summon-it"
PREFIX = "summon-hello-"

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = qemu:///system
templates = %(templates)s
serial-dir = @DIR@/serial
on-exit = stop

[dns]
listen = %(dns)s
zone = it.summon.
rate-limit = 0

[metrics]
listen =

[network]
mode = %(mode)s
user-ports = 27000-27099
name = %(net)s
bridge = smnit0
gateway = 10.97.0.1/24
pool = 10.97.0.10-10.97.0.20

[service "hello"]
kernel = %(image)s
address = 127.0.0.2
ports = 80
boot-timeout = 120s
idle-timeout = %(idle)s
%(extra)s
"""


def conf(idle="1h", mode="bridge", dns="", extra=""):
    return CONF % {"templates": guests.TEMPLATES, "net": NET,
                   "image": guests.IMAGE, "idle": idle, "mode": mode,
                   "dns": dns, "extra": extra}


@unittest.skipUnless(guests.libvirt_ready(), "no libvirtd (run scripts/setup)")
@unittest.skipUnless(os.path.exists(guests.IMAGE), "reference image not built")
class LifecycleTest(unittest.TestCase):
    def setUp(self):
        guests.cleanup(PREFIX, NET)
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.stop(signal.SIGKILL)
        guests.cleanup(PREFIX, NET)

    def start(self, idle="1h", mode="bridge", dns="", extra=""):
        self.d = Summond(conf(idle, mode, dns, extra),
                         prefix=guests.in_ns([]))
        self.d.start()
        return self.d

    def status(self):
        return self.d.ctl("status", "hello", json_out=True)

    def curl(self, addr, path="/"):
        return subprocess.run(guests.in_ns(
            ["curl", "-sS", "-m", "10", "http://%s%s" % (addr, path)]),
            capture_output=True, text=True, timeout=30)

    def test_boot_serve_reap(self):
        d = self.start(idle="2s")
        p = d.ctl("boot", "hello", timeout=180)
        self.assertIn("hello: ready in", p.stdout)
        st = self.status()
        self.assertEqual(st["state"], "ready")
        self.assertTrue(st["domain"].startswith(PREFIX))
        self.assertEqual(guests.domains(PREFIX), [st["domain"]])
        r = self.curl(st["guest_address"], "/healthz")
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)
        r = self.curl(st["guest_address"], "/")
        self.assertIn(st["guest_address"], r.stdout)
        # Idle past 2 s: reaped, the domain is gone.
        wait_for(lambda: self.status()["state"] == "stopped", timeout=60,
                 what="idle reap")
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="domain gone")
        ev = [e["kind"] for e in d.ctl("events", "hello", json_out=True)]
        for kind in ("boot", "ready", "stop", "stopped"):
            self.assertIn(kind, ev)

    def test_manual_reap(self):
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        p = d.ctl("reap", "hello")
        self.assertIn("hello: stopping", p.stdout)
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="domain gone")
        self.assertEqual(self.status()["state"], "stopped")
        p = d.ctl("reap", "--all")
        self.assertIn("nothing to reap", p.stdout)

    def test_adopted_after_kill9(self):
        d = self.start(idle="1h")
        d.ctl("boot", "hello", timeout=180)
        before = self.status()
        d.stop(signal.SIGKILL)
        self.assertEqual(guests.domains(PREFIX), [before["domain"]])
        d.start()       # same state database, same configuration
        after = self.status()
        self.assertEqual(after["state"], "ready")
        self.assertEqual(after["domain"], before["domain"])
        self.assertEqual(after["guest_address"], before["guest_address"])
        r = self.curl(after["guest_address"], "/healthz")
        self.assertEqual(r.stdout.strip(), "ok")
        self.assertIn("adopted", [e["kind"] for e in
                                  d.ctl("events", "hello", json_out=True)])
        d.ctl("reap", "hello")
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="adopted domain reaped")

    def test_two_summonds_leave_each_other_alone(self):
        """A second summond on the same libvirtd, with its own state
        database, network and service, neither adopts nor destroys the
        first one's domain (it used to destroy it as an orphan), and
        its on-exit = stop stops its own domain only."""
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        mine = self.status()["domain"]
        other_conf = (CONF.split("[network]")[0] + """
[network]
name = summon-it2
bridge = smnit1
gateway = 10.98.0.1/24
pool = 10.98.0.10-10.98.0.20

[service "other"]
kernel = %s
address = 127.0.0.3
ports = 80
boot-timeout = 120s
""" % guests.IMAGE) % {"templates": guests.TEMPLATES, "dns": ""}
        other = Summond(other_conf, prefix=guests.in_ns([]))
        try:
            other.start()
            self.assertIn(mine + ": made by another summond",
                          other.logtext())
            other.ctl("boot", "other", timeout=180)
            theirs = other.ctl("status", "other", json_out=True)["domain"]
            self.assertEqual(guests.domains("summon-other-"), [theirs])
            self.assertEqual(guests.domains(PREFIX), [mine])
            self.assertNotIn("orphan", [e["kind"] for e in
                                        other.ctl("events", json_out=True)])
            # Restarted, the first one keeps its own and leaves theirs.
            d.stop(signal.SIGKILL)
            d.start()
            self.assertIn(theirs + ": made by another summond", d.logtext())
            self.assertEqual(self.status()["domain"], mine)
            self.assertEqual(self.status()["state"], "ready")
            self.assertEqual(other.stop(signal.SIGTERM, timeout=60), 0)
            self.assertEqual(guests.domains("summon-other-"), [])
            self.assertEqual(guests.domains(PREFIX), [mine])
            self.assertNotIn("orphan", [e["kind"] for e in
                                        d.ctl("events", json_out=True)])
        finally:
            if other.proc is not None and other.proc.poll() is None:
                other.stop(signal.SIGKILL)
            guests.cleanup("summon-other-", "summon-it2")

    def test_state_database_made_again(self):
        """A state database lost and made again at the same path has a
        new owner id, but the domains of the one before are still this
        summond's: destroyed as orphans, not left running under the
        names, addresses and MACs the new one hands out again."""
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        old = self.status()["domain"]
        d.stop(signal.SIGKILL)
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(d.dir, "state.db" + suffix)
            if os.path.exists(path):
                os.unlink(path)
        d.start()
        self.assertIn("orphan", [e["kind"] for e in
                                 d.ctl("events", "hello", json_out=True)])
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="the old domain destroyed")
        d.ctl("boot", "hello", timeout=180)
        self.assertEqual(self.status()["domain"], old)   # the name again
        self.assertEqual(self.status()["state"], "ready")

    def test_adopted_paused_while_starting_is_resumed(self):
        """summond killed between a wake's row ("starting") and the
        resume of a paused domain (a suspended instance here; a claimed
        standby is the same): adopted, the domain is resumed.  It used to
        be probed while paused until boot-timeout, and fail."""
        import sqlite3
        d = self.start(extra="stop-mode = suspend")
        d.ctl("boot", "hello", timeout=180)
        dom = self.status()["domain"]
        d.ctl("reap", "hello")
        wait_for(lambda: self.status()["state"] == "suspended", timeout=60,
                 what="suspended")
        d.stop(signal.SIGKILL)
        db = sqlite3.connect(os.path.join(d.dir, "state.db"))
        db.execute("UPDATE instances SET state = 'starting'"
                   " WHERE stopped_ms IS NULL")
        db.commit()
        db.close()
        d.start()
        wait_for(lambda: self.status()["state"] == "ready", timeout=60,
                 what="resumed and ready (boot-timeout is 120 s)")
        self.assertEqual(self.status()["domain"], dom)
        r = self.curl(self.status()["guest_address"], "/healthz")
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)

    def test_killed_qemu_fails_then_boots_again(self):
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        dom = self.status()["domain"]
        pid = guests.qemu_pid(dom)
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: self.status()["state"] == "failed", timeout=30,
                 what="failed after the QEMU process died")
        d.ctl("boot", "hello", timeout=180)
        st = self.status()
        self.assertEqual(st["state"], "ready")
        self.assertNotEqual(st["domain"], dom)

    def test_on_exit_stop(self):
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        self.assertEqual(d.stop(signal.SIGTERM, timeout=60), 0)
        self.assertEqual(guests.domains(PREFIX), [])


    def test_dig_stampede_makes_one_domain(self):
        port = free_port()
        d = self.start(dns="127.0.0.1:%d" % port)

        def dig(_):
            return subprocess.run(guests.in_ns(
                ["dig", "+short", "+time=5", "+tries=1", "@127.0.0.1", "-p",
                 str(port), "hello.it.summon", "A"]),
                capture_output=True, text=True, timeout=60).stdout.strip()
        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            answers = list(pool.map(dig, range(200)))
        self.assertEqual(answers, ["127.0.0.2"] * 200)
        wait_for(lambda: self.status()["state"] == "ready", timeout=180,
                 what="ready after the lookups")
        self.assertEqual(len(guests.domains(PREFIX)), 1)
        self.assertEqual(self.status()["boots"], 1)
        self.assertEqual(self.status()["wakes"]["dns"], 200)

    def standby_serves(self, extra, warm):
        """With one standby domain paused, a boot takes that domain and
        the guest answers; the pool is then refilled.  warm: the standby
        was booted to ready before its pause (standby-booted)."""
        d = self.start(extra="standby = 1\n" + extra)
        wait_for(lambda: self.status()["state"] == "standby", timeout=180,
                 what="a standby domain")
        [dom] = guests.domains(PREFIX)
        self.assertEqual(guests.virsh("domstate", dom).stdout.strip(),
                         "paused")
        serial = os.path.join(d.dir, "serial", dom + ".log")
        booted = False
        if os.path.exists(serial):
            with open(serial, errors="replace") as f:
                booted = "summon-hello: ready" in f.read()
        self.assertEqual(booted, warm)
        kinds = [e["kind"] for e in d.ctl("events", "hello", json_out=True)]
        self.assertEqual("standby-booted" in kinds, warm)
        d.ctl("boot", "hello", timeout=180)
        st = self.status()
        self.assertEqual(st["state"], "ready")
        self.assertEqual(st["domain"], dom)
        r = self.curl(st["guest_address"], "/healthz")
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)
        boots = [e["detail"] for e in d.ctl("events", "hello",
                                            json_out=True)
                 if e["kind"] == "boot"]
        self.assertEqual(boots, ["resume standby " + dom])
        wait_for(lambda: len(guests.domains(PREFIX)) == 2, timeout=60,
                 what="the standby pool refilled")

    def test_standby_created_paused(self):
        self.standby_serves("", warm=False)

    def test_standby_booted(self):
        self.standby_serves("standby-booted = yes\n", warm=True)

    def test_user_mode(self):
        d = self.start(mode="user")
        d.ctl("boot", "hello", timeout=180)
        st = self.status()
        self.assertTrue(st["guest_address"].startswith("127.0.0.1:"))
        r = self.curl(st["guest_address"], "/healthz")
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)
        d.ctl("reap", "hello")
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=30,
                 what="domain gone")

    @unittest.skipUnless(guests.setup_pids(), "libvirtd is not ours to restart")
    def test_libvirtd_restart(self):
        d = self.start()
        d.ctl("boot", "hello", timeout=180)
        guests.restart_libvirtd()
        # summond kept running and reconnected; the guest is still ours.
        self.assertIsNone(d.proc.poll())
        wait_for(lambda: "libvirt connection back" in d.logtext() or
                 "connected to" in d.logtext().split("summond ready")[-1],
                 timeout=60, what="reconnect")
        d.ctl("reap", "hello")
        wait_for(lambda: guests.domains(PREFIX) == [], timeout=60,
                 what="domain reaped after the reconnect")
        d.ctl("boot", "hello", timeout=180)
        self.assertEqual(self.status()["state"], "ready")


if __name__ == "__main__":
    unittest.main(verbosity=2)
