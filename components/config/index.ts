// Stack configuration: the one place that knows every key, its type, default and constraints.
// `parseStackConfig` is pure (file checks are injected) and reports every problem at once, each
// naming its property path, so that no resource exists before the whole config is valid.
import * as path from "path";
import { LABEL_VALUE, baseProduct, capabilityRuns, migSingleProduct, productCapability } from "../kubernetes/gpuModel";
import { EKS_GPU_NAME_LABEL, GKE_ACCELERATOR_LABEL, KARPENTER_GPU_NAME_LABEL, acceleratorFor } from "../kubernetes/placement";

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

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const REPO_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const IMAGE_NAME = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/;
/** A GFD product label value: `Tesla-T4`, `NVIDIA-A100-SXM4-80GB`, `…-MIG-1g.10gb`, `…-SHARED`. */
const GPU_PRODUCT = LABEL_VALUE;
/** An extended resource name of the NVIDIA device plugin (`nvidia.com/gpu`, a renamed shared one). */
const GPU_RESOURCE = /^nvidia\.com\/[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
const MIG_PROFILE = /^[1-7]g\.[1-9][0-9]{0,2}gb(\+me)?$/;
const CUDA_CAPABILITY = /^(?:[3-9]|1[0-2])\.[0-9]a?$/;
/** A Nix store URL: scheme://… without whitespace or quotes (https, file, s3, ssh, ssh-ng, daemon, …). */
const NIX_STORE_URL = /^[a-z][a-z0-9+.-]*:\/\/[^\s'"`\\]+$/;
/** `name:base64` as `nix-store --generate-binary-cache-key` writes it. */
const NIX_PUBLIC_KEY = /^[A-Za-z0-9._-]+:[A-Za-z0-9+/]+={0,2}$/;
/** A StackReference name: `org/project/stack` or a stack of this project. */
const STACK_REF = /^(?:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]+$/;
/** Printable ASCII on one line: machine lines are `;`-separated (a newline would end the option). */
const NIX_BUILDERS = /^[\x20-\x7e]+$/;
const LOWER_CAMEL = /^[a-z][A-Za-z0-9]{0,39}$/;
const PYTHON_ATTR = /^[A-Za-z_][A-Za-z0-9_-]{0,79}$/;
/** Kubernetes resource.Quantity: a decimal number with a binary-SI, decimal-SI or exponent suffix. */
const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;
const LABEL_KEY = /^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const SAFE_TEXT = /^[^\u0000-\u001f\u007f]*$/;
// eslint-disable-next-line no-control-regex -- as above: an argument or annotation without control characters
const ARG_TEXT = /^[^\u0000-\u001f\u007f]+$/;

/** At most this many characters of a value are echoed in a message. */
export const MAX_ECHO_CHARS = 64;
/** At most this many problems are reported per list or object; the rest are counted. */
export const MAX_PROBLEMS_PER_ITEM = 10;
/** At most this many problems are printed; the rest are counted. */
export const MAX_PROBLEMS_SHOWN = 50;

/** Top-level project directories that `cluster.renderYamlTo` must not write into. */
const PROJECT_DIRS = ["components", "nix", "test", "node_modules"];

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

/** Own-property check: inherited names (`constructor`, `__proto__`, `toString`) never count. */
export function hasOwn(o: object, k: string): boolean {
    return Object.prototype.hasOwnProperty.call(o, k);
}

/** Unset: absent, null and "" all mean "not given" for an optional key. */
export function isUnset(v: unknown): boolean {
    return v === undefined || v === null || v === "";
}

/** One character as it is shown in a message: printable ASCII as is, everything else escaped. */
function escapeChar(ch: string): string {
    const code = ch.charCodeAt(0);
    if (ch === "\"" || ch === "\\") {
        return `\\${ch}`;
    }
    if (code >= 0x20 && code < 0x7f) {
        return ch;
    }
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return hasOwn(named, ch) ? named[ch] : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A string as it is shown in a message: quoted, at most `max` characters, every character outside
 * printable ASCII escaped (`\u0430` for a Cyrillic а), so that invisible or look-alike characters show.
 */
export function quoteText(s: string, max = MAX_ECHO_CHARS): string {
    const n = Math.min(s.length, max);
    let out = "";
    for (let i = 0; i < n; i++) {
        out += escapeChar(s[i]);
    }
    return `"${out}"${s.length > n ? ` … and ${s.length - n} more characters` : ""}`;
}

/** Any config value, shown briefly. */
export function showValue(v: unknown): string {
    if (typeof v === "string") {
        return quoteText(v);
    }
    if (typeof v === "number") {
        return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? "not a number" : "a number too large to represent";
    }
    if (v === null || typeof v === "boolean") {
        return String(v);
    }
    if (Array.isArray(v)) {
        return `a list of ${v.length} item${v.length === 1 ? "" : "s"}`;
    }
    return v === undefined ? "nothing" : `an ${typeof v}`;
}

/** A key as a property path segment: plain names as they are, anything else quoted and escaped. */
export function keySegment(k: string): string {
    return /^[A-Za-z0-9_-]{1,64}$/.test(k) ? k : `[${quoteText(k, 40)}]`;
}

/** Converts a Kubernetes quantity to bytes (or cores); undefined when it does not parse. */
export function quantityValue(q: string): number | undefined {
    const m = QUANTITY.exec(q);
    if (!m) {
        return undefined;
    }
    const factors: Record<string, number> = {
        "": 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
        Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
    };
    const suffix = m[2] ?? "";
    return /^[eE][+-]?[0-9]/.test(suffix) ? Number(`${m[1]}${suffix}`) : Number(m[1]) * factors[suffix];
}

export function isLoopbackHost(host: string): boolean {
    const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `replaceTorch` → `replace-torch`. */
export function kebabCase(name: string): string {
    return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function inside(root: string, abs: string): boolean {
    return abs === root || abs.startsWith(root + path.sep);
}

/** Resolves a project-relative path, refusing anything that leaves the project root (textually). */
export function confinedPath(projectRoot: string, rel: string): string | undefined {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
        return undefined;
    }
    const abs = path.resolve(projectRoot, rel);
    return inside(path.resolve(projectRoot), abs) ? abs : undefined;
}

export type Confined = { ok: true; abs: string; exists: boolean } | { ok: false; reason: string };

/**
 * Confines a project-relative path with its symlinks resolved: textually first (relative, no `..`),
 * then, when it exists, its real path must lie inside the project's real path.
 */
export function confinedRealPath(opts: ParseOptions, rel: string): Confined {
    const abs = confinedPath(opts.projectRoot, rel);
    if (abs === undefined) {
        return { ok: false, reason: "must stay inside the project (relative, no '..')" };
    }
    let real: string;
    try {
        real = opts.realPath(abs);
    } catch {
        return { ok: true, abs, exists: false };
    }
    let root: string;
    try {
        root = opts.realPath(path.resolve(opts.projectRoot));
    } catch {
        root = path.resolve(opts.projectRoot);
    }
    if (!inside(root, real)) {
        return { ok: false, reason: "is a symlink (or under one) that leads outside the project" };
    }
    return { ok: true, abs, exists: opts.fileExists(abs) };
}

/** The overlay file that `name` refers to, next to the Nix entry. */
export function overlayFile(entry: string, name: string): string {
    return path.posix.join(path.posix.dirname(entry), "overlay", `${kebabCase(name)}.nix`);
}

/** The argument declaration next to an overlay file: `<overlay>.args.json`. */
export function overlayArgsFile(overlayNixFile: string): string {
    return overlayNixFile.replace(/\.nix$/, ".args.json");
}

/** One declared overlay argument (see the `*.args.json` files next to the overlays). */
export type OverlayArgSpec =
    | { type: "string"; maxLength?: number; enum?: string[]; description?: string }
    | { type: "integer"; minimum: number; maximum: number; description?: string }
    | { type: "boolean"; description?: string }
    | { type: "stringList"; maxItems?: number; enum?: string[]; description?: string };

export interface OverlayArgsDeclaration {
    description?: string;
    args: Record<string, OverlayArgSpec>;
}

/** Validates the shape of an overlay's argument declaration; returns the problem, if any. */
export function checkOverlayDeclaration(decl: unknown): string | undefined {
    if (typeof decl !== "object" || decl === null || Array.isArray(decl) || !hasOwn(decl, "args")) {
        return "must be a JSON object with an \"args\" object";
    }
    const args = (decl as { args: unknown }).args;
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
        return "\"args\" must be an object";
    }
    for (const [name, spec] of Object.entries(args)) {
        if (!LOWER_CAMEL.test(name)) {
            return `argument ${quoteText(name, 40)} is not a lowerCamelCase name`;
        }
        if (typeof spec !== "object" || spec === null || !hasOwn(spec, "type")) {
            return `argument ${name} has no "type"`;
        }
        const s = spec as Record<string, unknown>;
        const enumOk = !hasOwn(s, "enum") || (Array.isArray(s.enum) && s.enum.every((x) => typeof x === "string"));
        const intOk = (k: string) => !hasOwn(s, k) || Number.isInteger(s[k]);
        if (s.type === "integer" && !(Number.isInteger(s.minimum) && Number.isInteger(s.maximum) && (s.minimum as number) <= (s.maximum as number))) {
            return `integer argument ${name} needs integer "minimum" <= "maximum"`;
        }
        if (!["string", "integer", "boolean", "stringList"].includes(String(s.type)) || !enumOk || !intOk("maxLength") || !intOk("maxItems")) {
            return `argument ${name}: type must be string, integer, boolean or stringList, with a string "enum" and integer limits`;
        }
    }
    return undefined;
}

/** A store or builder URL's parts, as far as credentials and host names go. */
interface UrlParts {
    scheme: string;
    /**
     * What stands before the last `@` ahead of the query, if anything: a password with an unencoded
     * `/` (`https://u:pa/ss@host`) still counts as the user part, not as a path.
     */
    userinfo?: string;
    /** What follows the `://` (or the `@`) up to the first `/`, `?` or `#`. */
    host: string;
    query: string;
}

const URL_HEAD = /^([A-Za-z][A-Za-z0-9+.-]*):\/+([^?#]*)(?:\?([^#]*))?/;

function urlParts(url: string): UrlParts | undefined {
    const m = URL_HEAD.exec(url);
    if (m === null) {
        return undefined;
    }
    const at = m[2].lastIndexOf("@");
    const afterUser = at < 0 ? m[2] : m[2].slice(at + 1);
    return { scheme: m[1].toLowerCase(), userinfo: at < 0 ? undefined : m[2].slice(0, at), host: afterUser.split("/")[0], query: m[3] ?? "" };
}

/** Query parameters that carry a credential, whatever the store. */
const CREDENTIAL_PARAM = /^(?:.*(?:token|password|passwd|secret|credential|signature|apikey|api-key|api_key|auth).*|sig|x-amz-[a-z-]*)$/i;

/**
 * Pure: a URL shown in a message with whatever could be a credential replaced (`user:***@`,
 * `token=***`, a URL inside a parameter redacted the same way), so a refused value is still
 * recognisable but never echoed.
 */
export function redactUrl(url: string): string {
    const m = URL_HEAD.exec(url);
    let out = url;
    if (m !== null) {
        const at = m[2].lastIndexOf("@");
        if (at >= 0) {
            const info = m[2].slice(0, at);
            const head = url.slice(0, url.indexOf(m[2]));
            const user = info.includes(":") ? `${info.slice(0, info.indexOf(":"))}:***` : "***";
            out = `${head}${user}${url.slice(head.length + at)}`;
        }
    }
    return out.replace(/([?&])([^=&#]+)=([^&#]*)/g, (all, sep: string, k: string, v: string) =>
        (CREDENTIAL_PARAM.test(k) ? `${sep}${k}=***` : v.includes("@") ? `${sep}${k}=${redactUrl(decodeParam(v))}` : all));
}

function decodeParam(v: string): string {
    try {
        return decodeURIComponent(v);
    } catch {
        return v;
    }
}

/**
 * Pure: why a Nix store or builder URL the user typed into plain config must not be used, or
 * undefined. A credential in it (a password or token in the user part, a token parameter, a URL
 * with a user part inside a parameter) would be stored in plain text in the stack config and the
 * state, shown by every preview and passed on command lines; an SSH user name alone is no
 * credential. A user or host starting with `-` would be read by ssh as an option.
 */
export function storeUrlProblem(url: string, secretsAdvice: string): string | undefined {
    const u = urlParts(url);
    if (u === undefined) {
        return undefined;
    }
    const shown = quoteText(redactUrl(url));
    const ssh = u.scheme === "ssh" || u.scheme === "ssh-ng";
    if (u.userinfo !== undefined && (u.userinfo.includes(":") || !ssh)) {
        return `${shown} carries credentials in its user part (${u.userinfo.includes(":") ? "a password" : "a token or user name"}), which would be stored and shown in plain text: ${secretsAdvice}`;
    }
    for (const kv of u.query.split("&")) {
        const [k, v = ""] = kv.split("=");
        if (k !== "" && k !== "secret-key" && CREDENTIAL_PARAM.test(k)) {
            return `${shown} carries a credential in its ${k} parameter, which would be stored and shown in plain text: ${secretsAdvice}`;
        }
        const inner = decodeParam(v);
        if (inner.includes("://") && storeUrlProblem(inner, secretsAdvice) !== undefined) {
            return `${shown} carries credentials in the URL of its ${k} parameter, which would be stored and shown in plain text: ${secretsAdvice}`;
        }
    }
    if ((u.userinfo ?? u.host).startsWith("-") || u.host.startsWith("-")) {
        return `${shown}: it starts with "-" after the scheme, which ssh and other tools read as an option`;
    }
    if (url.includes("#")) {
        return `${shown} contains "#", which Nix's configuration reads as the start of a comment`;
    }
    return undefined;
}

/** The problems of a Nix `builders` value: each machine's URI (Nix reads one without a scheme as ssh://). */
export function buildersProblems(builders: string, secretsAdvice: string): string[] {
    return builders.split(/[;\n]/).map((line) => line.trim().split(/\s+/)[0] ?? "")
        .filter((uri) => uri !== "" && !uri.startsWith("@"))
        .map((uri) => storeUrlProblem(uri.includes("://") ? uri : `ssh://${uri}`, secretsAdvice))
        .filter((x): x is string => x !== undefined);
}

/** A store URL as it may be shown in a message: redacted, quoted, cut. */
function showUrl(v: unknown): string {
    return typeof v === "string" ? quoteText(redactUrl(v)) : showValue(v);
}

/** How a stack passes the credentials a binary cache needs, instead of in its URL. */
const CACHE_CREDENTIALS = "give the cache its credentials outside the URL: a netrc file named by nix.conf's netrc-file (HTTP caches), the AWS profile or environment (s3://), an SSH key in the agent or ~/.ssh/config (ssh://)";
const BUILDER_CREDENTIALS = "the SSH identity for the builders is the nixBuilderSshKey secret (`pulumi config set --secret nixBuilderSshKey < id_ed25519`); a user name (ssh://user@host) is fine";

class Checker {
    readonly errors: ConfigProblem[] = [];
    /** Set while a value stored as a secret is checked: nothing of it is echoed. */
    redact = false;

    fail(propertyPath: string, reason: string): undefined {
        this.errors.push({ propertyPath: `${PROJECT}:${propertyPath}`, reason });
        return undefined;
    }

    /** How values are shown while `withDisplay` runs (store URLs: redacted). */
    private display: (v: unknown) => string = showValue;

    show(v: unknown): string {
        return this.redact ? "(a value stored as a secret, not shown)" : this.display(v);
    }

    /** Runs `check` with values shown by `display`. */
    withDisplay<T>(display: (v: unknown) => string, check: () => T): T {
        const saved = this.display;
        this.display = display;
        try {
            return check();
        } finally {
            this.display = saved;
        }
    }

    /** Runs `each` over items, reporting at most MAX_PROBLEMS_PER_ITEM of them and counting the rest. */
    capped<T>(p: string, items: T[], what: string, each: (item: T, i: number) => void): void {
        let failing = 0;
        let unreported = 0;
        items.forEach((item, i) => {
            const before = this.errors.length;
            if (failing >= MAX_PROBLEMS_PER_ITEM) {
                const saved = this.errors.splice(0);
                each(item, i);
                if (this.errors.length > 0) {
                    unreported++;
                }
                this.errors.splice(0, this.errors.length, ...saved);
                return;
            }
            each(item, i);
            if (this.errors.length > before) {
                failing++;
            }
        });
        if (unreported > 0) {
            this.fail(p, `… and ${unreported} more bad ${what}`);
        }
    }

    object(p: string, v: unknown, allowed: readonly string[]): Record<string, unknown> {
        const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        if (isUnset(v)) {
            return out;
        }
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.fail(p, `must be an object with keys ${allowed.join(", ")}, got ${this.show(v)}`);
            return out;
        }
        const unknown: string[] = [];
        for (const k of Object.keys(v)) {
            if (allowed.includes(k)) {
                out[k] = (v as Record<string, unknown>)[k];
            } else {
                unknown.push(k);
            }
        }
        this.capped(p, unknown, "keys", (k) => {
            this.fail(`${p}.${keySegment(k)}`, `unknown key (known: ${allowed.join(", ")})`);
        });
        return out;
    }

    string(p: string, v: unknown, opts: { re?: RegExp; what?: string; max?: number; required?: boolean } = {}): string | undefined {
        if (isUnset(v)) {
            return opts.required ? this.fail(p, "is required") : undefined;
        }
        if (typeof v !== "string") {
            return this.fail(p, `must be a string, got ${this.show(v)}`);
        }
        const max = opts.max ?? 253;
        if (v.length > max) {
            return this.fail(p, `is ${v.length} characters long; at most ${max} allowed`);
        }
        if (!SAFE_TEXT.test(v)) {
            return this.fail(p, `contains control characters: ${this.show(v)}`);
        }
        if (opts.re && !opts.re.test(v)) {
            return this.fail(p, `${this.show(v)} is not ${opts.what ?? `of the form ${opts.re}`}`);
        }
        return v;
    }

    integer(p: string, v: unknown, min: number, max: number, dflt?: number): number | undefined {
        if (isUnset(v)) {
            return dflt;
        }
        const n = typeof v === "string" && /^-?\d{1,16}(\.\d{1,16})?$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isFinite(n)) {
            return this.fail(p, `must be an integer within ${min}..${max}, got ${this.show(v)}`);
        }
        if (!Number.isInteger(n)) {
            return this.fail(p, `must be a whole number, got ${n}`);
        }
        if (n < min || n > max) {
            return this.fail(p, `must be within ${min}..${max}, got ${n}`);
        }
        return n;
    }

    boolean(p: string, v: unknown, dflt: boolean): boolean {
        if (isUnset(v)) {
            return dflt;
        }
        if (v === true || v === "true") {
            return true;
        }
        if (v === false || v === "false") {
            return false;
        }
        this.fail(p, `must be true or false, got ${this.show(v)}`);
        return dflt;
    }

    oneOf<T extends string>(p: string, v: unknown, options: readonly T[], dflt: T): T {
        if (isUnset(v)) {
            return dflt;
        }
        if (typeof v !== "string" || !options.includes(v as T)) {
            this.fail(p, `must be one of ${options.join(", ")}, got ${this.show(v)}`);
            return dflt;
        }
        return v as T;
    }

    stringList(p: string, v: unknown, re: RegExp, what: string, opts: { dflt: string[]; max: number; nonEmpty?: boolean; itemMax?: number; allowed?: readonly string[] }): string[] {
        if (isUnset(v)) {
            return opts.dflt;
        }
        if (!Array.isArray(v)) {
            this.fail(p, `must be a list, got ${this.show(v)}`);
            return opts.dflt;
        }
        if (v.length > opts.max) {
            this.fail(p, `has ${v.length} entries; at most ${opts.max} allowed`);
        }
        if (opts.nonEmpty && v.length === 0) {
            this.fail(p, "must not be empty");
        }
        const out: string[] = [];
        this.capped(p, v.slice(0, opts.max), "entries", (item, i) => {
            const s = this.string(`${p}[${i}]`, item, { re, what, max: opts.itemMax ?? 128, required: true });
            if (s === undefined) {
                return;
            }
            if (opts.allowed !== undefined && !opts.allowed.includes(s)) {
                this.fail(`${p}[${i}]`, `${this.show(s)} is not one of the allowed values (${listBrief(opts.allowed)})`);
                return;
            }
            if (out.includes(s)) {
                this.fail(`${p}[${i}]`, `duplicate entry ${this.show(s)}`);
                return;
            }
            out.push(s);
        });
        return out;
    }

    /** A Kubernetes quantity; a number is accepted as Kubernetes accepts it (`cpu: 8`). */
    quantity(p: string, v: unknown, dflt: string): string {
        let s: string | undefined;
        if (typeof v === "number") {
            if (!Number.isFinite(v)) {
                this.fail(p, `must be a Kubernetes quantity (e.g. 500m, 16Gi), got ${this.show(v)}`);
                return dflt;
            }
            s = String(v);
        } else {
            s = this.string(p, v, { re: QUANTITY, what: "a Kubernetes quantity (e.g. 8, \"500m\", \"16Gi\", \"1e3\")", max: 32 });
        }
        const q = s ?? dflt;
        const n = quantityValue(q);
        if (n !== undefined && !(n > 0)) {
            this.fail(p, `must be greater than zero, got ${this.show(q)}`);
        } else if (n !== undefined && !Number.isFinite(n)) {
            this.fail(p, `${this.show(q)} is too large`);
        }
        return q;
    }
}

function listBrief(values: readonly string[], max = 8): string {
    return values.length > max ? `${values.slice(0, max).join(", ")}, … and ${values.length - max} more` : values.join(", ");
}

/** JSON text from the engine → value; plain values pass through; "" means unset. */
function decode(c: Checker, key: string, v: unknown): unknown {
    if (typeof v !== "string") {
        return v;
    }
    if (v === "") {
        return undefined;
    }
    try {
        return JSON.parse(v);
    } catch {
        return c.fail(key, "is not valid JSON (set it with `pulumi config set --path` or as a YAML object in the stack file)");
    }
}

/** Reads and checks the argument declaration of an overlay file (absolute path). */
function overlayDeclaration(opts: ParseOptions, file: string): { decl?: OverlayArgsDeclaration; problem?: string } {
    const declFile = overlayArgsFile(file);
    const where = confinedRealPath(opts, declFile);
    if (!where.ok) {
        return { problem: `its argument declaration ${declFile} ${where.reason}` };
    }
    if (!where.exists) {
        return { problem: `declares no arguments: ${declFile} is missing (every overlay declares its arguments there)` };
    }
    let decl: unknown;
    try {
        decl = JSON.parse(opts.readFile(where.abs));
    } catch (e) {
        return { problem: `its argument declaration ${declFile} is not valid JSON (${String((e as Error).message).slice(0, 120)})` };
    }
    const problem = checkOverlayDeclaration(decl);
    return problem === undefined ? { decl: decl as OverlayArgsDeclaration } : { problem: `its argument declaration ${declFile} is invalid: ${problem}` };
}

/** Checks one overlay argument against its declaration. */
function overlayArg(c: Checker, ap: string, val: unknown, spec: OverlayArgSpec): OverlayArgValue | undefined {
    switch (spec.type) {
        case "string": {
            const s = c.string(ap, val, { max: spec.maxLength ?? 256, required: true });
            if (s !== undefined && spec.enum !== undefined && !spec.enum.includes(s)) {
                return c.fail(ap, `must be one of ${listBrief(spec.enum)}, got ${c.show(s)}`);
            }
            return s;
        }
        case "integer":
            return isUnset(val) ? c.fail(ap, "is required (an integer)") : c.integer(ap, val, spec.minimum, spec.maximum);
        case "boolean":
            if (typeof val === "boolean") {
                return val;
            }
            return val === "true" || val === "false" ? val === "true" : c.fail(ap, `must be true or false, got ${c.show(val)}`);
        case "stringList":
            if (!Array.isArray(val)) {
                return c.fail(ap, `must be a list of strings, got ${c.show(val)}`);
            }
            return c.stringList(ap, val, /^[A-Za-z0-9_.+-]+$/, "a plain word", { dflt: [], max: spec.maxItems ?? 64, allowed: spec.enum });
    }
}

function parseOverlays(c: Checker, v: unknown, entry: string | undefined, opts: ParseOptions): OverlayConfig[] {
    const defaulted = isUnset(v);
    const list: unknown = defaulted ? DEFAULTS.overlays : v;
    if (!Array.isArray(list)) {
        c.fail("nix.overlays", `must be a list of { name, args }, got ${c.show(list)}`);
        return [];
    }
    if (list.length > 16) {
        c.fail("nix.overlays", `has ${list.length} entries; at most 16 allowed`);
    }
    const out: OverlayConfig[] = [];
    c.capped("nix.overlays", list.slice(0, 16), "overlays", (item, i) => {
        const p = defaulted ? "nix.overlays" : `nix.overlays[${i}]`;
        const namePath = defaulted ? "nix.overlays" : `${p}.name`;
        const o = c.object(p, item, ["name", "args"]);
        const name = c.string(namePath, o.name, { re: LOWER_CAMEL, what: "a lowerCamelCase overlay name", max: 40, required: true });
        if (name === undefined) {
            return;
        }
        if (out.some((x) => x.name === name)) {
            c.fail(namePath, `overlay ${name} is listed twice`);
            return;
        }
        const what = defaulted ? `the default overlay ${name} (nix.overlays is not set)` : `overlay ${name}`;
        let decl: OverlayArgsDeclaration | undefined;
        if (entry !== undefined) {
            const file = overlayFile(entry, name);
            const where = confinedRealPath(opts, file);
            if (!where.ok) {
                c.fail(namePath, `${what}: ${file} ${where.reason}`);
                return;
            }
            if (!where.exists) {
                c.fail(namePath, `${what}: no overlay file ${file} next to the Nix entry${defaulted ? "; set nix.overlays ([] for none)" : ""}`);
                return;
            }
            const d = overlayDeclaration(opts, file);
            if (d.problem !== undefined) {
                c.fail(namePath, `${what} ${d.problem}`);
            }
            decl = d.decl;
        }
        const args: Record<string, OverlayArgValue> = {};
        const rawArgs = isUnset(o.args) ? {} : o.args;
        if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
            c.fail(`${p}.args`, `must be an object of overlay arguments, got ${c.show(rawArgs)}`);
        } else if (decl !== undefined) {
            const declared = decl.args;
            const known = Object.keys(declared);
            c.capped(`${p}.args`, Object.keys(rawArgs), "arguments", (k) => {
                const ap = `${p}.args.${keySegment(k)}`;
                if (!hasOwn(declared, k)) {
                    c.fail(ap, `unknown argument of overlay ${name} (${known.length === 0 ? "it takes none" : `known: ${listBrief(known)}`})`);
                    return;
                }
                const value = overlayArg(c, ap, (rawArgs as Record<string, unknown>)[k], declared[k]);
                if (value !== undefined) {
                    args[k] = value;
                }
            });
        }
        out.push({ name, args });
    });
    return out;
}

/** Validates the whole stack config; every problem is reported, each with its property path. */
export function parseStackConfig(raw: RawStackConfig, opts: ParseOptions): ParseResult {
    const c = new Checker();
    const secretValues = new Set(raw.secretValues ?? []);
    // Each section is decoded once (the mode below and the section checks read it again), so a
    // malformed one is reported once.
    const decoded = new Map<ConfigKey, unknown>();
    const val = (k: ConfigKey) => {
        if (!decoded.has(k)) {
            decoded.set(k, decode(c, k, hasOwn(raw.values, k) ? raw.values[k] : undefined));
        }
        return decoded.get(k);
    };

    const unknownKeys: string[] = [];
    for (const k of raw.keysSet ?? []) {
        const bare = k.startsWith(`${PROJECT}:`) ? k.slice(PROJECT.length + 1) : k.includes(":") ? undefined : k;
        if (bare !== undefined && !hasOwn(CONFIG_KEYS, bare)) {
            unknownKeys.push(bare);
        }
    }
    c.capped("", unknownKeys, "config keys", (bare) => {
        const head = /^[^.[]+/.exec(bare)?.[0] ?? "";
        const hint = head !== bare && hasOwn(CONFIG_KEYS, head) && !CONFIG_KEYS[head as ConfigKey].secret
            ? `; to set a field inside the ${head} object use \`pulumi config set --path ${bare.length > 80 ? head : bare} …\` (without --path the dot is part of the key name)`
            : ` (known: ${Object.keys(CONFIG_KEYS).join(", ")})`;
        c.fail(/^[A-Za-z0-9_.[\]-]{1,80}$/.test(bare) ? bare : keySegment(bare), `unknown config key${hint}`);
    });

    for (const k of raw.plaintextSecrets ?? []) {
        c.fail(k, `must be a secret: set it with \`pulumi config set --secret ${k}\` (a plaintext value would be stored unencrypted)`);
    }
    for (const k of raw.emptySecrets ?? []) {
        c.fail(k, `is set as a secret but empty (or only whitespace): set it with \`pulumi config set --secret ${k}\`, or remove it with \`pulumi config rm ${k}\``);
    }
    for (const k of secretValues) {
        c.fail(k, `is stored as a secret (set with --secret), but only ${SECRET_KEYS.join(", ")} are secrets: set ${k} again without --secret`);
    }
    /** Checks one section, echoing none of its values when it is stored as a secret. */
    const section = <T>(k: ConfigKey, check: () => T): T => {
        c.redact = secretValues.has(k);
        try {
            return check();
        } finally {
            c.redact = false;
        }
    };

    // Which of the three kinds of stack this is (see StackConfig.mode): decided first, since it
    // decides which sections are required and which must be absent.
    const imageField = (k: string): unknown => {
        const v = val("image");
        return typeof v === "object" && v !== null && !Array.isArray(v) && hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
    };
    const emptySection = (k: ConfigKey) => {
        const v = val(k);
        return isUnset(v) || (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
    };
    const publishOnly = c.boolean("image.publishOnly", imageField("publishOnly"), false);
    const mode: StackConfig["mode"] = !isUnset(imageField("fromStack")) ? "promote" : publishOnly ? "publish" : "deploy";
    if (mode === "promote" && publishOnly) {
        c.fail("image.publishOnly", "a stack that takes its image from image.fromStack publishes nothing");
    }
    if (mode === "publish") {
        for (const k of ["gpu", "cluster", "deployment"] as const) {
            if (!emptySection(k)) {
                c.fail(k, "is not used: image.publishOnly builds and publishes only (remove it, or publishOnly to run the image)");
            }
        }
    }

    // nix
    let capabilitiesChecked = true;
    const { entry, overlays, pythonPackages, python, sources, cudaCapabilities, system, settings } = section("nix", () => {
        const nixKeys = ["entry", "overlays", "pythonPackages", "python", "sources", "cudaCapabilities", "system", "substituters", "trustedPublicKeys", "builders", "maxJobs", "sandbox", "onCacheDown", "uploadTo"];
        const nixRaw = c.object("nix", val("nix"), nixKeys);
        if (mode === "promote") {
            // Nothing is built: only the capabilities the promoted image was built for are read
            // (checked against gpu.product here, and against the image stack's export at run time).
            for (const k of nixKeys) {
                if (k !== "cudaCapabilities" && k !== "system" && !isUnset(nixRaw[k])) {
                    c.fail(`nix.${k}`, `is not used: this stack builds nothing and runs the image of image.fromStack`);
                }
            }
            for (const k of ["nixSigningKey", "nixBuilderSshKey"] as const) {
                if (raw.secretsPresent[k] === true) {
                    c.fail(k, "is not used: this stack builds nothing and runs the image of image.fromStack");
                }
            }
        }
        // An empty entry is a mistake, not a request for the default: it is refused, not replaced.
        const entryEmpty = hasOwn(nixRaw, "entry") && (nixRaw.entry === null || (typeof nixRaw.entry === "string" && nixRaw.entry.trim() === ""));
        if (entryEmpty) {
            c.fail("nix.entry", `is empty: name the Nix entry (a .nix file in the project), or remove the key for the default ${DEFAULTS.nixEntry}`);
        }
        let entry = (entryEmpty ? undefined : c.string("nix.entry", nixRaw.entry, PROJECT_PATH)) ?? DEFAULTS.nixEntry;
        // An empty entry is reported above; the overlays are not looked up next to a default the user did not ask for.
        // A promoting stack builds nothing: its project need not hold an entry or overlays.
        const entryOk = !entryEmpty && mode !== "promote" && projectNixFile(c, opts, "nix.entry", entry, { notNix: "must name a .nix file", missing: "does not exist" });
        entry = entry.replace(/^(\.\/)+/, "");
        let sources: string | undefined;
        if (!isUnset(nixRaw.sources)) {
            const s = c.string("nix.sources", nixRaw.sources, PROJECT_PATH);
            const what = "must name an existing .nix file of the project (it returns { nixpkgsStable; nixpkgsUnstable; })";
            if (s !== undefined && projectNixFile(c, opts, "nix.sources", s, { notNix: what, missing: what })) {
                sources = s.replace(/^(\.\/)+/, "");
            }
        }
        const overlays = parseOverlays(c, nixRaw.overlays, entryOk ? entry : undefined, opts);
        const pythonPackages = c.stringList("nix.pythonPackages", nixRaw.pythonPackages, PYTHON_ATTR, "a Python package attribute name", { dflt: DEFAULTS.pythonPackages, max: 200 });
        const capErrors = c.errors.length;
        const cudaCapabilities = c.stringList("nix.cudaCapabilities", nixRaw.cudaCapabilities, CUDA_CAPABILITY, "a CUDA compute capability like 8.0 or 9.0", { dflt: DEFAULTS.cudaCapabilities, max: 16 });
        // A list with a bad entry is not checked against gpu.product: that would only repeat the problem.
        capabilitiesChecked = c.errors.length === capErrors;
        // Unset (absent, null, "") = not passed; `[]` for substituters is a value: no binary cache.
        const settings: NixSettings = {};
        if (!isUnset(nixRaw.substituters)) {
            // Credentials first: a refused URL is never echoed as it was typed (nor is any other
            // value of this list: they are shown redacted).
            const subs = Array.isArray(nixRaw.substituters) ? nixRaw.substituters : [nixRaw.substituters];
            const refused = new Set<number>();
            c.capped("nix.substituters", subs.slice(0, 32), "entries", (item, i) => {
                const problem = typeof item === "string" ? storeUrlProblem(item, CACHE_CREDENTIALS) : undefined;
                if (problem !== undefined) {
                    refused.add(i);
                    c.fail(Array.isArray(nixRaw.substituters) ? `nix.substituters[${i}]` : "nix.substituters", problem);
                }
            });
            if (!Array.isArray(nixRaw.substituters) && refused.size === 0) {
                c.fail("nix.substituters", `must be a list of binary cache URLs, got ${showUrl(nixRaw.substituters)}`);
            } else if (Array.isArray(nixRaw.substituters)) {
                // Refused entries stand in as distinct placeholders, so that nothing else is said of them.
                const placeholder = (i: number) => `file:///refused-${i}`;
                settings.substituters = c.withDisplay(showUrl, () => c.stringList("nix.substituters", subs.map((x, i) => (refused.has(i) ? placeholder(i) : x)), NIX_STORE_URL,
                    "a binary cache URL like https://cache.nixos.org", { dflt: [], max: 32, itemMax: 512 }))
                    .filter((x, i) => !refused.has(i) && x !== placeholder(i));
            }
        }
        if (!isUnset(nixRaw.trustedPublicKeys)) {
            settings.trustedPublicKeys = c.stringList("nix.trustedPublicKeys", nixRaw.trustedPublicKeys, NIX_PUBLIC_KEY, "a Nix signing public key like cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", { dflt: [], max: 32, itemMax: 256 });
        }
        const builderProblems = typeof nixRaw.builders === "string" ? buildersProblems(nixRaw.builders, BUILDER_CREDENTIALS) : [];
        builderProblems.slice(0, 1).forEach((problem) => c.fail("nix.builders", problem));
        const builders = builderProblems.length > 0 ? undefined
            : c.withDisplay(showUrl, () => c.string("nix.builders", nixRaw.builders, { re: NIX_BUILDERS, what: "Nix builders: `;`-separated machine lines (printable characters, no newline) or @/path/to/machines", max: 4096 }));
        if (builders !== undefined && builders.includes("#")) {
            c.fail("nix.builders", "contains \"#\", which Nix's configuration reads as the start of a comment");
        } else if (builders !== undefined) {
            settings.builders = builders;
        }
        const maxJobs = c.integer("nix.maxJobs", nixRaw.maxJobs, 0, 1024);
        if (maxJobs !== undefined) {
            settings.maxJobs = maxJobs;
        }
        if (!isUnset(nixRaw.sandbox)) {
            settings.sandbox = c.boolean("nix.sandbox", nixRaw.sandbox, true);
        }
        if (!isUnset(nixRaw.onCacheDown)) {
            settings.onCacheDown = c.oneOf("nix.onCacheDown", nixRaw.onCacheDown, ["build", "fail"] as const, "build");
            // A check of nothing would look like a safeguard and guard nothing.
            if (isUnset(nixRaw.substituters)) {
                c.fail("nix.onCacheDown", "checks the binary caches of nix.substituters before each build, but nix.substituters is not set: set it (the list the check reads), or remove nix.onCacheDown");
            } else if (Array.isArray(nixRaw.substituters) && nixRaw.substituters.length === 0) {
                c.fail("nix.onCacheDown", `${settings.onCacheDown} checks the substituters before each build: set nix.substituters (the list the check reads); with [] there is no cache to check`);
            }
        }
        const uploadProblem = typeof nixRaw.uploadTo === "string" ? storeUrlProblem(nixRaw.uploadTo, CACHE_CREDENTIALS) : undefined;
        if (uploadProblem !== undefined) {
            c.fail("nix.uploadTo", `must not carry credentials or options: ${uploadProblem}`);
        }
        const uploadTo = uploadProblem !== undefined ? undefined
            : c.withDisplay(showUrl, () => c.string("nix.uploadTo", nixRaw.uploadTo, { re: NIX_STORE_URL, what: "a Nix store URL like s3://bucket?region=…, file:///srv/cache or ssh://builder", max: 512 }));
        if (uploadTo !== undefined && /[?&]secret-key=/.test(uploadTo)) {
            c.fail("nix.uploadTo", "must not name a secret-key: the signing key is the nixSigningKey secret");
        } else if (uploadTo !== undefined) {
            settings.uploadTo = uploadTo;
        }
        if (uploadTo !== undefined || uploadProblem !== undefined) {
            if (raw.secretsPresent.nixSigningKey !== true && !(raw.emptySecrets ?? []).includes("nixSigningKey")) {
                c.fail("nixSigningKey", "nix.uploadTo is set but the nixSigningKey secret is missing: substituters accept only signed paths (`nix-store --generate-binary-cache-key`, then `pulumi config set --secret nixSigningKey < key.sec`)");
            }
        } else if (raw.secretsPresent.nixSigningKey === true && mode !== "promote") {
            c.fail("nixSigningKey", "is set but nix.uploadTo is not: it signs only what is uploaded");
        }
        settings.hasSigningKey = raw.secretsPresent.nixSigningKey === true;
        settings.hasBuilderSshKey = raw.secretsPresent.nixBuilderSshKey === true;
        if (settings.hasBuilderSshKey && settings.builders === undefined && mode !== "promote") {
            c.fail("nixBuilderSshKey", "is set but nix.builders is not: it is the SSH identity for the remote builders");
        }
        if (!settings.hasSigningKey) {
            delete settings.hasSigningKey;
        }
        if (!settings.hasBuilderSshKey) {
            delete settings.hasBuilderSshKey;
        }
        // The platform the image is for: nixpkgs is imported for it, the image's architecture and the
        // pods' kubernetes.io/arch selector follow it (whoever deploys, from a Mac or an ARM laptop).
        const system = c.oneOf("nix.system", nixRaw.system, NIX_SYSTEMS, DEFAULTS.nixSystem);
        const python = c.oneOf("nix.python", nixRaw.python, NIX_PYTHONS, DEFAULTS.nixPython);
        return { entry, overlays, pythonPackages, python, sources, cudaCapabilities, system, settings };
    });

    // image
    const image = section("image", () => {
        const imageRaw = c.object("image", val("image"), ["name", "fromStack", "publishOnly", "tag", "maxLayers", "layerStrategy", "maxLayerBytes"]);
        if (mode === "promote") {
            for (const k of ["name", "tag", "maxLayers", "layerStrategy", "maxLayerBytes"]) {
                if (!isUnset(imageRaw[k])) {
                    c.fail(`image.${k}`, "is not used with image.fromStack: the image stack decides it");
                }
            }
            return {
                name: "",
                fromStack: fromStackOf(c, imageRaw.fromStack, opts.stack, opts.organization),
                maxLayers: DEFAULTS.maxLayers,
                layerStrategy: DEFAULTS.layerStrategy,
                maxLayerBytes: DEFAULTS.maxLayerBytes,
            };
        }
        return {
            name: c.string("image.name", imageRaw.name, { re: IMAGE_NAME, what: "an image repository name (lowercase, e.g. ml/myproject)", max: 128, required: true }),
            tag: c.string("image.tag", imageRaw.tag, { re: IMAGE_TAG, what: "an image tag ([A-Za-z0-9_.-], at most 128)", max: 128 }),
            maxLayers: c.integer("image.maxLayers", imageRaw.maxLayers, 2, 125, DEFAULTS.maxLayers) ?? DEFAULTS.maxLayers,
            layerStrategy: c.oneOf("image.layerStrategy", imageRaw.layerStrategy, ["popularity", "equal", "stable"] as const, DEFAULTS.layerStrategy),
            maxLayerBytes: c.integer("image.maxLayerBytes", imageRaw.maxLayerBytes, 1024 * 1024, 1024 ** 4, DEFAULTS.maxLayerBytes) ?? DEFAULTS.maxLayerBytes,
        };
    });

    // registry
    const hasPassword = raw.secretsPresent.registryPassword === true;
    const registry = section("registry", () => {
        const regRaw = c.object("registry", val("registry"), ["host", "username", "pullUsername", "insecure", "publisher", "dockerHost", "credentialHelper"]);
        const host = c.string("registry.host", regRaw.host, { re: HOST, what: "a registry host[:port] (no scheme, no path)", max: 253, required: true });
        if (host !== undefined) {
            const port = HOST.exec(host)?.[1];
            if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
                c.fail("registry.host", `port ${port} is out of range`);
            }
        }
        const username = c.string("registry.username", regRaw.username, { re: /^[A-Za-z0-9._@+-]{1,128}$/, what: "a registry user name" });
        if (username !== undefined && !hasPassword && !(raw.emptySecrets ?? []).includes("registryPassword")) {
            c.fail("registryPassword", "registry.username is set but the registryPassword secret is missing (pulumi config set --secret registryPassword …)");
        }
        if (isUnset(regRaw.username) && hasPassword) {
            c.fail("registry.username", "registryPassword is set but registry.username is missing");
        }
        const insecure = c.boolean("registry.insecure", regRaw.insecure, false);
        if (insecure && host !== undefined && !isLoopbackHost(host)) {
            c.fail("registry.insecure", `plain HTTP is only allowed for a loopback registry, not ${c.show(host)}`);
        }
        const publisher = c.oneOf("registry.publisher", regRaw.publisher, ["docker", "skopeo"] as const, DEFAULTS.publisher);
        const dockerHost = c.string("registry.dockerHost", regRaw.dockerHost, { re: /^(unix:\/\/\/[A-Za-z0-9_./-]+|tcp:\/\/127\.0\.0\.1:\d{1,5})$/, what: "unix:///path.sock or tcp://127.0.0.1:PORT" });
        if (dockerHost !== undefined && publisher !== "docker") {
            c.fail("registry.dockerHost", "only used by the docker publisher");
        }
        // A read-only pull token for the cluster, separate from the push credentials of the deployer.
        const hasPullPassword = raw.secretsPresent.registryPullPassword === true;
        const pullUsername = c.string("registry.pullUsername", regRaw.pullUsername, { re: /^[A-Za-z0-9._@+-]{1,128}$/, what: "a registry user name" });
        if (pullUsername !== undefined && !hasPullPassword && !(raw.emptySecrets ?? []).includes("registryPullPassword")) {
            c.fail("registryPullPassword", "registry.pullUsername is set but the registryPullPassword secret is missing (pulumi config set --secret registryPullPassword …)");
        }
        if (isUnset(regRaw.pullUsername) && hasPullPassword) {
            c.fail("registry.pullUsername", "registryPullPassword is set but registry.pullUsername is missing");
        }
        // The docker-credential protocol: `docker-credential-<name> get`, as docker, skopeo and the
        // docker provider run it. Instead of a stored password, never with one.
        const credentialHelper = c.string("registry.credentialHelper", regRaw.credentialHelper, { re: /^[a-z0-9][a-z0-9._-]{0,62}$/, what: "a credential helper name (ecr-login runs docker-credential-ecr-login)" });
        if (credentialHelper !== undefined && (username !== undefined || hasPassword)) {
            c.fail("registry.credentialHelper", "the push takes its credentials from the helper: unset registry.username and the registryPassword secret");
        }
        return { host, username, hasPassword, pullUsername, hasPullPassword, insecure, publisher, dockerHost, credentialHelper };
    });

    // gpu
    const gpu = mode === "publish" ? undefined : section("gpu", () => {
        const gpuRaw = c.object("gpu", val("gpu"), ["product", "count", "migProfile", "migCount", "migStrategy", "resourceName", "minMemoryMiB", "taintKey", "runtimeClassName",
            "placement", "accelerator", "nodeSelector", "tolerations"]);
        const product = c.string("gpu.product", gpuRaw.product, { re: GPU_PRODUCT, what: "a GPU Feature Discovery product label (e.g. NVIDIA-H100-80GB-HBM3)", max: 63 });
        const migProfile = c.string("gpu.migProfile", gpuRaw.migProfile, { re: MIG_PROFILE, what: "a MIG profile like 1g.10gb or 3g.40gb" });
        const migGiven = !isUnset(gpuRaw.migProfile);
        const count = c.integer("gpu.count", gpuRaw.count, 0, 16, migGiven ? 0 : DEFAULTS.gpuCount) ?? 0;
        const migCount = c.integer("gpu.migCount", gpuRaw.migCount, 1, 56, migGiven ? 1 : 0) ?? 0;
        if (migProfile !== undefined && !isUnset(gpuRaw.count) && count > 0) {
            c.fail("gpu.migProfile", `a container requests one device type: MIG profile ${migProfile} and ${count} whole GPU(s) are both requested`);
        }
        if (!migGiven && !isUnset(gpuRaw.migCount)) {
            c.fail("gpu.migCount", "set gpu.migProfile as well");
        }
        // Required when GPUs are requested; null or "" is as good as absent, so it cannot bypass this.
        if ((count > 0 || migGiven) && isUnset(gpuRaw.product)) {
            c.fail("gpu.product", "is required when GPUs are requested (the Deployment selects nodes by it)");
        }
        const migStrategy = c.oneOf("gpu.migStrategy", gpuRaw.migStrategy, ["mixed", "single"] as const, DEFAULTS.migStrategy);
        if (!migGiven && !isUnset(gpuRaw.migStrategy)) {
            c.fail("gpu.migStrategy", "set gpu.migProfile as well");
        }
        const resourceName = c.string("gpu.resourceName", gpuRaw.resourceName, { re: GPU_RESOURCE, what: "an NVIDIA device plugin resource name like nvidia.com/gpu or nvidia.com/gpu.shared" }) ?? DEFAULTS.resourceName;
        const migResource = /^nvidia\.com\/mig-(.+)$/.exec(resourceName);
        if (migResource !== null && !migGiven) {
            c.fail("gpu.resourceName", `${c.show(resourceName)} is a MIG slice resource: set gpu.migProfile: ${migResource[1]} (the mixed strategy names the resource after it) and leave gpu.resourceName unset; as a resource name alone, slices would be requested as if they were whole GPUs`);
        }
        if (migGiven && migStrategy === "mixed" && !isUnset(gpuRaw.resourceName)) {
            c.fail("gpu.resourceName", `the mixed MIG strategy names the resource after the profile (nvidia.com/mig-${migProfile ?? "<profile>"}); unset it`);
        }
        if (product !== undefined) {
            const mig = /-MIG-([1-7]g\.[0-9]+gb(?:\+me)?)$/.exec(product.replace(/-SHARED$/, ""));
            if (mig !== null && (!migGiven || migStrategy !== "single")) {
                c.fail("gpu.product", `${c.show(product)} is the product label of a single-strategy MIG node: set gpu.migStrategy: single and gpu.migProfile: ${mig[1]} (or give the GPU product ${baseProduct(product)})`);
            } else if (mig !== null && migProfile !== undefined && mig[1] !== migProfile) {
                c.fail("gpu.product", `${c.show(product)} is a ${mig[1]} MIG product, but gpu.migProfile is ${migProfile}`);
            }
            // GFD appends -SHARED only when the shared resource keeps the name nvidia.com/gpu (not renamed).
            if (product.endsWith("-SHARED") && resourceName !== "nvidia.com/gpu" && !migGiven) {
                c.fail("gpu.product", `${c.show(product)}: GPU Feature Discovery adds -SHARED only when the shared GPUs keep the resource name nvidia.com/gpu; with ${resourceName} the product label is ${c.show(product.replace(/-SHARED$/, ""))}`);
            }
            // The built CUDA code must run on the product: checked here, at preview, and enforced by
            // node affinity on the GFD compute capability labels.
            const cap = productCapability(product);
            if (capabilitiesChecked && (count > 0 || migGiven) && cap !== undefined && cudaCapabilities.length > 0 && !cudaCapabilities.some((b) => capabilityRuns(b, cap))) {
                c.fail("gpu.product", `${c.show(baseProduct(product))} has CUDA compute capability ${cap}, but nix.cudaCapabilities [${cudaCapabilities.join(", ")}] builds no code that runs on it: add "${cap}" to nix.cudaCapabilities (or [] for nixpkgs' list), or choose another product`);
            }
        }
        const minMemoryMiB = c.integer("gpu.minMemoryMiB", gpuRaw.minMemoryMiB, 1, 1024 * 1024);
        const taintKey = c.string("gpu.taintKey", gpuRaw.taintKey, { re: LABEL_KEY, what: "a taint key" }) ?? DEFAULTS.taintKey;
        // Absent, null or "": none (the cluster's default runtime); GKE has no `nvidia` RuntimeClass.
        const runtimeClassName = c.string("gpu.runtimeClassName", gpuRaw.runtimeClassName, { re: DNS_SUBDOMAIN, what: "a RuntimeClass name" }) ?? DEFAULTS.runtimeClassName;
        const placement = parsePlacement(c, gpuRaw, { product, migGiven, requested: count > 0 || migGiven });
        return {
            product: product !== undefined && migGiven && migStrategy === "single" && migProfile !== undefined && placement.placement === "gfd" ? migSingleProduct(product, migProfile) : product,
            count, migProfile, migCount, migStrategy, resourceName, minMemoryMiB, taintKey, runtimeClassName, ...placement,
        };
    });

    // cluster
    const hasKubeconfig = raw.secretsPresent.kubeconfig === true;
    const cluster = mode === "publish" ? undefined : section("cluster", () => {
        const clRaw = c.object("cluster", val("cluster"), ["name", "namespace", "context", "renderYamlTo", "createNamespace", "imagePullSecret"]);
        const name = c.string("cluster.name", clRaw.name, { re: DNS_LABEL, what: "a DNS label naming the cluster", max: 63, required: true });
        const namespace = c.string("cluster.namespace", clRaw.namespace, { re: DNS_LABEL, what: "a namespace name (DNS label)", max: 63, required: true });
        const context = c.string("cluster.context", clRaw.context, { re: /^[A-Za-z0-9@._:/-]+$/, what: "a kubeconfig context name" });
        const renderYamlTo = c.string("cluster.renderYamlTo", clRaw.renderYamlTo, { re: /^[A-Za-z0-9_./-]+$/, what: "a relative directory", max: 200 });
        if (renderYamlTo !== undefined) {
            const problem = renderDirProblem(opts, renderYamlTo);
            if (problem !== undefined) {
                c.fail("cluster.renderYamlTo", `${c.show(renderYamlTo)} ${problem}`);
            }
        }
        if (!hasKubeconfig && context === undefined && renderYamlTo === undefined && !(raw.emptySecrets ?? []).includes("kubeconfig")) {
            c.fail("kubeconfig", "no kube credentials: set the kubeconfig secret, cluster.context, or cluster.renderYamlTo");
        }
        const createNamespace = c.boolean("cluster.createNamespace", clRaw.createNamespace, DEFAULTS.createNamespace);
        const imagePullSecret = c.string("cluster.imagePullSecret", clRaw.imagePullSecret, { re: DNS_SUBDOMAIN, what: "a Secret name" });
        return { name, namespace, context, hasKubeconfig, renderYamlTo, createNamespace, imagePullSecret };
    });

    // deployment
    const deployment = mode === "publish" ? undefined : section("deployment", () => {
        const depRaw = c.object("deployment", val("deployment"), ["name", "kind", "replicas", "cpu", "memory", "shmSize", "strategy", "rolloutTimeoutSeconds", "minReadySeconds", "port", "probe", "liveness",
            "backoffLimit", "completions", "parallelism", "completionMode", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "wait", "replaceRunning",
            "priorityClassName", "podDisruptionBudget", "podLabels", "podAnnotations", "serviceAccountName", "env", "args", "cache"]);
        const kind = c.oneOf("deployment.kind", depRaw.kind, ["Deployment", "Job"] as const, DEFAULTS.kind);
        const isJob = kind === "Job";
        for (const k of isJob ? ["replicas", "strategy", "minReadySeconds", "probe", "liveness", "podDisruptionBudget"]
            : ["backoffLimit", "completions", "parallelism", "completionMode", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "wait", "replaceRunning"]) {
            if (!isUnset(depRaw[k])) {
                c.fail(`deployment.${k}`, isJob ? "is not used by a Job (deployment.kind: Job)" : "is only used with deployment.kind: Job");
            }
        }
        const name = c.string("deployment.name", depRaw.name, { re: DNS_LABEL, what: "a Deployment name (DNS label)", max: 63, required: true });
        const replicas = c.integer("deployment.replicas", depRaw.replicas, 0, 100, DEFAULTS.replicas) ?? DEFAULTS.replicas;
        const cpu = c.quantity("deployment.cpu", depRaw.cpu, DEFAULTS.cpu);
        const memory = c.quantity("deployment.memory", depRaw.memory, DEFAULTS.memory);
        const shmSize = c.quantity("deployment.shmSize", depRaw.shmSize, DEFAULTS.shmSize);
        const memBytes = quantityValue(memory);
        const shmBytes = quantityValue(shmSize);
        if (memBytes !== undefined && shmBytes !== undefined && shmBytes >= memBytes) {
            c.fail("deployment.shmSize", `${shmSize} of memory-backed /dev/shm counts against the memory limit ${memory}; make it smaller`);
        }
        const strategy = c.oneOf("deployment.strategy", depRaw.strategy, ["Recreate", "RollingUpdate"] as const, DEFAULTS.strategy);
        // A Job is waited for until it completes: up to a week.
        const rolloutTimeoutSeconds = c.integer("deployment.rolloutTimeoutSeconds", depRaw.rolloutTimeoutSeconds, 30, isJob ? 7 * 86400 : 7200, DEFAULTS.rolloutTimeoutSeconds) ?? DEFAULTS.rolloutTimeoutSeconds;
        const minReadySeconds = c.integer("deployment.minReadySeconds", depRaw.minReadySeconds, 0, 3600, DEFAULTS.minReadySeconds) ?? DEFAULTS.minReadySeconds;
        const port = c.integer("deployment.port", depRaw.port, 1, 65535);
        const probe = parseProbe(c, depRaw.probe, port, rolloutTimeoutSeconds);
        const liveness = parseLiveness(c, depRaw.liveness, port);
        if (liveness !== undefined && probe?.liveness === false) {
            c.fail("deployment.liveness", "deployment.probe.liveness is false: set one or the other");
        }
        const job: JobConfig = {
            backoffLimit: c.integer("deployment.backoffLimit", depRaw.backoffLimit, 0, 100, DEFAULTS.backoffLimit) ?? DEFAULTS.backoffLimit,
            completions: c.integer("deployment.completions", depRaw.completions, 1, 1000, 1) ?? 1,
            parallelism: c.integer("deployment.parallelism", depRaw.parallelism, 1, 1000, 1) ?? 1,
            completionMode: c.oneOf("deployment.completionMode", depRaw.completionMode, ["NonIndexed", "Indexed"] as const, "NonIndexed"),
            activeDeadlineSeconds: c.integer("deployment.activeDeadlineSeconds", depRaw.activeDeadlineSeconds, 1, 365 * 86400),
            ttlSecondsAfterFinished: c.integer("deployment.ttlSecondsAfterFinished", depRaw.ttlSecondsAfterFinished, 0, 365 * 86400),
            wait: c.boolean("deployment.wait", depRaw.wait, true),
            replaceRunning: c.boolean("deployment.replaceRunning", depRaw.replaceRunning, false),
        };
        if (job.parallelism > job.completions) {
            c.fail("deployment.parallelism", `${job.parallelism} pods at once for ${job.completions} completion(s): at most deployment.completions`);
        }
        const priorityClassName = c.string("deployment.priorityClassName", depRaw.priorityClassName, { re: DNS_SUBDOMAIN, what: "a PriorityClass name" });
        const podDisruptionBudget = parseDisruptionBudget(c, depRaw.podDisruptionBudget);
        const blocked = podDisruptionBudget === undefined ? undefined : budgetBlocksDrains(podDisruptionBudget, replicas);
        if (blocked !== undefined) {
            c.fail("deployment.podDisruptionBudget", `${blocked}: no pod may ever be evicted, so every node drain (upgrades, autoscaler scale-down) stalls on this Deployment; allow one disruption (e.g. maxUnavailable: 1) or run more replicas`);
        }
        const serviceAccountName = c.string("deployment.serviceAccountName", depRaw.serviceAccountName, { re: DNS_SUBDOMAIN, what: "a ServiceAccount name" });
        const env = envMap(c, depRaw.env);
        const args = isUnset(depRaw.args) ? undefined : c.stringList("deployment.args", depRaw.args, ARG_TEXT, "an argument", { dflt: [], max: 64, itemMax: 4096 });
        const cache = parseCache(c, depRaw.cache);
        const podLabels = stringMap(c, "deployment.podLabels", depRaw.podLabels, LABEL_VALUE, "a label value");
        for (const k of Object.keys(podLabels)) {
            if (k.startsWith("app.kubernetes.io/")) {
                c.fail(`deployment.podLabels.${keySegment(k)}`, "the app.kubernetes.io/ labels are the workload's selector and set by the program");
            }
        }
        const podAnnotations = stringMap(c, "deployment.podAnnotations", depRaw.podAnnotations, ARG_TEXT, "an annotation value of printable characters");
        return {
            name, replicas, cpu, memory, shmSize, strategy, rolloutTimeoutSeconds, kind, minReadySeconds, port, probe, liveness, job,
            priorityClassName, podDisruptionBudget, podLabels, podAnnotations, serviceAccountName, env, args, cache,
        };
    });

    const { name: imageName } = image;
    const { host } = registry;
    if (c.errors.length > 0 || imageName === undefined || host === undefined) {
        return { ok: false, errors: c.errors };
    }
    const base = {
        mode,
        nix: { entry, overlays, pythonPackages, python, ...(sources === undefined ? {} : { sources }), cudaCapabilities, system, settings },
        image: { ...image, name: imageName },
        registry: { ...registry, host },
    };
    if (gpu === undefined || cluster === undefined || deployment === undefined) {
        return { ok: true, config: base };
    }
    const { name: clusterName, namespace } = cluster;
    const { name: depName } = deployment;
    if (clusterName === undefined || namespace === undefined || depName === undefined) {
        return { ok: false, errors: c.errors };
    }
    return {
        ok: true,
        config: {
            ...base,
            gpu,
            cluster: { ...cluster, name: clusterName, namespace },
            deployment: { ...deployment, name: depName },
        },
    };
}

/** A project-relative path as a stack names a project file (nix.entry, nix.sources). */
const PROJECT_PATH = { re: /^[A-Za-z0-9_./-]+$/, what: "a relative path of plain characters", max: 200 };

/** Checks a project file a stack names: inside the project (symlinks resolved), a .nix file, existing. */
function projectNixFile(c: Checker, opts: ParseOptions, property: string, file: string, messages: { notNix: string; missing: string }): boolean {
    const where = confinedRealPath(opts, file);
    if (!where.ok) {
        c.fail(property, `${c.show(file)} ${where.reason}`);
    } else if (!/\.nix$/.test(file)) {
        c.fail(property, `${c.show(file)} ${messages.notNix}`);
    } else if (!where.exists) {
        c.fail(property, `${c.show(file)} ${messages.missing}`);
    } else {
        return true;
    }
    return false;
}

/** `image.fromStack`: another stack, never this one (its own export cannot exist before it runs). */
function fromStackOf(c: Checker, v: unknown, self: string | undefined, organization: string | undefined): string | undefined {
    const ref = c.string("image.fromStack", v, { re: STACK_REF, what: "a stack: org/project/stack, or a stack name of this project", max: 300 });
    if (ref === undefined || self === undefined) {
        return ref;
    }
    const parts = ref.split("/");
    const [org, project, stack] = parts.length === 1 ? [organization, PROJECT, parts[0]] : parts;
    // Another organization's stack of the same name is another stack; with the organization unknown, the name decides.
    if (project === PROJECT && stack === self && (organization === undefined || org === organization)) {
        c.fail("image.fromStack", `${c.show(ref)} is this stack: a stack that promotes runs the image another stack built and published (image.publishOnly there), by its imageRef output`);
        return undefined;
    }
    return ref;
}

/** `deployment.probe`: one health check for the startup, readiness and liveness probes. */
function parseProbe(c: Checker, v: unknown, port: number | undefined, rolloutTimeoutSeconds: number): ProbeConfig | undefined {
    if (isUnset(v)) {
        return undefined;
    }
    const raw = c.object("deployment.probe", v, ["type", "path", "port", "command", "startupTimeoutSeconds", "periodSeconds", "liveness"]);
    if (Object.keys(raw).length === 0) {
        return undefined;
    }
    const type = c.oneOf("deployment.probe.type", raw.type, ["http", "tcp", "exec"] as const, "http");
    if (isUnset(raw.type)) {
        c.fail("deployment.probe.type", "is required: http, tcp or exec");
    }
    const probe: ProbeConfig = {
        type,
        // Default: as long as the rollout may take (and at most 30 min).
        startupTimeoutSeconds: c.integer("deployment.probe.startupTimeoutSeconds", raw.startupTimeoutSeconds, 10, 86400) ?? Math.min(DEFAULTS.startupTimeoutSeconds, rolloutTimeoutSeconds),
        periodSeconds: c.integer("deployment.probe.periodSeconds", raw.periodSeconds, 1, 300, DEFAULTS.probePeriodSeconds) ?? DEFAULTS.probePeriodSeconds,
        liveness: c.boolean("deployment.probe.liveness", raw.liveness, true),
    };
    if (probe.startupTimeoutSeconds > rolloutTimeoutSeconds) {
        c.fail("deployment.probe.startupTimeoutSeconds", `${probe.startupTimeoutSeconds} s is longer than deployment.rolloutTimeoutSeconds (${rolloutTimeoutSeconds} s, the Deployment's progress deadline): the rollout would be declared failed while a pod is still allowed to start; raise deployment.rolloutTimeoutSeconds or lower this`);
    }
    if (type === "exec") {
        for (const k of ["path", "port"]) {
            if (!isUnset(raw[k])) {
                c.fail(`deployment.probe.${k}`, "is not used by an exec probe");
            }
        }
        probe.command = c.stringList("deployment.probe.command", raw.command, ARG_TEXT, "an argument", { dflt: [], max: 32, nonEmpty: true, itemMax: 1024 });
        if (isUnset(raw.command)) {
            c.fail("deployment.probe.command", "is required for an exec probe (an argument vector)");
        }
    } else {
        if (!isUnset(raw.command)) {
            c.fail("deployment.probe.command", `is not used by a ${type} probe`);
        }
        probe.port = c.integer("deployment.probe.port", raw.port, 1, 65535) ?? port;
        if (probe.port === undefined) {
            c.fail("deployment.probe.port", `a ${type} probe needs a port: set deployment.port or deployment.probe.port`);
        }
        if (type === "http") {
            probe.path = c.string("deployment.probe.path", raw.path, { re: /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, what: "an absolute request path like /healthz", max: 512 }) ?? "/";
        } else if (!isUnset(raw.path)) {
            c.fail("deployment.probe.path", "is not used by a tcp probe");
        }
    }
    return probe;
}

/** `gpu.placement` and what goes with it (components/kubernetes/placement.ts). */
function parsePlacement(c: Checker, raw: Record<string, unknown>, g: { product?: string; migGiven: boolean; requested: boolean }):
    { placement: PlacementProfile; accelerator?: string; nodeSelector: Record<string, string>; tolerations: Toleration[] } {
    const placement = c.oneOf("gpu.placement", raw.placement, PLACEMENT_PROFILES, DEFAULTS.placement);
    const accelerator = c.string("gpu.accelerator", raw.accelerator, { re: LABEL_VALUE, what: "a node label value (GKE: nvidia-h100-80gb; AWS: h100)", max: 63 });
    const nodeSelector = stringMap(c, "gpu.nodeSelector", raw.nodeSelector, LABEL_VALUE, "a label value");
    const tolerations = parseTolerations(c, raw.tolerations);
    const only = (k: string, profiles: string) => c.fail(`gpu.${k}`, `is only used with gpu.placement: ${profiles} (it is ${placement})`);
    if (placement !== "custom") {
        if (!isUnset(raw.nodeSelector)) {
            only("nodeSelector", "custom");
        }
        if (!isUnset(raw.tolerations)) {
            only("tolerations", "custom");
        }
    } else if (g.requested && Object.keys(nodeSelector).length === 0) {
        c.fail("gpu.nodeSelector", "gpu.placement: custom selects GPU nodes by gpu.nodeSelector alone: give at least one label (without one, GPU pods may land on any node)");
    }
    if (accelerator !== undefined && (placement === "gfd" || placement === "custom")) {
        only("accelerator", "gke, eks or karpenter");
    }
    if (g.migGiven && (placement === "eks" || placement === "karpenter")) {
        c.fail("gpu.migProfile", `MIG devices on AWS come from the NVIDIA GPU Operator, whose labels are GFD's: use gpu.placement: gfd (or custom), not ${placement}`);
    }
    if (g.requested && accelerator === undefined && g.product !== undefined && (placement === "gke" || placement === "eks" || placement === "karpenter")
        && acceleratorFor(placement, g.product) === undefined) {
        const label = placement === "gke" ? GKE_ACCELERATOR_LABEL : placement === "eks" ? EKS_GPU_NAME_LABEL : KARPENTER_GPU_NAME_LABEL;
        c.fail("gpu.accelerator", `no ${label} value is known for ${c.show(g.product)}: set gpu.accelerator to the value the ${placement} nodes carry`);
    }
    return { placement, ...(accelerator !== undefined ? { accelerator } : {}), nodeSelector, tolerations };
}

/** `gpu.tolerations` (custom placement): taints the pods tolerate. */
function parseTolerations(c: Checker, v: unknown): Toleration[] {
    if (isUnset(v)) {
        return [];
    }
    if (!Array.isArray(v)) {
        c.fail("gpu.tolerations", `must be a list of { key, operator, value, effect }, got ${c.show(v)}`);
        return [];
    }
    const out: Toleration[] = [];
    c.capped("gpu.tolerations", v.slice(0, 16), "tolerations", (t, i) => {
        const p = `gpu.tolerations[${i}]`;
        const raw = c.object(p, t, ["key", "operator", "value", "effect"]);
        const key = c.string(`${p}.key`, raw.key, { re: LABEL_KEY, what: "a taint key", required: true });
        const operator = c.oneOf(`${p}.operator`, raw.operator, ["Exists", "Equal"] as const, isUnset(raw.value) ? "Exists" : "Equal");
        const value = c.string(`${p}.value`, raw.value, { re: LABEL_VALUE, what: "a taint value" });
        if (operator === "Exists" && value !== undefined) {
            c.fail(`${p}.value`, "is not used with operator Exists");
        }
        const effect = isUnset(raw.effect) ? undefined : c.oneOf(`${p}.effect`, raw.effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const, "NoSchedule");
        if (key !== undefined) {
            out.push({ key, operator, ...(value !== undefined ? { value } : {}), ...(effect !== undefined ? { effect } : {}) });
        }
    });
    return out;
}

/** `deployment.liveness`: a liveness check of its own (`probe` still gives startup and readiness). */
function parseLiveness(c: Checker, v: unknown, port: number | undefined): LivenessConfig | undefined {
    if (isUnset(v)) {
        return undefined;
    }
    const raw = c.object("deployment.liveness", v, ["type", "path", "port", "command", "periodSeconds", "failureThreshold"]);
    const type = c.oneOf("deployment.liveness.type", raw.type, ["http", "tcp", "exec"] as const, "http");
    const out: LivenessConfig = {
        type,
        periodSeconds: c.integer("deployment.liveness.periodSeconds", raw.periodSeconds, 1, 300, 20) ?? 20,
        failureThreshold: c.integer("deployment.liveness.failureThreshold", raw.failureThreshold, 1, 100, 3) ?? 3,
    };
    if (type === "exec") {
        out.command = c.stringList("deployment.liveness.command", raw.command, ARG_TEXT, "an argument", { dflt: [], max: 32, nonEmpty: true, itemMax: 1024 });
        if (isUnset(raw.command)) {
            c.fail("deployment.liveness.command", "is required for an exec check (an argument vector)");
        }
    } else {
        out.port = c.integer("deployment.liveness.port", raw.port, 1, 65535) ?? port;
        if (out.port === undefined) {
            c.fail("deployment.liveness.port", `a ${type} check needs a port: set deployment.port or deployment.liveness.port`);
        }
        if (type === "http") {
            out.path = c.string("deployment.liveness.path", raw.path, { re: /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, what: "an absolute request path like /livez", max: 512 }) ?? "/";
        }
    }
    return out;
}

/**
 * Pure: why a disruption budget allows no eviction with this many replicas, or undefined when it
 * allows one. As the disruption controller computes it: percentages of the replicas, rounded up.
 */
export function budgetBlocksDrains(pdb: { minAvailable?: number | string; maxUnavailable?: number | string }, replicas: number): string | undefined {
    if (replicas === 0) {
        return undefined;
    }
    const scaled = (x: number | string) => (typeof x === "number" ? x : Math.ceil((Number(x.replace("%", "")) * replicas) / 100));
    if (pdb.minAvailable !== undefined && scaled(pdb.minAvailable) >= replicas) {
        return `minAvailable ${pdb.minAvailable} with ${replicas} replica${replicas === 1 ? "" : "s"}`;
    }
    if (pdb.maxUnavailable !== undefined && scaled(pdb.maxUnavailable) <= 0) {
        return `maxUnavailable ${pdb.maxUnavailable}`;
    }
    return undefined;
}

/** `deployment.env`: extra environment variables (names as POSIX shells take them). */
function envMap(c: Checker, v: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    if (isUnset(v)) {
        return out;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        c.fail("deployment.env", `must be a map of variable names to strings, got ${c.show(v)}`);
        return out;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    c.capped("deployment.env", entries.slice(0, 128), "variables", ([k, x]) => {
        const at = `deployment.env.${keySegment(k)}`;
        if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) {
            c.fail(at, "is not an environment variable name (letters, digits, _)");
            return;
        }
        if (RESERVED_ENV.includes(k)) {
            c.fail(at, `is set by the program (${RESERVED_ENV.join(", ")}): the cache directories follow deployment.cache`);
            return;
        }
        const s = typeof x === "number" || typeof x === "boolean" ? String(x) : x;
        const val = c.string(at, s, { re: SAFE_TEXT, what: "text without control characters", max: 8192 });
        if (val !== undefined) {
            out[k] = val;
        }
    });
    return out;
}

/** Environment variables the pod spec sets itself (gpuPodSpec CACHE_ENV and the cache volume). */
const RESERVED_ENV = ["HOME", "HF_HOME", "TORCH_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "CUDA_CACHE_PATH", "XDG_CACHE_HOME", "NVIDIA_VISIBLE_DEVICES"];

/** `deployment.cache`: `{ sizeLimit }` (emptyDir) or `{ claimName, readOnly }` (an existing PVC). */
function parseCache(c: Checker, v: unknown): CacheConfig {
    if (isUnset(v)) {
        return { kind: "emptyDir", sizeLimit: DEFAULTS.cacheSize };
    }
    const raw = c.object("deployment.cache", v, ["sizeLimit", "claimName", "readOnly"]);
    const sizeLimit = c.quantity("deployment.cache.sizeLimit", raw.sizeLimit, DEFAULTS.cacheSize);
    const claimName = c.string("deployment.cache.claimName", raw.claimName, { re: DNS_SUBDOMAIN, what: "a PersistentVolumeClaim name" });
    if (claimName === undefined) {
        if (!isUnset(raw.readOnly)) {
            c.fail("deployment.cache.readOnly", "is only used with deployment.cache.claimName");
        }
        return { kind: "emptyDir", sizeLimit };
    }
    // With a read-only claim, sizeLimit bounds the emptyDir the compiler caches stay on.
    return { kind: "claim", claimName, readOnly: c.boolean("deployment.cache.readOnly", raw.readOnly, true), sizeLimit };
}

/** `deployment.podDisruptionBudget`: exactly one of minAvailable, maxUnavailable (a count or a percentage). */
function parseDisruptionBudget(c: Checker, v: unknown): { minAvailable?: number | string; maxUnavailable?: number | string } | undefined {
    if (isUnset(v)) {
        return undefined;
    }
    const raw = c.object("deployment.podDisruptionBudget", v, ["minAvailable", "maxUnavailable"]);
    const one = (k: "minAvailable" | "maxUnavailable"): number | string | undefined => {
        const x = raw[k];
        if (isUnset(x)) {
            return undefined;
        }
        if (typeof x === "string" && /^(100|[1-9]?[0-9])%$/.test(x)) {
            return x;
        }
        return c.integer(`deployment.podDisruptionBudget.${k}`, x, 0, 1000);
    };
    const out = { minAvailable: one("minAvailable"), maxUnavailable: one("maxUnavailable") };
    const given = ["minAvailable", "maxUnavailable"].filter((k) => !isUnset(raw[k]));
    if (given.length !== 1 && (typeof v === "object" && v !== null && !Array.isArray(v))) {
        c.fail("deployment.podDisruptionBudget", "set exactly one of minAvailable, maxUnavailable (a count, or a percentage like \"50%\")");
        return undefined;
    }
    return out.minAvailable !== undefined ? { minAvailable: out.minAvailable } : out.maxUnavailable !== undefined ? { maxUnavailable: out.maxUnavailable } : undefined;
}

/** A map of label keys to string values (pod labels, pod annotations). */
function stringMap(c: Checker, p: string, v: unknown, valueRe: RegExp, what: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (isUnset(v)) {
        return out;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        c.fail(p, `must be a map of keys to strings, got ${c.show(v)}`);
        return out;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > 64) {
        c.fail(p, `has ${entries.length} entries; at most 64 allowed`);
    }
    c.capped(p, entries.slice(0, 64), "entries", ([k, x]) => {
        const at = `${p}.${keySegment(k)}`;
        if (!LABEL_KEY.test(k) || k.length > 316) {
            c.fail(at, "is not a Kubernetes label/annotation key (prefix/name)");
            return;
        }
        const s = typeof x === "number" || typeof x === "boolean" ? String(x) : x;
        if (s === "" && valueRe === LABEL_VALUE) {
            out[k] = "";
            return;
        }
        const val = c.string(at, s, { re: valueRe, what, max: 4096, required: true });
        if (val !== undefined) {
            out[k] = val;
        }
    });
    return out;
}

/**
 * Why `dir` cannot take rendered manifests, if it cannot: it must be a dedicated subdirectory of the
 * project — not the project itself, not hidden (`.git`, `.pulumi-local`), not a source directory,
 * not a file, and (symlinks resolved) inside the project.
 */
export function renderDirProblem(opts: ParseOptions, dir: string): string | undefined {
    const abs = confinedPath(opts.projectRoot, dir);
    if (abs === undefined) {
        return "must be a directory inside the project (relative, no '..')";
    }
    const rel = path.relative(path.resolve(opts.projectRoot), abs);
    const segments = rel.split(path.sep);
    if (rel === "") {
        return "is the project directory itself: use a dedicated subdirectory, e.g. rendered";
    }
    const where = confinedRealPath(opts, rel);
    if (!where.ok) {
        return where.reason;
    }
    if (segments.some((s) => s.startsWith("."))) {
        return "is or lies in a hidden directory (.git, .pulumi-local, …): use a dedicated subdirectory, e.g. rendered";
    }
    if (PROJECT_DIRS.includes(segments[0])) {
        return `lies in the project's ${segments[0]}/ directory: use a dedicated subdirectory, e.g. rendered`;
    }
    // `dir/.` exists only when dir is a directory (a file gives ENOTDIR).
    if (where.exists && !opts.fileExists(`${abs}${path.sep}.`)) {
        return "is a file, not a directory";
    }
    return undefined;
}

/** One message listing every problem (at most MAX_PROBLEMS_SHOWN lines), for the engine's error display. */
export function formatProblems(errors: ConfigProblem[]): string {
    const shown = errors.slice(0, MAX_PROBLEMS_SHOWN).map((e) => `  - ${e.propertyPath}: ${e.reason}`);
    if (errors.length > MAX_PROBLEMS_SHOWN) {
        shown.push(`  … and ${errors.length - MAX_PROBLEMS_SHOWN} more problems`);
    }
    return `${PROJECT}: invalid stack configuration (${errors.length} problem${errors.length === 1 ? "" : "s"})\n${shown.join("\n")}`;
}

/** The sections of a stack that runs the image (every mode but `publish`). */
export type GpuConfig = NonNullable<StackConfig["gpu"]>;
export type ClusterConfig = NonNullable<StackConfig["cluster"]>;
export type DeploymentConfig = NonNullable<StackConfig["deployment"]>;
/** A stack that runs the image: its gpu, cluster and deployment sections are there. */
export type RunningStackConfig = StackConfig & { gpu: GpuConfig; cluster: ClusterConfig; deployment: DeploymentConfig };
export function runsImage(c: StackConfig): c is RunningStackConfig {
    return c.gpu !== undefined && c.cluster !== undefined && c.deployment !== undefined;
}
