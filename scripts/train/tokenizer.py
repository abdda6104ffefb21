"""Train the SentencePiece BPE tokenizer (Llama-style settings) and tokenize the corpus."""
import json, os, random, sys
import numpy as np
import sentencepiece as spm

BOS, EOS = 1, 2


def train_tokenizer(data_dir, vocab_size=2048, seed=1234, max_lines=2_000_000):
    rng = random.Random(seed)
    lines = []
    with open(os.path.join(data_dir, "train.jsonl")) as f:
        for l in f:
            for line in json.loads(l)["text"].split("\n"):
                if line.strip():
                    lines.append(line)
    rng.shuffle(lines)
    lines = lines[:max_lines]
    txt = os.path.join(data_dir, "spm-input.txt")
    with open(txt, "w") as f:
        f.write("\n".join(lines) + "\n")
    prefix = os.path.join(data_dir, "tokenizer")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size,
        character_coverage=0.9995, byte_fallback=True, split_digits=True,
        allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        add_dummy_prefix=True, normalization_rule_name="identity",
        split_by_unicode_script=True, split_by_whitespace=True,
        max_sentence_length=8192, input_sentence_size=max_lines, shuffle_input_sentence=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=2, seed_sentencepiece_size=1000000,
        unk_surface=" \u2047 ", minloglevel=1,
    )
    os.remove(txt)
    return prefix + ".model"


def encode_split(data_dir, split, sp):
    """Pack examples as [BOS] ids [EOS] ... into one uint16 stream."""
    out = []
    n = 0
    with open(os.path.join(data_dir, split + ".jsonl")) as f:
        for l in f:
            ex = json.loads(l)
            out.append(BOS)
            out.extend(sp.encode(ex["text"]))
            out.append(EOS)
            n += 1
    arr = np.array(out, dtype=np.uint16)
    arr.tofile(os.path.join(data_dir, split + ".u16"))
    return n, len(arr)


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cl-train/data"
    v = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    m = train_tokenizer(d, v)
    sp = spm.SentencePieceProcessor(model_file=m)
    for s in ("train", "heldout"):
        print(s, encode_split(d, s, sp))
