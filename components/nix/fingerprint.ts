// Content fingerprints of Nix files, computed when the program runs (so `pulumi preview` sees an
// edit before anything is built). A file's fingerprint covers its bytes and, transitively, every
// file or directory it references by a relative path literal (`./packages/doctr.nix`, `../src`).
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface FileDigest {
    /** Path relative to the project root. */
    file: string;
    sha256: string;
    /** The source of a `.nix` file, as read for the fingerprint (the preview finds pins in it). */
    source?: string;
}

export interface Fingerprint {
    /** sha256 over all `files`, in order. */
    sha256: string;
    /** Each file that went into it (the root file first). */
    files: FileDigest[];
}

const PATH_LITERAL = /(?<![A-Za-z0-9_'"/.-])(\.{1,2}\/[A-Za-z0-9._+/-]*[A-Za-z0-9_+-])/g;

/** Relative path literals in Nix source, comments excluded. */
export function nixPathLiterals(source: string): string[] {
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^'$])#.*$/gm, "$1");
    return [...new Set([...code.matchAll(PATH_LITERAL)].map((m) => m[1]))];
}

function sha256(data: Buffer | string): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

function listFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true })
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .flatMap((e) => {
            const p = path.join(dir, e.name);
            return e.isDirectory() ? listFiles(p) : e.isFile() ? [p] : [];
        });
}

/**
 * Fingerprints `file` (absolute) and everything it references inside `root`. References that leave
 * the root or do not exist are skipped (Nix itself reports those at evaluation).
 */
export function fingerprintNixFile(file: string, root: string): Fingerprint {
    const rootAbs = path.resolve(root);
    const seen = new Set<string>();
    const files: FileDigest[] = [];
    const visit = (abs: string) => {
        if (seen.has(abs) || !(abs === rootAbs || abs.startsWith(rootAbs + path.sep)) || !fs.existsSync(abs)) {
            return;
        }
        seen.add(abs);
        if (fs.statSync(abs).isDirectory()) {
            const def = path.join(abs, "default.nix");
            for (const f of listFiles(abs)) {
                if (f === def) {
                    visit(f);
                } else if (!seen.has(f)) {
                    seen.add(f);
                    files.push({ file: path.relative(rootAbs, f), sha256: sha256(fs.readFileSync(f)) });
                }
            }
            return;
        }
        const bytes = fs.readFileSync(abs);
        const source = abs.endsWith(".nix") ? bytes.toString("utf8") : undefined;
        files.push({ file: path.relative(rootAbs, abs), sha256: sha256(bytes), ...(source !== undefined ? { source } : {}) });
        if (source !== undefined) {
            for (const lit of nixPathLiterals(source)) {
                visit(path.resolve(path.dirname(abs), lit));
            }
        }
    };
    visit(path.resolve(file));
    return { sha256: sha256(files.map((f) => `${f.file}\0${f.sha256}\n`).join("")), files };
}

/** sha256 of a canonical JSON encoding (object keys sorted). */
export function hashJson(value: unknown): string {
    const canon = (v: unknown): unknown => {
        if (Array.isArray(v)) {
            return v.map(canon);
        }
        if (v !== null && typeof v === "object") {
            return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
        }
        return v;
    };
    return sha256(JSON.stringify(canon(value)));
}
