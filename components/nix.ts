// The Nix side of the program: overlays (content-fingerprinted) and the dependency set whose
// evaluation yields the image derivation. Evaluation runs on every preview; building does not.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { NixSettings, OverlayArgValue, confinedPath } from "./config";
import { nixEvaluationError, programError } from "./errors";
import { NixArgs, nixBuildArgv, nixBuildScript, nixEvalScript, parseEvalOutput } from "./exec";
import { Fingerprint, fingerprintNixFile, hashJson } from "./fingerprint";

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
    public readonly sha256: pulumi.Output<string>;
    public readonly files: pulumi.Output<string[]>;

    constructor(name: string, args: NixOverlayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:nix:NixOverlay", name, {}, opts);
        const { fingerprint, summary } = overlayFingerprint(args);
        this.overlayName = args.overlayName;
        this.args = args.args;
        this.summary = summary;
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
    /** The stack's Nix settings (caches, keys, builders, jobs); unset ones are not passed. */
    nixSettings?: NixSettings;
    /** Whether nix-instantiate can run here; when false the derivation is replaced by the fingerprint. */
    nixAvailable: boolean;
}

/** Pure: the `--argstr` values every Nix invocation of this dependency set gets. */
export function dependencyArgs(a: Pick<NixDependencySetArgs, "overlays" | "pythonPackages" | "cudaCapabilities" | "imageArgs" | "nixSettings">): NixArgs {
    return {
        settings: a.nixSettings,
        argstr: {
            ...a.imageArgs,
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

    constructor(name: string, args: NixDependencySetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:nix:NixDependencySet", name, {}, opts);
        const entryAbs = confinedPath(args.projectRoot, args.entry);
        if (entryAbs === undefined || !fs.existsSync(entryAbs)) {
            throw programError(`nix entry ${args.entry} is not a file inside the project (nix.entry)`);
        }
        this.entryAbs = entryAbs;
        this.nixArgs = dependencyArgs(args);
        this.overlaySummaries = args.overlays.map((o) => o.summary);
        const fp = dependencyFingerprint(fingerprintNixFile(entryAbs, args.projectRoot), this.overlaySummaries, this.nixArgs);
        this.fingerprint = pulumi.output(fp);
        this.evaluated = args.nixAvailable;

        if (args.nixAvailable) {
            // The invoke as a promise, so that a failed evaluation becomes one RunError naming the
            // entry and overlays and quoting Nix (no stack trace), which every output of this set
            // and whatever waits for them (index.ts gates the cluster resources on it) fails with.
            const evaluation = pulumi.output(command.local.run({
                command: nixEvalScript(entryAbs, this.nixArgs),
                dir: args.projectRoot,
                environment: { NGD_FINGERPRINT: fp },
                // Evaluation runs on every preview: keep its output (and Nix's warnings) off the display.
                logging: "none",
            }, { parent: this }).catch((e: unknown) => {
                throw nixEvaluationError(args.entry, args.overlays.map((o) => o.overlayName), e);
            }));
            const parsed = evaluation.stdout.apply(parseEvalOutput);
            this.drvPath = parsed.drvPath;
            this.outPath = parsed.outPath;
        } else {
            pulumi.log.warn("nix-instantiate is not on PATH: the build is keyed by the content fingerprint of the Nix files instead of the derivation, and the image tag is known only after the build", this);
            this.drvPath = pulumi.output(`fingerprint:${fp}`);
            this.outPath = pulumi.output("");
        }
        this.registerOutputs({ fingerprint: this.fingerprint, drvPath: this.drvPath, outPath: this.outPath });
    }

    /** The `nix-build` argument vector of this set. */
    buildArgv(): string[] {
        return nixBuildArgv(this.entryAbs, this.nixArgs);
    }

    /** The build command (for `command.local.Command`): nix-build, after the SSH identity and cache check when configured. */
    buildCommand(): string {
        return nixBuildScript(this.entryAbs, this.nixArgs);
    }
}
