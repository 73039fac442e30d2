#!/usr/bin/env bash
# The rehearsal's Nix services, on loopback only (issue #9):
#   cache    a signed binary cache: a directory that stacks upload to with `nix copy --to file://…`
#            (signed with a key made by `nix-store --generate-binary-cache-key`), served over HTTP
#            by busybox httpd on 127.0.0.1:$NGD_CACHE_PORT (default 5010) for substituters.
#   builder  a Nix remote builder: Debian's sshd on $NGD_BUILDER_ADDR (default 127.0.0.2, port 22,
#            because Nix 2.8's ssh:// store URIs take no port), key authentication only, whose only
#            key is tied to a forced command running `nix-store --serve --write` on the builder's
#            own store ($D/builder/root, a chroot store: what it builds lands there, not in
#            /nix/store, and it builds in Nix's sandbox). Every session is logged.
# Usage: nix-services.sh up | down | stop cache|builder | start cache|builder
# `up` writes $D/env: NGD_CACHE_URL, NGD_CACHE_UPLOAD (file://… of the served directory),
# NGD_CACHE_PUBLIC_KEY, NGD_CACHE_SECRET_KEY_FILE, NGD_BUILDER_LINE (a Nix `builders` machine line
# with the builder's public host key), NGD_BUILDER_KEY_FILE, NGD_BUILDER_STORE, NGD_BUILDER_SESSIONS.
# Every process is started in the background and stopped by the pid recorded in $D/pids.
set -euo pipefail
D="${NGD_NIX_SERVICES_DIR:-/tmp/ngd-nix-services}"
CACHE_PORT="${NGD_CACHE_PORT:-5010}"
BUILDER_ADDR="${NGD_BUILDER_ADDR:-127.0.0.2}"
log() { echo "[nix-services] $*" >&2; }
# shellcheck source=test/e2e/processes.sh
. "$(dirname "$0")/processes.sh"

cache() {
  mkdir -p "$D/cache" "$D/pids" "$D/logs"
  # An empty cache still answers: substituters read nix-cache-info first.
  [ -f "$D/cache/nix-cache-info" ] || printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n' > "$D/cache/nix-cache-info"
  busybox httpd -f -p "127.0.0.1:$CACHE_PORT" -h "$D/cache" >> "$D/logs/cache.log" 2>&1 &
  echo $! > "$D/pids/cache.pid"
  wait_for "the binary cache on 127.0.0.1:$CACHE_PORT" 10 curl -sf "http://127.0.0.1:$CACHE_PORT/nix-cache-info"
}

builder() {
  local B="$D/builder"
  mkdir -p "$B/root" "$D/pids" "$D/logs" /run/sshd
  [ -f "$B/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C ngd-builder-host -f "$B/ssh_host_ed25519_key"
  [ -f "$B/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C ngd-builder-client -f "$B/client_key"
  cat > "$B/serve" <<EOF
#!/bin/sh
# Forced command of the client key: Nix's serve protocol on the builder's own store, nothing else.
case "\$SSH_ORIGINAL_COMMAND" in
  "nix-store --serve --write") ;;
  *) echo "ngd-builder: refused: \$SSH_ORIGINAL_COMMAND" >&2; exit 1 ;;
esac
echo "\$(date -u +%Y-%m-%dT%H:%M:%SZ) \$SSH_CONNECTION \$SSH_ORIGINAL_COMMAND" >> "$B/sessions.log"
exec nix-store --store "$B/root" --option sandbox true --serve --write
EOF
  chmod 755 "$B/serve"
  printf 'command="%s",restrict %s\n' "$B/serve" "$(cat "$B/client_key.pub")" > "$B/authorized_keys"
  cat > "$B/sshd_config" <<EOF
ListenAddress $BUILDER_ADDR:22
HostKey $B/ssh_host_ed25519_key
PidFile $B/sshd.pid
AuthorizedKeysFile $B/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin forced-commands-only
StrictModes no
UsePAM no
LogLevel VERBOSE
EOF
  /usr/sbin/sshd -D -e -f "$B/sshd_config" >> "$D/logs/builder.log" 2>&1 &
  echo $! > "$D/pids/builder.pid"
  wait_for "sshd on $BUILDER_ADDR:22" 10 bash -c "exec 3<>/dev/tcp/$BUILDER_ADDR/22"
}

up() {
  for port in "127.0.0.1:$CACHE_PORT" "$BUILDER_ADDR:22"; do
    if (exec 3<>"/dev/tcp/${port%:*}/${port##*:}") 2>/dev/null; then
      log "$port is already in use (another rehearsal? \`NGD_NIX_SERVICES_DIR=… $0 down\`, or set NGD_CACHE_PORT / NGD_BUILDER_ADDR)"; exit 1
    fi
  done
  mkdir -p "$D"
  [ -f "$D/cache-key.sec" ] || nix-store --generate-binary-cache-key ngd-rehearsal-cache-1 "$D/cache-key.sec" "$D/cache-key.pub"
  cache
  builder
  local hostkey; hostkey=$(base64 -w0 < "$D/builder/ssh_host_ed25519_key.pub")
  cat > "$D/env" <<EOF
NGD_CACHE_URL=http://127.0.0.1:$CACHE_PORT
NGD_CACHE_UPLOAD=file://$D/cache
NGD_CACHE_DIR=$D/cache
NGD_CACHE_PUBLIC_KEY=$(cat "$D/cache-key.pub")
NGD_CACHE_SECRET_KEY_FILE=$D/cache-key.sec
NGD_BUILDER_LINE=ssh://root@$BUILDER_ADDR x86_64-linux - 1 1 - - $hostkey
NGD_BUILDER_KEY_FILE=$D/builder/client_key
NGD_BUILDER_STORE=$D/builder/root
NGD_BUILDER_SESSIONS=$D/builder/sessions.log
EOF
  log "up: cache http://127.0.0.1:$CACHE_PORT, builder ssh://root@$BUILDER_ADDR, state in $D"
}

case "${1:-}" in
  up) up ;;
  down) stop_one builder; stop_one cache ;;
  stop) stop_one "${2:?cache|builder}" ;;
  start) case "${2:?cache|builder}" in cache) cache ;; builder) builder ;; *) exit 2 ;; esac ;;
  *) echo "usage: $0 up|down|stop NAME|start NAME" >&2; exit 2 ;;
esac
