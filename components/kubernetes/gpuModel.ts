// What GPU Feature Discovery (NVIDIA/k8s-device-plugin, gpu-feature-discovery) tells about a node,
// and which CUDA builds can run there. Pure: used by the config check and the pod spec.
//
// GFD labels (docs/gpu-feature-discovery/README.md of NVIDIA/k8s-device-plugin):
//   nvidia.com/gpu.product        the product name with spaces as '-' (`Tesla-T4`, `NVIDIA-A100-SXM4-80GB`),
//                                 `-MIG-<profile>` appended under the single MIG strategy,
//                                 `-SHARED` appended when the GPU is shared (time-slicing, MPS)
//   nvidia.com/gpu.compute.major / .minor   the CUDA compute capability
//   nvidia.com/gpu.memory, .count, .family, .replicas, .sharing-strategy, nvidia.com/mig.strategy

export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const GPU_MEMORY_LABEL = "nvidia.com/gpu.memory";
export const GPU_COMPUTE_MAJOR_LABEL = "nvidia.com/gpu.compute.major";
export const GPU_COMPUTE_MINOR_LABEL = "nvidia.com/gpu.compute.minor";

/** A Kubernetes label value (GFD writes product names as label values). */
export const LABEL_VALUE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** Compute capability by product family, for the preview check (nodes are also selected by their labels). */
const CAPABILITY_BY_MODEL: [RegExp, string][] = [
    [/(^|-)GB?200(-|$)/, "10.0"],
    [/(^|-)B200(-|$)/, "10.0"],
    [/(^|-)H(100|200|800|20)(-|$)/, "9.0"],
    [/(^|-)GH200(-|$)/, "9.0"],
    [/(^|-)L4(-|$)/, "8.9"],
    [/(^|-)L40S?(-|$)/, "8.9"],
    [/(^|-)RTX-?[456]000-Ada/i, "8.9"],
    [/(^|-)A(100|30|800)(-|$)/, "8.0"],
    [/(^|-)A(10|10G|10M|40|16|2)(-|$)/, "8.6"],
    [/(^|-)T4(-|$)/, "7.5"],
    [/(^|-)V100(-|$)/, "7.0"],
    [/(^|-)P100(-|$)/, "6.0"],
];

/** The base product (without the `-MIG-…` and `-SHARED` suffixes GFD appends). */
export function baseProduct(product: string): string {
    return product.replace(/-SHARED$/, "").replace(/-MIG-[1-7]g\.[0-9]+gb(\+me)?$/, "");
}

/** The compute capability of a known product, e.g. `9.0` for NVIDIA-H100-80GB-HBM3; undefined when unknown. */
export function productCapability(product: string): string | undefined {
    const base = baseProduct(product);
    return CAPABILITY_BY_MODEL.find(([re]) => re.test(base))?.[1];
}

/**
 * Can code built for `built` (a `cudaCapabilities` entry: `8.0`, `9.0a`) run on a device of
 * capability `device`? A cubin runs on the same major version with an equal or higher minor; an
 * arch-specific build (`9.0a`) only on exactly that capability.
 */
export function capabilityRuns(built: string, device: string): boolean {
    const [bMaj, bMin] = built.replace(/a$/, "").split(".").map(Number);
    const [dMaj, dMin] = device.split(".").map(Number);
    if (built.endsWith("a")) {
        return bMaj === dMaj && bMin === dMin;
    }
    return bMaj === dMaj && dMin >= bMin;
}

/** The single-strategy MIG product label: `<product>-MIG-<profile>` (kept if already given so). */
export function migSingleProduct(product: string, profile: string): string {
    return product.endsWith(`-MIG-${profile}`) ? product : `${product}-MIG-${profile}`;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- plain node selector requirements */
/**
 * Node affinity terms (ORed) that admit exactly the nodes whose GFD compute capability can run one
 * of the built capabilities; `common` requirements are repeated in every term. No capabilities
 * (nixpkgs' list): one term with only `common`.
 */
export function capabilityTerms(capabilities: string[], common: any[]): any[] {
    if (capabilities.length === 0) {
        return common.length > 0 ? [{ matchExpressions: common }] : [];
    }
    const byMajor = new Map<string, number>();
    const exact: { major: string; minor: string }[] = [];
    for (const cap of capabilities) {
        const [maj, min] = cap.replace(/a$/, "").split(".");
        if (cap.endsWith("a")) {
            exact.push({ major: maj, minor: min });
        } else {
            byMajor.set(maj, Math.min(byMajor.get(maj) ?? Infinity, Number(min)));
        }
    }
    const terms: any[] = [];
    for (const [major, minMinor] of [...byMajor.entries()].sort()) {
        const minor = minMinor === 0 ? [] : [{ key: GPU_COMPUTE_MINOR_LABEL, operator: "Gt", values: [String(minMinor - 1)] }];
        terms.push({ matchExpressions: [...common, { key: GPU_COMPUTE_MAJOR_LABEL, operator: "In", values: [major] }, ...minor] });
    }
    for (const e of exact) {
        if (byMajor.has(e.major) && byMajor.get(e.major)! <= Number(e.minor)) {
            continue;
        }
        terms.push({ matchExpressions: [...common, { key: GPU_COMPUTE_MAJOR_LABEL, operator: "In", values: [e.major] }, { key: GPU_COMPUTE_MINOR_LABEL, operator: "In", values: [e.minor] }] });
    }
    return terms;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
