// The `cluster` section: the cluster, namespace and credentials (or rendered manifests).
import * as path from "path";
import { DEFAULTS, ParseOptions } from "./types";
import { Checker, confinedPath, confinedRealPath, DNS_LABEL, DNS_SUBDOMAIN, SectionContext } from "./check";
/** Top-level project directories that `cluster.renderYamlTo` must not write into. */
export const PROJECT_DIRS = ["components", "nix", "test", "node_modules"];

/**
 * Why `dir` cannot take rendered manifests, if it cannot: it must be a dedicated subdirectory of the
 * project — not the project itself, not hidden (`.git`, `.pulumi-local`), not a source directory,
 * not a file, and (symlinks resolved) inside the project.
 */
export function renderDirProblem(opts: ParseOptions, dir: string): string | undefined {
    const abs = confinedPath(opts.projectRoot, dir);
    if (abs === undefined) {
        return "must be a directory inside the project (relative, no '..')";
    }
    const rel = path.relative(path.resolve(opts.projectRoot), abs);
    const segments = rel.split(path.sep);
    if (rel === "") {
        return "is the project directory itself: use a dedicated subdirectory, e.g. rendered";
    }
    const where = confinedRealPath(opts, rel);
    if (!where.ok) {
        return where.reason;
    }
    if (segments.some((s) => s.startsWith("."))) {
        return "is or lies in a hidden directory (.git, .pulumi-local, …): use a dedicated subdirectory, e.g. rendered";
    }
    if (PROJECT_DIRS.includes(segments[0])) {
        return `lies in the project's ${segments[0]}/ directory: use a dedicated subdirectory, e.g. rendered`;
    }
    // `dir/.` exists only when dir is a directory (a file gives ENOTDIR).
    if (where.exists && !opts.fileExists(`${abs}${path.sep}.`)) {
        return "is a file, not a directory";
    }
    return undefined;
}

/** The `cluster` section, with the presence of the kubeconfig secret. */
export function checkCluster(c: Checker, v: unknown, ctx: SectionContext) {
    const { raw, opts } = ctx;
    const hasKubeconfig = raw.secretsPresent.kubeconfig === true;
    const clRaw = c.object("cluster", v, ["name", "namespace", "context", "renderYamlTo", "createNamespace", "imagePullSecret"]);
    const name = c.string("cluster.name", clRaw.name, { re: DNS_LABEL, what: "a DNS label naming the cluster", max: 63, required: true });
    const namespace = c.string("cluster.namespace", clRaw.namespace, { re: DNS_LABEL, what: "a namespace name (DNS label)", max: 63, required: true });
    const context = c.string("cluster.context", clRaw.context, { re: /^[A-Za-z0-9@._:/-]+$/, what: "a kubeconfig context name" });
    const renderYamlTo = c.string("cluster.renderYamlTo", clRaw.renderYamlTo, { re: /^[A-Za-z0-9_./-]+$/, what: "a relative directory", max: 200 });
    if (renderYamlTo !== undefined) {
        const problem = renderDirProblem(opts, renderYamlTo);
        if (problem !== undefined) {
            c.fail("cluster.renderYamlTo", `${c.show(renderYamlTo)} ${problem}`);
        }
    }
    if (!hasKubeconfig && context === undefined && renderYamlTo === undefined && !(raw.emptySecrets ?? []).includes("kubeconfig")) {
        c.fail("kubeconfig", "no kube credentials: set the kubeconfig secret, cluster.context, or cluster.renderYamlTo");
    }
    const createNamespace = c.boolean("cluster.createNamespace", clRaw.createNamespace, DEFAULTS.createNamespace);
    const imagePullSecret = c.string("cluster.imagePullSecret", clRaw.imagePullSecret, { re: DNS_SUBDOMAIN, what: "a Secret name" });
    return { name, namespace, context, hasKubeconfig, renderYamlTo, createNamespace, imagePullSecret };
}
