# Miniature stand-in for nixpkgs' pkgs/development/python-modules/pytorch-lightning/default.nix in
# the stable tree: same argument style (package-set members, resolved by the python set's
# callPackage), version 2.4.0, a stand-in module instead of the GitHub source.
{
  # lib: nixpkgs lib.
  lib
  # buildPythonPackage and the dependencies below: members of the python package set.
, buildPythonPackage
, runCommand
, fsspec
, lightning-utilities
, numpy
, packaging
, pyyaml
, tensorboardx
, torch
, torchmetrics
, tqdm
}:
buildPythonPackage rec {
  pname = "pytorch-lightning";
  version = "2.4.0";
  format = "other";
  src = runCommand "pytorch-lightning-${version}-stand-in-src" { inherit version; } ''
    mkdir -p $out/pytorch_lightning
    printf '__version__ = "%s"\n' "$version" > $out/pytorch_lightning/__init__.py
  '';
  propagatedBuildInputs = [ fsspec numpy packaging pyyaml tensorboardx torch lightning-utilities torchmetrics tqdm ];
  pythonImportsCheck = [ "pytorch_lightning" ];
  meta.license = lib.licenses.asl20;
}
