// `npm run bench:progress`: what the progress reporting costs (issue #20), side by side in one run.
// The build and the push run through the project's own scripts (components/exec.ts) with the
// progress filter and without it (NGD_PROGRESS_OFF=1: Nix's own log, skopeo --quiet), interleaved:
// - build: a fresh set of derivations each run (a nonce), 40 builders that each log 2,000 lines and
//   hash 128 MiB (a chatty build: 80,000 lines in some seconds; a CUDA build logs far fewer a
//   second), so the filter reads every line Nix logs as JSON;
// - push: the release benchmark's 2 GiB closure as an image (123 paths in 100 layers,
//   test/fixture/release.nix, built once) into a registry started empty for each push.
// Prints wall-clock medians (min–max) and the ratio on/off; the target is ≤ 1.02×.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildEnvironment, nixBuildScript, skopeoPushEnvironment, skopeoPushScript } from "../../components/exec";
import { PROGRESS_FILTER } from "../../components/nix/image";
import { startRegistry } from "../services/registry";
import { SANDBOXED_BUILDER } from "../host-tools";

const ROOT = path.resolve(__dirname, "../..");
const RUNS = Number(process.env.NGD_BENCH_RUNS ?? "7");
const TARGET = 1.02;
const PUSH_MIB = process.env.NGD_BENCH_PUSH_MIB ?? "2048";

function sh(script: string, env: Record<string, string>): number {
    const t0 = process.hrtime.bigint();
    const r = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) {
        throw new Error(`bench step failed (${r.status}): ${r.stderr.slice(-2000)}`);
    }
    return s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function buildExpression(dir: string): string {
    const expr = path.join(dir, "fan.nix");
    fs.writeFileSync(expr, `{ nonce }:
let mk = i: derivation {
  name = "ngd-bench-progress-\${nonce}-\${toString i}";
  system = builtins.currentSystem;
  ${SANDBOXED_BUILDER}
  args = [ "-c" "i=0; while [ $i -lt 2000 ]; do echo \\"compiling unit $i of \${toString i}\\"; i=$((i+1)); done; head -c 134217728 /dev/zero | sha256sum > $out" ];
};
in derivation { name = "ngd-bench-progress-top-\${nonce}"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} deps = map mk (builtins.genList (x: x) 40); args = [ "-c" "echo $deps > $out" ]; }
`);
    return expr;
}

async function main(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-bench-progress-"));
    const rows: Array<{ what: string; on: number[]; off: number[] }> = [];
    try {
        // Build.
        const expr = buildExpression(dir);
        const build = { on: [] as number[], off: [] as number[] };
        for (let i = 0; i < RUNS; i++) {
            for (const mode of (i % 2 === 0 ? ["on", "off"] : ["off", "on"]) as Array<"on" | "off">) {
                const b = { entryAbs: expr, args: { argstr: { nonce: `${process.pid}-${Date.now()}-${i}-${mode}` }, settings: { substituters: [] } } };
                build[mode].push(sh(nixBuildScript(b), { ...buildEnvironment(b), NGD_PROGRESS: PROGRESS_FILTER, ...(mode === "off" ? { NGD_PROGRESS_OFF: "1" } : {}) }));
            }
        }
        rows.push({ what: "nix-build: 41 derivations, 80,000 log lines, 5 GiB hashed", ...build });

        // Push.
        const fixture = path.join(ROOT, "test/fixture/release.nix");
        const plain = { entryAbs: fixture, args: { argstr: { totalMiB: PUSH_MIB }, settings: { substituters: [] } } };
        const image = spawnSync("/bin/sh", ["-c", nixBuildScript(plain)], { encoding: "utf8", env: { ...process.env, ...buildEnvironment(plain) } }).stdout.trim();
        if (!fs.existsSync(path.join(image, "oci-layout"))) {
            throw new Error(`the release fixture built no image layout: ${image}`);
        }
        const layers = (JSON.parse(fs.readFileSync(path.join(image, "manifest.json"), "utf8"))[0].Layers as string[]).length;
        const push = { on: [] as number[], off: [] as number[] };
        for (let i = 0; i < RUNS; i++) {
            for (const mode of (i % 2 === 0 ? ["on", "off"] : ["off", "on"]) as Array<"on" | "off">) {
                const registry = await startRegistry();
                try {
                    push[mode].push(sh(skopeoPushScript(), {
                        ...skopeoPushEnvironment({ destination: `${registry.host}/bench:${i}`, insecure: true }),
                        NGD_IMAGE: image, NGD_REGISTRY: registry.host, REGISTRY_USERNAME: registry.username, REGISTRY_PASSWORD: registry.password,
                        NGD_PROGRESS: PROGRESS_FILTER, ...(mode === "off" ? { NGD_PROGRESS_OFF: "1" } : {}),
                    }));
                } finally {
                    registry.stop();
                }
            }
        }
        rows.push({ what: `skopeo push: ${PUSH_MIB} MiB in ${layers} layers into an empty registry`, ...push });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`\nbench:progress — ${RUNS} runs of each, interleaved; wall-clock seconds, median (min–max)\n`);
    console.log("| step | progress on | progress off | ratio on/off | target ≤ 1.02× |");
    console.log("|---|---|---|---|---|");
    for (const r of rows) {
        const ratio = median(r.on) / median(r.off);
        const span = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
        console.log(`| ${r.what} | ${span(r.on)} | ${span(r.off)} | ${ratio.toFixed(3)}× | ${ratio <= TARGET ? "pass" : "FAIL"} |`);
        if (ratio > TARGET) {
            process.exitCode = 1;
        }
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
