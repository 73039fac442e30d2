# The miniature "nixpkgs-stable" tree: import it like nixpkgs (`import ./. { config; overlays; }`).
# It differs from its sibling tree only in its package files under ./pkgs.
import ../top-level.nix { tree = ./.; }
