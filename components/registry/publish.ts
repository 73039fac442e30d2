// Publishers push a built image and return `repo@sha256:…`. Both share one interface:
// input = the built image + registry (+ secret credentials); output = `ref` and `digest`.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { Publisher } from "../config";
import { boundedOutput, dockerLoadScript, parseDigest, skopeoPushEnvironment, skopeoPushScript } from "../exec";
import { programError } from "../errors";
import { LayeredCudaImage } from "../nix/image";

export interface PublisherArgs {
    image: LayeredCudaImage;
    /** Registry `host[:port]`. */
    registry: string;
    /** Repository inside the registry, e.g. `ml/myproject`. */
    repository: string;
    username?: string;
    password?: pulumi.Output<string>;
    /** Plain HTTP (loopback registries only; config validation enforces it). */
    insecure: boolean;
    /** Docker daemon socket (docker publisher only). */
    dockerHost?: string;
    /** registry.credentialHelper: `docker-credential-<name>` gives the push its credentials. */
    credentialHelper?: string;
}

export interface PublishedImage {
    /** `host/repo@sha256:…`: what the Deployment runs. */
    ref: pulumi.Output<string>;
    digest: pulumi.Output<string>;
    /** What the push step printed (its progress and summary), where the publisher runs one of its own. */
    log?: pulumi.Output<string>;
}

/**
 * The docker provider plugin this project runs and is tested with. The npm SDK is 5.2.0 (no 5.1.0 SDK
 * was published); the 5.2.0 provider's source is not to be had here, and 5.1.0 agrees with it on
 * every property the project uses. Asking for the plugin by this version makes the engine load exactly
 * it (installed, or downloaded where downloads are allowed) instead of warning that 5.1.0 is older.
 */
export const DOCKER_PROVIDER_VERSION = "5.1.0";

/** Pure: `host/repo` and `host/repo:tag`. */
export function repositoryRef(registry: string, repository: string, tag?: string): string {
    return `${registry}/${repository}${tag === undefined ? "" : `:${tag}`}`;
}

/** Pure: the digest-pinned reference. */
export function digestRef(registry: string, repository: string, digest: string): string {
    return `${repositoryRef(registry, repository)}@${digest}`;
}

/**
 * Pure: the docker provider's `registryAuth` entry. The address carries the scheme: without one the
 * provider reads the pushed digest back over HTTPS, which a plain-HTTP registry refuses. A registry
 * without credentials needs `authDisabled`, otherwise the provider finds no auth config for it.
 * A private CA is trusted the way Go trusts one (system store or SSL_CERT_FILE), for dockerd and
 * the provider alike.
 */
export function dockerRegistryAuth(registry: string, insecure: boolean, credentials?: { username: string; password: pulumi.Input<string> }, credentialHelper?: string):
    docker.types.input.ProviderRegistryAuth {
    const address = `${insecure ? "http" : "https"}://${registry}`;
    if (credentialHelper !== undefined) {
        // A docker config naming the helper: the provider asks docker-credential-<helper> (through
        // docker/cli's credential store) each time it is configured, so a 12 h token is always fresh.
        return { address, configFileContent: dockerHelperConfig(registry, credentialHelper) };
    }
    return credentials === undefined
        ? { address, authDisabled: true }
        : { address, username: credentials.username, password: pulumi.secret(credentials.password) };
}

/** Pure: a docker config (and containers-auth.json) that sends `registry` to a credential helper. */
export function dockerHelperConfig(registry: string, helper: string): string {
    return JSON.stringify({ credHelpers: { [registry]: helper } });
}

/**
 * Daemonless: `skopeo copy oci:<image layout> docker://…` through `command`. The layout carries
 * every blob digest, so skopeo asks the registry for each and uploads only the missing ones, with
 * no cache; the digest comes from `--digestfile`.
 */
export class SkopeoPublisher extends pulumi.ComponentResource implements PublishedImage {
    public readonly ref: pulumi.Output<string>;
    public readonly digest: pulumi.Output<string>;
    public readonly push: command.local.Command;
    public readonly log: pulumi.Output<string>;

    constructor(name: string, args: PublisherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:publish:SkopeoPublisher", name, {}, opts);
        const withCredentials = args.username !== undefined && args.password !== undefined;
        const destination = args.image.tag.apply((tag) => repositoryRef(args.registry, args.repository, tag));
        // The script is fixed text: destination, TLS and the image's build are its environment.
        const pushEnv = destination.apply((d) => skopeoPushEnvironment({ destination: d, insecure: args.insecure }));
        const environment: Record<string, pulumi.Input<string>> = {
            ...args.image.realiseEnvironment,
            NGD_REGISTRY: args.registry,
            NGD_DESTINATION: pushEnv.NGD_DESTINATION,
            NGD_DEST_TLS_VERIFY: pushEnv.NGD_DEST_TLS_VERIFY,
        };
        if (args.credentialHelper !== undefined) {
            environment.NGD_CREDENTIAL_HELPER = args.credentialHelper;
        }
        if (withCredentials) {
            environment.REGISTRY_USERNAME = args.username as string;
            environment.REGISTRY_PASSWORD = pulumi.secret(args.password as pulumi.Output<string>);
        }
        this.push = new command.local.Command(`${name}-push`, {
            create: boundedOutput(skopeoPushScript(args.image.rebuild)),
            environment,
            triggers: [args.image.storePath, destination],
            logging: "stdoutAndStderr",
            addPreviousOutputInEnv: false,
        }, { parent: this, dependsOn: [args.image.build], additionalSecretOutputs: ["stdout", "stderr"] });
        // The command provider does not make outputs secret because an input is; what the push
        // prints is kept secret here. The digest is not sensitive and the Deployment's diff must
        // show it, so it is explicitly made plain again.
        this.digest = pulumi.unsecret(this.push.stdout.apply(parseDigest));
        this.ref = this.digest.apply((d) => digestRef(args.registry, args.repository, d));
        this.log = this.push.stderr;
        this.registerOutputs({ ref: this.ref, digest: this.digest });
    }
}

/**
 * Through a Docker daemon: stream the image into `docker load`, then `docker.Tag` and
 * `docker.RegistryImage` (which pushes and reads the digest back from the registry).
 */
export class DockerPublisher extends pulumi.ComponentResource implements PublishedImage {
    public readonly ref: pulumi.Output<string>;
    public readonly digest: pulumi.Output<string>;

    constructor(name: string, args: PublisherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nix-gpu-deploy:publish:DockerPublisher", name, {}, opts);
        const env: Record<string, pulumi.Input<string>> = { ...args.image.realiseEnvironment };
        if (args.dockerHost !== undefined) {
            env.DOCKER_HOST = args.dockerHost;
        }
        const load = new command.local.Command(`${name}-load`, {
            create: boundedOutput(dockerLoadScript(args.image.rebuild)),
            environment: env,
            triggers: [args.image.storePath],
            logging: "stderr",
            addPreviousOutputInEnv: false,
        }, { parent: this, dependsOn: [args.image.build] });
        const provider = new docker.Provider(`${name}-docker`, {
            host: args.dockerHost,
            registryAuth: [dockerRegistryAuth(args.registry, args.insecure,
                args.username !== undefined && args.password !== undefined ? { username: args.username, password: args.password } : undefined, args.credentialHelper)],
        }, { parent: this, version: DOCKER_PROVIDER_VERSION });
        // Create before delete, against the bridge's default: a Terraform resource with an explicit
        // `name` is replaced delete-first, and the engine then replaces everything that depends on
        // it — the Deployment would be deleted and recreated on every release (pods gone, GPUs
        // released and re-requested). Pushing the new tag before forgetting the old one is safe:
        // `keepRemotely` leaves the registry alone, and destroying a Tag leaves the daemon's tag.
        const tag = new docker.Tag(`${name}-tag`, {
            sourceImage: load.stdout.apply((s) => s.trim()),
            targetImage: args.image.tag.apply((t) => repositoryRef(args.registry, args.repository, t)),
        }, { parent: this, provider, deleteBeforeReplace: false });
        const pushed = new docker.RegistryImage(`${name}-push`, {
            name: tag.targetImage,
            keepRemotely: true,
            triggers: { storePath: args.image.storePath },
        }, { parent: this, provider, deleteBeforeReplace: false });
        this.digest = pushed.sha256Digest;
        this.ref = this.digest.apply((d) => digestRef(args.registry, args.repository, d));
        this.registerOutputs({ ref: this.ref, digest: this.digest });
    }
}

/**
 * Pure: the credentials of the cluster's pull secret. registry.pullUsername takes its own password
 * or nothing: never the push credentials in its place (config validation already requires the
 * registryPullPassword secret; this refuses the fallback should it ever be reached without it).
 */
export function pullCredentials(registry: { host: string; username?: string; pullUsername?: string },
    secrets: { registryPassword?: pulumi.Output<string>; registryPullPassword?: pulumi.Output<string> }):
    { registry: string; username: string; password: pulumi.Output<string> } | undefined {
    if (registry.pullUsername !== undefined) {
        if (secrets.registryPullPassword === undefined) {
            throw programError("registry.pullUsername is set without the registryPullPassword secret: refusing to give the cluster the push credentials instead");
        }
        return { registry: registry.host, username: registry.pullUsername, password: secrets.registryPullPassword };
    }
    return registry.username !== undefined && secrets.registryPassword !== undefined
        ? { registry: registry.host, username: registry.username, password: secrets.registryPassword } : undefined;
}

/** The helper program on PATH, or a message naming what is missing (checked before anything is pushed). */
export function credentialHelperProblem(helper: string, searchPath = process.env.PATH ?? ""): string | undefined {
    const program = `docker-credential-${helper}`;
    const found = searchPath.split(path.delimiter).filter((d) => d !== "").some((d) => {
        try {
            fs.accessSync(path.join(d, program), fs.constants.X_OK);
            return true;
        } catch {
            return false;
        }
    });
    return found ? undefined : `registry.credentialHelper: ${program} is not on PATH (${searchPath === "" ? "empty" : searchPath.split(path.delimiter).length + " directories"}): install it (ecr-login: amazon-ecr-credential-helper; gcloud: the Google Cloud CLI) or fix PATH`;
}

/** Picks the publisher the stack config names. */
export function publishImage(kind: Publisher, name: string, args: PublisherArgs, opts?: pulumi.ComponentResourceOptions): PublishedImage {
    return kind === "skopeo" ? new SkopeoPublisher(name, args, opts) : new DockerPublisher(name, args, opts);
}
