// Errors the program raises on purpose read like a tool, not a crash: each is a pulumi.RunError,
// which the SDK's language runtime (@pulumi/pulumi/cmd/run/run.js) prints as its message alone —
// no stack trace, no util.inspect colours — and names the config property or file concerned.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT, RunOptions, runProgram, stackConfig } from "./harness";

/** What run.js prints for an uncaught error that is a RunError: its message. Anything else gets a trace. */
function assertCleanRunError(e: unknown): string {
    assert.ok(e instanceof Error, "the program fails");
    assert.ok(pulumi.RunError.isInstance(e), `a pulumi.RunError (printed without a stack trace), got ${(e as Error).name}: ${(e as Error).message}`);
    const message = (e as Error).message;
    assert.ok(!/^\s*at /m.test(message), `no stack frame lines:\n${message}`);
    // eslint-disable-next-line no-control-regex -- looking for terminal escapes is the point
    assert.ok(!/\u001b/.test(message), "no ANSI escapes");
    return message;
}

const secrets = { "nix-gpu-deploy:registryPassword": "pw", "nix-gpu-deploy:kubeconfig": "apiVersion: v1\nkind: Config\n" };
const secretKeys = Object.keys(secrets);

function withNix(nix: Record<string, unknown>): Record<string, string> {
    return { ...stackConfig("local"), ...secrets, "nix-gpu-deploy:nix": JSON.stringify(nix) };
}

describe("deliberate errors are pulumi.RunError with one clean message", function () {
    this.timeout(120000);

    it("a bad config: one block, header with the count, one line per problem with its property path", async () => {
        const cfg: Record<string, string> = { ...stackConfig("local"), ...secrets };
        const gpu = JSON.parse(cfg["nix-gpu-deploy:gpu"]);
        cfg["nix-gpu-deploy:gpu"] = JSON.stringify({ ...gpu, count: 17 });
        const dep = JSON.parse(cfg["nix-gpu-deploy:deployment"]);
        cfg["nix-gpu-deploy:deployment"] = JSON.stringify({ ...dep, strategy: "x".repeat(1_000_000) });
        cfg["nix-gpu-deploy:constructor"] = "1";
        const run = await runProgram({ stack: "bad", config: cfg, secretKeys, realNix: false });
        const lines = assertCleanRunError(run.error).split("\n");
        assert.deepStrictEqual(lines, [
            "nix-gpu-deploy: invalid stack configuration (3 problems)",
            "  - nix-gpu-deploy:constructor: unknown config key (known: nix, image, registry, gpu, cluster, deployment, registryPassword, registryPullPassword, kubeconfig, nixSigningKey, nixBuilderSshKey)",
            "  - nix-gpu-deploy:gpu.count: must be within 0..16, got 17",
            `  - nix-gpu-deploy:deployment.strategy: must be one of Recreate, RollingUpdate, got "${"x".repeat(64)}" … and 999936 more characters`,
        ]);
        assert.deepStrictEqual(run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
    });

    it("an overlay argument the overlay does not declare fails with the config, naming it", async () => {
        const run = await runProgram({ stack: "bad", config: withNix({ entry: "test/fixture/default.nix", overlays: [{ name: "greeting", args: { txet: "hi" } }] }), secretKeys, realNix: false });
        const message = assertCleanRunError(run.error);
        assert.match(message, /^ {2}- nix-gpu-deploy:nix\.overlays\[0\]\.args\.txet: unknown argument of overlay greeting \(known: text\)$/m);
        assert.deepStrictEqual(run.invokes, [], "Nix is not even asked");
    });

    it("the default overlay missing next to a non-default entry names nix.overlays", async () => {
        const run = await runProgram({ stack: "bad", config: withNix({ entry: "test/fixture/default.nix" }), secretKeys, realNix: false });
        assert.match(assertCleanRunError(run.error), /nix-gpu-deploy:nix\.overlays: the default overlay replaceTorch \(nix\.overlays is not set\): no overlay file test\/fixture\/overlay\/replace-torch\.nix next to the Nix entry/);
    });

    describe("a Nix evaluation failure", () => {
        let dir: string;
        let result: {
            error?: { runError: boolean; message: string };
            resources: Array<{ type: string; name: string }>;
            invokes: string[];
            rejections: Array<{ runError: boolean; message: string }>;
        };
        before(() => {
            // A fixture copy inside the project with an overlay whose evaluation throws.
            dir = fs.mkdtempSync(path.join(ROOT, "test", ".tmp-evalfail-"));
            fs.cpSync(path.join(ROOT, "test", "fixture"), dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "overlay", "boom.nix"), "{ }:\nfinal: prev: throw \"boom overlay: refusing to evaluate\"\n");
            fs.writeFileSync(path.join(dir, "overlay", "boom.args.json"), JSON.stringify({ args: {} }));
            const options: RunOptions = {
                stack: "local",
                config: withNix({ entry: path.relative(ROOT, path.join(dir, "default.nix")), overlays: [{ name: "boom" }] }),
                secretKeys,
                realNix: true,
                nixAvailable: true,
            };
            // Its own process: the failed registrations are unhandled rejections there, as under the CLI.
            // (The SDK's leak check sets a non-zero exit code: registrations left waiting on the failure.)
            const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, "isolated-program.ts"), JSON.stringify(options)],
                { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 110000 });
            const last = child.stdout.trim().split("\n").pop() ?? "";
            assert.ok(last.startsWith("{"), `no result from the program run:\n${child.stdout}\n${child.stderr}`);
            result = JSON.parse(last);
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("fails with a RunError naming the entry and overlays and quoting Nix", () => {
            assert.ok(result.error, "the program fails");
            assert.ok(result.error.runError, result.error.message);
            const lines = result.error.message.split("\n");
            assert.match(lines[0], /^nix-gpu-deploy: nix evaluation of test\/\.tmp-evalfail-[^ ]+\/default\.nix failed \(nix\.entry [^ ]+, nix\.overlays: boom\); nothing was built or deployed:$/);
            assert.ok(lines.slice(1).every((l) => l.startsWith("  | ")), result.error.message);
            assert.match(result.error.message, /boom overlay: refusing to evaluate/);
            assert.ok(!/^\s*at /m.test(result.error.message), result.error.message);
        });

        it("registers no cluster resource and no build", () => {
            assert.deepStrictEqual(result.invokes.filter((t) => t !== "pulumi:pulumi:readStackOutputs"), ["command:local:run", "command:local:run"], "the platform check and the evaluation ran");
            const registered = result.resources.map((r) => r.type);
            assert.ok(!registered.some((t) => t.startsWith("kubernetes:") || t === "pulumi:providers:kubernetes"), registered.join(", "));
            // no build or push; only the stack's GC-root id (a random name, made once, harmless)
            const commands = result.resources.filter((r) => r.type === "command:local:Command").map((r) => r.name);
            assert.deepStrictEqual(commands, ["image-gc-roots-id"], registered.join(", "));
        });

        it("every error the runtime sees is that one RunError (printed once, without a trace)", () => {
            for (const r of result.rejections) {
                assert.ok(r.runError, `${r.message}`);
                assert.strictEqual(r.message, result.error?.message);
            }
        });
    });

    it("issue #21: nix.system this machine cannot build for, with no builder offering it, is refused at preview, naming it", () => {
        const nix = { ...JSON.parse(stackConfig("local")["nix-gpu-deploy:nix"]), system: "aarch64-linux", builders: "ssh://builder.example x86_64-linux" };
        const options: RunOptions = { stack: "local", config: withNix(nix), secretKeys, realNix: true, nixAvailable: true, preview: true };
        const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, "isolated-program.ts"), JSON.stringify(options)],
            { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 110000 });
        const result = JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}") as { error?: { message: string; runError: boolean }; invokes: string[] };
        assert.ok(result.error?.runError, JSON.stringify(result));
        assert.match(result.error.message, /^nix-gpu-deploy: nix\.system aarch64-linux cannot be built here: this machine's Nix builds x86_64-linux[^\n]*, and nix\.builders offers x86_64-linux only\. Add a builder for aarch64-linux/);
        // nothing evaluated: the check comes first
        assert.deepStrictEqual(result.invokes.filter((t) => t !== "pulumi:pulumi:readStackOutputs"), ["command:local:run"]);
    });
});
