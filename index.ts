// Wiring only: config → overlays → dependency set (evaluation) → image build → publish → deploy.
import * as pulumi from "@pulumi/pulumi";
import { overlayFile, runsImage } from "./components/config";
import { GpuDeployment } from "./components/kubernetes/workload";
import { loadKubeConfig, underMocks } from "./components/kubernetes/kube";
import { clientLookup, preflightProblems } from "./components/kubernetes/preflight";
import { LiveJob, liveJobOf, parseJobRecord } from "./components/kubernetes/jobRun";
import { gcRootBase } from "./components/exec";
import { LayeredCudaImage, reportRunSummary } from "./components/nix/image";
import { ExplainRecord, lastUpOutputs, parseRecord, reportExplanation, sourceBuildNotes, stringOutput } from "./components/nix/explanation";
import { NixDependencySet, NixOverlay, defaultEvalCacheDir, nixOnPath } from "./components/nix/evaluation";
import { PromotedImage } from "./components/registry/promote";
import { PublishedImage, credentialHelperProblem, publishImage, pullCredentials } from "./components/registry/publish";
import { programError } from "./components/errors";
import { kubeconfigText, loadStackConfig } from "./components/config/stack";

// The config is checked when the program is loaded, before anything else: a bad config fails at once,
// with every problem named (a rejection of the async program below would reach the engine later).
const projectRoot = __dirname;
const programStart = Date.now();
const { config, registryPassword, registryPullPassword, kubeconfig, nixSigningKey, nixBuilderSshKey } = loadStackConfig(projectRoot);
const stack = pulumi.getStack();
// The push's credential helper must be there before anything is built.
const helperProblem = config.registry.credentialHelper !== undefined && config.mode !== "promote" ? credentialHelperProblem(config.registry.credentialHelper) : undefined;
if (helperProblem !== undefined) {
    throw programError(helperProblem);
}

// An async program (the Node.js SDK awaits it and exports what it returns): what the last `up`
// exported, and a training Job's live state, decide what is registered (components/kubernetes/jobRun.ts).
export = async () => {
    // What the last `up` exported: a preview says what changed since (components/nix/explanation.ts), and the
    // cluster preflight runs only when what it checks changed (components/kubernetes/preflight.ts).
    const last = await lastUpOutputs();

    // Stable names: Pulumi URNs already carry the stack, so `pulumi stack rename` changes nothing; stacks
    // created before keep their resources through an alias from the earlier, stack-prefixed name (the
    // SDK derives the children's aliases from their parent's).
    const formerly = (name: string): pulumi.ComponentResourceOptions => ({ aliases: [{ name: `${stack}-${name}` }] });

    // Three kinds of stack (config.mode): `deploy` builds, pushes and runs; `publish` builds and pushes
    // only, exporting the digest; `promote` builds nothing and runs the digest another stack exported.
    function buildAndPublish(): { image: LayeredCudaImage; dependencySet: NixDependencySet; published: PublishedImage; record: pulumi.Output<ExplainRecord> } {
        const overlays = config.nix.overlays.map((o) => new NixOverlay(`overlay-${o.name}`, {
            overlayName: o.name,
            file: overlayFile(config.nix.entry, o.name),
            args: o.args,
            projectRoot,
        }, formerly(`overlay-${o.name}`)));

        const previous = Promise.resolve(parseRecord(last.nixExplain));
        const dependencySet = new NixDependencySet("deps", {
            entry: config.nix.entry,
            projectRoot,
            overlays,
            pythonPackages: config.nix.pythonPackages,
            cudaCapabilities: config.nix.cudaCapabilities,
            sources: config.nix.sources,
            nixSettings: config.nix.settings,
            imageArgs: {
                imageName: config.image.name,
                imageTag: config.image.tag ?? "",
                maxLayers: String(config.image.maxLayers),
                layerStrategy: config.image.layerStrategy,
                maxLayerBytes: String(config.image.maxLayerBytes),
                system: config.nix.system,
                python: config.nix.python,
            },
            nixAvailable: process.env.NGD_NIX_AVAILABLE !== undefined ? process.env.NGD_NIX_AVAILABLE === "true" : nixOnPath(),
            evalCacheDir: process.env.NGD_EVAL_CACHE === "off" ? undefined : defaultEvalCacheDir(),
            previousDrvPath: previous.then((p) => p?.drvPath),
            preview: pulumi.runtime.isDryRun(),
        }, formerly("deps"));
        const record = dependencySet.drvPath.apply((drvPath): ExplainRecord => ({ ...dependencySet.record, drvPath }));
        const explained = !pulumi.runtime.isDryRun() ? pulumi.output(undefined) : reportExplanation({
                previous,
                current: record,
                dryRun: dependencySet.dryRun,
                rollout: runsImage(config) ? { kind: config.deployment.kind, namespace: config.cluster.namespace, name: config.deployment.name, replicas: config.deployment.replicas, strategy: config.deployment.strategy } : undefined,
                caches: config.nix.settings.substituters,
                previousImage: Promise.resolve(stringOutput(last, "storePath")),
                layering: { strategy: config.image.layerStrategy, maxLayers: config.image.maxLayers },
                sourceBuilds: sourceBuildNotes(config.nix),
            });

        const image = new LayeredCudaImage("image", {
            dependencySet,
            layering: { maxLayers: config.image.maxLayers, strategy: config.image.layerStrategy },
            tag: config.image.tag,
            builderSshKey: nixBuilderSshKey,
            cache: config.nix.settings.uploadTo !== undefined && nixSigningKey !== undefined
                ? { uploadTo: config.nix.settings.uploadTo, signingKey: nixSigningKey } : undefined,
            gcRootBase: gcRootBase(),
        }, formerly("image"));

        const published = publishImage(config.registry.publisher, "publish", {
            image,
            registry: config.registry.host,
            repository: config.image.name,
            username: config.registry.username,
            password: registryPassword,
            insecure: config.registry.insecure,
            dockerHost: config.registry.dockerHost,
            credentialHelper: config.registry.credentialHelper,
        }, formerly("publish"));
        // `up` ends with one line: built, fetched, pushed, time (components/nix/progress.ts).
        reportRunSummary(image, [image.build.stderr, published.log], programStart);
        return { image, dependencySet, published, record: pulumi.all([record, explained]).apply(([r]) => r) };
    }

    const built = config.mode === "promote" ? undefined : buildAndPublish();
    const promoted = config.image.fromStack === undefined ? undefined : new PromotedImage("promoted", {
        fromStack: config.image.fromStack,
        registryHost: config.registry.host,
        cudaCapabilities: config.nix.cudaCapabilities,
    });
    const imageRefOut = built?.published.ref ?? promoted?.ref;
    const storePathOut = built?.image.storePath ?? promoted?.storePath;
    // What identifies the image before it is pushed: the derivation (evaluated by now, on preview too), or
    // the promoted digest. Undefined when not known (a preview without Nix).
    const imageIdentity = !runsImage(config) || config.deployment.kind !== "Job" ? undefined
        : await knownValue(built !== undefined ? built.dependencySet.drvPath : promoted!.ref);
    // A training Job as the cluster has it now: whether it still runs, finished, or is gone.
    let liveJob: LiveJob | undefined;
    if (runsImage(config) && config.deployment.kind === "Job" && config.cluster.renderYamlTo === undefined && !underMocks()) {
        try {
            liveJob = liveJobOf(await clientLookup(loadKubeConfig(kubeconfigText(), config.cluster.context))("Job", config.deployment.name, config.cluster.namespace));
        } catch {
            // Unreadable: the Job is registered as configured, and the preflight says what is wrong.
        }
    }

    // A stable name (Pulumi URNs already carry the stack, so `pulumi stack rename` changes nothing here);
    // stacks created before are aliased from their earlier, stack-prefixed name.
    const app = !runsImage(config) || imageRefOut === undefined ? undefined : new GpuDeployment("gpu", {
        previousName: `${stack}-gpu`,
        gpu: config.gpu,
        deployment: config.deployment,
        cluster: config.cluster,
        image: imageRefOut,
        kubeconfig,
        // The cluster pulls with its own read-only credentials when the stack has them, else with the push ones.
        pullCredentials: pullCredentials(config.registry, { registryPassword, registryPullPassword }),
        storePath: storePathOut,
        stackName: `${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`,
        previous: {
            owner: stringOutput(last, "owner"),
            recorded: { namespace: stringOutput(last, "namespace"), deployment: stringOutput(last, "deployment") },
            job: parseJobRecord(stringOutput(last, "job")),
        },
        imageIdentity,
        liveJob,
        cudaCapabilities: config.nix.cudaCapabilities,
        system: config.nix.system,
        // The live cluster is checked before anything is registered in it (components/kubernetes/preflight.ts).
        preflight: underMocks() ? undefined : async (input, kubeconfigText, warn) =>
            preflightProblems(clientLookup(loadKubeConfig(kubeconfigText, config.cluster.context)), input, warn),
        // NGD_PREFLIGHT=always checks the cluster on every run, whatever changed.
        previousPreflightKey: process.env.NGD_PREFLIGHT === "always" ? Promise.resolve(undefined)
            : Promise.resolve(stringOutput(last, "clusterChecked")),
    }, {
        // No cluster resource (provider, namespace, pull secret) is registered before the Nix evaluation
        // (or the promoted stack's outputs) has succeeded: a failure leaves nothing registered in the cluster.
        dependsOn: built !== undefined ? built.dependencySet.drvPath.apply(() => [built.dependencySet]) : promoted !== undefined ? [promoted] : [],
    });

    const drvPath = built?.dependencySet.drvPath;
    const nixFingerprint = built?.dependencySet.fingerprint;
    const storePath = storePathOut;
    const imageTag = built?.image.tag;
    const imageRef = imageRefOut;
    const digest = built?.published.digest;
    /** What the next preview compares with: overlays, the Nix files and pins read, the derivation. */
    // A secret only to keep its long JSON out of every preview's output diff; it holds no secret.
    const nixExplain = built === undefined ? undefined : pulumi.secret(built.record.apply((r) => JSON.stringify(r)));
    /** What the image was built for: a promoting stack checks it against its own nix.cudaCapabilities. */
    const cudaCapabilities = config.nix.cudaCapabilities;
    /** What the cluster preflight last depended on (a digest; components/kubernetes/preflight.ts `preflightKey`). */
    const clusterChecked = app?.preflightKey;
    const namespace = app?.namespaceName;
    const deployment = app?.deploymentName;
    /** The stack's owner id: every object it creates in the cluster carries it (components/kubernetes/preflight.ts). */
    const owner = app?.ownerId;
    /** A training Job's spec key and state (components/kubernetes/jobRun.ts): what the next run compares with. */
    const job = app?.jobRecord;
    // `job` only where there is one: the engine warns of an undefined output.
    return { drvPath, nixFingerprint, storePath, imageTag, imageRef, digest, nixExplain, cudaCapabilities, clusterChecked, namespace, deployment, owner, ...(job !== undefined ? { job } : {}) };
};

/**
 * An output's value, or undefined when it is unknown (a preview). Through the SDK's own promise of the
 * value: `apply` would never call back for an unknown value, and the program would wait forever.
 */
async function knownValue<T>(o: pulumi.Output<T>): Promise<T | undefined> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Output.promise is the SDK's, not typed publicly
    const out = o as any;
    return (await out.isKnown) === true ? await out.promise() as T : undefined;
}
