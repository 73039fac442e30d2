// The real thing: Pulumi engine + plugins, Debian nix, a registry with htpasswd auth, and a
// rehearsal cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok GPU nodes) on loopback.
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ClusterEnv, K8sObject, cluster, clusterPids, copyProject, imageBytes, kubeGet, localStack, toolShims,
    nonLoopbackListeners, readClusterEnv, registryNumbers, runImage, waitUntil,
} from "./harness";

interface StepFigures {
    step: string;
    seconds: number;
    nixBuilds: number;
    bytesPushed: number;
    blobUploads: number;
    generation: string;
}

describe("e2e: pulumi up/preview/destroy against the rehearsal GPU cluster", function () {
    this.timeout(20 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let builds: { count: () => number };
    const figures: StepFigures[] = [];
    const ns = "ml-local";
    let lastRef = "";

    const deployment = (): Promise<K8sObject | undefined> => kubeGet(env, `/apis/apps/v1/namespaces/${ns}/deployments/fixture`);
    const pods = async (): Promise<K8sObject[]> => ((await kubeGet(env, `/api/v1/namespaces/${ns}/pods`))?.items ?? [])
        .filter((p: K8sObject) => p.metadata.deletionTimestamp === undefined);
    const nodeProducts = async (): Promise<Record<string, string>> => {
        const nodes = await kubeGet(env, "/api/v1/nodes");
        return Object.fromEntries(nodes.items.map((n: K8sObject) => [n.metadata.name, n.metadata.labels["nvidia.com/gpu.product"] ?? "cpu"]));
    };

    /** Runs `fn`, recording wall time, nix-builds, registry growth and the Deployment's generation. */
    async function measured(step: string, fn: () => Promise<void>): Promise<StepFigures> {
        const b0 = builds.count();
        const r0 = registryNumbers(env);
        const t0 = Date.now();
        let failure: unknown;
        try {
            await fn();
        } catch (e) {
            failure = e;
        }
        const r1 = registryNumbers(env);
        const dep = await deployment();
        const f: StepFigures = {
            step, seconds: (Date.now() - t0) / 1000, nixBuilds: builds.count() - b0,
            bytesPushed: r1.storageBytes - r0.storageBytes, blobUploads: r1.blobUploads - r0.blobUploads,
            generation: dep === undefined ? "-" : String(dep.metadata.generation),
        };
        figures.push(f);
        console.log(`      [${step}] ${f.seconds.toFixed(1)} s, nix-builds ${f.nixBuilds}, pushed ${f.bytesPushed} B in ${f.blobUploads} blob uploads, Deployment generation ${f.generation}`);
        if (failure !== undefined) {
            throw failure;
        }
        return f;
    }

    before(async () => {
        cluster("up");
        env = readClusterEnv();
        work = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-e2e-"));
        project = copyProject();
        fs.mkdirSync(path.join(work, "state"));
        const counter = toolShims(work);
        builds = counter;
        stack = await localStack(project, path.join(work, "state"), [counter.binDir]);
        await stack.setConfig("registryPassword", { value: fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim(), secret: true });
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.setConfig("registry.host", { value: env.NGD_REGISTRY }, true);
    });

    after(async () => {
        if (figures.length > 0) {
            console.log("\n      step                         wall s  nix-builds  bytes pushed  blob uploads  generation");
            for (const f of figures) {
                console.log(`      ${f.step.padEnd(28)} ${f.seconds.toFixed(1).padStart(6)}  ${String(f.nixBuilds).padStart(10)}  ${String(f.bytesPushed).padStart(12)}  ${String(f.blobUploads).padStart(12)}  ${f.generation.padStart(10)}`);
            }
        }
        const bad = nonLoopbackListeners(clusterPids());
        cluster("down");
        const alive = clusterPids().filter((p) => fs.existsSync(`/proc/${p}`));
        if (project !== undefined) {
            fs.rmSync(project, { recursive: true, force: true });
        }
        assert.deepStrictEqual(bad, [], "every server listens on loopback only");
        assert.deepStrictEqual(alive, [], "every started process is stopped");
    });

    it("1. up on a fresh stack builds, pushes, and runs pods only on the configured GPU product", async () => {
        let outputs: Record<string, { value: unknown }> = {};
        const f = await measured("1 up (fresh)", async () => {
            const res = await stack.up({ color: "never" });
            outputs = res.outputs;
        });
        assert.strictEqual(f.nixBuilds, 1);
        assert.ok(f.bytesPushed > 0);
        lastRef = String(outputs.imageRef.value);
        assert.match(lastRef, new RegExp(`^${env.NGD_REGISTRY.replace(/\./g, "\\.")}/ml/fixture@sha256:[a-f0-9]{64}$`));
        const dep = await deployment();
        assert.strictEqual(dep.spec.template.spec.containers[0].image, lastRef);
        const products = await nodeProducts();
        await waitUntil("2 running pods", 60, async () => (await pods()).filter((p) => p.status.phase === "Running").length === 2);
        for (const p of await pods()) {
            assert.strictEqual(products[p.spec.nodeName], "NVIDIA-H100-80GB-HBM3", `${p.metadata.name} on ${p.spec.nodeName}`);
        }
        const available = dep.status.conditions.find((c: K8sObject) => c.type === "Available");
        assert.strictEqual(available?.status, "True");
        // kwok runs no containers: prove the pushed image is real by pulling and running it in dockerd.
        const logs = runImage(env, lastRef);
        console.log(`      docker run ${lastRef.slice(-20)}: ${JSON.stringify(logs.trim())}`);
        assert.match(logs, /hello from the local stack[\s\S]*cuda capabilities: 9\.0/);
    });

    it("2. nothing changed: preview shows no changes; up runs no build, pushes nothing, keeps the generation", async () => {
        const preview = await stack.preview({ color: "never" });
        const changes = Object.entries(preview.changeSummary).filter(([op]) => op !== "same");
        assert.deepStrictEqual(changes, [], preview.stdout);
        const gen0 = (await deployment()).metadata.generation;
        const f = await measured("2 up (unchanged)", async () => {
            const res = await stack.up({ color: "never" });
            assert.deepStrictEqual(Object.keys(res.summary.resourceChanges ?? {}), ["same"]);
        });
        assert.strictEqual(f.nixBuilds, 0, "no nix-build");
        assert.strictEqual(f.bytesPushed, 0, "no bytes pushed");
        assert.strictEqual(f.blobUploads, 0, "no blob uploads");
        assert.strictEqual(f.generation, String(gen0), "Deployment generation unchanged");
    });

    it("3. an overlay change: preview names it before building; up deploys the new digest, pushing only changed layers", async () => {
        const overlay = path.join(project, "test/fixture/overlay/greeting.nix");
        fs.writeFileSync(overlay, fs.readFileSync(overlay, "utf8").replace("greeting = text;", "greeting = text + \" (re-flagged)\";"));
        const b0 = builds.count();
        const preview = await stack.preview({ diff: true, color: "never" });
        assert.strictEqual(builds.count(), b0, "preview builds nothing");
        const out = preview.stdout;
        assert.match(out, /\+-\s*command:local:Command: \(replace\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*local-image-build\]/, out);
        assert.match(out, /NGD_OVERLAY_greeting/, "the diff names the overlay");
        assert.match(out, /drv\s*:\s*"\/nix\/store\/[a-z0-9]{32}-ml-fixture-image-stream\.drv" => "\/nix\/store\/[a-z0-9]{32}-ml-fixture-image-stream\.drv"/, "the diff shows the new derivation");
        assert.match(out, /~\s+kubernetes:apps\/v1:Deployment: \(update\)/, "the Deployment will change (an update, not a replace)");
        assert.match(out, /image\s*:\s*"[^"]+@sha256:[a-f0-9]{64}" => \[unknown\]/, "its image will change");
        assert.ok((preview.changeSummary.replace ?? 0) >= 1 && (preview.changeSummary.update ?? 0) >= 1, JSON.stringify(preview.changeSummary));
        const before = lastRef;
        let ref = "";
        const f = await measured("3 up (overlay changed)", async () => {
            const res = await stack.up({ color: "never" });
            ref = String(res.outputs.imageRef.value);
        });
        assert.notStrictEqual(ref, before);
        assert.strictEqual((await deployment()).spec.template.spec.containers[0].image, ref);
        const size = imageBytes(env, ref);
        console.log(`      image ${size} B; pushed ${f.bytesPushed} B (${(100 * f.bytesPushed / size).toFixed(1)}%)`);
        assert.strictEqual(f.nixBuilds, 1);
        assert.ok(f.bytesPushed > 0 && f.bytesPushed < size, `pushed ${f.bytesPushed} of ${size}`);
        lastRef = ref;
    });

    it("4. a new GPU product moves the pods; an unsatisfiable request fails within its timeout with the scheduler's reason", async () => {
        await stack.setConfig("gpu.product", { value: "NVIDIA-A100-SXM4-80GB" }, true);
        await measured("4a up (A100)", async () => {
            await stack.up({ color: "never" });
        });
        const products = await nodeProducts();
        await waitUntil("pods on the A100 node", 60, async () => {
            const ps = await pods();
            return ps.length === 2 && ps.every((p) => products[p.spec.nodeName] === "NVIDIA-A100-SXM4-80GB" && p.status.phase === "Running");
        });

        await stack.setConfig("gpu.count", { value: "16" }, true);
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "30" }, true);
        const t0 = Date.now();
        let message = "";
        await measured("4b up (16 GPUs: fails)", async () => {
            await assert.rejects(stack.up({ color: "never" }), (e: Error) => {
                message = e.message;
                return true;
            });
        });
        const seconds = (Date.now() - t0) / 1000;
        assert.ok(seconds < 30 + 120, `failed after ${seconds} s`);
        assert.match(message, /Unschedulable: 0\/4 nodes are available:.*Insufficient nvidia\.com\/gpu/, message.slice(-3000));

        await stack.setConfig("gpu.count", { value: "1" }, true);
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "120" }, true);
        await measured("4c up (recovered)", async () => {
            await stack.up({ color: "never" });
        });
        await waitUntil("2 running pods again", 60, async () => (await pods()).filter((p) => p.status.phase === "Running").length === 2);
    });

    it("5. destroy leaves no Deployment or namespace behind", async () => {
        await measured("5 destroy", async () => {
            await stack.destroy({ color: "never" });
        });
        assert.strictEqual(await deployment(), undefined);
        assert.strictEqual(await kubeGet(env, `/api/v1/namespaces/${ns}`), undefined);
    });
});
