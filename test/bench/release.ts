// `npm run bench:release`: what a release costs, per publisher, with warm and cold publisher caches,
// on a synthetic closure (test/fixture/release.nix: 122 store paths of incompressible data shaped
// like a torch+CUDA image) at two sizes. Steps: the first release, an app-only change, a mid-graph
// change (an ffmpeg re-flag), no change. Figures, all from one run: wall seconds (build + push),
// derivations built, bytes written locally (Linux I/O accounting of the build's and the
// publisher's process trees, and of dockerd), blob uploads and their bytes counted at the registry
// (its access log), and the ratio to the ideal (the bytes of the store paths that changed).
// Prints a table and pass/fail against the targets of issue #12. A small variant runs in the
// integration tests (test/integration/release.test.ts); the full one is opt-in.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildEnvironment, dockerLoadScript, nixBuildScript, skopeoPushEnvironment, skopeoPushScript } from "../../components/exec";
import { Dockerd, startDockerd } from "../services/dockerd";
import { Registry, blobUploads, logLines, startRegistry } from "../services/registry";

const ROOT = path.resolve(__dirname, "../..");
const FIXTURE = path.join(ROOT, "test/fixture/release.nix");
const MiB = 1024 * 1024;

export type PublisherName = "skopeo" | "docker";
export type CacheState = "warm" | "cold";
export type StepName = "first release" | "app-only change" | "mid-graph change" | "no change";

export interface ReleaseRow {
    sizeMiB: number;
    publisher: PublisherName;
    cache: CacheState;
    step: StepName;
    seconds: number;
    built: number;
    /** Bytes the build's process tree wrote. */
    buildWritten: number;
    /** Bytes the publisher wrote (its process tree, plus dockerd for docker). */
    publishWritten: number;
    uploads: number;
    uploadedBytes: number;
    /** Layers of the new manifest that the previous one lacks. */
    changedLayers: number;
    /** Bytes of the store paths that changed (all of them for the first release). */
    ideal: number;
    imageBytes: number;
}

export interface ReleaseBenchOptions {
    sizesMiB: number[];
    publishers: PublisherName[];
    caches: CacheState[];
    maxLayers?: number;
    log?: (line: string) => void;
}

interface Variant { appSalt: string; midSalt: string }
const STEPS: Array<[StepName, Variant]> = [
    ["first release", { appSalt: "", midSalt: "" }],
    ["app-only change", { appSalt: "-edit", midSalt: "" }],
    ["mid-graph change", { appSalt: "-edit", midSalt: "-reflag" }],
    ["no change", { appSalt: "-edit", midSalt: "-reflag" }],
];

/** Salts every package of this run: each run starts from a store that has none of them. */
const GENERATION = `${process.pid}-${Date.now()}-`;

function fixtureArgs(sizeMiB: number, v: Variant, maxLayers: number): Record<string, string> {
    return { totalMiB: String(sizeMiB), appSalt: v.appSalt, midSalt: v.midSalt, maxLayers: String(maxLayers), generation: GENERATION };
}

/** Deletes this run's store paths (nothing else references them; they are not GC roots). */
function deleteFromStore(paths: Set<string>): void {
    const all = new Set<string>();
    if (paths.size === 0) {
        return;
    }
    // one query for the union of their closures
    for (const q of execFileSync("nix-store", ["--query", "--requisites", ...paths], { encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n")) {
        if (q.includes(GENERATION) || /-(layer-[^/]*|release-bench-[^/]*)$/.test(q)) {
            all.add(q);
        }
    }
    spawnSync("nix-store", ["--delete", ...all], { stdio: "ignore" });
}

/** Runs a script with /bin/sh; returns its output and the bytes its whole process tree wrote (reaped children count into the shell's I/O accounting). */
function accounted(script: string, env: NodeJS.ProcessEnv): { stdout: string; stderr: string; written: number } {
    const io = path.join(os.tmpdir(), `ngd-io-${process.pid}-${Date.now()}`);
    const wrapped = `( ${script}\n) ; s=$?; grep '^write_bytes' /proc/$$/io > '${io}'; exit $s`;
    const r = spawnSync("/bin/sh", ["-c", wrapped], { env, encoding: "utf8", maxBuffer: 256 * MiB });
    const written = fs.existsSync(io) ? Number(fs.readFileSync(io, "utf8").split(/\s+/)[1]) : NaN;
    fs.rmSync(io, { force: true });
    if (r.status !== 0) {
        throw new Error(`release bench: a step failed (${r.status}):\n${r.stderr.slice(-3000)}`);
    }
    return { stdout: r.stdout, stderr: r.stderr, written };
}

/** write_bytes of a process and all its descendants (for a daemon that does the work: dockerd). */
function treeWritten(pid: number): number {
    const children = new Map<number, number[]>();
    for (const d of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
        } catch {
            // gone meanwhile
        }
    }
    let total = 0;
    const visit = (p: number) => {
        try {
            total += Number(/^write_bytes:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/io`, "utf8"))?.[1] ?? 0);
        } catch {
            // gone meanwhile
        }
        for (const c of children.get(p) ?? []) {
            visit(c);
        }
    };
    visit(pid);
    return total;
}

const nixOut = (args: string[]) => execFileSync("nix-build", ["--no-out-link", "--option", "substituters", "", FIXTURE, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").pop() as string;
const argv = (a: Record<string, string>) => Object.entries(a).flatMap(([k, v]) => ["--argstr", k, v]);

/** narSize of every path in the closure of `root`. */
function closureSizes(root: string): Map<string, number> {
    const paths = execFileSync("nix-store", ["--query", "--requisites", root], { encoding: "utf8" }).trim().split("\n");
    const sizes = execFileSync("nix-store", ["--query", "--size", ...paths], { encoding: "utf8" }).trim().split("\n").map(Number);
    return new Map(paths.map((p, i) => [p, sizes[i]]));
}

/** The blob digests of an image layout's manifest (layers only). */
function layoutLayers(image: string): string[] {
    const m = JSON.parse(fs.readFileSync(path.join(image, "manifest.json"), "utf8"))[0];
    return (m.Layers as string[]).map((l) => `sha256:${path.basename(l)}`);
}

interface Sequence { publisher: PublisherName; cache: CacheState }

function publish(seq: Sequence, registry: Registry, image: string, tag: string, state: { home?: string; dockerd?: Dockerd; dockerConfig?: string }): { written: number; stderr: string } {
    const fresh = () => fs.mkdtempSync(path.join(os.tmpdir(), "ngd-bench-home-"));
    if (seq.publisher === "skopeo") {
        const home = seq.cache === "cold" ? fresh() : (state.home ??= fresh());
        try {
            const r = accounted(skopeoPushScript(), {
                ...process.env, ...skopeoPushEnvironment({ destination: `${registry.host}/bench:${tag}`, insecure: true }), HOME: home, XDG_CACHE_HOME: path.join(home, ".cache"), XDG_RUNTIME_DIR: home,
                NGD_IMAGE: image, NGD_REGISTRY: registry.host, REGISTRY_USERNAME: registry.username, REGISTRY_PASSWORD: registry.password,
            });
            return { written: r.written, stderr: r.stderr };
        } finally {
            if (seq.cache === "cold") {
                fs.rmSync(home, { recursive: true, force: true });
            }
        }
    }
    // docker: a fresh daemon (empty data root) per step when cold, one for the sequence when warm
    if (seq.cache === "cold" || state.dockerd === undefined) {
        state.dockerd?.stop();
        state.dockerd = startDockerd();
        if (state.dockerConfig !== undefined) {
            fs.rmSync(state.dockerConfig, { recursive: true, force: true });
        }
        state.dockerConfig = fresh();
        execFileSync("docker", ["--host", state.dockerd.host, "--config", state.dockerConfig, "login", "--username", registry.username, "--password-stdin", registry.host],
            { input: registry.password, stdio: ["pipe", "ignore", "pipe"] });
    }
    const d = state.dockerd;
    const before = treeWritten(d.pid);
    const env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: state.dockerConfig, NGD_IMAGE: image };
    const ref = `${registry.host}/bench:${tag}`;
    const r = accounted(`${dockerLoadScript()} > "$NGD_BENCH_ID_FILE"; docker tag "$(cat "$NGD_BENCH_ID_FILE")" '${ref}' && docker push --quiet '${ref}' >&2`,
        { ...env, NGD_BENCH_ID_FILE: path.join(state.dockerConfig as string, "id") });
    return { written: r.written + (treeWritten(d.pid) - before), stderr: r.stderr };
}

export async function runReleaseBench(o: ReleaseBenchOptions): Promise<ReleaseRow[]> {
    const rows: ReleaseRow[] = [];
    const made = new Set<string>();
    try {
        for (const sizeMiB of o.sizesMiB) {
            rows.push(...await benchSize(sizeMiB, o, made));
        }
    } finally {
        deleteFromStore(made);
    }
    return rows;
}

/** Every publisher and cache state at one size; the store paths it makes are added to `made`. */
async function benchSize(sizeMiB: number, o: ReleaseBenchOptions, made: Set<string>): Promise<ReleaseRow[]> {
    const maxLayers = o.maxLayers ?? 100;
    const log = o.log ?? (() => undefined);
    const rows: ReleaseRow[] = [];
    // The packages of every step are built first and not counted: a release starts from them.
    const roots = STEPS.map(([, v]) => nixOut(argv({ ...fixtureArgs(sizeMiB, v, maxLayers), closureOnly: "1" })));
    roots.forEach((r) => made.add(r));
    const closures = roots.map(closureSizes);
    log(`${sizeMiB} MiB: packages built (${closures[0].size} store paths, ${([...closures[0].values()].reduce((s, x) => s + x, 0) / MiB).toFixed(0)} MiB)`);
    for (const publisher of o.publishers) {
        for (const cache of o.caches) {
            const seq = { publisher, cache };
            const registry = await startRegistry();
            const state: { home?: string; dockerd?: Dockerd; dockerConfig?: string } = {};
            try {
                let previousLayers: string[] = [];
                for (const [i, [step, v]] of STEPS.entries()) {
                    const t0 = Date.now();
                    const build = { entryAbs: FIXTURE, args: { argstr: fixtureArgs(sizeMiB, v, maxLayers), settings: { substituters: [] } } };
                    const b = accounted(nixBuildScript(build), { ...process.env, ...buildEnvironment(build) });
                    const image = b.stdout.trim().split("\n").pop() as string;
                    made.add(image);
                    const built = (b.stderr.match(/^building '/gm) ?? []).length;
                    const skip = logLines(registry.log);
                    const p = publish(seq, registry, image, `step${i}`, state);
                    const seconds = (Date.now() - t0) / 1000;
                    const up = blobUploads(registry.log, registry.storage, skip);
                    const layers = layoutLayers(image);
                    const prev = i === 0 ? new Map<string, number>() : closures[i - 1];
                    const ideal = [...closures[i]].filter(([p0]) => !prev.has(p0)).reduce((s, [, n]) => s + n, 0);
                    const row: ReleaseRow = {
                        sizeMiB, publisher, cache, step, seconds, built, buildWritten: b.written, publishWritten: p.written,
                        uploads: up.count, uploadedBytes: up.bytes, changedLayers: layers.filter((l) => !previousLayers.includes(l)).length,
                        ideal, imageBytes: [...closures[i].values()].reduce((s, x) => s + x, 0),
                    };
                    previousLayers = layers;
                    rows.push(row);
                    log(formatRow(row));
                }
            } finally {
                state.dockerd?.stop();
                for (const d of [state.home, state.dockerConfig]) {
                    if (d !== undefined) {
                        fs.rmSync(d, { recursive: true, force: true });
                    }
                }
                registry.stop();
            }
        }
    }
    return rows;
}

function fmtBytes(n: number): string {
    return n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;
}

const HEAD = ["size", "publisher", "cache", "step", "wall s", "built", "written (build+push)", "uploads", "uploaded", "ideal", "ratio", "changed layers"];
function cells(r: ReleaseRow): string[] {
    return [`${r.sizeMiB} MiB`, r.publisher, r.cache, r.step, r.seconds.toFixed(1), String(r.built),
        `${fmtBytes(r.buildWritten)}+${fmtBytes(r.publishWritten)}`, String(r.uploads), fmtBytes(r.uploadedBytes), fmtBytes(r.ideal),
        r.ideal > 0 ? (r.uploadedBytes / r.ideal).toFixed(2) : r.uploadedBytes === 0 ? "–" : "∞", String(r.changedLayers)];
}
function formatRow(r: ReleaseRow): string {
    return cells(r).join("  ");
}

export function formatTable(rows: ReleaseRow[]): string {
    const body = rows.map(cells);
    const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (c: string[]) => c.map((x, i) => (i < 4 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
    return [line(HEAD), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export interface TargetResult { target: string; pass: boolean; detail: string }

/** The targets of issue #12, each pass/fail with its figures. */
export function releaseTargets(rows: ReleaseRow[]): TargetResult[] {
    const out: TargetResult[] = [];
    const find = (r: Partial<ReleaseRow>) => rows.filter((x) => Object.entries(r).every(([k, v]) => (x as unknown as Record<string, unknown>)[k] === v));
    for (const r of find({ step: "app-only change", cache: "cold" })) {
        const where = `${r.publisher} ${r.sizeMiB} MiB`;
        out.push({ target: `app-only, cold: blob uploads = changed layers + config (${where})`, pass: r.uploads === r.changedLayers + 1, detail: `${r.uploads} uploads, ${r.changedLayers} changed layers` });
        out.push({ target: `app-only, cold: uploaded ≤ 1.1 × ideal (${where})`, pass: r.uploadedBytes <= 1.1 * r.ideal, detail: `${fmtBytes(r.uploadedBytes)} vs ideal ${fmtBytes(r.ideal)}` });
        const written = r.buildWritten + r.publishWritten;
        out.push({ target: `app-only, cold: written locally ≤ 2 × changed + 10 MiB (${where})`, pass: written <= 2 * r.ideal + 10 * MiB, detail: `${fmtBytes(written)} vs changed ${fmtBytes(r.ideal)}` });
    }
    const sizes = [...new Set(rows.map((r) => r.sizeMiB))].sort((a, b) => a - b);
    if (sizes.length >= 2) {
        const [small, large] = [sizes[0], sizes[sizes.length - 1]];
        for (const r of find({ step: "app-only change", sizeMiB: large })) {
            const s = find({ step: "app-only change", sizeMiB: small, publisher: r.publisher, cache: r.cache })[0];
            if (s !== undefined) {
                out.push({ target: `app-only wall at ${large} MiB ≤ 1.2 × at ${small} MiB (${r.publisher}, ${r.cache})`, pass: r.seconds <= 1.2 * s.seconds, detail: `${r.seconds.toFixed(1)} s vs ${s.seconds.toFixed(1)} s (${(r.seconds / s.seconds).toFixed(2)}×)` });
            }
        }
    }
    for (const r of find({ step: "first release" })) {
        if (r.built === 0) {
            continue;  // the image was built by an earlier sequence: its build cost is reported there
        }
        const written = r.buildWritten + r.publishWritten;
        out.push({ target: `first release: written locally ≤ 1.1 × image (${r.publisher} ${r.cache} ${r.sizeMiB} MiB)`, pass: written <= 1.1 * r.imageBytes, detail: `${fmtBytes(written)} vs image ${fmtBytes(r.imageBytes)} (${(written / r.imageBytes).toFixed(2)}×)` });
    }
    for (const r of find({ step: "no change" })) {
        out.push({ target: `no change: 0 builds, 0 uploads (${r.publisher} ${r.cache} ${r.sizeMiB} MiB)`, pass: r.built === 0 && r.uploads === 0, detail: `${r.built} built, ${r.uploads} uploads` });
    }
    return out;
}

if (require.main === module) {
    const sizes = (process.env.NGD_BENCH_SIZES_MIB ?? "1024,4096").split(",").map(Number);
    const publishers = (process.env.NGD_BENCH_PUBLISHERS ?? "skopeo,docker").split(",") as PublisherName[];
    const maxLayers = Number(process.env.MAX_LAYERS ?? 100);
    console.log(`release bench: ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.release()}; sizes ${sizes.join(", ")} MiB; ${maxLayers} layers; publishers ${publishers.join(", ")}`);
    void runReleaseBench({ sizesMiB: sizes, publishers, caches: ["cold", "warm"], maxLayers, log: (l) => console.log(`  ${l}`) }).then((rows) => {
        console.log(`\n${formatTable(rows)}\n`);
        const results = releaseTargets(rows);
        for (const t of results) {
            console.log(`${t.pass ? "PASS" : "FAIL"}  ${t.target}: ${t.detail}`);
        }
        process.exitCode = results.every((t) => t.pass) ? 0 : 1;
    });
}
