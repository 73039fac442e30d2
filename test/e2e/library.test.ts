// Issue #23: nix-gpu-deploy used from programs of one's own. The package is `npm pack`ed (what a
// registry would serve) and installed into a copy of examples/typescript in a temporary directory; a
// copy of examples/python adds it with `pulumi package add` (the generated Python SDK, run by the
// Python language host built from upstream). Each deploys the local stack's app on the rehearsal
// cluster, and a preview of an overlay edit shows the same explanation in both languages.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { ClusterEnv, EXPLANATION_HEADER, ROOT, TOOLS, cluster, copyProject, explanationBlock, kubeGet, processesOf, pulumiEnv, readClusterEnv, tearDownSuite, watchPlugins } from "./harness";

const HEADER = EXPLANATION_HEADER;
const block = explanationBlock;

/** Copies a directory's files (not node_modules, venv, sdks). */
function copyDir(from: string, to: string): void {
    fs.cpSync(from, to, { recursive: true, filter: (src) => !/\/(node_modules|venv|sdks|dist)(\/|$)/.test(src) });
}

describe("issue #23: the components from programs of one's own (npm package, Python SDK)", function () {
    this.timeout(40 * 60 * 1000);
    let env: ClusterEnv;
    let work: string;
    let project: string;
    let tarball: string;
    let tsDir: string;
    const explained: Record<string, string[]> = {};

    before(() => {
        cluster("up");
        env = readClusterEnv();
        work = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-library-"));
        project = copyProject();
        // What `npm publish` would upload: the package's prepack compiles it into dist/.
        const t0 = Date.now();
        const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: path.join(project, "components"), encoding: "utf8" }).trim().split("\n").pop()!;
        tarball = path.join(work, name);
        const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n");
        console.log(`      npm pack: ${name}, ${files.length - 1} files, ${Math.round(fs.statSync(tarball).size / 1024)} KiB, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        for (const f of ["package/dist/index.js", "package/dist/index.d.ts", "package/index.ts", "package/PulumiPlugin.yaml", "package/nix/docker/buildCudaLayeredImage.nix", "package/nix/progress-filter.js"]) {
            assert.ok(files.includes(f), `the package holds ${f}`);
        }
        assert.ok(!files.some((f) => /\.test\.ts$|(^|\/)node_modules\//.test(f)), "no tests or node_modules in the package");
    });

    after(() => {
        const leftover = processesOf(path.join(work, "pulumi-home-py"));
        tearDownSuite(work, project);
        assert.deepStrictEqual(leftover, [], "no Pulumi process of the Python program left behind");
        fs.rmSync(work, { recursive: true, force: true });
    });

    /** The local stack's sections (Pulumi.local.yaml), for the example's project, on this suite's namespace. */
    function stackConfig(projectName: string): Record<string, unknown> {
        const local = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8")) as { config: Record<string, Record<string, unknown>> };
        const c: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(local.config)) {
            c[`${projectName}:${k.replace(/^nix-gpu-deploy:/, "")}`] = v;
        }
        (c[`${projectName}:registry`] as Record<string, unknown>).host = env.NGD_REGISTRY;
        (c[`${projectName}:cluster`] as Record<string, unknown>).namespace = "ml-library";
        (c[`${projectName}:deployment`] as Record<string, unknown>).rolloutTimeoutSeconds = 90;
        c[`${projectName}:nixProject`] = project;
        return c;
    }

    /** The `local` stack of an example program, with the local stack's config and secrets. */
    async function exampleStack(dir: string, projectName: string, pulumiHome?: string): Promise<Stack> {
        const state = path.join(work, `state-${projectName}`);
        fs.mkdirSync(state, { recursive: true });
        process.env.PATH = [path.join(TOOLS, "bin"), process.env.PATH].join(path.delimiter);
        const envVars = { ...pulumiEnv(state, env), ...(pulumiHome !== undefined ? { PULUMI_HOME: pulumiHome } : {}) };
        const stack = await LocalWorkspace.createOrSelectStack({ stackName: "local", workDir: dir }, { envVars });
        const file = path.join(dir, "Pulumi.local.yaml");
        const doc = (fs.existsSync(file) ? parseYaml(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> };
        doc.config = { ...(doc.config ?? {}), ...stackConfig(projectName) };
        fs.writeFileSync(file, stringifyYaml(doc));
        await stack.setConfig("registryPassword", { value: fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim(), secret: true });
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        return stack;
    }

    /** up, check what runs in the cluster; then a preview of an ffmpeg switch; then destroy. */
    async function deployAndExplain(stack: Stack, dir: string, projectName: string, afterUp?: () => Promise<void>): Promise<void> {
        const t0 = Date.now();
        const up = await stack.up({ color: "never" });
        const outputs = up.outputs;
        console.log(`      [${projectName}] up: ${JSON.stringify(up.summary.resourceChanges)} in ${((Date.now() - t0) / 1000).toFixed(0)} s; imageRef ${outputs.imageRef?.value}`);
        assert.match(String(outputs.imageRef?.value), new RegExp(`^${env.NGD_REGISTRY.replace(/\./g, "\\.")}/ml/myproject@sha256:[a-f0-9]{64}$`));
        assert.match(String(outputs.owner?.value), /^[a-f0-9]{32}$/, "the owner id is exported");
        const dep = await kubeGet(env, "/apis/apps/v1/namespaces/ml-library/deployments/myproject");
        assert.ok(dep !== undefined, "the Deployment is in the cluster");
        assert.strictEqual(dep.spec.template.spec.containers[0].image, outputs.imageRef.value, "it runs the pushed digest");
        assert.strictEqual(dep.metadata.annotations["nix-gpu-deploy/owner"], outputs.owner.value);

        if (afterUp !== undefined) {
            await afterUp();
        }

        // An edit of the stack's overlay arguments: the preview says what it rebuilds and rolls out.
        const file = path.join(dir, "Pulumi.local.yaml");
        const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config: Record<string, { overlays: Array<{ name: string; args?: { features?: string[] } }> }> };
        doc.config[`${projectName}:nix`].overlays.find((o) => o.name === "ffmpeg")!.args!.features = ["withX264", "withOpus"];
        fs.writeFileSync(file, stringifyYaml(doc));
        const p = await stack.preview({ diff: true, color: "never" });
        explained[projectName] = block(`${p.stdout}\n${p.stderr}`);
        console.log(`      [${projectName}] preview of an ffmpeg switch:\n${explained[projectName].map((l) => `        | ${l}`).join("\n")}`);
        assert.strictEqual(explained[projectName][0], HEADER, `${p.stdout}\n${p.stderr}`.slice(-3000));
        assert.strictEqual(explained[projectName][1], 'overlay ffmpeg: features ["withX264"] → ["withX264","withOpus"]');
        assert.match(explained[projectName].join("\n"), /rollout: Deployment ml-library\/myproject, 2 replicas, RollingUpdate/);

        await stack.destroy({ color: "never" });
        assert.strictEqual(await kubeGet(env, "/apis/apps/v1/namespaces/ml-library/deployments/myproject"), undefined, "destroy removed the Deployment");
    }

    it("TypeScript: the packed package, installed into examples/typescript, deploys the local stack", async () => {
        tsDir = path.join(work, "example-ts");
        copyDir(path.join(ROOT, "examples/typescript"), tsDir);
        const pkg = JSON.parse(fs.readFileSync(path.join(tsDir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
        pkg.dependencies["nix-gpu-deploy"] = `file:${tarball}`;
        fs.writeFileSync(path.join(tsDir, "package.json"), JSON.stringify(pkg, null, 2));
        const t0 = Date.now();
        execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: tsDir, stdio: ["ignore", "ignore", "inherit"] });
        console.log(`      npm install of the example: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
        assert.ok(!fs.lstatSync(path.join(tsDir, "node_modules/nix-gpu-deploy")).isSymbolicLink(), "the package is installed from the tarball, not linked to the source");
        const stack = await exampleStack(tsDir, "ngd-example-ts");
        await deployAndExplain(stack, tsDir, "ngd-example-ts", async () => {
            // The policy pack, run by the engine: what the components deploy passes it.
            const t1 = Date.now();
            const p = await stack.preview({ policyPacks: [path.join(project, "policy")], color: "never" });
            console.log(`      policy pack on the deployed stack: passed in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
            assert.doesNotMatch(`${p.stdout}\n${p.stderr}`, /\[mandatory\]/, "no mandatory violation reported");
            const policies = p.stdout.slice(Math.max(0, p.stdout.indexOf("Policies:"))).split("\n").slice(0, 3).map((l) => l.trim()).join(" ");
            console.log(`      ${policies}`);
        });
    });

    it("the policy pack refuses a violating program through the engine, naming each policy", async () => {
        // A hand-written GPU Deployment: by tag, no toleration or GPU selector, as root, in a namespace it does not own.
        const dir = path.join(work, "violating");
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: ngd-violating\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n");
        fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "ngd-violating", main: "index.js" }));
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
        fs.writeFileSync(path.join(dir, "index.js"), [
            'const k8s = require("@pulumi/kubernetes");',
            'const fs = require("fs");',
            `const provider = new k8s.Provider("k8s", { kubeconfig: fs.readFileSync(${JSON.stringify(env.NGD_KUBECONFIG)}, "utf8") });`,
            'new k8s.apps.v1.Deployment("trainer", {',
            '  metadata: { name: "trainer", namespace: "default" },',
            '  spec: { selector: { matchLabels: { app: "trainer" } }, template: { metadata: { labels: { app: "trainer" } }, spec: {',
            '    containers: [{ name: "trainer", image: "registry.example/ml/trainer:latest", resources: { limits: { "nvidia.com/gpu": "1" } } }],',
            '  } } },',
            '}, { provider });',
        ].join("\n"));
        const state = path.join(work, "state-violating");
        fs.mkdirSync(state);
        const stack = await LocalWorkspace.createOrSelectStack({ stackName: "dev", workDir: dir }, { envVars: pulumiEnv(state, env) });
        let out = "";
        await assert.rejects(stack.preview({ policyPacks: [path.join(project, "policy")], color: "never" }), (e: Error & { stdout?: string; stderr?: string }) => {
            out = `${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`;
            return true;
        });
        const named = ["gpu-image-by-digest", "gpu-toleration-and-placement", "containers-hardened", "gpu-namespace-owned"].filter((p) => out.includes(p));
        console.log(`      the violating preview was refused, naming: ${named.join(", ")}`);
        console.log(out.split("\n").filter((l) => /mandatory|\[mandatory\]|violat/i.test(l)).slice(0, 8).map((l) => `        | ${l.trim()}`).join("\n"));
        assert.deepStrictEqual(named, ["gpu-image-by-digest", "gpu-toleration-and-placement", "containers-hardened", "gpu-namespace-owned"], out.slice(-4000));
        assert.match(out, /mandatory/);
    });

    it("Python: `pulumi package add` generates the SDK; the Python program deploys the local stack with the same explanation", async () => {
        assert.ok(tsDir !== undefined, "runs after the TypeScript example (it adds the package that one installed)");
        const pyDir = path.join(work, "example-py");
        copyDir(path.join(ROOT, "examples/python"), pyDir);
        // `pulumi package add` installs every provider the package's npm dependencies name, at their SDK's
        // version, whatever PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION says; for docker that is 5.2.0,
        // whose source is not here. In this suite's own Pulumi home the 5.1.0 build is installed under
        // 5.2.0 too (every other run of the engine runs 5.1.0 for the 5.2.0 SDK already; README).
        const pyHome = path.join(work, "pulumi-home-py");
        // The toolchain's providers, installed into it as into any Pulumi home (test/e2e/toolchain.sh).
        execFileSync(path.join(ROOT, "test/e2e/toolchain.sh"), ["install-plugins"], { env: { ...process.env, PULUMI_HOME: pyHome }, stdio: ["ignore", "inherit", "inherit"] });
        const docker = path.join(TOOLS, "providers", "pulumi-resource-docker");
        const runEnv = { ...process.env, ...pulumiEnv(path.join(work, "state-ngd-example-py"), env), PULUMI_HOME: pyHome, PATH: [path.join(TOOLS, "bin"), process.env.PATH].join(path.delimiter) };
        if (fs.existsSync(docker) && !fs.existsSync(path.join(pyHome, "plugins", "resource-docker-v5.2.0"))) {
            execFileSync("pulumi", ["plugin", "install", "resource", "docker", "5.2.0", "--file", docker], { env: runEnv, stdio: ["ignore", "ignore", "inherit"] });
        }
        fs.mkdirSync(path.join(work, "state-ngd-example-py"), { recursive: true });
        const watcher = watchPlugins();
        let ran: ReturnType<typeof watcher.stop> = [];
        try {
        const t0 = Date.now();
        // The installed package (as `npm install nix-gpu-deploy` leaves it), with its dependencies beside it.
        execFileSync("pulumi", ["package", "add", path.join(tsDir, "node_modules/nix-gpu-deploy"), "--non-interactive"], { cwd: pyDir, env: runEnv, stdio: ["ignore", "inherit", "inherit"] });
        console.log(`      pulumi package add: ${((Date.now() - t0) / 1000).toFixed(0)} s; SDK ${fs.readdirSync(path.join(pyDir, "sdks")).join(", ")}`);
        assert.match(fs.readFileSync(path.join(pyDir, "Pulumi.yaml"), "utf8"), /packages:\s*\n\s+nix-gpu-deploy:/);
        const stack = await exampleStack(pyDir, "ngd-example-py", pyHome);
        await deployAndExplain(stack, pyDir, "ngd-example-py");
        } finally {
            ran = watcher.stop();
        }
        for (const r of ran.filter((x) => /language/.test(x.name))) {
            console.log(`      ran ${r.name} (${r.exe})${r.fromUpstream === true ? `, built from ${r.source} (v${r.version})` : ""}`);
        }
        const python = ran.find((r) => r.name === "pulumi-language-python");
        assert.ok(python !== undefined, "the Python language host ran");
        assert.ok(!fs.existsSync(path.join(TOOLS, "plugins", "pulumi-language-python")) || python.fromUpstream === true, "the Python host that ran is the one built from upstream");
        assert.ok(ran.some((r) => r.name === "pulumi-language-nodejs"), "the Node.js host ran the component plugin");
        assert.deepStrictEqual(explained["ngd-example-py"], explained["ngd-example-ts"], "the same explanation from Python as from TypeScript");
    });
});
