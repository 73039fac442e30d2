// The layered CUDA image: its `nix-build`s (the layer plan, then the image assembled from it) run as
// one `command.local.Command`, re-run only when the derivation or the layering options change.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { LayerStrategy } from "../config";
import * as path from "path";
import { packageFile } from "../paths";
import { ImageBuild, STACK_ID_SCRIPT, boundedOutput, buildEnvironment, cacheUploadScript, gcRootDeleteScript, nixBuildScript, parseBuildOutput, storeHash } from "../exec";
import { NixDependencySet } from "./evaluation";
import { parseSummaries, runSummaryLine } from "./progress";

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
    /**
     * Where the stack's own directory of GC roots goes (exec.ts `gcRootBase`): the built image and its
     * layer plan are kept there until the next `up` replaces them or `destroy` removes them. The
     * directory is named by an id made on the stack's first `up` and kept in its state, so
     * `pulumi stack rename` changes nothing. Unset: no roots.
     */
    gcRootBase?: string;
}

/**
 * The progress filter the build and publish scripts pipe Nix's and skopeo's logs through (compiled
 * from components/nix/progress.ts). `NGD_PROGRESS_OFF=1` in the environment Pulumi runs in turns it off.
 */
export const PROGRESS_FILTER = packageFile("nix/progress-filter.js");

/** Pure: what makes the build run again (a change is a replace: a new nix-build). */
export function buildTriggers(drvPath: string, layering: LayeringOptions): unknown[] {
    return [{ drv: drvPath }, { layering: { maxLayers: layering.maxLayers, strategy: layering.strategy } }];
}

export class LayeredCudaImage extends pulumi.ComponentResource {
    /**
     * The built image: an OCI layout directory (or, with nixpkgs' popularity layering, a stream
     * script) in the Nix store; known once built. Depend on `build` to use it.
     */
    public readonly storePath: pulumi.Output<string>;
    /**
     * The tag the publisher pushes: explicit, or the hash part of the evaluated output (the layer
     * plan, whose hash covers everything the image is made of), so a preview already shows it.
     */
    public readonly tag: pulumi.Output<string>;
    public readonly drvPath: pulumi.Output<string>;
    public readonly build: command.local.Command;
    /** The upload of the image closure to nix.uploadTo, where configured. */
    public readonly upload?: command.local.Command;
    /** How to build the image again where the store lost it (entry, arguments, the stack's Nix settings). */
    public readonly rebuild: ImageBuild;
    /** The build's environment, NGD_IMAGE and the builders' SSH key: the environment of `realiseImageLines`. */
    public readonly realiseEnvironment: Record<string, pulumi.Input<string>>;

    constructor(name: string, args: LayeredCudaImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:image:LayeredCudaImage", name, {}, opts);
        const deps = args.dependencySet;
        this.drvPath = deps.drvPath;
        const secrets: Record<string, pulumi.Input<string>> = args.builderSshKey === undefined ? {} : { NGD_BUILDER_SSH_KEY: pulumi.secret(args.builderSshKey) };
        // What a consumer of the image needs to build it again when the local store lost it.
        this.rebuild = deps.imageBuild();
        // The script is fixed text; the entry, overlay arguments and Nix settings are its environment,
        // so an overlay change reads in `preview --diff` as a change of those values (a JSON value is
        // diffed key by key), and what changed is also explained in words (components/nix/explanation.ts).
        // NGD_DRV: the derivation the program evaluated, built without evaluating the entry again.
        const evaluatedDrv: Record<string, pulumi.Input<string>> = deps.evaluated ? { NGD_DRV: deps.drvPath } : {};
        const buildEnv = { ...buildEnvironment(this.rebuild), ...evaluatedDrv, NGD_PROGRESS: PROGRESS_FILTER };
        // The id runs once: its stdout stays in the state, whatever the stack is called later.
        const base = args.gcRootBase;
        const gcRoots: Record<string, pulumi.Input<string>> = base === undefined ? {} : {
            NGD_GC_ROOT: new command.local.Command(`${name}-gc-roots-id`, { create: STACK_ID_SCRIPT, addPreviousOutputInEnv: false }, { parent: this })
                .stdout.apply((id) => path.join(base, id.trim())),
        };
        this.build = new command.local.Command(`${name}-build`, {
            create: boundedOutput(nixBuildScript(this.rebuild)),
            // The image stays in the store while the stack runs it: delete (destroy, or the replaced
            // build of an earlier up) drops that build's GC roots, and Nix may then collect it.
            delete: gcRootDeleteScript(),
            triggers: deps.drvPath.apply((drv) => buildTriggers(drv, args.layering)),
            environment: { ...buildEnv, ...gcRoots, ...secrets },
            logging: "stdoutAndStderr",
            addPreviousOutputInEnv: false,
        }, { parent: this });
        // Where Nix evaluated the derivation its output path is known before the build, so the
        // preview shows the new store path and tag; consumers depend on `build` for ordering.
        this.storePath = this.build.stdout.apply(parseBuildOutput);
        this.tag = args.tag !== undefined ? pulumi.output(args.tag) : (deps.evaluated ? deps.outPath : this.storePath).apply(storeHash);
        this.realiseEnvironment = { ...buildEnv, NGD_IMAGE: this.storePath, ...secrets };
        if (args.cache !== undefined) {
            const { uploadTo, signingKey } = args.cache;
            this.upload = new command.local.Command(`${name}-cache-upload`, {
                create: boundedOutput(cacheUploadScript(this.rebuild)),
                environment: { ...this.realiseEnvironment, NGD_UPLOAD_TO: uploadTo, NGD_NIX_SIGNING_KEY: pulumi.secret(signingKey) },
                // Once per image and cache: a cache keeps what it was given.
                triggers: [this.storePath, uploadTo],
                logging: "stdoutAndStderr",
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn: [this.build] });
        }
        this.registerOutputs({ storePath: this.storePath, tag: this.tag, drvPath: this.drvPath });
    }
}

/**
 * At the end of an `up`, one line on `on`: what the steps that ran this time built, fetched and
 * pushed, from their summaries (components/nix/progress.ts), e.g. `nix-gpu-deploy: built 3
 * derivations, fetched 0 paths (0 B), pushed 3 of 13 layers (1.6 KiB), 6.1 s in the build and push`.
 * Steps that did not run (their output is the last run's) do not count; nothing ran, nothing said.
 */
export function reportRunSummary(on: pulumi.Resource, logs: Array<pulumi.Input<string | undefined>>, since: number): void {
    if (pulumi.runtime.isDryRun()) {
        return;
    }
    // The logs stay secret where they are; the line holds counts and sizes only.
    pulumi.unsecret(pulumi.all(logs)).apply((texts) => {
        const r = parseSummaries(texts.filter((t): t is string => typeof t === "string").join("\n"), since);
        if (r !== undefined) {
            pulumi.log.info(runSummaryLine(r), on);
        }
    });
}
