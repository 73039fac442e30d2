#!/usr/bin/env bash
# `npm run local:up` / `npm run local:preview` (and `local:destroy`): brings the rehearsal GPU cluster and registry up on this
# machine (once) and runs `pulumi up` / `pulumi preview` on the `local` stack. Extra arguments go to
# Pulumi (`npm run local:preview -- --diff`).
#
# The committed Pulumi.local.yaml is the stack's config: every run reads it again. The engine reads a
# private file, .pulumi-local/Pulumi.local.yaml (git-ignored), written anew on each run from the
# committed file plus what must not be committed: the passphrase salt of this machine's stack
# (.pulumi-local/encryptionsalt) and the throw-away cluster's secrets (registry password, kubeconfig),
# encrypted by `pulumi config set --secret` from files, never through argv. Edit Pulumi.local.yaml;
# an edit of the private file is overwritten on the next run.
# State: a file backend in .pulumi-local/state. Stop everything again with: npm run local:down
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
verb="${1:-up}"
[ $# -gt 0 ] && shift
case "$verb" in
  up|destroy) set -- --yes "$@" ;;
  preview) ;;
  *) echo "usage: test/e2e/local-stack.sh up|preview|destroy [pulumi arguments]" >&2; exit 2 ;;
esac
test/e2e/toolchain.sh all
# The fixture builders' tools into the store (Nix's sandbox shows them nothing else), nixpkgs' lib.
bash test/seed-nix-store.sh
export NGD_CLUSTER_DIR="${NGD_CLUSTER_DIR:-/tmp/ngd-cluster}"
# The rehearsal cluster of an earlier run is used again; `up` would start an empty one.
test/e2e/cluster.sh running || test/e2e/cluster.sh up
# shellcheck disable=SC1091
. "$NGD_CLUSTER_DIR/env"
mkdir -p .pulumi-local/state
export PATH="${NGD_TOOLS:-$HOME/.cache/nix-gpu-deploy/tools}/bin:$PATH"
export PULUMI_BACKEND_URL="file://$root/.pulumi-local/state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-local-rehearsal}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_SKIP_UPDATE_CHECK=true
# The providers built from source, as installed plugins (no "using … from \$PATH" warnings).
test/e2e/toolchain.sh install-plugins

private="$root/.pulumi-local/Pulumi.local.yaml"
salt="$root/.pulumi-local/encryptionsalt"
# A private file written by an earlier version of this script holds the salt: keep it.
[ -f "$salt" ] || [ ! -f "$private" ] || grep '^encryptionsalt:' "$private" > "$salt" || true
if ! pulumi stack select local --non-interactive >/dev/null 2>&1; then
  # `stack init` writes the passphrase salt into Pulumi.local.yaml; move it out of the committed file.
  cp Pulumi.local.yaml .pulumi-local/committed.yaml
  trap 'cp .pulumi-local/committed.yaml Pulumi.local.yaml' EXIT
  pulumi stack init local --non-interactive >/dev/null
  grep '^encryptionsalt:' Pulumi.local.yaml > "$salt"
  cp .pulumi-local/committed.yaml Pulumi.local.yaml
  trap - EXIT
fi
[ -s "$salt" ] || { echo "local stack: no passphrase salt in $salt; remove .pulumi-local to start the local stack afresh" >&2; exit 1; }

tmp="$root/.pulumi-local/Pulumi.local.new.yaml"
{ cat Pulumi.local.yaml; echo; cat "$salt"; } > "$tmp"
pulumi config set --config-file "$tmp" --secret registryPassword < "$NGD_REGISTRY_PASSWORD_FILE"  # stdin: never in argv
pulumi config set --config-file "$tmp" --secret kubeconfig < "$NGD_KUBECONFIG"
committed_host=$(pulumi config get --config-file "$tmp" --path registry.host 2>/dev/null || true)
if [ "$committed_host" != "$NGD_REGISTRY" ]; then
  # The rehearsal registry listens where cluster.sh put it (NGD_REGISTRY_PORT): said, not silent.
  echo "local stack: registry.host is $NGD_REGISTRY, where the rehearsal registry listens (Pulumi.local.yaml says ${committed_host:-nothing})" >&2
  pulumi config set --config-file "$tmp" --path registry.host "$NGD_REGISTRY"
fi
mv "$tmp" "$private"
# The cluster this stack last ran against (cluster.sh gives every `up` an id). Another one (a
# reboot, `local:down`, a suite's restart) is empty: the state describes objects that are gone and an
# image the new registry does not have. The run then reads the cluster again (--refresh) and pushes
# the image again (--replace of the push step); `local:destroy` only refreshes.
last_cluster="$root/.pulumi-local/cluster-id"
exported="$root/.pulumi-local/state.json"
if [ "$(cat "$last_cluster" 2>/dev/null || true)" != "${NGD_CLUSTER_ID:-}" ] && pulumi stack export --stack local > "$exported" 2>/dev/null \
  && grep -q '"urn"' "$exported"; then
  echo "local stack: the rehearsal cluster is not the one this stack last ran against: its state is refreshed from it, and the image is pushed again" >&2
  set -- --refresh "$@"
  if [ "$verb" != destroy ]; then
    for urn in $(node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      for (const r of s.deployment?.resources ?? []) { if (/::publish-(push|load)$/.test(r.urn)) { console.log(r.urn); } }' "$exported"); do
      set -- --replace "$urn" "$@"
    done
  fi
fi
rm -f "$exported"
echo "${NGD_CLUSTER_ID:-}" > "$last_cluster"
exec pulumi "$verb" --stack local --config-file "$private" "$@"
