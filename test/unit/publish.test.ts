import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { dockerRegistryAuth } from "../../components/registry/publish";

const plain = <T>(o: pulumi.Input<T> | undefined): Promise<T | undefined> =>
    new Promise((resolve) => (pulumi.Output.isInstance(o) ? (o as pulumi.Output<T>).apply((v) => { resolve(v); return v; }) : resolve(o as T)));

describe("docker publisher: the provider's registryAuth", () => {
    it("gives a plain-HTTP registry an http:// address, so the provider reads the digest back over HTTP", () => {
        assert.deepStrictEqual(dockerRegistryAuth("127.0.0.1:5001", true), { address: "http://127.0.0.1:5001", authDisabled: true });
    });
    it("gives a TLS registry an https:// address", () => {
        assert.strictEqual(dockerRegistryAuth("registry.example.com", false).address, "https://registry.example.com");
    });
    it("disables auth without credentials, and passes credentials as a secret otherwise", async () => {
        const auth = dockerRegistryAuth("r.example.com:5000", false, { username: "ci", password: "s3cret" });
        assert.strictEqual(auth.authDisabled, undefined);
        assert.strictEqual(auth.username, "ci");
        assert.ok(pulumi.Output.isInstance(auth.password));
        // `isSecret` is the SDK's own flag on an Output (not in its typings).
        assert.strictEqual(await (auth.password as unknown as { isSecret: Promise<boolean> }).isSecret, true);
        assert.strictEqual(await plain(auth.password), "s3cret");
    });
});
