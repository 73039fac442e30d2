import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    MAX_OUTPUT_LINE, boundedOutput, nixBuildArgv, nixEvalScript, nixSettingFlags, parseBuildOutput, parseDigest, parseEvalOutput, shCommand, shQuote, skopeoPushEnvironment, skopeoPushScript, storeHash,
} from "../../components/exec";

const sh = (cmd: string, env: Record<string, string> = {}) =>
    execFileSync("/bin/sh", ["-c", cmd], { encoding: "utf8", env: { ...process.env, ...env } });

describe("shell quoting", () => {
    const nasty = ["$(touch PWNED)", "`touch PWNED`", "a b", "it's", "\"q\"", "x;touch PWNED", "", "-n", "\\", "\n", "*"];
    it("passes every argument through the shell unchanged and runs nothing", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-quote-"));
        try {
            for (const arg of nasty) {
                const out = execFileSync("/bin/sh", ["-c", shCommand(["printf", "%s", arg])], { cwd: dir, encoding: "utf8" });
                assert.strictEqual(out, arg);
            }
            assert.deepStrictEqual(fs.readdirSync(dir), [], "no file created");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("leaves plain words bare", () => {
        assert.strictEqual(shQuote("nix-build"), "nix-build");
        assert.strictEqual(shQuote("/nix/store/x"), "/nix/store/x");
        assert.strictEqual(shQuote('["8.0"]'), `'["8.0"]'`);
    });
});

describe("nix command lines", () => {
    const args = { argstr: { imageName: "ml/app", overlays: '[{"name":"ffmpeg","args":{}}]' } };
    it("builds without an out-link, builders' logs not streamed but their tail kept, arguments sorted; no Nix setting overridden by default", () => {
        assert.deepStrictEqual(nixBuildArgv("/p/nix/build_container.nix", args), [
            "nix-build", "--no-out-link", "--no-build-output", "--option", "log-lines", "60", "/p/nix/build_container.nix",
            "--argstr", "imageName", "ml/app", "--argstr", "overlays", '[{"name":"ffmpeg","args":{}}]',
        ]);
    });
    it("evaluation prints the .drv and its output path", () => {
        const script = nixEvalScript("/p/e.nix", args);
        assert.match(script, /^set -eu\ndrv=\$\(nix-instantiate \/p\/e\.nix --argstr imageName ml\/app --argstr overlays '\[\{"name":"ffmpeg","args":\{\}\}\]'\)/);
        assert.match(script, /nix-store --query --outputs "\$drv"/);
    });
    it("passes a stack's Nix settings, and only those it sets, as quoted arguments", () => {
        assert.deepStrictEqual(nixSettingFlags({}), []);
        assert.deepStrictEqual(nixSettingFlags({ substituters: [] }), ["--option", "substituters", ""]);
        assert.deepStrictEqual(nixSettingFlags({
            substituters: ["https://cache.nixos.org", "http://127.0.0.1:5080"], trustedPublicKeys: ["k-1:AAAA", "k-2:BBBB="],
            builders: "ssh://b x86_64-linux - 4; ssh://c aarch64-linux", maxJobs: 0,
        }), [
            "--option", "substituters", "https://cache.nixos.org http://127.0.0.1:5080", "--option", "trusted-public-keys", "k-1:AAAA k-2:BBBB=",
            "--option", "builders", "ssh://b x86_64-linux - 4; ssh://c aarch64-linux", "--max-jobs", "0",
        ]);
        const script = nixEvalScript("/p/e.nix", { ...args, settings: { builders: "ssh://b x86_64-linux; $(touch /tmp/pwned)" } });
        assert.ok(script.includes(`--option builders 'ssh://b x86_64-linux; $(touch /tmp/pwned)'`), script);
    });
    it("parses outputs without throwing", () => {
        const drv = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x.drv";
        const out = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x";
        assert.deepStrictEqual(parseEvalOutput(`${drv}\n${out}\n`), { drvPath: drv, outPath: out });
        assert.deepStrictEqual(parseEvalOutput("garbage"), { drvPath: "", outPath: "" });
        assert.strictEqual(parseBuildOutput(`building…\n${out}\n`), out);
        assert.strictEqual(storeHash(out), "0123456789abcdfghijklmnpqrsvwxyz");
        assert.strictEqual(storeHash("nope"), "");
        assert.strictEqual(parseDigest(`sha256:${"a".repeat(64)}\n`), `sha256:${"a".repeat(64)}`);
    });
    it("a tag containing $(touch /tmp/pwned) creates no file when the push command runs", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-push-"));
        fs.rmSync("/tmp/pwned", { force: true });
        try {
            const script = skopeoPushScript();
            const pushEnv = skopeoPushEnvironment({ destination: "127.0.0.1:1/x:$(touch /tmp/pwned)", insecure: true });
            // Replace skopeo with a stub that records its argv.
            fs.writeFileSync(path.join(dir, "skopeo"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\nwhile [ $# -gt 0 ]; do [ "$1" = --digestfile ] && printf 'sha256:%064d' 0 > "$2"; shift; done\n`, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "image"), "#!/bin/sh\necho archive\n", { mode: 0o755 });
            const out = sh(script, { ...pushEnv, PATH: `${dir}:${process.env.PATH}`, NGD_IMAGE: path.join(dir, "image"), TMPDIR: dir });
            assert.strictEqual(out.trim(), `sha256:${"0".repeat(64)}`);
            assert.ok(!fs.existsSync("/tmp/pwned"), "/tmp/pwned was created");
            assert.ok(fs.readFileSync(path.join(dir, "argv"), "utf8").includes("docker://127.0.0.1:1/x:$(touch /tmp/pwned)"));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("passes registry credentials through a private auth file, not argv", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ngd-auth-"));
        try {
            const script = skopeoPushScript();
            fs.writeFileSync(path.join(dir, "skopeo"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\nwhile [ $# -gt 0 ]; do case "$1" in --digestfile) printf 'sha256:%064d' 0 > "$2";; --dest-authfile) cp "$2" "${dir}/auth"; stat -c %a "$2" > "${dir}/mode";; esac; shift; done\n`, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "image"), "#!/bin/sh\necho archive\n", { mode: 0o755 });
            sh(script, { ...skopeoPushEnvironment({ destination: "127.0.0.1:1/x:t", insecure: true }), PATH: `${dir}:${process.env.PATH}`, NGD_IMAGE: path.join(dir, "image"), TMPDIR: dir, NGD_REGISTRY: "127.0.0.1:1", REGISTRY_USERNAME: "u", REGISTRY_PASSWORD: "p@ss w0rd" });
            const argv = fs.readFileSync(path.join(dir, "argv"), "utf8");
            assert.ok(!argv.includes("p@ss"), "password not on the command line");
            const auth = JSON.parse(fs.readFileSync(path.join(dir, "auth"), "utf8"));
            assert.strictEqual(Buffer.from(auth.auths["127.0.0.1:1"].auth, "base64").toString(), "u:p@ss w0rd");
            assert.strictEqual(fs.readFileSync(path.join(dir, "mode"), "utf8").trim(), "600");
            assert.deepStrictEqual(fs.readdirSync(dir).filter((f) => f.startsWith("ngd-image")), [], "temporary files removed");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("boundedOutput: what the command provider reads has no line over its 64 KiB limit", () => {
    const run = (script: string, maxLine?: number) => spawnSync("/bin/sh", ["-c", boundedOutput(script, maxLine)], { encoding: "utf8" });
    it("cuts long lines on stdout and stderr, saying how much was cut; short lines pass unchanged", () => {
        const r = run("head -c 100000 /dev/zero | tr '\\0' o; echo; echo short\nhead -c 70000 /dev/zero | tr '\\0' e >&2; echo >&2; echo err >&2");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout, `${"o".repeat(MAX_OUTPUT_LINE)} [line cut: ${100000 - MAX_OUTPUT_LINE} more characters]\nshort\n`);
        assert.strictEqual(r.stderr, `${"e".repeat(MAX_OUTPUT_LINE)} [line cut: ${70000 - MAX_OUTPUT_LINE} more characters]\nerr\n`);
        assert.ok(MAX_OUTPUT_LINE < 64 * 1024);
    });
    it("keeps the script's exit status, its set -e and its EXIT trap", () => {
        const r = run("set -eu\ntrap 'echo cleaned >&2' EXIT\necho before\nfalse\necho after", 100);
        assert.strictEqual(r.status, 1);
        assert.strictEqual(r.stdout, "before\n");
        assert.strictEqual(r.stderr, "cleaned\n");
        assert.strictEqual(run("exit 7").status, 7);
    });
    it("runs the script verbatim (readable in the diff and the error)", () => {
        const script = skopeoPushScript();
        assert.ok(boundedOutput(script).includes(`\n${script}\n`));
    });
});
