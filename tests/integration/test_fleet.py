"""Several hosts behind one summond: the local libvirtd and two lab hosts
(scripts/lab-host: a namespace each with a libvirtd on qemu+tcp, its own
bridge and guest subnet, routed from the namespace summon), each running
the reference image.  Services pinned to each host boot there and answer
through the proxy; summond killed -9 adopts them all again; a lab host's
libvirtd killed makes its instances lost and the next wakes of a service
that may move are served by another host, every client answered; the
libvirtd back, the host is reconciled: the guest of a pinned service is
revived, the old guest of the one that moved destroyed, and store and
hosts agree.  Everything the test made is removed."""
import concurrent.futures
import os
import signal
import subprocess
import unittest

from summon_test import SRCDIR, Summond, wait_for
import guests

LAB_HOST = os.path.join(SRCDIR, "scripts", "lab-host")
LABS = ("fl-a", "fl-b")
NET = "summon-fl"
# Our services' domains: other tests' share the local libvirtd.
OURS = ("summon-on-", "summon-roam-")

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
templates = %(templates)s
serial-dir = @DIR@/serial
on-exit = stop

[dns]
listen =

[metrics]
listen =

[network]
create = no

[host "local"]
uri = qemu:///system
network = %(net)s
bridge = smnfl0
create = yes
gateway = 10.96.0.1/24
pool = 10.96.0.10-10.96.0.30
%(labs)s
[service "on-local"]
kernel = %(image)s
address = 127.0.0.2
ports = 18101:80
boot-timeout = 120s
idle-timeout = 1h
hosts = local
%(services)s
[service "roam"]
kernel = %(image)s
address = 127.0.0.2
ports = 18110:80
boot-timeout = 120s
idle-timeout = 1h
hosts = fl-a fl-b
"""

LAB_SECTION = """
[host "%(name)s"]
uri = %(uri)s
network = summon-lab-%(name)s
gateway = %(gateway)s/24
pool = %(prefix)s.10-%(prefix)s.30
"""

PINNED = """
[service "on-%(name)s"]
kernel = %(image)s
address = 127.0.0.2
ports = %(port)d:80
boot-timeout = 120s
idle-timeout = 1h
hosts = %(name)s
"""


def why_skip():
    if os.geteuid() != 0:
        return "needs root (namespaces, libvirtd)"
    if not guests.libvirt_ready():
        return "no libvirtd (run scripts/setup)"
    if not guests.netns():
        return "libvirtd runs in the machine's own namespace"
    if not os.path.exists(guests.IMAGE):
        return "reference image not built"
    return None


SKIP = why_skip()


def lab(name, cmd):
    p = subprocess.run([LAB_HOST, name, cmd], capture_output=True,
                       text=True, timeout=180)
    if p.returncode != 0:
        raise AssertionError("lab-host %s %s: exit %d\n%s%s" %
                             (name, cmd, p.returncode, p.stdout, p.stderr))
    return p.stdout


def lab_env(name):
    env = {}
    with open(os.path.join("/run/summon-lab", name, "lab.env")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v.strip('"')
    return env


def host_domains(uri):
    """Our domains on the host at uri, running or defined."""
    p = subprocess.run(guests.in_ns(["virsh", "-q", "-c", uri, "list",
                                     "--all", "--name"]),
                       capture_output=True, text=True, timeout=60)
    return sorted(d for d in p.stdout.split() if d.startswith(OURS))


def cleanup_local():
    """Our domains and network on the local libvirtd (a lab host's go
    with it)."""
    for prefix in OURS:
        guests.cleanup(prefix)
    guests.virsh("net-destroy", NET)
    guests.virsh("net-undefine", NET)


def curl(port, path="/healthz"):
    return subprocess.run(guests.in_ns(
        ["curl", "-sS", "-m", "150", "http://127.0.0.2:%d%s" % (port, path)]),
        capture_output=True, text=True, timeout=180)


@unittest.skipIf(SKIP, SKIP)
class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.uri = {"local": guests.URI}
        cls.env = {}
        try:
            for name in LABS:
                lab(name, "down")       # an earlier run killed halfway
            for name in LABS:
                cls.uri[name] = lab(name, "up").splitlines()[-1]
                cls.env[name] = lab_env(name)
        except Exception:
            for name in LABS:
                lab(name, "down")
            raise

    @classmethod
    def tearDownClass(cls):
        for name in LABS:
            lab(name, "down")

    def setUp(self):
        cleanup_local()
        self.d = None

    def tearDown(self):
        if self.d is not None:
            self.d.stop()               # on-exit = stop: guests go
            self.d.stop(signal.SIGKILL)
        for name in LABS:
            lab(name, "start-libvirtd")
        cleanup_local()

    def conf(self):
        labs = services = ""
        for i, name in enumerate(LABS):
            prefix = self.env[name]["GATEWAY"].rsplit(".", 1)[0]
            labs += LAB_SECTION % {"name": name, "uri": self.uri[name],
                                   "gateway": self.env[name]["GATEWAY"],
                                   "prefix": prefix}
            services += PINNED % {"name": name, "image": guests.IMAGE,
                                  "port": 18102 + i}
        return CONF % {"templates": guests.TEMPLATES, "net": NET,
                       "image": guests.IMAGE, "labs": labs,
                       "services": services}

    def hosts(self):
        return {h["host"]: h for h in self.d.ctl("hosts", json_out=True)}

    def status(self, svc):
        return self.d.ctl("status", svc, json_out=True)

    def agree(self):
        """Every domain of ours on every host is a live instance's, and
        every instance's domain is there."""
        listed = {s["domain"]: s["host"] for s in
                  self.d.ctl("list", json_out=True) if s["domain"]}
        found = {}
        for host, uri in self.uri.items():
            for dom in host_domains(uri):
                found[dom] = host
        return listed == found, listed, found

    def test_fleet(self):
        self.d = Summond(self.conf(), prefix=guests.in_ns([]))
        self.d.start()
        hosts = self.hosts()
        self.assertEqual(sorted(hosts), ["fl-a", "fl-b", "local"])
        for h in hosts.values():
            self.assertEqual(h["state"], "up", h)

        # A service pinned to each host boots there; its first request,
        # through the proxy, is answered (the cold start masked).
        ports = {"on-local": 18101, "on-fl-a": 18102, "on-fl-b": 18103}
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            answers = dict(zip(ports, ex.map(curl, ports.values())))
        for svc, r in answers.items():
            self.assertEqual(r.stdout.strip(), "ok", "%s: %s" %
                             (svc, r.stderr))
            st = self.status(svc)
            self.assertEqual(st["state"], "ready")
            self.assertEqual(st["host"], svc[3:])
        self.assertTrue(self.status("on-fl-a")["guest_address"].startswith(
            self.env["fl-a"]["GATEWAY"].rsplit(".", 1)[0] + "."))
        r = curl(18110)             # roam: fl-a or fl-b
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)
        where = self.status("roam")["host"]
        self.assertIn(where, LABS)
        other = [n for n in LABS if n != where][0]
        hosts = self.hosts()
        self.assertEqual(hosts[where]["instances"], 2)
        self.assertEqual(hosts["local"]["instances"], 1)
        self.assertGreater(hosts[where]["memory_bytes"], 0)
        table = self.d.ctl("hosts").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "URI", "STATE",
                                            "INSTANCES", "MEMORY", "FREE"])
        row = [line.split() for line in table if line.startswith(where)][0]
        self.assertEqual(row[1:4], [self.uri[where], "up", "2"])
        table = self.d.ctl("list").stdout.splitlines()
        self.assertIn("HOST", table[0].split())
        self.assertIn(where, [line.split()[4] for line in table
                              if line.startswith("roam")])

        # summond killed -9 and started again adopts every host's.
        before = {s["service"]: (s["domain"], s["host"]) for s in
                  self.d.ctl("list", json_out=True)}
        self.d.stop(signal.SIGKILL)
        self.d.start()
        after = {s["service"]: (s["domain"], s["host"]) for s in
                 self.d.ctl("list", json_out=True)}
        self.assertEqual(after, before)
        self.assertEqual(self.d.logtext().count(": adopted: "), 4)
        self.assertEqual(curl(ports["on-" + where]).stdout.strip(), "ok")

        # The libvirtd of roam's host killed: its instances are lost,
        # and roam's next wakes are served by the other lab host.
        lost_dom = self.status("roam")["domain"]
        lab(where, "kill-libvirtd")
        wait_for(lambda: self.hosts()[where]["state"] == "down",
                 timeout=60, what=where + " down")
        for svc in ("roam", "on-" + where):
            kinds = [e["kind"] for e in
                     self.d.ctl("events", svc, json_out=True)]
            self.assertIn("lost", kinds, svc)
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda _: curl(18110), range(16)))
        errors = [r.stderr for r in rs if r.stdout.strip() != "ok"]
        self.assertEqual(errors, [])
        self.assertEqual(self.status("roam")["host"], other)
        self.assertEqual(curl(ports["on-local"]).stdout.strip(), "ok")

        # Back: reconciled.  The pinned service's guest ran on and is
        # adopted again; roam's old guest is destroyed.
        lab(where, "start-libvirtd")
        wait_for(lambda: self.hosts()[where]["state"] == "up",
                 timeout=90, what=where + " up again")
        wait_for(lambda: self.status("on-" + where)["state"] == "ready",
                 timeout=30, what="the pinned service revived")
        self.assertIn("revived", [e["kind"] for e in self.d.ctl(
            "events", "on-" + where, json_out=True)])
        wait_for(lambda: lost_dom not in host_domains(self.uri[where]),
                 timeout=60, what="roam's old domain destroyed")
        self.assertEqual(curl(ports["on-" + where]).stdout.strip(), "ok")
        ok, listed, found = wait_for(lambda: self.agree()[0] and
                                     self.agree(), timeout=60,
                                     what="store and hosts agree")
        self.assertEqual(len(found), 4, found)


if __name__ == "__main__":
    unittest.main(verbosity=2)
