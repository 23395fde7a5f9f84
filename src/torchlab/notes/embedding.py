"""Words as vectors: an nn.Embedding lookup (word2vec) and pretrained vectors (GloVe).

The notes look up `word_to_ix["helo"]`, a KeyError: the key is "hello". torchnlp's GloVe() downloads
2.2 GB (and the heading's "CloVe" means GloVe); here `nn.Embedding.from_pretrained` stands in with a
tiny made-up table, the same lookup. The notes' lookup and print are `lookup()` and `show()` here.
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 20
BLOCKS = ("word2vec查表操作", "CloVe查表操作")

WORD_TO_IX = {"hello": 0, "world": 1}


def lookup(word: str, embeds: nn.Embedding) -> torch.Tensor:
    """The embedding row of one word, shape [1, embedding_dim]."""
    return embeds(torch.tensor([WORD_TO_IX[word]], dtype=torch.long))


def pretrained_table() -> nn.Embedding:
    """A frozen table of known vectors, as GloVe would give (2 words x 3 dims here)."""
    return nn.Embedding.from_pretrained(torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))


def main() -> None:
    embeds = nn.Embedding(2, 5)
    show('embeds(tensor([word_to_ix["hello"]]))', lookup("hello", embeds))
    show("its shape [1, 5] is row 0 of embeds.weight", torch.equal(lookup("hello", embeds)[0], embeds.weight[0]))
    show('pretrained["world"] (GloVe stand-in)', lookup("world", pretrained_table()))
    show("batch layouts", "[word num, b, word vec] (default) or [b, word num, word vec] (batch_first=True)")
