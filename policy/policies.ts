// The checks of the nix-gpu-deploy policy pack, as pure functions over the objects a program
// registers (type and inputs): the pack (index.ts) reports what they return, and the unit tests call
// them directly on violating objects and on the ones nix-gpu-deploy itself renders.

/** A Kubernetes object as a policy sees it: its Pulumi type (`kubernetes:apps/v1:Deployment`) and inputs. */
export interface PolicyObject {
    type: string;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes inputs are arbitrary JSON
    props: Record<string, any>;
    urn?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
type Json = any;

/** The default taint key of NVIDIA GPU nodes (the GPU Operator's, and GKE's and EKS's GPU node pools'). */
export const DEFAULT_GPU_TAINT_KEYS = ["nvidia.com/gpu"];

/** The owner annotation every object a nix-gpu-deploy stack creates carries. */
export const OWNER_ANNOTATION = "nix-gpu-deploy/owner";

/** Pure: the pod spec of a workload object (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob), else undefined. */
export function podSpecOf(o: PolicyObject): Json | undefined {
    const m = /^kubernetes:(core\/v1:Pod|apps\/v1:(Deployment|StatefulSet|DaemonSet|ReplicaSet)|batch\/v1:(Job|CronJob))$/.exec(o.type);
    if (m === null) {
        return undefined;
    }
    const spec = o.props?.spec;
    if (o.type === "kubernetes:core/v1:Pod") {
        return spec;
    }
    if (o.type === "kubernetes:batch/v1:CronJob") {
        return spec?.jobTemplate?.spec?.template?.spec;
    }
    return spec?.template?.spec;
}

function containersOf(spec: Json): Json[] {
    return [...(Array.isArray(spec?.initContainers) ? spec.initContainers : []), ...(Array.isArray(spec?.containers) ? spec.containers : [])];
}

/** Pure: whether a pod spec requests a GPU (any `nvidia.com/…` extended resource above zero). */
export function requestsGpu(spec: Json): boolean {
    return containersOf(spec).some((c) => ["limits", "requests"].some((k) => Object.entries(c?.resources?.[k] ?? {})
        .some(([name, v]) => name.startsWith("nvidia.com/") && String(v) !== "0")));
}

const where = (o: PolicyObject) => `${o.type.split(":").pop()} ${o.props?.metadata?.namespace ?? ""}${o.props?.metadata?.namespace ? "/" : ""}${o.props?.metadata?.name ?? "(unnamed)"}`;

/** Pure: a GPU workload's containers reference their images by digest (`…@sha256:<64 hex>`). Unknown images (a preview) are not judged. */
export function imageByDigest(o: PolicyObject): string[] {
    const spec = podSpecOf(o);
    if (spec === undefined || !requestsGpu(spec)) {
        return [];
    }
    return containersOf(spec).filter((c) => typeof c?.image === "string" && !/@sha256:[a-f0-9]{64}$/.test(c.image))
        .map((c) => `${where(o)}: container ${c.name} runs image ${c.image} by tag; a GPU workload runs an image by digest (…@sha256:…), so every node runs the same bytes`);
}

/** Pure: a GPU request has the GPU nodes' toleration and a placement selector (a node selector beyond the architecture, or required node affinity). */
export function gpuPlacement(o: PolicyObject, taintKeys: string[] = DEFAULT_GPU_TAINT_KEYS): string[] {
    const spec = podSpecOf(o);
    if (spec === undefined || !requestsGpu(spec)) {
        return [];
    }
    const problems: string[] = [];
    const tolerations: Json[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
    const tolerated = tolerations.some((t) => (t?.operator === "Exists" && (t.key === undefined || t.key === "")) || taintKeys.includes(t?.key));
    if (!tolerated) {
        problems.push(`${where(o)}: requests a GPU but tolerates none of the GPU taints (${taintKeys.join(", ")}): it stays Pending on tainted GPU nodes, or runs on a node without one`);
    }
    const selector = Object.keys(spec.nodeSelector ?? {}).filter((k) => k !== "kubernetes.io/arch");
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    if (selector.length === 0 && !(Array.isArray(terms) && terms.length > 0)) {
        problems.push(`${where(o)}: requests a GPU but selects no GPU nodes (no node selector or required node affinity on a GPU label): the scheduler may place it on any GPU model`);
    }
    return problems;
}

/** Pure: every container runs as non-root, with a read-only root filesystem and no privilege escalation. */
export function hardenedContainers(o: PolicyObject): string[] {
    const spec = podSpecOf(o);
    if (spec === undefined) {
        return [];
    }
    const podNonRoot = spec.securityContext?.runAsNonRoot === true;
    return containersOf(spec).flatMap((c) => {
        const sc = c?.securityContext ?? {};
        const missing = [
            ...(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false) ? [] : ["runAsNonRoot: true"]),
            ...(sc.readOnlyRootFilesystem === true ? [] : ["readOnlyRootFilesystem: true"]),
            ...(sc.allowPrivilegeEscalation === false ? [] : ["allowPrivilegeEscalation: false"]),
        ];
        return missing.length === 0 ? [] : [`${where(o)}: container ${c?.name} lacks ${missing.join(", ")}`];
    });
}

/** Pure: no `NVIDIA_VISIBLE_DEVICES=all` in a pod that requests no GPU (it would see every GPU of the node, unaccounted). */
export function visibleDevicesWithoutGpu(o: PolicyObject): string[] {
    const spec = podSpecOf(o);
    if (spec === undefined || requestsGpu(spec)) {
        return [];
    }
    return containersOf(spec).filter((c) => (Array.isArray(c?.env) ? c.env : []).some((e: Json) => e?.name === "NVIDIA_VISIBLE_DEVICES" && e?.value === "all"))
        .map((c) => `${where(o)}: container ${c.name} sets NVIDIA_VISIBLE_DEVICES=all but requests no GPU: it would use every GPU of its node outside the scheduler's accounting`);
}

/**
 * Pure: the namespace is the stack's. Every Namespace the stack creates carries the owner annotation,
 * and every GPU workload runs in a namespace the stack creates. Unknown names (a preview) are not judged.
 */
export function namespaceOwnership(resources: PolicyObject[]): Array<{ message: string; urn?: string }> {
    const namespaces = resources.filter((r) => r.type === "kubernetes:core/v1:Namespace");
    const problems: Array<{ message: string; urn?: string }> = [];
    for (const ns of namespaces) {
        if (typeof ns.props?.metadata?.annotations?.[OWNER_ANNOTATION] !== "string") {
            problems.push({ message: `Namespace ${ns.props?.metadata?.name}: carries no ${OWNER_ANNOTATION} annotation, so no stack can tell it is this one's`, urn: ns.urn });
        }
    }
    const owned = new Set(namespaces.map((n) => n.props?.metadata?.name).filter((n) => typeof n === "string"));
    for (const r of resources) {
        const spec = podSpecOf(r);
        const ns = r.props?.metadata?.namespace;
        if (spec !== undefined && requestsGpu(spec) && typeof ns === "string" && !owned.has(ns)) {
            problems.push({ message: `${where(r)}: runs in namespace ${ns}, which this stack does not create (cluster.createNamespace: true makes it the stack's)`, urn: r.urn });
        }
    }
    return problems;
}
