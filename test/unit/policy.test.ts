// Issue #23: the policy pack's checks (policy/policies.ts), each shown failing on a violating object
// and passing on what nix-gpu-deploy's own program registers for every shipped stack.
import * as assert from "assert";
import { PolicyObject, gpuPlacement, hardenedContainers, imageByDigest, namespaceOwnership, requestsGpu, visibleDevicesWithoutGpu } from "../../policy/policies";
import { ProgramRun, runProgram, stackConfig } from "./harness";

const DIGEST = `registry.example/ml/app@sha256:${"b".repeat(64)}`;

/** A Deployment of one GPU pod, hardened and placed the way a GPU workload should be; `edit` breaks it. */
function gpuDeployment(edit: (spec: any) => void = () => undefined, ns = "ml"): PolicyObject { // eslint-disable-line @typescript-eslint/no-explicit-any
    const podSpec = {
        securityContext: { runAsNonRoot: true },
        nodeSelector: { "kubernetes.io/arch": "amd64", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        containers: [{
            name: "app", image: DIGEST, env: [],
            resources: { limits: { "nvidia.com/gpu": "1", memory: "1Gi" } },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
        }],
    };
    edit(podSpec);
    return { type: "kubernetes:apps/v1:Deployment", urn: "urn:dep", props: { metadata: { name: "app", namespace: ns }, spec: { template: { spec: podSpec } } } };
}
const ownedNamespace = (name = "ml"): PolicyObject => ({ type: "kubernetes:core/v1:Namespace", urn: "urn:ns", props: { metadata: { name, annotations: { "nix-gpu-deploy/owner": "0".repeat(32) } } } });

describe("issue #23: the policy pack's checks", () => {
    it("a well-formed GPU Deployment passes every check", () => {
        const d = gpuDeployment();
        assert.ok(requestsGpu(d.props.spec.template.spec));
        assert.deepStrictEqual([...imageByDigest(d), ...gpuPlacement(d), ...hardenedContainers(d), ...visibleDevicesWithoutGpu(d)], []);
        assert.deepStrictEqual(namespaceOwnership([ownedNamespace(), d]), []);
    });
    it("gpu-image-by-digest: a tag is refused, naming the container and image; CPU workloads and unknown images are not judged", () => {
        const d = gpuDeployment((s) => { s.containers[0].image = "registry.example/ml/app:latest"; });
        assert.deepStrictEqual(imageByDigest(d), ["Deployment ml/app: container app runs image registry.example/ml/app:latest by tag; a GPU workload runs an image by digest (…@sha256:…), so every node runs the same bytes"]);
        assert.deepStrictEqual(imageByDigest(gpuDeployment((s) => { s.containers[0].image = "x:latest"; s.containers[0].resources.limits = {}; })), []);
        assert.deepStrictEqual(imageByDigest(gpuDeployment((s) => { s.containers[0].image = undefined; })), []);
    });
    it("gpu-toleration-and-placement: a GPU request without the taint's toleration, or without a GPU node selector, is refused", () => {
        const noTol = gpuPlacement(gpuDeployment((s) => { s.tolerations = [{ key: "other", operator: "Exists" }]; }));
        assert.strictEqual(noTol.length, 1);
        assert.match(noTol[0], /tolerates none of the GPU taints \(nvidia\.com\/gpu\)/);
        const archOnly = gpuPlacement(gpuDeployment((s) => { s.nodeSelector = { "kubernetes.io/arch": "amd64" }; }));
        assert.strictEqual(archOnly.length, 1);
        assert.match(archOnly[0], /selects no GPU nodes/);
        // required node affinity counts; a team's own taint key is configurable
        assert.deepStrictEqual(gpuPlacement(gpuDeployment((s) => {
            s.nodeSelector = undefined;
            s.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "cloud.google.com/gke-accelerator", operator: "In", values: ["nvidia-h100-80gb"] }] }] } } };
            s.tolerations = [{ key: "gpu-team", operator: "Exists" }];
        }), ["gpu-team"]), []);
    });
    it("containers-hardened: root, a writable root filesystem or privilege escalation is refused, each named", () => {
        const p = hardenedContainers(gpuDeployment((s) => { s.securityContext = {}; s.containers[0].securityContext = {}; }));
        assert.deepStrictEqual(p, ["Deployment ml/app: container app lacks runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false"]);
        assert.deepStrictEqual(hardenedContainers(gpuDeployment((s) => { s.containers[0].securityContext.runAsNonRoot = false; })).length, 1, "a container may not undo the pod's non-root");
    });
    it("no-visible-devices-without-gpu: NVIDIA_VISIBLE_DEVICES=all without a GPU request is refused; with one, or =void, it is not", () => {
        const cpu = gpuDeployment((s) => { s.containers[0].resources.limits = { memory: "1Gi" }; s.containers[0].env = [{ name: "NVIDIA_VISIBLE_DEVICES", value: "all" }]; });
        assert.match(visibleDevicesWithoutGpu(cpu)[0], /sets NVIDIA_VISIBLE_DEVICES=all but requests no GPU/);
        assert.deepStrictEqual(visibleDevicesWithoutGpu(gpuDeployment((s) => { s.containers[0].env = [{ name: "NVIDIA_VISIBLE_DEVICES", value: "all" }]; })), []);
        assert.deepStrictEqual(visibleDevicesWithoutGpu(gpuDeployment((s) => { s.containers[0].resources.limits = {}; s.containers[0].env = [{ name: "NVIDIA_VISIBLE_DEVICES", value: "void" }]; })), []);
    });
    it("gpu-namespace-owned: a GPU workload in a namespace the stack does not create, or a namespace without the owner annotation, is refused", () => {
        const elsewhere = namespaceOwnership([ownedNamespace(), gpuDeployment(undefined, "shared")]);
        assert.deepStrictEqual(elsewhere.map((p) => p.message), ["Deployment shared/app: runs in namespace shared, which this stack does not create (cluster.createNamespace: true makes it the stack's)"]);
        const unannotated = namespaceOwnership([{ type: "kubernetes:core/v1:Namespace", urn: "urn:ns", props: { metadata: { name: "ml" } } }, gpuDeployment()]);
        assert.match(unannotated[0].message, /carries no nix-gpu-deploy\/owner annotation/);
    });

    describe("what nix-gpu-deploy's own program registers passes every check", function () {
        this.timeout(120000);
        const runs: Record<string, ProgramRun> = {};
        before(async () => {
            for (const stack of ["local", "a100", "h100"]) {
                const config: Record<string, string> = { ...stackConfig(stack), "nix-gpu-deploy:registryPassword": "pw" };
                const secretKeys = ["nix-gpu-deploy:registryPassword"];
                if (stack === "local") {
                    config["nix-gpu-deploy:kubeconfig"] = "apiVersion: v1\nkind: Config\n";
                    secretKeys.push("nix-gpu-deploy:kubeconfig");
                }
                runs[stack] = await runProgram({ stack, config, secretKeys });
                assert.ifError(runs[stack].error);
            }
        });
        for (const stack of ["local", "a100", "h100"]) {
            it(`${stack}`, () => {
                const objects: PolicyObject[] = runs[stack].resources.map((r) => ({ type: r.type, props: r.inputs, urn: r.urn }));
                const workloads = objects.filter((o) => /:(Deployment|Job)$/.test(o.type) && o.type.startsWith("kubernetes:"));
                assert.strictEqual(workloads.length, 1, "one GPU workload");
                const problems = [
                    ...objects.flatMap((o) => [...imageByDigest(o), ...gpuPlacement(o), ...hardenedContainers(o), ...visibleDevicesWithoutGpu(o)]),
                    ...namespaceOwnership(objects).map((p) => p.message),
                ];
                assert.deepStrictEqual(problems, []);
            });
        }
    });
});
