# docTR (mindee/doctr) with its PyTorch backend, pinned by tag and hash. Called with the Python
# package set's callPackage (nix/dependencies.nix), so every argument below is a member of that set.
{
  # lib: nixpkgs lib, for meta.
  lib
  # buildPythonPackage, fetchFromGitHub, setuptools: nixpkgs' builder, fetcher and build backend.
, buildPythonPackage
, fetchFromGitHub
, setuptools
  # The `dependencies` of docTR 0.8.1's pyproject.toml (nixpkgs names; pyproject = true makes nixpkgs
  # check the built wheel's Requires-Dist against them):
, importlib-metadata
, numpy
, scipy
, h5py
, opencv4
, pypdfium2
, pyclipper
, shapely
, langdetect
, rapidfuzz
, huggingface-hub
, matplotlib
, weasyprint
, pillow
, defusedxml
, mplcursors
, unidecode
, tqdm
  # The `torch` extra, the backend docTR uses here (its PyTorch models import torchvision).
, torch
, torchvision
}:
let
  # opencv-python is the PyPI wheel of OpenCV; nixpkgs' python opencv4 is the C++ build with Python
  # bindings (no opencv-python dist-info), so the requirement is dropped and opencv4 given instead —
  # built without CUDA: cudaSupport is on for the image, and a CUDA OpenCV is built from source
  # (unfree CUDA parts are not in the public binary cache).
  opencvNoCuda = opencv4.override { enableCuda = false; };
in
buildPythonPackage rec {
  pname = "doctr";
  version = "0.8.1";
  pyproject = true;

  src = fetchFromGitHub {
    owner = "mindee";
    repo = "doctr";
    rev = "v${version}";
    hash = "sha256-rlIGq5iHDAEWy1I0sAXVSN2/Jh2ub/xLCLCLLp7+9ik=";
  };

  # setup.py takes the version from BUILD_VERSION (without it the wheel says 0.8.1a0).
  env.BUILD_VERSION = version;

  build-system = [ setuptools ];
  pythonRemoveDeps = [ "opencv-python" ];
  dependencies = [
    importlib-metadata
    numpy
    scipy
    h5py
    opencvNoCuda
    pypdfium2
    pyclipper
    shapely
    langdetect
    rapidfuzz
    huggingface-hub
    matplotlib
    weasyprint
    pillow
    defusedxml
    mplcursors
    unidecode
    tqdm
    torch
    torchvision
  ];

  # The upstream test-suite downloads model weights; importing the package is checked instead.
  doCheck = false;
  pythonImportsCheck = [ "doctr" "doctr.models" ];

  meta = {
    description = "Document text recognition (docTR), PyTorch backend";
    homepage = "https://github.com/mindee/doctr";
    license = lib.licenses.asl20;
  };
}
