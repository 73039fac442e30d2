// Runs the published image on the GPU nodes of one cluster: an explicit provider, the namespace
// (unless it exists and the stack only deploys into it), an optional pull secret, a digest-pinned
// Deployment (a service) or Job (run to completion), an optional PodDisruptionBudget, and the check
// that waits for the rollout or the Job's completion.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, DeploymentConfig, GpuConfig, NixSystem } from "./config";
import { boundedOutput } from "./exec";
import { programError } from "./errors";
import { appLabels, deploymentSpec, disruptionBudgetSpec, dockerConfigJson, jobSpec } from "./gpuPodSpec";
import { defaultKubeconfigFiles } from "./kube";
import { OWNER_ANNOTATION, PreflightInput, preflightKey } from "./preflight";

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
    /** Project root: where `components/rollout.ts` is run from. */
    projectRoot: string;
    /** `nix.cudaCapabilities`: pods go only to nodes whose compute capability runs the build. */
    cudaCapabilities?: string[];
    /** `nix.system`: pods go only to nodes of the image's architecture (`kubernetes.io/arch`). */
    system?: NixSystem;
    /**
     * Looks at the live cluster before anything is registered (components/preflight.ts) and returns
     * the problems found; any problem fails preview and up. Not run with cluster.renderYamlTo.
     */
    preflight?: (input: PreflightInput, kubeconfig: string | undefined) => Promise<string[]>;
    /**
     * The `preflightKey` of the last `up` (stack output `clusterChecked`): a preview whose key is the
     * same has nothing new to create and skips the preflight. `up` always runs it (drift: an object
     * deleted and re-created by someone else since, a RuntimeClass removed).
     */
    previousPreflightKey?: Promise<string | undefined>;
    /** Earlier name of this component (a stack created before the names became stable): aliased. */
    previousName?: string;
}

/** `pulumi.com/waitFor` with a condition true once the object exists: no provider await on create/update. */
export const IMMEDIATE_READY = ["pulumi.com/waitFor", "jsonpath={.metadata.name}"] as const;

/** Owner annotation value: stable across `pulumi stack rename`, one per project and cluster identity. */
export function ownerId(cluster: Pick<ClusterConfig, "name">): string {
    return `${pulumi.getProject()}/${cluster.name}`;
}

/** Pure: the command and environment of the rollout check (see components/rollout.ts). */
export function rolloutCheck(args: Pick<GpuDeploymentArgs, "cluster" | "deployment">): { create: string; environment: Record<string, string> } {
    const environment: Record<string, string> = {
        NGD_KIND: args.deployment.kind,
        NGD_NAMESPACE: args.cluster.namespace,
        NGD_DEPLOYMENT: args.deployment.name,
        NGD_TIMEOUT_SECONDS: String(args.deployment.rolloutTimeoutSeconds),
    };
    if (args.cluster.context !== undefined) {
        environment.NGD_KUBE_CONTEXT = args.cluster.context;
    }
    return { create: boundedOutput("node -r ts-node/register/transpile-only components/rollout.ts"), environment };
}

export class GpuDeployment extends pulumi.ComponentResource {
    public readonly provider: k8s.Provider;
    /** Undefined with cluster.createNamespace: false (the namespace is not the stack's). */
    public readonly namespace?: k8s.core.v1.Namespace;
    public readonly workload: k8s.apps.v1.Deployment | k8s.batch.v1.Job;
    public readonly namespaceName: pulumi.Output<string>;
    public readonly deploymentName: pulumi.Output<string>;
    /** The namespace name once the live cluster has been checked (fails with the preflight's problems). */
    public readonly checkedNamespace: pulumi.Output<string>;
    /** What the preflight depended on (components/preflight.ts `preflightKey`); "" when none ran. A secret. */
    public readonly preflightKey: pulumi.Output<string>;

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
        const owner = ownerId(cluster);
        const ownerAnnotations = { [OWNER_ANNOTATION]: owner };

        let pullSecret: string | undefined = cluster.imagePullSecret;
        const createPullSecret = pullSecret === undefined && args.pullCredentials !== undefined && cluster.renderYamlTo === undefined;
        if (pullSecret === undefined && args.pullCredentials !== undefined) {
            pullSecret = `${deployment.name}-registry`;
            if (cluster.renderYamlTo !== undefined) {
                // Rendered manifests are plaintext files: the registry password must not go there.
                pulumi.log.warn(`cluster.renderYamlTo is set: the pull secret ${cluster.namespace}/${pullSecret} is not rendered (it would hold the registry password in plaintext); create it in the cluster separately, or name an existing one with cluster.imagePullSecret`, this);
            }
        }

        // Nothing in the cluster is registered before the live cluster has been checked (preview too).
        const objects: PreflightInput["objects"] = [{ kind: isJob ? "Job" : "Deployment", name: deployment.name }];
        if (createPullSecret) {
            objects.push({ kind: "Secret", name: pullSecret! });
        }
        if (!isJob && deployment.podDisruptionBudget !== undefined) {
            objects.push({ kind: "PodDisruptionBudget", name: deployment.name });
        }
        const preflight = args.preflight;
        const checkedKey: pulumi.Output<string> = preflight === undefined || cluster.renderYamlTo !== undefined
            ? pulumi.output("")
            : pulumi.output(args.kubeconfig ?? "").apply(async (kc) => {
                const input: PreflightInput = { owner, namespace: cluster.namespace, createNamespace: cluster.createNamespace, objects, runtimeClassName: args.gpu.runtimeClassName };
                let key = "";
                try {
                    key = preflightKey(input, kc !== "" ? kc : defaultKubeconfigFiles().map((f) => f.text).join("\n---\n"), cluster.context);
                } catch {
                    // No readable default kubeconfig: the check runs and says what is wrong.
                }
                if (pulumi.runtime.isDryRun() && key !== "" && key === await args.previousPreflightKey) {
                    return key;
                }
                let problems: string[];
                try {
                    problems = await preflight(input, kc === "" ? undefined : kc);
                } catch (e) {
                    throw programError(`the cluster ${cluster.name} could not be checked before deploying (is it reachable with this kubeconfig${cluster.context !== undefined ? ` and context ${cluster.context}` : ""}?): ${(e as Error).message}`);
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
        if (cluster.createNamespace) {
            this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: { name: checked, labels: { "app.kubernetes.io/managed-by": "nix-gpu-deploy" }, annotations: ownerAnnotations },
            }, { ...replaceOpts, ...was("namespace") });
            namespaceName = this.namespace.metadata.name;
        } else {
            namespaceName = checked;
        }

        if (createPullSecret) {
            const creds = args.pullCredentials!;
            new k8s.core.v1.Secret(`${name}-pull-secret`, {
                metadata: { name: pullSecret, namespace: namespaceName, labels: appLabels(deployment), annotations: ownerAnnotations },
                type: "kubernetes.io/dockerconfigjson",
                stringData: { ".dockerconfigjson": pulumi.secret(creds.password).apply((p) => dockerConfigJson(creds.registry, creds.username, p)) },
            }, { ...replaceOpts, ...was("pull-secret") });
        }

        const podInput = { gpu: args.gpu, deployment, image: args.image, pullSecret, cudaCapabilities: args.cudaCapabilities, system: args.system };
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
            // A Job's pod template is immutable: any spec change is a new Job (the old one deleted first).
            this.workload = new k8s.batch.v1.Job(`${name}-job`, { metadata, spec: jobSpec(podInput) }, { ...replaceOpts, replaceOnChanges: ["spec"] });
        } else {
            this.workload = new k8s.apps.v1.Deployment(`${name}-deployment`, { metadata, spec: deploymentSpec(podInput) }, { ...replaceOpts, ...was("deployment") });
            const pdb = disruptionBudgetSpec(deployment);
            if (pdb !== undefined) {
                new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
                    metadata: { name: deployment.name, namespace: namespaceName, labels: appLabels(deployment), annotations: ownerAnnotations },
                    spec: pdb,
                }, { ...replaceOpts, dependsOn: [this.workload] });
            }
        }

        if (cluster.renderYamlTo === undefined) {
            const check = rolloutCheck(args);
            const environment: Record<string, pulumi.Input<string>> = { ...check.environment };
            if (args.kubeconfig !== undefined) {
                environment.NGD_KUBECONFIG = pulumi.secret(args.kubeconfig);
            }
            const timeout = deployment.rolloutTimeoutSeconds + 120;
            new command.local.Command(`${name}-rollout`, {
                create: check.create,
                dir: args.projectRoot,
                environment,
                triggers: isJob
                    ? [this.workload.metadata.uid, this.workload.spec.template.spec.containers[0].image]
                    : [this.workload.metadata.generation, this.workload.spec.template.spec.containers[0].image],
                logging: "stderr",
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn: [this.workload], customTimeouts: { create: `${timeout}s` }, ...was("rollout") });
        }

        this.checkedNamespace = checked;
        this.preflightKey = pulumi.secret(checkedKey);
        this.namespaceName = namespaceName;
        this.deploymentName = this.workload.metadata.name;
        this.registerOutputs({ namespace: this.namespaceName, deployment: this.deploymentName });
    }
}
