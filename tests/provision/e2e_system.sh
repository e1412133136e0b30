# The provisioned system at work, sourced by e2e.sh once the machines have converged: the Ray
# cluster, the firewalls, the live client through the gateway, processes killed, every machine
# rebooted, the gateway's backup restored, the copied deploy key, the Ubuntu-only paths.

# --------------------------------------------------------------------------------------------
# 5. The cluster: a sweep started on the head (as the project user, RAY_ADDRESS from its login
#    environment) runs its combinations on both nodes.

as_app() { local name=$1; shift; on "$name" "sudo -iu $APP_USER bash -c $(printf '%q' "$*")"; }
alive_nodes() { as_app "$GW" "python -c 'import ray; ray.init(logging_level=\"ERROR\"); print(sum(n[\"Alive\"] for n in ray.nodes()))'" 2>/dev/null; }
two_nodes() { [ "$(alive_nodes)" = 2 ]; }
poll 180 "both Ray nodes in the cluster" two_nodes || fail "the Ray cluster does not have 2 live nodes (has $(alive_nodes))"
as_app "$GW" 'backtestester data synth --data-dir ~/e2e-data --symbols SYNTH --timeframe 1m --start 2024-01-02 --bars 20000 --seed 3' \
    >"$WORK/logs/sweep-data.log" 2>&1 || { tail "$WORK/logs/sweep-data.log"; fail "generating the sweep's bars"; }
as_app "$GW" 'backtestester sweep --data-dir ~/e2e-data --grid fast=3:20:1 --grid slow=20:60:10 --constraint "fast < slow" --batch-size 4 --no-progress --out ~/e2e-sweep' \
    >"$WORK/logs/sweep.log" 2>&1 || { tail -30 "$WORK/logs/sweep.log"; fail "the sweep on the head failed"; }
grep -E "ran on 2 nodes" "$WORK/logs/sweep.log" || { tail -30 "$WORK/logs/sweep.log"; fail "the sweep did not run on both nodes"; }
NODES_IN_RESULTS=$(as_app "$GW" "python -c 'import glob, pandas; print(pandas.read_parquet(glob.glob(\"e2e-sweep/**/results.parquet\", recursive=True)[0])[\"node\"].nunique())'")
[ "$NODES_IN_RESULTS" = 2 ] || fail "the sweep's results name $NODES_IN_RESULTS nodes, not 2"
pass "a sweep started on the head runs on both Ray nodes (node ids in its output and results)"

# 6. The firewalls: the gateway's port only from its client networks (the client, this host),
#    Ray's ports only from the cluster's nodes.
reaches() { on "$1" "timeout 5 bash -c 'exec 3<>/dev/tcp/$2/$3'" 2>/dev/null; }
reaches_from_host() { timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
reaches "$CLIENT" "$GW_IP" 50051 || fail "the client cannot reach the gateway's port"
reaches_from_host "$GW_IP" 50051 || fail "this host (a client network) cannot reach the gateway's port"
! reaches "$WORKER" "$GW_IP" 50051 || fail "the Ray worker (not a client network) reaches the gateway's port"
reaches "$WORKER" "$GW_IP" 6379 || fail "the Ray worker cannot reach the head's GCS port"
! reaches_from_host "$GW_IP" 6379 || fail "this host (outside the cluster) reaches the head's GCS port"
! reaches "$CLIENT" "${MACHINE_IP[$WORKER]}" 6380 || fail "the client reaches the worker's node manager port"
reaches_from_host "$GW_IP" 22 || fail "the firewall closed SSH"
pass "firewalls: the gateway's port open to its clients only, Ray's ports to the cluster only, SSH untouched"

# 7. The client's live client trades through the gateway (TLS, the tenant's token).
poll 300 "the live client's first filled order" probe live e2e-live --min-filled 1 ||
    fail "the live client placed no filled order"
LIVE_PID=$(probe live e2e-live --field playground_id)
SAVED_PID=$(probe save-one) || fail "could not save a playground on the gateway"
pass "the live client under pm2 trades a live playground through the gateway (TLS, token); a playground saved"

# 8. The clients stay alive: client killed, pm2 daemon killed.
STATUS_DIR="${MACHINE_ROOT[$CLIENT]}/home/$APP_USER/e2e-status"
client_pid() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$STATUS_DIR/$1.json" 2>/dev/null; }
CLIENTS=(e2e-client-a e2e-client-b)
# client_up NAME OLD_PID: the client reported in with a new pid that is alive.
client_up() {
    local pid
    pid=$(client_pid "$1") || return 1
    [ -n "$pid" ] && [ "$pid" != "$2" ] && on "$CLIENT" "sudo kill -0 $pid" 2>/dev/null
}
client_count() { on "$CLIENT" "pgrep -c -u $APP_USER -f tests/provision/e2e_client.py" 2>/dev/null || echo 0; }

OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
on "$CLIENT" "sudo kill -KILL $OLD_A"
poll 60 "pm2 to restart e2e-client-a" client_up e2e-client-a "$OLD_A" || fail "client not restarted after kill"
[ "$(client_pid e2e-client-b)" = "$OLD_B" ] || fail "killing one client restarted the other"
[ "$(client_count)" = 2 ] || fail "expected 2 client processes, found $(client_count)"
pass "a killed client is restarted by pm2"

LIVE_FILLED=$(probe live e2e-live --field filled)
on "$CLIENT" "sudo pkill -KILL -u $APP_USER -f 'backtestester live'" || fail "no live client process to kill"
poll 240 "the restarted live client to trade on" probe live e2e-live --min-filled $((LIVE_FILLED + 1)) ||
    fail "the live client did not trade again after pm2 restarted it"
[ "$(probe live e2e-live --field playground_id)" = "$LIVE_PID" ] || fail "the restarted live client made a new playground"
pass "a killed live client is restarted by pm2 and picks up its playground by client id"

main_pid() { on "$1" "systemctl show --property=MainPID --value $2" 2>/dev/null; }
# restarted MACHINE UNIT OLD_PID: the unit is active again with another main process.
restarted() {
    local pid
    pid=$(main_pid "$1" "$2") || return 1
    [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$3" ] && [ "$(on "$1" "systemctl is-active $2" 2>/dev/null)" = active ]
}
OLD_DAEMON=$(main_pid "$CLIENT" "pm2-$APP_USER")
[ -n "$OLD_DAEMON" ] && [ "$OLD_DAEMON" != 0 ] || fail "pm2-$APP_USER has no main pid"
OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
on "$CLIENT" "sudo kill -KILL $OLD_DAEMON"
poll 90 "systemd to restart the pm2 daemon" restarted "$CLIENT" "pm2-$APP_USER" "$OLD_DAEMON" || fail "pm2 daemon not restarted"
for c in "${CLIENTS[@]}"; do
    old=OLD_${c##*-}; old=${old^^}
    poll 60 "$c after the daemon restart" client_up "$c" "${!old}" || fail "$c not back after the pm2 daemon was killed"
done
[ "$(client_count)" = 2 ] || fail "expected 2 client processes after the daemon restart, found $(client_count)"
pass "the pm2 daemon killed: systemd restarts it and it resurrects the clients"

# 9. The gateway killed with SIGKILL: systemd restarts it; saved and live playgrounds are kept.
GW_STATE=$(probe state) || fail "the gateway did not answer"
OLD_GW=$(main_pid "$GW" backtestester-gateway)
LIVE_FILLED=$(probe live e2e-live --field filled)
on "$GW" "sudo systemctl kill --signal=KILL backtestester-gateway.service"
poll 120 "systemd to restart the gateway" restarted "$GW" backtestester-gateway "$OLD_GW" || fail "the gateway was not restarted"
poll 120 "the restarted gateway to answer" probe state >/dev/null || fail "the restarted gateway does not answer"
saved_kept() { python3 - "$1" "$2" "$SAVED_PID" <<'EOF'
import json, sys
before, after, saved = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
sys.exit(0 if saved in after and before[saved] == after[saved] else 1)
EOF
}
saved_kept "$GW_STATE" "$(probe state)" || fail "the saved playground changed across the restart"
poll 240 "the live client to trade on after the gateway's restart" probe live e2e-live --min-filled $((LIVE_FILLED + 1)) ||
    fail "the live client did not trade on after the gateway's restart"
[ "$(probe live e2e-live --field playground_id)" = "$LIVE_PID" ] || fail "the gateway's restart lost the live playground"
on "$GW" "sudo journalctl -u backtestester-gateway.service --no-pager -o cat" | grep -q "listening on" ||
    fail "the gateway's log is not in the journal"
pass "the gateway SIGKILLed: systemd restarts it, the saved and the live playground are kept, logs in the journal"

# 10. Every machine rebooted: the gateway, the cluster and the clients come back.
OLD_A=$(client_pid e2e-client-a)
OLD_B=$(client_pid e2e-client-b)
LIVE_FILLED=$(probe live e2e-live --field filled)
log "rebooting every machine"
machine_reboot "$GW" "$WORKER" "$CLIENT"
for c in "${CLIENTS[@]}"; do
    old=OLD_${c##*-}; old=${old^^}
    poll 120 "$c after the reboot" client_up "$c" "${!old}" || fail "$c not back after the reboot"
done
poll 180 "both Ray nodes after the reboot" two_nodes || fail "the cluster did not come back with 2 nodes"
poll 180 "the gateway after the reboot" probe state >/dev/null || fail "the gateway did not come back"
saved_kept "$GW_STATE" "$(probe state)" || fail "the saved playground changed across the reboot"
poll 240 "the live client to trade on after the reboot" probe live e2e-live --min-filled $((LIVE_FILLED + 1)) ||
    fail "the live client did not trade on after the reboot"
[ "$(probe live e2e-live --field playground_id)" = "$LIVE_PID" ] || fail "the reboot lost the live playground"
! reaches "$WORKER" "$GW_IP" 50051 || fail "the gateway's firewall is gone after the reboot"
verify "${GENERATED_PUB[$CLIENT]}" "after the reboot"
pass "after a reboot of every machine: gateway, cluster (2 nodes), firewall, pm2 clients and the live client are back"

# 11. The backup (the timer's service, run now) restores into an equal gateway.
on "$GW" "sudo systemctl start backtestester-gateway-backup.service" || fail "the backup service failed"
BACKUP=$(on "$GW" "sudo find /var/backups/backtestester-gateway -mindepth 1 -maxdepth 1 -type d ! -name '*.partial' | sort | tail -1")
[ -n "$BACKUP" ] || fail "no backup written"
BACKED_UP=$(probe state)
on "$GW" "sudo systemctl stop backtestester-gateway.service"
# The disk lost: every database of the gateway gone.
on "$GW" "sudo find $GW_DATA -maxdepth 1 -name '*.sqlite3*' -delete"
on "$GW" "sudo -u $GW_USER /home/$APP_USER/venv/bin/backtestester backup restore --from $BACKUP --data-dir $GW_DATA" \
    >"$WORK/logs/restore.log" 2>&1 || { cat "$WORK/logs/restore.log"; fail "backtestester backup restore failed"; }
on "$GW" "sudo systemctl start backtestester-gateway.service"
poll 120 "the restored gateway to answer" probe state >/dev/null || fail "the restored gateway does not answer"
saved_kept "$BACKED_UP" "$(probe state)" || fail "the restored gateway's saved playground differs from the backup's"
poll 240 "the live client to trade on the restored gateway" probe live e2e-live --min-filled 1 ||
    fail "the live client does not trade on the restored gateway"
[ "$(probe live e2e-live --field playground_id)" = "$LIVE_PID" ] || fail "the restore lost the live playground"
pass "the gateway's online backup restores into an equal gateway (saved and live playgrounds)"

# 12. The client switches to a copied deploy key from the vault; its generated key loses access.
ssh-keygen -q -t ed25519 -N '' -C e2e-copied -f "$WORK/copied_key"
COPIED_PUB=$(cut -d' ' -f1,2 "$WORK/copied_key.pub")
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
git_server "$(json_keys "${GENERATED_PUB[$GW]}" "${GENERATED_PUB[$WORKER]}" "$COPIED_PUB")" -rekey
play converge-copied-key "$SITE" || { show_log 60; fail "converge with the copied key"; }
[ "$(changed_count)" != 0 ] || fail "switching to the copied key changed nothing"
for secret in "$(sed -n 3p "$WORK/copied_key")" "$GATEWAY_TOKEN" "$RAY_TOKEN" "$(sed -n 2p "$T/gateway.key")"; do
    if grep -rqF -- "$secret" "$WORK/logs"; then
        fail "a secret from the vault appears in the output"
    fi
done
verify "$COPIED_PUB" "copied key"
pass "copy mode: vaulted private key installed, never logged (nor the tokens and TLS key), repository readable"

# 13. Each group alone, by its tag, changes nothing (together they are the second run after the
#     switch to the copied key); the Ubuntu-only paths (distribution python3.X, Node from an
#     extra repository) in check mode.
for tag in gateway ray clients; do
    play "tag-$tag" "$SITE" --tags "$tag" || { show_log; fail "--tags $tag"; }
    [ "$(changed_count)" = 0 ] || { show_changes; fail "--tags $tag changed something"; }
done
pass "each group runs alone with its tag (gateway, ray, clients): changed=0 after the switch to the copied key"
play check-ubuntu-paths "$SITE" --check --diff --limit clients -e python_install_method=package \
    -e nodejs_install_from=repository -e "nodejs_repository_url=$HTTP_URL/nodejs" \
    -e "nodejs_repository_key_url=$HTTP_URL/stand-in-repo-key.gpg" ||
    { show_log; fail "--check of the package and repository paths"; }
pass "--check of the Ubuntu-only paths (python3.X package, Node repository)"
