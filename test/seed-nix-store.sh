#!/usr/bin/env bash
# Seeds the Nix store with the pinned sources this machine cannot download (nixpkgs' lib for the
# miniature package set, docTR 0.8.1 for nix/packages/doctr.nix), from ../shared/upstream when it
# exists. Each source becomes the fixed-output store path that its pin (name "source" + NAR hash)
# names, so the pinned builtins.fetchTarball / fetchFromGitHub succeed offline. Idempotent: a path
# that is already valid is skipped (about 0.1 s per source).
# Usage: bash test/seed-nix-store.sh [upstream-dir]   (default: ../shared/upstream from the project)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
upstream=${1:-$root/../shared/upstream}
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
