# Plans the image layers inside the build: the closure graph of `roots` (exportReferencesGraph with
# structured attrs gives each path's narSize and references) goes through ./layer-planner.js, the
# compiled form of components/nix/layers.ts. The output directory holds plan.json, layers.txt (one
# layer per line, space-separated store paths) and input.json (the graph, appPaths and rootDir it
# planned from, for the next preview's forecast); the planner fails when a path of the closure is in
# no layer or in two. Needs no nixpkgs (the caller hands in the shell and Node.js), so tests run it
# offline. It runs no host tool: under Nix's sandbox the builder sees only its inputs.
{
  # roots: store paths whose closure the image holds.
  roots
  # strategy: "popularity" | "equal" | "stable" (see components/nix/layers.ts).
, strategy ? "stable"
  # maxLayers: layer budget (at most 125).
, maxLayers ? 100
  # maxLayerBytes: the planner warns about layers larger than this.
, maxLayerBytes ? 10737418240
  # node: a Node.js binary (nixpkgs: "${pkgs.buildPackages.nodejs}/bin/node").
, node
  # shell: the builder's POSIX shell (nixpkgs: stdenv.shell).
, shell
  # shellPath: PATH for the builder's shell (store paths only).
, shellPath
  # appPaths: the project's own packages (their store paths change in nearly every release); the
  #   stable planner keeps them, and what changes with them, apart from everything else.
, appPaths ? [ ]
  # rootDir: the store path whose tree becomes the image's root layer (packed after the planned
  #   layers), or null; recorded in input.json so that a preview can tell whether that layer changes.
, rootDir ? null
  # name: derivation name.
, name ? "layer-plan-${strategy}-${toString maxLayers}"
  # assembly: what the image is assembled from besides the plan (config, name, tag, the assembly
  #   recipe's files, …) as a JSON string: ./assemble-image.nix's arguments but `layerPlan` (and
  #   `recipe`, the hashes of its files). Written to assembly.json, and part of the derivation's
  #   hash, so that the plan's store path identifies the whole image before anything is built.
, assembly ? ""
  # system: the build platform.
, system ? builtins.currentSystem
}:
assert builtins.elem strategy [ "popularity" "equal" "stable" ];
derivation ({
  inherit name system assembly appPaths;
  builder = shell;
  __structuredAttrs = true;
  # It reads the whole uncompressed closure to write a small JSON file: a remote builder would first
  # have to receive all of it, and no binary cache holds a plan worth fetching.
  preferLocalBuild = true;
  allowSubstitutes = false;
  exportReferencesGraph.graph = roots;
  # assembly.json: what ./assemble-from-plan.nix assembles the image from, next to the plan
  args = [ "-c" ''
    set -e
    export PATH=${shellPath}
    ${node} ${./layer-planner.js} .attrs.json graph ${strategy} ${toString maxLayers} ${toString maxLayerBytes} appPaths
    ${node} -e 'const a = JSON.parse(require("fs").readFileSync(".attrs.json", "utf8")); require("fs").writeFileSync(a.outputs.out + "/assembly.json", a.assembly)'
  '' ];
} // (if rootDir == null then { } else { inherit rootDir; }))
