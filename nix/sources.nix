# Fetches the pinned nixpkgs trees of ./pins.nix. Every fetch carries its hash, so evaluation is pure
# and works from a local store once the tarballs are there.
{
  # pins: attrset of { rev; sha256; } as in ./pins.nix
  pins ? import ./pins.nix
}:
let
  fetchNixpkgs = pin: builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/${pin.rev}.tar.gz";
    inherit (pin) sha256;
  };
in
{
  nixpkgsStable = fetchNixpkgs pins.nixpkgsStable;
  nixpkgsUnstable = fetchNixpkgs pins.nixpkgsUnstable;
}
