// Reads the stack's config from the engine once and validates it before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { CONFIG_KEYS, ConfigKey, PROJECT, RawStackConfig, StackConfig, formatProblems, parseStackConfig } from "./config";

export interface LoadedConfig {
    config: StackConfig;
    registryPassword?: pulumi.Output<string>;
    kubeconfig?: pulumi.Output<string>;
}

/** The raw config as the engine holds it; secret values are not read here, only their presence. */
export function readRawConfig(): RawStackConfig {
    const all = pulumi.runtime.allConfig();
    const values: Record<string, unknown> = {};
    for (const key of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
        if (!CONFIG_KEYS[key].secret) {
            values[key] = all[`${PROJECT}:${key}`];
        }
    }
    return {
        values,
        secretsPresent: {
            registryPassword: all[`${PROJECT}:registryPassword`] !== undefined,
            kubeconfig: all[`${PROJECT}:kubeconfig`] !== undefined,
        },
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
