# Packs a planned set of layers into a docker-archive (what `docker load` and skopeo's
# docker-archive transport read) and returns, like streamLayeredImage, an executable that writes it
# to stdout. Layer tarballs are reproducible: sorted entries, mtime 1, uid/gid 0, GNU format, so an
# unchanged layer has the same digest on every build and a registry reuses it.
{
  # plan: output of ./plan-layers.nix (layers.txt lists one layer per line).
  plan
  # roots: the image's root store paths (their closure is what the plan covers).
, roots
  # name, tag: written into the archive's RepoTags; tag "" means the Nix output hash.
, name
, tag ? ""
  # config: OCI image config (Entrypoint, Env, …).
, config ? { }
  # created: image creation date, fixed for reproducibility.
, created ? "1970-01-01T00:00:01Z"
  # shellPath: PATH with coreutils and GNU tar for the builder.
, shellPath ? "/usr/bin:/bin"
  # shell: interpreter of the resulting stream script.
, shell ? "/bin/sh"
  # system: the build platform.
, system ? builtins.currentSystem
}:
let
  archive = derivation {
    name = "${builtins.replaceStrings [ "/" ] [ "-" ] name}-image.tar";
    inherit system created tag;
    imageName = name;
    builder = "/bin/sh";
    PATH = shellPath;
    layers = "${plan}/layers.txt";
    rootPaths = roots;
    configJson = builtins.toJSON config;
    args = [ "-c" ''
      set -eu
      work=$(mktemp -d); mkdir -p "$work/out" "$work/skel/nix/store"; cd "$work"
      # every store path of the closure must be in exactly one planned layer
      tr ' ' '\n' < "$layers" | sed '/^$/d' | sort > planned
      [ "$(sort -u planned | wc -l)" = "$(wc -l < planned)" ] || { echo "pack-layers: a store path is planned twice" >&2; exit 1; }
      layerList=""; diffs=""
      while IFS= read -r line; do
        [ -n "$line" ] || continue
        set -- $line
        rel=""; for p in "$@"; do rel="$rel ''${p#/}"; done
        tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu \
          -cf layer.tar -C skel nix -C / $rel
        d=$(sha256sum layer.tar | cut -c1-64)
        mkdir -p "out/$d"; mv layer.tar "out/$d/layer.tar"
        layerList="$layerList''${layerList:+,}\"$d/layer.tar\""; diffs="$diffs''${diffs:+,}\"sha256:$d\""
      done < "$layers"
      t="$tag"; [ -n "$t" ] || t=$(basename "$out" | cut -c1-32)
      printf '{"architecture":"amd64","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
        "$created" "$configJson" "$diffs" > out/config.json
      c=$(sha256sum out/config.json | cut -c1-64); mv out/config.json "out/$c.json"
      printf '[{"Config":"%s.json","RepoTags":["%s:%s"],"Layers":[%s]}]' "$c" "$imageName" "$t" "$layerList" > out/manifest.json
      tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$out" -C out $(cd out && ls)
    '' ];
  };
in
derivation {
  name = "${builtins.replaceStrings [ "/" ] [ "-" ] name}-image-stream";
  inherit system archive shell;
  builder = "/bin/sh";
  PATH = shellPath;
  args = [ "-c" ''printf '#!%s\nexec cat %s\n' "$shell" "$archive" > "$out" && chmod 555 "$out"'' ];
}
