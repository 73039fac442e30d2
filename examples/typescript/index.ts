// A program of one's own, on the nix-gpu-deploy components alone. Its stack config has the same
// sections as nix-gpu-deploy's own stacks (nix, image, registry, gpu, cluster, deployment), plus
// `nixProject`, the directory of the Nix project to build; the secrets registryPassword and kubeconfig.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSection, DeploymentSection, GpuSection, GpuWorkload, ImageSection, NixImage, NixSection, RegistrySection } from "nix-gpu-deploy";

const config = new pulumi.Config();
const nix = config.getObject<NixSection>("nix") ?? {};
const cluster = config.requireObject<ClusterSection>("cluster");
const workload = config.requireObject<DeploymentSection>("deployment");
const registry = config.requireObject<RegistrySection>("registry");
const registryPassword = config.getSecret("registryPassword");

const model = new NixImage("model", {
    projectDir: config.require("nixProject"),
    nix,
    image: config.requireObject<ImageSection>("image"),
    registry,
    registryPassword,
    rollout: { kind: workload.kind ?? "Deployment", namespace: cluster.namespace, name: workload.name, replicas: workload.replicas, strategy: workload.strategy },
});

const serve = new GpuWorkload("serve", {
    image: model.imageRef,
    imageIdentity: model.identity,
    storePath: model.storePath,
    gpu: config.getObject<GpuSection>("gpu"),
    cluster,
    deployment: workload,
    cudaCapabilities: nix.cudaCapabilities,
    system: nix.system,
    kubeconfig: config.getSecret("kubeconfig"),
    pullCredentials: registry.username !== undefined && registryPassword !== undefined
        ? { registry: registry.host, username: registry.username, password: registryPassword } : undefined,
});

// What the components read back on the next run (the preview explanation, the owner id, the preflight).
export const imageRef = model.imageRef;
export const storePath = model.storePath;
export const nixExplain = model.nixExplain;
export const namespace = serve.namespace;
export const deployment = serve.deployment;
export const owner = serve.owner;
export const clusterChecked = serve.clusterChecked;
