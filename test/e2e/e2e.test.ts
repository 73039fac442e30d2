// The real thing: the Pulumi engine and the upstream plugins, Debian nix, three registries (HTTP with
// auth, HTTP without, HTTPS with a private CA) and a rehearsal cluster (etcd, kube-apiserver,
// controller-manager, scheduler, kwok GPU nodes) on loopback. The whole scenario runs once per
// publisher (skopeo, then docker), each against freshly emptied registries, so their costs compare.
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
    ClusterEnv, K8sObject, PluginRun, ROOT, RegistryTarget, Shims, TOOLS, pulumiEnv, builtFromUpstream, cluster, imageBytes,
    imageManifest, kubeGet, refusedPreview, registryNumbers, registryTargets, runImage, useRegistry, waitUntil, watchPlugins, tearDownSuite, startSuite,
} from "./harness";

const PUBLISHERS = ["skopeo", "docker"] as const;
type PublisherName = typeof PUBLISHERS[number];

interface StepFigures {
    publisher: PublisherName;
    step: string;
    registry: string;
    seconds: number;
    nixBuilds: number;
    bytesPushed: number;
    blobUploads: number;
    generation: string;
}

describe("e2e: pulumi up/preview/destroy against the rehearsal GPU cluster", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let shims: Shims;
    let password: string;
    const figures: StepFigures[] = [];
    const plugins = new Map<string, PluginRun>();
    const ns = "ml-local";

    const deployment = (): Promise<K8sObject | undefined> => kubeGet(env, `/apis/apps/v1/namespaces/${ns}/deployments/fixture`);
    const pods = async (): Promise<K8sObject[]> => ((await kubeGet(env, `/api/v1/namespaces/${ns}/pods`))?.items ?? [])
        .filter((p: K8sObject) => p.metadata.deletionTimestamp === undefined);
    const nodeProducts = async (): Promise<Record<string, string>> => {
        const nodes = await kubeGet(env, "/api/v1/nodes");
        return Object.fromEntries(nodes.items.map((n: K8sObject) => [n.metadata.name, n.metadata.labels["nvidia.com/gpu.product"] ?? "cpu"]));
    };

    /** Runs `fn`, recording wall time, nix-builds, growth of `target` (counted at the registry) and the Deployment's generation. */
    async function measured(publisher: PublisherName, step: string, target: RegistryTarget, fn: () => Promise<void>): Promise<StepFigures> {
        const b0 = shims.count();
        const r0 = registryNumbers(env, target);
        const t0 = Date.now();
        let failure: unknown;
        try {
            await fn();
        } catch (e) {
            failure = e;
        }
        const r1 = registryNumbers(env, target);
        const dep = await deployment();
        const f: StepFigures = {
            publisher, step, registry: target.name, seconds: (Date.now() - t0) / 1000, nixBuilds: shims.count() - b0,
            bytesPushed: r1.storageBytes - r0.storageBytes, blobUploads: r1.blobUploads - r0.blobUploads,
            generation: dep === undefined ? "-" : String(dep.metadata.generation),
        };
        figures.push(f);
        console.log(`      [${publisher} ${step}] ${f.seconds.toFixed(1)} s, nix-builds ${f.nixBuilds}, ${target.name} +${f.bytesPushed} B in ${f.blobUploads} blob uploads, Deployment generation ${f.generation}`);
        if (failure !== undefined) {
            throw failure;
        }
        return f;
    }

    before(async () => {
        ({ env, work, project, shims, stack, password } = await startSuite("ngd-e2e-"));
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
    });

    after(async () => {
        if (figures.length > 0) {
            console.log(`\n      ${"publisher".padEnd(9)} ${"step".padEnd(30)} ${"registry".padEnd(13)} wall s  nix-builds  bytes pushed  blob uploads  generation`);
            for (const f of figures) {
                console.log(`      ${f.publisher.padEnd(9)} ${f.step.padEnd(30)} ${f.registry.padEnd(13)} ${f.seconds.toFixed(1).padStart(6)}  ${String(f.nixBuilds).padStart(10)}  ${String(f.bytesPushed).padStart(12)}  ${String(f.blobUploads).padStart(12)}  ${f.generation.padStart(10)}`);
            }
        }
        if (plugins.size > 0) {
            console.log("\n      plugins that ran:");
            for (const p of plugins.values()) {
                const origin = p.fromUpstream === undefined ? "(installed or toolchain-built, no upstream record)"
                    : p.fromUpstream ? `v${p.version}, built from ../shared/upstream/${p.source}` : "NOT the binary built from upstream";
                console.log(`      ${p.name.padEnd(28)} ${p.exe}  ${origin}`);
            }
        }
        tearDownSuite(work, project);
    });

    it("0. a bad stack config fails the preview with one clean message: every problem named, no stack trace, no colour", async () => {
        await stack.setConfig("gpu.count", { value: "17" }, true);
        await stack.setConfig("deployment.strategy", { value: "BlueGreen" }, true);
        await stack.setConfig("gpu.cuont", { value: "2" });
        let out = "";
        try {
            out = await refusedPreview(stack);
        } finally {
            await stack.removeConfig("gpu.count", true);
            await stack.removeConfig("deployment.strategy", true);
            await stack.removeConfig("gpu.cuont");
        }
        const block = out.split("\n").filter((l) => /nix-gpu-deploy/.test(l));
        console.log(`      ${[...new Set(block)].slice(0, 5).map((l) => l.trim()).join("\n      ")}`);
        assert.match(out, /nix-gpu-deploy: invalid stack configuration \(3 problems\)/, out.slice(-3000));
        // The problems once, as lines; not a second time as an object dump.
        assert.ok(!/propertyPath|reason:|errors: \[/.test(out), out.slice(-3000));
        assert.match(out, /^\s*- nix-gpu-deploy:gpu\.count: must be within 0\.\.16, got 17$/m);
        assert.match(out, /^\s*- nix-gpu-deploy:deployment\.strategy: must be one of Recreate, RollingUpdate, got "BlueGreen"$/m);
        assert.match(out, /^\s*- nix-gpu-deploy:gpu\.cuont: unknown config key/m);
        assert.deepStrictEqual(out.split("\n").filter((l) => /^\s+at /.test(l)), [], "no stack trace");
        assert.ok(!out.includes("\u001b["), "no ANSI escapes under --color never");
        assert.ok(!/InputPropertiesError|unhandled exception/.test(out), out.slice(-2000));
    });

    for (const publisher of PUBLISHERS) {
        describe(`publisher ${publisher}`, () => {
            let lastRef = "";
            let targets: Record<RegistryTarget["name"], RegistryTarget>;

            before(async () => {
                targets = registryTargets(env);
                // Empty registries, so each publisher's figures start from nothing; the original overlay.
                for (const r of ["registry", "registry-open", "registry-tls"]) {
                    cluster("reset", r);
                }
                fs.copyFileSync(path.join(ROOT, "test/fixture/overlay/greeting.nix"), path.join(project, "test/fixture/overlay/greeting.nix"));
                await stack.setConfig("registry.publisher", { value: publisher }, true);
                if (publisher === "docker") {
                    await stack.setConfig("registry.dockerHost", { value: env.NGD_DOCKER_HOST }, true);
                } else {
                    await stack.removeConfig("registry.dockerHost", true);
                }
                await useRegistry(stack, targets.registry, password);
            });

            it("1. up on a fresh stack builds, pushes, and runs pods only on the configured GPU product — with the upstream plugins", async () => {
                let outputs: Record<string, { value: unknown }> = {};
                let stdout = "";
                const watcher = watchPlugins();
                const f = await measured(publisher, "1 up (fresh)", targets.registry, async () => {
                    const res = await stack.up({ color: "never" });
                    outputs = res.outputs;
                    stdout = res.stdout;
                });
                const ran = watcher.stop();
                ran.forEach((p) => plugins.set(p.exe, p));
                const expected = ["pulumi-language-nodejs", "pulumi-resource-command", "pulumi-resource-kubernetes", ...(publisher === "docker" ? ["pulumi-resource-docker"] : [])];
                for (const name of expected) {
                    const runs = ran.filter((p) => p.name === name);
                    assert.ok(runs.length > 0, `${name} ran: ${JSON.stringify(ran)}`);
                    if (builtFromUpstream(name)) {
                        assert.ok(runs.every((p) => p.fromUpstream === true), `${name} is the binary built from ../shared/upstream: ${JSON.stringify(runs)}`);
                    }
                }
                // The plugins come from Pulumi's plugin directory at the versions the program asks for
                // (the docker provider pinned to 5.1.0, the release built from upstream): no warnings.
                assert.doesNotMatch(stdout, /warning: using pulumi-resource|is expected to have version/, "no plugin warnings");
                assert.strictEqual(f.nixBuilds, 2, "the plan, then the image");
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
                const f = await measured(publisher, "2 up (unchanged)", targets.registry, async () => {
                    const res = await stack.up({ color: "never" });
                    assert.deepStrictEqual(Object.keys(res.summary.resourceChanges ?? {}), ["same"]);
                });
                assert.strictEqual(f.nixBuilds, 0, "no nix-build");
                assert.strictEqual(f.bytesPushed, 0, "no bytes pushed");
                assert.strictEqual(f.blobUploads, 0, "no blob uploads");
                assert.strictEqual(f.generation, String(gen0), "Deployment generation unchanged");
            });

            if (publisher === "skopeo") {
                it("2b. `pulumi stack rename` changes nothing: names are stable (the URN carries the stack)", async () => {
                    const cli = (...a: string[]) => execFileSync(path.join(TOOLS, "bin", "pulumi"), a, {
                        cwd: project, env: { ...process.env, ...pulumiEnv(path.join(work, "state"), env) }, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8",
                    });
                    cli("stack", "rename", "local-renamed", "--stack", "local", "--non-interactive");
                    try {
                        const renamed = await LocalWorkspace.selectStack({ stackName: "local-renamed", workDir: project }, { envVars: pulumiEnv(path.join(work, "state"), env) });
                        const preview = await renamed.preview({ color: "never" });
                        const changes = Object.entries(preview.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
                        console.log(`      after stack rename: ${JSON.stringify(preview.changeSummary)}`);
                        assert.deepStrictEqual(changes, [], preview.stdout);
                    } finally {
                        cli("stack", "rename", "local", "--stack", "local-renamed", "--non-interactive");
                    }
                });
            }

            it("3. an overlay change: preview names it before building; up deploys the new digest, pushing only changed layers", async () => {
                const overlay = path.join(project, "test/fixture/overlay/greeting.nix");
                fs.writeFileSync(overlay, fs.readFileSync(overlay, "utf8").replace("greeting = text;", "greeting = text + \" (re-flagged)\";"));
                const b0 = shims.count();
                const preview = await stack.preview({ diff: true, color: "never" });
                assert.strictEqual(shims.count(), b0, "preview builds nothing");
                const out = `${preview.stdout}\n${preview.stderr}`;
                assert.match(out, /\+-\s*command:local:Command: \(replace\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::image-build\]/, out);
                // The list of derivations, or (the docker round repeats the skopeo round's edit, and a
                // machine may keep an earlier run's build) that the store already has the image;
                // test/e2e/preview.test.ts checks the list with an edit no store has seen.
                const cost = "(to build \\(\\d+ derivations?\\): [^\\n]*fixture-app|nothing to build or fetch: the new image is already in the store)";
                assert.match(out, new RegExp(`nix-gpu-deploy: what this change does\\n\\s*nix file changed: test/fixture/overlay/greeting\\.nix\\n\\s*${cost}`), `the preview says what changed and what Nix will build:\n${out}`);
                assert.match(out, /drv\s*:\s*"\/nix\/store\/[a-z0-9]{32}-fixture-layer-plan\.drv" => "\/nix\/store\/[a-z0-9]{32}-fixture-layer-plan\.drv"/, "the diff shows the new derivation (the layer plan's: the image is assembled from it)");
                const forecast = /layers \(forecast from the previous image's plan\): (\d+) of (\d+) change \(([^)]*)\); about (.+?) to push/.exec(out);
                assert.ok(forecast !== null, `the preview forecasts the layers that change:\n${out}`);
                assert.match(out, /~\s+kubernetes:apps\/v1:Deployment: \(update\)/, `the Deployment will change (an update, not a replace):\n${out}`);
                assert.match(out, /image\s*:\s*"[^"]+@sha256:[a-f0-9]{64}" => \[unknown\]/, "its image will change");
                assert.ok((preview.changeSummary.replace ?? 0) >= 1 && (preview.changeSummary.update ?? 0) >= 1, JSON.stringify(preview.changeSummary));
                const before = lastRef;
                let ref = "";
                const f = await measured(publisher, "3 up (overlay changed)", targets.registry, async () => {
                    const res = await stack.up({ color: "never" });
                    ref = String(res.outputs.imageRef.value);
                });
                assert.notStrictEqual(ref, before);
                assert.strictEqual((await deployment()).spec.template.spec.containers[0].image, ref);
                const size = imageBytes(env, ref);
                const oldLayers = new Set(imageManifest(env, before).layers.map((l) => l.digest));
                const changedLayers = imageManifest(env, ref).layers.filter((l) => !oldLayers.has(l.digest)).length;
                console.log(`      image ${size} B; pushed ${f.bytesPushed} B (${(100 * f.bytesPushed / size).toFixed(1)}%) in ${f.blobUploads} blob uploads; ${changedLayers} layers changed`);
                assert.strictEqual(f.nixBuilds, 2, "one build: its two nix-builds (the plan, then the image)");
                assert.ok(f.bytesPushed > 0 && f.bytesPushed < size, `pushed ${f.bytesPushed} of ${size}`);
                assert.ok(changedLayers >= 1 && changedLayers <= 4, `an overlay of the app changes the app's layers, not the image: ${changedLayers}`);
                assert.strictEqual(f.blobUploads, changedLayers + 1, "uploads counted at the registry: the changed layers and the config, nothing again");
                assert.deepStrictEqual([Number(forecast[1]), Number(forecast[2])], [changedLayers, imageManifest(env, ref).layers.length], `the preview's forecast (${forecast[0]}) is what the registry received`);
                lastRef = ref;
            });

            for (const name of ["registry-open", "registry-tls"] as const) {
                const what = name === "registry-open" ? "a plain-HTTP registry without auth" : "an HTTPS registry whose certificate comes from a private CA";
                it(`4. pushes to ${what} and deploys from it`, async () => {
                    const target = targets[name];
                    await useRegistry(stack, target, password);
                    let ref = "";
                    const f = await measured(publisher, `4 up (${name === "registry-open" ? "no auth" : "TLS, private CA"})`, target, async () => {
                        const res = await stack.up({ color: "never" });
                        ref = String(res.outputs.imageRef.value);
                    });
                    assert.match(ref, new RegExp(`^${target.host.replace(/\./g, "\\.")}/ml/fixture@sha256:[a-f0-9]{64}$`));
                    assert.ok(f.bytesPushed > 0 && f.blobUploads > 0, "the image reached that registry");
                    assert.strictEqual((await deployment()).spec.template.spec.containers[0].image, ref);
                    assert.strictEqual(f.nixBuilds, 0, "the image is not rebuilt for another registry");
                });
            }

            if (publisher === "skopeo") {
                it("5. a new GPU product moves the pods; an unsatisfiable request fails within its timeout with the scheduler's reason", async () => {
                    await useRegistry(stack, targets.registry, password);
                    await stack.setConfig("gpu.product", { value: "NVIDIA-A100-SXM4-80GB" }, true);
                    await measured(publisher, "5a up (A100)", targets.registry, async () => {
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
                    await measured(publisher, "5b up (16 GPUs: fails)", targets.registry, async () => {
                        await assert.rejects(stack.up({ color: "never" }), (e: Error) => {
                            message = e.message;
                            return true;
                        });
                    });
                    const seconds = (Date.now() - t0) / 1000;
                    assert.ok(seconds < 30 + 120, `failed after ${seconds} s`);
                    assert.match(message, /Unschedulable: 0\/4 nodes are available:.*Insufficient nvidia\.com\/gpu/, message.slice(-3000));

                    await stack.setConfig("gpu.count", { value: "1" }, true);
                    await stack.setConfig("gpu.product", { value: "NVIDIA-H100-80GB-HBM3" }, true);
                    await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "120" }, true);
                    await measured(publisher, "5c up (recovered)", targets.registry, async () => {
                        await stack.up({ color: "never" });
                    });
                    await waitUntil("2 running pods again", 60, async () => (await pods()).filter((p) => p.status.phase === "Running").length === 2);
                });
            }

            it("6. destroy leaves no Deployment or namespace behind", async () => {
                await measured(publisher, "6 destroy", targets.registry, async () => {
                    await stack.destroy({ color: "never" });
                });
                assert.strictEqual(await deployment(), undefined);
                await waitUntil("the namespace to be gone", 60, async () => (await kubeGet(env, `/api/v1/namespaces/${ns}`)) === undefined);
            });
        });
    }
});
