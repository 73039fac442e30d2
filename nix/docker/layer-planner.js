// GENERATED from components/layers.ts by `npm run build:planner`; do not edit.
"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ClosureGraph = exports.DEFAULT_MAX_LAYER_BYTES = exports.HARD_MAX_LAYERS = exports.DEFAULT_MAX_LAYERS = void 0;
exports.pathName = pathName;
exports.planPopularity = planPopularity;
exports.planEqual = planEqual;
exports.planStable = planStable;
exports.planLayers = planLayers;
exports.layerKey = layerKey;
exports.repushedBytes = repushedBytes;
exports.idealBytes = idealBytes;
exports.coverageProblems = coverageProblems;
// Layer planning: groups the store paths of an image closure into at most `maxLayers` layers.
// Pure and self-contained (only `fs`, for its command line): it is also compiled to nix/docker/layer-planner.js and run
// inside the Nix build (`npm run build:planner`; a unit test keeps the two in step).
//
// Strategies:
// - popularity: nixpkgs' classic layering. Paths ordered by popularity (how many paths in the
//   closure depend on them); the maxLayers-1 most popular get a layer each, all the rest (the app
//   included) share one catch-all layer.
// - equal: the seed's nix-docker-layering `generators.equal`, reimplemented from its description:
//   popularity order, a layer is closed when its running size passes total/maxLayers (an oversized
//   path closes its layer with what came before it), the remainder is the last layer.
// - stable (ours): the heaviest paths become "anchors" with a layer each; every other path goes
//   into the layer of paths that have exactly the same anchors in their closure. Membership depends
//   only on a path's own size rank and its position in the graph, never on running sums of unrelated
//   paths. Because a path changes whenever anything in its closure changes, a group keyed by a set
//   containing anchor X holds only dependents of X: replacing X (torch, ffmpeg) re-pushes X's layer
//   and groups made only of paths that changed anyway. As many anchors are taken as the budget
//   allows, so the app and its thin wrappers end up in small top layers.
const fs = require("fs");
exports.DEFAULT_MAX_LAYERS = 100;
exports.HARD_MAX_LAYERS = 125;
exports.DEFAULT_MAX_LAYER_BYTES = 10 * 1024 ** 3;
/** `/nix/store/<hash>-name` → `name` (the part that survives a rebuild). */
function pathName(p) {
    const base = p.slice(p.lastIndexOf("/") + 1);
    return /^[a-z0-9]{32}-/.test(base) ? base.slice(33) : base;
}
function byNameThenPath(a, b) {
    const na = pathName(a);
    const nb = pathName(b);
    if (na !== nb) {
        return na < nb ? -1 : 1;
    }
    return a < b ? -1 : a > b ? 1 : 0;
}
/** The closure graph, indexed: references restricted to paths of the graph, self-references dropped. */
class ClosureGraph {
    constructor(infos) {
        const sorted = [...infos].sort((a, b) => byNameThenPath(a.path, b.path));
        this.paths = sorted.map((i) => i.path);
        this.index = new Map(this.paths.map((p, i) => [p, i]));
        if (this.index.size !== this.paths.length) {
            throw new Error("closure graph lists a store path twice");
        }
        this.sizes = sorted.map((i) => Math.max(0, i.narSize));
        this.refs = sorted.map((i) => [...new Set(i.references)]
            .map((r) => this.index.get(r))
            .filter((r) => r !== undefined && r !== this.index.get(i.path)));
    }
    get size() {
        return this.paths.length;
    }
    /** Bitset of each path's closure (itself included). Cycles (not produced by Nix) are tolerated. */
    closureSets() {
        if (this.closures !== undefined) {
            return this.closures;
        }
        const n = this.size;
        const words = Math.max(1, Math.ceil(n / 32));
        const sets = new Array(n);
        const state = new Uint8Array(n); // 0 new, 1 visiting, 2 done
        const visit = (root) => {
            const stack = [[root, 0]];
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
        this.closures = sets;
        return this.closures;
    }
    /** How many paths (itself included) have `v` in their closure. */
    popularity() {
        const sets = this.closureSets();
        const pop = new Array(this.size).fill(0);
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
    depth() {
        if (this.depths !== undefined) {
            return this.depths;
        }
        const memo = new Array(this.size).fill(-1);
        const order = [];
        const seen = new Uint8Array(this.size);
        for (let r = 0; r < this.size; r++) {
            if (seen[r]) {
                continue;
            }
            const stack = [[r, 0]];
            seen[r] = 1;
            while (stack.length > 0) {
                const top = stack[stack.length - 1];
                if (top[1] < this.refs[top[0]].length) {
                    const w = this.refs[top[0]][top[1]++];
                    if (!seen[w]) {
                        seen[w] = 1;
                        stack.push([w, 0]);
                    }
                }
                else {
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
exports.ClosureGraph = ClosureGraph;
function layerOf(g, members) {
    const paths = members.map((i) => g.paths[i]).sort(byNameThenPath);
    return { paths, size: members.reduce((s, i) => s + g.sizes[i], 0) };
}
/** Paths by descending popularity, ties by name without hash. */
function popularityOrder(g) {
    const pop = g.popularity();
    return [...g.paths.keys()].sort((a, b) => pop[b] - pop[a] || byNameThenPath(g.paths[a], g.paths[b]));
}
function planPopularity(g, maxLayers) {
    const order = popularityOrder(g);
    if (order.length <= maxLayers) {
        return order.map((i) => layerOf(g, [i]));
    }
    const singles = order.slice(0, maxLayers - 1).map((i) => layerOf(g, [i]));
    return [...singles, layerOf(g, order.slice(maxLayers - 1))];
}
function planEqual(g, maxLayers) {
    const order = popularityOrder(g);
    const total = g.sizes.reduce((s, x) => s + x, 0);
    const target = total / maxLayers;
    const layers = [];
    let current = [];
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
function keyOf(set, anchors) {
    let key = "";
    for (const a of anchors) {
        key += (set[a >>> 5] >>> (a & 31)) & 1 ? "1" : "0";
    }
    return key;
}
/** Groups of non-anchor paths keyed by the anchors in their closure. */
function groupsFor(g, anchors) {
    const sets = g.closureSets();
    const isAnchor = new Set(anchors);
    const groups = new Map();
    for (let v = 0; v < g.size; v++) {
        if (isAnchor.has(v)) {
            continue;
        }
        const k = keyOf(sets[v], anchors);
        const list = groups.get(k);
        if (list === undefined) {
            groups.set(k, [v]);
        }
        else {
            list.push(v);
        }
    }
    return groups;
}
function planStable(g, maxLayers) {
    if (g.size <= maxLayers) {
        return [...g.paths.keys()].map((i) => layerOf(g, [i]));
    }
    // Anchor candidates: heaviest first (ties by name), so membership follows each path's own size.
    const candidates = [...g.paths.keys()].sort((a, b) => g.sizes[b] - g.sizes[a] || byNameThenPath(g.paths[a], g.paths[b]));
    let best = { anchors: [], groups: groupsFor(g, []) };
    for (let k = 1; k < Math.min(candidates.length, maxLayers); k++) {
        const anchors = candidates.slice(0, k);
        const groups = groupsFor(g, anchors);
        if (anchors.length + groups.size <= maxLayers) {
            best = { anchors, groups };
        }
    }
    const depth = g.depth();
    const units = [...best.anchors.map((a) => [a]), ...best.groups.values()];
    const height = (u) => Math.max(...u.map((i) => depth[i]));
    const firstName = (u) => u.map((i) => g.paths[i]).sort(byNameThenPath)[0];
    units.sort((a, b) => height(a) - height(b) || byNameThenPath(firstName(a), firstName(b)));
    return units.map((u) => layerOf(g, u));
}
/** Plans the layers of a closure. Never throws for a well-formed graph; problems come back as warnings. */
function planLayers(infos, opts) {
    const warnings = [];
    let maxLayers = opts.maxLayers ?? exports.DEFAULT_MAX_LAYERS;
    if (!Number.isInteger(maxLayers) || maxLayers < 1) {
        warnings.push(`maxLayers ${maxLayers} is not a positive integer; using ${exports.DEFAULT_MAX_LAYERS}`);
        maxLayers = exports.DEFAULT_MAX_LAYERS;
    }
    if (maxLayers > exports.HARD_MAX_LAYERS) {
        warnings.push(`maxLayers ${maxLayers} is above the hard cap ${exports.HARD_MAX_LAYERS}; using ${exports.HARD_MAX_LAYERS}`);
        maxLayers = exports.HARD_MAX_LAYERS;
    }
    const g = new ClosureGraph(infos);
    const layers = opts.strategy === "popularity" ? planPopularity(g, maxLayers)
        : opts.strategy === "equal" ? planEqual(g, maxLayers)
            : planStable(g, maxLayers);
    const limit = opts.maxLayerBytes ?? exports.DEFAULT_MAX_LAYER_BYTES;
    for (const [i, l] of layers.entries()) {
        if (l.size > limit) {
            warnings.push(`layer ${i + 1} (${l.paths.map(pathName).slice(0, 3).join(", ")}${l.paths.length > 3 ? ", …" : ""}) is ${l.size} bytes, above the per-layer limit of ${limit} bytes (registries such as GHCR refuse layers over 10 GB)`);
        }
    }
    return { strategy: opts.strategy, layers, warnings };
}
/** A layer's identity: its tarball is a function of exactly these store paths. */
function layerKey(l) {
    return l.paths.join("\n");
}
/** Bytes that must be pushed for `next` when the registry already holds every layer of `prev`. */
function repushedBytes(prev, next) {
    const have = new Set(prev.map(layerKey));
    return next.filter((l) => !have.has(layerKey(l))).reduce((s, l) => s + l.size, 0);
}
/** Bytes of store paths in `next` that are not in `prev`: the least any layering must push. */
function idealBytes(prev, next) {
    const have = new Set(prev.map((p) => p.path));
    return next.filter((p) => !have.has(p.path)).reduce((s, p) => s + p.narSize, 0);
}
/** Pure: what is wrong with a plan of `graph` (a path in no layer, in two, or not in the graph); [] when nothing. */
function coverageProblems(graph, layers) {
    const seen = new Map();
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
/* Command line, used inside the Nix build:
 *   node layer-planner.js <.attrs.json> <graph attribute> <strategy> <maxLayers> <maxLayerBytes>
 * reads the exportReferencesGraph output of a structured-attrs derivation and writes the plan to
 * the derivation's `out` (a directory): plan.json, and layers.txt with one layer per line
 * (space-separated store paths) for shell consumers. */
function cli(argv) {
    const [attrsFile, attr, strategy, maxLayers, maxLayerBytes] = argv;
    if (maxLayerBytes === undefined || !["popularity", "equal", "stable"].includes(strategy)) {
        process.stderr.write("usage: layer-planner <.attrs.json> <attr> <popularity|equal|stable> <maxLayers> <maxLayerBytes>\n");
        return 2;
    }
    const attrs = JSON.parse(fs.readFileSync(attrsFile, "utf8"));
    const graph = attrs[attr];
    const out = attrs.outputs.out;
    const plan = planLayers(graph, { strategy: strategy, maxLayers: Number(maxLayers), maxLayerBytes: Number(maxLayerBytes) });
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
    return 0;
}
if (require.main === module) {
    process.exitCode = cli(process.argv.slice(2));
}
