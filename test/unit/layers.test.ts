import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LayerStrategyName, StorePathInfo, coverageProblems, planLayers, repushedBytes } from "../../components/nix/layers";
import { runLayerBench, targetFailures } from "../bench/layers";
import { closureGraph, closureModel, prng } from "../bench/closure";
import { ROOT } from "./harness";

const STRATEGIES: LayerStrategyName[] = ["popularity", "equal", "stable"];
const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

/** A random DAG of `n` store paths (references only to earlier paths). */
function randomGraph(seed: number, n: number): StorePathInfo[] {
    const rnd = prng(seed);
    const paths = Array.from({ length: n }, (_, i) => `/nix/store/${Array.from({ length: 32 }, () => NIX32[Math.floor(rnd() * 32)]).join("")}-p${i}`);
    return paths.map((p, i) => ({
        path: p,
        narSize: Math.floor(rnd() ** 3 * 5e8) + 1,
        references: paths.slice(0, i).filter(() => rnd() < 3 / (i + 1)),
    }));
}

function assertInvariants(g: StorePathInfo[], strategy: LayerStrategyName, maxLayers: number) {
    const plan = planLayers(g, { strategy, maxLayers });
    const seen = new Map<string, number>();
    for (const l of plan.layers) {
        assert.ok(l.paths.length > 0, "no empty layer");
        for (const p of l.paths) {
            seen.set(p, (seen.get(p) ?? 0) + 1);
        }
        const size = l.paths.reduce((s, p) => s + (g.find((x) => x.path === p)?.narSize ?? NaN), 0);
        assert.strictEqual(l.size, size, "layer size is the sum of its paths");
    }
    assert.strictEqual(seen.size, g.length, "every path in a layer");
    assert.ok([...seen.values()].every((c) => c === 1), "every path in exactly one layer");
    assert.ok(plan.layers.length <= Math.min(maxLayers, 125), `budget ${maxLayers}: got ${plan.layers.length}`);
    const again = planLayers([...g].reverse(), { strategy, maxLayers });
    assert.deepStrictEqual(again.layers, plan.layers, "deterministic, independent of input order");
}

describe("layer planner", () => {
    for (const strategy of STRATEGIES) {
        it(`${strategy}: invariants hold on 200 random graphs (sizes, budgets)`, () => {
            for (let seed = 1; seed <= 200; seed++) {
                const rnd = prng(seed * 7919);
                const g = randomGraph(seed, 1 + Math.floor(rnd() * 250));
                assertInvariants(g, strategy, 2 + Math.floor(rnd() * 123));
            }
        });
    }

    it("popularity puts maxLayers-1 paths in their own layers and the rest in one catch-all", () => {
        const g = closureGraph(closureModel());
        const plan = planLayers(g, { strategy: "popularity", maxLayers: 100 });
        assert.strictEqual(plan.layers.length, 100);
        assert.ok(plan.layers.slice(0, 99).every((l) => l.paths.length === 1));
        assert.strictEqual(plan.layers[99].paths.length, g.length - 99);
        assert.ok(plan.layers[99].paths.some((p) => p.endsWith("-python3.11-myproject-0.1")), "the app is in the catch-all");
    });

    it("equal closes a layer once its running size passes total/maxLayers; the remainder is last", () => {
        const g = closureGraph(closureModel());
        const total = g.reduce((s, p) => s + p.narSize, 0);
        const plan = planLayers(g, { strategy: "equal", maxLayers: 100 });
        for (const l of plan.layers.slice(0, -1)) {
            assert.ok(l.size > total / 100, "each closed layer passed the target");
        }
    });

    it("stable gives the heaviest paths their own layers and keeps the app in a small layer", () => {
        const g = closureGraph(closureModel());
        const plan = planLayers(g, { strategy: "stable", maxLayers: 100 });
        const layerOf = (suffix: string) => plan.layers.find((l) => l.paths.some((p) => p.endsWith(suffix)));
        for (const heavy of ["-python3.11-torch-2.3.0", "-cudnn-9.1.0.70", "-libcublas-12.4.5.8", "-nccl-2.21.5-1"]) {
            assert.strictEqual(layerOf(heavy)?.paths.length, 1, heavy);
        }
        assert.ok((layerOf("-python3.11-myproject-0.1")?.size ?? Infinity) < 5 * 1024 * 1024);
    });

    it("stable membership does not move when an unrelated path changes size (100 and 20 layers)", () => {
        for (const maxLayers of [100, 20]) {
            const m = closureModel();
            const a = planLayers(closureGraph(m), { strategy: "stable", maxLayers });
            m.sizes.set("python3.11-pkg010-1.3", 1);  // a small leaf package shrinks (its hash changes too)
            const b = planLayers(closureGraph(m), { strategy: "stable", maxLayers });
            const names = (p: { layers: { paths: string[] }[] }) => p.layers.map((l) => l.paths.map((x) => x.slice(44)).join(" "));
            assert.deepStrictEqual(names(b), names(a), `${maxLayers} layers`);
        }
    });

    it("warns about a layer above the per-layer limit and caps the budget at 125", () => {
        const g = [{ path: `/nix/store/${"a".repeat(32)}-huge`, narSize: 11 * 1024 ** 3, references: [] }];
        const plan = planLayers(g, { strategy: "stable", maxLayers: 200 });
        assert.ok(plan.warnings.some((w) => w.includes("hard cap 125")));
        assert.ok(plan.warnings.some((w) => w.includes("above the per-layer limit")));
        assert.ok(planLayers(g, { strategy: "stable", maxLayerBytes: 12 * 1024 ** 3 }).warnings.length === 0);
    });

    it("re-push of an unchanged image is zero for every strategy", () => {
        const g = closureGraph(closureModel());
        for (const strategy of STRATEGIES) {
            const plan = planLayers(g, { strategy });
            assert.strictEqual(repushedBytes(plan.layers, planLayers(g, { strategy }).layers), 0);
        }
    });

    it("meets the stable targets of the layer benchmark at 100 layers and at 20 (byte counts, deterministic)", () => {
        for (const maxLayers of [100, 20]) {
            for (const seed of [42, 1, 7, 1234]) {
                assert.deepStrictEqual(targetFailures(runLayerBench(seed, maxLayers)), [], `seed ${seed}, ${maxLayers} layers`);
            }
        }
    });

    it("components/nix/docker/layer-planner.js is the compiled components/nix/layers.ts", function () {
        this.timeout(60000);
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-planner-"));
        try {
            execFileSync(path.join(ROOT, "node_modules/.bin/tsc"), ["-p", path.join(ROOT, "tsconfig.planner.json"), "--outDir", out], { cwd: ROOT });
            const fresh = fs.readFileSync(path.join(out, "layers.js"), "utf8");
            const committed = fs.readFileSync(path.join(ROOT, "components/nix/docker/layer-planner.js"), "utf8").split("\n").slice(1).join("\n");
            assert.strictEqual(committed, fresh, "run `npm run build:planner`");
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
});

describe("layer plan coverage (checked by the planner inside the build)", () => {
    const info = (p: string, refs: string[] = []): StorePathInfo => ({ path: `/nix/store/${p.padEnd(32, "0")}-${p}`, narSize: 1, references: refs.map((r) => `/nix/store/${r.padEnd(32, "0")}-${r}`) });
    const graph = [info("a", ["b"]), info("b")];
    it("accepts a plan with every path of the closure in exactly one layer, for every strategy", () => {
        for (const strategy of ["popularity", "equal", "stable"] as const) {
            assert.deepStrictEqual(coverageProblems(graph, planLayers(graph, { strategy, maxLayers: 1 }).layers), []);
        }
    });
    it("names a path in no layer, in two, or not in the closure", () => {
        const [a, b] = graph.map((g) => g.path);
        assert.deepStrictEqual(coverageProblems(graph, [{ paths: [a], size: 1 }]), [`${b} is in no layer`]);
        assert.deepStrictEqual(coverageProblems(graph, [{ paths: [a, b], size: 2 }, { paths: [b], size: 1 }]), [`${b} is in 2 layers`]);
        assert.deepStrictEqual(coverageProblems(graph, [{ paths: [a, b, "/nix/store/x"], size: 2 }]), ["/nix/store/x is not in the image closure"]);
    });
});
