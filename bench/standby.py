#!/usr/bin/env python3
"""The standby budget through summond and libvirt, against its peers, in
one run (bench/standby.sh).

200 services of the reference image; wakes drawn from Zipf (s = 1.0)
over them, each a DNS query to summond and an HTTP request through the
proxy until the first byte, the service reaped after each wake (as if
its idle timeout had passed before the next); halfway, the hot set
moves (the services ranked anew).  Three configurations, each on a
fresh summond: no standby; standby = 1 on the ten services first in the
configuration; standby-budget = 10.  Prints, for each, the share of
wakes served by a standby (summonctl status "served") before and after
the shift (its first 100 wakes left out), p50/p99 DNS query to first
byte of all wakes and of those served warm, and the oracle: the share
an omniscient pool of ten standbys serves, and the share it would
serve if it too had to see a service woken once before keeping a
standby for it (what any policy that learns from wakes can reach).
CONFIGS="none static budget" (the default) or a subset.  PLOT=FILE.svg
draws the
share of the last 50 wakes served warm along the trace, for each
configuration, with the oracle's.  Runs inside the namespace of the
guests.  Not run by CI."""
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coldstart  # noqa: E402  (its DNS, HTTP and summonctl helpers)

WAKES = int(os.environ.get("WAKES", "150"))
NSVC = 200
BUDGET = 10
GAP_S = float(os.environ.get("GAP_S", "1.5"))   # between wakes
SKIP_AFTER = 100
SEED = 7
WINDOW = 50     # wakes in the plot's moving share

HEAD = """
[summond]
state = {dir}/state.db
control = {dir}/summond.sock
hypervisor = qemu:///system
templates = {top}/images/templates
serial-dir = {dir}/serial
on-exit = stop
max-instances = 64
{extra}
[dns]
listen = 127.0.0.1:{dns}
zone = sb.summon.
rate-limit = 0
[metrics]
listen =
[network]
name = summon-sb
bridge = smnsb0
gateway = 10.94.0.1/24
pool = 10.94.0.10-10.94.0.250
"""

SERVICE = """[service "s{i:03d}"]
kernel = {image}
address = 127.3.{hi}.{lo}
ports = 80
boot-timeout = 120s
{standby}
"""


CONFIGS = os.environ.get("CONFIGS", "none static budget").split()


def zipf_trace(n, seed):
    """The trace, and the BUDGET most likely services of each half."""
    rng = random.Random(seed)
    weights = [1.0 / (r + 1) for r in range(NSVC)]
    perm = list(range(NSVC))
    rng.shuffle(perm)
    hot = [set(perm[:BUDGET])]
    first = [perm[i] for i in rng.choices(range(NSVC), weights, k=n)]
    rng.shuffle(perm)
    hot.append(set(perm[:BUDGET]))
    second = [perm[i] for i in rng.choices(range(NSVC), weights, k=n)]
    return first + second, hot


def learned_oracle(trace, hot):
    """Warm shares, before and after the shift (counted as the runs
    count), of the omniscient pool that must first see a service woken:
    the bound of a policy that learns from wakes."""
    seen, warm, n = set(), [0, 0], [0, 0]
    for w, i in enumerate(trace):
        half = 1 if w >= WAKES else 0
        if not half or w >= WAKES + SKIP_AFTER:
            n[half] += 1
            warm[half] += i in hot[half] and i in seen
        seen.add(i)
    return [warm[h] / max(n[h], 1) for h in (0, 1)]


def run(name, extra, static_ten):
    d = tempfile.mkdtemp(prefix="summon-sb-")
    os.makedirs(os.path.join(d, "serial"))
    dns = 15354
    conf = HEAD.format(dir=d, top=coldstart.TOP, extra=extra, dns=dns)
    for i in range(NSVC):
        conf += SERVICE.format(i=i, image=coldstart.IMAGE, hi=i // 250,
                               lo=1 + i % 250,
                               standby="standby = 1" if static_ten and
                               i < 10 else "")
    path = os.path.join(d, "summond.conf")
    with open(path, "w") as f:
        f.write(conf)
    sock = os.path.join(d, "summond.sock")
    log = open(os.path.join(d, "summond.log"), "w")
    proc = subprocess.Popen([coldstart.SUMMOND, "-d", "-f", path],
                            stdout=log, stderr=subprocess.STDOUT)
    trace, _ = zipf_trace(WAKES, SEED)
    out = {"warm": [0, 0], "n": [0, 0], "all": [], "warmt": [],
           "trace": []}
    try:
        end = time.monotonic() + 60
        while not os.path.exists(sock) and time.monotonic() < end:
            time.sleep(0.05)
        coldstart.ctl(sock, "list")
        if static_ten:      # the static standbys made before the trace
            for i in range(10):
                coldstart.wait_state(sock, "s%03d" % i, ("standby",), 300)
        for w, i in enumerate(trace):
            svc = "s%03d" % i
            half = 1 if w >= WAKES else 0
            before = coldstart.ctl(sock, "status", svc)["served"]
            t0 = time.monotonic()
            addr = coldstart.dns_query(svc + ".sb.summon", dns)
            coldstart.first_byte(addr)
            ms = (time.monotonic() - t0) * 1000
            after = coldstart.ctl(sock, "status", svc)["served"]
            warm = after["standby"] > before["standby"]
            out["all"].append(ms)
            out["trace"].append(warm)
            if warm:
                out["warmt"].append(ms)
            if not half or w >= WAKES + SKIP_AFTER:
                out["n"][half] += 1
                out["warm"][half] += warm
            subprocess.run([coldstart.SUMMONCTL, "-s", sock, "reap", svc],
                           capture_output=True)
            time.sleep(GAP_S)
    finally:
        proc.send_signal(15)
        proc.wait(timeout=120)
        log.close()
        subprocess.run(["rm", "-rf", d])
        for cmd in ("net-destroy", "net-undefine"):   # summond made it
            subprocess.run(["virsh", "-c", "qemu:///system", cmd,
                            "summon-sb"], capture_output=True)
    return out


def pct_or_nan(xs, p):
    return coldstart.pct(xs, p) if xs else float("nan")


def plot_svg(path, rows, oracle):
    """The share of the last WINDOW wakes served warm, along the trace."""
    w, h, left, bottom = 640, 320, 48, 36
    n = max(len(r["trace"]) for r in rows.values())
    colours = ("#888888", "#1f77b4", "#d62728")

    def xy(i, share):
        return (left + (w - left - 10) * i / max(n - 1, 1),
                h - bottom - (h - bottom - 10) * share)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>']
    for share in (0, 0.25, 0.5, 0.75, 1):
        _, y = xy(0, share)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" '
                   'stroke="#ddd"/>' % (left, y, w - 10, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d %%</text>' %
                   (left - 4, y + 4, 100 * share))
    xs, _ = xy(n // 2, 0)
    out.append('<line x1="%.1f" y1="10" x2="%.1f" y2="%d" stroke="#000" '
               'stroke-dasharray="4 3"/>' % (xs, xs, h - bottom))
    out.append('<text x="%.1f" y="22" text-anchor="middle">hot set moves'
               '</text>' % xs)
    _, yo = xy(0, oracle)
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#2ca02c" '
               'stroke-dasharray="2 2"/>' % (left, yo, w - 10, yo))
    for k, (name, r) in enumerate(rows.items()):
        t = r["trace"]
        pts = []
        for i in range(len(t)):
            lo = max(0, i - WINDOW + 1)
            pts.append("%.1f,%.1f" % xy(i, sum(t[lo:i + 1]) / (i + 1 - lo)))
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" '
                   'points="%s"/>' % (colours[k % 3], " ".join(pts)))
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (
            left + 8 + 170 * k, h - 6, colours[k % 3], name))
    out.append('<text x="%d" y="%d" fill="#2ca02c">oracle</text>' %
               (left + 8 + 170 * len(rows), h - 6))
    out.append('<text x="%d" y="%d" text-anchor="middle">wake (share of the '
               'last %d served warm)</text>' % ((w + left) // 2, h - 20,
                                                 WINDOW))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    weights = [1.0 / (r + 1) for r in range(NSVC)]
    oracle = sum(weights[:BUDGET]) / sum(weights)
    print("%d services, Zipf 1.0, %d wakes, then the hot set moves and %d "
          "more (the first %d after it not counted); reaped after each "
          "wake, %.1f s apart; %s" % (NSVC, WAKES, WAKES, SKIP_AFTER, GAP_S,
                                       "KVM" if coldstart.KVM else "TCG"))
    print("oracle (the %d most likely, known): %.1f %% warm" %
          (BUDGET, 100 * oracle))
    learned = learned_oracle(*zipf_trace(WAKES, SEED))
    print("oracle that must see a service woken first, on this trace: "
          "%.1f %% before, %.1f %% after\n" % (100 * learned[0],
                                                100 * learned[1]))
    print("%-26s %8s %8s %9s %9s %10s %10s" % (
        "", "warm", "warm", "p50 ms", "p99 ms", "warm p50", "warm p99"))
    print("%-26s %8s %8s %9s %9s %10s %10s" % (
        "", "before", "after", "all", "all", "ms", "ms"))
    rows = {}
    for key, name, extra, static_ten in (
            ("none", "no standby", "", False),
            ("static", "standby = 1 on ten", "", True),
            ("budget", "standby-budget = 10", "standby-budget = %d" % BUDGET,
             False)):
        if key not in CONFIGS:
            continue
        r = run(name, extra, static_ten)
        rows[name] = r
        print("%-26s %7.1f%% %7.1f%% %9.1f %9.1f %10.1f %10.1f" % (
            name, 100.0 * r["warm"][0] / max(r["n"][0], 1),
            100.0 * r["warm"][1] / max(r["n"][1], 1),
            pct_or_nan(r["all"], 50), pct_or_nan(r["all"], 99),
            pct_or_nan(r["warmt"], 50), pct_or_nan(r["warmt"], 99)))
        sys.stdout.flush()
    b = rows.get("standby-budget = 10")
    s = rows.get("standby = 1 on ten")
    if b:
        print("\nbudget x oracle: %.2f before, %.2f after (target >= 0.9)"
              % (b["warm"][0] / max(b["n"][0], 1) / oracle,
                 b["warm"][1] / max(b["n"][1], 1) / oracle))
        print("budget x oracle that must see a wake first: %.2f before, "
              "%.2f after" % (b["warm"][0] / max(b["n"][0], 1) / learned[0],
                              b["warm"][1] / max(b["n"][1], 1) / learned[1]))
    if b and s and b["warmt"] and s["warmt"]:
        print("warm p50, budget / configured standby: %.2f (target <= 1.2)"
              % (pct_or_nan(b["warmt"], 50) / pct_or_nan(s["warmt"], 50)))
    if os.environ.get("PLOT"):
        plot_svg(os.environ["PLOT"], rows, oracle)
        print("plot: %s" % os.environ["PLOT"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
