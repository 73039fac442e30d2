import * as assert from "assert";
import { ParseResult, RawStackConfig, parseStackConfig } from "../../components/config";
import { nodeFs } from "../../components/stackConfig";
import { ROOT, runProgram, stackConfig } from "./harness";

const opts = { projectRoot: ROOT, ...nodeFs };

/** A valid config, as objects. */
function base(): Record<string, Record<string, unknown>> {
    return {
        nix: { entry: "test/fixture/default.nix", overlays: [{ name: "greeting", args: { text: "hi" } }], cudaCapabilities: ["9.0"] },
        image: { name: "ml/fixture" },
        registry: { host: "127.0.0.1:5001", username: "ngd", insecure: true, publisher: "skopeo" },
        gpu: { product: "NVIDIA-H100-80GB-HBM3", count: 1 },
        cluster: { name: "local", namespace: "ml-local", context: "local" },
        deployment: { name: "fixture", memory: "1Gi", shmSize: "256Mi" },
    };
}

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
    ["no CUDA capability", (c) => { c.nix.cudaCapabilities = []; }, "nix.cudaCapabilities"],
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
for (const [label, overlays, property] of badOverlays) {
    // ffmpeg is an overlay of the CUDA entry, not of the fixture.
    const entry = JSON.stringify(overlays).includes("\"ffmpeg\"") && label !== "overlay unknown to the entry" ? "nix/build_container.nix" : undefined;
    bad.push([label, (c) => { c.nix.overlays = overlays; if (entry !== undefined) { c.nix.entry = entry; } }, property]);
}

describe("parseStackConfig", () => {
    it("accepts a valid config and fills defaults", () => {
        const r = parseStackConfig(raw(base()), opts);
        assert.deepStrictEqual(errorsOf(r), []);
        assert.ok(r.ok);
        assert.strictEqual(r.config.image.maxLayers, 100);
        assert.strictEqual(r.config.gpu.taintKey, "nvidia.com/gpu");
        assert.strictEqual(r.config.deployment.replicas, 1);
        assert.strictEqual(r.config.deployment.strategy, "RollingUpdate");
    });

    it("keeps a legitimate zero (CPU-only pod, scaled to zero)", () => {
        const c = base();
        c.gpu = { count: 0 };
        c.deployment.replicas = 0;
        const r = parseStackConfig(raw(c), opts);
        assert.ok(r.ok, errorsOf(r).join("\n"));
        assert.strictEqual(r.config.gpu.count, 0);
        assert.strictEqual(r.config.deployment.replicas, 0);
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

    it(`has a table of ${bad.length} distinct bad configs (${badOverlays.length} of them bad overlay arguments)`, () => {
        assert.ok(bad.length - badOverlays.length >= 40);
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
