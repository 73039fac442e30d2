// Layer planning: groups the store paths of an image closure into at most `maxLayers` layers.
// Pure and self-contained (only `fs`, for its command line): it is also compiled to components/nix/docker/layer-planner.js and run
// inside the Nix build (`npm run build:planner`; a unit test keeps the two in step).
//
// Strategies:
// - popularity: nixpkgs' classic layering. Paths ordered by popularity (how many paths in the
//   closure depend on them); the maxLayers-1 most popular get a layer each, all the rest (the app
//   included) share one catch-all layer.
// - equal: the seed's nix-docker-layering `generators.equal`, reimplemented from its description:
//   popularity order, a layer is closed when its running size passes total/maxLayers (an oversized
//   path closes its layer with what came before it), the remainder is the last layer.
// - stable (ours): minimises what a release re-pushes. A change to a store path changes it and
//   every path that has it in its closure; a layer is re-pushed when any of its paths changed. The
//   planner starts from one unit per path (for large closures: the heaviest paths as "anchors"
//   with a unit each, every other path in the unit of the paths with exactly the same anchors in
//   their closure) and merges units pairwise, always the pair whose merge adds least to the
//   expected re-push (each path equally likely to change; the project's own code, `appPaths`, as
//   likely as all the others together, since it changes in nearly every release) until the budget
//   is met. Torch, ffmpeg and the app stay apart from what does not change with them, at 20 layers
//   as at 100.
import * as fs from "fs";

export interface StorePathInfo {
    path: string;
    narSize: number;
    references: string[];
}

export type LayerStrategyName = "popularity" | "equal" | "stable";

export interface LayerPlanOptions {
    strategy: LayerStrategyName;
    /** Layer budget (default 100, hard cap 125). */
    maxLayers?: number;
    /** Warn when a layer would be larger than this many bytes (default 10 GiB). */
    maxLayerBytes?: number;
    /**
     * Store paths of the project's own code (stable only): they change in nearly every release, so
     * the planner keeps them, and what changes with them, apart from everything else.
     */
    appPaths?: string[];
}

export interface Layer {
    paths: string[];
    size: number;
}

export interface LayerPlan {
    strategy: LayerStrategyName;
    layers: Layer[];
    warnings: string[];
}

export const DEFAULT_MAX_LAYERS = 100;
export const HARD_MAX_LAYERS = 125;
export const DEFAULT_MAX_LAYER_BYTES = 10 * 1024 ** 3;

/** `/nix/store/<hash>-name` → `name` (the part that survives a rebuild). */
export function pathName(p: string): string {
    const base = p.slice(p.lastIndexOf("/") + 1);
    return /^[a-z0-9]{32}-/.test(base) ? base.slice(33) : base;
}

function byNameThenPath(a: string, b: string): number {
    const na = pathName(a);
    const nb = pathName(b);
    if (na !== nb) {
        return na < nb ? -1 : 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}

/** The closure graph, indexed: references restricted to paths of the graph, self-references dropped. */
export class ClosureGraph {
    readonly paths: string[];
    readonly sizes: number[];
    readonly refs: number[][];
    readonly index: Map<string, number>;
    private closures?: Uint32Array[];
    private depths?: number[];

    constructor(infos: StorePathInfo[]) {
        const sorted = [...infos].sort((a, b) => byNameThenPath(a.path, b.path));
        this.paths = sorted.map((i) => i.path);
        this.index = new Map(this.paths.map((p, i) => [p, i]));
        if (this.index.size !== this.paths.length) {
            throw new Error("closure graph lists a store path twice");
        }
        this.sizes = sorted.map((i) => Math.max(0, i.narSize));
        this.refs = sorted.map((i) => [...new Set(i.references)]
            .map((r) => this.index.get(r))
            .filter((r): r is number => r !== undefined && r !== this.index.get(i.path)));
    }

    get size(): number {
        return this.paths.length;
    }

    /** Bitset of each path's closure (itself included). Cycles (not produced by Nix) are tolerated. */
    closureSets(): Uint32Array[] {
        if (this.closures !== undefined) {
            return this.closures;
        }
        const n = this.size;
        const words = Math.max(1, Math.ceil(n / 32));
        const sets: (Uint32Array | undefined)[] = new Array(n);
        const state = new Uint8Array(n); // 0 new, 1 visiting, 2 done
        const visit = (root: number) => {
            const stack: Array<[number, number]> = [[root, 0]];
            state[root] = 1;
            while (stack.length > 0) {
                const top = stack[stack.length - 1];
                const [v, i] = top;
                if (i < this.refs[v].length) {
                    top[1]++;
                    const w = this.refs[v][i];
                    if (state[w] === 0) {
                        state[w] = 1;
                        stack.push([w, 0]);
                    }
                    continue;
                }
                const set = new Uint32Array(words);
                set[v >>> 5] |= 1 << (v & 31);
                for (const w of this.refs[v]) {
                    const sw = sets[w];
                    if (sw !== undefined) {
                        for (let k = 0; k < words; k++) {
                            set[k] |= sw[k];
                        }
                    }
                }
                sets[v] = set;
                state[v] = 2;
                stack.pop();
            }
        };
        for (let v = 0; v < n; v++) {
            if (state[v] === 0) {
                visit(v);
            }
        }
        this.closures = sets as Uint32Array[];
        return this.closures;
    }

    /** How many paths (itself included) have `v` in their closure. */
    popularity(): number[] {
        const sets = this.closureSets();
        const pop = new Array<number>(this.size).fill(0);
        for (const set of sets) {
            for (let v = 0; v < this.size; v++) {
                if ((set[v >>> 5] >>> (v & 31)) & 1) {
                    pop[v]++;
                }
            }
        }
        return pop;
    }

    /** Longest reference chain below each path (0 for leaves). */
    depth(): number[] {
        if (this.depths !== undefined) {
            return this.depths;
        }
        const memo = new Array<number>(this.size).fill(-1);
        const order: number[] = [];
        const seen = new Uint8Array(this.size);
        for (let r = 0; r < this.size; r++) {
            if (seen[r]) {
                continue;
            }
            const stack: Array<[number, number]> = [[r, 0]];
            seen[r] = 1;
            while (stack.length > 0) {
                const top = stack[stack.length - 1];
                if (top[1] < this.refs[top[0]].length) {
                    const w = this.refs[top[0]][top[1]++];
                    if (!seen[w]) {
                        seen[w] = 1;
                        stack.push([w, 0]);
                    }
                } else {
                    order.push(top[0]);
                    stack.pop();
                }
            }
        }
        for (const v of order) {
            memo[v] = this.refs[v].reduce((m, w) => Math.max(m, memo[w] + 1), 0);
        }
        this.depths = memo;
        return memo;
    }
}

function layerOf(g: ClosureGraph, members: number[]): Layer {
    const paths = members.map((i) => g.paths[i]).sort(byNameThenPath);
    return { paths, size: members.reduce((s, i) => s + g.sizes[i], 0) };
}

/** Paths by descending popularity, ties by name without hash. */
function popularityOrder(g: ClosureGraph): number[] {
    const pop = g.popularity();
    return [...g.paths.keys()].sort((a, b) => pop[b] - pop[a] || byNameThenPath(g.paths[a], g.paths[b]));
}

export function planPopularity(g: ClosureGraph, maxLayers: number): Layer[] {
    const order = popularityOrder(g);
    if (order.length <= maxLayers) {
        return order.map((i) => layerOf(g, [i]));
    }
    const singles = order.slice(0, maxLayers - 1).map((i) => layerOf(g, [i]));
    return [...singles, layerOf(g, order.slice(maxLayers - 1))];
}

export function planEqual(g: ClosureGraph, maxLayers: number): Layer[] {
    const order = popularityOrder(g);
    const total = g.sizes.reduce((s, x) => s + x, 0);
    const target = total / maxLayers;
    const layers: Layer[] = [];
    let current: number[] = [];
    let running = 0;
    for (const i of order) {
        current.push(i);
        running += g.sizes[i];
        if (running > target && layers.length < maxLayers - 1) {
            layers.push(layerOf(g, current));
            current = [];
            running = 0;
        }
    }
    if (current.length > 0) {
        layers.push(layerOf(g, current));
    }
    return layers;
}

function keyOf(set: Uint32Array, anchors: number[]): string {
    let key = "";
    for (const a of anchors) {
        key += (set[a >>> 5] >>> (a & 31)) & 1 ? "1" : "0";
    }
    return key;
}

/** Groups of non-anchor paths keyed by the anchors in their closure. */
function groupsFor(g: ClosureGraph, anchors: number[]): Map<string, number[]> {
    const sets = g.closureSets();
    const isAnchor = new Set(anchors);
    const groups = new Map<string, number[]>();
    for (let v = 0; v < g.size; v++) {
        if (isAnchor.has(v)) {
            continue;
        }
        const k = keyOf(sets[v], anchors);
        const list = groups.get(k);
        if (list === undefined) {
            groups.set(k, [v]);
        } else {
            list.push(v);
        }
    }
    return groups;
}

/** Anchors and their groups (see the strategies above), as many anchors as `budget` units allow. */
function anchorUnits(g: ClosureGraph, budget: number): number[][] {
    // Anchor candidates: heaviest first (ties by name), so membership follows each path's own size.
    const candidates = [...g.paths.keys()].sort((a, b) => g.sizes[b] - g.sizes[a] || byNameThenPath(g.paths[a], g.paths[b]));
    let best = { anchors: [] as number[], groups: groupsFor(g, []) };
    for (let k = 1; k < Math.min(candidates.length, budget); k++) {
        const anchors = candidates.slice(0, k);
        const groups = groupsFor(g, anchors);
        if (anchors.length + groups.size <= budget) {
            best = { anchors, groups };
        }
    }
    return [...best.anchors.map((a) => [a]), ...best.groups.values()];
}

function popcount(x: number): number {
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Σ weights of a ∖ b for two path bitsets: 1 per path, plus `appWeight` per path also in `app`. */
function weightAndNot(a: Uint32Array, b: Uint32Array, app: Uint32Array, appWeight: number): number {
    let n = 0;
    let inApp = 0;
    for (let k = 0; k < a.length; k++) {
        const d = a[k] & ~b[k];
        n += popcount(d);
        inApp += popcount(d & app[k]);
    }
    return n + appWeight * inApp;
}

/** Units the merge starts from: one per path, or (large closures) anchor groups, at most this many. */
const MERGE_START_UNITS = 300;

/**
 * Merges units into `maxLayers` layers, each step the pair whose merge adds least to the bytes a
 * release re-pushes. A change to store path P changes P and every path that has P in its closure,
 * so it re-pushes each layer whose "touch set" (the union of its paths' closures) holds P. Merging
 * U and V makes every change that touches exactly one of them re-push the other too: it costs
 * size(V)·w(T(U)∖T(V)) + size(U)·w(T(V)∖T(U)), where w counts each path of the closure as one
 * change, and each of the project's own paths (`app`) as many changes as the closure has paths:
 * the app changes in nearly every release. Paths that always change together (the app, its
 * environment and entrypoint) merge cheaply; the app merges with nothing that does not change with
 * it, and never with torch, whose re-push every app release would then pay.
 */
function mergeUnits(g: ClosureGraph, start: number[][], maxLayers: number, app: number[]): number[][] {
    const sets = g.closureSets();
    const words = sets.length > 0 ? sets[0].length : 1;
    const appSet = new Uint32Array(words);
    for (const i of app) {
        appSet[i >>> 5] |= 1 << (i & 31);
    }
    const appWeight = g.size;
    const units = start.map((u) => [...u].sort((a, b) => byNameThenPath(g.paths[a], g.paths[b])))
        .sort((a, b) => byNameThenPath(g.paths[a[0]], g.paths[b[0]]));
    const m = units.length;
    const touch = units.map((u) => {
        const t = new Uint32Array(words);
        for (const i of u) {
            for (let k = 0; k < words; k++) {
                t[k] |= sets[i][k];
            }
        }
        return t;
    });
    const size = units.map((u) => u.reduce((s, i) => s + g.sizes[i], 0));
    const alive = new Array<boolean>(m).fill(true);
    const cost = new Float64Array(m * m);
    const pairCost = (a: number, b: number) => size[b] * weightAndNot(touch[a], touch[b], appSet, appWeight) + size[a] * weightAndNot(touch[b], touch[a], appSet, appWeight);
    for (let a = 0; a < m; a++) {
        for (let b = a + 1; b < m; b++) {
            cost[a * m + b] = pairCost(a, b);
        }
    }
    for (let left = m; left > maxLayers; left--) {
        let best = Infinity;
        let ba = -1;
        let bb = -1;
        for (let a = 0; a < m; a++) {
            if (!alive[a]) {
                continue;
            }
            for (let b = a + 1; b < m; b++) {
                if (alive[b] && cost[a * m + b] < best) {
                    best = cost[a * m + b];
                    ba = a;
                    bb = b;
                }
            }
        }
        units[ba].push(...units[bb]);
        alive[bb] = false;
        for (let k = 0; k < words; k++) {
            touch[ba][k] |= touch[bb][k];
        }
        size[ba] += size[bb];
        for (let c = 0; c < m; c++) {
            if (alive[c] && c !== ba) {
                const [x, y] = c < ba ? [c, ba] : [ba, c];
                cost[x * m + y] = pairCost(x, y);
            }
        }
    }
    return units.filter((_, i) => alive[i]);
}

export function planStable(g: ClosureGraph, maxLayers: number, appPaths: string[] = []): Layer[] {
    if (g.size <= maxLayers) {
        return [...g.paths.keys()].map((i) => layerOf(g, [i]));
    }
    const start = g.size <= MERGE_START_UNITS ? [...g.paths.keys()].map((i) => [i]) : anchorUnits(g, MERGE_START_UNITS);
    const depth = g.depth();
    const app = appPaths.map((p) => g.index.get(p)).filter((i): i is number => i !== undefined);
    const units = mergeUnits(g, start, maxLayers, app);
    const height = (u: number[]) => Math.max(...u.map((i) => depth[i]));
    const firstName = (u: number[]) => u.map((i) => g.paths[i]).sort(byNameThenPath)[0];
    units.sort((a, b) => height(a) - height(b) || byNameThenPath(firstName(a), firstName(b)));
    return units.map((u) => layerOf(g, u));
}

/** Plans the layers of a closure. Never throws for a well-formed graph; problems come back as warnings. */
export function planLayers(infos: StorePathInfo[], opts: LayerPlanOptions): LayerPlan {
    const warnings: string[] = [];
    let maxLayers = opts.maxLayers ?? DEFAULT_MAX_LAYERS;
    if (!Number.isInteger(maxLayers) || maxLayers < 1) {
        warnings.push(`maxLayers ${maxLayers} is not a positive integer; using ${DEFAULT_MAX_LAYERS}`);
        maxLayers = DEFAULT_MAX_LAYERS;
    }
    if (maxLayers > HARD_MAX_LAYERS) {
        warnings.push(`maxLayers ${maxLayers} is above the hard cap ${HARD_MAX_LAYERS}; using ${HARD_MAX_LAYERS}`);
        maxLayers = HARD_MAX_LAYERS;
    }
    const g = new ClosureGraph(infos);
    const layers = opts.strategy === "popularity" ? planPopularity(g, maxLayers)
        : opts.strategy === "equal" ? planEqual(g, maxLayers)
            : planStable(g, maxLayers, opts.appPaths);
    const limit = opts.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES;
    for (const [i, l] of layers.entries()) {
        if (l.size > limit) {
            warnings.push(`layer ${i + 1} (${l.paths.map(pathName).slice(0, 3).join(", ")}${l.paths.length > 3 ? ", …" : ""}) is ${l.size} bytes, above the per-layer limit of ${limit} bytes (registries such as GHCR refuse layers over 10 GB)`);
        }
    }
    return { strategy: opts.strategy, layers, warnings };
}

/** A layer's identity: its tarball is a function of exactly these store paths. */
export function layerKey(l: Layer): string {
    return l.paths.join("\n");
}

/** Bytes that must be pushed for `next` when the registry already holds every layer of `prev`. */
export function repushedBytes(prev: Layer[], next: Layer[]): number {
    const have = new Set(prev.map(layerKey));
    return next.filter((l) => !have.has(layerKey(l))).reduce((s, l) => s + l.size, 0);
}

/** Bytes of store paths in `next` that are not in `prev`: the least any layering must push. */
export function idealBytes(prev: StorePathInfo[], next: StorePathInfo[]): number {
    const have = new Set(prev.map((p) => p.path));
    return next.filter((p) => !have.has(p.path)).reduce((s, p) => s + p.narSize, 0);
}

/** Pure: what is wrong with a plan of `graph` (a path in no layer, in two, or not in the graph); [] when nothing. */
export function coverageProblems(graph: StorePathInfo[], layers: Layer[]): string[] {
    const seen = new Map<string, number>();
    for (const l of layers) {
        for (const p of l.paths) {
            seen.set(p, (seen.get(p) ?? 0) + 1);
        }
    }
    const inGraph = new Set(graph.map((i) => i.path));
    return [
        ...graph.filter((i) => !seen.has(i.path)).map((i) => `${i.path} is in no layer`),
        ...[...seen].filter(([, n]) => n > 1).map(([p]) => `${p} is in ${seen.get(p)} layers`),
        ...[...seen.keys()].filter((p) => !inGraph.has(p)).map((p) => `${p} is not in the image closure`),
    ];
}

/** What the planner read (input.json next to plan.json): a later preview forecasts the next plan from it. */
export interface PlanInput {
    graph: StorePathInfo[];
    appPaths: string[];
    /** The store path whose tree is the image's root layer (packed after the planned layers), if any. */
    rootDir?: string;
    /** The derivation's `assembly` attribute: what the layers are packed with (JSON), if any. */
    assembly?: string;
}

/* Command line, used inside the Nix build:
 *   node layer-planner.js <.attrs.json> <graph attribute> <strategy> <maxLayers> <maxLayerBytes> [<app paths attribute>]
 * reads the exportReferencesGraph output of a structured-attrs derivation and writes the plan to
 * the derivation's `out` (a directory): plan.json; layers.txt with one layer per line
 * (space-separated store paths) for shell consumers; input.json (PlanInput, with the derivation's
 * `rootDir` and `assembly` attributes when it has them). */
function cli(argv: string[]): number {
    const [attrsFile, attr, strategy, maxLayers, maxLayerBytes, appAttr] = argv;
    if (maxLayerBytes === undefined || !["popularity", "equal", "stable"].includes(strategy)) {
        process.stderr.write("usage: layer-planner <.attrs.json> <attr> <popularity|equal|stable> <maxLayers> <maxLayerBytes> [<app paths attr>]\n");
        return 2;
    }
    const attrs = JSON.parse(fs.readFileSync(attrsFile, "utf8")) as Record<string, unknown>;
    const graph = attrs[attr] as StorePathInfo[];
    const out = (attrs.outputs as Record<string, string>).out;
    const appPaths = appAttr === undefined ? [] : (attrs[appAttr] as string[] | undefined) ?? [];
    const plan = planLayers(graph, { strategy: strategy as LayerStrategyName, maxLayers: Number(maxLayers), maxLayerBytes: Number(maxLayerBytes), appPaths });
    for (const w of plan.warnings) {
        process.stderr.write(`layer-planner: warning: ${w}\n`);
    }
    process.stderr.write(`layer-planner: ${plan.strategy}: ${graph.length} paths in ${plan.layers.length} layers\n`);
    const problems = coverageProblems(graph, plan.layers);
    if (problems.length > 0) {
        process.stderr.write(`layer-planner: the plan does not cover the image closure exactly:\n${problems.join("\n")}\n`);
        return 1;
    }
    fs.mkdirSync(out);
    fs.writeFileSync(`${out}/plan.json`, JSON.stringify(plan));
    fs.writeFileSync(`${out}/layers.txt`, plan.layers.map((l) => l.paths.join(" ")).join("\n") + "\n");
    const input: PlanInput = {
        graph, appPaths,
        ...(typeof attrs.rootDir === "string" ? { rootDir: attrs.rootDir } : {}),
        ...(typeof attrs.assembly === "string" ? { assembly: attrs.assembly } : {}),
    };
    fs.writeFileSync(`${out}/input.json`, JSON.stringify(input));
    return 0;
}

if (require.main === module) {
    process.exitCode = cli(process.argv.slice(2));
}
