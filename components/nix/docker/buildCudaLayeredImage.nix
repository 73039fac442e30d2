# The one image recipe: every image of the project (the CUDA image of nix/build_container.nix and
# the rehearsal image of test/fixture/default.nix) is assembled here; callers differ only in their
# inputs (package set, contents, entrypoint). It makes
# - the entrypoint (`writeShellScript`: bash by store path, PATH, writable HOME and caches);
# - the root skeleton: /bin etc. linked from `contents`, /etc/passwd and /etc/group (fakeNss with the
#   pod's uid, so getpwuid/getpass.getuser() resolve), the CA bundle (cacert) and /tmp (1777);
# - the env: caller's entries win over HOME/cache dirs, SSL_CERT_FILE, the CUDA/NVIDIA variables and
#   an LD_LIBRARY_PATH that finds the host driver;
# - the layers. With layerStrategy "popularity": nixpkgs' dockerTools.streamLayeredImage (its own
#   closure includes the config's references), an executable that writes an uncompressed
#   docker-archive to stdout. Otherwise in two steps:
#   1. without `layerPlan`: the layer plan (./plan-layers.nix) over the closure of the root skeleton
#      *and the config* (so the entrypoint and every store path in Env are in a layer). Its store
#      path is known at evaluation and covers everything the image is made of, so its hash part is
#      the default tag. The entry's evaluation reads no store path and imports from no derivation:
#      it also works under restricted and pure evaluation;
#   2. `nix-build ./assemble-from-plan.nix --argstr layerPlan <plan>` (the realised plan of step 1,
#      which records the assembly arguments): ./assemble-image.nix, one derivation per layer (an
#      unchanged layer is never rebuilt) and a small one for config and manifest; the result is an
#      OCI image layout directory (also a docker-archive when tarred). It evaluates no nixpkgs.
#   With `layerPlan` (callers pass it through, `--argstr layerPlan …`) the entry returns step 2's
#   image itself, after checking the plan is its own.
{
  # pkgs: the package set providing lib, writeShellScript, writeText, symlinkJoin, fakeNss, cacert,
  #   dockerTools.streamLayeredImage, stdenv (hostPlatform: the image architecture; buildPlatform:
  #   where the builders run; shell: the builders' shell) and buildPackages (nodejs, coreutils,
  #   gnutar, gnused, gzip: the builders' tools).
  pkgs
  # name: image name written into the archive (lowercased there).
, name
  # tag: image tag; null means the Nix output hash.
, tag ? null
  # contents: packages linked into the image root (their bin/ becomes /bin, …).
, contents ? [ ]
  # entrypoint: shell text the entrypoint script runs after setting up PATH and the writable dirs,
  #   typically `exec … "$@"`.
, entrypoint
  # appPaths: the project's own packages (e.g. the Python package of the app): they change in nearly
  #   every release, so the layer planner keeps them, and what changes with them (its environment,
  #   the entrypoint), in layers of their own — an app-only release re-pushes about the app's bytes
  #   even at a small layer budget.
, appPaths ? [ ]
  # path: packages whose bin/ directories the entrypoint puts in front of PATH.
, path ? [ ]
  # env: extra "NAME=value" entries of the image Env; they win over the recipe's own.
, env ? [ ]
  # cudatoolkit: the CUDA toolkit whose version goes into CUDA_VERSION and NVIDIA_REQUIRE_CUDA.
, cudatoolkit
  # uid: the user the pod runs as (securityContext.runAsUser); it gets a passwd and group entry.
, uid ? 65532
  # userName: that user's name in /etc/passwd.
, userName ? "app"
  # writableDir: a directory the pod mounts writable (an emptyDir); HOME and caches live there.
, writableDir ? "/tmp"
  # layerStrategy: "popularity" (nixpkgs' own layering) or "equal" / "stable" (our planner).
, layerStrategy ? "stable"
  # maxLayers: layer budget (2..125), the root skeleton layer included.
, maxLayers ? 100
  # maxLayerBytes: the planner warns about layers larger than this.
, maxLayerBytes ? 10737418240
  # driverCapabilities: NVIDIA_DRIVER_CAPABILITIES baked into the image; add "video" when the image
  #   uses NVENC/NVDEC (the toolkit mounts libnvidia-encode and libnvcuvid only for it).
, driverCapabilities ? "compute,utility"
  # requireCuda: NVIDIA_REQUIRE_CUDA; null derives "cuda>=<major>.0" from cudatoolkit: CUDA minor
  #   version compatibility runs code built with any 12.x toolkit on every driver that supports
  #   12.0 (R525 and later), so "cuda>=12.4" would refuse R535 nodes that run it. Set it (e.g.
  #   "cuda>=12.4") for code that needs a newer driver (PTX JIT of a newer toolkit's PTX).
, requireCuda ? null
  # visibleDevices: NVIDIA_VISIBLE_DEVICES to bake in; null (default) leaves it to the device plugin.
  #   With NVIDIA_REQUIRE_CUDA set the toolkit treats the image as a modern CUDA image, so a pod that
  #   requests no GPU (and gets no NVIDIA_VISIBLE_DEVICES) sees none.
, visibleDevices ? null
  # created: image creation date; fixed so that rebuilds are byte-identical.
, created ? "2024-03-08T00:00:01Z"
  # layerPlan: null (step 1: return the layer plan) or the realised plan's store path as a string
  #   (step 2: return the image assembled from it). Ignored with layerStrategy "popularity".
, layerPlan ? null
}:
let
  inherit (pkgs) lib;
  baseName = baseNameOf name;
  uidString = toString uid;

  versionParts = lib.splitVersion cudatoolkit.version;
  cutVersion = n: lib.concatStringsSep "." (lib.take n versionParts);
  envName = entry: builtins.head (lib.splitString "=" entry);

  nss = pkgs.fakeNss.override {
    extraPasswdLines = [ "${userName}:x:${uidString}:${uidString}:${userName}:${writableDir}:/bin/sh" ];
    extraGroupLines = [ "${userName}:x:${uidString}:" ];
  };
  caBundle = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";

  hostCpu = pkgs.stdenv.hostPlatform.parsed.cpu.name;
  # Where the driver's libraries may be: Nix-built CUDA code looks in /run/opengl-driver/lib; the
  # NVIDIA container toolkit mounts them into /usr/lib64 or /usr/lib/<multiarch> (depending on the
  # image); GKE's driver installer at /usr/local/nvidia/lib64.
  driverDirs = [ "/run/opengl-driver/lib" "/usr/local/nvidia/lib64" "/usr/lib64" "/usr/lib/${multiarch}" ];
  # Debian's multiarch directory of this CPU (x86_64-linux-gnu, aarch64-linux-gnu): where the NVIDIA
  # container toolkit mounts the driver libraries in an image it takes for Debian-like.
  multiarch = "${hostCpu}-linux-gnu";
  # The program interpreter at the path the driver's binaries ask for (/lib64/ld-linux-x86-64.so.2,
  # /lib/ld-linux-aarch64.so.1): the toolkit mounts the host's nvidia-smi and nvidia-cuda-mps-control
  # into the container, and they are not Nix binaries. The image's own glibc serves them.
  dynamicLinker = pkgs.stdenv.cc.bintools.dynamicLinker;
  fhsLoaderDir = if hostCpu == "x86_64" || lib.hasPrefix "powerpc64" hostCpu then "lib64" else "lib";
  fhsLoader = pkgs.runCommand "fhs-program-interpreter" { } ''
    mkdir -p $out/${fhsLoaderDir}
    ln -s ${dynamicLinker} $out/${fhsLoaderDir}/${baseNameOf dynamicLinker}
  '';
  rootContents = contents ++ [ nss pkgs.cacert fhsLoader ];
  skeletonCommands = "mkdir -m 1777 tmp";

  cacheDir = "${writableDir}/.cache";
  recipeEnv = [
    "PATH=/bin"
    "HOME=${writableDir}"
    "XDG_CACHE_HOME=${cacheDir}"
    "HF_HOME=${cacheDir}/huggingface"
    "TORCH_HOME=${cacheDir}/torch"
    "DOCTR_CACHE_DIR=${cacheDir}/doctr"
    "MPLCONFIGDIR=${cacheDir}/matplotlib"
    "TRITON_CACHE_DIR=${cacheDir}/triton"
    "SSL_CERT_FILE=${caBundle}"
    "REQUESTS_CA_BUNDLE=${caBundle}"
    "CUDA_VERSION=${cutVersion 3}"
    # Without it the NVIDIA container toolkit treats an image with CUDA_VERSION as a legacy CUDA
    # image, and gives such a container every GPU when NVIDIA_VISIBLE_DEVICES is unset.
    "NVIDIA_REQUIRE_CUDA=${if requireCuda == null then "cuda>=${lib.versions.major cudatoolkit.version}.0" else requireCuda}"
    "NVIDIA_DRIVER_CAPABILITIES=${driverCapabilities}"
    "LD_LIBRARY_PATH=${lib.concatStringsSep ":" driverDirs}"
  ] ++ lib.optional (visibleDevices != null) "NVIDIA_VISIBLE_DEVICES=${visibleDevices}";
  callerNames = map envName env;
  mergedEnv = builtins.filter (entry: !(builtins.elem (envName entry) callerNames)) recipeEnv ++ env;

  # Sourced by the entrypoint. Triton (torch.compile) finds libcuda with `/sbin/ldconfig -p`, which
  # this image does not have: point it at the directory the driver was mounted into.
  driverEnv = pkgs.writeText "${baseName}-driver-env.sh" ''
    if [ -z "''${TRITON_LIBCUDA_PATH:-}" ]; then
      for d in ${lib.concatStringsSep " " driverDirs}; do
        if [ -e "$d/libcuda.so.1" ]; then export TRITON_LIBCUDA_PATH="$d"; break; fi
      done
    fi
  '';

  entrypointScript = pkgs.writeShellScript "${baseName}-entrypoint" ''
    set -eu
    export PATH=${lib.makeBinPath path}''${PATH:+:$PATH}
    mkdir -p "$HOME" "$XDG_CACHE_HOME"
    . ${driverEnv}
    ${entrypoint}
  '';

  imageConfig = {
    Entrypoint = [ "${entrypointScript}" ];
    Env = mergedEnv;
    User = "${uidString}:${uidString}";
  };

  architecture = import ./goarch.nix pkgs.stdenv.hostPlatform.parsed.cpu.name;

  # Our planner: the closure of the root skeleton and of the config (a file whose references are
  # exactly the store paths the config mentions, like nixpkgs' baseJson).
  skeleton = pkgs.symlinkJoin { name = "${baseName}-root"; paths = rootContents; };
  configRefs = pkgs.writeText "${baseName}-config.json" (builtins.toJSON imageConfig);
  roots = [ skeleton configRefs ];
  # The builders run on the build platform, with tools from the package set only (Nix's sandbox
  # shows them nothing else); gzip before coreutils: a busybox coreutils must not shadow it.
  buildTools = pkgs.buildPackages;
  shellPath = lib.makeBinPath [ buildTools.gnutar buildTools.gnused buildTools.gzip buildTools.coreutils ];
  buildSystem = pkgs.stdenv.buildPlatform.system;
  tagString = if tag == null then "" else tag;
  assembly = {
    inherit name created architecture;
    tag = tagString;
    config = imageConfig;
    rootDir = skeleton;
    extraCommands = skeletonCommands;
    shell = pkgs.stdenv.shell;
    inherit shellPath;
    system = buildSystem;
  };
  plan = import ./plan-layers.nix {
    inherit roots maxLayerBytes shellPath appPaths;
    inherit (assembly) shell system;
    rootDir = skeleton;
    name = "${baseName}-layer-plan";
    strategy = layerStrategy;
    # one layer is the root skeleton
    maxLayers = maxLayers - 1;
    node = "${buildTools.nodejs}/bin/node";
    # everything step 2 uses besides the plan, the assembly recipe included, so that the plan's
    # store path (the default tag) changes whenever the image would
    assembly = builtins.toJSON (assembly // {
      recipe = map (builtins.hashFile "sha256") [ ./assemble-image.nix ./layer.nix ];
    });
  };
  # the same derivations as the build's own second step, which skips this evaluation
  assembled = import ./assemble-from-plan.nix { inherit layerPlan; };
in
assert lib.assertMsg (maxLayers >= 2 && maxLayers <= 125) "buildCudaLayeredImage: maxLayers must be within 2..125";
assert lib.assertMsg (builtins.elem layerStrategy [ "popularity" "equal" "stable" ]) "buildCudaLayeredImage: unknown layerStrategy '${layerStrategy}'";
if layerStrategy == "popularity" then
  pkgs.dockerTools.streamLayeredImage {
    inherit name tag maxLayers created;
    contents = rootContents;
    config = imageConfig;
    extraCommands = skeletonCommands;
  }
else if layerPlan == null then plan
# a plan of another evaluation would give an image whose layers do not match its config
else assert lib.assertMsg (layerPlan == builtins.unsafeDiscardStringContext plan.outPath)
  "buildCudaLayeredImage: layerPlan ${layerPlan} is not this image's plan (${plan.outPath}): build the entry without layerPlan first";
  assembled
