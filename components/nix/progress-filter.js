// GENERATED from components/nix/progress.ts by `npm run build:progress`; do not edit.
"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.SUMMARY_PREFIX = exports.LOG_TAIL_LINES = void 0;
exports.formatBytes = formatBytes;
exports.formatSeconds = formatSeconds;
exports.newNixProgress = newNixProgress;
exports.nixLogLine = nixLogLine;
exports.nixProgressLine = nixProgressLine;
exports.nixSummaryLine = nixSummaryLine;
exports.layoutBlobs = layoutBlobs;
exports.newPushProgress = newPushProgress;
exports.skopeoLogLine = skopeoLogLine;
exports.pushProgressLine = pushProgressLine;
exports.pushSummaryLine = pushSummaryLine;
exports.parseSummaries = parseSummaries;
exports.sumFormatted = sumFormatted;
exports.runSummaryLine = runSummaryLine;
exports.cli = cli;
// Progress of the long steps (the image's nix-builds, the push): the tools' machine-readable logs
// in, one progress line every few seconds and a one-line summary out. Pure and self-contained (only
// `fs`, for its command line): it is also compiled to components/nix/progress-filter.js
// (`npm run build:progress`), which the build and publish scripts pipe Nix's and skopeo's logs
// through (components/exec.ts).
//
// Why by hand: Nix's own progress bar needs a terminal, and the command provider gives it a pipe;
// `--log-format internal-json` is what Nix offers instead, and no library reads it. skopeo prints
// which blobs it skips or uploads only in its debug log.
const fs = require("fs");
// Nix 2.8's activity and result types (src/libutil/logging.hh).
const ACT_FILE_TRANSFER = 101;
const ACT_REALISE = 102;
const ACT_COPY_PATHS = 103;
const ACT_BUILDS = 104;
const ACT_BUILD = 105;
const RES_BUILD_LOG_LINE = 101;
const RES_PROGRESS = 105;
const RES_SET_EXPECTED = 106;
/** Nix's verbosity levels that are passed through as they are: errors and warnings. */
const LVL_WARN = 1;
/** How many of a failed builder's last log lines are shown (as Nix shows them without the JSON log). */
exports.LOG_TAIL_LINES = 60;
/** How many finished builds keep their log tail (a failure is reported after the build stops). */
const FINISHED_TAILS_KEPT = 32;
/** What a summary line starts with; the program reads summaries back (`parseSummaries`). */
exports.SUMMARY_PREFIX = "nix-gpu-deploy: done:";
// eslint-disable-next-line no-control-regex -- Nix's messages carry terminal colours
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
/** Bytes as people read them (1024-based, one decimal). */
function formatBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
        v /= 1024;
        u++;
    }
    return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
/** Seconds as people read them: 4.2 s, 3m05s, 1h02m. */
function formatSeconds(s) {
    if (s < 60) {
        return `${s.toFixed(1)} s`;
    }
    const m = Math.floor(s / 60);
    if (m < 60) {
        return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
    }
    return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
function newNixProgress() {
    return {
        built: 0, buildsExpected: 0, buildsRunning: 0, buildsFailed: 0, fetched: 0, fetchesExpected: 0, downloaded: 0, downloadExpected: 0,
        running: new Map(), transfers: new Map(), types: new Map(), tails: new Map(), drvs: new Map(),
    };
}
/** `/nix/store/<hash>-name.drv` → `name`. */
function drvName(p) {
    return p.replace(/^\/nix\/store\/[a-z0-9]{32}-/, "").replace(/\.drv$/, "");
}
function nums(v) {
    return Array.isArray(v) ? v.map((x) => (typeof x === "number" ? x : Number.NaN)) : [];
}
/**
 * Feeds one line of `nix-build --log-format internal-json` output into the state. Returns the text
 * to pass through as it is (errors and warnings, and any line that is not Nix's JSON), or undefined.
 */
function nixLogLine(state, line) {
    if (!line.startsWith("@nix ")) {
        return line === "" ? undefined : line;
    }
    // The hot path: a builder's log line (most of what Nix sends) is kept raw, in its build's tail,
    // and decoded only if that build fails.
    const logLine = /^@nix \{"action":"result","fields":\[.*\],"id":(\d+),"type":101\}$/.exec(line);
    if (logLine !== null) {
        const drv = state.drvs.get(Number(logLine[1]));
        const tail = drv === undefined ? undefined : state.tails.get(drv);
        if (tail !== undefined) {
            tail.push(line);
            if (tail.length > exports.LOG_TAIL_LINES) {
                tail.shift();
            }
        }
        return undefined;
    }
    let e;
    try {
        e = JSON.parse(line.slice(5));
    }
    catch {
        return line;
    }
    const id = typeof e.id === "number" ? e.id : -1;
    switch (e.action) {
        case "msg": {
            const level = typeof e.level === "number" ? e.level : 0;
            if (level > LVL_WARN || typeof e.msg !== "string") {
                return undefined;
            }
            const msg = e.msg.replace(ANSI, "");
            // With its JSON log Nix leaves the failed builder's last lines out of the error (they
            // went by as log results): they are added back here, as Nix prints them otherwise.
            const failed = /builder for '([^']+)' failed/.exec(msg);
            const tail = failed === null ? undefined : state.tails.get(failed[1]);
            return tail === undefined || tail.length === 0 ? msg : [`${msg}`, `       last ${tail.length} log lines:`, ...tail.map((l) => `       > ${rawLogText(l)}`)].join("\n");
        }
        case "start": {
            const type = typeof e.type === "number" ? e.type : 0;
            if (type === ACT_BUILD) {
                const f = Array.isArray(e.fields) && typeof e.fields[0] === "string" ? e.fields[0] : "";
                state.running.set(id, drvName(f));
                state.drvs.set(id, f);
                state.tails.delete(f);
                state.tails.set(f, []);
            }
            else if (type === ACT_FILE_TRANSFER) {
                state.transfers.set(id, 0);
            }
            else if (type === ACT_COPY_PATHS && (e.text ?? "") === "" && state.substitutions === undefined) {
                state.substitutions = id;
            }
            else if (type === ACT_REALISE && state.realise === undefined) {
                state.realise = id;
            }
            state.types.set(id, type);
            return undefined;
        }
        case "stop":
            state.running.delete(id);
            state.drvs.delete(id);
            // Tails of finished builds: only the newest few are kept (insertion order is start order).
            while (state.tails.size > state.running.size + FINISHED_TAILS_KEPT) {
                const oldest = [...state.tails.keys()].find((d) => ![...state.drvs.values()].includes(d));
                if (oldest === undefined) {
                    break;
                }
                state.tails.delete(oldest);
            }
            return undefined;
        case "result": {
            const f = nums(e.fields);
            const type = state.types.get(id);
            if (e.type === RES_BUILD_LOG_LINE) {
                // a log line in another key order than the hot path knows: kept the same way
                const drv = state.drvs.get(id);
                const tail = drv === undefined ? undefined : state.tails.get(drv);
                tail?.push(line);
                if (tail !== undefined && tail.length > exports.LOG_TAIL_LINES) {
                    tail.shift();
                }
            }
            else if (e.type === RES_PROGRESS) {
                if (type === ACT_BUILDS && f.length >= 4) {
                    [state.built, state.buildsExpected, state.buildsRunning, state.buildsFailed] = f;
                }
                else if (type === ACT_COPY_PATHS && id === state.substitutions && f.length >= 2) {
                    [state.fetched, state.fetchesExpected] = f;
                }
                else if (type === ACT_FILE_TRANSFER && f.length >= 1 && Number.isFinite(f[0])) {
                    state.transfers.set(id, f[0]);
                    state.downloaded = [...state.transfers.values()].reduce((a, b) => a + b, 0);
                }
            }
            else if (e.type === RES_SET_EXPECTED && id === state.realise && f[0] === ACT_FILE_TRANSFER && Number.isFinite(f[1])) {
                state.downloadExpected = f[1];
            }
            return undefined;
        }
        default:
            return undefined;
    }
}
/** The text of a builder's log line as Nix sent it (`@nix {…"type":101}`). */
function rawLogText(raw) {
    try {
        const f = JSON.parse(raw.slice(5)).fields?.[0];
        return typeof f === "string" ? f.replace(ANSI, "") : "";
    }
    catch {
        return "";
    }
}
/** The progress line of a nix-build (without its prefix). */
function nixProgressLine(s, seconds) {
    const parts = [`${s.built} of ${s.buildsExpected} derivations built${s.buildsFailed > 0 ? ` (${s.buildsFailed} failed)` : ""}`];
    parts.push(`${s.fetched} of ${s.fetchesExpected} paths fetched`);
    if (s.downloadExpected > 0 || s.downloaded > 0) {
        parts.push(`${formatBytes(s.downloaded)} of ${formatBytes(Math.max(s.downloaded, s.downloadExpected))} downloaded`);
    }
    const running = [...s.running.values()];
    const now = running.length === 0 ? "" : `; building ${running.slice(0, 2).join(", ")}${running.length > 2 ? ` and ${running.length - 2} more` : ""}`;
    return `${parts.join(", ")}, ${formatSeconds(seconds)}${now}`;
}
/** The summary of a finished nix-build. */
function nixSummaryLine(s, seconds, ok) {
    return `${exports.SUMMARY_PREFIX} nix-build ${ok ? "finished" : "failed"}: built ${s.built} derivation${s.built === 1 ? "" : "s"}${s.buildsFailed > 0 ? ` (${s.buildsFailed} failed)` : ""}, ` +
        `fetched ${s.fetched} path${s.fetched === 1 ? "" : "s"} (${formatBytes(s.downloaded)}), ${formatSeconds(seconds)} at ${new Date().toISOString()}`;
}
/** The blobs of an image layout and their sizes (compressed, as pushed), by digest. */
function layoutBlobs(layoutDir) {
    const layers = new Map();
    try {
        const index = JSON.parse(fs.readFileSync(`${layoutDir}/index.json`, "utf8"));
        const digest = index.manifests?.[0]?.digest ?? "";
        const manifest = JSON.parse(fs.readFileSync(`${layoutDir}/blobs/${digest.replace(":", "/")}`, "utf8"));
        for (const l of manifest.layers ?? []) {
            if (typeof l.digest === "string") {
                layers.set(l.digest, typeof l.size === "number" ? l.size : 0);
            }
        }
        return { layers, config: manifest.config?.digest };
    }
    catch {
        return { layers };
    }
}
function newPushProgress(sizes, config) {
    return { sizes, total: sizes.size, started: new Set(), uploaded: new Set(), reused: new Set(), config };
}
/**
 * Feeds one line of `skopeo copy --debug` output into the state. Returns what to pass through: the
 * tool's errors and warnings (their message), nothing of its debug chatter.
 */
function skopeoLogLine(state, line) {
    let m = /^Copying blob (sha256:[a-f0-9]{64})/.exec(line);
    if (m !== null) {
        state.started.add(m[1]);
        return undefined;
    }
    m = /level=debug msg="Upload of layer (sha256:[a-f0-9]{64}) complete"/.exec(line);
    if (m !== null) {
        if (m[1] !== state.config) {
            state.uploaded.add(m[1]);
        }
        return undefined;
    }
    m = /level=debug msg="Skipping blob (sha256:[a-f0-9]{64}) \(already present\)/.exec(line);
    if (m !== null) {
        state.reused.add(m[1]);
        return undefined;
    }
    m = /^time="[^"]*" level=(warning|error|fatal) msg="(.*)"\s*$/.exec(line);
    if (m !== null) {
        return `skopeo: ${m[1]}: ${m[2].replace(/\\"/g, "\"")}`;
    }
    // Debug chatter and skopeo's plain progress lines are summarised, not repeated.
    return /^time="[^"]*" level=|^(Getting image source signatures|Copying config|Writing manifest|Storing signatures)/.test(line) ? undefined : line;
}
function bytesOf(state, digests) {
    return [...digests].reduce((a, d) => a + (state.sizes.get(d) ?? 0), 0);
}
/** The progress line of a push (without its prefix). */
function pushProgressLine(s, seconds) {
    const total = s.total > 0 ? s.total : s.started.size;
    const sizeKnown = s.sizes.size > 0;
    const all = sizeKnown ? [...s.sizes.values()].reduce((a, b) => a + b, 0) : 0;
    return `${s.uploaded.size + s.reused.size} of ${total} layers done (${s.uploaded.size} sent${sizeKnown ? `, ${formatBytes(bytesOf(s, s.uploaded))} of at most ${formatBytes(all - bytesOf(s, s.reused))}` : ""}; ` +
        `${s.reused.size} already in the registry), ${formatSeconds(seconds)}`;
}
/** The summary of a finished push. */
function pushSummaryLine(s, seconds, ok) {
    const total = s.total > 0 ? s.total : s.started.size;
    return `${exports.SUMMARY_PREFIX} push ${ok ? "finished" : "failed"}: pushed ${s.uploaded.size} of ${total} layer${total === 1 ? "" : "s"}` +
        `${s.sizes.size > 0 ? ` (${formatBytes(bytesOf(s, s.uploaded))})` : ""}, ${s.reused.size} already in the registry, ${formatSeconds(seconds)} at ${new Date().toISOString()}`;
}
const SECONDS = /^(?:(\d+)h(\d+)m|(\d+)m(\d+)s|([\d.]+) s)$/;
function parseSeconds(s) {
    const m = SECONDS.exec(s);
    return m === null ? 0 : m[1] !== undefined ? Number(m[1]) * 3600 + Number(m[2]) * 60 : m[3] !== undefined ? Number(m[3]) * 60 + Number(m[4]) : Number(m[5]);
}
/**
 * Pure: adds up the summary lines in some steps' output, leaving out those written before `since`
 * (ms since the epoch: a step that did not run this time keeps its last output); undefined when
 * there are none.
 */
function parseSummaries(text, since = 0) {
    const r = { built: 0, fetched: 0, downloaded: [], pushed: 0, layers: 0, pushedBytes: [], seconds: 0, at: 0 };
    let found = false;
    for (const line of text.split("\n")) {
        const at = line.indexOf(exports.SUMMARY_PREFIX);
        if (at < 0) {
            continue;
        }
        const l = line.slice(at + exports.SUMMARY_PREFIX.length);
        const time = / (\S+(?: s)?) at (\S+)$/.exec(l);
        if (time === null) {
            continue;
        }
        const when = Date.parse(time[2]);
        if (Number.isNaN(when) || when < since) {
            continue;
        }
        found = true;
        r.seconds += parseSeconds(time[1]);
        r.at = Math.max(r.at, when);
        const nix = /nix-build \w+: built (\d+) derivations?.*?, fetched (\d+) paths? \(([^)]*)\)/.exec(l);
        if (nix !== null) {
            r.built += Number(nix[1]);
            r.fetched += Number(nix[2]);
            r.downloaded.push(nix[3]);
        }
        const push = /push \w+: pushed (\d+) of (\d+) layers?(?: \(([^)]*)\))?/.exec(l);
        if (push !== null) {
            r.pushed += Number(push[1]);
            r.layers += Number(push[2]);
            if (push[3] !== undefined) {
                r.pushedBytes.push(push[3]);
            }
        }
    }
    return found ? r : undefined;
}
/** Sums sizes written by `formatBytes` ("1.5 MiB" + "3 B"). */
function sumFormatted(sizes) {
    const units = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
    const total = sizes.reduce((a, s) => {
        const m = /^([\d.]+) (B|KiB|MiB|GiB|TiB)$/.exec(s);
        return a + (m === null ? 0 : Number(m[1]) * units[m[2]]);
    }, 0);
    return formatBytes(Math.round(total));
}
/** The one line a run ends with. */
function runSummaryLine(r) {
    return `nix-gpu-deploy: built ${r.built} derivation${r.built === 1 ? "" : "s"}, fetched ${r.fetched} path${r.fetched === 1 ? "" : "s"} (${sumFormatted(r.downloaded)}), ` +
        `pushed ${r.pushed} of ${r.layers} layer${r.layers === 1 ? "" : "s"} (${sumFormatted(r.pushedBytes)}), ${formatSeconds(r.seconds)} in the build and push`;
}
/**
 * The filter: reads a tool's log on stdin and writes, on stdout, what passes through, a progress
 * line when the work starts and then at most every `intervalMs` (when something changed, or after
 * six quiet intervals), and the summary when the input ends. `node progress-filter.js nix` | `node progress-filter.js skopeo <layout>`.
 */
function cli(argv, env = process.env) {
    const kind = argv[0];
    if (kind !== "nix" && kind !== "skopeo") {
        process.stderr.write("usage: progress-filter nix | skopeo <image layout dir>\n");
        process.exitCode = 2;
        return;
    }
    const asked = Number(env.NGD_PROGRESS_INTERVAL_MS ?? "5000");
    const intervalMs = Number.isFinite(asked) && asked >= 100 ? asked : 5000;
    const t0 = Date.now();
    const nix = newNixProgress();
    const blobs = kind === "skopeo" && argv[1] !== undefined ? layoutBlobs(argv[1]) : { layers: new Map() };
    const push = newPushProgress(blobs.layers, blobs.config);
    const prefix = kind === "nix" ? "nix-build: " : "push: ";
    const line = () => (kind === "nix" ? nixProgressLine(nix, (Date.now() - t0) / 1000) : pushProgressLine(push, (Date.now() - t0) / 1000));
    const key = () => (kind === "nix" ? `${nix.built}/${nix.buildsExpected}/${nix.fetched}/${nix.fetchesExpected}/${nix.downloaded}/${[...nix.running.values()].join()}` : `${push.uploaded.size}/${push.reused.size}`);
    let shownKey = key();
    let quiet = 0;
    let failed = false;
    const timer = setInterval(() => {
        const k = key();
        if (k !== shownKey || ++quiet >= 6) {
            process.stdout.write(`${prefix}${line()}\n`);
            shownKey = k;
            quiet = 0;
        }
    }, intervalMs);
    // The first line as soon as the work starts (the first build or download, the first layer), so
    // that even a short step says what it does; then at most one line an interval.
    let started = false;
    const startedNow = () => (kind === "nix" ? nix.running.size > 0 || nix.transfers.size > 0 : push.started.size > 0);
    let rest = "";
    const take = (l) => {
        const out = kind === "nix" ? nixLogLine(nix, l) : skopeoLogLine(push, l);
        if (!started && startedNow()) {
            started = true;
            process.stdout.write(`${prefix}${line()}\n`);
            shownKey = key();
        }
        if (out !== undefined) {
            if (/(^|\s)error:|^skopeo: (error|fatal)/.test(out)) {
                failed = true;
            }
            process.stdout.write(`${out}\n`);
        }
    };
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        lines.forEach(take);
    });
    process.stdin.on("end", () => {
        if (rest !== "") {
            take(rest);
        }
        clearInterval(timer);
        const s = (Date.now() - t0) / 1000;
        const ok = !failed && (kind === "nix" ? nix.buildsFailed === 0 : push.total === 0 || push.uploaded.size + push.reused.size >= push.total);
        process.stdout.write(`${kind === "nix" ? nixSummaryLine(nix, s, ok) : pushSummaryLine(push, s, ok)}\n`);
    });
}
if (require.main === module) {
    cli(process.argv.slice(2));
}
