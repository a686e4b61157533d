"""Small builders of OASST records for tests."""

import json


def msg(mid, parent=None, role="prompter", tree="t1", **fields):
    rec = {
        "message_id": mid,
        "parent_id": parent,
        "message_tree_id": tree,
        "role": role,
        "lang": "en",
        "text": f"text of {mid}",
        "rank": None,
    }
    rec.update(fields)
    return rec


def jsonl(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def tiny_bert(folder, words, *, layers=1, num_labels=None):
    """A tiny BERT tokenizer and config saved in ``folder`` (imports transformers lazily).

    Returns (tokenizer, config); the caller builds the model class it needs.
    """
    import transformers

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = transformers.BertTokenizer(str(vocab))
    tokenizer.save_pretrained(folder)
    extra = {"num_labels": num_labels} if num_labels else {}
    config = transformers.BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        **extra,
    )
    config.save_pretrained(folder)
    return tokenizer, config
