# The miniature trees in the shape of nix/sources.nix, for injection:
#   nix-build nix/build_container.nix --arg sources 'import ./test/fixture/nixpkgs/sources.nix'
{
  nixpkgsStable = ./stable;
  nixpkgsUnstable = ./unstable;
}
