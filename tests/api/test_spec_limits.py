"""The raw-document bounds name the setting that sets each bound, as every other limit does."""

from automtl_api.spec_limits import hostile_input_errors


def _errors(document):
    return dict(hostile_input_errors(document, max_depth=4, max_items=16, max_string=20))


def test_each_bound_names_its_variable():
    assert "AUTOMTL_MAX_JSON_DEPTH" in _errors({"a": [[[[[1]]]]]})["a[0][0][0][0]"]
    assert "AUTOMTL_MAX_LIST_ITEMS" in _errors({"tasks": list(range(17))})["tasks"]
    assert "AUTOMTL_MAX_LIST_ITEMS" in _errors({"m": {str(i): i for i in range(17)}})["m"]
    assert "AUTOMTL_MAX_STRING_CHARS" in _errors({"name": "x" * 21})["name"]
    assert "AUTOMTL_MAX_STRING_CHARS" in _errors({"m": {"k" * 21: 1}})["m"]


def test_a_document_within_the_bounds_has_no_errors():
    assert _errors({"tasks": list(range(16)), "name": "x" * 20, "a": [[[1]]]}) == {}
