"""seq2seq_hub.demo: the Gradio demo (the Space's UI), a thin client of the library.

`catalog` knows which models serve which directions (the model zoo, or one model), `pool` keeps some
of them loaded (each with its `batching` micro-batcher), `requests` turns raw UI values into a validated
request, `views` and `heatmap` turn a hypothesis into what the page shows, `panel` describes a model,
`scores` gathers BLEU by source length; `handlers` (translate) and `compare` are the API's endpoints;
`layout`, `tabs`, `directions` and `widgets` build and wire the page; `server` loads and launches.
Nothing in `seq2seq_hub` imports this package; gradio and matplotlib are imported only here.
"""
