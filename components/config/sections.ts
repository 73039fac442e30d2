// The stack config's sections checked on their own, for the components' arguments (NixImage: nix,
// image, registry; GpuWorkload: gpu, cluster, deployment). Through the same parser as the whole stack
// config (`parseStackConfig`), so every default, check and message is the same: the other sections are
// stood in by fixed values that pass, and only the problems of the sections given are kept.
import { ClusterConfig, ConfigProblem, PROJECT, DeploymentConfig, GpuConfig, NixSystem, ParseOptions, StackConfig, parseStackConfig } from "./index";

/**
 * Problems of the given sections only (their own properties, and the whole-config ones), named by the
 * argument's property (`deployment.replicas`, not the stack config key `nix-gpu-deploy:deployment.replicas`).
 */
function problemsOf(errors: ConfigProblem[], sections: string[]): ConfigProblem[] {
    return errors.map((e) => ({ ...e, propertyPath: e.propertyPath.startsWith(`${PROJECT}:`) ? e.propertyPath.slice(PROJECT.length + 1) : e.propertyPath }))
        .filter((e) => e.propertyPath === "" || sections.some((s) => e.propertyPath === s || e.propertyPath.startsWith(`${s}.`) || e.propertyPath.startsWith(`${s}[`)));
}

/** A stand-in stack another stack's image comes from: it names no real stack and passes the checks. */
const STAND_IN_STACK = "nix-gpu-deploy-library/stand-in/image";

/**
 * The nix, image and registry sections, checked as a publish-only stack checks them (as a promoting
 * stack, with `image.fromStack`). The secrets are only present or not.
 */
export function parseImageSections(values: { nix?: unknown; image?: unknown; registry?: unknown },
    secrets: { registryPassword: boolean; nixSigningKey: boolean; nixBuilderSshKey: boolean }, opts: ParseOptions):
    { ok: true; nix: StackConfig["nix"]; image: StackConfig["image"]; registry: StackConfig["registry"] } | { ok: false; errors: ConfigProblem[] } {
    const image = values.image;
    const promotes = typeof image === "object" && image !== null && (image as Record<string, unknown>).fromStack !== undefined;
    const stand = promotes
        // a promoting stack runs the image: stand-ins for what it runs it with
        ? { gpu: { count: 0 }, cluster: { name: "stand-in", namespace: "stand-in" }, deployment: { name: "stand-in" } }
        : {};
    // The cluster's pull user is the workload's (GpuWorkload pullCredentials), not the push's.
    const registry = typeof values.registry === "object" && values.registry !== null ? { ...values.registry as Record<string, unknown> } : values.registry;
    if (typeof registry === "object" && registry !== null) {
        delete (registry as Record<string, unknown>).pullUsername;
    }
    const r = parseStackConfig({
        values: { nix: values.nix, image: promotes ? image : { ...(image as object ?? {}), publishOnly: true }, registry, ...stand },
        secretsPresent: secrets,
    }, opts);
    if (!r.ok) {
        const errors = problemsOf(r.errors, ["nix", "image", "registry", "registryPassword", "nixSigningKey", "nixBuilderSshKey"]);
        return { ok: false, errors: errors.length > 0 ? errors : r.errors };
    }
    return { ok: true, nix: r.config.nix, image: r.config.image, registry: r.config.registry };
}

/**
 * The gpu, cluster and deployment sections, checked as a stack that runs an image checks them, against
 * what they depend on from the other sections (`context`).
 */
export function parseWorkloadSections(values: { gpu?: unknown; cluster?: unknown; deployment?: unknown },
    context: {
        /** The image's CUDA capabilities (`nix.cudaCapabilities`): checked against `gpu.product`. */
        cudaCapabilities: string[];
        /** The image's Nix system (`nix.system`). */
        system: NixSystem;
        /** Whether a kubeconfig is given (else the machine's). */
        hasKubeconfig: boolean;
        /** Whether pull credentials are given (a pull secret is made). */
        hasPullPassword: boolean;
        /** The registry the image comes from. */
        registryHost?: string;
    }, opts: ParseOptions):
    { ok: true; gpu: GpuConfig; cluster: ClusterConfig; deployment: DeploymentConfig } | { ok: false; errors: ConfigProblem[] } {
    const r = parseStackConfig({
        values: {
            gpu: values.gpu, cluster: values.cluster, deployment: values.deployment,
            // stand-ins: an image promoted by digest, from the given registry
            nix: { cudaCapabilities: context.cudaCapabilities, system: context.system },
            image: { fromStack: STAND_IN_STACK },
            registry: { host: context.registryHost ?? "registry.invalid", ...(context.hasPullPassword ? { username: "stand-in" } : {}) },
        },
        secretsPresent: { kubeconfig: context.hasKubeconfig, registryPassword: context.hasPullPassword },
    }, opts);
    if (!r.ok) {
        const errors = problemsOf(r.errors, ["gpu", "cluster", "deployment", "kubeconfig"]);
        return { ok: false, errors: errors.length > 0 ? errors : r.errors };
    }
    return { ok: true, gpu: r.config.gpu!, cluster: r.config.cluster!, deployment: r.config.deployment! };
}
