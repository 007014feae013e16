"""seq2seq_hub.modeling: the network. `config` (every hyper-parameter, validated; imports nothing of this
folder, so the tokenizer, the Hub format and the cards can reach it), `attention`, `encoder`, `decoder`, `model`
(`Seq2SeqModel`), and int8 inference (`quantize`, `int8_encoder`). Nothing here reads text or talks to the
Hub except the model's mixin hooks, which hand the file format to `seq2seq_hub.hub`.
"""
