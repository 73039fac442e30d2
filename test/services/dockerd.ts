// A Docker daemon of its own for tests and benchmarks that need no cluster: `cluster.sh start
// dockerd` (the rehearsal's dockerd flags: own data root, exec root and socket, no bridge, no
// iptables) in a private directory, stopped by its pid. A fresh one has an empty data root: no
// layers, no record of what any registry holds.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const CLUSTER_SH = path.resolve(__dirname, "../e2e/cluster.sh");

export interface Dockerd {
    /** `unix://…/docker.sock` */
    host: string;
    pid: number;
    stop(): void;
}

export function startDockerd(): Dockerd {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-dockerd-"));
    const env = { ...process.env, NGD_CLUSTER_DIR: dir };
    execFileSync(CLUSTER_SH, ["start", "dockerd"], { env, stdio: ["ignore", "ignore", "inherit"] });
    return {
        host: `unix://${dir}/docker/docker.sock`,
        pid: Number(fs.readFileSync(path.join(dir, "pids", "dockerd.pid"), "utf8").trim()),
        stop() {
            execFileSync(CLUSTER_SH, ["stop", "dockerd"], { env, stdio: ["ignore", "ignore", "inherit"] });
            // the data root holds files dockerd created as root with overlay mounts gone: remove all
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
