import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { fingerprintNixFile, nixPathLiterals } from "../../components/nix/fingerprint";
import { ROOT } from "./harness";

function nixFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
            return e.name === "node_modules" || e.name.startsWith(".") ? [] : nixFiles(p);
        }
        return e.name.endsWith(".nix") ? [p] : [];
    });
}

describe("the nix tree", () => {
    const files = nixFiles(ROOT);
    it("has the files the program needs", () => {
        for (const f of ["nix/build_container.nix", "nix/dependencies.nix", "nix/pins.nix", "nix/overlay/replace-torch.nix", "nix/overlay/ffmpeg.nix", "components/nix/docker/buildCudaLayeredImage.nix", "test/fixture/default.nix"]) {
            assert.ok(files.includes(path.join(ROOT, f)), f);
        }
    });
    for (const f of files) {
        it(`nix-instantiate --parse ${path.relative(ROOT, f)}`, () => {
            execFileSync("nix-instantiate", ["--parse", f], { stdio: ["ignore", "ignore", "pipe"] });
        });
    }
    it("pins every fetch with a hash and never uses <nixpkgs>", () => {
        for (const f of files) {
            const src = fs.readFileSync(f, "utf8").replace(/#.*$/gm, "");
            assert.ok(!/<nixpkgs>/.test(src), `${f}: <nixpkgs>`);
            for (const m of src.matchAll(/fetch(?:Tarball|url|FromGitHub|git)\s*\{/g)) {
                const body = src.slice(m.index ?? 0).split(/\n\s*\};?/)[0];
                assert.match(body, /sha256|hash/, `${f}: unhashed fetch`);
            }
        }
    });
    it("writes overlays final: prev: and has no top-level `with`", () => {
        for (const f of files.filter((x) => x.includes(`${path.sep}overlay${path.sep}`))) {
            const src = fs.readFileSync(f, "utf8");
            assert.match(src, /^final: prev:/m, f);
            assert.ok(!/self: super:/.test(src), f);
        }
        for (const f of files) {
            assert.ok(!/^with /m.test(fs.readFileSync(f, "utf8")), `${f}: top-level with`);
        }
    });
    it("issue #21: NVIDIA_REQUIRE_CUDA can be set; an aarch64 image looks for the driver in aarch64-linux-gnu", () => {
        const config = (system: string, extra: string) => JSON.parse(JSON.parse(execFileSync("nix-instantiate", ["--option", "substituters", "", "--eval", "--strict", "--json", "-E", `
          let
            pkgs = import ${ROOT}/test/fixture/nixpkgs/stable { system = "${system}"; };
            captured = import ${ROOT}/components/nix/docker/buildCudaLayeredImage.nix ({
              pkgs = pkgs // { dockerTools.streamLayeredImage = args: args; };
              layerStrategy = "popularity"; cudatoolkit = { version = "12.4.131.2"; }; name = "x"; entrypoint = "exec true";
            } // ${extra});
          in builtins.unsafeDiscardStringContext (builtins.toJSON captured.config)`], { encoding: "utf8" }))) as { Env: string[] };
        assert.ok(config("x86_64-linux", `{ requireCuda = "cuda>=12.4"; }`).Env.includes("NVIDIA_REQUIRE_CUDA=cuda>=12.4"));
        const arm = config("aarch64-linux", "{ }").Env.find((e) => e.startsWith("LD_LIBRARY_PATH=")) as string;
        assert.match(arm, /:\/usr\/lib\/aarch64-linux-gnu$/);
    });
    it("merges the caller's Env into the recipe's env instead of replacing it (miniature set on nixpkgs' lib)", () => {
        const out = execFileSync("nix-instantiate", ["--option", "substituters", "", "--eval", "--strict", "--json", "-E", `
          let
            pkgs = import ${ROOT}/test/fixture/nixpkgs/stable { };
            captured = import ${ROOT}/components/nix/docker/buildCudaLayeredImage.nix {
              pkgs = pkgs // { dockerTools.streamLayeredImage = args: args; };
              layerStrategy = "popularity";
              cudatoolkit = { version = "12.4.131.2"; };
              name = "x";
              entrypoint = "exec true";
              env = [ "PYTHONUNBUFFERED=1" "NVIDIA_DRIVER_CAPABILITIES=all" ];
            };
          in builtins.unsafeDiscardStringContext (builtins.toJSON captured.config)`], { encoding: "utf8" });
        const cfg = JSON.parse(JSON.parse(out));
        assert.match(cfg.Entrypoint[0], /^\/nix\/store\/[a-z0-9]{32}-x-entrypoint$/);
        assert.ok(cfg.Env.includes("PYTHONUNBUFFERED=1"));
        assert.ok(cfg.Env.includes("CUDA_VERSION=12.4.131"));
        // defect 5: a CUDA_VERSION image needs NVIDIA_REQUIRE_CUDA; issue #21: the major version only
        // (minor version compatibility: R525+ drivers run any 12.x build)
        assert.ok(cfg.Env.includes("NVIDIA_REQUIRE_CUDA=cuda>=12.0"), cfg.Env.join(" "));
        assert.ok(cfg.Env.includes("NVIDIA_DRIVER_CAPABILITIES=all"), "caller wins");
        assert.ok(!cfg.Env.includes("NVIDIA_DRIVER_CAPABILITIES=compute,utility"));
        assert.ok(!cfg.Env.some((e: string) => e.startsWith("NVIDIA_VISIBLE_DEVICES=")), "no GPU visibility baked in");
        const ld = cfg.Env.find((e: string) => e.startsWith("LD_LIBRARY_PATH="))?.split("=")[1].split(":") ?? [];
        for (const d of ["/run/opengl-driver/lib", "/usr/local/nvidia/lib64", "/usr/lib64", "/usr/lib/x86_64-linux-gnu"]) {
            assert.ok(ld.includes(d), `LD_LIBRARY_PATH covers ${d}`);
        }
    });
});

describe("fingerprints", () => {
    it("follow relative imports and ignore comments", () => {
        assert.deepStrictEqual(nixPathLiterals("# ./nope.nix\nimport ./a.nix { x = ../b; } /* ./c */"), ["./a.nix", "../b"]);
        const fp = fingerprintNixFile(path.join(ROOT, "nix/dependencies.nix"), ROOT);
        const names = fp.files.map((f) => f.file);
        for (const f of ["nix/dependencies.nix", "nix/sources.nix", "nix/pins.nix", "nix/overlay/replace-torch.nix", "nix/packages/doctr.nix"]) {
            assert.ok(names.includes(f), f);
        }
    });
});
