// Issue #20: progress on long work. The filters' parsing (pure), the compiled filter, and the build
// and push scripts run for real: nix-build with its internal-json log, skopeo against a registry.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildEnvironment, nixBuildScript } from "../../components/exec";
import { PROGRESS_FILTER } from "../../components/nix/image";
import {
    SUMMARY_PREFIX, formatBytes, formatSeconds, newNixProgress, newPushProgress, nixLogLine, nixProgressLine, nixSummaryLine, parseSummaries, pushProgressLine, pushSummaryLine,
    runSummaryLine, skopeoLogLine,
} from "../../components/nix/progress";
import { ROOT } from "./harness";
import { SANDBOXED_BUILDER } from "../host-tools";

const nixJson = (o: Record<string, unknown>) => `@nix ${JSON.stringify(o)}`;

describe("progress: Nix's internal-json log", () => {
    it("counts derivations built, paths fetched and bytes downloaded, and names what is building", () => {
        const s = newNixProgress();
        const lines = [
            nixJson({ action: "start", id: 1, level: 0, text: "", type: 104 }),
            nixJson({ action: "start", id: 2, level: 0, text: "", type: 103 }),
            nixJson({ action: "start", id: 3, level: 0, text: "", type: 102 }),
            nixJson({ action: "msg", level: 3, msg: "these 4 derivations will be built:" }),
            nixJson({ action: "result", id: 1, type: 105, fields: [1, 4, 1, 0] }),
            nixJson({ action: "result", id: 2, type: 105, fields: [2, 5, 1, 0] }),
            nixJson({ action: "result", id: 3, type: 106, fields: [101, 3 * 1024 * 1024] }),
            nixJson({ action: "start", id: 7, level: 4, text: "downloading", type: 101 }),
            nixJson({ action: "result", id: 7, type: 105, fields: [1024 * 1024, 3 * 1024 * 1024, 0, 0] }),
            // a remote build's copy to the builder: not a download
            nixJson({ action: "start", id: 11, level: 4, text: "copying 3 paths", type: 103 }),
            nixJson({ action: "result", id: 11, type: 105, fields: [3, 3, 0, 0] }),
            nixJson({ action: "start", id: 9, level: 3, text: "building '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-torch-2.5.1.drv'", type: 105, fields: ["/nix/store/0123456789abcdfghijklmnpqrsvwxyz-torch-2.5.1.drv", "", 1, 1] }),
            nixJson({ action: "result", id: 9, type: 101, fields: ["a builder's log line is never echoed"] }),
        ];
        const passed = lines.map((l) => nixLogLine(s, l)).filter((x) => x !== undefined);
        assert.deepStrictEqual(passed, []);
        assert.strictEqual(nixProgressLine(s, 75), "1 of 4 derivations built, 2 of 5 paths fetched, 1.0 MiB of 3.0 MiB downloaded, 1m15s; building torch-2.5.1");
        nixLogLine(s, nixJson({ action: "stop", id: 9 }));
        nixLogLine(s, nixJson({ action: "result", id: 1, type: 105, fields: [4, 4, 0, 0] }));
        assert.strictEqual(nixProgressLine(s, 3.4), "4 of 4 derivations built, 2 of 5 paths fetched, 1.0 MiB of 3.0 MiB downloaded, 3.4 s");
        assert.match(nixSummaryLine(s, 80, true), new RegExp(`^${SUMMARY_PREFIX} nix-build finished: built 4 derivations, fetched 2 paths \\(1\\.0 MiB\\), 1m20s at \\S+Z$`));
    });
    it("passes errors and warnings through without colours, and lines that are not Nix's JSON as they are", () => {
        const s = newNixProgress();
        assert.strictEqual(nixLogLine(s, nixJson({ action: "msg", level: 0, msg: "\u001b[31;1merror:\u001b[0m builder for '/nix/store/x.drv' failed with exit code 1;\n       last 60 log lines:" })),
            "error: builder for '/nix/store/x.drv' failed with exit code 1;\n       last 60 log lines:");
        assert.strictEqual(nixLogLine(s, nixJson({ action: "msg", level: 1, msg: "warning: ignoring untrusted substituter" })), "warning: ignoring untrusted substituter");
        assert.strictEqual(nixLogLine(s, nixJson({ action: "msg", level: 3, msg: "these paths will be fetched" })), undefined);
        assert.strictEqual(nixLogLine(s, "nix-gpu-deploy: binary cache http://x does not answer"), "nix-gpu-deploy: binary cache http://x does not answer");
        assert.strictEqual(nixLogLine(s, "@nix {not json"), "@nix {not json");
    });
});

describe("progress: skopeo's debug log", () => {
    const d = (c: string) => `sha256:${c.repeat(64)}`;
    const sizes = new Map([[d("a"), 1024], [d("b"), 2048], [d("c"), 4096]]);
    it("counts layers sent and already in the registry, with the bytes of the image layout's manifest", () => {
        const s = newPushProgress(sizes, d("f"));
        const log = [
            "Getting image source signatures",
            `Copying blob ${d("a")}`,
            `time="2026-12-04T21:08:46Z" level=debug msg="Skipping blob ${d("a")} (already present):"`,
            `Copying blob ${d("b")}`,
            `time="2026-12-04T21:08:46Z" level=debug msg="PATCH http://127.0.0.1:5099/v2/t/blobs/uploads/x?_state=token"`,
            `time="2026-12-04T21:08:46Z" level=debug msg="Upload of layer ${d("b")} complete"`,
            `Copying config ${d("f")}`,
            `time="2026-12-04T21:08:46Z" level=debug msg="Upload of layer ${d("f")} complete"`,
        ];
        assert.deepStrictEqual(log.map((l) => skopeoLogLine(s, l)).filter((x) => x !== undefined), [], "no debug chatter (upload tokens included) passes");
        assert.strictEqual(pushProgressLine(s, 2), "2 of 3 layers done (1 sent, 2.0 KiB of at most 6.0 KiB; 1 already in the registry), 2.0 s");
        assert.match(pushSummaryLine(s, 2, true), /push finished: pushed 1 of 3 layers \(2\.0 KiB\), 1 already in the registry, 2\.0 s at /);
    });
    it("passes skopeo's errors through", () => {
        const s = newPushProgress(new Map());
        assert.strictEqual(skopeoLogLine(s, `time="2026-12-04T21:08:46Z" level=fatal msg="trying to reuse blob: \\"denied\\""`), `skopeo: fatal: trying to reuse blob: "denied"`);
    });
});

describe("progress: the run's one-line summary", () => {
    it("adds up the steps' summaries (two nix-builds and a push)", () => {
        const text = [
            "nix-build: 1 of 2 derivations built, 0 of 0 paths fetched, 2.0 s",
            `${SUMMARY_PREFIX} nix-build finished: built 2 derivations, fetched 3 paths (1.5 MiB), 2.5 s at 2026-12-04T10:00:00.000Z`,
            `${SUMMARY_PREFIX} nix-build finished: built 1 derivation, fetched 0 paths (0 B), 1.0 s at 2026-12-04T10:00:01.000Z`,
            `${SUMMARY_PREFIX} push finished: pushed 3 of 13 layers (1.6 KiB), 10 already in the registry, 1m02s at 2026-12-04T10:01:03.000Z`,
        ].join("\n");
        const r = parseSummaries(text);
        assert.ok(r !== undefined);
        assert.strictEqual(r.at, Date.parse("2026-12-04T10:01:03.000Z"));
        assert.strictEqual(runSummaryLine(r), "nix-gpu-deploy: built 3 derivations, fetched 3 paths (1.5 MiB), pushed 3 of 13 layers (1.6 KiB), 1m05s in the build and push");
        assert.strictEqual(parseSummaries("no summary here"), undefined);
    });
    it("formats sizes and durations", () => {
        assert.strictEqual(formatBytes(0), "0 B");
        assert.strictEqual(formatBytes(1536), "1.5 KiB");
        assert.strictEqual(formatBytes(5 * 1024 ** 3), "5.0 GiB");
        assert.strictEqual(formatSeconds(3725), "1h02m");
    });
});

describe("progress: the compiled filter, in the real build script", function () {
    this.timeout(120000);
    it("components/nix/progress-filter.js is the compiled components/nix/progress.ts", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-progress-"));
        try {
            execFileSync(path.join(ROOT, "node_modules/.bin/tsc"), ["-p", path.join(ROOT, "tsconfig.progress.json"), "--outDir", out], { cwd: ROOT });
            const fresh = fs.readFileSync(path.join(out, "progress.js"), "utf8");
            const committed = fs.readFileSync(PROGRESS_FILTER, "utf8").split("\n").slice(1).join("\n");
            assert.strictEqual(committed, fresh, "run `npm run build:progress`");
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
    it("a real nix-build through the build script: progress lines, a summary, the store path on stdout, the status kept", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-progress-build-"));
        try {
            const expr = path.join(dir, "t.nix");
            const nonce = `${process.pid}-${Date.now()}`;
            // A chain of three steps of a second each (serial: each needs the one before), then the top.
            fs.writeFileSync(expr, `{ fail ? "no" }: let mk = prev: i: derivation { name = "ngd-progress-${nonce}-\${toString i}"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} inherit prev;
                args = ["-c" "sleep 1; if [ \${fail} = yes ]; then echo broken >&2; exit 3; fi; echo \${toString i} > $out"]; };
              in derivation { name = "ngd-progress-top-${nonce}"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} deps = mk (mk (mk "" 1) 2) 3; args = ["-c" "echo $deps > $out"]; }`);
            const build = { entryAbs: expr, args: { argstr: { fail: "no" }, settings: { substituters: [] } } };
            const env = { ...process.env, ...buildEnvironment(build), NGD_PROGRESS: PROGRESS_FILTER, NGD_PROGRESS_INTERVAL_MS: "200" };
            const ok = spawnSync("/bin/sh", ["-c", nixBuildScript(build)], { encoding: "utf8", env });
            assert.strictEqual(ok.status, 0, ok.stderr);
            assert.match(ok.stdout.trim(), /^\/nix\/store\/[a-z0-9]{32}-ngd-progress-top-/);
            assert.match(ok.stderr, /^nix-build: 0 of 4 derivations built, 0 of 0 paths fetched, [\d.]+ s; building ngd-progress-\S+-1$/m, "a line as the first build starts");
            assert.match(ok.stderr, /^nix-build: [1-3] of 4 derivations built, 0 of 0 paths fetched, [\d.]+ s; building ngd-progress-/m, "and lines as it goes");
            assert.match(ok.stderr, /nix-gpu-deploy: done: nix-build finished: built 4 derivations, fetched 0 paths \(0 B\), /);
            assert.doesNotMatch(ok.stderr, /@nix /, "no raw JSON reaches the log");
            const failing = { ...build, args: { ...build.args, argstr: { fail: "yes" } } };
            const bad = spawnSync("/bin/sh", ["-c", nixBuildScript(failing)], { encoding: "utf8", env: { ...env, ...buildEnvironment(failing) } });
            assert.strictEqual(bad.status, 100, "nix-build's status (100: a build failed), through the filter");
            assert.match(bad.stderr, /error: builder for '\/nix\/store\/\S+-ngd-progress-\S+\.drv' failed with exit code 3/);
            assert.match(bad.stderr, /broken/, `the builder's last lines are in the error: ${bad.stderr}`);
            assert.match(bad.stderr, /nix-build failed: /);
            const off = spawnSync("/bin/sh", ["-c", nixBuildScript(build)], { encoding: "utf8", env: { ...env, NGD_PROGRESS_OFF: "1" } });
            assert.strictEqual(off.status, 0, off.stderr);
            assert.doesNotMatch(off.stderr, /nix-gpu-deploy: done:/, "NGD_PROGRESS_OFF: Nix's own log");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
