// The layered CUDA image: one `nix-build` run as a `command.local.Command`, re-run only when the
// derivation or the layering options change.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { LayerStrategy, NixSettings } from "./config";
import { boundedOutput, cacheUploadScript, parseBuildOutput, storeHash } from "./exec";
import { NixDependencySet } from "./nix";

export interface LayeringOptions {
    maxLayers: number;
    strategy: LayerStrategy;
}

export interface LayeredCudaImageArgs {
    dependencySet: NixDependencySet;
    layering: LayeringOptions;
    /** Explicit image tag; default: the hash part of the Nix output path. */
    tag?: string;
    /** The SSH private key for the stack's remote builders (nix.builders), a secret. */
    builderSshKey?: pulumi.Output<string>;
    /** Upload the image closure to this Nix store, signed with `signingKey` (nix.uploadTo, nixSigningKey). */
    cache?: { uploadTo: string; signingKey: pulumi.Output<string> };
}

/** Pure: what makes the build run again (a change is a replace: a new nix-build). */
export function buildTriggers(drvPath: string, layering: LayeringOptions): unknown[] {
    return [{ drv: drvPath }, { layering: { maxLayers: layering.maxLayers, strategy: layering.strategy } }];
}

export class LayeredCudaImage extends pulumi.ComponentResource {
    /** The built image: a stream script (or image tarball) in the Nix store. Depend on `build` to use it. */
    public readonly storePath: pulumi.Output<string>;
    /** The tag the publisher pushes: explicit, or the Nix output hash. */
    public readonly tag: pulumi.Output<string>;
    public readonly drvPath: pulumi.Output<string>;
    public readonly build: command.local.Command;
    /** The upload of the image closure to nix.uploadTo, where configured. */
    public readonly upload?: command.local.Command;
    /** The stack's Nix settings, for realising the image again (caches, builders). */
    public readonly settings: NixSettings;
    /** NGD_IMAGE, NGD_DRV and the builders' SSH key: the environment of `realiseImageLines`. */
    public readonly realiseEnvironment: Record<string, pulumi.Input<string>>;

    constructor(name: string, args: LayeredCudaImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:image:LayeredCudaImage", name, {}, opts);
        const deps = args.dependencySet;
        this.drvPath = deps.drvPath;
        const secrets: Record<string, pulumi.Input<string>> = args.builderSshKey === undefined ? {} : { NGD_BUILDER_SSH_KEY: pulumi.secret(args.builderSshKey) };
        this.build = new command.local.Command(`${name}-build`, {
            create: boundedOutput(deps.buildCommand()),
            // Nothing to undo: the store path is garbage-collected by Nix when unreferenced.
            triggers: deps.drvPath.apply((drv) => buildTriggers(drv, args.layering)),
            // Only what the build needs: what changed is explained in words by the preview
            // (components/explain.ts), not by hashes in this resource's diff.
            environment: secrets,
            logging: "stdoutAndStderr",
            addPreviousOutputInEnv: false,
        }, { parent: this });
        // Where Nix evaluated the derivation its output path is known before the build, so the
        // preview shows the new store path and tag; consumers depend on `build` for ordering.
        const built = this.build.stdout.apply(parseBuildOutput);
        this.storePath = deps.evaluated ? deps.outPath : built;
        this.tag = args.tag !== undefined ? pulumi.output(args.tag) : this.storePath.apply(storeHash);
        // What a consumer of the image needs to realise it again when the local store lost it.
        this.settings = deps.nixArgs.settings ?? {};
        this.realiseEnvironment = { NGD_IMAGE: this.storePath, NGD_DRV: this.drvPath, ...secrets };
        if (args.cache !== undefined) {
            const { uploadTo, signingKey } = args.cache;
            this.upload = new command.local.Command(`${name}-cache-upload`, {
                create: boundedOutput(cacheUploadScript(uploadTo, this.settings)),
                environment: { ...this.realiseEnvironment, NGD_NIX_SIGNING_KEY: pulumi.secret(signingKey) },
                // Once per image and cache: a cache keeps what it was given.
                triggers: [this.storePath, uploadTo],
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn: [this.build] });
        }
        this.registerOutputs({ storePath: this.storePath, tag: this.tag, drvPath: this.drvPath });
    }
}
