// Issue #23: the components' arguments are checked section by section with the stack config's own
// checks and messages (components/config/sections.ts).
import * as assert from "assert";
import * as os from "os";
import * as path from "path";
import { parseImageSections, parseWorkloadSections } from "../../components/config/sections";
import { nodeFs } from "../../components/config/stack";

const ROOT = path.resolve(__dirname, "../..");
const context = { cudaCapabilities: ["9.0"], hasKubeconfig: true };

describe("issue #23: the components' sections, checked as the stack config checks them", () => {
    it("a workload's sections pass in a project with no Nix entry (the image is built elsewhere)", () => {
        const r = parseWorkloadSections({ gpu: { product: "NVIDIA-H100-80GB-HBM3" }, cluster: { name: "c", namespace: "ml" }, deployment: { name: "serve" } }, context, { projectRoot: os.tmpdir(), ...nodeFs });
        assert.ok(r.ok, JSON.stringify(r));
        assert.strictEqual(r.deployment.replicas, 1, "the stack config's defaults");
        assert.strictEqual(r.gpu.placement, "gfd");
    });
    it("a workload's bad sections: every problem, named by its property, none about the stand-ins", () => {
        const r = parseWorkloadSections({ gpu: { product: "NVIDIA-H100-80GB-HBM3", count: 99 }, cluster: { name: "Not_A_Label", namespace: "ml" }, deployment: { name: "serve", replicas: -1 } }, context, { projectRoot: os.tmpdir(), ...nodeFs });
        assert.ok(!r.ok);
        const paths = r.errors.map((e) => e.propertyPath).sort();
        assert.deepStrictEqual(paths, ["cluster.name", "deployment.replicas", "gpu.count"], JSON.stringify(r.errors));
    });
    it("the image's sections: checked as a publish-only stack; a missing entry and a bad layer budget are named", () => {
        const ok = parseImageSections({ nix: { entry: "nix/build_container.nix", sources: "test/fixture/nixpkgs/sources.nix" }, image: { name: "ml/x" }, registry: { host: "127.0.0.1:5001", insecure: true } },
            { registryPassword: false, nixSigningKey: false, nixBuilderSshKey: false }, { projectRoot: ROOT, ...nodeFs });
        assert.ok(ok.ok, JSON.stringify(ok));
        assert.strictEqual(ok.image.maxLayers, 100);
        const bad = parseImageSections({ nix: { entry: "nix/nope.nix" }, image: { name: "ml/x", maxLayers: 1 }, registry: { host: "127.0.0.1:5001", insecure: true, pullUsername: "puller" } },
            { registryPassword: false, nixSigningKey: false, nixBuilderSshKey: false }, { projectRoot: ROOT, ...nodeFs });
        assert.ok(!bad.ok);
        assert.deepStrictEqual(bad.errors.map((e) => e.propertyPath).sort(), ["image.maxLayers", "nix.entry"], JSON.stringify(bad.errors));
    });
});
