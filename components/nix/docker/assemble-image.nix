# The image from a realised layer plan (./plan-layers.nix): one ./layer.nix derivation per planned
# layer plus the root skeleton layer, and a small derivation over them that writes the image as a
# directory which is at once
# - an OCI image layout (oci-layout, index.json, blobs/sha256/…): what `skopeo copy oci:…` reads;
# - a docker-archive when tarred with symlinks followed (manifest.json at the top): what
#   `tar -ch … | docker load` reads.
# Layer blobs are symlinks into the layer derivations: no image archive is ever written, and a push
# knows every blob digest before it starts (the publisher asks the registry for each and uploads
# only the missing ones, with no local cache).
{
  # layerPlan: the plan's store path as a string (read at evaluation: its plan.json names the store
  #   paths of each layer). Must be realised (the build does it first; see buildCudaLayeredImage).
  layerPlan
  # name: image name (lowercased for the docker-archive's RepoTags).
, name
  # tag: image tag; "" means the hash part of `layerPlan`'s store path (which the caller's
  #   evaluation already knows, before anything is built).
, tag ? ""
  # config: OCI image config (Entrypoint, Env, User, …).
, config ? { }
  # created: image creation date, fixed for reproducibility.
, created ? "1970-01-01T00:00:01Z"
  # architecture: GOARCH-style architecture of the image.
, architecture
  # rootDir: store path whose tree becomes the image root (the last layer); null for none.
, rootDir ? null
  # extraCommands: shell run in a writable copy of rootDir before it is packed.
, extraCommands ? ""
  # shell: the builders' POSIX shell (nixpkgs: stdenv.shell).
, shell
  # shellPath: PATH with coreutils, GNU tar, GNU sed and gzip for the builders.
, shellPath
  # system: the build platform.
, system ? builtins.currentSystem
}:
let
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  imageName = builtins.replaceStrings upper lower name;
  drvName = builtins.replaceStrings [ "/" ] [ "-" ] name;
  # `/nix/store/<hash>-<name>` → `<name>`
  prefixLength = builtins.stringLength builtins.storeDir + 34;
  pathName = p: builtins.substring prefixLength 200 p;
  # The plan's store path with its context, to read it at evaluation. The image does not reference
  # it: the plan references the whole uncompressed closure, which would otherwise travel with the
  # image into every binary cache (nix.uploadTo) and keep it from garbage collection.
  plan = builtins.storePath layerPlan;
  # the paths get their context one by one below (a string with context is no JSON for Nix)
  planned = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile "${plan}/plan.json"));
  layerFor = l: import ./layer.nix {
    # builtins.storePath gives each path its context: the layer derivation's inputs are exactly
    # its paths, so its hash changes only when one of them does.
    paths = map builtins.storePath l.paths;
    name = "layer-${pathName (builtins.head l.paths)}";
    inherit shell shellPath system;
  };
  storeLayers = map layerFor planned.layers;
  rootLayer = import ./layer.nix {
    name = "${drvName}-root-layer";
    inherit rootDir extraCommands shell shellPath system;
  };
  layers = storeLayers ++ (if rootDir == null && extraCommands == "" then [ ] else [ rootLayer ]);
  planHash = builtins.substring 0 32 (baseNameOf layerPlan);
in
derivation {
  name = "${drvName}-image";
  inherit system created architecture imageName layers;
  # the plan's path as text (no context: not an input, so the image's output cannot reference it)
  layerPlanPath = builtins.unsafeDiscardStringContext layerPlan;
  tag = if tag == "" then planHash else tag;
  # The config names store paths (the entrypoint, the CA bundle) that the layers hold; as text only,
  # so the image's closure is its compressed layers and not also the uncompressed packages.
  configJson = builtins.unsafeDiscardStringContext (builtins.toJSON config);
  # symlinks and three small JSON files: building is cheaper than asking a cache, and a remote
  # builder would first have to receive every layer
  preferLocalBuild = true;
  allowSubstitutes = false;
  builder = shell;
  PATH = shellPath;
  args = [ "-c" ''
    set -eu
    set -f
    mkdir -p "$out/blobs/sha256"
    descriptors=""; diffIds=""; archiveLayers=""
    for l in $layers; do
      digest=$(cat "$l/digest"); hex=''${digest#sha256:}
      ln -sfn "$l/layer.tar.gz" "$out/blobs/sha256/$hex"
      descriptors="$descriptors''${descriptors:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$digest\",\"size\":$(cat "$l/size")}"
      diffIds="$diffIds''${diffIds:+,}\"$(cat "$l/diffid")\""
      archiveLayers="$archiveLayers''${archiveLayers:+,}\"blobs/sha256/$hex\""
    done
    blob() { # file → sha256 hex; the file becomes a blob
      h=$(sha256sum "$1" | cut -c1-64); mv "$1" "$out/blobs/sha256/$h"; echo "$h"
    }
    printf '{"architecture":"%s","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
      "$architecture" "$created" "$configJson" "$diffIds" > config.json
    configSize=$(wc -c < config.json | tr -d ' ')
    config=$(blob config.json)
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
      "$config" "$configSize" "$descriptors" > manifest.json
    manifestSize=$(wc -c < manifest.json | tr -d ' ')
    manifest=$(blob manifest.json)
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
      "$manifest" "$manifestSize" "$tag" > "$out/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
    printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s:%s"],"Layers":[%s]}]' "$config" "$imageName" "$tag" "$archiveLayers" > "$out/manifest.json"
    # what the image was assembled from, for the next preview's forecast (read while the stack's GC
    # root keeps the plan; a store without it has nothing to forecast from)
    printf '%s\n' "$layerPlanPath" > "$out/layer-plan"
  '' ];
}
