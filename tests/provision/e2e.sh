#!/usr/bin/env bash
# End-to-end test of playbooks/site.yml on three throwaway Debian 12 machines.
#
# bt-gw (groups gateway and ray_head), bt-worker (ray_workers) and bt-client (clients) are
# copies of a debootstrapped root file system (cached between runs) booted with systemd as
# PID 1 under systemd-nspawn, on a private bridge of this host with NAT to the package
# registries (machines.sh). The real playbook runs over SSH as a sudo user, as against VPSs:
#   --check on the fresh machines; a converge that stops until the generated deploy keys are
#   registered; the converge; a second run with changed=0; --check --diff with no drift;
#   the gateway under systemd with TLS, a named tenant's token and its firewall; a sweep on the
#   head that runs on both Ray nodes; the client's `backtestester live` under pm2 trading the
#   replay feed through the gateway; the clients and the gateway alive after their processes
#   are killed; every machine rebooted; the gateway's database backup restored into an equal
#   gateway; the switch to a copied (vaulted) deploy key; --check of the Ubuntu-only paths.
# The git host is bt-gw's sshd serving a read-only bare copy of this working tree; CPython is
# built on the client from Debian's python3.11 source tarball (apt-get source), served by this
# host through the role's URL and checksum variables; the gateway and the Ray nodes take
# Debian's python3.11 package of the same release.
#
# Needs root, debootstrap, systemd-nspawn (systemd-container), nft (nftables), openssl and
# ansible-playbook on PATH (`make test-provision` provides the last). Every process it starts is
# stopped on exit, failure included, by PID; the bridge and the NAT table are removed.
#
# Settings (environment):
#   BT_PROVISION_CACHE       cache of the root file system, the source tarball, apt's
#                            downloads and ccache (default /var/cache/backtestester-provision)
#   BT_PROVISION_OPTIMIZE    true builds CPython with --enable-optimizations (default false)
#   BT_PROVISION_KEEP        1 keeps the work directory (logs, root file systems) for debugging
#   BT_PROVISION_NET_PREFIX  the private /24 (default 10.77.0)
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
APP_USER=backtestester
GW_USER=backtestester-gateway
GW_DATA=/var/lib/backtestester-gateway
GW=bt-gw
WORKER=bt-worker
CLIENT=bt-client

PASSED=0
FAILED=0
HTTP_PID=""
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

# shellcheck source=tests/provision/machines.sh
source "$HERE/machines.sh"

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$CHILD_PID" ]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    machines_cleanup
    if [ -n "$HTTP_PID" ]; then
        kill -TERM "$HTTP_PID" 2>/dev/null
        wait "$HTTP_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ]; then
        local socket mount
        for socket in "$WORK"/cp/*; do
            [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit e2e >/dev/null 2>&1
        done
        # nspawn's mounts live in its own namespace; make sure none leaked into ours.
        findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r mount; do
            umount -l "$mount"
        done
        if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
            log "work directory kept: $WORK"
            [ "$KEEP" = 1 ] || rm -rf --one-file-system "$WORK/machines"
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
for tool in debootstrap systemd-nspawn ssh ssh-keygen git ansible-playbook ansible-vault python3 flock findmnt ip nft openssl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install debootstrap systemd-container nftables openssl; make test-provision installs ansible)"
done
BT="$REPO/.venv/bin/backtestester"
[ -x "$BT" ] || die "$BT not found (make test creates the venv)"

mkdir -p "$CACHE" "$CACHE/ccache"
WORK=$(mktemp -d /var/tmp/backtestester-e2e.XXXXXX)
mkdir -p "$WORK/cp" "$WORK/http" "$WORK/logs" "$WORK/ansible-tmp" "$WORK/tls"
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
# The machines: copies of the root file system on a private bridge.

network_up
ssh-keygen -q -t ed25519 -N '' -C e2e-admin -f "$WORK/admin_key"
: >"$WORK/known_hosts"
# apt's downloads are kept per machine (apt locks its archives directory, and a lock held in
# another machine's PID namespace is not waited for).
for name in "$GW" "$WORKER" "$CLIENT"; do mkdir -p "$CACHE/apt-archives/$name/partial"; done
caches() { echo --bind="$CACHE/apt-archives/$1:/var/cache/apt/archives"; }
# shellcheck disable=SC2046  # the options hold no spaces
machine_create "$GW" "$NET_PREFIX.2" "$ROOTFS" $(caches "$GW")
# shellcheck disable=SC2046
machine_create "$WORKER" "$NET_PREFIX.3" "$ROOTFS" $(caches "$WORKER")
# shellcheck disable=SC2046
machine_create "$CLIENT" "$NET_PREFIX.4" "$ROOTFS" $(caches "$CLIENT") --bind="$CACHE/ccache:/var/cache/e2e-ccache"

# The gateway's catalog: replayed SYNTH bars, put on the machine before its first boot as an
# operator would copy a catalog (root-owned, readable: the gateway only reads them).
run "$BT" data synth --data-dir "${MACHINE_ROOT[$GW]}$GW_DATA" --symbols SYNTH --timeframe 1m --start 2024-01-02 \
    --bars 3000 --seed 7 >"$WORK/logs/gateway-data.log" 2>&1 || die "generating the gateway's bars failed"
chmod -R a+rX "${MACHINE_ROOT[$GW]}$GW_DATA"

for name in "$GW" "$WORKER" "$CLIENT"; do machine_start "$name"; done
for name in "$GW" "$WORKER" "$CLIENT"; do machine_wait "$name"; done

# ---------------------------------------------------------------------------------------------
# Fixtures on this host: the tarball over HTTP, the repository snapshot, TLS, tokens.

cp "$TARBALL" "$WORK/http/"
# A stand-in signing key, for the --check of the repository path of the nodejs role.
cp /usr/share/keyrings/debian-archive-keyring.gpg "$WORK/http/stand-in-repo-key.gpg"
python3 -u - "$WORK/http" "$WORK/http-port" "$HOST_IP" >"$WORK/logs/http.log" 2>&1 <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer((sys.argv[3], 0), handler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_port))
__import__("os").replace(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
EOF
HTTP_PID=$!
poll 30 "the HTTP server" test -s "$WORK/http-port" || die "the HTTP server did not start"
HTTP_URL="http://$HOST_IP:$(cat "$WORK/http-port")"
log "HTTP server on $HTTP_URL (pid $HTTP_PID)"

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

# A private CA and the gateway's certificate for its address; the gateway's token; Ray's token.
GW_IP=${MACHINE_IP[$GW]}
T="$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=e2e CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$GW" \
    -keyout "$T/gateway.key" -out "$T/gateway.csr" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:%s\n' "$GW_IP" "$GW" >"$T/san.ext"
openssl x509 -req -in "$T/gateway.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 30 \
    -extfile "$T/san.ext" -out "$T/gateway.pem" 2>/dev/null
GATEWAY_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
RAY_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
head -c 32 /dev/urandom | base64 >"$WORK/vault-pass"
GW_ADDRESS="$GW_IP:50051"
# probe ARGS...: ask the gateway as the e2e tenant (gateway_probe.py), from this host.
probe() { BACKTESTESTER_TOKEN=$GATEWAY_TOKEN "$REPO/.venv/bin/python" "$HERE/gateway_probe.py" "$GW_ADDRESS" --tls-ca "$T/ca.pem" "$@"; }

# ---------------------------------------------------------------------------------------------
# The inventory, as a user writes it: hosts, group_vars, the vault.

INV="$WORK/inventory"
mkdir -p "$INV/group_vars"/{all,clients,gateway,ray_head,ray_workers}
cat >"$INV/hosts.ini" <<EOF
[gateway]
$GW ansible_host=$GW_IP

[ray_head]
$GW

[ray_workers]
$WORKER ansible_host=${MACHINE_IP[$WORKER]}

[clients]
$CLIENT ansible_host=${MACHINE_IP[$CLIENT]}

[all:vars]
ansible_user=admin
ansible_ssh_private_key_file=$WORK/admin_key
ansible_python_interpreter=/usr/bin/python3
ansible_ssh_common_args='-o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes'
EOF
cp "$HERE/e2e_group_vars/all.yml" "$INV/group_vars/all/main.yml"
cp "$HERE/e2e_group_vars/clients.yml" "$INV/group_vars/clients/main.yml"
cp "$HERE/e2e_group_vars/gateway.yml" "$INV/group_vars/gateway/main.yml"
cp "$HERE/e2e_group_vars/ray.yml" "$INV/group_vars/ray_head/main.yml"
cp "$HERE/e2e_group_vars/ray.yml" "$INV/group_vars/ray_workers/main.yml"
indent() { sed 's/^/  /' "$1"; }
{
    cat <<EOF
---
python_version: "$PY_VERSION"
python_source_url: "$HTTP_URL/$(basename "$TARBALL")"
python_source_sha256: "$PY_SHA256"
python_enable_optimizations: $OPTIMIZE
backtestester_repo_url: "ssh://git@$GW_IP/srv/git/backtestester.git"
deploy_key_git_host: $GW_IP
deploy_key_git_host_keys:
  - "${MACHINE_HOSTKEY[$GW]}"
e2e_host_ip: $HOST_IP
e2e_client_ip: ${MACHINE_IP[$CLIENT]}
EOF
    echo "e2e_gateway_cert: |"
    indent "$T/gateway.pem"
    echo "e2e_gateway_ca: |"
    indent "$T/ca.pem"
} >"$INV/group_vars/all/runtime.yml"
{
    echo "vault_gateway_token: $GATEWAY_TOKEN"
    echo "vault_ray_auth_token: $RAY_TOKEN"
    echo "vault_gateway_tls_key: |"
    indent "$T/gateway.key"
} >"$INV/group_vars/all/vault.yml"
ansible-vault encrypt --vault-password-file "$WORK/vault-pass" "$INV/group_vars/all/vault.yml" >/dev/null
printf -- '---\ndeploy_key_mode: generate\n' >"$INV/group_vars/all/deploy_key.yml"

export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_PIPELINING=True ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/cp" ANSIBLE_LOCAL_TEMP="$WORK/ansible-tmp"
export ANSIBLE_HOME="$WORK/ansible-home" ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
VAULT_ARGS=(--vault-password-file "$WORK/vault-pass")
RUN=0

# play NAME PLAYBOOK [ARGS...]: run a playbook against the machines; log in $WORK/logs/NN-NAME.log.
play() {
    local name=$1 playbook=$2
    shift 2
    RUN=$((RUN + 1))
    LAST_LOG=$(printf '%s/logs/%02d-%s.log' "$WORK" "$RUN" "$name")
    log "ansible-playbook $(basename "$playbook") $* ($name)"
    local rc=0
    run ansible-playbook -i "$INV/hosts.ini" "${VAULT_ARGS[@]}" "$playbook" "$@" >"$LAST_LOG" 2>&1 || rc=$?
    log "  -> rc=$rc, $(recap | tr '\n' ';')"
    return $rc
}
recap() { grep -E "^bt-[a-z]+ +:" "$LAST_LOG" | tr -s ' ' || echo "no recap"; }
# changed_count: the changes of the last run, summed over the machines.
changed_count() { recap | sed -nE 's/.*changed=([0-9]+).*/\1/p' | awk '{ n += $1 } END { print n + 0 }'; }
show_log() { log "last lines of $LAST_LOG:"; tail -n "${1:-40}" "$LAST_LOG" | sed 's/^/    /'; }
show_changes() { grep -E -A3 '^(changed|--- before)' "$LAST_LOG" | sed 's/^/    /' | head -60; }
verify() {
    play verify "$HERE/verify.yml" -e "e2e_expected_commit=$EXPECTED_COMMIT" \
        -e "{\"e2e_expected_public_key\": \"${1:-}\"}" || { show_log 60; fail "verify.yml: $2"; }
}
SITE="$REPO/playbooks/site.yml"
git_server() {
    play "git-server${2:-}" "$HERE/git_server.yml" -e "e2e_repo_archive=$WORK/repo.tar.gz" \
        -e "{\"e2e_git_authorized_keys\": $1}" || { show_log; die "git server fixture"; }
}

# ---------------------------------------------------------------------------------------------
# 1. --check on the fresh machines: every task that depends on an earlier install is guarded.

play check-fresh "$SITE" --check --diff || { show_log; fail "--check --diff on the fresh machines"; }
pass "--check --diff on three fresh machines"

# 2. Converge with generated deploy keys: the play prints each key and stops until it is
#    registered (the git host does not know them yet).
if play converge-unregistered "$SITE"; then
    fail "the converge went through although the deploy keys were not registered"
fi
declare -A GENERATED_PUB=()
for name in "$GW" "$WORKER" "$CLIENT"; do
    pub="${MACHINE_ROOT[$name]}/home/$APP_USER/.ssh/backtestester_deploy_key.pub"
    [ -s "$pub" ] || { show_log; fail "no generated deploy key on $name"; }
    GENERATED_PUB[$name]=$(cut -d' ' -f1,2 "$pub")
    grep -qF "${GENERATED_PUB[$name]}" "$LAST_LOG" || { show_log; fail "the public key of $name was not printed"; }
done
grep -q "Stop until the deploy key has access" "$LAST_LOG" &&
    grep -q "cannot read ssh://git@$GW_IP/srv/git/backtestester.git" "$LAST_LOG" ||
    { show_log; fail "the unregistered run did not stop at the access check"; }
pass "generate mode prints each machine's public key and stops until it is registered"

# 3. Register them on the git host (read-only), then converge.
json_keys() { printf '%s\n' "$@" | python3 -c 'import json, sys; print(json.dumps(sys.stdin.read().split("\n")[:-1]))'; }
git_server "$(json_keys "${GENERATED_PUB[@]}")"
play converge "$SITE" || { show_log 60; fail "converge"; }
grep -q "GET /$(basename "$TARBALL") HTTP/1.1\" 200" "$WORK/logs/http.log" ||
    fail "the python role did not download the tarball from python_source_url"
pass "converge: client (CPython $PY_VERSION from source, Node, pm2, clients), gateway, Ray head and worker"

# 4. Idempotence and check mode on the converged machines.
play idempotence "$SITE" || { show_log; fail "second run"; }
[ "$(changed_count)" = 0 ] || { show_changes; fail "second run reported $(changed_count) changes"; }
pass "second run: changed=0"
play check-converged "$SITE" --check --diff || { show_log; fail "--check --diff on the converged machines"; }
[ "$(changed_count)" = 0 ] && ! grep -q '^--- before' "$LAST_LOG" ||
    { show_changes; fail "--check --diff reported drift"; }
pass "--check --diff on the converged machines: no drift"

verify "${GENERATED_PUB[$CLIENT]}" "converged machines"
pass "client: built interpreter, venv, pm2 unit, completion, pinned host key, clients online; gateway and Ray units, files and firewalls as configured"

source "$HERE/e2e_system.sh"

log "all checks passed"
