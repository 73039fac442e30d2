import * as assert from "assert";
import { ProgramRun, Recorded, find, parentTypes, runProgram, stackConfig } from "./harness";

const SECRET = "s3cr3t-registry-password";
const withPassword = (stack: string): { stack: string; config: Record<string, string>; secretKeys: string[] } => ({
    stack,
    config: { ...stackConfig(stack), "nix-gpu-deploy:registryPassword": SECRET },
    secretKeys: ["nix-gpu-deploy:registryPassword"],
});

/** The stack's workload: a Deployment (local) or a Job (the a100 and h100 stacks run the example to completion). */
function workload(run: ProgramRun): Recorded {
    return run.resources.find((r) => (r.type === "kubernetes:batch/v1:Job" && r.name === "gpu-job")) ?? find(run, "kubernetes:apps/v1:Deployment", "gpu-deployment");
}

function assertDigestPinned(image: string, registry: string, repo: string) {
    assert.match(image, new RegExp(`^${registry.replace(/\./g, "\\.")}/${repo}@sha256:[a-f0-9]{64}$`));
}

describe("the program under mocks, per shipped stack", function () {
    this.timeout(120000);
    const runs: Record<string, ProgramRun> = {};
    before(async () => {
        for (const stack of ["local", "a100", "h100"]) {
            const cfg = withPassword(stack);
            if (stack === "local") {
                cfg.config["nix-gpu-deploy:kubeconfig"] = "apiVersion: v1\nkind: Config\n";
                cfg.secretKeys.push("nix-gpu-deploy:kubeconfig");
            }
            runs[stack] = await runProgram(cfg);
            assert.ifError(runs[stack].error);
        }
    });

    it("creates the same component tree for every stack, children parented to their component", () => {
        for (const [stack, run] of Object.entries(runs)) {
            const build = find(run, "command:local:Command", "-image-build");
            assert.strictEqual(build.name, "image-build");
            assert.deepStrictEqual(parentTypes(build.urn), ["nix-gpu-deploy:image:LayeredCudaImage"]);
            assert.deepStrictEqual(parentTypes(find(run, "nix-gpu-deploy:image:LayeredCudaImage", "image").urn), ["nix-gpu-deploy:index:NixImage"], "the image is a part of the public NixImage");
            assert.deepStrictEqual(parentTypes(find(run, "nix-gpu-deploy:k8s:GpuDeployment", "gpu").urn), ["nix-gpu-deploy:index:GpuWorkload"], "the workload is a part of the public GpuWorkload");
            const dep = workload(run);
            assert.deepStrictEqual(parentTypes(dep.urn), ["nix-gpu-deploy:k8s:GpuDeployment"]);
            const provider = find(run, "pulumi:providers:kubernetes", "gpu-provider");
            assert.deepStrictEqual(parentTypes(provider.urn), ["nix-gpu-deploy:k8s:GpuDeployment"]);
            for (const t of ["nix-gpu-deploy:nix:NixDependencySet", "nix-gpu-deploy:image:LayeredCudaImage", "nix-gpu-deploy:k8s:GpuDeployment"]) {
                assert.ok(run.resources.some((r) => r.type === t), `${stack}: ${t}`);
            }
        }
    });

    it("builds with nix-build (the plan, then the image) and the stack's arguments, triggered by the .drv", () => {
        for (const [stack, run] of Object.entries(runs)) {
            const build = find(run, "command:local:Command", "-image-build");
            // The script is the same text for every stack; what differs is its environment, as data.
            // issue #21: the derivation the program evaluated, else the entry; the image assembled from
            // the plan without a second evaluation (or by the entry's own second step)
            assert.ok(build.inputs.create.includes(`\n  ngd_image=$(ngd_nix_build --no-build-output --option log-lines 60 --out-link "$ngd_plan_root" "$NGD_DRV")`), `${stack}: ${build.inputs.create}`);
            assert.ok(build.inputs.create.includes(`\n  ngd_image=$(ngd_nix_build --no-build-output --option log-lines 60 --out-link "$ngd_plan_root" "$NGD_ENTRY" --argstr`), `${stack}: ${build.inputs.create}`);
            assert.ok(build.inputs.create.includes(`/nix/docker/assemble-from-plan.nix --argstr layerPlan "$ngd_plan")`), `${stack}: the image assembled from the plan`);
            assert.ok(build.inputs.create.includes(`\n    ngd_image=$(ngd_nix_build --no-build-output --option log-lines 60 --no-out-link "$NGD_ENTRY" --argstr`), `${stack}: ${build.inputs.create}`);
            assert.strictEqual(build.inputs.create, find(runs.local, "command:local:Command", "-image-build").inputs.create, `${stack}: one script for every stack`);
            const cfg = stackConfig(stack);
            const nix = JSON.parse(cfg["nix-gpu-deploy:nix"]);
            const image = JSON.parse(cfg["nix-gpu-deploy:image"]);
            const env = build.inputs.environment;
            assert.ok(env.NGD_ENTRY.endsWith(`/${nix.entry}`), `${stack}: entry`);
            assert.strictEqual(env.NGD_ARG_imageName, image.name);
            assert.strictEqual(env.NGD_ARG_maxLayers, String(image.maxLayers));
            assert.strictEqual(env.NGD_ARG_cudaCapabilities, JSON.stringify(nix.cudaCapabilities ?? []));
            assert.deepStrictEqual(JSON.parse(env.NGD_ARG_overlays).map((o: { name: string }) => o.name), (nix.overlays ?? []).map((o: { name: string }) => o.name));
            // Only the offline rehearsal switches binary caches off, through its own stack config.
            assert.strictEqual(env.NGD_NIX_CONFIG, stack === "local" ? "substituters = \nsandbox = true" : undefined, `${stack}: Nix settings`);
            assert.match(env.NGD_PROGRESS, /\/components\/nix\/progress-filter\.js$/);
            // the plan's GC root lives in the command's private directory, removed on exit; nothing else leaves a link
            assert.deepStrictEqual(build.inputs.create.match(/--out-link \S+/g), ['--out-link "$ngd_plan_root"', '--out-link "$ngd_plan_root"'], "the evaluated derivation's, or the entry's");
            assert.ok(build.inputs.create.includes(`ngd_plan_root="$tmp/layer-plan"`));
            assert.match(build.inputs.triggers[0].drv, /^\/nix\/store\/[a-z0-9]{32}-.*\.drv$/);
            assert.deepStrictEqual(build.inputs.triggers[1], { layering: { maxLayers: image.maxLayers, strategy: "stable" } });
            assert.deepStrictEqual(Object.keys(env).filter((k) => !/^NGD_(ENTRY|ARG_[A-Za-z]+|NIX_CONFIG|PROGRESS|GC_ROOT|DRV)$/.test(k)), [], "no hashes in the build's diff");
            // issue #21: the one hash: the derivation the program evaluated, built as it is (no second evaluation)
            assert.strictEqual(env.NGD_DRV, build.inputs.triggers[0].drv);
            // issue #21: the stack's own GC root directory, named by the id its gc-roots-id step made
            // (kept in the state: a stack rename changes nothing); the delete drops that build's roots only
            const id = find(run, "command:local:Command", "-gc-roots-id");
            assert.match(id.inputs.create, /od -An -N16 -tx1 \/dev\/urandom/);
            assert.match(env.NGD_GC_ROOT, /\/nix-gpu-deploy\/gcroots\/sha256:[a-f0-9]{64}$/, "the mocks' stdout of that step");
            assert.match(build.inputs.delete, /rm -f "\$NGD_GC_ROOT\/image-\$ngd_root_id" "\$NGD_GC_ROOT\/plan-\$ngd_root_id"/);
        }
    });

    it("evaluates the derivation with nix-instantiate (an invoke, so it runs on preview)", () => {
        for (const [stack, run] of Object.entries(runs)) {
            const runs = run.invokes.filter((i) => i.token === "command:local:run");
            // issue #21: first what this machine's Nix builds for (nix.system must be one of them)
            assert.strictEqual(runs.filter((i) => /show-config --json$/.test(String(i.inputs.command))).length, 1);
            const evals = runs.filter((i) => /nix-instantiate/.test(String(i.inputs.command)));
            assert.strictEqual(evals.length, 1);
            assert.match(evals[0].inputs.command, stack === "local" ? /nix-instantiate --option substituters '' --option sandbox true \// : /nix-instantiate \//);
            assert.match(evals[0].inputs.command, /nix-store --query --outputs/);
        }
    });

    it("pins the Deployment's image by digest and tags by the Nix output hash", () => {
        const reg: Record<string, [string, string]> = {
            local: ["127.0.0.1:5001", "ml/myproject"],
            a100: ["registry.a100.example.com", "ml/myproject"],
            h100: ["registry.h100.example.com:5000", "inference/myproject"],
        };
        for (const [stack, run] of Object.entries(runs)) {
            const dep = workload(run);
            const image = dep.inputs.spec.template.spec.containers[0].image;
            assertDigestPinned(image, ...reg[stack]);
            assert.strictEqual(run.outputs.imageRef, image);
            assert.match(String(run.outputs.imageTag), /^[a-z0-9]{32}$/);
            assert.match(String(run.outputs.storePath), /^\/nix\/store\/[a-z0-9]{32}-/, `${stack}: the built image: ${String(run.outputs.storePath)}`);
            assert.ok(!String(run.outputs.storePath).includes(String(run.outputs.imageTag)), `${stack}: the tag is the evaluated plan's hash, known before the build`);
        }
    });

    it("chooses the publisher named by the stack", () => {
        assert.ok(runs.local.resources.some((r) => r.type === "nix-gpu-deploy:publish:SkopeoPublisher"));
        assert.ok(runs.h100.resources.some((r) => r.type === "nix-gpu-deploy:publish:SkopeoPublisher"));
        const a100 = runs.a100;
        assert.ok(a100.resources.some((r) => r.type === "nix-gpu-deploy:publish:DockerPublisher"));
        const tag = find(a100, "docker:index/tag:Tag", "-publish-tag");
        assert.match(tag.inputs.targetImage, /^registry\.a100\.example\.com\/ml\/myproject:[a-z0-9]{32}$/);
        const push = find(a100, "docker:index/registryImage:RegistryImage", "-publish-push");
        assert.strictEqual(push.inputs.keepRemotely, true);
        const load = find(a100, "command:local:Command", "-publish-load");
        assert.match(load.inputs.create, /docker load --input "\$archive"/);
        const skopeo = find(runs.h100, "command:local:Command", "-publish-push");
        // The environment holds the (secret) registry password, so the mocks see it as one secret value.
        const envOf = (r: { inputs: { environment: Record<string, string> & { value?: Record<string, string> } } }) => r.inputs.environment.value ?? r.inputs.environment;
        assert.match(skopeo.inputs.create, /skopeo copy --quiet --digestfile "\$tmp\/digest" "\$@" "\$source" "\$NGD_DESTINATION"/);
        assert.strictEqual(envOf(skopeo).NGD_DEST_TLS_VERIFY, "true", "TLS verified for a remote registry");
        assert.match(envOf(skopeo).NGD_DESTINATION, /^docker:\/\/registry\.h100\.example\.com:5000\/inference\/myproject:[a-z0-9]{32}$/);
        assert.strictEqual(envOf(find(runs.local, "command:local:Command", "-publish-push")).NGD_DEST_TLS_VERIFY, "false");
    });

    it("never puts the registry password on a command line", () => {
        for (const run of Object.values(runs)) {
            for (const r of run.resources) {
                if (r.type === "command:local:Command") {
                    assert.ok(!String(r.inputs.create).includes(SECRET), `${r.name} create`);
                }
            }
        }
    });

    it("requests GPUs, tolerates the GPU taint and selects the cluster's GPU product", () => {
        const expect: Record<string, { product: string; count: string; runtime?: string; mem?: string }> = {
            local: { product: "NVIDIA-H100-80GB-HBM3", count: "1", runtime: "nvidia" },
            // No RuntimeClass unless the stack names one (GKE has no `nvidia` class).
            a100: { product: "NVIDIA-A100-SXM4-80GB", count: "1", mem: "79999" },
            h100: { product: "NVIDIA-H100-80GB-HBM3", count: "2" },
        };
        for (const [stack, run] of Object.entries(runs)) {
            const spec = workload(run).inputs.spec;
            const pod = spec.template.spec;
            const e = expect[stack];
            assert.strictEqual(pod.containers[0].resources.limits["nvidia.com/gpu"], e.count, stack);
            // issue #21: and the image's architecture (nix.system x86_64-linux)
            assert.deepStrictEqual(pod.nodeSelector, { "kubernetes.io/arch": "amd64", "nvidia.com/gpu.product": e.product });
            assert.deepStrictEqual(pod.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
            assert.strictEqual(pod.runtimeClassName, e.runtime);
            if (e.mem !== undefined) {
                assert.deepStrictEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions,
                    [{ key: "nvidia.com/gpu.memory", operator: "Gt", values: [e.mem] }]);
            }
            const shm = pod.volumes.find((v: { name: string }) => v.name === "dshm");
            assert.strictEqual(shm.emptyDir.medium, "Memory");
            if (stack === "local") {
                assert.ok(spec.strategy.type === "Recreate" || spec.strategy.rollingUpdate.maxSurge === 0, `${stack}: no spare GPU needed`);
            } else {
                assert.strictEqual(spec.template.spec.restartPolicy, "Never", `${stack}: the example runs to completion as a Job`);
            }
        }
    });

    it("gives every cluster its own explicit provider, identified by the cluster name", () => {
        for (const [stack, run] of Object.entries(runs)) {
            const p = find(run, "pulumi:providers:kubernetes", "gpu-provider");
            const name = JSON.parse(stackConfig(stack)["nix-gpu-deploy:cluster"]).name;
            assert.strictEqual(p.inputs.clusterIdentifier, name);
            for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
                assert.ok(r.urn.includes("nix-gpu-deploy:k8s:GpuDeployment$"), `${r.name} is a child of GpuDeployment`);
            }
        }
        assert.strictEqual(find(runs.a100, "pulumi:providers:kubernetes", "gpu-provider").inputs.context, "a100-train");
    });

    it("creates a pull secret from the registry credentials", () => {
        const secret = find(runs.h100, "kubernetes:core/v1:Secret", "gpu-pull-secret");
        assert.strictEqual(secret.inputs.type, "kubernetes.io/dockerconfigjson");
        const pod = workload(runs.h100).inputs.spec.template.spec;
        assert.deepStrictEqual(pod.imagePullSecrets, [{ name: "myproject-registry" }]);
    });
});

describe("without nix on PATH", () => {
    it("keys the build by the content fingerprint and warns instead of failing", async () => {
        const run = await runProgram({ ...withPassword("a100"), nixAvailable: false });
        assert.ifError(run.error);
        assert.strictEqual(run.invokes.filter((i) => i.token === "command:local:run").length, 0);
        assert.match(String(run.outputs.drvPath), /^fingerprint:[a-f0-9]{64}$/);
        const build = find(run, "command:local:Command", "-image-build");
        assert.deepStrictEqual(build.inputs.triggers[0], { drv: run.outputs.drvPath });
    });
});

describe("secret config keys", () => {
    it("refuses a plaintext registry password, naming the key, before any resource exists", async () => {
        const run = await runProgram({ stack: "h100", config: { ...stackConfig("h100"), "nix-gpu-deploy:registryPassword": "plain" }, secretKeys: [], realNix: false });
        assert.ok(run.error);
        assert.match(run.error.message, /nix-gpu-deploy:registryPassword: must be a secret/);
        assert.ok(!run.error.message.includes("plain\n") && !/: plain\b/.test(run.error.message), "the value is not echoed");
        assert.deepStrictEqual(run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack"), []);
    });
    it("treats the empty default of an optional secret as unset", async () => {
        const run = await runProgram({
            stack: "h100",
            config: { ...stackConfig("h100"), "nix-gpu-deploy:registryPassword": "pw", "nix-gpu-deploy:kubeconfig": "" },
            secretKeys: ["nix-gpu-deploy:registryPassword"], realNix: false,
        });
        assert.ifError(run.error);
        assert.strictEqual(find(run, "pulumi:providers:kubernetes", "gpu-provider").inputs.kubeconfig, undefined);
    });
});
