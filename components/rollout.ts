// Waits for a Deployment's rollout and, when it does not complete in time, fails with what the
// pods say: the scheduler's reason (`0/4 nodes are available: 3 Insufficient nvidia.com/gpu…`),
// ImagePullBackOff, CrashLoopBackOff with the last exit. The Kubernetes provider's own await only
// reports "timed out waiting to be Ready", so the GPU Deployment turns it off (pulumi.com/skipAwait)
// and runs this instead, as `node -r ts-node/register/transpile-only components/rollout.ts`.
//
// Input (environment): NGD_NAMESPACE, NGD_DEPLOYMENT, NGD_TIMEOUT_SECONDS, and either
// NGD_KUBECONFIG (contents, a secret) or the default kubeconfig ($KUBECONFIG or ~/.kube/config)
// with NGD_KUBE_CONTEXT.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are arbitrary JSON */
type Obj = any;

export interface RolloutState {
    done: boolean;
    summary: string;
}

/** Pure: has the Deployment finished rolling out its current generation? */
export function rolloutState(dep: Obj): RolloutState {
    const want = dep.spec?.replicas ?? 1;
    const s = dep.status ?? {};
    const observed = (s.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0);
    const updated = s.updatedReplicas ?? 0;
    const available = s.availableReplicas ?? 0;
    const total = s.replicas ?? 0;
    const done = observed && updated >= want && available >= want && total <= want;
    return { done, summary: `${updated}/${want} updated, ${available}/${want} available, ${total} total` };
}

/** Pure: why the pods are not ready, one line each (scheduler reason, image pull, crash loop). */
export function podProblems(pods: Obj[]): string[] {
    const out: string[] = [];
    for (const p of pods) {
        if (p.metadata?.deletionTimestamp !== undefined) {
            continue;
        }
        const name = `pod ${p.metadata?.name}`;
        const conds: Obj[] = p.status?.conditions ?? [];
        const sched = conds.find((c) => c.type === "PodScheduled");
        if (sched !== undefined && sched.status !== "True") {
            out.push(`${name}: ${sched.reason ?? "not scheduled"}: ${sched.message ?? ""}`.trim());
            continue;
        }
        for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
            const waiting = cs.state?.waiting;
            const last = cs.lastState?.terminated;
            if (waiting !== undefined && waiting.reason !== "ContainerCreating" && waiting.reason !== "PodInitializing") {
                const lastExit = last !== undefined ? ` (last exit ${last.exitCode}${last.reason ? ` ${last.reason}` : ""})` : "";
                out.push(`${name}, container ${cs.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}${lastExit}`);
            } else if (cs.state?.terminated !== undefined) {
                out.push(`${name}, container ${cs.name}: terminated with exit ${cs.state.terminated.exitCode} ${cs.state.terminated.reason ?? ""}`.trim());
            }
        }
        const ready = conds.find((c) => c.type === "Ready");
        if (out.length === 0 && ready !== undefined && ready.status !== "True" && p.status?.phase !== "Running") {
            out.push(`${name}: ${p.status?.phase ?? "Pending"}${ready.message ? `: ${ready.message}` : ""}`);
        }
    }
    return out;
}

interface Cluster {
    server: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    token?: string;
    insecure: boolean;
}

const b64 = (s?: string) => (s === undefined ? undefined : Buffer.from(s, "base64"));
const file = (f?: string, base?: string) => (f === undefined ? undefined : fs.readFileSync(path.resolve(base ?? ".", f)));

/** The parts of a kubeconfig needed to talk to its current (or the named) context. */
export function clusterFromKubeconfig(text: string, contextName?: string, baseDir?: string): Cluster {
    const kc = parseYaml(text) as Obj;
    const ctxName = contextName ?? kc["current-context"];
    const ctx = (kc.contexts ?? []).find((c: Obj) => c.name === ctxName)?.context;
    if (ctx === undefined) {
        throw new Error(`kubeconfig has no context ${JSON.stringify(ctxName)}`);
    }
    const cl = (kc.clusters ?? []).find((c: Obj) => c.name === ctx.cluster)?.cluster;
    const user = (kc.users ?? []).find((u: Obj) => u.name === ctx.user)?.user ?? {};
    if (cl === undefined) {
        throw new Error(`kubeconfig has no cluster ${JSON.stringify(ctx.cluster)}`);
    }
    const out: Cluster = {
        server: cl.server,
        ca: b64(cl["certificate-authority-data"]) ?? file(cl["certificate-authority"], baseDir),
        cert: b64(user["client-certificate-data"]) ?? file(user["client-certificate"], baseDir),
        key: b64(user["client-key-data"]) ?? file(user["client-key"], baseDir),
        token: user.token ?? (user.tokenFile !== undefined ? fs.readFileSync(user.tokenFile, "utf8").trim() : undefined),
        insecure: cl["insecure-skip-tls-verify"] === true,
    };
    if (user.exec !== undefined) {
        const cred = JSON.parse(execFileSync(user.exec.command, user.exec.args ?? [], {
            encoding: "utf8",
            env: { ...process.env, ...Object.fromEntries((user.exec.env ?? []).map((e: Obj) => [e.name, e.value])) },
        }));
        out.token = cred.status?.token ?? out.token;
        out.cert = cred.status?.clientCertificateData !== undefined ? Buffer.from(cred.status.clientCertificateData) : out.cert;
        out.key = cred.status?.clientKeyData !== undefined ? Buffer.from(cred.status.clientKeyData) : out.key;
    }
    return out;
}

function get(c: Cluster, apiPath: string): Promise<Obj> {
    return new Promise((resolve, reject) => {
        const req = https.get(`${c.server}${apiPath}`, {
            ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: !c.insecure,
            headers: c.token !== undefined ? { Authorization: `Bearer ${c.token}` } : {},
        }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`GET ${apiPath}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`))));
        });
        req.setTimeout(15000, () => req.destroy(new Error(`GET ${apiPath}: timed out`)));
        req.on("error", reject);
    });
}

async function main(): Promise<number> {
    const ns = process.env.NGD_NAMESPACE ?? "";
    const name = process.env.NGD_DEPLOYMENT ?? "";
    const timeout = Number(process.env.NGD_TIMEOUT_SECONDS ?? "600");
    const inline = process.env.NGD_KUBECONFIG;
    const kubeconfigPath = process.env.KUBECONFIG?.split(path.delimiter)[0] ?? path.join(os.homedir(), ".kube", "config");
    const cluster = inline !== undefined && inline !== ""
        ? clusterFromKubeconfig(inline)
        : clusterFromKubeconfig(fs.readFileSync(kubeconfigPath, "utf8"), process.env.NGD_KUBE_CONTEXT || undefined, path.dirname(kubeconfigPath));
    const deadline = Date.now() + timeout * 1000;
    let last = "";
    let apiErrors = 0;
    for (;;) {
        try {
            const dep = await get(cluster, `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
            apiErrors = 0;
            const st = rolloutState(dep);
            if (st.summary !== last) {
                console.error(`rollout ${ns}/${name}: ${st.summary}`);
                last = st.summary;
            }
            if (st.done) {
                console.log(`rolled out generation ${dep.metadata.generation}`);
                return 0;
            }
            if (Date.now() > deadline) {
                const selector = Object.entries(dep.spec.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
                const pods = await get(cluster, `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`);
                const problems = podProblems(pods.items ?? []);
                console.error(`Deployment ${ns}/${name} did not roll out within ${timeout}s (${st.summary}):`);
                for (const p of problems.length > 0 ? problems : ["no pod reported a reason"]) {
                    console.error(`  ${p}`);
                }
                return 1;
            }
        } catch (e) {
            // The API server may restart mid-rollout: keep waiting until the deadline.
            apiErrors++;
            console.error(`rollout ${ns}/${name}: ${(e as Error).message}`);
            if (Date.now() > deadline) {
                console.error(`Deployment ${ns}/${name}: the Kubernetes API did not answer before the rollout timeout (${timeout}s)`);
                return 1;
            }
        }
        await new Promise((r) => setTimeout(r, Math.min(2000 * Math.max(1, apiErrors), 10000)));
    }
}

if (require.main === module) {
    main().then((code) => (process.exitCode = code), (e: Error) => {
        console.error(`rollout check failed: ${e.message}`);
        process.exitCode = 1;
    });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
