# The miniature package set: a stand-in for the parts of nixpkgs that nix/ uses, so that CI can
# evaluate and build the real nix/build_container.nix offline. It is built on nixpkgs' real `lib`
# (./lib.nix, pinned); what it stands in for are *packages*: each is a tiny derivation built from
# store paths only, so it builds in Nix's sandbox: the builders run the host tools that
# test/seed-nix-store.sh copies into the store (../host-tools.nix), and everything that must run
# inside the image is a copy of the static busybox among them. The
# interfaces are nixpkgs' own (see README "The Nix tree"): `import <tree> { config; overlays; }`,
# overlays applied with lib.extends, python311 with .pkgs (a lib.makeScope set extended by
# pythonPackagesExtensions, then packageOverrides), buildPythonPackage, withPackages, *-bin torch,
# ffmpeg made overridable with lib.makeOverridable and generic.nix's flag arguments,
# cudaPackages.cudatoolkit, writeShellScript, symlinkJoin, fakeNss, cacert, fetchFromGitHub as a
# fixed-output derivation, dockerTools.streamLayeredImage.
{
  # tree: root of the miniature tree being imported (./stable or ./unstable); package files that
  #   nixpkgs keeps under pkgs/… are looked up there, so two trees can differ in a recipe.
  tree
}:
{
  # config: nixpkgs config (allowUnfree, cudaSupport, cudaCapabilities are read).
  config ? { }
  # overlays: nixpkgs overlays (final: prev: { … }), applied in order.
, overlays ? [ ]
  # system: the platform to build for.
, system ? builtins.currentSystem
}:
let
  lib = import ./lib.nix;
  host = import ../host-tools.nix;
  inherit (host) run;

  fullConfig = {
    allowUnfree = false;
    cudaSupport = false;
    # nixpkgs' default list at 24.11 (cudaPackages flags: every capability not dropped by default).
    cudaCapabilities = [ "5.0" "5.2" "6.0" "6.1" "7.0" "7.5" "8.0" "8.6" "8.9" "9.0" ];
  } // config;

  platform = lib.systems.elaborate { inherit system; };

  basePackages = final: {
    inherit lib system;
    config = fullConfig;
    pkgs = final;
    callPackage = lib.callPackageWith final;
    newScope = extra: lib.callPackageWith (final // extra);

    stdenv = {
      hostPlatform = platform;
      buildPlatform = platform;
      # nixpkgs: the bintools wrapper's passthru names the program interpreter of the set's glibc
      cc.bintools.dynamicLinker = "${final.glibc}/lib/${if platform.parsed.cpu.name == "aarch64" then "ld-linux-aarch64.so.1" else "ld-linux-x86-64.so.2"}";
      # nixpkgs: the builders' shell (bash); here the host tools' dash, as `run` uses
      inherit (host) shell;
    };

    # --- build helpers (nixpkgs: pkgs/build-support/trivial-builders) ---------------------------
    # for the set's `system`, as nixpkgs' derivations are (a foreign one needs a builder for it)
    runCommand = name: env: script: run name ({ inherit system; } // env) ''
      set -eu
      ${script}
    '';
    writeText = name: text: final.runCommand name { inherit text; passAsFile = [ "text" ]; } ''
      cp "$textPath" "$out"
    '';
    writeTextDir = path: text: final.runCommand (baseNameOf path) { inherit text path; passAsFile = [ "text" ]; } ''
      mkdir -p "$out/$(dirname "$path")" && cp "$textPath" "$out/$path"
    '';
    # nixpkgs: writeTextFile { executable = true; text = "#!${runtimeShell}\n…"; checkPhase = shellDryRun }.
    writeShellScript = name: text: final.runCommand name {
      text = "#!${final.runtimeShell}\n${text}";
      passAsFile = [ "text" ];
    } ''
      cp "$textPath" "$out" && chmod 555 "$out"
      ${final.busybox}/bin/sh -n "$out"
    '';
    symlinkJoin = { name, paths, postBuild ? "" }: final.runCommand name { inherit paths postBuild; } ''
      mkdir -p "$out"
      for p in $paths; do
        (cd "$p" && find . -mindepth 1 \( -type f -o -type l \) -print) | while IFS= read -r f; do
          [ -e "$out/$f" ] || [ -L "$out/$f" ] || { mkdir -p "$out/$(dirname "$f")"; ln -s "$p/$f" "$out/$f"; }
        done
      done
      eval "$postBuild"
    '';
    # nixpkgs' fetchFromGitHub: a fixed-output derivation named "source" whose NAR hash is `hash`.
    # Offline it succeeds only when that store path is already valid (test/seed-nix-store.sh).
    fetchFromGitHub = { owner, repo, rev, hash, name ? "source" }: derivation {
      inherit name system;
      builder = host.shell;
      PATH = host.path;
      url = "https://github.com/${owner}/${repo}/archive/${rev}.tar.gz";
      outputHashMode = "recursive";
      outputHash = hash;
      args = [ "-c" ''
        set -eu
        wget -q -O src.tgz "$url" && mkdir unpack && tar -xzf src.tgz -C unpack && mv unpack/* "$out"
      '' ];
    };

    # --- build tools (stand-ins for nixpkgs' nodejs, gnutar, gnused, gzip): the host tools ---------
    inherit (host) nodejs gnutar gnused gzip;
    # no cross-compilation here: the build platform's packages are this set
    buildPackages = final;

    # --- what runs inside the image: busybox-static -------------------------------------------
    busybox = final.runCommand "busybox-static" { src = host.busyboxBinary; } ''
      mkdir -p $out/bin && cp "$src" $out/bin/busybox && chmod 555 $out/bin/busybox
      for a in $($out/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$out/bin/$a"; done
    '';
    coreutils = final.busybox;
    # bash stand-in: busybox has no `bash` applet, so bin/bash runs busybox's sh.
    bashInteractive = final.runCommand "bash-interactive-stand-in" { bb = final.busybox; } ''
      mkdir -p $out/bin
      printf '#!%s/bin/sh\nexec %s/bin/sh "$@"\n' "$bb" "$bb" > $out/bin/bash && chmod 555 $out/bin/bash
    '';
    runtimeShell = "${final.busybox}/bin/sh";

    # glibc: the dynamic loader and libc (the host tools' copies; nothing in the image links them, so
    # they only serve binaries mounted from a GPU node, as the real image's glibc does).
    glibc = final.runCommand "glibc-2.40-host" { lib = "${host.root}/lib"; } ''
      mkdir -p $out/lib
      cp "$lib/ld.so" $out/lib/${if platform.parsed.cpu.name == "aarch64" then "ld-linux-aarch64.so.1" else "ld-linux-x86-64.so.2"}
      cp "$lib/libc.so.6" $out/lib/libc.so.6
    '';

    # nixpkgs: pkgs/build-support/fake-nss, overridable with extraPasswdLines / extraGroupLines.
    fakeNss = lib.makeOverridable ({ extraPasswdLines ? [ ], extraGroupLines ? [ ] }: final.symlinkJoin {
      name = "fake-nss";
      paths = [
        (final.writeTextDir "etc/passwd" ''
          root:x:0:0:root user:/var/empty:/bin/sh
          ${lib.concatStrings (map (l: "${l}\n") extraPasswdLines)}nobody:x:65534:65534:nobody:/var/empty:/bin/sh
        '')
        (final.writeTextDir "etc/group" ''
          root:x:0:
          ${lib.concatStrings (map (l: "${l}\n") extraGroupLines)}nobody:x:65534:
        '')
        (final.writeTextDir "etc/nsswitch.conf" ''
          hosts: files dns
        '')
        (final.runCommand "var-empty" { } "mkdir -p $out/var/empty")
      ];
    }) { };

    # nixpkgs' cacert: $out/etc/ssl/certs/ca-bundle.crt (here: the host's bundle).
    cacert = final.runCommand "nss-cacert-host" { src = host.caBundle; } ''
      mkdir -p $out/etc/ssl/certs && cp "$src" $out/etc/ssl/certs/ca-bundle.crt
    '';

    cudaPackages = {
      cudatoolkit = final.runCommand "cudatoolkit-12.4.1" { } "mkdir -p $out/share && echo 12.4.1 > $out/share/version"
        // { version = "12.4.1"; };
    };

    # nixpkgs: pkgs/development/libraries/ffmpeg/generic.nix through callPackage, so `override`
    # is lib.makeOverridable's functor and lib.functionArgs ffmpeg.override lists these switches.
    ffmpeg = final.callPackage ./ffmpeg.nix { };

    dockerTools = final.callPackage ./docker-tools.nix { };

    pythonPackagesExtensions = [ ];
    python311 = final.callPackage ./python.nix { inherit tree; };
  };

  toFix = lib.foldl' (lib.flip lib.extends) basePackages overlays;
in
lib.fix toFix
