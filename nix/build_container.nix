# Entry point of the image build: `nix-build nix/build_container.nix --argstr imageName … `.
# Every variable input arrives as a string (`--argstr`) so that each stack builds its own variant and
# no Nix expression is ever spliced from config; lists and numbers are JSON.
{
  # imageName: name written into the image archive.
  imageName ? "myproject"
  # imageTag: tag written into the archive; "" means the Nix output hash.
, imageTag ? ""
  # maxLayers: JSON integer, layer budget (2..125).
, maxLayers ? "100"
  # layerStrategy: "popularity" | "equal" | "stable" (components/nix/layers.ts).
, layerStrategy ? "stable"
  # layerPlan: "" to evaluate or build the layer plan; the realised plan's store path to assemble
  #   the image from it (the build's second step, see components/nix/docker/buildCudaLayeredImage.nix).
, layerPlan ? ""
  # maxLayerBytes: JSON integer; the layer planner warns about larger layers.
, maxLayerBytes ? "10737418240"
  # cudaCapabilities: JSON list for nixpkgs' config.cudaCapabilities; "[]" keeps nixpkgs' default
  #   (see dependencies.nix: a narrowed list only changes packages built from source, and makes them
  #   build from source).
, cudaCapabilities ? "[]"
  # overlays: JSON list of {"name": …, "args": {…}} applied in order (see dependencies.nix).
, overlays ? ''[{"name":"replaceTorch","args":{}}]''
  # python: the interpreter's nixpkgs attribute ("python3": nixpkgs' default, the cached set).
, python ? "python3"
  # pythonPackages: JSON list of Python package names the project depends on.
, pythonPackages ? ''["numpy","torch","pytorch-lightning","doctr"]''
  # system: the Nix system the image is for ("x86_64-linux", "aarch64-linux"); nixpkgs is imported
  #   for it, so the image's packages and architecture follow it wherever the deploy runs.
, system ? "x86_64-linux"
  # sourcesFile: absolute path of a Nix file returning the nixpkgs trees (stack config nix.sources:
  #   a mirror, a vendored nixpkgs, the offline rehearsal's miniature set); "" for ./sources.nix.
, sourcesFile ? ""
  # sources: the nixpkgs trees { nixpkgsStable; nixpkgsUnstable; } (default: sourcesFile's, else the
  #   pins of ./sources.nix); a test injects the miniature set with `--arg sources …`.
, sources ? (if sourcesFile == "" then import ./sources.nix { } else import sourcesFile)
}:
let
  overlayList = builtins.fromJSON overlays;
  projectDependencies = import ./dependencies.nix {
    overlays = overlayList;
    cudaCapabilities = builtins.fromJSON cudaCapabilities;
    pythonPackages = builtins.fromJSON pythonPackages;
    inherit sources system python;
  };
  # NVENC/NVDEC need the driver's video libraries, which the toolkit mounts only for "video".
  ffmpegUsesGpu = builtins.any (o: o.name == "ffmpeg" && (o.args.cuda or true)) overlayList;
  inherit (projectDependencies) pkgs;
  project = import ./project.nix { inherit projectDependencies; };
  pythonEnv = projectDependencies.python.withPackages (ps: [ project ]);
in
import ../components/nix/docker/buildCudaLayeredImage.nix {
  inherit pkgs;
  inherit (projectDependencies) cudatoolkit;
  driverCapabilities = "compute,utility" + (if ffmpegUsesGpu then ",video" else "");
  name = imageName;
  tag = if imageTag == "" then null else imageTag;
  maxLayers = builtins.fromJSON maxLayers;
  maxLayerBytes = builtins.fromJSON maxLayerBytes;
  layerPlan = if layerPlan == "" then null else layerPlan;
  inherit layerStrategy;
  contents = [
    pkgs.coreutils
    pkgs.bashInteractive
    pythonEnv
    # what the ffmpeg overlay changes (a stack's codec switches) is what the workload runs
    pkgs.ffmpeg
  ];
  path = [ pythonEnv pkgs.ffmpeg pkgs.coreutils ];
  # the project's own code: what an app-only release changes
  appPaths = [ project ];
  entrypoint = builtins.readFile ./entrypoint.sh;
  env = [ "PYTHONUNBUFFERED=1" ];
}
