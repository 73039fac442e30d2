# Container entry point. Wrapped by `writeShellScript` in build_container.nix, which adds a shebang
# with the store path of bash (a Nix image has no /bin/env).
set -eu
echo "myproject: starting"
exec python -m myproject.hello "$@"
