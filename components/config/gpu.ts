// The `gpu` section: the GPU request and the placement on GPU nodes.
import { baseProduct, capabilityRuns, LABEL_VALUE, migSingleProduct, productCapability } from "../kubernetes/gpuModel";
import { acceleratorFor, EKS_GPU_NAME_LABEL, GKE_ACCELERATOR_LABEL, KARPENTER_GPU_NAME_LABEL } from "../kubernetes/placement";
import { DEFAULTS, PLACEMENT_PROFILES, PlacementProfile, Toleration } from "./types";
import { Checker, DNS_SUBDOMAIN, GPU_PRODUCT, GPU_RESOURCE, isUnset, LABEL_KEY, MIG_PROFILE, stringMap } from "./check";
/** `gpu.placement` and what goes with it (components/kubernetes/placement.ts). */
export function parsePlacement(c: Checker, raw: Record<string, unknown>, g: { product?: string; migGiven: boolean; requested: boolean }):
    { placement: PlacementProfile; accelerator?: string; nodeSelector: Record<string, string>; tolerations: Toleration[] } {
    const placement = c.oneOf("gpu.placement", raw.placement, PLACEMENT_PROFILES, DEFAULTS.placement);
    const accelerator = c.string("gpu.accelerator", raw.accelerator, { re: LABEL_VALUE, what: "a node label value (GKE: nvidia-h100-80gb; AWS: h100)", max: 63 });
    const nodeSelector = stringMap(c, "gpu.nodeSelector", raw.nodeSelector, LABEL_VALUE, "a label value");
    const tolerations = parseTolerations(c, raw.tolerations);
    const only = (k: string, profiles: string) => c.fail(`gpu.${k}`, `is only used with gpu.placement: ${profiles} (it is ${placement})`);
    if (placement !== "custom") {
        if (!isUnset(raw.nodeSelector)) {
            only("nodeSelector", "custom");
        }
        if (!isUnset(raw.tolerations)) {
            only("tolerations", "custom");
        }
    } else if (g.requested && Object.keys(nodeSelector).length === 0) {
        c.fail("gpu.nodeSelector", "gpu.placement: custom selects GPU nodes by gpu.nodeSelector alone: give at least one label (without one, GPU pods may land on any node)");
    }
    if (accelerator !== undefined && (placement === "gfd" || placement === "custom")) {
        only("accelerator", "gke, eks or karpenter");
    }
    if (g.migGiven && (placement === "eks" || placement === "karpenter")) {
        c.fail("gpu.migProfile", `MIG devices on AWS come from the NVIDIA GPU Operator, whose labels are GFD's: use gpu.placement: gfd (or custom), not ${placement}`);
    }
    if (g.requested && accelerator === undefined && g.product !== undefined && (placement === "gke" || placement === "eks" || placement === "karpenter")
        && acceleratorFor(placement, g.product) === undefined) {
        const label = placement === "gke" ? GKE_ACCELERATOR_LABEL : placement === "eks" ? EKS_GPU_NAME_LABEL : KARPENTER_GPU_NAME_LABEL;
        c.fail("gpu.accelerator", `no ${label} value is known for ${c.show(g.product)}: set gpu.accelerator to the value the ${placement} nodes carry`);
    }
    return { placement, ...(accelerator !== undefined ? { accelerator } : {}), nodeSelector, tolerations };
}

/** `gpu.tolerations` (custom placement): taints the pods tolerate. */
export function parseTolerations(c: Checker, v: unknown): Toleration[] {
    if (isUnset(v)) {
        return [];
    }
    if (!Array.isArray(v)) {
        c.fail("gpu.tolerations", `must be a list of { key, operator, value, effect }, got ${c.show(v)}`);
        return [];
    }
    const out: Toleration[] = [];
    c.capped("gpu.tolerations", v.slice(0, 16), "tolerations", (t, i) => {
        const p = `gpu.tolerations[${i}]`;
        const raw = c.object(p, t, ["key", "operator", "value", "effect"]);
        const key = c.string(`${p}.key`, raw.key, { re: LABEL_KEY, what: "a taint key", required: true });
        const operator = c.oneOf(`${p}.operator`, raw.operator, ["Exists", "Equal"] as const, isUnset(raw.value) ? "Exists" : "Equal");
        const value = c.string(`${p}.value`, raw.value, { re: LABEL_VALUE, what: "a taint value" });
        if (operator === "Exists" && value !== undefined) {
            c.fail(`${p}.value`, "is not used with operator Exists");
        }
        const effect = isUnset(raw.effect) ? undefined : c.oneOf(`${p}.effect`, raw.effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const, "NoSchedule");
        if (key !== undefined) {
            out.push({ key, operator, ...(value !== undefined ? { value } : {}), ...(effect !== undefined ? { effect } : {}) });
        }
    });
    return out;
}

/** The `gpu` section, checked against the image's CUDA capabilities (`nix.cudaCapabilities`, when that list itself is valid). */
export function checkGpu(c: Checker, v: unknown, nix: { cudaCapabilities: string[]; capabilitiesChecked: boolean }) {
    const { cudaCapabilities, capabilitiesChecked } = nix;
    const gpuRaw = c.object("gpu", v, ["product", "count", "migProfile", "migCount", "migStrategy", "resourceName", "minMemoryMiB", "taintKey", "runtimeClassName",
        "placement", "accelerator", "nodeSelector", "tolerations"]);
    const product = c.string("gpu.product", gpuRaw.product, { re: GPU_PRODUCT, what: "a GPU Feature Discovery product label (e.g. NVIDIA-H100-80GB-HBM3)", max: 63 });
    const migProfile = c.string("gpu.migProfile", gpuRaw.migProfile, { re: MIG_PROFILE, what: "a MIG profile like 1g.10gb or 3g.40gb" });
    const migGiven = !isUnset(gpuRaw.migProfile);
    const count = c.integer("gpu.count", gpuRaw.count, 0, 16, migGiven ? 0 : DEFAULTS.gpuCount) ?? 0;
    const migCount = c.integer("gpu.migCount", gpuRaw.migCount, 1, 56, migGiven ? 1 : 0) ?? 0;
    if (migProfile !== undefined && !isUnset(gpuRaw.count) && count > 0) {
        c.fail("gpu.migProfile", `a container requests one device type: MIG profile ${migProfile} and ${count} whole GPU(s) are both requested`);
    }
    if (!migGiven && !isUnset(gpuRaw.migCount)) {
        c.fail("gpu.migCount", "set gpu.migProfile as well");
    }
    // Required when GPUs are requested; null or "" is as good as absent, so it cannot bypass this.
    if ((count > 0 || migGiven) && isUnset(gpuRaw.product)) {
        c.fail("gpu.product", "is required when GPUs are requested (the Deployment selects nodes by it)");
    }
    const migStrategy = c.oneOf("gpu.migStrategy", gpuRaw.migStrategy, ["mixed", "single"] as const, DEFAULTS.migStrategy);
    if (!migGiven && !isUnset(gpuRaw.migStrategy)) {
        c.fail("gpu.migStrategy", "set gpu.migProfile as well");
    }
    const resourceName = c.string("gpu.resourceName", gpuRaw.resourceName, { re: GPU_RESOURCE, what: "an NVIDIA device plugin resource name like nvidia.com/gpu or nvidia.com/gpu.shared" }) ?? DEFAULTS.resourceName;
    const migResource = /^nvidia\.com\/mig-(.+)$/.exec(resourceName);
    if (migResource !== null && !migGiven) {
        c.fail("gpu.resourceName", `${c.show(resourceName)} is a MIG slice resource: set gpu.migProfile: ${migResource[1]} (the mixed strategy names the resource after it) and leave gpu.resourceName unset; as a resource name alone, slices would be requested as if they were whole GPUs`);
    }
    if (migGiven && migStrategy === "mixed" && !isUnset(gpuRaw.resourceName)) {
        c.fail("gpu.resourceName", `the mixed MIG strategy names the resource after the profile (nvidia.com/mig-${migProfile ?? "<profile>"}); unset it`);
    }
    if (product !== undefined) {
        const mig = /-MIG-([1-7]g\.[0-9]+gb(?:\+me)?)$/.exec(product.replace(/-SHARED$/, ""));
        if (mig !== null && (!migGiven || migStrategy !== "single")) {
            c.fail("gpu.product", `${c.show(product)} is the product label of a single-strategy MIG node: set gpu.migStrategy: single and gpu.migProfile: ${mig[1]} (or give the GPU product ${baseProduct(product)})`);
        } else if (mig !== null && migProfile !== undefined && mig[1] !== migProfile) {
            c.fail("gpu.product", `${c.show(product)} is a ${mig[1]} MIG product, but gpu.migProfile is ${migProfile}`);
        }
        // GFD appends -SHARED only when the shared resource keeps the name nvidia.com/gpu (not renamed).
        if (product.endsWith("-SHARED") && resourceName !== "nvidia.com/gpu" && !migGiven) {
            c.fail("gpu.product", `${c.show(product)}: GPU Feature Discovery adds -SHARED only when the shared GPUs keep the resource name nvidia.com/gpu; with ${resourceName} the product label is ${c.show(product.replace(/-SHARED$/, ""))}`);
        }
        // The built CUDA code must run on the product: checked here, at preview, and enforced by
        // node affinity on the GFD compute capability labels.
        const cap = productCapability(product);
        if (capabilitiesChecked && (count > 0 || migGiven) && cap !== undefined && cudaCapabilities.length > 0 && !cudaCapabilities.some((b) => capabilityRuns(b, cap))) {
            c.fail("gpu.product", `${c.show(baseProduct(product))} has CUDA compute capability ${cap}, but nix.cudaCapabilities [${cudaCapabilities.join(", ")}] builds no code that runs on it: add "${cap}" to nix.cudaCapabilities (or [] for nixpkgs' list), or choose another product`);
        }
    }
    const minMemoryMiB = c.integer("gpu.minMemoryMiB", gpuRaw.minMemoryMiB, 1, 1024 * 1024);
    const taintKey = c.string("gpu.taintKey", gpuRaw.taintKey, { re: LABEL_KEY, what: "a taint key" }) ?? DEFAULTS.taintKey;
    // Absent, null or "": none (the cluster's default runtime); GKE has no `nvidia` RuntimeClass.
    const runtimeClassName = c.string("gpu.runtimeClassName", gpuRaw.runtimeClassName, { re: DNS_SUBDOMAIN, what: "a RuntimeClass name" }) ?? DEFAULTS.runtimeClassName;
    const placement = parsePlacement(c, gpuRaw, { product, migGiven, requested: count > 0 || migGiven });
    return {
        product: product !== undefined && migGiven && migStrategy === "single" && migProfile !== undefined && placement.placement === "gfd" ? migSingleProduct(product, migProfile) : product,
        count, migProfile, migCount, migStrategy, resourceName, minMemoryMiB, taintKey, runtimeClassName, ...placement,
    };
}
