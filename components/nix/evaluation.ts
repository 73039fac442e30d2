// The Nix side of the program: overlays (content-fingerprinted) and the dependency set whose
// evaluation yields the image derivation. Evaluation runs on every preview; building does not.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NixSettings, OverlayArgValue, confinedPath } from "../config";
import { nixEvaluationError, programError } from "../errors";
import { ImageBuild, NixArgs, nixBuildArgv, nixDryRunScript, nixEvalScript, parseEvalOutput } from "../exec";
import { DryRun, ExplainRecord, parseDryRun, pinsIn } from "./explanation";
import { FileDigest, Fingerprint, fingerprintNixFile, hashJson } from "./fingerprint";

export interface NixOverlayArgs {
    /** lowerCamelCase overlay name, as the Nix entry knows it. */
    overlayName: string;
    /** The overlay file, relative to `projectRoot`. */
    file: string;
    /** Arguments of the overlay function (JSON-encoded for Nix). */
    args: Record<string, OverlayArgValue>;
    /** Absolute project root; the file and what it imports are fingerprinted inside it. */
    projectRoot: string;
}

/** What a change to one overlay looks like in a diff: its name, the hash of its files, its arguments. */
export interface OverlayFingerprint {
    overlay: string;
    sha256: string;
    argsSha256: string;
}

/** Pure: the fingerprint of an overlay file (and the files it imports) plus its arguments. */
export function overlayFingerprint(a: NixOverlayArgs): { fingerprint: Fingerprint; summary: OverlayFingerprint } {
    const abs = confinedPath(a.projectRoot, a.file);
    if (abs === undefined || !fs.existsSync(abs)) {
        throw programError(`overlay ${a.overlayName}: ${a.file} is not a file inside the project (nix.overlays)`);
    }
    const fingerprint = fingerprintNixFile(abs, a.projectRoot);
    return { fingerprint, summary: { overlay: a.overlayName, sha256: fingerprint.sha256, argsSha256: hashJson(a.args) } };
}

/** One Nix overlay file and its arguments, fingerprinted when the program runs. */
export class NixOverlay extends pulumi.ComponentResource {
    public readonly overlayName: string;
    public readonly args: Record<string, OverlayArgValue>;
    public readonly summary: OverlayFingerprint;
    /** The overlay file and every file it references, with their digests. */
    public readonly fileDigests: FileDigest[];
    public readonly sha256: pulumi.Output<string>;
    public readonly files: pulumi.Output<string[]>;

    constructor(name: string, args: NixOverlayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:nix:NixOverlay", name, {}, opts);
        const { fingerprint, summary } = overlayFingerprint(args);
        this.overlayName = args.overlayName;
        this.args = args.args;
        this.summary = summary;
        this.fileDigests = fingerprint.files;
        this.sha256 = pulumi.output(fingerprint.sha256);
        this.files = pulumi.output(fingerprint.files.map((f) => f.file));
        this.registerOutputs({ sha256: this.sha256, files: this.files });
    }
}

export interface NixDependencySetArgs {
    /** The Nix entry file, relative to `projectRoot` (nix/build_container.nix or a fixture). */
    entry: string;
    projectRoot: string;
    /** Overlays in application order. */
    overlays: NixOverlay[];
    pythonPackages: string[];
    cudaCapabilities: string[];
    /** Further `--argstr` values of the entry (image name, tag, layer budget, …). */
    imageArgs: Record<string, string>;
    /**
     * `nix.sources`: a project file returning the nixpkgs trees, relative to `projectRoot`; passed as
     * `--argstr sourcesFile <absolute path>`, and its files are part of the evaluation's key.
     */
    sources?: string;
    /** The stack's Nix settings (caches, keys, builders, jobs); unset ones are not passed. */
    nixSettings?: NixSettings;
    /** Whether nix-instantiate can run here; when false the derivation is replaced by the fingerprint. */
    nixAvailable: boolean;
    /** Where evaluations are cached by the content key of everything they read (undefined: no cache). */
    evalCacheDir?: string;
    /** The image derivation the last `up` recorded: a preview dry-runs Nix only when the new one differs. */
    previousDrvPath?: Promise<string | undefined>;
    /** Whether this run is a preview (the dry run of what a change builds is shown only then). */
    preview?: boolean;
}

/** The default evaluation cache: `$XDG_CACHE_HOME/nix-gpu-deploy/eval` (or ~/.cache/…). */
export function defaultEvalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
    return env.NGD_EVAL_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "nix-gpu-deploy", "eval");
}

/**
 * The Nix that evaluates, as the cache key knows it: the resolved nix-instantiate binary with its
 * size and mtime (a Nix upgrade may change how a derivation is written). "" where there is none.
 */
export function nixIdentity(envPath = process.env.PATH ?? ""): string {
    for (const d of envPath.split(path.delimiter)) {
        const p = path.join(d, "nix-instantiate");
        if (d !== "" && fs.existsSync(p)) {
            const real = fs.realpathSync(p);
            const st = fs.statSync(real);
            return `${real}:${st.size}:${st.mtimeMs}`;
        }
    }
    return "";
}

/**
 * Pure: the key of an evaluation — the content fingerprint of every file it reads (the entry's and
 * overlays' import graphs, followed through relative path literals), its arguments, the stack's Nix
 * settings and the Nix that evaluates. Pinned sources outside the project are fixed by their hashes,
 * which are in those files; the entries use no <nixpkgs> and no environment variables.
 */
export function evalCacheKey(fingerprint: string, args: NixArgs, nix: string): string {
    return hashJson({ v: 1, fingerprint, settings: args.settings ?? {}, nix });
}

/** A cached evaluation, if there is one and its .drv is still in the store (not garbage-collected). */
export function readEvalCache(dir: string, key: string): { drvPath: string; outPath: string } | undefined {
    try {
        const v = JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), "utf8")) as { drvPath?: unknown; outPath?: unknown };
        if (typeof v.drvPath === "string" && typeof v.outPath === "string" && /^\/nix\/store\/[a-z0-9]{32}-[^/]+\.drv$/.test(v.drvPath) && fs.existsSync(v.drvPath)) {
            return { drvPath: v.drvPath, outPath: v.outPath };
        }
    } catch {
        // no entry, or an unreadable one: evaluate
    }
    return undefined;
}

/** Records an evaluation (atomically; a cache that cannot be written only costs the next evaluation). */
export function writeEvalCache(dir: string, key: string, value: { drvPath: string; outPath: string }): void {
    try {
        fs.mkdirSync(dir, { recursive: true });
        const tmp = path.join(dir, `.${key}.${process.pid}.tmp`);
        fs.writeFileSync(tmp, JSON.stringify(value));
        fs.renameSync(tmp, path.join(dir, `${key}.json`));
    } catch {
        // read-only or full disk: no cache
    }
}

/** Pure: the record a preview compares with (files, pins, overlays); drvPath filled in later. */
export function explainRecord(files: FileDigest[], overlays: Array<{ name: string; args: Record<string, OverlayArgValue> }>): Omit<ExplainRecord, "drvPath"> {
    const fileMap: Record<string, string> = {};
    let pins: ExplainRecord["pins"] = {};
    for (const f of files) {
        fileMap[f.file] = f.sha256;
        if (f.source !== undefined) {
            pins = { ...pins, ...pinsIn(f.file, f.source) };
        }
    }
    return { overlays, files: fileMap, pins };
}

/** Pure: the `--argstr` values every Nix invocation of this dependency set gets. */
export function dependencyArgs(a: Pick<NixDependencySetArgs, "overlays" | "pythonPackages" | "cudaCapabilities" | "imageArgs" | "nixSettings"> & { sourcesFile?: string }): NixArgs {
    return {
        settings: a.nixSettings,
        argstr: {
            ...a.imageArgs,
            // always passed ("" for the entry's own pins): one script text for every stack
            sourcesFile: a.sourcesFile ?? "",
            overlays: JSON.stringify(a.overlays.map((o) => ({ name: o.overlayName, args: o.args }))),
            pythonPackages: JSON.stringify(a.pythonPackages),
            cudaCapabilities: JSON.stringify(a.cudaCapabilities),
        },
    };
}

/** Pure: fingerprint of everything that decides the derivation (entry files, overlays, arguments). */
export function dependencyFingerprint(entryFingerprint: Fingerprint, overlays: OverlayFingerprint[], args: NixArgs): string {
    return hashJson({ entry: entryFingerprint.sha256, overlays, args: args.argstr });
}

/** `nix-instantiate` on PATH? */
export function nixOnPath(envPath = process.env.PATH ?? ""): boolean {
    return envPath.split(path.delimiter).some((d) => d !== "" && fs.existsSync(path.join(d, "nix-instantiate")));
}

/** What this machine's Nix builds for, from `nix show-config --json`. */
export interface LocalNixPlatforms {
    system: string;
    extraPlatforms: string[];
    /** nix.conf's `builders` (machine lines, or `@file`). */
    builders: string;
}

/**
 * Pure: the systems Nix's `builders` value offers, by machine line (`uri systems key jobs …`, lines
 * separated by newlines or `;`, `#` comments; `@file` reads the file). A line with no systems field
 * (or `-`) builds for the local system, as Nix reads it.
 */
export function builderSystems(builders: string, localSystem: string, readFile: (file: string) => string | undefined): Array<{ uri: string; systems: string[] }> {
    const text = builders.trim().startsWith("@") ? readFile(builders.trim().slice(1)) ?? "" : builders;
    const out: Array<{ uri: string; systems: string[] }> = [];
    for (const raw of text.split(/[\n;]/)) {
        const line = raw.replace(/#.*$/, "").trim();
        if (line === "") {
            continue;
        }
        const [uri, systems] = line.split(/\s+/);
        out.push({ uri, systems: systems === undefined || systems === "-" ? [localSystem] : systems.split(",") });
    }
    return out;
}

/**
 * Pure: why the image's system (`nix.system`) cannot be built from here, or undefined. This machine
 * builds its own system and `extra-platforms`; beyond them only a remote builder can (the stack's
 * `nix.builders`, else nix.conf's). Caught at preview: Nix itself would evaluate all of nixpkgs
 * and only then fail the first build with "a 'aarch64-linux' … is required".
 */
export function systemProblem(target: string, local: LocalNixPlatforms, stackBuilders: string | undefined, readFile: (file: string) => string | undefined): string | undefined {
    if (target === local.system || local.extraPlatforms.includes(target)) {
        return undefined;
    }
    const machines = builderSystems(stackBuilders ?? local.builders, local.system, readFile);
    if (machines.some((m) => m.systems.includes(target))) {
        return undefined;
    }
    const source = stackBuilders !== undefined ? "nix.builders" : "nix.conf's builders";
    const offered = machines.length === 0 ? `${source} names no remote builder` : `${source} offers ${[...new Set(machines.flatMap((m) => m.systems))].join(", ")} only`;
    return `nix.system ${target} cannot be built here: this machine's Nix builds ${[local.system, ...local.extraPlatforms].join(", ")}, and ${offered}. `
        + `Add a builder for ${target} to nix.builders (e.g. "ssh://builder ${target}"), or set nix.system to the platform of the GPU nodes you can build for`;
}

/** Pinned sources + overlays + package list; evaluates (never builds) the image derivation. */
export class NixDependencySet extends pulumi.ComponentResource {
    public readonly entryAbs: string;
    public readonly nixArgs: NixArgs;
    public readonly overlaySummaries: OverlayFingerprint[];
    public readonly fingerprint: pulumi.Output<string>;
    /** The image .drv path, or `fingerprint:<sha256>` where Nix cannot evaluate. */
    public readonly drvPath: pulumi.Output<string>;
    /** The image output path known from evaluation ("" where Nix cannot evaluate). */
    public readonly outPath: pulumi.Output<string>;
    public readonly evaluated: boolean;
    /** Files, pins and overlays of this evaluation, for the next preview to compare with. */
    public readonly record: Omit<ExplainRecord, "drvPath">;
    /** Nix's dry run of the new derivation (a preview whose derivation changed), else undefined. */
    public readonly dryRun: Promise<DryRun | undefined>;

    constructor(name: string, args: NixDependencySetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:nix:NixDependencySet", name, {}, opts);
        const entryAbs = confinedPath(args.projectRoot, args.entry);
        if (entryAbs === undefined || !fs.existsSync(entryAbs)) {
            throw programError(`nix entry ${args.entry} is not a file inside the project (nix.entry)`);
        }
        this.entryAbs = entryAbs;
        const sourcesAbs = args.sources === undefined ? undefined : confinedPath(args.projectRoot, args.sources);
        if (args.sources !== undefined && (sourcesAbs === undefined || !fs.existsSync(sourcesAbs))) {
            throw programError(`nix.sources ${args.sources} is not a file inside the project`);
        }
        this.nixArgs = dependencyArgs({ ...args, sourcesFile: sourcesAbs });
        this.overlaySummaries = args.overlays.map((o) => o.summary);
        // The entry's import graph and, with nix.sources, that file's: what the evaluation reads.
        const entryOnly = fingerprintNixFile(entryAbs, args.projectRoot);
        const sourcesFingerprint = sourcesAbs === undefined ? undefined : fingerprintNixFile(sourcesAbs, args.projectRoot);
        const entryFingerprint: Fingerprint = sourcesFingerprint === undefined ? entryOnly
            : { ...entryOnly, sha256: hashJson({ entry: entryOnly.sha256, sources: sourcesFingerprint.sha256 }), files: [...entryOnly.files, ...sourcesFingerprint.files] };
        const fp = dependencyFingerprint(entryFingerprint, this.overlaySummaries, this.nixArgs);
        this.fingerprint = pulumi.output(fp);
        this.evaluated = args.nixAvailable;

        const allFiles = [...entryFingerprint.files, ...args.overlays.flatMap((o) => o.fileDigests)];
        this.record = explainRecord([...new Map(allFiles.map((f) => [f.file, f])).values()], args.overlays.map((o) => ({ name: o.overlayName, args: o.args })));

        if (args.nixAvailable) {
            // A no-op preview must not pay for an evaluation (tens of seconds on a real CUDA closure):
            // the result is cached under the content key of everything the evaluation reads.
            const key = evalCacheKey(fp, this.nixArgs, nixIdentity());
            const cached = args.evalCacheDir === undefined ? undefined : readEvalCache(args.evalCacheDir, key);
            // The invoke as a promise, so that a failed evaluation becomes one RunError naming the
            // entry and overlays and quoting Nix (no stack trace), which every output of this set
            // and whatever waits for them (index.ts gates the cluster resources on it) fails with.
            const target = args.imageArgs.system;
            const buildable: Promise<void> = target === undefined ? Promise.resolve() : command.local.run({
                command: "nix --extra-experimental-features nix-command show-config --json",
                logging: "none",
            }, { parent: this }).then((r) => {
                const conf = JSON.parse(r.stdout) as Record<string, { value: unknown } | undefined>;
                const local: LocalNixPlatforms = {
                    system: String(conf.system?.value ?? ""),
                    extraPlatforms: Array.isArray(conf["extra-platforms"]?.value) ? (conf["extra-platforms"]?.value as unknown[]).map(String) : [],
                    builders: String(conf.builders?.value ?? ""),
                };
                const problem = systemProblem(target, local, args.nixSettings?.builders, (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined));
                if (problem !== undefined) {
                    throw programError(problem);
                }
            });
            const evaluated: Promise<{ drvPath: string; outPath: string }> = buildable.then(() => (cached !== undefined ? Promise.resolve(cached) : command.local.run({
                command: nixEvalScript(entryAbs, this.nixArgs),
                dir: args.projectRoot,
                environment: { NGD_FINGERPRINT: fp },
                // Evaluation runs on every preview: keep its output (and Nix's warnings) off the display.
                logging: "none",
            }, { parent: this }).then((r) => {
                const parsed = parseEvalOutput(r.stdout);
                if (args.evalCacheDir !== undefined && parsed.drvPath !== "") {
                    writeEvalCache(args.evalCacheDir, key, parsed);
                }
                return parsed;
            }, (e: unknown) => {
                throw nixEvaluationError(args.entry, args.overlays.map((o) => o.overlayName), e);
            })));
            this.drvPath = pulumi.output(evaluated.then((e) => e.drvPath));
            this.outPath = pulumi.output(evaluated.then((e) => e.outPath));
            // What realising the new derivation would build and fetch, as Nix computes it without
            // building: only on a preview whose derivation differs from the last `up`'s.
            this.dryRun = args.preview !== true || args.previousDrvPath === undefined ? Promise.resolve(undefined)
                : Promise.all([evaluated, args.previousDrvPath]).then(([e, prev]) => (prev === undefined || prev === e.drvPath ? undefined
                    : command.local.run({ command: nixDryRunScript(e.drvPath, this.nixArgs.settings), logging: "none" }, { parent: this })
                        .then((r) => parseDryRun(r.stdout), () => undefined)));
        } else {
            pulumi.log.warn("nix-instantiate is not on PATH: the build is keyed by the content fingerprint of the Nix files instead of the derivation, and the image tag is known only after the build", this);
            this.drvPath = pulumi.output(`fingerprint:${fp}`);
            this.outPath = pulumi.output("");
            this.dryRun = Promise.resolve(undefined);
        }
        this.registerOutputs({ fingerprint: this.fingerprint, drvPath: this.drvPath, outPath: this.outPath });
    }

    /** The `nix-build` argument vector of this set. */
    buildArgv(): string[] {
        return nixBuildArgv(this.entryAbs, this.nixArgs);
    }

    /** How to build the image: the entry and arguments (components/exec.ts `nixBuildScript`, `buildEnvironment`). */
    imageBuild(): ImageBuild {
        return { entryAbs: this.entryAbs, args: this.nixArgs };
    }
}
