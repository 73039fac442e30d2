# Fault fixture: an app build that fails halfway, after printing some of its log.
{
  # message: the error the build prints before exiting non-zero.
  message ? "simulated failure in the middle of the build"
}:
final: prev: {
  app = (import ../lib.nix { }).run "fixture-app" { inherit message; } ''
    echo "compiling step 1/3"
    echo "compiling step 2/3"
    echo "error: $message" >&2
    exit 3
  '';
}
