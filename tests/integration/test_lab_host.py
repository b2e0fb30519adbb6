"""scripts/lab-host: two libvirt "hosts" on this machine, each a network
namespace with a libvirtd of its own, reached from the namespace
scripts/setup made over qemu+tcp.  Each answers and is a libvirtd apart;
a guest on one answers HTTP at its private address from that namespace;
the lab libvirtd listens on its veth address only; `down` leaves no
namespace, link, route, process, domain, network or directory behind."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from summon_test import SRCDIR, wait_for
import guests

LAB_HOST = os.path.join(SRCDIR, "scripts", "lab-host")
LAB_DIR = "/run/summon-lab"
NAMES = ("it-a", "it-b")
# Not "summon-...": a summond on the same libvirtd reaps such domains.
DOMAIN = "hello-labtest-%d" % os.getpid()
PROBE_NET = "summon-lab-probe"
PORT = 16509


def why_skip():
    """Why lab hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, libvirtd)"
    for tool in ("ip", "unshare", "flock", "tini", "libvirtd", "virtlogd",
                 "virsh", "curl", "ss"):
        if shutil.which(tool) is None:
            return tool + " not installed"
    if not guests.libvirt_ready():
        return "no libvirtd (run scripts/setup)"
    if not guests.netns():
        return ("libvirtd runs in the machine's own namespace: lab hosts "
                "hang off the namespace scripts/setup makes")
    p = subprocess.run(["unshare", "-n", "-m", "true"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return "cannot make namespaces: " + p.stderr.strip()
    return None


SKIP = why_skip()


def lab(name, cmd):
    return subprocess.run([LAB_HOST, name, cmd], capture_output=True,
                          text=True, timeout=180)


def lab_env(name):
    """The registry entry `up` wrote (KEY=VALUE lines)."""
    env = {}
    with open(os.path.join(LAB_DIR, name, "lab.env")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v.strip('"')
    return env


def in_summon(*cmd, timeout=60):
    return subprocess.run(guests.in_ns(cmd), capture_output=True,
                          text=True, timeout=timeout)


def virsh(uri, *args):
    """virsh on uri, from the namespace the lab hosts hang off."""
    return in_summon("virsh", "-q", "-c", uri, *args)


def listeners(prefix=()):
    p = subprocess.run(list(prefix) + ["ss", "-Hltn"], capture_output=True,
                       text=True, check=True)
    return [line.split()[3] for line in p.stdout.splitlines()]


def alive(pid):
    """pid runs (a zombie waiting for PID 1 to reap it does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def render(template, values):
    """The substitution summond performs (no value here needs XML
    escaping); without an initrd, summond drops the <initrd> element."""
    with open(template) as f:
        text = f.read()
    text = re.sub(r"[ \t]*<initrd>\$\{initrd\}</initrd>\n", "", text)
    for k, v in values.items():
        text = text.replace("${%s}" % k, v)
    if "${" in text:
        raise AssertionError("unsubstituted variable in " + template)
    return text


@unittest.skipIf(SKIP, SKIP)
class LabHostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="summon-labtest-")
        cls.uri = {}
        cls.env = {}
        cls.qemu = None
        try:
            for name in NAMES:      # an earlier run killed halfway
                lab(name, "down")
            for name in NAMES:
                p = lab(name, "up")
                if p.returncode != 0:
                    raise AssertionError("lab-host %s up: exit %d\n%s%s" %
                                         (name, p.returncode, p.stdout,
                                          p.stderr))
                cls.uri[name] = p.stdout.splitlines()[-1]
                cls.env[name] = lab_env(name)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for name in NAMES:
            lab(name, "down")
        guests.cleanup(DOMAIN, PROBE_NET)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_1_up(self):
        a, b = (self.env[n] for n in NAMES)
        for name in NAMES:
            self.assertEqual(self.uri[name],
                             "qemu+tcp://%s/system" % self.env[name]["ADDR"])
        self.assertNotEqual(a["ADDR"], b["ADDR"])
        self.assertNotEqual(a["SUBNET"], b["SUBNET"])
        self.assertNotEqual(a["BRIDGE"], b["BRIDGE"])
        # Idempotent: a second `up` leaves the host as it is.
        p = lab(NAMES[0], "up")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[-1], self.uri[NAMES[0]])
        self.assertEqual(lab_env(NAMES[0])["PIDS"], a["PIDS"])

    def test_2_distinct(self):
        """Each answers, and each is a libvirtd of its own: a network
        defined on one is on no other, nor on qemu:///system."""
        a, b = NAMES
        for name in NAMES:
            p = virsh(self.uri[name], "uri")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), self.uri[name])
        xml = os.path.join(self.tmp, "probe.xml")
        with open(xml, "w") as f:
            f.write("<network><name>%s</name><bridge name='smnlabprobe'/>"
                    "<dns enable='no'/></network>\n" % PROBE_NET)
        p = virsh(self.uri[a], "net-define", xml)
        self.assertEqual(p.returncode, 0, p.stderr)
        try:
            nets = {u: virsh(u, "net-list", "--all", "--name").stdout.split()
                    for u in (self.uri[a], self.uri[b], guests.URI)}
        finally:
            virsh(self.uri[a], "net-undefine", PROBE_NET)
        self.assertIn(PROBE_NET, nets[self.uri[a]])
        self.assertNotIn(PROBE_NET, nets[self.uri[b]])
        self.assertNotIn(PROBE_NET, nets[guests.URI])
        # And each has its guests' network, which the others have not.
        self.assertIn(self.env[a]["NETWORK"], nets[self.uri[a]])
        self.assertNotIn(self.env[a]["NETWORK"], nets[self.uri[b]])
        self.assertNotIn(self.env[b]["NETWORK"], nets[guests.URI])

    def test_3_listen(self):
        """Unauthenticated TCP on the veth address in the lab namespace,
        and nowhere else; no lab address or link in the machine's own
        namespace."""
        for addr in listeners():
            self.assertFalse(addr.endswith(":%d" % PORT), addr)
        for addr in listeners(guests.in_ns([])):
            self.assertFalse(addr.endswith(":%d" % PORT), addr)
        for name in NAMES:
            env = self.env[name]
            self.assertEqual(
                listeners(["ip", "netns", "exec", env["NETNS"]]),
                ["%s:%d" % (env["ADDR"], PORT)])
        root = subprocess.run(["ip", "-br", "addr"], capture_output=True,
                              text=True, check=True).stdout
        self.assertNotIn("smnlab", root)
        for name in NAMES:
            self.assertNotIn(self.env[name]["ADDR"], root)
            self.assertNotIn(self.env[name]["GATEWAY"], root)

    @unittest.skipUnless(os.path.exists(guests.IMAGE),
                         "reference image not built")
    def test_4_guest(self):
        """The reference image on the first lab host, on its network,
        answers HTTP at its private address from the namespace summon."""
        name = NAMES[0]
        env = self.env[name]
        guest = env["GATEWAY"].rsplit(".", 1)[0] + ".10"
        # QEMU runs as libvirt's user and may not reach the build tree.
        os.chmod(self.tmp, 0o755)
        kernel = os.path.join(self.tmp, "hello.elf")
        shutil.copyfile(guests.IMAGE, kernel)
        os.chmod(kernel, 0o644)
        serial = os.path.join(self.tmp, "serial.log")
        accel = subprocess.run([os.path.join(SRCDIR, "scripts", "accel")],
                               capture_output=True, text=True).stdout
        xml = os.path.join(self.tmp, "domain.xml")
        with open(xml, "w") as f:
            f.write(render(os.path.join(guests.TEMPLATES, "microvm.xml"), {
                "domain_type": "kvm" if accel.strip() == "kvm" else "qemu",
                "name": DOMAIN, "metadata": "", "kernel": kernel,
                "cmdline": "ip=%s/24 gw=%s" % (guest, env["GATEWAY"]),
                "memory_kib": "32768", "vcpus": "1",
                "mac": "52:54:00:fb:00:0a", "network": env["NETWORK"],
                "serial_log": serial, "hostfwd": ""}))
        p = virsh(self.uri[name], "create", xml)
        self.assertEqual(p.returncode, 0, p.stderr)

        def ready():
            try:
                with open(serial) as f:
                    return "summon-hello: ready ip=%s " % guest in f.read()
            except OSError:
                return False
        wait_for(ready, timeout=120, what="the guest's readiness line")
        p = in_summon("curl", "-s", "-m", "30", "http://%s/" % guest)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Instance %s, up " % guest, p.stdout)
        # On that host only.
        self.assertIn(DOMAIN, virsh(self.uri[name], "list",
                                    "--name").stdout.split())
        self.assertNotIn(DOMAIN, virsh(self.uri[NAMES[1]], "list", "--all",
                                       "--name").stdout.split())
        self.assertEqual(guests.domains(DOMAIN), [])
        # Its QEMU runs in the lab namespace; left running for `down`.
        pid = guests.qemu_pid(DOMAIN)
        self.assertIsNotNone(pid)
        p = subprocess.run(["ip", "netns", "identify", str(pid)],
                           capture_output=True, text=True)
        self.assertEqual(p.stdout.strip(), env["NETNS"])
        type(self).qemu = pid

    def test_5_down(self):
        """`down` removes everything `up` made, even with a guest
        running, and a second `down` has nothing to do."""
        pids = []
        for name in NAMES:
            pids += [int(p) for p in self.env[name]["PIDS"].split()]
            for daemon in ("libvirtd", "virtlogd"):
                with open(os.path.join(LAB_DIR, name, "run",
                                       daemon + ".pid")) as f:
                    pids.append(int(f.read()))
        if self.qemu is not None:
            pids.append(self.qemu)
        for name in NAMES:
            p = lab(name, "down")
            self.assertEqual(p.returncode, 0, p.stderr)
        namespaces = subprocess.run(["ip", "netns", "list"],
                                    capture_output=True, text=True,
                                    check=True).stdout
        links = in_summon("ip", "-br", "link").stdout
        routes = in_summon("ip", "route").stdout
        for name in NAMES:
            env = self.env[name]
            self.assertNotIn(env["NETNS"], namespaces)
            self.assertNotIn("smnlab%s-s" % env["SLOT"], links)
            self.assertNotIn(env["SUBNET"], routes)
            self.assertFalse(os.path.exists(os.path.join(LAB_DIR, name)))
            self.assertNotEqual(virsh(self.uri[name], "uri").returncode, 0)
        for pid in pids:
            self.assertFalse(alive(pid), "process %d still runs" % pid)
        self.assertIsNone(guests.qemu_pid(DOMAIN))
        self.assertEqual(guests.domains(DOMAIN), [])
        self.assertNotIn(PROBE_NET, virsh(guests.URI, "net-list", "--all",
                                          "--name").stdout.split())
        for name in NAMES:
            p = lab(name, "down")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("not up", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
