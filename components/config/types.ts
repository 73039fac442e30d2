// The stack config's shape, its keys and defaults (components/config/: the checks are by section).
export const PROJECT = "nix-gpu-deploy";

export type Publisher = "docker" | "skopeo";
export type RolloutStrategy = "Recreate" | "RollingUpdate";
export type LayerStrategy = "popularity" | "equal" | "stable";
export type OverlayArgValue = string | number | boolean | string[];

export interface OverlayConfig {
    /** lowerCamelCase overlay name; its file is `<entry dir>/overlay/<kebab-case name>.nix`. */
    name: string;
    /** Arguments passed to the overlay function (JSON-encoded for Nix). */
    args: Record<string, OverlayArgValue>;
}

/**
 * Nix settings a stack passes to every Nix call. Each one left unset is not passed at all, so the
 * machine's own nix.conf applies (cache.nixos.org, its builders); a set one overrides it for this
 * stack only.
 */
export interface NixSettings {
    /** Binary caches to substitute from (`substituters`); `[]` = none (an offline machine). */
    substituters?: string[];
    /** Keys whose signatures those caches' paths must carry (`trusted-public-keys`). */
    trustedPublicKeys?: string[];
    /** Remote builders in Nix's `builders` syntax (`;`-separated machine lines, or `@file`). */
    builders?: string;
    /** Local build jobs (`--max-jobs`); 0 = build only on remote builders. */
    maxJobs?: number;
    /**
     * Nix's build sandbox (`sandbox`): true = every builder sees only its declared inputs, as on
     * any Linux machine by default. Set it where nix.conf turns it off (Debian's nix-bin does), so
     * the image builds as it would anywhere else. Unset: nix.conf's.
     */
    sandbox?: boolean;
    /**
     * What a build does when a binary cache does not answer (every substituter is asked before Nix
     * runs): `build` = leave it out, saying so, and build what it would have supplied; `fail` = stop,
     * naming it. Unset: nothing is checked (Nix skips a cache it cannot reach and builds).
     */
    onCacheDown?: "build" | "fail";
    /** A Nix store URL the built image closure is copied to, signed with the `nixSigningKey` secret. */
    uploadTo?: string;
    /** True when the `nixSigningKey` secret (signs what is uploaded) is configured. */
    hasSigningKey?: boolean;
    /** True when the `nixBuilderSshKey` secret (the SSH identity for `builders`) is configured. */
    hasBuilderSshKey?: boolean;
}

export interface StackConfig {
    /**
     * `deploy`: build, push and run on the cluster. `publish` (image.publishOnly): build and push
     * only (no cluster, gpu or deployment section): the stack exports the digest for cluster stacks.
     * `promote`: build nothing; run the image of `image.fromStack` by digest.
     */
    mode: "deploy" | "publish" | "promote";
    nix: {
        /** Nix entry file, relative to the project root. */
        entry: string;
        overlays: OverlayConfig[];
        pythonPackages: string[];
        /** The Python interpreter's nixpkgs attribute (`python3`, nixpkgs' default, or `python311` …). */
        python: NixPython;
        /**
         * A project file that returns the nixpkgs trees `{ nixpkgsStable; nixpkgsUnstable; }` the
         * entry builds on, instead of its own pins (nix/sources.nix): a mirror, a vendored nixpkgs,
         * or the offline rehearsal's miniature set. Passed as `--argstr sourcesFile <absolute path>`.
         */
        sources?: string;
        cudaCapabilities: string[];
        /** The Nix system the image is built for (`x86_64-linux`, `aarch64-linux`). */
        system: NixSystem;
        settings: NixSettings;
    };
    image: {
        /** Repository in the registry; "" when the image comes from another stack (`fromStack`). */
        name: string;
        /**
         * Build nothing: run the image another stack built and published, by digest (its `imageRef`
         * output, through a StackReference). `org/project/stack`, or a stack name of this project.
         */
        fromStack?: string;
        /** Explicit tag; undefined = the Nix output hash. */
        tag?: string;
        maxLayers: number;
        layerStrategy: LayerStrategy;
        maxLayerBytes: number;
    };
    registry: {
        host: string;
        username?: string;
        /** True when a `registryPassword` secret is configured. */
        hasPassword: boolean;
        /** Read-only pull user for the cluster's pull secret (with the `registryPullPassword` secret); unset: the push credentials. */
        pullUsername?: string;
        hasPullPassword: boolean;
        insecure: boolean;
        publisher: Publisher;
        dockerHost?: string;
        /**
         * A docker credential helper (`ecr-login` runs `docker-credential-ecr-login`) that gives the
         * push its short-lived credentials (ECR tokens last 12 h, GAR 1 h), instead of a stored password.
         */
        credentialHelper?: string;
    };
    /** gpu, cluster and deployment: absent in a `publish` stack (it runs nothing). */
    gpu?: {
        /** GPU Feature Discovery product label value, e.g. NVIDIA-H100-80GB-HBM3. */
        product?: string;
        count: number;
        migProfile?: string;
        migCount: number;
        minMemoryMiB?: number;
        taintKey: string;
        runtimeClassName?: string;
        /** GPU Operator MIG strategy of the nodes: `mixed` (nvidia.com/mig-<profile>) or `single` (nvidia.com/gpu on MIG-labelled nodes). */
        migStrategy: MigStrategy;
        /** Extended resource of a whole (or shared) GPU: `nvidia.com/gpu`, or e.g. `nvidia.com/gpu.shared` when time-slicing/MPS renames it. */
        resourceName: string;
        /** Which node labels select the GPU nodes (components/kubernetes/placement.ts). */
        placement: PlacementProfile;
        /** The profile's GPU label value (GKE `nvidia-h100-80gb`, AWS `h100`); default: from gpu.product. */
        accelerator?: string;
        /** `custom` placement: the node selector and the taints to tolerate. */
        nodeSelector: Record<string, string>;
        tolerations: Toleration[];
    };
    cluster?: {
        name: string;
        namespace: string;
        context?: string;
        hasKubeconfig: boolean;
        renderYamlTo?: string;
        /** Create (and own) the namespace; false: deploy into an existing namespace, never created or deleted. */
        createNamespace: boolean;
        /** Name of a pull secret that already exists in the namespace (not managed by the stack). */
        imagePullSecret?: string;
    };
    deployment?: {
        name: string;
        replicas: number;
        cpu: string;
        memory: string;
        shmSize: string;
        strategy: RolloutStrategy;
        rolloutTimeoutSeconds: number;
        /** `Deployment` (a service) or `Job` (run to completion: training, batch). */
        kind: WorkloadKind;
        minReadySeconds: number;
        /** Container port (named `http`), if the workload serves one. */
        port?: number;
        probe?: ProbeConfig;
        /** A separate liveness check (e.g. /livez while readiness is /readyz); unset: the probe's check. */
        liveness?: LivenessConfig;
        /** Job only. */
        job: JobConfig;
        /** The pods' service account (IRSA, Workload Identity); its token is mounted only when set. */
        serviceAccountName?: string;
        /** Extra environment variables of the container. */
        env: Record<string, string>;
        /** Arguments after the image's entrypoint (replacing the image's own command arguments). */
        args?: string[];
        /** Where model weights and the torch/Triton caches live (components/kubernetes/podSpec.ts cacheVolume). */
        cache: CacheConfig;
        priorityClassName?: string;
        podDisruptionBudget?: { minAvailable?: number | string; maxUnavailable?: number | string };
        podLabels: Record<string, string>;
        podAnnotations: Record<string, string>;
    };
}

export type WorkloadKind = "Deployment" | "Job";
export const PLACEMENT_PROFILES = ["gfd", "gke", "eks", "karpenter", "custom"] as const;
export type PlacementProfile = typeof PLACEMENT_PROFILES[number];

export interface Toleration { key: string; operator: "Exists" | "Equal"; value?: string; effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }

export interface JobConfig {
    backoffLimit: number;
    completions: number;
    parallelism: number;
    /** `Indexed`: each pod gets JOB_COMPLETION_INDEX (multi-pod runs); `NonIndexed`: Kubernetes' default. */
    completionMode: "NonIndexed" | "Indexed";
    activeDeadlineSeconds?: number;
    ttlSecondsAfterFinished?: number;
    /** false: `up` returns once the Job runs (long training); true: it waits for the completion. */
    wait: boolean;
    /** Replace a Job that is still running when its spec changes (otherwise refused at preview). */
    replaceRunning: boolean;
}

/**
 * The cache volume at /cache: a size-limited emptyDir (downloads and compiler caches, gone with the
 * pod), or an existing PersistentVolumeClaim (weights kept across pods; `readOnly` for a volume
 * filled beforehand, then the compiler caches stay on the emptyDir).
 */
export type CacheConfig = { kind: "emptyDir"; sizeLimit: string } | { kind: "claim"; claimName: string; readOnly: boolean; sizeLimit: string };

/** A liveness check of its own. */
export interface LivenessConfig {
    type: "http" | "tcp" | "exec";
    path?: string;
    port?: number;
    command?: string[];
    periodSeconds: number;
    failureThreshold: number;
}
export type MigStrategy = "mixed" | "single";

/** One health check used for the startup, readiness and (unless turned off) liveness probes. */
export interface ProbeConfig {
    type: "http" | "tcp" | "exec";
    /** http: request path. */
    path?: string;
    /** http/tcp: port number (default deployment.port). */
    port?: number;
    /** exec: argument vector. */
    command?: string[];
    /** How long a start (loading weights) may take before the container is restarted. */
    startupTimeoutSeconds: number;
    periodSeconds: number;
    /** Restart a container whose check keeps failing after it started. */
    liveness: boolean;
}

export interface ConfigProblem {
    propertyPath: string;
    reason: string;
}

export type ParseResult = { ok: true; config: StackConfig } | { ok: false; errors: ConfigProblem[] };

/** The keys the program reads; `secret` ones are only checked for presence here. */
export const CONFIG_KEYS = {
    nix: { secret: false },
    image: { secret: false },
    registry: { secret: false },
    gpu: { secret: false },
    cluster: { secret: false },
    deployment: { secret: false },
    registryPassword: { secret: true },
    registryPullPassword: { secret: true },
    kubeconfig: { secret: true },
    nixSigningKey: { secret: true },
    nixBuilderSshKey: { secret: true },
} as const;
export type ConfigKey = keyof typeof CONFIG_KEYS;
export type SecretKey = "registryPassword" | "registryPullPassword" | "kubeconfig" | "nixSigningKey" | "nixBuilderSshKey";
export const SECRET_KEYS: readonly SecretKey[] = ["registryPassword", "registryPullPassword", "kubeconfig", "nixSigningKey", "nixBuilderSshKey"];

/** Raw config as the engine hands it over: JSON text per key (objects) or plain text; secrets as booleans (present or not). */
export interface RawStackConfig {
    values: Partial<Record<string, unknown>>;
    secretsPresent: Partial<Record<SecretKey, boolean>>;
    /** Secret keys that hold a non-empty value that is not encrypted. */
    plaintextSecrets?: SecretKey[];
    /** Secret keys that were set with `--secret` to an empty value. */
    emptySecrets?: SecretKey[];
    /** Non-secret keys whose value is stored as a secret (set with `--secret`). */
    secretValues?: string[];
    /** Keys set in the stack (with or without the project prefix), to catch typos. */
    keysSet?: string[];
}

/** The file system functions the parser needs, injected so that it stays pure and testable. */
export interface ParseFs {
    /** Existence check (follows symlinks). */
    fileExists: (absPath: string) => boolean;
    /** `fs.realpathSync`: the path with every symlink resolved; throws when it does not exist. */
    realPath: (absPath: string) => string;
    /** UTF-8 contents of a file (overlay argument declarations). */
    readFile: (absPath: string) => string;
}

export interface ParseOptions extends ParseFs {
    /** Absolute project root; nix.entry and overlays are resolved and confined here. */
    projectRoot: string;
    /** The stack being checked (image.fromStack must name another one), and its organization where known. */
    stack?: string;
    organization?: string;
}

/**
 * The Nix systems an image can be built for: Linux on the two architectures GPU nodes run
 * (x86_64, and aarch64 as on GH200/GB200 Grace nodes), with the Kubernetes architecture
 * (`kubernetes.io/arch`, GOARCH names) their pods select.
 */
export const NIX_SYSTEMS = ["x86_64-linux", "aarch64-linux"] as const;
export type NixSystem = typeof NIX_SYSTEMS[number];
export const KUBE_ARCH: Record<NixSystem, string> = { "x86_64-linux": "amd64", "aarch64-linux": "arm64" };
/**
 * The Python interpreters a stack can build on (nixpkgs attributes). `python3` is nixpkgs' default
 * (3.12 at the pinned 24.11): the only Python set Hydra builds, so the only one binary caches hold.
 */
export const NIX_PYTHONS = ["python3", "python311", "python312", "python313"] as const;
export type NixPython = typeof NIX_PYTHONS[number];
/** The version `python3` is at the pinned nixpkgs (nix/pins.nix, nixos-24.11). */
export const DEFAULT_PYTHON_AT_PIN = "python312";

export const DEFAULTS = {
    nixEntry: "nix/build_container.nix",
    nixSystem: "x86_64-linux" as NixSystem,
    nixPython: "python3" as NixPython,
    overlays: [{ name: "replaceTorch", args: {} }] as OverlayConfig[],
    pythonPackages: ["numpy", "torch", "pytorch-lightning", "doctr"],
    // Empty: nixpkgs' own list. A narrowed list only changes CUDA code built from source, which then no
    // binary cache has; the torch-bin wheels are built for every capability anyway.
    cudaCapabilities: [],
    maxLayers: 100,
    layerStrategy: "stable" as LayerStrategy,
    maxLayerBytes: 10 * 1024 ** 3,
    publisher: "docker" as Publisher,
    gpuCount: 1,
    taintKey: "nvidia.com/gpu",
    // None: GKE has no `nvidia` RuntimeClass (its pods would be refused); set it where the cluster has one.
    runtimeClassName: undefined as string | undefined,
    migStrategy: "mixed" as MigStrategy,
    resourceName: "nvidia.com/gpu",
    createNamespace: true,
    kind: "Deployment" as WorkloadKind,
    minReadySeconds: 0,
    backoffLimit: 0,
    startupTimeoutSeconds: 1800,
    probePeriodSeconds: 10,
    replicas: 1,
    cpu: "4",
    memory: "32Gi",
    shmSize: "8Gi",
    strategy: "RollingUpdate" as RolloutStrategy,
    rolloutTimeoutSeconds: 600,
    placement: "gfd" as PlacementProfile,
    cacheSize: "20Gi",
};

/** The sections of a stack that runs the image (every mode but `publish`). */
export type GpuConfig = NonNullable<StackConfig["gpu"]>;
export type ClusterConfig = NonNullable<StackConfig["cluster"]>;
export type DeploymentConfig = NonNullable<StackConfig["deployment"]>;
/** A stack that runs the image: its gpu, cluster and deployment sections are there. */
export type RunningStackConfig = StackConfig & { gpu: GpuConfig; cluster: ClusterConfig; deployment: DeploymentConfig };
export function runsImage(c: StackConfig): c is RunningStackConfig {
    return c.gpu !== undefined && c.cluster !== undefined && c.deployment !== undefined;
}
