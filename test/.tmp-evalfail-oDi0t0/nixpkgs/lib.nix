# nixpkgs' own `lib` (the nixos-24.11 branch-off, lib.version "24.11pre-git"), pinned by URL and NAR
# hash like any source. The miniature package set is built on it, so makeOverridable, functionArgs,
# callPackageWith, makeScope, fixed points and overlays behave exactly as in nixpkgs.
# Offline, `test/seed-nix-store.sh` puts the tarball's unpacked tree into the store from
# ../shared/upstream; elsewhere builtins.fetchTarball downloads it.
let
  src = builtins.fetchTarball {
    url = "https://github.com/nix-community/nixpkgs.lib/archive/453e937fe69ab01dcc974c7301c5afc1768c11ba.tar.gz";
    sha256 = "0vla4b155v8hrg2n8dzis26j4nrx216cq6l2kd84r21ijg39nvyd";
  };
in
import (src + "/lib")
