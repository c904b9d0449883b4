from rag.answer.presentation import (
    agrees,
    best_sentences,
    explains,
    grounded_sentences,
    quote_around,
    sentences,
    span_lead,
)


def test_explanation_questions_are_told_from_short_answer_ones():
    assert explains("How does BM25 scale past one machine?") and explains("why is the sky blue")
    assert explains("What does the reader do?") and explains("Explain DPR")
    for question in (
        "How many moons has Mars?",
        "How long is the Nile?",
        "Who painted the Mona Lisa?",
        "What is the capital of France?",
        "When did it open?",
    ):
        assert not explains(question), question


def test_the_quote_is_the_sentence_holding_the_span_cut_around_it_when_long():
    context = "Paris is big. A Sunday Afternoon is a painting by Georges Seurat. It hangs in Chicago."
    start = context.index("Georges Seurat")
    assert quote_around(context, start, start + 14) == "A Sunday Afternoon is a painting by Georges Seurat."
    long = "word " * 200 + "Georges Seurat " + "word " * 200 + "."
    start = long.index("Georges")
    quote = quote_around(long, start, start + 14, limit=60)
    assert quote.startswith("…") and quote.endswith("…") and "Georges Seurat" in quote and len(quote) <= 64
    assert sentences("One. Two! Three") == [(0, 4), (5, 9), (10, 15)]
    # A span that is its whole sentence (a title line) is quoted with the sentence that follows it.
    titled = "Jackie Robinson. Jackie Robinson was an American baseball player. He played for the Dodgers."
    assert quote_around(titled, 0, 15) == "Jackie Robinson. Jackie Robinson was an American baseball player."
    assert quote_around("Jackie Robinson.", 0, 15) == "Jackie Robinson."


def test_markdown_headings_and_paragraphs_bound_sentences():
    text = "## How answers lead\n\nThe span comes first, cited\n\n# Reader\nIt reads one passage. It is small"
    assert [text[a:b] for a, b in sentences(text)] == [
        "The span comes first, cited",
        "It reads one passage.",
        "It is small",
    ]
    chosen = best_sentences("how do answers lead with the span", [(1, text)], k=1)
    assert chosen == [(1, "The span comes first, cited")]  # not the heading glued to it
    start = text.index("one passage")
    assert quote_around(text, start, start + 11) == "It reads one passage."


def test_the_lead_escapes_markdown_in_document_text():
    lead = span_lead("Seurat", 1, "A ![x](https://evil.example/?q=secret) *painting* by Seurat")
    assert lead.startswith("**Seurat** [1] — “") and "![x](" not in lead and "\\!\\[x\\]" in lead


def test_best_sentences_share_the_most_question_words_and_keep_passage_order():
    passages = [
        (1, "Cats are mammals. The cat is kept as a house pet for catching mice."),
        (2, "Dogs bark. People keep a cat as a pet because it catches mice."),
    ]
    chosen = best_sentences("Why do people keep a cat as a pet?", passages, k=2)
    assert [n for n, _ in chosen] == [1, 2] and chosen[1][1].startswith("People keep a cat")
    assert best_sentences("Quantum chromodynamics?", passages) == []


def test_prose_agrees_when_it_states_the_span_or_mostly_repeats_the_quotes():
    assert agrees("It was painted by Georges Seurat [1].", "Georges Seurat", "")
    assert not agrees("It was Diego Rivera.", "Georges Seurat", "")
    lead = "“People keep a cat as a pet because it catches mice.” [2]"
    assert agrees("A cat catches mice.", None, lead)
    assert not agrees("Citations from Wikipedia, citations from Wikipedia.", None, lead)


def test_only_prose_sentences_the_passages_bear_out_are_kept():
    passage = "A Sunday Afternoon on the Island of La Grande Jatte was painted from 1884 to 1886 by Georges Seurat."
    question = "Who painted A Sunday Afternoon?"
    prose = (
        "The passage is not a question. It was painted by Georges Seurat [1]. "
        "Seurat lived at 127.0.3.89, see [his site](https://github.com/seurat-fan)."
    )
    assert grounded_sentences(prose, [question, passage]) == "It was painted by Georges Seurat [1]."
    assert grounded_sentences("The original text contains citations.", [question, passage]) == ""
    assert grounded_sentences(prose, []) == ""


def test_code_blocks_and_tables_are_not_quoted_as_sentences():
    text = (
        "```bash\nrag tune -c notes --qa questions.jsonl\n```\n\n| setting | top-1 |\n|---|---|\n| tune | 97 |\n\n"
        "The tune command chooses the fusion for a collection."
    )
    assert best_sentences("what does rag tune choose for a collection", [(1, text)]) == [
        (1, "The tune command chooses the fusion for a collection.")
    ]
