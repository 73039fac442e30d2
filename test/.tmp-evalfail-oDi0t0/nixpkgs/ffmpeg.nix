# Miniature ffmpeg: stands in for nixpkgs' pkgs/development/libraries/ffmpeg/generic.nix called
# through callPackage. The function declares generic.nix's switch arguments (lib.setFunctionArgs),
# so `ffmpeg.override` is the functor lib.makeOverridable makes and `lib.functionArgs
# ffmpeg.override` lists the switches, as in nixpkgs. The result is a busybox script that prints its
# configuration (`ffmpeg -buildconf`); it enforces the license rules nixpkgs does: switches that need
# `--enable-nonfree` need withUnfree, withUnfree needs config.allowUnfree, and the NVIDIA codec
# switches need withNvcodec.
let
  lib = import ./lib.nix;
  # Switch defaults (a small subset on, the way nixpkgs' "small" variant turns the build options on).
  switches = {
    withHeadlessDeps = true; withSmallDeps = true; withFullDeps = false; withAlsa = false;
    withAmf = false; withAom = false; withAribb24 = false; withAribcaption = false; withAss = false;
    withAvisynth = false; withBluray = false; withBs2b = false; withBzlib = false; withCaca = false;
    withCdio = false; withCelt = false; withChromaprint = false; withCodec2 = false;
    withCuda = false; withCudaLLVM = false; withCudaNVCC = false; withCuvid = false;
    withDav1d = false; withDavs2 = false; withDc1394 = false; withDrm = false; withDvdnav = false;
    withDvdread = false; withFdkAac = false; withNvcodec = false; withFlite = false;
    withFontconfig = false; withFreetype = false; withFrei0r = false; withFribidi = false;
    withGme = false; withGnutls = false; withGsm = false; withHarfbuzz = false; withIconv = false;
    withIlbc = false; withJack = false; withJxl = false; withKvazaar = false; withLadspa = false;
    withLc3 = false; withLcevcdec = false; withLcms2 = false; withLzma = false; withMetal = false;
    withMfx = false; withModplug = false; withMp3lame = false; withMysofa = false; withNpp = false;
    withNvdec = false; withNvenc = false; withOpenal = false; withOpencl = false;
    withOpencoreAmrnb = false; withOpencoreAmrwb = false; withOpengl = false; withOpenh264 = false;
    withOpenjpeg = false; withOpenmpt = false; withOpus = false; withPlacebo = false;
    withPulse = false; withQrencode = false; withQuirc = false; withRav1e = false; withRist = false;
    withRtmp = false; withRubberband = false; withSamba = false; withSdl2 = false;
    withShaderc = false; withShine = false; withSnappy = false; withSoxr = false; withSpeex = false;
    withSrt = false; withSsh = false; withSvg = false; withSvtav1 = false; withTensorflow = false;
    withTheora = false; withTwolame = false; withUavs3d = false; withV4l2 = false;
    withV4l2M2m = false; withVaapi = false; withVdpau = false; withVidStab = false;
    withVmaf = false; withVoAmrwbenc = false; withVorbis = false; withVpl = false; withVpx = false;
    withVulkan = false; withVvenc = false; withWebp = false; withX264 = false; withX265 = false;
    withXavs = false; withXavs2 = false; withXcb = false; withXcbShape = false; withXcbShm = false;
    withXcbxfixes = false; withXevd = false; withXeve = false; withXlib = false; withXml2 = false;
    withXvid = false; withZimg = false; withZlib = false; withZmq = false; withZvbi = false;
    withGPL = true; withVersion3 = true; withGPLv3 = true; withUnfree = false;
    withSmallBuild = false; withRuntimeCPUDetection = true; withGrayscale = false;
    withSwscaleAlpha = false; withHardcodedTables = false; withSafeBitstreamReader = false;
    withMultithread = true; withNetwork = true; withPixelutils = false; withStatic = false;
    withShared = true; withPic = true; withThumb = false; buildFfmpeg = true; buildFfplay = true;
    buildFfprobe = true; buildQtFaststart = false; withBin = true; buildAvcodec = true;
    buildAvdevice = true; buildAvfilter = true; buildAvformat = true; buildAvresample = false;
    buildAvutil = true; buildPostproc = true; buildSwresample = true; buildSwscale = true;
    withLib = true; withDocumentation = false; withHtmlDoc = false; withManPages = false;
    withPodDoc = false; withTxtDoc = false; withDoc = false; withDebug = false;
    withOptimisations = true; withExtraWarnings = false; withStripping = false;
  };
  needsUnfree = s: lib.optional (s.withFdkAac && s.withGPL) "withFdkAac" ++ lib.optional s.withNpp "withNpp"
    ++ lib.optional s.withCudaNVCC "withCudaNVCC";
  build = args:
    let
      s = switches // builtins.intersectAttrs switches args;
      enabled = lib.filter (n: s.${n}) (lib.attrNames switches);
      missingUnfree = if s.withUnfree then [ ] else needsUnfree s;
      nvidia = lib.filter (n: s.${n}) [ "withCuda" "withCuvid" "withNvdec" "withNvenc" ];
    in
    if missingUnfree != [ ] then throw "ffmpeg: ${toString missingUnfree} needs withUnfree (--enable-nonfree)"
    else if nvidia != [ ] && !s.withNvcodec then throw "ffmpeg: ${toString nvidia} needs withNvcodec"
    else if s.withUnfree && !args.config.allowUnfree then throw "Package ‘ffmpeg-7.1’ has an unfree license (withUnfree), refusing to evaluate."
    else args.runCommand "ffmpeg-7.1" { bb = args.busybox; switches = enabled; } ''
      mkdir -p $out/bin $out/share/ffmpeg
      printf '%s\n' $switches > $out/share/ffmpeg/switches
      printf '#!%s/bin/sh\n[ "$1" = -buildconf ] || { echo "ffmpeg stand-in: only -buildconf" >&2; exit 2; }\nexec %s/bin/cat %s\n' \
        "$bb" "$bb" "$out/share/ffmpeg/switches" > $out/bin/ffmpeg
      chmod 555 $out/bin/ffmpeg
    '' // { version = "7.1"; enabledSwitches = enabled; };
in
lib.setFunctionArgs build ({ config = false; runCommand = false; busybox = false; } // lib.mapAttrs (n: v: true) switches)
