# Pinned nixpkgs sources: a git revision and the NAR hash of its unpacked tarball (the hash
# `builtins.fetchTarball` checks). Nothing here follows a channel, so two machines, or two days,
# evaluate the same derivations and `pulumi preview` can tell what an edit changes.
#
# Where the pairs come from (public flake.lock files, copied as they are there):
# - stable: the `nixpkgs` node (original ref `nixos-24.11`, lastModified 1751274312) of
#   inno-devops-labs/DevOps-Core-Course `labs/lab18/app_python/flake.lock`.
# - unstable: a `nixpkgs` node (original ref `nixos-unstable`, lastModified 1748370509) of a public
#   NixOS configuration's flake.lock (the same rev/narHash pair appears in its `nixpkgs_4` node).
# Bump both fields together: `nix-prefetch-url --unpack <url>` prints the matching hash.
{
  nixpkgsStable = {
    rev = "50ab793786d9de88ee30ec4e4c24fb4236fc2674";
    sha256 = "sha256-/bVBlRpECLVzjV19t5KMdMFWSwKLtb5RyXdjz3LJT+g=";
  };
  nixpkgsUnstable = {
    rev = "4faa5f5321320e49a78ae7848582f684d64783e9";
    sha256 = "sha256-QlL8slIgc16W5UaI3w7xHQEP+Qmv/6vSNTpoZrrSlbk=";
  };
}
