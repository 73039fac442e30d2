# The OCI image `architecture` (Go's GOARCH names, as the image spec asks and nixpkgs' dockerTools
# writes via go.GOARCH) of a CPU name as nixpkgs' lib.systems parses it (`parsed.cpu.name`, or the
# first part of a system string like "x86_64-linux"). Fails naming the CPU when there is none.
cpu:
let
  table = {
    x86_64 = "amd64";
    i686 = "386";
    aarch64 = "arm64";
    armv7l = "arm";
    armv6l = "arm";
    powerpc64le = "ppc64le";
    riscv64 = "riscv64";
    s390x = "s390x";
    mips64el = "mips64le";
    loongarch64 = "loong64";
  };
in
table.${cpu} or (throw "goarch.nix: no OCI architecture known for CPU '${cpu}'")
