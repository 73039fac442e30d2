// GpuWorkload: an image run on the NVIDIA GPU nodes of a Kubernetes cluster: a Deployment (a service)
// or a Job (training, batch), pinned by digest, placed by the GPU's node labels, checked against the
// live cluster before anything is registered (preflight), and followed until it has rolled out or the
// Job has finished (or started). Everything it creates carries the stack's owner id.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSection, DeploymentSection, GpuSection, sectionValue } from "./args";
import { ClusterConfig, DeploymentConfig, GpuConfig, NIX_SYSTEMS, NixSystem, formatProblems } from "./config";
import { parseWorkloadSections } from "./config/sections";
import { nodeFs } from "./config/stack";
import { programError } from "./errors";
import { lastUpOutputs, stringOutput } from "./nix/explanation";
import { LiveJob, liveJobOf, parseJobRecord } from "./kubernetes/jobRun";
import { loadKubeConfig, underMocks } from "./kubernetes/kube";
import { clientLookup, preflightProblems } from "./kubernetes/preflight";
import { GpuDeployment } from "./kubernetes/workload";

/** The Pulumi type token (`<package>:index:<Class>`: what Pulumi's component packages require). */
export const GPU_WORKLOAD_TYPE = "nix-gpu-deploy:index:GpuWorkload";

/** Registry credentials the cluster pulls the image with (a pull secret the workload owns). */
export interface PullCredentials {
    /** The registry host (`host[:port]`). */
    registry: string;
    /** The pull user. */
    username: string;
    /** Its password (a secret). */
    password: pulumi.Input<string>;
}

export interface GpuWorkloadArgs {
    /** The image, pinned by digest: `host/repo@sha256:…` (NixImage's `imageRef`). */
    image: pulumi.Input<string>;
    /**
     * What identifies the image's content before it is pushed (NixImage's `identity`): a training
     * Job is keyed by it with its spec, so a finished Job of the same key is not run again. Default:
     * the image reference.
     */
    imageIdentity?: pulumi.Input<string>;
    /** The image's Nix store path, shown as an annotation on the workload. Default: none. */
    storePath?: pulumi.Input<string>;
    /** The GPU request and placement (stack config `gpu`). Default: one whole GPU, GFD labels. */
    gpu?: GpuSection;
    /** The cluster and namespace (stack config `cluster`). */
    cluster: ClusterSection;
    /** The workload (stack config `deployment`). */
    deployment: DeploymentSection;
    /** The CUDA capabilities the image was built for: pods go only to nodes that run them. Default `[]` (any). */
    cudaCapabilities?: string[];
    /** The image's Nix system (`x86_64-linux`, `aarch64-linux`): pods go to nodes of its architecture. Default `x86_64-linux`. */
    system?: string;
    /** Kubeconfig contents (a secret). Default: the machine's kubeconfig (`KUBECONFIG`, ~/.kube/config). */
    kubeconfig?: pulumi.Input<string>;
    /** Credentials for a pull secret. Default: none (a public registry, or `cluster.imagePullSecret`). */
    pullCredentials?: PullCredentials;
}

/** What a GpuWorkload was configured with, checked (components/config/). */
export interface CheckedWorkload { gpu: GpuConfig; cluster: ClusterConfig; deployment: DeploymentConfig; system: NixSystem; cudaCapabilities: string[] }

/**
 * Pure: the args checked the way the stack config is, every problem named by its property; throws
 * one message (no stack trace) listing them all.
 */
export function checkGpuWorkloadArgs(args: GpuWorkloadArgs, projectDir = process.cwd()): CheckedWorkload {
    const system = (args.system ?? "x86_64-linux") as NixSystem;
    const cudaCapabilities = args.cudaCapabilities ?? [];
    const result = parseWorkloadSections(
        { gpu: sectionValue(args.gpu) ?? {}, cluster: sectionValue(args.cluster), deployment: sectionValue(args.deployment) },
        { cudaCapabilities, hasKubeconfig: args.kubeconfig !== undefined },
        { projectRoot: path.resolve(projectDir), stack: pulumi.getStack(), ...nodeFs });
    const systemProblems = (NIX_SYSTEMS as readonly string[]).includes(system) ? [] : [{ propertyPath: "system", reason: `must be one of ${NIX_SYSTEMS.join(", ")}, got ${JSON.stringify(system)}` }];
    if (!result.ok || systemProblems.length > 0) {
        throw programError(formatProblems([...(result.ok ? [] : result.errors), ...systemProblems]));
    }
    return { gpu: result.gpu, cluster: result.cluster, deployment: result.deployment, system, cudaCapabilities };
}

/** What the component's asynchronous part yields: its outputs. */
interface WorkloadOutputs {
    namespace: pulumi.Output<string>;
    deployment: pulumi.Output<string>;
    owner: pulumi.Output<string>;
    clusterChecked: pulumi.Output<string>;
    job: pulumi.Output<string | undefined>;
}

export class GpuWorkload extends pulumi.ComponentResource<WorkloadOutputs> {
    /** The namespace the workload runs in. */
    public readonly namespace: pulumi.Output<string>;
    /** The Deployment's or Job's name. */
    public readonly deployment: pulumi.Output<string>;
    /**
     * The stack's owner id (32 hex digits) every object it creates carries. Export the workload's
     * `namespace`, `deployment`, `owner`, `clusterChecked` and `job` as stack outputs of those names:
     * the next run reads them back (objects recorded as the stack's, the preflight skipped when
     * nothing it checks changed, a finished Job of the same key not run again).
     */
    public readonly owner: pulumi.Output<string>;
    /** What the cluster preflight last depended on (a digest; a secret). */
    public readonly clusterChecked: pulumi.Output<string>;
    /** A training Job's spec key and state, as JSON; empty for a Deployment. */
    public readonly job: pulumi.Output<string>;

    constructor(name: string, args: GpuWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
        super(GPU_WORKLOAD_TYPE, name, { args }, opts);
        const data = pulumi.output(this.getData());
        this.namespace = data.apply((d) => d.namespace);
        this.deployment = data.apply((d) => d.deployment);
        this.owner = data.apply((d) => d.owner);
        this.clusterChecked = data.apply((d) => d.clusterChecked);
        this.job = data.apply((d) => d.job ?? "");
    }

    /** Reads what the last `up` recorded and the live Job, then registers the workload (SDK-supported async component initialisation). */
    protected async initialize(props: pulumi.Inputs, _opts?: pulumi.ComponentResourceOptions, name?: string): Promise<WorkloadOutputs> {
        const args = props.args as GpuWorkloadArgs;
        const checked = checkGpuWorkloadArgs(args);
        const { cluster, deployment } = checked;
        const stack = pulumi.getStack();
        const last = await lastUpOutputs();
        const isJob = deployment.kind === "Job";
        const kubeconfig = args.kubeconfig === undefined ? undefined : pulumi.secret(args.kubeconfig);
        const kubeconfigText = kubeconfig === undefined ? undefined : await knownValue(kubeconfig);
        const imageIdentity = isJob ? await knownValue(pulumi.output(args.imageIdentity ?? args.image)) : undefined;
        // A training Job as the cluster has it now: whether it still runs, finished, or is gone.
        let liveJob: LiveJob | undefined;
        if (isJob && cluster.renderYamlTo === undefined && !underMocks()) {
            try {
                liveJob = liveJobOf(await clientLookup(loadKubeConfig(kubeconfigText, cluster.context))("Job", deployment.name, cluster.namespace));
            } catch {
                // Unreadable: the Job is registered as configured, and the preflight says what is wrong.
            }
        }
        // The program's workload is named `gpu`: its part keeps the URN it had at the top level.
        const legacy = name === "gpu";
        const app = new GpuDeployment(legacy ? "gpu" : `${name}-k8s`, {
            gpu: checked.gpu,
            deployment,
            cluster,
            image: args.image,
            kubeconfig,
            pullCredentials: args.pullCredentials === undefined ? undefined
                : { registry: args.pullCredentials.registry, username: args.pullCredentials.username, password: pulumi.secret(args.pullCredentials.password) },
            storePath: args.storePath,
            stackName: `${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`,
            previous: {
                owner: stringOutput(last, "owner"),
                recorded: { namespace: stringOutput(last, "namespace"), deployment: stringOutput(last, "deployment") },
                job: parseJobRecord(stringOutput(last, "job")),
            },
            imageIdentity,
            liveJob,
            cudaCapabilities: checked.cudaCapabilities,
            system: checked.system,
            // The live cluster is checked before anything is registered in it (components/kubernetes/preflight.ts).
            preflight: underMocks() ? undefined : async (input, text, warn) =>
                preflightProblems(clientLookup(loadKubeConfig(text, cluster.context)), input, warn),
            // NGD_PREFLIGHT=always checks the cluster on every run, whatever changed.
            previousPreflightKey: Promise.resolve(process.env.NGD_PREFLIGHT === "always" ? undefined : stringOutput(last, "clusterChecked")),
        }, {
            parent: this,
            aliases: legacy ? [{ name: "gpu", parent: pulumi.rootStackResource }, { name: `${stack}-gpu`, parent: pulumi.rootStackResource }] : [],
        });
        const outputs: WorkloadOutputs = {
            namespace: app.namespaceName,
            deployment: app.deploymentName,
            owner: app.ownerId,
            clusterChecked: app.preflightKey,
            job: app.jobRecord ?? pulumi.output(undefined),
        };
        this.registerOutputs({ ...outputs });
        return outputs;
    }
}

/**
 * An output's value, or undefined when it is unknown (a preview). Through the SDK's own promise of the
 * value: `apply` would never call back for an unknown value, and the program would wait forever.
 */
export async function knownValue<T>(o: pulumi.Output<T>): Promise<T | undefined> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Output.promise is the SDK's, not typed publicly
    const out = o as any;
    return (await out.isKnown) === true ? await out.promise() as T : undefined;
}
