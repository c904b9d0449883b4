from eval.hostile_files import KINDS, time_hostile_files, timings_table

SOME = {name: KINDS[name] for name in ("heading-spaces.md", "unclosed-tags.html", "deep-arrays.json")}


def test_hostile_files_are_timed_in_a_child_and_judged_against_the_limit(tmp_path):
    timings = time_hostile_files(0.05, 10.0, kinds=SOME, work=tmp_path)
    assert [t.name for t in timings] == list(SOME) and all(t.ok for t in timings)
    assert timings[0].outcome == "1 passages" and timings[2].outcome.startswith("refused: JSON nested too deeply")
    assert timings_table(timings, 10.0).endswith("PASSED: every file within 10 s")
    assert list(tmp_path.iterdir()) == []  # the files go when timed

    slow = time_hostile_files(0.05, 1e-9, kinds=SOME, work=tmp_path)  # the bound can fail
    assert not any(t.ok for t in slow) and "FAILED" in timings_table(slow, 1e-9)


def test_a_reader_that_hangs_is_reported_at_the_deadline_not_waited_for(tmp_path, monkeypatch):
    import eval.hostile_files as hostile_files

    monkeypatch.setattr(hostile_files, "_CHILD", "import time; time.sleep(60)")
    [timing] = time_hostile_files(0.01, 0.5, kinds={"x.txt": KINDS["no-spaces.txt"]}, work=tmp_path)
    assert not timing.ok and timing.seconds is None and timing.outcome.startswith("still running")


def test_with_a_passage_bound_each_file_is_read_as_an_upload_is(tmp_path):
    many = {"many-records.jsonl": KINDS["many-records.jsonl"]}  # 0.05 MB: about 1,560 records
    [bounded] = time_hostile_files(0.05, 10.0, kinds=many, work=tmp_path, max_passages=100)
    assert bounded.ok and bounded.outcome.startswith("refused: makes more than 100 passages")
    [unbounded] = time_hostile_files(0.05, 10.0, kinds=many, work=tmp_path)
    assert unbounded.outcome == "1562 passages"
