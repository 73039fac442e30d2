// Reads the stack's config from the engine once and validates it before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { CONFIG_KEYS, ConfigKey, PROJECT, RawStackConfig, StackConfig, formatProblems, parseStackConfig } from "./config";

export interface LoadedConfig {
    config: StackConfig;
    registryPassword?: pulumi.Output<string>;
    kubeconfig?: pulumi.Output<string>;
}

/** The SDK's own record of which config keys are secret (not in its typings). */
function isConfigSecret(key: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped SDK internal
    const rt = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    if (typeof rt.isConfigSecret !== "function") {
        throw new Error("@pulumi/pulumi no longer exposes runtime/config isConfigSecret; update components/stackConfig.ts");
    }
    return rt.isConfigSecret(key);
}

/** The raw config as the engine holds it; secret values are not read here, only their presence. */
export function readRawConfig(): RawStackConfig {
    const all = pulumi.runtime.allConfig();
    // Optional secrets are declared with default "" in Pulumi.yaml (declared keys without a default
    // are required by the engine), so an empty value means "not set".
    const present = (k: string) => all[`${PROJECT}:${k}`] !== undefined && all[`${PROJECT}:${k}`] !== "";
    const values: Record<string, unknown> = {};
    for (const key of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
        if (!CONFIG_KEYS[key].secret) {
            values[key] = all[`${PROJECT}:${key}`];
        }
    }
    return {
        values,
        secretsPresent: {
            registryPassword: present("registryPassword"),
            kubeconfig: present("kubeconfig"),
        },
        plaintextSecrets: (["registryPassword", "kubeconfig"] as const).filter((k) => present(k) && !isConfigSecret(`${PROJECT}:${k}`)),
        keysSet: Object.keys(all).filter((k) => k.startsWith(`${PROJECT}:`)),
    };
}

/** Validates everything at once; throws one error naming every bad property. */
export function loadStackConfig(projectRoot: string): LoadedConfig {
    const result = parseStackConfig(readRawConfig(), { projectRoot, fileExists: (p) => fs.existsSync(p) });
    if (!result.ok) {
        throw new pulumi.InputPropertiesError({ message: formatProblems(result.errors), errors: result.errors });
    }
    const cfg = new pulumi.Config(PROJECT);
    return {
        config: result.config,
        registryPassword: result.config.registry.hasPassword ? cfg.requireSecret("registryPassword") : undefined,
        kubeconfig: result.config.cluster.hasKubeconfig ? cfg.requireSecret("kubeconfig") : undefined,
    };
}
