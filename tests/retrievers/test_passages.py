from hypothesis import given, settings as hsettings, strategies as st

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
