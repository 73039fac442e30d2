// `npm run bench:layers`: bytes each layering strategy must re-push after typical changes, side by
// side, on a seeded closure shaped like this project's CUDA/torch image. Prints a table; not timed.
import { LayerStrategyName, idealBytes, planLayers, repushedBytes } from "../../components/nix/layers";
import { SCENARIOS, closureGraph, closureModel } from "./closure";

const STRATEGIES: LayerStrategyName[] = ["popularity", "equal", "stable"];
const MiB = 1024 * 1024;

export interface BenchRow {
    scenario: string;
    strategy: LayerStrategyName;
    repushed: number;
    ideal: number;
    ratio: number;
    imageBytes: number;
    layers: number;
    largest: number;
    smallest: number;
}

export function runLayerBench(seed = 42, maxLayers = 100): BenchRow[] {
    const rows: BenchRow[] = [];
    for (const scenario of SCENARIOS) {
        const before = closureGraph(closureModel(seed));
        const model = closureModel(seed);
        scenario.apply(model);
        const after = closureGraph(model);
        const ideal = idealBytes(before, after);
        for (const strategy of STRATEGIES) {
            // the project's own code, as the recipe tells the planner (appPaths)
            const app = (g: typeof before) => g.filter((p) => p.path.endsWith("-python3.11-myproject-0.1")).map((p) => p.path);
            const p1 = planLayers(before, { strategy, maxLayers, appPaths: app(before) });
            const p2 = planLayers(after, { strategy, maxLayers, appPaths: app(after) });
            const repushed = repushedBytes(p1.layers, p2.layers);
            const sizes = p2.layers.map((l) => l.size);
            rows.push({
                scenario: scenario.name, strategy, repushed, ideal, ratio: repushed / ideal,
                imageBytes: sizes.reduce((s, x) => s + x, 0), layers: p2.layers.length,
                largest: Math.max(...sizes), smallest: Math.min(...sizes),
            });
        }
    }
    return rows;
}

export function targetFailures(rows: BenchRow[]): string[] {
    const out: string[] = [];
    const get = (sc: string, st: LayerStrategyName) => rows.find((r) => r.scenario === sc && r.strategy === st) as BenchRow;
    const app = get("app-only", "stable");
    if (app.ratio > 1.1) out.push(`stable app-only ratio ${app.ratio.toFixed(2)} > 1.1`);
    if (app.repushed > 0.01 * app.imageBytes) out.push(`stable app-only pushes ${(100 * app.repushed / app.imageBytes).toFixed(2)}% of the image > 1%`);
    for (const sc of ["ffmpeg-overlay", "torch-overlay"]) {
        const r = get(sc, "stable");
        if (r.ratio > 1.2) out.push(`stable ${sc} ratio ${r.ratio.toFixed(2)} > 1.2`);
    }
    for (const sc of SCENARIOS.map((s) => s.name)) {
        if (get(sc, "stable").repushed > get(sc, "equal").repushed) out.push(`stable is worse than equal for ${sc}`);
    }
    return out;
}

function fmt(bytes: number): string {
    return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(2)} MiB`;
}

if (require.main === module) {
    const maxLayers = Number(process.env.MAX_LAYERS ?? 100);
    const graph = closureGraph(closureModel(42));
    const total = graph.reduce((s, p) => s + p.narSize, 0);
    console.log(`closure: ${graph.length} store paths, ${fmt(total)}; layer budget ${maxLayers}\n`);
    const rows = runLayerBench(42, maxLayers);
    const head = ["scenario", "strategy", "re-pushed", "ideal", "ratio", "% of image", "layers", "largest", "smallest"];
    const body = rows.map((r) => [r.scenario, r.strategy, fmt(r.repushed), fmt(r.ideal), r.ratio.toFixed(2), `${(100 * r.repushed / r.imageBytes).toFixed(2)}%`, String(r.layers), fmt(r.largest), fmt(r.smallest)]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
    console.log(line(head));
    console.log(widths.map((w) => "-".repeat(w)).join("  "));
    for (const b of body) console.log(line(b));
    const failures = targetFailures(rows);
    console.log(failures.length === 0 ? "\ntargets for stable: all met (app-only ≤ 1.1× ideal and ≤ 1% of the image; overlays ≤ 1.2× ideal; never worse than equal)" : `\ntargets missed:\n  ${failures.join("\n  ")}`);
    process.exitCode = failures.length === 0 ? 0 : 1;
}
