// Issue #13, against the real engine and the rehearsal cluster: what `pulumi preview --diff` says
// for an overlay argument change, a comment-only edit, a pin change and a no-op. Issue #21: on the
// seed's project (nix/build_container.nix on the miniature set, the `local` stack as committed):
// the overlay changes are an ffmpeg feature switch and a torch replacement, and every preview and
// `up` counts its evaluations of the entry (≤ 1 on a change, 0 on a no-op).
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { ClusterEnv, EXPLANATION_HEADER, Shims, explanationBlock, startSuite, tearDownSuite } from "./harness";

describe("preview: explains a change in words, and says nothing when nothing changed (issue #13)", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let shims: Shims;
    const HEADER = EXPLANATION_HEADER;
    const changes = (summary: Record<string, number>) => Object.entries(summary).filter(([op, n]) => op !== "same" && n > 0);
    const block = explanationBlock;
    const preview = async (what: string) => {
        const e0 = shims.evaluations();
        const b0 = shims.count();
        const r = await stack.preview({ diff: true, color: "never" });
        // With --diff the CLI prints diagnostics on stderr (pkg/backend/display/diff.go).
        const explained = block(`${r.stdout}\n${r.stderr}`);
        console.log(`      [${what}] ${shims.evaluations() - e0} evaluation(s), changes ${JSON.stringify(changes(r.changeSummary))}${explained.length > 0 ? `:\n${explained.map((l) => `        | ${l}`).join("\n")}` : ", nothing explained"}`);
        assert.strictEqual(shims.count(), b0, "a preview builds nothing");
        assert.doesNotMatch(r.stdout, /\+\s*env\s*:\s*\[\]/, "no `+ env: []` artefact");
        assert.doesNotMatch(r.stdout, /\+\s*minReadySeconds\s*:\s*0\b/, "no `+ minReadySeconds: 0` artefact");
        return { out: `${r.stdout}\n${r.stderr}`, explained, summary: r.changeSummary, evaluations: shims.evaluations() - e0 };
    };

    /** An edit of the stack file itself (the project copy's Pulumi.local.yaml), as a user makes it. */
    const editOverlays = (f: (overlays: Array<{ name: string; args?: Record<string, unknown> }>) => void) => {
        const file = path.join(project, "Pulumi.local.yaml");
        const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config: Record<string, { overlays: Array<{ name: string; args?: Record<string, unknown> }> }> };
        f(doc.config["nix-gpu-deploy:nix"].overlays);
        fs.writeFileSync(file, stringifyYaml(doc));
    };
    /** An `up`, with the evaluations of the entry it made (printed). */
    const up = async (what: string) => {
        const e0 = shims.evaluations();
        const b0 = shims.count();
        await stack.up({ color: "never" });
        const evaluations = shims.evaluations() - e0;
        console.log(`      [up: ${what}] ${evaluations} evaluation(s) of the entry, ${shims.count() - b0} nix-build run(s)`);
        return evaluations;
    };

    before(async () => {
        ({ env, work, project, shims, stack } = await startSuite("ngd-preview-", "seed"));
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "60" }, true);
        await up("the seed's project, first");
    });

    after(async () => {
        try {
            await stack.destroy({ color: "never" });
        } finally {
            tearDownSuite(work, project);
        }
    });

    it("no-op: no diff, no explanation, and no evaluation (the cached one is used), in the preview and the up", async () => {
        const p = await preview("no-op");
        assert.deepStrictEqual(changes(p.summary), [], p.out);
        assert.deepStrictEqual(p.explained, []);
        assert.ok(!p.out.includes(HEADER));
        assert.strictEqual(p.evaluations, 0, "a no-op preview does not evaluate");
        assert.strictEqual(await up("no-op"), 0, "a no-op up does not evaluate");
    });

    it("an ffmpeg feature switch: names the overlay and old → new switches, lists what Nix builds (ffmpeg and what uses it), then what rolls out", async () => {
        // withVpx: a switch no other test turns on, so (on a fresh machine) Nix has it to build
        editOverlays((o) => { (o.find((x) => x.name === "ffmpeg") as unknown as { args: { features: string[] } }).args.features = ["withX264", "withVpx"]; });
        const p = await preview("ffmpeg switch");
        assert.strictEqual(p.evaluations, 1, "a real change evaluates once");
        assert.strictEqual(p.explained[0], HEADER, p.out.slice(-3000));
        assert.strictEqual(p.explained[1], 'overlay ffmpeg: features ["withX264"] → ["withX264","withVpx"]');
        // the list of derivations, or (a machine that ran this suite before) that the store has the image
        if (!/^nothing to build or fetch: the new image is already in the store$/.test(p.explained[2])) {
            assert.match(p.explained[2], /^to build \((\d+) derivations?\): (.*)$/);
            assert.match(p.explained[2], /ffmpeg-7\.1/);
            assert.match(p.explained[2], /myproject-layer-plan/);
            assert.doesNotMatch(p.explained[2], /python3\.12-torch-2\.5\.1|python3\.12-numpy/, "nothing that does not use ffmpeg");
            assert.ok(p.explained.some((l) => /^from source: overlay ffmpeg rebuilds ffmpeg/.test(l)), p.explained.join("\n"));
        }
        assert.match(p.explained.join("\n"), /\nlayers \(forecast from the previous image's plan\): \d+ of \d+ change \([^)]*ffmpeg[^)]*\)/);
        assert.match(p.explained.join("\n"), /rollout: Deployment ml-local\/myproject, 2 replicas, RollingUpdate \(maxSurge 0\): one pod at a time; the other old pod keeps serving/);
        assert.doesNotMatch(p.out, /NGD_OVERLAY_|sha256:[a-f0-9]{64} args:/, "no hashes in the diff");
        assert.ok(await up("ffmpeg switch") <= 1, "the up builds the derivation the program evaluated: no second evaluation");
    });

    it("a torch replacement: dropping replaceTorch builds torch from source, said before it starts", async () => {
        editOverlays((o) => { o.splice(o.findIndex((x) => x.name === "replaceTorch"), 1); });
        const p = await preview("torch replacement");
        assert.strictEqual(p.evaluations, 1);
        assert.strictEqual(p.explained[1], "overlay replaceTorch: removed", p.explained.join("\n"));
        // torch from source (its stand-in here) is to build, unless this machine built it in an earlier run
        assert.match(p.explained[2], /^(to build \(\d+ derivations?\): .*python3\.12-torch-2\.5\.1|nothing to build or fetch: the new image is already in the store$)/);
        assert.ok(await up("torch from source") <= 1);
    });

    it("a comment-only edit: names the file, nothing to build, and no resource changes", async () => {
        fs.appendFileSync(path.join(project, "nix/overlay/ffmpeg.nix"), "# a comment only\n");
        const p = await preview("comment-only edit");
        assert.deepStrictEqual(p.explained, [HEADER, "nix file changed: nix/overlay/ffmpeg.nix", "the image derivation is unchanged: nothing to build, nothing rolls out"]);
        assert.deepStrictEqual(changes(p.summary), [], "nothing is rebuilt or rolled out");
        await stack.up({ color: "never" });
    });

    it("a pin: old → new revision, and that an unchanged hash keeps the old source", async () => {
        const file = path.join(project, "test/fixture/nixpkgs/lib.nix");
        const before = fs.readFileSync(file, "utf8");
        fs.writeFileSync(file, before.replace("453e937fe69ab01dcc974c7301c5afc1768c11ba", "0123456789abcdef0123456789abcdef01234567"));
        try {
            const p = await preview("pin");
            assert.deepStrictEqual(p.explained, [
                HEADER,
                "nix file changed: test/fixture/nixpkgs/lib.nix",
                "pin test/fixture/nixpkgs/lib.nix: nix-community/nixpkgs.lib: 453e937fe69a → 0123456789ab (its hash did not change: Nix will reuse the source it already has for that hash — update the hash too)",
                "the image derivation is unchanged: nothing to build, nothing rolls out",
            ]);
            assert.deepStrictEqual(changes(p.summary), []);
        } finally {
            fs.writeFileSync(file, before);
        }
        const again = await preview("pin restored: a no-op again");
        assert.deepStrictEqual(again.explained, []);
        assert.deepStrictEqual(changes(again.summary), []);
    });
});
