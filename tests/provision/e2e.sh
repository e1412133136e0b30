#!/usr/bin/env bash
# End-to-end test of playbooks/site.yml on a throwaway Debian 12 "VPS".
#
# A debootstrapped Debian 12 root file system (cached between runs) boots with systemd as PID 1
# under systemd-nspawn, sharing this machine's network, with sshd on a free loopback port. The
# real playbook then runs over SSH as a sudo user, as it would against a VPS:
#   --check on the fresh host; a converge that stops until the generated deploy key is
#   registered; the converge; a second run with changed=0; --check --diff with no drift;
#   the clients alive under pm2, after their process is killed, after the pm2 daemon is
#   killed, and after a reboot; the switch to a copied (vaulted) deploy key; and --check of
#   the Ubuntu-only paths. The git host is the target's own sshd serving a read-only bare copy
#   of this working tree; CPython is built from Debian's python3.11 source tarball (apt-get
#   source), served on loopback through the role's URL and checksum variables.
#
# Needs root, debootstrap, systemd-nspawn (systemd-container) and ansible-playbook on PATH
# (`make test-provision` provides the last). Every process it starts is stopped on exit, failure
# included: by PID (the SSH control masters through their sockets); the container's mounts live
# in its own mount namespace, and any left below the work directory are unmounted.
#
# Settings (environment):
#   BT_PROVISION_CACHE     cache of the root file system, the source tarball, apt's downloads
#                          and ccache (default /var/cache/backtestester-provision)
#   BT_PROVISION_OPTIMIZE  true builds CPython with --enable-optimizations (default false: the
#                          PGO build takes tens of minutes on 2 cores)
#   BT_PROVISION_KEEP      1 keeps the work directory (logs, root file system) for debugging
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${BT_PROVISION_CACHE:-/var/cache/backtestester-provision}
OPTIMIZE=${BT_PROVISION_OPTIMIZE:-false}
KEEP=${BT_PROVISION_KEEP:-0}
SUITE=bookworm
# Bump to rebuild the cached root file system.
ROOTFS_LAYOUT=1
ROOTFS_INCLUDE=systemd,systemd-sysv,dbus,openssh-server,sudo,python3,ca-certificates,iproute2,procps
HOSTNAME_E2E=bt-e2e
APP_USER=backtestester

PASSED=0
FAILED=0
NSPAWN_PID=""
HTTP_PID=""
GATEWAY_PID=""
CHILD_PID=""
WORK=""
START=$SECONDS

log() { printf '[e2e %s +%ss] %s\n' "$(date +%T)" "$((SECONDS - START))" "$*"; }
die() { log "ERROR: $*"; exit 1; }
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; exit 1; }

# run COMMAND...: run a long command in the background and wait for it, so that a signal to
# this script is handled at once (bash defers traps while a foreground command runs) and the
# cleanup can stop the command by its PID.
run() {
    local rc=0
    "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return $rc
}

# poll TIMEOUT WHAT COMMAND...: run COMMAND until it succeeds, for at most TIMEOUT seconds.
poll() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------------------------
# Cleanup: the container, the HTTP server and the SSH control masters, by PID or socket.

stop_container() {
    [ -n "$NSPAWN_PID" ] || return 0
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
        # SIGTERM asks the container's systemd for an orderly poweroff.
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true
        if ! poll 60 "the container to power off" container_gone; then
            kill -KILL "$NSPAWN_PID" 2>/dev/null || true
        fi
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID=""
}

container_gone() { ! kill -0 "$NSPAWN_PID" 2>/dev/null; }

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$CHILD_PID" ]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    stop_container
    if [ -n "$HTTP_PID" ]; then
        kill -TERM "$HTTP_PID" 2>/dev/null
        wait "$HTTP_PID" 2>/dev/null
    fi
    if [ -n "$GATEWAY_PID" ]; then
        kill -TERM "$GATEWAY_PID" 2>/dev/null
        wait "$GATEWAY_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ]; then
        local socket mount
        for socket in "$WORK"/cp/*; do
            [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit "$HOSTNAME_E2E" >/dev/null 2>&1
        done
        # nspawn's mounts live in its own namespace; make sure none leaked into ours.
        findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r mount; do
            umount -l "$mount"
        done
        if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
            log "work directory kept: $WORK"
            [ "$KEEP" = 1 ] || rm -rf --one-file-system "$WORK/rootfs"
        else
            rm -rf --one-file-system "$WORK"
        fi
    fi
    [ "$rc" -eq 0 ] || FAILED=$((FAILED > 0 ? FAILED : 1))
    log "finished in $((SECONDS - START))s"
    echo "provision: $PASSED passed, $FAILED failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Preconditions.

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and systemd-nspawn need it)"
for tool in debootstrap systemd-nspawn ssh ssh-keygen git ansible-playbook ansible-vault python3 flock findmnt; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install debootstrap systemd-container; make test-provision installs ansible)"
done

mkdir -p "$CACHE" "$CACHE/apt-archives/partial" "$CACHE/ccache"
WORK=$(mktemp -d /var/tmp/backtestester-e2e.XXXXXX)
mkdir -p "$WORK/cp" "$WORK/inventory/group_vars/clients" "$WORK/http" "$WORK/logs" "$WORK/ansible-tmp"
log "work directory $WORK, cache $CACHE"

# ---------------------------------------------------------------------------------------------
# The cache: a debootstrapped Debian 12 and the CPython source tarball.

# The Debian mirror this machine's apt uses, read from its sources at run time.
MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Identifier: Packages' 2>/dev/null |
    awk -v suite="$SUITE" '$2 == suite { print $1; exit }')
[ -n "$MIRROR" ] || die "no '$SUITE' Packages index in apt's lists (run apt-get update on a Debian 12 host)"
log "apt mirror (from this machine's sources): $MIRROR"

exec 9>"$CACHE/lock"
flock -w 1800 9 || die "another run holds $CACHE/lock"

ROOTFS_KEY=$(printf '%s\n' "$SUITE" minbase "$ROOTFS_INCLUDE" "$ROOTFS_LAYOUT" | sha256sum | cut -c1-16)
ROOTFS="$CACHE/rootfs-$SUITE-$ROOTFS_KEY"
if [ ! -e "$ROOTFS/.e2e-complete" ]; then
    log "building the $SUITE root file system (once per machine)"
    rm -rf --one-file-system "$ROOTFS.tmp"
    run debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" "$SUITE" "$ROOTFS.tmp" "$MIRROR" \
        >"$WORK/logs/debootstrap.log" 2>&1 || { tail -20 "$WORK/logs/debootstrap.log"; die "debootstrap failed"; }
    # A fresh VPS image: no host keys or machine id yet, no downloaded packages.
    rm -f "$ROOTFS.tmp"/etc/ssh/ssh_host_*
    : >"$ROOTFS.tmp/etc/machine-id"
    rm -f "$ROOTFS.tmp"/var/cache/apt/archives/*.deb
    touch "$ROOTFS.tmp/.e2e-complete"
    for old in "$CACHE"/rootfs-*; do
        [ "$old" = "$ROOTFS.tmp" ] || rm -rf --one-file-system "$old"
    done
    mv "$ROOTFS.tmp" "$ROOTFS"
fi
log "root file system: $ROOTFS"

# Debian's own CPython source (byte-identical to the upstream release tarball), via a deb-src
# entry for the configured mirror in a private apt state: the machine's apt is left untouched.
SRC="$CACHE/src"
mkdir -p "$SRC"
TARBALL=$(find "$SRC" -maxdepth 1 -name 'python3.11_*.orig.tar.*' | head -1)
if [ -z "$TARBALL" ]; then
    log "downloading Debian's python3.11 source package"
    APTSRC="$WORK/apt-src"
    mkdir -p "$APTSRC/lists/partial" "$APTSRC/cache/archives/partial"
    echo "deb-src $MIRROR $SUITE main" >"$APTSRC/sources.list"
    APTOPTS=(-o "Dir::Etc::SourceList=$APTSRC/sources.list" -o "Dir::Etc::SourceParts=$APTSRC/none"
        -o "Dir::State::Lists=$APTSRC/lists" -o "Dir::Cache=$APTSRC/cache" -o "APT::Sandbox::User=root")
    apt-get "${APTOPTS[@]}" -q update >"$WORK/logs/apt-src.log" 2>&1 || die "apt-get update (deb-src) failed"
    (cd "$SRC" && apt-get "${APTOPTS[@]}" -q source --download-only python3.11) >>"$WORK/logs/apt-src.log" 2>&1 ||
        die "apt-get source python3.11 failed"
    TARBALL=$(find "$SRC" -maxdepth 1 -name 'python3.11_*.orig.tar.*' | head -1)
fi
[ -n "$TARBALL" ] || die "no python3.11 orig tarball in $SRC"
PY_SHA256=$(sha256sum "$TARBALL" | cut -d' ' -f1)
# The checksum apt verified, from the signed source index (.dsc).
grep -q "^ $PY_SHA256 [0-9]* $(basename "$TARBALL")\$" "$SRC"/python3.11_*.dsc ||
    die "$TARBALL does not match its .dsc checksum"
PY_VERSION=$(basename "$TARBALL" | sed -E 's/^python3\.11_([0-9.]+)\.orig\..*/\1/')
log "CPython source: $(basename "$TARBALL") ($PY_VERSION, sha256 $PY_SHA256)"

flock -u 9

# ---------------------------------------------------------------------------------------------
# This run's VPS: a copy of the cached root file system, with host keys, a sudo user and the
# host's way to the package registries.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SSH_PORT=$(free_port)
log "copying the root file system; sshd will listen on 127.0.0.1:$SSH_PORT"
run cp -a --reflink=auto "$ROOTFS" "$WORK/rootfs"
R="$WORK/rootfs"

echo "$HOSTNAME_E2E" >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$HOSTNAME_E2E" >"$R/etc/hosts"
ssh-keygen -q -t ed25519 -N '' -C "$HOSTNAME_E2E" -f "$R/etc/ssh/ssh_host_ed25519_key"
cat >"$R/etc/ssh/sshd_config.d/e2e.conf" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
EOF
HOST_KEY=$(cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub")

# The sudo user Ansible logs in as, as a VPS provider sets one up.
ssh-keygen -q -t ed25519 -N '' -C e2e-admin -f "$WORK/admin_key"
chroot "$R" useradd --create-home --shell /bin/bash --groups sudo admin
install -d -m 0700 "$R/home/admin/.ssh"
install -m 0600 "$WORK/admin_key.pub" "$R/home/admin/.ssh/authorized_keys"
chroot "$R" chown -R admin:admin /home/admin/.ssh
echo 'admin ALL=(ALL) NOPASSWD:ALL' >"$R/etc/sudoers.d/admin"
chmod 0440 "$R/etc/sudoers.d/admin"
echo "[127.0.0.1]:$SSH_PORT $HOST_KEY" >"$WORK/known_hosts"

python3 "$HERE/host_access.py" "$R"
# dpkg without fsync, as in Debian's container images: the VPS is thrown away anyway.
echo force-unsafe-io >"$R/etc/dpkg/dpkg.cfg.d/e2e-unsafe-io"
chroot "$R" update-ca-certificates >"$WORK/logs/update-ca-certificates.log" 2>&1

start_container() {
    systemd-nspawn --quiet --directory="$R" --boot --register=no --keep-unit \
        --machine="bt-e2e-$SSH_PORT" --hostname="$HOSTNAME_E2E" --console=passive \
        --bind="$CACHE/apt-archives:/var/cache/apt/archives" --bind="$CACHE/ccache:/var/cache/e2e-ccache" \
        >>"$WORK/logs/console.log" 2>&1 </dev/null &
    NSPAWN_PID=$!
    log "container booting (systemd-nspawn pid $NSPAWN_PID)"
    poll 120 "sshd in the container" ssh_ready || die "the container did not come up (see $WORK/logs/console.log)"
}

SSH=(ssh -i "$WORK/admin_key" -p "$SSH_PORT" -o BatchMode=yes -o ConnectTimeout=5
    -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=yes admin@127.0.0.1)
ssh_ready() {
    kill -0 "$NSPAWN_PID" 2>/dev/null || die "systemd-nspawn exited (see $WORK/logs/console.log)"
    "${SSH[@]}" true 2>/dev/null
}
on_target() { "${SSH[@]}" "$@"; }

start_container

# ---------------------------------------------------------------------------------------------
# Loopback fixtures: the tarball over HTTP, a snapshot of this working tree as the repository.

cp "$TARBALL" "$WORK/http/"
# A stand-in signing key, for the --check of the repository path of the nodejs role.
cp /usr/share/keyrings/debian-archive-keyring.gpg "$WORK/http/stand-in-repo-key.gpg"
python3 -u - "$WORK/http" "$WORK/http-port" >"$WORK/logs/http.log" 2>&1 <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_port))
__import__("os").replace(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
EOF
HTTP_PID=$!
poll 30 "the HTTP server" test -s "$WORK/http-port" || die "the HTTP server did not start"
HTTP_PORT=$(cat "$WORK/http-port")
log "HTTP server on 127.0.0.1:$HTTP_PORT (pid $HTTP_PID)"

# The gateway the live client trades through, on this machine (the container shares its
# network): a simulated broker on replayed SYNTH bars, 60x faster than the wall clock.
BT="$REPO/.venv/bin/backtestester"
[ -x "$BT" ] || die "$BT not found (make test creates the venv)"
GATEWAY_DIR="$WORK/gateway"
"$BT" data synth --data-dir "$GATEWAY_DIR" --symbols SYNTH --timeframe 1m --start 2024-01-02 --bars 3000 --seed 7 \
    >"$WORK/logs/gateway-data.log" 2>&1 || die "generating the gateway's bars failed"
GATEWAY_PORT=$(free_port)
"$BT" serve --host 127.0.0.1 --port "$GATEWAY_PORT" --data-dir "$GATEWAY_DIR" --playground-hosts 0 \
    --live-feed replay --replay-symbols SYNTH --replay-timeframe 1m --replay-start 2024-01-02 --replay-speed 60 \
    >"$WORK/logs/gateway.log" 2>&1 </dev/null &
GATEWAY_PID=$!
poll 120 "the gateway" grep -q "listening on" "$WORK/logs/gateway.log" || { tail -20 "$WORK/logs/gateway.log"; die "the gateway did not start"; }
log "gateway on 127.0.0.1:$GATEWAY_PORT (pid $GATEWAY_PID)"
# live_client FIELD: what the gateway knows of the live client's playground (client id e2e-live).
live_client() { "$REPO/.venv/bin/python" "$HERE/live_status.py" "127.0.0.1:$GATEWAY_PORT" e2e-live "$@"; }

# Tracked and untracked (not ignored) files of the working tree, committed on branch e2e.
SNAP="$WORK/snapshot"
mkdir -p "$SNAP"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$SNAP"
git -C "$SNAP" init -q -b e2e
git -C "$SNAP" add -A
git -C "$SNAP" -c user.name=e2e -c user.email=e2e@localhost commit -q -m "e2e snapshot"
EXPECTED_COMMIT=$(git -C "$SNAP" rev-parse HEAD)
git clone -q --bare "$SNAP" "$WORK/backtestester.git"
tar -C "$WORK" -czf "$WORK/repo.tar.gz" backtestester.git
log "repository snapshot $EXPECTED_COMMIT"

# ---------------------------------------------------------------------------------------------
# The inventory, as a user writes it: hosts, group_vars, later a vault.

INV="$WORK/inventory"
cat >"$INV/hosts.ini" <<EOF
[clients]
$HOSTNAME_E2E ansible_host=127.0.0.1 ansible_port=$SSH_PORT ansible_user=admin ansible_ssh_private_key_file=$WORK/admin_key ansible_python_interpreter=/usr/bin/python3

[clients:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes'
EOF
cp "$HERE/e2e_group_vars.yml" "$INV/group_vars/clients/main.yml"
cat >"$INV/group_vars/clients/runtime.yml" <<EOF
---
python_version: "$PY_VERSION"
python_source_url: "http://127.0.0.1:$HTTP_PORT/$(basename "$TARBALL")"
python_source_sha256: "$PY_SHA256"
python_enable_optimizations: $OPTIMIZE
backtestester_repo_url: "ssh://git@127.0.0.1:$SSH_PORT/srv/git/backtestester.git"
deploy_key_git_host: 127.0.0.1
deploy_key_git_port: $SSH_PORT
deploy_key_git_host_keys:
  - "$HOST_KEY"
e2e_gateway_address: "127.0.0.1:$GATEWAY_PORT"
EOF
printf -- '---\ndeploy_key_mode: generate\n' >"$INV/group_vars/clients/deploy_key.yml"

export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_PIPELINING=True ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/cp" ANSIBLE_LOCAL_TEMP="$WORK/ansible-tmp"
export ANSIBLE_HOME="$WORK/ansible-home" ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
VAULT_ARGS=()
RUN=0

# play NAME PLAYBOOK [ARGS...]: run a playbook against the VPS; log in $WORK/logs/NN-NAME.log.
play() {
    local name=$1 playbook=$2
    shift 2
    RUN=$((RUN + 1))
    LAST_LOG=$(printf '%s/logs/%02d-%s.log' "$WORK" "$RUN" "$name")
    log "ansible-playbook $(basename "$playbook") $* ($name)"
    local rc=0
    run ansible-playbook -i "$INV/hosts.ini" "${VAULT_ARGS[@]}" "$playbook" "$@" >"$LAST_LOG" 2>&1 || rc=$?
    log "  -> rc=$rc, $(recap)"
    return $rc
}
recap() { grep -E "^$HOSTNAME_E2E +:" "$LAST_LOG" | tail -1 | tr -s ' ' || echo "no recap"; }
changed_count() { recap | sed -nE 's/.*changed=([0-9]+).*/\1/p'; }
show_log() { log "last lines of $LAST_LOG:"; tail -n "${1:-40}" "$LAST_LOG" | sed 's/^/    /'; }
show_changes() { grep -E -A3 '^(changed|--- before)' "$LAST_LOG" | sed 's/^/    /' | head -60; }
verify() {
    play verify "$HERE/verify.yml" -e "e2e_expected_commit=$EXPECTED_COMMIT" \
        -e "{\"e2e_expected_public_key\": \"${1:-}\"}" || { show_log 60; fail "verify.yml: $2"; }
}
SITE="$REPO/playbooks/site.yml"

# ---------------------------------------------------------------------------------------------
# 1. --check on the fresh host: every task that depends on an earlier install is guarded.

play check-fresh "$SITE" --check --diff || { show_log; fail "--check --diff on the fresh host"; }
pass "--check --diff on a fresh host"

# 2. Converge with a generated deploy key: the play prints the key and stops until it is
#    registered (the git host does not know it yet).
if play converge-unregistered "$SITE"; then
    fail "the converge went through although the deploy key was not registered"
fi
DEPLOY_PUB_PATH="$R/home/$APP_USER/.ssh/backtestester_deploy_key.pub"
[ -s "$DEPLOY_PUB_PATH" ] || { show_log; fail "no generated deploy key on the target"; }
GENERATED_PUB=$(cut -d' ' -f1,2 "$DEPLOY_PUB_PATH")
grep -q "Stop until the deploy key has access" "$LAST_LOG" && grep -qF "$GENERATED_PUB" "$LAST_LOG" &&
    grep -q "cannot read ssh://git@127.0.0.1:$SSH_PORT/srv/git/backtestester.git" "$LAST_LOG" ||
    { show_log; fail "the unregistered run did not stop at the access check with the public key"; }
pass "generate mode prints the public key and stops until it is registered"

# 3. Register it on the "git host" (read-only), then converge.
play git-server "$HERE/git_server.yml" -e "e2e_repo_archive=$WORK/repo.tar.gz" \
    -e "{\"e2e_git_authorized_keys\": [\"$GENERATED_PUB\"]}" || { show_log; die "git server fixture"; }
play converge "$SITE" || { show_log 60; fail "converge"; }
grep -q "GET /$(basename "$TARBALL") HTTP/1.1\" 200" "$WORK/logs/http.log" ||
    fail "the python role did not download the tarball from python_source_url"
pass "converge (CPython $PY_VERSION from source, Node, pm2, deploy key, app, clients)"

# 4. Idempotence and check mode on the converged host.
play idempotence "$SITE" || { show_log; fail "second run"; }
[ "$(changed_count)" = 0 ] || { show_changes; fail "second run reported $(changed_count) changes"; }
pass "second run: changed=0"
play check-converged "$SITE" --check --diff || { show_log; fail "--check --diff on the converged host"; }
[ "$(changed_count)" = 0 ] && ! grep -q '^--- before' "$LAST_LOG" ||
    { show_changes; fail "--check --diff reported drift"; }
pass "--check --diff on the converged host: no drift"

verify "$GENERATED_PUB" "converged host"
pass "built interpreter (ssl, sqlite3, ctypes, lzma, bz2, readline, zlib), venv, pm2 unit, completion, pinned host key, clients online"

# The live client trades: one live playground (its client id), orders filled by the simulated broker.
poll 240 "the live client's first filled order" live_client --min-filled 1 || fail "the live client placed no filled order"
LIVE_PID=$(live_client --field playground_id)
pass "the live client under pm2 trades a live playground through the gateway"

# 5. The clients stay alive: client killed, pm2 daemon killed, reboot.
STATUS_DIR="$R/home/$APP_USER/e2e-status"
client_pid() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$STATUS_DIR/$1.json" 2>/dev/null; }
CLIENTS=(e2e-client-a e2e-client-b)
# client_up NAME OLD_PID: the client reported in with a new pid that is alive.
client_up() {
    local pid
    pid=$(client_pid "$1") || return 1
    [ -n "$pid" ] && [ "$pid" != "$2" ] && on_target "sudo kill -0 $pid" 2>/dev/null
}
client_count() { on_target "pgrep -c -u $APP_USER -f tests/provision/e2e_client.py" 2>/dev/null || echo 0; }

OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
on_target "sudo kill -KILL $OLD_A"
poll 60 "pm2 to restart e2e-client-a" client_up e2e-client-a "$OLD_A" || fail "client not restarted after kill"
[ "$(client_pid e2e-client-b)" = "$OLD_B" ] || fail "killing one client restarted the other"
[ "$(client_count)" = 2 ] || fail "expected 2 client processes, found $(client_count)"
pass "a killed client is restarted by pm2"

LIVE_FILLED=$(live_client --field filled)
on_target "sudo pkill -KILL -u $APP_USER -f 'backtestester live'" || fail "no live client process to kill"
poll 240 "the restarted live client to trade on" live_client --min-filled $((LIVE_FILLED + 1)) ||
    fail "the live client did not trade again after pm2 restarted it"
[ "$(live_client --field playground_id)" = "$LIVE_PID" ] || fail "the restarted live client made a new playground"
pass "a killed live client is restarted by pm2 and picks up its playground by client id"

daemon_pid() { on_target "systemctl show --property=MainPID --value pm2-$APP_USER" 2>/dev/null; }
daemon_restarted() {
    local pid
    pid=$(daemon_pid) || return 1
    [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$1" ] &&
        [ "$(on_target "systemctl is-active pm2-$APP_USER" 2>/dev/null)" = active ]
}
OLD_DAEMON=$(daemon_pid)
[ -n "$OLD_DAEMON" ] && [ "$OLD_DAEMON" != 0 ] || fail "pm2-$APP_USER has no main pid"
OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
on_target "sudo kill -KILL $OLD_DAEMON"
poll 90 "systemd to restart the pm2 daemon" daemon_restarted "$OLD_DAEMON" || fail "pm2 daemon not restarted"
for c in "${CLIENTS[@]}"; do
    old=OLD_${c##*-}; old=${old^^}
    poll 60 "$c after the daemon restart" client_up "$c" "${!old}" || fail "$c not back after the pm2 daemon was killed"
done
[ "$(client_count)" = 2 ] || fail "expected 2 client processes after the daemon restart, found $(client_count)"
verify "$GENERATED_PUB" "after the pm2 daemon was killed"
pass "the pm2 daemon killed: systemd restarts it and it resurrects the clients"

OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
log "rebooting the container"
on_target "sudo systemctl reboot" || true
poll 120 "the container to shut down for the reboot" container_gone || fail "the container did not shut down"
rc=0
wait "$NSPAWN_PID" || rc=$?
NSPAWN_PID=""
# systemd-nspawn exits with 133 when the container asked for a reboot.
[ "$rc" = 133 ] || fail "systemd-nspawn exited with $rc, not 133 (reboot)"
start_container
for c in "${CLIENTS[@]}"; do
    old=OLD_${c##*-}; old=${old^^}
    poll 90 "$c after the reboot" client_up "$c" "${!old}" || fail "$c not back after the reboot"
done
verify "$GENERATED_PUB" "after the reboot"
pass "after a reboot pm2 starts at boot and resurrects the clients"

# 6. Switch to a copied deploy key from an Ansible Vault; the generated key loses access.
ssh-keygen -q -t ed25519 -N '' -C e2e-copied -f "$WORK/copied_key"
COPIED_PUB=$(cut -d' ' -f1,2 "$WORK/copied_key.pub")
head -c 32 /dev/urandom | base64 >"$WORK/vault-pass"
{
    echo "vault_deploy_key_private_key: |"
    sed 's/^/  /' "$WORK/copied_key"
} >"$INV/group_vars/clients/vault.yml"
ansible-vault encrypt --vault-password-file "$WORK/vault-pass" "$INV/group_vars/clients/vault.yml" >/dev/null
cat >"$INV/group_vars/clients/deploy_key.yml" <<'EOF'
---
deploy_key_mode: copy
deploy_key_private_key: "{{ vault_deploy_key_private_key }}"
EOF
VAULT_ARGS=(--vault-password-file "$WORK/vault-pass")
play git-server-rekey "$HERE/git_server.yml" -e "e2e_repo_archive=$WORK/repo.tar.gz" \
    -e "{\"e2e_git_authorized_keys\": [\"$COPIED_PUB\"]}" || { show_log; die "git server fixture"; }
play converge-copied-key "$SITE" || { show_log 60; fail "converge with the copied key"; }
[ "$(changed_count)" != 0 ] || fail "switching to the copied key changed nothing"
SECRET_LINE=$(sed -n 3p "$WORK/copied_key")
if grep -rqF -- "$SECRET_LINE" "$WORK/logs"; then
    fail "the private key appears in the output"
fi
verify "$COPIED_PUB" "copied key"
pass "copy mode: vaulted private key installed, never logged, matching public key, repository readable"
play idempotence-copied-key "$SITE" || { show_log; fail "second run with the copied key"; }
[ "$(changed_count)" = 0 ] || { show_changes; fail "second run with the copied key reported $(changed_count) changes"; }
pass "copy mode: second run changed=0"

# 7. The Ubuntu-only paths (distribution python3.X, Node from an extra repository) in check mode.
play check-ubuntu-paths "$SITE" --check --diff -e python_install_method=package \
    -e nodejs_install_from=repository -e "nodejs_repository_url=http://127.0.0.1:$HTTP_PORT/nodejs" \
    -e "nodejs_repository_key_url=http://127.0.0.1:$HTTP_PORT/stand-in-repo-key.gpg" ||
    { show_log; fail "--check of the package and repository paths"; }
pass "--check of the Ubuntu-only paths (python3.X package, Node repository)"

log "all checks passed"
