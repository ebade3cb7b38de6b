"""The one error shape, pinned: every error a client sees has exactly these keys."""

import pytest

from liftinfer import errors


def all_error_classes():
    seen, todo = [], [errors.LiftinferError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


@pytest.mark.parametrize("cls", [c for c in all_error_classes() if c is not errors.MissingDependency])
def test_every_error_has_the_one_shape(cls):
    exc = cls("something is wrong", field="max_tokens")
    body = exc.to_dict()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "field", "details"}
    assert body["error"]["message"] == "something is wrong"
    assert body["error"]["field"] == "max_tokens"
    assert 400 <= exc.status < 600
    assert exc.exit_code != 0


def test_error_body_for_plain_http_errors_matches():
    assert set(errors.error_body("not_found", "x")["error"]) == {"type", "message", "field", "details"}


def test_missing_dependency_names_the_extra():
    exc = errors.MissingDependency("vllm", "vllm", "The vLLM backend")
    assert "pip install 'liftinfer[vllm]'" in exc.message
    assert exc.to_dict()["error"]["details"] == {"package": "vllm", "extra": "vllm"}


def test_overload_and_not_ready_carry_retry_after():
    assert errors.Overloaded("full", retry_after=3).headers["Retry-After"] == "3"
    assert errors.NotReady("loading").headers["Retry-After"] == "5"
    assert errors.Overloaded("full").status == 429
    assert errors.NotReady("loading").status == 503


def test_request_error_from_pydantic_errors_names_the_field():
    exc = errors.request_error_from([{"type": "less_than_equal", "loc": ("body", "max_tokens"),
                                      "msg": "Input should be less than or equal to 10"}])
    assert exc.field == "max_tokens"
    assert exc.message == "max_tokens: Input should be less than or equal to 10"
    missing = errors.request_error_from([{"type": "missing", "loc": ("body", "schema"), "msg": "Field required"}])
    assert missing.message == "schema: field required"
