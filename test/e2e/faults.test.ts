// Fault suite: injects failures into real `pulumi up` runs against the rehearsal cluster and checks
// that none loses the running deployment, leaks a credential or needs a state edit to recover.
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    ClusterEnv, K8sObject, ROOT, Shims, TOOLS, clusterDir, cluster, kubeGet, localStack, processesOf, pulumiEnv as basePulumiEnv, refusedPreview,
    NixServicesEnv, deleteClosure, nixServices, readNixServicesEnv, registryNumbers, tearDownNixServices, waitUntil, startSuite,
} from "./harness";

interface FaultRow {
    publisher: string;
    fault: string;
    outcome: string;
    converged: string;
    dataLost: string;
}

const component = (cmd: "start" | "stop", name: string) =>
    execFileSync(path.join(ROOT, "test/e2e/cluster.sh"), [cmd, name], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NGD_CLUSTER_DIR: clusterDir() } });

describe("faults: failures during pulumi up lose nothing and converge on the next run", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let password: string;
    let builds: Shims;
    const rows: FaultRow[] = [];
    const transcripts: string[] = [];
    const ns = "ml-local";
    let orphansStopped = 0;
    /** Further secrets the grep must not find: the cache signing key and the builder's SSH key. */
    const otherSecrets: Array<{ name: string; value: string }> = [];

    const deployment = (): Promise<K8sObject | undefined> => kubeGet(env, `/apis/apps/v1/namespaces/${ns}/deployments/fixture`);
    const snapshot = async () => {
        const d = await deployment();
        return { image: d?.spec.template.spec.containers[0].image as string, generation: d?.metadata.generation as number };
    };
    const up = async () => {
        const r = await stack.up({ color: "never" });
        transcripts.push(r.stdout, r.stderr);
        return r;
    };
    const failingUp = async (): Promise<string> => {
        try {
            const r = await stack.up({ color: "never" });
            transcripts.push(r.stdout);
        } catch (e) {
            transcripts.push((e as Error).message);
            return (e as Error).message;
        }
        return assert.fail("up should have failed");
    };
    /** Converged: a further preview shows no change. */
    const converged = async (): Promise<boolean> => {
        const p = await stack.preview({ color: "never" });
        transcripts.push(p.stdout);
        return Object.entries(p.changeSummary).every(([op, n]) => op === "same" || n === 0);
    };
    // A unique greeting per run, so the Nix store never already holds the build being tested.
    const nonce = `${process.pid}-${Date.now()}`;
    const setGreeting = (text: string) => stack.setConfig("nix.overlays[0].args.text", { value: `${text} (${nonce})` }, true);
    const pulumiEnv = () => ({ ...process.env, ...basePulumiEnv(path.join(work, "state"), env) });
    const pulumiHome = () => path.join(work, "pulumi-home");
    /**
     * Stops, by pid, the plugin processes a killed engine left behind (the engine starts plugins in
     * their own process groups, so a SIGKILL of its group does not reach them); returns how many.
     */
    const stopOrphans = async (): Promise<number> => {
        await new Promise((r) => setTimeout(r, 2000));
        const orphans = processesOf(pulumiHome());
        for (const pid of orphans) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // exited meanwhile
            }
        }
        await waitUntil("orphaned plugin processes to exit", 30, () => processesOf(pulumiHome()).length === 0);
        return orphans.length;
    };
    /** `pulumi up` as a separate process group, so signals reach it as from a terminal. */
    const spawnUp = (): { child: ChildProcess; output: () => string; done: Promise<number | null> } => {
        let out = "";
        const child = spawn(path.join(TOOLS, "bin", "pulumi"), ["up", "--yes", "--stack", "local", "--non-interactive", "--color", "never"], {
            cwd: project, env: pulumiEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"],
        });
        child.stdout?.on("data", (d) => (out += d));
        child.stderr?.on("data", (d) => (out += d));
        const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        return { child, output: () => out, done };
    };
    /** Waits until `started()` holds while `run` is still going, then sends `signal` to its process group. */
    const interrupt = async (run: ReturnType<typeof spawnUp>, what: string, started: () => boolean, signal: NodeJS.Signals) => {
        await waitUntil(what, 120, started);
        await new Promise((r) => setTimeout(r, 1000));
        assert.strictEqual(run.child.exitCode, null, `up still running:\n${run.output().slice(-1500)}`);
        process.kill(-(run.child.pid as number), signal);
        const code = await run.done;
        transcripts.push(run.output());
        if (signal === "SIGKILL") {
            orphansStopped += await stopOrphans();
        }
        return code;
    };
    /** `up` after an interrupted one; a killed `up` leaves the file backend's lock, which `pulumi cancel` clears. */
    const upAfterInterrupt = async (): Promise<string> => {
        try {
            await up();
            return "nothing";
        } catch (e) {
            const msg = (e as Error).message;
            transcripts.push(msg);
            assert.match(msg, /locked|lock/i, msg.slice(-1500));
            execFileSync(path.join(TOOLS, "bin", "pulumi"), ["cancel", "--yes", "--stack", "local"], { cwd: project, env: pulumiEnv(), stdio: ["ignore", "pipe", "pipe"] });
            await up();
            return "pulumi cancel";
        }
    };

    before(async () => {
        ({ env, work, project, shims: builds, stack, password } = await startSuite("ngd-faults-"));
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "60" }, true);
        await up();
    });

    after(async () => {
        if (rows.length > 0) {
            console.log(`\n      ${"publisher".padEnd(9)} ${"fault".padEnd(40)} ${"outcome".padEnd(66)} converged  data lost`);
            for (const r of rows) {
                console.log(`      ${r.publisher.padEnd(9)} ${r.fault.padEnd(40)} ${r.outcome.padEnd(66)} ${r.converged.padEnd(10)} ${r.dataLost}`);
            }
            console.log(`      orphaned plugin processes stopped after SIGKILLs: ${orphansStopped}`);
        }
        cluster("down");
        fs.rmSync(project, { recursive: true, force: true });
        const leftover = processesOf(pulumiHome());
        assert.deepStrictEqual(leftover, [], "no Pulumi engine or plugin process left behind");
    });

    it("nix-build fails halfway: the error shows the build log's last lines; nothing pushed; Deployment untouched", async () => {
        const before = await snapshot();
        const uploads = registryNumbers(env).blobUploads;
        await stack.setConfig("nix.overlays[1].name", { value: "broken" }, true);
        const message = await failingUp();
        assert.match(message, /compiling step 2\/3[\s\S]*error: simulated failure in the middle of the build/);
        assert.strictEqual(registryNumbers(env).blobUploads, uploads, "nothing pushed");
        assert.deepStrictEqual(await snapshot(), before, "Deployment untouched");
        await stack.removeConfig("nix.overlays[1]", true);
        await up();
        const ok = await converged();
        assert.ok(ok);
        assert.deepStrictEqual(await snapshot(), before);
        rows.push({ publisher: "skopeo", fault: "nix-build exits non-zero halfway", outcome: "up failed with the build log's last lines", converged: ok ? "yes" : "no", dataLost: "none" });
    });

    it("Kubernetes API server restarted mid-rollout: up waits through it and completes", async () => {
        component("stop", "kube-scheduler"); // keeps the new pods Pending, so the rollout is in flight
        const gen0 = (await snapshot()).generation;
        await setGreeting("fault: apiserver restart");
        const running = stack.up({ color: "never" });
        await waitUntil("the new Deployment generation", 120, async () => ((await snapshot().catch(() => ({ generation: gen0 }))).generation ?? gen0) > gen0);
        component("stop", "kube-apiserver");
        await new Promise((r) => setTimeout(r, 5000));
        component("start", "kube-apiserver");
        component("start", "kube-scheduler");
        const r = await running;
        transcripts.push(r.stdout);
        const ok = await converged();
        assert.ok(ok);
        rows.push({ publisher: "skopeo", fault: "API server restarted mid-rollout", outcome: "up waited through the restart and succeeded", converged: ok ? "yes" : "no", dataLost: "none" });
    });

    it("up interrupted with SIGINT during the build: the next up converges", async () => {
        await stack.setConfig("nix.overlays[1].name", { value: "slow" }, true);
        await setGreeting("fault: sigint");
        const b0 = builds.count();
        const code = await interrupt(spawnUp(), "nix-build to start", () => builds.count() > b0, "SIGINT");
        assert.notStrictEqual(code, 0, "the interrupted up fails");
        await up();
        const ok = await converged();
        assert.ok(ok);
        rows.push({ publisher: "skopeo", fault: "SIGINT during the build", outcome: `up stopped (exit ${code}); nothing to clean up`, converged: ok ? "yes" : "no", dataLost: "none" });
    });

    it("up killed with SIGKILL during the build: the next up converges after `pulumi cancel` (DIY backend lock)", async () => {
        await setGreeting("fault: sigkill");
        const b0 = builds.count();
        await interrupt(spawnUp(), "nix-build to start", () => builds.count() > b0, "SIGKILL");
        const recovery = await upAfterInterrupt();
        const ok = await converged();
        assert.ok(ok);
        rows.push({ publisher: "skopeo", fault: "SIGKILL during the build", outcome: `next up needed: ${recovery}`, converged: ok ? "yes" : "no", dataLost: "none" });
        await stack.removeConfig("nix.overlays[1]", true);
        await up();
    });

    it("two concurrent ups on one stack: the second is refused by the backend lock; state intact", async () => {
        const other = await localStack(project, path.join(work, "state"), [builds.binDir], env);
        await setGreeting("fault: concurrent");
        const results = await Promise.allSettled([stack.up({ color: "never" }), other.up({ color: "never" })]);
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        assert.strictEqual(failed.length, 1, JSON.stringify(results.map((r) => r.status)));
        assert.match(String(failed[0].reason?.message), /locked|conflict|another update/i);
        const ok = await converged();
        assert.ok(ok);
        rows.push({ publisher: "skopeo", fault: "two ups on the same stack at once", outcome: "second refused: the stack is locked", converged: ok ? "yes" : "no", dataLost: "none" });
    });

    // The push rows, once per publisher: skopeo (daemonless) and docker (`docker load` into the
    // daemon, then the docker provider's push). For docker, "during the push" is its `docker load`.
    for (const publisher of ["skopeo", "docker"] as const) {
        describe(`push faults with the ${publisher} publisher`, () => {
            before(async () => {
                await stack.setConfig("registry.publisher", { value: publisher }, true);
                if (publisher === "docker") {
                    await stack.setConfig("registry.dockerHost", { value: env.NGD_DOCKER_HOST }, true);
                }
                await setGreeting(`publisher ${publisher}`);
                await up();
            });

            it(`${publisher}: registry down during the push: a clear error naming it; Deployment untouched; converges once it is back`, async () => {
                const before = await snapshot();
                component("stop", "registry");
                await setGreeting(`fault: registry down (${publisher})`);
                const message = await failingUp();
                assert.match(message, new RegExp(`${env.NGD_REGISTRY.replace(/\./g, "\\.")}[\\s\\S]*(connection refused|connect:)`));
                assert.deepStrictEqual(await snapshot(), before, "Deployment untouched");
                component("start", "registry");
                await up();
                const ok = await converged();
                const after = await snapshot();
                assert.ok(ok);
                assert.notStrictEqual(after.image, before.image, "the new image is deployed");
                rows.push({ publisher, fault: "registry down during the push", outcome: `up failed naming ${env.NGD_REGISTRY}: connection refused`, converged: ok ? "yes" : "no", dataLost: "none" });
            });

            it(`${publisher}: registry refusing the credentials: the error names the registry, not the password; converges with the right one`, async () => {
                const before = await snapshot();
                const wrong = "wrong-password-0123456789";
                await stack.setConfig("registryPassword", { value: wrong, secret: true });
                await setGreeting(`fault: bad credentials (${publisher})`);
                const message = await failingUp();
                assert.match(message, /unauthorized|authentication required|401/i);
                assert.ok(message.includes(env.NGD_REGISTRY));
                assert.ok(!message.includes(wrong), "the password is not in the error");
                assert.deepStrictEqual(await snapshot(), before);
                await stack.setConfig("registryPassword", { value: password, secret: true });
                await up();
                const ok = await converged();
                assert.ok(ok);
                rows.push({ publisher, fault: "registry refuses the credentials", outcome: "up failed: unauthorized, naming the registry", converged: ok ? "yes" : "no", dataLost: "none" });
            });

            for (const signal of ["SIGINT", "SIGKILL"] as const) {
                it(`${publisher}: up interrupted with ${signal} during the push: Deployment untouched; the next up converges`, async () => {
                    await setGreeting(`fault: ${signal} during ${publisher} push`);
                    const p0 = builds.pushes();
                    builds.slowPush(15);
                    const before = await snapshot();
                    try {
                        await interrupt(spawnUp(), "the push to start", () => builds.pushes() > p0, signal);
                    } finally {
                        builds.slowPush(undefined);
                    }
                    assert.deepStrictEqual(await snapshot(), before, "Deployment untouched");
                    const recovery = await upAfterInterrupt();
                    const ok = await converged();
                    assert.ok(ok);
                    assert.notStrictEqual((await snapshot()).image, before.image, "the new image is deployed");
                    rows.push({ publisher, fault: `${signal} during the push`, outcome: `next up needed: ${recovery}`, converged: ok ? "yes" : "no", dataLost: "none" });
                });
            }
        });
    }

    // Issue #9: the stack uses the rehearsal binary cache (substitutes over HTTP, uploads signed) and,
    // for the builder row, the rehearsal remote builder (test/e2e/nix-services.sh).
    describe("Nix beyond one machine", () => {
        let nix: NixServicesEnv;
        const nixComponent = (cmd: "start" | "stop", name: "cache" | "builder") => nixServices(cmd, name);
        before(async () => {
            nixServices("up");
            nix = readNixServicesEnv();
            otherSecrets.push(
                { name: "cache signing key", value: fs.readFileSync(nix.NGD_CACHE_SECRET_KEY_FILE, "utf8").trim().split(":")[1] },
                { name: "builder SSH key", value: fs.readFileSync(nix.NGD_BUILDER_KEY_FILE, "utf8").split("\n")[2] },
            );
            await stack.setConfig("registry.publisher", { value: "skopeo" }, true);
            await stack.removeConfig("registry.dockerHost", true);
            await stack.setConfig("nix.substituters[0]", { value: nix.NGD_CACHE_URL }, true);
            await stack.setConfig("nix.trustedPublicKeys[0]", { value: nix.NGD_CACHE_PUBLIC_KEY }, true);
            await stack.setConfig("nix.uploadTo", { value: nix.NGD_CACHE_UPLOAD }, true);
            await stack.setConfig("nixSigningKey", { value: fs.readFileSync(nix.NGD_CACHE_SECRET_KEY_FILE, "utf8").trim(), secret: true });
            await setGreeting("nix services");
            await up();
        });
        after(async () => {
            await stack.removeConfig("nix.substituters[0]", true);
            for (const k of ["nix.trustedPublicKeys", "nix.uploadTo"]) {
                await stack.removeConfig(k, true);
            }
            await stack.removeConfig("nixSigningKey");
            tearDownNixServices();
        });

        it("GC between build and push: the push realises the image from the cache; nothing rebuilt; converges", async () => {
            const before = await snapshot();
            component("stop", "registry");
            await setGreeting("fault: gc between build and push");
            const message = await failingUp();
            // The build and the cache upload ran in the failed up (the push, running beside the upload, failed).
            const uploaded = /uploaded the closure of (\/nix\/store\/\S+) \((\d+) paths, signed\)/.exec(message);
            assert.ok(uploaded, `the failed up built and uploaded the image:\n${message.slice(-3000)}`);
            const image = uploaded[1];
            const deleted = deleteClosure(image);
            component("start", "registry");
            const m0 = builds.nixMark();
            await up();
            const a = builds.nixSince(m0);
            const fetched = a.fetched.filter((f) => f.from === nix.NGD_CACHE_URL);
            const ok = await converged();
            assert.ok(ok, transcripts[transcripts.length - 1].slice(-4000));
            assert.strictEqual(a.builtHere.length, 0, "nothing the cache has is rebuilt");
            assert.ok(fetched.some((f) => f.path === image), "the image came from the cache");
            assert.notStrictEqual((await snapshot()).image, before.image, "the new image is deployed");
            rows.push({ publisher: "skopeo", fault: "GC between build and push", outcome: `push realised it from the cache: ${fetched.length} of ${deleted.length} deleted paths fetched, 0 built`, converged: ok ? "yes" : "no", dataLost: "none" });
        });

        it("cache down: onCacheDown fail stops before building, naming the cache; onCacheDown build builds; converges", async () => {
            const before = await snapshot();
            nixComponent("stop", "cache");
            try {
                await stack.setConfig("nix.onCacheDown", { value: "fail" }, true);
                await setGreeting("fault: cache down");
                const m0 = builds.nixMark();
                const message = await failingUp();
                assert.match(message, new RegExp(`binary cache ${nix.NGD_CACHE_URL.replace(/\./g, "\\.")} does not answer \\(nix.substituters\\); nix.onCacheDown is fail`));
                assert.deepStrictEqual(builds.nixSince(m0).builtHere, [], "nothing built");
                assert.deepStrictEqual(await snapshot(), before, "Deployment untouched");
                await stack.setConfig("nix.onCacheDown", { value: "build" }, true);
                const m1 = builds.nixMark();
                const r = await up();
                assert.match(r.stdout, /binary cache http:\/\/127\.0\.0\.1:\d+ does not answer \(nix\.substituters\): building without it/);
                const built = builds.nixSince(m1).builtHere.length;
                assert.ok(built > 0, "built here instead");
                const ok = await converged();
                assert.ok(ok);
                rows.push({ publisher: "skopeo", fault: "binary cache down", outcome: `fail: up stopped naming ${nix.NGD_CACHE_URL}; build: left out, ${built} built here`, converged: ok ? "yes" : "no", dataLost: "none" });
            } finally {
                nixComponent("start", "cache");
                await stack.removeConfig("nix.onCacheDown", true);
            }
        });

        it("builder unreachable: with maxJobs 0 the error names the builder; with local jobs allowed Nix builds here; converges", async () => {
            const before = await snapshot();
            await stack.setConfig("nix.builders", { value: nix.NGD_BUILDER_LINE }, true);
            await stack.setConfig("nix.maxJobs", { value: "0" }, true);
            await stack.setConfig("nixBuilderSshKey", { value: fs.readFileSync(nix.NGD_BUILDER_KEY_FILE, "utf8"), secret: true });
            const builder = nix.NGD_BUILDER_LINE.split(" ")[0];
            nixComponent("stop", "builder");
            try {
                await setGreeting("fault: builder unreachable");
                const message = await failingUp();
                assert.ok(message.includes(builder), `names ${builder}:\n${message.slice(-2500)}`);
                assert.deepStrictEqual(await snapshot(), before, "Deployment untouched");
                await stack.setConfig("nix.maxJobs", { value: "1" }, true);
                const m1 = builds.nixMark();
                await up();
                const built = builds.nixSince(m1).builtHere.length;
                assert.ok(built > 0, "built here instead");
                const ok = await converged();
                assert.ok(ok);
                rows.push({ publisher: "skopeo", fault: "remote builder unreachable", outcome: `maxJobs 0: up failed naming ${builder}; maxJobs 1: ${built} built here`, converged: ok ? "yes" : "no", dataLost: "none" });
            } finally {
                nixComponent("start", "builder");
                await stack.removeConfig("nix.builders", true);
                await stack.removeConfig("nix.maxJobs", true);
                await stack.removeConfig("nixBuilderSshKey");
            }
        });
    });

    describe("secrets", () => {
        it("a credential typed into a cache URL is refused before anything runs, and is nowhere: output, state, logs", async () => {
            const token = `tok${process.pid}x${Date.now()}secretvalue`;
            const subs = ["nix.substituters[0]", "nix.substituters[1]"];
            await stack.setConfig(subs[0], { value: `https://ngd:${token}@cache.invalid` }, true);
            await stack.setConfig(subs[1], { value: `https://cache.invalid/?access_token=${token}` }, true);
            let out = "";
            try {
                out = await refusedPreview(stack);
            } finally {
                // back to the local stack's `substituters: []`
                await stack.removeConfig(subs[1], true);
                await stack.removeConfig(subs[0], true);
            }
            assert.match(out, /nix-gpu-deploy:nix\.substituters\[0\]: "https:\/\/ngd:\*\*\*@cache\.invalid" carries credentials in its user part/);
            assert.match(out, /nix-gpu-deploy:nix\.substituters\[1\]: "https:\/\/cache\.invalid\/\?access_token=\*\*\*" carries a credential/);
            assert.doesNotMatch(out, /PromiseRejectionHandledWarning|Warning: |pulumi:providers:kubernetes|preflight/, "after a failed config check nothing else runs");
            const grep = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
                const p = path.join(dir, e.name);
                return e.isDirectory() ? grep(p) : e.isFile() && fs.readFileSync(p).includes(token) ? [p] : [];
            });
            const hits = [...grep(path.join(work, "state")), ...grep(path.join(work, "pulumi-home")), ...(out.includes(token) ? ["the preview's output"] : [])];
            console.log(`      credential in a cache URL: refused; ${hits.length} hits for it in the output, state and Pulumi logs`);
            assert.deepStrictEqual(hits, []);
            rows.push({ publisher: "both", fault: "credential typed into nix.substituters", outcome: "refused at preview, naming the property; 0 hits in output, state, logs", converged: "-", dataLost: "none" });
        });
        it("no plaintext secret (registry password, cache signing key, builder SSH key) in state, logs, command output or rendered manifests", async () => {
            // Render the same program to a directory, as a second stack with the same config.
            const cli = (...args: string[]) => execFileSync(path.join(TOOLS, "bin", "pulumi"), args, { cwd: project, env: pulumiEnv(), stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
            cli("stack", "init", "local-render", "--copy-config-from", "local", "--non-interactive");
            cli("config", "set", "--path", "cluster.renderYamlTo", "rendered", "--stack", "local-render");
            cli("config", "rm", "--path", "cluster.context", "--stack", "local-render");
            cli("config", "rm", "kubeconfig", "--stack", "local-render");
            cli("stack", "select", "local");
            const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
            const rs = await LocalWorkspace.selectStack({ stackName: "local-render", workDir: project }, { envVars: pulumiEnv() as Record<string, string> });
            const r = await rs.up({ color: "never" });
            transcripts.push(r.stdout, r.stderr);
            const rendered = path.join(project, "rendered");
            assert.ok(fs.existsSync(rendered) && fs.readdirSync(rendered).length > 0, "manifests rendered");
            const grep = (dir: string, secret: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
                const p = path.join(dir, e.name);
                if (e.isDirectory()) {
                    return grep(p, secret);
                }
                return e.isFile() && fs.readFileSync(p).includes(secret) ? [p] : [];
            });
            const secrets = [{ name: "registry password", value: password }, ...otherSecrets];
            assert.ok(secrets.every((x) => x.value.length >= 20), "each secret is long enough to grep for");
            const hits = secrets.flatMap((x) => [
                ...grep(path.join(work, "state"), x.value),
                ...grep(path.join(work, "pulumi-home"), x.value),
                ...grep(rendered, x.value),
                ...transcripts.filter((t) => t.includes(x.value)).map(() => "a pulumi transcript"),
            ].map((h) => `${x.name}: ${h}`));
            console.log(`      plaintext secret hits: ${hits.length} (${secrets.map((x) => x.name).join(", ")}; state, Pulumi logs, ${transcripts.length} transcripts, rendered manifests)`);
            assert.deepStrictEqual(hits, []);
            rows.push({ publisher: "both", fault: "secrets: grep for every secret", outcome: `0 hits for ${secrets.length} secrets in state, logs, outputs, manifests`, converged: "-", dataLost: "none" });
            await rs.destroy({ color: "never" });
        });
    });
});
