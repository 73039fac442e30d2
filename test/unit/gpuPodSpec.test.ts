import * as assert from "assert";
import { DeploymentConfig, GpuConfig } from "../../components/config";
import { deploymentSpec, gpuPodTemplate, gpuResource } from "../../components/kubernetes/podSpec";

const gpu = (g: Partial<GpuConfig>): GpuConfig => ({ count: 1, migCount: 0, migStrategy: "mixed", resourceName: "nvidia.com/gpu", taintKey: "nvidia.com/gpu", runtimeClassName: "nvidia", product: "NVIDIA-H100-80GB-HBM3", placement: "gfd", nodeSelector: {}, tolerations: [], ...g });
const dep: DeploymentConfig = {
    name: "app", replicas: 1, cpu: "2", memory: "8Gi", shmSize: "2Gi", strategy: "RollingUpdate", rolloutTimeoutSeconds: 600,
    kind: "Deployment", minReadySeconds: 0, job: { backoffLimit: 0, completions: 1, parallelism: 1, completionMode: "NonIndexed", wait: true, replaceRunning: false }, podLabels: {}, podAnnotations: {},
    env: {}, cache: { kind: "emptyDir", sizeLimit: "20Gi" },
};
const image = `r/x@sha256:${"a".repeat(64)}`;

describe("gpuPodTemplate", () => {
    it("requests one MIG device type instead of whole GPUs", () => {
        const t = gpuPodTemplate({ gpu: gpu({ count: 0, migProfile: "1g.10gb", migCount: 2 }), deployment: dep, image });
        const limits = t.spec.containers[0].resources.limits;
        assert.strictEqual(limits["nvidia.com/mig-1g.10gb"], "2");
        assert.strictEqual(limits["nvidia.com/gpu"], undefined);
        assert.deepStrictEqual(gpuResource(gpu({ count: 0, migProfile: "3g.40gb", migCount: 1 })), { name: "nvidia.com/mig-3g.40gb", count: 1 });
    });
    it("a CPU-only pod gets no GPU, no GPU toleration and NVIDIA_VISIBLE_DEVICES=void", () => {
        const t = gpuPodTemplate({ gpu: gpu({ count: 0 }), deployment: dep, image });
        assert.strictEqual(t.spec.tolerations, undefined);
        assert.strictEqual(t.spec.nodeSelector, undefined);
        assert.strictEqual(t.spec.runtimeClassName, undefined);
        assert.deepStrictEqual(t.spec.containers[0].env.slice(-1), [{ name: "NVIDIA_VISIBLE_DEVICES", value: "void" }]);
    });
    it("runs hardened: non-root, read-only root, no privilege escalation, no capabilities", () => {
        const t = gpuPodTemplate({ gpu: gpu({}), deployment: dep, image });
        const sc = t.spec.containers[0].securityContext;
        assert.deepStrictEqual(sc, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
        assert.strictEqual(t.spec.securityContext.runAsNonRoot, true);
        assert.strictEqual(t.spec.automountServiceAccountToken, false);
    });
    it("sizes /dev/shm from config, memory-backed", () => {
        const t = gpuPodTemplate({ gpu: gpu({}), deployment: dep, image });
        assert.deepStrictEqual(t.spec.volumes[0], { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "2Gi" } });
    });
});

describe("deploymentSpec", () => {
    it("never needs a spare GPU to roll out", () => {
        assert.deepStrictEqual(deploymentSpec({ gpu: gpu({}), deployment: dep, image }).strategy, { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
        assert.deepStrictEqual(deploymentSpec({ gpu: gpu({}), deployment: { ...dep, strategy: "Recreate" }, image }).strategy, { type: "Recreate" });
    });
    it("keeps replicas 0", () => {
        assert.strictEqual(deploymentSpec({ gpu: gpu({}), deployment: { ...dep, replicas: 0 }, image }).replicas, 0);
    });
});
