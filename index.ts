// The program: this project's stack config mapped onto the nix-gpu-deploy components (components/,
// the package nix-gpu-deploy), and their outputs exported. Nothing else happens here.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSection, DeploymentSection, GpuSection, GpuWorkload, ImageSection, NixImage, NixSection, RegistrySection } from "./components/index";
import { StackConfig, runsImage } from "./components/config";
import { loadStackConfig, readRawConfig } from "./components/config/stack";
import { pullCredentials } from "./components/registry/publish";

// The whole stack config is checked when the program is loaded, before anything else: a bad config
// fails at once with every problem named, typos of keys and plaintext secrets included.
const { config, registryPassword, registryPullPassword, kubeconfig, nixSigningKey, nixBuilderSshKey } = loadStackConfig(__dirname);
// Each section as the stack sets it: the components apply the same defaults and checks.
const raw = readRawConfig().values;
function section<T>(key: keyof StackConfig): T | undefined {
    const v = raw[key];
    return (typeof v === "string" ? JSON.parse(v) : v) as T | undefined;
}

// Three kinds of stack (config.mode): `deploy` builds, pushes and runs; `publish` builds and pushes
// only, exporting the digest; `promote` builds nothing and runs the digest another stack exported.
// An async program (the Node.js SDK awaits it and exports what it returns).
export = async () => {
    // image.publishOnly is the stack's kind (no workload below), not an image setting.
    const imageSection: ImageSection & { publishOnly?: boolean } = { ...section<ImageSection>("image") };
    delete imageSection.publishOnly;
    const image = new NixImage("image", {
        projectDir: __dirname,
        nix: section<NixSection>("nix"),
        image: imageSection,
        registry: section<RegistrySection>("registry")!,
        registryPassword,
        nixSigningKey,
        nixBuilderSshKey,
        rollout: runsImage(config) ? { kind: config.deployment.kind, namespace: config.cluster.namespace, name: config.deployment.name, replicas: config.deployment.replicas, strategy: config.deployment.strategy } : undefined,
    });

    const app = !runsImage(config) ? undefined : new GpuWorkload("gpu", {
        image: image.imageRef,
        imageIdentity: image.identity,
        storePath: image.storePath,
        gpu: section<GpuSection>("gpu"),
        cluster: section<ClusterSection>("cluster")!,
        deployment: section<DeploymentSection>("deployment")!,
        cudaCapabilities: config.nix.cudaCapabilities,
        system: config.nix.system,
        kubeconfig,
        // The cluster pulls with its own read-only credentials when the stack has them, else with the push ones.
        pullCredentials: pullCredentials(config.registry, { registryPassword, registryPullPassword }),
    }, {
        // Nothing is registered in the cluster before the Nix evaluation (or the promoted stack's
        // outputs) has succeeded: a failure leaves nothing there. (The SDK awaits a dependsOn output
        // before registering; the image's build and push need not be waited for here.)
        dependsOn: image.evaluated.apply((): pulumi.Resource[] => []),
    });

    const built = config.mode !== "promote";
    return {
        drvPath: built ? image.drvPath : undefined,
        nixFingerprint: built ? image.nixFingerprint : undefined,
        storePath: image.storePath,
        imageTag: built ? image.imageTag : undefined,
        imageRef: image.imageRef,
        digest: built ? image.digest : undefined,
        /** What the next preview compares with (components/nix/explanation.ts). */
        nixExplain: built ? image.nixExplain : undefined,
        /** What the image was built for: a promoting stack checks it against its own nix.cudaCapabilities. */
        cudaCapabilities: config.nix.cudaCapabilities,
        /** What the cluster preflight last depended on (components/kubernetes/preflight.ts `preflightKey`). */
        clusterChecked: app?.clusterChecked,
        namespace: app?.namespace,
        deployment: app?.deployment,
        /** The stack's owner id: every object it creates in the cluster carries it. */
        owner: app?.owner,
        // A training Job's spec key and state (components/kubernetes/jobRun.ts); only where there is one.
        ...(app !== undefined && config.deployment?.kind === "Job" ? { job: app.job } : {}),
    };
};
