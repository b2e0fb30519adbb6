#!/bin/sh
# bench/plot_coldstart.sh [RUNS] - run bench/coldstart.sh and draw the
# distribution of each variant (sorted runs, log scale) into
# docs/coldstart.png with gnuplot.  CSV=file draws the runs of an
# earlier `CSV=file bench/coldstart.sh` instead of running it again.
set -eu
cd "$(dirname "$0")/.."
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
if [ -n "${CSV:-}" ]; then
	csv=$(mktemp /tmp/coldstart.XXXXXX.csv)
	cp "$CSV" "$csv"
else
	csv=$(mktemp /tmp/coldstart.XXXXXX.csv)
	RUNS=${1:-20} CSV=$csv ./bench/coldstart.sh
fi
for v in cold warm booted susp raw; do
	grep "^$v," "$csv" | cut -d, -f3 | sort -g | awk '{print NR, $1}' \
	    > "$csv.$v"
done
accel=$([ "$(./scripts/accel)" = kvm ] && echo KVM || echo "TCG, no usable KVM")
gnuplot <<EOT
set terminal pngcairo size 900,540 font "sans,11"
set output "docs/coldstart.png"
set title "summon cold start, DNS query to first HTTP byte ($accel)"
set xlabel "run (sorted)"
set ylabel "milliseconds (log scale)"
set logscale y
set grid ytics mytics
set key top left box opaque
set yrange [5:5000]
plot "$csv.cold" using 1:2 with linespoints title "no standby (create)", \
     "$csv.warm" using 1:2 with linespoints title "standby = 1 (resume)", \
     "$csv.booted" using 1:2 with linespoints title "standby-booted (resume)", \
     "$csv.susp" using 1:2 with linespoints title "stop-mode = suspend", \
     "$csv.raw"  using 1:2 with linespoints title "raw QEMU exec to ready line"
EOT
rm -f "$csv" "$csv".*
echo "wrote docs/coldstart.png"
