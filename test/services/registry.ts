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
