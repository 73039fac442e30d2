// A real OCI registry on 127.0.0.1 for tests that need no cluster: the same docker-registry setup
// (htpasswd auth, filesystem storage) that test/e2e/cluster.sh runs, started alone in a private
// directory on a free port and stopped by its pid.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const CLUSTER_SH = path.resolve(__dirname, "../e2e/cluster.sh");

export interface Registry {
    /** `127.0.0.1:PORT` */
    host: string;
    storage: string;
    /** The registry's log, with its access log: what it received (`blobUploads`). */
    log: string;
    username: string;
    password: string;
    stop(): void;
}

export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

/** Starts docker-registry through `cluster.sh start registry` with its own state directory and port. */
export async function startRegistry(): Promise<Registry> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-registry-"));
    const port = await freePort();
    const env = { ...process.env, NGD_CLUSTER_DIR: dir, NGD_REGISTRY_PORT: String(port) };
    execFileSync(CLUSTER_SH, ["start", "registry"], { env, stdio: ["ignore", "ignore", "inherit"] });
    return {
        host: `127.0.0.1:${port}`,
        storage: path.join(dir, "registry", "storage"),
        log: path.join(dir, "logs", "registry.log"),
        username: process.env.NGD_REGISTRY_USER ?? "ngd",
        password: fs.readFileSync(path.join(dir, "registry", "password"), "utf8").trim(),
        stop() {
            execFileSync(CLUSTER_SH, ["stop", "registry"], { env, stdio: ["ignore", "ignore", "inherit"] });
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

/** Bytes under the registry's blob store. */
export function blobBytes(storage: string): number {
    const dir = path.join(storage, "docker/registry/v2/blobs");
    if (!fs.existsSync(dir)) {
        return 0;
    }
    const walk = (d: string): number => fs.readdirSync(d, { withFileTypes: true })
        .reduce((s, e) => s + (e.isDirectory() ? walk(path.join(d, e.name)) : e.isFile() ? fs.statSync(path.join(d, e.name)).size : 0), 0);
    return walk(dir);
}

export interface BlobUploads {
    /** Completed blob uploads (the final `PUT …/blobs/uploads/…?digest=` answered 201). */
    count: number;
    /** Their bytes: each uploaded digest's size in the registry's store. */
    bytes: number;
    digests: string[];
}

/**
 * What a registry received, counted at the registry: from its access log (`skip` lines already
 * counted are left out, so a test can count one push). A re-upload of a blob the registry already
 * held counts again: storage growth cannot see it, the access log does.
 */
export function blobUploads(log: string, storage: string, skip = 0): BlobUploads {
    const lines = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").slice(skip) : [];
    const digests = lines.flatMap((l) => {
        const m = /"PUT \/v2\/[^"]*\/blobs\/uploads\/[^"]*[?&]digest=sha256(?:%3A|:)([a-f0-9]{64})[^"]*" 201 /.exec(l);
        return m === null ? [] : [m[1]];
    });
    const size = (hex: string) => {
        const data = path.join(storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
        return fs.existsSync(data) ? fs.statSync(data).size : 0;
    };
    return { count: digests.length, bytes: digests.reduce((s, d) => s + size(d), 0), digests: digests.map((d) => `sha256:${d}`) };
}

/** Lines in the registry's log so far (to count one push with `blobUploads(…, skip)`). */
export function logLines(log: string): number {
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").length - 1 : 0;
}
