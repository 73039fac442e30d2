// What a preview says, in words, about a change: which overlay arguments, files and pins changed
// (compared with what the last `up` recorded in the stack's `nixExplain` output), what Nix will
// build or fetch for it (Nix's own dry run), and what rolls out. The logic is pure (the program
// feeds it the previous record, the current one and Nix's dry-run text; tests call it directly);
// the last functions read the previous record and print.
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PYTHON_AT_PIN, OverlayArgValue } from "../config";
import { ATTRS_MARKER, CLOSURE_END, CLOSURE_MARKER } from "../exec";
import { LayerForecast, forecastLayers, forecastLine, nextPlanAttrs, readPreviousImage } from "./forecast";
import { LayerStrategyName } from "./layers";

/** What the last `up` recorded about the Nix side (the stack output `nixExplain`). */
export interface ExplainRecord {
    /** Overlays in order, with their arguments. */
    overlays: Array<{ name: string; args: Record<string, OverlayArgValue> }>;
    /** Every Nix file (and file it references) the evaluation reads: project-relative path → sha256. */
    files: Record<string, string>;
    /** Pinned sources found in those files: `<file>: <name>` → revision (and hash, to spot a stale one). */
    pins: Record<string, { rev: string; hash?: string }>;
    /** The image derivation. */
    drvPath: string;
}

/** Nix's dry run: what realising the derivation would build and fetch. */
export interface DryRun {
    build: string[];
    fetch: string[];
    downloadMiB?: number;
    /** Every output and source path of the derivation's closure, if Nix listed it completely. */
    closure?: string[];
    /** The derivation's structured attributes (`__json`), if it has them. */
    attrs?: Record<string, unknown>;
}

/** What rolls out when the image changes. */
export interface RolloutFacts {
    kind: "Deployment" | "Job";
    namespace: string;
    name: string;
    replicas: number;
    strategy: "Recreate" | "RollingUpdate";
}

const STORE_NAME = /^\/nix\/store\/[a-z0-9]{32}-(.+?)(\.drv)?$/;

/** Pure: the readable name of a store path (`/nix/store/<hash>-fixture-app.drv` → `fixture-app`). */
export function storeName(p: string): string {
    return STORE_NAME.exec(p)?.[1] ?? p;
}

/**
 * Pure: parses `nix-store --realise --dry-run` output (Nix 2.8 prints "these N derivations will be
 * built:" / "this derivation will be built:" and "these N paths will be fetched (X MiB download,
 * Y MiB unpacked):" / "this path will be fetched (…)", each followed by indented store paths).
 */
export function parseDryRun(text: string): DryRun {
    const out: DryRun = { build: [], fetch: [] };
    const attrsAt = text.indexOf(ATTRS_MARKER);
    if (attrsAt >= 0) {
        try {
            const v = JSON.parse(text.slice(attrsAt + ATTRS_MARKER.length).trim()) as unknown;
            out.attrs = typeof v === "object" && v !== null ? v as Record<string, unknown> : undefined;
        } catch {
            // a derivation without structured attributes
        }
        text = text.slice(0, attrsAt);
    }
    const marker = text.indexOf(CLOSURE_MARKER);
    if (marker >= 0) {
        const listed = text.slice(marker + CLOSURE_MARKER.length);
        if (listed.includes(CLOSURE_END)) {
            out.closure = listed.split("\n").map((l) => l.trim()).filter((l) => /^\/nix\/store\/[a-z0-9]{32}-/.test(l));
        }
        text = text.slice(0, marker);
    }
    let list: string[] | undefined;
    for (const line of text.split("\n")) {
        if (/^(these \d+ derivations|this derivation) will be built:/.test(line)) {
            list = out.build;
        } else if (/^(these \d+ paths|this path) will be fetched/.test(line)) {
            list = out.fetch;
            const mib = /\(([\d.]+) MiB download/.exec(line);
            if (mib) {
                out.downloadMiB = Number(mib[1]);
            }
        } else if (/^\s+\/nix\/store\//.test(line) && list !== undefined) {
            list.push(line.trim());
        } else if (line.trim() !== "") {
            list = undefined;
        }
    }
    return out;
}

/** Pure: pinned sources in a Nix file: `name = { rev = "…"; sha256 = "…"; }` and GitHub archive URLs. */
export function pinsIn(file: string, text: string): ExplainRecord["pins"] {
    const pins: ExplainRecord["pins"] = {};
    for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_'-]*)\s*=\s*\{[^{}]*?\brev\s*=\s*"([^"]+)"[^{}]*?\}/g)) {
        const hash = /\b(?:sha256|hash)\s*=\s*"([^"]+)"/.exec(m[0])?.[1];
        pins[`${file}: ${m[1]}`] = { rev: m[2], ...(hash !== undefined ? { hash } : {}) };
    }
    for (const m of text.matchAll(/github\.com\/([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)\/archive\/([0-9a-f]{7,40})\.tar\.gz"[^}]*?\bsha256\s*=\s*"([^"]+)"/g)) {
        pins[`${file}: ${m[1]}`] = { rev: m[2], hash: m[3] };
    }
    return pins;
}

const short = (rev: string) => (/^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 12) : rev);
const showArg = (v: OverlayArgValue | undefined) => (v === undefined ? "(unset)" : JSON.stringify(v));

/** Pure: what changed between the last `up` and now, one line each (empty when nothing did). */
export function changedLines(prev: ExplainRecord, cur: ExplainRecord): string[] {
    const lines: string[] = [];
    const prevOverlays = new Map(prev.overlays.map((o) => [o.name, o]));
    const curNames = new Set(cur.overlays.map((o) => o.name));
    for (const o of cur.overlays) {
        const p = prevOverlays.get(o.name);
        if (p === undefined) {
            lines.push(`overlay ${o.name}: added${Object.keys(o.args).length > 0 ? ` with ${Object.entries(o.args).map(([k, v]) => `${k} = ${showArg(v)}`).join(", ")}` : ""}`);
            continue;
        }
        for (const k of [...new Set([...Object.keys(p.args), ...Object.keys(o.args)])].sort()) {
            if (JSON.stringify(p.args[k]) !== JSON.stringify(o.args[k])) {
                lines.push(`overlay ${o.name}: ${k} ${showArg(p.args[k])} → ${showArg(o.args[k])}`);
            }
        }
    }
    for (const o of prev.overlays) {
        if (!curNames.has(o.name)) {
            lines.push(`overlay ${o.name}: removed`);
        }
    }
    if (prev.overlays.filter((o) => curNames.has(o.name)).map((o) => o.name).join() !== cur.overlays.filter((o) => prevOverlays.has(o.name)).map((o) => o.name).join()) {
        lines.push(`overlays reordered: ${cur.overlays.map((o) => o.name).join(", ")}`);
    }
    for (const f of Object.keys(cur.files).sort()) {
        if (prev.files[f] === undefined) {
            lines.push(`nix file added: ${f}`);
        } else if (prev.files[f] !== cur.files[f]) {
            lines.push(`nix file changed: ${f}`);
        }
    }
    for (const f of Object.keys(prev.files).sort()) {
        if (cur.files[f] === undefined) {
            lines.push(`nix file no longer read: ${f}`);
        }
    }
    for (const k of Object.keys(cur.pins).sort()) {
        const p = prev.pins[k];
        const c = cur.pins[k];
        if (p !== undefined && p.rev !== c.rev) {
            const stale = p.hash !== undefined && p.hash === c.hash
                ? " (its hash did not change: Nix will reuse the source it already has for that hash — update the hash too)" : "";
            lines.push(`pin ${k}: ${short(p.rev)} → ${short(c.rev)}${stale}`);
        }
    }
    return lines;
}

/** Pure: the preview's explanation block; [] when there is nothing to say (a no-op). */
export function explanation(prev: ExplainRecord | undefined, cur: ExplainRecord, dry: DryRun | undefined, rollout: RolloutFacts | undefined, caches: string[] | undefined, layers?: LayerForecast | string, sourceBuilds: string[] = []): string[] {
    const fromSource = sourceBuilds.map((n) => `  from source: ${n}`);
    if (prev === undefined) {
        // a first deployment: no change to explain, but what it will build instead of fetching
        return fromSource.length === 0 ? [] : ["nix-gpu-deploy: what this stack builds from source", ...fromSource];
    }
    const changed = changedLines(prev, cur);
    const drvChanged = prev.drvPath !== cur.drvPath;
    if (changed.length === 0 && !drvChanged) {
        return [];
    }
    const lines = ["nix-gpu-deploy: what this change does", ...changed.map((l) => `  ${l}`)];
    if (!drvChanged) {
        lines.push("  the image derivation is unchanged: nothing to build, nothing rolls out");
        return lines;
    }
    if (dry !== undefined) {
        if (dry.build.length > 0) {
            const names = dry.build.map(storeName);
            lines.push(`  to build (${names.length} derivation${names.length === 1 ? "" : "s"}): ${names.join(", ")}`);
        }
        if (dry.fetch.length > 0) {
            const from = caches === undefined ? "the machine's substituters" : caches.join(", ");
            lines.push(`  to fetch: ${dry.fetch.length} path${dry.fetch.length === 1 ? "" : "s"}${dry.downloadMiB !== undefined ? ` (${dry.downloadMiB} MiB download)` : ""} from ${from}`);
        }
        if (dry.build.length === 0 && dry.fetch.length === 0) {
            lines.push("  nothing to build or fetch: the new image is already in the store");
        }
    }
    if (dry === undefined || dry.build.length > 0) {
        lines.push(...fromSource);
    }
    // With our layering the evaluated derivation is the layer plan (components/nix/docker/buildCudaLayeredImage.nix):
    // the layers are derivations of the build's second step, so only their reuse can be said here.
    lines.push(/-layer-plan\.drv$/.test(cur.drvPath)
        ? `  image: new layer plan ${cur.drvPath}; then only layers whose store paths changed are packed, the others are reused`
        : `  image: new derivation ${cur.drvPath}`);
    if (layers !== undefined) {
        lines.push(`  ${forecastLine(layers)}`);
    }
    if (rollout !== undefined) {
        lines.push(`  rollout: ${rolloutLine(rollout)}`);
    }
    return lines;
}

/**
 * Pure: the stack's choices that make Nix build from source what a binary cache would otherwise
 * supply (cache.nixos.org holds what Hydra builds: nixpkgs' default Python set, default
 * configuration). Said at preview, before hours of builds start, not after.
 */
export function sourceBuildNotes(nix: { python?: string; system?: string; cudaCapabilities: string[]; overlays: Array<{ name: string; args?: Record<string, unknown> }> }): string[] {
    const notes: string[] = [];
    if (nix.system === "aarch64-linux" && nix.overlays.some((o) => o.name === "replaceTorch")) {
        // nixpkgs' torch/bin.nix at 24.11: the aarch64-linux wheels are PyTorch's CPU builds
        notes.push("nix.system aarch64-linux with overlay replaceTorch: the torch-bin wheels for aarch64-linux are CPU-only builds (no CUDA); on Grace GPU nodes torch would not see the GPU: build torch from source (drop replaceTorch) or use x86_64-linux nodes");
    }
    if (nix.python !== undefined && nix.python !== "python3" && nix.python !== DEFAULT_PYTHON_AT_PIN) {
        notes.push(`nix.python ${nix.python} is not nixpkgs' default Python (python3, ${DEFAULT_PYTHON_AT_PIN} at the pinned 24.11): binary caches hold only the default set, so every Python package of the image (numpy, scipy, pillow, opencv … with their test suites) builds here, for hours on a fresh machine`);
    }
    if (nix.cudaCapabilities.length > 0) {
        notes.push(`nix.cudaCapabilities [${nix.cudaCapabilities.join(", ")}] narrows nixpkgs' list: the CUDA code nixpkgs builds from source (nccl, a CUDA OpenCV, …) becomes derivations no binary cache holds; the torch-bin wheels are unaffected`);
    }
    for (const o of nix.overlays) {
        if (o.name === "ffmpeg") {
            notes.push("overlay ffmpeg rebuilds ffmpeg with its switches, and every package built against it (OpenCV, torchvision's video support, …)");
        } else if (o.name === "replaceTorch") {
            notes.push("overlay replaceTorch fetches the prebuilt torch-bin wheels; the Python packages that depend on torch (pytorch-lightning, torchmetrics, …) are rebuilt against them (unfree: no public cache builds them)");
        } else {
            notes.push(`overlay ${o.name}: what it changes, and everything that depends on that, is built unless a cache in nix.substituters holds it`);
        }
    }
    return notes;
}

/** Pure: what rolling out a new image does to the running workload. */
export function rolloutLine(r: RolloutFacts): string {
    const what = `${r.kind} ${r.namespace}/${r.name}`;
    if (r.kind === "Job") {
        return `${what} is replaced: the running Job (if any) is deleted first, then the new one runs to completion`;
    }
    if (r.replicas === 0) {
        return `${what} has 0 replicas: only its template changes`;
    }
    if (r.strategy === "Recreate") {
        return `${what}, ${r.replicas} replica${r.replicas === 1 ? "" : "s"}, Recreate: every old pod stops before the new ones start (no pod serves meanwhile)`;
    }
    return r.replicas === 1
        ? `${what}, 1 replica, RollingUpdate (maxSurge 0): the old pod stops before the new one starts (no pod serves meanwhile)`
        : `${what}, ${r.replicas} replicas, RollingUpdate (maxSurge 0): one pod at a time; ${r.replicas === 2 ? "the other old pod keeps serving until its turn" : `the other ${r.replicas - 1} old pods keep serving until their turn`}`;
}

/**
 * The last `up`'s stack outputs, read with the engine's `pulumi:pulumi:readStackOutputs` invoke —
 * what a StackReference does, without registering a resource, so a no-op preview shows no `read` of
 * it (the state is where they live, so any machine previewing the stack sees the same). Empty on the
 * first preview of a stack, or when they are unreadable.
 */
export function lastUpOutputs(): Promise<Record<string, unknown>> {
    const name = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    return pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", { name }, { async: true })
        .then((r: { outputs?: Record<string, unknown> }) => r.outputs ?? {}, () => ({}));
}

/** Pure: an output value as the invoke returns it, a secret one unwrapped ({ <secret signature>, value }). */
export function unwrapOutput(v: unknown): unknown {
    const o = v as Record<string, unknown> | null;
    return typeof o === "object" && o !== null && o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig ? o.value : v;
}

/** Pure: a string output of the last `up` (a secret one unwrapped), or undefined. */
export function stringOutput(outputs: Record<string, unknown>, name: string): string | undefined {
    const v = unwrapOutput(outputs[name]);
    return typeof v === "string" ? v : undefined;
}

/** Pure: an `nixExplain` output value as a record, or undefined when it is not one. */
export function parseRecord(v: unknown): ExplainRecord | undefined {
    v = unwrapOutput(v);
    try {
        const r = (typeof v === "string" ? JSON.parse(v) : v) as Partial<ExplainRecord> | undefined;
        return r !== undefined && r !== null && Array.isArray(r.overlays) && typeof r.files === "object" && r.files !== null
            && typeof r.pins === "object" && r.pins !== null && typeof r.drvPath === "string" ? r as ExplainRecord : undefined;
    } catch {
        return undefined;
    }
}

/**
 * On a preview, prints the explanation as one diagnostic (nothing on a no-op). The returned output
 * resolves once it is printed: something the program exports must wait for it, or the run could end
 * before the dry run has answered and the message is sent.
 */
export function reportExplanation(a: {
    previous: Promise<ExplainRecord | undefined>;
    current: pulumi.Output<ExplainRecord>;
    dryRun: Promise<DryRun | undefined>;
    rollout?: RolloutFacts;
    caches?: string[];
    /** The last `up`'s image (its `storePath` output) and this run's layering: for the layer forecast. */
    previousImage?: Promise<string | undefined>;
    layering?: { strategy: LayerStrategyName; maxLayers: number };
    /** What the stack's choices build from source (`sourceBuildNotes`). */
    sourceBuilds?: string[];
}): pulumi.Output<void> {
    // Logging inside `apply` is fine: nothing is thrown or created there.
    return pulumi.all([pulumi.output(a.previous), a.current, pulumi.output(a.dryRun), pulumi.output(a.previousImage)]).apply(async ([prev, cur, dry, prevImage]) => {
        const layers = dry === undefined || a.layering === undefined ? undefined : layerForecast(prevImage, dry, a.layering);
        const lines = explanation(prev, cur, dry, a.rollout, a.caches, layers, a.sourceBuilds);
        if (lines.length > 0) {
            // On the stack, not on a component: `preview --diff` shows no diagnostics of an unchanged resource.
            await pulumi.log.info(lines.join("\n"));
        }
    });
}

/**
 * The layer forecast (components/nix/forecast.ts) for a plan-layered image, or why there is none. The
 * planner gets `maxLayers - 1`: the recipe keeps one layer for the root skeleton.
 */
export function layerForecast(previousImage: string | undefined, dry: DryRun, layering: { strategy: LayerStrategyName; maxLayers: number }): LayerForecast | string {
    if (layering.strategy === "popularity") {
        return "the popularity strategy packs layers with nixpkgs' streamLayeredImage, which keeps no plan";
    }
    if (dry.closure === undefined) {
        return "Nix could not list the new derivation's closure";
    }
    const prev = readPreviousImage(previousImage);
    if (typeof prev === "string") {
        return prev;
    }
    try {
        return forecastLayers(prev, dry.closure, { strategy: layering.strategy, maxLayers: layering.maxLayers - 1 }, nextPlanAttrs(dry.attrs));
    } catch (e) {
        return `the forecast failed: ${(e as Error).message}`;
    }
}
