// Build once, promote by digest: a cluster stack runs the image another stack built and published,
// read from that stack's outputs (a StackReference), so every cluster runs the same bytes and the
// preview shows the digest it will roll out.
import * as pulumi from "@pulumi/pulumi";
import { programError } from "../errors";

/** What an image stack exports (index.ts) and a promoting stack reads. */
export interface ImageStackOutputs {
    imageRef?: unknown;
    storePath?: unknown;
    cudaCapabilities?: unknown;
}

export interface PromotionExpectation {
    /** `image.fromStack` as configured. */
    fromStack: string;
    /** `registry.host` of the promoting stack: the cluster's pull secret is for this registry. */
    registryHost: string;
    /** `nix.cudaCapabilities` of the promoting stack (the node affinity is derived from it). */
    cudaCapabilities: string[];
}

const DIGEST_REF = /^[^\s@]+@sha256:[a-f0-9]{64}$/;

/** Pure: every reason the referenced stack's outputs cannot be promoted here ([] = fine). */
export function promotionProblems(out: ImageStackOutputs, want: PromotionExpectation): string[] {
    const problems: string[] = [];
    const from = `stack ${want.fromStack} (image.fromStack)`;
    if (typeof out.imageRef !== "string" || out.imageRef === "") {
        problems.push(`${from} exports no imageRef: run \`pulumi up\` on it first (a stack that builds and publishes exports it)`);
    } else if (!DIGEST_REF.test(out.imageRef)) {
        problems.push(`${from} exports imageRef ${JSON.stringify(out.imageRef)}, which is not pinned by digest (host/repo@sha256:…)`);
    } else if (!out.imageRef.startsWith(`${want.registryHost}/`)) {
        problems.push(`${from} published to ${out.imageRef.split("/")[0]}, but registry.host here is ${want.registryHost} (the cluster's pull secret is for that registry)`);
    }
    const built = Array.isArray(out.cudaCapabilities) && out.cudaCapabilities.every((c) => typeof c === "string") ? [...out.cudaCapabilities as string[]].sort() : undefined;
    const here = [...want.cudaCapabilities].sort();
    if (built !== undefined && JSON.stringify(built) !== JSON.stringify(here)) {
        problems.push(`${from} was built for nix.cudaCapabilities [${built.join(", ")}], but this stack says [${here.join(", ")}]: set the same list, so that the pods go only to GPUs the image runs on`);
    }
    return problems;
}

/** The image of another stack, by digest. Fails the run with one message when it cannot be used. */
export class PromotedImage extends pulumi.ComponentResource {
    public readonly ref: pulumi.Output<string>;
    public readonly storePath: pulumi.Output<string>;

    constructor(name: string, want: PromotionExpectation, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:promote:PromotedImage", name, {}, opts);
        const stack = new pulumi.StackReference(`${name}-source`, { name: want.fromStack }, { parent: this });
        // Read as a promise (not inside `apply`), so that a bad reference is one RunError.
        const read = Promise.all(["imageRef", "storePath", "cudaCapabilities"].map((k) => stack.getOutputDetails(k)))
            .then(([imageRef, storePath, cudaCapabilities]) => {
                const out = { imageRef: imageRef.value, storePath: storePath.value, cudaCapabilities: cudaCapabilities.value };
                const problems = promotionProblems(out, want);
                if (problems.length > 0) {
                    throw programError(`cannot promote the image of ${want.fromStack}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
                }
                return { ref: out.imageRef as string, storePath: typeof out.storePath === "string" ? out.storePath : "" };
            });
        this.ref = pulumi.output(read.then((r) => r.ref));
        this.storePath = pulumi.output(read.then((r) => r.storePath));
        this.registerOutputs({ ref: this.ref, storePath: this.storePath });
    }
}
