"""`meson install --destdir` of the build under test: every file an
operator needs lands where it belongs, the installed unit passes
`systemd-analyze verify`, the installed configuration is valid, and the
bash completion completes commands, options and live service names."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from summon_test import BUILD, SUMMONCTL, Summond, free_port

SYSTEMD_UNITS = "/lib/systemd/system"


def build_options():
    out = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                         capture_output=True, text=True, check=True,
                         timeout=120).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.destdir = tempfile.mkdtemp(prefix="summon-install-")
        # The build is up to date: meson test built it before running us.
        p = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                            "--quiet", "--destdir", cls.destdir],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("meson install failed:\n" + p.stdout +
                                 p.stderr)
        opts = build_options()
        cls.prefix = opts["prefix"]

        def under_prefix(d):
            return os.path.join(cls.prefix, d)    # absolute d stays as is
        cls.dirs = {k: under_prefix(opts[k]) for k in
                    ("bindir", "sbindir", "sysconfdir", "datadir",
                     "mandir")}
        cls.dirs["lib"] = os.path.join(cls.prefix, "lib")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def path(self, *parts):
        """The installed path of parts (absolute, as on the target)."""
        return os.path.join(*parts)

    def staged(self, installed):
        return self.destdir + installed

    def assertInstalled(self, installed, executable=False):
        p = self.staged(installed)
        self.assertTrue(os.path.isfile(p), "%s is not installed" % installed)
        self.assertGreater(os.path.getsize(p), 0, "%s is empty" % installed)
        if executable:
            self.assertTrue(os.stat(p).st_mode & stat.S_IXUSR,
                            "%s is not executable" % installed)

    def test_reinstall_keeps_the_operators_configuration(self):
        conf = self.staged(self.path(self.dirs["sysconfdir"], "summon",
                                     "summond.conf"))
        with open(conf) as f:
            shipped = f.read()
        with open(conf, "a") as f:
            f.write("; the operator's own line\n")
        try:
            p = subprocess.run(["meson", "install", "-C", BUILD,
                                "--no-rebuild", "--quiet", "--destdir",
                                self.destdir],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(conf) as f:
                self.assertIn("the operator's own line", f.read())
            with open(conf + ".dist") as f:
                self.assertEqual(f.read(), shipped)
        finally:
            with open(conf, "w") as f:
                f.write(shipped)
            if os.path.exists(conf + ".dist"):
                os.unlink(conf + ".dist")

    def unit_path(self):
        return self.path(self.dirs["lib"], "systemd", "system",
                         "summond.service")

    def test_tree(self):
        d = self.dirs
        self.assertInstalled(self.path(d["sbindir"], "summond"), True)
        self.assertInstalled(self.path(d["bindir"], "summonctl"), True)
        self.assertInstalled(self.unit_path())
        self.assertInstalled(self.path(d["lib"], "sysusers.d", "summon.conf"))
        self.assertInstalled(self.path(d["lib"], "tmpfiles.d", "summon.conf"))
        self.assertInstalled(self.path(d["sysconfdir"], "summon",
                                       "summond.conf"))
        for t in ("microvm", "pc", "microvm-user", "pc-user"):
            self.assertInstalled(self.path(d["datadir"], "summon",
                                           "templates", t + ".xml"))
        self.assertInstalled(self.path(d["lib"], "summon", "images",
                                       "hello.elf"))
        self.assertInstalled(self.path(d["mandir"], "man8", "summond.8"))
        self.assertInstalled(self.path(d["mandir"], "man8", "summonctl.8"))
        self.assertInstalled(self.path(d["mandir"], "man5",
                                       "summond.conf.5"))
        self.assertInstalled(self.path(d["datadir"], "bash-completion",
                                       "completions", "summonctl"))

    def test_unit_paths(self):
        with open(self.staged(self.unit_path())) as f:
            unit = f.read()
        summond = self.path(self.dirs["sbindir"], "summond")
        conf = self.path(self.dirs["sysconfdir"], "summon", "summond.conf")
        self.assertIn("ExecStart=%s -f %s\n" % (summond, conf), unit)
        self.assertNotRegex(unit, r"@[A-Z_]+@", "unsubstituted @VAR@")

    def test_sysusers_and_tmpfiles(self):
        with open(self.staged(self.path(self.dirs["lib"], "sysusers.d",
                                        "summon.conf"))) as f:
            lines = [l.split() for l in f if l.strip() and l[0] != "#"]
        self.assertIn(["u", "summon"], [l[:2] for l in lines])
        self.assertIn(["m", "summon", "libvirt"], lines)
        with open(self.staged(self.path(self.dirs["lib"], "tmpfiles.d",
                                        "summon.conf"))) as f:
            paths = [l.split()[1] for l in f if l.strip() and l[0] != "#"]
        self.assertIn("/var/lib/summon", paths)
        self.assertIn("/var/log/summon", paths)

    def test_sysusers_and_tmpfiles_apply(self):
        """Apply both snippets to an empty root, as a package would."""
        sysusers = shutil.which("systemd-sysusers")
        tmpfiles = shutil.which("systemd-tmpfiles")
        if sysusers is None or tmpfiles is None:
            self.skipTest("systemd-sysusers/systemd-tmpfiles not installed")
        root = tempfile.mkdtemp(prefix="summon-root-")
        os.makedirs(os.path.join(root, "etc"))
        try:
            p = subprocess.run([sysusers, "--root", root, self.staged(
                self.path(self.dirs["lib"], "sysusers.d", "summon.conf"))],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(root, "etc", "passwd")) as f:
                users = {l.split(":")[0]: l.split(":") for l in f}
            self.assertIn("summon", users)
            self.assertEqual(users["summon"][5], "/var/lib/summon")
            with open(os.path.join(root, "etc", "group")) as f:
                groups = {l.split(":")[0]: l.strip().split(":") for l in f}
            self.assertIn("summon", groups["libvirt"][3].split(","))
            if os.geteuid() != 0:
                return      # tmpfiles would need to chown
            p = subprocess.run([tmpfiles, "--root", root, "--create",
                                self.staged(self.path(self.dirs["lib"],
                                                      "tmpfiles.d",
                                                      "summon.conf"))],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            for d in ("var/lib/summon", "var/log/summon", "run/summon"):
                st = os.stat(os.path.join(root, d))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o750, d)
                self.assertEqual(st.st_uid, int(users["summon"][2]), d)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze is not installed: the unit is "
                          "NOT verified (apt-get install systemd)")
        # Verify the installed tree as a root directory: ExecStart= must
        # exist there, and the unit's man: links must resolve to the pages
        # we installed.  The stock targets it is ordered against
        # (multi-user.target, sysinit.target, ...) are copied in from the
        # host, since a DESTDIR holds only our files.
        root = self.destdir
        stock = os.path.join(root, "etc", "systemd", "system")
        os.makedirs(stock, exist_ok=True)
        for name in os.listdir(SYSTEMD_UNITS):
            if name.endswith(".target"):
                shutil.copy(os.path.join(SYSTEMD_UNITS, name), stock)
        env = dict(os.environ,
                   MANPATH=self.staged(self.dirs["mandir"]),
                   SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
        p = subprocess.run([tool, "verify", "--root", root,
                            "summond.service"],
                           capture_output=True, text=True, env=env,
                           timeout=120)
        out = (p.stdout + p.stderr).strip()
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(out, "", "systemd-analyze verify is not clean")

    def test_installed_config_is_valid(self):
        """Valid, and naming the templates and image this install put
        in place: checked in the staging tree, where they are."""
        summond = self.staged(self.path(self.dirs["sbindir"], "summond"))
        conf = self.staged(self.path(self.dirs["sysconfdir"], "summon",
                                     "summond.conf"))
        with open(conf) as f:
            text = f.read()
        self.assertIn("templates = " + self.path(self.dirs["datadir"],
                                                 "summon", "templates"),
                      text)
        staged = os.path.join(self.destdir, "staged.conf")
        with open(staged, "w") as f:
            f.write(text.replace(" = " + self.prefix, " = " +
                                 self.staged(self.prefix)))
        p = subprocess.run([summond, "-n", "-f", staged], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_man_pages_are_found(self):
        if shutil.which("man") is None:
            self.skipTest("man is not installed")
        env = dict(os.environ, MANPATH=self.staged(self.dirs["mandir"]))
        for sect, page in (("8", "summond"), ("8", "summonctl"),
                           ("5", "summond.conf")):
            p = subprocess.run(["man", "-w", sect, page], capture_output=True,
                               text=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, "man -w %s %s: %s" %
                             (sect, page, p.stderr))


COMPLETE = r"""
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_summonctl summonctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""

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

[service "hello"]
kernel = /nonexistent/hello.elf
address = 127.0.0.2
ports = {p1}:80

[service "web-2"]
kernel = /nonexistent/web.elf
address = 127.0.0.3
ports = {p2}:80
"""


class Completion(unittest.TestCase):
    """The completion script as shipped, driven the way bash drives it."""

    script = None

    @classmethod
    def setUpClass(cls):
        if shutil.which("bash") is None:
            raise unittest.SkipTest("bash is not installed")
        cls.script = os.path.join(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))), "completions",
            "summonctl.bash")

    def complete(self, *words, env=None):
        e = dict(os.environ)
        # summonctl of this build first on PATH, as if installed.
        e["PATH"] = os.path.dirname(SUMMONCTL) + os.pathsep + e["PATH"]
        e.pop("SUMMON_SOCKET", None)
        e.update(env or {})
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", COMPLETE,
                            "complete", self.script, "summonctl"] +
                           list(words), capture_output=True, text=True,
                           env=e, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w for w in p.stdout.split("\n") if w)

    def test_syntax(self):
        p = subprocess.run(["bash", "-n", self.script], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_commands_and_options(self):
        self.assertEqual(self.complete(""), ["boot", "events", "hosts",
                                             "list", "reap", "reload",
                                             "status"])
        self.assertEqual(self.complete("re"), ["reap", "reload"])
        self.assertIn("--json", self.complete("--"))
        self.assertIn("--socket", self.complete("--"))
        self.assertEqual(self.complete("--json", "ev"), ["events"])
        self.assertEqual(self.complete("reap", "--"), ["--all", "--idle"])
        self.assertEqual(self.complete("events", "--f"), ["--follow"])
        self.assertEqual(self.complete("list", ""), [])

    def test_service_names_from_summond(self):
        d = Summond(CONF.replace("{p1}", str(free_port()))
                    .replace("{p2}", str(free_port()))).start()
        try:
            self.assertEqual(self.complete("-s", d.sock, "status", ""),
                             ["hello", "web-2"])
            self.assertEqual(self.complete("reap", "hello", "w",
                                           env={"SUMMON_SOCKET": d.sock}),
                             ["web-2"])
            self.assertEqual(self.complete("--socket", d.sock, "events",
                                           "-n", "5", "h"), ["hello"])
            # One service for boot and status: no second name.
            self.assertEqual(self.complete("-s", d.sock, "boot", "hello",
                                           ""), [])
        finally:
            d.stop()
        # No daemon: no names, and no error either.
        self.assertEqual(self.complete("-s", d.sock, "status", ""), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
