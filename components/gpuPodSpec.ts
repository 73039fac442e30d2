// Pure builders of the Kubernetes objects that run the image on GPU nodes. No Pulumi imports:
// tests call them directly.
import { DeploymentConfig, GpuConfig, KUBE_ARCH, NixSystem, ProbeConfig } from "./config";
import { GPU_MEMORY_LABEL, GPU_PRODUCT_LABEL, capabilityTerms } from "./gpuModel";

export { GPU_MEMORY_LABEL, GPU_PRODUCT_LABEL } from "./gpuModel";

type Gpu = GpuConfig;
type Dep = DeploymentConfig;

/**
 * The extended resource and count the container asks for, or undefined for a CPU-only pod: a MIG
 * device (`nvidia.com/mig-<profile>` under the mixed strategy; under the single strategy MIG devices
 * are `nvidia.com/gpu` on nodes labelled with the MIG product), or whole/shared GPUs under
 * `gpu.resourceName` (`nvidia.com/gpu`, or `nvidia.com/gpu.shared` when time-slicing renames it).
 */
export function gpuResource(gpu: Gpu): { name: string; count: number } | undefined {
    if (gpu.migProfile !== undefined) {
        return gpu.migStrategy === "single"
            ? { name: "nvidia.com/gpu", count: gpu.migCount }
            : { name: `nvidia.com/mig-${gpu.migProfile}`, count: gpu.migCount };
    }
    return gpu.count > 0 ? { name: gpu.resourceName ?? "nvidia.com/gpu", count: gpu.count } : undefined;
}

export function appLabels(dep: Pick<Dep, "name">): Record<string, string> {
    return {
        "app.kubernetes.io/name": dep.name,
        "app.kubernetes.io/managed-by": "nix-gpu-deploy",
    };
}

/**
 * With a read-only root filesystem every library that caches (pip, torch hub, Hugging Face, Triton,
 * the CUDA JIT cache for PTX, matplotlib) must write under the writable /tmp; HOME too.
 */
export const CACHE_ENV: { name: string; value: string }[] = [
    { name: "HOME", value: "/tmp" },
    { name: "XDG_CACHE_HOME", value: "/tmp/.cache" },
    { name: "XDG_CONFIG_HOME", value: "/tmp/.config" },
    { name: "CUDA_CACHE_PATH", value: "/tmp/.cache/nv" },
    { name: "TORCH_HOME", value: "/tmp/.cache/torch" },
    { name: "HF_HOME", value: "/tmp/.cache/huggingface" },
    { name: "TRITON_CACHE_DIR", value: "/tmp/.cache/triton" },
    { name: "MPLCONFIGDIR", value: "/tmp/.config/matplotlib" },
];

/* eslint-disable @typescript-eslint/no-explicit-any -- plain manifests, typed by the k8s SDK at the call site */
export interface PodTemplateInput {
    gpu: Gpu;
    deployment: Dep;
    /** Digest-pinned image reference (a string, or a Pulumi output placed as is). */
    image: unknown;
    /** Name of a docker-registry Secret in the namespace, if the registry needs credentials. */
    pullSecret?: string;
    /** `nix.cudaCapabilities`: nodes are selected by GFD compute capability labels to match. */
    cudaCapabilities?: string[];
    /** `nix.system`: the image's platform; nodes are selected by `kubernetes.io/arch` to match. */
    system?: NixSystem;
}

/** The well-known node label of a node's CPU architecture (GOARCH names). */
export const ARCH_LABEL = "kubernetes.io/arch";

/** The three probes from one check: a long startup window (loading weights), then readiness and liveness. */
export function probes(p: ProbeConfig | undefined): Record<string, any> {
    if (p === undefined) {
        return {};
    }
    const check: any = p.type === "http" ? { httpGet: { path: p.path ?? "/", port: p.port } }
        : p.type === "tcp" ? { tcpSocket: { port: p.port } }
            : { exec: { command: p.command } };
    const out: Record<string, any> = {
        startupProbe: { ...check, periodSeconds: p.periodSeconds, timeoutSeconds: 5, failureThreshold: Math.max(1, Math.ceil(p.startupTimeoutSeconds / p.periodSeconds)) },
        readinessProbe: { ...check, periodSeconds: p.periodSeconds, timeoutSeconds: 5, failureThreshold: 3, successThreshold: 1 },
    };
    if (p.liveness) {
        out.livenessProbe = { ...check, periodSeconds: Math.max(p.periodSeconds, 20), timeoutSeconds: 10, failureThreshold: 3 };
    }
    return out;
}

/** The pod template: GPU limits or one MIG resource, taint toleration, GFD selectors, /dev/shm, hardening. */
export function gpuPodTemplate(i: PodTemplateInput): any {
    const res = gpuResource(i.gpu);
    const limits: Record<string, string> = { memory: i.deployment.memory };
    if (res !== undefined) {
        limits[res.name] = String(res.count);
    }
    const env: any[] = [...CACHE_ENV];
    if (res === undefined) {
        // No GPU requested: with the NVIDIA runtime as the node default, make sure none is exposed.
        env.push({ name: "NVIDIA_VISIBLE_DEVICES", value: "void" });
    }
    const matchExpressions: any[] = [];
    if (res !== undefined && i.gpu.minMemoryMiB !== undefined) {
        matchExpressions.push({ key: GPU_MEMORY_LABEL, operator: "Gt", values: [String(i.gpu.minMemoryMiB - 1)] });
    }
    const isJob = i.deployment.kind === "Job";
    const container: any = {
        name: i.deployment.name,
        image: i.image,
        imagePullPolicy: "IfNotPresent",
        env,
        resources: {
            requests: { cpu: i.deployment.cpu, memory: i.deployment.memory },
            limits,
        },
        securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [
            { name: "dshm", mountPath: "/dev/shm" },
            { name: "tmp", mountPath: "/tmp" },
        ],
        ...(i.deployment.port !== undefined ? { ports: [{ name: "http", containerPort: i.deployment.port, protocol: "TCP" }] } : {}),
        ...(isJob ? {} : probes(i.deployment.probe)),
    };
    const spec: any = {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 60,
        securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            fsGroup: 65532,
            seccompProfile: { type: "RuntimeDefault" },
        },
        containers: [container],
        volumes: [
            { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: i.deployment.shmSize } },
            { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
        ],
    };
    if (isJob) {
        // A failed pod counts against backoffLimit; the Job controller starts a new one.
        spec.restartPolicy = "Never";
    }
    if (i.deployment.priorityClassName !== undefined) {
        spec.priorityClassName = i.deployment.priorityClassName;
    }
    // An image runs only on nodes of its architecture (an arm64 image on an amd64 node: exec format error).
    if (i.system !== undefined) {
        spec.nodeSelector = { [ARCH_LABEL]: KUBE_ARCH[i.system] };
    }
    if (res !== undefined) {
        if (i.gpu.product !== undefined) {
            spec.nodeSelector = { ...(spec.nodeSelector ?? {}), [GPU_PRODUCT_LABEL]: i.gpu.product };
        }
        const terms = capabilityTerms(i.cudaCapabilities ?? [], matchExpressions);
        if (terms.length > 0) {
            spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
        }
        spec.tolerations = [{ key: i.gpu.taintKey, operator: "Exists", effect: "NoSchedule" }];
        if (i.gpu.runtimeClassName !== undefined) {
            spec.runtimeClassName = i.gpu.runtimeClassName;
        }
    }
    if (i.pullSecret !== undefined) {
        spec.imagePullSecrets = [{ name: i.pullSecret }];
    }
    // The store path and other deploy-time notes stay off the template: changing them rolls nothing out.
    const metadata: any = { labels: { ...(i.deployment.podLabels ?? {}), ...appLabels(i.deployment) } };
    if (Object.keys(i.deployment.podAnnotations ?? {}).length > 0) {
        metadata.annotations = { ...i.deployment.podAnnotations };
    }
    return { metadata, spec };
}

/** A rollout that never needs a spare GPU: Recreate, or RollingUpdate with maxSurge 0. */
export function rolloutStrategy(dep: Dep): any {
    return dep.strategy === "Recreate"
        ? { type: "Recreate" }
        : { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
}

/** The Deployment spec. */
export function deploymentSpec(i: PodTemplateInput): any {
    return {
        replicas: i.deployment.replicas,
        selector: { matchLabels: appLabels(i.deployment) },
        strategy: rolloutStrategy(i.deployment),
        // Kubernetes' default (0) is left out: the provider shows a zero it stores as absent as an
        // addition (`+ minReadySeconds: 0`) in every diff of the Deployment.
        ...((i.deployment.minReadySeconds ?? 0) > 0 ? { minReadySeconds: i.deployment.minReadySeconds } : {}),
        progressDeadlineSeconds: i.deployment.rolloutTimeoutSeconds,
        revisionHistoryLimit: 5,
        template: gpuPodTemplate(i),
    };
}

/** The Job spec (run to completion); the selector is the Job controller's own. */
export function jobSpec(i: PodTemplateInput): any {
    const j = i.deployment.job;
    const spec: any = {
        backoffLimit: j.backoffLimit,
        completions: j.completions,
        parallelism: j.parallelism,
        template: gpuPodTemplate(i),
    };
    if (j.activeDeadlineSeconds !== undefined) {
        spec.activeDeadlineSeconds = j.activeDeadlineSeconds;
    }
    if (j.ttlSecondsAfterFinished !== undefined) {
        spec.ttlSecondsAfterFinished = j.ttlSecondsAfterFinished;
    }
    return spec;
}

/** The PodDisruptionBudget spec, if one is configured. */
export function disruptionBudgetSpec(dep: Dep): any | undefined {
    if (dep.podDisruptionBudget === undefined) {
        return undefined;
    }
    return { selector: { matchLabels: appLabels(dep) }, ...dep.podDisruptionBudget };
}

/** `.dockerconfigjson` for a registry pull secret. */
export function dockerConfigJson(registry: string, username: string, password: string): string {
    const auth = Buffer.from(`${username}:${password}`).toString("base64");
    return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
