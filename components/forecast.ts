// What a preview can say about the layers of the next image before anything is built: which layers
// change and how many bytes the push sends, forecast from the previous image's layer plan.
//
// The new closure's store paths are not known until it is built (references are found by scanning
// the outputs), but which of the previous closure's paths survive is: a store path stays exactly when
// it is an output (or source) of the new derivation's closure, which the evaluation has written out.
// A path that does not survive is replaced by the new path of the same name, or removed. The
// forecast re-runs the planner (components/layers.ts) on the previous graph with those replacements,
// the next build's layer budget and strategy, and compares layer by layer: a layer is reused exactly
// when its set of store paths is unchanged (its tarball is a function of them). Bytes are estimated
// from the previous image's compressed blob sizes. New runtime dependencies are not foreseen, nor a
// path whose size changes so much that the planner groups differently: it is a forecast, and says so.
import * as fs from "fs";
import * as path from "path";
import { Layer, LayerStrategyName, PlanInput, StorePathInfo, pathName, planLayers } from "./layers";

/** The previous image's plan, what it was planned from, and its compressed layer sizes. */
export interface PreviousImage {
    /** The planned layers (store paths, summed narSize), in image order. */
    layers: Layer[];
    input: PlanInput;
    /** Compressed blob sizes in image order: the planned layers, then the root layer (if any). */
    blobSizes?: number[];
}

export interface LayerForecast {
    /** Layers of the next image, the root layer included. */
    total: number;
    /** The layers that change: a readable name each, and the estimated compressed bytes. */
    changed: { name: string; bytes: number }[];
    /** Estimated bytes to push (the changed layers; the image config, a few KiB, not counted). */
    bytes: number;
    /** Whether `bytes` are compressed sizes (from the previous image's blobs) or narSize. */
    compressed: boolean;
    /** Paths of the previous closure replaced by a new one of the same name, and removed. */
    replaced: number;
    removed: number;
}

/**
 * Reads what the image directory (the stack's last `storePath`) says about itself: `layer-plan`
 * names the plan, whose plan.json and input.json hold the layers and the graph, and the OCI layout's
 * manifest the blob sizes. A string says why there is nothing to forecast from.
 */
export function readPreviousImage(imageDir: string | undefined): PreviousImage | string {
    if (imageDir === undefined || imageDir === "") {
        return "the previous image is not known";
    }
    try {
        const plan = fs.readFileSync(path.join(imageDir, "layer-plan"), "utf8").trim();
        const layers = (JSON.parse(fs.readFileSync(path.join(plan, "plan.json"), "utf8")) as { layers: Layer[] }).layers;
        if (!fs.existsSync(path.join(plan, "input.json"))) {
            return "the previous image's plan predates forecasts (no input.json)";
        }
        const input = JSON.parse(fs.readFileSync(path.join(plan, "input.json"), "utf8")) as PlanInput;
        let blobSizes: number[] | undefined;
        try {
            const blob = (d: string) => JSON.parse(fs.readFileSync(path.join(imageDir, "blobs", "sha256", d.replace(/^sha256:/, "")), "utf8"));
            const index = JSON.parse(fs.readFileSync(path.join(imageDir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
            blobSizes = (blob(index.manifests[0].digest) as { layers: { size: number }[] }).layers.map((l) => l.size);
        } catch {
            blobSizes = undefined; // not an OCI layout: uncompressed sizes
        }
        return { layers, input, blobSizes };
    } catch {
        return `the previous image (${imageDir}) is not in this machine's Nix store`;
    }
}

/** Pure: which previous paths survive, which are replaced (by which new path), which are removed. */
export function survivors(graph: StorePathInfo[], closure: Iterable<string>): Map<string, string | undefined> {
    const next = new Set(closure);
    const old = new Set(graph.map((p) => p.path));
    const byName = new Map<string, string[]>();
    for (const p of next) {
        if (!old.has(p) && !p.endsWith(".drv")) {
            byName.set(pathName(p), [...(byName.get(pathName(p)) ?? []), p]);
        }
    }
    const map = new Map<string, string | undefined>();
    for (const { path: p } of graph) {
        if (next.has(p)) {
            map.set(p, p);
            continue;
        }
        const same = byName.get(pathName(p)) ?? [];
        // Several new paths of one name (rare: e.g. two `source`s): which replaces which is unknown,
        // but the path changes either way; a placeholder keeps it apart from every real path.
        map.set(p, same.length === 1 ? same[0] : same.length > 1 ? `${p}#replaced` : undefined);
    }
    return map;
}

const sortedKey = (paths: string[]) => [...paths].sort().join("\n");

/** Pure: the forecast of the next image's layers (see the top of this file). */
export function forecastLayers(prev: PreviousImage, closure: string[], opts: { strategy: LayerStrategyName; maxLayers: number }): LayerForecast {
    const map = survivors(prev.input.graph, closure);
    const mapped = (p: string) => map.get(p);
    const graph: StorePathInfo[] = [];
    for (const i of prev.input.graph) {
        const m = mapped(i.path);
        if (m !== undefined) {
            graph.push({ path: m, narSize: i.narSize, references: i.references.map(mapped).filter((r): r is string => r !== undefined) });
        }
    }
    const appPaths = prev.input.appPaths.map(mapped).filter((p): p is string => p !== undefined);
    const next = planLayers(graph, { strategy: opts.strategy, maxLayers: opts.maxLayers, appPaths }).layers;

    // Compressed bytes per byte of narSize, per previous layer; each path's estimate uses its old layer's.
    const ratioOf = new Map<string, number>();
    const compressed = prev.blobSizes !== undefined && prev.blobSizes.length >= prev.layers.length;
    prev.layers.forEach((l, i) => {
        const r = compressed && l.size > 0 ? prev.blobSizes![i] / l.size : 1;
        for (const p of l.paths) {
            ratioOf.set(p, r);
        }
    });
    const back = new Map<string, string>();
    for (const [from, to] of map) {
        if (to !== undefined) {
            back.set(to, from);
        }
    }
    const before = new Set(prev.layers.map((l) => sortedKey(l.paths)));
    const sizeOf = new Map(graph.map((i) => [i.path, i.narSize]));
    const changed: LayerForecast["changed"] = [];
    for (const l of next) {
        if (!before.has(sortedKey(l.paths))) {
            const bytes = l.paths.reduce((s, p) => s + (sizeOf.get(p) ?? 0) * (ratioOf.get(back.get(p) ?? p) ?? 1), 0);
            changed.push({ name: pathName(l.paths[0]), bytes: Math.round(bytes) });
        }
    }
    let total = next.length;
    const rootDir = prev.input.rootDir;
    if (rootDir !== undefined) {
        total++;
        if (!new Set(closure).has(rootDir)) {
            const rootBlob = compressed && prev.blobSizes!.length > prev.layers.length ? prev.blobSizes![prev.layers.length] : 0;
            changed.push({ name: "the root layer", bytes: rootBlob });
        }
    }
    return {
        total,
        changed,
        bytes: changed.reduce((s, c) => s + c.bytes, 0),
        compressed,
        replaced: [...map].filter(([from, to]) => to !== undefined && to !== from).length,
        removed: [...map.values()].filter((to) => to === undefined).length,
    };
}

/** Pure: bytes for people (binary units, as Nix prints MiB). */
export function humanBytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Pure: the preview's line about the layers (without indentation). */
export function forecastLine(f: LayerForecast | string): string {
    if (typeof f === "string") {
        return `layers: not forecast: ${f}`;
    }
    const names = f.changed.map((c) => c.name);
    const shown = names.length > 6 ? [...names.slice(0, 6), `${names.length - 6} more`] : names;
    const change = f.changed.length === 0 ? "none of the" : `${f.changed.length} of`;
    return `layers (forecast from the previous image's plan): ${change} ${f.total} change${f.changed.length > 0 ? ` (${shown.join(", ")})` : ""}; `
        + `about ${humanBytes(f.bytes)} to push${f.compressed ? "" : " uncompressed"} plus the image config; ${f.total - f.changed.length} reused`;
}
