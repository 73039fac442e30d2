# Overlay: rebuild ffmpeg with NVIDIA hardware codecs (NVENC/NVDEC/CUDA filters) and a chosen set of
# switches. The switches are the boolean arguments of nixpkgs' pkgs/development/libraries/ffmpeg/
# generic.nix; `ffmpeg.override` is a functor made by lib.makeOverridable, so they are read with
# lib.functionArgs (builtins.functionArgs fails on a functor). The image puts this ffmpeg on PATH.
{
  # features: list of switch names (e.g. [ "withX264" "withOpus" ]) turned on; every name must be an
  #   argument of ffmpeg's generic.nix, or evaluation fails naming it. withUnfree is turned on only
  #   when a chosen switch needs --enable-nonfree (withFdkAac with GPL, withNpp, withCudaNVCC).
  features ? [ ]
  # cuda: turn on withCuda, withNvenc and withNvdec (and withNvcodec, where nixpkgs has it); these use
  #   the MIT-licensed nv-codec-headers and need no withUnfree.
, cuda ? true
}:
final: prev:
let
  lib = prev.lib;
  known = lib.functionArgs prev.ffmpeg.override;
  cudaSwitches = lib.optionalAttrs cuda ({
    withCuda = true;
    withNvenc = true;
    withNvdec = true;
  } // lib.optionalAttrs (known ? withNvcodec) { withNvcodec = true; });
  chosen = lib.genAttrs features (name: true);
  unknown = builtins.filter (name: !(known ? ${name})) features;
  nonfree = builtins.filter (name: builtins.elem name features) [ "withFdkAac" "withNpp" "withCudaNVCC" ];
in
# The checks sit inside the attribute value: the overlay's attribute names must not depend on
# prev.ffmpeg, or evaluating any package through callPackage (which reads the set's names) recurses.
{
  ffmpeg =
    lib.throwIf (known == { }) "ffmpeg overlay: ffmpeg.override declares no arguments; cannot check the switches"
    (lib.throwIf (unknown != [ ]) "ffmpeg overlay: unknown feature switch(es): ${toString unknown}"
    (prev.ffmpeg.override ({
      withDebug = false;
      buildFfplay = false;
      withHeadlessDeps = true;
    } // cudaSwitches // lib.optionalAttrs (nonfree != [ ]) { withUnfree = true; } // chosen)));
}
