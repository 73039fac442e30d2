// The nix-gpu-deploy policy pack: guardrails a platform team enforces on every stack that runs GPU
// workloads, nix-gpu-deploy's or any other program's: `pulumi preview --policy-pack <this directory>`.
// Each policy is mandatory (a violation fails the preview and the up); a team lowers one with a policy
// config file (`--policy-pack-config`, e.g. {"gpu-namespace-owned": "advisory"}). The checks are in
// policies.ts.
import { PolicyPack, ReportViolation, ResourceValidationArgs } from "@pulumi/policy";
import { DEFAULT_GPU_TAINT_KEYS, gpuPlacement, hardenedContainers, imageByDigest, namespaceOwnership, visibleDevicesWithoutGpu } from "./policies";

const report = (problems: string[], reportViolation: ReportViolation) => problems.forEach((p) => reportViolation(p));

new PolicyPack("nix-gpu-deploy", {
    enforcementLevel: "mandatory",
    policies: [
        {
            name: "gpu-image-by-digest",
            description: "GPU workloads reference their images by digest (…@sha256:…), never by tag.",
            validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => report(imageByDigest(args), reportViolation),
        },
        {
            name: "gpu-toleration-and-placement",
            description: "A GPU request tolerates the GPU nodes' taint and selects GPU nodes (node selector or required node affinity).",
            configSchema: {
                properties: { taintKeys: { type: "array", items: { type: "string" }, default: DEFAULT_GPU_TAINT_KEYS } },
            },
            validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) =>
                report(gpuPlacement(args, args.getConfig<{ taintKeys?: string[] }>().taintKeys ?? DEFAULT_GPU_TAINT_KEYS), reportViolation),
        },
        {
            name: "containers-hardened",
            description: "Containers run as non-root, with a read-only root filesystem and no privilege escalation.",
            validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => report(hardenedContainers(args), reportViolation),
        },
        {
            name: "no-visible-devices-without-gpu",
            description: "No NVIDIA_VISIBLE_DEVICES=all in a pod that requests no GPU.",
            validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => report(visibleDevicesWithoutGpu(args), reportViolation),
        },
        {
            name: "gpu-namespace-owned",
            description: "GPU workloads run in a namespace the stack creates, and it carries the stack's owner annotation.",
            validateStack: (args, reportViolation) => namespaceOwnership(args.resources).forEach((p) => reportViolation(p.message, p.urn)),
        },
    ],
});
