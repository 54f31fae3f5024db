#!/bin/bash
# A real systemd user manager for the service tests (tests/test_administration.py), on a
# machine that was not booted with systemd (a container, a CI runner).
#
# systemd refuses to run unless /run/systemd/system exists, which is how programs tell that
# systemd booted the machine. This script creates it on a tmpfs mounted in a private mount
# namespace, so nothing outside sees it, then runs `systemd --user` in the foreground.
# `systemctl --user` reaches the manager through $XDG_RUNTIME_DIR/systemd/private.
#
# Environment: HOME (units are read from $HOME/.config/systemd/user) and XDG_RUNTIME_DIR (a
# private directory, mode 700). Needs root for the mount namespace. Stop it with SIGTERM:
# it stops its units and exits.
set -euo pipefail

if [ "${1:-}" != "--inside" ]; then
    : "${HOME:?HOME must name the home directory of the manager}"
    : "${XDG_RUNTIME_DIR:?XDG_RUNTIME_DIR must name a private runtime directory}"
    exec unshare --mount --propagation private bash "$0" --inside
fi

[ -d /run/systemd ] || mkdir -p /run/systemd
mount -t tmpfs torc-test-systemd /run/systemd
mkdir -p /run/systemd/system
unset DBUS_SESSION_BUS_ADDRESS
for manager in /usr/lib/systemd/systemd /lib/systemd/systemd; do
    if [ -x "$manager" ]; then
        exec "$manager" --user
    fi
done
echo "systemd is not installed (scripts/test-env/packages.d/auth.txt)" >&2
exit 127
