"""The state database as an attack surface: a state summond cannot
write (it would start, report ready and then lose every write), another
program's SQLite database given as `state` (it would be turned to WAL
and filled with summon's tables), and the mode of the files summond
makes (0644 under the usual umask would let every user read them).

Each refusal must come before "summond ready", as exit status 1 and one
clear log line naming the file, and must leave the file as it was."""
import hashlib
import os
import sqlite3
import stat
import unittest

from summon_test import Summond, free_port, wait_for

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

[service "web"]
kernel = /nonexistent/web.elf
address = 127.0.0.1
ports = @PORT@:80
"""

NOBODY = 65534
# Root writes any file whatever its mode: the read-only state is tried
# as another user, the way summond runs under systemd.
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
             "--clear-groups"]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class HostileStoreTest(unittest.TestCase):
    def setUp(self):
        self.d = None
        self.conf = CONF.replace("@PORT@", str(free_port()))
        self.old_umask = os.umask(0o022)     # as outside systemd

    def tearDown(self):
        os.umask(self.old_umask)
        if self.d is not None:
            self.d.stop()

    def state(self, d):
        return os.path.join(d.dir, "state.db")

    def refused(self, d, want):
        """summond exits 1 before it is ready, with one log line naming
        the state file and saying want."""
        # The log may hold an earlier run.
        start = len(d.logtext()) if os.path.exists(d.log) else 0
        d.start(wait=False)
        wait_for(lambda: d.proc.poll() is not None or
                 "summond ready" in d.logtext()[start:], timeout=60,
                 what="summond to exit or be ready")
        text = d.logtext()[start:]
        self.assertNotIn("summond ready", text)
        self.assertEqual(d.proc.wait(timeout=30), 1, text)
        lines = [ln for ln in text.splitlines()
                 if "store: " + self.state(d) + ": " in ln]
        self.assertEqual(len(lines), 1, text)
        self.assertIn(want, lines[0])
        self.assertEqual(d.stop(), 1)    # and no sanitizer report
        return lines[0]

    def test_readonly_state_refused(self):
        # A summon database made by summond itself, then not writable.
        self.d = Summond(self.conf).start()
        self.d.stop()
        path = self.state(self.d)
        prefix = []
        if os.geteuid() == 0:
            prefix = AS_NOBODY
            for p in [self.d.dir] + [os.path.join(self.d.dir, n)
                                     for n in os.listdir(self.d.dir)]:
                os.lchown(p, NOBODY, NOBODY)
        os.chmod(path, 0o444)
        before = sha256(path)
        self.d.prefix = prefix
        self.refused(self.d,
                     "the database is read-only (Permission denied)")
        self.assertEqual(sha256(path), before)
        self.assertFalse(os.path.exists(path + "-wal"))

    def test_foreign_database_refused(self):
        d = self.d = Summond(self.conf)
        path = self.state(d)
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE foo (a TEXT)")
        db.execute("INSERT INTO foo VALUES ('not summon''s')")
        db.commit()
        db.close()
        before = sha256(path)
        line = self.refused(d, "not a summon state database")
        self.assertIn('table "foo"', line)
        self.assertEqual(sha256(path), before)
        self.assertFalse(os.path.exists(path + "-wal"))
        self.assertFalse(os.path.exists(path + "-shm"))
        with open(path, "rb") as f:
            header = f.read(100)
        # File format bytes: 1 for a rollback journal, 2 for WAL.
        self.assertEqual((header[18], header[19]), (1, 1))

    def test_new_state_private(self):
        d = self.d = Summond(self.conf).start()
        path = self.state(d)
        # The -wal and -shm exist while summond runs; SQLite gives them
        # the database's mode.
        wait_for(lambda: os.path.exists(path + "-shm"), timeout=30,
                 what="state.db-shm")
        for p in (path, path + "-wal", path + "-shm"):
            self.assertEqual(mode(p), 0o640, p)
        self.assertEqual(d.stop(), 0)

        # An operator's looser mode is kept, with a warning.
        os.chmod(path, 0o644)
        d.start()
        self.assertEqual(mode(path), 0o644)
        self.assertIn("mode 0644 lets every user read the state",
                      d.logtext())


if __name__ == "__main__":
    unittest.main(verbosity=2)
