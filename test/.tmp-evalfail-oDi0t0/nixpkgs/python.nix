# Miniature python311: the interface of nixpkgs' CPython (passthrufun.nix) — `.pkgs` is a
# lib.makeScope set built from the base packages, extended by `pythonPackagesExtensions` and then by
# `packageOverrides` (the order of nixpkgs' composeManyExtensions), `withPackages`, `override
# { packageOverrides }` (callPackage's override, as for cpython/default.nix) — around an interpreter
# stand-in: a busybox sh script that runs `python -m MODULE` by locating the module in the
# environment's site-packages and resolving its top-level imports (it cannot execute Python code).
{
  # lib: nixpkgs lib.
  lib
  # runCommand: derivation from a shell script (miniature trivial builder).
, runCommand
  # busybox: busybox-static package; the interpreter stand-in runs on it inside the image.
, busybox
  # newScope: nixpkgs' newScope (callPackageWith over pkgs plus the given attrs).
, newScope
  # pythonPackagesExtensions: list of python package set overlays (nixpkgs top-level attribute).
, pythonPackagesExtensions
  # tree: root of this miniature tree; pytorch-lightning's recipe is read from its pkgs/… file.
, tree
  # config: nixpkgs config (cudaSupport is the default of opencv4's enableCuda).
, config
  # packageOverrides: python package set overlay applied last (nixpkgs cpython argument).
, packageOverrides ? (self: super: { })
}:
let
  pythonVersion = "3.11";
  sitePackages = "lib/python3.11/site-packages";
  normalize = name: lib.toLower (builtins.replaceStrings [ "_" "." ] [ "-" "-" ] name);

  interpreterScript = ''
    # CPython 3.11 stand-in (miniature package set): supports `--version` and `-m MODULE [ARGS]`.
    set -eu
    if [ "''${1:-}" = "--version" ]; then echo "Python 3.11.9 (miniature stand-in)"; exit 0; fi
    if [ "''${1:-}" != "-m" ] || [ $# -lt 2 ]; then
      echo "python stand-in: only 'python -m MODULE' and 'python --version' are supported" >&2; exit 2
    fi
    mod=$2; shift 2
    site=''${MINI_PYTHON_SITE:?python stand-in: run it through an environment made by withPackages}
    rel=$(echo "$mod" | tr . /)
    if [ -f "$site/$rel.py" ]; then file="$site/$rel.py"
    elif [ -f "$site/$rel/__main__.py" ]; then file="$site/$rel/__main__.py"
    else echo "No module named $mod" >&2; exit 1; fi
    for dep in $(sed -n 's/^import \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p; s/^from \([A-Za-z_][A-Za-z0-9_]*\).* import .*/\1/p' "$file" | sort -u); do
      [ -e "$site/$dep" ] || [ -e "$site/$dep.py" ] || { echo "ModuleNotFoundError: No module named '$dep'" >&2; exit 1; }
    done
    echo "python stand-in: ran $mod from $file (args: $*; imports resolved in $site)"
  '';

  interpreter = runCommand "python3-3.11.9" { bb = busybox; script = interpreterScript; passAsFile = [ "script" ]; } ''
    mkdir -p $out/bin
    { printf '#!%s/bin/sh\n' "$bb"; cat "$scriptPath"; } > $out/bin/python3.11
    chmod 555 $out/bin/python3.11
    ln -s python3.11 $out/bin/python3 && ln -s python3.11 $out/bin/python
  '';

  # The transitive closure of Python dependencies (nixpkgs: requiredPythonModules).
  requiredPythonModules = drvs: map (x: x.pkg) (builtins.genericClosure {
    startSet = map (p: { key = p.outPath; pkg = p; }) drvs;
    operator = x: map (p: { key = p.outPath; pkg = p; }) (x.pkg.pythonDeps or [ ]);
  });

  # nixpkgs' buildPythonPackage (mk-python-derivation.nix), reduced to what the image needs: the
  # package's modules in site-packages, its propagated dependencies recorded as references, a
  # dist-info METADATA, the runtime-dependency check that pyproject builds run (the wheel's
  # Requires-Dist against the dependencies, minus pythonRemoveDeps) and pythonImportsCheck.
  buildPythonPackage =
    { pname
    , version
    , src ? null
    , format ? null
    , pyproject ? null
    , build-system ? [ ]
    , dependencies ? [ ]
    , propagatedBuildInputs ? [ ]
    , pythonImportsCheck ? [ ]
    , pythonRemoveDeps ? [ ]
    , dontCheckRuntimeDeps ? false
    , env ? { }
    , passthru ? { }
      # distName: the distribution name in dist-info (null: none, like a toPythonModule'd C build).
    , distName ? pname
    , ...
    }@args:
    let
      deps = dependencies ++ propagatedBuildInputs;
      closure = requiredPythonModules deps;
      provided = lib.concatMapStringsSep " " normalize (lib.filter (n: n != null) (map (p: p.distName or null) closure));
      checkRuntimeDeps = (pyproject == true || format == "pyproject") && !dontCheckRuntimeDeps;
      drv = runCommand "python3.11-${pname}-${version}" (env // {
        inherit version src;
        distName = if distName == null then "" else distName;
        depPaths = deps;
        buildSystem = build-system;
        inherit provided;
        removed = lib.concatMapStringsSep " " normalize pythonRemoveDeps;
        importsCheck = pythonImportsCheck;
        checkRuntimeDeps = if checkRuntimeDeps then "1" else "";
      }) ''
        site=$out/${sitePackages}
        mkdir -p "$site" $out/nix-support
        printf '%s ' $depPaths > $out/nix-support/propagated-build-inputs
        if [ -n "$src" ]; then
          for d in "$src"/*/; do
            d=''${d%/}; n=$(basename "$d")
            if [ -f "$d/__init__.py" ] && [ "$n" != tests ]; then cp -r "$d" "$site/$n"; fi
          done
          chmod -R u+w "$site"
        fi
        # The version setuptools records: setup.py may read it from BUILD_VERSION (docTR does).
        distVersion=$version
        if [ -n "$src" ] && [ -f "$src/setup.py" ]; then
          fallback=$(sed -n 's/.*os\.getenv("BUILD_VERSION", "\([^"]*\)").*/\1/p' "$src/setup.py")
          [ -z "$fallback" ] || distVersion=''${BUILD_VERSION:-$fallback}
        fi
        if [ -n "$distName" ]; then
          mkdir -p "$site/$distName-$distVersion.dist-info"
          printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' "$distName" "$distVersion" > "$site/$distName-$distVersion.dist-info/METADATA"
        fi
        if [ -n "$checkRuntimeDeps" ] && [ -f "$src/pyproject.toml" ]; then
          echo "Checking runtime dependencies for $distName-$distVersion"
          sed -n '/^dependencies = \[/,/^\]/p' "$src/pyproject.toml" | sed -n 's/^ *"\([^"]*\)".*/\1/p' \
            | sed 's/[] ;<>=!~[].*//' | tr 'A-Z_.' 'a-z--' | sort -u > required
          missing=""
          for r in $(cat required); do
            case " $provided $removed " in *" $r "*) ;; *) missing="$missing $r" ;; esac
          done
          if [ -n "$missing" ]; then
            for r in $missing; do echo "  - $r not installed" >&2; done
            exit 1
          fi
        fi
        for m in $importsCheck; do
          p=$(echo "$m" | tr . /)
          [ -e "$site/$p/__init__.py" ] || [ -e "$site/$p.py" ] || { echo "pythonImportsCheck: No module named '$m'" >&2; exit 1; }
        done
      '';
    in
    drv // passthru // {
      inherit pname distName;
      pythonDeps = deps;
      pythonModule = self;
    };

  # A stand-in Python distribution: one importable module with __version__.
  mkStandIn = buildPython: { pname, version, module, deps ? [ ], distName ? pname }:
    buildPython {
      inherit pname version distName;
      format = "other";
      src = runCommand "${pname}-${version}-stand-in-src" { inherit module version; } ''
        mkdir -p "$out/$module" && printf '__version__ = "%s"\n' "$version" > "$out/$module/__init__.py"
      '';
      dependencies = deps;
    };

  basePythonPackages = pyFinal: let s = mkStandIn pyFinal.buildPythonPackage; in {
    python = self;
    inherit buildPythonPackage requiredPythonModules;
    setuptools = s { pname = "setuptools"; version = "75.1.0"; module = "setuptools"; };
    wheel = s { pname = "wheel"; version = "0.44.0"; module = "wheel"; };
    numpy = s { pname = "numpy"; version = "1.26.4"; module = "numpy"; };
    scipy = s { pname = "scipy"; version = "1.14.1"; module = "scipy"; deps = [ pyFinal.numpy ]; };
    h5py = s { pname = "h5py"; version = "3.12.1"; module = "h5py"; deps = [ pyFinal.numpy ]; };
    # nixpkgs: toPythonModule (pkgs.opencv4.override { enablePython = true; … }); no dist-info.
    # Overridable like pkgs/development/libraries/opencv/4.x.nix: enableCuda defaults to cudaSupport.
    opencv4 = lib.makeOverridable ({ enableCuda ? config.cudaSupport }:
      s { pname = if enableCuda then "opencv-cuda" else "opencv"; version = "4.9.0"; module = "cv2"; deps = [ pyFinal.numpy ]; distName = null; }
      // { inherit enableCuda; }) { };
    pypdfium2 = s { pname = "pypdfium2"; version = "4.30.0"; module = "pypdfium2"; };
    pyclipper = s { pname = "pyclipper"; version = "1.3.0"; module = "pyclipper"; };
    shapely = s { pname = "shapely"; version = "2.0.6"; module = "shapely"; deps = [ pyFinal.numpy ]; };
    langdetect = s { pname = "langdetect"; version = "1.0.9"; module = "langdetect"; };
    rapidfuzz = s { pname = "rapidfuzz"; version = "3.10.0"; module = "rapidfuzz"; };
    filelock = s { pname = "filelock"; version = "3.16.1"; module = "filelock"; };
    fsspec = s { pname = "fsspec"; version = "2024.9.0"; module = "fsspec"; };
    packaging = s { pname = "packaging"; version = "24.1"; module = "packaging"; };
    pyyaml = s { pname = "pyyaml"; version = "6.0.2"; module = "yaml"; };
    requests = s { pname = "requests"; version = "2.32.3"; module = "requests"; };
    tqdm = s { pname = "tqdm"; version = "4.66.5"; module = "tqdm"; };
    typing-extensions = s { pname = "typing-extensions"; version = "4.12.2"; module = "typing_extensions"; };
    huggingface-hub = s {
      pname = "huggingface-hub"; version = "0.26.2"; module = "huggingface_hub";
      deps = with pyFinal; [ filelock fsspec packaging pyyaml requests tqdm typing-extensions ];
    };
    pillow = s { pname = "pillow"; version = "11.0.0"; module = "PIL"; };
    matplotlib = s { pname = "matplotlib"; version = "3.9.2"; module = "matplotlib"; deps = [ pyFinal.numpy pyFinal.pillow ]; };
    weasyprint = s { pname = "weasyprint"; version = "62.3"; module = "weasyprint"; };
    defusedxml = s { pname = "defusedxml"; version = "0.7.1"; module = "defusedxml"; };
    mplcursors = s { pname = "mplcursors"; version = "0.6"; module = "mplcursors"; deps = [ pyFinal.matplotlib ]; };
    unidecode = s { pname = "unidecode"; version = "1.3.8"; module = "unidecode"; };
    importlib-metadata = s { pname = "importlib-metadata"; version = "8.5.0"; module = "importlib_metadata"; };
    protobuf = s { pname = "protobuf"; version = "4.24.4"; module = "google"; };
    lightning-utilities = s { pname = "lightning-utilities"; version = "0.11.8"; module = "lightning_utilities"; deps = [ pyFinal.packaging ]; };
    # The source build (nixpkgs builds it with cudaSupport from source) and the prebuilt wheels.
    torch = s { pname = "torch"; version = "2.5.1"; module = "torch"; deps = [ pyFinal.numpy pyFinal.filelock pyFinal.typing-extensions ]; };
    torch-bin = s { pname = "torch-bin"; distName = "torch"; version = "2.5.1"; module = "torch"; deps = [ pyFinal.numpy pyFinal.filelock pyFinal.typing-extensions ]; };
    torchvision = s { pname = "torchvision"; version = "0.20.1"; module = "torchvision"; deps = [ pyFinal.torch pyFinal.pillow pyFinal.numpy ]; };
    # nixpkgs' torchvision/bin.nix takes torch-bin, not torch.
    torchvision-bin = s { pname = "torchvision-bin"; distName = "torchvision"; version = "0.20.1"; module = "torchvision"; deps = [ pyFinal.torch-bin pyFinal.pillow pyFinal.numpy ]; };
    torchaudio = s { pname = "torchaudio"; version = "2.5.1"; module = "torchaudio"; deps = [ pyFinal.torch ]; };
    torchaudio-bin = s { pname = "torchaudio-bin"; distName = "torchaudio"; version = "2.5.1"; module = "torchaudio"; deps = [ pyFinal.torch-bin ]; };
    torchmetrics = s { pname = "torchmetrics"; version = "1.4.2"; module = "torchmetrics"; deps = with pyFinal; [ torch numpy packaging lightning-utilities ]; };
    # Like tensorboardx in newer nixpkgs: no `torch` argument (tests only).
    tensorboardx = s { pname = "tensorboardx"; version = "2.6.2.2"; module = "tensorboardX"; deps = with pyFinal; [ numpy packaging protobuf ]; };
    pytorch-lightning = pyFinal.callPackage (tree + "/pkgs/development/python-modules/pytorch-lightning/default.nix") { };
  };

  pythonPackages = lib.makeScope (extra: newScope (pythonPackages // extra))
    (lib.extends (lib.composeManyExtensions (pythonPackagesExtensions ++ [ packageOverrides ])) basePythonPackages);

  # nixpkgs: python.withPackages (with-packages.nix → wrapper.nix, a buildEnv of the closure).
  withPackages = f:
    let packages = requiredPythonModules (f pythonPackages);
    in runCommand "python3-3.11.9-env" { inherit packages; bb = busybox; py = interpreter; } ''
      site=$out/${sitePackages}
      mkdir -p "$site" $out/bin
      for p in $packages; do
        for e in "$p/${sitePackages}"/*; do [ -e "$e" ] || continue; ln -s "$e" "$site/$(basename "$e")"; done
      done
      for b in python python3 python3.11; do
        printf '#!%s/bin/sh\nMINI_PYTHON_SITE=%s exec %s/bin/python3.11 "$@"\n' "$bb" "$site" "$py" > $out/bin/$b
        chmod 555 $out/bin/$b
      done
    '';

  self = interpreter // {
    pkgs = pythonPackages;
    inherit withPackages pythonVersion sitePackages;
    executable = "python3.11";
    interpreter = "${interpreter}/bin/python3.11";
  };
in
self
