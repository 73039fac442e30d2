// The `deployment` section: the Deployment or Job, its checks, budget, environment and cache.
import { LABEL_VALUE } from "../kubernetes/gpuModel";
import { CacheConfig, DEFAULTS, JobConfig, LivenessConfig, ProbeConfig } from "./types";
import { ARG_TEXT, Checker, DNS_LABEL, DNS_SUBDOMAIN, isUnset, keySegment, quantityValue, SAFE_TEXT, stringMap } from "./check";
/** `deployment.probe`: one health check for the startup, readiness and liveness probes. */
export function parseProbe(c: Checker, v: unknown, port: number | undefined, rolloutTimeoutSeconds: number): ProbeConfig | undefined {
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

/** `deployment.liveness`: a liveness check of its own (`probe` still gives startup and readiness). */
export function parseLiveness(c: Checker, v: unknown, port: number | undefined): LivenessConfig | undefined {
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
export function envMap(c: Checker, v: unknown): Record<string, string> {
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
export const RESERVED_ENV = ["HOME", "HF_HOME", "TORCH_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "CUDA_CACHE_PATH", "XDG_CACHE_HOME", "NVIDIA_VISIBLE_DEVICES"];

/** `deployment.cache`: `{ sizeLimit }` (emptyDir) or `{ claimName, readOnly }` (an existing PVC). */
export function parseCache(c: Checker, v: unknown): CacheConfig {
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
export function parseDisruptionBudget(c: Checker, v: unknown): { minAvailable?: number | string; maxUnavailable?: number | string } | undefined {
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

/** The `deployment` section. */
export function checkDeployment(c: Checker, v: unknown) {
    const depRaw = c.object("deployment", v, ["name", "kind", "replicas", "cpu", "memory", "shmSize", "strategy", "rolloutTimeoutSeconds", "minReadySeconds", "port", "probe", "liveness",
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
}
