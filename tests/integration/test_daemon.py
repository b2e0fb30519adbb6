"""summond and summonctl end to end: list, status, reload, SIGHUP with a
broken file, permissions, malformed requests, SIGTERM, the notifications
to the service manager."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from summon_test import SRCDIR, SUMMOND, SUMMONCTL, Summond, wait_for

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
templates = @TEMPLATES@

[dns]
listen =

[metrics]
listen =

[network]
mode = user
user-ports = 32300-32320

[service "hello"]
kernel = /nonexistent/hello.elf
address = 127.0.0.2
ports = 8080:80
ready = serial:READY
boot-timeout = 1s

[service "web"]
kernel = /nonexistent/web.elf
address = 127.0.0.3
ports = 8081:80
ready = serial:READY
"""

EXTRA = """
[service "extra"]
kernel = /nonexistent/extra.elf
address = 127.0.0.4
ports = 8082:80
"""

BROKEN = """
[summond]
colour = blue
[service "web"]
kernel = /k
address = 127.0.0.5
ports = 80
idle-timeout = soon
[service "web"]
kernel = /k
[dns]
zone = svc.test
[service "ok"]
kernel = /k
address = 127.0.0.6
ports = 80
"""

LIST_KEYS = {"service", "state", "address", "guest_address", "host",
             "domain", "uptime_s", "idle_s", "boots", "last_boot_ms"}


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.d = Summond(CONF).start()

    def tearDown(self):
        self.d.stop(signal.SIGKILL)

    def names(self):
        return [s["service"] for s in self.d.ctl("list", json_out=True)]

    def test_list_json_and_table(self):
        services = self.d.ctl("list", json_out=True)
        self.assertEqual([s["service"] for s in services], ["hello", "web"])
        for s in services:
            self.assertEqual(set(s), LIST_KEYS)
            self.assertEqual(s["state"], "stopped")
            self.assertEqual(s["boots"], 0)
            self.assertIsNone(s["last_boot_ms"])
        self.assertEqual(services[0]["address"], "127.0.0.2")
        out = self.d.ctl("list").stdout.splitlines()
        self.assertEqual(out[0].split(), ["SERVICE", "STATE", "ADDRESS",
                                          "GUEST", "HOST", "DOMAIN", "UPTIME",
                                          "IDLE", "BOOTS", "LAST-BOOT"])
        self.assertEqual(out[1].split()[:3], ["hello", "stopped",
                                              "127.0.0.2"])
        self.assertTrue(all(len(l) <= 80 for l in out))

    def test_list_of_40000_services(self):
        """An answer larger by itself than the 4 MiB of unread answers a
        client may leave waiting is sent whole: the client is not
        dropped (it was, above ~25,000 services)."""
        n = 40000
        # CONF has the templates, so the boot below gets to a create.
        conf = CONF.split("[service")[0] + "".join(
            '[service "s%d"]\nkernel = /k\naddress = 127.1.%d.%d\n'
            'ready = serial:READY\n' % (i, i // 250, 1 + i % 250)
            for i in range(n))
        d = Summond(conf).start()
        try:
            p = d.ctl("--json", "list", timeout=120)
            self.assertGreater(len(p.stdout), 4 << 20)
            services = json.loads(p.stdout)
            self.assertEqual(len(services), n)
            self.assertEqual(services[-1]["service"], "s%d" % (n - 1))
            self.assertNotIn("does not read its answers", d.logtext())
            # A client that asks for that list, a boot and a status in
            # one write and reads nothing: dropped when the boot's first
            # answer is due, while its requests are still being read (it
            # used to be freed under them), and summond goes on.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            s.sendall(b'{"v":1,"id":1,"cmd":"list"}\n'
                      b'{"v":1,"id":2,"cmd":"boot","service":"s1"}\n'
                      b'{"v":1,"id":3,"cmd":"status","service":"s1"}\n')
            wait_for(lambda: "does not read its answers" in d.logtext(),
                     timeout=30, what="the client dropped")
            s.close()
            self.assertEqual(len(d.ctl("list", json_out=True,
                                       timeout=120)), n)
            self.assertIsNone(d.proc.poll())
        finally:
            d.stop(signal.SIGKILL)

    def test_status(self):
        st = self.d.ctl("status", "hello", json_out=True)
        self.assertEqual(st["service"], "hello")
        self.assertEqual(st["ports"], [{"public": 8080, "guest": 80}])
        p = self.d.ctl("status", "nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.strip(),
                         'summonctl: unknown service "nope"')

    def test_reload_and_sighup(self):
        p = self.d.ctl("reload")
        self.assertIn("reloaded: 2 services", p.stdout)
        with open(self.d.conf, "a") as f:
            f.write(EXTRA)
        self.d.send_signal(signal.SIGHUP)
        wait_for(lambda: "extra" in self.names(), what="SIGHUP reload")
        # A clean reload warns of nothing (it once logged whatever the
        # stack held: fmemopen() does not clear an unwritten buffer).
        self.assertNotIn("reload:", self.d.logtext())
        # A broken file is rejected whole; the old configuration stays.
        self.d.write_conf(BROKEN)
        self.d.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration rejected" in self.d.logtext(),
                 what="rejection logged")
        self.assertEqual(self.names(), ["hello", "web", "extra"])
        log = self.d.logtext()
        self.assertIn("summond.conf:3: unknown key 'colour' in [summond]",
                      log)
        self.assertIn("summond.conf:8: idle-timeout: bad duration 'soon'",
                      log)
        self.assertIn('summond.conf:9: duplicate service "web"', log)
        p = self.d.ctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("configuration rejected", p.stderr)
        self.assertEqual(self.names(), ["hello", "web", "extra"])

    def test_malformed_requests(self):
        replies = self.d.raw(b"garbage\n{\"v\":1,\"id\":2,\"cmd\":\"nuke\"}\n"
                             b"{\"v\":1,\"id\":3,\"cmd\":\"list\"}\n")
        self.assertFalse(replies[0]["ok"])
        self.assertIn("malformed JSON", replies[0]["error"])
        self.assertEqual(replies[1]["id"], 2)
        self.assertIn('unknown command "nuke"', replies[1]["error"])
        self.assertTrue(replies[2]["ok"])
        self.assertEqual(len(replies[2]["result"]["services"]), 2)
        # A huge line is refused and the daemon lives on.
        replies = self.d.raw(b"x" * 70000 + b"\n")
        self.assertIn("too long", replies[0]["error"])
        self.assertEqual(len(self.names()), 2)

    def test_permissions(self):
        mode = os.stat(self.d.sock).st_mode & 0o777
        self.assertEqual(mode, 0o660)
        p = self.d.ctl("list", check=False, user="nobody")
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied", p.stderr)
        # Someone who may connect but is neither owner nor group may read
        # but not change.
        os.chmod(self.d.sock, 0o666)
        os.chmod(self.d.dir, 0o755)
        p = self.d.ctl("list", check=False, user="nobody")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.d.ctl("reload", check=False, user="nobody")
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied: 'reload'", p.stderr)

    def test_events(self):
        p = self.d.ctl("events", "-n", "5", json_out=True)
        self.assertIsInstance(p, list)
        p = self.d.ctl("events", "nope", check=False)
        self.assertEqual(p.returncode, 1)

    def test_events_follow_is_pushed(self):
        f = subprocess.Popen([SUMMONCTL, "-s", self.d.sock, "--json",
                              "events", "-n", "0", "--follow", "hello"],
                             stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            # A boot that cannot succeed here still records events.
            self.d.ctl("boot", "hello", check=False, timeout=60)
            kinds = []
            while "boot-failed" not in kinds:
                line = f.stdout.readline()
                self.assertTrue(line, "follow ended early")
                kinds.append(json.loads(line)["kind"])
            self.assertEqual(kinds[0], "boot")
        finally:
            f.kill()
            f.wait()

    def test_second_daemon_refused(self):
        other = Summond(CONF)
        with open(self.d.conf) as f:
            other.write_conf(f.read())
        other.start(wait=False)
        self.assertEqual(other.proc.wait(timeout=30), 1)
        other.stop()
        self.assertIn("another summond is listening", other.logtext())
        self.assertEqual(len(self.names()), 2)

    def test_sigterm(self):
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(self.d.sock))
        self.assertIn("shutting down", self.d.logtext())


class NotifyTest(unittest.TestCase):
    """The service manager's protocol, spoken without libsystemd: READY=1
    and STATUS= once started, WATCHDOG=1 at half $WATCHDOG_USEC,
    STOPPING=1 on SIGTERM; a socket path or an abstract name."""

    def notified(self, address, env_value):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(address)
        sock.settimeout(30)
        d = Summond(CONF, prefix=["env", "NOTIFY_SOCKET=" + env_value,
                                  "WATCHDOG_USEC=200000"])
        self.addCleanup(d.stop, signal.SIGKILL)
        d.start()
        got = []
        while got.count("WATCHDOG=1") < 2:
            got.append(sock.recv(4096).decode())
        self.assertEqual(got[:2], ["READY=1", "STATUS=2 services"])
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        while got[-1] != "STOPPING=1":
            got.append(sock.recv(4096).decode())

    def test_socket_path(self):
        d = tempfile.mkdtemp(prefix="summon-notify-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        path = os.path.join(d, "notify.sock")
        self.notified(path, path)

    def test_abstract_name(self):
        name = "summon-notify-test-%d" % os.getpid()
        self.notified("\0" + name, "@" + name)


class CliTest(unittest.TestCase):
    def run_ctl(self, *args):
        return subprocess.run([SUMMONCTL] + list(args), capture_output=True,
                              text=True, timeout=30)

    def test_not_running(self):
        p = self.run_ctl("-s", "/nonexistent/summond.sock", "list")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.strip(), "summonctl: summond is not "
                         "running (nothing listens on "
                         "/nonexistent/summond.sock)")

    def test_usage(self):
        for args in ([], ["frobnicate"], ["status"], ["reap"],
                     ["reap", "--idle", "--all"], ["events", "-n", "x"],
                     ["list", "extra"]):
            p = self.run_ctl(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("usage:", p.stderr)


class CheckConfigTest(unittest.TestCase):
    def check(self, path):
        return subprocess.run([SUMMOND, "-n", "-f", path],
                              capture_output=True, text=True, timeout=30)

    def test_shipped_configs(self):
        """Valid, with the templates where this tree has them (summond
        checks at load that they are there; the demo copies them)."""
        for name in ("summond.conf", "demo.conf"):
            with open(os.path.join(SRCDIR, "conf", name)) as f:
                text = f.read()
            for where in ("/usr/share/summon/templates",
                          "/tmp/summon-demo/templates"):
                text = text.replace(where, os.path.join(
                    SRCDIR, "images", "templates"))
            with tempfile.TemporaryDirectory() as tmp:
                conf = os.path.join(tmp, name)
                with open(conf, "w") as f:
                    f.write(text)
                p = self.check(conf)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("configuration OK", p.stdout)

    def test_three_errors(self):
        d = Summond(BROKEN, name="bad.conf")
        p = self.check(d.conf)
        self.assertEqual(p.returncode, 1)
        lines = p.stderr.splitlines()
        self.assertEqual(lines[:3], [
            d.conf + ":3: unknown key 'colour' in [summond]",
            d.conf + ":8: idle-timeout: bad duration 'soon' (a number "
            "with ms, s, m or h, e.g. 250ms, 10s, 2m)",
            d.conf + ':9: duplicate service "web" (first defined at '
            'line 4)'])
        self.assertEqual(lines[-1], d.conf + ": 3 errors")


if __name__ == "__main__":
    unittest.main(verbosity=2)
