# Fixture overlay: swaps the model weights package for one with other content (like a torch swap:
# a heavy path changes, the app on top of it changes with it, nothing else does).
{
  # seed: distinguishes one weights build from another.
  seed ? "model-weights-2"
  # size: bytes of the new weights.
, size ? 4194304
}:
final: prev: {
  modelWeights = (import ../lib.nix { }).blob "model-weights" size seed;
}
