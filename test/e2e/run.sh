#!/usr/bin/env bash
# The real-engine e2e suite: builds (or reuses) the toolchain, then runs test/e2e/*.test.ts, which
# starts the rehearsal cluster and registry itself and stops them by pid at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
test/e2e/toolchain.sh all
bash test/seed-nix-store.sh
export NGD_CLUSTER_DIR="${NGD_CLUSTER_DIR:-$(mktemp -d /tmp/ngd-cluster-e2e.XXXXXX)}"
exec npx mocha --config .mocharc.e2e.json
