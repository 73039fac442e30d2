#!/usr/bin/env bash
# Brings the rehearsal GPU cluster and registry up on this machine and runs `pulumi up --stack local`.
# State: a file backend in .pulumi-local/ (git-ignored); the stack's secrets (registry password,
# kubeconfig) go into .pulumi-local/Pulumi.local.yaml, a copy of the committed Pulumi.local.yaml,
# so the committed file never holds ciphertext of a throw-away cluster.
# Stop everything again with: test/e2e/cluster.sh down
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
test/e2e/toolchain.sh all
export NGD_CLUSTER_DIR="${NGD_CLUSTER_DIR:-/tmp/ngd-cluster}"
test/e2e/cluster.sh up
# shellcheck disable=SC1091
. "$NGD_CLUSTER_DIR/env"
mkdir -p .pulumi-local/state
export PATH="${NGD_TOOLS:-$HOME/.cache/nix-gpu-deploy/tools}/bin:$PATH"
export PULUMI_BACKEND_URL="file://$root/.pulumi-local/state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-local-rehearsal}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_SKIP_UPDATE_CHECK=true
cfg="$root/.pulumi-local/Pulumi.local.yaml"
[ -f "$cfg" ] || cp Pulumi.local.yaml "$cfg"
if ! pulumi stack select local --non-interactive >/dev/null 2>&1; then
  # `stack init` writes the passphrase salt into Pulumi.local.yaml; move it to the private copy.
  cp Pulumi.local.yaml .pulumi-local/committed.yaml
  trap 'cp .pulumi-local/committed.yaml Pulumi.local.yaml' EXIT
  pulumi stack init local --non-interactive >/dev/null
  salt=$(grep '^encryptionsalt:' Pulumi.local.yaml)
  cp .pulumi-local/committed.yaml Pulumi.local.yaml
  trap - EXIT
  grep -q '^encryptionsalt:' "$cfg" || echo "$salt" >> "$cfg"
fi
pulumi config set --config-file "$cfg" --secret registryPassword < "$NGD_REGISTRY_PASSWORD_FILE"  # stdin: never in argv
pulumi config set --config-file "$cfg" --secret kubeconfig < "$NGD_KUBECONFIG"
pulumi config set --config-file "$cfg" --path registry.host "$NGD_REGISTRY"
pulumi up --stack local --config-file "$cfg" --yes "$@"
