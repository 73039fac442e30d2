# The project's dependency set: pinned nixpkgs, the chosen overlays, CUDA configuration and the
# Python packages the project needs. Every other file takes this set as an argument, so a stack can
# swap overlays or packages without editing them, and a test can inject other package trees.
{
  # overlays: list of { name; args; } in application order; name is a key of `knownOverlays` below,
  #   args the attrset passed to that overlay file.
  overlays ? [ { name = "replaceTorch"; args = { }; } ]
  # cudaCapabilities: nixpkgs' config.cudaCapabilities; [ ] keeps nixpkgs' default list. It only
  #   affects CUDA code built from source (at the pinned revision: nccl, opencv with CUDA, …): the
  #   torch-bin wheels ship kernels for their own list. A narrowed list means different derivations
  #   than any binary cache holds, so those packages build from source.
, cudaCapabilities ? [ ]
  # python: the interpreter's attribute in nixpkgs. "python3" is nixpkgs' default (3.12 at the
  #   24.11 pin) and the only Python set Hydra builds, so the only one cache.nixos.org holds; another
  #   ("python311", "python313") builds every package of the set from source.
, python ? "python3"
  # pythonPackages: attribute names in the Python package set (which also holds `pytorch-lightning`
  #   from unstable and `doctr` from ./packages) that the project depends on.
, pythonPackages ? [ "numpy" "torch" "pytorch-lightning" "doctr" ]
  # system: the Nix system the package set is for (the image's platform, not the deployer's).
, system ? "x86_64-linux"
  # sources: the nixpkgs trees { nixpkgsStable; nixpkgsUnstable; } (paths of nixpkgs source trees;
  #   default: the pins of ./sources.nix). Tests inject test/fixture/nixpkgs here.
, sources ? import ./sources.nix { }
}:
let
  knownOverlays = {
    replaceTorch = ./overlay/replace-torch.nix;
    ffmpeg = ./overlay/ffmpeg.nix;
  };
  overlayFor = overlay:
    if knownOverlays ? ${overlay.name}
    then import knownOverlays.${overlay.name} (overlay.args or { })
    else throw "dependencies.nix: unknown overlay '${overlay.name}'";

  # cudaSupport makes packages built from source (opencv, nccl, …) CUDA builds; the *-bin torch
  # wheels ignore it (they are CUDA builds either way). allowUnfree: CUDA and the torch-bin wheels.
  nixpkgsConfig = {
    allowUnfree = true;
    cudaSupport = true;
  } // (if cudaCapabilities == [ ] then { } else { inherit cudaCapabilities; });

  # Unstable's recipes name their GitHub sources with `fetchFromGitHub { tag = …; }`, an argument
  # the stable pin's fetchFromGitHub does not take (nixpkgs PR #355973 came after 24.11): it becomes
  # `rev = "refs/tags/…"`, which fetches the same tree (same NAR hash) at either pin.
  fetchFromGitHubWithTag = fetchFromGitHub: args:
    if args ? tag then fetchFromGitHub (removeAttrs args [ "tag" ] // { rev = "refs/tags/${args.tag}"; })
    else fetchFromGitHub args;
  # pytorch-lightning's recipe from the unstable tree, called inside the stable Python set: its
  # dependencies (torch included) are the stable set's, so the closure holds one torch and the
  # unstable tree is only read for this one file, never evaluated as a package set.
  unstableRecipes = pyFinal: pyPrev: {
    pytorch-lightning = pyFinal.callPackage
      (sources.nixpkgsUnstable + "/pkgs/development/python-modules/pytorch-lightning/default.nix")
      { fetchFromGitHub = fetchFromGitHubWithTag pkgs.fetchFromGitHub; };
    doctr = pyFinal.callPackage ./packages/doctr.nix { };
  };
  projectPackages = final: prev: {
    pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [ unstableRecipes ];
  };

  pkgs = import sources.nixpkgsStable {
    inherit system;
    config = nixpkgsConfig;
    overlays = [ projectPackages ] ++ map overlayFor overlays;
  };
  interpreter = pkgs.${python} or (throw "dependencies.nix: no Python interpreter '${python}' in nixpkgs");
  pick = name: interpreter.pkgs.${name} or (throw "dependencies.nix: no Python package '${name}'");
in
{
  inherit pkgs;
  python = interpreter;
  inherit (pkgs) lib;
  cudatoolkit = pkgs.cudaPackages.cudatoolkit;
  dependencies = map pick pythonPackages;
}
