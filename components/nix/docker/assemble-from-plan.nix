# The build's second step, without evaluating the entry again: the image from a realised layer plan
# (./plan-layers.nix) and the assembly arguments it recorded (assembly.json: ./assemble-image.nix's
# arguments, fixed by the entry's evaluation). No nixpkgs: what the entry evaluated (the package
# set, its shell and tools) arrives as store paths in those arguments.
#   nix-build components/nix/docker/assemble-from-plan.nix --argstr layerPlan /nix/store/…-layer-plan
{
  # layerPlan: the realised plan's store path (a string).
  layerPlan
}:
let
  plan = builtins.storePath layerPlan;
  assembly = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile "${plan}/assembly.json"));
  # The store paths a string names, each as an input (JSON carries no string context).
  storePathsIn = s: map builtins.head (builtins.filter builtins.isList
    (builtins.split "(${builtins.storeDir}/[0-9a-z]{32}-[-+._?=0-9a-zA-Z]+)" s));
  withContext = s: builtins.foldl' (acc: p: builtins.appendContext acc { ${p} = { path = true; }; }) s (storePathsIn s);
  # The recipe files the plan was made for must be these (their hashes are part of the plan's).
  recipe = map (builtins.hashFile "sha256") [ ./assemble-image.nix ./layer.nix ];
  args = removeAttrs assembly [ "recipe" ];
in
assert (assembly.recipe or recipe) == recipe
  || throw "assemble-from-plan.nix: ${layerPlan} was planned for another version of assemble-image.nix or layer.nix: build the entry again";
import ./assemble-image.nix (args // {
  inherit layerPlan;
  shell = withContext args.shell;
  shellPath = withContext args.shellPath;
} // (if args ? rootDir && args.rootDir != null then { rootDir = withContext args.rootDir; } else { }))
