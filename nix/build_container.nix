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
  # layerStrategy: "popularity" | "equal" | "stable" (components/layers.ts).
, layerStrategy ? "stable"
  # maxLayerBytes: JSON integer; the layer planner warns about larger layers.
, maxLayerBytes ? "10737418240"
  # cudaCapabilities: JSON list of CUDA compute capabilities, e.g. ["8.0","9.0"].
, cudaCapabilities ? ''["8.0"]''
  # overlays: JSON list of {"name": …, "args": {…}} applied in order (see dependencies.nix).
, overlays ? ''[{"name":"replaceTorch","args":{}}]''
  # pythonPackages: JSON list of Python package names the project depends on.
, pythonPackages ? ''["numpy","torch","pytorch-lightning","doctr"]''
}:
let
  projectDependencies = import ./dependencies.nix {
    overlays = builtins.fromJSON overlays;
    cudaCapabilities = builtins.fromJSON cudaCapabilities;
    pythonPackages = builtins.fromJSON pythonPackages;
  };
  inherit (projectDependencies) pkgs;
  project = import ./project.nix { inherit projectDependencies; };
  pythonEnv = projectDependencies.python.withPackages (ps: [ project ]);
  entrypoint = pkgs.writeShellScript "entrypoint" ''
    export PATH=${pkgs.lib.makeBinPath [ pythonEnv pkgs.coreutils ]}:$PATH
    ${builtins.readFile ./entrypoint.sh}
  '';
in
import ./docker/buildCudaLayeredImage.nix {
  inherit (pkgs.dockerTools) streamLayeredImage;
  inherit (pkgs) lib;
  inherit (projectDependencies) cudatoolkit;
  name = imageName;
  tag = if imageTag == "" then null else imageTag;
  maxLayers = builtins.fromJSON maxLayers;
  maxLayerBytes = builtins.fromJSON maxLayerBytes;
  inherit layerStrategy;
  tools = {
    node = "${pkgs.nodejs}/bin/node";
    shellPath = pkgs.lib.makeBinPath [ pkgs.coreutils pkgs.gnutar pkgs.gnused ];
    shell = pkgs.runtimeShell;
  };
  contents = [
    pkgs.coreutils
    pkgs.bashInteractive
    pkgs.gnutar
    pythonEnv
  ];
  config = {
    Entrypoint = [ "${entrypoint}" ];
    Env = [ "PYTHONUNBUFFERED=1" ];
  };
}
