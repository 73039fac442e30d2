import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ExplainRecord, changedLines, explanation } from "../../components/nix/explanation";
import { ProgramRun, ROOT, Recorded, find, runProgram, stackConfig } from "./harness";

/** A private copy of the fixture inside the project (nix entries must stay inside it). */
function copyFixture(): string {
    const dir = fs.mkdtempSync(path.join(ROOT, "test", ".tmp-overlay-"));
    fs.cpSync(path.join(ROOT, "test", "fixture"), dir, { recursive: true });
    return dir;
}

function configFor(entryDir: string): Record<string, string> {
    const cfg = stackConfig("local");
    const nix = JSON.parse(cfg["nix-gpu-deploy:nix"]);
    nix.entry = path.relative(ROOT, path.join(entryDir, "default.nix"));
    nix.overlays = [{ name: "greeting", args: { text: "hello" } }, { name: "weights", args: {} }];
    return {
        ...cfg,
        "nix-gpu-deploy:nix": JSON.stringify(nix),
        "nix-gpu-deploy:registryPassword": "pw",
        "nix-gpu-deploy:kubeconfig": "apiVersion: v1\nkind: Config\n",
    };
}

const byName = (run: ProgramRun) => new Map(run.resources.map((r) => [r.name, r] as [string, Recorded]));

describe("an overlay edit between two runs", function () {
    this.timeout(120000);
    let dir: string;
    let first: ProgramRun;
    let again: ProgramRun;
    let changed: ProgramRun;

    before(async () => {
        dir = copyFixture();
        const run = () => runProgram({ stack: "local", config: configFor(dir), secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"] });
        first = await run();
        again = await run();
        const file = path.join(dir, "overlay", "weights.nix");
        fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("size ? 4194304", "size ? 4194305"));
        changed = await run();
        for (const r of [first, again, changed]) {
            assert.ifError(r.error);
        }
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("unchanged files give identical inputs everywhere", () => {
        assert.deepStrictEqual(again.resources, first.resources);
        assert.deepStrictEqual(again.invokes, first.invokes);
    });

    it("changes the build's triggers (the .drv); the record names the overlay file that changed", () => {
        const a = find(first, "command:local:Command", "-image-build").inputs;
        const b = find(changed, "command:local:Command", "-image-build").inputs;
        assert.notStrictEqual(a.triggers[0].drv, b.triggers[0].drv);
        assert.deepStrictEqual(a.triggers[1], b.triggers[1]);
        const [ra, rb] = [first, changed].map((r) => JSON.parse(String(r.outputs.nixExplain)) as ExplainRecord);
        assert.deepStrictEqual(changedLines(ra, rb), [`nix file changed: ${path.relative(ROOT, path.join(dir, "overlay", "weights.nix"))}`]);
        assert.strictEqual(a.create, b.create, "same nix-build command line");
    });

    it("changes nothing else but what follows from the new image", () => {
        const before = byName(first);
        const imageDerived = new Set(["publish-push", "gpu-deployment", "gpu-rollout"]);
        for (const [name, r] of byName(changed)) {
            if (name === "image-build" || imageDerived.has(name)) {
                continue;
            }
            assert.deepStrictEqual(r.inputs, before.get(name)?.inputs, `${name} must not change`);
        }
        const depA = find(first, "kubernetes:apps/v1:Deployment", "gpu-deployment").inputs.spec;
        const depB = find(changed, "kubernetes:apps/v1:Deployment", "gpu-deployment").inputs.spec;
        assert.notStrictEqual(depA.template.spec.containers[0].image, depB.template.spec.containers[0].image, "rolls out the new digest");
        depB.template.spec.containers[0].image = depA.template.spec.containers[0].image;
        assert.deepStrictEqual(depB, depA, "only the image changes in the Deployment spec");
    });

    it("a comment-only edit changes nothing in the build; the preview says so", async () => {
        const file = path.join(dir, "overlay", "greeting.nix");
        fs.appendFileSync(file, "# a comment\n");
        const run = await runProgram({ stack: "local", config: configFor(dir), secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"] });
        assert.ifError(run.error);
        const a = find(changed, "command:local:Command", "-image-build").inputs;
        const b = find(run, "command:local:Command", "-image-build").inputs;
        assert.deepStrictEqual(b.triggers, a.triggers, "no rebuild trigger");
        assert.deepStrictEqual(b, a, "the build's inputs do not change at all");
        const [ra, rb] = [changed, run].map((r) => JSON.parse(String(r.outputs.nixExplain)) as ExplainRecord);
        assert.deepStrictEqual(explanation(ra, rb, undefined, undefined, undefined), [
            "nix-gpu-deploy: what this change does",
            `  nix file changed: ${path.relative(ROOT, path.join(dir, "overlay", "greeting.nix"))}`,
            "  the image derivation is unchanged: nothing to build, nothing rolls out",
        ]);
    });
});
