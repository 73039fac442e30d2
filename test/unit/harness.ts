// Runs the real index.ts under pulumi mocks with a given stack config and records what it registers.
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";

export const ROOT = path.resolve(__dirname, "../..");
const INDEX = path.join(ROOT, "index.ts");

export interface Recorded {
    type: string;
    name: string;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- resource inputs are arbitrary JSON
    inputs: any;
    urn: string;
}

export interface Invocation {
    token: string;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- invoke inputs are arbitrary JSON
    inputs: any;
}

export interface ProgramRun {
    resources: Recorded[];
    invokes: Invocation[];
    outputs: Record<string, unknown>;
    error?: Error;
}

/** Stack file → engine-style config map (objects as JSON text). */
export function stackConfig(stack: string): Record<string, string> {
    const doc = parseYaml(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config?: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        out[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";
/** A deterministic fake Nix store hash. */
export function fakeStoreHash(seed: string): string {
    const bytes = crypto.createHash("sha256").update(seed).digest();
    return Array.from({ length: 32 }, (_, i) => NIX32[bytes[i] % 32]).join("");
}

function sh(command: string, env: Record<string, string> | undefined, dir: string | undefined): string {
    return execFileSync("/bin/sh", ["-c", command], {
        cwd: dir, env: { ...process.env, ...(env ?? {}) }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
    });
}

/** The CUDA entry needs nixpkgs from the network: its evaluation and build are simulated. */
function isOfflineUnbuildable(cmd: string): boolean {
    return cmd.includes("/nix/build_container.nix");
}

export interface RunOptions {
    stack: string;
    config: Record<string, string>;
    secretKeys?: string[];
    /** Run real nix for nixpkgs-free entries (default true). */
    realNix?: boolean;
    nixAvailable?: boolean;
    /** A preview (pulumi.runtime.isDryRun()); default false. */
    preview?: boolean;
    /** The stack's outputs as the engine's readStackOutputs returns them (the last `up`'s). */
    previousOutputs?: Record<string, unknown>;
}

/** Runs index.ts once under fresh mocks. */
export async function runProgram(o: RunOptions): Promise<ProgramRun> {
    const resources: Omit<Recorded, "urn">[] = [];
    const invokes: Invocation[] = [];
    const realNix = o.realNix ?? true;
    pulumi.runtime.setAllConfig(o.config, o.secretKeys ?? []);
    await pulumi.runtime.setMocks({
        newResource(args) {
            resources.push({ type: args.type, name: args.name, inputs: args.inputs });
            const state = { ...args.inputs };
            if (args.type === "command:local:Command") {
                const create = String(args.inputs.create ?? "");
                if (args.name.endsWith("image-build")) {
                    // The image build (its two nix-builds): not run under mocks; an image path keyed by its triggers.
                    state.stdout = `/nix/store/${fakeStoreHash(`out${JSON.stringify(args.inputs.triggers)}`)}-myproject-image\n`;
                } else {
                    state.stdout = `sha256:${crypto.createHash("sha256").update(JSON.stringify(args.inputs.triggers ?? create)).digest("hex")}\n`;
                }
                state.stderr = "";
            }
            if (args.type === "pulumi:pulumi:StackReference") {
                // As the engine reads a stack that has no outputs yet (a first deployment).
                state.outputs = {};
                state.secretOutputNames = [];
            }
            if (args.type === "docker:index/registryImage:RegistryImage") {
                state.sha256Digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(args.inputs)).digest("hex")}`;
            }
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            invokes.push({ token: args.token, inputs: args.inputs });
            if (args.token === "pulumi:pulumi:readStackOutputs") {
                return { name: args.inputs.name, outputs: o.previousOutputs ?? {}, secretOutputNames: [] };
            }
            if (args.token === "command:local:run") {
                const cmd = String(args.inputs.command);
                if (!realNix && /nix-command show-config --json$/.test(cmd)) {
                    // what the program learns of this machine's Nix: the platforms it builds for
                    return { stdout: JSON.stringify({ system: { value: "x86_64-linux" }, "extra-platforms": { value: [] }, builders: { value: "" } }), stderr: "" };
                }
                if (!realNix || isOfflineUnbuildable(cmd)) {
                    const fp = String(args.inputs.environment?.NGD_FINGERPRINT ?? cmd);
                    return { stdout: `/nix/store/${fakeStoreHash(`drv${fp}`)}-myproject.tar.gz.drv\n/nix/store/${fakeStoreHash(`out${fp}`)}-myproject.tar.gz\n`, stderr: "" };
                }
                try {
                    return { stdout: sh(cmd, args.inputs.environment, args.inputs.dir), stderr: "" };
                } catch (e) {
                    // As the engine reports a failed invoke: a gRPC error whose details carry the command's stderr.
                    const failed = e as { status?: number; stderr?: string };
                    const details = `exit status ${failed.status}: ${failed.stderr ?? ""}`;
                    throw Object.assign(new Error(details), { details });
                }
            }
            throw new Error(`unexpected invoke ${args.token}`);
        },
    }, "nix-gpu-deploy", o.stack, o.preview ?? false, "organization");

    const saved = process.env.NGD_NIX_AVAILABLE;
    if (o.nixAvailable !== undefined) {
        process.env.NGD_NIX_AVAILABLE = String(o.nixAvailable);
    }
    // Every run evaluates: the evaluation cache is tested on its own (test/unit/preview.test.ts).
    const savedCache = process.env.NGD_EVAL_CACHE;
    process.env.NGD_EVAL_CACHE = "off";
    delete require.cache[require.resolve(INDEX)];
    const outputs: Record<string, unknown> = {};
    let error: Error | undefined;
    try {
        // The program is an async function (as the SDK's language runtime calls it): its result is the outputs.
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program must be re-run per test
        const main = require(INDEX) as () => Promise<Record<string, pulumi.Output<unknown> | unknown>>;
        const mod = await main();
        for (const [k, v] of Object.entries(mod)) {
            // The SDK's own promise of the value (not `apply`, whose callback never runs when the
            // output failed): a failed output fails the run instead of hanging it.
            outputs[k] = pulumi.Output.isInstance(v) ? await (v as unknown as { promise(): Promise<unknown> }).promise() : v;
        }
        // let queued registrations finish
        await new Promise((r) => setTimeout(r, 50));
    } catch (e) {
        error = e as Error;
    } finally {
        if (savedCache === undefined) {
            delete process.env.NGD_EVAL_CACHE;
        } else {
            process.env.NGD_EVAL_CACHE = savedCache;
        }
        if (saved === undefined) {
            delete process.env.NGD_NIX_AVAILABLE;
        } else {
            process.env.NGD_NIX_AVAILABLE = saved;
        }
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is not typed publicly
    const monitor = pulumi.runtime.getMonitor() as any;
    const registered: Map<string, unknown> = monitor?.getRegisteredResources?.() ?? new Map();
    const urns = [...registered.keys()];
    return {
        resources: resources.map((r) => ({ ...r, urn: urns.find((u) => u.endsWith(`::${r.name}`) && u.includes(r.type)) ?? "" })),
        invokes,
        outputs,
        error,
    };
}

/** The resource of `type` whose name ends with `suffix`. */
export function find(run: ProgramRun, type: string, suffix: string): Recorded {
    // `-image-build` finds `image-build` (stable names) as well as any `<prefix>-image-build`.
    const r = run.resources.find((x) => x.type === type && `-${x.name}`.endsWith(suffix));
    if (r === undefined) {
        throw new Error(`no ${type} named *${suffix}; have: ${run.resources.map((x) => `${x.type} ${x.name}`).join(", ")}`);
    }
    return r;
}

/** The parent type chain encoded in a URN (`a$b$c::name` → [a, b]). */
export function parentTypes(urn: string): string[] {
    const typePart = urn.split("::")[2] ?? "";
    return typePart.split("$").slice(0, -1);
}

/** A valid stack config for parser tests, as objects (the local stack's shape, with a context). */
export function validConfig(): Record<string, Record<string, unknown>> {
    return {
        nix: { entry: "test/fixture/default.nix", overlays: [{ name: "greeting", args: { text: "hi" } }], cudaCapabilities: ["9.0"] },
        image: { name: "ml/fixture" },
        registry: { host: "127.0.0.1:5001", username: "ngd", insecure: true, publisher: "skopeo" },
        gpu: { product: "NVIDIA-H100-80GB-HBM3", count: 1 },
        cluster: { name: "local", namespace: "ml-local", context: "local" },
        deployment: { name: "fixture", memory: "1Gi", shmSize: "256Mi" },
    };
}
