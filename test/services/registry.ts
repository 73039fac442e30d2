// A real OCI registry (Debian docker-registry) on 127.0.0.1, started and stopped by the tests.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface Registry {
    /** `127.0.0.1:PORT` */
    host: string;
    dir: string;
    storage: string;
    pid: number;
    stop(): Promise<void>;
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

function ping(host: string): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get(`http://${host}/v2/`, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.setTimeout(1000, () => req.destroy());
    });
}

/** Starts docker-registry with filesystem storage; with `auth`, htpasswd (bcrypt) authentication. */
export async function startRegistry(opts: { auth?: { username: string; password: string } } = {}): Promise<Registry> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-registry-"));
    const storage = path.join(dir, "storage");
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    let auth = "";
    if (opts.auth !== undefined) {
        const entry = execFileSync("htpasswd", ["-niB", opts.auth.username], { input: `${opts.auth.password}\n`, encoding: "utf8" }).trim();
        fs.writeFileSync(path.join(dir, "htpasswd"), `${entry}\n`, { mode: 0o600 });
        auth = `auth:\n  htpasswd:\n    realm: ngd\n    path: ${path.join(dir, "htpasswd")}\n`;
    }
    fs.writeFileSync(path.join(dir, "config.yml"), [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${storage}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${host}`,
        auth,
    ].join("\n"));
    const log = fs.openSync(path.join(dir, "registry.log"), "a");
    const child: ChildProcess = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", log, log], detached: false });
    const pid = child.pid ?? -1;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    for (let i = 0; i < 100; i++) {
        const code = await ping(host);
        if (code === 200 || code === 401) {
            return {
                host, dir, storage, pid,
                async stop() {
                    child.kill("SIGTERM");
                    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
                    if (child.exitCode === null) {
                        child.kill("SIGKILL");
                    }
                    fs.rmSync(dir, { recursive: true, force: true });
                },
            };
        }
        if (child.exitCode !== null) {
            break;
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGKILL");
    throw new Error(`docker-registry did not start on ${host}: ${fs.readFileSync(path.join(dir, "registry.log"), "utf8").slice(-2000)}`);
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
