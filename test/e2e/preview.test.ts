// Issue #13, against the real engine and the rehearsal cluster: what `pulumi preview --diff` says
// for an overlay argument change, a comment-only edit, a pin change and a no-op.
import { Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ClusterEnv, Shims, startSuite, tearDownSuite } from "./harness";

describe("preview: explains a change in words, and says nothing when nothing changed (issue #13)", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let shims: Shims;
    const nonce = `${process.pid}-${Date.now()}`;
    const text = (t: string) => `${t} (${nonce})`;
    const HEADER = "nix-gpu-deploy: what this change does";
    const changes = (summary: Record<string, number>) => Object.entries(summary).filter(([op, n]) => op !== "same" && n > 0);
    /** Our diagnostic block, as the CLI prints it (each line indented under the resource). */
    const block = (out: string): string[] => {
        const at = out.indexOf(HEADER);
        if (at < 0) {
            return [];
        }
        const lines = out.slice(at).split("\n");
        const end = lines.findIndex((l, i) => i > 0 && !/^\s{2,}\S/.test(l));
        return lines.slice(0, end < 0 ? undefined : end).map((l) => l.trim());
    };
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

    before(async () => {
        ({ env, work, project, shims, stack } = await startSuite("ngd-preview-"));
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "60" }, true);
        await stack.setConfig("nix.overlays[0].args.text", { value: text("first") }, true);
        await stack.up({ color: "never" });
    });

    after(async () => {
        try {
            await stack.destroy({ color: "never" });
        } finally {
            tearDownSuite(work, project);
        }
    });

    it("no-op: no diff, no explanation, and no evaluation (the cached one is used)", async () => {
        const p = await preview("no-op");
        assert.deepStrictEqual(changes(p.summary), [], p.out);
        assert.deepStrictEqual(p.explained, []);
        assert.ok(!p.out.includes(HEADER));
        assert.strictEqual(p.evaluations, 0, "a no-op preview does not evaluate");
    });

    it("an overlay argument: names the overlay and old → new value, lists the derivations Nix will build, then what rolls out", async () => {
        await stack.setConfig("nix.overlays[0].args.text", { value: text("second") }, true);
        const p = await preview("overlay argument");
        assert.strictEqual(p.evaluations, 1, "a real change evaluates");
        assert.strictEqual(p.explained[0], HEADER, p.out.slice(-3000));
        assert.strictEqual(p.explained[1], `overlay greeting: text ${JSON.stringify(text("first"))} → ${JSON.stringify(text("second"))}`);
        assert.match(p.explained[2], /^to build \((\d+) derivations?\): (.*)$/);
        assert.match(p.explained[2], /fixture-app/);
        assert.match(p.explained[2], /fixture-layer-plan/);
        assert.match(p.explained.join("\n"), /\nlayers \(forecast from the previous image's plan\): [1-4] of \d+ change \([^)]*fixture-app[^)]*\); about [\d.]+ (B|KiB) to push plus the image config; \d+ reused\n/);
        assert.match(p.explained.join("\n"), /rollout: Deployment ml-local\/fixture, 2 replicas, RollingUpdate \(maxSurge 0\): one pod at a time; the other old pod keeps serving/);
        assert.doesNotMatch(p.out, /NGD_OVERLAY_|sha256:[a-f0-9]{64} args:/, "no hashes in the diff");
        await stack.up({ color: "never" });
    });

    it("a comment-only edit: names the file, nothing to build, and no resource changes", async () => {
        fs.appendFileSync(path.join(project, "test/fixture/overlay/greeting.nix"), "# a comment only\n");
        const p = await preview("comment-only edit");
        assert.deepStrictEqual(p.explained, [HEADER, "nix file changed: test/fixture/overlay/greeting.nix", "the image derivation is unchanged: nothing to build, nothing rolls out"]);
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
