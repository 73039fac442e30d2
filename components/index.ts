// The nix-gpu-deploy package: two components, and their argument types.
//   NixImage    — a Nix dependency set (entry + overlays), built into a layered CUDA image and pushed by
//                 digest (or another stack's image promoted by digest).
//   GpuWorkload — that image as a Deployment or Job on the NVIDIA GPU nodes of a Kubernetes cluster.
// From TypeScript: `import { NixImage, GpuWorkload } from "nix-gpu-deploy"`. From Python (or any
// Pulumi language): `pulumi package add <this package's directory>` generates an SDK from this module
// (PulumiPlugin.yaml); only the classes and the types their arguments use are part of it.
export { NixImage, NixImageArgs } from "./nixImage";
export { GpuWorkload, GpuWorkloadArgs, PullCredentials } from "./gpuWorkload";
export {
    CheckType, CompletionMode, LayerStrategy, MigStrategy, OnCacheDown, Placement, Publisher, RolloutStrategy, TaintEffect, TolerationOperator, WorkloadKind,
    CacheSection, ClusterSection, DeploymentSection, DisruptionBudgetSection, GpuSection, ImageSection, LivenessSection,
    NixSection, OverlaySection, ProbeSection, RegistrySection, RolloutSection, TolerationSection,
} from "./args";
