// Issue #9: Nix settings as stack config, the image realised where the store lost it, the cache
// upload, and promotion by digest. The shell pieces run for real (sh, and nix where it is needed).
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RawStackConfig, parseStackConfig } from "../../components/config";
import {
    buildEnvironment, builderKeyLines, cacheCheckLines, cacheUploadScript, nixBuildScript, nixConfigLines, nixSettingFlags, privateTmpLines, realiseImageLines, shScript, skopeoPushScript,
} from "../../components/exec";
import { promotionProblems } from "../../components/registry/promote";
import { nodeFs } from "../../components/config/stack";
import { ROOT, validConfig } from "./harness";
import { SANDBOXED_BUILDER } from "../host-tools";

const opts = { projectRoot: ROOT, ...nodeFs };
type Cfg = Record<string, Record<string, unknown>>;
function parse(mutate: (c: Cfg) => void, secrets: RawStackConfig["secretsPresent"] = {}) {
    const c = validConfig();
    mutate(c);
    return parseStackConfig({ values: c, secretsPresent: { registryPassword: true, kubeconfig: true, ...secrets } }, opts);
}
const errors = (r: ReturnType<typeof parse>) => (r.ok ? [] : r.errors.map((e) => `${e.propertyPath.replace(/^nix-gpu-deploy:/, "")}: ${e.reason}`));
const run = (script: string, env: Record<string, string>) =>
    spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });

describe("issue #9: Nix settings are stack config", () => {
    it("passes nothing by default (the machine's nix.conf applies); with onCacheDown the live scripts pass the substituters that answered", () => {
        const r = parse(() => undefined);
        assert.ok(r.ok);
        assert.deepStrictEqual(r.config.nix.settings, {});
        assert.deepStrictEqual(nixSettingFlags({ onCacheDown: "build" }), [], "no Nix option of its own");
        const env = buildEnvironment({ entryAbs: "/p/e.nix", args: { argstr: {}, settings: { onCacheDown: "build", substituters: ["http://c"] } } });
        assert.deepStrictEqual(env, { NGD_ENTRY: "/p/e.nix", NGD_NIX_CONFIG: "substituters = http://c", NGD_ON_CACHE_DOWN: "build", NGD_SUBSTITUTERS: "http://c" });
    });
    it("an upload cache needs the signing key secret, carries no credentials and no secret-key of its own", () => {
        assert.deepStrictEqual(errors(parse((c) => { c.nix.uploadTo = "file:///srv/cache"; })), [
            "nixSigningKey: nix.uploadTo is set but the nixSigningKey secret is missing: substituters accept only signed paths (`nix-store --generate-binary-cache-key`, then `pulumi config set --secret nixSigningKey < key.sec`)",
        ]);
        const ok = parse((c) => { c.nix.uploadTo = "s3://cache?region=eu-west-1"; }, { nixSigningKey: true });
        assert.ok(ok.ok);
        assert.deepStrictEqual(ok.config.nix.settings, { uploadTo: "s3://cache?region=eu-west-1", hasSigningKey: true });
        assert.match(errors(parse((c) => { c.nix.uploadTo = "https://u:p@cache.example"; }, { nixSigningKey: true })).join("\n"), /nix.uploadTo: must not carry credentials/);
        assert.match(errors(parse((c) => { c.nix.uploadTo = "file:///c?secret-key=/k"; }, { nixSigningKey: true })).join("\n"), /must not name a secret-key/);
        assert.match(errors(parse(() => undefined, { nixSigningKey: true })).join("\n"), /nixSigningKey: is set but nix.uploadTo is not/);
        assert.match(errors(parse(() => undefined, { nixBuilderSshKey: true })).join("\n"), /nixBuilderSshKey: is set but nix.builders is not/);
        assert.match(errors(parse((c) => { c.nix.onCacheDown = "fail"; c.nix.substituters = []; })).join("\n"), /nix.onCacheDown: fail checks the substituters/);
        assert.match(errors(parse((c) => { c.nix.onCacheDown = "retry"; })).join("\n"), /nix.onCacheDown: must be one of build, fail/);
    });
    it("publishOnly: no gpu, cluster or deployment; fromStack: nothing of the build", () => {
        const pub = parse((c) => { c.image.publishOnly = true; delete c.gpu; delete c.cluster; delete c.deployment; });
        assert.ok(pub.ok, JSON.stringify(errors(pub)));
        assert.strictEqual(pub.config.mode, "publish");
        assert.strictEqual(pub.config.cluster, undefined);
        assert.deepStrictEqual(errors(parse((c) => { c.image.publishOnly = true; })), [
            "gpu: is not used: image.publishOnly builds and publishes only (remove it, or publishOnly to run the image)",
            "cluster: is not used: image.publishOnly builds and publishes only (remove it, or publishOnly to run the image)",
            "deployment: is not used: image.publishOnly builds and publishes only (remove it, or publishOnly to run the image)",
        ]);
        const promote = parse((c) => { c.image = { fromStack: "organization/nix-gpu-deploy/images" }; c.nix = { cudaCapabilities: ["9.0"] }; });
        assert.ok(promote.ok, JSON.stringify(errors(promote)));
        assert.strictEqual(promote.config.mode, "promote");
        assert.strictEqual(promote.config.image.fromStack, "organization/nix-gpu-deploy/images");
        assert.deepStrictEqual(errors(parse((c) => { c.image.fromStack = "images"; c.nix.substituters = []; })), [
            "nix.entry: is not used: this stack builds nothing and runs the image of image.fromStack",
            "nix.overlays: is not used: this stack builds nothing and runs the image of image.fromStack",
            "nix.substituters: is not used: this stack builds nothing and runs the image of image.fromStack",
            "image.name: is not used with image.fromStack: the image stack decides it",
        ]);
        assert.match(errors(parse((c) => { c.image = { fromStack: "a/b" }; c.nix = {}; })).join("\n"), /image.fromStack: "a\/b" is not a stack/);
    });
});

describe("issue #9: the image is realised where the local store lost it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-realise-"));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const expr = path.join(dir, "t.nix");
    const build = { entryAbs: expr, args: { argstr: {}, settings: { substituters: [] } } };
    const script = shScript([...privateTmpLines(), ...nixConfigLines(), ...realiseImageLines(build), `echo "have $NGD_IMAGE"`]);
    const buildEnv = buildEnvironment(build);
    it("does nothing when the image is there", () => {
        const img = path.join(dir, "image");
        fs.writeFileSync(img, "x");
        const r = run(script, { ...buildEnv, NGD_IMAGE: img });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), `have ${img}`);
        assert.strictEqual(r.stderr, "");
    });
    it("builds it again, both steps (plan, then image), when it is missing (a collected build comes back)", function () {
        this.timeout(60000);
        const name = `ngd-realise-${process.pid}-${Date.now()}`;
        // the entry's two steps, as components/nix/docker/buildCudaLayeredImage.nix makes them
        fs.writeFileSync(expr, `{ layerPlan ? "" }: if layerPlan == "" then derivation { name = "${name}-plan"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} args = ["-c" "mkdir $out; echo {} > $out/plan.json"]; }
            else derivation { name = "${name}-image"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} plan = builtins.storePath layerPlan; args = ["-c" ''mkdir $out; echo "built from $plan" > $out/built; touch $out/oci-layout'']; }`);
        const plan = execFileSync("nix-build", ["--no-out-link", "--option", "substituters", "", expr], { encoding: "utf8" }).trim();
        const drv = execFileSync("nix-instantiate", [expr, "--argstr", "layerPlan", plan], { encoding: "utf8" }).trim();
        const out = execFileSync("nix-store", ["--query", "--outputs", drv], { encoding: "utf8" }).trim();
        assert.ok(!fs.existsSync(out));
        const r = run(script, { ...buildEnv, NGD_IMAGE: out });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stderr, /is not in the local Nix store: fetching it from the caches, else building it again/);
        assert.strictEqual(fs.readFileSync(path.join(out, "built"), "utf8"), `built from ${plan}\n`);
    });
    it("fails with a message when building again gives another image (the Nix files changed)", function () {
        this.timeout(60000);
        const r = run(script, { ...buildEnv, NGD_IMAGE: "/nix/store/00000000000000000000000000000000-gone" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /building again gave \/nix\/store\/\S+-image, not \/nix\/store\/0+-gone/);
    });
    it("every publisher starts by realising the image when told how to build it", () => {
        assert.match(skopeoPushScript(build), /ngd_nix_build .*narinfo-cache-negative-ttl 0/);
        assert.doesNotMatch(skopeoPushScript(), /nix-build/);
    });
});

describe("issue #9: secrets and caches in the Nix scripts", () => {
    it("gives the builders' SSH key to Nix through a private file and NIX_SSHOPTS, never argv", () => {
        const script = shScript([...privateTmpLines(), ...builderKeyLines(), `stat -c %a "$tmp/builder-key"`, `cat "$tmp/builder-key"`, `echo "$NIX_SSHOPTS"`, `echo "key:\${NGD_BUILDER_SSH_KEY:-unset}"`]);
        const r = run(script, { NGD_BUILDER_SSH_KEY: "-----BEGIN KEY-----" });
        assert.strictEqual(r.status, 0, r.stderr);
        const [mode, key, sshopts, env] = r.stdout.trim().split("\n");
        assert.strictEqual(mode, "600");
        assert.strictEqual(key, "-----BEGIN KEY-----");
        assert.match(sshopts, /-i \/\S+\/builder-key -o IdentitiesOnly=yes$/);
        assert.strictEqual(env, "key:unset", "the key is not inherited by what runs after");
        assert.doesNotMatch(script, /BEGIN KEY/);
        const none = run(shScript([...privateTmpLines(), ...builderKeyLines(), `echo "opts:\${NIX_SSHOPTS:-unset}"`]), {});
        assert.strictEqual(none.stdout.trim(), "opts:unset", "no key configured: none used");
    });
    it("a cache that does not answer: fail stops the build naming it; build leaves it out, saying so", function () {
        this.timeout(60000);
        const lines = cacheCheckLines();
        const r = run(shScript([...privateTmpLines(), ...lines, "echo built"]), { NGD_ON_CACHE_DOWN: "fail", NGD_SUBSTITUTERS: "http://127.0.0.1:9" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /binary cache http:\/\/127.0.0.1:9 does not answer \(nix.substituters\); nix.onCacheDown is fail/);
        assert.doesNotMatch(r.stdout, /built/);
        const local = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-cache-"));
        const build = run(shScript([...privateTmpLines(), ...cacheCheckLines(), `printf '%s\\n' "$NIX_CONFIG"`]), { NGD_ON_CACHE_DOWN: "build", NGD_SUBSTITUTERS: `http://127.0.0.1:9 file://${local}`, NIX_CONFIG: "max-jobs = 1" });
        fs.rmSync(local, { recursive: true, force: true });
        assert.strictEqual(build.status, 0, build.stderr);
        assert.match(build.stderr, /binary cache http:\/\/127.0.0.1:9 does not answer \(nix.substituters\): building without it/);
        assert.strictEqual(build.stdout.trim(), `max-jobs = 1\nsubstituters = file://${local}`, "the user's NIX_CONFIG is kept; the live substituters come last");
        const unset = run(shScript([...privateTmpLines(), ...cacheCheckLines(), `echo "conf:\${NIX_CONFIG:-unset}"`]), { NGD_SUBSTITUTERS: "http://127.0.0.1:9" });
        assert.strictEqual(unset.stdout.trim(), "conf:unset", "onCacheDown unset: nothing checked");
        assert.match(nixBuildScript({ entryAbs: "/p/e.nix", args: { argstr: {} } }), /ngd_nix_build .*"\$NGD_ENTRY"/);
    });
    it("uploads signed, the key only in a private file (file:// cache, real nix copy)", function () {
        this.timeout(60000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-upload-"));
        try {
            execFileSync("nix-store", ["--generate-binary-cache-key", "ngd-unit-1", path.join(dir, "sec"), path.join(dir, "pub")]);
            const expr = path.join(dir, "t.nix");
            fs.writeFileSync(expr, `derivation { name = "ngd-upload-${process.pid}"; system = builtins.currentSystem; ${SANDBOXED_BUILDER} args = ["-c" "echo up > $out"]; }`);
            const out = execFileSync("nix-build", ["--no-out-link", "--option", "substituters", "", expr], { encoding: "utf8" }).trim();
            const cache = `file://${dir}/cache`;
            const build = { entryAbs: expr, args: { argstr: {}, settings: { substituters: [] } } };
            const script = cacheUploadScript(build);
            assert.doesNotMatch(script, /ngd-unit-1:/);
            const r = run(script, { ...buildEnvironment(build), NGD_UPLOAD_TO: cache, NGD_IMAGE: out, NGD_NIX_SIGNING_KEY: fs.readFileSync(path.join(dir, "sec"), "utf8").trim() });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, new RegExp(`uploaded the closure of ${out} \\(1 paths, signed\\) to ${cache}`));
            const narinfo = fs.readFileSync(path.join(dir, "cache", `${path.basename(out).slice(0, 32)}.narinfo`), "utf8");
            assert.match(narinfo, /^Sig: ngd-unit-1:/m);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("issue #9: promotion by digest", () => {
    const want = { fromStack: "organization/nix-gpu-deploy/images", registryHost: "127.0.0.1:5001", cudaCapabilities: ["9.0", "8.0"] };
    const ref = `127.0.0.1:5001/ml/fixture@sha256:${"a".repeat(64)}`;
    it("takes a digest-pinned ref from the same registry, built for the same capabilities", () => {
        assert.deepStrictEqual(promotionProblems({ imageRef: ref, cudaCapabilities: ["8.0", "9.0"] }, want), []);
    });
    it("says why it cannot promote", () => {
        assert.match(promotionProblems({}, want)[0], /exports no imageRef: run `pulumi up` on it first/);
        assert.match(promotionProblems({ imageRef: "127.0.0.1:5001/ml/fixture:latest" }, want)[0], /not pinned by digest/);
        assert.match(promotionProblems({ imageRef: ref.replace("5001", "5002") }, want)[0], /published to 127.0.0.1:5002, but registry.host here is 127.0.0.1:5001/);
        assert.match(promotionProblems({ imageRef: ref, cudaCapabilities: ["9.0"] }, want)[0], /was built for nix.cudaCapabilities \[9.0\], but this stack says \[8.0, 9.0\]/);
    });
});
