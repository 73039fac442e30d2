// Errors the program raises on purpose. Each is a `pulumi.RunError`: the SDK's language runtime
// prints a RunError's message alone (`@pulumi/pulumi/cmd/run/run.js`: "Always hide the stack for
// RunErrors"), with no stack trace and no colour, where any other Error is printed through
// `util.inspect(err, { colors: true })` with its stack. Messages start with the project name and
// name the config property or file the user has to look at.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config";

/** At most this many lines of a tool's output are quoted in a message. */
export const MAX_QUOTED_LINES = 20;
const MAX_LINE_CHARS = 300;

/**
 * A RunError whose message stays as written. The SDK prefixes the message of an error that fails a
 * resource input with `error serializing property "…": ` — in place, once per input that carries it
 * (runtime/rpc.js) — so a failed Nix evaluation would reach the user as a chain of property names
 * of resources it was never about. The message is an accessor whose setter ignores those writes.
 */
export function runError(message: string): pulumi.RunError {
    const e = new pulumi.RunError(message);
    Object.defineProperty(e, "message", { get: () => message, set: () => undefined, enumerable: false, configurable: false });
    return e;
}

/** A deliberate failure: `nix-gpu-deploy: <message>`, shown without a stack trace. */
export function programError(message: string): pulumi.RunError {
    return runError(`${PROJECT}: ${message}`);
}

// eslint-disable-next-line no-control-regex -- stripping terminal escapes is the point
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[@-Z\\-_]/g;
// eslint-disable-next-line no-control-regex -- and so is dropping other control characters
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/**
 * Lines of a tool's output fit to quote: terminal escapes and control characters removed, each
 * line prefixed with `  | ` (so that no quoted line looks like a JavaScript stack frame), at most
 * MAX_QUOTED_LINES of them — Nix's own `error:` block when there is one, else the last lines.
 */
export function quoteToolOutput(text: string): string[] {
    const lines = text.replace(ANSI, "").replace(/\r/g, "").split("\n").map((l) => l.replace(CONTROL, "").replace(/\s+$/, ""));
    const start = lines.findIndex((l) => /(^|\s)error:/.test(l));
    const picked = (start >= 0 ? lines.slice(start) : lines).filter((l) => l !== "");
    const shown = start >= 0 ? picked.slice(0, MAX_QUOTED_LINES) : picked.slice(-MAX_QUOTED_LINES);
    const out = shown.map((l) => `  | ${l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)} …` : l}`);
    if (picked.length > shown.length) {
        out.push(`  | … and ${picked.length - shown.length} more lines`);
    }
    return out;
}

/** The error of a failed `nix-instantiate`: names the entry and overlays, quotes Nix's message. */
export function nixEvaluationError(entry: string, overlays: string[], cause: unknown): pulumi.RunError {
    const text = cause instanceof Error ? cause.message : String(cause);
    const names = overlays.length === 0 ? "none" : overlays.join(", ");
    return programError([
        `nix evaluation of ${entry} failed (nix.entry ${entry}, nix.overlays: ${names}); nothing was built or deployed:`,
        ...quoteToolOutput(text),
    ].join("\n"));
}
