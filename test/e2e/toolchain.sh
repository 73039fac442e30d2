#!/usr/bin/env bash
# Builds (once) and caches the real toolchain the e2e suite needs, outside the repo, keyed by version.
# Usage: test/e2e/toolchain.sh [pulumi|plugins|langhost|pyhost|command|docker|kubernetes|kube|etcd|kwok|all|install-plugins]
# Prints nothing but progress on stderr; binaries land in $NGD_TOOLS/bin (default ~/.cache/nix-gpu-deploy/tools).
# A tool already on PATH at the pinned version is used as it is.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="${NGD_TOOLS:-$HOME/.cache/nix-gpu-deploy/tools}"
BIN="$TOOLS/bin"
# Resource plugins are not put on PATH (the engine would warn "using pulumi-resource-… from $PATH" on
# every run): they are built here and installed into Pulumi's plugin directory (`install-plugins`).
PROVIDERS="$TOOLS/providers"
mkdir -p "$BIN" "$TOOLS/build" "$PROVIDERS"
for p in command kubernetes docker; do  # builds of earlier versions of this script, kept
  [ -x "$BIN/pulumi-resource-$p" ] && [ ! -L "$BIN/pulumi-resource-$p" ] && mv "$BIN/pulumi-resource-$p" "$PROVIDERS/"
  rm -f "$BIN/pulumi-resource-$p"
done
# plugin_path NAME: where the toolchain keeps plugin NAME (language hosts next to pulumi, as Pulumi bundles them).
plugin_path() { case "$1" in pulumi-resource-*) echo "$PROVIDERS/$1" ;; *) echo "$BIN/$1" ;; esac; }
export GOFLAGS="-mod=mod -buildvcs=false"

pkgver() { node -e "console.log(require('$here/package.json').dependencies['$1'])"; }
PULUMI_VERSION="${PULUMI_VERSION:-$(pkgver @pulumi/pulumi 2>/dev/null || echo 3.248.0)}"
COMMAND_VERSION="${COMMAND_VERSION:-$(pkgver @pulumi/command 2>/dev/null || echo 1.2.1)}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-$(pkgver @pulumi/kubernetes 2>/dev/null || echo 4.25.0)}"
K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.7.0}"

log() { echo "[toolchain] $*" >&2; }
stamp_ok() { [ -f "$TOOLS/stamps/$1" ]; }
stamp() { mkdir -p "$TOOLS/stamps"; date -u +%FT%TZ > "$TOOLS/stamps/$1"; }

build_pulumi() {
  local s="pulumi-$PULUMI_VERSION"
  if command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ] && [ "$(command -v pulumi)" != "$BIN/pulumi" ]; then
    log "pulumi v$PULUMI_VERSION already on PATH"; return; fi
  stamp_ok "$s" && [ -x "$BIN/pulumi" ] && { log "pulumi v$PULUMI_VERSION cached"; return; }
  local d="$TOOLS/build/$s"; mkdir -p "$d"; cd "$d"
  cat > go.mod <<MOD
module ngd/pulumiwrap
go 1.26
require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
  cat > tools.go <<'GO'
//go:build tools
package tools
import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
  log "building pulumi v$PULUMI_VERSION (several minutes)"
  go mod tidy >/dev/null 2>&1 || true
  go build -o "$BIN/pulumi" -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  stamp "$s"
}

# use_path NAME VERSION-PATTERN VERSION-ARGS...: link a matching binary from PATH instead of building.
use_path() {
  local name="$1" want="$2"; shift 2
  local found; found=$(PATH="${PATH//$BIN:/}" command -v "$name" 2>/dev/null) || return 1
  [ "$found" = "$BIN/$name" ] && return 1
  "$found" "$@" 2>&1 | grep -q -- "$want" || return 1
  ln -sf "$found" "$BIN/$name"; log "$name $want from PATH ($found)"
}

build_kube() {
  local s="kube-$K8S_VERSION" have=1
  if use_path kube-apiserver "v$K8S_VERSION" --version && use_path kube-controller-manager "v$K8S_VERSION" --version \
    && use_path kube-scheduler "v$K8S_VERSION" --version; then return; fi
  for b in kube-apiserver kube-controller-manager kube-scheduler; do [ -x "$BIN/$b" ] || have=0; done
  stamp_ok "$s" && [ $have = 1 ] && { log "kubernetes v$K8S_VERSION cached"; return; }
  local d="$TOOLS/build/$s" minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  mkdir -p "$d"; cd "$d"
  local staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
  {
    echo "module ngd/kubewrap"; echo "go 1.26"; echo "godebug default=go1.24"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    for m in $staging; do echo "replace k8s.io/$m => k8s.io/$m v0.${K8S_VERSION#1.}"; done
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools
package tools
import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  log "building kubernetes v$K8S_VERSION control plane (many minutes)"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  local v="k8s.io/component-base/version" lf
  lf="-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    go build -o "$BIN/$b" -ldflags "$lf" "k8s.io/kubernetes/cmd/$b"
  done
  stamp "$s"
}

build_etcd() {
  local s="etcd-$ETCD_VERSION"
  use_path etcd "etcd Version: $ETCD_VERSION" --version && return
  stamp_ok "$s" && [ -x "$BIN/etcd" ] && { log "etcd v$ETCD_VERSION cached"; return; }
  local d="$TOOLS/build/$s"; mkdir -p "$d"; cd "$d"
  printf 'module ngd/etcdwrap\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" > go.mod
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd v$ETCD_VERSION"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -o "$BIN/etcd" -ldflags "-s -w" .
  stamp "$s"
}

build_kwok() {
  local s="kwok-$KWOK_VERSION"
  [ -d "$TOOLS/kwok-stages" ] && use_path kwok "v$KWOK_VERSION" --version && return
  stamp_ok "$s" && [ -x "$BIN/kwok" ] && { log "kwok v$KWOK_VERSION cached"; return; }
  log "building kwok v$KWOK_VERSION"
  GOTOOLCHAIN="${KWOK_GOTOOLCHAIN:-go1.27.3}" GOBIN="$BIN" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  # the stage configs ship in the module; keep a copy next to the binary
  local src; src="$(GOTOOLCHAIN="${KWOK_GOTOOLCHAIN:-go1.27.3}" go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION"
  rm -rf "$TOOLS/kwok-stages"; mkdir -p "$TOOLS/kwok-stages"; cp -r "$src/kustomize/stage/." "$TOOLS/kwok-stages/"; chmod -R u+w "$TOOLS/kwok-stages"
  stamp "$s"
}

# The Go proxy serves the kubernetes provider only by commit; map the npm version to it.
kubernetes_provider_module_version() {
  case "$1" in
    4.25.0) echo "v4.0.0-20260115033456-f47bc2d6f199" ;;
    *) echo "no known provider commit for @pulumi/kubernetes $1 (add it to kubernetes_provider_module_version)" >&2; return 1 ;;
  esac
}

build_kubernetes() {
  local tb="$UPSTREAM/pulumi-kubernetes-v$KUBERNETES_VERSION-provider.tar.gz"
  if [ -f "$tb" ]; then build_upstream pulumi-resource-kubernetes "$KUBERNETES_VERSION" "$tb" kubernetes_recipe; return; fi
  local s="pulumi-resource-kubernetes-$KUBERNETES_VERSION"
  stamp_ok "$s" && [ -x "$PROVIDERS/pulumi-resource-kubernetes" ] && { log "kubernetes provider v$KUBERNETES_VERSION cached"; return; }
  local modver; modver="$(kubernetes_provider_module_version "$KUBERNETES_VERSION")"
  local d="$TOOLS/build/$s"; mkdir -p "$d"; cd "$d"
  cat > go.mod <<MOD
module ngd/k8sproviderwrap
go 1.26
require (
	github.com/pulumi/pulumi-kubernetes/provider/v4 $modver
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v$KUBERNETES_VERSION
)
MOD
  # Our own main: the upstream one embeds generated, untracked files; this one embeds the tracked
  # schema.json and terraform-mapping.json of the module, with the version filled in.
  cat > main.go <<'GO'
package main

import (
	_ "embed"
	"encoding/json"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	var spec map[string]any
	if err := json.Unmarshal(schema, &spec); err != nil {
		panic(err)
	}
	spec["version"] = version.Version
	withVersion, err := json.Marshal(spec)
	if err != nil {
		panic(err)
	}
	provider.Serve("kubernetes", version.Version, withVersion, terraformMapping)
}
GO
  log "building pulumi-resource-kubernetes v$KUBERNETES_VERSION ($modver)"
  go mod download github.com/pulumi/pulumi-kubernetes/provider/v4
  local src; src="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4 2>/dev/null || true)"
  [ -n "$src" ] || src="$(go env GOMODCACHE)/github.com/pulumi/pulumi-kubernetes/provider/v4@$modver"
  cp "$src/cmd/pulumi-resource-kubernetes/schema.json" "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" .
  chmod u+w schema.json terraform-mapping.json
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -o "$PROVIDERS/pulumi-resource-kubernetes" -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_VERSION" .
  stamp "$s"
}

# The real plugins, built from the verbatim upstream sources in ../shared/upstream (no registry here
# serves them): the language host, the command provider and the docker provider. Each is cached under a
# stamp keyed by the source tarball's hash. Where ../shared/upstream is absent (a machine with a normal
# Pulumi install), nothing is built and the plugins Pulumi has installed are used.
UPSTREAM="${NGD_UPSTREAM:-$here/../shared/upstream}"
DOCKER_PROVIDER_VERSION="${DOCKER_PROVIDER_VERSION:-5.1.0}"

# upstream_src TARBALL STAMP: unpacks TARBALL into a fresh build dir (top directory stripped) and prints it.
upstream_src() {
  local d="$TOOLS/build/$2"
  rm -rf "$d"; mkdir -p "$d"
  tar -xzf "$1" -C "$d" --strip-components=1
  chmod -R u+w "$d"
  echo "$d"
}
tarball_sum() { sha256sum "$1" | cut -c1-16; }
# record_plugin NAME VERSION TARBALL: what was built from which source; the e2e compares the sha256
# with the binaries that ran and prints the version.
record_plugin() {
  mkdir -p "$TOOLS/plugins"
  printf 'sha256=%s\nversion=%s\nsource=%s\n' "$(sha256sum "$(plugin_path "$1")" | cut -d' ' -f1)" "$2" "$(basename "$3")" > "$TOOLS/plugins/$1"
}
no_upstream() { # name, tarball: drop an earlier build, so the installed plugin is what runs
  rm -f "$TOOLS/plugins/$1" "$(plugin_path "$1")"
  log "$1: no upstream source ($2); the installed plugin is used"
}

# build_upstream NAME VERSION TARBALL RECIPE: builds plugin NAME from TARBALL once (stamp keyed by the
# tarball's hash); RECIPE, run in a subshell with the unpacked source's directory, writes $(plugin_path NAME).
build_upstream() {
  local name="$1" version="$2" tb="$3" recipe="$4"
  [ -f "$tb" ] || { no_upstream "$name" "$tb"; return; }
  local s; s="$name-$version-$(tarball_sum "$tb")"
  stamp_ok "$s" && [ -x "$(plugin_path "$name")" ] && { log "$name v$version cached"; return; }
  log "building $name v$version from $tb"
  local d; d="$(upstream_src "$tb" "$s")"
  ("$recipe" "$d")
  record_plugin "$name" "$version" "$tb"
  stamp "$s"
}

langhost_recipe() {
  cd "$1/sdk/nodejs/cmd/pulumi-language-nodejs"
  # Upstream builds inside the pulumi repository: point pkg/sdk at the released modules instead.
  go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
    -require "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" -require "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -o "$BIN/pulumi-language-nodejs" -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" .
}

# The Python language host (for the Python program that uses the component package): the same recipe as
# the Node.js host; its executor script must sit next to the binary.
pyhost_recipe() {
  cd "$1"  # the snapshot holds the host's directory itself
  go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
    -require "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" -require "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -o "$BIN/pulumi-language-python" -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" .
  install -m 0755 "$1/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
}

command_recipe() {
  # The snapshot leaves out upstream's test-support package util/testutil, which util.go uses only to
  # hand log lines to tests (`ctx.(*testutil.TestContext)`); no proxy serves it, so drop that hook.
  local util="$1/provider/pkg/provider/util/util.go"
  if [ ! -d "$1/provider/pkg/provider/util/testutil" ]; then
    sed -i -e '/provider\/util\/testutil"$/d' -e '/if testCtx, ok := ctx.(\*testutil.TestContext); ok {/,/^\t\t}$/d' "$util"
    if grep -q testutil "$util"; then log "could not drop the testutil hook from $util"; return 1; fi
  fi
  cd "$1/provider"
  go build -o "$PROVIDERS/pulumi-resource-command" -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=v$COMMAND_VERSION" ./cmd/pulumi-resource-command
}

docker_recipe() {
  # What upstream's `make` does before building: patch the bridged Terraform provider, embed the schema
  # with its version. No `go mod download`: it asks for a module the proxy refuses and no package needs.
  (cd "$1/upstream" && for p in "$1"/patches/*.patch; do git apply "$p"; done)
  node -e 'const fs = require("fs"); const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); s.version = process.argv[3];
    fs.writeFileSync(process.argv[2], JSON.stringify(s));' \
    "$1/provider/cmd/pulumi-resource-docker/schema.json" "$1/provider/cmd/pulumi-resource-docker/schema-embed.json" "$DOCKER_PROVIDER_VERSION"
  cd "$1/provider"
  CGO_ENABLED=0 go build -o "$PROVIDERS/pulumi-resource-docker" -tags no_compose \
    -ldflags "-s -w -X github.com/pulumi/pulumi-docker/provider/v5/pkg/version.Version=$DOCKER_PROVIDER_VERSION" ./cmd/pulumi-resource-docker
}

# The kubernetes provider 4.32.0 (client-side create: an existing object fails with AlreadyExists instead of
# being adopted), as ../shared/upstream/README.md says: the proxy refuses three pinned modules, so pin
# the nearest served ones; the snapshot lacks the generated schema.json, so embed the one tracked in the
# 4.25.0 module (the same input names for every resource the project and the 4.32 SDK use; it lacks
# the 4.32-only provider options and newer resources, so `pulumi package get-schema` is incomplete).
kubernetes_recipe() {
  cd "$1/provider"
  go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
    -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$KUBERNETES_VERSION" -require github.com/fluxcd/pkg/ssa@v0.72.0 \
    -require github.com/pulumi/pulumi/pkg/v3@v3.246.0 -require github.com/pulumi/pulumi/sdk/v3@v3.246.0
  go mod tidy -e >/dev/null 2>&1
  local schemaMod; schemaMod="github.com/pulumi/pulumi-kubernetes/provider/v4@$(kubernetes_provider_module_version 4.25.0)"
  local schemaDir; schemaDir="$(cd "$TOOLS/build" && GOFLAGS= go mod download -json "$schemaMod" | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).Dir))')"
  cp "$schemaDir/cmd/pulumi-resource-kubernetes/schema.json" cmd/pulumi-resource-kubernetes/schema.json
  chmod u+w cmd/pulumi-resource-kubernetes/schema.json
  (cd cmd/pulumi-resource-kubernetes && VERSION="$KUBERNETES_VERSION" go run ./generate.go)
  CGO_ENABLED=0 go build -o "$PROVIDERS/pulumi-resource-kubernetes" \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_VERSION" ./cmd/pulumi-resource-kubernetes
}

build_langhost() { build_upstream pulumi-language-nodejs "$PULUMI_VERSION" "$UPSTREAM/pulumi-language-nodejs-v$PULUMI_VERSION.tar.gz" langhost_recipe; }
build_pyhost() { build_upstream pulumi-language-python "$PULUMI_VERSION" "$UPSTREAM/pulumi-language-python-v$PULUMI_VERSION.tar.gz" pyhost_recipe; }
build_command() { build_upstream pulumi-resource-command "$COMMAND_VERSION" "$UPSTREAM/pulumi-command-v$COMMAND_VERSION-provider.tar.gz" command_recipe; }
build_docker() { build_upstream pulumi-resource-docker "$DOCKER_PROVIDER_VERSION" "$UPSTREAM/pulumi-docker-v$DOCKER_PROVIDER_VERSION-provider.tar.gz" docker_recipe; }

# install-plugins: the resource plugins built here, installed into Pulumi's plugin directory
# ($PULUMI_HOME/plugins, default ~/.pulumi/plugins) the way `pulumi plugin install --file` installs a
# plugin binary, so the engine finds them at the versions the program asks for, with no warning.
# Idempotent: an installed copy identical to the build is left alone.
install_plugins() {
  local home="${PULUMI_HOME:-$HOME/.pulumi}" name version f inst
  for spec in "command:$COMMAND_VERSION" "kubernetes:$KUBERNETES_VERSION" "docker:$DOCKER_PROVIDER_VERSION"; do
    name="${spec%%:*}"; version="${spec#*:}"
    f="$PROVIDERS/pulumi-resource-$name"
    [ -x "$f" ] || continue
    inst="$home/plugins/resource-$name-v$version/pulumi-resource-$name"
    [ -x "$inst" ] && cmp -s "$f" "$inst" && continue
    log "installing pulumi-resource-$name v$version into $home/plugins"
    # the pinned pulumi: ours, or the one build_pulumi found on PATH
    PATH="$BIN:$PATH" PULUMI_HOME="$home" pulumi plugin install resource "$name" "$version" --file "$f" --reinstall >/dev/null
  done
}

case "${1:-all}" in
  install-plugins) install_plugins ;;
  pulumi) build_pulumi ;;
  plugins) build_langhost; build_command; build_docker ;;
  langhost) build_langhost ;;
  pyhost) build_pyhost ;;
  command) build_command ;;
  docker) build_docker ;;
  kubernetes) build_kubernetes ;;
  kube) build_kube ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  all) build_pulumi; build_langhost; build_pyhost; build_command; build_docker; build_kubernetes; build_etcd; build_kwok; build_kube ;;
  *) echo "unknown target $1" >&2; exit 2 ;;
esac
