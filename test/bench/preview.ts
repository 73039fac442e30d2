// `npm run bench:preview`: what a `pulumi preview` costs when nothing changed, side by side with an
// empty Pulumi program's preview on the same engine, ≥ 5 runs each, interleaved (issue #13). Also
// a rehearsal stack whose evaluation is deliberately expensive (the expensiveEval overlay, seconds):
// a no-op preview does not pay for it again (the evaluation cache), a real change does.
// Needs the toolchain (test/e2e/toolchain.sh); starts and stops the rehearsal cluster itself.
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, TOOLS, pulumiEnv, startSuite, tearDownSuite } from "../e2e/harness";

const RUNS = Number(process.env.NGD_BENCH_RUNS ?? 5);
const TARGET = 1.2;

interface Case {
    name: string;
    /** One measured preview; returns its wall seconds. */
    run: (i: number) => number;
    seconds: number[];
}

const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: s[0], median: s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, max: s[s.length - 1] };
};

async function main(): Promise<void> {
    process.env.NGD_CLUSTER_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "ngd-bench-cluster-"));
    const { env, work, project, stack } = await startSuite("ngd-bench-preview-");
    try {
        const penv = { ...process.env, ...pulumiEnv(path.join(work, "state"), env) };
        const pulumi = (cwd: string, args: string[], extra: Record<string, string> = {}) => {
            const t0 = process.hrtime.bigint();
            execFileSync(path.join(TOOLS, "bin", "pulumi"), args, { cwd, env: { ...penv, ...extra }, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
            return Number(process.hrtime.bigint() - t0) / 1e9;
        };
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.up({ color: "never" });

        /** A throw-away program directory and its stack, on this project's node_modules. */
        const program = async (name: string, files: { pulumiYaml?: string; indexTs?: string; tsconfig?: unknown; dependencies?: unknown }) => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ngd-bench-${name}-`));
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), files.pulumiYaml ?? `name: ngd-${name}\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n    tsconfig: tsconfig.json\n`);
            fs.writeFileSync(path.join(dir, "index.ts"), files.indexTs ?? "export {};\n");
            fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `ngd-${name}`, version: "0.0.0", main: "index.ts", dependencies: files.dependencies }));
            fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(files.tsconfig ?? sameSettings));
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
            await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: dir }, { envVars: pulumiEnv(path.join(work, "state"), env) });
            return dir;
        };
        const compilerOptions = { target: "ES2022", module: "commonjs", moduleResolution: "node", strict: true, types: ["node"] };
        // This program's settings: transpile-only with the project's tsconfig.pulumi.json `ts-node` options (swc).
        const tsNode = (JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.pulumi.json"), "utf8")) as { "ts-node"?: unknown })["ts-node"];
        const sameSettings = { compilerOptions: { ...compilerOptions, noCheck: true }, files: ["index.ts"], "ts-node": tsNode };
        // An empty TypeScript program: same engine, same language host, same settings.
        const empty = await program("empty", {});
        // The empty program as `pulumi new typescript` sets it up: Pulumi's default TypeScript handling,
        // where ts-node type-checks (the baseline of issue #13's 6.6 s figure).
        const emptyDefault = await program("empty-default", { pulumiYaml: "name: ngd-empty-default\nruntime:\n  name: nodejs\n", tsconfig: { compilerOptions, files: ["index.ts"] } });
        // The smallest program that uses the SDK (`pulumi new typescript` imports it): loading
        // @pulumi/pulumi's index (about 0.3 s here) is a cost of every Pulumi program with a resource.
        const minimal = await program("minimal", { indexTs: "import * as pulumi from \"@pulumi/pulumi\";\nexport const stack = pulumi.getStack();\n" });
        // The same empty program with this project's package.json: the engine then knows the same
        // provider plugins (command, docker, kubernetes) it knows for the real program.
        const emptyDeps = await program("empty-deps", { dependencies: (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Record<string, unknown>).dependencies });

        // The expensive-evaluation stack builds and publishes only (no cluster: it would share the
        // local stack's namespace), with the expensiveEval overlay on top of the local stack's.
        const cli = (...args: string[]) => execFileSync(path.join(TOOLS, "bin", "pulumi"), args, { cwd: project, env: penv, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
        cli("stack", "init", "expensive", "--copy-config-from", "local", "--non-interactive");
        for (const k of ["gpu", "cluster", "deployment", "kubeconfig"]) {
            cli("config", "rm", k, "--stack", "expensive");
        }
        cli("config", "set", "--path", "image.publishOnly", "true", "--stack", "expensive");
        cli("config", "set", "--path", "nix.overlays[1].name", "expensiveEval", "--stack", "expensive");
        cli("stack", "select", "local");
        const up = (s: string) => {
            try {
                execFileSync(path.join(TOOLS, "bin", "pulumi"), ["up", "--yes", "--stack", s, "--non-interactive", "--color", "never"], { cwd: project, env: penv, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
            } catch (e) {
                const f = e as { stdout?: string; stderr?: string };
                throw new Error(`pulumi up --stack ${s} failed:\n${f.stdout ?? ""}\n${f.stderr ?? ""}`);
            }
        };
        up("expensive");

        const preview = (cwd: string, s: string, extra: Record<string, string> = {}) => () => pulumi(cwd, ["preview", "--stack", s, "--non-interactive", "--color", "never"], extra);
        const cases: Case[] = [
            { name: "empty program", run: preview(empty, "empty"), seconds: [] },
            { name: "empty program, this project's plugins", run: preview(emptyDeps, "empty-deps"), seconds: [] },
            { name: "minimal program (imports @pulumi/pulumi)", run: preview(minimal, "minimal"), seconds: [] },
            { name: "empty program, Pulumi's default (type-checks)", run: preview(emptyDefault, "empty-default"), seconds: [] },
            { name: "local stack, no change", run: preview(project, "local"), seconds: [] },
            { name: "expensive evaluation, no change", run: preview(project, "expensive"), seconds: [] },
            { name: "expensive evaluation, no change, cache off", run: preview(project, "expensive", { NGD_EVAL_CACHE: "off" }), seconds: [] },
            {
                name: "expensive evaluation, overlay argument changed",
                run: (i) => {
                    cli("config", "set", "--path", "nix.overlays[0].args.text", `bench change ${process.pid}-${i}`, "--stack", "expensive");
                    return preview(project, "expensive")();
                },
                seconds: [],
            },
        ];
        for (const c of cases) {
            c.run(-1); // warm-up, not counted
        }
        for (let i = 0; i < RUNS; i++) {
            for (const c of cases) {
                c.seconds.push(c.run(i));
            }
        }
        const byName = (n: string) => stats(cases.find((c) => c.name.startsWith(n))!.seconds).median;
        const base = byName("empty program");
        const baseMinimal = byName("minimal program");
        console.log(`\nbench:preview — ${RUNS} runs each, interleaved; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}); wall seconds`);
        const baseDefault = byName("empty program, Pulumi's default");
        console.log(`${"case".padEnd(48)} ${"min".padStart(6)} ${"median".padStart(7)} ${"max".padStart(6)}  vs empty  vs minimal  vs default empty`);
        for (const c of cases) {
            const s = stats(c.seconds);
            console.log(`${c.name.padEnd(48)} ${s.min.toFixed(2).padStart(6)} ${s.median.toFixed(2).padStart(7)} ${s.max.toFixed(2).padStart(6)}  ${(s.median / base).toFixed(2).padStart(7)}×  ${(s.median / baseMinimal).toFixed(2).padStart(7)}×  ${(s.median / baseDefault).toFixed(2).padStart(7)}×`);
        }
        const noopMedian = byName("local stack, no change");
        const expensiveMedian = byName("expensive evaluation, no change");
        const verdict = (r: number) => `${r.toFixed(2)}× ${r <= TARGET ? "PASS" : "FAIL"}`;
        console.log(`target: a no-op preview ≤ ${TARGET}× the empty program's: local ${verdict(noopMedian / base)} (vs the minimal program: ${verdict(noopMedian / baseMinimal)}; vs the default empty program: ${verdict(noopMedian / baseDefault)}); expensive evaluation ${verdict(expensiveMedian / base)} (${verdict(expensiveMedian / baseMinimal)}; ${verdict(expensiveMedian / baseDefault)})`);
        console.log(`a real change pays the evaluation: +${(byName("expensive evaluation, overlay argument changed") - expensiveMedian).toFixed(2)} s over the no-op (cache off: +${(byName("expensive evaluation, no change, cache off") - expensiveMedian).toFixed(2)} s)`);
        execFileSync(path.join(TOOLS, "bin", "pulumi"), ["destroy", "--yes", "--stack", "expensive", "--non-interactive"], { cwd: project, env: penv, stdio: "ignore" });
        await stack.destroy({ color: "never" });
        fs.rmSync(empty, { recursive: true, force: true });
        fs.rmSync(emptyDeps, { recursive: true, force: true });
        fs.rmSync(minimal, { recursive: true, force: true });
        fs.rmSync(emptyDefault, { recursive: true, force: true });
    } finally {
        tearDownSuite(work, project);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
