/* Launcher of the host tools that test/seed-nix-store.sh copies into the Nix store (see
 * test/fixture/host-tools.nix). Each tool is a symlink <root>/bin/<tool> to this static program; it
 * runs <root>/libexec/<tool> through the copied dynamic loader <root>/lib/ld.so with
 * <root>/lib as the only library directory, so a tool runs inside Nix's sandbox, where no host
 * library or loader is visible. Written by hand because the binaries must stay byte-identical
 * copies (patchelf would have to write the store path into each before that path exists), and a
 * shell-script wrapper needs an interpreter that itself runs without the host's loader. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char root[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", root, sizeof root - 1);
    if (n < 0) {
        perror("host-launcher: /proc/self/exe");
        return 127;
    }
    root[n] = 0;
    /* <root>/bin/launcher -> <root> */
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(root, '/');
        if (slash == NULL) {
            fprintf(stderr, "host-launcher: unexpected location %s\n", root);
            return 127;
        }
        *slash = 0;
    }
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    char loader[PATH_MAX], lib[PATH_MAX], prog[PATH_MAX];
    snprintf(loader, sizeof loader, "%s/lib/ld.so", root);
    snprintf(lib, sizeof lib, "%s/lib", root);
    snprintf(prog, sizeof prog, "%s/libexec/%s", root, name);
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (args == NULL) {
        perror("host-launcher");
        return 127;
    }
    int i = 0;
    args[i++] = loader;
    args[i++] = "--library-path";
    args[i++] = lib;
    args[i++] = "--argv0";
    args[i++] = argv[0];
    args[i++] = prog;
    for (int j = 1; j < argc; j++) args[i++] = argv[j];
    execv(loader, args);
    fprintf(stderr, "host-launcher: cannot run %s: ", prog);
    perror(loader);
    return 127;
}
