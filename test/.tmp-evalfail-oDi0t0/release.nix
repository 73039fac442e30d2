# The release benchmark's closure (test/bench/release.ts): 123 nixpkgs-free store paths of
# incompressible data shaped like a torch+CUDA image — eight large CUDA-like libraries and a
# torch-like package (three quarters of the bytes), a mid-graph package (ffmpeg-like) with six
# dependents, a hundred small Python-like packages, the app (1 MiB, whatever the total) with its
# environment and entrypoint — planned and assembled by the image recipe's own files, in the same two
# steps as the image: without `layerPlan` the plan, with it the image (an OCI layout directory).
{
  # totalMiB: JSON number, about the closure's size in MiB.
  totalMiB ? "1024"
  # appSalt: changes the app's bytes (an app-only release).
, appSalt ? ""
  # midSalt: changes the mid-graph package's bytes (an ffmpeg re-flag: it and its dependents change).
, midSalt ? ""
  # generation: salts every package, so a run starts from a store that has none of them.
, generation ? ""
  # maxLayers: JSON integer, layer budget.
, maxLayers ? "100"
  # layerPlan: "" for the plan; the realised plan's store path for the image.
, layerPlan ? ""
  # closureOnly: "1" returns the closure's root (the entrypoint) instead of the plan.
, closureOnly ? ""
}:
let
  inherit (import ./lib.nix { }) run twoStepImage;
  MiB = 1048576;
  total = builtins.fromJSON totalMiB * MiB;
  part = fraction: builtins.floor (total * fraction);
  # a package: `size` bytes of data seeded by its name (and salt), referencing `deps`
  pkg = name: size: salt: deps: run name { inherit size; seed = "${generation}${name}${salt}"; deps = map toString deps; } ''
    set -eu
    mkdir -p $out/share
    printf '%s\n' $deps > $out/share/refs
    key=$(printf '%s' "$seed" | sha256sum | cut -c1-32)
    openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null \
      | head -c "$size" > $out/share/data
  '';
  glibc = pkg "glibc" (part 0.01) "" [ ];
  gccLib = pkg "gcc-lib" (part 0.003) "" [ glibc ];
  python = pkg "python3" (part 0.015) "" [ glibc gccLib ];
  cuda = builtins.genList (i: pkg "cuda-lib-${toString i}" (part 0.0625) "" [ glibc gccLib ]) 8;
  torch = pkg "torch" (part 0.25) "" ([ python ] ++ cuda);
  mid = pkg "mid-ffmpeg" (part 0.03) midSalt [ glibc ];
  midDeps = builtins.genList (i: pkg "mid-dependent-${toString i}" (part 0.008) "" [ mid torch python ]) 6;
  # small packages, two of three referencing the one before
  small = builtins.foldl'
    (acc: i: acc ++ [ (pkg "py-${toString i}" (part 0.0015) "" ([ python ] ++ (if i > 0 && i - 3 * (i / 3) != 0 then [ (builtins.elemAt acc (i - 1)) ] else [ ]))) ])
    [ ]
    (builtins.genList (i: i) 100);
  app = pkg "app" MiB appSalt ([ torch python ] ++ midDeps ++ small);
  env = pkg "app-env" 4096 "" ([ app python ] ++ small);
  entrypoint = pkg "entrypoint" 512 "" [ env ];
in
if closureOnly == "1" then entrypoint
else twoStepImage {
  name = "release-bench";
  config = { Entrypoint = [ "${entrypoint}/share/refs" ]; };
  roots = [ entrypoint ];
  maxLayers = builtins.fromJSON maxLayers;
  appPaths = [ app ];
  inherit layerPlan;
}
