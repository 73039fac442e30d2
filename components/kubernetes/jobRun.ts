// What a stack knows of its training Job between runs, and whether to (re)create it. Pure.
//
// A Job is created once per spec: `up` records its key (a digest of the spec and the image's
// derivation or digest) and its state (Running when `up` returned while it ran, `deployment.wait:
// false`; Complete with the time it finished). When the Job is gone from the cluster — deleted by
// its ttlSecondsAfterFinished, and dropped from the state by `pulumi up --refresh` — a Job of the
// same key is not created again: that would re-run a finished training. A changed spec is a new run.
import { createHash } from "crypto";

export interface JobRecord {
    /** The Job's spec key (`jobKey`). */
    key: string;
    state: "Running" | "Complete";
    /** ISO time: when it started (Running) or finished (Complete). */
    at: string;
}

/** What the cluster says of the Job now: undefined when it could not be read. */
export type LiveJob = { found: false } | { found: true; key?: string; running: boolean; complete: boolean; startTime?: string; completionTime?: string; summary: string };

/** The annotation on the Job that carries its spec key: the live Job's state counts only for its own key. */
export const JOB_KEY_ANNOTATION = "nix-gpu-deploy/job-key";

/** Pure: a time the Kubernetes client gives (a Date, or the API's text) as ISO text; `fallback` when absent. */
export function isoTime(v: unknown, fallback = new Date().toISOString()): string {
    return v instanceof Date ? v.toISOString() : v === undefined || v === null ? fallback : String(v);
}

/** Pure: the key of a Job spec, with the image named by what identifies its content. */
export function jobKey(spec: unknown, imageIdentity: string): string {
    return createHash("sha256").update(JSON.stringify({ v: 1, spec, image: imageIdentity })).digest("hex").slice(0, 32);
}

/** Pure: a `job` stack output (JSON text) as a record, or undefined. */
export function parseJobRecord(v: unknown): JobRecord | undefined {
    try {
        const r = (typeof v === "string" ? JSON.parse(v) : v) as Partial<JobRecord> | undefined;
        return r !== undefined && r !== null && typeof r.key === "string" && (r.state === "Running" || r.state === "Complete") && typeof r.at === "string"
            ? { key: r.key, state: r.state, at: r.at } : undefined;
    } catch {
        return undefined;
    }
}

/** Pure: the record the rollout check's stdout gives (`started <time>` or `job … completed …`). */
export function recordFromRollout(stdout: string, key: string, now: Date): JobRecord | undefined {
    const started = /^started (\S+)$/m.exec(stdout);
    if (started !== null) {
        return { key, state: "Running", at: started[1] };
    }
    const done = /^finished (\S+)$/m.exec(stdout);
    return done !== null ? { key, state: "Complete", at: done[1] } : /completed/.test(stdout) ? { key, state: "Complete", at: now.toISOString() } : undefined;
}

/** Pure: the record the live Job gives, when it says more than the last one (it finished since). */
export function recordFromLive(live: LiveJob | undefined, key: string): JobRecord | undefined {
    if (live === undefined || !live.found || live.key !== key) {
        return undefined;
    }
    if (live.complete) {
        return { key, state: "Complete", at: live.completionTime ?? new Date().toISOString() };
    }
    return live.running ? { key, state: "Running", at: live.startTime ?? new Date().toISOString() } : undefined;
}

/**
 * Pure: create (or keep) the Job, or leave it out because this very spec already ran and the Job is
 * gone; with a note saying why.
 */
export function jobPlan(o: { previous?: JobRecord; key?: string; live?: LiveJob; name: string }): { create: boolean; note?: string } {
    if (o.live === undefined || o.key === undefined || o.live.found || o.previous === undefined || o.previous.key !== o.key) {
        return { create: true };
    }
    const how = "it is gone from the cluster (deleted by its ttlSecondsAfterFinished, or by hand): not run again; to run it again, change its spec (e.g. a run id in deployment.podAnnotations)";
    return {
        create: false,
        note: o.previous.state === "Complete"
            ? `Job ${o.name} with this spec finished at ${o.previous.at}, and ${how}`
            : `Job ${o.name} with this spec was running at the last up (since ${o.previous.at}), and ${how}`,
    };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- a Job object */
/** Pure: a live Job object as `LiveJob`. */
export function liveJobOf(job: any | undefined): LiveJob {
    if (job === undefined || job === null) {
        return { found: false };
    }
    const s = job.status ?? {};
    const conds: any[] = s.conditions ?? [];
    const complete = conds.some((c) => c.type === "Complete" && c.status === "True");
    const failed = conds.some((c) => c.type === "Failed" && c.status === "True");
    const key = job.metadata?.annotations?.[JOB_KEY_ANNOTATION];
    return {
        found: true,
        ...(typeof key === "string" ? { key } : {}),
        running: !complete && !failed,
        complete,
        ...(s.startTime !== undefined ? { startTime: isoTime(s.startTime) } : {}),
        ...(s.completionTime !== undefined ? { completionTime: isoTime(s.completionTime) } : {}),
        summary: `${s.succeeded ?? 0}/${job.spec?.completions ?? 1} succeeded, ${s.active ?? 0} active, ${s.failed ?? 0} failed${complete ? ", Complete" : failed ? ", Failed" : ""}`,
    };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
