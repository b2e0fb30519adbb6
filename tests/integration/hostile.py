"""What the hostile-input tests (test_hostile_*.py) share: an attack run
in the background while a good client is checked, summond's resident
memory, and a record of the files that must survive.

Each attack is bounded (a count or a deadline) and sends only to
loopback or to summond's own sockets.  "Served within a bound" is a
deadline for an answer, generous enough for the sanitizer build on two
busy cores, not a measurement: the numbers live in bench/."""
import os
import threading
import time

# How long a good client may wait for its answer while an attack runs.
# It is a correctness bound (the attack must not lock the client out),
# not a performance claim.
SERVED_WITHIN = 10.0


def rss_kib(pid):
    """Resident memory of process pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Attack:
    """Run fn() over and over on a thread until the block ends (or fn
    returns False).  Exceptions from fn are kept and raised at the end
    only if reraise is set: an attacker's connection being closed is
    usually the point."""

    def __init__(self, fn, threads=1, reraise=False):
        self.fn = fn
        self.stop = threading.Event()
        self.rounds = 0
        self.errors = []
        self.reraise = reraise
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]

    def _run(self):
        while not self.stop.is_set():
            try:
                if self.fn() is False:
                    return
            except Exception as e:   # noqa: BLE001 - kept for the report
                self.errors.append(e)
            self.rounds += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        if self.reraise and self.errors and exc[0] is None:
            raise self.errors[0]
        return False


def served(testcase, fn, what, within=SERVED_WITHIN):
    """Call fn() (which must raise or return a false value on failure)
    and fail testcase unless it succeeds within `within` seconds."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:   # noqa: BLE001 - reported below
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    t.start()
    t.join(within)
    took = time.monotonic() - start
    if t.is_alive():
        testcase.fail("%s: no answer within %.0f s" % (what, within))
    if "error" in result:
        testcase.fail("%s: %r" % (what, result["error"]))
    if not result.get("value"):
        testcase.fail("%s: bad answer %r" % (what, result.get("value")))
    return took


class Files:
    """The files under a directory (and extra paths) at one moment; check()
    fails if one of them is gone later."""

    def __init__(self, *paths):
        self.paths = []
        for p in paths:
            if os.path.isdir(p):
                for root, _, names in os.walk(p):
                    self.paths += [os.path.join(root, n) for n in names]
            elif os.path.exists(p):
                self.paths.append(p)

    def check(self, testcase, ignore=()):
        gone = [p for p in self.paths
                if not os.path.lexists(p) and
                not any(p.endswith(i) for i in ignore)]
        testcase.assertEqual(gone, [], "files deleted")
