// Reads the stack's config from the engine once and validates it before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { CONFIG_KEYS, ConfigKey, PROJECT, ParseFs, RawStackConfig, SECRET_KEYS, SecretKey, StackConfig, formatProblems, parseStackConfig } from "./index";
import { programError, runError } from "../errors";

export interface LoadedConfig {
    config: StackConfig;
    registryPassword?: pulumi.Output<string>;
    /** The cluster's read-only pull password (with registry.pullUsername). */
    registryPullPassword?: pulumi.Output<string>;
    kubeconfig?: pulumi.Output<string>;
    /** Signs what is uploaded to nix.uploadTo (the key `nix-store --generate-binary-cache-key` writes). */
    nixSigningKey?: pulumi.Output<string>;
    /** The SSH private key Nix connects to nix.builders with. */
    nixBuilderSshKey?: pulumi.Output<string>;
}

/** The stack's organization, where the engine tells it (a DIY backend says `organization`). */
function organizationOrUndefined(): string | undefined {
    try {
        const org = pulumi.getOrganization();
        return org === "" ? undefined : org;
    } catch {
        return undefined;
    }
}

/** The real file system, for `parseStackConfig`. */
export const nodeFs: ParseFs = {
    fileExists: (p) => fs.existsSync(p),
    realPath: (p) => fs.realpathSync(p),
    readFile: (p) => fs.readFileSync(p, "utf8"),
};

/** The SDK's own record of which config keys are secret (not in its typings). */
function isConfigSecret(key: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped SDK internal
    const rt = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    if (typeof rt.isConfigSecret !== "function") {
        throw programError("@pulumi/pulumi no longer exposes runtime/config isConfigSecret; update components/config/stack.ts");
    }
    return rt.isConfigSecret(key);
}

/** The raw config as the engine holds it; secret values are not read here, only their presence. */
export function readRawConfig(): RawStackConfig {
    const all = pulumi.runtime.allConfig();
    const get = (k: string): unknown => (Object.prototype.hasOwnProperty.call(all, `${PROJECT}:${k}`) ? all[`${PROJECT}:${k}`] : undefined);
    // Optional secrets are declared with default "" in Pulumi.yaml (declared keys without a default
    // are required by the engine), so an empty value that is not a secret means "not set"; an empty
    // value that is a secret was set on purpose (`--secret` with nothing in it).
    // A secret of whitespace only (a kubeconfig file that was empty, a stray newline) counts as empty.
    const blank = (k: string) => { const v = get(k); return typeof v === "string" && v.trim() === ""; };
    const present = (k: string) => get(k) !== undefined && !blank(k);
    const secrets = SECRET_KEYS;
    const values: Record<string, unknown> = {};
    const secretValues: string[] = [];
    for (const key of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
        if (!CONFIG_KEYS[key].secret) {
            values[key] = get(key);
            if (get(key) !== undefined && isConfigSecret(`${PROJECT}:${key}`)) {
                secretValues.push(key);
            }
        }
    }
    return {
        values,
        secretsPresent: {
            registryPassword: present("registryPassword"),
            registryPullPassword: present("registryPullPassword"),
            kubeconfig: present("kubeconfig"),
            nixSigningKey: present("nixSigningKey"),
            nixBuilderSshKey: present("nixBuilderSshKey"),
        },
        plaintextSecrets: secrets.filter((k) => present(k) && !isConfigSecret(`${PROJECT}:${k}`)),
        emptySecrets: secrets.filter((k): k is SecretKey => blank(k) && isConfigSecret(`${PROJECT}:${k}`)),
        secretValues,
        keysSet: Object.keys(all).filter((k) => k.startsWith(`${PROJECT}:`)),
    };
}

/**
 * Validates everything at once. A bad config throws one `pulumi.RunError` (printed by the SDK as
 * its message alone: no stack trace) listing every problem with its property path.
 */
export function loadStackConfig(projectRoot: string, fsImpl: ParseFs = nodeFs): LoadedConfig {
    const result = parseStackConfig(readRawConfig(), { projectRoot, stack: pulumi.getStack(), organization: organizationOrUndefined(), ...fsImpl });
    if (!result.ok) {
        throw runError(formatProblems(result.errors));
    }
    const cfg = new pulumi.Config(PROJECT);
    return {
        config: result.config,
        registryPassword: result.config.registry.hasPassword ? cfg.requireSecret("registryPassword") : undefined,
        registryPullPassword: result.config.registry.hasPullPassword ? cfg.requireSecret("registryPullPassword") : undefined,
        kubeconfig: result.config.cluster?.hasKubeconfig === true ? cfg.requireSecret("kubeconfig") : undefined,
        nixSigningKey: result.config.nix.settings.hasSigningKey === true ? cfg.requireSecret("nixSigningKey") : undefined,
        nixBuilderSshKey: result.config.nix.settings.hasBuilderSshKey === true ? cfg.requireSecret("nixBuilderSshKey") : undefined,
    };
}

/**
 * The kubeconfig secret's text as the engine passed it (decrypted), for the program's own cluster
 * reads before resources are registered; undefined when unset (the default kubeconfig applies).
 */
export function kubeconfigText(): string | undefined {
    const v = pulumi.runtime.allConfig()[`${PROJECT}:kubeconfig`];
    return typeof v === "string" && v.trim() !== "" ? v : undefined;
}
