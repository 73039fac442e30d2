// A seeded closure generator shaped like the image of this project: CUDA redistributable libraries,
// torch-bin, Python and its packages, ffmpeg with codec libraries, glibc/gcc-lib at the bottom, the
// app, its Python environment and entrypoint on top; a few hundred store paths.
//
// Sizes (MiB, unpacked, approximate): CUDA 12.4 components from the archive sizes listed in NVIDIA's
// redistrib_12.4.1.json times a ~1.8 unpack ratio (libcublas+Lt ≈ 730, cudnn 9 ≈ 870, nccl ≈ 245,
// cusparse ≈ 270, cusolver ≈ 260, cufft ≈ 290, curand ≈ 100, nvrtc ≈ 72); torch 2.3 (torch-bin
// without the NVIDIA wheels) ≈ 2000 and triton ≈ 420, from the unpacked PyPI wheels; python3.11 ≈ 105,
// glibc ≈ 32, gcc-lib ≈ 9, ffmpeg 6 libraries ≈ 20 and its codecs 0.1–15 from typical nixpkgs
// closure listings (`nix path-info -S`). The remaining ~150 small Python packages get seeded
// log-normal sizes (20 KiB – 3 MiB) and random dependencies among themselves.
import * as crypto from "crypto";
import { StorePathInfo } from "../../components/nix/layers";

const MiB = 1024 * 1024;
const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

interface NodeSpec {
    name: string;
    mib: number;
    deps: string[];
}

/** Mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function specs(seed: number): NodeSpec[] {
    const rnd = prng(seed);
    const n: NodeSpec[] = [];
    const add = (name: string, mib: number, deps: string[] = []) => n.push({ name, mib, deps });
    // bottom
    add("glibc-2.39", 32);
    add("gcc-13.2.0-lib", 9, ["glibc-2.39"]);
    add("tzdata-2024a", 2.5);
    add("iana-etc-20240318", 0.6);
    const c = ["glibc-2.39"];
    const cc = ["glibc-2.39", "gcc-13.2.0-lib"];
    for (const [name, mib] of [["zlib-1.3.1", 0.2], ["bzip2-1.0.8", 0.3], ["xz-5.4.6", 0.9], ["zstd-1.5.5", 1.2], ["libffi-3.4.6", 0.1],
        ["ncurses-6.4", 3.5], ["expat-2.6.2", 0.4], ["gdbm-1.23", 0.5], ["mpdecimal-2.5.1", 0.5], ["libxcrypt-4.4.36", 0.3],
        ["util-linux-minimal-2.39.3-lib", 3], ["attr-2.5.2", 0.1], ["acl-2.3.2", 0.2], ["libpng-1.6.43", 0.6], ["libjpeg-turbo-3.0.2", 1.8]] as const) {
        add(name, mib, c);
    }
    add("openssl-3.0.13", 6.5, c);
    add("readline-8.2p10", 0.8, ["ncurses-6.4", ...c]);
    add("sqlite-3.45.1", 2.5, ["zlib-1.3.1", "readline-8.2p10", ...c]);
    add("bash-5.2p26", 5.5, c);
    add("coreutils-9.4", 8, ["attr-2.5.2", "acl-2.3.2", "openssl-3.0.13", ...c]);
    add("libtiff-4.6.0", 2, ["zlib-1.3.1", "libjpeg-turbo-3.0.2", "xz-5.4.6", "zstd-1.5.5", ...cc]);
    add("libwebp-1.3.2", 1.2, ["libpng-1.6.43", "libjpeg-turbo-3.0.2", "libtiff-4.6.0", ...c]);
    add("freetype-2.13.2", 2, ["zlib-1.3.1", "bzip2-1.0.8", "libpng-1.6.43", ...c]);
    add("fontconfig-2.15.0-lib", 1.5, ["freetype-2.13.2", "expat-2.6.2", ...c]);
    add("fribidi-1.0.13", 0.3, c);
    add("harfbuzz-8.3.0", 3, ["freetype-2.13.2", ...cc]);
    add("libass-0.17.1", 0.4, ["freetype-2.13.2", "fribidi-1.0.13", "harfbuzz-8.3.0", "fontconfig-2.15.0-lib", ...c]);
    // CUDA redistributables
    add("cuda_cudart-12.4.127", 1.6, cc);
    add("cuda_nvrtc-12.4.127", 72, cc);
    add("libnvjitlink-12.4.127", 52, cc);
    add("libcublas-12.4.5.8", 730, ["cuda_cudart-12.4.127", ...cc]);
    add("libcufft-11.2.1.3", 290, cc);
    add("libcurand-10.3.5.147", 100, cc);
    add("libcusparse-12.3.1.170", 270, ["libnvjitlink-12.4.127", ...cc]);
    add("libcusolver-11.6.1.9", 260, ["libcublas-12.4.5.8", "libcusparse-12.3.1.170", "libnvjitlink-12.4.127", ...cc]);
    add("cuda_cupti-12.4.127", 28, cc);
    add("cuda_nvtx-12.4.127", 0.3, c);
    add("libcufile-1.9.1.3", 5, cc);
    add("nccl-2.21.5-1", 245, ["cuda_cudart-12.4.127", ...cc]);
    add("cudnn-9.1.0.70", 870, ["libcublas-12.4.5.8", "cuda_nvrtc-12.4.127", ...cc]);
    add("cusparselt-0.6.0.6", 210, ["cuda_cudart-12.4.127", ...cc]);
    // ffmpeg and codecs
    const codecs: Array<[string, number]> = [["x264-0-unstable-2023-10-01", 3.5], ["x265-3.5", 15], ["libvpx-1.14.0", 6], ["libaom-3.8.1", 12],
        ["dav1d-1.4.0", 2], ["libopus-1.4", 0.9], ["lame-3.100", 0.9], ["libogg-1.3.5", 0.1], ["libvorbis-1.3.7", 0.7], ["libtheora-1.1.1", 0.5],
        ["speex-1.2.1", 0.2], ["srt-1.5.3", 1], ["zeromq-4.3.5", 2.5], ["libbluray-1.3.4", 1], ["openjpeg-2.5.2", 1.3], ["fdk-aac-2.0.3", 1.5],
        ["xvidcore-1.3.7", 1.2], ["opencore-amr-0.1.6", 0.5], ["vid-stab-1.1.1", 0.6], ["libdrm-2.4.120", 1], ["libva-2.20.0", 1.5], ["soxr-0.1.3", 0.3]];
    for (const [name, mib] of codecs) {
        add(name, mib, cc);
    }
    add("ffmpeg-6.1.1-lib", 20, [...codecs.map((x) => x[0]), "libass-0.17.1", "libwebp-1.3.2", "zlib-1.3.1", "bzip2-1.0.8", "xz-5.4.6", "cuda_cudart-12.4.127", ...cc]);
    add("ffmpeg-6.1.1-bin", 1, ["ffmpeg-6.1.1-lib", ...c]);
    // python
    add("python3-3.11.9", 105, ["bzip2-1.0.8", "expat-2.6.2", "libffi-3.4.6", "gdbm-1.23", "mpdecimal-2.5.1", "xz-5.4.6", "ncurses-6.4", "openssl-3.0.13",
        "readline-8.2p10", "sqlite-3.45.1", "zlib-1.3.1", "libxcrypt-4.4.36", "tzdata-2024a", "util-linux-minimal-2.39.3-lib", ...c]);
    const py = (name: string, mib: number, deps: string[] = []) => add(`python3.11-${name}`, mib, [...deps.map((d) => `python3.11-${d}`), "python3-3.11.9"]);
    py("typing-extensions-4.11.0", 0.4);
    py("filelock-3.13.4", 0.05);
    py("markupsafe-2.1.5", 0.1);
    py("jinja2-3.1.4", 1.5, ["markupsafe-2.1.5"]);
    py("mpmath-1.3.0", 5);
    py("sympy-1.12", 65, ["mpmath-1.3.0"]);
    py("networkx-3.3", 15);
    py("fsspec-2024.3.1", 1.5);
    py("packaging-24.0", 0.5);
    py("pyyaml-6.0.1", 1);
    py("tqdm-4.66.2", 0.5);
    py("numpy-1.26.4", 38);
    py("pillow-10.3.0", 12);
    // the torch family (torch-bin links against the CUDA libraries)
    add("python3.11-triton-2.3.0", 420, ["python3.11-filelock-3.13.4", "python3-3.11.9", ...cc]);
    add("python3.11-torch-2.3.0", 2000, ["python3.11-typing-extensions-4.11.0", "python3.11-filelock-3.13.4", "python3.11-jinja2-3.1.4", "python3.11-sympy-1.12",
        "python3.11-networkx-3.3", "python3.11-fsspec-2024.3.1", "python3.11-numpy-1.26.4", "python3.11-triton-2.3.0", "libcublas-12.4.5.8", "cudnn-9.1.0.70",
        "nccl-2.21.5-1", "libcufft-11.2.1.3", "libcurand-10.3.5.147", "libcusolver-11.6.1.9", "libcusparse-12.3.1.170", "cuda_cupti-12.4.127",
        "cuda_nvrtc-12.4.127", "cuda_nvtx-12.4.127", "cusparselt-0.6.0.6", "libcufile-1.9.1.3", "cuda_cudart-12.4.127", "python3-3.11.9", ...cc]);
    py("torchvision-0.18.0", 30, ["torch-2.3.0", "pillow-10.3.0", "numpy-1.26.4"]);
    n[n.length - 1].deps.push("libjpeg-turbo-3.0.2", "libpng-1.6.43", "ffmpeg-6.1.1-lib");
    py("torchaudio-2.3.0", 15, ["torch-2.3.0"]);
    n[n.length - 1].deps.push("ffmpeg-6.1.1-lib");
    // filler: small python packages with random dependencies among themselves
    const filler: string[] = [];
    for (let i = 0; i < 150; i++) {
        const mib = Math.min(3, Math.max(0.02, Math.exp(Math.log(0.3) + 1.2 * (rnd() * 2 - 1) * 1.5)));
        const deps = filler.filter(() => rnd() < 0.02).slice(0, 4);
        const name = `pkg${String(i).padStart(3, "0")}-1.${Math.floor(rnd() * 20)}`;
        py(name, Math.round(mib * 1000) / 1000, deps);
        filler.push(name);
    }
    const someFiller = (k: number) => filler.filter(() => rnd() < k / filler.length);
    py("torchmetrics-1.4.0", 4, ["torch-2.3.0", "numpy-1.26.4", "packaging-24.0", ...someFiller(3)]);
    py("lightning-utilities-0.11.2", 0.3, ["packaging-24.0", "typing-extensions-4.11.0"]);
    py("pytorch-lightning-2.2.4", 4, ["torch-2.3.0", "torchmetrics-1.4.0", "lightning-utilities-0.11.2", "fsspec-2024.3.1", "pyyaml-6.0.1", "tqdm-4.66.2", ...someFiller(8)]);
    add("opencv-4.9.0", 90, ["ffmpeg-6.1.1-lib", "libjpeg-turbo-3.0.2", "libpng-1.6.43", "libtiff-4.6.0", "libwebp-1.3.2", "zlib-1.3.1", ...cc]);
    py("opencv4-4.9.0", 2, ["numpy-1.26.4"]);
    n[n.length - 1].deps.push("opencv-4.9.0");
    py("shapely-2.0.4", 6, ["numpy-1.26.4"]);
    add("hdf5-1.14.3", 20, ["zlib-1.3.1", ...cc]);
    py("h5py-3.11.0", 10, ["numpy-1.26.4"]);
    n[n.length - 1].deps.push("hdf5-1.14.3");
    py("doctr-0.8.1", 5, ["torch-2.3.0", "torchvision-0.18.0", "opencv4-4.9.0", "shapely-2.0.4", "h5py-3.11.0", "numpy-1.26.4", "pillow-10.3.0", ...someFiller(10)]);
    // the app and its wrappers
    py("myproject-0.1", 0.05, ["numpy-1.26.4", "torch-2.3.0", "pytorch-lightning-2.2.4", "doctr-0.8.1"]);
    const pythonPkgs = n.filter((x) => x.name.startsWith("python3.11-")).map((x) => x.name);
    add("python3-3.11.9-env", 1, [...pythonPkgs, "python3-3.11.9", "bash-5.2p26"]);
    add("entrypoint", 0.002, ["python3-3.11.9-env", "bash-5.2p26", "coreutils-9.4"]);
    add("ffmpeg-tools-env", 0.01, ["ffmpeg-6.1.1-bin"]);
    return n;
}

export interface ClosureModel {
    /** Node name → salt; bump a salt to "change" that node (and, by hashing, everything above it). */
    salts: Map<string, string>;
    /** Node name → size override in bytes. */
    sizes: Map<string, number>;
    specs: NodeSpec[];
}

export function closureModel(seed = 42): ClosureModel {
    return { salts: new Map(), sizes: new Map(), specs: specs(seed) };
}

/** Content-addressed store paths: a node's hash covers its salt, size and its dependencies' paths. */
export function closureGraph(m: ClosureModel): StorePathInfo[] {
    const byName = new Map(m.specs.map((s) => [s.name, s]));
    const paths = new Map<string, string>();
    const pathOf = (name: string): string => {
        const done = paths.get(name);
        if (done !== undefined) {
            return done;
        }
        const s = byName.get(name);
        if (s === undefined) {
            throw new Error(`closure model: unknown dependency ${name}`);
        }
        const deps = [...new Set(s.deps)].map(pathOf).sort();
        const digest = crypto.createHash("sha256").update(`${name}\0${m.salts.get(name) ?? ""}\0${sizeOf(s)}\0${deps.join(",")}`).digest();
        const hash = Array.from({ length: 32 }, (_, i) => NIX32[digest[i] % 32]).join("");
        const p = `/nix/store/${hash}-${name}`;
        paths.set(name, p);
        return p;
    };
    const sizeOf = (s: NodeSpec) => m.sizes.get(s.name) ?? Math.round(s.mib * MiB);
    return m.specs.map((s) => ({ path: pathOf(s.name), narSize: sizeOf(s), references: [...new Set(s.deps)].map(pathOf).sort() }));
}

export interface Scenario {
    name: string;
    description: string;
    apply: (m: ClosureModel) => void;
}

export const SCENARIOS: Scenario[] = [
    {
        name: "app-only",
        description: "a one-file change in the app (myproject)",
        apply: (m) => {
            m.salts.set("python3.11-myproject-0.1", "edit-1");
            m.sizes.set("python3.11-myproject-0.1", Math.round(0.05 * MiB) + 812);
        },
    },
    {
        name: "ffmpeg-overlay",
        description: "the ffmpeg overlay re-flagged: ffmpeg and everything depending on it change",
        apply: (m) => {
            m.salts.set("ffmpeg-6.1.1-lib", "withX265=false");
            m.sizes.set("ffmpeg-6.1.1-lib", Math.round(19.4 * MiB));
        },
    },
    {
        name: "torch-overlay",
        description: "torch replaced through the overlay (another torch build)",
        apply: (m) => {
            m.salts.set("python3.11-torch-2.3.0", "source-build");
            m.sizes.set("python3.11-torch-2.3.0", Math.round(2050 * MiB));
        },
    },
    {
        name: "nixpkgs-bump",
        description: "a nixpkgs bump: glibc changes, so almost everything does",
        apply: (m) => {
            m.salts.set("glibc-2.39", "2.39-52");
            m.salts.set("tzdata-2024a", "2024b");
        },
    },
];
