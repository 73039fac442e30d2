#!/usr/bin/env bash
# Seeds the Nix store with what the offline fixtures need:
# 1. the host tools the fixtures' builders run (test/fixture/host-tools.nix): Nix's sandbox shows a
#    builder no host path, so a static busybox, GNU tar, gzip and sed, Node.js, OpenSSL, the shared
#    libraries they link and their dynamic loader, and the CA bundle are copied into one store path,
#    linked at /nix/var/nix/gcroots/nix-gpu-deploy-host-tools (a GC root of this machine, where any
#    copy of the project finds it). They stand in for nixpkgs' stdenv and build tools, which cannot
#    be fetched here.
# 2. the pinned sources this machine cannot download (nixpkgs' lib for the miniature package set,
#    docTR 0.8.1 for nix/packages/doctr.nix), from ../shared/upstream when it exists. Each source becomes the fixed-output store path that its pin (name "source" + NAR hash)
# names, so the pinned builtins.fetchTarball / fetchFromGitHub succeed offline. Idempotent: a path
# that is already valid is skipped (about 0.1 s per source).
# Usage: bash test/seed-nix-store.sh [upstream-dir]   (default: ../shared/upstream from the project)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
upstream=${1:-$root/../shared/upstream}

# --- 1. host tools ------------------------------------------------------------------------------
link=/nix/var/nix/gcroots/nix-gpu-deploy-host-tools
# the builders' shell (dash: busybox's static sh would run its own tar, gzip and sed applets ahead
# of PATH) and the GNU tools; each runs through bin/launcher (test/fixture/host-launcher.c)
tools=(sh tar gzip sed node openssl)
stage=$(mktemp -d "${TMPDIR:-/tmp}/ngd-host-tools.XXXXXX")
trap 'rm -rf "$stage"' EXIT
h=$stage/host-tools
mkdir -p "$h/bin" "$h/busybox/bin" "$h/libexec" "$h/lib" "$h/etc"
gcc -static -Os -s -o "$h/bin/launcher" "$root/test/fixture/host-launcher.c"
cp /bin/busybox "$h/busybox/bin/busybox"
for a in $("$h/busybox/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$h/busybox/bin/$a"; done
for t in "${tools[@]}"; do
  case "$t" in sh) bin=/bin/dash ;; *) bin=$(command -v "$t") || { echo "[seed] host tool $t is missing" >&2; exit 1; } ;; esac
  cp -L "$bin" "$h/libexec/$t"
  ln -s launcher "$h/bin/$t"
  # `ldd` lines: "libX.so.N => /path (addr)" and the loader "/lib64/ld-linux-….so.2 (addr)"
  ldd "$bin" | while read -r a b c _; do
    case "$b" in
      "=>") [ -f "$c" ] && cp -L "$c" "$h/lib/$a" ;;
      *) case "$a" in /*) cp -L "$a" "$h/lib/ld.so" ;; esac ;;
    esac
  done
done
cp -L /etc/ssl/certs/ca-certificates.crt "$h/etc/ca-bundle.crt"
chmod -R a-w,a+rX "$h"
tools_path=$(nix-store --add "$h")
chmod -R u+w "$h"
if [ "$(readlink "$link" 2>/dev/null)" != "$tools_path" ]; then
  ln -sfn "$tools_path" "$link"
  echo "[seed] host tools: $tools_path"
fi

# --- 2. pinned sources ----------------------------------------------------------------------------
if [ ! -d "$upstream" ]; then
  echo "[seed] no $upstream: the pinned fetches will download their sources"
  exit 0
fi
# tarball | NAR hash (sha256, base32) of its unpacked single top directory
sources=(
  "nixpkgs.lib-453e937fe69ab01dcc974c7301c5afc1768c11ba.tar.gz|0vla4b155v8hrg2n8dzis26j4nrx216cq6l2kd84r21ijg39nvyd"
  "doctr-v0.8.1.tar.gz|0agnzsg2x2xh115zqvxf3lkbzpa8sl2v0d2jrcb02347k2mhclmf"
)

for entry in "${sources[@]}"; do
  file=${entry%%|*}; hash=${entry#*|}
  want=$(nix-store --print-fixed-path --recursive sha256 "$hash" source)
  if nix-store --check-validity "$want" 2>/dev/null; then
    echo "[seed] $file: $want already valid"
    continue
  fi
  [ -f "$upstream/$file" ] || { echo "[seed] $upstream/$file is missing" >&2; exit 1; }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/ngd-seed.XXXXXX")
  tar -xzf "$upstream/$file" -C "$tmp"
  tops=("$tmp"/*)
  [ ${#tops[@]} -eq 1 ] && [ -d "${tops[0]}" ] || { echo "[seed] $file: expected one top directory" >&2; rm -rf "$tmp"; exit 1; }
  mv "${tops[0]}" "$tmp/source"
  got=$(nix-store --add-fixed --recursive sha256 "$tmp/source")
  rm -rf "$tmp"
  if [ "$got" != "$want" ]; then
    echo "[seed] $file: unpacked tree is $got, but the pin names $want (wrong tarball?)" >&2
    exit 1
  fi
  echo "[seed] $file: added $got"
done
