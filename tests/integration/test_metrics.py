"""/metrics after a cold start, read with a strict parser of the
Prometheus text format (0.0.4): every family summond exports (FAMILIES
below, the list of summond(8)) with its HELP, TYPE and labels,
well-formed samples, consistent histograms, and plausible values.  The hypervisor is libvirt's test driver; the guest's
readiness line is written by the test."""
import os
import re
import signal
import subprocess
import unittest
import urllib.request

from summon_test import Summond, free_port, wait_for

CONF = """
[summond]
state = @DIR@/state.db
control = @DIR@/summond.sock
hypervisor = test:///default
serial-dir = @DIR@/serial
[dns]
listen = 127.0.0.1:%(dns)d
zone = m.test.
rate-limit = 0
[metrics]
listen = 127.0.0.1:%(metrics)d
[network]
mode = user
user-ports = 32000-32010
[service "hello"]
kernel = /k
address = 127.0.0.2
ports = %(port)d:80
template = @DIR@/test.xml
ready = serial:READY
boot-timeout = 10s
"""

FAMILIES = {
    "summon_dns_queries_total": ("counter", {"rcode"}),
    "summon_dns_tcp_closed_total": ("counter", {"reason"}),
    "summon_wakes_total": ("counter", {"service", "source"}),
    "summon_wakes_served_total": ("counter", {"service", "by"}),
    "summon_boots_total": ("counter", {"service", "result"}),
    "summon_cold_start_seconds": ("histogram", {"service"}),
    "summon_domain_create_seconds": ("histogram", set()),
    "summon_instances": ("gauge", {"state"}),
    "summon_host_up": ("gauge", {"host"}),
    "summon_host_instances": ("gauge", {"host"}),
    "summon_host_memory_bytes": ("gauge", {"host"}),
    "summon_proxy_connections_total": ("counter", {"service"}),
    "summon_proxy_held": ("gauge", {"service"}),
    "summon_proxy_hold_seconds": ("histogram", set()),
    "summon_proxy_refused_total": ("counter", {"service", "reason"}),
    "summon_proxy_removed_total": ("counter", set()),
    "summon_reaps_total": ("counter", {"reason"}),
}

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL,
                                                            LABEL))


def parse(text):
    """Strict: returns {family: (type, help, [(name, labels, value)])}."""
    fams, current = {}, None
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# HELP "):
            name, help_ = line[7:].split(" ", 1)
            assert name not in fams, "family %s twice (line %d)" % (name, n)
            fams[name] = [None, help_, []]
            current = name
        elif line.startswith("# TYPE "):
            name, typ = line[7:].split(" ")
            assert name == current, "TYPE for %s after HELP of %s" % (
                name, current)
            assert typ in ("counter", "gauge", "histogram", "summary",
                           "untyped")
            fams[name][0] = typ
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            assert m, "malformed sample at line %d: %r" % (n, line)
            name, labels, value = m.group(1), m.group(2), m.group(3)
            base = re.sub(r"_(bucket|sum|count)$", "", name) \
                if fams.get(current, [None])[0] == "histogram" else name
            assert base == current, "sample %s outside its family" % name
            float(value)
            lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]'
                                  r'|\\.)*)"', labels or ""))
            fams[current][2].append((name, lab, float(value)))
    return fams


def check_histogram(testcase, samples):
    series = {}
    for name, lab, v in samples:
        key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            series[key]["buckets"].append((lab["le"], v))
        elif name.endswith("_sum"):
            series[key]["sum"] = v
        else:
            series[key]["count"] = v
    for key, s in series.items():
        les = [float("inf") if le == "+Inf" else float(le)
               for le, _ in s["buckets"]]
        testcase.assertEqual(les, sorted(les), key)
        testcase.assertEqual(les[-1], float("inf"))
        counts = [v for _, v in s["buckets"]]
        testcase.assertEqual(counts, sorted(counts), "cumulative " +
                             str(key))
        testcase.assertEqual(counts[-1], s["count"])
        testcase.assertIsNotNone(s["sum"])
    return series


class MetricsTest(unittest.TestCase):
    def test_after_a_cold_start(self):
        mport, dport, pport = free_port(), free_port(), free_port()
        d = Summond(CONF % {"metrics": mport, "dns": dport, "port": pport})
        d.test_driver_files()
        with open(os.path.join(d.dir, "serial", "summon-hello-1.log"),
                  "w") as f:
            f.write("READY\n")
        d.start()
        try:
            subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(dport),
                            "hello.m.test"], capture_output=True,
                           timeout=30)
            wait_for(lambda: d.ctl("status", "hello", json_out=True)
                     ["state"] == "ready", what="ready")
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/metrics" % mport, timeout=10) as r:
                self.assertIn("text/plain", r.headers["Content-Type"])
                text = r.read().decode()
        finally:
            d.stop(signal.SIGTERM)
        fams = parse(text)
        for name, (typ, labels) in FAMILIES.items():
            self.assertIn(name, fams, name)
            self.assertEqual(fams[name][0], typ, name)
            self.assertTrue(fams[name][1], "HELP of " + name)
            for sname, lab, _ in fams[name][2]:
                self.assertEqual(set(lab) - {"le"}, labels, sname)
            if typ == "histogram":
                check_histogram(self, fams[name][2])

        def value(name, **labels):
            for sname, lab, v in fams[re.sub(r"_(bucket|sum|count)$", "",
                                              name)][2]:
                if sname == name and lab == labels:
                    return v
            raise KeyError(name + str(labels))
        self.assertEqual(value("summon_boots_total", service="hello",
                               result="ok"), 1)
        self.assertEqual(value("summon_boots_total", service="hello",
                               result="failed"), 0)
        self.assertEqual(value("summon_wakes_total", service="hello",
                               source="dns"), 1)
        self.assertEqual(value("summon_cold_start_seconds_count",
                               service="hello"), 1)
        self.assertGreater(value("summon_cold_start_seconds_sum",
                                 service="hello"), 0)
        self.assertEqual(value("summon_domain_create_seconds_count"), 1)
        self.assertEqual(value("summon_instances", state="ready"), 1)
        # The one host of a file without [host] sections.
        self.assertEqual(value("summon_host_up", host="default"), 1)
        self.assertEqual(value("summon_host_instances", host="default"), 1)
        self.assertGreater(value("summon_host_memory_bytes",
                                 host="default"), 0)
        self.assertGreaterEqual(value("summon_dns_queries_total",
                                      rcode="NOERROR"), 1)
        self.assertEqual(value("summon_proxy_held", service="hello"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
