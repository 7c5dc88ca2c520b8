#!/bin/sh
# Build the hello package: ./build.sh FORMAT ARCH VERSION
#   FORMAT  deb or rpm; or image, which prepares the container image's build context in
#           image/ (the orchestrator then runs docker build with the Dockerfile); or
#           python, the Python distribution (wheel and sdist) with VERSION in PEP 440 form
#   ARCH    amd64 or arm64 (nfpm maps them to x86_64/aarch64 for rpm)
#   VERSION the package version, e.g. 1.2.3 or 1.3.0~rc.1
# The packages land in dist/. nfpm builds for any architecture without a cross toolchain.
# A file HEALTH containing "fail" bakes a service whose health check fails (a bad release);
# "slow", one that takes 30 seconds to start answering (a slow start).
set -eu
format=$1 arch=$2 version=$3
case $format in deb|rpm|image|python) ;; *) echo "unknown format: $format" >&2; exit 2 ;; esac
case $arch in amd64|arm64) ;; *) echo "unknown arch: $arch" >&2; exit 2 ;; esac
mkdir -p build dist
health=ok
if [ -f HEALTH ]; then
  case "$(cat HEALTH)" in fail|slow) health=$(cat HEALTH) ;; esac
fi
if [ "$format" = python ]; then
  # Built offline with the host's setuptools (no isolated environment to download).
  rm -rf build/python && cp -r python build/python
  sed -i "s/\"0\.0\.0\"/\"$version\"/" build/python/pyproject.toml build/python/hello/__init__.py
  python3 -m build --no-isolation --outdir dist build/python
  exit 0
fi
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" hello > build/hello
sed -e "s/@VERSION@/$version/" -e "s/@HEALTH@/$health/" hello-server > build/hello-server
if [ "$format" = image ]; then
  # An image FROM scratch: a static busybox of ARCH serves /health, offline. Nothing runs
  # at build time, so docker build --platform linux/ARCH needs no emulator: amd64 takes
  # the host's busybox (Debian's busybox-static), arm64 the aarch64 one
  # scripts/busybox-arm64.sh puts on the machine.
  case $arch in
    amd64) busybox=$(command -v busybox || true) machine=3e00 ;;
    arm64) busybox=/usr/local/lib/relorch/busybox-arm64 machine=b700 ;;
  esac
  # The ELF header's machine field (bytes 18-19): x86-64 0x3e, aarch64 0xb7.
  if [ ! -f "$busybox" ] || [ "$(od -An -tx1 -j18 -N2 "$busybox" | tr -d ' ')" != "$machine" ]; then
    echo "no static busybox for $arch (${busybox:-none found}): run scripts/setup.sh" >&2
    exit 1
  fi
  mkdir -p image/www
  cp "$busybox" image/busybox
  if [ "$health" != fail ]; then echo "hello $version" > image/www/health; fi
  exit 0
fi
NFPM_ARCH=$arch NFPM_VERSION=$version nfpm package --config nfpm.yaml --packager "$format" --target dist/
