# Overlay: rebuild ffmpeg with CUDA/NVENC/NVDEC and a chosen set of codec switches.
# The switches are the boolean arguments of nixpkgs' pkgs/development/libraries/ffmpeg/generic.nix.
{
  # features: list of switch names (e.g. [ "withX264" "withOpus" ]) turned on; every name must be an
  #   argument of ffmpeg's generic.nix, or evaluation fails naming it.
  features ? [ ]
  # cuda: turn on withCuda, withNvenc and withNvdec (needs allowUnfree for withUnfree).
, cuda ? true
}:
final: prev:
let
  lib = prev.lib;
  # The arguments ffmpeg's override accepts (empty when nixpkgs does not expose them).
  known = builtins.functionArgs prev.ffmpeg.override;
  cudaSwitches = lib.optionalAttrs cuda {
    withCuda = true;
    withNvenc = true;
    withNvdec = true;
    withUnfree = true;
  };
  chosen = lib.genAttrs features (name: true);
  unknown = builtins.filter (name: known != { } && !(known ? ${name})) features;
in
lib.throwIf (unknown != [ ]) "ffmpeg overlay: unknown feature switch(es): ${toString unknown}"
{
  ffmpeg = prev.ffmpeg.override ({
    withDebug = false;
    buildFfplay = false;
    withHeadlessDeps = true;
  } // cudaSwitches // chosen);
}
