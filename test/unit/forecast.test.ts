// Issue #13: the preview's forecast of which layers change and how many bytes are pushed
// (components/nix/forecast.ts), against the planner's real next plan on the torch+CUDA-shaped graphs.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { explanation } from "../../components/nix/explanation";
import { PreviousImage, assemblyChanges, forecastLayers, forecastLine, humanBytes, readPreviousImage, survivors, unversioned } from "../../components/nix/forecast";
import { Layer, StorePathInfo, planLayers } from "../../components/nix/layers";
import { SCENARIOS, closureGraph, closureModel } from "../bench/closure";

const P = (hash: string, name: string) => `/nix/store/${hash.repeat(32).slice(0, 32)}-${name}`;
const key = (l: Layer) => [...l.paths].sort().join("\n");
const app = (g: StorePathInfo[]) => g.filter((p) => /-python3\.11-myproject-0\.\d$/.test(p.path)).map((p) => p.path);
/** The graph with one package's version changed in its paths (and in the references to them). */
const bump = (g: StorePathInfo[], from: string, to: string): StorePathInfo[] => {
    const r = (p: string) => (p.endsWith(`-${from}`) ? `${p.slice(0, -from.length)}${to}` : p);
    return g.map((i) => ({ path: r(i.path), narSize: i.narSize, references: i.references.map(r) }));
};

describe("issue #13: the layer forecast", () => {
    it("matches the planner's real next plan: the same changed layers, and bytes within 3 % (every scenario, with and without a version bump, 20 and 100 layers, 3 seeds)", () => {
        // a version bump of what the scenario changes: the new path's name differs from the old one's
        const bumps: Record<string, [string, string] | undefined> = {
            "app-only": ["python3.11-myproject-0.1", "python3.11-myproject-0.2"],
            "torch-overlay": ["python3.11-torch-2.3.0", "python3.11-torch-2.3.1"],
            "ffmpeg-overlay": ["ffmpeg-6.1.1-lib", "ffmpeg-6.1.2-lib"],
        };
        for (const maxLayers of [20, 100]) {
            for (const [scenario, bumped] of SCENARIOS.flatMap((sc) => [[sc, undefined], ...(bumps[sc.name] ? [[sc, bumps[sc.name]]] : [])] as [typeof sc, [string, string] | undefined][])) {
                for (const seed of [1, 2, 3]) {
                    const before = closureGraph(closureModel(seed));
                    const model = closureModel(seed);
                    scenario.apply(model);
                    const after = bumped === undefined ? closureGraph(model) : bump(closureGraph(model), ...bumped);
                    const p1 = planLayers(before, { strategy: "stable", maxLayers, appPaths: app(before) });
                    const p2 = planLayers(after, { strategy: "stable", maxLayers, appPaths: app(after) });
                    const have = new Set(p1.layers.map(key));
                    const actual = p2.layers.filter((l) => !have.has(key(l)));
                    // Compressed blobs at 40 % of narSize; the root layer changes with nothing here.
                    const rootDir = P("r", "fixture-root");
                    const prev: PreviousImage = { layers: p1.layers, input: { graph: before, appPaths: app(before), rootDir }, blobSizes: [...p1.layers.map((l) => Math.round(l.size * 0.4)), 512] };
                    // The derivation's closure also holds build-only outputs, sources and .drv files.
                    const closure = [...after.map((p) => p.path), rootDir, P("b", "gcc-13.2.0"), P("c", "source"), ...after.map((p) => `${p.path}.drv`.replace(/\/nix\/store\/./, "/nix/store/d"))];
                    const f = forecastLayers(prev, closure, { strategy: "stable", maxLayers }, { appPaths: app(after), rootDir });
                    const what = `${scenario.name}${bumped ? ` (${bumped.join(" → ")})` : ""}, ${maxLayers} layers, seed ${seed}`;
                    if (bumped !== undefined) {
                        assert.ok(!after.some((p) => p.path.endsWith(bumped[0])) && after.some((p) => p.path.endsWith(bumped[1])), what);
                    }
                    assert.strictEqual(f.unmatched, 0, what);
                    assert.strictEqual(f.total, p2.layers.length + 1, what);
                    assert.deepStrictEqual(f.changed.map((c) => c.name).sort(), actual.map((l) => path.basename(l.paths[0]).slice(33)).sort(), what);
                    const bytes = actual.reduce((s, l) => s + l.size * 0.4, 0);
                    assert.ok(Math.abs(f.bytes / bytes - 1) <= 0.03, `${what}: ${f.bytes} forecast, ${bytes} actual`);
                    assert.strictEqual(f.compressed, true);
                }
            }
        }
    });
    it("keeps what the new closure still has, replaces by name, and counts removed paths and the root layer", () => {
        const lib = P("1", "libfoo-1.0");
        const oldApp = P("2", "app-0.1");
        const gone = P("3", "libgone-2");
        const root = P("4", "image-root");
        const graph: StorePathInfo[] = [
            { path: lib, narSize: 1000, references: [] },
            { path: gone, narSize: 500, references: [] },
            { path: oldApp, narSize: 100, references: [lib, gone] },
            { path: root, narSize: 10, references: [oldApp] },
        ];
        const newApp = P("5", "app-0.1");
        const newRoot = P("6", "image-root");
        const map = survivors(graph, [lib, newApp, newRoot, P("7", "app-0.1.drv")]);
        // gone: no counterpart, so assumed replaced (a placeholder; the forecast errs towards pushing more)
        assert.deepStrictEqual([...map].sort(), [[lib, lib], [gone, `${gone}#replaced`], [oldApp, newApp], [root, newRoot]].sort());
        // a version bump: the one new path of the same package
        assert.strictEqual(survivors(graph, [lib, P("a", "app-0.2"), P("b", "libgone-3")]).get(gone), P("b", "libgone-3"));
        assert.deepStrictEqual(["python3.11-torch-2.3.0", "ffmpeg-6.1.1-lib", "cuda_nvcc-12.4.131", "source", "glibc-2.39-52-bin"].map(unversioned),
            ["python3.11-torch", "ffmpeg-lib", "cuda_nvcc", "source", "glibc-bin"]);
        // Two new paths of one name: the old one changed, but which one replaces it is unknown.
        assert.strictEqual(survivors(graph, [lib, P("8", "app-0.1"), P("9", "app-0.1")]).get(oldApp), `${oldApp}#replaced`);

        const plan = planLayers(graph.slice(0, 3), { strategy: "stable", maxLayers: 10, appPaths: [oldApp] });
        const prev: PreviousImage = { layers: plan.layers, input: { graph: graph.slice(0, 3), appPaths: [oldApp], rootDir: root }, blobSizes: [...plan.layers.map((l) => l.size / 2), 7] };
        const f = forecastLayers(prev, [lib, newApp, newRoot], { strategy: "stable", maxLayers: 10 });
        assert.deepStrictEqual(f.changed, [{ name: "app-0.1", bytes: 50 }, { name: "libgone-2", bytes: 250 }, { name: "the root layer", bytes: 7 }]);
        assert.deepStrictEqual([f.total, f.bytes, f.replaced, f.unmatched], [4, 307, 1, 1]);
        assert.strictEqual(forecastLine(f), "layers (forecast from the previous image's plan): 3 of 4 change (app-0.1, libgone-2, the root layer); about 307 B to push plus the image config; 1 reused (1 path of the previous image without a counterpart counted as changed)");
        const none = forecastLayers(prev, [lib, oldApp, gone, root], { strategy: "stable", maxLayers: 10 });
        assert.strictEqual(forecastLine(none), "layers (forecast from the previous image's plan): none of the 4 change; about 0 B to push plus the image config; 4 reused");
        // Without the previous blob sizes, narSize (said so).
        assert.match(forecastLine(forecastLayers({ ...prev, blobSizes: undefined }, [lib, newApp, gone, root], { strategy: "stable", maxLayers: 10 })), /1 of 4 change \(app-0\.1\); about 100 B to push uncompressed plus the image config; 3 reused$/);
        // The packing tools changed: every layer; the root layer's commands changed: that layer.
        const assembly = (o: Record<string, unknown>) => JSON.stringify({ shell: "/bin/sh", shellPath: "/nix/store/x-tar/bin", recipe: ["h1", "h2"], extraCommands: "", rootDir: root, config: {}, ...o });
        const withAssembly = { ...prev, input: { ...prev.input, assembly: assembly({}) } };
        const tools = forecastLayers(withAssembly, [lib, oldApp, gone, root], { strategy: "stable", maxLayers: 10 }, { assembly: assembly({ shellPath: "/nix/store/y-tar/bin" }) });
        assert.strictEqual(forecastLine(tools), "layers (forecast): all 4 change, the packing recipe or its tools (tar, gzip, shell) changed; about 807 B to push plus the image config");
        const rootOnly = forecastLayers(withAssembly, [lib, oldApp, gone, root], { strategy: "stable", maxLayers: 10 }, { assembly: assembly({ extraCommands: "mkdir -p tmp", config: { User: "1" } }) });
        assert.deepStrictEqual(rootOnly.changed, [{ name: "the root layer", bytes: 7 }]);
        assert.deepStrictEqual(assemblyChanges(assembly({}), assembly({ config: { Env: ["A=1"] }, tag: "t" })), { allLayers: false, rootLayer: false });
        assert.strictEqual(forecastLine("the previous image is not known"), "layers: not forecast: the previous image is not known");
        assert.deepStrictEqual([humanBytes(1023), humanBytes(1536), humanBytes(5 * 1024 ** 3)], ["1023 B", "1.5 KiB", "5.0 GiB"]);
    });
    it("reads the previous image from its directory (plan, input, OCI manifest), or says why it cannot", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-forecast-"));
        try {
            const plan = path.join(dir, "plan");
            const image = path.join(dir, "image");
            fs.mkdirSync(plan);
            fs.mkdirSync(path.join(image, "blobs", "sha256"), { recursive: true });
            const layers = [{ paths: [P("1", "a")], size: 10 }];
            fs.writeFileSync(path.join(plan, "plan.json"), JSON.stringify({ strategy: "stable", layers, warnings: [] }));
            assert.match(String(readPreviousImage(image)), /has no layer plan \(it was built with the popularity strategy\)/);
            fs.writeFileSync(path.join(image, "layer-plan"), `${plan}\n`);
            assert.match(String(readPreviousImage(image)), /predates forecasts \(no input\.json\)/);
            const input = { graph: [{ path: P("1", "a"), narSize: 10, references: [] }], appPaths: [], rootDir: P("2", "root") };
            fs.writeFileSync(path.join(plan, "input.json"), JSON.stringify(input));
            assert.deepStrictEqual(readPreviousImage(image), { layers, input, blobSizes: undefined });
            fs.writeFileSync(path.join(image, "blobs", "sha256", "m".repeat(64)), JSON.stringify({ layers: [{ size: 4 }, { size: 3 }] }));
            fs.writeFileSync(path.join(image, "index.json"), JSON.stringify({ manifests: [{ digest: `sha256:${"m".repeat(64)}` }] }));
            assert.deepStrictEqual(readPreviousImage(image), { layers, input, blobSizes: [4, 3] });
            assert.match(String(readPreviousImage(path.join(dir, "collected"))), /is not in this machine's Nix store/);
            assert.strictEqual(readPreviousImage(undefined), "the previous image is not known");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("is a line of the explanation, after the image line", () => {
        const rec = (drvPath: string) => ({ overlays: [], files: {}, pins: {}, drvPath });
        const lines = explanation(rec(P("a", "x-layer-plan.drv")), rec(P("b", "x-layer-plan.drv")), { build: [P("c", "app.drv")], fetch: [] }, undefined, undefined, "the previous image is not known");
        assert.deepStrictEqual(lines.slice(-2), [
            `  image: new layer plan ${P("b", "x-layer-plan.drv")}; then only layers whose store paths changed are packed, the others are reused`,
            "  layers: not forecast: the previous image is not known",
        ]);
    });
});
