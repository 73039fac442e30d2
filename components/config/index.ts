// Stack configuration: the one place that knows every key, its type, default and constraints.
// `parseStackConfig` is pure (file checks are injected) and reports every problem at once, each
// naming its property path, so that no resource exists before the whole config is valid.
import { CONFIG_KEYS, ConfigKey, ParseOptions, ParseResult, PROJECT, RawStackConfig, SECRET_KEYS, StackConfig } from "./types";
import { Checker, decode, hasOwn, isUnset, keySegment, SectionContext } from "./check";
import { checkNix } from "./nix";
import { checkImage } from "./image";
import { checkRegistry } from "./registry";
import { checkGpu } from "./gpu";
import { checkCluster } from "./cluster";
import { checkDeployment } from "./deployment";
export * from "./types";
export * from "./check";
export * from "./nix";
export * from "./image";
export * from "./registry";
export * from "./gpu";
export * from "./cluster";
export * from "./deployment";

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
    // Each section is checked by its own file (nix.ts, image.ts, registry.ts, gpu.ts, cluster.ts,
    // deployment.ts); what one needs of another is passed on.
    const ctx: SectionContext = { mode, raw, opts };
    const { capabilitiesChecked, entry, overlays, pythonPackages, python, sources, cudaCapabilities, system, settings } = section("nix", () => checkNix(c, val("nix"), ctx));
    const image = section("image", () => checkImage(c, val("image"), ctx));
    const registry = section("registry", () => checkRegistry(c, val("registry"), ctx));
    const gpu = mode === "publish" ? undefined : section("gpu", () => checkGpu(c, val("gpu"), { cudaCapabilities, capabilitiesChecked }));
    const cluster = mode === "publish" ? undefined : section("cluster", () => checkCluster(c, val("cluster"), ctx));
    const deployment = mode === "publish" ? undefined : section("deployment", () => checkDeployment(c, val("deployment")));

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
