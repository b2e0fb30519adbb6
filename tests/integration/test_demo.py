"""./scripts/demo --once from the repository: every step of the
walkthrough works (it exits 0 only then)."""
import os
import subprocess
import unittest

from summon_test import SRCDIR
import guests


@unittest.skipUnless(guests.libvirt_ready(), "no libvirtd (run scripts/setup)")
class DemoTest(unittest.TestCase):
    def test_demo_once(self):
        p = subprocess.run([os.path.join(SRCDIR, "scripts", "demo"),
                            "--once"], cwd=SRCDIR, capture_output=True,
                           text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
        self.assertIn("first request after idle: HTTP 200", p.stdout)
        self.assertIn("every step worked", p.stdout)
        self.assertEqual(guests.domains("summon-hello-"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
