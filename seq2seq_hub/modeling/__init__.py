"""seq2seq_hub.modeling: the network. `attention`, `encoder`, `decoder`, `model` (`Seq2SeqModel`), and int8
inference (`quantize`, `int8_encoder`). Its hyper-parameters, `Seq2SeqConfig`, live one floor down in
`seq2seq_hub/config.py`, where the tokenizer, the repo format and the cards reach them too. Nothing here
reads text or talks to the Hub except the model's mixin hooks, which hand the file format to `seq2seq_hub.hub`.
"""
