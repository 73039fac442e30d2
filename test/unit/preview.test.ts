// Issue #13: what a preview explains, and the evaluation cache that keeps a no-op preview cheap.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { CLOSURE_END, NixArgs, nixDryRunScript } from "../../components/exec";
import { ExplainRecord, changedLines, explanation, parseDryRun, parseRecord, pinsIn, rolloutLine, sourceBuildNotes } from "../../components/nix/explanation";
import { fingerprintNixFile } from "../../components/nix/fingerprint";
import { dependencyFingerprint, evalCacheKey, overlayFingerprint, readEvalCache, writeEvalCache } from "../../components/nix/evaluation";
import { ROOT, runProgram, stackConfig } from "./harness";
import { SANDBOXED_BUILDER } from "../host-tools";

const record = (over: Partial<ExplainRecord> = {}): ExplainRecord => ({
    overlays: [{ name: "greeting", args: { text: "hello" } }],
    files: { "test/fixture/default.nix": "a", "test/fixture/overlay/greeting.nix": "b" },
    pins: { "nix/pins.nix: nixpkgsStable": { rev: "50ab793786d9de88ee30ec4e4c24fb4236fc2674", hash: "sha256-x" } },
    drvPath: "/nix/store/00000000000000000000000000000000-ml-fixture-image-stream.drv",
    ...over,
});

describe("issue #13: the preview explains a change in words", () => {
    it("names the overlay and its argument, old → new", () => {
        const cur = record({ overlays: [{ name: "greeting", args: { text: "bye" } }] });
        assert.deepStrictEqual(changedLines(record(), cur), ['overlay greeting: text "hello" → "bye"']);
    });
    it("names added and removed overlays, changed files and pins (and a pin whose hash did not move)", () => {
        const cur = record({
            overlays: [{ name: "greeting", args: { text: "hello" } }, { name: "slow", args: { seconds: 3 } }],
            files: { "test/fixture/default.nix": "a2", "test/fixture/overlay/greeting.nix": "b", "test/fixture/overlay/slow.nix": "c" },
            pins: { "nix/pins.nix: nixpkgsStable": { rev: "1111111111111111111111111111111111111111", hash: "sha256-y" } },
        });
        assert.deepStrictEqual(changedLines(record(), cur), [
            "overlay slow: added with seconds = 3",
            "nix file changed: test/fixture/default.nix",
            "nix file added: test/fixture/overlay/slow.nix",
            "pin nix/pins.nix: nixpkgsStable: 50ab793786d9 → 111111111111",
        ]);
        const stale = record({ pins: { "nix/pins.nix: nixpkgsStable": { rev: "2222222222222222222222222222222222222222", hash: "sha256-x" } } });
        assert.match(changedLines(record(), stale)[0], /50ab793786d9 → 222222222222 \(its hash did not change: Nix will reuse the source/);
        assert.deepStrictEqual(changedLines(cur, record()).slice(0, 1), ["overlay slow: removed"]);
    });
    it("finds pins as attribute sets with rev and hash, and as GitHub archive URLs with sha256", () => {
        const pins = fs.readFileSync(path.join(ROOT, "nix/pins.nix"), "utf8");
        assert.deepStrictEqual(Object.keys(pinsIn("nix/pins.nix", pins)), ["nix/pins.nix: nixpkgsStable", "nix/pins.nix: nixpkgsUnstable"]);
        const lib = fs.readFileSync(path.join(ROOT, "test/fixture/nixpkgs/lib.nix"), "utf8");
        assert.deepStrictEqual(pinsIn("test/fixture/nixpkgs/lib.nix", lib), {
            "test/fixture/nixpkgs/lib.nix: nix-community/nixpkgs.lib": { rev: "453e937fe69ab01dcc974c7301c5afc1768c11ba", hash: "0vla4b155v8hrg2n8dzis26j4nrx216cq6l2kd84r21ijg39nvyd" },
        });
    });
    it("is silent on a no-op; a comment-only edit says nothing is built; a change lists Nix's derivations to build, then the rollout", () => {
        assert.deepStrictEqual(explanation(record(), record(), undefined, undefined, undefined), []);
        assert.deepStrictEqual(explanation(undefined, record(), undefined, undefined, undefined), [], "nothing to compare with on the first preview");
        const comment = record({ files: { ...record().files, "test/fixture/overlay/greeting.nix": "b2" } });
        assert.deepStrictEqual(explanation(record(), comment, undefined, undefined, undefined), [
            "nix-gpu-deploy: what this change does",
            "  nix file changed: test/fixture/overlay/greeting.nix",
            "  the image derivation is unchanged: nothing to build, nothing rolls out",
        ]);
        const changed = record({ overlays: [{ name: "greeting", args: { text: "bye" } }], drvPath: "/nix/store/11111111111111111111111111111111-ml-fixture-image-stream.drv" });
        const dry = { build: ["/nix/store/22222222222222222222222222222222-fixture-app.drv", "/nix/store/11111111111111111111111111111111-ml-fixture-image-stream.drv"], fetch: ["/nix/store/33333333333333333333333333333333-torch"], downloadMiB: 812.5 };
        const rollout = { kind: "Deployment" as const, namespace: "ml-local", name: "fixture", replicas: 2, strategy: "RollingUpdate" as const };
        assert.deepStrictEqual(explanation(record(), changed, dry, rollout, ["http://127.0.0.1:5010"]), [
            "nix-gpu-deploy: what this change does",
            '  overlay greeting: text "hello" → "bye"',
            "  to build (2 derivations): fixture-app, ml-fixture-image-stream",
            "  to fetch: 1 path (812.5 MiB download) from http://127.0.0.1:5010",
            "  image: new derivation /nix/store/11111111111111111111111111111111-ml-fixture-image-stream.drv",
            "  rollout: Deployment ml-local/fixture, 2 replicas, RollingUpdate (maxSurge 0): one pod at a time; the other old pod keeps serving until its turn",
        ]);
    });
    it("says whether old pods keep serving", () => {
        const d = { kind: "Deployment" as const, namespace: "n", name: "w", replicas: 1, strategy: "RollingUpdate" as const };
        assert.match(rolloutLine(d), /the old pod stops before the new one starts \(no pod serves meanwhile\)/);
        assert.match(rolloutLine({ ...d, replicas: 3, strategy: "Recreate" }), /Recreate: every old pod stops before the new ones start/);
        assert.match(rolloutLine({ ...d, kind: "Job" }), /Job n\/w is replaced/);
    });
    it("reads Nix's own dry run (a real nix-store --realise --dry-run)", function () {
        this.timeout(30000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-dry-"));
        try {
            const expr = path.join(dir, "t.nix");
            const name = `ngd-dry-${process.pid}-${Date.now()}`;
            fs.writeFileSync(expr, `rec { a = derivation { name = "${name}-a"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} args = ["-c" "echo > $out"]; }; b = derivation { name = "${name}-b"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} args = ["-c" "echo \${a} > $out"]; src = ./t.nix; }; }`);
            const drv = execFileSync("nix-instantiate", [expr, "-A", "b"], { encoding: "utf8" }).trim();
            const out = execFileSync("/bin/sh", ["-c", nixDryRunScript(drv, { substituters: [] })], { encoding: "utf8" });
            const dry = parseDryRun(out);
            assert.deepStrictEqual(dry.build.map((p) => path.basename(p).slice(33)).sort(), [`${name}-a.drv`, `${name}-b.drv`]);
            assert.deepStrictEqual(dry.fetch, []);
            // The closure's outputs (not built yet) and its source: what the layer forecast matches against.
            const evalString = (attr: string) => JSON.parse(execFileSync("nix-instantiate", ["--eval", expr, "-A", attr], { encoding: "utf8" })) as string;
            const src = execFileSync("nix-store", ["--query", "--references", drv], { encoding: "utf8" }).split("\n").filter((p) => p.endsWith("-t.nix"));
            // the builders' shell and tools (test/fixture/host-tools.nix): a source of the closure too
            const tools = fs.realpathSync("/nix/var/nix/gcroots/nix-gpu-deploy-host-tools");
            assert.deepStrictEqual(dry.closure?.sort(), [evalString("a.outPath"), evalString("b.outPath"), ...src, tools].sort());
            assert.strictEqual(src.length, 1);
            assert.strictEqual(dry.attrs, undefined, "no structured attributes");
            // A query that fails leaves the list without its end marker: no closure, not a partial one.
            assert.strictEqual(parseDryRun(out.replace(CLOSURE_END, "")).closure, undefined);
            assert.deepStrictEqual(parseDryRun(out.replace(/--- derivation attributes ---\n?/, "--- derivation attributes ---\n{\"appPaths\":[\"/nix/store/x-app\"]}\n")).attrs, { appPaths: ["/nix/store/x-app"] });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        assert.deepStrictEqual(parseDryRun("these 2 paths will be fetched (3.50 MiB download, 10.00 MiB unpacked):\n  /nix/store/a-x\n  /nix/store/b-y\n"), { build: [], fetch: ["/nix/store/a-x", "/nix/store/b-y"], downloadMiB: 3.5 });
    });
});

describe("issue #13: the evaluation cache key covers everything the evaluation reads", () => {
    // A copy of the parts of the project the fixture entry reads, edited one kind of input at a time.
    let root: string;
    const args = (over: Record<string, string> = {}, settings: NixArgs["settings"] = { substituters: [] }): NixArgs =>
        ({ argstr: { imageName: "ml/fixture", maxLayers: "100", ...over }, settings });
    const key = (a: NixArgs = args(), overlayArgs: Record<string, string> = { text: "hello" }, nix = "nix-2.8") => {
        const overlay = overlayFingerprint({ overlayName: "greeting", file: "test/fixture/overlay/greeting.nix", args: overlayArgs, projectRoot: root });
        const fp = dependencyFingerprint(fingerprintNixFile(path.join(root, "test/fixture/default.nix"), root), [overlay.summary], a);
        return evalCacheKey(fp, a, nix);
    };
    const edit = (rel: string, f: (s: string) => string) => {
        const p = path.join(root, rel);
        const before = fs.readFileSync(p, "utf8");
        fs.writeFileSync(p, f(before));
        return () => fs.writeFileSync(p, before);
    };
    before(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-evalkey-"));
        for (const d of ["nix", "components/nix/docker", "test/fixture"]) {
            fs.cpSync(path.join(ROOT, d), path.join(root, d), { recursive: true });
        }
        fs.copyFileSync(path.join(ROOT, "README.md"), path.join(root, "README.md"));
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    const kinds: Array<[string, string, (s: string) => string]> = [
        ["the entry", "test/fixture/default.nix", (s) => `${s}\n# edited\n`],
        ["a file the entry imports", "test/fixture/lib.nix", (s) => `${s}\n# edited\n`],
        ["the image recipe, two imports away", "components/nix/docker/buildCudaLayeredImage.nix", (s) => `${s}\n# edited\n`],
        ["the miniature package set", "test/fixture/nixpkgs/top-level.nix", (s) => `${s}\n# edited\n`],
        ["a non-Nix file the evaluation copies (the layer planner)", "components/nix/docker/layer-planner.js", (s) => `${s}\n// edited\n`],
        ["a pin", "test/fixture/nixpkgs/lib.nix", (s) => s.replace("453e937fe69ab01dcc974c7301c5afc1768c11ba", "0000000000000000000000000000000000000000")],
        ["the overlay file", "test/fixture/overlay/greeting.nix", (s) => `${s}\n# edited\n`],
    ];
    for (const [what, rel, f] of kinds) {
        it(`changes when ${what} changes (${rel})`, () => {
            const k0 = key();
            const restore = edit(rel, f);
            try {
                assert.notStrictEqual(key(), k0);
            } finally {
                restore();
            }
            assert.strictEqual(key(), k0, "and comes back with the file");
        });
    }
    it("changes when the project's own source changes, and when a pin of the real entry changes (nix/build_container.nix)", () => {
        const real = () => dependencyFingerprint(fingerprintNixFile(path.join(root, "nix/build_container.nix"), root), [], args());
        for (const [rel, f] of [["nix/src/setup.py", (s: string) => `${s}
# edited
`], ["nix/pins.nix", (s: string) => s.replace("50ab793786d9de88ee30ec4e4c24fb4236fc2674", "0".repeat(40))]] as const) {
            const k0 = real();
            const restore = edit(rel, f);
            try {
                assert.notStrictEqual(real(), k0, rel);
            } finally {
                restore();
            }
        }
    });
    it("changes with the overlay's arguments, the entry's arguments, the Nix settings and the Nix binary", () => {
        const k0 = key();
        assert.notStrictEqual(key(args(), { text: "bye" }), k0);
        assert.notStrictEqual(key(args({ maxLayers: "20" })), k0);
        assert.notStrictEqual(key(args({}, { substituters: ["http://127.0.0.1:5010"] })), k0);
        assert.notStrictEqual(key(args(), { text: "hello" }, "nix-2.18"), k0);
    });
    it("does not change with files the evaluation does not read", () => {
        const k0 = key();
        const restore = edit("README.md", (s) => `${s}\nedited\n`);
        try {
            assert.strictEqual(key(), k0);
        } finally {
            restore();
        }
    });
    it("hits only while the cached .drv is still in the store", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-evalcache-"));
        try {
            const drv = execFileSync("nix-instantiate", ["-E", `derivation { name = "ngd-evalcache"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} args = ["-c" "echo > $out"]; }`], { encoding: "utf8" }).trim();
            writeEvalCache(dir, "k1", { drvPath: drv, outPath: "/nix/store/x" });
            assert.deepStrictEqual(readEvalCache(dir, "k1"), { drvPath: drv, outPath: "/nix/store/x" });
            writeEvalCache(dir, "k2", { drvPath: "/nix/store/00000000000000000000000000000000-collected.drv", outPath: "/nix/store/y" });
            assert.strictEqual(readEvalCache(dir, "k2"), undefined, "a collected .drv is a miss");
            assert.strictEqual(readEvalCache(dir, "k3"), undefined);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("issue #13: the previous record", () => {
    it("is read from the output as it arrives, plain or still wrapped as a secret; anything else is no record", () => {
        const r = record();
        assert.deepStrictEqual(parseRecord(JSON.stringify(r)), r);
        assert.deepStrictEqual(parseRecord({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: JSON.stringify(r) }), r);
        assert.strictEqual(parseRecord(undefined), undefined);
        assert.strictEqual(parseRecord("{not json"), undefined);
        assert.strictEqual(parseRecord(JSON.stringify({ overlays: [] })), undefined);
    });
});

describe("issue #13: the program prints the explanation on a preview, from the last up's record", function () {
    this.timeout(120000);
    const secretKeys = ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"];
    // the fixture app (its greeting overlay takes free text), as the knob suites deploy it
    const withText = (text: string) => {
        const cfg = stackConfig("local");
        const nix = (parseYaml(fs.readFileSync(path.join(ROOT, "test/e2e/fixture-app.yaml"), "utf8")) as Record<string, { overlays: Array<{ args: { text: string } }> }>)["nix-gpu-deploy:nix"];
        nix.overlays[0].args.text = text;
        return { ...cfg, "nix-gpu-deploy:nix": JSON.stringify(nix), "nix-gpu-deploy:registryPassword": "x", "nix-gpu-deploy:kubeconfig": "apiVersion: v1" };
    };
    const captureInfo = async (f: () => Promise<void>): Promise<string[]> => {
        const infos: string[] = [];
        const log = pulumi.log as unknown as { info: (m: string) => Promise<void> };
        const original = log.info;
        log.info = async (m: string) => { infos.push(m); };
        try {
            await f();
        } finally {
            log.info = original;
        }
        return infos;
    };
    it("names the overlay argument old → new; says nothing on a no-op", async () => {
        const first = await runProgram({ stack: "local", config: withText("one"), secretKeys });
        assert.ifError(first.error);
        const previousOutputs = { nixExplain: first.outputs.nixExplain };
        const noop = await captureInfo(async () => {
            const r = await runProgram({ stack: "local", config: withText("one"), secretKeys, preview: true, previousOutputs });
            assert.ifError(r.error);
        });
        assert.deepStrictEqual(noop.filter((m) => m.startsWith("nix-gpu-deploy:")), []);
        const changed = await captureInfo(async () => {
            const r = await runProgram({ stack: "local", config: withText("two"), secretKeys, preview: true, previousOutputs });
            assert.ifError(r.error);
        });
        const block = changed.find((m) => m.startsWith("nix-gpu-deploy: what this change does"));
        assert.ok(block, JSON.stringify(changed));
        assert.match(block, /overlay greeting: text "one" → "two"/);
    });
});

describe("issue #13: the expensive-evaluation rehearsal overlay", () => {
    it("is found by its lowerCamelCase name (overlay/expensive-eval.nix, as the config maps it) and changes the derivation with its size", function () {
        this.timeout(60000);
        const drv = (size: number) => execFileSync("nix-instantiate", ["--option", "substituters", "", path.join(ROOT, "test/fixture/default.nix"),
            "--argstr", "overlays", JSON.stringify([{ name: "expensiveEval", args: { size } }])], { encoding: "utf8" }).trim();
        assert.notStrictEqual(drv(10), drv(11));
    });
});

describe("issue #21: the preview says what the stack's choices build from source", () => {
    const rec = (drvPath: string): ExplainRecord => ({ overlays: [], files: {}, pins: {}, drvPath });
    it("names a Python other than nixpkgs' default, a narrowed cudaCapabilities, and each overlay", () => {
        assert.deepStrictEqual(sourceBuildNotes({ python: "python3", cudaCapabilities: [], overlays: [] }), [], "the defaults: what the caches hold");
        assert.deepStrictEqual(sourceBuildNotes({ python: "python312", cudaCapabilities: [], overlays: [] }), [], "python312 is python3 at the pin");
        const notes = sourceBuildNotes({ python: "python311", cudaCapabilities: ["9.0"], overlays: [{ name: "replaceTorch" }, { name: "ffmpeg" }, { name: "mine" }] });
        assert.strictEqual(notes.length, 5);
        assert.match(notes[0], /^nix\.python python311 is not nixpkgs' default Python \(python3, python312 at the pinned 24\.11\): binary caches hold only the default set/);
        assert.match(notes[1], /^nix\.cudaCapabilities \[9\.0\] narrows nixpkgs' list/);
        assert.match(notes[2], /^overlay replaceTorch fetches the prebuilt torch-bin wheels/);
        assert.match(notes[3], /^overlay ffmpeg rebuilds ffmpeg/);
        assert.match(notes[4], /^overlay mine: what it changes, and everything that depends on that, is built unless a cache in nix\.substituters holds it$/);
    });
    it("says them on a first preview, and on a change that builds; not when nothing is built", () => {
        const notes = ["nix.python python311 is not nixpkgs' default Python"];
        assert.deepStrictEqual(explanation(undefined, rec("/nix/store/a.drv"), undefined, undefined, undefined, undefined, notes),
            ["nix-gpu-deploy: what this stack builds from source", `  from source: ${notes[0]}`]);
        const builds = explanation(rec("/nix/store/a.drv"), rec("/nix/store/b.drv"), { build: ["/nix/store/x-y.drv"], fetch: [] }, undefined, [], undefined, notes);
        assert.ok(builds.includes(`  from source: ${notes[0]}`), builds.join("\n"));
        const fetched = explanation(rec("/nix/store/a.drv"), rec("/nix/store/b.drv"), { build: [], fetch: ["/nix/store/x-y"] }, undefined, [], undefined, notes);
        assert.ok(!fetched.some((l) => l.includes("from source")), fetched.join("\n"));
    });
});

describe("issue #21: an aarch64 image with torch-bin", () => {
    it("says the aarch64-linux wheels are CPU-only", () => {
        const notes = sourceBuildNotes({ system: "aarch64-linux", cudaCapabilities: [], overlays: [{ name: "replaceTorch" }] });
        assert.match(notes[0], /^nix\.system aarch64-linux with overlay replaceTorch: the torch-bin wheels for aarch64-linux are CPU-only builds/);
        assert.ok(!sourceBuildNotes({ system: "x86_64-linux", cudaCapabilities: [], overlays: [{ name: "replaceTorch" }] }).some((n) => n.includes("CPU-only")));
    });
});
