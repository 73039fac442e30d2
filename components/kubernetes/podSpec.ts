// Pure builders of the Kubernetes objects that run the image on GPU nodes. No Pulumi imports:
// tests call them directly.
import { CacheConfig, DeploymentConfig, GpuConfig, KUBE_ARCH, LivenessConfig, NixSystem, ProbeConfig } from "../config";
import { capabilityTerms } from "./gpuModel";
import { gpuPlacement } from "./placement";

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
 * With a read-only root filesystem every library that caches must write somewhere writable: HOME,
 * pip and matplotlib under /tmp (a small emptyDir); model downloads (Hugging Face, torch hub) and the
 * compiler caches (Triton, inductor, the CUDA JIT cache for PTX) under the cache volume (`cacheVolume`).
 */
export const CACHE_ENV: { name: string; value: string }[] = [
    { name: "HOME", value: "/tmp" },
    { name: "XDG_CACHE_HOME", value: "/tmp/.cache" },
    { name: "XDG_CONFIG_HOME", value: "/tmp/.config" },
    { name: "MPLCONFIGDIR", value: "/tmp/.config/matplotlib" },
];

/** Where the cache volume is mounted. */
export const CACHE_MOUNT = "/cache";

/**
 * The cache volume and where each cache goes. An emptyDir (or a writable claim) holds them all at
 * /cache; a read-only claim (weights filled beforehand) holds the model caches, read with the hubs
 * offline, while the compiler caches go to a size-limited emptyDir at /cache-rw.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plain manifests
export function cacheVolume(cache: CacheConfig): { volumes: any[]; mounts: any[]; env: { name: string; value: string }[] } {
    const models = (dir: string) => [{ name: "HF_HOME", value: `${dir}/huggingface` }, { name: "TORCH_HOME", value: `${dir}/torch` }];
    const compilers = (dir: string) => [
        { name: "TRITON_CACHE_DIR", value: `${dir}/triton` },
        { name: "TORCHINDUCTOR_CACHE_DIR", value: `${dir}/inductor` },
        { name: "CUDA_CACHE_PATH", value: `${dir}/nv` },
    ];
    if (cache.kind === "emptyDir") {
        return { volumes: [{ name: "cache", emptyDir: { sizeLimit: cache.sizeLimit } }], mounts: [{ name: "cache", mountPath: CACHE_MOUNT }], env: [...models(CACHE_MOUNT), ...compilers(CACHE_MOUNT)] };
    }
    const claim = { name: "cache", persistentVolumeClaim: { claimName: cache.claimName, ...(cache.readOnly ? { readOnly: true } : {}) } };
    if (!cache.readOnly) {
        return { volumes: [claim], mounts: [{ name: "cache", mountPath: CACHE_MOUNT }], env: [...models(CACHE_MOUNT), ...compilers(CACHE_MOUNT)] };
    }
    return {
        volumes: [claim, { name: "cache-rw", emptyDir: { sizeLimit: cache.sizeLimit } }],
        mounts: [{ name: "cache", mountPath: CACHE_MOUNT, readOnly: true }, { name: "cache-rw", mountPath: `${CACHE_MOUNT}-rw` }],
        env: [...models(CACHE_MOUNT), { name: "HF_HUB_OFFLINE", value: "1" }, ...compilers(`${CACHE_MOUNT}-rw`)],
    };
}

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
    const check = checkOf(p);
    const out: Record<string, any> = {
        startupProbe: { ...check, periodSeconds: p.periodSeconds, timeoutSeconds: 5, failureThreshold: Math.max(1, Math.ceil(p.startupTimeoutSeconds / p.periodSeconds)) },
        readinessProbe: { ...check, periodSeconds: p.periodSeconds, timeoutSeconds: 5, failureThreshold: 3, successThreshold: 1 },
    };
    if (p.liveness) {
        out.livenessProbe = { ...check, periodSeconds: Math.max(p.periodSeconds, 20), timeoutSeconds: 10, failureThreshold: 3 };
    }
    return out;
}

/** A liveness probe of its own check (`deployment.liveness`). */
export function livenessProbe(l: LivenessConfig): any {
    return { ...checkOf(l), periodSeconds: l.periodSeconds, timeoutSeconds: 10, failureThreshold: l.failureThreshold };
}

/** The handler of a probe: an HTTP GET, a TCP connect or a command. */
function checkOf(p: Pick<ProbeConfig, "type" | "path" | "port" | "command">): any {
    return p.type === "http" ? { httpGet: { path: p.path ?? "/", port: p.port } }
        : p.type === "tcp" ? { tcpSocket: { port: p.port } }
            : { exec: { command: p.command } };
}

/** The pod template: GPU limits or one MIG resource, taint toleration, GFD selectors, /dev/shm, hardening. */
export function gpuPodTemplate(i: PodTemplateInput): any {
    const res = gpuResource(i.gpu);
    const limits: Record<string, string> = { memory: i.deployment.memory };
    if (res !== undefined) {
        limits[res.name] = String(res.count);
    }
    const cache = cacheVolume(i.deployment.cache);
    const env: any[] = [...CACHE_ENV, ...cache.env, ...Object.entries(i.deployment.env).map(([name, value]) => ({ name, value }))];
    if (res === undefined) {
        // No GPU requested: with the NVIDIA runtime as the node default, make sure none is exposed.
        env.push({ name: "NVIDIA_VISIBLE_DEVICES", value: "void" });
    }
    const placement = gpuPlacement(i.gpu);
    const isJob = i.deployment.kind === "Job";
    const checks = isJob ? {} : probes(i.deployment.probe);
    if (!isJob && i.deployment.liveness !== undefined) {
        checks.livenessProbe = livenessProbe(i.deployment.liveness);
    }
    const container: any = {
        name: i.deployment.name,
        image: i.image,
        imagePullPolicy: "IfNotPresent",
        ...(i.deployment.args !== undefined ? { args: i.deployment.args } : {}),
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
            ...cache.mounts,
        ],
        ...(i.deployment.port !== undefined ? { ports: [{ name: "http", containerPort: i.deployment.port, protocol: "TCP" }] } : {}),
        ...checks,
    };
    const spec: any = {
        // The API token only for a named service account (IRSA and Workload Identity read it).
        ...(i.deployment.serviceAccountName !== undefined ? { serviceAccountName: i.deployment.serviceAccountName } : { automountServiceAccountToken: false }),
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
            ...cache.volumes,
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
        if (Object.keys(placement.nodeSelector).length > 0) {
            spec.nodeSelector = { ...(spec.nodeSelector ?? {}), ...placement.nodeSelector };
        }
        // The compute capability labels are GFD's: other profiles rely on the preview's product check.
        const terms = i.gpu.placement === "gfd" ? capabilityTerms(i.cudaCapabilities ?? [], placement.expressions)
            : placement.expressions.length > 0 ? [{ matchExpressions: placement.expressions }] : [];
        if (terms.length > 0) {
            spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
        }
        if (placement.tolerations.length > 0) {
            spec.tolerations = placement.tolerations;
        }
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
        // A pod ended by a disruption (node drain, preemption, eviction: condition DisruptionTarget)
        // is not a failure of the run: it is replaced without counting against backoffLimit.
        podFailurePolicy: { rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] },
        template: gpuPodTemplate(i),
    };
    if (j.completionMode === "Indexed") {
        spec.completionMode = "Indexed";
    }
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

/** The Service in front of a Deployment's `deployment.port` (ClusterIP, port name `http`). */
export function serviceSpec(dep: Dep): any | undefined {
    if (dep.port === undefined || dep.kind === "Job") {
        return undefined;
    }
    return { type: "ClusterIP", selector: appLabels(dep), ports: [{ name: "http", port: dep.port, targetPort: "http", protocol: "TCP" }] };
}

/** `.dockerconfigjson` for a registry pull secret. */
export function dockerConfigJson(registry: string, username: string, password: string): string {
    const auth = Buffer.from(`${username}:${password}`).toString("base64");
    return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
