# docTR (mindee/doctr) as a Python package, pinned by tag and hash.
{
  # lib: nixpkgs lib, for meta.
  lib
  # python: the interpreter whose package set provides build tools and torch.
, python
  # fetchFromGitHub: nixpkgs fetcher.
, fetchFromGitHub
}:
python.pkgs.buildPythonPackage rec {
  pname = "doctr";
  version = "0.8.1";
  pyproject = true;

  src = fetchFromGitHub {
    owner = "mindee";
    repo = "doctr";
    rev = "v${version}";
    hash = "sha256-rlIGq5iHDAEWy1I0sAXVSN2/Jh2ub/xLCLCLLp7+9ik=";
  };

  build-system = [ python.pkgs.setuptools ];
  dependencies = [ python.pkgs.torch ];

  # The upstream test-suite downloads model weights.
  doCheck = false;

  meta = {
    description = "Document text recognition (docTR), PyTorch backend";
    homepage = "https://github.com/mindee/doctr";
    license = lib.licenses.asl20;
  };
}
