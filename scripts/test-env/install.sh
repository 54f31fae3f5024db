#!/usr/bin/env bash
# Installs the system packages the test suite's real components need (Slurm, sshd, tmux,
# Chromium, ...). Each component lists its Debian packages in packages.d/<component>.txt, one
# per line, '#' comments allowed. Idempotent: packages already present are not fetched again.
# Without root or apt-get it installs nothing and says so; the tests of those components then
# skip with their reason (or fail, under CI=true).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t wanted < <(cat "$here"/packages.d/*.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
if [ "${#wanted[@]}" -eq 0 ]; then
    exit 0
fi
missing=()
for package in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "test-env: all ${#wanted[@]} system packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-env: not root or no apt-get; not installing: ${missing[*]}" >&2
    exit 0
fi
# Packages' maintainer scripts must not start system services (we start our own copies).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
echo "test-env: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test-env: installed ${#missing[@]} packages"
