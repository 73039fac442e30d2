// Every external program (nix-instantiate, nix-build, skopeo, docker) is invoked through this
// module: commands are argument vectors, quoted here for `/bin/sh -c`; nothing else in the
// project concatenates shell strings.
import * as os from "os";
import * as path from "path";
import { packageFile } from "./paths";
import { NixSettings } from "./config";
import { LOG_TAIL_LINES } from "./nix/progress";

/**
 * An argument that is a shell variable's value (`shellVar("x")` becomes `"$x"`): argv cannot carry
 * a NUL, so no real argument starts with this marker.
 */
const SHELL_VAR = "\0var:";
export function shellVar(name: string): string {
    return `${SHELL_VAR}${name}`;
}

/** Quotes one argument for POSIX sh: safe words stay bare, everything else is single-quoted. */
export function shQuote(arg: string): string {
    if (arg.startsWith(SHELL_VAR)) {
        return `"$${arg.slice(SHELL_VAR.length)}"`;
    }
    if (arg === "") {
        return "''";
    }
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) {
        return arg;
    }
    return `'${arg.replace(/'/g, `'"'"'`)}'`;
}

/** An argument vector as one shell command line. */
export function shCommand(argv: readonly string[]): string {
    if (argv.length === 0) {
        throw new Error("shCommand: empty argument vector");
    }
    return argv.map(shQuote).join(" ");
}

/** A sequence of shell lines run with `set -eu` (each built from argument vectors or fixed text). */
export function shScript(lines: readonly string[]): string {
    return ["set -eu", ...lines].join("\n");
}

export interface NixArgs {
    /** `--argstr name value` pairs (every value a string; JSON for structured ones). */
    argstr: Record<string, string>;
    /** The stack's Nix settings; unset ones are not passed (the machine's nix.conf applies). */
    settings?: NixSettings;
}

/**
 * The flags for a stack's Nix settings, for the commands the program runs itself (evaluation, the
 * preview's dry run): nothing for a setting left unset. The build, upload and publish resources get
 * the same settings as data instead (`nixConfigText`, through the environment).
 */
export function nixSettingFlags(settings: NixSettings = {}): string[] {
    const flags: string[] = [];
    if (settings.substituters !== undefined) {
        flags.push("--option", "substituters", settings.substituters.join(" "));
    }
    if (settings.trustedPublicKeys !== undefined) {
        flags.push("--option", "trusted-public-keys", settings.trustedPublicKeys.join(" "));
    }
    if (settings.builders !== undefined) {
        flags.push("--option", "builders", settings.builders);
    }
    if (settings.maxJobs !== undefined) {
        flags.push("--max-jobs", String(settings.maxJobs));
    }
    if (settings.sandbox !== undefined) {
        flags.push("--option", "sandbox", String(settings.sandbox));
    }
    return flags;
}

/**
 * The stack's Nix settings as nix.conf lines, for NIX_CONFIG (Nix reads it after nix.conf, so these
 * win; unset settings are absent and the machine's nix.conf applies). Config validation keeps `#`
 * (a nix.conf comment) and newlines out of the values.
 */
export function nixConfigText(settings: NixSettings = {}): string {
    const lines: string[] = [];
    if (settings.substituters !== undefined) {
        lines.push(`substituters = ${settings.substituters.join(" ")}`);
    }
    if (settings.trustedPublicKeys !== undefined) {
        lines.push(`trusted-public-keys = ${settings.trustedPublicKeys.join(" ")}`);
    }
    if (settings.builders !== undefined) {
        lines.push(`builders = ${settings.builders}`);
    }
    if (settings.maxJobs !== undefined) {
        lines.push(`max-jobs = ${settings.maxJobs}`);
    }
    if (settings.sandbox !== undefined) {
        lines.push(`sandbox = ${settings.sandbox}`);
    }
    return lines.join("\n");
}

/** The environment variable that carries the value of `--argstr <name>` into a script. */
export function argVar(name: string): string {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) {
        throw new Error(`argVar: ${name} is not a plain argument name`);
    }
    return `NGD_ARG_${name}`;
}

/**
 * The environment of every script that may build the image (`imageBuildLines`): the entry, each
 * `--argstr` value, the Nix settings and the cache check, as data. The scripts themselves are fixed
 * text, so a preview's diff of a build or publish step shows what changed (an overlay argument, a
 * cache) as a change of these values — Pulumi shows a JSON value's diff key by key — never as a
 * changed script.
 */
export function buildEnvironment(build: ImageBuild): Record<string, string> {
    const env: Record<string, string> = { NGD_ENTRY: build.entryAbs };
    for (const k of Object.keys(build.args.argstr).sort()) {
        env[argVar(k)] = build.args.argstr[k];
    }
    const settings = build.args.settings ?? {};
    const conf = nixConfigText(settings);
    if (conf !== "") {
        env.NGD_NIX_CONFIG = conf;
    }
    if (settings.onCacheDown !== undefined) {
        env.NGD_ON_CACHE_DOWN = settings.onCacheDown;
        env.NGD_SUBSTITUTERS = (settings.substituters ?? []).join(" ");
    }
    return env;
}

/** Shell lines: the stack's Nix settings (NGD_NIX_CONFIG) appended to NIX_CONFIG, where there are any. */
export function nixConfigLines(): string[] {
    return [
        `if [ -n "\${NGD_NIX_CONFIG:-}" ]; then NIX_CONFIG="\${NIX_CONFIG:+$NIX_CONFIG`,
        `}$NGD_NIX_CONFIG"; export NIX_CONFIG; fi`,
    ];
}

/** `nix` with its `nix-command` subcommands enabled (experimental in Nix 2.8). */
const NIX_COMMAND = ["nix", "--extra-experimental-features", "nix-command"];

/**
 * Shell lines (after `privateTmpLines`) that write a secret arriving in the environment variable
 * `envVar` to `$tmp/<file>`, readable by this user only, and drop it from the environment.
 */
function secretFileLines(envVar: string, file: string): string[] {
    return [`(umask 077; printf '%s\n' "$${envVar}" > "$tmp/${file}")`, `unset ${envVar}`];
}

/** Shell lines: a private temporary directory `$tmp`, removed on exit. */
export function privateTmpLines(): string[] {
    return [
        `tmp=$(mktemp -d "\${TMPDIR:-/tmp}/ngd.XXXXXX")`,
        `trap 'rm -rf "$tmp"' EXIT`,
    ];
}

/**
 * Shell lines (after `privateTmpLines`) that make the stack's SSH identity for remote builders
 * usable: the key arrives in NGD_BUILDER_SSH_KEY (a secret in the environment, never in argv), goes
 * to a private file, and Nix's ssh connections take it through NIX_SSHOPTS. Nothing without one.
 */
export function builderKeyLines(): string[] {
    return [
        `if [ -n "\${NGD_BUILDER_SSH_KEY:-}" ]; then`,
        ...secretFileLines("NGD_BUILDER_SSH_KEY", "builder-key").map((l) => `  ${l}`),
        `  NIX_SSHOPTS="\${NIX_SSHOPTS:-} -i $tmp/builder-key -o IdentitiesOnly=yes"`,
        `  export NIX_SSHOPTS`,
        `fi`,
    ];
}

/**
 * With NGD_ON_CACHE_DOWN set (nix.onCacheDown), shell lines (after `privateTmpLines` and
 * `nixConfigLines`) that ask every substituter in NGD_SUBSTITUTERS for its nix-cache-info before
 * Nix runs, and let Nix use only those that answer (a last `substituters` line in NIX_CONFIG).
 * `fail`: one that does not answer stops here, naming it. `build`: it is left out, with a warning
 * naming it, and Nix builds what it would have supplied. (Left to itself, Nix 2.8 skips a dead cache
 * and builds — or, with `fallback = true`, aborts with an uncaught SubstituterDisabled, as the fault
 * suite found.)
 */
export function cacheCheckLines(): string[] {
    // With an empty cache directory of its own: Nix remembers a cache's nix-cache-info for days and
    // would answer "up" without connecting.
    const ping = `XDG_CACHE_HOME="$tmp/nix-ping" ${shCommand([...NIX_COMMAND, "store", "ping", "--store", shellVar("ngd_url")])} >/dev/null 2>&1`;
    return [
        `if [ -n "\${NGD_ON_CACHE_DOWN:-}" ]; then`,
        `  ngd_subs=""`,
        // No globbing: an s3:// URL's `?` is not a pattern.
        `  set -f`,
        `  for ngd_url in \${NGD_SUBSTITUTERS:-}; do`,
        `    if ${ping}; then ngd_subs="\${ngd_subs:+$ngd_subs }$ngd_url"`,
        `    elif [ "$NGD_ON_CACHE_DOWN" = fail ]; then echo "binary cache $ngd_url does not answer (nix.substituters); nix.onCacheDown is fail, so nothing is built without it. Bring the cache back, or set nix.onCacheDown to build." >&2; exit 1`,
        `    else echo "nix-gpu-deploy: binary cache $ngd_url does not answer (nix.substituters): building without it (nix.onCacheDown: build)" >&2; fi`,
        `  done`,
        `  set +f`,
        `  NIX_CONFIG="\${NIX_CONFIG:+$NIX_CONFIG`,
        `}substituters = $ngd_subs"; export NIX_CONFIG`,
        `fi`,
    ];
}

/** How to build the image again: the entry and arguments of the build (`imageBuildLines`). */
export interface ImageBuild {
    entryAbs: string;
    args: NixArgs;
}

/**
 * Shell lines defining `ngd_nix_build ARGS…`: nix-build with ARGS, its out path on stdout. With
 * NGD_PROGRESS naming the progress filter (components/nix/progress.ts, compiled), Nix logs in its
 * internal JSON format and the filter turns that into a progress line every few seconds and a
 * one-line summary on stderr, passing Nix's errors and warnings through; the status is nix-build's.
 * Without NGD_PROGRESS, or with NGD_PROGRESS_OFF set (in the environment Pulumi runs in): Nix's own log.
 */
export function nixBuildFunctionLines(): string[] {
    return [
        `ngd_nix_build() {`,
        `  if [ -n "\${NGD_PROGRESS:-}" ] && [ -z "\${NGD_PROGRESS_OFF:-}" ]; then`,
        `    { ngd_st=0; nix-build "$@" --log-format internal-json 2>&1 1>&4 4>&- || ngd_st=$?; echo "$ngd_st" > "$tmp/nix-build.status"; } | node "$NGD_PROGRESS" nix >&2`,
        `    return "$(cat "$tmp/nix-build.status")"`,
        `  fi`,
        `  nix-build "$@"`,
        `} 4>&1`,
    ];
}

/** The build's second step for plans that record their assembly (components/nix/docker/assemble-from-plan.nix). */
export const ASSEMBLE_FROM_PLAN = packageFile("nix/docker/assemble-from-plan.nix");

/**
 * Shell lines (after `privateTmpLines`, `nixConfigLines` and `cacheCheckLines`) that build the image
 * into `$ngd_image`: `nix-build` of the entry and, when that yields a layer plan (a directory with
 * plan.json; see components/nix/docker/buildCudaLayeredImage.nix), a second `nix-build` that assembles the
 * image from it (ASSEMBLE_FROM_PLAN: no second evaluation of the entry). Both are ordinary builds:
 * whatever the caches hold is fetched, unchanged layers are not rebuilt. The entry and arguments
 * come from the environment (`buildEnvironment`).
 */
export function imageBuildLines(build: ImageBuild, extraFlags: string[] = []): string[] {
    const flags = [...nixBuildFlags(), ...extraFlags];
    const tail = [shellVar("NGD_ENTRY"), ...argstrFlags(build.args, true)];
    // The plan is kept by a GC root in the private directory (`$tmp`, removed on exit) until the
    // image that references it is built: a garbage collection between the two steps cannot take it.
    const planOf = (what: string[]) => shCommand(["ngd_nix_build", ...flags, "--out-link", shellVar("ngd_plan_root"), ...what]);
    const imageOf = (what: string[]) => shCommand(["ngd_nix_build", ...flags, "--no-out-link", ...what]);
    return [
        ...nixBuildFunctionLines(),
        `ngd_plan_root="$tmp/layer-plan"`,
        // The derivation the program evaluated (NGD_DRV) is built as it is: the entry, and nixpkgs
        // with it, is not evaluated a second time. Where it is gone (collected), the entry is.
        `if [ -n "\${NGD_DRV:-}" ] && [ -e "$NGD_DRV" ]; then`,
        `  ngd_image=$(${planOf([shellVar("NGD_DRV")])})`,
        `else`,
        `  ngd_image=$(${planOf(tail)})`,
        `fi`,
        `ngd_plan=""`,
        `if [ -f "$ngd_image/plan.json" ]; then`,
        `  ngd_plan="$ngd_image"`,
        // A plan that records its assembly (components/nix/docker/plan-layers.nix) is assembled without
        // evaluating the entry (and nixpkgs) again; another entry's own second step is asked for.
        `  if [ -f "$ngd_plan/assembly.json" ]; then`,
        `    ngd_image=$(${imageOf([ASSEMBLE_FROM_PLAN])} --argstr layerPlan "$ngd_plan")`,
        `  else`,
        `    ngd_image=$(${imageOf(tail)} --argstr layerPlan "$ngd_plan")`,
        `  fi`,
        `  [ -f "$ngd_image/oci-layout" ] || { echo "nix-build of the entry with layerPlan gave $ngd_image, not an image layout: does the entry pass layerPlan on to buildCudaLayeredImage?" >&2; exit 1; }`,
        `fi`,
        `case "$ngd_image" in /nix/store/*) ;; *) echo "nix-build printed no store path: $ngd_image" >&2; exit 1 ;; esac`,
    ];
}

/**
 * Shell lines that make sure the built image `$NGD_IMAGE` is in the local store before it is read:
 * when it is not (collected, a fresh runner, another machine built it), it is built again the way
 * the build step built it, with the stack's Nix settings: fetched from the caches, built on the
 * builders, or built here. A publish therefore never depends on an earlier build's leftovers.
 */
export function realiseImageLines(build: ImageBuild): string[] {
    // No narinfo disk cache here: this stack may have uploaded the image after Nix last asked the
    // cache for it (and was told "not there", which Nix would otherwise believe for an hour), and a
    // remembered answer may carry the signature of a key the cache no longer uses.
    const ttl = ["--option", "narinfo-cache-negative-ttl", "0", "--option", "narinfo-cache-positive-ttl", "0"];
    // The image itself first: a cache that holds it (nix.uploadTo) holds its closure, the compressed
    // layers; building it again needs the layer plan, which no cache holds, and so the uncompressed
    // packages it was planned from.
    const fetch = shCommand(["nix-store", ...ttl, "--realise", shellVar("NGD_IMAGE")]);
    return [
        `if [ ! -e "$NGD_IMAGE" ]; then`,
        `  echo "nix-gpu-deploy: $NGD_IMAGE is not in the local Nix store: fetching it from the caches, else building it again" >&2`,
        ...cacheCheckLines().map((l) => `  ${l}`),
        `  if ${fetch} >/dev/null 2>&1; then`,
        `    echo "nix-gpu-deploy: fetched $NGD_IMAGE from the caches" >&2`,
        `  else`,
        ...imageBuildLines(build, ttl).map((l) => `    ${l}`),
        `    [ "$ngd_image" = "$NGD_IMAGE" ] || { echo "nix-gpu-deploy: building again gave $ngd_image, not $NGD_IMAGE (the Nix files changed since the build?)" >&2; exit 1; }`,
        `  fi`,
        `fi`,
    ];
}

/**
 * Copies the closure of the built image to the Nix store NGD_UPLOAD_TO (a binary cache), signing
 * what it uploads with the key in NGD_NIX_SIGNING_KEY (a secret in the environment; on disk only in
 * a private temporary file). Prints one line: how many paths the closure has and where it went.
 * Its environment: `buildEnvironment`, NGD_IMAGE, NGD_UPLOAD_TO and the key.
 */
export function cacheUploadScript(build: ImageBuild): string {
    return shScript([
        ...privateTmpLines(),
        // The key goes to its file first: nothing that runs after (a rebuild, Nix's build hook) inherits it.
        ...secretFileLines("NGD_NIX_SIGNING_KEY", "signing-key"),
        ...nixConfigLines(),
        ...builderKeyLines(),
        ...realiseImageLines(build),
        `case "$NGD_UPLOAD_TO" in *\\?*) ngd_to="$NGD_UPLOAD_TO&secret-key=$tmp/signing-key" ;; *) ngd_to="$NGD_UPLOAD_TO?secret-key=$tmp/signing-key" ;; esac`,
        `${shCommand([...NIX_COMMAND, "copy", "--to", shellVar("ngd_to"), shellVar("NGD_IMAGE")])} >&2`,
        `n=$(nix-store --query --requisites "$NGD_IMAGE" | wc -l)`,
        `echo "uploaded the closure of $NGD_IMAGE ($n paths, signed) to $NGD_UPLOAD_TO"`,
    ]);
}

/** `--argstr` flags: the values themselves, or (`fromEnv`) references to their variables (`argVar`). */
function argstrFlags(args: NixArgs, fromEnv = false): string[] {
    return Object.keys(args.argstr).sort().flatMap((k) => ["--argstr", k, fromEnv ? shellVar(argVar(k)) : args.argstr[k]]);
}

/**
 * Evaluation only: instantiates the entry and prints two lines, the .drv path and its output path.
 * Nothing is built; it is cheap enough to run on every preview.
 */
export function nixEvalScript(entryAbs: string, args: NixArgs): string {
    const instantiate = shCommand(["nix-instantiate", ...nixSettingFlags(args.settings), entryAbs, ...argstrFlags(args)]);
    return shScript([
        `drv=$(${instantiate})`,
        `case "$drv" in /nix/store/*.drv) ;; *) echo "nix-instantiate printed no .drv path: $drv" >&2; exit 1 ;; esac`,
        `printf '%s\\n' "$drv"`,
        `nix-store --query --outputs "$drv"`,
    ]);
}

/**
 * Nix's dry run of realising a derivation (what it would build, what it would fetch and how much),
 * printed on stdout. Never fails the preview: a cache that does not answer only shortens the list.
 */
export function nixDryRunScript(drvPath: string, settings?: NixSettings): string {
    const drv = shCommand([drvPath]);
    return [
        `${shCommand(["nix-store", "--realise", "--dry-run", ...nixSettingFlags(settings), drvPath])} 2>&1 || true`,
        // Then what a layer forecast needs (components/nix/forecast.ts), from local store queries, no
        // build: every output and source of the derivation's closure, closed by the end marker only
        // when every query succeeded (a partial list would forecast wrongly), and the derivation's
        // structured attributes (a plan's appPaths, rootDir and assembly), where it has them.
        `echo ${shCommand([CLOSURE_MARKER])}`,
        `ngd_reqs=$(nix-store --query --requisites ${drv}) && { printf '%s\\n' "$ngd_reqs" | grep -v '[.]drv$' || true; } \\`,
        `  && printf '%s\\n' "$ngd_reqs" | grep '[.]drv$' | xargs -r nix-store --query --outputs && echo ${shCommand([CLOSURE_END])}`,
        `echo ${shCommand([ATTRS_MARKER])}`,
        `nix-store --query --binding __json ${drv} 2>/dev/null || true`,
    ].join("\n");
}

/** Separate Nix's dry-run text, the closure's paths and the derivation's attributes in nixDryRunScript's output. */
export const CLOSURE_MARKER = "--- closure outputs and sources ---";
export const CLOSURE_END = "--- end of closure ---";
export const ATTRS_MARKER = "--- derivation attributes ---";

/**
 * How many lines of a failed builder's log the error shows (the rest: `nix log <drv>`): Nix's
 * `log-lines`, and what the progress filter keeps where Nix's JSON log leaves them out.
 */
export const BUILD_LOG_TAIL_LINES = LOG_TAIL_LINES;

/**
 * The build's fixed flags. Builders' logs are not streamed (`--no-build-output`): the command
 * provider copies everything a command prints into its error, uncapped, so a failed CUDA build would
 * fail `up` with megabytes. A failure ends with the builder's last lines and Nix's pointer to the
 * whole log; progress shows as a line every few seconds (`nixBuildFunctionLines`).
 */
export function nixBuildFlags(): string[] {
    return ["--no-build-output", "--option", "log-lines", String(BUILD_LOG_TAIL_LINES)];
}

/** The `nix-build` argument vector of an entry, its values inline (for the program's own use). */
export function nixBuildArgv(entryAbs: string, args: NixArgs): string[] {
    return ["nix-build", "--no-out-link", ...nixBuildFlags(), ...nixSettingFlags(args.settings), entryAbs, ...argstrFlags(args)];
}

/**
 * The build as a script: the Nix settings, the builders' SSH identity and the cache check (each
 * where configured), then the image's one or two nix-builds (`imageBuildLines`); prints the image's
 * store path. Fixed text for a given set of argument names; its environment is `buildEnvironment`.
 */
export function nixBuildScript(build: ImageBuild): string {
    return shScript([
        ...privateTmpLines(),
        ...nixConfigLines(),
        ...builderKeyLines(),
        ...cacheCheckLines(),
        ...imageBuildLines(build),
        ...gcRootLines(),
        `printf '%s\\n' "$ngd_image"`,
    ]);
}

/** Shell line: `ngd_root_id`, the id of this build's GC roots: the hash part of NGD_DRV ("current" without). */
const GC_ROOT_ID_LINE = `ngd_root_id=$(basename "\${NGD_DRV:-current}" | cut -c1-32)`;

/**
 * Shell lines (after `imageBuildLines`) that keep the built image, and the layer plan the next
 * preview's forecast reads, from garbage collection: indirect GC roots `image-<id>` and `plan-<id>`
 * in the stack's own directory NGD_GC_ROOT, where <id> names the evaluated derivation (NGD_DRV).
 * Every other root there (an earlier `up`'s) is removed: one image per stack is kept, so a
 * `nix-collect-garbage` between two `up`s recompresses nothing, and an image no stack runs any more
 * is collectable. Nothing without NGD_GC_ROOT.
 */
export function gcRootLines(): string[] {
    return [
        `if [ -n "\${NGD_GC_ROOT:-}" ]; then`,
        `  ${GC_ROOT_ID_LINE}`,
        `  mkdir -p "$NGD_GC_ROOT"`,
        `  nix-store --realise "$ngd_image" --add-root "$NGD_GC_ROOT/image-$ngd_root_id" >/dev/null`,
        `  if [ -n "$ngd_plan" ]; then nix-store --realise "$ngd_plan" --add-root "$NGD_GC_ROOT/plan-$ngd_root_id" >/dev/null; fi`,
        `  for ngd_l in "$NGD_GC_ROOT"/image-* "$NGD_GC_ROOT"/plan-*; do`,
        `    case "$ngd_l" in "$NGD_GC_ROOT/image-$ngd_root_id"|"$NGD_GC_ROOT/plan-$ngd_root_id") ;; *) rm -f "$ngd_l" ;; esac`,
        `  done`,
        `fi`,
    ];
}

/**
 * The build step's delete (a `destroy`, or a replaced build, deleted after its replacement was
 * built): removes this build's GC roots (named by its NGD_DRV; a newer build's stay), and the stack's
 * directory once it is empty.
 */
export function gcRootDeleteScript(): string {
    return shScript([
        `[ -n "\${NGD_GC_ROOT:-}" ] || exit 0`,
        GC_ROOT_ID_LINE,
        `rm -f "$NGD_GC_ROOT/image-$ngd_root_id" "$NGD_GC_ROOT/plan-$ngd_root_id"`,
        `rmdir "$NGD_GC_ROOT" 2>/dev/null || true`,
        `echo "removed this build's GC roots in $NGD_GC_ROOT" >&2`,
    ]);
}

/**
 * Where the stacks' GC root directories live: `$XDG_STATE_HOME/nix-gpu-deploy/gcroots`
 * (~/.local/state/… by default; NGD_GC_ROOT_DIR overrides it). Each stack has one directory there,
 * named by an id kept in its state (`LayeredCudaImage`); the program owns them, nothing else is
 * written there.
 */
export function gcRootBase(env: NodeJS.ProcessEnv = process.env): string {
    return env.NGD_GC_ROOT_DIR ?? path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"), "nix-gpu-deploy", "gcroots");
}

/** Shell: prints a new random id (32 hex digits), once per stack: the name of its GC root directory. */
export const STACK_ID_SCRIPT = "od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'";

/** Longest output line a command passes on to the command provider. */
export const MAX_OUTPUT_LINE = 8192;

// Cuts a line to `max` characters, saying how much was cut; flushes per line so logs still stream.
const AWK_CUT_LINES = '{ if (length($0) > max) { print substr($0, 1, max) " [line cut: " (length($0) - max) " more characters]" } else { print } fflush() }';

/**
 * Wraps a script whose output the command provider reads, so no line it prints exceeds `maxLine`.
 * Why by hand: pulumi-resource-command logs output through Go's bufio.Scanner with its default
 * 64 KiB line limit; a longer line (a CUDA compiler command line in a build log) stops the logger,
 * the pipe is no longer drained, and `pulumi up` hangs. stdout and stderr stay separate streams and
 * the script's exit status is kept.
 */
export function boundedOutput(script: string, maxLine = MAX_OUTPUT_LINE): string {
    const cut = shCommand(["awk", "-v", `max=${maxLine}`, AWK_CUT_LINES]);
    // The script runs verbatim in a subshell that is a plain list element (not under `||`, where
    // `set -e` would be ignored); its status travels through a file, since a pipeline loses it.
    return [
        `ngd_rc=$(mktemp "\${TMPDIR:-/tmp}/ngd-rc.XXXXXX") || exit 1`,
        "{ { (",
        script,
        `); echo "$?" > "$ngd_rc"; } 2>&1 1>&3 3>&- | ${cut} >&2; } 3>&1 | ${cut}`,
        `ngd_status=$(cat "$ngd_rc"); rm -f "$ngd_rc"; exit "$ngd_status"`,
    ].join("\n");
}

const STORE_PATH = /^\/nix\/store\/[a-z0-9]{32}-[^/\s]+$/;

// The parsers below never throw (they run inside `apply`): the shell scripts that produce their
// input already fail the step when the output is malformed, so a miss here yields "".

/** Parses `nixEvalScript` output: the .drv path and its output path. */
export function parseEvalOutput(stdout: string): { drvPath: string; outPath: string } {
    const lines = stdout.split("\n").map((l) => l.trim()).filter((l) => STORE_PATH.test(l));
    return {
        drvPath: lines.find((l) => l.endsWith(".drv")) ?? "",
        outPath: lines.find((l) => !l.endsWith(".drv")) ?? "",
    };
}

/** The last store path nix-build printed. */
export function parseBuildOutput(stdout: string): string {
    const lines = stdout.split("\n").map((l) => l.trim()).filter((l) => STORE_PATH.test(l));
    return lines[lines.length - 1] ?? "";
}

/** The 32-character hash part of a store path: the image tag when none is configured. */
export function storeHash(storePath: string): string {
    return /^\/nix\/store\/([a-z0-9]{32})-/.exec(storePath)?.[1] ?? "";
}

/**
 * Shell lines (after `privateTmpLines`) that turn a nixpkgs image (a streamLayeredImage script, or
 * an image tarball) into a seekable docker-archive file at `$archive` in the private directory `$tmp`.
 */
export function materializeArchiveLines(imagePathVar: string): string[] {
    return [
        `archive="$tmp/image.tar"`,
        `if [ -f "$${imagePathVar}" ] && [ -x "$${imagePathVar}" ]; then "$${imagePathVar}" > "$archive"; ` +
        `elif [ -f "$${imagePathVar}" ]; then archive="$${imagePathVar}"; ` +
        `else echo "image $${imagePathVar} is neither an image layout, a stream script nor an archive" >&2; exit 1; fi`,
    ];
}

/** Shell condition: `$NGD_IMAGE` is an image layout directory (components/nix/docker/assemble-image.nix). */
const IS_LAYOUT = `[ -d "$NGD_IMAGE" ] && [ -f "$NGD_IMAGE/oci-layout" ]`;

export interface SkopeoPushSpec {
    /** Destination `host[:port]/repo:tag`. */
    destination: string;
    insecure: boolean;
}

/**
 * The lines every publisher starts with: private directory, then (`secrets`) lines that put the
 * publisher's own credentials into private files and out of the environment, then Nix's settings and
 * credentials and the image realised — so that a rebuild never inherits a registry password.
 */
function publishPreludeLines(realise: ImageBuild | undefined, secrets: string[] = []): string[] {
    return [
        ...privateTmpLines(),
        ...secrets,
        ...(realise === undefined ? [] : [...nixConfigLines(), ...builderKeyLines(), ...realiseImageLines(realise)]),
    ];
}

/** The skopeo push's own environment (with `buildEnvironment` where it may build the image again). */
export function skopeoPushEnvironment(spec: SkopeoPushSpec): Record<string, string> {
    return { NGD_DESTINATION: `docker://${spec.destination}`, NGD_DEST_TLS_VERIFY: spec.insecure ? "false" : "true" };
}

/**
 * Pushes the image with skopeo; prints `sha256:…` (the manifest digest skopeo pushed) as the only
 * stdout line. An image layout is read in place (`oci:`): its manifest carries every blob digest,
 * so skopeo asks the registry for each and uploads only the missing ones. A nixpkgs stream is
 * written to a private docker-archive first. Credentials (REGISTRY_USERNAME / REGISTRY_PASSWORD,
 * when set) travel through the environment into a private auth file, never through argv. With
 * NGD_PROGRESS naming the progress filter, skopeo's debug log goes through it (layers sent and
 * reused, bytes; components/nix/progress.ts) and only errors, progress and a summary reach stderr.
 * Fixed text; destination and TLS come from `skopeoPushEnvironment`.
 */
export function skopeoPushScript(realise?: ImageBuild): string {
    const lines = publishPreludeLines(realise, [
        `if [ -n "\${REGISTRY_USERNAME:-}" ]; then`,
        `  (umask 077; printf '{"auths":{"%s":{"auth":"%s"}}}' "$NGD_REGISTRY" "$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64 | tr -d '\\n')" > "$tmp/auth.json")`,
        // registry.credentialHelper: skopeo runs docker-credential-<helper> get for the registry.
        `elif [ -n "\${NGD_CREDENTIAL_HELPER:-}" ]; then`,
        `  printf '{"credHelpers":{"%s":"%s"}}' "$NGD_REGISTRY" "$NGD_CREDENTIAL_HELPER" > "$tmp/auth.json"`,
        `fi`,
        `unset REGISTRY_PASSWORD`,
    ]);
    lines.push(`if ${IS_LAYOUT}; then source="oci:$NGD_IMAGE"; else`, ...materializeArchiveLines("NGD_IMAGE").map((l) => `  ${l}`), `  source="docker-archive:$archive"`, `fi`);
    lines.push(
        `set -- --dest-tls-verify="\${NGD_DEST_TLS_VERIFY:-true}"`,
        `[ ! -f "$tmp/auth.json" ] || set -- "$@" --dest-authfile "$tmp/auth.json"`,
        `if [ -n "\${NGD_PROGRESS:-}" ] && [ -z "\${NGD_PROGRESS_OFF:-}" ]; then`,
        `  { ngd_st=0; skopeo --debug copy --digestfile "$tmp/digest" "$@" "$source" "$NGD_DESTINATION" 2>&1 || ngd_st=$?; echo "$ngd_st" > "$tmp/skopeo.status"; } | node "$NGD_PROGRESS" skopeo "$NGD_IMAGE" >&2`,
        `  ngd_st=$(cat "$tmp/skopeo.status"); [ "$ngd_st" = 0 ] || exit "$ngd_st"`,
        `else`,
        `  skopeo copy --quiet --digestfile "$tmp/digest" "$@" "$source" "$NGD_DESTINATION" >&2`,
        `fi`,
        `grep -Eq '^sha256:[a-f0-9]{64}$' "$tmp/digest" || { echo "skopeo wrote no manifest digest" >&2; exit 1; }`,
        `cat "$tmp/digest"; echo`,
    );
    return shScript(lines);
}

/**
 * Loads a built image into a Docker daemon; prints its image id (docker.Tag names it for the
 * registry). An image layout is streamed into `docker load` as a docker-archive (tar following the
 * blob symlinks): nothing is written locally, but the daemon reads every layer; a nixpkgs stream
 * is written to a private file first.
 */
export function dockerLoadScript(realise?: ImageBuild): string {
    return shScript([
        ...publishPreludeLines(realise),
        `if ${IS_LAYOUT}; then`,
        // Only the docker-archive part (manifest.json and the blobs): with oci-layout in the stream,
        // containerd's importer (Docker's containerd image store) would read index.json instead and
        // name the image by its bare tag.
        `  loaded=$(tar -chf - -C "$NGD_IMAGE" manifest.json blobs | docker load | sed -n 's/^Loaded image: //p; s/^Loaded image ID: //p' | tail -n 1)`,
        `else`,
        ...materializeArchiveLines("NGD_IMAGE").map((l) => `  ${l}`),
        `  loaded=$(docker load --input "$archive" | sed -n 's/^Loaded image: //p; s/^Loaded image ID: //p' | tail -n 1)`,
        `fi`,
        `[ -n "$loaded" ] || { echo "docker load reported no image" >&2; exit 1; }`,
        `docker image inspect --format '{{.Id}}' "$loaded"`,
    ]);
}

/** `sha256:<64 hex>` from a publisher's output ("" when absent; the script already failed then). */
export function parseDigest(stdout: string): string {
    return /sha256:[a-f0-9]{64}/.exec(stdout)?.[0] ?? "";
}
