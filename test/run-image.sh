#!/usr/bin/env bash
# Runs an image the way the Deployment runs it, without a container engine: the layers of an
# image (an image layout directory, or a docker-archive) are unpacked in order into a root, which is mounted read-only in a private mount
# namespace with a fresh tmpfs on /tmp (the pod's emptyDir); the process gets the image config's Env
# and nothing else, and runs as uid/gid 65532 with no supplementary groups (setuid from root to a
# non-root uid clears every capability). Needs root (unshare, mount, chroot).
# Usage: test/run-image.sh <image-layout-dir|stream-script|archive> [command args…]
#   without a command it runs the config's Entrypoint (+ Cmd).
#   NGD_RUN_IMAGE_DRIVER_DIR=<host dir>: mounted read-only at /usr/lib64, where the NVIDIA container
#   toolkit mounts the driver's libraries into an image that is not Debian-like (as ours).
set -euo pipefail
image=$1; shift
work=$(mktemp -d "${TMPDIR:-/tmp}/ngd-run-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/archive" "$work/root"
if [ -d "$image" ]; then rmdir "$work/archive"; ln -s "$image" "$work/archive"
else
  if [ -x "$image" ] && [ -f "$image" ] && [ "$(head -c 2 "$image")" = "#!" ]; then "$image" > "$work/image.tar"; else cp "$image" "$work/image.tar"; fi
  tar -xf "$work/image.tar" -C "$work/archive"
fi
python3 - "$work" "$@" <<'PY'
import json, os, subprocess, sys
work, argv = sys.argv[1], sys.argv[2:]
manifest = json.load(open(os.path.join(work, "archive", "manifest.json")))[0]
config = json.load(open(os.path.join(work, "archive", manifest["Config"])))["config"]
root = os.path.join(work, "root")
for layer in manifest["Layers"]:
    subprocess.run(["tar", "-xpf", os.path.join(work, "archive", layer), "-C", root], check=True)
cmd = argv or (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
if os.environ.get("NGD_RUN_IMAGE_DRIVER_DIR"):
    # the mount point, as the toolkit creates it in the container's root
    os.makedirs(os.path.join(root, "usr", "lib64"), exist_ok=True)
json.dump({"env": config.get("Env", []), "argv": cmd}, open(os.path.join(work, "run.json"), "w"))
PY
# shellcheck disable=SC2016
unshare --mount --propagation private -- sh -c '
  set -e
  root=$1/root
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
  if [ -n "$2" ]; then mount --bind "$2" "$root/usr/lib64" && mount -o remount,bind,ro "$root/usr/lib64"; fi
  exec python3 -c "
import json, os, sys
run = json.load(open(sys.argv[1]))
env = dict(e.split(\"=\", 1) for e in run[\"env\"])
os.chroot(sys.argv[2]); os.chdir(\"/\")
os.setgroups([]); os.setgid(65532); os.setuid(65532)
os.execve(run[\"argv\"][0], run[\"argv\"], env)
" "$1/run.json" "$root"
' run-image "$work" "${NGD_RUN_IMAGE_DRIVER_DIR:-}"
