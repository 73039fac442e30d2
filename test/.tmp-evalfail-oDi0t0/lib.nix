# Helpers of the nixpkgs-free fixtures: derivations built with the host tools of ./host-tools.nix
# (store paths, so they build in Nix's sandbox; no nixpkgs offline).
{ }:
let
  host = import ./host-tools.nix;
in
rec {
  # run: a derivation from a shell script. name: derivation name; env: extra attributes; script: sh.
  inherit (host) run;

  # blob: `size` bytes of deterministic, incompressible data (the AES-128-CTR keystream keyed by
  # sha256(seed)), so registry sizes reflect layer sizes after gzip. Same seed, same bytes, anywhere.
  blob = name: size: seed: run name { inherit size seed; } ''
    set -eu
    mkdir -p $out/share
    key=$(printf '%s' "$seed" | sha256sum | cut -c1-32)
    printf '%s\n' "$seed" > $out/share/seed
    openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null \
      | head -c "$size" > $out/share/data
  '';

  # twoStepImage: the image recipe's two steps for a nixpkgs-free fixture, with the project's own
  #   planner and assembly files: without `layerPlan` ("") the layer plan of `roots`
  #   (nix/docker/plan-layers.nix, named "<name>-layer-plan"), with it the image
  #   (nix/docker/assemble-image.nix). name: image name; config: image config; roots: the image's
  #   root store paths; strategy, maxLayers (an integer), appPaths: as plan-layers.nix takes them;
  #   layerPlan: "" or the realised plan's store path. The planner runs on the host tools' Node.js.
  twoStepImage = { name, config, roots, strategy ? "stable", maxLayers, appPaths ? [ ], layerPlan }:
    let
      node = "${host.nodejs}/bin/node";
      assembly = { inherit name config; architecture = "amd64"; inherit (host) shell; shellPath = host.path; };
    in
    if layerPlan == "" then
      import ../../nix/docker/plan-layers.nix {
        inherit roots strategy maxLayers appPaths node;
        inherit (host) shell;
        shellPath = host.path;
        name = "${name}-layer-plan";
        assembly = builtins.toJSON assembly;
      }
    else import ../../nix/docker/assemble-image.nix (assembly // { inherit layerPlan; });
}
