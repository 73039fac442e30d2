// The attributes that make a test's inline Nix derivation build in Nix's sandbox: the builder and
// PATH come from the host tools test/seed-nix-store.sh copies into the store
// (test/fixture/host-tools.nix), never from /bin or /usr/bin, which the sandbox does not show.
import * as path from "path";

export const HOST_TOOLS_NIX = path.resolve(__dirname, "fixture/host-tools.nix");

/** Nix attribute text: `builder = …; PATH = …;` for a `derivation { … }` written by a test. */
export const SANDBOXED_BUILDER = `builder = (import ${HOST_TOOLS_NIX}).shell; PATH = (import ${HOST_TOOLS_NIX}).path;`;
