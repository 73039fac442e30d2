# The host tools the fixtures' builders run, as store paths. Nix's sandbox (on by default on Linux,
# and on in CI and the local stack) shows a builder nothing of the host, so no builder may run
# /bin/sh or find tar on /usr/bin: test/seed-nix-store.sh copies dash, GNU tar, gzip and sed,
# Node.js and OpenSSL (with the shared libraries they link and their dynamic loader, started by
# ./host-launcher.c), a static busybox and the CA bundle into one store path and links it at
# /nix/var/nix/gcroots/nix-gpu-deploy-host-tools, a GC root of the machine (where every copy of the
# project finds it). They stand in for nixpkgs' stdenv and build tools (bash, gnutar, gzip,
# gnused, nodejs, openssl, coreutils), which cannot be fetched offline.
let
  link = "/nix/var/nix/gcroots/nix-gpu-deploy-host-tools";
  root =
    if builtins.pathExists link then builtins.storePath link
    else throw "test/fixture/host-tools.nix: ${link} is missing: run `bash test/seed-nix-store.sh` first";
  system = builtins.currentSystem;
  # the builders' POSIX shell (dash)
  shell = "${root}/bin/sh";
  # busybox's applets: coreutils, grep, find, … (after the GNU tools on PATH)
  busyboxBin = "${root}/busybox/bin";
  path = "${root}/bin:${busyboxBin}";
  # run: a derivation from a POSIX shell script on these tools. name: derivation name; env: extra
  #   attributes; script: the builder's script.
  run = name: env: script: derivation ({
    inherit name system;
    builder = shell;
    args = [ "-c" script ];
    PATH = path;
  } // env);
  # a package whose bin/<tool> is the host tool
  tool = pname: toolName: run "${pname}-host" { inherit toolName; target = "${root}/bin/${toolName}"; } ''
    mkdir -p "$out/bin" && ln -s "$target" "$out/bin/$toolName"
  '';
in
{
  inherit root shell busyboxBin path run;
  gnutar = tool "gnutar" "tar";
  gzip = tool "gzip" "gzip";
  gnused = tool "gnused" "sed";
  nodejs = tool "nodejs" "node";
  openssl = tool "openssl" "openssl";
  # the static busybox binary (for packages that run inside an image)
  busyboxBinary = "${busyboxBin}/busybox";
  # the host's CA bundle (for nixpkgs' cacert stand-in)
  caBundle = "${root}/etc/ca-bundle.crt";
}
