"""seq2seq_hub.demo: the Gradio demo (the Space's UI), a thin client of the library.

`requests` turns raw UI values into a validated request, `views` turns a hypothesis into what the page
shows, `panel` describes the model, `handlers` and `layout` wire the page, `server` loads and launches.
Nothing in `seq2seq_hub` imports this package; gradio and matplotlib are imported only here.
"""
