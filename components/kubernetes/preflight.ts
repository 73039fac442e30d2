// Checks against the live cluster before any Kubernetes resource is registered, on preview and up.
//
// With server-side apply the provider upserts: creating a Namespace or Deployment that already
// exists takes it over silently, and `destroy` (or a rename) then deletes it with everything inside.
// So every object the stack is about to create is looked up first; one that exists and does not carry
// this stack's owner annotation is refused, naming it. The namespace is created (and owned) only with
// `cluster.createNamespace: true` (the default) and only when it does not exist yet; to deploy into
// a namespace someone else owns, set `cluster.createNamespace: false`: it is then never created,
// changed or deleted by the stack.
//
// The owner is the stack's own id: 32 hex digits made on its first `up` and kept in its state (the
// `owner-id` command of components/kubernetes/workload.ts, exported as `owner`), so a rename keeps it and a
// canary copied from prod's config gets another. A second annotation names the stack for people
// (`nix-gpu-deploy/stack`). Objects of earlier versions (owner `<project>/<cluster.name>`, or only
// the `managed-by` label) are this stack's only when its last `up` recorded them (its `namespace`
// and `deployment` outputs): a label alone never makes an object the stack's.
//
// It also checks where the pods can go: that some node admits the GPU pod (placement profile labels,
// architecture, taints: components/kubernetes/placement.ts), that the cache claim and the service account
// exist, and that a running Job is not replaced unless deployment.replaceRunning says so.
//
// Also: a RuntimeClass named in gpu.runtimeClassName must exist (GKE has no `nvidia` one; pods
// naming a missing class are refused by admission).
//
// The check concerns what the stack is about to create, so a preview runs it only when something it
// looks at changed since the last `up` (`preflightKey`): a no-op preview neither asks the cluster nor
// loads the client. `up` always runs it.
import type { KubeConfig } from "@kubernetes/client-node";
import { createHash } from "crypto";
import { apiErrorMessage, kubeClient } from "./kube";
import { liveJobOf } from "./jobRun";
import { GPU_PRODUCT_LABEL } from "./gpuModel";
import { EKS_GPU_NAME_LABEL, GKE_ACCELERATOR_LABEL, KARPENTER_GPU_NAME_LABEL, describeSelection, nodeAdmits } from "./placement";

export const OWNER_ANNOTATION = "nix-gpu-deploy/owner";
/** Which stack owns the object (`org/project/stack`), for people; ownership is the owner id. */
export const STACK_ANNOTATION = "nix-gpu-deploy/stack";
export const MANAGED_BY = "nix-gpu-deploy";
/** A stack's owner id (components/exec.ts STACK_ID_SCRIPT). */
export const STACK_OWNER_ID = /^[0-9a-f]{32}$/;

export type ObjKind = "Namespace" | "Deployment" | "Job" | "Secret" | "PodDisruptionBudget" | "Service";

/** What the stack's last `up` recorded, to claim objects of earlier versions (no owner id on them). */
export interface Recorded { namespace?: string; deployment?: string }

export interface PreflightInput {
    /** This stack's owner id, from its last `up`; "" before its first. */
    owner: string;
    recorded?: Recorded;
    namespace: string;
    createNamespace: boolean;
    /** Namespaced objects the stack will create (kind and name). */
    objects: { kind: Exclude<ObjKind, "Namespace">; name: string }[];
    runtimeClassName?: string;
    /** Where the GPU pods may go: some node must admit them (a warning for profiles that scale from zero). */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- node selector terms and tolerations as the API has them
    placement?: { profile: string; nodeSelector?: Record<string, string>; terms?: any[]; tolerations?: any[]; scalesFromZero: boolean };
    /** deployment.cache.claimName: must exist in the namespace. */
    claimName?: string;
    /** deployment.serviceAccountName: must exist in the namespace. */
    serviceAccountName?: string;
    /** The Job's spec changed since the last `up` (it would be replaced): refused while it runs, unless allowed. */
    jobReplace?: { name: string; allowed: boolean; key?: string };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects */
/** Looks one object up: the object, undefined when it does not exist; other errors are thrown. "Nodes" lists them. */
export type Lookup = (kind: ObjKind | "RuntimeClass" | "PersistentVolumeClaim" | "ServiceAccount" | "Nodes", name: string, namespace?: string) => Promise<any | undefined>;

/** Is the object this stack's: its owner id, or (from before owner ids) recorded by the stack's last `up`? */
export function ownedBy(obj: any, owner: string, recorded: Recorded, at: { kind: string; name: string; namespace?: string }): boolean {
    const ann = obj?.metadata?.annotations?.[OWNER_ANNOTATION];
    if (typeof ann === "string" && STACK_OWNER_ID.test(ann)) {
        return ann === owner;
    }
    const ours = ann !== undefined || obj?.metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGED_BY;
    if (!ours) {
        return false;
    }
    return at.kind === "Namespace" ? recorded.namespace === at.name
        : recorded.namespace !== undefined && recorded.namespace === at.namespace && recorded.deployment !== undefined
            && [recorded.deployment, `${recorded.deployment}-registry`].includes(at.name);
}

/** Who owns the object, in words (the stack name where it carries one). */
export function describeOwner(obj: any): string {
    const ann = obj?.metadata?.annotations?.[OWNER_ANNOTATION];
    const stack = obj?.metadata?.annotations?.[STACK_ANNOTATION];
    if (typeof ann === "string" && STACK_OWNER_ID.test(ann)) {
        return `owned by stack ${stack !== undefined ? JSON.stringify(stack) : "(unnamed)"}, owner id ${ann}`;
    }
    if (ann !== undefined) {
        return `owned by ${JSON.stringify(ann)}, an earlier nix-gpu-deploy stack that this stack's state does not record`;
    }
    const by = obj?.metadata?.labels?.["app.kubernetes.io/managed-by"];
    return by !== undefined ? `labelled managed-by ${JSON.stringify(by)} with no owner: a label alone does not make it this stack's` : "not created by nix-gpu-deploy";
}

/** Pure: "3h 12m" for a duration in seconds. */
export function humanDuration(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

/**
 * Every problem found, one line each naming the object (empty: go ahead). `warn` gets what does not
 * stop the deploy (no node for a profile that scales from zero).
 */
export async function preflightProblems(lookup: Lookup, i: PreflightInput, warn: (msg: string) => void = () => undefined, now = new Date()): Promise<string[]> {
    const recorded = i.recorded ?? {};
    const problems: string[] = [];
    let ns: any;
    try {
        ns = await lookup("Namespace", i.namespace);
    } catch (e) {
        // A namespace-scoped deployer may not read Namespaces (cluster-scoped).
        if ((e as { code?: number }).code !== 403) {
            throw e;
        }
        if (i.createNamespace) {
            return [`cluster.namespace: reading namespace ${i.namespace} is forbidden to these credentials, so whether it exists cannot be told: if it exists, deploy into it with cluster.createNamespace: false`];
        }
        ns = { metadata: { name: i.namespace } };
    }
    if (i.createNamespace) {
        if (ns !== undefined && !ownedBy(ns, i.owner, recorded, { kind: "Namespace", name: i.namespace })) {
            problems.push(`cluster.namespace: namespace ${i.namespace} already exists and this stack did not create it (${describeOwner(ns)}): refusing to take it over (destroy would delete it with everything inside); deploy into it with cluster.createNamespace: false, or choose another cluster.namespace`);
        }
    } else if (ns === undefined) {
        problems.push(`cluster.namespace: namespace ${i.namespace} does not exist and cluster.createNamespace is false: create it first, or set cluster.createNamespace: true`);
    }
    if (ns !== undefined) {
        for (const o of i.objects) {
            const found = await lookup(o.kind, o.name, i.namespace);
            if (found !== undefined && !ownedBy(found, i.owner, recorded, { kind: o.kind, name: o.name, namespace: i.namespace })) {
                problems.push(`${o.kind} ${i.namespace}/${o.name} already exists and this stack did not create it (${describeOwner(found)}): refusing to take it over; delete or rename it, or choose another deployment.name`);
            }
        }
    }
    if (ns !== undefined && i.jobReplace !== undefined && !i.jobReplace.allowed) {
        const job = await lookup("Job", i.jobReplace.name, i.namespace);
        const live = liveJobOf(job);
        if (live.found && live.running) {
            const since = new Date(live.startTime ?? job.metadata?.creationTimestamp ?? now);
            problems.push(`Job ${i.namespace}/${i.jobReplace.name} has been running for ${humanDuration((now.getTime() - since.getTime()) / 1000)} (since ${since.toISOString()}); this change replaces it, deleting its pods and their progress: wait until it finishes, or set deployment.replaceRunning: true`);
        }
    }
    if (ns !== undefined && i.claimName !== undefined && await lookup("PersistentVolumeClaim", i.claimName, i.namespace) === undefined) {
        problems.push(`deployment.cache.claimName: the namespace ${i.namespace} has no PersistentVolumeClaim ${i.claimName}; the pods would stay Pending`);
    }
    if (ns !== undefined && i.serviceAccountName !== undefined && await lookup("ServiceAccount", i.serviceAccountName, i.namespace) === undefined) {
        problems.push(`deployment.serviceAccountName: the namespace ${i.namespace} has no ServiceAccount ${i.serviceAccountName}; the pods would be refused`);
    }
    if (i.placement !== undefined) {
        let nodes: any[] | undefined;
        try {
            nodes = await lookup("Nodes", "");
        } catch (e) {
            // Nodes are cluster-scoped: a namespace-scoped deployer may not list them.
            if ((e as { code?: number }).code !== 403) {
                throw e;
            }
        }
        if (nodes !== undefined && !nodes.some((n) => nodeAdmits(n, i.placement!))) {
            const p = i.placement;
            const msg = `gpu.placement: no node of the cluster matches the ${p.profile} profile (${describeSelection(p)}${(p.tolerations ?? []).length > 0 ? `; tolerating ${p.tolerations!.map((t) => t.key ?? "*").join(", ")}` : ""})`;
            const hint = nodeHint(nodes);
            if (p.scalesFromZero) {
                warn(`${msg}: the pods stay Pending until the autoscaler adds such a node${hint}`);
            } else {
                problems.push(`${msg}: the pods would stay Pending${hint}`);
            }
        }
    }
    if (i.runtimeClassName !== undefined) {
        try {
            if (await lookup("RuntimeClass", i.runtimeClassName) === undefined) {
                problems.push(`gpu.runtimeClassName: the cluster has no RuntimeClass ${i.runtimeClassName}, so its pods would be refused (GKE, for one, installs none: its GPU nodes need no RuntimeClass); unset gpu.runtimeClassName or create the RuntimeClass`);
            }
        } catch (e) {
            // Reading cluster-scoped RuntimeClasses may be forbidden to a namespace-scoped deployer.
            if ((e as { code?: number }).code !== 403) {
                throw e;
            }
        }
    }
    return problems;
}

/** Pure: which profile the cluster's GPU nodes look like, when it is not the one chosen. */
function nodeHint(nodes: any[]): string {
    const has = (label: string) => nodes.some((n) => n?.metadata?.labels?.[label] !== undefined);
    const found = ([["gfd", GPU_PRODUCT_LABEL], ["gke", GKE_ACCELERATOR_LABEL], ["eks", EKS_GPU_NAME_LABEL], ["karpenter", KARPENTER_GPU_NAME_LABEL]] as const)
        .filter(([, label]) => has(label)).map(([profile, label]) => `${profile} (${label})`);
    return found.length > 0 ? `; the cluster's nodes carry the labels of: ${found.join(", ")}` : "; no node carries GPU labels of any profile";
}

/**
 * Pure: what the check depends on, as one digest — the owner, namespace, objects and RuntimeClass it
 * looks for, the kubeconfig text (inline, or the default files' contents) and the context. The last
 * `up` exports it (stack output `clusterChecked`); a preview whose key is the same has nothing new
 * to create in the same cluster (every object it registers is already in the stack's state), so it
 * skips the check. Any change to what is created, where, or with which credentials runs it again,
 * and so does every `up` (the cluster may have drifted since).
 */
export function preflightKey(input: PreflightInput, kubeconfigText: string, context: string | undefined): string {
    return createHash("sha256").update(JSON.stringify({ v: 2, input, kubeconfig: kubeconfigText, context: context ?? "" })).digest("hex");
}

/** Lookups through the official client. */
export function clientLookup(kc: KubeConfig): Lookup {
    const k8s = kubeClient();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const policy = kc.makeApiClient(k8s.PolicyV1Api);
    const node = kc.makeApiClient(k8s.NodeV1Api);
    return async (kind, name, namespace = "") => {
        try {
            switch (kind) {
                case "Namespace": return await core.readNamespace({ name });
                case "Secret": return await core.readNamespacedSecret({ name, namespace });
                case "Deployment": return await apps.readNamespacedDeployment({ name, namespace });
                case "Job": return await batch.readNamespacedJob({ name, namespace });
                case "PodDisruptionBudget": return await policy.readNamespacedPodDisruptionBudget({ name, namespace });
                case "Service": return await core.readNamespacedService({ name, namespace });
                case "PersistentVolumeClaim": return await core.readNamespacedPersistentVolumeClaim({ name, namespace });
                case "ServiceAccount": return await core.readNamespacedServiceAccount({ name, namespace });
                case "Nodes": return (await core.listNode()).items;
                case "RuntimeClass": return await node.readRuntimeClass({ name });
            }
        } catch (e) {
            if ((e as { code?: number }).code === 404) {
                return undefined;
            }
            throw Object.assign(new Error(`reading ${kind} ${namespace !== "" ? `${namespace}/` : ""}${name} on ${kc.getCurrentCluster()?.server}: ${apiErrorMessage(e)}`), { code: (e as { code?: number }).code });
        }
    };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
