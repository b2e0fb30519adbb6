#!/bin/bash
# tests/systemd/inside.sh OUT - the checks of summond.service, from inside
# the container tests/systemd/unit.sh boots (as summon-check.service,
# root): TAP lines to OUT and the console, then the container powers off.
set -u
out=$1
# CONF (summond.conf) and PATH (where summonctl is), from unit.sh.
. "$(dirname "$out")/env"
export PATH
: >"$out"
n=0

emit() { echo "$*" | tee -a "$out"; }
pass() { n=$((n + 1)); emit "ok $n - $*"; }
fail() { n=$((n + 1)); emit "not ok $n - $*"; }
# check DESC CMD...: one test point, CMD's output shown when it fails.
check() {
	local desc=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		pass "$desc"
	else
		fail "$desc"
		sed 's/^/#   /' /tmp/check.out | tee -a "$out"
	fi
}
note() { emit "# $*"; }
prop() { systemctl show -P "$1" summond.service; }
# until SECONDS CMD...: CMD succeeds within SECONDS.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	"$@"
}
as() { local user=$1; shift; runuser -u "$user" -- "$@"; }
state_is() { as alice summonctl status "$1" | grep -q "state *$2"; }
journal_has() { journalctl -q -u summond.service --no-pager -g "$1"; }
# boot SERVICE: alice boots it; summonctl's answer, and on failure the
# service's events and the journal of summond and libvirtd.
boot() {
	local said
	said=$(runuser -u alice -- summonctl -t 180 boot "$1" 2>&1)
	echo "$said"
	if ! echo "$said" | grep -q "^$1: ready in"; then
		runuser -u alice -- summonctl events "$1"
		journalctl -q -u summond.service -u libvirtd.service \
		    -u virtlogd.service --no-pager | tail -n 30
		return 1
	fi
}

finish() {
	emit "1..$n"
	systemctl poweroff --no-block
	exit 0
}
trap finish EXIT

note "systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')" \
    "as PID 1: $(cat /proc/1/comm)"

# Type=notify: active means systemd had READY=1 (it would stay
# "activating" until TimeoutStartSec otherwise).
check "summond.service is active" until_ok 60 \
    test "$(prop ActiveState)/$(prop SubState)" = active/running
check "Type=notify, and READY=1 came (active)" \
    test "$(prop Type)" = notify
check "STATUS= is summond's ($(prop StatusText))" \
    test "$(prop StatusText)" = "2 services"
check "the unit runs as user summon, group summon, with group libvirt" \
    sh -c "ps -o user=,group=,supgrp= -p $(prop MainPID) |
	grep -Eq '^summon +summon +(.*,)?libvirt(,|\$)'"

# The package's snippets: sysusers.d applied at install, tmpfiles.d read
# by the boot's systemd-tmpfiles-setup.
check "user summon, home /var/lib/summon, in group libvirt" \
    sh -c "getent passwd summon | cut -d: -f6 | grep -qx /var/lib/summon &&
	id -nG summon | grep -qw libvirt"
check "the tmpfiles.d snippet is systemd's" \
    sh -c "systemd-tmpfiles --cat-config |
	grep -Eq '^d +/var/log/summon +0750 +summon +summon'"

# The watchdog: 3 s with the test's drop-in; summond pings every 1.5 s.
pid=$(prop MainPID)
check "WatchdogSec is 3 s" test "$(prop WatchdogUSec)" = 3s
sleep 10
check "alive after 10 s, three watchdog periods (pings keep it)" \
    test "$(prop MainPID)/$(prop NRestarts)/$(prop ActiveState)" \
    = "$pid/0/active"

# The journal: summond writes it natively (src/log/log.c), with its
# fields, not as lines on stderr.
check "journal: summond's entries come over the native protocol" \
    sh -c "journalctl -u summond.service -o json --no-pager |
	grep '\"_TRANSPORT\":\"journal\"' | grep '\"SYSLOG_IDENTIFIER\":\"summond\"' |
	grep '\"PRIORITY\":\"6\"' | grep -q '\"MESSAGE\":\"summond ready: 2 services'"
check "journal: _SYSTEMD_UNIT=summond.service on them" \
    sh -c "journalctl -u summond.service -o json --no-pager |
	grep '\"_TRANSPORT\":\"journal\"' | grep -q '\"_SYSTEMD_UNIT\":\"summond.service\"'"

# Users: alice is in group summon, bob is not.
useradd -m -G summon alice
useradd -m bob
check "alice (group summon) runs summonctl list" \
    sh -c "runuser -u alice -- summonctl list | grep -q '^hello '"
check "bob (not in group summon) cannot reach the control socket" \
    sh -c "! runuser -u bob -- summonctl list"

# libvirt from inside the unit's sandbox: a boot is a create through
# qemu:///system's socket, as user summon with group libvirt.
check "alice boots hello through libvirt (ready = tcp:80)" boot hello
check "the proxy relays to the guest" \
    sh -c "curl -sS -m 30 http://127.0.0.2:8080/healthz | grep -qx ok"
check "ready = serial:TEXT works as user summon" boot serial
for f in /var/log/summon/*.log; do
	note "serial log $f: $(stat -c '%U:%G %a' "$f")"
done
check "alice reaps both" \
    sh -c "runuser -u alice -- summonctl reap hello serial | grep -c stopping | grep -qx 2"
check "both stopped" until_ok 60 \
    sh -c "runuser -u alice -- summonctl list | grep -Ec ' stopped ' | grep -qx 2"

# systemctl reload: ExecReload checks the file, then SIGHUP.
cp "$CONF" /tmp/summond.conf.good
cat >>"$CONF" <<EOT

[service "added"]
kernel = $(sed -n 's/^kernel = //p' /tmp/summond.conf.good | head -n 1)
address = 127.0.0.4
ports = 8080:80
EOT
check "systemctl reload summond" systemctl reload summond.service
check "the reload took: a service added, same process" \
    sh -c "runuser -u alice -- summonctl list | grep -q '^added ' &&
	test \"\$(systemctl show -P MainPID summond.service)\" = $pid"
echo "this is not a key" >>"$CONF"
check "systemctl reload fails on a bad file" \
    sh -c "! systemctl reload summond.service"
check "and summond runs on with the configuration it had" \
    sh -c "test \"\$(systemctl show -P ActiveState summond.service)\" = active &&
	runuser -u alice -- summonctl list | grep -q '^added '"
cp /tmp/summond.conf.good "$CONF"

# A stopped loop: no more pings, systemd's watchdog ends it and
# Restart=on-failure starts it again.  SIGABRT, the watchdog's signal,
# waits while the process is stopped: continue it once the timeout is
# logged.
kill -STOP "$pid"
check "watchdog timeout logged" until_ok 20 journal_has "Watchdog timeout"
kill -CONT "$pid"
check "restarted by systemd: a new process, active again" until_ok 60 \
    sh -c "test \"\$(systemctl show -P MainPID summond.service)\" != $pid &&
	test \"\$(systemctl show -P ActiveState summond.service)\" = active"
check "NRestarts is 1" test "$(prop NRestarts)" = 1
check "summonctl works after the restart" \
    sh -c "runuser -u alice -- summonctl list | grep -q '^hello '"

check "systemctl stop: a clean stop" \
    sh -c "systemctl stop summond.service &&
	test \"\$(systemctl show -P Result summond.service)\" = success"
