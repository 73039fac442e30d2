// One way to reach the stack's cluster from the program and from the rollout check: the official
// client's KubeConfig (contexts, exec plugins whose credentials are refreshed when they expire,
// token files re-read, client certificates, proxy-url), selecting the same kubeconfig and context as
// the Kubernetes provider does — the inline `kubeconfig` secret, else $KUBECONFIG / ~/.kube/config,
// and `cluster.context` for either.
import type { KubeConfig } from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";

/* eslint-disable @typescript-eslint/no-explicit-any -- kubeconfig documents are arbitrary YAML */

/**
 * kubectl spells a user's token file `tokenFile`; the client reads only `token-file`, once. Turn it
 * into the client's tokenFile auth provider, which re-reads the file (rotated service-account
 * tokens), with a relative path resolved against the kubeconfig's directory as kubectl does.
 */
export function normalizeKubeconfig(text: string, baseDir?: string): string {
    const doc = parseYaml(text) as any;
    if (doc === null || typeof doc !== "object") {
        throw new Error("the kubeconfig is not a YAML mapping");
    }
    for (const u of Array.isArray(doc.users) ? doc.users : []) {
        const user = u?.user;
        const tf = user?.tokenFile ?? user?.["token-file"];
        if (user !== undefined && user !== null && typeof tf === "string" && user.token === undefined && user["auth-provider"] === undefined) {
            const abs = path.resolve(baseDir ?? process.cwd(), tf);
            delete user.tokenFile;
            delete user["token-file"];
            user["auth-provider"] = { name: "tokenFile", config: { tokenFile: abs } };
        }
    }
    return JSON.stringify(doc);
}

/**
 * Several kubeconfig files ($KUBECONFIG=a:b) merged the way client-go (the provider, kubectl) merges
 * them: the first file that sets current-context wins, and so does the first entry of each name.
 * (The client's own merge lets the last file win and throws on a repeated name.)
 */
export function mergeKubeconfigs(files: { text: string; dir: string }[]): string {
    const out: any = { apiVersion: "v1", kind: "Config", clusters: [], users: [], contexts: [] };
    for (const f of files) {
        const doc = JSON.parse(normalizeKubeconfig(f.text, f.dir));
        if ((out["current-context"] ?? "") === "" && typeof doc["current-context"] === "string") {
            out["current-context"] = doc["current-context"];
        }
        for (const list of ["clusters", "users", "contexts"]) {
            for (const entry of Array.isArray(doc[list]) ? doc[list] : []) {
                if (!out[list].some((e: any) => e.name === entry?.name)) {
                    out[list].push(entry);
                }
            }
        }
    }
    return JSON.stringify(out);
}

/**
 * The official client, loaded on first use: loading it takes about 0.4 s, which a preview that has
 * nothing to check in the cluster (components/kubernetes/preflight.ts `preflightKey`) does not pay.
 */
export function kubeClient(): typeof import("@kubernetes/client-node") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, see above
    return require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
}

/** The default kubeconfig files, as client-go picks them: $KUBECONFIG's existing files, else ~/.kube/config. */
export function defaultKubeconfigFiles(): { text: string; dir: string }[] {
    const listed = (process.env.KUBECONFIG ?? "").split(path.delimiter).filter((f) => f !== "");
    // As client-go: listed files that do not exist are skipped; without $KUBECONFIG, ~/.kube/config.
    const files = listed.length > 0 ? listed.filter((f) => fs.existsSync(f)) : [path.join(os.homedir(), ".kube", "config")];
    if (files.length === 0) {
        throw new Error(`none of the kubeconfig files in $KUBECONFIG exists (${listed.join(path.delimiter)})`);
    }
    return files.map((f) => ({ text: fs.readFileSync(f, "utf8"), dir: path.dirname(path.resolve(f)) }));
}

/** The kubeconfig the provider uses: inline text, else the default files; then the context, if named. */
export function loadKubeConfig(inline?: string, context?: string): KubeConfig {
    const kc = new (kubeClient().KubeConfig)();
    if (inline !== undefined && inline !== "") {
        kc.loadFromString(normalizeKubeconfig(inline));
    } else {
        kc.loadFromString(mergeKubeconfigs(defaultKubeconfigFiles()));
    }
    if (context !== undefined && context !== "") {
        if (kc.getContextObject(context) === null) {
            const names = kc.getContexts().map((c) => c.name);
            throw new Error(`the kubeconfig has no context ${JSON.stringify(context)} (it has: ${names.length > 0 ? names.join(", ") : "none"})`);
        }
        kc.setCurrentContext(context);
    } else if (kc.getCurrentContext() === "" || kc.getCurrentContext() === undefined) {
        throw new Error("the kubeconfig names no current-context and cluster.context is not set");
    }
    return kc;
}

/** Which server the KubeConfig's current context talks to (for messages). */
export function serverOf(kc: KubeConfig): string {
    return kc.getCurrentCluster()?.server ?? "(no cluster)";
}

/** A short message for a failed API call: the HTTP status and the server's message, never headers. */
export function apiErrorMessage(e: unknown): string {
    const err = e as { code?: number; body?: any; message?: string };
    if (typeof err?.code === "number") {
        let msg = "";
        const body = typeof err.body === "string" ? (() => {
            try {
                return JSON.parse(err.body);
            } catch {
                return err.body;
            }
        })() : err.body;
        msg = typeof body === "object" && body !== null ? String(body.message ?? body.reason ?? "") : String(body ?? "");
        const hint = err.code === 401 ? " (unauthorized: the credentials were refused or have expired)"
            : err.code === 403 ? " (forbidden: the credentials lack this permission)" : "";
        return `HTTP ${err.code}${hint}${msg !== "" ? `: ${msg.slice(0, 300)}` : ""}`;
    }
    return String(err?.message ?? e).split("\n")[0].slice(0, 300);
}

/** 401/403 do not heal by waiting; connection errors and 5xx may (a restarting API server). */
export function isPermanentApiError(e: unknown): boolean {
    const code = (e as { code?: number })?.code;
    return code === 401 || code === 403;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** True when the program runs under `pulumi.runtime.setMocks` (unit tests): there is no cluster to ask. */
export function underMocks(): boolean {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is not typed publicly
    return (pulumi.runtime.getMonitor() as any)?.mocks !== undefined;
}
