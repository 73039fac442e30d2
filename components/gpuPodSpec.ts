// Pure builders of the Kubernetes objects that run the image on GPU nodes. No Pulumi imports:
// tests call them directly.
import { StackConfig } from "./config";

type Gpu = StackConfig["gpu"];
type Dep = StackConfig["deployment"];

export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const GPU_MEMORY_LABEL = "nvidia.com/gpu.memory";

/** The extended resource and count the container asks for, or undefined for a CPU-only pod. */
export function gpuResource(gpu: Gpu): { name: string; count: number } | undefined {
    if (gpu.migProfile !== undefined) {
        return { name: `nvidia.com/mig-${gpu.migProfile}`, count: gpu.migCount };
    }
    return gpu.count > 0 ? { name: "nvidia.com/gpu", count: gpu.count } : undefined;
}

export function appLabels(dep: Dep): Record<string, string> {
    return {
        "app.kubernetes.io/name": dep.name,
        "app.kubernetes.io/managed-by": "nix-gpu-deploy",
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
}

/** The pod template: GPU limits or one MIG resource, taint toleration, GFD selectors, /dev/shm, hardening. */
export function gpuPodTemplate(i: PodTemplateInput): any {
    const res = gpuResource(i.gpu);
    const limits: Record<string, string> = { memory: i.deployment.memory };
    if (res !== undefined) {
        limits[res.name] = String(res.count);
    }
    const env: any[] = [];
    if (res === undefined) {
        // No GPU requested: with the NVIDIA runtime as the node default, make sure none is exposed.
        env.push({ name: "NVIDIA_VISIBLE_DEVICES", value: "void" });
    }
    const matchExpressions: any[] = [];
    if (res !== undefined && i.gpu.minMemoryMiB !== undefined) {
        matchExpressions.push({ key: GPU_MEMORY_LABEL, operator: "Gt", values: [String(i.gpu.minMemoryMiB - 1)] });
    }
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
        containers: [{
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
        }],
        volumes: [
            { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: i.deployment.shmSize } },
            { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
        ],
    };
    if (res !== undefined) {
        if (i.gpu.product !== undefined) {
            spec.nodeSelector = { [GPU_PRODUCT_LABEL]: i.gpu.product };
        }
        if (matchExpressions.length > 0) {
            spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } } };
        }
        spec.tolerations = [{ key: i.gpu.taintKey, operator: "Exists", effect: "NoSchedule" }];
        if (i.gpu.runtimeClassName !== undefined) {
            spec.runtimeClassName = i.gpu.runtimeClassName;
        }
    }
    if (i.pullSecret !== undefined) {
        spec.imagePullSecrets = [{ name: i.pullSecret }];
    }
    return { metadata: { labels: appLabels(i.deployment) }, spec };
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
        progressDeadlineSeconds: i.deployment.rolloutTimeoutSeconds,
        revisionHistoryLimit: 5,
        template: gpuPodTemplate(i),
    };
}

/** `.dockerconfigjson` for a registry pull secret. */
export function dockerConfigJson(registry: string, username: string, password: string): string {
    const auth = Buffer.from(`${username}:${password}`).toString("base64");
    return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
