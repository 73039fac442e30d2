# The project's dependency set: pinned nixpkgs (stable + unstable), the chosen overlays, CUDA
# configuration and the Python packages the project needs. Every other file takes this set as an
# argument, so a stack can swap overlays or packages without editing them.
{
  # overlays: list of { name; args; } in application order; name is a key of `knownOverlays` below,
  #   args the attrset passed to that overlay file.
  overlays ? [ { name = "replaceTorch"; args = { }; } ]
  # cudaCapabilities: CUDA compute capabilities to build kernels for, e.g. [ "8.0" "9.0" ].
, cudaCapabilities ? [ "8.0" ]
  # pythonPackages: names in the Python package set (plus `pytorch-lightning` from unstable and
  #   `doctr` from ./packages) that the project depends on.
, pythonPackages ? [ "numpy" "torch" "pytorch-lightning" "doctr" ]
  # sources: the pinned nixpkgs trees (see ./sources.nix).
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

  nixpkgsConfig = {
    allowUnfree = true;
    cudaSupport = true;
    inherit cudaCapabilities;
  };

  pkgs = import sources.nixpkgsStable {
    config = nixpkgsConfig;
    overlays = map overlayFor overlays;
  };
  python = pkgs.mlPython or pkgs.python311;

  # pytorch-lightning comes from unstable, with torch swapped back to the stable set's build so the
  # closure holds one torch.
  unstablePkgs = import sources.nixpkgsUnstable {
    config = nixpkgsConfig;
    overlays = [
      (import ./overlay/replace-torch.nix {
        doReplace = true;
        replacementTorch = python.pkgs.torch;
        replacementTorchvision = python.pkgs.torchvision;
        replacementTorchaudio = python.pkgs.torchaudio;
        replacementPython = python;
      })
    ];
  };

  extraPackages = {
    pytorch-lightning = unstablePkgs.mlPython.pkgs.pytorch-lightning;
    doctr = pkgs.callPackage ./packages/doctr.nix { inherit python; };
  };
  pick = name: extraPackages.${name} or python.pkgs.${name}
    or (throw "dependencies.nix: no Python package '${name}'");
in
{
  inherit pkgs python;
  inherit (pkgs) lib;
  cudatoolkit = pkgs.cudaPackages.cudatoolkit;
  dependencies = map pick pythonPackages;
}
