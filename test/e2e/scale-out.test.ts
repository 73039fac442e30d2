// Issue #9, for real on loopback: a signed binary cache (nix copy --to file://…, served over HTTP by
// test/e2e/nix-services.sh), a Nix remote builder behind Debian's sshd with its own store, and
// promotion by digest (a publish-only image stack, then the `local` cluster stack taking its
// imageRef through a StackReference). What Nix did is read from Nix's own progress lines (the
// nix-build / nix-store shims copy its stderr) and from the stores themselves.
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    ClusterEnv, K8sObject, NixServicesEnv, Shims, TOOLS, deleteClosure, kubeGet, nixServices, pulumiEnv, readNixServicesEnv, startSuite,
    storeSignatures, tearDownNixServices, tearDownSuite,
} from "./harness";

describe("scale out: binary cache, remote builder, build once and promote by digest (issue #9)", function () {
    this.timeout(30 * 60 * 1000);
    let env: ClusterEnv;
    let nix: NixServicesEnv;
    let project: string;
    let work: string;
    let stack: Stack;
    let shims: Shims;
    let images: Stack | undefined;
    const nonce = `${process.pid}-${Date.now()}`;
    const ns = "ml-local";
    const deployment = (): Promise<K8sObject | undefined> => kubeGet(env, `/apis/apps/v1/namespaces/${ns}/deployments/fixture`);
    const cli = (...args: string[]) => execFileSync(path.join(TOOLS, "bin", "pulumi"), args, {
        cwd: project, env: { ...process.env, ...pulumiEnv(path.join(work, "state"), env) }, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8",
    });
    const setGreeting = (s: Stack, text: string) => s.setConfig("nix.overlays[0].args.text", { value: `${text} (${nonce})` }, true);
    const publicKey = () => nix.NGD_CACHE_PUBLIC_KEY;
    const storePathOf = async (s: Stack) => String((await s.outputs()).storePath.value);

    before(async () => {
        ({ env, work, project, shims, stack } = await startSuite("ngd-scale-"));
        nixServices("up");
        nix = readNixServicesEnv();
        await stack.setConfig("kubeconfig", { value: fs.readFileSync(env.NGD_KUBECONFIG, "utf8"), secret: true });
        await stack.setConfig("deployment.rolloutTimeoutSeconds", { value: "60" }, true);
        // The stack uses the rehearsal cache: substitutes from it over HTTP, uploads to the directory
        // it serves (as a team would upload to a bucket that its HTTP endpoint serves), signed.
        await stack.setConfig("nix.substituters[0]", { value: nix.NGD_CACHE_URL }, true);
        await stack.setConfig("nix.trustedPublicKeys[0]", { value: publicKey() }, true);
        await stack.setConfig("nix.uploadTo", { value: nix.NGD_CACHE_UPLOAD }, true);
        await stack.setConfig("nixSigningKey", { value: fs.readFileSync(nix.NGD_CACHE_SECRET_KEY_FILE, "utf8").trim(), secret: true });
    });

    after(async () => {
        try {
            if (images !== undefined) {
                await images.destroy({ color: "never" });
            }
            await stack.destroy({ color: "never" });
        } finally {
            tearDownNixServices();
            tearDownSuite(work, project);
        }
    });

    it("cache: the first up builds and uploads the closure, signed; a runner whose store lacks it fetches it and builds nothing", async () => {
        await setGreeting(stack, "scale-out: cache");
        const m0 = shims.nixMark();
        const first = await stack.up({ color: "never" });
        const built = shims.nixSince(m0);
        assert.ok(built.builtHere.length > 0, "the first up builds here");
        const upload = /uploaded the closure of (\/nix\/store\/\S+) \((\d+) paths, signed\) to (\S+)/.exec(first.stdout);
        assert.ok(upload, first.stdout.slice(-3000));
        const image = await storePathOf(stack);
        assert.strictEqual(upload[1], image);
        assert.strictEqual(upload[3], nix.NGD_CACHE_UPLOAD);
        const narinfo = fs.readFileSync(path.join(nix.NGD_CACHE_DIR, `${path.basename(image).slice(0, 32)}.narinfo`), "utf8");
        assert.match(narinfo, /^Sig: ngd-rehearsal-cache-1:/m, "the cache holds the image, signed");

        // A fresh runner: a second stack (publish only: the image stack of the promotion step) on a
        // store that no longer holds the image's closure.
        cli("stack", "init", "images", "--copy-config-from", "local", "--non-interactive");
        for (const k of ["gpu", "cluster", "deployment", "kubeconfig"]) {
            cli("config", "rm", k, "--stack", "images");
        }
        cli("config", "set", "--path", "image.publishOnly", "true", "--stack", "images");
        cli("stack", "select", "local");
        // A fresh runner also has a fresh ~/.cache/nix: none of the "not in the cache" answers Nix
        // cached on this machine while the first up built the image.
        images = await LocalWorkspace.selectStack({ stackName: "images", workDir: project }, {
            envVars: { ...pulumiEnv(path.join(work, "state"), env), XDG_CACHE_HOME: path.join(work, "runner-cache") },
        });
        const deleted = deleteClosure(image);
        const m1 = shims.nixMark();
        const b1 = shims.count();
        const r = await images.up({ color: "never" });
        const second = shims.nixSince(m1);
        const fetched = second.fetched.filter((f) => f.from === nix.NGD_CACHE_URL);
        console.log(`      [cache] first up: built ${built.builtHere.length} derivations, uploaded ${upload[2]} paths (signed) to ${upload[3]}`);
        console.log(`      [cache] runner without them (${deleted.length} paths deleted): nix-build ran ${shims.count() - b1}×, substituted ${fetched.length} paths, built ${second.builtHere.length + second.builtRemotely.length} derivations (${second.builtHere.map((d) => path.basename(d).slice(33)).join(", ")})`);
        // issue #21: the cache holds the image's closure, its compressed layers. What reads the packages
        // or only links layers is built here (preferLocalBuild, allowSubstitutes = false: the layer plan
        // where it is gone, the image directory); no layer is packed again: every one is fetched, signed.
        const builtHere = [...second.builtHere, ...second.builtRemotely.map((b) => b.drv)];
        assert.ok(builtHere.every((d) => /-(layer-plan|image)\.drv$/.test(d)) && builtHere.length <= 2, `only the plan and the image directory built:\n${builtHere.join("\n")}\n${r.stdout.slice(-2000)}`);
        assert.strictEqual(await storePathOf(images), image, "the same image");
        const layers = deleted.filter((p) => p !== image);
        assert.ok(layers.length > 0 && layers.every((p) => fetched.some((f) => f.path === p)), "every layer came from the cache");
        const sigs = storeSignatures(image).filter((p) => layers.includes(p.path));
        assert.ok(sigs.length === layers.length && sigs.every((p) => !p.ultimate && p.signatures.some((x) => x.startsWith("ngd-rehearsal-cache-1:"))), "every re-fetched layer carries the cache's signature, none was packed here");
    });

    it("remote builder: with builders set and maxJobs 0 the build runs on the builder, in its own store", async () => {
        await stack.setConfig("nix.builders", { value: nix.NGD_BUILDER_LINE }, true);
        await stack.setConfig("nix.maxJobs", { value: "0" }, true);
        await stack.setConfig("nixBuilderSshKey", { value: fs.readFileSync(nix.NGD_BUILDER_KEY_FILE, "utf8"), secret: true });
        await setGreeting(stack, "scale-out: remote builder");
        const sessions0 = fs.existsSync(nix.NGD_BUILDER_SESSIONS) ? fs.readFileSync(nix.NGD_BUILDER_SESSIONS, "utf8").split("\n").length : 0;
        const m0 = shims.nixMark();
        await stack.up({ color: "never" });
        const a = shims.nixSince(m0);
        const image = await storePathOf(stack);
        const onBuilder = fs.existsSync(path.join(nix.NGD_BUILDER_STORE, image));
        const sessions = fs.readFileSync(nix.NGD_BUILDER_SESSIONS, "utf8").split("\n").length - sessions0;
        const where = [...new Set(a.builtRemotely.map((b) => b.on))];
        console.log(`      [builder] built ${a.builtRemotely.length} derivations on ${where.join(", ")} and ${a.builtHere.length} here; the builder's own store (${nix.NGD_BUILDER_STORE}) holds ${path.basename(image)}: ${onBuilder}; ${sessions} ssh sessions in its log`);
        assert.strictEqual(a.builtHere.length, 0);
        assert.ok(a.builtRemotely.length > 0);
        assert.deepStrictEqual(where, [nix.NGD_BUILDER_LINE.split(" ")[0]]);
        assert.ok(onBuilder, "the image was built in the builder's store");
        assert.ok(sessions > 0);
        for (const k of ["nix.builders", "nix.maxJobs"]) {
            await stack.removeConfig(k, true);
        }
        await stack.removeConfig("nixBuilderSshKey");
    });

    it("promotion: the cluster stack takes the image stack's digest; its preview already shows it; the Deployment runs those bytes", async () => {
        assert.ok(images !== undefined);
        const ref = String((await images.outputs()).imageRef.value);
        assert.match(ref, /@sha256:[a-f0-9]{64}$/);
        await stack.removeConfig("image");
        await stack.removeConfig("nix");
        await stack.removeConfig("nixSigningKey");
        await stack.setConfig("image.fromStack", { value: "organization/nix-gpu-deploy/images" }, true);
        await stack.setConfig("nix.cudaCapabilities[0]", { value: "9.0" }, true);
        await stack.setConfig("nix.cudaCapabilities[1]", { value: "8.0" }, true);
        const before = (await deployment())?.spec.template.spec.containers[0].image as string;
        assert.notStrictEqual(before, ref);
        const preview = await stack.preview({ diff: true, color: "never" });
        const digest = ref.slice(ref.indexOf("@") + 1);
        console.log(`      [promotion] image stack exports ${ref}; the cluster stack's preview shows ${digest}: ${preview.stdout.includes(ref)}`);
        assert.ok(preview.stdout.includes(ref), preview.stdout.slice(-3000));
        const m0 = shims.nixMark();
        const b0 = shims.count();
        await stack.up({ color: "never" });
        const dep = await deployment();
        assert.strictEqual(dep?.spec.template.spec.containers[0].image, ref, "the cluster runs the image stack's digest");
        assert.strictEqual(shims.count() - b0, 0, "the cluster stack builds nothing");
        assert.deepStrictEqual(shims.nixSince(m0).builtHere, []);
        const p2 = await stack.preview({ color: "never" });
        assert.ok(Object.entries(p2.changeSummary).every(([op, n]) => op === "same" || n === 0), JSON.stringify(p2.changeSummary));
    });
});
