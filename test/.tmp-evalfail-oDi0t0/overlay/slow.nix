# Fault fixture: makes the app build take `seconds` longer (a window to interrupt `pulumi up` in).
{
  # seconds: how long the build sleeps.
  seconds ? 20
}:
final: prev: {
  app = (import ../lib.nix { }).run "fixture-app-slow" { inherit seconds; inner = prev.app; } ''
    echo "slow build: sleeping $seconds s"; sleep "$seconds"; cp -r "$inner" "$out"
  '';
}
