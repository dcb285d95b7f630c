"""Signal ``loss``: answer loss, perplexity and instruction-following difficulty under a LLaVA checkpoint (a model signal).

Needs: ``image``, ``conversations``; ``--model`` (a llava-hf checkpoint folder, e.g. one written by
``dataoptim train``; ``tiny`` for a random test model) and ``--image-folder`` (without it, or for a
record whose image is missing, the image is left out and the record is scored as text).
Writes, from one forward pass per record and condition:

* ``answer_loss``: mean cross-entropy (nats per token) of the answer tokens (and their ``</s>``)
  given image and prompts, the record encoded as training encodes it
  (:func:`dataoptim.train.encoding.encode_record`, LLaVA 744cb3e's ids and labels, the image widened
  to the model's ``image_seq_length`` positions); ``answer_ppl`` = ``exp(answer_loss)``;
* ``prompt_free_loss``: the same answer tokens' mean loss given no prompt and no image (the
  answers alone, each as `` {answer} </s>`` after BOS);
* ``ifd``: ``answer_loss / prompt_free_loss``, the instruction-following difficulty. Near or
  above 1: the prompt does not help predict the answer.

Null where the record cannot be encoded (too long for the model, template mismatch).

Paper: Li et al. 2023, "From Quantity to Quality: Boosting LLM Performance with Self-Guided Data
Selection for Instruction Tuning" (IFD = s(A|Q) / s(A)); perplexity filtering (Marion et al. 2023).
"""

from __future__ import annotations

import math

import pyarrow as pa

NAME = "loss"
VERSION = "2"
MODEL_SIGNAL = True
NEEDS = ("image", "conversations")
WRITES = {"answer_loss": pa.float32(), "answer_ppl": pa.float32(), "prompt_free_loss": pa.float32(), "ifd": pa.float32()}
PARAMS = {"model": None, "image_folder": None, "batch_size": 8, "shard_rows": 4096, "device": None, "dtype": None, "model_max_length": 2048}
PAPER = "Li et al. 2023, 'From Quantity to Quality' (IFD); Marion et al. 2023 (perplexity)"


def _mean_losses(model, sequences, device, pixel_values=None):
    """Mean loss over labelled positions of each ``(input_ids, labels)`` sequence (right-padded batch)."""
    import torch

    width = max(len(ids) for ids, _ in sequences)
    ids = torch.zeros((len(sequences), width), dtype=torch.long)
    labels = torch.full((len(sequences), width), -100, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, (i, l) in enumerate(sequences):
        ids[row, : len(i)] = torch.tensor(i)
        labels[row, : len(l)] = torch.tensor(l)
        mask[row, : len(i)] = 1
    kwargs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if pixel_values is not None:
        kwargs["pixel_values"] = pixel_values
    logits = model(**kwargs).logits.float()
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:].to(device)
    loss = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), reduction="none", ignore_index=-100)
    loss = loss.view(shift_labels.shape)
    counted = (shift_labels != -100).sum(-1)
    return [(float(loss[r].sum() / counted[r]) if counted[r] > 0 else None) for r in range(len(sequences))]


def make_scorer(params, device):
    import torch

    from dataoptim.train.encoding import encode_record, text_encoder
    from dataoptim.train.format import EOS, image_token_id
    from dataoptim.train.model import load_model, preprocess_images

    model, tokenizer, processor = load_model(params["model"], dtype=params.get("dtype"), device=device)
    n_image = int(model.config.image_seq_length)
    max_len = int(params["model_max_length"])
    path = params["model"] if params["model"] != "tiny" else None
    text = text_encoder(tokenizer, path=path)  # the trainer's encoder: LLaMA-2's SentencePiece model when the checkpoint has it
    image_id = image_token_id(tokenizer)

    @torch.no_grad()
    def score(records, images):
        has_image = [im is not None for im in images]
        cond = [None] * len(records)
        encoded = []
        for record, with_image in zip(records, has_image):
            conv = record["conversations"]
            if not with_image:  # scored as text: the <image> token left out
                conv = [{**t, "value": t["value"].replace("<image>", "").strip()} if k == 0 else t for k, t in enumerate(conv)]
            tokens = encode_record(conv, text, has_image=with_image, model_max_length=max_len)
            ids, labels = tokens.expanded(n_image, image_id) if with_image else (tokens.input_ids, tokens.labels)
            usable = tokens.masked is None and tokens.answer_tokens > 0 and len(ids) <= getattr(model.config.text_config, "max_position_embeddings", 1 << 30)
            encoded.append((ids, labels) if usable else None)
        for with_image in (True, False):
            idx = [i for i, e in enumerate(encoded) if e is not None and has_image[i] == with_image]
            if not idx:
                continue
            pixels = preprocess_images([images[i] for i in idx], processor).to(device=device, dtype=next(model.parameters()).dtype) if with_image else None
            for i, value in zip(idx, _mean_losses(model, [encoded[i] for i in idx], device, pixels)):
                cond[i] = value
        free = [None] * len(records)
        idx = [i for i in range(len(records)) if cond[i] is not None]
        if idx:
            seqs = []
            for i in idx:
                ids = [tokenizer.bos_token_id]
                labels = [-100]
                for turn in records[i]["conversations"][1::2]:
                    piece_ids = tokenizer(f" {turn['value']} {EOS}", add_special_tokens=False)["input_ids"]
                    ids += piece_ids
                    labels += piece_ids
                seqs.append((ids[:max_len], labels[:max_len]))
            for i, value in zip(idx, _mean_losses(model, seqs, device)):
                free[i] = value
        return {"answer_loss": cond, "answer_ppl": [None if c is None else math.exp(min(c, 80.0)) for c in cond], "prompt_free_loss": free,
                "ifd": [None if c is None or f is None or f == 0 else c / f for c, f in zip(cond, free)]}

    return score
