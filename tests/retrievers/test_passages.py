from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from retrievers.passages import Passage, make_passages, passage_ids, split_text


def words(n: int, sentence_every: int = 0) -> str:
    out = []
    for i in range(n):
        w = f"w{i}"
        if sentence_every and (i + 1) % sentence_every == 0:
            w += "."
        out.append(w)
    return " ".join(out)


def test_short_text_is_one_passage():
    assert split_text("one two three", 100) == ["one two three"]
    assert split_text("   \n\t ", 100) == []


def test_long_text_splits_near_target_and_keeps_every_word():
    text = words(1000)
    parts = split_text(text, 100)
    assert [len(p.split()) for p in parts[:-1]] == [100] * (len(parts) - 1)
    assert " ".join(parts).split() == text.split()


def test_split_prefers_sentence_ends_within_a_quarter_of_the_target():
    text = words(300, sentence_every=90)  # sentence ends after words 90, 180, 270
    parts = split_text(text, 100)
    assert [len(p.split()) for p in parts] == [90, 90, 120]
    assert all(p.endswith(".") for p in parts[:2])


def test_remainder_up_to_a_quarter_over_stays_whole():
    assert len(split_text(words(125), 100)) == 1
    assert len(split_text(words(126), 100)) == 2


def test_zero_keeps_text_whole_and_passages_are_slices_of_the_original():
    text = "First line.\n\nSecond   paragraph with  spaces."
    assert split_text(text, 0) == [text]
    assert split_text(text, 4)[0] == "First line.\n\nSecond   paragraph"


def test_ids_are_stable_unique_and_independent_of_position():
    a = passage_ids("doc.txt", ["alpha", "beta", "alpha"])
    assert len(set(a)) == 3
    assert passage_ids("doc.txt", ["alpha", "beta", "alpha"]) == a
    shifted = passage_ids("doc.txt", ["new", "alpha", "beta", "alpha"])
    assert shifted[1:] == a
    assert passage_ids("other.txt", ["alpha"])[0] != a[0]


def test_make_passages_numbers_positions_and_keeps_metadata():
    ps = make_passages("s", [("T", words(250), {"page": 2}), ("U", "short", {})], 100)
    assert [p.position for p in ps] == list(range(len(ps)))
    assert ps[0].title == "T" and ps[0].extra == {"page": 2} and ps[-1].title == "U"
    assert ps[0].metadata()["page"] == 2


def test_indexed_text_prefixes_the_title_once():
    assert Passage("1", "Body", title="T").indexed_text == "T. Body"
    assert Passage("1", "T. Body", title="T").indexed_text == "T. Body"
    assert Passage("1", "Body").indexed_text == "Body"


@hsettings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000), st.integers(min_value=0, max_value=60))
def test_splitting_loses_and_repeats_nothing(text, size):
    parts = split_text(text, size)
    assert " ".join(parts).split() == text.split()
    ids = passage_ids("src", parts)
    assert len(set(ids)) == len(ids)


def _split_all_at_once(text: str, passage_words: int) -> list[str]:
    """The splitter as first written, holding every word position in a list: the reference."""
    import re

    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans:
        return []
    if passage_words <= 0:
        return [text[spans[0][0] : spans[-1][1]]]
    low, high = max(1, int(passage_words * 0.75)), max(passage_words, int(passage_words * 1.25))
    passages, start = [], 0
    while start < len(spans):
        if len(spans) - start <= high:
            end = len(spans)
        else:
            end = start + passage_words
            for i in range(start + high - 1, start + low - 2, -1):
                if re.search(r"[.!?][\"')\]]*$", text[spans[i][0] : spans[i][1]]):
                    end = i + 1
                    break
        passages.append(text[spans[start][0] : spans[end - 1][1]])
        start = end
    return passages


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "w",
                "end.",
                "q?",
                "x!)",
                "  ",
                "\n\n",
                "\t",
                "é",
                "a.b",
                "?!",
                "x.\"'",
                "\u00a0",
                "\u3000",
                "\x1c",
                "n.\u2003",
                ".)]",
                "\u200b",
            ]
        ),
        max_size=600,
    ),
    st.integers(min_value=0, max_value=40),
)
def test_the_streaming_splitter_cuts_exactly_where_the_whole_text_splitter_did(tokens, size):
    text = " ".join(tokens)
    assert split_text(text, size) == _split_all_at_once(text, size)


def test_a_long_single_line_is_split_lazily():
    from retrievers.passages import iter_split_text

    text = words(100_000, sentence_every=37)
    pieces = iter_split_text(text, 100)
    first = next(pieces)  # a generator: the first passage comes before the rest are cut
    assert first.split() == text.split()[: len(first.split())]
    assert [first, *pieces] == _split_all_at_once(text, 100)


def test_ids_keep_their_published_form():
    """Ids already stored in users' collections must not change: sha1(source NUL occurrence NUL text)[:24]."""
    import hashlib

    def expected(source, occurrence, text):
        return hashlib.sha1(f"{source}\x00{occurrence}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()[:24]

    source = "/docs/caf\udce9.txt"  # a file name that was not UTF-8, as Python decodes it
    assert passage_ids(source, ["alpha", "beta", "alpha"]) == [
        expected(source, 0, "alpha"),
        expected(source, 0, "beta"),
        expected(source, 1, "alpha"),
    ]
    made = make_passages("s.txt", [("T", "one two", {})], 100)
    assert made[0].id == expected("s.txt", 0, "T\x00one two")
