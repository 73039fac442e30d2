// The public argument types of NixImage and GpuWorkload: the stack config's sections as typed
// objects, with the same names, defaults and checks (components/config/). They are plain values, not
// `Input<T>`: each decides which resources exist and is checked, with every problem named, before
// anything is registered. Values that only flow into resources (the image reference, secrets) are
// `Input<T>` on the components themselves.
//
// The Python SDK is generated from these declarations (PulumiPlugin.yaml): no union types (a field
// that takes a count or a percentage is a string), and every name is unique in the package.

// Choices, as `const` objects with a type of the same name: TypeScript callers pass the strings
// ("build"), and the generated SDKs get enums (Pulumi's component packages need a literal union named).

/** What a substituter that does not answer means. */
export const OnCacheDown = { Build: "build", Fail: "fail" } as const;
export type OnCacheDown = typeof OnCacheDown[keyof typeof OnCacheDown];
/** How the image's layers are planned. */
export const LayerStrategy = { Popularity: "popularity", Equal: "equal", Stable: "stable" } as const;
export type LayerStrategy = typeof LayerStrategy[keyof typeof LayerStrategy];
/** How the image is pushed. */
export const Publisher = { Docker: "docker", Skopeo: "skopeo" } as const;
export type Publisher = typeof Publisher[keyof typeof Publisher];
/** A toleration's operator. */
export const TolerationOperator = { Exists: "Exists", Equal: "Equal" } as const;
export type TolerationOperator = typeof TolerationOperator[keyof typeof TolerationOperator];
/** A taint's effect. */
export const TaintEffect = { NoSchedule: "NoSchedule", PreferNoSchedule: "PreferNoSchedule", NoExecute: "NoExecute" } as const;
export type TaintEffect = typeof TaintEffect[keyof typeof TaintEffect];
/** The nodes' MIG strategy. */
export const MigStrategy = { Mixed: "mixed", Single: "single" } as const;
export type MigStrategy = typeof MigStrategy[keyof typeof MigStrategy];
/** Which node labels select GPU nodes. */
export const Placement = { Gfd: "gfd", Gke: "gke", Eks: "eks", Karpenter: "karpenter", Custom: "custom" } as const;
export type Placement = typeof Placement[keyof typeof Placement];
/** A health check's kind. */
export const CheckType = { Http: "http", Tcp: "tcp", Exec: "exec" } as const;
export type CheckType = typeof CheckType[keyof typeof CheckType];
/** A service or a run to completion. */
export const WorkloadKind = { Deployment: "Deployment", Job: "Job" } as const;
export type WorkloadKind = typeof WorkloadKind[keyof typeof WorkloadKind];
/** A Deployment's rollout. */
export const RolloutStrategy = { RollingUpdate: "RollingUpdate", Recreate: "Recreate" } as const;
export type RolloutStrategy = typeof RolloutStrategy[keyof typeof RolloutStrategy];
/** A Job's completion mode. */
export const CompletionMode = { NonIndexed: "NonIndexed", Indexed: "Indexed" } as const;
export type CompletionMode = typeof CompletionMode[keyof typeof CompletionMode];

/** An overlay of the dependency set, applied in order. */
export interface OverlaySection {
    /** lowerCamelCase overlay name; its file is `<entry dir>/overlay/<kebab-name>.nix`. */
    name: string;
    /**
     * Its arguments, declared in `<kebab-name>.args.json` next to it (strings, numbers, booleans,
     * lists of strings). Default: none, every argument at its declared default.
     */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema's Any: the argument kinds are declared per overlay
    args?: Record<string, any>;
}

/** The Nix side: entry, overlays, package set and Nix settings (stack config `nix`). */
export interface NixSection {
    /** Nix entry file, relative to `projectDir`. Default `nix/build_container.nix`. */
    entry?: string;
    /** Overlays applied in order. Default `[{ name: "replaceTorch" }]` (nixpkgs' torch-bin). */
    overlays?: OverlaySection[];
    /** Python package attribute names the image gets. Default `["numpy", "torch", "pytorch-lightning", "doctr"]`. */
    pythonPackages?: string[];
    /** The interpreter's nixpkgs attribute: `python3` (nixpkgs' default, cached), `python311` … Default `python3`. */
    python?: string;
    /** A project file returning the nixpkgs trees `{ nixpkgsStable; nixpkgsUnstable; }` (a mirror, a vendored nixpkgs). Default: the entry's pins. */
    sources?: string;
    /** CUDA compute capabilities like `9.0`. Default `[]`: nixpkgs' list (narrowing it builds CUDA code from source). */
    cudaCapabilities?: string[];
    /** The Nix system of the image: `x86_64-linux` or `aarch64-linux`. Default `x86_64-linux`. */
    system?: string;
    /** Binary cache URLs. Default: unset, the machine's nix.conf applies; `[]`: none. */
    substituters?: string[];
    /** `name:base64` keys the caches sign with. Default: the machine's. */
    trustedPublicKeys?: string[];
    /** Nix remote builders (`;`-separated machine lines); the SSH identity is `nixBuilderSshKey`. Default: the machine's. */
    builders?: string;
    /** Nix max-jobs. Default: the machine's. */
    maxJobs?: number;
    /** A substituter that does not answer: `build` (leave it out, saying so) or `fail`. Default `build`. */
    onCacheDown?: OnCacheDown;
    /** A Nix store URL the built image closure is copied to, signed with `nixSigningKey`. Default: none. */
    uploadTo?: string;
    /** Build in Nix's sandbox (true), or not. Default: the machine's nix.conf. */
    sandbox?: boolean;
}

/** The image and how it is layered (stack config `image`). */
export interface ImageSection {
    /** Repository in the registry, e.g. `ml/myproject`. Required unless `fromStack`. */
    name?: string;
    /** Build nothing: run the image the stack `org/project/stack` published, by digest. Default: build. */
    fromStack?: string;
    /** Explicit tag. Default: the Nix output hash. */
    tag?: string;
    /** Layer budget, 2..125. Default 100. */
    maxLayers?: number;
    /** `popularity`, `equal` or `stable` (stable keeps layer contents across package changes). Default `stable`. */
    layerStrategy?: LayerStrategy;
    /** Warn about layers larger than this many bytes. Default 10 GiB. */
    maxLayerBytes?: number;
}

/** The registry the image is pushed to (stack config `registry`). */
export interface RegistrySection {
    /** `host[:port]`. Required. */
    host: string;
    /** Push user, with the `registryPassword` secret. Default: anonymous or the credential helper. */
    username?: string;
    /** The cluster's read-only pull user (with `registryPullPassword`). Default: the push credentials. */
    pullUsername?: string;
    /** Plain HTTP (loopback hosts only). Default false. */
    insecure?: boolean;
    /** `docker` (the docker provider) or `skopeo` (daemonless). Default `docker`. */
    publisher?: Publisher;
    /** The docker publisher's daemon, `unix:///path.sock`. Default: the environment's. */
    dockerHost?: string;
    /** A docker credential helper (`ecr-login` runs `docker-credential-ecr-login`) giving short-lived push credentials. Default: none. */
    credentialHelper?: string;
}

/** A taint the pods tolerate (`custom` placement). */
export interface TolerationSection {
    /** Taint key. */
    key: string;
    /** `Exists` or `Equal`. */
    operator: TolerationOperator;
    /** Taint value (with `Equal`). */
    value?: string;
    /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`. Default: every effect. */
    effect?: TaintEffect;
}

/** What GPU the pods request and where they go (stack config `gpu`). */
export interface GpuSection {
    /** GFD `nvidia.com/gpu.product` value, e.g. `NVIDIA-H100-80GB-HBM3`; checked against `cudaCapabilities`. Required when GPUs are requested. */
    product?: string;
    /** Whole GPUs per pod, 0..16. Default 1. */
    count?: number;
    /** The extended resource: `nvidia.com/gpu`, or a renamed shared one. Default `nvidia.com/gpu`. */
    resourceName?: string;
    /** A MIG profile like `1g.10gb` (excludes `count`). Default: whole GPUs. */
    migProfile?: string;
    /** MIG slices per pod. Default 1. */
    migCount?: number;
    /** The nodes' MIG strategy: `mixed` or `single`. Default `mixed`. */
    migStrategy?: MigStrategy;
    /** Lower bound of `nvidia.com/gpu.memory` (MiB). Default: none. */
    minMemoryMiB?: number;
    /** The GPU nodes' taint key the pods tolerate. Default `nvidia.com/gpu`. */
    taintKey?: string;
    /** A RuntimeClass that must exist in the cluster. Default: none. */
    runtimeClassName?: string;
    /** Which node labels select GPU nodes: `gfd`, `gke`, `eks`, `karpenter` or `custom`. Default `gfd`. */
    placement?: Placement;
    /** The profile's GPU label value (GKE `nvidia-h100-80gb`, AWS `h100`). Default: from `product`. */
    accelerator?: string;
    /** `custom` placement: the node selector. */
    nodeSelector?: Record<string, string>;
    /** `custom` placement: the taints to tolerate. */
    tolerations?: TolerationSection[];
}

/** The cluster and namespace (stack config `cluster`). */
export interface ClusterSection {
    /** DNS label naming the cluster (the provider's clusterIdentifier). Required. */
    name: string;
    /** The namespace. Required. */
    namespace: string;
    /** Create (and own) the namespace; false: deploy into an existing one, never created or deleted. Default true. */
    createNamespace?: boolean;
    /** Kubeconfig context. Default: the kubeconfig's current one. */
    context?: string;
    /** An existing pull secret in the namespace. Default: one made from the registry credentials, when there are any. */
    imagePullSecret?: string;
    /** Write the manifests to this project subdirectory instead of applying them. Default: apply. */
    renderYamlTo?: string;
}

/** The readiness/startup check of a Deployment. */
export interface ProbeSection {
    /** `http`, `tcp` or `exec`. */
    type: CheckType;
    /** HTTP path (`http`). */
    path?: string;
    /** Port (`http`, `tcp`). Default: `port`. */
    port?: number;
    /** Command (`exec`). */
    command?: string[];
    /** How long the model may take to load before the pod is restarted. Default 1800. */
    startupTimeoutSeconds?: number;
    /** Seconds between checks. Default 10. */
    periodSeconds?: number;
    /** Also use this check for liveness. Default true. */
    liveness?: boolean;
}

/** A separate liveness check (e.g. `/livez` while readiness is `/readyz`). */
export interface LivenessSection {
    /** `http`, `tcp` or `exec`. */
    type: CheckType;
    /** HTTP path (`http`). */
    path?: string;
    /** Port (`http`, `tcp`). Default: `port`. */
    port?: number;
    /** Command (`exec`). */
    command?: string[];
    /** Seconds between checks. Default 10. */
    periodSeconds?: number;
    /** Failures before the container is restarted, 1..100. Default 3. */
    failureThreshold?: number;
}

/** Where model weights and the torch/Triton caches live (`/cache`). */
export interface CacheSection {
    /** An emptyDir's size limit. Default `20Gi`. */
    sizeLimit?: string;
    /** An existing PersistentVolumeClaim instead of an emptyDir. */
    claimName?: string;
    /** Mount the claim read-only (weights filled beforehand). Default true. */
    readOnly?: boolean;
}

/** A PodDisruptionBudget: exactly one of the two, a count (`"1"`) or a percentage (`"50%"`). */
export interface DisruptionBudgetSection {
    /** Pods that must stay available. */
    minAvailable?: string;
    /** Pods that may be unavailable. */
    maxUnavailable?: string;
}

/** The workload (stack config `deployment`). */
export interface DeploymentSection {
    /** Name of the Deployment or Job. Required. */
    name: string;
    /** `Deployment` (a service) or `Job` (run to completion). Default `Deployment`. */
    kind?: WorkloadKind;
    /** CPU request. Default `4`. */
    cpu?: string;
    /** Memory request and limit. Default `32Gi`. */
    memory?: string;
    /** Memory-backed /dev/shm size. Default `8Gi`. */
    shmSize?: string;
    /** How long `up` waits for the rollout or the Job. Default 600. */
    rolloutTimeoutSeconds?: number;
    /** Container port (named `http`, with a Service). Default: none. */
    port?: number;
    /** PriorityClass of the pods. Default: none. */
    priorityClassName?: string;
    /** Extra pod labels. */
    podLabels?: Record<string, string>;
    /** Extra pod annotations. */
    podAnnotations?: Record<string, string>;
    /** Deployment: replicas. Default 1. */
    replicas?: number;
    /** Deployment: `RollingUpdate` (maxSurge 0) or `Recreate`. Default `RollingUpdate`. */
    strategy?: RolloutStrategy;
    /** Deployment: minReadySeconds. Default 0. */
    minReadySeconds?: number;
    /** Deployment: the readiness/startup check. Default: none. */
    probe?: ProbeSection;
    /** Deployment: a separate liveness check. Default: the probe's. */
    liveness?: LivenessSection;
    /** Deployment: a PodDisruptionBudget. Default: none. */
    podDisruptionBudget?: DisruptionBudgetSection;
    /** Job: retries. Default 0. */
    backoffLimit?: number;
    /** Job: completions. Default 1. */
    completions?: number;
    /** Job: parallelism. Default 1. */
    parallelism?: number;
    /** Job: `NonIndexed` or `Indexed`. Default `NonIndexed`. */
    completionMode?: CompletionMode;
    /** Job: activeDeadlineSeconds. Default: none. */
    activeDeadlineSeconds?: number;
    /** Job: ttlSecondsAfterFinished. Default: none. */
    ttlSecondsAfterFinished?: number;
    /** Job: `up` waits for completion (true) or only for the start (false). Default true. */
    wait?: boolean;
    /** Job: a change may replace a Job that is still running. Default false. */
    replaceRunning?: boolean;
    /** The pods' service account (its token is mounted only then). Default: none. */
    serviceAccountName?: string;
    /** Extra environment variables. */
    env?: Record<string, string>;
    /** Arguments after the image's entrypoint. Default: the image's. */
    args?: string[];
    /** The cache volume. Default: a 20Gi emptyDir. */
    cache?: CacheSection;
}

/** The workload a new image rolls out to: what the preview explanation names. */
export interface RolloutSection {
    /** `Deployment` or `Job`. */
    kind: WorkloadKind;
    /** Its namespace. */
    namespace: string;
    /** Its name. */
    name: string;
    /** Deployment replicas. Default 1. */
    replicas?: number;
    /** Deployment strategy: `RollingUpdate` or `Recreate`. Default `RollingUpdate`. */
    strategy?: RolloutStrategy;
}

/** Pure: a section as the stack-config checker reads it (a budget's count as a number). */
export function sectionValue(section: object | undefined): unknown {
    if (section === undefined) {
        return undefined;
    }
    const strip = (v: unknown): unknown => Array.isArray(v) ? v.map(strip)
        : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined && x !== null).map(([k, x]) => [k, strip(x)]))
        : v;
    const value = strip(section) as Record<string, unknown>;
    const pdb = value.podDisruptionBudget as Record<string, unknown> | undefined;
    if (pdb !== undefined) {
        for (const k of ["minAvailable", "maxUnavailable"]) {
            if (typeof pdb[k] === "string" && /^[0-9]+$/.test(pdb[k] as string)) {
                pdb[k] = Number(pdb[k]);
            }
        }
    }
    return value;
}
