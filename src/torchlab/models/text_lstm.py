"""A sentence classifier: nn.Embedding lookup (random or pretrained GloVe), a (bi)LSTM over the
packed sequence, and a Linear head on the last hidden state of each direction.

Packing by length means padding never reaches the LSTM: a sentence gets the same logits alone
or padded inside a batch.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from torchlab.config import ModelConfig, in_range, not_blank
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.data.vectors import pretrained_embedding
from torchlab.models import MODELS, weights_follow
from torchlab.models.size import MAX_LAYERS


class TextLSTM(nn.Module):
    def __init__(
        self,
        embedding: nn.Embedding,
        hidden_size: int,
        num_outputs: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.lstm = nn.LSTM(
            embedding.embedding_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * self.directions, num_outputs)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens [B, L] padded ids, lengths [B] -> logits [B, num_outputs]."""
        embedded = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: [layers * directions, B, H], each sequence's own last step
        last = torch.cat(list(h[-self.directions :]), dim=1)
        return self.head(self.dropout(last))


@dataclass
class TextLSTMConfig(ModelConfig):
    embed_dim: int | None = None  # None: 100, or the size of the pretrained vectors
    embeddings: str | None = None  # pretrained vectors: glove-6b-50d (the glove extra) or a GloVe .txt file
    freeze_embeddings: bool = False  # keep pretrained vectors fixed instead of fine-tuning them
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5
    num_outputs: int | None = None  # None: one logit for two classes (binary task), else one per class

    def __post_init__(self) -> None:
        in_range("model", 1, embed_dim=self.embed_dim, hidden_size=self.hidden_size)
        in_range("model", 1, MAX_LAYERS, "[]", num_layers=self.num_layers)
        in_range("model", 1, num_outputs=self.num_outputs)
        in_range("model", 0, 1, dropout=self.dropout)
        not_blank("model", embeddings=self.embeddings)


@MODELS.register("text-lstm", config=TextLSTMConfig, tasks=("binary", "classify"))
def build_text_lstm(cfg: TextLSTMConfig, info: DataInfo) -> TextLSTM:
    if info.vocab is None:
        raise TorchlabError("model text-lstm needs a text dataset (one with a vocabulary), such as data.name=sst2")
    if cfg.embeddings and not (weights_follow() and cfg.embed_dim):  # a rebuild knows the size: no vectors read
        embedding = pretrained_embedding(info.vocab, cfg.embeddings, cfg.freeze_embeddings)
        if cfg.embed_dim not in (None, embedding.embedding_dim):
            raise TorchlabError(
                f"model.embed_dim={cfg.embed_dim} but {cfg.embeddings} holds {embedding.embedding_dim}-d vectors"
            )
        cfg.embed_dim = embedding.embedding_dim  # config.yaml records it for the rebuild
    else:
        embedding = nn.Embedding(len(info.vocab), cfg.embed_dim or 100, padding_idx=0)
        embedding.weight.requires_grad = not (cfg.embeddings and cfg.freeze_embeddings)
    outputs = cfg.num_outputs or (1 if info.num_classes == 2 else info.num_classes)
    return TextLSTM(embedding, cfg.hidden_size, outputs, cfg.num_layers, cfg.bidirectional, cfg.dropout)
