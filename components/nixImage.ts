// NixImage: a Nix-built, layered CUDA image in a registry. The dependency set (the entry, with its
// overlays), evaluated when the program runs so a preview says what an edit changes; the layered image
// built with nix-build; the push, by digest. Or, with `image.fromStack`, another stack's image promoted
// by digest (nothing built).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ImageSection, NixSection, RegistrySection, RolloutSection, sectionValue } from "./args";
import { StackConfig, formatProblems, overlayFile } from "./config";
import { parseImageSections } from "./config/sections";
import { nodeFs } from "./config/stack";
import { gcRootBase } from "./exec";
import { programError } from "./errors";
import { PACKAGE_ROOT } from "./paths";
import { ExplainRecord, lastUpOutputs, parseRecord, reportExplanation, sourceBuildNotes, stringOutput } from "./nix/explanation";
import { NixDependencySet, NixOverlay, defaultEvalCacheDir, nixOnPath } from "./nix/evaluation";
import { LayeredCudaImage, reportRunSummary } from "./nix/image";
import { PromotedImage } from "./registry/promote";
import { credentialHelperProblem, publishImage } from "./registry/publish";

/** The Pulumi type token (`<package>:index:<Class>`: what Pulumi's component packages require). */
export const NIX_IMAGE_TYPE = "nix-gpu-deploy:index:NixImage";

export interface NixImageArgs {
    /**
     * The Nix project's directory: `nix.entry`, its overlays and `nix.sources` are resolved and
     * confined here; nothing else of the caller's is read. Absolute, or relative to the program's
     * working directory (from Python or another language, through the component plugin: absolute).
     * Default: the working directory.
     */
    projectDir?: string;
    /** The Nix side (stack config `nix`). Default: every field at its default. */
    nix?: NixSection;
    /** The image (stack config `image`). */
    image: ImageSection;
    /** The registry (stack config `registry`). */
    registry: RegistrySection;
    /** The push password (a secret), with `registry.username`. Default: none. */
    registryPassword?: pulumi.Input<string>;
    /** The binary cache signing key (a secret) for `nix.uploadTo`. Default: none. */
    nixSigningKey?: pulumi.Input<string>;
    /** The SSH private key (a secret) Nix connects to `nix.builders` with. Default: none. */
    nixBuilderSshKey?: pulumi.Input<string>;
    /**
     * The workload a new image rolls out to, named by the preview explanation. Default: none (the
     * explanation then says what is rebuilt, not what rolls out).
     */
    rollout?: RolloutSection;
}

/** What a NixImage was configured with, checked (components/config/). */
export type CheckedImage = Pick<StackConfig, "nix" | "image" | "registry">;

/**
 * Pure: the args checked the way the stack config is, every problem named by its property; throws
 * one message (no stack trace) listing them all.
 */
export function checkNixImageArgs(args: NixImageArgs, projectDir: string): CheckedImage {
    const result = parseImageSections(
        { nix: sectionValue(args.nix) ?? {}, image: sectionValue(args.image), registry: sectionValue(args.registry) },
        { registryPassword: args.registryPassword !== undefined, nixSigningKey: args.nixSigningKey !== undefined, nixBuilderSshKey: args.nixBuilderSshKey !== undefined },
        { projectRoot: projectDir, stack: pulumi.getStack(), ...nodeFs });
    if (!result.ok) {
        throw programError(formatProblems(result.errors));
    }
    return { nix: result.nix, image: result.image, registry: result.registry };
}

export class NixImage extends pulumi.ComponentResource {
    /** `host/repo@sha256:…`: what a workload runs. */
    public readonly imageRef: pulumi.Output<string>;
    /** The image's Nix store path (an OCI layout directory). */
    public readonly storePath: pulumi.Output<string>;
    /**
     * What identifies the image before it is pushed (the evaluated derivation, or the promoted
     * digest): GpuWorkload keys a training Job by it.
     */
    public readonly identity: pulumi.Output<string>;
    /** The pushed digest (`sha256:…`); empty when promoted. */
    public readonly digest: pulumi.Output<string>;
    /** The dependency set's derivation; empty when promoted. */
    public readonly drvPath: pulumi.Output<string>;
    /** The content fingerprint of the Nix files and arguments; empty when promoted. */
    public readonly nixFingerprint: pulumi.Output<string>;
    /** The image tag; empty when promoted. */
    public readonly imageTag: pulumi.Output<string>;
    /**
     * What the next preview compares with (overlays, files and pins read, the derivation), as JSON;
     * a secret only to keep it out of diffs. Export it as the stack output `nixExplain` (with
     * `storePath`): the next preview reads it back and says what an edit rebuilds.
     */
    public readonly nixExplain: pulumi.Output<string>;
    /** The CUDA capabilities the image was built for (a promoting stack checks them). */
    public readonly cudaCapabilities: pulumi.Output<string[]>;
    /** Resolves once the dependency set has been evaluated (or the promoted image read): nothing in the cluster needs to wait longer. */
    public readonly evaluated: pulumi.Output<string>;

    constructor(name: string, args: NixImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super(NIX_IMAGE_TYPE, name, {}, opts);
        const started = Date.now();
        // Run as a component plugin (from Python or another language), this process's working
        // directory is the package's, not the program's: only an absolute directory means what the caller meant.
        if ((args.projectDir === undefined || !path.isAbsolute(args.projectDir)) && path.resolve(process.cwd()) === PACKAGE_ROOT) {
            throw programError(`NixImage ${name}: projectDir must be an absolute path when the component runs as a plugin (from Python or another language); got ${args.projectDir === undefined ? "none" : JSON.stringify(args.projectDir)}`);
        }
        const projectDir = path.resolve(args.projectDir ?? process.cwd());
        const config = checkNixImageArgs(args, projectDir);
        const secret = (v: pulumi.Input<string> | undefined) => v === undefined ? undefined : pulumi.secret(v);
        // The parts' names. The program's NixImage is named `image`: its parts keep the names they had
        // when the program registered them at the top level (and, before that, stack-prefixed), aliased
        // from there, so existing stacks keep their state. Any other name prefixes its parts.
        const legacy = name === "image";
        const part = (role: string) => legacy ? role : `${name}-${role}`;
        const child = (role: string): pulumi.ComponentResourceOptions => ({
            parent: this,
            aliases: legacy ? [{ name: role, parent: pulumi.rootStackResource }, { name: `${pulumi.getStack()}-${role}`, parent: pulumi.rootStackResource }] : [],
        });
        this.cudaCapabilities = pulumi.output(config.nix.cudaCapabilities);

        if (config.image.fromStack !== undefined) {
            const promoted = new PromotedImage(part("promoted"), {
                fromStack: config.image.fromStack,
                registryHost: config.registry.host,
                cudaCapabilities: config.nix.cudaCapabilities,
            }, child("promoted"));
            this.imageRef = promoted.ref;
            this.storePath = promoted.storePath;
            this.identity = promoted.ref;
            this.evaluated = promoted.ref;
            this.digest = this.drvPath = this.nixFingerprint = this.imageTag = this.nixExplain = pulumi.output("");
            this.registerOutputs({ imageRef: this.imageRef, storePath: this.storePath });
            return;
        }

        // The push's credential helper must be there before anything is built.
        const helperProblem = config.registry.credentialHelper !== undefined ? credentialHelperProblem(config.registry.credentialHelper) : undefined;
        if (helperProblem !== undefined) {
            throw programError(helperProblem);
        }
        const last = lastUpOutputs();
        const overlays = config.nix.overlays.map((o) => new NixOverlay(part(`overlay-${o.name}`), {
            overlayName: o.name,
            file: overlayFile(config.nix.entry, o.name),
            args: o.args,
            projectRoot: projectDir,
        }, child(`overlay-${o.name}`)));
        const previous = last.then((l) => parseRecord(l.nixExplain));
        const dependencySet = new NixDependencySet(part("deps"), {
            entry: config.nix.entry,
            projectRoot: projectDir,
            overlays,
            pythonPackages: config.nix.pythonPackages,
            cudaCapabilities: config.nix.cudaCapabilities,
            sources: config.nix.sources,
            nixSettings: config.nix.settings,
            imageArgs: {
                imageName: config.image.name,
                imageTag: config.image.tag ?? "",
                maxLayers: String(config.image.maxLayers),
                layerStrategy: config.image.layerStrategy,
                maxLayerBytes: String(config.image.maxLayerBytes),
                system: config.nix.system,
                python: config.nix.python,
            },
            nixAvailable: process.env.NGD_NIX_AVAILABLE !== undefined ? process.env.NGD_NIX_AVAILABLE === "true" : nixOnPath(),
            evalCacheDir: process.env.NGD_EVAL_CACHE === "off" ? undefined : defaultEvalCacheDir(),
            previousDrvPath: previous.then((p) => p?.drvPath),
            preview: pulumi.runtime.isDryRun(),
        }, child("deps"));
        const record = dependencySet.drvPath.apply((drvPath): ExplainRecord => ({ ...dependencySet.record, drvPath }));
        const explained = !pulumi.runtime.isDryRun() ? pulumi.output(undefined) : reportExplanation({
            previous,
            current: record,
            dryRun: dependencySet.dryRun,
            rollout: args.rollout === undefined ? undefined : { replicas: 1, strategy: "RollingUpdate", ...args.rollout },
            caches: config.nix.settings.substituters,
            previousImage: last.then((l) => stringOutput(l, "storePath")),
            layering: { strategy: config.image.layerStrategy, maxLayers: config.image.maxLayers },
            sourceBuilds: sourceBuildNotes(config.nix),
        });

        const image = new LayeredCudaImage(part("image"), {
            dependencySet,
            layering: { maxLayers: config.image.maxLayers, strategy: config.image.layerStrategy },
            tag: config.image.tag,
            builderSshKey: secret(args.nixBuilderSshKey),
            cache: config.nix.settings.uploadTo !== undefined && args.nixSigningKey !== undefined
                ? { uploadTo: config.nix.settings.uploadTo, signingKey: pulumi.secret(args.nixSigningKey) } : undefined,
            gcRootBase: gcRootBase(),
        }, child("image"));

        const published = publishImage(config.registry.publisher, part("publish"), {
            image,
            registry: config.registry.host,
            repository: config.image.name,
            username: config.registry.username,
            password: secret(args.registryPassword),
            insecure: config.registry.insecure,
            dockerHost: config.registry.dockerHost,
            credentialHelper: config.registry.credentialHelper,
        }, child("publish"));
        // `up` ends with one line: built, fetched, pushed, time (components/nix/progress.ts).
        reportRunSummary(image, [image.build.stderr, published.log], started);

        this.imageRef = published.ref;
        this.storePath = image.storePath;
        this.identity = dependencySet.drvPath;
        this.evaluated = dependencySet.drvPath;
        this.digest = published.digest;
        this.drvPath = dependencySet.drvPath;
        this.nixFingerprint = dependencySet.fingerprint;
        this.imageTag = image.tag;
        this.nixExplain = pulumi.secret(pulumi.all([record, explained]).apply(([r]) => JSON.stringify(r)));
        this.registerOutputs({ imageRef: this.imageRef, storePath: this.storePath, digest: this.digest, drvPath: this.drvPath });
    }
}
