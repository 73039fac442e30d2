// Waits for a Deployment's rollout, or a Job's completion, and reports what the cluster says as it
// happens: the scheduler's reason (`0/4 nodes are available: 3 Insufficient nvidia.com/gpu…`),
// ImagePullBackOff, CrashLoopBackOff with the last exit, a ReplicaSet's `ReplicaFailure` (quota,
// admission denials, a RuntimeClass that does not exist) and Warning events. A Job ends with its
// completion time, each pod's exit code and the last log lines. The Kubernetes provider's own await
// only reports "timed out waiting to be Ready", so the GPU workload replaces it (a `pulumi.com/waitFor`
// that holds at once; see components/kubernetes/workload.ts) and runs this instead, as `node -r ts-node/register/transpile-only components/kubernetes/rollout.ts`.
//
// With NGD_UNTIL=started (a Job with deployment.wait: false) it returns once a pod of the Job runs,
// printing `started <time>` on stdout (the stack's `job` record, components/kubernetes/jobRun.ts); a Job that
// completes prints `finished <time>`.
//
// Input (environment): NGD_KIND (Deployment | Job), NGD_NAMESPACE, NGD_DEPLOYMENT (the workload's
// name), NGD_TIMEOUT_SECONDS, NGD_UNTIL, NGD_KUBE_CONTEXT (cluster.context) and NGD_KUBECONFIG (contents, a
// secret) or else the default kubeconfig — the same choice as the provider's (components/kubernetes/kube.ts).
import * as k8s from "@kubernetes/client-node";
import { isoTime } from "./jobRun";
import { apiErrorMessage, isPermanentApiError, loadKubeConfig, serverOf } from "./kube";

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

/** Pure: ReplicaSets of the Deployment that cannot create pods (quota, admission, missing RuntimeClass). */
export function replicaSetProblems(replicaSets: Obj[]): string[] {
    const out: string[] = [];
    for (const rs of replicaSets) {
        for (const c of rs.status?.conditions ?? []) {
            if (c.type === "ReplicaFailure" && c.status === "True") {
                out.push(`replicaset ${rs.metadata?.name}: ${c.reason ?? "ReplicaFailure"}: ${c.message ?? ""}`.trim());
            }
        }
    }
    return out;
}

/** Pure: Warning events about the given objects (kind/name), oldest first, one line per reason and message. */
export function eventProblems(events: Obj[], about: { kind: string; names: Set<string> }[]): string[] {
    const rel = events.filter((e) => e.type === "Warning" && about.some((a) => a.kind === e.involvedObject?.kind && a.names.has(e.involvedObject?.name)));
    const time = (e: Obj) => String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? "");
    rel.sort((a, b) => time(a).localeCompare(time(b)));
    const out: string[] = [];
    for (const e of rel) {
        const line = `event ${String(e.involvedObject.kind).toLowerCase()} ${e.involvedObject.name}: ${e.reason ?? "Warning"}: ${String(e.message ?? "").trim()}`;
        if (!out.includes(line)) {
            out.push(line);
        }
    }
    return out;
}

export interface JobState {
    /** undefined while running; true when Complete; false when Failed. */
    succeeded?: boolean;
    summary: string;
    reason?: string;
    /** Seconds from the Job's start to its completion (or failure). */
    seconds?: number;
}

/** Pure: has the Job completed or failed? */
export function jobState(job: Obj): JobState {
    const s = job.status ?? {};
    const want = job.spec?.completions ?? 1;
    const summary = `${s.succeeded ?? 0}/${want} succeeded, ${s.active ?? 0} active, ${s.failed ?? 0} failed`;
    const conds: Obj[] = s.conditions ?? [];
    const secs = (end?: string) => (s.startTime !== undefined && end !== undefined ? Math.max(0, Math.round((Date.parse(end) - Date.parse(s.startTime)) / 1000)) : undefined);
    const complete = conds.find((c) => c.type === "Complete" && c.status === "True");
    if (complete !== undefined) {
        return { succeeded: true, summary, seconds: secs(s.completionTime ?? complete.lastTransitionTime) };
    }
    const failed = conds.find((c) => c.type === "Failed" && c.status === "True");
    if (failed !== undefined) {
        return { succeeded: false, summary, reason: `${failed.reason ?? "Failed"}${failed.message ? `: ${failed.message}` : ""}`, seconds: secs(failed.lastTransitionTime) };
    }
    return { summary };
}

/** Pure: each finished pod's container exits, newest pod first: `pod x, container c: exit 1 (Error)`. */
export function podExits(pods: Obj[]): { pod: string; container: string; exitCode: number; line: string }[] {
    const out: { pod: string; container: string; exitCode: number; line: string; t: string }[] = [];
    for (const p of pods) {
        for (const cs of p.status?.containerStatuses ?? []) {
            const t = cs.state?.terminated ?? cs.lastState?.terminated;
            if (t !== undefined) {
                out.push({
                    pod: p.metadata?.name, container: cs.name, exitCode: t.exitCode, t: String(t.finishedAt ?? ""),
                    line: `pod ${p.metadata?.name}, container ${cs.name}: exit ${t.exitCode}${t.reason ? ` (${t.reason})` : ""}${t.message ? `: ${String(t.message).trim()}` : ""}`,
                });
            }
        }
    }
    out.sort((a, b) => b.t.localeCompare(a.t));
    return out.map(({ pod, container, exitCode, line }) => ({ pod, container, exitCode, line }));
}

/** Prints each line once, as it first appears. */
export class Reporter {
    private readonly seen = new Set<string>();
    constructor(private readonly print: (s: string) => void) {}
    report(lines: string[]): void {
        for (const l of lines) {
            if (!this.seen.has(l)) {
                this.seen.add(l);
                this.print(`  ${l}`);
            }
        }
    }
    get all(): string[] {
        return [...this.seen];
    }
}

const LOG_LINES = 20;

export interface Apis {
    core: k8s.CoreV1Api;
    apps: k8s.AppsV1Api;
    batch: k8s.BatchV1Api;
}

const selectorOf = (matchLabels: Record<string, string> | undefined) => Object.entries(matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");

/** Everything the cluster says is wrong with the workload right now, one line each. */
async function currentProblems(api: Apis, ns: string, kind: "Deployment" | "Job", name: string, selector: string): Promise<{ lines: string[]; pods: Obj[] }> {
    const pods = (await api.core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items as Obj[];
    const lines: string[] = [];
    const about = [{ kind, names: new Set([name]) }, { kind: "Pod", names: new Set(pods.map((p) => p.metadata?.name as string)) }];
    if (kind === "Deployment") {
        const rss = (await api.apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: selector })).items as Obj[];
        lines.push(...replicaSetProblems(rss));
        about.push({ kind: "ReplicaSet", names: new Set(rss.map((r) => r.metadata?.name as string)) });
    }
    lines.push(...podProblems(pods.filter((p) => !(kind === "Job" && ["Failed", "Succeeded"].includes(p.status?.phase)))));
    const events = (await api.core.listNamespacedEvent({ namespace: ns, fieldSelector: "type=Warning" })).items as Obj[];
    lines.push(...eventProblems(events, about));
    return { lines, pods };
}

async function lastLogLines(api: Apis, ns: string, pod: string, container: string): Promise<string[]> {
    try {
        const text = await api.core.readNamespacedPodLog({ name: pod, namespace: ns, container, tailLines: LOG_LINES });
        const body = String(text ?? "").replace(/\n$/, "");
        return body === "" ? ["(no output)"] : body.split("\n").map((l) => l.slice(0, 500));
    } catch (e) {
        return [`(logs unavailable: ${apiErrorMessage(e)})`];
    }
}

export async function waitFor(api: Apis, o: { kind: "Deployment" | "Job"; ns: string; name: string; timeout: number; untilStarted?: boolean }, print: (s: string) => void = console.error, out: (s: string) => void = console.log): Promise<number> {
    const { kind, ns, name, timeout } = o;
    const started = Date.now();
    const deadline = started + timeout * 1000;
    const reporter = new Reporter(print);
    let last = "";
    let apiErrors = 0;
    for (;;) {
        try {
            const obj: Obj = kind === "Job"
                ? await api.batch.readNamespacedJob({ name, namespace: ns })
                : await api.apps.readNamespacedDeployment({ name, namespace: ns });
            apiErrors = 0;
            const selector = selectorOf(obj.spec?.selector?.matchLabels);
            const st = kind === "Job" ? jobState(obj) : rolloutState(obj);
            if (st.summary !== last) {
                print(`${kind === "Job" ? "job" : "rollout"} ${ns}/${name}: ${st.summary}`);
                last = st.summary;
            }
            const done = kind === "Job" ? (st as JobState).succeeded !== undefined : (st as RolloutState).done;
            if (done && kind === "Deployment") {
                out(`rolled out generation ${obj.metadata.generation}`);
                return 0;
            }
            const { lines, pods } = await currentProblems(api, ns, kind, name, selector);
            if (kind === "Job" && !done && o.untilStarted === true && pods.some((p: Obj) => p.status?.phase === "Running" && p.metadata?.deletionTimestamp === undefined)) {
                const since = isoTime(obj.status?.startTime);
                print(`job ${ns}/${name} started at ${since} (${st.summary}); not waiting for its completion (deployment.wait: false): a later pulumi up (or up --refresh) reports its state`);
                out(`started ${since}`);
                return 0;
            }
            if (kind === "Job" && done) {
                const js = st as JobState;
                const exits = podExits(pods);
                const failing = exits.find((x) => x.exitCode !== 0) ?? exits[0];
                const code = js.succeeded ? 0 : failing?.exitCode ?? 1;
                const when = js.seconds !== undefined ? ` in ${js.seconds}s` : "";
                const msg = js.succeeded
                    ? `job ${ns}/${name} completed${when}: exit code 0 (${js.summary})`
                    : `job ${ns}/${name} failed${when}: exit code ${failing?.exitCode ?? "unknown"}, ${js.reason} (${js.summary})`;
                // Also on stderr: that is what the command provider shows in `pulumi up`.
                print(msg);
                if (js.succeeded) {
                    out(msg);
                    out(`finished ${isoTime(obj.status?.completionTime)}`);
                }
                for (const x of exits.slice(0, 5)) {
                    print(`  ${x.line}`);
                }
                if (failing !== undefined) {
                    print(`  last log lines of pod ${failing.pod}, container ${failing.container}:`);
                    for (const l of await lastLogLines(api, ns, failing.pod, failing.container)) {
                        print(`    | ${l}`);
                    }
                }
                if (!js.succeeded) {
                    reporter.report(lines);
                }
                return js.succeeded ? 0 : (code === 0 ? 1 : code);
            }
            reporter.report(lines);
            if (Date.now() > deadline) {
                print(`${kind} ${ns}/${name} did not ${kind === "Job" ? "complete" : "roll out"} within ${timeout}s (${st.summary})${reporter.all.length > 0 ? "; what the cluster said:" : ": no pod reported a reason"}`);
                for (const p of reporter.all) {
                    print(`  ${p}`);
                }
                return 1;
            }
        } catch (e) {
            apiErrors++;
            if (isPermanentApiError(e)) {
                print(`${kind} ${ns}/${name}: the Kubernetes API refused the request: ${apiErrorMessage(e)}`);
                return 1;
            }
            // The API server may restart mid-rollout: keep waiting until the deadline.
            print(`${kind === "Job" ? "job" : "rollout"} ${ns}/${name}: ${apiErrorMessage(e)}`);
            if (Date.now() > deadline) {
                print(`${kind} ${ns}/${name}: the Kubernetes API did not answer before the timeout (${timeout}s)`);
                return 1;
            }
        }
        await new Promise((r) => setTimeout(r, Math.min(2000 * Math.max(1, apiErrors), 10000)));
    }
}

export function apisFor(kc: k8s.KubeConfig): Apis {
    return { core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), batch: kc.makeApiClient(k8s.BatchV1Api) };
}

async function main(): Promise<number> {
    const kind = process.env.NGD_KIND === "Job" ? "Job" : "Deployment";
    const kc = loadKubeConfig(process.env.NGD_KUBECONFIG, process.env.NGD_KUBE_CONTEXT);
    console.error(`waiting for ${kind} ${process.env.NGD_NAMESPACE}/${process.env.NGD_DEPLOYMENT} on ${serverOf(kc)} (context ${kc.getCurrentContext()})`);
    return waitFor(apisFor(kc), {
        kind,
        ns: process.env.NGD_NAMESPACE ?? "",
        name: process.env.NGD_DEPLOYMENT ?? "",
        timeout: Number(process.env.NGD_TIMEOUT_SECONDS ?? "600"),
        untilStarted: process.env.NGD_UNTIL === "started",
    });
}

if (require.main === module) {
    main().then((code) => (process.exitCode = code), (e: Error) => {
        console.error(`rollout check failed: ${e.message}`);
        process.exitCode = 1;
    });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
