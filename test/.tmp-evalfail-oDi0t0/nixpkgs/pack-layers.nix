# The miniature dockerTools' packer (./docker-tools.nix: streamLayeredImage's output format).
# Packs a planned set of layers into a docker-archive (what `docker load` and skopeo's
# docker-archive transport read) and returns, like streamLayeredImage, an executable that writes it
# to stdout. Layer tarballs are reproducible: sorted entries, mtime 1, uid/gid 0, GNU format, and
# hard links stored as the files they point to (`--hard-dereference`), so the bytes do not depend on
# whether `nix-store --optimise` has hard-linked identical files on this machine: an unchanged layer
# has the same digest on every build and machine, and a registry reuses it.
# The build fails when a store path of the closure of `roots` is in no planned layer (or in two).
{
  # plan: output of ./plan-layers.nix (layers.txt lists one layer per line).
  plan
  # roots: the image's root store paths (contents and everything the config references); the
  #   closure of these must be covered by the plan.
, roots
  # name, tag: written into the archive's RepoTags (name lowercased, as registries require);
  #   tag "" means the Nix output hash.
, name
, tag ? ""
  # config: OCI image config (Entrypoint, Env, …).
, config ? { }
  # created: image creation date, fixed for reproducibility.
, created ? "1970-01-01T00:00:01Z"
  # rootDir: a store path whose tree (symlinks kept) becomes the image root, packed as the last layer
  #   after `extraCommands`; null for none.
, rootDir ? null
  # extraCommands: shell run inside the copy of rootDir before it is packed (e.g. mkdir -m 1777 tmp).
, extraCommands ? ""
  # shellPath: PATH with coreutils, GNU sed and GNU tar for the builder (store paths only).
, shellPath
  # builderShell: the builders' POSIX shell (nixpkgs: stdenv.shell).
, builderShell
  # shell: interpreter of the resulting stream script.
, shell
  # system: the build platform.
, system ? builtins.currentSystem
  # architecture: the image's GOARCH-style architecture; by default that of `system`.
, architecture ? import ./goarch.nix (builtins.head (builtins.split "-" system))
}:
let
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  imageName = builtins.replaceStrings upper lower name;
  drvName = builtins.replaceStrings [ "/" ] [ "-" ] name;
  graphs = builtins.genList (i: "closure-${toString i}") (builtins.length roots);
  tarFlags = "--sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu --hard-dereference";

  archive = derivation {
    name = "${drvName}-image.tar";
    inherit system created tag imageName architecture extraCommands;
    rootDir = if rootDir == null then "" else rootDir;
    builder = builderShell;
    PATH = shellPath;
    layers = "${plan}/layers.txt";
    exportReferencesGraph = builtins.concatLists (builtins.genList (i: [ (builtins.elemAt graphs i) (builtins.elemAt roots i) ]) (builtins.length roots));
    graphs = graphs;
    configJson = builtins.toJSON config;
    args = [ "-c" ''
      set -eu
      work=$(mktemp -d); mkdir -p "$work/out" "$work/skel/nix/store"
      # every store path of the closure must be in exactly one planned layer
      tr ' ' '\n' < "$layers" | sed '/^$/d' | sort > "$work/planned"
      [ "$(sort -u "$work/planned" | wc -l)" = "$(wc -l < "$work/planned")" ] || { echo "pack-layers: a store path is planned twice" >&2; exit 1; }
      for g in $graphs; do
        # exportReferencesGraph format: path, deriver, reference count, references
        while IFS= read -r p; do
          IFS= read -r deriver; IFS= read -r n
          while [ "$n" -gt 0 ]; do IFS= read -r ref; n=$((n - 1)); done
          echo "$p"
        done < "$g"
      done | sort -u > "$work/closure"
      missing=$(grep -vxF -f "$work/planned" "$work/closure" || true)
      if [ -n "$missing" ]; then
        echo "pack-layers: store paths of the image (contents and config references) are in no layer:" >&2
        echo "$missing" >&2
        exit 1
      fi
      cd "$work"
      layerList=""; diffs=""
      addLayer() {
        d=$(sha256sum layer.tar | cut -c1-64)
        mkdir -p "out/$d"; mv layer.tar "out/$d/layer.tar"
        layerList="$layerList''${layerList:+,}\"$d/layer.tar\""; diffs="$diffs''${diffs:+,}\"sha256:$d\""
      }
      while IFS= read -r line; do
        [ -n "$line" ] || continue
        set -- $line
        rel=""; for p in "$@"; do rel="$rel ''${p#/}"; done
        tar ${tarFlags} -cf layer.tar -C skel nix -C / $rel
        addLayer
      done < "$layers"
      if [ -n "$rootDir" ] || [ -n "$extraCommands" ]; then
        mkdir root
        [ -z "$rootDir" ] || cp -RP "$rootDir/." root/
        chmod -R u+w root
        (cd root && eval "$extraCommands")
        tar ${tarFlags} --transform='s|^\./||' -cf layer.tar -C root .
        addLayer
      fi
      t="$tag"; [ -n "$t" ] || t=$(basename "$out" | cut -c1-32)
      printf '{"architecture":"%s","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
        "$architecture" "$created" "$configJson" "$diffs" > out/config.json
      c=$(sha256sum out/config.json | cut -c1-64); mv out/config.json "out/$c.json"
      printf '[{"Config":"%s.json","RepoTags":["%s:%s"],"Layers":[%s]}]' "$c" "$imageName" "$t" "$layerList" > out/manifest.json
      tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$out" -C out $(cd out && ls)
    '' ];
  };
in
derivation {
  name = "${drvName}-image-stream";
  inherit system archive shell;
  builder = builderShell;
  PATH = shellPath;
  args = [ "-c" ''printf '#!%s\nexec cat %s\n' "$shell" "$archive" > "$out" && chmod 555 "$out"'' ];
}
