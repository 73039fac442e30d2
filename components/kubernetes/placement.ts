// Which node labels put a GPU pod on its nodes, per kind of cluster (`gpu.placement`). Pure: the config
// check, the pod spec and the preflight use it.
//
//   gfd        GPU Feature Discovery (NVIDIA GPU Operator / device plugin with GFD): nvidia.com/gpu.product,
//              the compute capability and memory labels. Only running nodes carry them, so an autoscaler
//              cannot scale a pool up from zero for them.
//   gke        GKE's managed GPU node pools: cloud.google.com/gke-accelerator (set from the node pool's
//              template, so the autoscaler scales from zero), cloud.google.com/gke-gpu-partition-size for MIG.
//   eks        EKS Auto Mode's instance labels: eks.amazonaws.com/instance-gpu-name (and -memory).
//   karpenter  Karpenter on AWS: karpenter.k8s.aws/instance-gpu-name (and -memory), known from the instance
//              type before a node exists.
//   custom     the stack's own gpu.nodeSelector and gpu.tolerations.
import type { PlacementProfile, Toleration } from "../config";
import { GPU_MEMORY_LABEL, GPU_PRODUCT_LABEL, baseProduct } from "./gpuModel";

export const GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator";
export const GKE_PARTITION_LABEL = "cloud.google.com/gke-gpu-partition-size";
export const EKS_GPU_NAME_LABEL = "eks.amazonaws.com/instance-gpu-name";
export const EKS_GPU_MEMORY_LABEL = "eks.amazonaws.com/instance-gpu-memory";
export const KARPENTER_GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name";
export const KARPENTER_GPU_MEMORY_LABEL = "karpenter.k8s.aws/instance-gpu-memory";

/** Profiles whose labels exist before a node does: an autoscaler can scale a pool up from zero for them. */
export const SCALES_FROM_ZERO: readonly PlacementProfile[] = ["gke", "eks", "karpenter"];

/** GFD product (without -MIG/-SHARED) → GKE accelerator and the AWS instance GPU name, for the products they offer. */
const ACCELERATORS: [RegExp, { gke?: string; aws?: string }][] = [
    [/^NVIDIA-H100-80GB-HBM3$/, { gke: "nvidia-h100-80gb", aws: "h100" }],
    [/^NVIDIA-H100-MEGA-80GB-HBM3$/i, { gke: "nvidia-h100-mega-80gb" }],
    [/^NVIDIA-H200(-141GB-HBM3e?)?$/i, { gke: "nvidia-h200-141gb", aws: "h200" }],
    [/^NVIDIA-B200$/, { gke: "nvidia-b200", aws: "b200" }],
    [/^NVIDIA-A100-SXM4-40GB$/, { gke: "nvidia-tesla-a100", aws: "a100" }],
    [/^NVIDIA-A100-SXM4-80GB$/, { gke: "nvidia-a100-80gb", aws: "a100" }],
    [/^NVIDIA-L4$/, { gke: "nvidia-l4", aws: "l4" }],
    [/^NVIDIA-L40S$/, { aws: "l40s" }],
    [/^NVIDIA-A10G$/, { aws: "a10g" }],
    [/^Tesla-T4$/, { gke: "nvidia-tesla-t4", aws: "t4" }],
    [/^Tesla-V100-SXM2-16GB$/, { gke: "nvidia-tesla-v100", aws: "v100" }],
    [/^Tesla-P100-PCIE-16GB$/, { gke: "nvidia-tesla-p100" }],
];

/** The profile's GPU label value for a GFD product name, where known. */
export function acceleratorFor(profile: PlacementProfile, product: string): string | undefined {
    const a = ACCELERATORS.find(([re]) => re.test(baseProduct(product)))?.[1];
    return profile === "gke" ? a?.gke : profile === "eks" || profile === "karpenter" ? a?.aws : undefined;
}

export interface PlacementInput {
    placement: PlacementProfile;
    product?: string;
    accelerator?: string;
    migProfile?: string;
    minMemoryMiB?: number;
    taintKey: string;
    nodeSelector: Record<string, string>;
    tolerations: Toleration[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- plain node selector requirements */
/**
 * The node selector, the required node-affinity expressions common to every term, and the tolerations
 * of a pod that asks for GPUs. (The compute capability terms are GFD's: gpuPodSpec adds them for `gfd`.)
 */
export function gpuPlacement(p: PlacementInput): { nodeSelector: Record<string, string>; expressions: any[]; tolerations: any[] } {
    const gpuTaint = [{ key: p.taintKey, operator: "Exists", effect: "NoSchedule" }];
    const memory = (label: string) => (p.minMemoryMiB !== undefined ? [{ key: label, operator: "Gt", values: [String(p.minMemoryMiB - 1)] }] : []);
    const accel = p.accelerator ?? (p.product !== undefined ? acceleratorFor(p.placement, p.product) : undefined);
    switch (p.placement) {
        case "gfd":
            return { nodeSelector: p.product !== undefined ? { [GPU_PRODUCT_LABEL]: p.product } : {}, expressions: memory(GPU_MEMORY_LABEL), tolerations: gpuTaint };
        case "gke":
            return {
                nodeSelector: {
                    ...(accel !== undefined ? { [GKE_ACCELERATOR_LABEL]: accel } : {}),
                    ...(p.migProfile !== undefined ? { [GKE_PARTITION_LABEL]: p.migProfile } : {}),
                },
                expressions: [],
                tolerations: gpuTaint,
            };
        case "eks":
            return { nodeSelector: accel !== undefined ? { [EKS_GPU_NAME_LABEL]: accel } : {}, expressions: memory(EKS_GPU_MEMORY_LABEL), tolerations: gpuTaint };
        case "karpenter":
            return { nodeSelector: accel !== undefined ? { [KARPENTER_GPU_NAME_LABEL]: accel } : {}, expressions: memory(KARPENTER_GPU_MEMORY_LABEL), tolerations: gpuTaint };
        case "custom":
            return {
                nodeSelector: { ...p.nodeSelector },
                expressions: [],
                tolerations: p.tolerations.map((t) => ({ key: t.key, operator: t.operator, ...(t.value !== undefined ? { value: t.value } : {}), ...(t.effect !== undefined ? { effect: t.effect } : {}) })),
            };
    }
}

/**
 * Pure: can a pod with this node selector, required node-affinity terms and tolerations be placed on
 * this node, as the scheduler's NodeAffinity and TaintToleration filters decide? (Resources aside.)
 * Written here because no Node.js library evaluates node affinity; it follows
 * k8s.io/component-helpers/scheduling/corev1 (nodeaffinity, taints).
 */
export function nodeAdmits(node: any, pod: { nodeSelector?: Record<string, string>; terms?: any[]; tolerations?: any[] }): boolean {
    const labels: Record<string, string> = node?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(pod.nodeSelector ?? {})) {
        if (labels[k] !== v) {
            return false;
        }
    }
    const terms = pod.terms ?? [];
    if (terms.length > 0 && !terms.some((t) => (t.matchExpressions ?? []).every((e: any) => expressionHolds(labels, e)))) {
        return false;
    }
    for (const taint of node?.spec?.taints ?? []) {
        if (taint.effect !== "NoSchedule" && taint.effect !== "NoExecute") {
            continue;
        }
        if (!(pod.tolerations ?? []).some((t: any) => tolerates(t, taint))) {
            return false;
        }
    }
    return true;
}

function expressionHolds(labels: Record<string, string>, e: any): boolean {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
        case "In": return has && (e.values ?? []).includes(v);
        case "NotIn": return !has || !(e.values ?? []).includes(v);
        case "Exists": return has;
        case "DoesNotExist": return !has;
        case "Gt": case "Lt": {
            if (!has || !/^-?[0-9]+$/.test(v)) {
                return false;
            }
            const n = Number(v), bound = Number(e.values?.[0]);
            return e.operator === "Gt" ? n > bound : n < bound;
        }
        default: return false;
    }
}

function tolerates(t: any, taint: any): boolean {
    if (t.effect !== undefined && t.effect !== "" && t.effect !== taint.effect) {
        return false;
    }
    if (t.key === undefined || t.key === "") {
        return t.operator === "Exists";
    }
    if (t.key !== taint.key) {
        return false;
    }
    return t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "");
}

/** Pure: the labels a profile selects by, as `key=value` / `key>n` text for messages. */
export function describeSelection(pod: { nodeSelector?: Record<string, string>; terms?: any[] }): string {
    const parts = Object.entries(pod.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`);
    const first = pod.terms?.[0]?.matchExpressions ?? [];
    for (const e of first) {
        parts.push(e.operator === "Gt" ? `${e.key}>${e.values[0]}` : e.operator === "In" ? `${e.key} in (${e.values.join(",")})` : `${e.key} ${e.operator}`);
    }
    if ((pod.terms?.length ?? 0) > 1) {
        parts.push(`(or ${pod.terms!.length - 1} more capability term${pod.terms!.length > 2 ? "s" : ""})`);
    }
    return parts.join(", ");
}
/* eslint-enable @typescript-eslint/no-explicit-any */
