#!/usr/bin/env bash
# The rehearsal GPU cluster and registry, on loopback only:
#   etcd, kube-apiserver (generated certs), kube-controller-manager, kube-scheduler, kwok with fake
#   nodes that look like GPU nodes (2 × H100 with 8 GPUs, 1 × A100 with 4 GPUs, 1 CPU-only node;
#   GPU nodes carry GPU Feature Discovery labels and the nvidia.com/gpu=present:NoSchedule taint),
#   the `nvidia` RuntimeClass, three docker-registry instances (HTTP with htpasswd auth, HTTP without
#   auth, HTTPS with a certificate from the rehearsal CA and htpasswd auth), and dockerd (trusting the CA) with its own data root
#   and socket (it pulls and runs the pushed image).
# Usage: cluster.sh up | down | running | status | stop NAME | start registry|registry-open|registry-tls|kube-apiserver|kube-scheduler|dockerd
#        | reset registry|registry-open|registry-tls
# With NGD_GPU_CLUSTER=1 (test/e2e/gpu-cluster.test.ts) `up` also creates what a real GPU fleet has:
#   a T4 node (`Tesla-T4`, compute 7.5), a MIG single-strategy A100 node (`…-MIG-1g.5gb`, 7 × nvidia.com/gpu),
#   a time-sliced T4 node whose resource is renamed to nvidia.com/gpu.shared (4 replicas), a kubeconfig
#   with two contexts whose current one is a decoy ($NGD_CLUSTER_DIR/two-contexts.kubeconfig), a namespace
#   someone else owns (`team-data`), and kwok pod stages that fail a pod labelled
#   pod-container-running-failed.stage.kwok.x-k8s.io=true with the exit code of its annotation
#   pod-container-running-failed.stage.kwok.x-k8s.io/exit-code (kwok's own chaos stage); Job pods
#   otherwise complete with exit 0 (kwok's pod-complete stage).
# Node labels follow GPU Feature Discovery (NVIDIA/k8s-device-plugin internal/lm): nvidia.com/gpu.product
# (spaces as '-', `-MIG-<profile>` under the single strategy, `-SHARED` when shared and not renamed),
# .count, .memory, .family, .compute.major/.minor, .replicas, .sharing-strategy, nvidia.com/mig.strategy.
# Every process is started in the background and stopped by the pid recorded in $NGD_CLUSTER_DIR/pids.
# `up` writes $NGD_CLUSTER_DIR/env (NGD_KUBECONFIG, NGD_REGISTRY, NGD_REGISTRY_USER, NGD_REGISTRY_PASSWORD_FILE).
set -euo pipefail
D="${NGD_CLUSTER_DIR:-/tmp/ngd-cluster}"
TOOLS="${NGD_TOOLS:-$HOME/.cache/nix-gpu-deploy/tools}"
BIN="$TOOLS/bin"
ETCD_PORT="${NGD_ETCD_PORT:-23790}"
API_PORT="${NGD_API_PORT:-16443}"
KCM_PORT="${NGD_KCM_PORT:-20257}"
SCHED_PORT="${NGD_SCHED_PORT:-20259}"
REGISTRY_PORT="${NGD_REGISTRY_PORT:-5001}"
REGISTRY_USER="${NGD_REGISTRY_USER:-ngd}"
K8S_VERSION="${K8S_VERSION:-1.34.4}"
log() { echo "[cluster] $*" >&2; }
# shellcheck source=test/e2e/processes.sh
. "$(dirname "$0")/processes.sh"

start() { # name, command...
  local name="$1"; shift
  mkdir -p "$D/pids" "$D/logs"
  "$@" > "$D/logs/$name.log" 2>&1 &
  echo $! > "$D/pids/$name.pid"
}

stop_all() {
  [ -d "$D/pids" ] || return 0
  for name in dockerd kwok kube-scheduler kube-controller-manager kube-apiserver etcd registry registry-open registry-tls; do stop_one "$name"; done
}


api() { # method, path, [json body]
  curl -sS --fail-with-body --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" --key "$D/pki/admin.key" \
    -X "$1" -H 'Content-Type: application/json' "https://127.0.0.1:$API_PORT$2" ${3:+--data "$3"}
}

certs() {
  local P="$D/pki"; mkdir -p "$P"; cd "$P"
  [ -f ca.crt ] && return 0
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=ngd-local-ca" -days 3650 -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl genrsa -out apiserver.key 2048 2>/dev/null
  openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n' > srv.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile srv.ext -out apiserver.crt 2>/dev/null
  openssl genrsa -out admin.key 2048 2>/dev/null
  openssl req -new -key admin.key -subj "/CN=admin/O=system:masters" -out admin.csr 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > cli.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile cli.ext -out admin.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  openssl genrsa -out registry.key 2048 2>/dev/null
  openssl req -new -key registry.key -subj "/CN=ngd-registry" -out registry.csr 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > reg.ext
  openssl x509 -req -in registry.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile reg.ext -out registry.crt 2>/dev/null
  # What a machine that trusts the rehearsal CA has: the system bundle plus the CA (SSL_CERT_FILE).
  { if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat /etc/ssl/certs/ca-certificates.crt; fi; cat ca.crt; } > ca-bundle.crt
  chmod 600 ./*.key
  cd - >/dev/null
}

# write_kubeconfig FILE CURRENT NAME=SERVER...: one cluster and one context per NAME, all with the
# rehearsal CA and the admin client certificate.
write_kubeconfig() {
  local file="$1" current="$2" P="$D/pki" ca c; shift 2
  ca=$(base64 -w0 < "$P/ca.crt")
  umask 077
  {
    printf 'apiVersion: v1\nkind: Config\nclusters:\n'
    for c in "$@"; do printf -- '- name: %s\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n' "${c%%=*}" "${c#*=}" "$ca"; done
    printf 'users:\n- name: admin\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n' \
      "$(base64 -w0 < "$P/admin.crt")" "$(base64 -w0 < "$P/admin.key")"
    printf 'contexts:\n'
    for c in "$@"; do printf -- '- name: %s\n  context: {cluster: %s, user: admin}\n' "${c%%=*}" "${c%%=*}"; done
    printf 'current-context: %s\n' "$current"
  } > "$file"
}

kubeconfig() { write_kubeconfig "$D/admin.kubeconfig" local "local=https://127.0.0.1:$API_PORT"; }

gpu_node() { # name, product, count, memory, family, compute major, compute minor, [resource name, resource count, extra labels (JSON members), arch]
  local res="${8:-nvidia.com/gpu}" n="${9:-$3}" extra="${10:-}" arch="${11:-amd64}"
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{"kwok.x-k8s.io/node":"fake"},
 "labels":{"type":"kwok","kubernetes.io/os":"linux","kubernetes.io/arch":"$arch","kubernetes.io/hostname":"$1",
  "nvidia.com/gpu.present":"true","nvidia.com/gpu.product":"$2","nvidia.com/gpu.count":"$3","nvidia.com/gpu.memory":"$4","nvidia.com/gpu.family":"$5",
  "nvidia.com/gpu.compute.major":"$6","nvidia.com/gpu.compute.minor":"$7"${extra:+,$extra}}},
 "spec":{"taints":[{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]},
 "status":{"capacity":{"cpu":"64","memory":"512Gi","pods":"110","$res":"$n"},"allocatable":{"cpu":"64","memory":"512Gi","pods":"110","$res":"$n"}}}
EOF
}

# NGD_GPU_CLUSTER=1: the extra nodes, contexts, namespace and pod stages (see the header).
gpu_cluster() { [ "${NGD_GPU_CLUSTER:-}" = 1 ]; }
node_count() { if gpu_cluster; then echo 9; else echo 4; fi; }

gke_gpu_node() { # name, accelerator, count: a GKE managed GPU node (no GFD labels; GKE's own label and taint)
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{"kwok.x-k8s.io/node":"fake"},
 "labels":{"type":"kwok","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","kubernetes.io/hostname":"$1",
  "cloud.google.com/gke-accelerator":"$2","cloud.google.com/gke-nodepool":"$2-pool","cloud.google.com/gke-gpu":"true"}},
 "spec":{"taints":[{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]},
 "status":{"capacity":{"cpu":"208","memory":"1872Gi","pods":"110","nvidia.com/gpu":"$3"},"allocatable":{"cpu":"208","memory":"1872Gi","pods":"110","nvidia.com/gpu":"$3"}}}
EOF
}

kwok_stage_args() {
  gpu_cluster || return 0
  local S="$TOOLS/kwok-stages/pod"
  # kwok's own pod stages (ready, delete) and its chaos stage that fails a labelled pod; the project's
  # stages for long Jobs and node drains (test/e2e/kwok-pod-stages.yaml) in place of kwok's pod-complete.
  { for f in "$S/fast/pod-ready.yaml" "$S/fast/pod-delete.yaml" "$S/chaos/pod-container-running-failed.yaml" "$(dirname "$0")/kwok-pod-stages.yaml"; do
      cat "$f"; printf '\n---\n'; done; } > "$D/kwok-pod-stages.yaml"
  echo "--config=$D/kwok-pod-stages.yaml"
}

two_contexts_kubeconfig() { # the admin credentials under a second context; the current context is a decoy that answers nothing
  write_kubeconfig "$D/two-contexts.kubeconfig" decoy "decoy=https://127.0.0.1:1" "rehearsal=https://127.0.0.1:$API_PORT"
}

cpu_node() {
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{"kwok.x-k8s.io/node":"fake"},
 "labels":{"type":"kwok","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","kubernetes.io/hostname":"$1"}},
 "status":{"capacity":{"cpu":"32","memory":"128Gi","pods":"110"},"allocatable":{"cpu":"32","memory":"128Gi","pods":"110"}}}
EOF
}

# Three registries, each its own process, storage and access log (which counts uploads):
#   registry       plain HTTP with htpasswd (bcrypt) auth on $REGISTRY_PORT
#   registry-open  plain HTTP without auth on $REGISTRY_PORT+1
#   registry-tls   HTTPS with a certificate from the rehearsal CA, htpasswd auth, on $REGISTRY_PORT+2
# They share one random password. Clients trust the CA the way Go programs do: SSL_CERT_FILE=ca-bundle.crt.
registry_port() {
  case "$1" in
    registry) echo "$REGISTRY_PORT" ;;
    registry-open) echo "$((REGISTRY_PORT + 1))" ;;
    registry-tls) echo "$((REGISTRY_PORT + 2))" ;;
    *) echo "unknown registry $1" >&2; return 2 ;;
  esac
}

registry() { # name, [keep]: keep the stored images (a restart), otherwise start empty
  local name="$1" port; port=$(registry_port "$1")
  local R="$D/$name"; mkdir -p "$R" "$D/registry" "$D/pids" "$D/logs"
  [ "${2:-}" = keep ] || rm -rf "$R/storage" "$D/logs/$name.log"
  if [ ! -f "$D/registry/password" ]; then
    (umask 077; openssl rand -hex 24 > "$D/registry/password")
  fi
  local auth="" tls="" scheme=http cacert=()
  if [ "$name" != registry-open ]; then
    htpasswd -niB "$REGISTRY_USER" < "$D/registry/password" > "$R/htpasswd" 2>/dev/null
    chmod 600 "$R/htpasswd"
    auth="auth:
  htpasswd:
    realm: ngd
    path: $R/htpasswd"
  fi
  if [ "$name" = registry-tls ]; then
    scheme=https cacert=(--cacert "$D/pki/ca.crt")
    tls="  tls:
    certificate: $D/pki/registry.crt
    key: $D/pki/registry.key"
  fi
  cat > "$R/config.yml" <<CONF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $R/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$tls
$auth
CONF
  # append: a restart keeps the access log that counts uploads
  docker-registry serve "$R/config.yml" >> "$D/logs/$name.log" 2>&1 &
  echo $! > "$D/pids/$name.pid"
  wait_for "$name" 30 curl -s "${cacert[@]}" -o /dev/null "$scheme://127.0.0.1:$port/v2/"
}

registries() { for r in registry registry-open registry-tls; do registry "$r"; done; }

start_apiserver() {
  local P="$D/pki"
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --endpoint-reconciler-type=none \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-signing-key-file="$P/sa.key" --service-account-key-file="$P/sa.pub" \
    --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=RBAC --cert-dir="$D/apiserver-certs"
  wait_for kube-apiserver 90 api GET /readyz
}

# dockerd with its own data root and socket (no bridge, no iptables): pulls the pushed image back
# from the registry and runs it, to prove the image is real.
start_dockerd() {
  mkdir -p "$D/docker"
  local ca=(); [ ! -f "$D/pki/ca-bundle.crt" ] || ca=(env SSL_CERT_FILE="$D/pki/ca-bundle.crt")
  start dockerd "${ca[@]}" dockerd --host "unix://$D/docker/docker.sock" --data-root "$D/docker/data" --exec-root "$D/docker/exec" \
    --pidfile "$D/docker/docker.pid" --bridge=none --iptables=false --ip6tables=false
  wait_for dockerd 60 docker --host "unix://$D/docker/docker.sock" version
}

start_scheduler() {
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$D/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false
}

up() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    [ -x "$BIN/$b" ] || { log "missing $BIN/$b: run test/e2e/toolchain.sh all"; exit 1; }
  done
  stop_all
  local port
  for port in "$ETCD_PORT" "$((ETCD_PORT + 10))" "$API_PORT" "$KCM_PORT" "$SCHED_PORT" "$REGISTRY_PORT" "$((REGISTRY_PORT + 1))" "$((REGISTRY_PORT + 2))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "127.0.0.1:$port is already in use (another rehearsal cluster? \`NGD_CLUSTER_DIR=… $0 down\`, or set NGD_*_PORT)"; exit 1
    fi
  done
  mkdir -p "$D"
  certs
  kubeconfig
  local P="$D/pki"
  rm -rf "$D/etcd"
  start etcd "$BIN/etcd" --name=node0 --data-dir="$D/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$((ETCD_PORT + 10))" --initial-advertise-peer-urls="http://127.0.0.1:$((ETCD_PORT + 10))" \
    --initial-cluster="node0=http://127.0.0.1:$((ETCD_PORT + 10))" --initial-cluster-state=new --unsafe-no-fsync=true
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  start_apiserver
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$D/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --node-monitor-grace-period=3m20s
  start_scheduler
  # shellcheck disable=SC2046 # no stage arguments, or one
  start kwok "$BIN/kwok" --kubeconfig="$D/admin.kubeconfig" --manage-all-nodes=false \
    --manage-nodes-with-label-selector=type=kwok --node-lease-duration-seconds=40 --cidr=10.244.0.0/16 --node-ip=127.0.0.1 $(kwok_stage_args)
  api POST /apis/node.k8s.io/v1/runtimeclasses '{"apiVersion":"node.k8s.io/v1","kind":"RuntimeClass","metadata":{"name":"nvidia"},"handler":"nvidia"}' >/dev/null
  api POST /api/v1/nodes "$(gpu_node gpu-h100-0 NVIDIA-H100-80GB-HBM3 8 81559 hopper 9 0)" >/dev/null
  api POST /api/v1/nodes "$(gpu_node gpu-h100-1 NVIDIA-H100-80GB-HBM3 8 81559 hopper 9 0)" >/dev/null
  api POST /api/v1/nodes "$(gpu_node gpu-a100-0 NVIDIA-A100-SXM4-80GB 4 81920 ampere 8 0)" >/dev/null
  api POST /api/v1/nodes "$(cpu_node cpu-0)" >/dev/null
  if gpu_cluster; then
    api POST /api/v1/nodes "$(gpu_node gpu-t4-0 Tesla-T4 1 15360 turing 7 5 nvidia.com/gpu 1 '"nvidia.com/gpu.replicas":"1","nvidia.com/gpu.sharing-strategy":"none"')" >/dev/null
    # MIG single strategy: 7 × 1g.5gb as nvidia.com/gpu; memory is the MIG device's (GFD's MIG attribute labels).
    api POST /api/v1/nodes "$(gpu_node gpu-a100-mig-0 NVIDIA-A100-SXM4-40GB-MIG-1g.5gb 7 4864 ampere 8 0 nvidia.com/gpu 7 '"nvidia.com/mig.strategy":"single","nvidia.com/mig.capable":"true","nvidia.com/gpu.replicas":"1"')" >/dev/null
    # Time-slicing with renameByDefault: the resource is nvidia.com/gpu.shared and the product keeps its name.
    api POST /api/v1/nodes "$(gpu_node gpu-t4-shared-0 Tesla-T4 1 15360 turing 7 5 nvidia.com/gpu.shared 4 '"nvidia.com/gpu.replicas":"4","nvidia.com/gpu.sharing-strategy":"time-slicing"')" >/dev/null
    # A GKE node pool without GFD, and an arm64 (Grace Hopper) GPU node with GFD.
    api POST /api/v1/nodes "$(gke_gpu_node gke-h100-0 nvidia-h100-80gb 8)" >/dev/null
    api POST /api/v1/nodes "$(gpu_node gpu-gh200-0 NVIDIA-GH200-480GB 1 97871 hopper 9 0 nvidia.com/gpu 1 '' arm64)" >/dev/null
    api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-data","labels":{"team":"data"}}}' >/dev/null
    two_contexts_kubeconfig
  fi
  wait_for "nodes ready and untainted" 120 nodes_ready
  wait_for "default service account" 60 api GET /api/v1/namespaces/default/serviceaccounts/default
  registries
  start_dockerd
  cat > "$D/env" <<EOF
NGD_KUBECONFIG=$D/admin.kubeconfig
NGD_REGISTRY=127.0.0.1:$REGISTRY_PORT
NGD_REGISTRY_USER=$REGISTRY_USER
NGD_REGISTRY_PASSWORD_FILE=$D/registry/password
NGD_REGISTRY_STORAGE=$D/registry/storage
NGD_REGISTRY_LOG=$D/logs/registry.log
NGD_REGISTRY_OPEN=127.0.0.1:$((REGISTRY_PORT + 1))
NGD_REGISTRY_OPEN_STORAGE=$D/registry-open/storage
NGD_REGISTRY_OPEN_LOG=$D/logs/registry-open.log
NGD_REGISTRY_TLS=127.0.0.1:$((REGISTRY_PORT + 2))
NGD_REGISTRY_TLS_STORAGE=$D/registry-tls/storage
NGD_REGISTRY_TLS_LOG=$D/logs/registry-tls.log
NGD_CA_BUNDLE=$D/pki/ca-bundle.crt
NGD_API=https://127.0.0.1:$API_PORT
NGD_PKI=$D/pki
NGD_DOCKER_HOST=unix://$D/docker/docker.sock
NGD_CLUSTER_ID=$(date -u +%Y%m%dT%H%M%S)-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
EOF
  log "up: apiserver https://127.0.0.1:$API_PORT, registry 127.0.0.1:$REGISTRY_PORT, state in $D"
}

nodes_ready() {
  local json; json=$(api GET /api/v1/nodes)
  node -e '
    const nodes = JSON.parse(process.argv[1]).items;
    const ok = nodes.length === Number(process.argv[2]) && nodes.every((n) =>
      (n.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True") &&
      !(n.spec.taints ?? []).some((t) => t.key.startsWith("node.kubernetes.io/")));
    process.exit(ok ? 0 : 1);' "$json" "$(node_count)"
}

case "${1:-}" in
  up) up ;;
  down) stop_all; log "down" ;;
  stop) stop_one "${2:?component}"; log "stopped $2" ;;
  reset) # an empty registry again (stored images and access log dropped), same address and password
    case "${2:?registry}" in
      registry|registry-open|registry-tls) stop_one "$2"; registry "$2" ;;
      *) echo "can reset: registry registry-open registry-tls" >&2; exit 2 ;;
    esac
    log "reset $2" ;;
  start)
    case "${2:?component}" in
      registry|registry-open|registry-tls) registry "$2" keep ;;
      kube-apiserver) start_apiserver ;;
      kube-scheduler) start_scheduler ;;
      dockerd) start_dockerd ;;
      *) echo "can restart: registry registry-open registry-tls kube-apiserver kube-scheduler dockerd" >&2; exit 2 ;;
    esac
    log "started $2" ;;
  running) # exit 0 when every component of an earlier `up` is still running (local-stack.sh reuses it)
    [ -f "$D/env" ] && compgen -G "$D/pids/*.pid" >/dev/null || exit 1
    for f in "$D"/pids/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || exit 1; done ;;
  status) for f in "$D"/pids/*.pid; do [ -f "$f" ] && echo "$(basename "$f" .pid) $(cat "$f") $(kill -0 "$(cat "$f")" 2>/dev/null && echo running || echo dead)"; done ;;
  *) echo "usage: $0 up|down|running|status" >&2; exit 2 ;;
esac
