from __future__ import annotations

import pytest

from taskheap import codec
from taskheap.codec import decode_payload, decode_result, encode_payload, encode_result, oversized
from taskheap.errors import PayloadError
from taskheap.job import IdGenerator, check_priority, encode_id, encode_ids


def test_payload_round_trips_and_tuples_become_lists() -> None:
    text = encode_payload("t", (1, (2, 3)), {"k": "é"}, 1000)
    assert decode_payload(text) == ([1, [2, 3]], {"k": "é"})


@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes", float("nan")])
def test_non_json_arguments_raise_type_error_naming_the_task(bad: object) -> None:
    with pytest.raises(TypeError, match="'mytask'"):
        encode_payload("mytask", (bad,), {}, 1000)


def test_payload_over_the_limit_counts_bytes_not_characters() -> None:
    encode_payload("t", ("x" * 70,), {}, 100)  # 95 bytes
    with pytest.raises(PayloadError, match="is 165 bytes, over the 100-byte limit"):
        encode_payload("t", ("é" * 70,), {}, 100)  # 95 characters


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON"),
        ("[1]", "expected an object"),
        ('{"args": 1}', "must be a list"),
        (b"\xff", "undecodable payload: not UTF-8"),
        ('{"args":["\udcff"]}', "undecodable payload: not UTF-8"),  # 0xff, as a lenient read holds it
        ('{"args":' + "[" * 100_000 + "]" * 100_000 + "}", "malformed payload: nested too deep"),
    ],
)
def test_malformed_payloads_say_what_is_wrong(text: str | bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_payload(text)


def test_a_result_nested_too_deep_is_a_payload_error_not_a_recursion_error() -> None:
    with pytest.raises(PayloadError, match="malformed result: nested too deep"):
        decode_result("[" * 100_000 + "]" * 100_000)


def test_the_size_of_leniently_read_text_counts_the_bytes_it_was_read_from() -> None:
    assert oversized("é\udcff", 2) == 3 and oversized("é\udcff", 3) is None


def test_non_json_result_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON-serializable"):
        encode_result(object())


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = IdGenerator()
    made = [ids.new() for _ in range(10_000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(i) == 26 for i in made)


@pytest.mark.parametrize("priority", [-1, 1001])
def test_priority_outside_the_range_is_a_value_error(priority: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.1000"):
        check_priority(priority)


def test_priority_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        check_priority(1.5)  # type: ignore[arg-type]


def test_circular_arguments_raise_type_error_naming_the_task() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(TypeError, match=r"'mytask'.*Circular reference"):
        encode_payload("mytask", (loop,), {}, 1000)


def test_a_failed_encode_leaves_no_false_cycle_behind() -> None:
    holder: list[object] = [object()]
    with pytest.raises(TypeError):
        encode_result(holder)  # fails midway, inside `holder`
    holder[0] = 1
    assert encode_result(holder) == "[1]"
    shared = [1]
    assert encode_result([shared, shared]) == "[[1],[1]]"  # the same list twice is no cycle


def test_a_batch_of_ids_continues_the_single_ids_order() -> None:
    ids = IdGenerator()
    made = [ids.new(), *ids.new_many(5000), ids.new(), *ids.new_many(1)]
    assert made == sorted(made) and len(set(made)) == len(made)


def test_batch_ids_spell_each_id_as_encode_id_does_across_a_carry() -> None:
    rand = (1 << 20) * 7 - 3  # the tail digits roll over inside the batch
    assert encode_ids(1234, rand, 8) == [encode_id(1234, rand + i) for i in range(8)]


@pytest.mark.parametrize(
    "value",
    [{"args": [1, 2.5, -0.0, 1e300, 'é\n"', None, True], "kwargs": {"k": [{}]}}, "text", 10**30, []],
)
def test_the_prebuilt_encoder_writes_what_the_json_encoder_writes(value: object) -> None:
    assert codec._encode(value) == codec._encoder.encode(value)


def test_a_result_or_error_holding_a_lone_surrogate_is_escaped_so_a_store_takes_it() -> None:
    """A file name read with surrogateescape (os.listdir of a name that is not UTF-8): no store
    takes the raw surrogate, so the result is ASCII-escaped JSON and errors spell it out."""
    import json

    from taskheap.codec import encode_result, printable, storable

    name = "report-\udcff.csv"
    assert not storable(name)
    text = encode_result({"file": name, "ok": "é"})
    assert storable(text) and json.loads(text) == {"file": name, "ok": "é"}
    assert encode_result({"ok": "é"}) == '{"ok":"é"}'  # what a store takes stays as it is
    assert printable(f"OSError: {name}") == "OSError: report-\\udcff.csv"
