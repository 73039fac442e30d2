// Fault suite: injects failures into real `pulumi up` runs against the rehearsal cluster and checks
// that none loses the running deployment, leaks a credential or needs a state edit to recover.
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    ClusterEnv, K8sObject, ROOT, Shims, TOOLS, clusterDir, cluster, kubeGet, localStack, processesOf, pulumiEnv as basePulumiEnv,
    registryNumbers, waitUntil, startSuite,
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

    describe("secrets", () => {
        it("no plaintext registry password in state, logs, command output or rendered manifests", async () => {
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
            const grep = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
                const p = path.join(dir, e.name);
                if (e.isDirectory()) {
                    return grep(p);
                }
                return e.isFile() && fs.readFileSync(p).includes(password) ? [p] : [];
            });
            const hits = [
                ...grep(path.join(work, "state")),
                ...grep(path.join(work, "pulumi-home")),
                ...grep(rendered),
                ...transcripts.filter((t) => t.includes(password)).map(() => "a pulumi transcript"),
            ];
            console.log(`      plaintext password hits: ${hits.length} (state, Pulumi logs, ${transcripts.length} transcripts, rendered manifests)`);
            assert.deepStrictEqual(hits, []);
            rows.push({ publisher: "both", fault: "secrets: grep for the registry password", outcome: "0 hits in state, logs, outputs, rendered manifests", converged: "-", dataLost: "none" });
            await rs.destroy({ color: "never" });
        });
    });
});
