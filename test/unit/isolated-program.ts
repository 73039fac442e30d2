// Runs index.ts once under mocks in a process of its own (test/unit/program-errors.test.ts starts
// it), so that the unhandled rejections a failing program produces are collected here, as the
// SDK's language runtime collects them, instead of failing the test runner. Prints one JSON line.
import * as pulumi from "@pulumi/pulumi";
import { RunOptions, runProgram } from "./harness";

const rejections: unknown[] = [];
process.on("unhandledRejection", (e) => { rejections.push(e); });

const describeError = (e: unknown) => ({
    runError: pulumi.RunError.isInstance(e),
    name: e instanceof Error ? e.name : typeof e,
    message: e instanceof Error ? e.message : String(e),
});

void (async () => {
    const options = JSON.parse(process.argv[2]) as RunOptions;
    const run = await runProgram(options);
    // Give every registration that does not wait for the failed output the time to happen, then
    // list what the mock monitor holds (the run's own list is taken when the program failed).
    await new Promise((r) => setTimeout(r, 1500));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is not typed publicly
    const monitor = pulumi.runtime.getMonitor() as any;
    const urns = [...((monitor?.getRegisteredResources?.() ?? new Map()) as Map<string, unknown>).keys()];
    const registered = urns.map((u) => ({ type: (u.split("::")[2] ?? "").split("$").pop() ?? "", name: u.split("::")[3] ?? "" }));
    process.stdout.write(`${JSON.stringify({
        error: run.error === undefined ? undefined : describeError(run.error),
        resources: registered,
        invokes: run.invokes.map((i) => i.token),
        rejections: rejections.map(describeError),
    })}\n`);
    process.exit(0);
})();
