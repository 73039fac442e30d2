# Overlay: make every Python package that depends on torch use one chosen torch build.
# With doReplace = false it selects the prebuilt `torch-bin` wheels of the same nixpkgs; with
# doReplace = true (used for the unstable set) it swaps in the stable set's torch so that
# packages taken from unstable (pytorch-lightning) do not drag in a second torch build.
{
  # doReplace: use the replacement* arguments below instead of this nixpkgs' torch-bin.
  doReplace ? false
  # replacementTorch: torch derivation to use when doReplace is true.
, replacementTorch ? null
  # replacementTorchvision: torchvision derivation to use when doReplace is true.
, replacementTorchvision ? null
  # replacementTorchaudio: torchaudio derivation to use when doReplace is true.
, replacementTorchaudio ? null
  # replacementPython: python interpreter whose package set is overridden when doReplace is true.
, replacementPython ? null
}:
final: prev:
let
  basePython = if doReplace then replacementPython else prev.python311;
  torch = if doReplace then replacementTorch else basePython.pkgs.torch-bin;
  torchvision = if doReplace then replacementTorchvision else basePython.pkgs.torchvision-bin;
  torchaudio = if doReplace then replacementTorchaudio else basePython.pkgs.torchaudio-bin;
  python = basePython.override {
    self = python;
    packageOverrides = pyFinal: pyPrev: {
      inherit torch torchvision torchaudio;
      pytorch-lightning = pyPrev.pytorch-lightning.override { inherit torch; };
      tensorboardx = pyPrev.tensorboardx.override { inherit torch; };
    };
  };
in
assert doReplace -> (replacementTorch != null && replacementPython != null);
{
  python311 = python;
  mlPython = python;
}
