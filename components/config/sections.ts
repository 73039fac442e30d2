// The stack config's sections checked on their own, for the components' arguments (NixImage: nix,
// image, registry; GpuWorkload: gpu, cluster, deployment): the same section checks as the whole stack
// config (nix.ts, image.ts, …), so every default, check and message is the same, named by the
// argument's property (`deployment.replicas`).
import { Checker, SectionContext } from "./check";
import { checkCluster } from "./cluster";
import { checkDeployment } from "./deployment";
import { checkGpu } from "./gpu";
import { checkImage } from "./image";
import { checkNix } from "./nix";
import { checkRegistry } from "./registry";
import { ClusterConfig, ConfigProblem, DeploymentConfig, GpuConfig, ParseOptions, PROJECT, StackConfig } from "./types";

/** Problems named by the argument's property, not by the stack config key (`nix-gpu-deploy:deployment.replicas`). */
function argumentProblems(errors: ConfigProblem[]): ConfigProblem[] {
    return errors.map((e) => ({ ...e, propertyPath: e.propertyPath.startsWith(`${PROJECT}:`) ? e.propertyPath.slice(PROJECT.length + 1) : e.propertyPath }));
}

/**
 * The nix, image and registry sections, checked as a publish-only stack checks them (as a promoting
 * stack, with `image.fromStack`). The secrets are only present or not.
 */
export function parseImageSections(values: { nix?: unknown; image?: unknown; registry?: unknown },
    secrets: { registryPassword: boolean; nixSigningKey: boolean; nixBuilderSshKey: boolean }, opts: ParseOptions):
    { ok: true; nix: StackConfig["nix"]; image: StackConfig["image"]; registry: StackConfig["registry"] } | { ok: false; errors: ConfigProblem[] } {
    const c = new Checker();
    const image = values.image;
    const promotes = typeof image === "object" && image !== null && (image as Record<string, unknown>).fromStack !== undefined;
    const ctx: SectionContext = { mode: promotes ? "promote" : "publish", raw: { values: {}, secretsPresent: secrets }, opts };
    // The cluster's pull user is the workload's (GpuWorkload pullCredentials), not the push's.
    const registryValue = typeof values.registry === "object" && values.registry !== null ? { ...values.registry as Record<string, unknown> } : values.registry;
    if (typeof registryValue === "object" && registryValue !== null) {
        delete (registryValue as Record<string, unknown>).pullUsername;
    }
    const { entry, overlays, pythonPackages, python, sources, cudaCapabilities, system, settings } = checkNix(c, values.nix, ctx);
    const checkedImage = checkImage(c, image, ctx);
    const registry = checkRegistry(c, registryValue, ctx);
    const { name } = checkedImage;
    const { host } = registry;
    if (c.errors.length > 0 || name === undefined || host === undefined) {
        return { ok: false, errors: argumentProblems(c.errors) };
    }
    return {
        ok: true,
        nix: { entry, overlays, pythonPackages, python, ...(sources === undefined ? {} : { sources }), cudaCapabilities, system, settings },
        image: { ...checkedImage, name },
        registry: { ...registry, host },
    };
}

/**
 * The gpu, cluster and deployment sections, checked as a stack that runs an image checks them, with
 * what they are checked against from the other sections (`context`).
 */
export function parseWorkloadSections(values: { gpu?: unknown; cluster?: unknown; deployment?: unknown },
    context: {
        /** The image's CUDA capabilities (`nix.cudaCapabilities`): `gpu.product` must run code built for one. */
        cudaCapabilities: string[];
        /** Whether a kubeconfig is given (else `cluster.context` or `cluster.renderYamlTo` must say how to reach the cluster). */
        hasKubeconfig: boolean;
    }, opts: ParseOptions):
    { ok: true; gpu: GpuConfig; cluster: ClusterConfig; deployment: DeploymentConfig } | { ok: false; errors: ConfigProblem[] } {
    const c = new Checker();
    const ctx: SectionContext = { mode: "deploy", raw: { values: {}, secretsPresent: { kubeconfig: context.hasKubeconfig } }, opts };
    const gpu = checkGpu(c, values.gpu, { cudaCapabilities: context.cudaCapabilities, capabilitiesChecked: true });
    const cluster = checkCluster(c, values.cluster, ctx);
    const deployment = checkDeployment(c, values.deployment);
    const { name: clusterName, namespace } = cluster;
    const { name } = deployment;
    if (c.errors.length > 0 || clusterName === undefined || namespace === undefined || name === undefined) {
        return { ok: false, errors: argumentProblems(c.errors) };
    }
    return { ok: true, gpu, cluster: { ...cluster, name: clusterName, namespace }, deployment: { ...deployment, name } };
}
