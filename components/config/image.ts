// The `image` section: the repository, tag and layering, or another stack's image (`fromStack`).
import { DEFAULTS, PROJECT } from "./types";
import { Checker, IMAGE_NAME, IMAGE_TAG, isUnset, SectionContext, STACK_REF } from "./check";
/** `image.fromStack`: another stack, never this one (its own export cannot exist before it runs). */
export function fromStackOf(c: Checker, v: unknown, self: string | undefined, organization: string | undefined): string | undefined {
    const ref = c.string("image.fromStack", v, { re: STACK_REF, what: "a stack: org/project/stack, or a stack name of this project", max: 300 });
    if (ref === undefined || self === undefined) {
        return ref;
    }
    const parts = ref.split("/");
    const [org, project, stack] = parts.length === 1 ? [organization, PROJECT, parts[0]] : parts;
    // Another organization's stack of the same name is another stack; with the organization unknown, the name decides.
    if (project === PROJECT && stack === self && (organization === undefined || org === organization)) {
        c.fail("image.fromStack", `${c.show(ref)} is this stack: a stack that promotes runs the image another stack built and published (image.publishOnly there), by its imageRef output`);
        return undefined;
    }
    return ref;
}

/** The `image` section. */
export function checkImage(c: Checker, v: unknown, ctx: SectionContext) {
    const { mode, opts } = ctx;
    const imageRaw = c.object("image", v, ["name", "fromStack", "publishOnly", "tag", "maxLayers", "layerStrategy", "maxLayerBytes"]);
    if (mode === "promote") {
        for (const k of ["name", "tag", "maxLayers", "layerStrategy", "maxLayerBytes"]) {
            if (!isUnset(imageRaw[k])) {
                c.fail(`image.${k}`, "is not used with image.fromStack: the image stack decides it");
            }
        }
        return {
            name: "",
            fromStack: fromStackOf(c, imageRaw.fromStack, opts.stack, opts.organization),
            maxLayers: DEFAULTS.maxLayers,
            layerStrategy: DEFAULTS.layerStrategy,
            maxLayerBytes: DEFAULTS.maxLayerBytes,
        };
    }
    return {
        name: c.string("image.name", imageRaw.name, { re: IMAGE_NAME, what: "an image repository name (lowercase, e.g. ml/myproject)", max: 128, required: true }),
        tag: c.string("image.tag", imageRaw.tag, { re: IMAGE_TAG, what: "an image tag ([A-Za-z0-9_.-], at most 128)", max: 128 }),
        maxLayers: c.integer("image.maxLayers", imageRaw.maxLayers, 2, 125, DEFAULTS.maxLayers) ?? DEFAULTS.maxLayers,
        layerStrategy: c.oneOf("image.layerStrategy", imageRaw.layerStrategy, ["popularity", "equal", "stable"] as const, DEFAULTS.layerStrategy),
        maxLayerBytes: c.integer("image.maxLayerBytes", imageRaw.maxLayerBytes, 1024 * 1024, 1024 ** 4, DEFAULTS.maxLayerBytes) ?? DEFAULTS.maxLayerBytes,
    };
}
