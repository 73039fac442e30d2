import * as assert from "assert";
import { loadKubeConfig, mergeKubeconfigs, normalizeKubeconfig, serverOf } from "../../components/kubernetes/kube";
import { Apis, eventProblems, jobState, podExits, podProblems, replicaSetProblems, rolloutState, waitFor } from "../../components/kubernetes/rollout";

const dep = (gen: number, status: Record<string, number>, replicas = 2) => ({ metadata: { generation: gen }, spec: { replicas }, status });

describe("rollout check", () => {
    it("is done only when the current generation is observed, updated and available", () => {
        assert.strictEqual(rolloutState(dep(3, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })).done, false);
        assert.strictEqual(rolloutState(dep(3, { observedGeneration: 3, updatedReplicas: 1, availableReplicas: 2, replicas: 2 })).done, false);
        assert.strictEqual(rolloutState(dep(3, { observedGeneration: 3, updatedReplicas: 2, availableReplicas: 2, replicas: 3 })).done, false, "old pod still there");
        assert.strictEqual(rolloutState(dep(3, { observedGeneration: 3, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })).done, true);
        assert.strictEqual(rolloutState(dep(1, { observedGeneration: 1 }, 0)).done, true, "scaled to zero");
    });

    it("reports the scheduler's reason for an unschedulable pod", () => {
        const problems = podProblems([{
            metadata: { name: "app-1" },
            status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/4 nodes are available: 3 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint." }] },
        }]);
        assert.deepStrictEqual(problems, ["pod app-1: Unschedulable: 0/4 nodes are available: 3 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint."]);
    });

    it("reports a crash loop with the last exit, and an image that cannot be pulled", () => {
        const problems = podProblems([
            {
                metadata: { name: "app-2" },
                status: {
                    phase: "Running", conditions: [{ type: "PodScheduled", status: "True" }, { type: "Ready", status: "False" }],
                    containerStatuses: [{ name: "app", state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } }, lastState: { terminated: { exitCode: 127, reason: "Error" } } }],
                },
            },
            {
                metadata: { name: "app-3" },
                status: {
                    phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }],
                    containerStatuses: [{ name: "app", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image \"r/x@sha256:…\"" } } }],
                },
            },
            { metadata: { name: "gone", deletionTimestamp: "2026-01-01T00:00:00Z" }, status: { phase: "Running" } },
        ]);
        assert.deepStrictEqual(problems, [
            "pod app-2, container app: CrashLoopBackOff: back-off 40s restarting failed container (last exit 127 Error)",
            "pod app-3, container app: ImagePullBackOff: Back-off pulling image \"r/x@sha256:…\"",
        ]);
    });

    it("reports ReplicaSet ReplicaFailure conditions and Warning events about the workload, its ReplicaSets and pods", () => {
        assert.deepStrictEqual(replicaSetProblems([
            { metadata: { name: "app-5d8" }, status: { conditions: [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: "pods \"app-5d8-x\" is forbidden: pod rejected: RuntimeClass \"nvidia\" not found" }] } },
            { metadata: { name: "app-old" }, status: { conditions: [{ type: "ReplicaFailure", status: "False" }] } },
        ]), ["replicaset app-5d8: FailedCreate: pods \"app-5d8-x\" is forbidden: pod rejected: RuntimeClass \"nvidia\" not found"]);
        const ev = (kind: string, name: string, reason: string, message: string, t: string, type = "Warning") => ({ type, reason, message, lastTimestamp: t, involvedObject: { kind, name } });
        const lines = eventProblems([
            ev("ReplicaSet", "app-5d8", "FailedCreate", "exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=1", "2026-01-01T00:00:02Z"),
            ev("Pod", "app-5d8-x", "FailedScheduling", "0/4 nodes are available", "2026-01-01T00:00:01Z"),
            ev("Pod", "someone-else", "BackOff", "not ours", "2026-01-01T00:00:00Z"),
            ev("Deployment", "app", "ScalingReplicaSet", "normal event", "2026-01-01T00:00:00Z", "Normal"),
            ev("Pod", "app-5d8-x", "FailedScheduling", "0/4 nodes are available", "2026-01-01T00:00:03Z"),
        ], [{ kind: "ReplicaSet", names: new Set(["app-5d8"]) }, { kind: "Pod", names: new Set(["app-5d8-x"]) }]);
        assert.deepStrictEqual(lines, [
            "event pod app-5d8-x: FailedScheduling: 0/4 nodes are available",
            "event replicaset app-5d8: FailedCreate: exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=1",
        ]);
    });

    it("a Job is done when Complete or Failed, with its duration; pod exits newest first", () => {
        assert.strictEqual(jobState({ spec: { completions: 1 }, status: { active: 1, startTime: "2026-01-01T00:00:00Z" } }).succeeded, undefined);
        const ok = jobState({ spec: {}, status: { succeeded: 1, startTime: "2026-01-01T00:00:00Z", completionTime: "2026-01-01T00:00:07Z", conditions: [{ type: "Complete", status: "True" }] } });
        assert.deepStrictEqual(ok, { succeeded: true, summary: "1/1 succeeded, 0 active, 0 failed", seconds: 7 });
        const bad = jobState({ spec: {}, status: { failed: 1, startTime: "2026-01-01T00:00:00Z", conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", lastTransitionTime: "2026-01-01T00:00:03Z" }] } });
        assert.strictEqual(bad.succeeded, false);
        assert.strictEqual(bad.seconds, 3);
        assert.match(bad.reason ?? "", /^BackoffLimitExceeded: /);
        const exits = podExits([
            { metadata: { name: "j-1" }, status: { containerStatuses: [{ name: "c", state: { terminated: { exitCode: 1, reason: "Error", finishedAt: "2026-01-01T00:00:01Z" } } }] } },
            { metadata: { name: "j-2" }, status: { containerStatuses: [{ name: "c", state: { terminated: { exitCode: 137, reason: "OOMKilled", finishedAt: "2026-01-01T00:00:02Z" } } }] } },
        ]);
        assert.deepStrictEqual(exits.map((x) => x.line), ["pod j-2, container c: exit 137 (OOMKilled)", "pod j-1, container c: exit 1 (Error)"]);
    });

    describe("waitFor (a fake API)", () => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- fake API objects
        const fakeApis = (seq: { dep?: any; job?: any; pods?: any[]; rss?: any[]; events?: any[]; log?: string }[]) => {
            let i = 0;
            const cur = () => seq[Math.min(i, seq.length - 1)];
            return {
                apps: {
                    readNamespacedDeployment: async () => cur().dep,
                    listNamespacedReplicaSet: async () => ({ items: cur().rss ?? [] }),
                },
                batch: { readNamespacedJob: async () => cur().job },
                core: {
                    listNamespacedPod: async () => ({ items: cur().pods ?? [] }),
                    listNamespacedEvent: async () => {
                        const items = cur().events ?? [];
                        i++;
                        return { items };
                    },
                    readNamespacedPodLog: async () => {
                        if (cur().log === undefined) {
                            throw Object.assign(new Error("x"), { code: 500, body: { message: "dial tcp 127.0.0.1:10250: connect: connection refused" } });
                        }
                        return cur().log;
                    },
                },
            } as unknown as Apis;
        };
        const sel = { selector: { matchLabels: { app: "x" } } };

        it("reports a pod's reason as soon as it appears, not only at the deadline, and each once", async () => {
            const pending = { metadata: { name: "p1" }, status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/4 nodes are available" }] } };
            const printed: string[] = [];
            const code = await waitFor(fakeApis([
                { dep: { metadata: { generation: 1 }, spec: { replicas: 1, ...sel }, status: {} }, pods: [pending] },
                { dep: { metadata: { generation: 1 }, spec: { replicas: 1, ...sel }, status: {} }, pods: [pending] },
                { dep: { metadata: { generation: 1 }, spec: { replicas: 1, ...sel }, status: { observedGeneration: 1, updatedReplicas: 1, availableReplicas: 1, replicas: 1 } } },
            ]), { kind: "Deployment", ns: "n", name: "app", timeout: 60 }, (s) => printed.push(s), (s) => printed.push(`OUT ${s}`));
            assert.strictEqual(code, 0);
            assert.strictEqual(printed.filter((l) => l.includes("Unschedulable")).length, 1, printed.join("\n"));
            assert.ok(printed.indexOf("  pod p1: Unschedulable: 0/4 nodes are available") < printed.indexOf("OUT rolled out generation 1"));
        }).timeout(20000);

        it("a failed Job: exit code, reason and the last log lines (or why there are none)", async () => {
            const printed: string[] = [];
            const job = { metadata: { name: "train" }, spec: { ...sel }, status: { failed: 1, startTime: "2026-01-01T00:00:00Z", conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", lastTransitionTime: "2026-01-01T00:00:04Z" }] } };
            const pod = { metadata: { name: "train-abc" }, status: { phase: "Failed", containerStatuses: [{ name: "train", state: { terminated: { exitCode: 3, reason: "Error" } } }] } };
            const code = await waitFor(fakeApis([{ job, pods: [pod], log: "loading\nCUDA available: False\n" }]), { kind: "Job", ns: "n", name: "train", timeout: 60 }, (s) => printed.push(s), (s) => printed.push(s));
            assert.strictEqual(code, 3);
            assert.ok(printed.includes("job n/train failed in 4s: exit code 3, BackoffLimitExceeded (0/1 succeeded, 0 active, 1 failed)"), printed.join("\n"));
            assert.ok(printed.includes("    | CUDA available: False"));
            const printed2: string[] = [];
            const done = { ...job, status: { succeeded: 1, startTime: "2026-01-01T00:00:00Z", completionTime: "2026-01-01T00:00:02Z", conditions: [{ type: "Complete", status: "True" }] } };
            const pod0 = { metadata: { name: "train-ok" }, status: { phase: "Succeeded", containerStatuses: [{ name: "train", state: { terminated: { exitCode: 0, reason: "Completed" } } }] } };
            assert.strictEqual(await waitFor(fakeApis([{ job: done, pods: [pod0] }]), { kind: "Job", ns: "n", name: "train", timeout: 60 }, (s) => printed2.push(s), (s) => printed2.push(s)), 0);
            assert.ok(printed2.includes("job n/train completed in 2s: exit code 0 (1/1 succeeded, 0 active, 0 failed)"), printed2.join("\n"));
            assert.ok(printed2.some((l) => l.startsWith("    | (logs unavailable: HTTP 500: dial tcp")), printed2.join("\n"));
        });

        it("gives up at once when the credentials are refused (401), naming it", async () => {
            const printed: string[] = [];
            const apis = { apps: { readNamespacedDeployment: async () => {
                throw Object.assign(new Error("HTTP-Code: 401\nHeaders: {secret}"), { code: 401, body: "{\"message\":\"Unauthorized\"}" });
            } } } as unknown as Apis;
            assert.strictEqual(await waitFor(apis, { kind: "Deployment", ns: "n", name: "app", timeout: 600 }, (s) => printed.push(s)), 1);
            assert.deepStrictEqual(printed, ["Deployment n/app: the Kubernetes API refused the request: HTTP 401 (unauthorized: the credentials were refused or have expired): Unauthorized"]);
        });
    });
});

describe("kubeconfig (the official client)", () => {
    const kc = [
        "apiVersion: v1", "kind: Config", "current-context: a",
        "clusters:", "- name: ca", "  cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: " + Buffer.from("CA").toString("base64") + "}",
        "- name: cb", "  cluster: {server: 'https://127.0.0.1:2', insecure-skip-tls-verify: true, proxy-url: 'http://proxy:3128'}",
        "users:", "- name: ua", "  user: {client-certificate-data: " + Buffer.from("CERT").toString("base64") + ", client-key-data: " + Buffer.from("KEY").toString("base64") + "}",
        "- name: ub", "  user: {tokenFile: token}",
        "- name: uc", "  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}}",
        "contexts:", "- name: a", "  context: {cluster: ca, user: ua}", "- name: b", "  context: {cluster: cb, user: ub}", "- name: c", "  context: {cluster: cb, user: uc}",
    ].join("\n");

    it("uses the named context, not the current one (the provider's choice)", () => {
        assert.strictEqual(serverOf(loadKubeConfig(kc)), "https://127.0.0.1:1");
        const b = loadKubeConfig(kc, "b");
        assert.strictEqual(b.getCurrentContext(), "b");
        assert.strictEqual(serverOf(b), "https://127.0.0.1:2");
        assert.strictEqual(b.getCurrentCluster()?.proxyUrl, "http://proxy:3128");
        assert.throws(() => loadKubeConfig(kc, "nope"), /no context "nope" \(it has: a, b, c\)/);
    });

    it("keeps exec plugins (run, and refreshed, by the client) and turns kubectl's tokenFile into a re-read token file", () => {
        assert.strictEqual(loadKubeConfig(kc, "c").getCurrentUser()?.exec?.command, "aws");
        const doc = JSON.parse(normalizeKubeconfig(kc, "/etc/kube"));
        assert.deepStrictEqual(doc.users[1].user, { "auth-provider": { name: "tokenFile", config: { tokenFile: "/etc/kube/token" } } });
    });

    it("merges $KUBECONFIG files as client-go does: the first current-context and the first entry of a name win", () => {
        const a = "current-context: x\nclusters: [{name: c, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {token: ta}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]";
        const b = "current-context: y\nclusters: [{name: c, cluster: {server: 'https://b'}}, {name: d, cluster: {server: 'https://d'}}]\nusers: [{name: u, user: {tokenFile: tok}}]\ncontexts: [{name: y, context: {cluster: d, user: u}}]";
        const merged = JSON.parse(mergeKubeconfigs([{ text: a, dir: "/a" }, { text: b, dir: "/b" }]));
        assert.strictEqual(merged["current-context"], "x");
        assert.deepStrictEqual(merged.clusters.map((c: { cluster: { server: string } }) => c.cluster.server), ["https://a", "https://d"]);
        assert.deepStrictEqual(merged.users, [{ name: "u", user: { token: "ta" } }]);
        assert.deepStrictEqual(merged.contexts.map((c: { name: string }) => c.name), ["x", "y"]);
    });
});
