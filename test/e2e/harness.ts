// Helpers of the real-engine e2e suite: a private copy of the project, the Pulumi environment
// (file backend, passphrase secrets, plugins from PATH), a nix-build counter, the cluster's API and
// the registry's numbers.
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
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
    NGD_REGISTRY_OPEN: string;
    NGD_REGISTRY_OPEN_STORAGE: string;
    NGD_REGISTRY_OPEN_LOG: string;
    NGD_REGISTRY_TLS: string;
    NGD_REGISTRY_TLS_STORAGE: string;
    NGD_REGISTRY_TLS_LOG: string;
    NGD_CA_BUNDLE: string;
}

/** One of the rehearsal registries, as a stack sees it and as the tests measure it. */
export interface RegistryTarget {
    /** `registry` (HTTP + auth), `registry-open` (HTTP, no auth), `registry-tls` (HTTPS, private CA, auth). */
    name: "registry" | "registry-open" | "registry-tls";
    host: string;
    storage: string;
    log: string;
    auth: boolean;
    insecure: boolean;
}

export function registryTargets(env: ClusterEnv): Record<RegistryTarget["name"], RegistryTarget> {
    return {
        "registry": { name: "registry", host: env.NGD_REGISTRY, storage: env.NGD_REGISTRY_STORAGE, log: env.NGD_REGISTRY_LOG, auth: true, insecure: true },
        "registry-open": { name: "registry-open", host: env.NGD_REGISTRY_OPEN, storage: env.NGD_REGISTRY_OPEN_STORAGE, log: env.NGD_REGISTRY_OPEN_LOG, auth: false, insecure: true },
        "registry-tls": { name: "registry-tls", host: env.NGD_REGISTRY_TLS, storage: env.NGD_REGISTRY_TLS_STORAGE, log: env.NGD_REGISTRY_TLS_LOG, auth: true, insecure: false },
    };
}

export function clusterDir(): string {
    return process.env.NGD_CLUSTER_DIR ?? path.join(os.tmpdir(), "ngd-cluster-e2e");
}

export function cluster(...args: string[]): void {
    execFileSync(path.join(ROOT, "test/e2e/cluster.sh"), args, {
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
    /** Publisher runs so far: skopeo runs and `docker load`s (the docker publisher's first step). */
    pushes: () => number;
    /** While on, every skopeo run and `docker load` waits this many seconds before it starts (a window to interrupt a push in). */
    slowPush: (seconds: number | undefined) => void;
    /** nix-instantiate runs so far (evaluations; a cached one runs none). */
    evaluations: () => number;
    /** Lines Nix (nix-build, nix-store) has printed on stderr so far: a mark for `nixSince`. */
    nixMark: () => number;
    /** Nix's own account of what it did since a mark: derivations built here, built on remote builders, paths fetched from caches. */
    nixSince: (mark: number) => NixActivity;
}

/** What Nix said it did, from its own progress lines ("building '…'", "copying path '…' from '…'"). */
export interface NixActivity {
    builtHere: string[];
    builtRemotely: Array<{ drv: string; on: string }>;
    fetched: Array<{ path: string; from: string }>;
}

/** Pure: parses Nix's stderr progress lines. */
function activityText(line: string): string {
    try {
        const e = JSON.parse(line.slice(5)) as { action?: string; text?: unknown };
        return e.action === "start" && typeof e.text === "string" ? e.text : "";
    } catch {
        return "";
    }
}

export function nixActivity(lines: string[]): NixActivity {
    const a: NixActivity = { builtHere: [], builtRemotely: [], fetched: [] };
    for (const raw of lines) {
        // The build's nix-builds log in Nix's internal-json format (for the progress filter): an
        // activity's start carries the text Nix prints otherwise.
        const l = raw.startsWith("@nix ") ? activityText(raw) : raw;
        let m = /^building '(\/nix\/store\/[^']+\.drv)' on '([^']+)'/.exec(l);
        if (m) {
            a.builtRemotely.push({ drv: m[1], on: m[2] });
            continue;
        }
        m = /^building '(\/nix\/store\/[^']+\.drv)'/.exec(l);
        if (m) {
            a.builtHere.push(m[1]);
            continue;
        }
        m = /^copying path '(\/nix\/store\/[^']+)' from '((?:https?|file|s3):\/\/[^']+)'/.exec(l);
        if (m) {
            a.fetched.push({ path: m[1], from: m[2] });
        }
    }
    return a;
}

/** `nix-build`, `skopeo` and `docker` in front of the real ones, counting builds and publisher runs; publishing can be slowed down. */
export function toolShims(dir: string): Shims {
    const which = (cmd: string) => execFileSync("/bin/sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim();
    const binDir = path.join(dir, "shim");
    const counter = path.join(dir, "nix-build.count");
    const pushCounter = path.join(dir, "skopeo.count");
    const slow = path.join(dir, "slow-push");
    fs.mkdirSync(binDir, { recursive: true });
    const nixLog = path.join(dir, "nix-stderr.log");
    // Nix's stderr is copied (tee) into one log, so tests can read what Nix says it built or fetched.
    // one line per run, with its arguments: a run on a .nix file evaluates it, one on a .drv does not
    fs.writeFileSync(path.join(binDir, "nix-build"), `#!/bin/bash\necho "run $*" >> ${counter}\nexec 2> >(tee -a ${nixLog} >&2)\nexec ${which("nix-build")} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(binDir, "nix-store"), `#!/bin/bash\nexec 2> >(tee -a ${nixLog} >&2)\nexec ${which("nix-store")} "$@"\n`, { mode: 0o755 });
    const evalCounter = path.join(dir, "nix-instantiate.count");
    fs.writeFileSync(path.join(binDir, "nix-instantiate"), `#!/bin/sh\necho run >> ${evalCounter}\nexec ${which("nix-instantiate")} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(binDir, "skopeo"), `#!/bin/sh\necho run >> ${pushCounter}\n[ -f ${slow} ] && sleep "$(cat ${slow})"\nexec ${which("skopeo")} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(binDir, "docker"), `#!/bin/sh\nif [ "$1" = load ]; then echo run >> ${pushCounter}; [ -f ${slow} ] && sleep "$(cat ${slow})"; fi\nexec ${which("docker")} "$@"\n`, { mode: 0o755 });
    const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => l !== "").length : 0);
    return {
        binDir,
        count: () => lines(counter),
        pushes: () => lines(pushCounter),
        slowPush: (seconds) => (seconds === undefined ? fs.rmSync(slow, { force: true }) : fs.writeFileSync(slow, String(seconds))),
        // Evaluations of an entry (and of nixpkgs with it): nix-instantiate runs (the program's) and
        // nix-builds of a .nix file other than the assembly step, which evaluates no nixpkgs.
        evaluations: () => lines(evalCounter) + (fs.existsSync(counter) ? fs.readFileSync(counter, "utf8").split("\n")
            .filter((l) => /\.nix(\s|$)/.test(l) && !/assemble-from-plan\.nix/.test(l)).length : 0),
        nixMark: () => (fs.existsSync(nixLog) ? fs.readFileSync(nixLog, "utf8").split("\n").length - 1 : 0),
        nixSince: (mark) => nixActivity(fs.existsSync(nixLog) ? fs.readFileSync(nixLog, "utf8").split("\n").slice(mark) : []),
    };
}

/** The Pulumi home whose plugin directory every suite shares: the toolchain's plugins, installed once. */
export const PLUGIN_HOME = path.join(TOOLS, "pulumi-home");
const pluginsLinked = new Set<string>();

/**
 * Gives a suite's Pulumi home the toolchain's resource plugins as installed plugins
 * (`toolchain.sh install-plugins`, into PLUGIN_HOME once, then a link to its plugin directory):
 * the engine finds them in its plugin directory, as a user's `pulumi plugin install` leaves them,
 * so it prints no "using pulumi-resource-… from $PATH". Where the toolchain built no plugins (a
 * machine with a normal Pulumi install), the home's own plugin directory is used.
 */
export function linkPlugins(pulumiHome: string): void {
    if (pluginsLinked.has(pulumiHome)) {
        return;
    }
    if (pluginsLinked.size === 0) {
        execFileSync(path.join(ROOT, "test/e2e/toolchain.sh"), ["install-plugins"], { env: { ...process.env, PULUMI_HOME: PLUGIN_HOME }, stdio: ["ignore", "inherit", "inherit"] });
    }
    fs.mkdirSync(pulumiHome, { recursive: true });
    const link = path.join(pulumiHome, "plugins");
    if (fs.existsSync(path.join(PLUGIN_HOME, "plugins")) && !fs.existsSync(link)) {
        fs.symlinkSync(path.join(PLUGIN_HOME, "plugins"), link);
    }
    pluginsLinked.add(pulumiHome);
}

/**
 * The environment of every Pulumi run of a suite: file backend, passphrase secrets, no plugin
 * downloads (the plugins are the toolchain's, installed into the plugin directory: `linkPlugins`;
 * or the installed ones), and the rehearsal CA trusted the way Go programs trust a private CA
 * (SSL_CERT_FILE), as a user's machine would.
 */
export function pulumiEnv(stateDir: string, env: ClusterEnv): Record<string, string> {
    const home = path.join(stateDir, "..", "pulumi-home");
    linkPlugins(home);
    return {
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_HOME: home,
        // each suite's stacks keep their GC roots (components/exec.ts gcRootDir) in the suite's directory
        NGD_GC_ROOT_DIR: path.join(stateDir, "..", "gcroots"),
        SSL_CERT_FILE: env.NGD_CA_BUNDLE,
        PATH: process.env.PATH ?? "",
    };
}

export async function localStack(projectDir: string, stateDir: string, extraPath: string[], env: ClusterEnv): Promise<Stack> {
    process.env.PATH = [...extraPath, path.join(TOOLS, "bin"), process.env.PATH].join(path.delimiter);
    return LocalWorkspace.createOrSelectStack({ stackName: "local", workDir: projectDir }, { envVars: pulumiEnv(stateDir, env) });
}

/** A preview that must fail (a refused config): its message, stdout and stderr, as one text. */
export async function refusedPreview(stack: Stack): Promise<string> {
    let out = "";
    await assert.rejects(stack.preview({ color: "never" }), (e: Error & { stdout?: string; stderr?: string }) => {
        out = `${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`;
        return true;
    });
    return out;
}

/** Points the stack at one of the rehearsal registries (credentials only where it has auth). */
export async function useRegistry(stack: Stack, target: RegistryTarget, password: string): Promise<void> {
    await stack.setConfig("registry.host", { value: target.host }, true);
    await stack.setConfig("registry.insecure", { value: String(target.insecure) }, true);
    if (target.auth) {
        await stack.setConfig("registry.username", { value: "ngd" }, true);
        await stack.setConfig("registryPassword", { value: password, secret: true });
    } else {
        await stack.removeConfig("registry.username", true);
        await stack.removeConfig("registryPassword");
    }
}

/** Which plugin binary ran, and whether it is the one the toolchain built from the upstream source. */
export interface PluginRun {
    name: string;
    exe: string;
    /** The toolchain's record of the binary it built from ../shared/upstream; undefined where it built none. */
    fromUpstream?: boolean;
    /** Version and source tarball of that build. */
    version?: string;
    source?: string;
}

/** The toolchain's record of a plugin it built from ../shared/upstream (sha256, version, source tarball). */
function upstreamRecord(name: string): Record<string, string> | undefined {
    const f = path.join(TOOLS, "plugins", name);
    return fs.existsSync(f) ? Object.fromEntries(fs.readFileSync(f, "utf8").trim().split("\n").map((l) => l.split("=", 2))) : undefined;
}

/**
 * Watches /proc while a Pulumi run is going, recording every plugin process (language hosts and
 * resource providers) by the executable it runs.
 */
export function watchPlugins(): { stop: () => PluginRun[] } {
    const seen = new Map<string, string>();
    const scan = () => {
        for (const pid of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(pid)) {
                continue;
            }
            try {
                const exe = fs.readlinkSync(`/proc/${pid}/exe`);
                const name = path.basename(exe);
                if (/^pulumi-(language|resource)-/.test(name)) {
                    seen.set(exe, name);
                }
            } catch {
                // gone meanwhile, or not ours
            }
        }
    };
    const timer = setInterval(scan, 100);
    return {
        stop: () => {
            clearInterval(timer);
            scan();
            return [...seen.entries()].map(([exe, name]) => {
                const record = upstreamRecord(name);
                if (record === undefined || !fs.existsSync(exe)) {
                    return { name, exe };
                }
                const sum = execFileSync("sha256sum", [exe], { encoding: "utf8" }).split(" ")[0];
                return { name, exe, fromUpstream: sum === record.sha256, version: record.version, source: record.source };
            }).sort((a, b) => a.name.localeCompare(b.name));
        },
    };
}

/** Whether the toolchain built `name` from ../shared/upstream (else the installed plugin is used). */
export function builtFromUpstream(name: string): boolean {
    return upstreamRecord(name) !== undefined;
}

/**
 * Processes started by Pulumi runs with this PULUMI_HOME that are still alive (plugins outlive a
 * killed engine: the engine starts them in their own process groups).
 */
export function processesOf(pulumiHome: string): number[] {
    const marker = Buffer.from(`PULUMI_HOME=${pulumiHome}\0`);
    const pids: number[] = [];
    for (const pid of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(pid) || Number(pid) === process.pid) {
            continue;
        }
        try {
            if (fs.readFileSync(`/proc/${pid}/environ`).includes(marker)) {
                pids.push(Number(pid));
            }
        } catch {
            // gone meanwhile
        }
    }
    return pids;
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

/** Registry storage size and the number of blob uploads completed (from its access log); default: the main registry. */
export function registryNumbers(env: ClusterEnv, target: RegistryTarget = registryTargets(env).registry): RegistryNumbers {
    const log = fs.existsSync(target.log) ? fs.readFileSync(target.log, "utf8") : "";
    const uploads = log.split("\n").filter((l) => /"PUT \/v2\/[^"]*\/blobs\/uploads\/[^"]*digest=sha256/.test(l) && / 201 /.test(l)).length;
    return { storageBytes: blobBytes(target.storage), blobUploads: uploads };
}

/** An image's manifest as the registry serves it. */
export function imageManifest(env: ClusterEnv, ref: string): { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> } {
    const password = fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim();
    return JSON.parse(execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${env.NGD_REGISTRY_USER}:${password}`, `docker://${ref}`], { encoding: "utf8" }));
}

/** Compressed size of an image in the registry (manifest layers + config). */
export function imageBytes(env: ClusterEnv, ref: string): number {
    const m = imageManifest(env, ref);
    return m.config.size + m.layers.reduce((s, l) => s + l.size, 0);
}

/**
 * Pulls `ref` from the rehearsal registry into the rehearsal dockerd and runs it the way the
 * Deployment runs it (uid 65532, read-only root, no capabilities, /tmp and /dev/shm writable);
 * returns its output, with its exit state when it ended without the expected line.
 */
export function runImage(env: ClusterEnv, ref: string): string {
    const config = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-docker-config-"));
    const docker = (args: string[], input?: string) => execFileSync("docker", ["--host", env.NGD_DOCKER_HOST, "--config", config, ...args], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
    try {
        docker(["login", "--username", env.NGD_REGISTRY_USER, "--password-stdin", env.NGD_REGISTRY], fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim());
        docker(["pull", "--quiet", ref]);
        const id = docker(["run", "--detach", "--network", "none", "--read-only", "--user", "65532:65532", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--tmpfs", "/tmp:rw,mode=1777", "--shm-size", "64m", ref]).trim();
        // The container's stdout and stderr, as the pod's log would show them.
        const containerLogs = () => {
            const r = spawnSync("docker", ["--host", env.NGD_DOCKER_HOST, "--config", config, "logs", id], { encoding: "utf8" });
            return `${r.stdout}${r.stderr}`;
        };
        try {
            for (let i = 0; i < 50; i++) {
                const logs = containerLogs();
                if (logs.includes("cuda capabilities")) {
                    return logs;
                }
                execFileSync("sleep", ["0.2"]);
            }
            const state = docker(["inspect", "--format", "exit {{.State.ExitCode}} {{.State.Error}}", id]).trim();
            return `${containerLogs()}\n[${state}]`;
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
    return recordedPids(clusterDir());
}

/** The pids a rehearsal script (test/e2e/processes.sh) recorded under `<dir>/pids`. */
function recordedPids(dir: string): number[] {
    const pids = path.join(dir, "pids");
    return fs.existsSync(pids) ? fs.readdirSync(pids).map((f) => Number(fs.readFileSync(path.join(pids, f), "utf8").trim())) : [];
}

/**
 * The end of a suite that started the rehearsal cluster: stops it, removes the project copy, and
 * asserts that every server listened on loopback only, that every started process is stopped and
 * that no Pulumi engine or plugin process of the suite's PULUMI_HOME is left.
 */
export function tearDownSuite(work: string | undefined, project: string | undefined): void {
    const bad = nonLoopbackListeners(clusterPids());
    cluster("down");
    const alive = clusterPids().filter((p) => fs.existsSync(`/proc/${p}`));
    const leftover = work === undefined ? [] : processesOf(path.join(work, "pulumi-home"));
    if (project !== undefined) {
        fs.rmSync(project, { recursive: true, force: true });
    }
    assert.deepStrictEqual(bad, [], "every server listens on loopback only");
    assert.deepStrictEqual(alive, [], "every started process is stopped");
    assert.deepStrictEqual(leftover, [], "no Pulumi engine or plugin process left behind");
}

/** What a suite starts with: the rehearsal cluster up, a private project copy and Pulumi state, the tool shims, the `local` stack on the main registry. */
export interface Suite {
    env: ClusterEnv;
    work: string;
    project: string;
    shims: Shims;
    stack: Stack;
    password: string;
}

/**
 * The app a suite deploys: `seed` is the `local` stack as committed (the seed's project,
 * nix/build_container.nix on the miniature set); `fixture` is the fixture app of
 * test/e2e/fixture-app.yaml, for suites whose knobs need it (fault overlays, small layer counts).
 */
export type SuiteApp = "seed" | "fixture";

/** Writes the fixture app's nix, image and deployment name over the project copy's local stack config. */
function useFixtureApp(project: string): void {
    const file = path.join(project, "Pulumi.local.yaml");
    const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const fixture = parseYaml(fs.readFileSync(path.join(ROOT, "test/e2e/fixture-app.yaml"), "utf8")) as Record<string, unknown>;
    doc.config["nix-gpu-deploy:nix"] = fixture["nix-gpu-deploy:nix"];
    doc.config["nix-gpu-deploy:image"] = fixture["nix-gpu-deploy:image"];
    (doc.config["nix-gpu-deploy:deployment"] as Record<string, unknown>).name = fixture["deployment-name"];
    fs.writeFileSync(file, stringifyYaml(doc));
}

/** Starts a suite (see `Suite`); `tearDownSuite(work, project)` ends it. */
export async function startSuite(prefix: string, app: SuiteApp = "fixture"): Promise<Suite> {
    cluster("up");
    const env = readClusterEnv();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const project = copyProject();
    if (app === "fixture") {
        useFixtureApp(project);
    }
    fs.mkdirSync(path.join(work, "state"));
    const shims = toolShims(work);
    const stack = await localStack(project, path.join(work, "state"), [shims.binDir], env);
    const password = fs.readFileSync(env.NGD_REGISTRY_PASSWORD_FILE, "utf8").trim();
    await useRegistry(stack, registryTargets(env).registry, password);
    return { env, work, project, shims, stack, password };
}

/** What test/e2e/nix-services.sh writes to its env file. */
export interface NixServicesEnv {
    NGD_CACHE_URL: string;
    NGD_CACHE_UPLOAD: string;
    NGD_CACHE_DIR: string;
    NGD_CACHE_PUBLIC_KEY: string;
    NGD_CACHE_SECRET_KEY_FILE: string;
    NGD_BUILDER_LINE: string;
    NGD_BUILDER_KEY_FILE: string;
    NGD_BUILDER_STORE: string;
    NGD_BUILDER_SESSIONS: string;
}

export function nixServicesDir(): string {
    return process.env.NGD_NIX_SERVICES_DIR ?? path.join(clusterDir(), "nix-services");
}

/** Runs test/e2e/nix-services.sh (up | down | stop NAME | start NAME): the binary cache and the remote builder. */
export function nixServices(...args: string[]): void {
    execFileSync(path.join(ROOT, "test/e2e/nix-services.sh"), args, {
        stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NGD_NIX_SERVICES_DIR: nixServicesDir() },
    });
}

export function readNixServicesEnv(): NixServicesEnv {
    const text = fs.readFileSync(path.join(nixServicesDir(), "env"), "utf8");
    return Object.fromEntries(text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])) as unknown as NixServicesEnv;
}

/** The pids nix-services.sh recorded (for the loopback and stopped checks). */
export function nixServicesPids(): number[] {
    return recordedPids(nixServicesDir());
}

/** Stops the Nix services, asserting they listened on loopback only and are gone. */
export function tearDownNixServices(): void {
    const pids = nixServicesPids();
    const bad = nonLoopbackListeners(pids);
    nixServices("down");
    assert.deepStrictEqual(bad, [], "the cache and the builder listen on loopback only");
    assert.deepStrictEqual(pids.filter((p) => fs.existsSync(`/proc/${p}`)), [], "the cache and the builder are stopped");
}

/** Store paths of `storePath`'s closure that Nix holds now, and which signatures each carries. */
export function storeSignatures(storePath: string): Array<{ path: string; signatures: string[]; ultimate: boolean }> {
    const out = execFileSync("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive", storePath], { encoding: "utf8" });
    return (JSON.parse(out) as Array<{ path: string; signatures?: string[]; ultimate?: boolean }>).map((p) => ({ path: p.path, signatures: p.signatures ?? [], ultimate: p.ultimate === true }));
}

/**
 * Removes a closure from the local store, as a fresh runner or a collected store would lack it:
 * `nix-store --delete` on the closure and everything that refers to it (other images and build
 * intermediates sharing its paths; Nix deletes a path only with its referrers). The stacks' own GC
 * roots on these paths (components/exec.ts gcRootDir: a `…/gcroots/…` directory outside /nix/var)
 * are removed first, as a fresh runner has none of this machine's; another GC root would make Nix
 * refuse. Returns the closure's paths now gone.
 */
export function deleteClosure(storePath: string): string[] {
    const closure = execFileSync("nix-store", ["--query", "--requisites", storePath], { encoding: "utf8" }).trim().split("\n");
    // Everything that refers to it goes too, and (Nix keeps a derivation's outputs with it:
    // keep-derivations) the outputs of every derivation that does — a layer derivation names its
    // store paths, and its output may belong to another image — until nothing is added.
    let withReferrers = new Set<string>();
    let next = new Set(closure);
    while (next.size > withReferrers.size) {
        withReferrers = new Set(execFileSync("nix-store", ["--query", "--referrers-closure", ...next], { encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n"));
        const drvs = [...withReferrers].filter((p) => p.endsWith(".drv"));
        const outputs = drvs.length === 0 ? [] : execFileSync("nix-store", ["--query", "--outputs", ...drvs], { encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n").filter((p) => fs.existsSync(p));
        next = new Set([...withReferrers, ...outputs]);
    }
    for (const line of execFileSync("nix-store", ["--gc", "--print-roots"], { encoding: "utf8", maxBuffer: 64 << 20 }).split("\n")) {
        const [link, target] = line.split(" -> ");
        if (target !== undefined && withReferrers.has(target) && link.includes("/gcroots/") && !link.startsWith("/nix/var/")) {
            fs.rmSync(link, { force: true });
        }
    }
    const r = spawnSync("nix-store", ["--delete", ...withReferrers], { encoding: "utf8" });
    assert.strictEqual(r.status, 0, r.stderr.split("\n").filter((l) => !/stale/.test(l)).join("\n").slice(-2000));
    const deleted = closure.filter((p) => !fs.existsSync(p));
    assert.ok(deleted.includes(storePath), `${storePath} was deleted`);
    return deleted;
}

/** The first line of the preview explanation (components/nix/explanation.ts). */
export const EXPLANATION_HEADER = "nix-gpu-deploy: what this change does";

/** The preview explanation, as the CLI prints it (each line indented under the resource), its lines trimmed. */
export function explanationBlock(out: string): string[] {
    const at = out.indexOf(EXPLANATION_HEADER);
    if (at < 0) {
        return [];
    }
    const lines = out.slice(at).split("\n");
    const end = lines.findIndex((l, i) => i > 0 && !/^\s{2,}\S/.test(l));
    return lines.slice(0, end < 0 ? undefined : end).map((l) => l.trim());
}
