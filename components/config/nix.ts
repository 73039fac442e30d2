// The `nix` section: entry, overlays (and their declared arguments), package set, Nix settings.
import * as path from "path";
import { DEFAULTS, NIX_PYTHONS, NIX_SYSTEMS, NixSettings, OverlayArgValue, OverlayConfig, ParseOptions } from "./types";
import { Checker, confinedRealPath, CUDA_CAPABILITY, hasOwn, isUnset, kebabCase, keySegment, listBrief, LOWER_CAMEL, NIX_BUILDERS, NIX_PUBLIC_KEY, NIX_STORE_URL, PROJECT_PATH, projectNixFile, PYTHON_ATTR, quoteText, SectionContext, showValue } from "./check";
/** The overlay file that `name` refers to, next to the Nix entry. */
export function overlayFile(entry: string, name: string): string {
    return path.posix.join(path.posix.dirname(entry), "overlay", `${kebabCase(name)}.nix`);
}

/** The argument declaration next to an overlay file: `<overlay>.args.json`. */
export function overlayArgsFile(overlayNixFile: string): string {
    return overlayNixFile.replace(/\.nix$/, ".args.json");
}

/** One declared overlay argument (see the `*.args.json` files next to the overlays). */
export type OverlayArgSpec =
    | { type: "string"; maxLength?: number; enum?: string[]; description?: string }
    | { type: "integer"; minimum: number; maximum: number; description?: string }
    | { type: "boolean"; description?: string }
    | { type: "stringList"; maxItems?: number; enum?: string[]; description?: string };

export interface OverlayArgsDeclaration {
    description?: string;
    args: Record<string, OverlayArgSpec>;
}

/** Validates the shape of an overlay's argument declaration; returns the problem, if any. */
export function checkOverlayDeclaration(decl: unknown): string | undefined {
    if (typeof decl !== "object" || decl === null || Array.isArray(decl) || !hasOwn(decl, "args")) {
        return "must be a JSON object with an \"args\" object";
    }
    const args = (decl as { args: unknown }).args;
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
        return "\"args\" must be an object";
    }
    for (const [name, spec] of Object.entries(args)) {
        if (!LOWER_CAMEL.test(name)) {
            return `argument ${quoteText(name, 40)} is not a lowerCamelCase name`;
        }
        if (typeof spec !== "object" || spec === null || !hasOwn(spec, "type")) {
            return `argument ${name} has no "type"`;
        }
        const s = spec as Record<string, unknown>;
        const enumOk = !hasOwn(s, "enum") || (Array.isArray(s.enum) && s.enum.every((x) => typeof x === "string"));
        const intOk = (k: string) => !hasOwn(s, k) || Number.isInteger(s[k]);
        if (s.type === "integer" && !(Number.isInteger(s.minimum) && Number.isInteger(s.maximum) && (s.minimum as number) <= (s.maximum as number))) {
            return `integer argument ${name} needs integer "minimum" <= "maximum"`;
        }
        if (!["string", "integer", "boolean", "stringList"].includes(String(s.type)) || !enumOk || !intOk("maxLength") || !intOk("maxItems")) {
            return `argument ${name}: type must be string, integer, boolean or stringList, with a string "enum" and integer limits`;
        }
    }
    return undefined;
}

/** A store or builder URL's parts, as far as credentials and host names go. */
export interface UrlParts {
    scheme: string;
    /**
     * What stands before the last `@` ahead of the query, if anything: a password with an unencoded
     * `/` (`https://u:pa/ss@host`) still counts as the user part, not as a path.
     */
    userinfo?: string;
    /** What follows the `://` (or the `@`) up to the first `/`, `?` or `#`. */
    host: string;
    query: string;
}

export const URL_HEAD = /^([A-Za-z][A-Za-z0-9+.-]*):\/+([^?#]*)(?:\?([^#]*))?/;

export function urlParts(url: string): UrlParts | undefined {
    const m = URL_HEAD.exec(url);
    if (m === null) {
        return undefined;
    }
    const at = m[2].lastIndexOf("@");
    const afterUser = at < 0 ? m[2] : m[2].slice(at + 1);
    return { scheme: m[1].toLowerCase(), userinfo: at < 0 ? undefined : m[2].slice(0, at), host: afterUser.split("/")[0], query: m[3] ?? "" };
}

/** Query parameters that carry a credential, whatever the store. */
export const CREDENTIAL_PARAM = /^(?:.*(?:token|password|passwd|secret|credential|signature|apikey|api-key|api_key|auth).*|sig|x-amz-[a-z-]*)$/i;

/**
 * Pure: a URL shown in a message with whatever could be a credential replaced (`user:***@`,
 * `token=***`, a URL inside a parameter redacted the same way), so a refused value is still
 * recognisable but never echoed.
 */
export function redactUrl(url: string): string {
    const m = URL_HEAD.exec(url);
    let out = url;
    if (m !== null) {
        const at = m[2].lastIndexOf("@");
        if (at >= 0) {
            const info = m[2].slice(0, at);
            const head = url.slice(0, url.indexOf(m[2]));
            const user = info.includes(":") ? `${info.slice(0, info.indexOf(":"))}:***` : "***";
            out = `${head}${user}${url.slice(head.length + at)}`;
        }
    }
    return out.replace(/([?&])([^=&#]+)=([^&#]*)/g, (all, sep: string, k: string, v: string) =>
        (CREDENTIAL_PARAM.test(k) ? `${sep}${k}=***` : v.includes("@") ? `${sep}${k}=${redactUrl(decodeParam(v))}` : all));
}

export function decodeParam(v: string): string {
    try {
        return decodeURIComponent(v);
    } catch {
        return v;
    }
}

/**
 * Pure: why a Nix store or builder URL the user typed into plain config must not be used, or
 * undefined. A credential in it (a password or token in the user part, a token parameter, a URL
 * with a user part inside a parameter) would be stored in plain text in the stack config and the
 * state, shown by every preview and passed on command lines; an SSH user name alone is no
 * credential. A user or host starting with `-` would be read by ssh as an option.
 */
export function storeUrlProblem(url: string, secretsAdvice: string): string | undefined {
    const u = urlParts(url);
    if (u === undefined) {
        return undefined;
    }
    const shown = quoteText(redactUrl(url));
    const ssh = u.scheme === "ssh" || u.scheme === "ssh-ng";
    if (u.userinfo !== undefined && (u.userinfo.includes(":") || !ssh)) {
        return `${shown} carries credentials in its user part (${u.userinfo.includes(":") ? "a password" : "a token or user name"}), which would be stored and shown in plain text: ${secretsAdvice}`;
    }
    for (const kv of u.query.split("&")) {
        const [k, v = ""] = kv.split("=");
        if (k !== "" && k !== "secret-key" && CREDENTIAL_PARAM.test(k)) {
            return `${shown} carries a credential in its ${k} parameter, which would be stored and shown in plain text: ${secretsAdvice}`;
        }
        const inner = decodeParam(v);
        if (inner.includes("://") && storeUrlProblem(inner, secretsAdvice) !== undefined) {
            return `${shown} carries credentials in the URL of its ${k} parameter, which would be stored and shown in plain text: ${secretsAdvice}`;
        }
    }
    if ((u.userinfo ?? u.host).startsWith("-") || u.host.startsWith("-")) {
        return `${shown}: it starts with "-" after the scheme, which ssh and other tools read as an option`;
    }
    if (url.includes("#")) {
        return `${shown} contains "#", which Nix's configuration reads as the start of a comment`;
    }
    return undefined;
}

/** The problems of a Nix `builders` value: each machine's URI (Nix reads one without a scheme as ssh://). */
export function buildersProblems(builders: string, secretsAdvice: string): string[] {
    return builders.split(/[;\n]/).map((line) => line.trim().split(/\s+/)[0] ?? "")
        .filter((uri) => uri !== "" && !uri.startsWith("@"))
        .map((uri) => storeUrlProblem(uri.includes("://") ? uri : `ssh://${uri}`, secretsAdvice))
        .filter((x): x is string => x !== undefined);
}

/** A store URL as it may be shown in a message: redacted, quoted, cut. */
export function showUrl(v: unknown): string {
    return typeof v === "string" ? quoteText(redactUrl(v)) : showValue(v);
}

/** How a stack passes the credentials a binary cache needs, instead of in its URL. */
export const CACHE_CREDENTIALS = "give the cache its credentials outside the URL: a netrc file named by nix.conf's netrc-file (HTTP caches), the AWS profile or environment (s3://), an SSH key in the agent or ~/.ssh/config (ssh://)";
export const BUILDER_CREDENTIALS = "the SSH identity for the builders is the nixBuilderSshKey secret (`pulumi config set --secret nixBuilderSshKey < id_ed25519`); a user name (ssh://user@host) is fine";

/** Reads and checks the argument declaration of an overlay file (absolute path). */
export function overlayDeclaration(opts: ParseOptions, file: string): { decl?: OverlayArgsDeclaration; problem?: string } {
    const declFile = overlayArgsFile(file);
    const where = confinedRealPath(opts, declFile);
    if (!where.ok) {
        return { problem: `its argument declaration ${declFile} ${where.reason}` };
    }
    if (!where.exists) {
        return { problem: `declares no arguments: ${declFile} is missing (every overlay declares its arguments there)` };
    }
    let decl: unknown;
    try {
        decl = JSON.parse(opts.readFile(where.abs));
    } catch (e) {
        return { problem: `its argument declaration ${declFile} is not valid JSON (${String((e as Error).message).slice(0, 120)})` };
    }
    const problem = checkOverlayDeclaration(decl);
    return problem === undefined ? { decl: decl as OverlayArgsDeclaration } : { problem: `its argument declaration ${declFile} is invalid: ${problem}` };
}

/** Checks one overlay argument against its declaration. */
export function overlayArg(c: Checker, ap: string, val: unknown, spec: OverlayArgSpec): OverlayArgValue | undefined {
    switch (spec.type) {
        case "string": {
            const s = c.string(ap, val, { max: spec.maxLength ?? 256, required: true });
            if (s !== undefined && spec.enum !== undefined && !spec.enum.includes(s)) {
                return c.fail(ap, `must be one of ${listBrief(spec.enum)}, got ${c.show(s)}`);
            }
            return s;
        }
        case "integer":
            return isUnset(val) ? c.fail(ap, "is required (an integer)") : c.integer(ap, val, spec.minimum, spec.maximum);
        case "boolean":
            if (typeof val === "boolean") {
                return val;
            }
            return val === "true" || val === "false" ? val === "true" : c.fail(ap, `must be true or false, got ${c.show(val)}`);
        case "stringList":
            if (!Array.isArray(val)) {
                return c.fail(ap, `must be a list of strings, got ${c.show(val)}`);
            }
            return c.stringList(ap, val, /^[A-Za-z0-9_.+-]+$/, "a plain word", { dflt: [], max: spec.maxItems ?? 64, allowed: spec.enum });
    }
}

export function parseOverlays(c: Checker, v: unknown, entry: string | undefined, opts: ParseOptions): OverlayConfig[] {
    const defaulted = isUnset(v);
    const list: unknown = defaulted ? DEFAULTS.overlays : v;
    if (!Array.isArray(list)) {
        c.fail("nix.overlays", `must be a list of { name, args }, got ${c.show(list)}`);
        return [];
    }
    if (list.length > 16) {
        c.fail("nix.overlays", `has ${list.length} entries; at most 16 allowed`);
    }
    const out: OverlayConfig[] = [];
    c.capped("nix.overlays", list.slice(0, 16), "overlays", (item, i) => {
        const p = defaulted ? "nix.overlays" : `nix.overlays[${i}]`;
        const namePath = defaulted ? "nix.overlays" : `${p}.name`;
        const o = c.object(p, item, ["name", "args"]);
        const name = c.string(namePath, o.name, { re: LOWER_CAMEL, what: "a lowerCamelCase overlay name", max: 40, required: true });
        if (name === undefined) {
            return;
        }
        if (out.some((x) => x.name === name)) {
            c.fail(namePath, `overlay ${name} is listed twice`);
            return;
        }
        const what = defaulted ? `the default overlay ${name} (nix.overlays is not set)` : `overlay ${name}`;
        let decl: OverlayArgsDeclaration | undefined;
        if (entry !== undefined) {
            const file = overlayFile(entry, name);
            const where = confinedRealPath(opts, file);
            if (!where.ok) {
                c.fail(namePath, `${what}: ${file} ${where.reason}`);
                return;
            }
            if (!where.exists) {
                c.fail(namePath, `${what}: no overlay file ${file} next to the Nix entry${defaulted ? "; set nix.overlays ([] for none)" : ""}`);
                return;
            }
            const d = overlayDeclaration(opts, file);
            if (d.problem !== undefined) {
                c.fail(namePath, `${what} ${d.problem}`);
            }
            decl = d.decl;
        }
        const args: Record<string, OverlayArgValue> = {};
        const rawArgs = isUnset(o.args) ? {} : o.args;
        if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
            c.fail(`${p}.args`, `must be an object of overlay arguments, got ${c.show(rawArgs)}`);
        } else if (decl !== undefined) {
            const declared = decl.args;
            const known = Object.keys(declared);
            c.capped(`${p}.args`, Object.keys(rawArgs), "arguments", (k) => {
                const ap = `${p}.args.${keySegment(k)}`;
                if (!hasOwn(declared, k)) {
                    c.fail(ap, `unknown argument of overlay ${name} (${known.length === 0 ? "it takes none" : `known: ${listBrief(known)}`})`);
                    return;
                }
                const value = overlayArg(c, ap, (rawArgs as Record<string, unknown>)[k], declared[k]);
                if (value !== undefined) {
                    args[k] = value;
                }
            });
        }
        out.push({ name, args });
    });
    return out;
}

/** The `nix` section (what a promoting stack may set of it: the capabilities and the system). */
export function checkNix(c: Checker, v: unknown, ctx: SectionContext) {
    const { mode, raw, opts } = ctx;
    let capabilitiesChecked = true;
    const nixKeys = ["entry", "overlays", "pythonPackages", "python", "sources", "cudaCapabilities", "system", "substituters", "trustedPublicKeys", "builders", "maxJobs", "sandbox", "onCacheDown", "uploadTo"];
    const nixRaw = c.object("nix", v, nixKeys);
    if (mode === "promote") {
        // Nothing is built: only the capabilities the promoted image was built for are read
        // (checked against gpu.product here, and against the image stack's export at run time).
        for (const k of nixKeys) {
            if (k !== "cudaCapabilities" && k !== "system" && !isUnset(nixRaw[k])) {
                c.fail(`nix.${k}`, `is not used: this stack builds nothing and runs the image of image.fromStack`);
            }
        }
        for (const k of ["nixSigningKey", "nixBuilderSshKey"] as const) {
            if (raw.secretsPresent[k] === true) {
                c.fail(k, "is not used: this stack builds nothing and runs the image of image.fromStack");
            }
        }
    }
    // An empty entry is a mistake, not a request for the default: it is refused, not replaced.
    const entryEmpty = hasOwn(nixRaw, "entry") && (nixRaw.entry === null || (typeof nixRaw.entry === "string" && nixRaw.entry.trim() === ""));
    if (entryEmpty) {
        c.fail("nix.entry", `is empty: name the Nix entry (a .nix file in the project), or remove the key for the default ${DEFAULTS.nixEntry}`);
    }
    let entry = (entryEmpty ? undefined : c.string("nix.entry", nixRaw.entry, PROJECT_PATH)) ?? DEFAULTS.nixEntry;
    // An empty entry is reported above; the overlays are not looked up next to a default the user did not ask for.
    // A promoting stack builds nothing: its project need not hold an entry or overlays.
    const entryOk = !entryEmpty && mode !== "promote" && projectNixFile(c, opts, "nix.entry", entry, { notNix: "must name a .nix file", missing: "does not exist" });
    entry = entry.replace(/^(\.\/)+/, "");
    let sources: string | undefined;
    if (!isUnset(nixRaw.sources)) {
        const s = c.string("nix.sources", nixRaw.sources, PROJECT_PATH);
        const what = "must name an existing .nix file of the project (it returns { nixpkgsStable; nixpkgsUnstable; })";
        if (s !== undefined && projectNixFile(c, opts, "nix.sources", s, { notNix: what, missing: what })) {
            sources = s.replace(/^(\.\/)+/, "");
        }
    }
    const overlays = parseOverlays(c, nixRaw.overlays, entryOk ? entry : undefined, opts);
    const pythonPackages = c.stringList("nix.pythonPackages", nixRaw.pythonPackages, PYTHON_ATTR, "a Python package attribute name", { dflt: DEFAULTS.pythonPackages, max: 200 });
    const capErrors = c.errors.length;
    const cudaCapabilities = c.stringList("nix.cudaCapabilities", nixRaw.cudaCapabilities, CUDA_CAPABILITY, "a CUDA compute capability like 8.0 or 9.0", { dflt: DEFAULTS.cudaCapabilities, max: 16 });
    // A list with a bad entry is not checked against gpu.product: that would only repeat the problem.
    capabilitiesChecked = c.errors.length === capErrors;
    // Unset (absent, null, "") = not passed; `[]` for substituters is a value: no binary cache.
    const settings: NixSettings = {};
    if (!isUnset(nixRaw.substituters)) {
        // Credentials first: a refused URL is never echoed as it was typed (nor is any other
        // value of this list: they are shown redacted).
        const subs = Array.isArray(nixRaw.substituters) ? nixRaw.substituters : [nixRaw.substituters];
        const refused = new Set<number>();
        c.capped("nix.substituters", subs.slice(0, 32), "entries", (item, i) => {
            const problem = typeof item === "string" ? storeUrlProblem(item, CACHE_CREDENTIALS) : undefined;
            if (problem !== undefined) {
                refused.add(i);
                c.fail(Array.isArray(nixRaw.substituters) ? `nix.substituters[${i}]` : "nix.substituters", problem);
            }
        });
        if (!Array.isArray(nixRaw.substituters) && refused.size === 0) {
            c.fail("nix.substituters", `must be a list of binary cache URLs, got ${showUrl(nixRaw.substituters)}`);
        } else if (Array.isArray(nixRaw.substituters)) {
            // Refused entries stand in as distinct placeholders, so that nothing else is said of them.
            const placeholder = (i: number) => `file:///refused-${i}`;
            settings.substituters = c.withDisplay(showUrl, () => c.stringList("nix.substituters", subs.map((x, i) => (refused.has(i) ? placeholder(i) : x)), NIX_STORE_URL,
                "a binary cache URL like https://cache.nixos.org", { dflt: [], max: 32, itemMax: 512 }))
                .filter((x, i) => !refused.has(i) && x !== placeholder(i));
        }
    }
    if (!isUnset(nixRaw.trustedPublicKeys)) {
        settings.trustedPublicKeys = c.stringList("nix.trustedPublicKeys", nixRaw.trustedPublicKeys, NIX_PUBLIC_KEY, "a Nix signing public key like cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", { dflt: [], max: 32, itemMax: 256 });
    }
    const builderProblems = typeof nixRaw.builders === "string" ? buildersProblems(nixRaw.builders, BUILDER_CREDENTIALS) : [];
    builderProblems.slice(0, 1).forEach((problem) => c.fail("nix.builders", problem));
    const builders = builderProblems.length > 0 ? undefined
        : c.withDisplay(showUrl, () => c.string("nix.builders", nixRaw.builders, { re: NIX_BUILDERS, what: "Nix builders: `;`-separated machine lines (printable characters, no newline) or @/path/to/machines", max: 4096 }));
    if (builders !== undefined && builders.includes("#")) {
        c.fail("nix.builders", "contains \"#\", which Nix's configuration reads as the start of a comment");
    } else if (builders !== undefined) {
        settings.builders = builders;
    }
    const maxJobs = c.integer("nix.maxJobs", nixRaw.maxJobs, 0, 1024);
    if (maxJobs !== undefined) {
        settings.maxJobs = maxJobs;
    }
    if (!isUnset(nixRaw.sandbox)) {
        settings.sandbox = c.boolean("nix.sandbox", nixRaw.sandbox, true);
    }
    if (!isUnset(nixRaw.onCacheDown)) {
        settings.onCacheDown = c.oneOf("nix.onCacheDown", nixRaw.onCacheDown, ["build", "fail"] as const, "build");
        // A check of nothing would look like a safeguard and guard nothing.
        if (isUnset(nixRaw.substituters)) {
            c.fail("nix.onCacheDown", "checks the binary caches of nix.substituters before each build, but nix.substituters is not set: set it (the list the check reads), or remove nix.onCacheDown");
        } else if (Array.isArray(nixRaw.substituters) && nixRaw.substituters.length === 0) {
            c.fail("nix.onCacheDown", `${settings.onCacheDown} checks the substituters before each build: set nix.substituters (the list the check reads); with [] there is no cache to check`);
        }
    }
    const uploadProblem = typeof nixRaw.uploadTo === "string" ? storeUrlProblem(nixRaw.uploadTo, CACHE_CREDENTIALS) : undefined;
    if (uploadProblem !== undefined) {
        c.fail("nix.uploadTo", `must not carry credentials or options: ${uploadProblem}`);
    }
    const uploadTo = uploadProblem !== undefined ? undefined
        : c.withDisplay(showUrl, () => c.string("nix.uploadTo", nixRaw.uploadTo, { re: NIX_STORE_URL, what: "a Nix store URL like s3://bucket?region=…, file:///srv/cache or ssh://builder", max: 512 }));
    if (uploadTo !== undefined && /[?&]secret-key=/.test(uploadTo)) {
        c.fail("nix.uploadTo", "must not name a secret-key: the signing key is the nixSigningKey secret");
    } else if (uploadTo !== undefined) {
        settings.uploadTo = uploadTo;
    }
    if (uploadTo !== undefined || uploadProblem !== undefined) {
        if (raw.secretsPresent.nixSigningKey !== true && !(raw.emptySecrets ?? []).includes("nixSigningKey")) {
            c.fail("nixSigningKey", "nix.uploadTo is set but the nixSigningKey secret is missing: substituters accept only signed paths (`nix-store --generate-binary-cache-key`, then `pulumi config set --secret nixSigningKey < key.sec`)");
        }
    } else if (raw.secretsPresent.nixSigningKey === true && mode !== "promote") {
        c.fail("nixSigningKey", "is set but nix.uploadTo is not: it signs only what is uploaded");
    }
    settings.hasSigningKey = raw.secretsPresent.nixSigningKey === true;
    settings.hasBuilderSshKey = raw.secretsPresent.nixBuilderSshKey === true;
    if (settings.hasBuilderSshKey && settings.builders === undefined && mode !== "promote") {
        c.fail("nixBuilderSshKey", "is set but nix.builders is not: it is the SSH identity for the remote builders");
    }
    if (!settings.hasSigningKey) {
        delete settings.hasSigningKey;
    }
    if (!settings.hasBuilderSshKey) {
        delete settings.hasBuilderSshKey;
    }
    // The platform the image is for: nixpkgs is imported for it, the image's architecture and the
    // pods' kubernetes.io/arch selector follow it (whoever deploys, from a Mac or an ARM laptop).
    const system = c.oneOf("nix.system", nixRaw.system, NIX_SYSTEMS, DEFAULTS.nixSystem);
    const python = c.oneOf("nix.python", nixRaw.python, NIX_PYTHONS, DEFAULTS.nixPython);
    return { entry, overlays, pythonPackages, python, sources, cudaCapabilities, system, settings, capabilitiesChecked };
}
