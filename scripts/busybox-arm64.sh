#!/usr/bin/env bash
# Provide an aarch64 static busybox at /usr/local/lib/relorch/busybox-arm64 (as root), for
# the example's arm64 image (examples/hello/build.sh): Debian's busybox-static for arm64,
# downloaded with apt (no emulator, no cross toolchain). The sandbox's droplets read this
# machine's files, so they find it there. Quick when it is there already.
#
# apt only downloads a package of an architecture dpkg knows, so arm64 is added for the
# download and removed again afterwards, whatever happens, with apt's lists refreshed, so
# this machine's apt stays amd64-only.
set -euo pipefail

TARGET=/usr/local/lib/relorch/busybox-arm64

# The ELF header of a 64-bit little-endian aarch64 executable: class 2, data 1 (bytes
# 4 and 5), machine 183 (0xb7, bytes 18 and 19).
is_aarch64() {
  [ -f "$1" ] && [ "$(od -An -tx1 -j4 -N2 "$1" | tr -d ' ')" = 0201 ] &&
    [ "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' ')" = b700 ]
}

if is_aarch64 "$TARGET" && [ -x "$TARGET" ]; then
  exit 0
fi

work=$(mktemp -d)
added=
cleanup() {
  rm -rf "$work"
  if [ -n "$added" ]; then
    dpkg --remove-architecture arm64
    apt-get update -qq
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  added=1
fi
apt-get update -qq
# apt downloads as its _apt user, into a directory only it (and root) may write.
chmod 755 "$work" && mkdir -m 700 "$work/download"
if id _apt >/dev/null 2>&1; then chown _apt "$work/download"; fi
(cd "$work/download" && apt-get download -qq busybox-static:arm64)
dpkg-deb -x "$work"/download/busybox-static_*_arm64.deb "$work/root"
if ! is_aarch64 "$work/root/bin/busybox"; then
  echo "busybox-static:arm64 holds no aarch64 /bin/busybox" >&2
  exit 1
fi
install -D -m 755 "$work/root/bin/busybox" "$TARGET"
echo "aarch64 static busybox: $TARGET"
