// The shared checker of the stack config: every section's checks report through one Checker, which
// names each problem by its property path and never echoes a secret section's values.
import * as path from "path";
import { LABEL_VALUE } from "../kubernetes/gpuModel";
import { ConfigProblem, ParseOptions, PROJECT, RawStackConfig, StackConfig } from "./types";
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const REPO_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
export const IMAGE_NAME = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);
export const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/;
/** A GFD product label value: `Tesla-T4`, `NVIDIA-A100-SXM4-80GB`, `…-MIG-1g.10gb`, `…-SHARED`. */
export const GPU_PRODUCT = LABEL_VALUE;
/** An extended resource name of the NVIDIA device plugin (`nvidia.com/gpu`, a renamed shared one). */
export const GPU_RESOURCE = /^nvidia\.com\/[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
export const MIG_PROFILE = /^[1-7]g\.[1-9][0-9]{0,2}gb(\+me)?$/;
export const CUDA_CAPABILITY = /^(?:[3-9]|1[0-2])\.[0-9]a?$/;
/** A Nix store URL: scheme://… without whitespace or quotes (https, file, s3, ssh, ssh-ng, daemon, …). */
export const NIX_STORE_URL = /^[a-z][a-z0-9+.-]*:\/\/[^\s'"`\\]+$/;
/** `name:base64` as `nix-store --generate-binary-cache-key` writes it. */
export const NIX_PUBLIC_KEY = /^[A-Za-z0-9._-]+:[A-Za-z0-9+/]+={0,2}$/;
/** A StackReference name: `org/project/stack` or a stack of this project. */
export const STACK_REF = /^(?:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]+$/;
/** Printable ASCII on one line: machine lines are `;`-separated (a newline would end the option). */
export const NIX_BUILDERS = /^[\x20-\x7e]+$/;
export const LOWER_CAMEL = /^[a-z][A-Za-z0-9]{0,39}$/;
export const PYTHON_ATTR = /^[A-Za-z_][A-Za-z0-9_-]{0,79}$/;
/** Kubernetes resource.Quantity: a decimal number with a binary-SI, decimal-SI or exponent suffix. */
export const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;
export const LABEL_KEY = /^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
export const SAFE_TEXT = /^[^\u0000-\u001f\u007f]*$/;
// eslint-disable-next-line no-control-regex -- as above: an argument or annotation without control characters
export const ARG_TEXT = /^[^\u0000-\u001f\u007f]+$/;

/** At most this many characters of a value are echoed in a message. */
export const MAX_ECHO_CHARS = 64;
/** At most this many problems are reported per list or object; the rest are counted. */
export const MAX_PROBLEMS_PER_ITEM = 10;
/** At most this many problems are printed; the rest are counted. */
export const MAX_PROBLEMS_SHOWN = 50;

/** Own-property check: inherited names (`constructor`, `__proto__`, `toString`) never count. */
export function hasOwn(o: object, k: string): boolean {
    return Object.prototype.hasOwnProperty.call(o, k);
}

/** Unset: absent, null and "" all mean "not given" for an optional key. */
export function isUnset(v: unknown): boolean {
    return v === undefined || v === null || v === "";
}

/** One character as it is shown in a message: printable ASCII as is, everything else escaped. */
export function escapeChar(ch: string): string {
    const code = ch.charCodeAt(0);
    if (ch === "\"" || ch === "\\") {
        return `\\${ch}`;
    }
    if (code >= 0x20 && code < 0x7f) {
        return ch;
    }
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return hasOwn(named, ch) ? named[ch] : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A string as it is shown in a message: quoted, at most `max` characters, every character outside
 * printable ASCII escaped (`\u0430` for a Cyrillic а), so that invisible or look-alike characters show.
 */
export function quoteText(s: string, max = MAX_ECHO_CHARS): string {
    const n = Math.min(s.length, max);
    let out = "";
    for (let i = 0; i < n; i++) {
        out += escapeChar(s[i]);
    }
    return `"${out}"${s.length > n ? ` … and ${s.length - n} more characters` : ""}`;
}

/** Any config value, shown briefly. */
export function showValue(v: unknown): string {
    if (typeof v === "string") {
        return quoteText(v);
    }
    if (typeof v === "number") {
        return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? "not a number" : "a number too large to represent";
    }
    if (v === null || typeof v === "boolean") {
        return String(v);
    }
    if (Array.isArray(v)) {
        return `a list of ${v.length} item${v.length === 1 ? "" : "s"}`;
    }
    return v === undefined ? "nothing" : `an ${typeof v}`;
}

/** A key as a property path segment: plain names as they are, anything else quoted and escaped. */
export function keySegment(k: string): string {
    return /^[A-Za-z0-9_-]{1,64}$/.test(k) ? k : `[${quoteText(k, 40)}]`;
}

/** Converts a Kubernetes quantity to bytes (or cores); undefined when it does not parse. */
export function quantityValue(q: string): number | undefined {
    const m = QUANTITY.exec(q);
    if (!m) {
        return undefined;
    }
    const factors: Record<string, number> = {
        "": 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
        Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
    };
    const suffix = m[2] ?? "";
    return /^[eE][+-]?[0-9]/.test(suffix) ? Number(`${m[1]}${suffix}`) : Number(m[1]) * factors[suffix];
}

export function isLoopbackHost(host: string): boolean {
    const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `replaceTorch` → `replace-torch`. */
export function kebabCase(name: string): string {
    return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function inside(root: string, abs: string): boolean {
    return abs === root || abs.startsWith(root + path.sep);
}

/** Resolves a project-relative path, refusing anything that leaves the project root (textually). */
export function confinedPath(projectRoot: string, rel: string): string | undefined {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
        return undefined;
    }
    const abs = path.resolve(projectRoot, rel);
    return inside(path.resolve(projectRoot), abs) ? abs : undefined;
}

export type Confined = { ok: true; abs: string; exists: boolean } | { ok: false; reason: string };

/**
 * Confines a project-relative path with its symlinks resolved: textually first (relative, no `..`),
 * then, when it exists, its real path must lie inside the project's real path.
 */
export function confinedRealPath(opts: ParseOptions, rel: string): Confined {
    const abs = confinedPath(opts.projectRoot, rel);
    if (abs === undefined) {
        return { ok: false, reason: "must stay inside the project (relative, no '..')" };
    }
    let real: string;
    try {
        real = opts.realPath(abs);
    } catch {
        return { ok: true, abs, exists: false };
    }
    let root: string;
    try {
        root = opts.realPath(path.resolve(opts.projectRoot));
    } catch {
        root = path.resolve(opts.projectRoot);
    }
    if (!inside(root, real)) {
        return { ok: false, reason: "is a symlink (or under one) that leads outside the project" };
    }
    return { ok: true, abs, exists: opts.fileExists(abs) };
}

export class Checker {
    readonly errors: ConfigProblem[] = [];
    /** Set while a value stored as a secret is checked: nothing of it is echoed. */
    redact = false;

    fail(propertyPath: string, reason: string): undefined {
        this.errors.push({ propertyPath: `${PROJECT}:${propertyPath}`, reason });
        return undefined;
    }

    /** How values are shown while `withDisplay` runs (store URLs: redacted). */
    private display: (v: unknown) => string = showValue;

    show(v: unknown): string {
        return this.redact ? "(a value stored as a secret, not shown)" : this.display(v);
    }

    /** Runs `check` with values shown by `display`. */
    withDisplay<T>(display: (v: unknown) => string, check: () => T): T {
        const saved = this.display;
        this.display = display;
        try {
            return check();
        } finally {
            this.display = saved;
        }
    }

    /** Runs `each` over items, reporting at most MAX_PROBLEMS_PER_ITEM of them and counting the rest. */
    capped<T>(p: string, items: T[], what: string, each: (item: T, i: number) => void): void {
        let failing = 0;
        let unreported = 0;
        items.forEach((item, i) => {
            const before = this.errors.length;
            if (failing >= MAX_PROBLEMS_PER_ITEM) {
                const saved = this.errors.splice(0);
                each(item, i);
                if (this.errors.length > 0) {
                    unreported++;
                }
                this.errors.splice(0, this.errors.length, ...saved);
                return;
            }
            each(item, i);
            if (this.errors.length > before) {
                failing++;
            }
        });
        if (unreported > 0) {
            this.fail(p, `… and ${unreported} more bad ${what}`);
        }
    }

    object(p: string, v: unknown, allowed: readonly string[]): Record<string, unknown> {
        const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        if (isUnset(v)) {
            return out;
        }
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            this.fail(p, `must be an object with keys ${allowed.join(", ")}, got ${this.show(v)}`);
            return out;
        }
        const unknown: string[] = [];
        for (const k of Object.keys(v)) {
            if (allowed.includes(k)) {
                out[k] = (v as Record<string, unknown>)[k];
            } else {
                unknown.push(k);
            }
        }
        this.capped(p, unknown, "keys", (k) => {
            this.fail(`${p}.${keySegment(k)}`, `unknown key (known: ${allowed.join(", ")})`);
        });
        return out;
    }

    string(p: string, v: unknown, opts: { re?: RegExp; what?: string; max?: number; required?: boolean } = {}): string | undefined {
        if (isUnset(v)) {
            return opts.required ? this.fail(p, "is required") : undefined;
        }
        if (typeof v !== "string") {
            return this.fail(p, `must be a string, got ${this.show(v)}`);
        }
        const max = opts.max ?? 253;
        if (v.length > max) {
            return this.fail(p, `is ${v.length} characters long; at most ${max} allowed`);
        }
        if (!SAFE_TEXT.test(v)) {
            return this.fail(p, `contains control characters: ${this.show(v)}`);
        }
        if (opts.re && !opts.re.test(v)) {
            return this.fail(p, `${this.show(v)} is not ${opts.what ?? `of the form ${opts.re}`}`);
        }
        return v;
    }

    integer(p: string, v: unknown, min: number, max: number, dflt?: number): number | undefined {
        if (isUnset(v)) {
            return dflt;
        }
        const n = typeof v === "string" && /^-?\d{1,16}(\.\d{1,16})?$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isFinite(n)) {
            return this.fail(p, `must be an integer within ${min}..${max}, got ${this.show(v)}`);
        }
        if (!Number.isInteger(n)) {
            return this.fail(p, `must be a whole number, got ${n}`);
        }
        if (n < min || n > max) {
            return this.fail(p, `must be within ${min}..${max}, got ${n}`);
        }
        return n;
    }

    boolean(p: string, v: unknown, dflt: boolean): boolean {
        if (isUnset(v)) {
            return dflt;
        }
        if (v === true || v === "true") {
            return true;
        }
        if (v === false || v === "false") {
            return false;
        }
        this.fail(p, `must be true or false, got ${this.show(v)}`);
        return dflt;
    }

    oneOf<T extends string>(p: string, v: unknown, options: readonly T[], dflt: T): T {
        if (isUnset(v)) {
            return dflt;
        }
        if (typeof v !== "string" || !options.includes(v as T)) {
            this.fail(p, `must be one of ${options.join(", ")}, got ${this.show(v)}`);
            return dflt;
        }
        return v as T;
    }

    stringList(p: string, v: unknown, re: RegExp, what: string, opts: { dflt: string[]; max: number; nonEmpty?: boolean; itemMax?: number; allowed?: readonly string[] }): string[] {
        if (isUnset(v)) {
            return opts.dflt;
        }
        if (!Array.isArray(v)) {
            this.fail(p, `must be a list, got ${this.show(v)}`);
            return opts.dflt;
        }
        if (v.length > opts.max) {
            this.fail(p, `has ${v.length} entries; at most ${opts.max} allowed`);
        }
        if (opts.nonEmpty && v.length === 0) {
            this.fail(p, "must not be empty");
        }
        const out: string[] = [];
        this.capped(p, v.slice(0, opts.max), "entries", (item, i) => {
            const s = this.string(`${p}[${i}]`, item, { re, what, max: opts.itemMax ?? 128, required: true });
            if (s === undefined) {
                return;
            }
            if (opts.allowed !== undefined && !opts.allowed.includes(s)) {
                this.fail(`${p}[${i}]`, `${this.show(s)} is not one of the allowed values (${listBrief(opts.allowed)})`);
                return;
            }
            if (out.includes(s)) {
                this.fail(`${p}[${i}]`, `duplicate entry ${this.show(s)}`);
                return;
            }
            out.push(s);
        });
        return out;
    }

    /** A Kubernetes quantity; a number is accepted as Kubernetes accepts it (`cpu: 8`). */
    quantity(p: string, v: unknown, dflt: string): string {
        let s: string | undefined;
        if (typeof v === "number") {
            if (!Number.isFinite(v)) {
                this.fail(p, `must be a Kubernetes quantity (e.g. 500m, 16Gi), got ${this.show(v)}`);
                return dflt;
            }
            s = String(v);
        } else {
            s = this.string(p, v, { re: QUANTITY, what: "a Kubernetes quantity (e.g. 8, \"500m\", \"16Gi\", \"1e3\")", max: 32 });
        }
        const q = s ?? dflt;
        const n = quantityValue(q);
        if (n !== undefined && !(n > 0)) {
            this.fail(p, `must be greater than zero, got ${this.show(q)}`);
        } else if (n !== undefined && !Number.isFinite(n)) {
            this.fail(p, `${this.show(q)} is too large`);
        }
        return q;
    }
}

export function listBrief(values: readonly string[], max = 8): string {
    return values.length > max ? `${values.slice(0, max).join(", ")}, … and ${values.length - max} more` : values.join(", ");
}

/** JSON text from the engine → value; plain values pass through; "" means unset. */
export function decode(c: Checker, key: string, v: unknown): unknown {
    if (typeof v !== "string") {
        return v;
    }
    if (v === "") {
        return undefined;
    }
    try {
        return JSON.parse(v);
    } catch {
        return c.fail(key, "is not valid JSON (set it with `pulumi config set --path` or as a YAML object in the stack file)");
    }
}

/** A project-relative path as a stack names a project file (nix.entry, nix.sources). */
export const PROJECT_PATH = { re: /^[A-Za-z0-9_./-]+$/, what: "a relative path of plain characters", max: 200 };

/** Checks a project file a stack names: inside the project (symlinks resolved), a .nix file, existing. */
export function projectNixFile(c: Checker, opts: ParseOptions, property: string, file: string, messages: { notNix: string; missing: string }): boolean {
    const where = confinedRealPath(opts, file);
    if (!where.ok) {
        c.fail(property, `${c.show(file)} ${where.reason}`);
    } else if (!/\.nix$/.test(file)) {
        c.fail(property, `${c.show(file)} ${messages.notNix}`);
    } else if (!where.exists) {
        c.fail(property, `${c.show(file)} ${messages.missing}`);
    } else {
        return true;
    }
    return false;
}

/** A map of label keys to string values (pod labels, pod annotations). */
export function stringMap(c: Checker, p: string, v: unknown, valueRe: RegExp, what: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (isUnset(v)) {
        return out;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        c.fail(p, `must be a map of keys to strings, got ${c.show(v)}`);
        return out;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > 64) {
        c.fail(p, `has ${entries.length} entries; at most 64 allowed`);
    }
    c.capped(p, entries.slice(0, 64), "entries", ([k, x]) => {
        const at = `${p}.${keySegment(k)}`;
        if (!LABEL_KEY.test(k) || k.length > 316) {
            c.fail(at, "is not a Kubernetes label/annotation key (prefix/name)");
            return;
        }
        const s = typeof x === "number" || typeof x === "boolean" ? String(x) : x;
        if (s === "" && valueRe === LABEL_VALUE) {
            out[k] = "";
            return;
        }
        const val = c.string(at, s, { re: valueRe, what, max: 4096, required: true });
        if (val !== undefined) {
            out[k] = val;
        }
    });
    return out;
}

/** One message listing every problem (at most MAX_PROBLEMS_SHOWN lines), for the engine's error display. */
export function formatProblems(errors: ConfigProblem[]): string {
    const shown = errors.slice(0, MAX_PROBLEMS_SHOWN).map((e) => `  - ${e.propertyPath}: ${e.reason}`);
    if (errors.length > MAX_PROBLEMS_SHOWN) {
        shown.push(`  … and ${errors.length - MAX_PROBLEMS_SHOWN} more problems`);
    }
    return `${PROJECT}: invalid stack configuration (${errors.length} problem${errors.length === 1 ? "" : "s"})\n${shown.join("\n")}`;
}

/** What every section check knows of the stack: its kind, the raw config (secrets present or not), the files. */
export interface SectionContext {
    mode: StackConfig["mode"];
    raw: RawStackConfig;
    opts: ParseOptions;
}
