// Issue #10 on the rehearsal cluster with what real GPU fleets have (cluster.sh with NGD_GPU_CLUSTER=1):
// two contexts in one kubeconfig, a namespace someone else owns, full GPU nodes, Jobs that exit 0
// and 1 (kwok stages), a T4 node, a MIG single-strategy node and a time-sliced node.
// Run alone, on its own cluster directory and ports, e.g.
//   NGD_CLUSTER_DIR=/tmp/ngd-gpu NGD_ETCD_PORT=33790 NGD_API_PORT=26443 NGD_KCM_PORT=30257 NGD_SCHED_PORT=30259 \
//   NGD_REGISTRY_PORT=6001 npx mocha --config .mocharc.e2e.json test/e2e/gpu-cluster.test.ts
import * as k8s from "@pulumi/kubernetes";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import {
    ClusterEnv, K8sObject, Shims, builtFromUpstream, clusterDir, kubeGet, pulumiEnv, tearDownSuite, startSuite, waitUntil, watchPlugins,
} from "./harness";

interface Figure { step: string; seconds: number; outcome: string }
/** Issue #22's table: a fleet case, its outcome, and what it kept and deleted in the cluster. */
interface FleetCase { name: string; outcome: string; kept: string; deleted: string }

/** A request to the rehearsal apiserver with the admin certificate; rejects on any other status than `ok`. */
function kubeSend(env: ClusterEnv, method: string, apiPath: string, body: unknown, contentType: string, ok: number[]): Promise<void> {
    const pki = (f: string) => fs.readFileSync(path.join(env.NGD_PKI, f));
    return new Promise((resolve, reject) => {
        const headers = body === undefined ? {} : { "Content-Type": contentType };
        const req = https.request(`${env.NGD_API}${apiPath}`, { method, ca: pki("ca.crt"), cert: pki("admin.crt"), key: pki("admin.key"), headers }, (res) => {
            let out = "";
            res.on("data", (c) => (out += c));
            res.on("end", () => (ok.includes(res.statusCode ?? 0) ? resolve() : reject(new Error(`${method} ${apiPath}: ${res.statusCode} ${out.slice(0, 300)}`))));
        });
        req.on("error", reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}
/** POST: objects someone else created. */
const kubePost = (env: ClusterEnv, apiPath: string, body: unknown) => kubeSend(env, "POST", apiPath, body, "application/json", [200, 201]);
/** A JSON merge patch (labels on a pod: the kwok stages of test/e2e/kwok-pod-stages.yaml act on them). */
const kubePatch = (env: ClusterEnv, apiPath: string, body: unknown) => kubeSend(env, "PATCH", apiPath, body, "application/merge-patch+json", [200]);
const kubeDelete = (env: ClusterEnv, apiPath: string) => kubeSend(env, "DELETE", apiPath, undefined, "", [200, 202]);

describe("e2e (issue #10): the Kubernetes side on a GPU fleet", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let shims: Shims;
    let password: string;
    const figures: Figure[] = [];
    const fleet: FleetCase[] = [];
    const fleetCase = (c: FleetCase) => {
        fleet.push(c);
        console.log(`      [#22 ${c.name}] ${c.outcome}; kept: ${c.kept}; deleted: ${c.deleted}`);
    };

    const pods = async (ns: string): Promise<K8sObject[]> => ((await kubeGet(env, `/api/v1/namespaces/${ns}/pods`))?.items ?? [])
        .filter((p: K8sObject) => p.metadata.deletionTimestamp === undefined);
    const set = (key: string, value: string) => stack.setConfig(key, { value }, true);
    const unset = (key: string) => stack.removeConfig(key, true);

    async function step<T>(name: string, fn: () => Promise<T>, outcome: (r: T) => string = () => "ok"): Promise<T> {
        const t0 = Date.now();
        try {
            const r = await fn();
            const f = { step: name, seconds: (Date.now() - t0) / 1000, outcome: outcome(r) };
            figures.push(f);
            console.log(`      [${name}] ${f.seconds.toFixed(1)} s: ${f.outcome}`);
            return r;
        } catch (e) {
            figures.push({ step: name, seconds: (Date.now() - t0) / 1000, outcome: `FAILED ${(e as Error).message.split("\n")[0].slice(0, 100)}` });
            console.log(`      [${name}] failed:\n${String((e as Error).message).slice(-4000)}`);
            throw e;
        }
    }
    /** `up` that must fail; its output. */
    /** Runs a Pulumi operation that must fail; its message. */
    async function fails(what: string, run: () => Promise<unknown>): Promise<string> {
        try {
            await run();
        } catch (e) {
            return String((e as Error).message);
        }
        return assert.fail(`${what} should have failed`);
    }
    const upFails = () => fails("up", () => stack.up({ color: "never" }));
    const previewFails = () => fails("preview", () => stack.preview({ color: "never" }));
    const upOut = async () => (await stack.up({ color: "never" })).stdout;

    before(async () => {
        process.env.NGD_GPU_CLUSTER = "1";
        ({ env, work, project, stack, shims, password } = await startSuite("ngd-gpu-e2e-"));
        await set("deployment.rolloutTimeoutSeconds", "60");
    });

    after(async () => {
        if (figures.length > 0) {
            console.log(`\n      ${"step".padEnd(44)} wall s  outcome`);
            for (const f of figures) {
                console.log(`      ${f.step.padEnd(44)} ${f.seconds.toFixed(1).padStart(6)}  ${f.outcome}`);
            }
        }
        if (fleet.length > 0) {
            console.log("\n      issue #22: several stacks, other node pools, long Jobs");
            console.log(`      ${"case".padEnd(46)} | ${"outcome".padEnd(60)} | ${"objects kept".padEnd(44)} | objects deleted`);
            for (const c of fleet) {
                console.log(`      ${c.name.padEnd(46)} | ${c.outcome.padEnd(60)} | ${c.kept.padEnd(44)} | ${c.deleted}`);
            }
        }
        try {
            tearDownSuite(work, project);
        } finally {
            delete process.env.NGD_GPU_CLUSTER;
        }
    });

    it("1. two contexts in one kubeconfig: provider and rollout check both use cluster.context, not the (decoy) current context", async () => {
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(path.join(clusterDir(), "two-contexts.kubeconfig"), "utf8"), secret: true });
        await set("cluster.context", "rehearsal");
        const out = await step("up via context rehearsal (current: decoy)", upOut);
        assert.match(out, new RegExp(`waiting for Deployment ml-local/fixture on ${env.NGD_API.replace(/\./g, "\\.")} \\(context rehearsal\\)`), out);
        assert.strictEqual((await kubeGet(env, "/apis/apps/v1/namespaces/ml-local/deployments/fixture"))?.status.availableReplicas, 2);
        const ns = await kubeGet(env, "/api/v1/namespaces/ml-local");
        assert.match(ns.metadata.annotations["nix-gpu-deploy/owner"], /^[0-9a-f]{32}$/, "the namespace carries the stack's owner id");
        assert.strictEqual(ns.metadata.annotations["nix-gpu-deploy/owner"], String((await stack.outputs()).owner.value));
        assert.strictEqual(ns.metadata.annotations["nix-gpu-deploy/stack"], "organization/nix-gpu-deploy/local");
    });

    it("3. renaming a Deployment that fills every H100 GPU: the old one is deleted before the new one is created", async () => {
        await set("gpu.count", "8");
        await step("up: 2 pods x 8 GPUs (both H100 nodes full)", upOut);
        await set("deployment.name", "fixture-big");
        const out = await step("up: rename on full GPU nodes", upOut);
        assert.match(out, /rolled out generation|waiting for Deployment ml-local\/fixture-big/, out);
        assert.strictEqual(await kubeGet(env, "/apis/apps/v1/namespaces/ml-local/deployments/fixture"), undefined, "old Deployment gone");
        const dep = await kubeGet(env, "/apis/apps/v1/namespaces/ml-local/deployments/fixture-big");
        assert.strictEqual(dep.status.availableReplicas, 2);
        await set("gpu.count", "1");
        await set("deployment.name", "fixture");
    });

    it("2. never takes over what it did not create: a foreign namespace is refused; createNamespace: false deploys into it; a foreign Deployment is refused", async () => {
        await set("cluster.namespace", "team-data");
        const refused = await step("preview into team-data (someone else's)", previewFails, () => "refused");
        assert.match(refused, /namespace team-data already exists and this stack did not create it \(not created by nix-gpu-deploy\): refusing to take it over/, refused);
        assert.doesNotMatch(refused, /\n\s+at .*\.(ts|js):\d+/, "no stack trace");
        await kubePost(env, "/apis/apps/v1/namespaces/team-data/deployments", {
            apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "squatter", labels: { team: "data" } },
            spec: { replicas: 0, selector: { matchLabels: { app: "squatter" } }, template: { metadata: { labels: { app: "squatter" } }, spec: { containers: [{ name: "c", image: "busybox" }] } } },
        });
        await set("cluster.createNamespace", "false");
        await set("deployment.name", "squatter");
        const squat = await step("preview: Deployment team-data/squatter exists", previewFails, () => "refused");
        assert.match(squat, /Deployment team-data\/squatter already exists and this stack did not create it/, squat);
        await set("deployment.name", "fixture");
        await step("up into team-data (createNamespace: false)", upOut);
        assert.strictEqual((await kubeGet(env, "/apis/apps/v1/namespaces/team-data/deployments/fixture"))?.status.availableReplicas, 2);
        assert.strictEqual((await kubeGet(env, "/apis/apps/v1/namespaces/team-data/deployments/squatter"))?.metadata.labels.team, "data", "the foreign Deployment untouched");
    });

    it("1. pods that cannot be created: the ReplicaSet's ReplicaFailure and the Warning events are reported as they appear", async () => {
        await kubePost(env, "/api/v1/namespaces/team-data/resourcequotas", { apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "gpu-quota" }, spec: { hard: { "requests.nvidia.com/gpu": "2" } } });
        await set("gpu.count", "2");
        await set("deployment.rolloutTimeoutSeconds", "30");
        try {
            const q = await step("up: GPU quota exceeded (30 s timeout)", upFails, () => "failed, quota named");
            assert.match(q, /replicaset fixture-[a-z0-9]+: FailedCreate: pods "fixture-[^"]+" is forbidden: exceeded quota: gpu-quota/, q);
            assert.match(q, /event replicaset fixture-[a-z0-9]+: FailedCreate: .*exceeded quota: gpu-quota/, q);
            assert.ok(q.indexOf("exceeded quota") < q.indexOf("did not roll out within 30s"), "reported as it appeared, before the deadline");
        } finally {
            await kubeDelete(env, "/api/v1/namespaces/team-data/resourcequotas/gpu-quota");
            await set("gpu.count", "1");
            await set("deployment.rolloutTimeoutSeconds", "60");
        }
        await step("up after the quota is lifted", upOut);
    });

    let jobCompletion = "";
    it("5. a Job: up waits for its completion and reports the completion time and exit code; a failing Job fails up with exit code 1", async () => {
        await unset("deployment.replicas");
        await unset("deployment.strategy");
        await set("deployment.kind", "Job");
        await set("deployment.name", "train");
        const out = await step("up: Job that exits 0", upOut, (o) => /job team-data\/train completed in \d+s: exit code 0/.exec(o)?.[0] ?? "?");
        const m = /job team-data\/train completed in (\d+)s: exit code (\d+)/.exec(out);
        assert.ok(m, out);
        jobCompletion = `completed in ${m[1]} s, exit code ${m[2]}`;
        console.log(`      Job step: ${jobCompletion}`);
        assert.strictEqual((await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train"))?.status.succeeded, 1);
        // kwok's chaos stage fails a pod with this label, with the exit code of the annotation.
        await stack.setConfig("deployment.podLabels[\"pod-container-running-failed.stage.kwok.x-k8s.io\"]", { value: "true" }, true);
        await stack.setConfig("deployment.podAnnotations[\"pod-container-running-failed.stage.kwok.x-k8s.io/exit-code\"]", { value: "1" }, true);
        let failed: string;
        try {
            failed = await step("up: Job that exits 1", upFails, (o) => /job team-data\/train failed in \d+s: exit code 1[^\n]*/.exec(o)?.[0] ?? "?");
        } finally {
            await unset("deployment.podLabels");
            await unset("deployment.podAnnotations");
        }
        const f = /job team-data\/train failed in (\d+)s: exit code (\d+), BackoffLimitExceeded/.exec(failed);
        assert.ok(f, failed);
        assert.match(failed, /pod train-[a-z0-9]+, container train: exit 1 \(containerFailed\)/);
        assert.match(failed, /last log lines of pod train-[a-z0-9]+, container train:\n.*\| \(logs unavailable: /, "kwok runs no kubelet: the log fetch fails and says so");
        console.log(`      failing Job step: failed in ${f[1]} s, exit code ${f[2]}`);
    });

    const nodeOfJobPod = async () => (await pods("team-data")).filter((p) => p.metadata.name.startsWith("train-") && p.status.phase === "Succeeded").map((p) => p.spec.nodeName);
    it("6. the GPU model: T4 refused for a 9.0/8.0 build at preview; Tesla-T4, MIG single strategy and a time-sliced renamed resource each land on their node; a missing RuntimeClass is named", async () => {
        await set("gpu.product", "Tesla-T4");
        const cap = await step("preview: T4 with cudaCapabilities [9.0, 8.0]", previewFails, () => "refused");
        assert.match(cap, /gpu\.product: "Tesla-T4" has CUDA compute capability 7\.5, but nix\.cudaCapabilities \[9\.0, 8\.0\] builds no code that runs on it/, cap);
        await set("nix.cudaCapabilities[2]", "7.5");
        await step("up: Job on Tesla-T4", upOut);
        assert.deepStrictEqual(await nodeOfJobPod(), ["gpu-t4-0"]);

        await set("gpu.product", "NVIDIA-A100-SXM4-40GB");
        await unset("gpu.count");
        await set("gpu.migProfile", "1g.5gb");
        await set("gpu.migStrategy", "single");
        await step("up: Job on a MIG single-strategy node", upOut);
        assert.deepStrictEqual(await nodeOfJobPod(), ["gpu-a100-mig-0"]);
        const job = await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train");
        assert.strictEqual(job.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
        assert.strictEqual(job.spec.template.spec.nodeSelector["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb");

        await unset("gpu.migProfile");
        await unset("gpu.migStrategy");
        await set("gpu.product", "Tesla-T4");
        await set("gpu.count", "1");
        await set("gpu.resourceName", "nvidia.com/gpu.shared");
        await step("up: Job on the time-sliced T4 (nvidia.com/gpu.shared)", upOut);
        assert.deepStrictEqual(await nodeOfJobPod(), ["gpu-t4-shared-0"]);

        await set("gpu.runtimeClassName", "nvidia-legacy");
        const rc = await step("preview: RuntimeClass the cluster lacks", previewFails, () => "refused");
        assert.match(rc, /gpu\.runtimeClassName: the cluster has no RuntimeClass nvidia-legacy, so its pods would be refused \(GKE/, rc);
        await set("gpu.runtimeClassName", "nvidia");
    });

    const jobPods = async () => (await pods("team-data")).filter((p) => p.metadata.name.startsWith("train-"));
    it("#22 item 3: placement profiles: a GKE node pool without GFD labels; a profile that scales from zero warns; an x86_64 image is never placed on the arm64 GPU node", async () => {
        await unset("gpu.resourceName");
        await set("gpu.product", "NVIDIA-H100-80GB-HBM3");
        await set("gpu.placement", "gke");
        await step("up: Job on the GKE pool (gke-accelerator, no GFD)", upOut);
        const on = (await pods("team-data")).filter((p) => p.metadata.name.startsWith("train-") && p.status.phase === "Succeeded").map((p) => p.spec.nodeName);
        assert.deepStrictEqual(on, ["gke-h100-0"]);
        fleetCase({ name: "gke profile on a GKE pool without GFD", outcome: "Job ran on gke-h100-0 (cloud.google.com/gke-accelerator)", kept: "-", deleted: "the previous (finished) Job train" });
        await set("gpu.accelerator", "nvidia-l4");
        const warned = await step("preview: gke profile, no nvidia-l4 node yet", async () => (await stack.preview({ color: "never" })).stdout, () => "warned, not refused");
        assert.match(warned, /warning: gpu\.placement: no node of the cluster matches the gke profile \(kubernetes\.io\/arch=amd64, cloud\.google\.com\/gke-accelerator=nvidia-l4; tolerating nvidia\.com\/gpu\): the pods stay Pending until the autoscaler adds such a node/, warned);
        fleetCase({ name: "gke profile, no matching node (scales from 0)", outcome: "preview warns, names profile and labels", kept: "-", deleted: "-" });
        await unset("gpu.accelerator");
        await set("gpu.placement", "gfd");
        await set("gpu.product", "NVIDIA-GH200-480GB");
        const arm = await step("preview: GH200 (an arm64 node) for an x86_64 image", previewFails, () => "refused");
        assert.match(arm, /gpu\.placement: no node of the cluster matches the gfd profile \(kubernetes\.io\/arch=amd64, nvidia\.com\/gpu\.product=NVIDIA-GH200-480GB, .*the pods would stay Pending; the cluster's nodes carry the labels of: gfd \(nvidia\.com\/gpu\.product\), gke \(cloud\.google\.com\/gke-accelerator\)/, arm);
        fleetCase({ name: "x86_64 image, only GPU node of that model is arm64", outcome: "preview refused: no node matches kubernetes.io/arch=amd64", kept: "-", deleted: "-" });
        await set("gpu.product", "NVIDIA-H100-80GB-HBM3");
    });

    it("#22 item 5: a week-long Job: wait: false returns while it runs; a replace is refused; a drain does not fail it; after its ttl, up --refresh does not run it again", async () => {
        await set("deployment.wait", "false");
        await set("deployment.ttlSecondsAfterFinished", "5");
        await stack.setConfig("deployment.podLabels[\"ngd-e2e/hold\"]", { value: "true" }, true);
        const started = await step("up: long Job, deployment.wait false", upOut, (o) => /job team-data\/train started at \S+/.exec(o)?.[0] ?? "?");
        assert.match(started, /not waiting for its completion \(deployment\.wait: false\)/, started);
        const job = await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train");
        assert.strictEqual(job.status.active, 1, "up returned while the Job runs");
        assert.deepStrictEqual(job.spec.podFailurePolicy.rules[0], { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] });
        const outputs = await stack.outputs();
        assert.strictEqual(JSON.parse(String(outputs.job.value)).state, "Running");
        fleetCase({ name: "wait: false", outcome: "up returned with the Job running (1 active); output job: Running", kept: "Job train", deleted: "-" });

        await set("deployment.env.EPOCHS", "90");
        const replace = await step("preview: a change that replaces the running Job", previewFails, () => "refused");
        assert.match(replace, /Job team-data\/train has been running for \d+s \(since \S+\); this change replaces it, deleting its pods and their progress: wait until it finishes, or set deployment\.replaceRunning: true/, replace);
        console.log(`      ${/Job team-data\/train has been running[^\n]*/.exec(replace)?.[0] ?? ""}`);
        fleetCase({ name: "replace of a running Job", outcome: "preview refused, naming Job team-data/train and its run time", kept: "Job train (running)", deleted: "-" });
        await unset("deployment.env");

        const [first] = (await jobPods()).filter((p) => p.status.phase === "Running");
        assert.ok(first, "a running pod");
        await kubePatch(env, `/api/v1/namespaces/team-data/pods/${first.metadata.name}`, { metadata: { labels: { "ngd-e2e/drain": "true" } } });
        await step("drain: the pod ends with DisruptionTarget", () => waitUntil("a replacement pod runs", 60, async () =>
            (await jobPods()).some((p) => p.metadata.name !== first.metadata.name && p.status.phase === "Running")));
        const drained = (await jobPods()).find((p) => p.metadata.name === first.metadata.name);
        assert.ok(drained === undefined || (drained.status.conditions ?? []).some((c: K8sObject) => c.type === "DisruptionTarget" && c.status === "True"), JSON.stringify(drained?.status));
        const after = await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train");
        assert.ok(!(after.status.conditions ?? []).some((c: K8sObject) => c.type === "Failed" && c.status === "True"), `backoffLimit 0, yet not failed: ${JSON.stringify(after.status)}`);
        assert.strictEqual(after.status.failed ?? 0, 0, "the disruption is not counted as a failure");
        fleetCase({ name: "node drain mid-run (DisruptionTarget)", outcome: "Job continues on a new pod; failed 0 with backoffLimit 0", kept: "Job train", deleted: `pod ${first.metadata.name}` });

        const [second] = (await jobPods()).filter((p) => p.status.phase === "Running");
        await kubePatch(env, `/api/v1/namespaces/team-data/pods/${second.metadata.name}`, { metadata: { labels: { "ngd-e2e/release": "true" } } });
        await step("the training finishes; ttlSecondsAfterFinished 5 deletes the Job", () => waitUntil("the Job is deleted by its ttl", 90, async () =>
            (await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train")) === undefined));
        const refreshed = await step("up --refresh after the ttl", async () => (await stack.up({ color: "never", refresh: true })).stdout, () => "not run again");
        assert.match(refreshed, /Job team-data\/train with this spec was running at the last up \(since \S+\), and it is gone from the cluster \(deleted by its ttlSecondsAfterFinished, or by hand\): not run again/, refreshed);
        assert.strictEqual(await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train"), undefined, "no new Job");
        assert.deepStrictEqual((await jobPods()).filter((p) => p.status.phase === "Running" || p.status.phase === "Pending"), [], "no new pod");
        fleetCase({ name: "ttlSecondsAfterFinished + up --refresh", outcome: "finished training not run again (note in up)", kept: "-", deleted: "Job train (by its ttl)" });
        await unset("deployment.podLabels");
        await unset("deployment.ttlSecondsAfterFinished");
        await unset("deployment.wait");
    });

    it("#22 item 7: a push through a docker credential helper (skopeo asks docker-credential-<helper>; no stored password)", async () => {
        const log = path.join(work, "credential-helper.log");
        // The docker-credential protocol: `get` reads the registry on stdin and prints the credentials.
        fs.writeFileSync(path.join(shims.binDir, "docker-credential-ngdtest"),
            `#!/bin/sh\n[ "$1" = get ] || exit 1\nread -r server\necho "get $server" >> ${log}\nprintf '{"ServerURL":"%s","Username":"ngd","Secret":"%s"}\\n' "$server" '${password}'\n`, { mode: 0o755 });
        await unset("registry.username");
        await stack.removeConfig("registryPassword");
        await set("registry.credentialHelper", "ngdtest");
        await set("image.tag", "via-helper");
        await step("up: push with registry.credentialHelper", upOut);
        const calls = fs.readFileSync(log, "utf8");
        assert.match(calls, new RegExp(`get ${env.NGD_REGISTRY.replace(/\./g, "\\.")}`), calls);
        fleetCase({ name: "registry.credentialHelper push", outcome: "skopeo pushed :via-helper with the helper's credentials", kept: "-", deleted: "the pull secret train-registry (no push password to reuse)" });
        await unset("image.tag");
    });

    it("#22 item 1: two stacks on one cluster: a canary copied from prod is refused prod's objects; destroying the canary leaves prod running; destroying prod keeps the namespace the canary uses", async () => {
        const envVars = pulumiEnv(path.join(work, "state"), env);
        const stackOf = async (name: string) => LocalWorkspace.createOrSelectStack({ stackName: name, workDir: project }, { envVars });
        // prod: its own namespace, a Deployment; the kubeconfig and registry of the suite's stack.
        fs.copyFileSync(path.join(project, "Pulumi.local.yaml"), path.join(project, "Pulumi.prod.yaml"));
        const prod = await stackOf("prod");
        for (const [k, v] of [["cluster.namespace", "ml-fleet"], ["cluster.createNamespace", "true"], ["deployment.kind", "Deployment"], ["deployment.name", "serve"], ["deployment.replicas", "1"]]) {
            await prod.setConfig(k, { value: v }, true);
        }
        for (const k of ["image.tag", "deployment.wait", "deployment.ttlSecondsAfterFinished", "deployment.replaceRunning", "deployment.podLabels", "deployment.env"]) {
            await prod.removeConfig(k, true);
        }
        await step("prod: up", () => prod.up({ color: "never" }));
        const prodNs = await kubeGet(env, "/api/v1/namespaces/ml-fleet");
        const prodOwner = String((await prod.outputs()).owner.value);
        assert.match(prodOwner, /^[0-9a-f]{32}$/);
        assert.strictEqual(prodNs.metadata.annotations["nix-gpu-deploy/owner"], prodOwner);
        assert.match(prodNs.metadata.annotations["nix-gpu-deploy/stack"], /\/prod$/);
        const prodUid = (await kubeGet(env, "/apis/apps/v1/namespaces/ml-fleet/deployments/serve")).metadata.uid;

        // canary: prod's config file copied as it is (as a team copies Pulumi.h100.yaml).
        fs.copyFileSync(path.join(project, "Pulumi.prod.yaml"), path.join(project, "Pulumi.canary.yaml"));
        const canary = await stackOf("canary");
        const refused = await step("canary (prod's config copied): preview", () => fails("the canary's preview", () => canary.preview({ color: "never" })), () => "refused");
        assert.match(refused, new RegExp(`namespace ml-fleet already exists and this stack did not create it \\(owned by stack "[^"]+/prod", owner id ${prodOwner}\\)`), refused);
        assert.match(refused, new RegExp(`Deployment ml-fleet/serve already exists and this stack did not create it \\(owned by stack "[^"]+/prod", owner id ${prodOwner}\\)`), refused);
        console.log(refused.split("\n").filter((l) => /^\s+- (cluster\.namespace|Deployment)/.test(l)).map((l) => `      ${l.trim()}`).slice(0, 2).join("\n"));
        fleetCase({ name: "canary copied from prod: preview", outcome: "refused: namespace ml-fleet and Deployment serve, owner stack prod", kept: "prod's namespace, Deployment serve", deleted: "-" });

        await canary.setConfig("cluster.createNamespace", { value: "false" }, true);
        await canary.setConfig("deployment.name", { value: "serve-canary" }, true);
        await step("canary: up into prod's namespace (createNamespace: false)", () => canary.up({ color: "never" }));
        await step("canary: destroy", () => canary.destroy({ color: "never" }));
        const dep = await kubeGet(env, "/apis/apps/v1/namespaces/ml-fleet/deployments/serve");
        assert.strictEqual(dep?.metadata.uid, prodUid, "prod's Deployment untouched");
        assert.strictEqual(dep.status.availableReplicas, 1);
        assert.strictEqual((await kubeGet(env, "/api/v1/namespaces/ml-fleet"))?.metadata.uid, prodNs.metadata.uid, "prod's namespace untouched");
        assert.strictEqual(await kubeGet(env, "/apis/apps/v1/namespaces/ml-fleet/deployments/serve-canary"), undefined);
        fleetCase({ name: "destroy canary", outcome: "prod untouched (same namespace and Deployment uid, 1/1 available)", kept: "namespace ml-fleet, Deployment serve", deleted: "Deployment serve-canary" });

        await step("canary: up again", () => canary.up({ color: "never" }));
        const gone = await step("prod: destroy while the canary uses its namespace", async () => (await prod.destroy({ color: "never" })).stdout, () => "namespace kept");
        console.log(`      ${/kept namespace ml-fleet[^\n]*/.exec(gone)?.[0] ?? ""}`);
        assert.match(gone, /kept namespace ml-fleet on https:\/\/127\.0\.0\.1:\d+: it holds \d+ objects? this stack did not create: .*Deployment serve-canary \(stack [^)]+\/canary\)/, gone);
        assert.strictEqual(await kubeGet(env, "/apis/apps/v1/namespaces/ml-fleet/deployments/serve"), undefined);
        assert.strictEqual((await kubeGet(env, "/api/v1/namespaces/ml-fleet"))?.status.phase, "Active");
        assert.strictEqual((await kubeGet(env, "/apis/apps/v1/namespaces/ml-fleet/deployments/serve-canary"))?.status.availableReplicas, 1);
        fleetCase({ name: "destroy prod while canary uses its namespace", outcome: "namespace kept and named, with the canary's Deployment", kept: "namespace ml-fleet, Deployment serve-canary", deleted: "Deployment serve" });
        await step("canary: destroy", () => canary.destroy({ color: "never" }));
        await kubeDelete(env, "/api/v1/namespaces/ml-fleet");
        await prod.workspace.removeStack("prod");
        await canary.workspace.removeStack("canary");
    });

    it("#22 item 2: the Kubernetes provider that ran creates instead of upserting: an object that exists fails with AlreadyExists", async () => {
        await kubePost(env, "/api/v1/namespaces/team-data/configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "squatter-config" }, data: { owner: "team-data" } });
        const kubeconfig = fs.readFileSync(path.join(clusterDir(), "admin.kubeconfig"), "utf8");
        const program = async () => {
            const provider = new k8s.Provider("cluster", { kubeconfig, enableServerSideApply: true });
            new k8s.core.v1.ConfigMap("squat", { metadata: { name: "squatter-config", namespace: "team-data" }, data: { owner: "squatter" } }, { provider });
        };
        const probe = await LocalWorkspace.createOrSelectStack({ stackName: "already-exists", projectName: "ngd-provider-probe", program },
            { envVars: pulumiEnv(path.join(work, "state"), env) });
        const watcher = watchPlugins();
        const failed = await step("provider: create over an existing ConfigMap", () => fails("the create", () => probe.up({ color: "never" })), () => "AlreadyExists");
        const ran = watcher.stop().filter((p) => p.name === "pulumi-resource-kubernetes");
        const state = await probe.exportStack();
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the state's resources
        const providerRes = (state.deployment.resources ?? []).find((r: any) => r.type === "pulumi:providers:kubernetes");
        const version = String(providerRes?.inputs?.version ?? ran[0]?.version ?? "?");
        console.log(`      kubernetes provider that ran: v${version}: ${ran.map((p) => `${p.exe} (${p.fromUpstream === true ? `built from ../shared/upstream/${p.source}` : "not the upstream build"})`).join(", ")}`);
        if (builtFromUpstream("pulumi-resource-kubernetes")) {
            assert.ok(ran.length > 0 && ran.every((p) => p.fromUpstream === true && p.version === "4.32.0"), JSON.stringify(ran));
        }
        assert.match(failed, /already exists/, failed);
        assert.strictEqual((await kubeGet(env, "/api/v1/namespaces/team-data/configmaps/squatter-config"))?.data.owner, "team-data", "not adopted, not changed");
        fleetCase({ name: `provider v${version}: create over an existing object`, outcome: "AlreadyExists; the object is not adopted", kept: "ConfigMap squatter-config", deleted: "-" });
        await probe.destroy({ color: "never" });
        await probe.workspace.removeStack("already-exists");
    });

    it("destroy removes what the stack created and leaves what it did not (team-data and its squatter)", async () => {
        await step("destroy", () => stack.destroy({ color: "never" }));
        assert.strictEqual(await kubeGet(env, "/apis/batch/v1/namespaces/team-data/jobs/train"), undefined);
        assert.ok(await kubeGet(env, "/api/v1/namespaces/team-data"), "the foreign namespace survives destroy");
        assert.ok(await kubeGet(env, "/apis/apps/v1/namespaces/team-data/deployments/squatter"));
        const ml = await kubeGet(env, "/api/v1/namespaces/ml-local");
        assert.ok(ml === undefined || ml.status.phase === "Terminating", "the stack's own namespace is gone");
        console.log(`      Job completion reported: ${jobCompletion}`);
    });
});
