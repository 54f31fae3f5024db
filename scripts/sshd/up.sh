#!/usr/bin/env bash
# Private OpenSSH servers that stand in for remote hosts in the remote-worker tests.
#
# Each "host" is its own sshd on its own loopback address, with its own host key and config,
# serving its own Unix user (home directory, authorized key, PATH). The system sshd is neither
# started nor changed, and nothing is written to the invoking user's ~/.ssh. Needs root (it
# creates the users) and /usr/sbin/sshd (scripts/test-env/install.sh installs it).
#
#   scripts/sshd/up.sh          start; idempotent (running servers are kept, users refreshed)
#   scripts/sshd/up.sh stop     stop the servers this script started (by their PID files)
#
# Environment:
#   TORC_SSHD_DIR   state directory (default /var/tmp/torc-test-sshd)
#   TORC_SSHD_PORT  port on every address (default 4022)
#   TORC_SSHD_TORC  the torc executable the hosts run (default <repo>/.venv/bin/torc)
#
# Hosts: alias, address, user, role
#   h1-h3  127.0.0.2-4  torc-ssh1-3  good: our key, the real torc first on PATH
#   h4     127.0.0.5    torc-ssh4    wrong-version: a stub torc of another version first on PATH
#   h5     127.0.0.6    torc-ssh5    refused-key: its authorized_keys holds another key only
#
# Afterwards `ssh -F $DIR/ssh_config h1 true` works, and $DIR/hosts.txt lists the hosts as
# "alias address port user role" lines.
set -euo pipefail

DIR="${TORC_SSHD_DIR:-/var/tmp/torc-test-sshd}"
PORT="${TORC_SSHD_PORT:-4022}"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TORC="${TORC_SSHD_TORC:-$REPO/.venv/bin/torc}"
ALIASES=(h1 h2 h3 h4 h5)
ROLES=(good good good wrong-version refused-key)

die() { echo "sshd/up.sh: $*" >&2; exit 1; }
address() { echo "127.0.0.$(($1 + 2))"; }
user() { echo "torc-ssh$(($1 + 1))"; }
pidfile() { echo "$DIR/hosts/${ALIASES[$1]}/sshd.pid"; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_all() {
  local i
  for i in "${!ALIASES[@]}"; do
    if alive "$(pidfile "$i")"; then kill "$(cat "$(pidfile "$i")")"; fi
    rm -f "$(pidfile "$i")"
  done
  echo "sshd/up.sh: stopped"
}

if [[ "${1:-start}" == stop ]]; then
  stop_all
  exit 0
fi
[[ "$(id -u)" -eq 0 ]] || die "needs root (it creates the hosts' Unix users)"
[[ -x /usr/sbin/sshd ]] || die "no /usr/sbin/sshd (run scripts/test-env/install.sh)"
command -v ssh >/dev/null || die "no ssh client (run scripts/test-env/install.sh)"
[[ -x "$TORC" ]] || die "no torc executable at $TORC (pip install -e . first, or set TORC_SSHD_TORC)"

install -d -m 0755 "$DIR" "$DIR/home"
install -d -m 0700 "$DIR/hosts"
install -d -m 0755 /run/sshd  # sshd's privilege-separation directory

# The client's key (ours) and another key that the refused-key host trusts instead.
for key in client_key other_key; do
  [[ -f "$DIR/$key" ]] || ssh-keygen -q -t ed25519 -N '' -C "torc-test-$key" -f "$DIR/$key"
done

ensure_user() {  # user home
  local user=$1 home=$2
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --home-dir "$home" --create-home --shell /bin/bash --user-group "$user"
  elif [[ "$(getent passwd "$user" | cut -d: -f6)" != "$home" ]]; then
    usermod --home "$home" "$user"
  fi
  # Without PAM, sshd refuses locked accounts ('!' password); '*' allows keys only.
  usermod --password '*' "$user"
  install -d -m 0750 -o "$user" -g "$user" "$home"
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh" "$home/bin"
}

# The hosts' users run the torc under test. Where its interpreter or venv is closed to other
# users (pyenv or a clone under /root, say), they get a readable mirror instead: the system's
# Python of the same version, hard links to the venv's packages and a copy of the code.
runnable_torc() {
  local probe_user=$1
  if runuser -u "$probe_user" -- "$TORC" --version >/dev/null 2>&1; then
    echo "$TORC"
    return
  fi
  local venv_python version packages python="" final="$DIR/install"
  venv_python="$(dirname "$TORC")/python"
  version="$("$venv_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  packages="$("$venv_python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  for candidate in "/usr/bin/python$version" "/usr/local/bin/python$version"; do
    if runuser -u "$probe_user" -- "$candidate" -c pass >/dev/null 2>&1; then
      python=$candidate
      break
    fi
  done
  [[ -n "$python" ]] || die "the hosts' users cannot run $TORC, and there is no system python$version to run a mirror of it"
  mkdir -p "$final/bin"
  # The packages are linked again only when the venv changed (deleting 9,000 links takes
  # seconds); the code is copied every time.
  local fingerprint
  fingerprint="$(find "$packages" -maxdepth 1 -printf '%f %T@\n' | sort | md5sum)"
  if [[ "$(cat "$final/site-packages.fingerprint" 2>/dev/null)" != "$fingerprint" ]]; then
    rm -rf "$final/site-packages"
    cp -al "$packages" "$final/site-packages" 2>/dev/null || cp -a "$packages" "$final/site-packages"
    echo "$fingerprint" > "$final/site-packages.fingerprint"
  fi
  rm -rf "$final/src.new"
  mkdir -p "$final/src.new"
  for package in app cli runner tui; do cp -a "$REPO/$package" "$final/src.new/"; done
  rm -rf "$final/src"
  mv "$final/src.new" "$final/src"
  "$python" -m compileall -q "$final/src" >/dev/null || true
  # -S: only the standard library and these packages (not the system's dist-packages).
  cat > "$final/bin/torc" <<SCRIPT
#!$python -S
import site
import sys

site.addsitedir("$final/site-packages")
sys.path.insert(0, "$final/src")
from cli.main import main

main()
SCRIPT
  chmod 0755 "$final/bin/torc"
  find "$final" -type d -exec chmod a+rx {} +
  runuser -u "$probe_user" -- "$final/bin/torc" --version >/dev/null \
    || die "the hosts' users cannot run torc, not even from the mirror in $final"
  echo "$final/bin/torc"
}

for i in "${!ALIASES[@]}"; do
  ensure_user "$(user "$i")" "$DIR/home/$(user "$i")"
done
REAL_TORC="$(runnable_torc "$(user 0)")"

configure_host() {  # index
  local i=$1 user home host_dir
  user="$(user "$i")"
  home="$DIR/home/$user"
  host_dir="$DIR/hosts/${ALIASES[$i]}"
  install -d -m 0700 "$host_dir"
  [[ -f "$host_dir/ssh_host_ed25519_key" ]] \
    || ssh-keygen -q -t ed25519 -N '' -f "$host_dir/ssh_host_ed25519_key"

  local trusted="$DIR/client_key.pub"
  [[ "${ROLES[$i]}" == refused-key ]] && trusted="$DIR/other_key.pub"
  install -m 0600 -o "$user" -g "$user" "$trusted" "$home/.ssh/authorized_keys"

  if [[ "${ROLES[$i]}" == wrong-version ]]; then
    cat > "$home/bin/torc" <<'STUB'
#!/bin/sh
# A torc of another version: the remote version check must refuse this host.
case "${1:-}" in --version | -V) echo "torc 0.0.1"; exit 0 ;; esac
echo "stub torc: runs nothing" >&2
exit 1
STUB
  else
    printf '#!/bin/sh\nexec %q "$@"\n' "$REAL_TORC" > "$home/bin/torc"
  fi
  chown "$user:$user" "$home/bin/torc"
  chmod 0755 "$home/bin/torc"

  cat > "$host_dir/sshd_config" <<CONFIG
# Private test sshd for ${ALIASES[$i]} (generated by scripts/sshd/up.sh)
ListenAddress $(address "$i"):${PORT}
HostKey ${host_dir}/ssh_host_ed25519_key
PidFile ${host_dir}/sshd.pid
AllowUsers ${user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
StrictModes yes
PrintMotd no
MaxStartups 50:30:100
SetEnv PATH=${home}/bin:/usr/local/bin:/usr/bin:/bin
Subsystem sftp /usr/lib/openssh/sftp-server
CONFIG
  /usr/sbin/sshd -t -f "$host_dir/sshd_config"
}

start_host() {  # index
  local i=$1 host_dir="$DIR/hosts/${ALIASES[$1]}"
  alive "$(pidfile "$i")" && return 0
  # sshd detaches and writes its PID file; -E keeps its log out of syslog.
  /usr/sbin/sshd -f "$host_dir/sshd_config" -E "$host_dir/sshd.log"
  for _ in $(seq 1 40); do
    alive "$(pidfile "$i")" && return 0
    sleep 0.1
  done
  tail -n 5 "$host_dir/sshd.log" >&2 || true
  die "sshd for ${ALIASES[$i]} ($(address "$i"):${PORT}) did not start"
}

{
  echo "# Client config for the test hosts (generated by scripts/sshd/up.sh)"
  for i in "${!ALIASES[@]}"; do
    printf 'Host %s\n    HostName %s\n    User %s\n' "${ALIASES[$i]}" "$(address "$i")" "$(user "$i")"
  done
  printf 'Host *\n    Port %s\n    IdentityFile %s\n    IdentitiesOnly yes\n' "$PORT" "$DIR/client_key"
  printf '    UserKnownHostsFile %s\n    LogLevel ERROR\n' "$DIR/known_hosts"
} > "$DIR/ssh_config"

: > "$DIR/hosts.txt.new"
for i in "${!ALIASES[@]}"; do
  configure_host "$i"
  start_host "$i"
  echo "${ALIASES[$i]} $(address "$i") $PORT $(user "$i") ${ROLES[$i]}" >> "$DIR/hosts.txt.new"
done
mv "$DIR/hosts.txt.new" "$DIR/hosts.txt"

# The good hosts must answer with the real torc (the stub and refused key are for the tests).
checks=()
for i in "${!ALIASES[@]}"; do
  [[ "${ROLES[$i]}" == good ]] || continue
  ssh -F "$DIR/ssh_config" -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
    "${ALIASES[$i]}" torc --version >/dev/null &
  checks+=("$!:${ALIASES[$i]}")
done
for check in "${checks[@]}"; do
  wait "${check%%:*}" \
    || die "${check#*:}: ssh or torc on it failed (see $DIR/hosts/${check#*:}/sshd.log)"
done
echo "sshd/up.sh: ${#ALIASES[@]} hosts up on 127.0.0.2-$(address $((${#ALIASES[@]} - 1))):${PORT} (torc: $REAL_TORC)"
