# Rehearsal overlay whose evaluation is deliberately expensive, as a real nixpkgs evaluation of a CUDA
# closure is (tens of seconds): it folds over a list of `size` integers at evaluation time and puts
# the result into the greeting, so every evaluation pays for it and the derivation depends on it.
{
  # size: length of the list folded at evaluation time (about 2.5 s at the default here).
  size ? 4000000
}:
final: prev: {
  greeting = "${prev.greeting} (checksum ${toString (builtins.foldl' (acc: x: (acc * 31 + x) - (acc * 31 + x) / 1000003 * 1000003) 7 (builtins.genList (i: i) size))})";
}
