// With Debian nix, a real registry and skopeo: a one-package change re-pushes one layer.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { skopeoPushScript } from "../../components/exec";
import { Registry, blobBytes, startRegistry } from "../services/registry";
import { ROOT } from "../unit/harness";

const NIX = ["--option", "substituters", ""];
const nixBuild = (args: string[]) => execFileSync("nix-build", ["--no-out-link", ...NIX, path.join(ROOT, "test/fixture/blobs.nix"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").pop() as string;

interface ArchiveInfo { diffIds: string[] }
function archiveInfo(stream: string): ArchiveInfo {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-arch-"));
    try {
        execFileSync("/bin/sh", ["-c", `"$0" | tar -xf - -C "$1" --wildcards '*.json'`, stream, dir]);
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
        const config = JSON.parse(fs.readFileSync(path.join(dir, manifest[0].Config), "utf8"));
        return { diffIds: config.rootfs.diff_ids };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function push(registry: Registry, stream: string, tag: string): string {
    const script = skopeoPushScript({ destination: `${registry.host}/blobs:${tag}`, insecure: true, withCredentials: true });
    return execFileSync("/bin/sh", ["-c", script], {
        env: { ...process.env, NGD_IMAGE: stream, NGD_REGISTRY: registry.host, REGISTRY_USERNAME: registry.username, REGISTRY_PASSWORD: registry.password },
        encoding: "utf8",
    }).trim();
}

function manifestLayers(registry: Registry, digest: string): Array<{ digest: string; size: number }> {
    const raw = execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${registry.username}:${registry.password}`, `docker://${registry.host}/blobs@${digest}`], { encoding: "utf8" });
    return JSON.parse(raw).layers;
}

describe("layering against a real registry", function () {
    this.timeout(300000);
    let registry: Registry;
    before(async () => {
        registry = await startRegistry();
    });
    after(() => registry?.stop());

    it("builds reproducibly: a forced rebuild (nix-build --check) is bit-identical", () => {
        const drv = execFileSync("nix-instantiate", [...NIX, path.join(ROOT, "test/fixture/blobs.nix")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
        nixBuild([]);
        const archiveDrv = execFileSync("nix-store", ["--query", "--references", drv], { encoding: "utf8" }).split("\n").find((l) => l.endsWith("-blobs-image.tar.drv")) as string;
        execFileSync("nix-store", ["--realise", "--check", ...NIX, archiveDrv], { stdio: ["ignore", "ignore", "pipe"] });
    });

    it("re-pushes only the changed package's layer (and the small top layer)", () => {
        const before = nixBuild([]);
        const after = nixBuild(["--argstr", "bump", "b07"]);
        const a = archiveInfo(before);
        const b = archiveInfo(after);
        assert.strictEqual(a.diffIds.length, 13, "one layer per package");
        const changed = b.diffIds.filter((d) => !a.diffIds.includes(d));
        assert.strictEqual(changed.length, 2, "b07 and the top package that references it");

        const d1 = push(registry, before, "v1");
        const size1 = blobBytes(registry.storage);
        const again = push(registry, before, "v1-again");
        assert.strictEqual(again, d1, "same image, same digest");
        assert.strictEqual(blobBytes(registry.storage), size1, "pushing an unchanged image adds nothing");
        const d2 = push(registry, after, "v2");
        const growth = blobBytes(registry.storage) - size1;

        const l1 = manifestLayers(registry, d1);
        const l2 = manifestLayers(registry, d2);
        const newLayers = l2.filter((l) => !l1.some((x) => x.digest === l.digest));
        assert.strictEqual(newLayers.length, 2);
        const b07 = 448 * 1024;
        const image = l2.reduce((s, l) => s + l.size, 0);
        console.log(`      image ${image} B in ${l2.length} layers; changed package ${b07} B; registry grew ${growth} B (${(100 * growth / image).toFixed(1)}% of the image)`);
        assert.ok(growth >= b07 && growth < b07 + 64 * 1024, `growth ${growth} should be about ${b07}`);
    });
});
