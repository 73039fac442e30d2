// Helpers of the real-engine e2e suite: a private copy of the project, the Pulumi environment
// (file backend, passphrase secrets, plugins from PATH), a nix-build counter, the cluster's API and
// the registry's numbers.
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { blobBytes } from "../services/registry";

export const ROOT = path.resolve(__dirname, "../..");
export const TOOLS = process.env.NGD_TOOLS ?? path.join(os.homedir(), ".cache/nix-gpu-deploy/tools");

export interface ClusterEnv {
    NGD_KUBECONFIG: string;
    NGD_REGISTRY: string;
    NGD_REGISTRY_USER: string;
    NGD_REGISTRY_PASSWORD_FILE: string;
    NGD_REGISTRY_STORAGE: string;
    NGD_REGISTRY_LOG: string;
    NGD_API: string;
    NGD_PKI: string;
    NGD_DOCKER_HOST: string;
}

export function clusterDir(): string {
    return process.env.NGD_CLUSTER_DIR ?? path.join(os.tmpdir(), "ngd-cluster-e2e");
}

export function cluster(cmd: "up" | "down"): void {
    execFileSync(path.join(ROOT, "test/e2e/cluster.sh"), [cmd], {
        stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NGD_CLUSTER_DIR: clusterDir() },
    });
}

export function readClusterEnv(): ClusterEnv {
    const text = fs.readFileSync(path.join(clusterDir(), "env"), "utf8");
    return Object.fromEntries(text.trim().split("\n").map((l) => l.split("=", 2))) as unknown as ClusterEnv;
}

/** A copy of the tracked project files (node_modules linked), so stack config edits stay out of the repo. */
export function copyProject(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-e2e-project-"));
    const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter((f) => f !== "");
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    return dir;
}

export interface Shims {
    binDir: string;
    /** nix-build runs so far. */
    count: () => number;
    /** skopeo runs so far. */
    pushes: () => number;
    /** While on, every skopeo run waits this many seconds before it starts (a window to interrupt a push in). */
    slowPush: (seconds: number | undefined) => void;
}

/** `nix-build` and `skopeo` in front of the real ones, counting their runs; skopeo can be slowed down. */
export function toolShims(dir: string): Shims {
    const which = (cmd: string) => execFileSync("/bin/sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim();
    const binDir = path.join(dir, "shim");
    const counter = path.join(dir, "nix-build.count");
    const pushCounter = path.join(dir, "skopeo.count");
    const slow = path.join(dir, "slow-push");
    fs.mkdirSync(binDir, { recursive: true });
    fs.writeFileSync(path.join(binDir, "nix-build"), `#!/bin/sh\necho run >> ${counter}\nexec ${which("nix-build")} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(binDir, "skopeo"), `#!/bin/sh\necho run >> ${pushCounter}\n[ -f ${slow} ] && sleep "$(cat ${slow})"\nexec ${which("skopeo")} "$@"\n`, { mode: 0o755 });
    const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => l !== "").length : 0);
    return {
        binDir,
        count: () => lines(counter),
        pushes: () => lines(pushCounter),
        slowPush: (seconds) => (seconds === undefined ? fs.rmSync(slow, { force: true }) : fs.writeFileSync(slow, String(seconds))),
    };
}

export async function localStack(projectDir: string, stateDir: string, extraPath: string[]): Promise<Stack> {
    process.env.PATH = [...extraPath, path.join(TOOLS, "bin"), process.env.PATH].join(path.delimiter);
    const envVars = {
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_HOME: path.join(stateDir, "..", "pulumi-home"),
        PATH: process.env.PATH,
    };
    return LocalWorkspace.createOrSelectStack({ stackName: "local", workDir: projectDir }, { envVars });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes objects are arbitrary JSON
export type K8sObject = any;

/** GET against the rehearsal apiserver with the admin client certificate; undefined on 404. */
export function kubeGet(env: ClusterEnv, apiPath: string): Promise<K8sObject | undefined> {
    const pki = (f: string) => fs.readFileSync(path.join(env.NGD_PKI, f));
    return new Promise((resolve, reject) => {
        const req = https.get(`${env.NGD_API}${apiPath}`, { ca: pki("ca.crt"), cert: pki("admin.crt"), key: pki("admin.key") }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => {
                if (res.statusCode === 404) {
                    resolve(undefined);
                } else if (res.statusCode !== 200) {
                    reject(new Error(`GET ${apiPath}: ${res.statusCode} ${body.slice(0, 300)}`));
                } else {
                    resolve(JSON.parse(body));
                }
            });
        });
        req.on("error", reject);
    });
}

export interface RegistryNumbers {
    storageBytes: number;
    blobUploads: number;
}

/** Registry storage size and the number of blob uploads completed (from its access log). */
export function registryNumbers(env: ClusterEnv): RegistryNumbers {
    const log = fs.existsSync(env.NGD_REGISTRY_LOG) ? fs.readFileSync(env.NGD_REGISTRY_LOG, "utf8") : "";
    const uploads = log.split("\n").filter((l) => /"PUT \/v2\/[^"]*\/blobs\/uploads\/[^"]*digest=sha256/.test(l) && / 201 /.test(l)).length;
    return { storageBytes: blobBytes(env.NGD_REGISTRY_STORAGE), blobUploads: uploads };
}

/** Compressed size of an image in the registry (manifest layers + config). */
export function imageBytes(env: ClusterEnv, ref: string): number {
    const password = fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim();
    const raw = execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${env.NGD_REGISTRY_USER}:${password}`, `docker://${ref}`], { encoding: "utf8" });
    const m = JSON.parse(raw);
    return m.config.size + m.layers.reduce((s: number, l: { size: number }) => s + l.size, 0);
}

/** Pulls `ref` from the rehearsal registry into the rehearsal dockerd, runs it hardened and returns its first output. */
export function runImage(env: ClusterEnv, ref: string): string {
    const config = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-docker-config-"));
    const docker = (args: string[], input?: string) => execFileSync("docker", ["--host", env.NGD_DOCKER_HOST, "--config", config, ...args], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
    try {
        docker(["login", "--username", env.NGD_REGISTRY_USER, "--password-stdin", env.NGD_REGISTRY], fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim());
        docker(["pull", "--quiet", ref]);
        const id = docker(["run", "--detach", "--network", "none", "--read-only", "--user", "65532:65532", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", ref]).trim();
        try {
            for (let i = 0; i < 50; i++) {
                const logs = docker(["logs", id]);
                if (logs.includes("cuda capabilities")) {
                    return logs;
                }
                execFileSync("sleep", ["0.2"]);
            }
            return docker(["logs", id]);
        } finally {
            docker(["rm", "--force", id]);
        }
    } finally {
        fs.rmSync(config, { recursive: true, force: true });
    }
}

/** TCP ports our processes listen on that are not loopback. */
export function nonLoopbackListeners(pids: number[]): string[] {
    const inodes = new Set<string>();
    for (const pid of pids) {
        const fdDir = `/proc/${pid}/fd`;
        if (!fs.existsSync(fdDir)) {
            continue;
        }
        for (const fd of fs.readdirSync(fdDir)) {
            try {
                const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(path.join(fdDir, fd)));
                if (m) {
                    inodes.add(m[1]);
                }
            } catch {
                // fd closed meanwhile
            }
        }
    }
    const bad: string[] = [];
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
        for (const line of fs.readFileSync(file, "utf8").split("\n").slice(1)) {
            const cols = line.trim().split(/\s+/);
            if (cols.length < 10 || cols[3] !== "0A" || !inodes.has(cols[9])) {
                continue;
            }
            const addr = cols[1].split(":")[0];
            const loopback = addr === "0100007F" || /^0{24}01000000$/.test(addr) || /^0000000000000000FFFF00000100007F$/.test(addr) || (addr.length === 8 && addr.endsWith("7F"));
            if (!loopback) {
                bad.push(`${file} ${cols[1]}`);
            }
        }
    }
    return bad;
}

/** Polls `check` every 200 ms until it holds; fails after `seconds`. */
export async function waitUntil(what: string, seconds: number, check: () => boolean | Promise<boolean>): Promise<void> {
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
        if (await check()) {
            return;
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

/** The pids recorded by cluster.sh. */
export function clusterPids(): number[] {
    const dir = path.join(clusterDir(), "pids");
    return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => Number(fs.readFileSync(path.join(dir, f), "utf8").trim())) : [];
}
