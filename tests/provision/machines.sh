# Throwaway Debian 12 machines for the provisioning e2e, sourced by e2e.sh.
#
# Each machine is a copy of a cached debootstrapped root file system booted with systemd as PID 1
# under systemd-nspawn, on a private bridge of this host: its own network namespace and address
# (so its firewall is its own), sshd on port 22, and the packages' registries reached through
# NAT on this host, with this host's resolvers. The bridge, the NAT table and ip_forward are
# undone by machines_cleanup, as are the containers (stopped by PID).
#
# Needs: log, die, poll, run from e2e.sh; WORK, CACHE set; root; ip, nft, systemd-nspawn.

# The private network: this host is .1, machines get the addresses e2e.sh gives them.
NET_PREFIX=${BT_PROVISION_NET_PREFIX:-10.77.0}
HOST_IP="$NET_PREFIX.1"
BRIDGE="bte2e$$"
NFT_TABLE="bt_e2e_$$"
OLD_IP_FORWARD=""
declare -A MACHINE_IP=() MACHINE_ROOT=() MACHINE_PID=() MACHINE_HOSTKEY=() MACHINE_BINDS=()

network_up() {
    ip -4 -o addr show | grep -qF " $NET_PREFIX." &&
        die "$NET_PREFIX.0/24 is already in use here (set BT_PROVISION_NET_PREFIX to another /24)"
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    OLD_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
    echo 1 >/proc/sys/net/ipv4/ip_forward
    nft -f - <<EOF
table ip $NFT_TABLE {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr $NET_PREFIX.0/24 oifname != "$BRIDGE" masquerade
    }
}
EOF
    log "bridge $BRIDGE $HOST_IP/24, NAT to the registries (nft table ip $NFT_TABLE)"
}

network_down() {
    nft delete table ip "$NFT_TABLE" 2>/dev/null
    ip link del "$BRIDGE" 2>/dev/null
    [ -z "$OLD_IP_FORWARD" ] || echo "$OLD_IP_FORWARD" >/proc/sys/net/ipv4/ip_forward
    return 0
}

# machine_create NAME IP ROOTFS [--bind=...]: copy the root file system and give it a host name,
# host keys, the admin sudo user (SSH key $WORK/admin_key), its address and this host's way to
# the registries. The host key goes into $WORK/known_hosts.
machine_create() {
    local name=$1 ip=$2 rootfs=$3
    shift 3
    local r="$WORK/machines/$name"
    mkdir -p "$WORK/machines"
    run cp -a --reflink=auto "$rootfs" "$r"
    MACHINE_IP[$name]=$ip
    MACHINE_ROOT[$name]=$r
    MACHINE_BINDS[$name]="$*"
    echo "$name" >"$r/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$name" >"$r/etc/hosts"
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$r/etc/ssh/ssh_host_ed25519_key"
    cat >"$r/etc/ssh/sshd_config.d/e2e.conf" <<EOF
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
EOF
    MACHINE_HOSTKEY[$name]=$(cut -d' ' -f1,2 "$r/etc/ssh/ssh_host_ed25519_key.pub")
    echo "$ip ${MACHINE_HOSTKEY[$name]}" >>"$WORK/known_hosts"
    # The sudo user Ansible logs in as, as a VPS provider sets one up.
    chroot "$r" useradd --create-home --shell /bin/bash --groups sudo admin
    install -d -m 0700 "$r/home/admin/.ssh"
    install -m 0600 "$WORK/admin_key.pub" "$r/home/admin/.ssh/authorized_keys"
    chroot "$r" chown -R admin:admin /home/admin/.ssh
    echo 'admin ALL=(ALL) NOPASSWD:ALL' >"$r/etc/sudoers.d/admin"
    chmod 0440 "$r/etc/sudoers.d/admin"
    # Its address on the bridge, by systemd-networkd; this host's resolvers.
    cat >"$r/etc/systemd/network/10-e2e.network" <<EOF
[Match]
Name=host0

[Network]
Address=$ip/24
Gateway=$HOST_IP
EOF
    systemctl --root="$r" --quiet enable systemd-networkd.service systemd-networkd-wait-online.service
    rm -f "$r/etc/resolv.conf"
    grep -E '^(nameserver|search|options) ' /etc/resolv.conf >"$r/etc/resolv.conf"
    python3 "$HERE/host_access.py" "$r"
    # dpkg without fsync, as in Debian's container images: the machine is thrown away anyway.
    echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/e2e-unsafe-io"
    chroot "$r" update-ca-certificates >"$WORK/logs/update-ca-certificates-$name.log" 2>&1
}

# machine_start NAME: boot it and wait for its sshd.
machine_start() {
    local name=$1 binds
    read -r -a binds <<<"${MACHINE_BINDS[$name]}"
    # Each machine in a control group of its own: several containers sharing this script's
    # group (--keep-unit, no systemd here to make scopes) made their systemd stall at boot.
    (machine_cgroup_enter "$name" && exec systemd-nspawn --quiet --directory="${MACHINE_ROOT[$name]}" --boot --register=no --keep-unit \
        --machine="e2e$$$name" --hostname="$name" --console=passive --network-bridge="$BRIDGE" \
        "${binds[@]}") >>"$WORK/logs/console-$name.log" 2>&1 </dev/null &
    MACHINE_PID[$name]=$!
    log "$name booting (systemd-nspawn pid ${MACHINE_PID[$name]}, ${MACHINE_IP[$name]})"
}

# machine_wait NAME: until its sshd answers.
machine_wait() {
    poll ${MACHINE_WAIT:-180} "sshd on $1" machine_ssh_ready "$1" || die "$1 did not come up (see $WORK/logs/console-$1.log)"
}

machine_ssh_ready() {
    kill -0 "${MACHINE_PID[$1]}" 2>/dev/null || die "systemd-nspawn of $1 exited (see $WORK/logs/console-$1.log)"
    on "$1" true 2>/dev/null
}

# on NAME COMMAND...: run a command on a machine as admin.
on() {
    local name=$1
    shift
    ssh -i "$WORK/admin_key" -o BatchMode=yes -o ConnectTimeout=5 -o UserKnownHostsFile="$WORK/known_hosts" \
        -o StrictHostKeyChecking=yes "admin@${MACHINE_IP[$name]}" "$@"
}

# The writable control group hierarchies this shell's process is in: cgroup v1's name=systemd
# and the unified one of a hybrid layout, or the one cgroup v2 hierarchy.
cgroup_roots() {
    local root
    for root in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        [ -w "$root/cgroup.procs" ] && echo "$root"
        [ -e "$root/cgroup.controllers" ] && [ "$root" = /sys/fs/cgroup ] && break
    done
    return 0
}

# machine_cgroup_enter NAME: move this (sub)shell into the machine's own control groups.
machine_cgroup_enter() {
    local root
    for root in $(cgroup_roots); do
        mkdir -p "$root/bt-e2e-$$-$1" && echo "$BASHPID" >"$root/bt-e2e-$$-$1/cgroup.procs"
    done
}

machine_cgroups_remove() {
    local root group
    for root in $(cgroup_roots); do
        for group in "$root/bt-e2e-$$-"*; do
            # The container's systemd made groups inside; a group goes once its children have.
            [ -d "$group" ] && find "$group" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    done
    return 0
}

machine_gone() { ! kill -0 "${MACHINE_PID[$1]}" 2>/dev/null; }

# machine_stop NAME: an orderly poweroff (SIGTERM to nspawn), SIGKILL after a minute.
machine_stop() {
    local pid=${MACHINE_PID[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        poll 60 "$1 to power off" machine_gone "$1" || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    MACHINE_PID[$1]=""
}

# machine_reboot NAME...: reboot machines from inside (all at once) and wait for them.
machine_reboot() {
    local name rc
    for name in "$@"; do on "$name" "sudo systemctl reboot" || true; done
    for name in "$@"; do
        poll 120 "$name to shut down for the reboot" machine_gone "$name" || fail "$name did not shut down"
        rc=0
        wait "${MACHINE_PID[$name]}" || rc=$?
        # systemd-nspawn exits with 133 when the container asked for a reboot.
        [ "$rc" = 133 ] || fail "systemd-nspawn of $name exited with $rc, not 133 (reboot)"
        machine_start "$name"
    done
    for name in "$@"; do machine_wait "$name"; done
}

machines_cleanup() {
    local name
    for name in "${!MACHINE_PID[@]}"; do machine_stop "$name"; done
    machine_cgroups_remove
    network_down
}
