import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MAX_PROBLEMS_PER_ITEM, MAX_PROBLEMS_SHOWN, ParseOptions, ParseResult, RawStackConfig, formatProblems, parseStackConfig, quantityValue } from "../../components/config";
import { nixConfigText, nixSettingFlags } from "../../components/exec";
import { builderSystems, systemProblem } from "../../components/nix/evaluation";
import { nodeFs } from "../../components/config/stack";
import { ROOT, runProgram, stackConfig, validConfig } from "./harness";

const opts = { projectRoot: ROOT, ...nodeFs };

/** A valid config, as objects. */
const base = validConfig;

function raw(values: Record<string, unknown>, secrets: RawStackConfig["secretsPresent"] = { registryPassword: true }): RawStackConfig {
    return { values, secretsPresent: secrets };
}

function errorsOf(r: ParseResult): string[] {
    return r.ok ? [] : r.errors.map((e) => `${e.propertyPath}: ${e.reason}`);
}

type Mutate = (c: Record<string, Record<string, unknown>>) => void;
const bad: Array<[string, Mutate, string, RawStackConfig["secretsPresent"]?]> = [
    ["missing registry", (c) => { delete c.registry.host; }, "registry.host"],
    ["negative GPU count", (c) => { c.gpu.count = -1; }, "gpu.count"],
    ["fractional GPU count", (c) => { c.gpu.count = 1.5; }, "gpu.count"],
    ["too many GPUs", (c) => { c.gpu.count = 17; }, "gpu.count"],
    ["GPU count as words", (c) => { c.gpu.count = "two"; }, "gpu.count"],
    ["unknown GPU product format", (c) => { c.gpu.product = "H100 80GB"; }, "gpu.product"],
    ["MIG and whole GPU both requested", (c) => { c.gpu.migProfile = "1g.10gb"; c.gpu.count = 1; }, "gpu.migProfile"],
    ["bad MIG profile", (c) => { delete c.gpu.count; c.gpu.migProfile = "10g.5gb"; }, "gpu.migProfile"],
    ["bad image name", (c) => { c.image.name = "ML/My Project"; }, "image.name"],
    ["bad image tag", (c) => { c.image.tag = "$(touch /tmp/pwned)"; }, "image.tag"],
    ["unknown publisher", (c) => { c.registry.publisher = "kaniko"; }, "registry.publisher"],
    ["missing kube credentials", (c) => { delete c.cluster.context; }, "kubeconfig"],
    ["insecure remote registry", (c) => { c.registry.host = "registry.example.com"; }, "registry.insecure"],
    ["username without password", () => undefined, "registryPassword", {}],
    ["entry outside the project", (c) => { c.nix.entry = "../etc/evil.nix"; }, "nix.entry"],
    ["entry that does not exist", (c) => { c.nix.entry = "nix/nothing.nix"; }, "nix.entry"],
    ["overlay without a file", (c) => { c.nix.overlays = [{ name: "turboTorch" }]; }, "nix.overlays[0].name"],
    ["overlay name not lowerCamelCase", (c) => { c.nix.overlays = [{ name: "replace-torch" }]; }, "nix.overlays[0].name"],
    ["bad CUDA capability", (c) => { c.nix.cudaCapabilities = ["sm_90"]; }, "nix.cudaCapabilities[0]"],
    ["maxLayers above the hard cap", (c) => { c.image.maxLayers = 126; }, "image.maxLayers"],
    ["namespace not a DNS label", (c) => { c.cluster.namespace = "ML_Prod"; }, "cluster.namespace"],
    ["shm as large as memory", (c) => { c.deployment.shmSize = "1Gi"; }, "deployment.shmSize"],
    ["unknown rollout strategy", (c) => { c.deployment.strategy = "BlueGreen"; }, "deployment.strategy"],
    ["typo in a key", (c) => { c.gpu.cuont = 1; }, "gpu.cuont"],
    ["replicas negative", (c) => { c.deployment.replicas = -2; }, "deployment.replicas"],
    ["absurdly long deployment name", (c) => { c.deployment.name = "a".repeat(300); }, "deployment.name"],
    ["GPU count as a boolean", (c) => { c.gpu.count = true; }, "gpu.count"],
    ["MIG count without a profile", (c) => { c.gpu.migCount = 2; }, "gpu.migCount"],
    ["MIG count zero", (c) => { delete c.gpu.count; c.gpu.migProfile = "1g.10gb"; c.gpu.migCount = 0; }, "gpu.migCount"],
    ["GPUs without a product", (c) => { delete c.gpu.product; }, "gpu.product"],
    ["negative GPU memory bound", (c) => { c.gpu.minMemoryMiB = -5; }, "gpu.minMemoryMiB"],
    ["taint key with spaces", (c) => { c.gpu.taintKey = "nvidia gpu"; }, "gpu.taintKey"],
    ["runtime class with shell syntax", (c) => { c.gpu.runtimeClassName = "nvidia;rm -rf /"; }, "gpu.runtimeClassName"],
    ["registry with a scheme", (c) => { c.registry.host = "https://127.0.0.1:5001"; }, "registry.host"],
    ["registry port out of range", (c) => { c.registry.host = "127.0.0.1:70000"; }, "registry.host"],
    ["registry host with a path traversal", (c) => { c.registry.host = "127.0.0.1/../x"; }, "registry.host"],
    ["user name with shell syntax", (c) => { c.registry.username = "ngd$(id)"; }, "registry.username"],
    ["docker host on a non-loopback address", (c) => { c.registry.publisher = "docker"; c.registry.dockerHost = "tcp://10.0.0.1:2375"; }, "registry.dockerHost"],
    ["docker host with the skopeo publisher", (c) => { c.registry.dockerHost = "unix:///run/docker.sock"; }, "registry.dockerHost"],
    ["image name with a tag", (c) => { c.image.name = "ml/app:latest"; }, "image.name"],
    ["image name with a digest", (c) => { c.image.name = "ml/app@sha256:abc"; }, "image.name"],
    ["image tag too long", (c) => { c.image.tag = "t".repeat(129); }, "image.tag"],
    ["image tag with a newline", (c) => { c.image.tag = "v1\nrm"; }, "image.tag"],
    ["maxLayers below 2", (c) => { c.image.maxLayers = 1; }, "image.maxLayers"],
    ["unknown layer strategy", (c) => { c.image.layerStrategy = "random"; }, "image.layerStrategy"],
    ["layer byte limit as text", (c) => { c.image.maxLayerBytes = "10GB"; }, "image.maxLayerBytes"],
    ["cluster name with uppercase", (c) => { c.cluster.name = "H100"; }, "cluster.name"],
    ["render directory outside the project", (c) => { c.cluster.renderYamlTo = "../../etc"; }, "cluster.renderYamlTo"],
    ["context with shell syntax", (c) => { c.cluster.context = "ctx`id`"; }, "cluster.context"],
    ["cpu quantity with a unit typo", (c) => { c.deployment.cpu = "4 cores"; }, "deployment.cpu"],
    ["memory of zero", (c) => { c.deployment.memory = "0"; }, "deployment.memory"],
    ["rollout timeout below the minimum", (c) => { c.deployment.rolloutTimeoutSeconds = 5; }, "deployment.rolloutTimeoutSeconds"],
    ["entry with an absolute path", (c) => { c.nix.entry = "/etc/passwd"; }, "nix.entry"],
    ["entry that is not a .nix file", (c) => { c.nix.entry = "package.json"; }, "nix.entry"],
    ["entry with shell syntax", (c) => { c.nix.entry = "nix/$(touch /tmp/pwned).nix"; }, "nix.entry"],
    ["python package with a space", (c) => { c.nix.pythonPackages = ["numpy torch"]; }, "nix.pythonPackages[0]"],
    ["substituter that is not a URL", (c) => { c.nix.substituters = ["cache.nixos.org"]; }, "nix.substituters[0]"],
    ["substituter with shell syntax", (c) => { c.nix.substituters = ["https://x/$(touch /tmp/pwned) y"]; }, "nix.substituters[0]"],
    ["trusted public key without a name", (c) => { c.nix.trustedPublicKeys = ["6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]; }, "nix.trustedPublicKeys[0]"],
    ["builders with a newline", (c) => { c.nix.builders = "ssh://a x86_64-linux\nssh://b"; }, "nix.builders"],
    ["negative max jobs", (c) => { c.nix.maxJobs = -1; }, "nix.maxJobs"],
    ["nix section not an object", (c) => { (c as Record<string, unknown>).nix = "nix/build_container.nix"; }, "nix"],
];

/** Bad overlay / Nix argument values: each must be rejected before anything reaches Nix. */
const badOverlays: Array<[string, unknown, string]> = [
    ["overlay list not a list", { name: "greeting" }, "nix.overlays"],
    ["overlay without a name", [{ args: {} }], "nix.overlays[0].name"],
    ["overlay listed twice", [{ name: "greeting" }, { name: "greeting" }], "nix.overlays[1].name"],
    ["overlay name with path traversal", [{ name: "../../evil" }], "nix.overlays[0].name"],
    ["overlay args not an object", [{ name: "greeting", args: "text=hi" }], "nix.overlays[0].args"],
    ["overlay argument name with a dash", [{ name: "greeting", args: { "with-x264": true } }], "nix.overlays[0].args.with-x264"],
    ["overlay argument as an object", [{ name: "greeting", args: { text: { nested: 1 } } }], "nix.overlays[0].args.text"],
    ["overlay argument list with shell syntax", [{ name: "ffmpeg", args: { features: ["withX264; rm -rf /"] } }], "nix.overlays[0].args.features[0]"],
    ["overlay argument with a control character", [{ name: "greeting", args: { text: "a\u0000b" } }], "nix.overlays[0].args.text"],
    ["overlay argument absurdly long", [{ name: "greeting", args: { text: "x".repeat(10000) } }], "nix.overlays[0].args.text"],
    ["too many overlays", Array.from({ length: 17 }, () => ({ name: "greeting" })), "nix.overlays"],
    ["overlay unknown to the entry", [{ name: "ffmpeg" }], "nix.overlays[0].name"],
];
/** Holes an independent corpus of bad configs found (issue #11); each must name its property. */
const corpus: Array<[string, Mutate, string]> = [
    ["GPU product empty with GPUs requested", (c) => { c.gpu.product = ""; }, "gpu.product"],
    ["GPU product null with GPUs requested", (c) => { c.gpu.product = null; }, "gpu.product"],
    ["GPU product empty with a MIG device requested", (c) => { delete c.gpu.count; c.gpu.migProfile = "1g.10gb"; c.gpu.product = ""; }, "gpu.product"],
    ["overlay argument the overlay does not declare", (c) => { c.nix.overlays = [{ name: "greeting", args: { txet: "hi" } }]; }, "nix.overlays[0].args.txet"],
    ["overlay argument of the wrong type", (c) => { c.nix.overlays = [{ name: "weights", args: { size: "big" } }]; }, "nix.overlays[0].args.size"],
    ["overlay integer argument out of range", (c) => { c.nix.overlays = [{ name: "slow", args: { seconds: 99999 } }]; }, "nix.overlays[0].args.seconds"],
    ["ffmpeg switch nixpkgs' ffmpeg does not have", (c) => { c.nix.entry = "nix/build_container.nix"; c.nix.overlays = [{ name: "ffmpeg", args: { features: ["withX265", "withTurbo"] } }]; }, "nix.overlays[0].args.features[1]"],
    ["ffmpeg cuda switch as text", (c) => { c.nix.entry = "nix/build_container.nix"; c.nix.overlays = [{ name: "ffmpeg", args: { cuda: "yes" } }]; }, "nix.overlays[0].args.cuda"],
    ["default overlay missing next to a non-default entry", (c) => { delete c.nix.overlays; }, "nix.overlays"],
    ["overlays null with a non-default entry", (c) => { c.nix.overlays = null; }, "nix.overlays"],
    ["overlay argument named constructor", (c) => { c.nix.overlays = [{ name: "greeting", args: { constructor: "x" } }]; }, "nix.overlays[0].args.constructor"],
    ["overlay argument named toString", (c) => { c.nix.overlays = [{ name: "greeting", args: { toString: "x" } }]; }, "nix.overlays[0].args.toString"],
    ["overlay argument named hasOwnProperty", (c) => { c.nix.overlays = [{ name: "greeting", args: { hasOwnProperty: true } }]; }, "nix.overlays[0].args.hasOwnProperty"],
    ["section key named constructor", (c) => { c.gpu = JSON.parse(`{"constructor": 1, "product": "NVIDIA-H100-80GB-HBM3"}`); }, "gpu.constructor"],
    ["section key named __proto__", (c) => { c.gpu = JSON.parse(`{"__proto__": {"count": 99}, "product": "NVIDIA-H100-80GB-HBM3"}`); }, "gpu.__proto__"],
    ["namespace with a Cyrillic look-alike", (c) => { c.cluster.namespace = "ml-\u0430100"; }, "cluster.namespace"],
    ["layer strategy of a megabyte", (c) => { c.image.layerStrategy = "s".repeat(1 << 20); }, "image.layerStrategy"],
    ["render directory is the project itself", (c) => { c.cluster.renderYamlTo = "."; }, "cluster.renderYamlTo"],
    ["render directory is the git directory", (c) => { c.cluster.renderYamlTo = ".git"; }, "cluster.renderYamlTo"],
    ["render directory inside the git directory", (c) => { c.cluster.renderYamlTo = ".git/hooks"; }, "cluster.renderYamlTo"],
    ["render directory is a source directory", (c) => { c.cluster.renderYamlTo = "components"; }, "cluster.renderYamlTo"],
    ["cpu as a negative number", (c) => { c.deployment.cpu = -2; }, "deployment.cpu"],
    ["MIG count null but profile empty string", (c) => { c.gpu.migProfile = ""; c.gpu.migCount = 2; }, "gpu.migCount"],
];

for (const [label, overlays, property] of badOverlays) {
    // ffmpeg is an overlay of the CUDA entry, not of the fixture.
    const entry = JSON.stringify(overlays).includes("\"ffmpeg\"") && label !== "overlay unknown to the entry" ? "nix/build_container.nix" : undefined;
    bad.push([label, (c) => { c.nix.overlays = overlays; if (entry !== undefined) { c.nix.entry = entry; } }, property]);
}
bad.push(...corpus);

describe("parseStackConfig", () => {
    it("accepts a valid config and fills defaults", () => {
        const r = parseStackConfig(raw(base()), opts);
        assert.deepStrictEqual(errorsOf(r), []);
        assert.ok(r.ok);
        assert.strictEqual(r.config.image.maxLayers, 100);
        assert.strictEqual(r.config.gpu?.taintKey, "nvidia.com/gpu");
        assert.strictEqual(r.config.deployment?.replicas, 1);
        assert.strictEqual(r.config.deployment?.strategy, "RollingUpdate");
    });

    it("leaves cudaCapabilities to nixpkgs unless narrowed (issue #8, defect 9); the shipped GPU stacks do not narrow it", () => {
        for (const v of [undefined, [], null]) {
            const c = base();
            c.nix.cudaCapabilities = v;
            const r = parseStackConfig(raw(c), opts);
            assert.ok(r.ok, errorsOf(r).join("\n"));
            assert.deepStrictEqual(r.config.nix.cudaCapabilities, []);
        }
        for (const stack of ["a100", "h100"]) {
            const text = fs.readFileSync(path.join(__dirname, "../..", `Pulumi.${stack}.yaml`), "utf8");
            assert.ok(!/cudaCapabilities/.test(text), `Pulumi.${stack}.yaml narrows cudaCapabilities: that forces uncached source builds`);
        }
    });

    it("passes no Nix setting unless the stack sets it; substituters [] (no cache) is a value, null is unset", () => {
        const unset = parseStackConfig(raw(base()), opts);
        assert.ok(unset.ok);
        assert.deepStrictEqual(unset.config.nix.settings, {});
        const c = base();
        Object.assign(c.nix, { substituters: [], trustedPublicKeys: null, builders: "ssh://b x86_64-linux - 4; ssh://c aarch64-linux", maxJobs: 0 });
        const r = parseStackConfig(raw(c), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.deepStrictEqual(r.config.nix.settings, { substituters: [], builders: "ssh://b x86_64-linux - 4; ssh://c aarch64-linux", maxJobs: 0 });
    });

    it("keeps a legitimate zero (CPU-only pod, scaled to zero)", () => {
        const c = base();
        c.gpu = { count: 0 };
        c.deployment.replicas = 0;
        const r = parseStackConfig(raw(c), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.strictEqual(r.config.gpu?.count, 0);
        assert.strictEqual(r.config.deployment?.replicas, 0);
    });

    it("accepts engine-style JSON text per key", () => {
        const c = base();
        const text = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, JSON.stringify(v)]));
        assert.ok(parseStackConfig(raw(text), opts).ok);
    });

    for (const [label, mutate, property, secrets] of bad) {
        it(`rejects ${label}, naming ${property}`, () => {
            const c = base();
            mutate(c);
            const errs = errorsOf(parseStackConfig(raw(c, secrets ?? { registryPassword: true }), opts));
            assert.ok(errs.some((e) => e.startsWith(`nix-gpu-deploy:${property}:`)), `expected ${property} in:\n${errs.join("\n")}`);
        });
    }

    it(`has a table of ${bad.length} distinct bad configs (${badOverlays.length} of them bad overlay arguments, ${corpus.length} from the corpus)`, () => {
        assert.ok(bad.length - badOverlays.length - corpus.length >= 40);
        assert.ok(corpus.length >= 20);
        assert.ok(badOverlays.length >= 10);
        assert.strictEqual(new Set(bad.map((b) => b[0])).size, bad.length);
    });

    it("reports every problem at once", () => {
        const c = base();
        c.gpu.count = -1;
        c.image.name = "BAD NAME";
        c.registry.publisher = "kaniko";
        c.cluster.namespace = "_";
        const errs = errorsOf(parseStackConfig(raw(c), opts));
        assert.ok(errs.length >= 4, errs.join("\n"));
    });

    it("flags unknown top-level keys of the project", () => {
        const r = parseStackConfig({ ...raw(base()), keysSet: ["nix-gpu-deploy:gpus", "kubernetes:context"] }, opts);
        assert.deepStrictEqual(errorsOf(r).filter((e) => e.includes("gpus")).length, 1);
        assert.strictEqual(errorsOf(r).length, 1);
    });

    it("accepts every shipped stack file", () => {
        for (const stack of ["local", "a100", "h100"]) {
            const cfg = stackConfig(stack);
            const values = Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k.replace(/^nix-gpu-deploy:/, ""), v]));
            const r = parseStackConfig({ values, secretsPresent: { registryPassword: true, kubeconfig: stack === "local" } }, opts);
            assert.deepStrictEqual(errorsOf(r), [], stack);
        }
    });
});

describe("bad config stops the program before any resource exists", function () {
    this.timeout(60000);
    for (const [label, mutate, property, secrets] of bad) {
        it(`${label}: no resource, error names ${property}`, async () => {
            const c = base();
            mutate(c);
            const config = Object.fromEntries(Object.entries(c).map(([k, v]) => [`nix-gpu-deploy:${k}`, JSON.stringify(v)]));
            const secretKeys: string[] = [];
            if ((secrets ?? { registryPassword: true }).registryPassword) {
                config["nix-gpu-deploy:registryPassword"] = "pw";
                secretKeys.push("nix-gpu-deploy:registryPassword");
            }
            const run = await runProgram({ stack: "bad", config, secretKeys, realNix: false });
            assert.ok(run.error, "program must fail");
            assert.ok(run.error.message.includes(`nix-gpu-deploy:${property}`), run.error.message);
            assert.deepStrictEqual(run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
            assert.deepStrictEqual(run.invokes, []);
        });
    }
});

/** parseStackConfig on a valid base with one change; the problems as "path: reason" lines. */
function problems(mutate: Mutate, extra: Partial<RawStackConfig> = {}, o: ParseOptions = opts): string[] {
    const c = base();
    mutate(c);
    return errorsOf(parseStackConfig({ ...raw(c), ...extra }, o));
}

describe("issue #11: bad input reads like a tool, and nothing slips through", function () {
    this.timeout(60000);

    it("1. one block: header with the count, then one line per problem with its property path", () => {
        const text = formatProblems([{ propertyPath: "nix-gpu-deploy:gpu.count", reason: "must be within 0..16, got 17" }]);
        assert.strictEqual(text, "nix-gpu-deploy: invalid stack configuration (1 problem)\n  - nix-gpu-deploy:gpu.count: must be within 0..16, got 17");
        const many = Array.from({ length: 120 }, (_, i) => ({ propertyPath: `nix-gpu-deploy:k${i}`, reason: "bad" }));
        const lines = formatProblems(many).split("\n");
        assert.strictEqual(lines[0], "nix-gpu-deploy: invalid stack configuration (120 problems)");
        assert.strictEqual(lines.length, 1 + MAX_PROBLEMS_SHOWN + 1);
        assert.strictEqual(lines[lines.length - 1], `  … and ${120 - MAX_PROBLEMS_SHOWN} more problems`);
    });

    it("2. null and \"\" mean the same for every optional key", () => {
        const optional: Array<[string, string]> = [
            ["nix", "entry"], ["nix", "pythonPackages"], ["nix", "cudaCapabilities"],
            ["image", "tag"], ["image", "maxLayers"], ["image", "layerStrategy"], ["image", "maxLayerBytes"],
            ["registry", "username"], ["registry", "insecure"], ["registry", "publisher"], ["registry", "dockerHost"],
            ["gpu", "product"], ["gpu", "count"], ["gpu", "migProfile"], ["gpu", "migCount"], ["gpu", "minMemoryMiB"], ["gpu", "taintKey"], ["gpu", "runtimeClassName"],
            ["cluster", "context"], ["cluster", "renderYamlTo"],
            ["deployment", "replicas"], ["deployment", "cpu"], ["deployment", "memory"], ["deployment", "shmSize"], ["deployment", "strategy"], ["deployment", "rolloutTimeoutSeconds"],
        ];
        for (const [section, key] of optional) {
            const withValue = (v: unknown) => { const c = base(); c[section][key] = v; return parseStackConfig(raw(c), opts); };
            assert.deepStrictEqual(withValue(null), withValue(""), `${section}.${key}`);
        }
        // and a required-when rule holds for both
        for (const empty of [null, ""]) {
            assert.deepStrictEqual(problems((c) => { c.gpu.product = empty; }).filter((e) => e.includes("gpu.product")).length, 1);
        }
        assert.deepStrictEqual(problems((c) => { c.gpu = { count: 0, product: "" }; }), [], "no GPU, no product needed");
    });

    it("3. overlay arguments are checked against the overlay's declaration, naming the argument", () => {
        assert.deepStrictEqual(problems((c) => { c.nix.overlays = [{ name: "greeting", args: { text: "hi", txet: "x" } }]; }),
            ["nix-gpu-deploy:nix.overlays[0].args.txet: unknown argument of overlay greeting (known: text)"]);
        assert.deepStrictEqual(problems((c) => { c.nix.entry = "nix/build_container.nix"; c.nix.overlays = [{ name: "ffmpeg", args: { features: ["withX264", "withTurbo"], cuda: false } }]; }),
            ["nix-gpu-deploy:nix.overlays[0].args.features[1]: \"withTurbo\" is not one of the allowed values (withHeadlessDeps, withSmallDeps, withFullDeps, withAlsa, withAmf, withAom, withAribb24, withAribcaption, … and 153 more)"]);
        const r = parseStackConfig(raw({ ...base(), nix: { entry: "nix/build_container.nix", overlays: [{ name: "ffmpeg", args: { features: ["withX264"], cuda: false } }] } }), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.deepStrictEqual(r.config.nix.overlays, [{ name: "ffmpeg", args: { features: ["withX264"], cuda: false } }]);
        assert.deepStrictEqual(problems((c) => { c.nix.entry = "nix/build_container.nix"; c.nix.overlays = [{ name: "replaceTorch", args: { doReplace: true } }]; }),
            ["nix-gpu-deploy:nix.overlays[0].args.doReplace: unknown argument of overlay replaceTorch (it takes none)"]);
    });

    it("3. an overlay without an argument declaration, or with a broken one, is refused naming the file", () => {
        const files: Record<string, string> = {
            "p/e/default.nix": "{}", "p/e/overlay/plain.nix": "{ }: final: prev: { }", "p/e/overlay/broken-decl.nix": "{ }: final: prev: { }",
            "p/e/overlay/broken-decl.args.json": "{ \"args\": [] }",
        };
        const fakeOpts = fakeFs(files, {});
        const run = (name: string) => errorsOf(parseStackConfig(raw({ ...base(), nix: { entry: "e/default.nix", overlays: [{ name }] } }), fakeOpts));
        assert.deepStrictEqual(run("plain"), ["nix-gpu-deploy:nix.overlays[0].name: overlay plain declares no arguments: e/overlay/plain.args.json is missing (every overlay declares its arguments there)"]);
        assert.deepStrictEqual(run("brokenDecl"), ["nix-gpu-deploy:nix.overlays[0].name: overlay brokenDecl its argument declaration e/overlay/broken-decl.args.json is invalid: \"args\" must be an object"]);
    });

    it("4. the default overlays go through the same checks as given ones", () => {
        for (const overlays of [undefined, null, ""]) {
            assert.deepStrictEqual(problems((c) => { c.nix.overlays = overlays; if (overlays === undefined) { delete c.nix.overlays; } }),
                ["nix-gpu-deploy:nix.overlays: the default overlay replaceTorch (nix.overlays is not set): no overlay file test/fixture/overlay/replace-torch.nix next to the Nix entry; set nix.overlays ([] for none)"]);
        }
        const r = parseStackConfig(raw({ ...base(), nix: { entry: "nix/build_container.nix" } }), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.deepStrictEqual(r.config.nix.overlays, [{ name: "replaceTorch", args: {} }]);
    });

    it("5. inherited names are never known keys (own-property checks)", () => {
        const names = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];
        const errs = errorsOf(parseStackConfig({ ...raw(base()), keysSet: names.map((n) => `nix-gpu-deploy:${n}`) }, opts));
        assert.deepStrictEqual(errs.map((e) => e.split(":")[1]), names);
        const args = errorsOf(parseStackConfig(raw({ ...base(), nix: { ...base().nix, overlays: [{ name: "greeting", args: JSON.parse("{\"__proto__\": \"x\", \"constructor\": \"y\"}") }] } }), opts));
        assert.deepStrictEqual(args.map((e) => e.split(": ")[0]), ["nix-gpu-deploy:nix.overlays[0].args.__proto__", "nix-gpu-deploy:nix.overlays[0].args.constructor"]);
    });

    describe("6. symlinks are resolved before paths are confined", () => {
        let dir: string;
        let outside: string;
        before(() => {
            outside = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-outside-"));
            fs.writeFileSync(path.join(outside, "evil.nix"), "{ ... }: final: prev: { }");
            fs.writeFileSync(path.join(outside, "evil.args.json"), "{ \"args\": {} }");
            dir = fs.mkdtempSync(path.join(ROOT, "test", ".tmp-symlink-"));
            fs.cpSync(path.join(ROOT, "test", "fixture"), dir, { recursive: true });
            fs.symlinkSync(path.join(outside, "evil.nix"), path.join(dir, "evil-entry.nix"));
            fs.symlinkSync(path.join(outside, "evil.nix"), path.join(dir, "overlay", "evil.nix"));
            fs.symlinkSync(path.join(ROOT, "test", "fixture", "overlay", "greeting.args.json"), path.join(dir, "overlay", "evil.args.json"));
            fs.symlinkSync(outside, path.join(dir, "out-link"));
        });
        after(() => {
            fs.rmSync(dir, { recursive: true, force: true });
            fs.rmSync(outside, { recursive: true, force: true });
        });
        const rel = (p: string) => path.relative(ROOT, path.join(dir, p));

        it("an entry that is a symlink out of the project", () => {
            const errs = problems((c) => { c.nix.entry = rel("evil-entry.nix"); c.nix.overlays = []; });
            assert.deepStrictEqual(errs, [`nix-gpu-deploy:nix.entry: "${rel("evil-entry.nix")}" is a symlink (or under one) that leads outside the project`]);
        });
        it("an overlay file that is a symlink out of the project", () => {
            const errs = problems((c) => { c.nix.entry = rel("default.nix"); c.nix.overlays = [{ name: "evil" }]; });
            assert.deepStrictEqual(errs, [`nix-gpu-deploy:nix.overlays[0].name: overlay evil: ${rel("overlay/evil.nix")} is a symlink (or under one) that leads outside the project`]);
        });
        it("an entry under a symlinked directory out of the project", () => {
            const errs = problems((c) => { c.nix.entry = rel("out-link/evil.nix"); c.nix.overlays = []; });
            assert.match(errs.join("\n"), /nix\.entry: .* leads outside the project/);
        });
        it("a render directory that is a symlink out of the project", () => {
            const errs = problems((c) => { c.cluster.renderYamlTo = rel("out-link"); });
            assert.deepStrictEqual(errs, [`nix-gpu-deploy:cluster.renderYamlTo: "${rel("out-link")}" is a symlink (or under one) that leads outside the project`]);
        });
        it("a symlink that stays inside the project is fine", () => {
            fs.symlinkSync(path.join(dir, "default.nix"), path.join(dir, "inner-link.nix"));
            assert.deepStrictEqual(problems((c) => { c.nix.entry = rel("inner-link.nix"); }), []);
        });
    });

    it("7. echoed values are capped and escaped; long lists are summarised", () => {
        const mb = "x".repeat(1 << 20);
        for (const mutate of [
            (c: Config) => { c.image.layerStrategy = mb; },
            (c: Config) => { c.gpu.count = mb; },
            (c: Config) => { c.registry.insecure = mb; },
            (c: Config) => { c.gpu[mb] = 1; },
            (c: Config) => { c.cluster.namespace = mb.slice(0, 60).toUpperCase(); },
        ] as Mutate[]) {
            const errs = problems(mutate);
            assert.strictEqual(errs.length, 1, errs.join("\n").slice(0, 500));
            assert.ok(errs[0].length < 400, `${errs[0].length} characters: ${errs[0].slice(0, 300)}`);
        }
        assert.match(problems((c) => { c.image.layerStrategy = mb; })[0], /got "x{64}" … and 1048512 more characters$/);
        const list = problems((c) => { c.nix.pythonPackages = Array.from({ length: 100000 }, (_, i) => `bad name ${i}`); });
        assert.ok(list.length <= MAX_PROBLEMS_PER_ITEM + 2, `${list.length} problems`);
        assert.strictEqual(list[0], "nix-gpu-deploy:nix.pythonPackages: has 100000 entries; at most 200 allowed");
        assert.strictEqual(list[list.length - 1], `nix-gpu-deploy:nix.pythonPackages: … and ${200 - MAX_PROBLEMS_PER_ITEM} more bad entries`);
        const keys = errorsOf(parseStackConfig({ ...raw(base()), keysSet: Array.from({ length: 100000 }, (_, i) => `nix-gpu-deploy:k${i}`) }, opts));
        assert.strictEqual(keys.length, MAX_PROBLEMS_PER_ITEM + 1);
        assert.strictEqual(keys[keys.length - 1], `nix-gpu-deploy:: … and ${100000 - MAX_PROBLEMS_PER_ITEM} more bad config keys`);
        assert.deepStrictEqual(problems((c) => { c.cluster.namespace = "ml-\u0430100"; }),
            ["nix-gpu-deploy:cluster.namespace: \"ml-\\u0430100\" is not a namespace name (DNS label)"]);
        assert.deepStrictEqual(problems((c) => { c.gpu.product = "NVIDIA-H100\u200b"; }),
            ["nix-gpu-deploy:gpu.product: \"NVIDIA-H100\\u200b\" is not a GPU Feature Discovery product label (e.g. NVIDIA-H100-80GB-HBM3)"]);
        assert.deepStrictEqual(problems((c) => { c.gpu["co\u0443nt"] = 1; }), [
            "nix-gpu-deploy:gpu.[\"co\\u0443nt\"]: unknown key (known: product, count, migProfile, migCount, migStrategy, resourceName, minMemoryMiB, taintKey, runtimeClassName, placement, accelerator, nodeSelector, tolerations)"]);
    });

    it("8. 1e309 is reported as too large, not null", () => {
        const c = base();
        const text = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, JSON.stringify(v)]));
        text.gpu = "{\"product\":\"NVIDIA-H100-80GB-HBM3\",\"count\":1e309}";
        assert.deepStrictEqual(errorsOf(parseStackConfig(raw(text), opts)), ["nix-gpu-deploy:gpu.count: must be an integer within 0..16, got a number too large to represent"]);
    });

    it("8. an invalid username is reported as invalid only, not also as missing", () => {
        assert.deepStrictEqual(problems((c) => { c.registry.username = "ngd$(id)"; }),
            ["nix-gpu-deploy:registry.username: \"ngd$(id)\" is not a registry user name"]);
    });

    it("8. an empty kubeconfig secret is 'set but empty', not 'no kube credentials'", () => {
        assert.deepStrictEqual(problems((c) => { delete c.cluster.context; }, { emptySecrets: ["kubeconfig"] }),
            ["nix-gpu-deploy:kubeconfig: is set as a secret but empty (or only whitespace): set it with `pulumi config set --secret kubeconfig`, or remove it with `pulumi config rm kubeconfig`"]);
    });

    it("8. an empty registryPassword secret is 'set but empty', not 'missing'", () => {
        assert.deepStrictEqual(errorsOf(parseStackConfig({ ...raw(base(), {}), emptySecrets: ["registryPassword"] }, opts)),
            ["nix-gpu-deploy:registryPassword: is set as a secret but empty (or only whitespace): set it with `pulumi config set --secret registryPassword`, or remove it with `pulumi config rm registryPassword`"]);
    });

    it("8. a dotted key set without --path gets the --path hint", () => {
        assert.deepStrictEqual(errorsOf(parseStackConfig({ ...raw(base()), keysSet: ["nix-gpu-deploy:gpu.count", "nix-gpu-deploy:nix.overlays[0].name"] }, opts)), [
            "nix-gpu-deploy:gpu.count: unknown config key; to set a field inside the gpu object use `pulumi config set --path gpu.count …` (without --path the dot is part of the key name)",
            "nix-gpu-deploy:nix.overlays[0].name: unknown config key; to set a field inside the nix object use `pulumi config set --path nix.overlays[0].name …` (without --path the dot is part of the key name)",
        ]);
    });

    it("8. quantities: numbers where Kubernetes takes them, exponents, and a hint to quote", () => {
        const r = parseStackConfig(raw({ ...base(), deployment: { name: "fixture", cpu: 8, memory: "1e9", shmSize: "256Mi" } }), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.strictEqual(r.config.deployment?.cpu, "8");
        assert.strictEqual(r.config.deployment?.memory, "1e9");
        for (const cpu of [0.5, "1e3", "1E3", "500m", "1.5", "2k"]) {
            assert.deepStrictEqual(problems((c) => { c.deployment.cpu = cpu; }), [], String(cpu));
        }
        assert.deepStrictEqual(problems((c) => { c.deployment.cpu = "4 cores"; }),
            ["nix-gpu-deploy:deployment.cpu: \"4 cores\" is not a Kubernetes quantity (e.g. 8, \"500m\", \"16Gi\", \"1e3\")"]);
        assert.deepStrictEqual(problems((c) => { c.deployment.cpu = -2; }), ["nix-gpu-deploy:deployment.cpu: must be greater than zero, got \"-2\""]);
        assert.strictEqual(quantityValue("1e3"), 1000);
        assert.strictEqual(quantityValue("1Ei"), 1024 ** 6);
        assert.strictEqual(quantityValue("1e"), undefined);
    });

    it("9. renderYamlTo must be a dedicated subdirectory", () => {
        for (const dir of [".", "./", ".git", ".git/hooks", ".pulumi-local", "nix", "components/out", "test", "node_modules/x", "package.json"]) {
            const errs = problems((c) => { c.cluster.renderYamlTo = dir; });
            assert.ok(errs.length === 1 && errs[0].startsWith("nix-gpu-deploy:cluster.renderYamlTo:"), `${dir}: ${errs.join("\n")}`);
        }
        for (const dir of ["rendered", "out/manifests", "./rendered"]) {
            assert.deepStrictEqual(problems((c) => { c.cluster.renderYamlTo = dir; }), [], dir);
        }
    });

    it("10. a non-secret key stored as a secret is named, and none of its value is echoed", () => {
        const errs = problems((c) => { c.gpu.product = "NVIDIA BAD SECRET VALUE"; c.gpu.taintKey = "also secret!"; }, { secretValues: ["gpu"] });
        assert.strictEqual(errs[0], "nix-gpu-deploy:gpu: is stored as a secret (set with --secret), but only registryPassword, registryPullPassword, kubeconfig, nixSigningKey, nixBuilderSshKey are secrets: set gpu again without --secret");
        assert.ok(errs.length === 3, errs.join("\n"));
        assert.ok(!errs.join("\n").includes("SECRET VALUE") && !errs.join("\n").includes("also secret"), errs.join("\n"));
        assert.ok(!errs.join("\n").includes("[secret]"));
    });
});

describe("issue #11 through the program's own config loading (under mocks)", function () {
    this.timeout(60000);
    const cfg = () => ({ ...stackConfig("local"), "nix-gpu-deploy:registryPassword": "pw" });

    it("an empty secret kubeconfig says so", async () => {
        const config = { ...cfg(), "nix-gpu-deploy:kubeconfig": "" };
        const run = await runProgram({ stack: "bad", config, secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"], realNix: false });
        assert.ok(pulumi.RunError.isInstance(run.error), String(run.error));
        assert.match(run.error.message, /^ {2}- nix-gpu-deploy:kubeconfig: is set as a secret but empty/m);
        assert.ok(!run.error.message.includes("no kube credentials"));
    });

    it("a section stored as a secret is named, its value not echoed", async () => {
        const gpu = JSON.stringify({ product: "NVIDIA BAD SECRET VALUE", count: 1 });
        const run = await runProgram({ stack: "bad", config: { ...cfg(), "nix-gpu-deploy:gpu": gpu, "nix-gpu-deploy:kubeconfig": "k" },
            secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig", "nix-gpu-deploy:gpu"], realNix: false });
        assert.ok(run.error);
        assert.match(run.error.message, /nix-gpu-deploy:gpu: is stored as a secret \(set with --secret\)/);
        assert.ok(!run.error.message.includes("BAD SECRET"), run.error.message);
    });

    it("a dotted key set without --path", async () => {
        const run = await runProgram({ stack: "bad", config: { ...cfg(), "nix-gpu-deploy:kubeconfig": "k", "nix-gpu-deploy:gpu.count": "2" },
            secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"], realNix: false });
        assert.ok(run.error);
        assert.match(run.error.message, /nix-gpu-deploy:gpu\.count: unknown config key; to set a field inside the gpu object use `pulumi config set --path gpu\.count …`/);
    });
});

type Config = Record<string, Record<string, unknown>>;

/** A fake project file system for parseStackConfig: files by path under /fake, symlinks as path → target. */
function fakeFs(files: Record<string, string>, links: Record<string, string>): ParseOptions {
    const root = "/fake";
    const resolve = (p: string): string => {
        let cur = p;
        for (let i = 0; i < 10; i++) {
            const hit = Object.keys(links).find((l) => cur === `${root}/${l}` || cur.startsWith(`${root}/${l}/`));
            if (hit === undefined) {
                return cur;
            }
            cur = links[hit] + cur.slice(`${root}/${hit}`.length);
        }
        return cur;
    };
    const exists = (p: string) => {
        const r = resolve(p);
        return r === root || Object.keys(files).some((f) => `${root}/${f.replace(/^p\//, "")}` === r || `${root}/${f.replace(/^p\//, "")}`.startsWith(`${r}/`));
    };
    return {
        projectRoot: root,
        fileExists: exists,
        realPath: (p) => { if (!exists(p)) { throw new Error("ENOENT"); } return resolve(p); },
        readFile: (p) => {
            const key = Object.keys(files).find((f) => `${root}/${f.replace(/^p\//, "")}` === resolve(p));
            if (key === undefined) {
                throw new Error("ENOENT");
            }
            return files[key];
        },
    };
}

describe("issue #20: nothing a user types can leak or mislead", () => {
    const check = (mutate: (c: Config) => void, extra: Partial<RawStackConfig> = {}, stack = "canary") => {
        const c = validConfig();
        mutate(c);
        const r = parseStackConfig({ values: c, secretsPresent: { registryPassword: true, kubeconfig: true }, ...extra }, { ...opts, stack });
        return errorsOf(r);
    };
    const token = "s3cr3tT0kenValue";
    const only = (errors: string[], property: string): string => {
        assert.strictEqual(errors.length, 1, errors.join("\n"));
        assert.ok(errors[0].startsWith(`nix-gpu-deploy:${property}: `), errors[0]);
        return errors[0];
    };
    it("credentials in a cache URL (user:password@, a bare token, a token parameter) are refused, naming the property, never echoed", () => {
        for (const [url, property] of [
            [`https://ngd:${token}@cache.example.com`, "nix.substituters[0]"],
            [`https://${token}@cache.example.com`, "nix.substituters[0]"],
            [`https://cache.example.com/?token=${token}`, "nix.substituters[0]"],
            [`s3://bucket?region=eu-west-1&aws_secret_access_key=${token}`, "nix.substituters[0]"],
        ] as const) {
            const e = only(check((c) => { c.nix.substituters = [url]; }), property);
            assert.match(e, /carries (credentials|a credential)/);
            assert.match(e, /netrc/, "says how to pass them instead");
            assert.ok(!e.includes(token), e);
        }
        // how nix.conf writes it (a string), an upper-case scheme, a password with a slash, a URL inside a parameter
        for (const [v, property] of [
            [`https://ngd:${token}@cache.example.com`, "nix.substituters"],
            [[`HTTPS://ngd:${token}@cache.example.com`], "nix.substituters[0]"],
            [[`https://ngd:pa/${token}@cache.example.com`], "nix.substituters[0]"],
            [[`https://ngd:p@${token}@cache.example.com`], "nix.substituters[0]"],
            [[`s3://bucket?endpoint=https://minio:${token}@minio.example.com`], "nix.substituters[0]"],
        ] as const) {
            const e = only(check((c) => { c.nix.substituters = v; }), property);
            assert.ok(!e.includes(token) && !e.includes(token.slice(4)), e);
        }
        const two = check((c) => { c.nix.substituters = [`https://a:${token}@c1`, `https://b:${token}@c2`, "not a url"]; });
        assert.deepStrictEqual(two.map((e) => e.split(":").slice(0, 2).join(":")), ["nix-gpu-deploy:nix.substituters[0]", "nix-gpu-deploy:nix.substituters[1]", "nix-gpu-deploy:nix.substituters[2]"], "one problem each, no knock-on");
        assert.ok(!two.join("\n").includes(token));
        const up = only(check((c) => { c.nix.uploadTo = `s3://ngd:${token}@bucket`; }, { secretsPresent: { registryPassword: true, kubeconfig: true, nixSigningKey: true } }), "nix.uploadTo");
        assert.match(up, /must not carry credentials or options: "s3:\/\/ngd:\*\*\*@bucket" carries credentials in its user part \(a password\)/);
        assert.ok(!up.includes(token));
    });
    it("a builder with a password is refused; an ssh://user@host without one is not (the reverse mistake)", () => {
        const e = only(check((c) => { c.nix.builders = `ssh://ngd@ok x86_64-linux; ssh://ngd:${token}@b x86_64-linux`; }), "nix.builders");
        assert.match(e, /"ssh:\/\/ngd:\*\*\*@b" carries credentials in its user part \(a password\).*nixBuilderSshKey/);
        assert.ok(!e.includes(token));
        assert.deepStrictEqual(check((c) => { c.nix.builders = "ssh://ngd@builder.example.com x86_64-linux - 4; ssh-ng://nix@b2 aarch64-linux"; }), []);
        // Nix reads a machine without a scheme as ssh://
        assert.ok(!only(check((c) => { c.nix.builders = `ngd:${token}@b x86_64-linux`; }), "nix.builders").includes(token));
        assert.deepStrictEqual(check((c) => { c.nix.builders = "nix@b x86_64-linux; @/etc/nix/machines"; }), []);
        assert.deepStrictEqual(check((c) => { c.nix.substituters = ["s3://cache?region=eu-west-1&profile=ci&endpoint=https://minio.example.com", "file:///srv/cache", "ssh-ng://nix@[::1]"]; }), []);
        assert.deepStrictEqual(check((c) => { c.nix.substituters = ["ssh://nix@cache.example.com", "https://cache.nixos.org"]; }), []);
        assert.deepStrictEqual(check((c) => { c.nix.uploadTo = "ssh://nix@cache.example.com"; }, { secretsPresent: { registryPassword: true, kubeconfig: true, nixSigningKey: true } }), []);
    });
    it("option-looking host names (ssh would read them as options) are refused", () => {
        assert.match(only(check((c) => { c.nix.builders = "ssh://-oProxyCommand=touch${IFS}/tmp/x x86_64-linux"; }), "nix.builders"), /starts with "-"/);
        assert.match(only(check((c) => { c.nix.substituters = ["ssh://-oProxyCommand=x"]; }), "nix.substituters[0]"), /starts with "-"/);
        assert.match(only(check((c) => { c.nix.builders = "ssh://-oProxyCommand=x@b x86_64-linux"; }), "nix.builders"), /starts with "-"/);
        assert.match(only(check((c) => { c.nix.builders = "-oProxyCommand=x x86_64-linux"; }), "nix.builders"), /starts with "-"/);
        assert.match(only(check((c) => { c.registry.host = "-oProxyCommand=x"; }), "registry.host"), /is not a registry host/);
    });
    it("onCacheDown with nothing to check is refused", () => {
        for (const mode of ["fail", "build"]) {
            assert.match(only(check((c) => { c.nix.onCacheDown = mode; }), "nix.onCacheDown"), /nix\.substituters is not set/);
            assert.match(only(check((c) => { c.nix.onCacheDown = mode; c.nix.substituters = []; }), "nix.onCacheDown"), /no cache to check/);
        }
        assert.deepStrictEqual(check((c) => { c.nix.onCacheDown = "fail"; c.nix.substituters = ["https://cache.nixos.org"]; }), []);
    });
    it("image.fromStack naming this stack is refused (its export cannot exist), in each form", () => {
        for (const ref of ["canary", "organization/nix-gpu-deploy/canary"]) {
            const e = only(check((c) => { c.image = { fromStack: ref }; c.nix = { cudaCapabilities: ["9.0"] }; }), "image.fromStack");
            assert.match(e, /is this stack/);
        }
        assert.deepStrictEqual(check((c) => { c.image = { fromStack: "organization/nix-gpu-deploy/images" }; c.nix = { cudaCapabilities: ["9.0"] }; }), []);
        assert.deepStrictEqual(check((c) => { c.image = { fromStack: "organization/other-project/canary" }; c.nix = { cudaCapabilities: ["9.0"] }; }), []);
        const inOrg = (ref: string) => errorsOf(parseStackConfig({ values: { ...validConfig(), image: { fromStack: ref }, nix: { cudaCapabilities: ["9.0"] } }, secretsPresent: { registryPassword: true, kubeconfig: true } },
            { ...opts, stack: "canary", organization: "ml-platform" }));
        assert.match(inOrg("ml-platform/nix-gpu-deploy/canary").join(), /is this stack/);
        assert.deepStrictEqual(inOrg("other-team/nix-gpu-deploy/canary"), [], "another organization's stack of that name is another stack");
    });
    it("an empty or whitespace-only nix.entry is refused, not replaced by the default", () => {
        for (const v of ["", "   ", null]) {
            assert.match(only(check((c) => { c.nix.entry = v; }), "nix.entry"), /is empty: name the Nix entry/);
        }
    });
    it("a whitespace-only secret counts as empty (through the program's own config loading)", async function () {
        this.timeout(60000);
        const config = { ...stackConfig("local"), "nix-gpu-deploy:registryPassword": "pw", "nix-gpu-deploy:kubeconfig": " \n\t " };
        const run = await runProgram({ stack: "bad", config, secretKeys: ["nix-gpu-deploy:registryPassword", "nix-gpu-deploy:kubeconfig"], realNix: false });
        assert.ok(pulumi.RunError.isInstance(run.error), String(run.error));
        assert.match(run.error.message, /^ {2}- nix-gpu-deploy:kubeconfig: is set as a secret but empty \(or only whitespace\)/m);
        assert.deepStrictEqual(run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack"), [], "nothing else runs");
    });
    it("a MIG slice resource name without gpu.migProfile is refused (it would request slices as whole GPUs)", () => {
        const e = only(check((c) => { c.gpu.resourceName = "nvidia.com/mig-1g.10gb"; }), "gpu.resourceName");
        assert.match(e, /is a MIG slice resource: set gpu\.migProfile: 1g\.10gb/);
        assert.deepStrictEqual(check((c) => { c.gpu.resourceName = "nvidia.com/gpu.shared"; }), []);
    });
    it("long lists are cut after a few problems, and one problem is reported once (no knock-on)", () => {
        const labels = check((c) => { c.deployment.podLabels = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, "x".repeat(5000)])); });
        assert.strictEqual(labels.length, 11, labels.join("\n"));
        assert.match(labels[10], /… and 50 more bad entries/);
        assert.ok(labels.join("\n").length < 2000, `${labels.join("\n").length} characters`);
        assert.deepStrictEqual(check((c) => { c.nix.cudaCapabilities = ["8.0", "sm_90"]; }), [
            "nix-gpu-deploy:nix.cudaCapabilities[1]: \"sm_90\" is not a CUDA compute capability like 8.0 or 9.0",
        ], "not also: the H100 has no code built for it");
    });
});

/** The valid config with one `nix` key set (or left unset: undefined), parsed. */
function withNixKey(key: string, value: unknown): ParseResult {
    const c = validConfig() as unknown as { nix: Record<string, unknown> };
    if (value !== undefined) {
        c.nix[key] = value;
    }
    return parseStackConfig({ values: c as never, secretsPresent: { registryPassword: true, kubeconfig: true } }, opts);
}

describe("issue #21: nix.sandbox", () => {
    it("is passed to every Nix call when set, left to nix.conf when not, and must be a boolean", () => {
        const parse = (sandbox: unknown) => withNixKey("sandbox", sandbox);
        const on = parse(true);
        assert.ok(on.ok, JSON.stringify(on));
        assert.strictEqual(on.config.nix.settings.sandbox, true);
        assert.match(nixConfigText(on.config.nix.settings), /^sandbox = true$/m);
        assert.deepStrictEqual(nixSettingFlags({ sandbox: false }), ["--option", "sandbox", "false"]);
        const unset = parse(undefined);
        assert.ok(unset.ok);
        assert.strictEqual(unset.config.nix.settings.sandbox, undefined);
        assert.doesNotMatch(nixConfigText(unset.config.nix.settings), /sandbox/);
        const wrong = errorsOf(parse("relaxed"));
        assert.strictEqual(wrong.length, 1, wrong.join("\n"));
        assert.match(wrong[0], /^nix-gpu-deploy:nix\.sandbox: /);
    });
    it("the local stack sets it (Debian's nix.conf turns the sandbox off; a user's Linux machine has it on)", () => {
        assert.strictEqual((JSON.parse(stackConfig("local")["nix-gpu-deploy:nix"]) as { sandbox?: unknown }).sandbox, true);
    });
});

describe("issue #21: nix.system", () => {
    const local = { system: "x86_64-linux", extraPlatforms: ["i686-linux"], builders: "" };
    const none = () => undefined;
    it("defaults to x86_64-linux, accepts aarch64-linux, refuses others naming the property", () => {
        const parse = (system: unknown) => withNixKey("system", system);
        const dflt = parse(undefined);
        assert.ok(dflt.ok);
        assert.strictEqual(dflt.config.nix.system, "x86_64-linux");
        const arm = parse("aarch64-linux");
        assert.ok(arm.ok);
        assert.strictEqual(arm.config.nix.system, "aarch64-linux");
        const mac = errorsOf(parse("aarch64-darwin"));
        assert.strictEqual(mac.length, 1);
        assert.match(mac[0], /^nix-gpu-deploy:nix\.system: must be one of x86_64-linux, aarch64-linux, got "aarch64-darwin"/);
    });
    it("systemProblem: the local system and extra-platforms build; beyond them only a builder that offers the system", () => {
        assert.strictEqual(systemProblem("x86_64-linux", local, undefined, none), undefined);
        assert.strictEqual(systemProblem("i686-linux", local, undefined, none), undefined);
        assert.match(systemProblem("aarch64-linux", local, undefined, none) ?? "", /nix\.system aarch64-linux cannot be built here: this machine's Nix builds x86_64-linux, i686-linux, and nix\.conf's builders names no remote builder/);
        assert.strictEqual(systemProblem("aarch64-linux", local, "ssh://a x86_64-linux ; ssh://b aarch64-linux,x86_64-linux /k 4", none), undefined);
        assert.match(systemProblem("aarch64-linux", local, "ssh://a x86_64-linux", none) ?? "", /nix\.builders offers x86_64-linux only/);
        // a machine line without a systems field (or "-") builds for the local system, as Nix reads it
        assert.deepStrictEqual(builderSystems("ssh://a\nssh://b - key", "x86_64-linux", none).map((m) => m.systems), [["x86_64-linux"], ["x86_64-linux"]]);
        // nix.conf's @file, with comments
        const machines = (f: string) => (f === "/etc/nix/machines" ? "# builders\nssh://arm aarch64-linux /k 8 # the Grace box\n" : undefined);
        assert.strictEqual(systemProblem("aarch64-linux", { ...local, builders: "@/etc/nix/machines" }, undefined, machines), undefined);
        assert.match(systemProblem("aarch64-linux", { ...local, builders: "@/etc/nix/missing" }, undefined, machines) ?? "", /names no remote builder/);
    });
});

describe("issue #21: nix.python", () => {
    it("defaults to python3 (nixpkgs' default, the cached set), accepts the other interpreters, refuses others naming the property", () => {
        const parse = (python: unknown) => withNixKey("python", python);
        const dflt = parse(undefined);
        assert.ok(dflt.ok);
        assert.strictEqual(dflt.config.nix.python, "python3");
        const old = parse("python311");
        assert.ok(old.ok);
        assert.strictEqual(old.config.nix.python, "python311");
        const bad = errorsOf(parse("python2"));
        assert.strictEqual(bad.length, 1);
        assert.match(bad[0], /^nix-gpu-deploy:nix\.python: must be one of python3, python311, python312, python313, got "python2"/);
    });
});
