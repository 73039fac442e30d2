// Every external program (nix-instantiate, nix-build, skopeo, docker) is invoked through this
// module: commands are argument vectors, quoted here for `/bin/sh -c`; nothing else in the
// project concatenates shell strings.
import { NixSettings } from "./config";

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
 * The flags for a stack's Nix settings: nothing for a setting left unset. With `live`, and
 * `onCacheDown` set, the substituters are those `cacheCheckLines` found answering (`$ngd_subs`).
 */
export function nixSettingFlags(settings: NixSettings = {}, live = false): string[] {
    const flags: string[] = [];
    if (settings.substituters !== undefined) {
        flags.push("--option", "substituters", live && settings.onCacheDown !== undefined ? shellVar("ngd_subs") : settings.substituters.join(" "));
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
    return flags;
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
 * to a private file, and Nix's ssh connections take it through NIX_SSHOPTS.
 */
export function builderKeyLines(settings: NixSettings = {}): string[] {
    if (settings.hasBuilderSshKey !== true) {
        return [];
    }
    return [
        ...secretFileLines("NGD_BUILDER_SSH_KEY", "builder-key"),
        `NIX_SSHOPTS="\${NIX_SSHOPTS:-} -i $tmp/builder-key -o IdentitiesOnly=yes"`,
        `export NIX_SSHOPTS`,
    ];
}

/**
 * With `onCacheDown` set, shell lines (after `privateTmpLines`) that ask every substituter for its nix-cache-info before Nix
 * runs and set `$ngd_subs` to those that answer. `fail`: one that does not answer stops here,
 * naming it. `build`: it is left out, with a warning naming it, and Nix builds what it would have
 * supplied. (Left to itself, Nix 2.8 skips a dead cache and builds — or, with `fallback = true`,
 * aborts with an uncaught SubstituterDisabled, as the fault suite found.)
 */
export function cacheCheckLines(settings: NixSettings = {}): string[] {
    if (settings.onCacheDown === undefined) {
        return [];
    }
    const lines = [`ngd_subs=""`, `ngd_ping_home="$tmp/nix-ping"`];
    for (const url of settings.substituters ?? []) {
        // With an empty cache directory of its own: Nix remembers a cache's nix-cache-info for days
        // and would answer "up" without connecting.
        const ping = `XDG_CACHE_HOME="$ngd_ping_home" ${shCommand([...NIX_COMMAND, "store", "ping", "--store", url])} >/dev/null 2>&1`;
        const down = settings.onCacheDown === "fail"
            ? `{ echo ${shQuote(`binary cache ${url} does not answer (nix.substituters); nix.onCacheDown is fail, so nothing is built without it. Bring the cache back, or set nix.onCacheDown to build.`)} >&2; exit 1; }`
            : `echo ${shQuote(`nix-gpu-deploy: binary cache ${url} does not answer (nix.substituters): building without it (nix.onCacheDown: build)`)} >&2`;
        lines.push(`if ${ping}; then ngd_subs="\${ngd_subs:+$ngd_subs }"${shQuote(url)}; else ${down}; fi`);
    }
    return lines;
}

/** How to build the image again: the entry and arguments of the build (`imageBuildLines`). */
export interface ImageBuild {
    entryAbs: string;
    args: NixArgs;
}

/**
 * Shell lines (after `cacheCheckLines` where configured) that build the image into `$ngd_image`:
 * `nix-build` of the entry and, when that yields a layer plan (a directory with plan.json; see
 * nix/docker/buildCudaLayeredImage.nix), a second `nix-build` that assembles the image from it.
 * Both are ordinary builds: whatever the caches hold is fetched, unchanged layers are not rebuilt.
 */
export function imageBuildLines(build: ImageBuild, extraFlags: string[] = []): string[] {
    const argv = nixBuildArgv(build.entryAbs, build.args, true);
    const cmd = shCommand([...argv.slice(0, 1), ...extraFlags, ...argv.slice(1)]);
    // The plan is kept by a GC root in the private directory (`$tmp`, removed on exit) until the
    // image that references it is built: a garbage collection between the two steps cannot take it.
    const first = shCommand([...argv.slice(0, 1), ...extraFlags, ...argv.slice(1).map((a) => a === "--no-out-link" ? ["--out-link", shellVar("ngd_plan_root")] : [a]).flat()]);
    return [
        `ngd_plan_root="$tmp/layer-plan"`,
        `ngd_image=$(${first})`,
        `if [ -f "$ngd_image/plan.json" ]; then`,
        `  ngd_image=$(${cmd} --argstr layerPlan "$ngd_image")`,
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
    return [
        `if [ ! -e "$NGD_IMAGE" ]; then`,
        `  echo "nix-gpu-deploy: $NGD_IMAGE is not in the local Nix store: building it again (caches first)" >&2`,
        ...cacheCheckLines(build.args.settings).map((l) => `  ${l}`),
        ...imageBuildLines(build, ttl).map((l) => `  ${l}`),
        `  [ "$ngd_image" = "$NGD_IMAGE" ] || { echo "nix-gpu-deploy: building again gave $ngd_image, not $NGD_IMAGE (the Nix files changed since the build?)" >&2; exit 1; }`,
        `fi`,
    ];
}

/**
 * Copies the closure of the built image to a Nix store (a binary cache), signing what it uploads
 * with the key in NGD_NIX_SIGNING_KEY (a secret in the environment; on disk only in a private
 * temporary file). Prints one line: how many paths the closure has and where it went.
 */
export function cacheUploadScript(uploadTo: string, build: ImageBuild): string {
    const to = `${uploadTo}${uploadTo.includes("?") ? "&" : "?"}secret-key=`;
    const settings = build.args.settings;
    return shScript([
        ...privateTmpLines(),
        ...builderKeyLines(settings),
        ...realiseImageLines(build),
        ...secretFileLines("NGD_NIX_SIGNING_KEY", "signing-key"),
        `${shCommand([...NIX_COMMAND, "copy", ...nixSettingFlags(settings), "--to"])} ${shQuote(to)}"$tmp/signing-key" "$NGD_IMAGE" >&2`,
        `n=$(nix-store --query --requisites "$NGD_IMAGE" | wc -l)`,
        `echo "uploaded the closure of $NGD_IMAGE ($n paths, signed) to "${shQuote(uploadTo)}`,
    ]);
}

function argstrFlags(args: NixArgs): string[] {
    return Object.keys(args.argstr).sort().flatMap((k) => ["--argstr", k, args.argstr[k]]);
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
        // Then what a layer forecast needs (components/forecast.ts), from local store queries, no
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

/** How many lines of a failed builder's log the error shows (the rest: `nix log <drv>`). */
export const BUILD_LOG_TAIL_LINES = 60;

/**
 * The build: `nix-build` without an out-link; the out path goes to stdout. Builders' logs are not
 * streamed (`--no-build-output`): the command provider copies everything a command prints into its
 * error, uncapped, so a failed CUDA build would fail `up` with megabytes. Progress shows as Nix's
 * "building '…drv'" lines; a failure ends with the builder's last lines and Nix's pointer to the
 * whole log.
 */
export function nixBuildArgv(entryAbs: string, args: NixArgs, live = false): string[] {
    return ["nix-build", "--no-out-link", "--no-build-output", "--option", "log-lines", String(BUILD_LOG_TAIL_LINES),
        ...nixSettingFlags(args.settings, live), entryAbs, ...argstrFlags(args)];
}

/**
 * The build as a script: the builders' SSH identity and the cache check (when configured), then
 * the image's one or two nix-builds (`imageBuildLines`); prints the image's store path.
 */
export function nixBuildScript(entryAbs: string, args: NixArgs): string {
    return shScript([
        ...privateTmpLines(),
        ...builderKeyLines(args.settings),
        ...cacheCheckLines(args.settings),
        ...imageBuildLines({ entryAbs, args }),
        `printf '%s\\n' "$ngd_image"`,
    ]);
}

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

/** Shell condition: `$NGD_IMAGE` is an image layout directory (nix/docker/assemble-image.nix). */
const IS_LAYOUT = `[ -d "$NGD_IMAGE" ] && [ -f "$NGD_IMAGE/oci-layout" ]`;

export interface SkopeoPushSpec {
    /** Destination `host[:port]/repo:tag`. */
    destination: string;
    insecure: boolean;
    /** Whether credentials arrive in REGISTRY_USERNAME / REGISTRY_PASSWORD (never on the command line). */
    withCredentials: boolean;
    /** Build the image again when the store lacks it (`realiseImageLines`). */
    realise?: ImageBuild;
}

/** The lines every publisher starts with: private directory, Nix credentials, the image realised. */
function publishPreludeLines(realise: ImageBuild | undefined): string[] {
    return [
        ...privateTmpLines(),
        ...(realise === undefined ? [] : [...builderKeyLines(realise.args.settings), ...realiseImageLines(realise)]),
    ];
}

/**
 * Pushes the image with skopeo; prints `sha256:…` (the manifest digest skopeo pushed) as the only
 * stdout line. An image layout is read in place (`oci:`): its manifest carries every blob digest,
 * so skopeo asks the registry for each and uploads only the missing ones, with no cache of its own
 * (it is not given one: a private, empty one per push). A nixpkgs stream is written to a private
 * docker-archive first. Credentials travel through the environment into a private auth file,
 * never through argv.
 */
export function skopeoPushScript(spec: SkopeoPushSpec): string {
    const lines = publishPreludeLines(spec.realise);
    lines.push(`if ${IS_LAYOUT}; then source="oci:$NGD_IMAGE"; else`, ...materializeArchiveLines("NGD_IMAGE").map((l) => `  ${l}`), `  source="docker-archive:$archive"`, `fi`);
    const copy = ["skopeo", "copy", "--quiet", "--digestfile", "$tmp/digest"];
    if (spec.insecure) {
        copy.push("--dest-tls-verify=false");
    }
    if (spec.withCredentials) {
        lines.push(
            `umask 077`,
            `auth=$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64 | tr -d '\\n')`,
            `printf '{"auths":{"%s":{"auth":"%s"}}}' "$NGD_REGISTRY" "$auth" > "$tmp/auth.json"`,
        );
        copy.push("--dest-authfile", "$tmp/auth.json");
    }
    // $tmp / $source are expanded by the shell; the destination is a quoted literal.
    const quoted = copy.map((a) => (a.startsWith("$tmp") ? `"${a}"` : shQuote(a)));
    lines.push(`${quoted.join(" ")} "$source" ${shQuote(`docker://${spec.destination}`)} >&2`);
    lines.push(`grep -Eq '^sha256:[a-f0-9]{64}$' "$tmp/digest" || { echo "skopeo wrote no manifest digest" >&2; exit 1; }`);
    lines.push(`cat "$tmp/digest"; echo`);
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
