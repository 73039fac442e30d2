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
// The owner is `<project>/<cluster.name>`: stable when the stack is renamed (Pulumi URNs carry the
// stack), different for every cluster identity. Objects from before this check (labelled
// `app.kubernetes.io/managed-by: nix-gpu-deploy` without the annotation) count as the stack's own.
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

export const OWNER_ANNOTATION = "nix-gpu-deploy/owner";
export const MANAGED_BY = "nix-gpu-deploy";

export type ObjKind = "Namespace" | "Deployment" | "Job" | "Secret" | "PodDisruptionBudget";

export interface PreflightInput {
    owner: string;
    namespace: string;
    createNamespace: boolean;
    /** Namespaced objects the stack will create (kind and name). */
    objects: { kind: Exclude<ObjKind, "Namespace">; name: string }[];
    runtimeClassName?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects */
/** Looks one object up: the object, undefined when it does not exist; other errors are thrown. */
export type Lookup = (kind: ObjKind | "RuntimeClass", name: string, namespace?: string) => Promise<any | undefined>;

/** Is the object this stack's (or a pre-annotation object of this program)? */
export function ownedBy(obj: any, owner: string): boolean {
    const ann = obj?.metadata?.annotations?.[OWNER_ANNOTATION];
    if (ann !== undefined) {
        return ann === owner;
    }
    return obj?.metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGED_BY;
}

function describeOwner(obj: any): string {
    const ann = obj?.metadata?.annotations?.[OWNER_ANNOTATION];
    if (ann !== undefined) {
        return `owned by ${JSON.stringify(ann)}`;
    }
    const by = obj?.metadata?.labels?.["app.kubernetes.io/managed-by"];
    return by !== undefined ? `managed by ${JSON.stringify(by)}` : "not created by nix-gpu-deploy";
}

/** Every problem found, one line each naming the object (empty: go ahead). */
export async function preflightProblems(lookup: Lookup, i: PreflightInput): Promise<string[]> {
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
        if (ns !== undefined && !ownedBy(ns, i.owner)) {
            problems.push(`cluster.namespace: namespace ${i.namespace} already exists and this stack did not create it (${describeOwner(ns)}): refusing to take it over (destroy would delete it with everything inside); deploy into it with cluster.createNamespace: false, or choose another cluster.namespace`);
        }
    } else if (ns === undefined) {
        problems.push(`cluster.namespace: namespace ${i.namespace} does not exist and cluster.createNamespace is false: create it first, or set cluster.createNamespace: true`);
    }
    if (ns !== undefined) {
        for (const o of i.objects) {
            const found = await lookup(o.kind, o.name, i.namespace);
            if (found !== undefined && !ownedBy(found, i.owner)) {
                problems.push(`${o.kind} ${i.namespace}/${o.name} already exists and this stack did not create it (${describeOwner(found)}): refusing to take it over; delete or rename it, or choose another deployment.name`);
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

/**
 * Pure: what the check depends on, as one digest — the owner, namespace, objects and RuntimeClass it
 * looks for, the kubeconfig text (inline, or the default files' contents) and the context. The last
 * `up` exports it (stack output `clusterChecked`); a preview whose key is the same has nothing new
 * to create in the same cluster (every object it registers is already in the stack's state), so it
 * skips the check. Any change to what is created, where, or with which credentials runs it again,
 * and so does every `up` (the cluster may have drifted since).
 */
export function preflightKey(input: PreflightInput, kubeconfigText: string, context: string | undefined): string {
    return createHash("sha256").update(JSON.stringify({ v: 1, input, kubeconfig: kubeconfigText, context: context ?? "" })).digest("hex");
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
