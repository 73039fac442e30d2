// Wiring only: config → overlays → dependency set (evaluation) → image build → publish → deploy.
import * as pulumi from "@pulumi/pulumi";
import { overlayFile } from "./components/config";
import { GpuDeployment } from "./components/gpuDeployment";
import { loadKubeConfig, underMocks } from "./components/kube";
import { clientLookup, preflightProblems } from "./components/preflight";
import { LayeredCudaImage } from "./components/image";
import { NixDependencySet, NixOverlay, nixOnPath } from "./components/nix";
import { publishImage } from "./components/publish";
import { loadStackConfig } from "./components/stackConfig";

const projectRoot = __dirname;
const { config, registryPassword, registryPullPassword, kubeconfig } = loadStackConfig(projectRoot);
const stack = pulumi.getStack();

// Stable names: Pulumi URNs already carry the stack, so `pulumi stack rename` changes nothing; stacks
// created before keep their resources through an alias from the earlier, stack-prefixed name (the
// SDK derives the children's aliases from their parent's).
const formerly = (name: string): pulumi.ComponentResourceOptions => ({ aliases: [{ name: `${stack}-${name}` }] });

const overlays = config.nix.overlays.map((o) => new NixOverlay(`overlay-${o.name}`, {
    overlayName: o.name,
    file: overlayFile(config.nix.entry, o.name),
    args: o.args,
    projectRoot,
}, formerly(`overlay-${o.name}`)));

const dependencySet = new NixDependencySet("deps", {
    entry: config.nix.entry,
    projectRoot,
    overlays,
    pythonPackages: config.nix.pythonPackages,
    cudaCapabilities: config.nix.cudaCapabilities,
    nixSettings: config.nix.settings,
    imageArgs: {
        imageName: config.image.name,
        imageTag: config.image.tag ?? "",
        maxLayers: String(config.image.maxLayers),
        layerStrategy: config.image.layerStrategy,
        maxLayerBytes: String(config.image.maxLayerBytes),
    },
    nixAvailable: process.env.NGD_NIX_AVAILABLE !== undefined ? process.env.NGD_NIX_AVAILABLE === "true" : nixOnPath(),
}, formerly("deps"));

const image = new LayeredCudaImage("image", {
    dependencySet,
    layering: { maxLayers: config.image.maxLayers, strategy: config.image.layerStrategy },
    tag: config.image.tag,
}, formerly("image"));

const published = publishImage(config.registry.publisher, "publish", {
    image,
    registry: config.registry.host,
    repository: config.image.name,
    username: config.registry.username,
    password: registryPassword,
    insecure: config.registry.insecure,
    dockerHost: config.registry.dockerHost,
}, formerly("publish"));

// A stable name (Pulumi URNs already carry the stack, so `pulumi stack rename` changes nothing here);
// stacks created before are aliased from their earlier, stack-prefixed name.
const app = new GpuDeployment("gpu", {
    previousName: `${stack}-gpu`,
    gpu: config.gpu,
    deployment: config.deployment,
    cluster: config.cluster,
    image: published.ref,
    kubeconfig,
    // The cluster pulls with its own read-only credentials when the stack has them, else with the push ones.
    pullCredentials: config.registry.pullUsername !== undefined && registryPullPassword !== undefined
        ? { registry: config.registry.host, username: config.registry.pullUsername, password: registryPullPassword }
        : config.registry.username !== undefined && registryPassword !== undefined
            ? { registry: config.registry.host, username: config.registry.username, password: registryPassword }
            : undefined,
    storePath: image.storePath,
    projectRoot,
    cudaCapabilities: config.nix.cudaCapabilities,
    // The live cluster is checked before anything is registered in it (components/preflight.ts).
    preflight: underMocks() ? undefined : async (input, kubeconfigText) =>
        preflightProblems(clientLookup(loadKubeConfig(kubeconfigText, config.cluster.context)), input),
}, {
    // No cluster resource (provider, namespace, pull secret) is registered before the Nix evaluation
    // has succeeded: a failed evaluation fails the preview with nothing registered in the cluster.
    dependsOn: dependencySet.drvPath.apply(() => [dependencySet]),
});

export const drvPath = dependencySet.drvPath;
export const nixFingerprint = dependencySet.fingerprint;
export const storePath = image.storePath;
export const imageTag = image.tag;
export const imageRef = published.ref;
export const namespace = app.namespaceName;
export const deployment = app.deploymentName;
