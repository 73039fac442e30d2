// Runs the published image on the GPU nodes of one cluster: an explicit provider, the namespace,
// an optional pull secret and a digest-pinned Deployment.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "./config";
import { boundedOutput } from "./exec";
import { appLabels, deploymentSpec, dockerConfigJson } from "./gpuPodSpec";

export interface GpuDeploymentArgs {
    gpu: StackConfig["gpu"];
    deployment: StackConfig["deployment"];
    cluster: StackConfig["cluster"];
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
}

/** Pure: the command and environment of the rollout check (see components/rollout.ts). */
export function rolloutCheck(args: Pick<GpuDeploymentArgs, "cluster" | "deployment">): { create: string; environment: Record<string, string> } {
    const environment: Record<string, string> = {
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
    public readonly namespace: k8s.core.v1.Namespace;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly namespaceName: pulumi.Output<string>;
    public readonly deploymentName: pulumi.Output<string>;

    constructor(name: string, args: GpuDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:k8s:GpuDeployment", name, {}, opts);
        const { cluster, deployment } = args;
        this.provider = new k8s.Provider(`${name}-provider`, {
            kubeconfig: args.kubeconfig,
            context: cluster.context,
            // Rotating credentials or renaming a context must not replace every resource.
            clusterIdentifier: cluster.name,
            renderYamlToDirectory: cluster.renderYamlTo,
            enableServerSideApply: true,
        }, { parent: this });
        const childOpts = { parent: this, provider: this.provider };

        this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: { name: cluster.namespace, labels: { "app.kubernetes.io/managed-by": "nix-gpu-deploy" } },
        }, childOpts);

        let pullSecret: string | undefined;
        if (args.pullCredentials !== undefined) {
            const creds = args.pullCredentials;
            pullSecret = `${deployment.name}-registry`;
            if (cluster.renderYamlTo !== undefined) {
                // Rendered manifests are plaintext files: the registry password must not go there.
                pulumi.log.warn(`cluster.renderYamlTo is set: the pull secret ${cluster.namespace}/${pullSecret} is not rendered (it would hold the registry password in plaintext); create it in the cluster separately`, this);
            } else {
                new k8s.core.v1.Secret(`${name}-pull-secret`, {
                    metadata: { name: pullSecret, namespace: this.namespace.metadata.name, labels: appLabels(deployment) },
                    type: "kubernetes.io/dockerconfigjson",
                    stringData: { ".dockerconfigjson": pulumi.secret(creds.password).apply((p) => dockerConfigJson(creds.registry, creds.username, p)) },
                }, childOpts);
            }
        }

        const secretName = pullSecret;
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, {
            metadata: {
                name: deployment.name,
                namespace: this.namespace.metadata.name,
                labels: appLabels(deployment),
                annotations: {
                    // The rollout is awaited by the `-rollout` check below, which reports why pods
                    // are not ready; the provider's own await only says that it timed out.
                    ...(cluster.renderYamlTo === undefined ? { "pulumi.com/skipAwait": "true" } : {}),
                    ...(args.storePath !== undefined ? { "nix-gpu-deploy/store-path": args.storePath } : {}),
                },
            },
            spec: deploymentSpec({ gpu: args.gpu, deployment, image: args.image, pullSecret: secretName }),
        }, childOpts);

        if (cluster.renderYamlTo === undefined) {
            const check = rolloutCheck(args);
            const environment: Record<string, pulumi.Input<string>> = { ...check.environment };
            if (args.kubeconfig !== undefined) {
                environment.NGD_KUBECONFIG = pulumi.secret(args.kubeconfig);
            }
            new command.local.Command(`${name}-rollout`, {
                create: check.create,
                dir: args.projectRoot,
                environment,
                triggers: [this.deployment.metadata.generation, this.deployment.spec.template.spec.containers[0].image],
                logging: "stderr",
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn: [this.deployment], customTimeouts: { create: `${deployment.rolloutTimeoutSeconds + 120}s` } });
        }

        this.namespaceName = this.namespace.metadata.name;
        this.deploymentName = this.deployment.metadata.name;
        this.registerOutputs({ namespace: this.namespaceName, deployment: this.deploymentName });
    }
}
