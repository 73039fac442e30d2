// Run on destroy (the `namespace-release` command's delete, components/kubernetes/workload.ts), after the
// stack's own objects in the namespace are deleted: deletes the namespace the stack created, unless
// something it did not create is still in it — another stack deploying into it (cluster.createNamespace:
// false), or anyone's objects. Then the namespace is kept, and the objects and their owners named.
//
// Input (environment): NGD_NAMESPACE, NGD_OWNER (the stack's owner id), NGD_KUBE_CONTEXT and
// NGD_KUBECONFIG (contents, a secret) or else the default kubeconfig, as the provider chooses.
import type * as k8s from "@kubernetes/client-node";
import { apiErrorMessage, loadKubeConfig, serverOf } from "./kube";
import { OWNER_ANNOTATION, STACK_ANNOTATION } from "./preflight";
import { apisFor } from "./rollout";

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects */
/** What Kubernetes itself puts in every namespace: not a reason to keep it. */
function builtIn(kind: string, o: any): boolean {
    const name = o?.metadata?.name;
    return (kind === "ConfigMap" && name === "kube-root-ca.crt")
        || (kind === "ServiceAccount" && name === "default")
        || (kind === "Secret" && o?.type === "kubernetes.io/service-account-token");
}

/**
 * Pure: the objects that keep the namespace — not the stack's own (its owner id), not built in, not
 * already being deleted, and not pods or ReplicaSets some other object there owns.
 */
export function keepers(listed: { kind: string; items: any[] }[], owner: string): string[] {
    const out: string[] = [];
    for (const { kind, items } of listed) {
        for (const o of items) {
            const md = o?.metadata ?? {};
            if (md.deletionTimestamp !== undefined || (md.ownerReferences ?? []).length > 0 || builtIn(kind, o)) {
                continue;
            }
            if (md.annotations?.[OWNER_ANNOTATION] === owner) {
                continue;
            }
            const stack = md.annotations?.[STACK_ANNOTATION];
            out.push(`${kind} ${md.name}${stack !== undefined ? ` (stack ${stack})` : md.annotations?.[OWNER_ANNOTATION] !== undefined ? ` (owner ${md.annotations[OWNER_ANNOTATION]})` : ""}`);
        }
    }
    return out;
}

async function main(): Promise<number> {
    const ns = process.env.NGD_NAMESPACE ?? "";
    const owner = process.env.NGD_OWNER ?? "";
    const kc = loadKubeConfig(process.env.NGD_KUBECONFIG, process.env.NGD_KUBE_CONTEXT);
    const { core, apps, batch } = apisFor(kc);
    let nsObj: k8s.V1Namespace;
    try {
        nsObj = await core.readNamespace({ name: ns });
    } catch (e) {
        if ((e as { code?: number }).code === 404) {
            console.error(`namespace ${ns}: already gone`);
            return 0;
        }
        throw e;
    }
    if (nsObj.metadata?.annotations?.[OWNER_ANNOTATION] !== owner) {
        console.error(`namespace ${ns} is not this stack's any more (owner ${nsObj.metadata?.annotations?.[OWNER_ANNOTATION] ?? "none"}): kept`);
        return 0;
    }
    const namespace = ns;
    const listed = [
        { kind: "Deployment", items: (await apps.listNamespacedDeployment({ namespace })).items },
        { kind: "StatefulSet", items: (await apps.listNamespacedStatefulSet({ namespace })).items },
        { kind: "DaemonSet", items: (await apps.listNamespacedDaemonSet({ namespace })).items },
        { kind: "Job", items: (await batch.listNamespacedJob({ namespace })).items },
        { kind: "CronJob", items: (await batch.listNamespacedCronJob({ namespace })).items },
        { kind: "Pod", items: (await core.listNamespacedPod({ namespace })).items },
        { kind: "Service", items: (await core.listNamespacedService({ namespace })).items },
        { kind: "PersistentVolumeClaim", items: (await core.listNamespacedPersistentVolumeClaim({ namespace })).items },
        { kind: "ConfigMap", items: (await core.listNamespacedConfigMap({ namespace })).items },
        { kind: "Secret", items: (await core.listNamespacedSecret({ namespace })).items },
        { kind: "ServiceAccount", items: (await core.listNamespacedServiceAccount({ namespace })).items },
    ];
    const keep = keepers(listed, owner);
    if (keep.length > 0) {
        console.error(`kept namespace ${ns} on ${serverOf(kc)}: it holds ${keep.length} object${keep.length === 1 ? "" : "s"} this stack did not create: ${keep.slice(0, 10).join(", ")}${keep.length > 10 ? `, and ${keep.length - 10} more` : ""}`);
        return 0;
    }
    await core.deleteNamespace({ name: ns });
    console.error(`deleted namespace ${ns} on ${serverOf(kc)}`);
    return 0;
}

if (require.main === module) {
    main().then((code) => (process.exitCode = code), (e: Error) => {
        console.error(`namespace release failed: ${apiErrorMessage(e)}`);
        process.exitCode = 1;
    });
}
/* eslint-enable @typescript-eslint/no-explicit-any */
