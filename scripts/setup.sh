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
)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
