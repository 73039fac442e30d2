// What a preview can say about the layers of the next image before anything is built: which layers
// change and how many bytes the push sends, forecast from the previous image's layer plan.
//
// The new closure's store paths are not known until it is built (references are found by scanning
// the outputs), but a store path of the previous closure can only stay if it is an output (or source)
// of the new derivation's closure, which the evaluation has written out. A path that is not is
// replaced by the new path of the same name, or of the same package at another version; one without
// such a counterpart (gone, or ambiguous) is assumed replaced by one of its size, so the forecast errs
// towards pushing more. The forecast re-runs the planner (components/nix/layers.ts) on the previous graph
// with those replacements, the next build's layer budget, strategy and app paths, and compares layer by
// layer: a layer is reused exactly when its set of store paths is unchanged and the packing recipe and
// tools are the same (the plan derivation's `assembly`). Bytes are estimated from the previous image's
// compressed blob sizes. New runtime dependencies are not foreseen, nor a path whose size changes so
// much that the planner groups differently: it is a forecast, and says so.
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
    /** Paths of the previous closure replaced by a new one of the same name (or package), and without a counterpart. */
    replaced: number;
    unmatched: number;
    /** Every layer changes: the packing recipe or its tools (tar, gzip, shell) changed. */
    allLayers: boolean;
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
    if (!fs.existsSync(imageDir)) {
        return `the previous image (${imageDir}) is not in this machine's Nix store`;
    }
    if (!fs.existsSync(path.join(imageDir, "layer-plan"))) {
        return "the previous image has no layer plan (it was built with the popularity strategy)";
    }
    try {
        const plan = fs.readFileSync(path.join(imageDir, "layer-plan"), "utf8").trim();
        if (!fs.existsSync(path.join(plan, "input.json"))) {
            return "the previous image's plan predates forecasts (no input.json)";
        }
        const layers = (JSON.parse(fs.readFileSync(path.join(plan, "plan.json"), "utf8")) as { layers: Layer[] }).layers;
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
    } catch (e) {
        return `the previous image's plan could not be read: ${(e as Error).message.split("\n")[0]}`;
    }
}

/** Pure: the package name of a store path name without its version (Nix's parseDrvName), and the output suffix. */
export function unversioned(name: string): string {
    // parseDrvName: the name ends at the first dash followed by something other than a letter.
    const m = /-[^A-Za-z]/.exec(name);
    if (m === null) {
        return name;
    }
    const output = /-(lib|dev|bin|out|man|doc|info|debug|static|python|data)$/.exec(name.slice(m.index));
    return `${name.slice(0, m.index)}${output !== null ? output[0] : ""}`;
}

/**
 * Pure: what became of each path of the previous closure: itself (still in the new closure), its
 * replacement (the one new path of the same name; else of the same name without the version, as a
 * version bump gives), or a placeholder `<path>#replaced` where no one-to-one counterpart exists (a
 * path that is gone or ambiguous is assumed replaced by one of its size: the forecast errs towards
 * pushing more, never less).
 */
export function survivors(graph: StorePathInfo[], closure: Iterable<string>): Map<string, string> {
    const next = new Set(closure);
    const map = new Map<string, string>();
    const unmatchedOld = graph.map((p) => p.path).filter((p) => !next.has(p));
    const old = new Set(graph.map((p) => p.path));
    let unmatchedNew = [...next].filter((p) => !old.has(p) && !p.endsWith(".drv"));
    for (const p of graph) {
        if (next.has(p.path)) {
            map.set(p.path, p.path);
        }
    }
    let left = unmatchedOld;
    for (const keyOf of [(p: string) => pathName(p), (p: string) => unversioned(pathName(p))]) {
        const olds = new Map<string, string[]>();
        const news = new Map<string, string[]>();
        for (const p of left) {
            olds.set(keyOf(p), [...(olds.get(keyOf(p)) ?? []), p]);
        }
        for (const p of unmatchedNew) {
            news.set(keyOf(p), [...(news.get(keyOf(p)) ?? []), p]);
        }
        const taken = new Set<string>();
        for (const [k, os] of olds) {
            const ns = news.get(k) ?? [];
            if (os.length === 1 && ns.length === 1) {
                map.set(os[0], ns[0]);
                taken.add(ns[0]);
            }
        }
        left = left.filter((p) => !map.has(p));
        unmatchedNew = unmatchedNew.filter((p) => !taken.has(p));
    }
    for (const p of left) {
        map.set(p, `${p}#replaced`);
    }
    return map;
}

/** What the new plan derivation says of itself (its structured attributes), where Nix showed them. */
export interface NextPlanAttrs {
    appPaths?: string[];
    rootDir?: string;
    assembly?: string;
}

/** Pure: a plan derivation's structured attributes as NextPlanAttrs (undefined for anything else). */
export function nextPlanAttrs(attrs: Record<string, unknown> | undefined): NextPlanAttrs | undefined {
    if (attrs === undefined) {
        return undefined;
    }
    const strings = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? v as string[] : undefined);
    return {
        appPaths: strings(attrs.appPaths),
        rootDir: typeof attrs.rootDir === "string" ? attrs.rootDir : undefined,
        assembly: typeof attrs.assembly === "string" ? attrs.assembly : undefined,
    };
}

/**
 * Pure: what in the assembly changes every layer's derivation (the packing recipe and its tools) and
 * what changes the root layer's (its tree, the commands run on it). Unknown assemblies compare as
 * unchanged: they are the previous and the next of one recipe.
 */
export function assemblyChanges(prev: string | undefined, next: string | undefined): { allLayers: boolean; rootLayer: boolean } {
    const parse = (a: string | undefined) => {
        try {
            return a === undefined ? undefined : JSON.parse(a) as Record<string, unknown>;
        } catch {
            return undefined;
        }
    };
    const a = parse(prev);
    const b = parse(next);
    if (a === undefined || b === undefined) {
        return { allLayers: false, rootLayer: false };
    }
    const differs = (k: string) => JSON.stringify(a[k]) !== JSON.stringify(b[k]);
    return { allLayers: ["shell", "shellPath", "recipe"].some(differs), rootLayer: ["extraCommands", "rootDir"].some(differs) };
}

const sortedKey = (paths: string[]) => [...paths].sort().join("\n");

/** Pure: the forecast of the next image's layers (see the top of this file). */
export function forecastLayers(prev: PreviousImage, closure: string[], opts: { strategy: LayerStrategyName; maxLayers: number }, next?: NextPlanAttrs): LayerForecast {
    const map = survivors(prev.input.graph, closure);
    const mapped = (p: string) => map.get(p) ?? p;
    const graph: StorePathInfo[] = prev.input.graph.map((i) => ({ path: mapped(i.path), narSize: i.narSize, references: i.references.map(mapped) }));
    const appPaths = next?.appPaths ?? prev.input.appPaths.map(mapped);
    const planned = planLayers(graph, { strategy: opts.strategy, maxLayers: opts.maxLayers, appPaths }).layers;
    const assembly = assemblyChanges(prev.input.assembly, next?.assembly);

    // Compressed bytes per byte of narSize, per previous layer; each path's estimate uses its old layer's.
    const ratioOf = new Map<string, number>();
    const compressed = prev.blobSizes !== undefined && prev.blobSizes.length >= prev.layers.length;
    prev.layers.forEach((l, i) => {
        const r = compressed && l.size > 0 ? prev.blobSizes![i] / l.size : 1;
        for (const p of l.paths) {
            ratioOf.set(p, r);
        }
    });
    const back = new Map([...map].map(([from, to]) => [to, from]));
    const before = new Set(prev.layers.map((l) => sortedKey(l.paths)));
    const sizeOf = new Map(graph.map((i) => [i.path, i.narSize]));
    const changed: LayerForecast["changed"] = [];
    for (const l of planned) {
        if (assembly.allLayers || !before.has(sortedKey(l.paths))) {
            const bytes = l.paths.reduce((s, p) => s + (sizeOf.get(p) ?? 0) * (ratioOf.get(back.get(p) ?? p) ?? 1), 0);
            changed.push({ name: pathName(l.paths[0].replace(/#replaced$/, "")), bytes: Math.round(bytes) });
        }
    }
    let total = planned.length;
    const rootDir = prev.input.rootDir;
    if (rootDir !== undefined) {
        total++;
        if (assembly.allLayers || assembly.rootLayer || !closure.includes(rootDir)) {
            const rootBlob = prev.blobSizes !== undefined && prev.blobSizes.length > prev.layers.length ? prev.blobSizes[prev.layers.length] : undefined;
            changed.push({ name: "the root layer", bytes: rootBlob ?? 0 });
        }
    }
    return {
        total,
        changed,
        bytes: changed.reduce((s, c) => s + c.bytes, 0),
        compressed,
        replaced: [...map].filter(([from, to]) => to !== from && !to.endsWith("#replaced")).length,
        unmatched: [...map.values()].filter((to) => to.endsWith("#replaced")).length,
        allLayers: assembly.allLayers,
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
    if (f.allLayers) {
        return `layers (forecast): all ${f.total} change, the packing recipe or its tools (tar, gzip, shell) changed; about ${humanBytes(f.bytes)} to push${f.compressed ? "" : " uncompressed"} plus the image config`;
    }
    const names = f.changed.map((c) => c.name);
    const shown = names.length > 6 ? [...names.slice(0, 6), `${names.length - 6} more`] : names;
    const change = f.changed.length === 0 ? "none of the" : `${f.changed.length} of`;
    return `layers (forecast from the previous image's plan): ${change} ${f.total} change${f.changed.length > 0 ? ` (${shown.join(", ")})` : ""}; `
        + `about ${humanBytes(f.bytes)} to push${f.compressed ? "" : " uncompressed"} plus the image config; ${f.total - f.changed.length} reused`
        + (f.unmatched > 0 ? ` (${f.unmatched} path${f.unmatched === 1 ? "" : "s"} of the previous image without a counterpart counted as changed)` : "");
}
