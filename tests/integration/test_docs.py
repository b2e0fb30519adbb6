"""The man pages and the example configuration against the code: every
page renders without a warning, every configuration key the parser knows
is documented in summond.conf(5) and set in conf/summond.conf, every
summonctl command and option is in summonctl(8), every summond flag in
summond(8), every template variable in summond.conf(5); and no file of
the repository cites a document that is not in it."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from summon_test import BUILD, SRCDIR, SUMMOND

MAN_SRC = os.path.join(SRCDIR, "docs", "man")
MAN_BUILT = os.path.join(BUILD, "docs", "man")
PAGES = ["summond.8", "summonctl.8", "summond.conf.5"]
SECTIONS = {"SUMMOND": "summond", "DNS": "dns", "PROXY": "proxy",
            "NETWORK": "network", "METRICS": "metrics",
            "SERVICE": "service", "HOST": "host"}


def read(*path):
    with open(os.path.join(*path), encoding="utf-8") as f:
        return f.read()


def parser_keys():
    """(section, key) for every entry of config_keys.c's keys[] table."""
    src = read(SRCDIR, "src", "config", "config_keys.c")
    m = re.search(r"static const struct key keys\[\] = \{(.*?)\n\};", src,
                  re.S)
    assert m, "keys[] table not found in src/config/config_keys.c"
    keys = re.findall(r"\{\s*S_([A-Z]+),\s*\"([a-z0-9-]+)\"", m.group(1))
    return [(SECTIONS[s], k) for s, k in keys]


def scd_sections(text):
    """Map '# [section]' headings of an scdoc page to their text."""
    out, name = {}, None
    for line in text.splitlines():
        h = re.match(r"# \[(\w+)", line)
        if h:
            name = h.group(1)
            out[name] = ""
        elif line.startswith("# "):
            name = None
        elif name is not None:
            out[name] += line + "\n"
    return out


def ini_keys(text):
    """(section, key) set in an INI file; services count as 'service'.
    A [host] section counts commented out (";[host ...]", ";key ="), and
    a service's ";hosts =": a file with hosts cannot set [summond]
    hypervisor, which the example sets."""
    out, sect = set(), None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(";[host") or s.startswith(";hosts =") or (
                sect == "host" and re.match(r";[a-z0-9-]+\s*=", s)):
            s = s[1:]
        if not s or s[0] in ";#" or line[0] in " \t":
            continue
        h = re.match(r"\[\s*(\w+)", s)
        if h:
            sect = h.group(1)
            continue
        k = re.match(r"([a-z0-9-]+)\s*=", s)
        if k and sect:
            out.add((sect, k.group(1)))
    return out


def option_sets(text):
    """The sections of a page (its '# NAME' headings) as one string each."""
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("# "):
            name = line[2:].strip()
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


class Pages(unittest.TestCase):
    def built(self, page):
        path = os.path.join(MAN_BUILT, page)
        if not os.path.exists(path):
            self.fail("%s was not built: scdoc missing at configure time? "
                      "(scripts/setup installs it)" % path)
        return path

    def test_render_without_warnings(self):
        man = shutil.which("man")
        groff = shutil.which("groff")
        if man is None and groff is None:
            self.skipTest("neither man nor groff is installed")
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
        for page in PAGES:
            path = self.built(page)
            runs = []
            if man is not None:
                runs.append([man, "--warnings", "-E", "UTF-8", "-l", path])
            if groff is not None:
                runs.append([groff, "-man", "-ww", "-z", path])
            for cmd in runs:
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   env=env, timeout=60)
                self.assertEqual(p.returncode, 0, "%s: %s" % (cmd, p.stderr))
                self.assertEqual(p.stderr.strip(), "",
                                 "warnings from %s" % " ".join(cmd))
            with open(path, encoding="utf-8") as f:
                roff = f.read()
            self.assertNotRegex(roff, r"@[A-Z]+@",
                                "%s: an unsubstituted @VAR@" % page)
            self.assertIn(".TH", roff)

    def test_every_key_in_summond_conf_5(self):
        keys = parser_keys()
        self.assertGreater(len(keys), 40, "keys[] parse looks wrong")
        sections = scd_sections(read(MAN_SRC, "summond.conf.5.scd"))
        for sect, key in keys:
            self.assertIn(sect, sections, "summond.conf(5) has no [%s]" %
                          sect)
            body = sections[sect]
            m = re.search(r"^\*%s\* =.*\n((?:\t.*\n)+)" % re.escape(key),
                          body, re.M)
            self.assertIsNotNone(m, "summond.conf(5): [%s] %s is not "
                                 "documented" % (sect, key))
            desc = m.group(1)
            if "Required" not in desc and "No default" not in desc:
                self.assertIn("Default", desc, "summond.conf(5): [%s] %s "
                              "has no default" % (sect, key))

    def test_every_key_in_example_conf(self):
        path = os.path.join(SRCDIR, "conf", "summond.conf")
        have = ini_keys(read(path))
        for sect, key in parser_keys():
            self.assertIn((sect, key), have, "conf/summond.conf does not "
                          "set [%s] %s" % (sect, key))
        # And it is a valid file, with the templates where they are in
        # this tree rather than where they are installed.
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "summond.conf")
            with open(conf, "w") as f:
                f.write(read(path).replace(
                    "/usr/share/summon/templates",
                    os.path.join(SRCDIR, "images", "templates")))
            p = subprocess.run([SUMMOND, "-n", "-f", conf],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_template_variables(self):
        src = read(SRCDIR, "src", "config", "config_value.c")
        m = re.search(r"template_vars\[\] = \{(.*?)\};", src, re.S)
        self.assertIsNotNone(m)
        names = set(re.findall(r"\"(\w+)\"", m.group(1)))
        src = read(SRCDIR, "src", "vm", "vm_domain.c")
        m = re.search(r"const char \*const names\[\] = \{(.*?)\};", src,
                      re.S)
        if m:
            names |= set(re.findall(r"\"(\w+)\"", m.group(1)))
        self.assertGreater(len(names), 10)
        page = read(MAN_SRC, "summond.conf.5.scd")
        for n in sorted(names):
            self.assertIn("${%s}" % n, page,
                          "summond.conf(5) lacks ${%s}" % n)

    def test_summonctl_commands_and_options(self):
        src = read(SRCDIR, "src", "ctl", "summonctl.c")
        cmds = set(re.findall(r"strcmp\(cmd, \"(\w+)\"\)", src))
        self.assertGreaterEqual(cmds, {"list", "status", "boot", "reap",
                                       "events", "reload"})
        page = option_sets(read(MAN_SRC, "summonctl.8.scd"))
        for c in cmds:
            self.assertRegex(page["COMMANDS"], r"(?m)^\*%s\*" % c,
                             "summonctl(8) COMMANDS lacks %s" % c)
            self.assertRegex(page["SYNOPSIS"], r"\*%s\*" % c)
        longs = set(re.findall(r"\{ \"([a-z-]+)\", (?:no|required)_argument",
                               src))
        self.assertGreaterEqual(longs, {"json", "socket", "help", "version",
                                        "idle", "all", "follow"})
        whole = read(MAN_SRC, "summonctl.8.scd")
        for o in longs:
            self.assertIn("*--%s*" % o, whole, "summonctl(8) lacks --%s" % o)
        for optstring in re.findall(r"getopt_long\(argc, argv, \"([^\"]*)\"",
                                    src):
            for ch in optstring.replace("+", "").replace(":", ""):
                self.assertIn("*-%s*" % ch, whole,
                              "summonctl(8) lacks -%s" % ch)
        for word in ["SUMMON_SOCKET", "EXIT STATUS"]:
            self.assertIn(word, whole)
        for code in ["0", "1", "2"]:
            self.assertRegex(page["EXIT STATUS"], r"(?m)^\*%s\*$" % code)

    def test_summond_flags(self):
        src = read(SRCDIR, "src", "daemon", "main.c")
        page = read(MAN_SRC, "summond.8.scd")
        optstring = re.search(r"getopt_long\(argc, argv, \"([^\"]*)\"",
                              src).group(1)
        self.assertTrue(optstring)
        for ch in optstring.replace(":", ""):
            self.assertRegex(option_sets(page)["OPTIONS"],
                             r"(?m)^\*-%s\*" % ch,
                             "summond(8) OPTIONS lacks -%s" % ch)
        for o in re.findall(r"\{ \"([a-z-]+)\", (?:no|required)_argument",
                            src):
            self.assertIn("*--%s*" % o, page, "summond(8) lacks --%s" % o)
        for sig in ["SIGTERM", "SIGINT", "SIGHUP"]:
            self.assertIn(sig, option_sets(page)["SIGNALS"])


# Documents that live outside the repository, so that a reader of it
# cannot open them.  Matched as file names: "# ENVIRONMENT" in
# summonctl(8) is a man-page section, not a citation.  The names are
# put together here so that this file does not match itself.
OUTSIDE = re.compile(r"\b(?:%s)\.md\b" % "|".join(
    ["SPEC", "STYLE", "ENVIRONMENT"]))


class Citations(unittest.TestCase):
    def test_no_document_outside_the_repository(self):
        """Every comment, doc, test and script says what it means in
        place or points into the repository (docs/, the man pages)."""
        git = shutil.which("git")
        if git is None or not os.path.exists(os.path.join(SRCDIR, ".git")):
            self.skipTest("not a git checkout")
        p = subprocess.run([git, "-C", SRCDIR, "ls-files", "-z"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        files = [f for f in p.stdout.decode().split("\0") if f]
        self.assertGreater(len(files), 100, "git ls-files looks wrong")
        found = []
        for name in files:
            if name.startswith("tests/fuzz/corpus/"):
                continue
            try:
                with open(os.path.join(SRCDIR, name), "rb") as f:
                    data = f.read()
            except (FileNotFoundError, IsADirectoryError):
                continue        # deleted in the work tree, or a submodule
            if b"\0" in data[:8000]:
                continue        # binary, as git itself decides
            text = data.decode("utf-8", "replace")
            for n, line in enumerate(text.splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append("%s:%d: %s" % (name, n, line.strip()))
        self.assertEqual(found, [], "cites a document outside the "
                         "repository:\n" + "\n".join(found))


if __name__ == "__main__":
    unittest.main(verbosity=2)
