// Issue #22: real GPU fleets — placement profiles, cache volumes, training Jobs that survive,
// serving essentials, expiring pull credentials, and the namespace kept for another stack.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ParseResult, RawStackConfig, RunningStackConfig, budgetBlocksDrains, parseStackConfig, runsImage } from "../../components/config";
import { namespaceReleaseCheck, parseOwnerRecord, placementCheck, rolloutCheck } from "../../components/kubernetes/workload";
import { cacheVolume, deploymentSpec, gpuPodTemplate, jobSpec, serviceSpec } from "../../components/kubernetes/podSpec";
import { jobKey, jobPlan, liveJobOf, parseJobRecord, recordFromLive, recordFromRollout } from "../../components/kubernetes/jobRun";
import { keepers } from "../../components/kubernetes/namespaceRelease";
import { acceleratorFor, gpuPlacement, nodeAdmits } from "../../components/kubernetes/placement";
import { Lookup, OWNER_ANNOTATION, STACK_ANNOTATION, preflightProblems } from "../../components/kubernetes/preflight";
import { credentialHelperProblem, dockerHelperConfig, dockerRegistryAuth, pullCredentials } from "../../components/registry/publish";
import { skopeoPushScript } from "../../components/exec";
import { nodeFs } from "../../components/config/stack";
import { ROOT, validConfig } from "./harness";

type Cfg = Record<string, Record<string, unknown>>;
function parse(mutate: (c: Cfg) => void, secrets: RawStackConfig["secretsPresent"] = { registryPassword: true }): ParseResult {
    const c = validConfig();
    mutate(c);
    return parseStackConfig({ values: c, secretsPresent: secrets }, { projectRoot: ROOT, ...nodeFs });
}
function ok(mutate: (c: Cfg) => void): RunningStackConfig {
    const r = parse(mutate);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.ok(runsImage(r.config));
    return r.config;
}
function errs(mutate: (c: Cfg) => void, secrets?: RawStackConfig["secretsPresent"]): string[] {
    const r = parse(mutate, secrets);
    return r.ok ? [] : r.errors.map((e) => `${e.propertyPath.replace(/^nix-gpu-deploy:/, "")}: ${e.reason}`);
}
const image = `r/x@sha256:${"a".repeat(64)}`;
/* eslint-disable @typescript-eslint/no-explicit-any -- node and pod objects */
const node = (labels: Record<string, string>, taints: any[] = [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }]) =>
    ({ metadata: { labels: { "kubernetes.io/arch": "amd64", ...labels } }, spec: { taints } });

describe("issue #22 item 3: placement profiles", () => {
    it("gfd selects by GFD's product label and capability terms; gke by the accelerator; eks and karpenter by the instance GPU name", () => {
        const spec = (gpu: Record<string, unknown>) => { const c = ok((x) => { Object.assign(x.gpu, gpu); }); return gpuPodTemplate({ gpu: c.gpu, deployment: c.deployment, image, system: "x86_64-linux", cudaCapabilities: ["9.0"] }).spec; };
        assert.deepStrictEqual(spec({}).nodeSelector, { "kubernetes.io/arch": "amd64", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" });
        assert.ok(spec({}).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions.some((e: any) => e.key === "nvidia.com/gpu.compute.major"));
        const gke = spec({ placement: "gke" });
        assert.deepStrictEqual(gke.nodeSelector, { "kubernetes.io/arch": "amd64", "cloud.google.com/gke-accelerator": "nvidia-h100-80gb" });
        assert.strictEqual(gke.affinity, undefined, "no GFD labels on GKE's nodes");
        assert.deepStrictEqual(gke.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
        assert.deepStrictEqual(spec({ placement: "eks" }).nodeSelector["eks.amazonaws.com/instance-gpu-name"], "h100");
        const k = spec({ placement: "karpenter", minMemoryMiB: 80000 });
        assert.deepStrictEqual(k.nodeSelector["karpenter.k8s.aws/instance-gpu-name"], "h100");
        assert.deepStrictEqual(k.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [{ matchExpressions: [{ key: "karpenter.k8s.aws/instance-gpu-memory", operator: "Gt", values: ["79999"] }] }]);
        const custom = spec({ placement: "custom", nodeSelector: { "example.com/pool": "h100" }, tolerations: [{ key: "example.com/gpu", value: "yes", effect: "NoSchedule" }] });
        assert.deepStrictEqual(custom.nodeSelector, { "kubernetes.io/arch": "amd64", "example.com/pool": "h100" });
        assert.deepStrictEqual(custom.tolerations, [{ key: "example.com/gpu", operator: "Equal", value: "yes", effect: "NoSchedule" }]);
        assert.strictEqual(spec({ placement: "gke", accelerator: "nvidia-h100-mega-80gb" }).nodeSelector["cloud.google.com/gke-accelerator"], "nvidia-h100-mega-80gb");
        assert.strictEqual(spec({ placement: "gke", migProfile: "1g.10gb", count: 0 }).nodeSelector["cloud.google.com/gke-gpu-partition-size"], "1g.10gb");
    });
    it("the architecture selector follows the image's system", () => {
        const c = ok(() => undefined);
        assert.strictEqual(gpuPodTemplate({ gpu: c.gpu, deployment: c.deployment, image, system: "aarch64-linux" }).spec.nodeSelector["kubernetes.io/arch"], "arm64");
    });
    it("names every placement mistake", () => {
        assert.deepStrictEqual(errs((c) => { c.gpu.placement = "aks"; }), ["gpu.placement: must be one of gfd, gke, eks, karpenter, custom, got \"aks\""]);
        assert.deepStrictEqual(errs((c) => { c.gpu.nodeSelector = { a: "b" }; }), ["gpu.nodeSelector: is only used with gpu.placement: custom (it is gfd)"]);
        assert.deepStrictEqual(errs((c) => { c.gpu.placement = "custom"; }), ["gpu.nodeSelector: gpu.placement: custom selects GPU nodes by gpu.nodeSelector alone: give at least one label (without one, GPU pods may land on any node)"]);
        assert.deepStrictEqual(errs((c) => { c.gpu.placement = "gke"; c.gpu.product = "NVIDIA-RTX-PRO-6000"; }), ["gpu.accelerator: no cloud.google.com/gke-accelerator value is known for \"NVIDIA-RTX-PRO-6000\": set gpu.accelerator to the value the gke nodes carry"]);
        assert.deepStrictEqual(errs((c) => { c.gpu.placement = "karpenter"; c.gpu.migProfile = "1g.10gb"; c.gpu.count = 0; }), ["gpu.migProfile: MIG devices on AWS come from the NVIDIA GPU Operator, whose labels are GFD's: use gpu.placement: gfd (or custom), not karpenter"]);
        assert.deepStrictEqual(errs((c) => { c.gpu.accelerator = "nvidia-l4"; }), ["gpu.accelerator: is only used with gpu.placement: gke, eks or karpenter (it is gfd)"]);
        assert.strictEqual(acceleratorFor("gke", "Tesla-T4-SHARED"), "nvidia-tesla-t4");
    });
    it("nodeAdmits follows the scheduler: selector, affinity operators, NoSchedule/NoExecute taints", () => {
        const pod = { nodeSelector: { "kubernetes.io/arch": "amd64" }, terms: [{ matchExpressions: [{ key: "m", operator: "Gt", values: ["10"] }] }], tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] };
        assert.ok(nodeAdmits(node({ m: "11" }), pod));
        assert.ok(!nodeAdmits(node({ m: "10" }), pod));
        assert.ok(!nodeAdmits(node({ m: "11", "kubernetes.io/arch": "arm64" }), pod));
        assert.ok(!nodeAdmits(node({ m: "11" }, [{ key: "other", effect: "NoExecute" }]), pod));
        assert.ok(nodeAdmits(node({ m: "11" }, [{ key: "other", effect: "PreferNoSchedule" }]), pod));
    });
    it("preflight: no node for gfd is refused naming the labels and what the nodes carry; for gke it warns (scales from zero)", async () => {
        const gkeNodes = [node({ "cloud.google.com/gke-accelerator": "nvidia-l4" })];
        const lookup: Lookup = async (kind) => (kind === "Nodes" ? gkeNodes : undefined);
        const c = ok(() => undefined);
        const input = { owner: "", namespace: "ml", createNamespace: true, objects: [], placement: placementCheck({ gpu: c.gpu, deployment: c.deployment, image, system: "x86_64-linux" }) };
        const p = await preflightProblems(lookup, input);
        assert.deepStrictEqual(p, ["gpu.placement: no node of the cluster matches the gfd profile (kubernetes.io/arch=amd64, nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3; tolerating nvidia.com/gpu): the pods would stay Pending; the cluster's nodes carry the labels of: gke (cloud.google.com/gke-accelerator)"]);
        const g = ok((x) => { x.gpu.placement = "gke"; });
        const warnings: string[] = [];
        assert.deepStrictEqual(await preflightProblems(lookup, { ...input, placement: placementCheck({ gpu: g.gpu, deployment: g.deployment, image, system: "x86_64-linux" }) }, (w) => warnings.push(w)), []);
        assert.match(warnings[0], /^gpu\.placement: no node of the cluster matches the gke profile \(kubernetes\.io\/arch=amd64, cloud\.google\.com\/gke-accelerator=nvidia-h100-80gb; .*the pods stay Pending until the autoscaler adds such a node/);
        gkeNodes.push(node({ "cloud.google.com/gke-accelerator": "nvidia-h100-80gb" }));
        const w2: string[] = [];
        assert.deepStrictEqual(await preflightProblems(lookup, { ...input, placement: placementCheck({ gpu: g.gpu, deployment: g.deployment, image, system: "x86_64-linux" }) }, (w) => w2.push(w)), []);
        assert.deepStrictEqual(w2, []);
    });
});

describe("issue #22 item 4: the cache volume", () => {
    it("default: a 20Gi emptyDir at /cache with HF_HOME, TORCH_HOME, TRITON_CACHE_DIR in it", () => {
        const c = ok(() => undefined);
        const t = gpuPodTemplate({ gpu: c.gpu, deployment: c.deployment, image }).spec;
        assert.deepStrictEqual(t.volumes.find((v: any) => v.name === "cache"), { name: "cache", emptyDir: { sizeLimit: "20Gi" } });
        const env = Object.fromEntries(t.containers[0].env.map((e: any) => [e.name, e.value]));
        assert.deepStrictEqual([env.HF_HOME, env.TORCH_HOME, env.TRITON_CACHE_DIR], ["/cache/huggingface", "/cache/torch", "/cache/triton"]);
    });
    it("a read-only claim holds the weights (hubs offline); the compiler caches stay writable", () => {
        const c = ok((x) => { x.deployment.cache = { claimName: "llama-weights", sizeLimit: "5Gi" }; });
        const v = cacheVolume(c.deployment.cache);
        assert.deepStrictEqual(v.volumes, [{ name: "cache", persistentVolumeClaim: { claimName: "llama-weights", readOnly: true } }, { name: "cache-rw", emptyDir: { sizeLimit: "5Gi" } }]);
        assert.deepStrictEqual(v.env.find((e) => e.name === "TRITON_CACHE_DIR"), { name: "TRITON_CACHE_DIR", value: "/cache-rw/triton" });
        assert.deepStrictEqual(v.env.find((e) => e.name === "HF_HUB_OFFLINE"), { name: "HF_HUB_OFFLINE", value: "1" });
        assert.deepStrictEqual(cacheVolume({ kind: "claim", claimName: "w", readOnly: false, sizeLimit: "1Gi" }).mounts, [{ name: "cache", mountPath: "/cache" }]);
        assert.deepStrictEqual(errs((x) => { x.deployment.cache = { readOnly: true }; }), ["deployment.cache.readOnly: is only used with deployment.cache.claimName"]);
        assert.deepStrictEqual(errs((x) => { x.deployment.env = { HF_HOME: "/x" }; }), ["deployment.env.HF_HOME: is set by the program (HOME, HF_HOME, TORCH_HOME, TRITON_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR, CUDA_CACHE_PATH, XDG_CACHE_HOME, NVIDIA_VISIBLE_DEVICES): the cache directories follow deployment.cache"]);
    });
});

describe("issue #22 item 5: training Jobs that survive", () => {
    const job = (d: Record<string, unknown> = {}) => ok((x) => { Object.assign(x.deployment, { kind: "Job", rolloutTimeoutSeconds: 86400, ...d }); delete x.deployment.replicas; delete x.deployment.strategy; });
    it("a drain (DisruptionTarget) is ignored by podFailurePolicy; Indexed completion for multi-pod runs", () => {
        const c = job({ completions: 4, parallelism: 4, completionMode: "Indexed" });
        const s = jobSpec({ gpu: c.gpu, deployment: c.deployment, image });
        assert.deepStrictEqual(s.podFailurePolicy, { rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] });
        assert.strictEqual(s.completionMode, "Indexed");
        assert.strictEqual(s.template.spec.restartPolicy, "Never", "podFailurePolicy needs it");
    });
    it("wait: false makes the check return once the Job runs", () => {
        assert.strictEqual(rolloutCheck({ cluster: job().cluster, deployment: job({ wait: false }).deployment }).environment.NGD_UNTIL, "started");
        assert.strictEqual(rolloutCheck({ cluster: job().cluster, deployment: job().deployment }).environment.NGD_UNTIL, undefined);
        assert.deepStrictEqual(errs((x) => { x.deployment.wait = false; }), ["deployment.wait: is only used with deployment.kind: Job"]);
    });
    it("a finished Job that is gone (ttlSecondsAfterFinished, then up --refresh) is not created again; a new spec is", () => {
        const key = jobKey({ a: 1 }, "/nix/store/x.drv");
        assert.notStrictEqual(key, jobKey({ a: 1 }, "/nix/store/y.drv"), "another image is another run");
        const done = { key, state: "Complete" as const, at: "2026-12-05T04:00:00.000Z" };
        assert.deepStrictEqual(jobPlan({ previous: done, key, live: { found: false }, name: "ml/train" }).create, false);
        assert.match(jobPlan({ previous: done, key, live: { found: false }, name: "ml/train" }).note!, /^Job ml\/train with this spec finished at 2026-12-05T04:00:00.000Z, and it is gone from the cluster/);
        assert.match(jobPlan({ previous: { ...done, state: "Running" }, key, live: { found: false }, name: "ml/train" }).note!, /was running at the last up/);
        assert.strictEqual(jobPlan({ previous: done, key: "other", live: { found: false }, name: "ml/train" }).create, true);
        assert.strictEqual(jobPlan({ previous: done, key, live: undefined, name: "ml/train" }).create, true, "not read: as configured");
        assert.strictEqual(jobPlan({ previous: done, key, live: liveJobOf({ status: {} }), name: "ml/train" }).create, true, "still there: kept");
        assert.deepStrictEqual(recordFromRollout("started 2026-12-05T01:00:00.000Z\n", key, new Date()), { key, state: "Running", at: "2026-12-05T01:00:00.000Z" });
        assert.deepStrictEqual(recordFromRollout("job a/b completed in 3s\nfinished 2026-12-05T02:00:00.000Z\n", key, new Date()), { key, state: "Complete", at: "2026-12-05T02:00:00.000Z" });
        assert.deepStrictEqual(parseJobRecord(JSON.stringify(done)), done);
        assert.strictEqual(parseJobRecord("{}"), undefined);
        const job = (k: string) => ({ metadata: { annotations: { "nix-gpu-deploy/job-key": k } }, spec: { completions: 1 }, status: { succeeded: 1, completionTime: new Date("2026-12-05T03:00:00Z"), conditions: [{ type: "Complete", status: "True" }] } });
        assert.deepStrictEqual(recordFromLive(liveJobOf(job(key)), key), { key, state: "Complete", at: "2026-12-05T03:00:00.000Z" });
        assert.strictEqual(recordFromLive(liveJobOf(job("an-earlier-spec")), key), undefined, "the live Job of an earlier spec says nothing of this one");
    });
});

describe("issue #22 item 6: serving essentials", () => {
    it("a Service for deployment.port; a service account (its token mounted only then); env and args; a liveness check of its own", () => {
        const c = ok((x) => {
            Object.assign(x.deployment, {
                port: 8000, rolloutTimeoutSeconds: 1200, probe: { type: "http", path: "/readyz", startupTimeoutSeconds: 900 }, liveness: { type: "http", path: "/livez" },
                serviceAccountName: "inference", env: { LOG_LEVEL: "debug" }, args: ["--model", "/cache/models/x"],
            });
        });
        assert.deepStrictEqual(serviceSpec(c.deployment), { type: "ClusterIP", selector: { "app.kubernetes.io/name": "fixture", "app.kubernetes.io/managed-by": "nix-gpu-deploy" }, ports: [{ name: "http", port: 8000, targetPort: "http", protocol: "TCP" }] });
        const t = deploymentSpec({ gpu: c.gpu, deployment: c.deployment, image }).template.spec;
        assert.strictEqual(t.serviceAccountName, "inference");
        assert.strictEqual(t.automountServiceAccountToken, undefined);
        const ct = t.containers[0];
        assert.deepStrictEqual(ct.args, ["--model", "/cache/models/x"]);
        assert.ok(ct.env.some((e: any) => e.name === "LOG_LEVEL" && e.value === "debug"));
        assert.strictEqual(ct.readinessProbe.httpGet.path, "/readyz");
        assert.deepStrictEqual(ct.livenessProbe, { httpGet: { path: "/livez", port: 8000 }, periodSeconds: 20, timeoutSeconds: 10, failureThreshold: 3 });
        const plain = ok(() => undefined);
        assert.strictEqual(deploymentSpec({ gpu: plain.gpu, deployment: plain.deployment, image }).template.spec.automountServiceAccountToken, false);
    });
    it("refuses a startup window longer than the rollout deadline, and a PodDisruptionBudget that blocks every drain", () => {
        assert.deepStrictEqual(errs((x) => { Object.assign(x.deployment, { port: 8000, rolloutTimeoutSeconds: 600, probe: { type: "http", startupTimeoutSeconds: 1800 } }); }),
            ["deployment.probe.startupTimeoutSeconds: 1800 s is longer than deployment.rolloutTimeoutSeconds (600 s, the Deployment's progress deadline): the rollout would be declared failed while a pod is still allowed to start; raise deployment.rolloutTimeoutSeconds or lower this"]);
        assert.deepStrictEqual(errs((x) => { Object.assign(x.deployment, { replicas: 1, podDisruptionBudget: { minAvailable: 1 } }); }),
            ["deployment.podDisruptionBudget: minAvailable 1 with 1 replica: no pod may ever be evicted, so every node drain (upgrades, autoscaler scale-down) stalls on this Deployment; allow one disruption (e.g. maxUnavailable: 1) or run more replicas"]);
        assert.strictEqual(budgetBlocksDrains({ minAvailable: "50%" }, 1), "minAvailable 50% with 1 replica", "50% of 1 rounds up to 1");
        assert.strictEqual(budgetBlocksDrains({ maxUnavailable: 0 }, 3), "maxUnavailable 0");
        assert.strictEqual(budgetBlocksDrains({ minAvailable: 1 }, 2), undefined);
        assert.strictEqual(budgetBlocksDrains({ maxUnavailable: "10%" }, 2), undefined, "10% of 2 rounds up to 1");
    });
});

describe("issue #22 item 7: pull credentials that expire", () => {
    it("registry.credentialHelper: the docker provider and skopeo ask docker-credential-<helper>; never with a stored password", () => {
        assert.deepStrictEqual(dockerRegistryAuth("123.dkr.ecr.us-east-1.amazonaws.com", false, undefined, "ecr-login"),
            { address: "https://123.dkr.ecr.us-east-1.amazonaws.com", configFileContent: '{"credHelpers":{"123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}' });
        assert.strictEqual(dockerHelperConfig("r:5000", "x"), '{"credHelpers":{"r:5000":"x"}}');
        assert.match(skopeoPushScript(), /credHelpers/);
        assert.deepStrictEqual(errs((x) => { (x.registry as Record<string, unknown>).credentialHelper = "ecr-login"; }),
            ["registry.credentialHelper: the push takes its credentials from the helper: unset registry.username and the registryPassword secret"]);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-helper-"));
        try {
            assert.match(credentialHelperProblem("ngdtest", dir)!, /^registry\.credentialHelper: docker-credential-ngdtest is not on PATH/);
            fs.writeFileSync(path.join(dir, "docker-credential-ngdtest"), "#!/bin/sh\n", { mode: 0o755 });
            assert.strictEqual(credentialHelperProblem("ngdtest", dir), undefined);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("pullUsername without its password is refused, never replaced by the push credentials", () => {
        const push = pulumi.secret("push-pw");
        assert.throws(() => pullCredentials({ host: "r", username: "pusher", pullUsername: "puller" }, { registryPassword: push }), /refusing to give the cluster the push credentials instead/);
        assert.strictEqual(pullCredentials({ host: "r", username: "pusher" }, { registryPassword: push })?.username, "pusher");
        assert.strictEqual(pullCredentials({ host: "r" }, {}), undefined, "a credential helper: the cluster pulls with its own identity");
    });
});

describe("issue #22 item 1: a namespace another stack uses is kept", () => {
    const OWNER = "0123456789abcdef0123456789abcdef";
    it("keepers: what is not the stack's, not built in, not owned by another object", () => {
        const listed = [
            { kind: "ConfigMap", items: [{ metadata: { name: "kube-root-ca.crt" } }] },
            { kind: "ServiceAccount", items: [{ metadata: { name: "default" } }] },
            { kind: "Deployment", items: [{ metadata: { name: "canary", annotations: { [OWNER_ANNOTATION]: "f".repeat(32), [STACK_ANNOTATION]: "o/p/canary" } } }] },
            { kind: "Pod", items: [{ metadata: { name: "canary-1", ownerReferences: [{ kind: "ReplicaSet" }] } }, { metadata: { name: "old", deletionTimestamp: "x" } }] },
            { kind: "Job", items: [{ metadata: { name: "mine", annotations: { [OWNER_ANNOTATION]: OWNER } } }] },
        ];
        assert.deepStrictEqual(keepers(listed, OWNER), ["Deployment canary (stack o/p/canary)"]);
        assert.deepStrictEqual(keepers(listed.slice(0, 2), OWNER), []);
    });
    it("the owner step keeps the id with the stack's name when it was made (a rename changes no annotation)", () => {
        assert.deepStrictEqual(parseOwnerRecord(`${OWNER} o/p/prod\n`), { id: OWNER, stack: "o/p/prod" });
        assert.deepStrictEqual(parseOwnerRecord(OWNER), { id: OWNER, stack: "" });
    });
    it("the release runs on destroy, in the namespace's cluster and context", () => {
        const r = namespaceReleaseCheck({ namespace: "ml-h100", context: "h100" });
        assert.match(r.delete, /kubernetes\/namespaceRelease\.ts/);
        assert.deepStrictEqual(r.environment, { NGD_NAMESPACE: "ml-h100", NGD_KUBE_CONTEXT: "h100" });
        assert.deepStrictEqual(gpuPlacement({ placement: "gfd", taintKey: "t", nodeSelector: {}, tolerations: [] }).tolerations, [{ key: "t", operator: "Exists", effect: "NoSchedule" }]);
    });
});
/* eslint-enable @typescript-eslint/no-explicit-any */
