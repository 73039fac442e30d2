# A layered image that finds the host's NVIDIA driver. With layerStrategy "popularity" it is
# nixpkgs dockerTools.streamLayeredImage; otherwise our layer planner decides the layers. Either way
# the result is an executable that writes the image as an uncompressed docker-archive to stdout.
{
  # streamLayeredImage: nixpkgs dockerTools.streamLayeredImage (used for layerStrategy "popularity").
  streamLayeredImage
  # lib: nixpkgs lib.
, lib
  # layerStrategy: "popularity" (nixpkgs' own layering) or "equal" / "stable" (our planner,
  #   ./plan-layers.nix, packed by ./pack-layers.nix).
, layerStrategy ? "stable"
  # maxLayerBytes: the planner warns about layers larger than this.
, maxLayerBytes ? 10737418240
  # tools: { node; shellPath; shell; } for the planner and packer (nodejs, coreutils, gnutar, gnused).
, tools ? null
  # cudatoolkit: the toolkit whose version goes into CUDA_VERSION (cut to major.minor.patch).
, cudatoolkit
  # name: image name written into the archive.
, name
  # tag: image tag; null lets nixpkgs use the Nix output hash.
, tag ? null
  # contents: store paths linked into the image root.
, contents ? [ ]
  # config: OCI image config; its Env is merged with the CUDA env (entries of the caller win).
, config ? { }
  # maxLayers: layer budget of streamLayeredImage (at most 125).
, maxLayers ? 100
  # driverCapabilities: NVIDIA_DRIVER_CAPABILITIES baked into the image.
, driverCapabilities ? "compute,utility"
  # visibleDevices: NVIDIA_VISIBLE_DEVICES to bake in; null (default) leaves it to the device plugin,
  #   so a pod that requests no GPU sees none.
, visibleDevices ? null
  # created: image creation date; fixed so that rebuilds are byte-identical.
, created ? "2024-03-08T00:00:01Z"
  # extraCommands: shell run in the image root before it is packed.
, extraCommands ? ""
}:
let
  cutVersion = version: lib.concatStringsSep "." (lib.take 3 (lib.splitVersion version));
  envName = entry: builtins.head (lib.splitString "=" entry);

  # The NVIDIA container toolkit mounts the driver into /usr/lib64 or /usr/lib/x86_64-linux-gnu
  # (it depends on the image); Nix-built CUDA programs look in /run/opengl-driver/lib. Cover all.
  cudaEnv = [
    "CUDA_VERSION=${cutVersion cudatoolkit.version}"
    "NVIDIA_DRIVER_CAPABILITIES=${driverCapabilities}"
    "LD_LIBRARY_PATH=/run/opengl-driver/lib:/usr/lib64:/usr/lib/x86_64-linux-gnu"
  ] ++ lib.optional (visibleDevices != null) "NVIDIA_VISIBLE_DEVICES=${visibleDevices}";

  callerEnv = config.Env or [ ];
  callerNames = map envName callerEnv;
  mergedEnv = builtins.filter (entry: !(builtins.elem (envName entry) callerNames)) cudaEnv ++ callerEnv;
  imageConfig = config // { Env = mergedEnv; };

  planned = import ./pack-layers.nix {
    plan = import ./plan-layers.nix {
      roots = contents;
      strategy = layerStrategy;
      inherit maxLayers maxLayerBytes;
      inherit (tools) node shellPath;
    };
    roots = contents;
    inherit name created;
    tag = if tag == null then "" else tag;
    config = imageConfig;
    inherit (tools) shellPath shell;
  };
in
assert lib.assertMsg (maxLayers >= 2 && maxLayers <= 125) "buildCudaLayeredImage: maxLayers must be within 2..125";
assert lib.assertMsg (layerStrategy == "popularity" || tools != null) "buildCudaLayeredImage: layerStrategy ${layerStrategy} needs tools";
assert lib.assertMsg (layerStrategy == "popularity" || extraCommands == "") "buildCudaLayeredImage: extraCommands only apply to the popularity strategy";
if layerStrategy == "popularity" then
  streamLayeredImage {
    inherit name tag contents maxLayers created extraCommands;
    config = imageConfig;
  }
else planned
