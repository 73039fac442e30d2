// Where the package's own files are, whether it runs from its TypeScript sources (this repository's
// program, ts-node) or from its compiled `dist/` (an installed package, the component plugin).
import * as fs from "fs";
import * as path from "path";

/** The package's root directory: the nearest one above this file that holds its package.json. */
function findPackageRoot(from: string): string {
    for (let dir = from; ; dir = path.dirname(dir)) {
        const manifest = path.join(dir, "package.json");
        if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: string }).name === "nix-gpu-deploy") {
            return dir;
        }
        if (path.dirname(dir) === dir) {
            throw new Error(`nix-gpu-deploy: no package.json of the package above ${from}`);
        }
    }
}

export const PACKAGE_ROOT = findPackageRoot(__dirname);

/** Whether the package runs from its compiled JavaScript (`dist/`) rather than its sources. */
export const COMPILED = !__filename.endsWith(".ts");

/** A file of the package that is not compiled (Nix files, the generated progress filter). */
export function packageFile(rel: string): string {
    return path.join(PACKAGE_ROOT, rel);
}

/**
 * The command line that runs one of the package's scripts (`kubernetes/rollout`), from PACKAGE_ROOT:
 * the compiled one with node, or the source with ts-node (transpile only: it was type-checked).
 */
export function scriptCommand(module: string): string {
    return COMPILED ? `node dist/${module}.js` : `node -r ts-node/register/transpile-only ${module}.ts`;
}
