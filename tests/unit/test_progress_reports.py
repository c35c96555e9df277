"""A run's progress reports wait in the process for the control thread, tagged with the run's
lease token: the thread writes only the reports of the runs it holds now."""

from __future__ import annotations

from taskheap import progress


def test_a_report_of_an_earlier_run_is_dropped_not_written_under_the_new_token() -> None:
    progress.report("job-a", "old-token", progress.encode(5, 10))  # a thread abandoned at its timeout
    progress.report("job-b", "token-b", progress.encode(1))
    taken = progress.take({"job-a": "new-token", "job-b": "token-b"})
    assert taken == {"job-b": progress.encode(1)}
    assert progress.take({"job-a": "new-token", "job-b": "token-b"}) == {}, "taken off, the stale one too"


def test_the_latest_report_of_a_run_is_the_one_taken() -> None:
    for done in (1, 2, 3):
        progress.report("job-c", "t", progress.encode(done, 3, "pages"))
    assert progress.take({"job-c": "t"}) == {"job-c": progress.encode(3, 3, "pages")}


def test_an_earlier_run_reporting_after_the_new_one_does_not_replace_its_report() -> None:
    progress.report("job-d", "new-token", progress.encode(7, 10))
    progress.report("job-d", "old-token", progress.encode(1, 10))  # the abandoned thread, later
    assert progress.take({"job-d": "new-token"}) == {"job-d": progress.encode(7, 10)}
    assert progress.take({"job-d": "new-token"}) == {}, "the stale report is dropped too"
