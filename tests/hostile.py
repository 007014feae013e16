"""hostile.py: inputs a user or a client may send, shared by the library, CLI and app tests."""

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n  ",
    "one character": "a",
    "5,000 words": "Ein Mann fährt Fahrrad. " * 1250,
    "1 MB": "x" * 1_000_000,
    "NUL and controls": "Ein\x00 Mann\x07\x1b[31m fährt\x7f",
    "zero-width and RTL marks": "Ein\u200b Mann\u200f fährt\u202e Fahrrad\ufeff",
    "lone surrogates": "Ein \ud800 Mann \udfff",
    "emoji": "Ein 👨‍👩‍👧 fährt 🚲🚲",
    "CJK, Cyrillic, Arabic": "男人骑自行车 Мужчина едет مرد يركب",
    "HTML": "<script>alert('x')</script><b>Ein Mann</b>",
}
