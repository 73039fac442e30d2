// Issue #10: the Kubernetes side as a platform team needs it — config, pod spec, GPU model,
// preflight (no take-over), and the GpuDeployment component's resource options under mocks.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { execFileSync } from "child_process";
import { ParseResult, RawStackConfig, RunningStackConfig, parseStackConfig, runsImage } from "../../components/config";
import { GpuDeployment, GpuDeploymentArgs } from "../../components/kubernetes/workload";
import { baseProduct, capabilityRuns, capabilityTerms, productCapability } from "../../components/kubernetes/gpuModel";
import { CACHE_ENV, deploymentSpec, disruptionBudgetSpec, gpuPodTemplate, gpuResource, jobSpec, probes } from "../../components/kubernetes/podSpec";
import { Lookup, OWNER_ANNOTATION, PreflightInput, STACK_ANNOTATION, preflightProblems } from "../../components/kubernetes/preflight";

import { nodeFs } from "../../components/config/stack";
import { ROOT, find, runProgram, stackConfig, validConfig } from "./harness";

/** A stack's owner id, as the owner-id command makes one. */
const OWNER = "0123456789abcdef0123456789abcdef";

const opts = { projectRoot: ROOT, ...nodeFs };
type Cfg = Record<string, Record<string, unknown>>;
const base = (): Cfg => validConfig();
function parse(mutate: (c: Cfg) => void): ParseResult {
    const c = base();
    mutate(c);
    const raw: RawStackConfig = { values: c, secretsPresent: { registryPassword: true } };
    return parseStackConfig(raw, opts);
}
function ok(mutate: (c: Cfg) => void): RunningStackConfig {
    const r = parse(mutate);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.ok(runsImage(r.config), "a stack that runs the image");
    return r.config;
}
function errs(mutate: (c: Cfg) => void): string[] {
    const r = parse(mutate);
    return r.ok ? [] : r.errors.map((e) => `${e.propertyPath.replace(/^nix-gpu-deploy:/, "")}: ${e.reason}`);
}
const image = `r/x@sha256:${"a".repeat(64)}`;

describe("issue #10 item 4: probes and minReadySeconds", () => {
    it("one http check gives a long startup window (as long as the rollout may take), readiness and liveness", () => {
        const cfg = ok((c) => { c.deployment.port = 8000; c.deployment.probe = { type: "http", path: "/healthz" }; c.deployment.minReadySeconds = 30; c.deployment.rolloutTimeoutSeconds = 1800; });
        const p = probes(cfg.deployment.probe);
        assert.deepStrictEqual(p.startupProbe, { httpGet: { path: "/healthz", port: 8000 }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 180 });
        assert.deepStrictEqual(p.readinessProbe, { httpGet: { path: "/healthz", port: 8000 }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3, successThreshold: 1 });
        assert.strictEqual(p.livenessProbe.failureThreshold, 3);
        const spec = deploymentSpec({ gpu: cfg.gpu, deployment: cfg.deployment, image });
        assert.strictEqual(spec.minReadySeconds, 30);
        const c0 = spec.template.spec.containers[0];
        assert.deepStrictEqual(c0.ports, [{ name: "http", containerPort: 8000, protocol: "TCP" }]);
        assert.ok(c0.startupProbe && c0.readinessProbe && c0.livenessProbe);
    });
    it("tcp and exec checks; liveness can be turned off; no probe without config", () => {
        const tcp = ok((c) => { c.deployment.probe = { type: "tcp", port: 9000, startupTimeoutSeconds: 600, periodSeconds: 5, liveness: false }; }).deployment.probe;
        assert.deepStrictEqual(probes(tcp).startupProbe, { tcpSocket: { port: 9000 }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 120 });
        assert.strictEqual(probes(tcp).livenessProbe, undefined);
        const ex = ok((c) => { c.deployment.probe = { type: "exec", command: ["python", "-c", "import torch"] }; }).deployment.probe;
        assert.deepStrictEqual(probes(ex).readinessProbe.exec, { command: ["python", "-c", "import torch"] });
        const none = ok(() => undefined);
        assert.strictEqual(none.deployment.minReadySeconds, 0);
        assert.strictEqual(gpuPodTemplate({ gpu: none.gpu, deployment: none.deployment, image }).spec.containers[0].readinessProbe, undefined);
    });
    it("names the property of a bad probe", () => {
        assert.deepStrictEqual(errs((c) => { c.deployment.probe = { type: "http" }; }), ["deployment.probe.port: a http probe needs a port: set deployment.port or deployment.probe.port"]);
        assert.deepStrictEqual(errs((c) => { c.deployment.probe = { type: "grpc", port: 1 }; }), ["deployment.probe.type: must be one of http, tcp, exec, got \"grpc\""]);
        assert.deepStrictEqual(errs((c) => { c.deployment.probe = { type: "exec" }; }), ["deployment.probe.command: is required for an exec probe (an argument vector)"]);
        assert.deepStrictEqual(errs((c) => { c.deployment.probe = { type: "http", port: 80, path: "healthz" }; }), ["deployment.probe.path: \"healthz\" is not an absolute request path like /healthz"]);
    });
});

describe("issue #10 item 5: Job workloads", () => {
    it("a Job: backoffLimit, deadline, TTL, completions/parallelism, restartPolicy Never, no probes", () => {
        const cfg = ok((c) => { Object.assign(c.deployment, { kind: "Job", backoffLimit: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 600, completions: 4, parallelism: 2, rolloutTimeoutSeconds: 86400 }); });
        const spec = jobSpec({ gpu: cfg.gpu, deployment: cfg.deployment, image });
        assert.deepStrictEqual({ ...spec, template: undefined }, {
            backoffLimit: 2, completions: 4, parallelism: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 600, template: undefined,
            podFailurePolicy: { rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] },
        });
        assert.strictEqual(spec.template.spec.restartPolicy, "Never");
        assert.strictEqual(spec.selector, undefined, "the Job controller's own selector");
        assert.strictEqual(cfg.deployment.rolloutTimeoutSeconds, 86400, "a Job may be waited for up to a week");
    });
    it("refuses Deployment-only keys on a Job and Job-only keys on a Deployment, each named", () => {
        assert.deepStrictEqual(errs((c) => { Object.assign(c.deployment, { kind: "Job", replicas: 2, strategy: "Recreate" }); }), [
            "deployment.replicas: is not used by a Job (deployment.kind: Job)",
            "deployment.strategy: is not used by a Job (deployment.kind: Job)",
        ]);
        assert.deepStrictEqual(errs((c) => { c.deployment.backoffLimit = 1; }), ["deployment.backoffLimit: is only used with deployment.kind: Job"]);
        assert.deepStrictEqual(errs((c) => { Object.assign(c.deployment, { kind: "Job", completions: 1, parallelism: 3 }); }), ["deployment.parallelism: 3 pods at once for 1 completion(s): at most deployment.completions"]);
        assert.deepStrictEqual(errs((c) => { c.deployment.kind = "CronJob"; }), ["deployment.kind: must be one of Deployment, Job, got \"CronJob\""]);
        assert.deepStrictEqual(errs((c) => { c.deployment.rolloutTimeoutSeconds = 86400; }), ["deployment.rolloutTimeoutSeconds: must be within 30..7200, got 86400"]);
    });
});

describe("issue #10 item 6: the GPU model", () => {
    it("accepts real GFD product values: Tesla-T4, -SXM4-80GB, MIG single-strategy, -SHARED", () => {
        for (const p of ["Tesla-T4", "NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-40GB-SHARED", "NVIDIA-L4"]) {
            assert.deepStrictEqual(errs((c) => { c.gpu.product = p; c.nix.cudaCapabilities = []; }), [], p);
        }
        assert.strictEqual(baseProduct("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb"), "NVIDIA-A100-SXM4-40GB");
        assert.strictEqual(productCapability("Tesla-T4"), "7.5");
        assert.strictEqual(productCapability("NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"), "8.0");
        assert.strictEqual(productCapability("NVIDIA-H100-80GB-HBM3-SHARED"), "9.0");
        assert.strictEqual(productCapability("NVIDIA-Unknown-9000"), undefined);
    });
    it("MIG single strategy: nvidia.com/gpu on nodes labelled with the MIG product; mixed: nvidia.com/mig-<profile>", () => {
        const single = ok((c) => { c.gpu = { product: "NVIDIA-A100-SXM4-80GB", migProfile: "1g.10gb", migStrategy: "single", migCount: 1 }; c.nix.cudaCapabilities = ["8.0"]; });
        assert.strictEqual(single.gpu.product, "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb");
        assert.deepStrictEqual(gpuResource(single.gpu), { name: "nvidia.com/gpu", count: 1 });
        const t = gpuPodTemplate({ gpu: single.gpu, deployment: single.deployment, image });
        assert.deepStrictEqual(t.spec.nodeSelector, { "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb" });
        const given = ok((c) => { c.gpu = { product: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb", migProfile: "1g.10gb", migStrategy: "single" }; c.nix.cudaCapabilities = []; });
        assert.strictEqual(given.gpu.product, "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb");
        const mixed = ok((c) => { c.gpu = { product: "NVIDIA-A100-SXM4-80GB", migProfile: "3g.40gb" }; c.nix.cudaCapabilities = []; });
        assert.deepStrictEqual(gpuResource(mixed.gpu), { name: "nvidia.com/mig-3g.40gb", count: 1 });
        assert.deepStrictEqual(errs((c) => { c.gpu = { product: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb", count: 1 }; c.nix.cudaCapabilities = []; }), [
            "gpu.product: \"NVIDIA-A100-SXM4-80GB-MIG-1g.10gb\" is the product label of a single-strategy MIG node: set gpu.migStrategy: single and gpu.migProfile: 1g.10gb (or give the GPU product NVIDIA-A100-SXM4-80GB)"]);
        assert.deepStrictEqual(errs((c) => { c.gpu = { product: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb", migProfile: "2g.20gb", migStrategy: "single" }; c.nix.cudaCapabilities = []; }), [
            "gpu.product: \"NVIDIA-A100-SXM4-80GB-MIG-1g.10gb\" is a 1g.10gb MIG product, but gpu.migProfile is 2g.20gb"]);
    });
    it("time-slicing/MPS with a renamed resource: nvidia.com/gpu.shared", () => {
        // GFD (k8s-device-plugin internal/lm/resource.go): -SHARED only when shared and not renamed.
        const cfg = ok((c) => { c.gpu = { product: "Tesla-T4", count: 1, resourceName: "nvidia.com/gpu.shared" }; c.nix.cudaCapabilities = ["7.5"]; });
        assert.deepStrictEqual(errs((c) => { c.gpu = { product: "Tesla-T4-SHARED", count: 1, resourceName: "nvidia.com/gpu.shared" }; c.nix.cudaCapabilities = []; }), [
            "gpu.product: \"Tesla-T4-SHARED\": GPU Feature Discovery adds -SHARED only when the shared GPUs keep the resource name nvidia.com/gpu; with nvidia.com/gpu.shared the product label is \"Tesla-T4\""]);
        assert.deepStrictEqual(gpuResource(cfg.gpu), { name: "nvidia.com/gpu.shared", count: 1 });
        assert.deepStrictEqual(errs((c) => { c.gpu.resourceName = "example.com/gpu"; }), ["gpu.resourceName: \"example.com/gpu\" is not an NVIDIA device plugin resource name like nvidia.com/gpu or nvidia.com/gpu.shared"]);
    });
    it("at preview: an image built only for 9.0 is refused for an A100, and pods go only to nodes of a matching compute capability", () => {
        assert.deepStrictEqual(errs((c) => { c.gpu.product = "NVIDIA-A100-SXM4-80GB"; c.nix.cudaCapabilities = ["9.0"]; }), [
            "gpu.product: \"NVIDIA-A100-SXM4-80GB\" has CUDA compute capability 8.0, but nix.cudaCapabilities [9.0] builds no code that runs on it: add \"8.0\" to nix.cudaCapabilities (or [] for nixpkgs' list), or choose another product"]);
        assert.deepStrictEqual(errs((c) => { c.gpu.product = "NVIDIA-A100-SXM4-80GB"; c.nix.cudaCapabilities = ["8.0", "9.0"]; }), []);
        assert.ok(capabilityRuns("8.0", "8.6") && !capabilityRuns("8.6", "8.0") && !capabilityRuns("9.0", "8.0") && !capabilityRuns("9.0a", "9.1") && capabilityRuns("9.0a", "9.0"));
        const cfg = ok((c) => { c.gpu.minMemoryMiB = 80000; c.nix.cudaCapabilities = ["9.0", "8.6"]; });
        const t = gpuPodTemplate({ gpu: cfg.gpu, deployment: cfg.deployment, image, cudaCapabilities: cfg.nix.cudaCapabilities });
        const mem = { key: "nvidia.com/gpu.memory", operator: "Gt", values: ["79999"] };
        assert.deepStrictEqual(t.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
            { matchExpressions: [mem, { key: "nvidia.com/gpu.compute.major", operator: "In", values: ["8"] }, { key: "nvidia.com/gpu.compute.minor", operator: "Gt", values: ["5"] }] },
            { matchExpressions: [mem, { key: "nvidia.com/gpu.compute.major", operator: "In", values: ["9"] }] },
        ]);
        assert.deepStrictEqual(capabilityTerms([], []), [], "nixpkgs' list: no capability affinity");
    });
    it("no RuntimeClass by default (GKE has no `nvidia` one); one when the stack names it", () => {
        const cfg = ok(() => undefined);
        assert.strictEqual(cfg.gpu.runtimeClassName, undefined);
        assert.strictEqual(gpuPodTemplate({ gpu: cfg.gpu, deployment: cfg.deployment, image }).spec.runtimeClassName, undefined);
        assert.strictEqual(ok((c) => { c.gpu.runtimeClassName = "nvidia"; }).gpu.runtimeClassName, "nvidia");
    });
});

describe("issue #10 item 2: preflight refuses to take over what the stack did not create", () => {
    /* eslint-disable @typescript-eslint/no-explicit-any -- fake API objects */
    const lookupOf = (objs: Record<string, any>, forbidden = false): Lookup => async (kind, name, ns) => {
        if (kind === "RuntimeClass" && forbidden) {
            throw Object.assign(new Error("forbidden"), { code: 403 });
        }
        return objs[`${kind}/${ns ? `${ns}/` : ""}${name}`];
    };
    const mine = { metadata: { annotations: { [OWNER_ANNOTATION]: OWNER } } };
    const legacy = { metadata: { labels: { "app.kubernetes.io/managed-by": "nix-gpu-deploy" } } };
    const legacyOwner = { metadata: { annotations: { [OWNER_ANNOTATION]: "p/local" } } };
    const theirs = { metadata: { labels: { team: "data" } } };
    const other = { metadata: { annotations: { [OWNER_ANNOTATION]: "f".repeat(32), [STACK_ANNOTATION]: "organization/p/prod" } } };
    const input = (o: Partial<Parameters<typeof preflightProblems>[1]> = {}) => ({ owner: OWNER, namespace: "ml", createNamespace: true, objects: [{ kind: "Deployment" as const, name: "app" }], ...o });
    /* eslint-enable @typescript-eslint/no-explicit-any */

    it("goes ahead on a fresh cluster, on the stack's own objects, and on earlier versions' objects its last up recorded", async () => {
        assert.deepStrictEqual(await preflightProblems(lookupOf({}), input()), []);
        assert.deepStrictEqual(await preflightProblems(lookupOf({ "Namespace/ml": mine, "Deployment/ml/app": mine }), input()), []);
        const recorded = { namespace: "ml", deployment: "app" };
        assert.deepStrictEqual(await preflightProblems(lookupOf({ "Namespace/ml": legacy, "Deployment/ml/app": legacyOwner }), input({ owner: "", recorded })), []);
    });
    it("issue #22: a label alone, or an earlier owner the stack did not record, is not ownership; another stack's object names that stack", async () => {
        const p = await preflightProblems(lookupOf({ "Namespace/ml": legacy, "Deployment/ml/app": legacyOwner }), input());
        assert.match(p[0], /^cluster\.namespace: namespace ml already exists and this stack did not create it \(labelled managed-by "nix-gpu-deploy" with no owner: a label alone does not make it this stack's\)/);
        assert.match(p[1], /^Deployment ml\/app already exists and this stack did not create it \(owned by "p\/local", an earlier nix-gpu-deploy stack that this stack's state does not record\)/);
        const q = await preflightProblems(lookupOf({ "Namespace/ml": other }), input({ recorded: { namespace: "ml", deployment: "app" } }));
        assert.match(q[0], /namespace ml already exists and this stack did not create it \(owned by stack "organization\/p\/prod", owner id f{32}\)/, "an owner id beats what the stack recorded");
    });
    it("issue #22: a running Job that would be replaced is refused, naming it and how long it has run; replaceRunning or a finished Job goes ahead", async () => {
        const running = { metadata: { annotations: { [OWNER_ANNOTATION]: OWNER } }, status: { startTime: "2026-12-05T01:00:00Z", active: 1 } };
        const objs = { "Namespace/ml": mine, "Job/ml/train": running };
        const now = new Date("2026-12-05T04:12:30Z");
        const p = await preflightProblems(lookupOf(objs), input({ objects: [{ kind: "Job", name: "train" }], jobReplace: { name: "train", allowed: false } }), undefined, now);
        assert.deepStrictEqual(p, ["Job ml/train has been running for 3h 12m (since 2026-12-05T01:00:00.000Z); this change replaces it, deleting its pods and their progress: wait until it finishes, or set deployment.replaceRunning: true"]);
        assert.deepStrictEqual(await preflightProblems(lookupOf(objs), input({ objects: [{ kind: "Job", name: "train" }], jobReplace: { name: "train", allowed: true } }), undefined, now), []);
        const done = { ...running, status: { ...running.status, conditions: [{ type: "Complete", status: "True" }] } };
        assert.deepStrictEqual(await preflightProblems(lookupOf({ ...objs, "Job/ml/train": done }), input({ objects: [{ kind: "Job", name: "train" }], jobReplace: { name: "train", allowed: false } }), undefined, now), []);
    });
    it("refuses a namespace someone else owns, naming it and the way out", async () => {
        const p = await preflightProblems(lookupOf({ "Namespace/ml": theirs }), input());
        assert.deepStrictEqual(p, ["cluster.namespace: namespace ml already exists and this stack did not create it (not created by nix-gpu-deploy): refusing to take it over (destroy would delete it with everything inside); deploy into it with cluster.createNamespace: false, or choose another cluster.namespace"]);
        assert.deepStrictEqual(await preflightProblems(lookupOf({ "Namespace/ml": theirs }), input({ createNamespace: false })), [], "createNamespace: false deploys into it");
        assert.match((await preflightProblems(lookupOf({}), input({ createNamespace: false })))[0], /^cluster\.namespace: namespace ml does not exist and cluster\.createNamespace is false/);
    });
    it("refuses a Deployment, Job, Secret or PDB that exists and is not the stack's", async () => {
        const p = await preflightProblems(lookupOf({ "Namespace/ml": theirs, "Deployment/ml/app": other, "Secret/ml/app-registry": theirs }),
            input({ createNamespace: false, objects: [{ kind: "Deployment", name: "app" }, { kind: "Secret", name: "app-registry" }] }));
        assert.deepStrictEqual(p, [
            `Deployment ml/app already exists and this stack did not create it (owned by stack "organization/p/prod", owner id ${"f".repeat(32)}): refusing to take it over; delete or rename it, or choose another deployment.name`,
            "Secret ml/app-registry already exists and this stack did not create it (not created by nix-gpu-deploy): refusing to take it over; delete or rename it, or choose another deployment.name",
        ]);
    });
    it("a namespace-scoped deployer that may not read Namespaces: createNamespace false goes ahead, true is explained", async () => {
        const forbiddenNs: Lookup = async (kind, name, ns) => {
            if (kind === "Namespace") {
                throw Object.assign(new Error("forbidden"), { code: 403 });
            }
            return kind === "Deployment" && ns === "ml" && name === "app" ? theirs : undefined;
        };
        assert.deepStrictEqual(await preflightProblems(forbiddenNs, input({ createNamespace: false, objects: [] })), []);
        assert.match((await preflightProblems(forbiddenNs, input({ createNamespace: false })))[0], /^Deployment ml\/app already exists and this stack did not create it/);
        assert.match((await preflightProblems(forbiddenNs, input()))[0], /^cluster\.namespace: reading namespace ml is forbidden to these credentials/);
    });
    it("a RuntimeClass the cluster does not have is named (GKE), unless reading it is forbidden", async () => {
        assert.match((await preflightProblems(lookupOf({}), input({ runtimeClassName: "nvidia" })))[0], /^gpu\.runtimeClassName: the cluster has no RuntimeClass nvidia, so its pods would be refused \(GKE/);
        assert.deepStrictEqual(await preflightProblems(lookupOf({ "RuntimeClass/nvidia": {} }), input({ runtimeClassName: "nvidia" })), []);
        assert.deepStrictEqual(await preflightProblems(lookupOf({}, true), input({ runtimeClassName: "nvidia" })), []);
    });
});

describe("issue #10 item 9: operations", () => {
    it("HOME points into the writable /tmp (read-only root); model and compiler caches into the cache volume", () => {
        const cfg = ok(() => undefined);
        const env = gpuPodTemplate({ gpu: cfg.gpu, deployment: cfg.deployment, image }).spec.containers[0].env;
        for (const e of CACHE_ENV) {
            assert.ok(e.value.startsWith("/tmp"), e.name);
            assert.deepStrictEqual(env.find((x: { name: string }) => x.name === e.name), e);
        }
        for (const name of ["HF_HOME", "TORCH_HOME", "TRITON_CACHE_DIR", "CUDA_CACHE_PATH"]) {
            assert.ok(env.find((x: { name: string }) => x.name === name)?.value.startsWith("/cache/"), name);
        }
        assert.ok(CACHE_ENV.some((e) => e.name === "HOME"));
    });
    it("a PriorityClass and a PodDisruptionBudget; pod labels and annotations, never the app selector", () => {
        const cfg = ok((c) => { Object.assign(c.deployment, { priorityClassName: "gpu-high", podDisruptionBudget: { maxUnavailable: 1 }, podLabels: { team: "ml" }, podAnnotations: { "example.com/note": "x y" } }); });
        const t = gpuPodTemplate({ gpu: cfg.gpu, deployment: cfg.deployment, image });
        assert.strictEqual(t.spec.priorityClassName, "gpu-high");
        assert.deepStrictEqual(t.metadata, { labels: { team: "ml", "app.kubernetes.io/name": "fixture", "app.kubernetes.io/managed-by": "nix-gpu-deploy" }, annotations: { "example.com/note": "x y" } });
        assert.deepStrictEqual(disruptionBudgetSpec(cfg.deployment), { selector: { matchLabels: { "app.kubernetes.io/name": "fixture", "app.kubernetes.io/managed-by": "nix-gpu-deploy" } }, maxUnavailable: 1 });
        assert.deepStrictEqual(errs((c) => { c.deployment.podDisruptionBudget = { minAvailable: 1, maxUnavailable: "50%" }; }), ["deployment.podDisruptionBudget: set exactly one of minAvailable, maxUnavailable (a count, or a percentage like \"50%\")"]);
        assert.deepStrictEqual(errs((c) => { c.deployment.podLabels = { "app.kubernetes.io/name": "x" }; }), ["deployment.podLabels.[\"app.kubernetes.io/name\"]: the app.kubernetes.io/ labels are the workload's selector and set by the program"]);
        assert.deepStrictEqual(errs((c) => { Object.assign(c.deployment, { kind: "Job", podDisruptionBudget: { maxUnavailable: 1 } }); }), ["deployment.podDisruptionBudget: is not used by a Job (deployment.kind: Job)"]);
    });
});

describe("issue #10 items 2, 3, 7, 8, 9: GpuDeployment under mocks", function () {
    this.timeout(30000);
    interface Reg { type: string; name: string; props: Record<string, unknown>; opts: pulumi.CustomResourceOptions }
    /** Constructs the component alone, recording every child's inputs and options (transformations). */
    async function build(mutate: (c: Cfg) => void, extra: Partial<GpuDeploymentArgs> = {}, out: { preflightKey?: pulumi.Output<string> } = {}, preview = false): Promise<{ regs: Reg[]; error?: Error; resources: { type: string; name: string; inputs: Record<string, unknown> }[] }> {
        const cfg = ok(mutate);
        const resources: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
        await pulumi.runtime.setMocks({
            newResource: (a) => {
                resources.push({ type: a.type, name: a.name, inputs: a.inputs });
                return { id: `${a.name}-id`, state: { ...a.inputs, metadata: { ...(a.inputs.metadata ?? {}), uid: `uid-${a.name}`, generation: 1 }, ...(a.type === "command:local:Command" ? { stdout: a.name.endsWith("owner-id") ? `${OWNER} ${String((a.inputs.environment as Record<string, string>)?.NGD_STACK)}` : "" } : {}) } };
            },
            call: () => ({}),
        }, "p", "local", preview);
        const regs: Reg[] = [];
        const args: GpuDeploymentArgs = {
            gpu: cfg.gpu, deployment: cfg.deployment, cluster: cfg.cluster, image, storePath: "/nix/store/x-image",
            pullCredentials: { registry: "127.0.0.1:5001", username: "ngd", password: pulumi.secret("pw") },
            previousName: "local-gpu", stackName: "organization/p/local", previous: { recorded: {} }, ...extra,
        };
        let error: Error | undefined;
        try {
            const gd = new GpuDeployment("gpu", args, { transformations: [(t) => { regs.push({ type: t.type, name: t.name, props: t.props, opts: t.opts }); return undefined; }] });
            out.preflightKey = gd.preflightKey;
            // The SDK's own promise of the value: a failed output rejects it (apply's callback would never run).
            await (gd.checkedNamespace as unknown as { promise(): Promise<unknown> }).promise();
            await new Promise((r) => setTimeout(r, 100));
        } catch (e) {
            error = e as Error;
        }
        return { regs, error, resources };
    }
    const reg = (regs: Reg[], name: string) => {
        const r = regs.find((x) => x.name === name);
        assert.ok(r, `${name}; have ${regs.map((x) => x.name).join(", ")}`);
        return r;
    };

    it("item 3: the namespace, pull secret and Deployment are deleted before they are replaced", async () => {
        const { regs } = await build(() => undefined);
        for (const n of ["gpu-namespace", "gpu-pull-secret", "gpu-deployment"]) {
            assert.strictEqual(reg(regs, n).opts.deleteBeforeReplace, true, n);
        }
    });
    it("item 5: a Job is replaced (old one deleted first) on any spec change; the check waits for completion", async () => {
        const { regs, resources } = await build((c) => { c.deployment.kind = "Job"; });
        const job = reg(regs, "gpu-job");
        assert.strictEqual(job.type, "kubernetes:batch/v1:Job");
        assert.strictEqual(job.opts.deleteBeforeReplace, true);
        assert.deepStrictEqual(job.opts.replaceOnChanges, ["spec"]);
        const check = resources.find((r) => r.name === "gpu-rollout");
        assert.strictEqual((check?.inputs.environment as Record<string, string>).NGD_KIND, "Job");
        assert.deepStrictEqual(check?.inputs.triggers, ["uid-gpu-job", image]);
    });
    it("item 8: stable names, aliased from the stack-prefixed names of earlier stacks", async () => {
        const { regs } = await build(() => undefined);
        assert.deepStrictEqual(reg(regs, "gpu-deployment").opts.aliases?.[0], { name: "local-gpu-deployment" });
        assert.deepStrictEqual(reg(regs, "gpu-provider").opts.aliases, [{ name: "local-gpu-provider" }]);
        assert.deepStrictEqual(reg(regs, "gpu-namespace").opts.aliases, [{ name: "local-gpu-namespace" }]);
    });
    it("item 9: the store path is on the Deployment, not on the pod template; owner annotations on what the stack creates", async () => {
        const { resources } = await build(() => undefined);
        const dep = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!.inputs as { metadata: { annotations: Record<string, string> }; spec: { template: { metadata: { annotations?: unknown } } } };
        assert.strictEqual(dep.metadata.annotations["nix-gpu-deploy/store-path"], "/nix/store/x-image");
        assert.strictEqual(dep.metadata.annotations[OWNER_ANNOTATION], OWNER);
        assert.strictEqual(dep.metadata.annotations[STACK_ANNOTATION], "organization/p/local");
        assert.strictEqual(dep.spec.template.metadata.annotations, undefined);
        // Not skipAwait, which would also skip waiting for the old object's deletion on replace.
        assert.strictEqual(dep.metadata.annotations["pulumi.com/skipAwait"], undefined);
        assert.strictEqual(dep.metadata.annotations["pulumi.com/waitFor"], "jsonpath={.metadata.name}");
    });
    it("item 2: a refusing preflight fails the run naming the object, with nothing registered in the cluster", async () => {
        const { error, resources } = await build(() => undefined, { preflight: async () => ["Deployment ml-local/fixture already exists and this stack did not create it"] });
        assert.ok(error instanceof pulumi.RunError, String(error));
        assert.match(error!.message, /^nix-gpu-deploy: the cluster local is not ready for this stack \(1 problem\):\n {2}- Deployment ml-local\/fixture already exists/);
        assert.deepStrictEqual(resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers")).map((r) => r.type), []);
    });
    it("item 2: createNamespace false registers no Namespace (never created, never deleted)", async () => {
        let seen: unknown;
        const { regs, resources } = await build((c) => { c.cluster.createNamespace = false; }, { preflight: async (i) => { seen = i; return []; } });
        assert.strictEqual(regs.find((r) => r.type === "kubernetes:core/v1:Namespace"), undefined);
        assert.strictEqual((resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!.inputs as { metadata: { namespace: string } }).metadata.namespace, "ml-local");
        assert.deepStrictEqual(seen, {
            owner: "", recorded: {}, namespace: "ml-local", createNamespace: false, objects: [{ kind: "Deployment", name: "fixture" }, { kind: "Secret", name: "fixture-registry" }], runtimeClassName: undefined,
            placement: { profile: "gfd", nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" }, terms: [], tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }], scalesFromZero: false },
            claimName: undefined, serviceAccountName: undefined, jobReplace: undefined,
        });
    });
    it("issue #13: a preview runs the preflight only when what it checks changed since the last up (its key); up always runs it", async () => {
        const kubeconfig = pulumi.secret("apiVersion: v1\nkind: Config\ncurrent-context: local\n");
        let calls = 0;
        const counting = { kubeconfig, preflight: async () => { calls++; return []; } };
        const key = async (extra: Partial<GpuDeploymentArgs>, mutate: (c: Cfg) => void = () => undefined, preview = true) => {
            const gd: { preflightKey?: pulumi.Output<string> } = {};
            await build(mutate, extra, gd, preview);
            return (gd.preflightKey as unknown as { promise(): Promise<string> }).promise();
        };
        const first = await key(counting);
        assert.match(first, /^[0-9a-f]{64}$/);
        assert.strictEqual(calls, 1, "no previous key: the check runs");
        assert.strictEqual(await key({ ...counting, previousPreflightKey: Promise.resolve(first) }), first);
        assert.strictEqual(calls, 1, "a preview with the same key: skipped");
        assert.strictEqual(await key({ ...counting, previousPreflightKey: Promise.resolve(first) }, () => undefined, false), first);
        assert.strictEqual(calls, 2, "up with the same key: the check runs (the cluster may have drifted)");
        for (const [what, extra, mutate] of [
            ["another kubeconfig", { kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\ncurrent-context: other\n") }, () => undefined],
            ["another deployment name", {}, (c: Cfg) => { c.deployment.name = "fixture-2"; }],
            ["another namespace", {}, (c: Cfg) => { c.cluster.namespace = "ml-2"; }],
            ["createNamespace off", {}, (c: Cfg) => { c.cluster.createNamespace = false; }],
            ["a RuntimeClass", {}, (c: Cfg) => { c.gpu.runtimeClassName = "nvidia"; }],
            ["another context", {}, (c: Cfg) => { c.cluster.context = "other"; }],
            ["another owner id", { previous: { owner: OWNER, recorded: {} } }, () => undefined],
        ] as [string, Partial<GpuDeploymentArgs>, (c: Cfg) => void][]) {
            const before: number = calls;
            const k = await key({ ...counting, ...extra, previousPreflightKey: Promise.resolve(first) }, mutate);
            assert.notStrictEqual(k, first, what);
            assert.strictEqual(calls, before + 1, `${what}: the check runs again`);
        }
    });
    it("issue #22: a Job whose spec changed since the last up is checked on every preview (whether it still runs is the cluster's to say)", async () => {
        const kubeconfig = pulumi.secret("apiVersion: v1\nkind: Config\ncurrent-context: local\n");
        const seen: (PreflightInput | undefined)[] = [];
        const job = (c: Cfg) => { c.deployment.kind = "Job"; delete c.deployment.replicas; delete c.deployment.strategy; };
        const extra: Partial<GpuDeploymentArgs> = {
            kubeconfig, imageIdentity: "/nix/store/a-plan.drv", liveJob: { found: true, running: true, complete: false, summary: "1 active" },
            previous: { recorded: {}, job: { key: "an-earlier-spec", state: "Running", at: "2026-12-05T01:00:00.000Z" } },
            preflight: async (i) => { seen.push(i); return []; },
        };
        const out: { preflightKey?: pulumi.Output<string> } = {};
        await build(job, extra, out, true);
        const first = await (out.preflightKey as unknown as { promise(): Promise<string> }).promise();
        await build(job, { ...extra, previousPreflightKey: Promise.resolve(first) }, {}, true);
        assert.strictEqual(seen.length, 2, "not skipped although the key is the same");
        assert.deepStrictEqual(seen[1]?.jobReplace, { name: "fixture", allowed: false, key: seen[0]?.jobReplace?.key });
        assert.match(String(seen[1]?.jobReplace?.key), /^[0-9a-f]{32}$/);
    });
    it("issue #13: loading the program's modules does not load the Kubernetes client (0.4 s): only a preflight that runs does", () => {
        const loaded = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e",
            "for (const m of ['./index.ts', './components/gpuDeployment', './components/preflight', './components/kube']) { try { require(m); } catch {} } "
            + "process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('@kubernetes/client-node'))))"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PULUMI_CONFIG: "{}" } });
        assert.strictEqual(loaded, "false");
    });
    it("item 7: a pre-created pull secret is referenced, not created (also with rendered manifests)", async () => {
        const { resources } = await build((c) => { c.cluster.imagePullSecret = "pull-ro"; });
        assert.strictEqual(resources.find((r) => r.type === "kubernetes:core/v1:Secret"), undefined);
        const dep = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!.inputs as { spec: { template: { spec: { imagePullSecrets: unknown } } } };
        assert.deepStrictEqual(dep.spec.template.spec.imagePullSecrets, [{ name: "pull-ro" }]);
    });
    it("item 9: a PodDisruptionBudget for a Deployment when configured", async () => {
        const { resources } = await build((c) => { c.deployment.podDisruptionBudget = { minAvailable: "50%" }; c.deployment.replicas = 2; });
        const pdb = resources.find((r) => r.type === "kubernetes:policy/v1:PodDisruptionBudget");
        assert.deepStrictEqual((pdb?.inputs as { spec: unknown }).spec, { selector: { matchLabels: { "app.kubernetes.io/name": "fixture", "app.kubernetes.io/managed-by": "nix-gpu-deploy" } }, minAvailable: "50%" });
    });
});

describe("issue #10 item 7: pull credentials separate from push credentials", function () {
    this.timeout(120000);
    it("a read-only pull user and secret go into the pull secret; the push password does not", async () => {
        const cfg = stackConfig("h100");
        const reg = JSON.parse(cfg["nix-gpu-deploy:registry"]);
        cfg["nix-gpu-deploy:registry"] = JSON.stringify({ ...reg, pullUsername: "puller" });
        cfg["nix-gpu-deploy:registryPassword"] = "push-s3cret";
        cfg["nix-gpu-deploy:registryPullPassword"] = "pull-r3ad-only";
        const run = await runProgram({ stack: "h100", config: cfg, secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:registryPullPassword"], realNix: false });
        assert.ifError(run.error);
        const secret = find(run, "kubernetes:core/v1:Secret", "gpu-pull-secret");
        const json = JSON.stringify(secret.inputs);
        // A secret input reaches the mock wrapped: {<sig>: …, value: {…}}.
        const docker = JSON.parse(secret.inputs.stringData.value[".dockerconfigjson"]);
        assert.deepStrictEqual(Object.values(docker.auths).map((a) => (a as { username: string }).username), ["puller"]);
        assert.ok(json.includes("pull-r3ad-only") && !json.includes("push-s3cret"), "the cluster never gets the push password");
    });
    it("names a pull user without its secret, and a pull secret without its user", () => {
        assert.deepStrictEqual(errs((c) => { c.registry.pullUsername = "puller"; }), [
            "registryPullPassword: registry.pullUsername is set but the registryPullPassword secret is missing (pulumi config set --secret registryPullPassword …)"]);
        const r = parseStackConfig({ values: base(), secretsPresent: { registryPassword: true, registryPullPassword: true } }, opts);
        assert.deepStrictEqual(r.ok ? [] : r.errors.map((e) => e.reason), ["registryPullPassword is set but registry.pullUsername is missing"]);
    });
});
