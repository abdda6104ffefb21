"""Build the training corpus from the Python source installed by Debian packages.

Every .py file under the roots that a Debian package owns (per
/var/lib/dpkg/info/*.list) is read, exact duplicates (by SHA-256 of content)
are dropped, and each file goes wholly to train or held-out (by a hash of its
path). From each file we extract, via `ast`:
  * top-level functions and methods of top-level classes (with decorators,
    dedented to column 0, kept only if the dedented text still parses and it
    is of modest length), and
  * the module head (text before the first top-level def/class: imports,
    docstring, constants), capped in length.
Examples are deduplicated by content. A manifest records packages and files.

Shaping (second generation, issue 16) acts on the training split only, after
deduplication, so that the held-out split stays exactly the first
generation's (same files, same examples): `train_kinds` keeps only those
kinds (e.g. functions and methods, no module heads), `train_max_chars` drops
longer examples (so that an example and its EOS fit a training window), and
`drop_generated` drops machine-generated sources (GENERATED path fragments).
"""
import ast, glob, gzip, hashlib, json, os, random, sys, textwrap

ROOTS = ["/usr/lib/python3/dist-packages", "/usr/lib/python3.11"]
MAX_FILE_BYTES = 400_000
MAX_FUNC_CHARS = 2400
MAX_FUNC_LINES = 80
MIN_FUNC_LINES = 2
MAX_HEAD_CHARS = 1500
HELDOUT_MOD = 50  # 1 file in 50 (by path hash) is held out
# machine-generated sources (thousands of near-identical rule functions)
GENERATED = ["/sympy/integrals/rubi/rules/", "/sympy/integrals/rubi/constraints.py",
             "/sympy/parsing/autolev/_antlr/", "/sympy/parsing/latex/_antlr/"]


def dpkg_owners():
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[:-5].split(":")[0]
        with open(lst, errors="replace") as f:
            for line in f:
                p = line.rstrip("\n")
                if p.endswith(".py"):
                    owners.setdefault(p, pkg)
    return owners


def is_heldout(path):
    return int(hashlib.sha256(path.encode()).hexdigest(), 16) % HELDOUT_MOD == 0


def extract(src):
    """Yield (kind, text) examples from one module's source."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    lines = src.splitlines(keepends=True)
    first_def = None
    nodes = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if first_def is None:
                first_def = min([node.lineno] + [d.lineno for d in node.decorator_list])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nodes.append(("function", node))
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    nodes.append(("method", sub))
    head = "".join(lines[: (first_def - 1) if first_def else len(lines)]).strip("\n")
    if head.strip():
        if len(head) > MAX_HEAD_CHARS:
            cut = head[:MAX_HEAD_CHARS].rfind("\n")
            head = head[: cut if cut > 0 else MAX_HEAD_CHARS]
        yield "head", head + "\n"
    for kind, node in nodes:
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno
        n = end - start + 1
        if n < MIN_FUNC_LINES or n > MAX_FUNC_LINES:
            continue
        text = textwrap.dedent("".join(lines[start - 1:end])).rstrip() + "\n"
        if len(text) > MAX_FUNC_CHARS or not text.startswith(("def ", "async def ", "@")):
            continue
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        yield kind, text


def read_manifest(path):
    """paths listed in a corpus-manifest.tsv.gz (to rebuild a recorded corpus)"""
    with gzip.open(path, "rt") as f:
        return set(l.split("\t")[1] for l in f if not l.startswith("#"))


def build(out_dir, seed=1234, train_kinds=None, train_max_chars=0, drop_generated=False, only_files=None):
    os.makedirs(out_dir, exist_ok=True)
    owners = dpkg_owners()
    files = []
    for root in ROOTS:
        for dp, dn, fn in os.walk(root):
            dn.sort()
            for f in sorted(fn):
                if f.endswith(".py"):
                    files.append(os.path.join(dp, f))
    if only_files:
        keep = read_manifest(only_files)
        files = [f for f in files if f in keep]
    seen_file = set()
    seen_ex = set()
    manifest = []
    splits = {"train": [], "heldout": []}
    stats = {"files_seen": len(files), "not_owned": 0, "symlink": 0, "too_big": 0,
             "undecodable": 0, "dup_file": 0}
    for path in files:
        if os.path.islink(path):
            stats["symlink"] += 1
            continue
        pkg = owners.get(path)
        if pkg is None:
            stats["not_owned"] += 1
            continue
        with open(path, "rb") as f:
            raw = f.read()
        if len(raw) > MAX_FILE_BYTES:
            stats["too_big"] += 1
            continue
        h = hashlib.sha256(raw).hexdigest()
        if h in seen_file:
            stats["dup_file"] += 1
            continue
        seen_file.add(h)
        try:
            src = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats["undecodable"] += 1
            continue
        split = "heldout" if is_heldout(path) else "train"
        nex = 0
        for kind, text in extract(src):
            eh = hashlib.sha256(text.encode()).digest()
            if eh in seen_ex:
                continue
            seen_ex.add(eh)
            splits[split].append({"text": text, "kind": kind, "file": path})
            nex += 1
        manifest.append((pkg, path, h[:16], split, nex))
    shaped = {"train_kinds": sorted(train_kinds) if train_kinds else None,
              "train_max_chars": train_max_chars, "drop_generated": drop_generated,
              "only_files": only_files, "examples_train_before_shaping": len(splits["train"]),
              "chars_train_before_shaping": sum(len(e["text"]) for e in splits["train"])}

    def keep_train(e):
        if train_kinds and e["kind"] not in train_kinds:
            return False
        if train_max_chars and len(e["text"]) > train_max_chars:
            return False
        if drop_generated and any(g in e["file"] for g in GENERATED):
            return False
        return True
    rng = random.Random(seed)
    for k in splits:
        rng.shuffle(splits[k])  # unshaped, so that the held-out order is the first generation's too
        if k == "train":
            splits[k] = [e for e in splits[k] if keep_train(e)]
        with open(os.path.join(out_dir, k + ".jsonl"), "w") as f:
            for ex in splits[k]:
                f.write(json.dumps(ex) + "\n")
    if shaped["examples_train_before_shaping"] != len(splits["train"]):  # count what shaping kept
        kept = {}
        for e in splits["train"]:
            kept[e["file"]] = kept.get(e["file"], 0) + 1
        manifest = [(pkg, path, h, split, nex if split == "heldout" else kept.get(path, 0))
                    for pkg, path, h, split, nex in manifest]
    pkgs = {}
    for pkg, path, h, split, nex in manifest:
        pkgs.setdefault(pkg, [0, 0])
        pkgs[pkg][0] += 1
        pkgs[pkg][1] += nex
    stats.update({
        "files_used": len(manifest),
        "packages": len(pkgs),
        "examples_train": len(splits["train"]),
        "examples_heldout": len(splits["heldout"]),
        "chars_train": sum(len(e["text"]) for e in splits["train"]),
        "chars_heldout": sum(len(e["text"]) for e in splits["heldout"]),
        "kinds_train": {k: sum(1 for e in splits["train"] if e["kind"] == k) for k in ("function", "method", "head")},
        "kinds_heldout": {k: sum(1 for e in splits["heldout"] if e["kind"] == k) for k in ("function", "method", "head")},
        "train_shaping": shaped,
    })
    with gzip.GzipFile(os.path.join(out_dir, "corpus-manifest.tsv.gz"), "wb", mtime=0) as f:
        f.write(("# roots: %s\n# package\tpath\tsha256[:16]\tsplit\texamples\n" % " ".join(ROOTS)).encode())
        for row in manifest:
            f.write(("\t".join(str(x) for x in row) + "\n").encode())
    with open(os.path.join(out_dir, "corpus-packages.txt"), "w") as f:
        f.write("# package\tfiles_used\texamples\n")
        for pkg in sorted(pkgs):
            f.write("%s\t%d\t%d\n" % (pkg, pkgs[pkg][0], pkgs[pkg][1]))
    with open(os.path.join(out_dir, "corpus-stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats, indent=1))
    return stats


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "/tmp/cl-train/data")
