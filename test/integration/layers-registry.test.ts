// With Debian nix, a real registry and skopeo: a one-package change uploads one layer, counted at
// the registry (its access log), with no skopeo cache at all.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { skopeoPushEnvironment, skopeoPushScript } from "../../components/exec";
import { PROGRESS_FILTER } from "../../components/nix/image";
import { Registry, blobUploads, logLines, startRegistry } from "../services/registry";
import { ROOT } from "../unit/harness";

const NIX = ["--option", "substituters", ""];
const FIXTURE = path.join(ROOT, "test/fixture/blobs.nix");
const nixBuild = (args: string[]) => execFileSync("nix-build", ["--no-out-link", ...NIX, FIXTURE, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").pop() as string;
/** Both steps: the plan, then the image (an OCI layout directory) assembled from it. */
const buildImage = (args: string[]) => nixBuild([...args, "--argstr", "layerPlan", nixBuild(args)]);

function diffIds(image: string): string[] {
    const manifest = JSON.parse(fs.readFileSync(path.join(image, "manifest.json"), "utf8"))[0];
    return JSON.parse(fs.readFileSync(path.join(image, manifest.Config), "utf8")).rootfs.diff_ids;
}

/** A push as the SkopeoPublisher runs it, with a fresh HOME (no skopeo blob-info cache). */
function push(registry: Registry, image: string, tag: string): { digest: string; uploads: ReturnType<typeof blobUploads>; log: string } {
    const skip = logLines(registry.log);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-cold-home-"));
    try {
        const script = skopeoPushScript();
        // With the progress filter, as the SkopeoPublisher runs it (issue #20).
        const r = spawnSync("/bin/sh", ["-c", script], {
            env: {
                ...process.env, ...skopeoPushEnvironment({ destination: `${registry.host}/blobs:${tag}`, insecure: true }), NGD_PROGRESS: PROGRESS_FILTER,
                HOME: home, XDG_CACHE_HOME: path.join(home, ".cache"), XDG_RUNTIME_DIR: home, NGD_IMAGE: image, NGD_REGISTRY: registry.host, REGISTRY_USERNAME: registry.username, REGISTRY_PASSWORD: registry.password,
            },
            encoding: "utf8",
        });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(!r.stderr.includes(registry.password), "the password is not in the log");
        return { digest: r.stdout.trim(), uploads: blobUploads(registry.log, registry.storage, skip), log: r.stderr };
    } finally {
        fs.rmSync(home, { recursive: true, force: true });
    }
}

describe("layering against a real registry", function () {
    this.timeout(300000);
    let registry: Registry;
    before(async () => {
        registry = await startRegistry();
    });
    after(() => registry?.stop());

    it("builds reproducibly: every layer built again (nix-store --realise --check) is bit-identical", () => {
        const image = buildImage([]);
        const manifest = JSON.parse(fs.readFileSync(path.join(image, "manifest.json"), "utf8"))[0];
        const drvs = (manifest.Layers as string[]).map((l) => execFileSync("nix-store", ["--query", "--deriver", path.dirname(fs.realpathSync(path.join(image, l)))], { encoding: "utf8" }).trim());
        assert.strictEqual(drvs.length, 13, "one layer per package");
        execFileSync("nix-store", ["--realise", "--check", ...NIX, ...drvs], { stdio: ["ignore", "ignore", "pipe"] });
    });

    it("a changed package rebuilds and uploads only its layer and the top one (+ config), with no local cache", () => {
        const before = buildImage([]);
        const bump = ["--argstr", "bump", "b07", "--argstr", "salt", `-${process.pid}-${Date.now()}`];
        const planBumped = nixBuild(bump);
        const drv = execFileSync("nix-instantiate", [...NIX, FIXTURE, ...bump, "--argstr", "layerPlan", planBumped], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
        // Nix's dry run prints what it would build on stderr
        const dry = execFileSync("/bin/sh", ["-c", `nix-store --realise --dry-run --option substituters '' "$0" 2>&1`, drv], { encoding: "utf8" });
        const toBuild = [...new Set(dry.match(/\/nix\/store\/[a-z0-9]{32}-[^\s]+\.drv/g) ?? [])].map((d) => d.slice(44));
        assert.deepStrictEqual(toBuild.sort(), ["blobs-image.drv", "layer-b07.drv", "layer-blobs-top.drv"], "unchanged layers are not rebuilt");
        const after = buildImage(bump);
        const a = diffIds(before);
        const b = diffIds(after);
        const changed = b.filter((d) => !a.includes(d));
        assert.strictEqual(changed.length, 2, "b07 and the top package that references it");

        const first = push(registry, before, "v1");
        assert.strictEqual(first.uploads.count, 14, "13 layers and the config");
        assert.match(first.log, /push finished: pushed 13 of 13 layers \([\d.]+ [KM]iB\), 0 already in the registry/, "the summary agrees with the registry");
        const again = push(registry, before, "v1-again");
        assert.strictEqual(again.digest, first.digest, "same image, same digest");
        assert.strictEqual(again.uploads.count, 0, "an unchanged image uploads nothing, even with an empty skopeo cache");
        const second = push(registry, after, "v2");
        assert.strictEqual(second.uploads.count, 3, "the two changed layers and the config");
        console.log(`      ${second.log.trim().split("\n").pop()}`);
        assert.match(second.log, /push finished: pushed 2 of 13 layers \(([\d.]+) KiB\), 11 already in the registry/, "the summary agrees with the registry");
        const b07 = 448 * 1024;
        const image = b.length;
        console.log(`      ${image} layers; changed package ${b07} B; uploaded ${second.uploads.count} blobs, ${second.uploads.bytes} B (counted at the registry)`);
        assert.ok(second.uploads.bytes >= b07 && second.uploads.bytes < b07 + 64 * 1024, `uploaded ${second.uploads.bytes} B should be about ${b07}`);
    });
});
