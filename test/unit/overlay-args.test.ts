// Every overlay declares its arguments in `<overlay>.args.json`, and the declaration matches the
// overlay function's formal arguments as Nix sees them.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { OverlayArgsDeclaration, checkOverlayDeclaration, overlayArgsFile } from "../../components/config";
import { ROOT } from "./harness";

const overlayDirs = ["nix/overlay", "test/fixture/overlay"];

function formals(file: string): string[] {
    const out = execFileSync("nix-instantiate", ["--option", "substituters", "", "--eval", "--json", "--strict", "-E",
        `builtins.attrNames (builtins.functionArgs (import ${file}))`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return (JSON.parse(out) as string[]).sort();
}

describe("overlay argument declarations", () => {
    for (const dir of overlayDirs) {
        for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((x) => x.endsWith(".nix"))) {
            const file = path.join(ROOT, dir, f);
            it(`${dir}/${f} declares exactly its function's arguments`, () => {
                const declFile = overlayArgsFile(file);
                assert.ok(fs.existsSync(declFile), `${path.relative(ROOT, declFile)} is missing`);
                const decl = JSON.parse(fs.readFileSync(declFile, "utf8")) as OverlayArgsDeclaration;
                assert.strictEqual(checkOverlayDeclaration(decl), undefined);
                assert.deepStrictEqual(Object.keys(decl.args).sort(), formals(file));
            });
        }
    }

    it("declares the ffmpeg switches as the with*/build* flags of nixpkgs' ffmpeg", () => {
        const decl = JSON.parse(fs.readFileSync(path.join(ROOT, "nix/overlay/ffmpeg.args.json"), "utf8")) as OverlayArgsDeclaration;
        const features = decl.args.features;
        assert.strictEqual(features.type, "stringList");
        const values = features.type === "stringList" ? features.enum ?? [] : [];
        for (const v of ["withX264", "withOpus", "withNvenc", "withNvdec", "withCuda", "withFdkAac", "buildFfplay"]) {
            assert.ok(values.includes(v), v);
        }
        assert.ok(values.every((v) => /^(with|build)[A-Z0-9]/.test(v)), "only switches");
        assert.strictEqual(new Set(values).size, values.length);
    });

    it("refuses malformed declarations", () => {
        assert.match(String(checkOverlayDeclaration([])), /"args"/);
        assert.match(String(checkOverlayDeclaration({ args: { x: { type: "float" } } })), /type must be/);
        assert.match(String(checkOverlayDeclaration({ args: { x: { type: "integer", minimum: 5, maximum: 1 } } })), /minimum/);
        assert.match(String(checkOverlayDeclaration({ args: { "bad-name": { type: "string" } } })), /lowerCamelCase/);
        assert.match(String(checkOverlayDeclaration({ args: { x: { type: "stringList", enum: [1] } } })), /enum/);
        assert.strictEqual(checkOverlayDeclaration({ args: { x: { type: "boolean" } } }), undefined);
    });
});
