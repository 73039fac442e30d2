// Issue #21: the stack's GC roots. The build script (components/exec.ts nixBuildScript, as the build
// step runs it) keeps the built image and its layer plan in the stack's own root directory; the next
// build replaces them, the build step's delete (destroy) removes them. Run on the blobs fixture
// (test/fixture/blobs.nix: the image recipe's own planner and assembly files).
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ImageBuild, STACK_ID_SCRIPT, buildEnvironment, gcRootBase, gcRootDeleteScript, nixBuildScript } from "../../components/exec";
import { ROOT } from "../unit/harness";

const FIXTURE = path.join(ROOT, "test/fixture/blobs.nix");

describe("issue #21: one GC root per stack, replaced by the next up, removed by destroy", function () {
    this.timeout(300000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-gcroots-"));
    // the stack's directory: the base, and the id its first up made (kept in its state)
    const stackId = execFileSync("/bin/sh", ["-c", STACK_ID_SCRIPT], { encoding: "utf8" });
    const rootDir = path.join(gcRootBase({ NGD_GC_ROOT_DIR: dir }), stackId);
    const salt = `${process.pid}-${Date.now()}`;
    const build = (bump: string): ImageBuild => ({ entryAbs: FIXTURE, args: { argstr: { bump, salt }, settings: { substituters: [] } } });
    /** The build step's create, as the Command runs it: the image path on stdout, Nix's log on stderr. */
    /** The evaluated derivation of a build, as the program hands it over (NGD_DRV). */
    const drvOf = (b: ImageBuild) => execFileSync("nix-instantiate", ["--option", "substituters", "", FIXTURE, ...Object.entries(b.args.argstr).flatMap(([k, v]) => ["--argstr", k, v])], { encoding: "utf8" }).trim();
    const up = (b: ImageBuild) => {
        const drv = drvOf(b);
        const r = spawnSync("/bin/sh", ["-c", nixBuildScript(b)], {
            encoding: "utf8", env: { ...process.env, ...buildEnvironment(b), NGD_DRV: drv, NGD_GC_ROOT: rootDir, NGD_PROGRESS_OFF: "1" },
        });
        assert.strictEqual(r.status, 0, r.stderr);
        return { image: r.stdout.trim(), built: (r.stderr.match(/^building '/gm) ?? []).length, id: path.basename(drv).slice(0, 32) };
    };
    /** The build step's delete (destroy, or a replaced build after its replacement), with that build's environment. */
    const destroy = (b: ImageBuild) => {
        const r = spawnSync("/bin/sh", ["-c", gcRootDeleteScript()], { encoding: "utf8", env: { ...process.env, NGD_DRV: drvOf(b), NGD_GC_ROOT: rootDir } });
        assert.strictEqual(r.status, 0, r.stderr);
    };
    /** What a garbage collection would take of these paths: `nix-store --delete` refuses live ones. */
    const collect = (paths: string[]) => spawnSync("nix-store", ["--delete", ...paths], { encoding: "utf8" });
    const layersOf = (image: string) => fs.readdirSync(path.join(image, "blobs", "sha256")).map((b) => path.join(image, "blobs", "sha256", b))
        .filter((b) => fs.lstatSync(b).isSymbolicLink()).map((b) => path.dirname(fs.readlinkSync(b)));
    const roots = () => (fs.existsSync(rootDir) ? fs.readdirSync(rootDir).sort() : []);
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("keeps the image and its plan; a collection between two ups takes nothing, and the second up builds nothing", () => {
        const first = up(build("b03"));
        assert.ok(first.built > 0);
        assert.deepStrictEqual(roots(), [`image-${first.id}`, `plan-${first.id}`]);
        assert.strictEqual(fs.realpathSync(path.join(rootDir, `image-${first.id}`)), first.image);
        const plan = fs.readFileSync(path.join(first.image, "layer-plan"), "utf8").trim();
        assert.strictEqual(fs.realpathSync(path.join(rootDir, `plan-${first.id}`)), plan);
        const printed = execFileSync("nix-store", ["--gc", "--print-roots"], { encoding: "utf8" });
        assert.ok(printed.includes(`${path.join(rootDir, `image-${first.id}`)} -> ${first.image}`), "registered with Nix as a GC root");
        const layers = layersOf(first.image);
        assert.ok(layers.length >= 12);
        const gc = collect([first.image, plan, ...layers]);
        assert.notStrictEqual(gc.status, 0);
        assert.match(gc.stderr, /still alive/);
        for (const p of [first.image, plan, ...layers]) {
            assert.ok(fs.existsSync(p), `${p} survived`);
        }
        assert.strictEqual(up(build("b03")).built, 0, "no layer recompressed, nothing rebuilt");
    });

    it("a changed image: the new build roots its image and drops the old roots; the old build's delete leaves them; destroy drops them, and Nix may collect it", () => {
        const old = build("b03");
        const first = fs.realpathSync(path.join(rootDir, roots()[0]));
        // replace (create before delete): the new build first, then the old build's delete
        const next = build("b07");
        const second = up(next);
        assert.notStrictEqual(second.image, first);
        assert.deepStrictEqual(roots(), [`image-${second.id}`, `plan-${second.id}`], "one image per stack");
        destroy(old);
        assert.deepStrictEqual(roots(), [`image-${second.id}`, `plan-${second.id}`], "the replaced build's delete leaves the new roots");
        assert.strictEqual(collect([first]).status, 0, "the replaced image is collectable");
        destroy(next);
        assert.ok(!fs.existsSync(rootDir), "the stack's directory is gone");
        const gc = collect([second.image]);
        assert.strictEqual(gc.status, 0, gc.stderr);
        assert.ok(!fs.existsSync(second.image));
    });
});
