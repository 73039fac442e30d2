# One image layer as its own derivation: the store paths `paths` (not their closures), packed as a
# reproducible tarball (sorted entries, mtime 1, uid/gid 0, GNU format, hard links stored as the
# files they point to, so the bytes do not depend on `nix-store --optimise`), compressed with
# `gzip -n -1`, with its digests computed here, at build time:
#   $out/layer.tar.gz   the blob the registry receives
#   $out/digest         sha256:… of layer.tar.gz (the blob digest in the manifest)
#   $out/diffid         sha256:… of the uncompressed tarball (the config's rootfs.diff_ids)
#   $out/size           bytes of layer.tar.gz
# The derivation depends only on `paths` and this recipe, so a layer whose paths did not change is
# the same derivation in every release: never rebuilt, and its digest is known before any push.
# Why gzip -1: registries and GPU nodes move compressed bytes (CUDA libraries compress about 3:1;
# pulls dominate a rollout), while -1 compresses 2-3 times faster than -6 for a few percent of size;
# the compression is done once per changed layer, never per push. `-n` leaves out name and mtime.
{
  # paths: store paths (strings with their context) that make up the layer; at most one layer may
  #   hold a given path.
  paths ? [ ]
  # rootDir: instead of store paths, a store path whose tree (symlinks kept) becomes the image root,
  #   after `extraCommands` ran in a writable copy of it; null for none.
, rootDir ? null
  # extraCommands: shell run inside the copy of rootDir before it is packed (e.g. mkdir -m 1777 tmp).
, extraCommands ? ""
  # name: derivation name.
, name
  # shell: the builder's POSIX shell (nixpkgs: stdenv.shell).
, shell
  # shellPath: PATH with coreutils, GNU tar and gzip for the builder.
, shellPath
  # system: the build platform.
, system ? builtins.currentSystem
}:
let
  tarFlags = "--sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu --hard-dereference";
in
assert (paths == [ ]) != (rootDir == null);
derivation {
  inherit name system paths extraCommands;
  # The list goes in a file ($pathsPath), not the environment: Linux caps one environment string at
  # 128 KiB, about 1,900 store paths, and a CUDA closure's catch-all layer can hold more.
  passAsFile = [ "paths" ];
  rootDir = if rootDir == null then "" else rootDir;
  builder = shell;
  PATH = shellPath;
  args = [ "-c" ''
    set -eu
    # store path names may hold `?`: no globbing of the word-split lists below
    set -f
    mkdir -p "$out" skel/nix/store
    if [ -n "$rootDir" ]; then
      mkdir root
      cp -RP "$rootDir/." root/
      chmod -R u+w root
      (cd root && eval "$extraCommands")
      set -- --transform='s|^\./||' -C root .
    else
      # one relative path per line, in the given order, for tar's --files-from (no argv limit either)
      tr ' ' '\n' < "$pathsPath" | sed -e '/^$/d' -e 's|^/||' > members
      set -- -C skel nix -C / --verbatim-files-from --files-from="$PWD/members"
    fi
    # one pass over the data: the uncompressed stream is hashed through a fifo while gzip reads it
    mkfifo plain
    sha256sum < plain > diffid.txt &
    hasher=$!
    { tar ${tarFlags} -cf - "$@" || touch tar.failed; } | tee plain | gzip -n -1 > "$out/layer.tar.gz"
    wait "$hasher"
    [ ! -e tar.failed ] || { echo "layer: tar failed" >&2; exit 1; }
    printf 'sha256:%s' "$(cut -c1-64 diffid.txt)" > "$out/diffid"
    printf 'sha256:%s' "$(sha256sum "$out/layer.tar.gz" | cut -c1-64)" > "$out/digest"
    wc -c < "$out/layer.tar.gz" | tr -d ' \n' > "$out/size"
  '' ];
}
