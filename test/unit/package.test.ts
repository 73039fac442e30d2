// Issue #23: the package nix-gpu-deploy (components/) as npm and Pulumi's component packages see it.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as lib from "../../components/index";
import { GPU_WORKLOAD_TYPE } from "../../components/gpuWorkload";
import { NIX_IMAGE_TYPE } from "../../components/nixImage";

const ROOT = path.resolve(__dirname, "../..");
const json = (f: string) => JSON.parse(fs.readFileSync(path.join(ROOT, f), "utf8")) as { name: string; dependencies: Record<string, string>; devDependencies: Record<string, string>; files: string[]; main: string; types: string };

describe("issue #23: the package nix-gpu-deploy", () => {
    it("pins its dependencies exactly, to the versions the program is tested with", () => {
        const pkg = json("components/package.json");
        const root = json("package.json");
        for (const [name, version] of Object.entries(pkg.dependencies)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, `${name} is pinned exactly`);
            assert.strictEqual(version, root.dependencies[name], `${name}: the package and the program agree`);
        }
        assert.strictEqual(json("examples/typescript/package.json").dependencies["@pulumi/pulumi"], root.dependencies["@pulumi/pulumi"]);
    });
    it("ships its compiled entry, its sources (for the schema), its Nix image builder and its plugin manifest", () => {
        const pkg = json("components/package.json");
        assert.strictEqual(pkg.name, "nix-gpu-deploy");
        assert.strictEqual(pkg.main, "dist/index.js");
        assert.strictEqual(pkg.types, "dist/index.d.ts");
        for (const f of ["dist/", "**/*.ts", "nix/docker/", "nix/progress-filter.js", "PulumiPlugin.yaml", "tsconfig.json"]) {
            assert.ok(pkg.files.includes(f), f);
        }
        assert.match(fs.readFileSync(path.join(ROOT, "components/PulumiPlugin.yaml"), "utf8"), /^runtime: nodejs$/m);
    });
    it("exports the two components under the component package's type tokens", () => {
        assert.strictEqual(typeof lib.NixImage, "function");
        assert.strictEqual(typeof lib.GpuWorkload, "function");
        assert.strictEqual(NIX_IMAGE_TYPE, "nix-gpu-deploy:index:NixImage");
        assert.strictEqual(GPU_WORKLOAD_TYPE, "nix-gpu-deploy:index:GpuWorkload");
        assert.strictEqual(lib.OnCacheDown.Build, "build", "choices are const enums of the stack config's strings");
    });
});
