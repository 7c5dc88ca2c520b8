#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine (as root) to run the orchestrator and its tests:
# system packages, then a virtual environment in .venv with the project installed.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
  python3 python3-venv python3-dev git ca-certificates
  openssh-server openssh-client util-linux iproute2 procps
  gnupg rpm dpkg-dev xz-utils
  # Real clients that verify published repositories, and a browser for rendered pages.
  dnf zypper chromium
  # The sandbox's deploy servers: a Debian root per server, booted with systemd as PID 1.
  mmdebstrap systemd-container
  # Container images: the docker CLI the sandbox's droplets build with (the engine runs in
  # a sandbox server, never on this machine), the registry, its htpasswd, a static busybox.
  docker.io docker-registry apache2-utils busybox-static
  # The tools benchmarks/repo_index.py and benchmarks/publish.py measure this tool against
  # (the suite runs every benchmark at its smallest size), and GNU time, which measures them.
  apt-utils reprepro aptly createrepo-c time
)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  # Installing docker.io and docker-registry must not start their daemons here: Docker's
  # default bridge would take 172.17.0.0/16, and the sandbox runs its own registry. A
  # policy-rc.d that says no holds for the install; should the engine ever start (a
  # reboot), it makes no bridge and no iptables rules.
  guard=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  if [ ! -e /etc/docker/daemon.json ]; then
    mkdir -p /etc/docker
    printf '{"bridge": "none", "iptables": false, "ip6tables": false}\n' > /etc/docker/daemon.json
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# The example's arm64 image needs an aarch64 static busybox (none is installed above).
bash scripts/busybox-arm64.sh
# Each sandbox server's systemd takes about 8 inotify instances; the kernel's default of 128
# per user stops the 17th. Raised here and kept across reboots.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then
  echo "fs.inotify.max_user_instances = 1024" > /etc/sysctl.d/60-relorch-sandbox.conf
  sysctl -q -w fs.inotify.max_user_instances=1024
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# pip compiles the bytecode of what it installs, but not of an editable project; with
# PYTHONDONTWRITEBYTECODE set, every invoke would compile the sources again (~50 ms).
.venv/bin/python -m compileall -q orchestrator
echo "setup done: .venv/bin/invoke --list shows the tasks"
