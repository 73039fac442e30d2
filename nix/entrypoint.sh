# Container entry point: the body of the script components/nix/docker/buildCudaLayeredImage.nix generates with
# `writeShellScript` (bash by store path; a Nix image has no /bin/env), after it has put the Python
# environment, ffmpeg and coreutils on PATH and created the writable HOME and cache directories.
echo "myproject: starting"
exec python -m myproject.hello "$@"
