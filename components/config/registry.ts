// The `registry` section: where the image is pushed and with which credentials.
import { DEFAULTS } from "./types";
import { Checker, HOST, isLoopbackHost, isUnset, SectionContext } from "./check";
/** The `registry` section, with the presence of its secrets. */
export function checkRegistry(c: Checker, v: unknown, ctx: SectionContext) {
    const { raw } = ctx;
    const hasPassword = raw.secretsPresent.registryPassword === true;
    const regRaw = c.object("registry", v, ["host", "username", "pullUsername", "insecure", "publisher", "dockerHost", "credentialHelper"]);
    const host = c.string("registry.host", regRaw.host, { re: HOST, what: "a registry host[:port] (no scheme, no path)", max: 253, required: true });
    if (host !== undefined) {
        const port = HOST.exec(host)?.[1];
        if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
            c.fail("registry.host", `port ${port} is out of range`);
        }
    }
    const username = c.string("registry.username", regRaw.username, { re: /^[A-Za-z0-9._@+-]{1,128}$/, what: "a registry user name" });
    if (username !== undefined && !hasPassword && !(raw.emptySecrets ?? []).includes("registryPassword")) {
        c.fail("registryPassword", "registry.username is set but the registryPassword secret is missing (pulumi config set --secret registryPassword …)");
    }
    if (isUnset(regRaw.username) && hasPassword) {
        c.fail("registry.username", "registryPassword is set but registry.username is missing");
    }
    const insecure = c.boolean("registry.insecure", regRaw.insecure, false);
    if (insecure && host !== undefined && !isLoopbackHost(host)) {
        c.fail("registry.insecure", `plain HTTP is only allowed for a loopback registry, not ${c.show(host)}`);
    }
    const publisher = c.oneOf("registry.publisher", regRaw.publisher, ["docker", "skopeo"] as const, DEFAULTS.publisher);
    const dockerHost = c.string("registry.dockerHost", regRaw.dockerHost, { re: /^(unix:\/\/\/[A-Za-z0-9_./-]+|tcp:\/\/127\.0\.0\.1:\d{1,5})$/, what: "unix:///path.sock or tcp://127.0.0.1:PORT" });
    if (dockerHost !== undefined && publisher !== "docker") {
        c.fail("registry.dockerHost", "only used by the docker publisher");
    }
    // A read-only pull token for the cluster, separate from the push credentials of the deployer.
    const hasPullPassword = raw.secretsPresent.registryPullPassword === true;
    const pullUsername = c.string("registry.pullUsername", regRaw.pullUsername, { re: /^[A-Za-z0-9._@+-]{1,128}$/, what: "a registry user name" });
    if (pullUsername !== undefined && !hasPullPassword && !(raw.emptySecrets ?? []).includes("registryPullPassword")) {
        c.fail("registryPullPassword", "registry.pullUsername is set but the registryPullPassword secret is missing (pulumi config set --secret registryPullPassword …)");
    }
    if (isUnset(regRaw.pullUsername) && hasPullPassword) {
        c.fail("registry.pullUsername", "registryPullPassword is set but registry.pullUsername is missing");
    }
    // The docker-credential protocol: `docker-credential-<name> get`, as docker, skopeo and the
    // docker provider run it. Instead of a stored password, never with one.
    const credentialHelper = c.string("registry.credentialHelper", regRaw.credentialHelper, { re: /^[a-z0-9][a-z0-9._-]{0,62}$/, what: "a credential helper name (ecr-login runs docker-credential-ecr-login)" });
    if (credentialHelper !== undefined && (username !== undefined || hasPassword)) {
        c.fail("registry.credentialHelper", "the push takes its credentials from the helper: unset registry.username and the registryPassword secret");
    }
    return { host, username, hasPassword, pullUsername, hasPullPassword, insecure, publisher, dockerHost, credentialHelper };
}
