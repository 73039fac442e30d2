# Miniature dockerTools: streamLayeredImage with nixpkgs' interface and layering semantics
# (pkgs/build-support/docker/default.nix): the closure roots are the base JSON (image config, so its
# references are in the image) and the customisation layer (a symlinkJoin of `contents`, changed by
# `extraCommands`); the maxLayers-1 most popular paths get a layer each and the rest one catch-all;
# the image name is lowercased; architecture is GOARCH of the host platform. Where nixpkgs streams
# the layers with stream_layered_image.py, this stand-in packs them with ./pack-layers.nix (an
# uncompressed docker-archive, as nixpkgs writes it).
{
  # lib, writeText, symlinkJoin, nodejs, coreutils, gnutar, gnused, runtimeShell, stdenv: from the
  #   miniature set.
  lib
, writeText
, symlinkJoin
, nodejs
, coreutils
, gnutar
, gnused
, runtimeShell
, stdenv
}:
{
  streamLayeredImage =
    { name
    , tag ? null
    , contents ? [ ]
    , config ? { }
    , maxLayers ? 100
    , created ? "1970-01-01T00:00:01Z"
    , extraCommands ? ""
    }:
    let
      baseName = baseNameOf name;
      architecture = import ../../../nix/docker/goarch.nix stdenv.hostPlatform.parsed.cpu.name;
      baseJson = writeText "${baseName}-base.json" (builtins.toJSON { inherit config architecture; os = "linux"; });
      customisationLayer = symlinkJoin { name = "${baseName}-customisation-layer"; paths = lib.toList contents; };
      roots = [ baseJson customisationLayer ];
      shellPath = lib.makeBinPath [ gnutar gnused coreutils ];
    in
    assert lib.assertMsg (maxLayers > 1) "the maxLayers argument of dockerTools.buildLayeredImage function must be greather than 1 (current value: ${toString maxLayers})";
    import ./pack-layers.nix {
      plan = import ../../../nix/docker/plan-layers.nix {
        inherit roots shellPath;
        inherit (stdenv) shell;
        strategy = "popularity";
        maxLayers = maxLayers - 1;
        node = "${nodejs}/bin/node";
      };
      inherit name;
      inherit roots config created architecture extraCommands shellPath;
      tag = if tag == null then "" else tag;
      rootDir = customisationLayer;
      shell = runtimeShell;
      builderShell = stdenv.shell;
    };
}
