# The rehearsal image of the `local` stack and the e2e suite: the project's one image recipe
# (nix/docker/buildCudaLayeredImage.nix, which nix/build_container.nix also calls) with other inputs:
# the miniature package set (./nixpkgs, built on nixpkgs' real lib; works offline once
# test/seed-nix-store.sh has seeded that lib) extended by a small app, and overlays from ./overlay
# applied the nixpkgs way (`final: prev:`). It takes the same arguments as the CUDA entry (all
# strings, JSON where structured); the result is the layer plan, or with `layerPlan` the image (an
# OCI layout directory), as the recipe describes.
{
  # imageName: name written into the archive's RepoTags.
  imageName ? "fixture"
  # imageTag: tag written into the archive; "" means the Nix output hash.
, imageTag ? ""
  # maxLayers: JSON integer, layer budget (2..125) for the layer planner.
, maxLayers ? "100"
  # overlays: JSON list of {"name": …, "args": {…}}; name is a file under ./overlay.
, overlays ? "[]"
  # cudaCapabilities: accepted for interface parity with the CUDA entry; written into the env.
, cudaCapabilities ? ''["8.0"]''
  # layerStrategy: "popularity" | "equal" | "stable" (components/layers.ts).
, layerStrategy ? "stable"
  # layerPlan: "" to evaluate or build the layer plan; the realised plan's store path to assemble
  #   the image from it (the build's second step, see nix/docker/buildCudaLayeredImage.nix).
, layerPlan ? ""
  # maxLayerBytes: JSON integer; the planner warns about larger layers.
, maxLayerBytes ? "10737418240"
  # system: the Nix system the miniature set is imported for (nix.system).
, system ? "x86_64-linux"
}:
let
  inherit (import ./lib.nix { }) run blob;

  # The app and what it depends on, as an overlay of the miniature set (busybox comes from the set).
  fixturePackages = final: prev: {
    greeting = "hello from the fixture";
    runtimeLibs = blob "runtime-libs" 2097152 "runtime-libs-1";
    modelWeights = blob "model-weights" 4194304 "model-weights-1";
    # The app references every other package, so its closure is the image's.
    # The greeting (config text) is data: written to share/greeting and printed with cat, never
    # spliced into the script, so nothing in it (`$(…)`, quotes, `%`) is ever run or interpreted.
    app = run "fixture-app" { inherit (final) greeting busybox runtimeLibs modelWeights; } ''
      set -eu
      mkdir -p $out/bin $out/share
      printf '%s\n%s\n' "$runtimeLibs" "$modelWeights" > $out/share/deps
      printf '%s\n' "$greeting" > $out/share/greeting
      printf '#!%s/bin/busybox sh\n%s/bin/busybox cat %s/share/greeting\necho "cuda capabilities: $CUDA_CAPABILITIES"\nexec %s/bin/busybox sleep 2147483647\n' \
        "$busybox" "$busybox" "$out" "$busybox" > $out/bin/app
      chmod 555 $out/bin/app
    '';
  };

  lib = import ./nixpkgs/lib.nix;
  overlayList = builtins.fromJSON overlays;
  # The file of a lowerCamelCase overlay name, as components/config.ts overlayFile() maps it
  # (expensiveEval → ./overlay/expensive-eval.nix).
  kebabCase = name: lib.concatMapStrings (c: if lib.toLower c != c then "-${lib.toLower c}" else c) (lib.stringToCharacters name);
  overlayFor = o: import (./overlay + "/${kebabCase o.name}.nix") (o.args or { });
  pkgs = import ./nixpkgs/stable {
    inherit system;
    overlays = [ fixturePackages ] ++ map overlayFor overlayList;
  };
in
import ../../nix/docker/buildCudaLayeredImage.nix {
  inherit pkgs layerStrategy;
  name = imageName;
  tag = if imageTag == "" then null else imageTag;
  maxLayers = builtins.fromJSON maxLayers;
  maxLayerBytes = builtins.fromJSON maxLayerBytes;
  layerPlan = if layerPlan == "" then null else layerPlan;
  cudatoolkit = pkgs.cudaPackages.cudatoolkit;
  contents = [ pkgs.busybox ];
  appPaths = [ pkgs.app ];
  entrypoint = ''exec ${pkgs.app}/bin/app "$@"'';
  env = [ "CUDA_CAPABILITIES=${builtins.concatStringsSep "," (builtins.fromJSON cudaCapabilities)}" ];
}
