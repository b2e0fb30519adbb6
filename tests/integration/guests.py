"""Helpers for tests that boot the reference image through libvirt:
where the namespace is, how to run a client next to the guests, and how
to leave no domain or network behind."""
import os
import subprocess

from summon_test import BUILD, SRCDIR

SETUP_ENV = os.environ.get("SUMMON_ENV", "/run/summon-setup.env")
IMAGE = os.path.join(BUILD, "images", "hello.elf")
TEMPLATES = os.path.join(SRCDIR, "images", "templates")
URI = "qemu:///system"


def netns():
    """The namespace scripts/setup put libvirtd in ("" for none)."""
    try:
        with open(SETUP_ENV) as f:
            for line in f:
                if line.startswith("SUMMON_NETNS="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def setup_pids():
    """PIDs of the virtlogd/libvirtd scripts/setup started, if any."""
    try:
        with open(SETUP_ENV) as f:
            for line in f:
                if line.startswith("SUMMON_SETUP_PIDS="):
                    return line.split("=", 1)[1].strip().strip('"').split()
    except OSError:
        pass
    return []


def restart_libvirtd():
    """Kill the libvirtd scripts/setup started and start it again."""
    import signal
    import time
    p = subprocess.run(["pidof", "libvirtd"], capture_output=True,
                       text=True)
    for pid in p.stdout.split():
        os.kill(int(pid), signal.SIGTERM)
    for _ in range(100):
        if subprocess.run(["pidof", "libvirtd"],
                          capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    time.sleep(1)
    subprocess.run([os.path.join(SRCDIR, "scripts", "setup")], check=True,
                   capture_output=True, timeout=180)


def in_ns(cmd):
    """cmd (a list) to run where the guests are reachable."""
    ns = netns()
    return (["ip", "netns", "exec", ns] if ns else []) + list(cmd)


def libvirt_ready():
    try:
        return subprocess.run(["virsh", "-c", URI, "uri"],
                              capture_output=True, timeout=10
                              ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def virsh(*args, check=False):
    return subprocess.run(["virsh", "-c", URI] + list(args),
                          capture_output=True, text=True, timeout=60,
                          check=check)


def domains(prefix):
    """Names of running or defined domains starting with prefix."""
    p = virsh("list", "--all", "--name")
    return [d for d in p.stdout.split() if d.startswith(prefix)]


def cleanup(prefix, network=None):
    """Destroy and undefine our domains; remove our network."""
    for d in domains(prefix):
        virsh("destroy", d)
        virsh("undefine", d, "--managed-save")
    if network:
        virsh("net-destroy", network)
        virsh("net-undefine", network)


def qemu_pid(domain):
    """The PID of the QEMU process running domain, or None."""
    p = subprocess.run(["pgrep", "-f", "guest=" + domain + ","],
                       capture_output=True, text=True)
    pids = p.stdout.split()
    return int(pids[0]) if pids else None
