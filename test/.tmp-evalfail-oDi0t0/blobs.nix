# Layering check fixture: a dozen nixpkgs-free packages of known sizes (incompressible data) under
# one small top package, planned and assembled by the same recipe files as the real image, in the
# same two steps: without `layerPlan` the plan, with it the image (an OCI layout directory).
{
  # bump: name of the package whose content changes ("" for none).
  bump ? ""
  # salt: makes the bumped content new to this store (a test that counts what is built).
, salt ? ""
  # layerStrategy: "popularity" | "equal" | "stable".
, layerStrategy ? "stable"
  # maxLayers: JSON integer, layer budget.
, maxLayers ? "100"
  # layerPlan: "" for the plan; the realised plan's store path for the image.
, layerPlan ? ""
}:
let
  inherit (import ./lib.nix { }) run blob twoStepImage;
  KiB = 1024;
  sizes = {
    b01 = 64 * KiB; b02 = 128 * KiB; b03 = 192 * KiB; b04 = 256 * KiB; b05 = 320 * KiB; b06 = 384 * KiB;
    b07 = 448 * KiB; b08 = 512 * KiB; b09 = 576 * KiB; b10 = 640 * KiB; b11 = 704 * KiB; b12 = 768 * KiB;
  };
  blobs = builtins.mapAttrs (name: size: blob name size (if name == bump then "${name}-bumped${salt}" else name)) sizes;
  top = run "blobs-top" blobs ''
    mkdir -p $out
    ${builtins.concatStringsSep "\n" (map (n: "echo \"\$${n}\" >> $out/refs") (builtins.attrNames sizes))}
  '';
in
twoStepImage {
  name = "blobs";
  config = { Cmd = [ "/bin/true" ]; };
  roots = [ top ];
  strategy = layerStrategy;
  maxLayers = builtins.fromJSON maxLayers;
  inherit layerPlan;
}
