// Runs the published image on the GPU nodes of one cluster: an explicit provider, the namespace
// (unless it exists and the stack only deploys into it), an optional pull secret, a digest-pinned
// Deployment (a service, with a Service for deployment.port) or Job (run to completion), an optional
// PodDisruptionBudget, and the check that waits for the rollout or the Job's completion (or its start).
//
// Everything it creates carries the stack's owner id (components/kubernetes/preflight.ts), made on the first
// `up` by the `owner-id` command and kept in the state. The namespace is deleted on destroy by the
// `namespace-release` command, and only when no object another stack (or anyone) made is left in it;
// otherwise it is kept and the objects named (components/kubernetes/namespaceRelease.ts).
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, DeploymentConfig, GpuConfig, NixSystem } from "../config";
import { STACK_ID_SCRIPT, boundedOutput } from "../exec";
import { programError } from "../errors";
import { PACKAGE_ROOT, scriptCommand } from "../paths";
import { PodTemplateInput, appLabels, deploymentSpec, disruptionBudgetSpec, dockerConfigJson, gpuPodTemplate, gpuResource, jobSpec, serviceSpec } from "./podSpec";
import { JOB_KEY_ANNOTATION, JobRecord, LiveJob, jobKey, jobPlan, recordFromLive, recordFromRollout } from "./jobRun";
import { defaultKubeconfigFiles } from "./kube";
import { SCALES_FROM_ZERO } from "./placement";
import { OWNER_ANNOTATION, PreflightInput, Recorded, STACK_ANNOTATION, preflightKey } from "./preflight";

export interface GpuDeploymentArgs {
    gpu: GpuConfig;
    deployment: DeploymentConfig;
    cluster: ClusterConfig;
    /** Digest-pinned image reference (`host/repo@sha256:…`). */
    image: pulumi.Input<string>;
    /** Kubeconfig contents (a secret), if the stack sets one. */
    kubeconfig?: pulumi.Output<string>;
    /** Registry credentials for a pull secret. */
    pullCredentials?: { registry: string; username: string; password: pulumi.Output<string> };
    /** Shown as an annotation on the Deployment (not the pod template, so it causes no rollout). */
    storePath?: pulumi.Input<string>;
    /** `nix.cudaCapabilities`: pods go only to nodes whose compute capability runs the build. */
    cudaCapabilities?: string[];
    /** `nix.system`: pods go only to nodes of the image's architecture (`kubernetes.io/arch`). */
    system?: NixSystem;
    /**
     * Looks at the live cluster before anything is registered (components/kubernetes/preflight.ts) and returns
     * the problems found; any problem fails preview and up. Not run with cluster.renderYamlTo.
     */
    preflight?: (input: PreflightInput, kubeconfig: string | undefined, warn: (msg: string) => void) => Promise<string[]>;
    /**
     * The `preflightKey` of the last `up` (stack output `clusterChecked`): a preview whose key is the
     * same has nothing new to create and skips the preflight. `up` always runs it (drift: an object
     * deleted and re-created by someone else since, a RuntimeClass removed).
     */
    previousPreflightKey?: Promise<string | undefined>;
    /** Earlier name of this component (a stack created before the names became stable): aliased. */
    previousName?: string;
    /** `org/project/stack`: the stack annotation on every object (for people; ownership is the owner id). */
    stackName: string;
    /** What the stack's last `up` exported: its owner id, its objects, its Job's record. */
    previous: { owner?: string; recorded: Recorded; job?: JobRecord };
    /** What identifies the image's content before it is pushed (the derivation, or a promoted digest). */
    imageIdentity?: string;
    /** The Job as the cluster has it now (undefined: not read). */
    liveJob?: LiveJob;
}

/** `pulumi.com/waitFor` with a condition true once the object exists: no provider await on create/update. */
export const IMMEDIATE_READY = ["pulumi.com/waitFor", "jsonpath={.metadata.name}"] as const;

/** Pure: the command and environment of the rollout check (see components/kubernetes/rollout.ts). */
export function rolloutCheck(args: Pick<GpuDeploymentArgs, "cluster" | "deployment">): { create: string; environment: Record<string, string> } {
    const environment: Record<string, string> = {
        NGD_KIND: args.deployment.kind,
        NGD_NAMESPACE: args.cluster.namespace,
        NGD_DEPLOYMENT: args.deployment.name,
        NGD_TIMEOUT_SECONDS: String(args.deployment.rolloutTimeoutSeconds),
    };
    if (args.deployment.kind === "Job" && !args.deployment.job.wait) {
        environment.NGD_UNTIL = "started";
    }
    if (args.cluster.context !== undefined) {
        environment.NGD_KUBE_CONTEXT = args.cluster.context;
    }
    return { create: boundedOutput(scriptCommand("kubernetes/rollout")), environment };
}

/** Pure: the owner-id step's output, `<id> <org/project/stack>`, as the id and the stack's name when it was made. */
export function parseOwnerRecord(out: string): { id: string; stack: string } {
    const [id, stack] = out.trim().split(/\s+/, 2);
    return { id, stack: stack ?? "" };
}

/** Pure: the placement check of the preflight: the GPU pod's node selector, affinity terms and tolerations, as its template has them. */
export function placementCheck(i: PodTemplateInput): PreflightInput["placement"] {
    if (gpuResource(i.gpu) === undefined) {
        return undefined;
    }
    const spec = gpuPodTemplate(i).spec;
    return {
        profile: i.gpu.placement,
        nodeSelector: spec.nodeSelector ?? {},
        terms: spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [],
        tolerations: spec.tolerations ?? [],
        scalesFromZero: SCALES_FROM_ZERO.includes(i.gpu.placement),
    };
}

/** Pure: the command that deletes the namespace on destroy, unless other objects are in it. */
export function namespaceReleaseCheck(cluster: Pick<ClusterConfig, "namespace" | "context">): { delete: string; environment: Record<string, string> } {
    return {
        delete: boundedOutput(scriptCommand("kubernetes/namespaceRelease")),
        environment: { NGD_NAMESPACE: cluster.namespace, ...(cluster.context !== undefined ? { NGD_KUBE_CONTEXT: cluster.context } : {}) },
    };
}

export class GpuDeployment extends pulumi.ComponentResource {
    public readonly provider: k8s.Provider;
    /** Undefined with cluster.createNamespace: false (the namespace is not the stack's). */
    public readonly namespace?: k8s.core.v1.Namespace;
    /** Undefined when a Job of this very spec already ran and is gone (components/kubernetes/jobRun.ts). */
    public readonly workload?: k8s.apps.v1.Deployment | k8s.batch.v1.Job;
    public readonly service?: k8s.core.v1.Service;
    public readonly namespaceName: pulumi.Output<string>;
    public readonly deploymentName: pulumi.Output<string>;
    /** The namespace name once the live cluster has been checked (fails with the preflight's problems). */
    public readonly checkedNamespace: pulumi.Output<string>;
    /** What the preflight depended on (components/kubernetes/preflight.ts `preflightKey`); "" when none ran. A secret. */
    public readonly preflightKey: pulumi.Output<string>;
    /** The stack's owner id (32 hex digits), as every object it creates carries it. */
    public readonly ownerId: pulumi.Output<string>;
    /** A Job's spec key and state (components/kubernetes/jobRun.ts), as JSON; undefined for a Deployment. */
    public readonly jobRecord?: pulumi.Output<string | undefined>;

    constructor(name: string, args: GpuDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:k8s:GpuDeployment", name, {}, {
            ...opts,
            aliases: [...(opts?.aliases ?? []), ...(args.previousName !== undefined ? [{ name: args.previousName }] : [])],
        });
        const { cluster, deployment } = args;
        const isJob = deployment.kind === "Job";
        /** A child's options: the earlier name of the same child as an alias (stable names, item 8). */
        const was = (suffix: string) => (args.previousName !== undefined ? { aliases: [{ name: `${args.previousName}-${suffix}` }] } : {});
        this.provider = new k8s.Provider(`${name}-provider`, {
            kubeconfig: args.kubeconfig,
            context: cluster.context,
            // Rotating credentials or renaming a context must not replace every resource.
            clusterIdentifier: cluster.name,
            renderYamlToDirectory: cluster.renderYamlTo,
            enableServerSideApply: true,
        }, { parent: this, ...was("provider") });
        // The stack's owner id: made once, on the first up, and kept in the state (a rename keeps it;
        // a stack copied from another's config gets its own), with the stack's name at that time: the
        // objects name the stack that made them, and a rename changes nothing in the cluster.
        const owner = new command.local.Command(`${name}-owner-id`, {
            create: `${STACK_ID_SCRIPT}; printf ' %s' "$NGD_STACK"`,
            environment: { NGD_STACK: args.stackName },
            addPreviousOutputInEnv: false,
        }, { parent: this, ignoreChanges: ["environment"] }).stdout.apply((out) => parseOwnerRecord(out));
        this.ownerId = owner.apply((o) => o.id);
        const ownerAnnotations = { [OWNER_ANNOTATION]: this.ownerId, [STACK_ANNOTATION]: owner.apply((o) => o.stack) };

        let pullSecret: string | undefined = cluster.imagePullSecret;
        const createPullSecret = pullSecret === undefined && args.pullCredentials !== undefined && cluster.renderYamlTo === undefined;
        if (pullSecret === undefined && args.pullCredentials !== undefined) {
            pullSecret = `${deployment.name}-registry`;
            if (cluster.renderYamlTo !== undefined) {
                // Rendered manifests are plaintext files: the registry password must not go there.
                pulumi.log.warn(`cluster.renderYamlTo is set: the pull secret ${cluster.namespace}/${pullSecret} is not rendered (it would hold the registry password in plaintext); create it in the cluster separately, or name an existing one with cluster.imagePullSecret`, this);
            }
        }
        const podInput = { gpu: args.gpu, deployment, image: args.image, pullSecret, cudaCapabilities: args.cudaCapabilities, system: args.system };

        // A Job of this very spec that already ran and is gone is not created again (components/kubernetes/jobRun.ts).
        const specKey = isJob && args.imageIdentity !== undefined ? jobKey(jobSpec({ ...podInput, image: "" }), args.imageIdentity) : undefined;
        const plan = isJob ? jobPlan({ previous: args.previous.job, key: specKey, live: args.liveJob, name: `${cluster.namespace}/${deployment.name}` }) : { create: true };
        if (plan.note !== undefined) {
            pulumi.log.info(plan.note, this);
        }
        if (isJob && args.liveJob?.found === true) {
            pulumi.log.info(`Job ${cluster.namespace}/${deployment.name}: ${args.liveJob.summary}${args.liveJob.running && args.liveJob.startTime !== undefined ? `, running since ${args.liveJob.startTime}` : ""}`, this);
        }
        // A change of a Job's spec replaces it: refused while it runs (preflight), unless allowed.
        const replacesJob = isJob && plan.create && specKey !== undefined && args.previous.job !== undefined && args.previous.job.key !== specKey;

        // Nothing in the cluster is registered before the live cluster has been checked (preview too).
        const objects: PreflightInput["objects"] = plan.create ? [{ kind: isJob ? "Job" : "Deployment", name: deployment.name }] : [];
        if (createPullSecret) {
            objects.push({ kind: "Secret", name: pullSecret! });
        }
        if (!isJob && deployment.podDisruptionBudget !== undefined) {
            objects.push({ kind: "PodDisruptionBudget", name: deployment.name });
        }
        const svc = serviceSpec(deployment);
        if (svc !== undefined) {
            objects.push({ kind: "Service", name: deployment.name });
        }
        const preflight = args.preflight;
        const checkedKey: pulumi.Output<string> = preflight === undefined || cluster.renderYamlTo !== undefined
            ? pulumi.output("")
            : pulumi.output(args.kubeconfig ?? "").apply(async (kc) => {
                const input: PreflightInput = {
                    owner: args.previous.owner ?? "",
                    recorded: args.previous.recorded,
                    namespace: cluster.namespace,
                    createNamespace: cluster.createNamespace,
                    objects,
                    runtimeClassName: args.gpu.runtimeClassName,
                    placement: plan.create ? placementCheck(podInput) : undefined,
                    claimName: deployment.cache.kind === "claim" ? deployment.cache.claimName : undefined,
                    serviceAccountName: deployment.serviceAccountName,
                    jobReplace: replacesJob ? { name: deployment.name, allowed: deployment.job.replaceRunning, key: specKey! } : undefined,
                };
                let key = "";
                try {
                    key = preflightKey(input, kc !== "" ? kc : defaultKubeconfigFiles().map((f) => f.text).join("\n---\n"), cluster.context);
                } catch {
                    // No readable default kubeconfig: the check runs and says what is wrong.
                }
                // A replaced Job is checked on every preview: whether it still runs is the cluster's to say.
                if (pulumi.runtime.isDryRun() && key !== "" && input.jobReplace === undefined && key === await args.previousPreflightKey) {
                    return key;
                }
                let problems: string[];
                const warnings: string[] = [];
                try {
                    problems = await preflight(input, kc === "" ? undefined : kc, (w) => warnings.push(w));
                } catch (e) {
                    throw programError(`the cluster ${cluster.name} could not be checked before deploying (is it reachable with this kubeconfig${cluster.context !== undefined ? ` and context ${cluster.context}` : ""}?): ${(e as Error).message}`);
                }
                for (const w of warnings) {
                    pulumi.log.warn(w, this);
                }
                if (problems.length > 0) {
                    throw programError(`the cluster ${cluster.name} is not ready for this stack (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
                }
                return key;
            });
        const checked: pulumi.Output<string> = pulumi.unsecret(checkedKey.apply(() => cluster.namespace));

        const childOpts = { parent: this, provider: this.provider };
        // A rename or a namespace change replaces: delete the old object first, so that its pods free
        // their GPUs before the new ones are scheduled (a full GPU cluster would deadlock otherwise).
        const replaceOpts = { ...childOpts, deleteBeforeReplace: true };
        let namespaceName: pulumi.Output<string>;
        // Every namespaced object depends on the release check, so destroy deletes them before it runs.
        let inNamespace: pulumi.Resource[] = [];
        if (cluster.createNamespace) {
            // Never deleted by the provider: the release check below deletes it when nothing else is in it.
            this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: { name: checked, labels: { "app.kubernetes.io/managed-by": "nix-gpu-deploy" }, annotations: ownerAnnotations },
            }, { ...replaceOpts, retainOnDelete: true, ...was("namespace") });
            namespaceName = this.namespace.metadata.name;
            if (cluster.renderYamlTo === undefined) {
                const release = namespaceReleaseCheck(cluster);
                const environment: Record<string, pulumi.Input<string>> = { ...release.environment, NGD_OWNER: this.ownerId };
                if (args.kubeconfig !== undefined) {
                    environment.NGD_KUBECONFIG = pulumi.secret(args.kubeconfig);
                }
                inNamespace = [new command.local.Command(`${name}-namespace-release`, {
                    create: "true",
                    delete: release.delete,
                    dir: PACKAGE_ROOT,
                    environment,
                    triggers: [namespaceName],
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                }, { parent: this, dependsOn: [this.namespace] })];
            }
        } else {
            namespaceName = checked;
        }
        const nsOpts = { ...replaceOpts, dependsOn: inNamespace };

        if (createPullSecret) {
            const creds = args.pullCredentials!;
            new k8s.core.v1.Secret(`${name}-pull-secret`, {
                metadata: { name: pullSecret, namespace: namespaceName, labels: appLabels(deployment), annotations: ownerAnnotations },
                type: "kubernetes.io/dockerconfigjson",
                stringData: { ".dockerconfigjson": pulumi.secret(creds.password).apply((p) => dockerConfigJson(creds.registry, creds.username, p)) },
            }, { ...nsOpts, ...was("pull-secret") });
        }

        const metadata = {
            name: deployment.name,
            namespace: namespaceName,
            labels: appLabels(deployment),
            annotations: {
                ...ownerAnnotations,
                // The rollout (or the Job's completion) is awaited by the `-rollout` check below, which
                // reports why pods are not ready; the provider's own await only says that it timed out.
                // Not `pulumi.com/skipAwait`: on a Deployment or Job it also skips waiting for the
                // deletion (pulumi-kubernetes#1232, #3154: metadata.allowsSkipAwaitWithDelete), so a
                // delete-before-replace would create the new object while the old one and its pods
                // (and GPUs) are still there — a Job of the same name is then patched, not replaced.
                // A `waitFor` condition that holds at once replaces the create/update await only.
                ...(cluster.renderYamlTo === undefined ? { [IMMEDIATE_READY[0]]: IMMEDIATE_READY[1] } : {}),
                // On the workload, never on the pod template: a new store path alone rolls nothing out.
                ...(args.storePath !== undefined ? { "nix-gpu-deploy/store-path": args.storePath } : {}),
            },
        };
        if (isJob) {
            if (plan.create) {
                // A Job's pod template is immutable: any spec change is a new Job (the old one deleted first).
                const jobMetadata = { ...metadata, annotations: { ...metadata.annotations, ...(specKey !== undefined ? { [JOB_KEY_ANNOTATION]: specKey } : {}) } };
                this.workload = new k8s.batch.v1.Job(`${name}-job`, { metadata: jobMetadata, spec: jobSpec(podInput) }, { ...nsOpts, replaceOnChanges: ["spec"] });
            }
        } else {
            this.workload = new k8s.apps.v1.Deployment(`${name}-deployment`, { metadata, spec: deploymentSpec(podInput) }, { ...nsOpts, ...was("deployment") });
            const pdb = disruptionBudgetSpec(deployment);
            if (pdb !== undefined) {
                new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
                    metadata: { name: deployment.name, namespace: namespaceName, labels: appLabels(deployment), annotations: ownerAnnotations },
                    spec: pdb,
                }, { ...nsOpts, dependsOn: [...inNamespace, this.workload] });
            }
            if (svc !== undefined) {
                this.service = new k8s.core.v1.Service(`${name}-service`, {
                    metadata: { name: deployment.name, namespace: namespaceName, labels: appLabels(deployment), annotations: ownerAnnotations },
                    spec: svc,
                }, nsOpts);
            }
        }

        let rollout: command.local.Command | undefined;
        if (cluster.renderYamlTo === undefined && this.workload !== undefined) {
            const check = rolloutCheck(args);
            const environment: Record<string, pulumi.Input<string>> = { ...check.environment };
            if (args.kubeconfig !== undefined) {
                environment.NGD_KUBECONFIG = pulumi.secret(args.kubeconfig);
            }
            const timeout = deployment.rolloutTimeoutSeconds + 120;
            const workload = this.workload;
            rollout = new command.local.Command(`${name}-rollout`, {
                create: check.create,
                dir: PACKAGE_ROOT,
                environment,
                triggers: isJob
                    ? [workload.metadata.uid, workload.spec.template.spec.containers[0].image]
                    : [workload.metadata.generation, workload.spec.template.spec.containers[0].image],
                logging: "stderr",
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn: [workload], customTimeouts: { create: `${timeout}s` }, ...was("rollout") });
        }
        if (isJob && specKey !== undefined) {
            const key = specKey;
            // What the next run compares with: the live Job's state when it says more, else what the
            // rollout check saw, else (the Job left out) the last record.
            const fromLive = recordFromLive(args.liveJob, key);
            this.jobRecord = !plan.create ? pulumi.output(JSON.stringify(args.previous.job))
                : fromLive?.state === "Complete" || rollout === undefined ? pulumi.output(fromLive !== undefined ? JSON.stringify(fromLive) : undefined)
                    : rollout.stdout.apply((out) => {
                        const r = recordFromRollout(out, key, new Date()) ?? fromLive;
                        return r !== undefined ? JSON.stringify(r) : undefined;
                    });
        }

        this.checkedNamespace = checked;
        this.preflightKey = pulumi.secret(checkedKey);
        this.namespaceName = namespaceName;
        this.deploymentName = pulumi.output(deployment.name);
        this.registerOutputs({ namespace: this.namespaceName, deployment: this.deploymentName, owner: this.ownerId });
    }
}
