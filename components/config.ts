// Stack configuration: the one place that knows every key, its type, default and constraints.
// `parseStackConfig` is pure (file checks are injected) and reports every problem at once, each
// naming its property path, so that no resource exists before the whole config is valid.
import * as path from "path";

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

export interface StackConfig {
    nix: {
        /** Nix entry file, relative to the project root. */
        entry: string;
        overlays: OverlayConfig[];
        pythonPackages: string[];
        cudaCapabilities: string[];
    };
    image: {
        name: string;
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
        insecure: boolean;
        publisher: Publisher;
        dockerHost?: string;
    };
    gpu: {
        /** GPU Feature Discovery product label value, e.g. NVIDIA-H100-80GB-HBM3. */
        product?: string;
        count: number;
        migProfile?: string;
        migCount: number;
        minMemoryMiB?: number;
        taintKey: string;
        runtimeClassName?: string;
    };
    cluster: {
        name: string;
        namespace: string;
        context?: string;
        hasKubeconfig: boolean;
        renderYamlTo?: string;
    };
    deployment: {
        name: string;
        replicas: number;
        cpu: string;
        memory: string;
        shmSize: string;
        strategy: RolloutStrategy;
        rolloutTimeoutSeconds: number;
    };
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
    kubeconfig: { secret: true },
} as const;
export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Raw config as the engine hands it over: JSON text per key (objects) or plain text; secrets as booleans (present or not). */
export interface RawStackConfig {
    values: Partial<Record<string, unknown>>;
    secretsPresent: Partial<Record<"registryPassword" | "kubeconfig", boolean>>;
    /** Secret keys that hold a non-empty value that is not encrypted. */
    plaintextSecrets?: Array<"registryPassword" | "kubeconfig">;
    /** Keys set in the stack (with or without the project prefix), to catch typos. */
    keysSet?: string[];
}

export interface ParseOptions {
    /** Absolute project root; nix.entry and overlays are resolved and confined here. */
    projectRoot: string;
    /** Existence check, injected so tests stay pure. */
    fileExists: (absPath: string) => boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const REPO_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const IMAGE_NAME = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/;
const GPU_PRODUCT = /^NVIDIA-[A-Za-z0-9]([A-Za-z0-9._-]{0,54}[A-Za-z0-9])?$/;
const MIG_PROFILE = /^[1-7]g\.[1-9][0-9]{0,2}gb(\+me)?$/;
const CUDA_CAPABILITY = /^(?:[3-9]|1[0-2])\.[0-9]a?$/;
const LOWER_CAMEL = /^[a-z][A-Za-z0-9]{0,39}$/;
const PYTHON_ATTR = /^[A-Za-z_][A-Za-z0-9_-]{0,79}$/;
const QUANTITY = /^(?:[0-9]+(?:\.[0-9]+)?)(?:m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/;
const LABEL_KEY = /^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const SAFE_TEXT = /^[^\u0000-\u001f\u007f]*$/;

export const DEFAULTS = {
    nixEntry: "nix/build_container.nix",
    overlays: [{ name: "replaceTorch", args: {} }] as OverlayConfig[],
    pythonPackages: ["numpy", "torch", "pytorch-lightning", "doctr"],
    cudaCapabilities: ["8.0"],
    maxLayers: 100,
    layerStrategy: "stable" as LayerStrategy,
    maxLayerBytes: 10 * 1024 ** 3,
    publisher: "docker" as Publisher,
    gpuCount: 1,
    taintKey: "nvidia.com/gpu",
    runtimeClassName: "nvidia",
    replicas: 1,
    cpu: "4",
    memory: "32Gi",
    shmSize: "8Gi",
    strategy: "RollingUpdate" as RolloutStrategy,
    rolloutTimeoutSeconds: 600,
};

/** Converts a Kubernetes quantity to bytes (or cores); undefined when it does not parse. */
export function quantityValue(q: string): number | undefined {
    const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/.exec(q);
    if (!m) {
        return undefined;
    }
    const factors: Record<string, number> = {
        "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
        Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5,
    };
    return Number(m[1]) * factors[m[2] ?? ""];
}

export function isLoopbackHost(host: string): boolean {
    const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `replaceTorch` → `replace-torch`. */
export function kebabCase(name: string): string {
    return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Resolves a project-relative path, refusing anything that leaves the project root. */
export function confinedPath(projectRoot: string, rel: string): string | undefined {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
        return undefined;
    }
    const abs = path.resolve(projectRoot, rel);
    const root = path.resolve(projectRoot);
    return abs === root || abs.startsWith(root + path.sep) ? abs : undefined;
}

/** The overlay file that `name` refers to, next to the Nix entry. */
export function overlayFile(entry: string, name: string): string {
    return path.posix.join(path.posix.dirname(entry), "overlay", `${kebabCase(name)}.nix`);
}

class Checker {
    readonly errors: ConfigProblem[] = [];

    fail(propertyPath: string, reason: string): undefined {
        this.errors.push({ propertyPath: `${PROJECT}:${propertyPath}`, reason });
        return undefined;
    }

    object(p: string, v: unknown, allowed: readonly string[]): Record<string, unknown> {
        if (v === undefined || v === null) {
            return {};
        }
        if (typeof v !== "object" || Array.isArray(v)) {
            this.fail(p, `must be an object with keys ${allowed.join(", ")}`);
            return {};
        }
        for (const k of Object.keys(v)) {
            if (!allowed.includes(k)) {
                this.fail(`${p}.${k}`, `unknown key (known: ${allowed.join(", ")})`);
            }
        }
        return v as Record<string, unknown>;
    }

    string(p: string, v: unknown, opts: { re?: RegExp; what?: string; max?: number; required?: boolean } = {}): string | undefined {
        if (v === undefined || v === null || v === "") {
            return opts.required ? this.fail(p, "is required") : undefined;
        }
        if (typeof v !== "string") {
            return this.fail(p, `must be a string, got ${typeof v}`);
        }
        const max = opts.max ?? 253;
        if (v.length > max) {
            return this.fail(p, `is ${v.length} characters long; at most ${max} allowed`);
        }
        if (!SAFE_TEXT.test(v)) {
            return this.fail(p, "contains control characters");
        }
        if (opts.re && !opts.re.test(v)) {
            return this.fail(p, `${JSON.stringify(v)} is not ${opts.what ?? `of the form ${opts.re}`}`);
        }
        return v;
    }

    integer(p: string, v: unknown, min: number, max: number, dflt?: number): number | undefined {
        if (v === undefined || v === null || v === "") {
            return dflt;
        }
        const n = typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isFinite(n)) {
            return this.fail(p, `must be an integer, got ${JSON.stringify(v)}`);
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
        if (v === undefined || v === null || v === "") {
            return dflt;
        }
        if (v === true || v === "true") {
            return true;
        }
        if (v === false || v === "false") {
            return false;
        }
        this.fail(p, `must be true or false, got ${JSON.stringify(v)}`);
        return dflt;
    }

    oneOf<T extends string>(p: string, v: unknown, options: readonly T[], dflt: T): T {
        if (v === undefined || v === null || v === "") {
            return dflt;
        }
        if (typeof v !== "string" || !options.includes(v as T)) {
            this.fail(p, `must be one of ${options.join(", ")}, got ${JSON.stringify(v)}`);
            return dflt;
        }
        return v as T;
    }

    stringList(p: string, v: unknown, re: RegExp, what: string, opts: { dflt: string[]; max: number; nonEmpty?: boolean }): string[] {
        if (v === undefined || v === null) {
            return opts.dflt;
        }
        if (!Array.isArray(v)) {
            this.fail(p, "must be a list");
            return opts.dflt;
        }
        if (v.length > opts.max) {
            this.fail(p, `has ${v.length} entries; at most ${opts.max} allowed`);
        }
        if (opts.nonEmpty && v.length === 0) {
            this.fail(p, "must not be empty");
        }
        const out: string[] = [];
        v.forEach((item, i) => {
            const s = this.string(`${p}[${i}]`, item, { re, what, max: 128, required: true });
            if (s !== undefined) {
                if (out.includes(s)) {
                    this.fail(`${p}[${i}]`, `duplicate entry ${JSON.stringify(s)}`);
                }
                out.push(s);
            }
        });
        return out;
    }

    quantity(p: string, v: unknown, dflt: string): string {
        const s = this.string(p, v, { re: QUANTITY, what: "a Kubernetes quantity (e.g. 500m, 16Gi)", max: 32 }) ?? dflt;
        const n = quantityValue(s);
        if (n !== undefined && n <= 0) {
            this.fail(p, "must be greater than zero");
        }
        return s;
    }
}

/** JSON text from the engine → value; plain values pass through. */
function decode(c: Checker, key: string, v: unknown): unknown {
    if (typeof v !== "string") {
        return v;
    }
    try {
        return JSON.parse(v);
    } catch {
        return c.fail(key, "is not valid JSON (set it with `pulumi config set --path` or as a YAML object in the stack file)");
    }
}

function parseOverlays(c: Checker, v: unknown, entry: string | undefined, opts: ParseOptions): OverlayConfig[] {
    if (v === undefined || v === null) {
        return DEFAULTS.overlays;
    }
    if (!Array.isArray(v)) {
        c.fail("nix.overlays", "must be a list of { name, args }");
        return [];
    }
    if (v.length > 16) {
        c.fail("nix.overlays", `has ${v.length} entries; at most 16 allowed`);
    }
    const out: OverlayConfig[] = [];
    v.forEach((item, i) => {
        const p = `nix.overlays[${i}]`;
        const o = c.object(p, item, ["name", "args"]);
        const name = c.string(`${p}.name`, o.name, { re: LOWER_CAMEL, what: "a lowerCamelCase overlay name", max: 40, required: true });
        if (name === undefined) {
            return;
        }
        if (out.some((x) => x.name === name)) {
            c.fail(`${p}.name`, `overlay ${JSON.stringify(name)} is listed twice`);
            return;
        }
        if (entry !== undefined) {
            const file = overlayFile(entry, name);
            const abs = confinedPath(opts.projectRoot, file);
            if (abs === undefined || !opts.fileExists(abs)) {
                c.fail(`${p}.name`, `no overlay file ${file} next to the Nix entry`);
            }
        }
        const args: Record<string, OverlayArgValue> = {};
        const rawArgs = o.args === undefined ? {} : o.args;
        if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
            c.fail(`${p}.args`, "must be an object of overlay arguments");
        } else {
            for (const [k, val] of Object.entries(rawArgs)) {
                const ap = `${p}.args.${k}`;
                if (!LOWER_CAMEL.test(k)) {
                    c.fail(ap, "argument names must be lowerCamelCase identifiers");
                    continue;
                }
                if (typeof val === "boolean" || (typeof val === "number" && Number.isFinite(val))) {
                    args[k] = val;
                } else if (typeof val === "string") {
                    const s = c.string(ap, val, { max: 256 });
                    if (s !== undefined) {
                        args[k] = s;
                    }
                } else if (Array.isArray(val)) {
                    args[k] = c.stringList(ap, val, /^[A-Za-z0-9_.+-]+$/, "a plain word", { dflt: [], max: 64 });
                } else {
                    c.fail(ap, "must be a string, number, boolean or list of strings");
                }
            }
        }
        out.push({ name, args });
    });
    return out;
}

/** Validates the whole stack config; every problem is reported, each with its property path. */
export function parseStackConfig(raw: RawStackConfig, opts: ParseOptions): ParseResult {
    const c = new Checker();
    const val = (k: ConfigKey) => decode(c, k, raw.values[k]);

    for (const k of raw.keysSet ?? []) {
        const bare = k.startsWith(`${PROJECT}:`) ? k.slice(PROJECT.length + 1) : k.includes(":") ? undefined : k;
        if (bare !== undefined && !(bare in CONFIG_KEYS)) {
            c.fail(bare, `unknown config key (known: ${Object.keys(CONFIG_KEYS).join(", ")})`);
        }
    }

    for (const k of raw.plaintextSecrets ?? []) {
        c.fail(k, `must be a secret: set it with \`pulumi config set --secret ${k}\` (a plaintext value would be stored unencrypted)`);
    }

    // nix
    const nixRaw = c.object("nix", val("nix"), ["entry", "overlays", "pythonPackages", "cudaCapabilities"]);
    let entry = c.string("nix.entry", nixRaw.entry, { re: /^[A-Za-z0-9_./-]+$/, what: "a relative path of plain characters", max: 200 }) ?? DEFAULTS.nixEntry;
    const entryAbs = confinedPath(opts.projectRoot, entry);
    if (entryAbs === undefined) {
        c.fail("nix.entry", `${JSON.stringify(entry)} must stay inside the project (relative, no '..')`);
    } else if (!/\.nix$/.test(entry)) {
        c.fail("nix.entry", `${JSON.stringify(entry)} must name a .nix file`);
    } else if (!opts.fileExists(entryAbs)) {
        c.fail("nix.entry", `${entry} does not exist`);
    }
    entry = entry.replace(/^\.\//, "");
    const overlays = parseOverlays(c, nixRaw.overlays, entryAbs === undefined ? undefined : entry, opts);
    const pythonPackages = c.stringList("nix.pythonPackages", nixRaw.pythonPackages, PYTHON_ATTR, "a Python package attribute name", { dflt: DEFAULTS.pythonPackages, max: 200 });
    const cudaCapabilities = c.stringList("nix.cudaCapabilities", nixRaw.cudaCapabilities, CUDA_CAPABILITY, "a CUDA compute capability like 8.0 or 9.0", { dflt: DEFAULTS.cudaCapabilities, max: 16, nonEmpty: true });

    // image
    const imageRaw = c.object("image", val("image"), ["name", "tag", "maxLayers", "layerStrategy", "maxLayerBytes"]);
    const imageName = c.string("image.name", imageRaw.name, { re: IMAGE_NAME, what: "an image repository name (lowercase, e.g. ml/myproject)", max: 128, required: true });
    const imageTag = c.string("image.tag", imageRaw.tag, { re: IMAGE_TAG, what: "an image tag ([A-Za-z0-9_.-], at most 128)", max: 128 });
    const maxLayers = c.integer("image.maxLayers", imageRaw.maxLayers, 2, 125, DEFAULTS.maxLayers) ?? DEFAULTS.maxLayers;
    const layerStrategy = c.oneOf("image.layerStrategy", imageRaw.layerStrategy, ["popularity", "equal", "stable"] as const, DEFAULTS.layerStrategy);
    const maxLayerBytes = c.integer("image.maxLayerBytes", imageRaw.maxLayerBytes, 1024 * 1024, 1024 ** 4, DEFAULTS.maxLayerBytes) ?? DEFAULTS.maxLayerBytes;

    // registry
    const regRaw = c.object("registry", val("registry"), ["host", "username", "insecure", "publisher", "dockerHost"]);
    const host = c.string("registry.host", regRaw.host, { re: HOST, what: "a registry host[:port] (no scheme, no path)", max: 253, required: true });
    if (host !== undefined) {
        const port = HOST.exec(host)?.[1];
        if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
            c.fail("registry.host", `port ${port} is out of range`);
        }
    }
    const username = c.string("registry.username", regRaw.username, { re: /^[A-Za-z0-9._@+-]{1,128}$/, what: "a registry user name" });
    const hasPassword = raw.secretsPresent.registryPassword === true;
    if (username !== undefined && !hasPassword) {
        c.fail("registryPassword", "registry.username is set but the registryPassword secret is missing (pulumi config set --secret registryPassword …)");
    }
    if (username === undefined && hasPassword) {
        c.fail("registry.username", "registryPassword is set but registry.username is missing");
    }
    const insecure = c.boolean("registry.insecure", regRaw.insecure, false);
    if (insecure && host !== undefined && !isLoopbackHost(host)) {
        c.fail("registry.insecure", `plain HTTP is only allowed for a loopback registry, not ${host}`);
    }
    const publisher = c.oneOf("registry.publisher", regRaw.publisher, ["docker", "skopeo"] as const, DEFAULTS.publisher);
    const dockerHost = c.string("registry.dockerHost", regRaw.dockerHost, { re: /^(unix:\/\/\/[A-Za-z0-9_./-]+|tcp:\/\/127\.0\.0\.1:\d{1,5})$/, what: "unix:///path.sock or tcp://127.0.0.1:PORT" });
    if (dockerHost !== undefined && publisher !== "docker") {
        c.fail("registry.dockerHost", "only used by the docker publisher");
    }

    // gpu
    const gpuRaw = c.object("gpu", val("gpu"), ["product", "count", "migProfile", "migCount", "minMemoryMiB", "taintKey", "runtimeClassName"]);
    const product = c.string("gpu.product", gpuRaw.product, { re: GPU_PRODUCT, what: "a GPU Feature Discovery product label (e.g. NVIDIA-H100-80GB-HBM3)", max: 63 });
    const migProfile = c.string("gpu.migProfile", gpuRaw.migProfile, { re: MIG_PROFILE, what: "a MIG profile like 1g.10gb or 3g.40gb" });
    const countGiven = gpuRaw.count !== undefined && gpuRaw.count !== null && gpuRaw.count !== "";
    const count = c.integer("gpu.count", gpuRaw.count, 0, 16, migProfile === undefined ? DEFAULTS.gpuCount : 0) ?? 0;
    const migCount = c.integer("gpu.migCount", gpuRaw.migCount, 1, 56, migProfile === undefined ? 0 : 1) ?? 0;
    if (migProfile !== undefined && countGiven && count > 0) {
        c.fail("gpu.migProfile", `a container requests one device type: MIG profile ${migProfile} and ${count} whole GPU(s) are both requested`);
    }
    if (migProfile === undefined && gpuRaw.migCount !== undefined) {
        c.fail("gpu.migCount", "set gpu.migProfile as well");
    }
    if ((count > 0 || migProfile !== undefined) && product === undefined && gpuRaw.product === undefined) {
        c.fail("gpu.product", "is required when GPUs are requested (the Deployment selects nodes by it)");
    }
    const minMemoryMiB = c.integer("gpu.minMemoryMiB", gpuRaw.minMemoryMiB, 1, 1024 * 1024);
    const taintKey = c.string("gpu.taintKey", gpuRaw.taintKey, { re: LABEL_KEY, what: "a taint key" }) ?? DEFAULTS.taintKey;
    const runtimeClassRaw = gpuRaw.runtimeClassName;
    const runtimeClassName = runtimeClassRaw === "" ? undefined
        : c.string("gpu.runtimeClassName", runtimeClassRaw, { re: DNS_SUBDOMAIN, what: "a RuntimeClass name" }) ?? (runtimeClassRaw === undefined ? DEFAULTS.runtimeClassName : undefined);

    // cluster
    const clRaw = c.object("cluster", val("cluster"), ["name", "namespace", "context", "renderYamlTo"]);
    const clusterName = c.string("cluster.name", clRaw.name, { re: DNS_LABEL, what: "a DNS label naming the cluster", max: 63, required: true });
    const namespace = c.string("cluster.namespace", clRaw.namespace, { re: DNS_LABEL, what: "a namespace name (DNS label)", max: 63, required: true });
    const context = c.string("cluster.context", clRaw.context, { re: /^[A-Za-z0-9@._:/-]+$/, what: "a kubeconfig context name" });
    const renderYamlTo = c.string("cluster.renderYamlTo", clRaw.renderYamlTo, { re: /^[A-Za-z0-9_./-]+$/, what: "a relative directory", max: 200 });
    if (renderYamlTo !== undefined && confinedPath(opts.projectRoot, renderYamlTo) === undefined) {
        c.fail("cluster.renderYamlTo", "must be a directory inside the project");
    }
    const hasKubeconfig = raw.secretsPresent.kubeconfig === true;
    if (!hasKubeconfig && context === undefined && renderYamlTo === undefined) {
        c.fail("kubeconfig", "no kube credentials: set the kubeconfig secret, cluster.context, or cluster.renderYamlTo");
    }

    // deployment
    const depRaw = c.object("deployment", val("deployment"), ["name", "replicas", "cpu", "memory", "shmSize", "strategy", "rolloutTimeoutSeconds"]);
    const depName = c.string("deployment.name", depRaw.name, { re: DNS_LABEL, what: "a Deployment name (DNS label)", max: 63, required: true });
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
    const rolloutTimeoutSeconds = c.integer("deployment.rolloutTimeoutSeconds", depRaw.rolloutTimeoutSeconds, 30, 7200, DEFAULTS.rolloutTimeoutSeconds) ?? DEFAULTS.rolloutTimeoutSeconds;

    if (c.errors.length > 0 || imageName === undefined || host === undefined || clusterName === undefined || namespace === undefined || depName === undefined) {
        return { ok: false, errors: c.errors };
    }
    return {
        ok: true,
        config: {
            nix: { entry, overlays, pythonPackages, cudaCapabilities },
            image: { name: imageName, tag: imageTag, maxLayers, layerStrategy, maxLayerBytes },
            registry: { host, username, hasPassword, insecure, publisher, dockerHost },
            gpu: { product, count, migProfile, migCount, minMemoryMiB, taintKey, runtimeClassName },
            cluster: { name: clusterName, namespace, context, hasKubeconfig, renderYamlTo },
            deployment: { name: depName, replicas, cpu, memory, shmSize, strategy, rolloutTimeoutSeconds },
        },
    };
}

/** One message listing every problem, for logs and the engine's error display. */
export function formatProblems(errors: ConfigProblem[]): string {
    return `invalid stack configuration (${errors.length} problem${errors.length === 1 ? "" : "s"}):\n` +
        errors.map((e) => `  - ${e.propertyPath}: ${e.reason}`).join("\n");
}
