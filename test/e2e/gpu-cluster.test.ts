// Issue #10 on the rehearsal cluster with what real GPU fleets have (cluster.sh with NGD_GPU_CLUSTER=1):
// two contexts in one kubeconfig, a namespace someone else owns, full GPU nodes, Jobs that exit 0
// and 1 (kwok stages), a T4 node, a MIG single-strategy node and a time-sliced node.
// Run alone, on its own cluster directory and ports, e.g.
//   NGD_CLUSTER_DIR=/tmp/ngd-gpu NGD_ETCD_PORT=33790 NGD_API_PORT=26443 NGD_KCM_PORT=30257 NGD_SCHED_PORT=30259 \
//   NGD_REGISTRY_PORT=6001 npx mocha --config .mocharc.e2e.json test/e2e/gpu-cluster.test.ts
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import {
    ClusterEnv, K8sObject, clusterDir, kubeGet, tearDownSuite, startSuite,
} from "./harness";

interface Figure { step: string; seconds: number; outcome: string }

/** POST to the rehearsal apiserver with the admin certificate (objects someone else created). */
function kubePost(env: ClusterEnv, apiPath: string, body: unknown): Promise<void> {
    const pki = (f: string) => fs.readFileSync(path.join(env.NGD_PKI, f));
    return new Promise((resolve, reject) => {
        const req = https.request(`${env.NGD_API}${apiPath}`, { method: "POST", ca: pki("ca.crt"), cert: pki("admin.crt"), key: pki("admin.key"), headers: { "Content-Type": "application/json" } }, (res) => {
            let out = "";
            res.on("data", (c) => (out += c));
            res.on("end", () => (res.statusCode === 201 || res.statusCode === 200 ? resolve() : reject(new Error(`POST ${apiPath}: ${res.statusCode} ${out.slice(0, 300)}`))));
        });
        req.on("error", reject);
        req.end(JSON.stringify(body));
    });
}

function kubeDelete(env: ClusterEnv, apiPath: string): Promise<void> {
    const pki = (f: string) => fs.readFileSync(path.join(env.NGD_PKI, f));
    return new Promise((resolve, reject) => {
        const req = https.request(`${env.NGD_API}${apiPath}`, { method: "DELETE", ca: pki("ca.crt"), cert: pki("admin.crt"), key: pki("admin.key") }, (res) => {
            res.resume();
            res.on("end", () => (res.statusCode === 200 || res.statusCode === 202 ? resolve() : reject(new Error(`DELETE ${apiPath}: ${res.statusCode}`))));
        });
        req.on("error", reject);
        req.end();
    });
}

describe("e2e (issue #10): the Kubernetes side on a GPU fleet", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    const figures: Figure[] = [];

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
    async function upFails(): Promise<string> {
        try {
            await stack.up({ color: "never" });
        } catch (e) {
            return String((e as Error).message);
        }
        return assert.fail("up should have failed");
    }
    async function previewFails(): Promise<string> {
        try {
            await stack.preview({ color: "never" });
        } catch (e) {
            return String((e as Error).message);
        }
        return assert.fail("preview should have failed");
    }
    const upOut = async () => (await stack.up({ color: "never" })).stdout;

    before(async () => {
        process.env.NGD_GPU_CLUSTER = "1";
        ({ env, work, project, stack } = await startSuite("ngd-gpu-e2e-"));
        await set("deployment.rolloutTimeoutSeconds", "60");
    });

    after(async () => {
        if (figures.length > 0) {
            console.log(`\n      ${"step".padEnd(44)} wall s  outcome`);
            for (const f of figures) {
                console.log(`      ${f.step.padEnd(44)} ${f.seconds.toFixed(1).padStart(6)}  ${f.outcome}`);
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
        assert.strictEqual(ns.metadata.annotations["nix-gpu-deploy/owner"], "nix-gpu-deploy/local", "the namespace carries the stack's owner annotation");
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
