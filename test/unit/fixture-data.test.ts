// Item: the project's own images never turn config text into code. The rehearsal image's app
// prints the greeting overlay's text; here the text is shell syntax, and the built app must print
// it verbatim without running any of it.
import * as assert from "assert";
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT } from "./harness";

/** Runs the app until it has printed `lines` lines (it then sleeps forever), then stops it. */
function firstLines(app: string, lines: number, env: Record<string, string>): Promise<string[]> {
    return new Promise((resolve, reject) => {
        const child = spawn(app, [], { env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`app printed only ${JSON.stringify(out)}`)); }, 20000);
        child.stdout.on("data", (d: Buffer) => {
            out += d.toString("utf8");
            const got = out.split("\n");
            if (got.length > lines) {
                clearTimeout(timer);
                child.kill("SIGKILL");
                resolve(got.slice(0, lines));
            }
        });
        child.on("error", (e) => { clearTimeout(timer); reject(e); });
    });
}

describe("the rehearsal image's app treats overlay text as data", function () {
    this.timeout(300000);
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-fixture-data-")); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("prints $(…), backticks, quotes and % verbatim and runs none of them", async () => {
        const marker = path.join(dir, "pwned");
        const text = `hi $(touch ${marker}1) \`touch ${marker}2\` "; touch ${marker}3; echo " '$HOME' %s %n \\n`;
        const overlays = JSON.stringify([{ name: "greeting", args: { text } }]);
        const out = execFileSync("nix-build", ["--no-out-link", "--option", "substituters", "", path.join(ROOT, "test/fixture/default.nix"),
            "--argstr", "overlays", overlays, "--argstr", "imageName", "data-test"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").pop() ?? "";
        assert.match(out, /^\/nix\/store\//);
        const closure = execFileSync("nix-store", ["--query", "--requisites", out], { encoding: "utf8" }).split("\n");
        const app = closure.find((p) => p.endsWith("-fixture-app"));
        assert.ok(app, `no fixture-app in the closure of ${out}`);
        assert.ok(!fs.readFileSync(path.join(app, "bin/app"), "utf8").includes("touch"), "the text is not in the script");
        const [greeting, cuda] = await firstLines(path.join(app, "bin/app"), 2, { CUDA_CAPABILITIES: "9.0", PATH: "/nonexistent" });
        assert.strictEqual(greeting, text);
        assert.strictEqual(cuda, "cuda capabilities: 9.0");
        for (const n of [1, 2, 3]) {
            assert.ok(!fs.existsSync(`${marker}${n}`), `${marker}${n} was created: the text was run as code`);
        }
    });
});
