// Issue #20, a newcomer's first hour, as a user runs it: `npm run local:up` on a fresh copy, then an
// edit of the committed Pulumi.local.yaml that `npm run local:preview -- --diff` shows and the next
// `local:up` rolls out, with the build's and the push's progress and the run's summary line.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT, TOOLS, cluster, clusterDir, copyProject, linkPlugins, processesOf, tearDownSuite } from "./harness";

/**
 * Pairs of adjacent `-`/`+` lines, and `a => b` lines, that look the same on screen: a diff that
 * hides its change (e.g. past Pulumi's truncation of long strings) shows one of these.
 */
export function identicalLookingPairs(text: string): string[] {
    const lines = text.split("\n").map((l) => l.trim());
    const found: string[] = [];
    for (let i = 0; i + 1 < lines.length; i++) {
        if (lines[i].startsWith("- ") && lines[i + 1].startsWith("+ ") && lines[i].slice(2) === lines[i + 1].slice(2)) {
            found.push(`${lines[i]} / ${lines[i + 1]}`);
        }
    }
    for (const l of lines) {
        const m = /^[~+-]?\s*[^:]+:\s*(.+?) => (.+)$/.exec(l);
        if (m !== null && m[1] === m[2]) {
            found.push(l);
        }
    }
    return found;
}

describe("local stack: the committed Pulumi.local.yaml is the one that counts (issue #20)", function () {
    this.timeout(30 * 60 * 1000);
    let project: string;
    let home: string;
    const nonce = `${process.pid}-${Date.now()}`;
    /** Runs an npm script in the copy as a user would; its stdout and stderr (where Pulumi prints diagnostics with --diff). */
    const npm = (...args: string[]): string => {
        const t0 = Date.now();
        const r = spawnSync("npm", ["run", "--silent", ...args], {
            cwd: project, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024,
            env: { ...process.env, NGD_CLUSTER_DIR: clusterDir(), NGD_TOOLS: TOOLS, NGD_UPSTREAM: path.join(ROOT, "..", "shared", "upstream"), PULUMI_HOME: home, PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase" },
        });
        console.log(`      [npm run ${args.join(" ")}] ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const out = `${r.stdout}\n${r.stderr}`;
        assert.strictEqual(r.status, 0, out.slice(-4000));
        return out;
    };
    const show = (what: string, out: string, pick: RegExp) => {
        const lines = out.split("\n").filter((l) => pick.test(l));
        console.log(`      ${what}:\n${lines.map((l) => `        | ${l.trim()}`).join("\n")}`);
    };

    before(() => {
        cluster("up");
        project = copyProject();
        home = path.join(project, ".pulumi-home");
        linkPlugins(home);
        const text = fs.readFileSync(path.join(project, "Pulumi.local.yaml"), "utf8");
        // a tag of this run: the layer plan and image are new to this machine's store (the layers are not)
        fs.writeFileSync(path.join(project, "Pulumi.local.yaml"), text.replace("    name: ml/myproject\n", `    name: ml/myproject\n    tag: t-${nonce}\n`));
    });
    after(() => {
        try {
            npm("local:destroy");
        } finally {
            const leftover = processesOf(home);
            tearDownSuite(undefined, project);
            assert.deepStrictEqual(leftover, [], "no Pulumi engine or plugin process left behind");
        }
    });

    it("local:up deploys a fresh copy, with the build's and the push's summaries and the run's one line", () => {
        const out = npm("local:up");
        show("local:up", out, /nix-build: \d|push: \d|nix-gpu-deploy: (done|built)|rollout ml-local|warning/);
        // issue #21: the seed's project (nix/build_container.nix on the miniature set)
        assert.match(out, /nix-build: 0 of \d+ derivations built, 0 of 0 paths fetched, [\d.]+ s; building myproject-/, "a progress line as the build starts");
        assert.match(out, /push: \d+ of (\d+) layers done \(\d+ sent, /, "a progress line as the push starts");
        assert.match(out, /nix-gpu-deploy: done: nix-build finished: built \d+ derivations?, fetched 0 paths \(0 B\)/);
        assert.match(out, /nix-gpu-deploy: done: push finished: pushed (\d+) of \1 layers \([\d.]+ [KM]iB\), 0 already in the registry/);
        assert.match(out, /nix-gpu-deploy: built \d+ derivations, fetched 0 paths \(0 B\), pushed (\d+) of \1 layers \([\d.]+ [KM]iB\), [\d.]+ s in the build and push/);
        assert.match(out, /rollout ml-local\/myproject: 2\/2 updated, 2\/2 available/);
        assert.doesNotMatch(out, /warning: using pulumi-resource|is expected to have version/, "no plugin warnings");
        assert.doesNotMatch(fs.readFileSync(path.join(project, "Pulumi.local.yaml"), "utf8"), /^\s*secure:|^encryptionsalt:/m, "no ciphertext or salt in the committed file");
    });

    it("an edit of the committed file shows in local:preview --diff as data, with no identical-looking -/+ pair and no plugin warning", () => {
        const file = path.join(project, "Pulumi.local.yaml");
        // an ffmpeg feature switch, as a user edits the stack file
        fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("features: [withX264]", "features: [withX264, withOpus]"));
        const out = npm("local:preview", "--", "--diff");
        show("local:preview -- --diff (diff lines of the build)", out, /NGD_ARG_overlays|features|withOpus|~ drv:|overlay ffmpeg:|rollout:|layers \(forecast|from source/);
        assert.match(out, /\+ \[1\]: "withOpus"/, "the overlay argument, key by key");
        assert.match(out, /overlay ffmpeg: features \["withX264"\] → \["withX264","withOpus"\]/, "and in words");
        assert.deepStrictEqual(identicalLookingPairs(out), [], "no -/+ pair looks identical");
        assert.doesNotMatch(out, /warning: using pulumi-resource/);
        assert.doesNotMatch(out, /^\s*[~+-]\s*create\s*:/m, "the scripts did not change");
        const counted = out.split("\n").filter((l) => /^\s*[-+~]/.test(l)).length;
        console.log(`      ${counted} changed-property lines in the diff; ${identicalLookingPairs(out).length} identical-looking pairs; ${(out.match(/warning: using pulumi-resource/g) ?? []).length} plugin warnings`);
    });

    it("the next local:up rolls the edit out, pushing only the changed layers", () => {
        const out = npm("local:up");
        show("local:up after the edit", out, /nix-build: \d|push: \d|nix-gpu-deploy: (done|built)|rollout ml-local\/myproject: 2\/2 updated, 2\/2 available, 2 total$/);
        const pushed = /push finished: pushed (\d+) of (\d+) layers \([\d.]+ (B|KiB)\), \d+ already in the registry/.exec(out);
        assert.ok(pushed !== null && Number(pushed[1]) >= 1 && Number(pushed[1]) <= 6 && Number(pushed[2]) > 20, `only ffmpeg's layers and what changes with it: ${pushed?.[0]}`);
        assert.match(out, /rollout ml-local\/myproject: 2\/2 updated, 2\/2 available/);
        const again = npm("local:preview");
        assert.match(again, /^\s*\d+ unchanged\s*$/m);
        assert.doesNotMatch(again, /to update|to replace|to create|to delete/, "a no-op after the rollout");
    });

    it("a new (empty) rehearsal cluster: the next local:up says so, reads it again and pushes the image again", () => {
        cluster("up");
        const out = npm("local:up");
        show("local:up on a new cluster", out, /rehearsal cluster is not the one|push finished|rollout ml-local\/myproject: 2\/2 updated, 2\/2 available, 2 total$/);
        assert.match(out, /local stack: the rehearsal cluster is not the one this stack last ran against/);
        assert.match(out, /push finished: pushed (\d+) of \1 layers/, "the new registry gets the image");
        assert.match(out, /rollout ml-local\/myproject: 2\/2 updated, 2\/2 available/);
        const again = npm("local:preview");
        assert.doesNotMatch(again, /rehearsal cluster is not the one|to update|to replace|to create/, "then a no-op");
    });
});
