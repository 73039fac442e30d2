import * as assert from "assert";
import { clusterFromKubeconfig, podProblems, rolloutState } from "../../components/rollout";

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

    it("reads a kubeconfig's current or named context, with embedded credentials", () => {
        const kc = [
            "apiVersion: v1", "kind: Config", "current-context: a",
            "clusters:", "- name: ca", "  cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: " + Buffer.from("CA").toString("base64") + "}",
            "- name: cb", "  cluster: {server: 'https://127.0.0.1:2', insecure-skip-tls-verify: true}",
            "users:", "- name: ua", "  user: {client-certificate-data: " + Buffer.from("CERT").toString("base64") + ", client-key-data: " + Buffer.from("KEY").toString("base64") + "}",
            "- name: ub", "  user: {token: t0ken}",
            "contexts:", "- name: a", "  context: {cluster: ca, user: ua}", "- name: b", "  context: {cluster: cb, user: ub}",
        ].join("\n");
        const a = clusterFromKubeconfig(kc);
        assert.strictEqual(a.server, "https://127.0.0.1:1");
        assert.strictEqual(a.ca?.toString(), "CA");
        assert.strictEqual(a.cert?.toString(), "CERT");
        assert.strictEqual(a.key?.toString(), "KEY");
        const b = clusterFromKubeconfig(kc, "b");
        assert.strictEqual(b.token, "t0ken");
        assert.strictEqual(b.insecure, true);
        assert.throws(() => clusterFromKubeconfig(kc, "nope"), /no context "nope"/);
    });
});
