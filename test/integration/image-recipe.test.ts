// Builds the real nix/build_container.nix (→ dependencies.nix → overlays → project.nix →
// packages/doctr.nix → docker/buildCudaLayeredImage.nix) against the miniature package set
// (test/fixture/nixpkgs, on nixpkgs' real lib) and checks the image it makes.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT } from "../unit/harness";

const NIX = ["--option", "substituters", ""];
const MINI = ["--arg", "sources", `import ${ROOT}/test/fixture/nixpkgs/sources.nix`];
const H100_OVERLAYS = JSON.stringify([{ name: "replaceTorch", args: {} }, { name: "ffmpeg", args: { cuda: true, features: ["withX264", "withX265", "withOpus"] } }]);
const STORE_PATH = /\/nix\/store\/[a-z0-9]{32}-[^/\s:"]+/g;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
/** The two steps of the build (components/exec.ts imageBuildLines): the plan, then the image from it. */
const build = (file: string, args: string[]) => {
    const first = sh("nix-build", ["--no-out-link", ...NIX, file, ...args]).trim().split("\n").pop() as string;
    return fs.existsSync(path.join(first, "plan.json")) ? sh("nix-build", ["--no-out-link", ...NIX, file, ...args, "--argstr", "layerPlan", first]).trim().split("\n").pop() as string : first;
};
const realEntry = (args: string[] = []) => build(path.join(ROOT, "nix/build_container.nix"), [...MINI, ...args]);
const evalJson = (expr: string) => JSON.parse(sh("nix-instantiate", [...NIX, "--eval", "--strict", "--json", "-E", expr]));
const closure = (p: string) => sh("nix-store", ["--query", "--requisites", p]).trim().split("\n");
/** The store paths an image layout packs into its layers (its plan's), which its own closure does not hold. */
const packed = (image: string) => {
    const plan = fs.readFileSync(path.join(image, "layer-plan"), "utf8").trim();
    return (JSON.parse(fs.readFileSync(path.join(plan, "plan.json"), "utf8")) as { layers: Array<{ paths: string[] }> }).layers.flatMap((l) => l.paths);
};

interface Image { dir: string; owned: boolean; manifest: { Config: string; RepoTags: string[]; Layers: string[] }; config: { architecture: string; config: { Entrypoint: string[]; Env: string[] }; rootfs: { diff_ids: string[] } } }
/** An image layout directory as it is, or a nixpkgs stream unpacked into a temporary directory. */
function unpack(image: string): Image {
    const owned = !fs.statSync(image).isDirectory();
    const dir = owned ? fs.mkdtempSync(path.join(os.tmpdir(), "ngd-recipe-")) : image;
    if (owned) {
        execFileSync("/bin/sh", ["-c", `"$0" | tar -xf - -C "$1"`, image, dir]);
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"))[0];
    return { dir, owned, manifest, config: JSON.parse(fs.readFileSync(path.join(dir, manifest.Config), "utf8")) };
}
const release = (img: Image | undefined) => { if (img?.owned === true) { fs.rmSync(img.dir, { recursive: true, force: true }); } };
/** Every entry of every layer, with its tar -tv mode column. */
function entries(img: Image): Map<string, string> {
    const all = new Map<string, string>();
    for (const l of img.manifest.Layers) {
        for (const line of sh("tar", ["-tvf", path.join(img.dir, l)]).split("\n").filter(Boolean)) {
            const name = line.split(/\s+/).slice(5).join(" ").replace(/ -> .*$/, "").replace(/^\.\//, "").replace(/\/$/, "");
            all.set(name, line.split(/\s+/)[0]);
        }
    }
    return all;
}
/** A file of the image root; a symlink into the store is followed there (its target is in a layer too). */
const layerFile = (img: Image, file: string) => {
    for (const l of [...img.manifest.Layers].reverse()) {
        const line = sh("tar", ["-tvf", path.join(img.dir, l)]).split("\n").find((x) => x.replace(/ -> .*$/, "").endsWith(` ${file}`));
        if (line !== undefined) {
            const target = / -> (\/nix\/store\/.*)$/.exec(line)?.[1];
            return target !== undefined ? fs.readFileSync(target, "utf8") : sh("tar", ["-xOf", path.join(img.dir, l), file]);
        }
    }
    throw new Error(`${file} is in no layer`);
};
/** The entrypoint script of an image (its config's Entrypoint[0], a store path). */
const unpackEntrypoint = (image: string) => {
    const img = unpack(image);
    try {
        return img.config.config.Entrypoint[0];
    } finally {
        release(img);
    }
};
/** The derivations of an image layout's layers (each blob is a symlink into its layer's output). */
const layerDrvs = (img: Image) => img.manifest.Layers.map((l) => sh("nix-store", ["--query", "--deriver", path.dirname(fs.realpathSync(path.join(img.dir, l)))]).trim());

describe("the image recipe, built from the real nix/ entry on the miniature set", function () {
    this.timeout(600000);
    before(() => { execFileSync("bash", [path.join(ROOT, "test/seed-nix-store.sh")], { stdio: "ignore" }); });

    const variants: Array<[string, string[]]> = [
        ["stable", ["--argstr", "layerStrategy", "stable"]],
        ["equal", ["--argstr", "layerStrategy", "equal"]],
        ["popularity", ["--argstr", "layerStrategy", "popularity"]],
        ["h100 overlay args (stable)", ["--argstr", "overlays", H100_OVERLAYS]],
    ];
    for (const [label, args] of variants) {
        describe(label, () => {
            let stream: string;
            let img: Image;
            before(() => { stream = realEntry(args); img = unpack(stream); });
            after(() => release(img));

            it("defect 1: every store path the config references (and its closure) lies in a layer", () => {
                const all = entries(img);
                const refs = new Set(JSON.stringify(img.config.config).match(STORE_PATH) ?? []);
                assert.ok(refs.size >= 2, "Entrypoint and SSL_CERT_FILE reference the store");
                for (const ref of refs) {
                    for (const p of closure(ref)) {
                        assert.ok(all.has(p.slice(1)), `${p} (closure of config reference ${ref}) is in no layer`);
                    }
                }
            });

            it("defect 2: has the root skeleton with the right modes", () => {
                const all = entries(img);
                assert.match(all.get("tmp") ?? "", /^drwxrwxrwt/, "/tmp is 1777");
                assert.match(all.get("bin") ?? "", /^d/, "/bin is a directory");
                assert.ok(all.has("bin/sh") && all.has("bin/python"), "/bin/sh and /bin/python");
                assert.match(layerFile(img, "etc/passwd"), /^app:x:65532:65532:app:\/tmp:\/bin\/sh$/m);
                assert.match(layerFile(img, "etc/group"), /^app:x:65532:$/m);
                const env = img.config.config.Env;
                const cert = env.find((e) => e.startsWith("SSL_CERT_FILE="))?.slice(14) ?? "";
                assert.ok(all.has(cert.slice(1)), `SSL_CERT_FILE ${cert} is a file in the image`);
                assert.ok(env.includes("HOME=/tmp") && env.includes("XDG_CACHE_HOME=/tmp/.cache"), "HOME and caches on the writable mount");
            });

            it("defect 8: lowercase RepoTags, the build platform's architecture", () => {
                assert.match(img.manifest.RepoTags[0], /^myproject:[a-z0-9.]+$/);
                const arch: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };
                assert.strictEqual(img.config.architecture, arch[os.arch() === "x64" ? "x86_64" : "aarch64"]);
            });

            it("defect 7: the same build on a store after nix-store --optimise gives the same layer digests", () => {
                sh("nix-store", ["--optimise"]);
                if (label !== "popularity") {
                    // every layer built again must be bit-identical (--check fails otherwise)
                    sh("nix-store", ["--realise", "--check", ...NIX, ...layerDrvs(img)]);
                }
                const again = unpack(realEntry(args));
                try {
                    assert.deepStrictEqual(again.config.rootfs.diff_ids, img.config.rootfs.diff_ids);
                } finally {
                    release(again);
                }
            });
        });
    }

    it("issue #21: a layer of 5,000 store paths builds (the list goes in a file, not one 128 KiB environment string)", () => {
        // 5,000 small store paths made at evaluation (builtins.toFile); the layer's name is new on every
        // run, so the layer is built here, not found from an earlier run. The recipe of before
        // (the paths in one environment variable) fails at about 1,900: `Argument list too long`.
        const nonce = `${process.pid}-${Date.now()}`;
        const expr = `let host = import ${ROOT}/test/fixture/host-tools.nix; in import ${ROOT}/components/nix/docker/layer.nix {
            paths = builtins.genList (i: builtins.toFile "ngd-many-\${toString i}" "path \${toString i}\\n") 5000;
            name = "ngd-many-layer-${nonce}"; inherit (host) shell; shellPath = host.path;
          }`;
        const layer = sh("nix-build", ["--no-out-link", ...NIX, "-E", expr]).trim().split("\n").pop() as string;
        const members = sh("/bin/sh", ["-c", `gzip -dc "$0" | tar -t`, path.join(layer, "layer.tar.gz")]).split("\n").filter((l) => /^nix\/store\/[a-z0-9]{32}-ngd-many-\d+$/.test(l));
        assert.strictEqual(members.length, 5000);
        assert.strictEqual(new Set(members).size, 5000);
    });

    it("issue #21: the image's closure is its compressed layers, not also the uncompressed closure (what nix.uploadTo ships)", () => {
        const image = realEntry();
        const plan = fs.readFileSync(path.join(image, "layer-plan"), "utf8").trim();
        assert.ok(fs.existsSync(path.join(plan, "plan.json")), "the image names its plan");
        const paths = closure(image);
        assert.ok(!paths.includes(plan), "the image does not reference the plan");
        const layers = layerDrvs(unpack(image)).map((d) => sh("nix-store", ["--query", "--outputs", d]).trim());
        // the image directory and its layers; none of the packages the layers were packed from
        assert.deepStrictEqual(paths.filter((p) => p !== image).sort(), [...layers].sort());
        const inLayers = packed(image);
        assert.ok(inLayers.length > 10 && inLayers.every((p) => !paths.includes(p)));
    });

    it("issue #21: the dev shell (nix-shell nix/shell.nix) and the image share one dependency set", () => {
        const deps = `import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; }`;
        const out = execFileSync("nix-shell", [path.join(ROOT, "nix/shell.nix"), ...NIX, "--arg", "projectDependencies", deps, "--run",
            "command -v python; python -m myproject.hello; git --version; echo \"CUDA_PATH=$CUDA_PATH\""],
        { encoding: "utf8", env: { ...process.env, NIX_BUILD_SHELL: "bash" }, stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n");
        const shellEnv = path.dirname(path.dirname(out[0]));
        assert.match(shellEnv, /^\/nix\/store\/[a-z0-9]{32}-python3-3\.12\.7-env$/);
        assert.match(out[1], /ran myproject\.hello from /);
        assert.match(out[2], /^git version /);
        assert.match(out[3], /^CUDA_PATH=\/nix\/store\/[a-z0-9]{32}-cudatoolkit-/);
        // the image packs that very environment: the same store paths, not a second build of the set
        assert.ok(packed(realEntry()).includes(shellEnv), `${shellEnv} is the image's Python environment`);
    });

    it("issue #21: the entry under restricted evaluation and as a flake output is the same derivation, so the same image", () => {
        const sources = path.join(ROOT, "test/fixture/nixpkgs/sources.nix");
        const plain = sh("nix-instantiate", [...NIX, path.join(ROOT, "nix/build_container.nix"), "--argstr", "sourcesFile", sources]).trim();
        // restricted: only the project, the host tools and GitHub (pinned, hash-checked fetches) may be read;
        // the entry reads no store path and imports from no derivation (the plan is read by step 2 only)
        const tools = fs.realpathSync("/nix/var/nix/gcroots/nix-gpu-deploy-host-tools");
        const restricted = sh("nix-instantiate", [...NIX, "--option", "restrict-eval", "true", "--option", "allowed-uris", "https://github.com/",
            "-I", ROOT, "-I", "/nix/var/nix/gcroots/nix-gpu-deploy-host-tools", "-I", tools,
            path.join(ROOT, "nix/build_container.nix"), "--argstr", "sourcesFile", sources]).trim().split("\n").pop();
        assert.strictEqual(restricted, plain);
        // a flake whose output is the entry (the project as a git input, copied to the store). --impure
        // only for the miniature set's host tools, found through a GC root outside the flake.
        const flake = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-flake-"));
        try {
            fs.writeFileSync(path.join(flake, "flake.nix"), `{
  inputs.project = { url = "git+file://${ROOT}"; flake = false; };
  outputs = { self, project }: {
    packages.x86_64-linux.layerPlan = import "\${project}/nix/build_container.nix" { sources = import "\${project}/test/fixture/nixpkgs/sources.nix"; };
  };
}
`);
            const viaFlake = sh("nix", ["--extra-experimental-features", "nix-command flakes", "eval", "--raw", "--impure", ...NIX,
                `path:${flake}#packages.x86_64-linux.layerPlan.drvPath`]).trim();
            assert.strictEqual(viaFlake, plain);
        } finally {
            fs.rmSync(flake, { recursive: true, force: true });
        }
        // one plan, one image: step 2 assembles from the plan alone
        const plan = sh("nix-build", ["--no-out-link", ...NIX, plain]).trim();
        const image = sh("nix-build", ["--no-out-link", ...NIX, path.join(ROOT, "components/nix/docker/assemble-from-plan.nix"), "--argstr", "layerPlan", plan]).trim();
        assert.strictEqual(image, realEntry(["--argstr", "sourcesFile", sources]), "the same image as the two steps through the entry");
    });

    it("defect 7: layers store hard-linked files as files (bytes independent of nix-store --optimise)", () => {
        const expr = `let
            run = (import ${ROOT}/test/fixture/lib.nix { }).run;
            twins = run "twins" { } ''mkdir -p $out; echo same > $out/a; echo same > $out/b; echo ${Date.now()} > $out/stamp'';
          in import ${ROOT}/components/nix/docker/layer.nix {
            paths = [ twins ]; name = "twins-layer"; inherit (import ${ROOT}/test/fixture/host-tools.nix) shell; shellPath = (import ${ROOT}/test/fixture/host-tools.nix).path;
          }`;
        const layer = build("-E", [expr]);
        sh("nix-store", ["--optimise"]);
        sh("nix-store", ["--realise", "--check", ...NIX, sh("nix-store", ["--query", "--deriver", layer]).trim()]);
        const listing = sh("tar", ["-tvzf", path.join(layer, "layer.tar.gz")]);
        assert.doesNotMatch(listing, /link to/, "no hard-link entries");
        const diffId = sh("/bin/sh", ["-c", `gzip -dc "$0" | sha256sum | cut -c1-64`, path.join(layer, "layer.tar.gz")]).trim();
        assert.strictEqual(fs.readFileSync(path.join(layer, "diffid"), "utf8"), `sha256:${diffId}`, "diff id of the uncompressed tarball");
        const digest = sh("sha256sum", [path.join(layer, "layer.tar.gz")]).slice(0, 64);
        assert.strictEqual(fs.readFileSync(path.join(layer, "digest"), "utf8"), `sha256:${digest}`, "blob digest of the compressed one");
    });

    it("runs like the Deployment runs it: uid 65532, read-only root, no capabilities, /tmp mounted", () => {
        const stream = realEntry();
        const out = sh("bash", [path.join(ROOT, "test/run-image.sh"), stream]);
        assert.match(out, /myproject: starting/);
        assert.match(out, /ran myproject\.hello from \/nix\/store\/[a-z0-9]{32}-python3-3\.12\.7-env\/lib\/python3\.12\/site-packages\/myproject\/hello\.py/);
        const probe = sh("bash", [path.join(ROOT, "test/run-image.sh"), stream, "/bin/sh", "-c",
            'id -un; id -u; touch "$HOME/x" && echo home-writable; test -f "$SSL_CERT_FILE" && echo cert-file; echo "$NVIDIA_REQUIRE_CUDA"; touch /etc/x 2>/dev/null || echo root-read-only']);
        // issue #21: CUDA minor version compatibility: a 12.4 toolkit's code runs on every 12.x driver (R525+)
        assert.deepStrictEqual(probe.trim().split("\n"), ["app", "65532", "home-writable", "cert-file", "cuda>=12.0", "root-read-only"]);
    });

    it("issue #21: what a GPU node mounts works: the program interpreter at its FHS path, Triton's libcuda directory, video only with NVENC", () => {
        const stream = realEntry(["--argstr", "overlays", H100_OVERLAYS]);
        // The toolkit mounts the host's nvidia-smi, whose interpreter is /lib64/ld-linux-x86-64.so.2:
        // the image has it, from its own glibc.
        const loader = sh("bash", [path.join(ROOT, "test/run-image.sh"), stream, "/bin/sh", "-c", "readlink -f /lib64/ld-linux-x86-64.so.2 && test -x /lib64/ld-linux-x86-64.so.2 && echo runnable"]).trim().split("\n");
        assert.match(loader[0], /^\/nix\/store\/[a-z0-9]{32}-glibc-[^/]+\/lib\/ld-linux-x86-64\.so\.2$/);
        assert.strictEqual(loader[1], "runnable");
        // The driver's libraries mounted at /usr/lib64 (as the toolkit does for this image): the
        // entrypoint's driver environment points Triton there; without them it sets nothing.
        const driver = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-driver-"));
        try {
            fs.writeFileSync(path.join(driver, "libcuda.so.1"), "");
            fs.chmodSync(driver, 0o755);
            const entry = fs.readFileSync(unpackEntrypoint(stream), "utf8");
            const driverEnv = /^\. (\/nix\/store\/\S+-driver-env\.sh)$/m.exec(entry)?.[1] as string;
            assert.ok(driverEnv !== undefined, entry);
            const probe = (env: NodeJS.ProcessEnv) => execFileSync("bash", [path.join(ROOT, "test/run-image.sh"), stream, "/bin/sh", "-c", `. ${driverEnv}; echo "triton=\${TRITON_LIBCUDA_PATH:-unset} caps=$NVIDIA_DRIVER_CAPABILITIES"`], { encoding: "utf8", env: { ...process.env, ...env } }).trim();
            assert.strictEqual(probe({ NGD_RUN_IMAGE_DRIVER_DIR: driver }), "triton=/usr/lib64 caps=compute,utility,video");
            assert.strictEqual(probe({}), "triton=unset caps=compute,utility,video");
        } finally {
            fs.rmSync(driver, { recursive: true, force: true });
        }
        const plain = unpack(realEntry());
        try {
            assert.ok(plain.config.config.Env.includes("NVIDIA_DRIVER_CAPABILITIES=compute,utility"), "no video without the ffmpeg overlay's NVENC");
        } finally {
            release(plain);
        }
    });

    it("defect 4: the h100 ffmpeg overlay evaluates, and its ffmpeg is what the image runs (no withUnfree)", () => {
        const stream = realEntry(["--argstr", "overlays", H100_OVERLAYS]);
        const conf = sh("bash", [path.join(ROOT, "test/run-image.sh"), stream, "/bin/sh", "-c", "ffmpeg -buildconf"]).trim().split("\n");
        for (const s of ["withX264", "withX265", "withOpus", "withCuda", "withNvenc", "withNvdec"]) {
            assert.ok(conf.includes(s), `${s} on: ${conf.join(" ")}`);
        }
        assert.ok(!conf.includes("withUnfree"), "withUnfree only when a switch needs it");
        const ff = (features: string[]) => `(import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; overlays = [ { name = "ffmpeg"; args = { features = ${JSON.stringify(features)}; }; } ]; }).pkgs.ffmpeg.enabledSwitches`;
        assert.ok(evalJson(ff(["withFdkAac"])).includes("withUnfree"), "withFdkAac (GPL) needs --enable-nonfree");
        assert.throws(() => evalJson(ff(["withTurbo"])), /unknown feature switch\(es\): withTurbo/);
    });

    it("defect 3: docTR builds from its pinned source with its declared dependencies, version 0.8.1, OpenCV without CUDA", () => {
        // issue #21: nixpkgs' default Python (python3, 3.12 at 24.11): the set binary caches hold
        const env = packed(realEntry()).find((p) => /^\/nix\/store\/[a-z0-9]{32}-python3-3\.12\.7-env$/.test(p)) as string;
        const site = path.join(env, "lib/python3.12/site-packages");
        assert.ok(fs.existsSync(path.join(site, "doctr/models/__init__.py")), "docTR's own source");
        assert.ok(fs.existsSync(path.join(site, "python-doctr-0.8.1.dist-info/METADATA")) || fs.readdirSync(site).some((n) => n === "doctr-0.8.1.dist-info"), "version 0.8.1 (BUILD_VERSION), not 0.8.1a0");
        for (const m of ["torchvision", "cv2", "scipy", "h5py", "pypdfium2", "huggingface_hub", "weasyprint", "PIL"]) {
            assert.ok(fs.existsSync(path.join(site, m)), `${m} in the environment`);
        }
        const all = closure(env);
        assert.ok(all.some((p) => /-python3\.12-opencv-4/.test(p)) && !all.some((p) => /opencv-cuda/.test(p)), "opencv4 without CUDA");
    });

    it("issue #21: a runtime dependency's version constraint is checked, as nixpkgs' pythonRuntimeDepsCheckHook does", () => {
        // docTR 0.8.1 asks for numpy>=1.16.0,<2.0.0: a numpy 2 in the set fails its build, naming both
        const expr = `let d = import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; overlays = [ ]; };
            py = d.pkgs.python3.override { packageOverrides = self: super: {
              numpy = super.buildPythonPackage { pname = "numpy"; version = "2.1.3"; format = "other"; src = super.numpy.src; };
            }; };
          in py.pkgs.doctr`;
        const r = spawnSync("nix-build", ["--no-out-link", ...NIX, "-E", expr], { encoding: "utf8" });
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /numpy<2\.0\.0 not satisfied by version 2\.1\.3/);
    });

    it("defect 6: pytorch-lightning is unstable's recipe inside the stable set, with one torch (torch-bin)", () => {
        const all = packed(realEntry());
        assert.ok(all.some((p) => p.endsWith("-python3.12-pytorch-lightning-2.5.1")), "2.5.1 is the unstable tree's version (stable has 2.4.0)");
        assert.ok(!all.some((p) => p.endsWith("-python3.12-pytorch-lightning-2.4.0")));
        // torch-bin's pname is "torch", as in nixpkgs: the wheel is told from the source build by its
        // derivation, not its name
        const torches = all.filter((p) => /^\/nix\/store\/[a-z0-9]{32}-python3\.12-torch-\d/.test(p));
        const [bin, source] = evalJson(`let d = import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; overlays = [ ]; };
          in map (p: builtins.unsafeDiscardStringContext p.outPath) [ d.python.pkgs.torch-bin d.python.pkgs.torch ]`) as string[];
        assert.deepStrictEqual(torches, [bin]);
        assert.notStrictEqual(bin, source);
    });

    it("defect 8: the torch-bin choice composes with a later python.override { packageOverrides }", () => {
        const torchName = evalJson(`let d = import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; };
            py = d.pkgs.python3.override { packageOverrides = self: super: { extra = super.numpy; }; };
          in [ (py.pkgs.torch == py.pkgs.torch-bin) (py.pkgs ? extra) d.python.pkgs.pytorch-lightning.version ]`);
        assert.deepStrictEqual(torchName, [true, true, "2.5.1"]);
    });

    it("defect 9: no cudaCapabilities keeps nixpkgs' default list (no forced source builds)", () => {
        const caps = evalJson(`(import ${ROOT}/nix/dependencies.nix { sources = import ${ROOT}/test/fixture/nixpkgs/sources.nix; }).pkgs.config.cudaCapabilities`);
        assert.ok(caps.length > 2 && caps.includes("8.0") && caps.includes("9.0"), `nixpkgs default, got ${caps}`);
        const src = fs.readFileSync(path.join(ROOT, "nix/build_container.nix"), "utf8");
        assert.match(src, /cudaCapabilities \? "\[\]"/, "the entry's default is nixpkgs' list");
    });
});
