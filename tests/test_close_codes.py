"""The kit's one table of close codes (``wslab.close_codes``), and what is drawn from it."""

from __future__ import annotations

import pytest

from wslab.close_codes import (CLOSES, FINAL_ERRORS, Close, KitCloseCode, describe_close,
                               settled_close_code, table_for_page)
from wslab.protocol import CloseCode


def test_the_kit_s_own_codes_are_in_the_application_range_and_echo_http():
    assert {code.value for code in KitCloseCode} == {4408, 4409}
    assert all(4000 <= code <= 4999 for code in KitCloseCode)


def test_every_entry_is_filed_under_its_own_code_in_the_deck_s_order():
    assert list(CLOSES) == [1000, 1001, 1006, 1008, 1009, 1011, 1012, 1013, 4408, 4409]
    for number, close in CLOSES.items():
        assert close.code == number
        assert isinstance(close.code, (CloseCode, KitCloseCode))
        assert close.meaning and close.meaning == close.meaning.strip()
        assert not close.meaning[0].isupper() and not close.meaning.endswith(".")  # mid-sentence


def test_only_a_refusal_and_a_replacement_are_final():
    assert [code for code, close in CLOSES.items() if close.final] == [
        CloseCode.POLICY_VIOLATION, KitCloseCode.REPLACED]


def test_each_final_error_reply_announces_a_final_close():
    assert FINAL_ERRORS == {"bad_token": 1008, "bad_client_id": 1008, "name_taken": 1008,
                            "replaced": 4409}
    assert all(CLOSES[code].final for code in FINAL_ERRORS.values())


@pytest.mark.parametrize("code, reason, words", [
    (1012, "", "1012 (the server is restarting)"),
    (1012, "bye", "1012 (the server is restarting): bye"),
    (1008, "wrong token",
     "1008 (the server refused this connection: a wrong join token, a bad name, or a name in "
     "use): wrong token"),
    (4409, "", "4409 (the same name connected again elsewhere, with its key: the newer "
               "connection took over)"),
    (4001, "", "4001"),
    (4001, "custom", "4001: custom"),
    (None, "", "no close code"),
])
def test_describe_close_puts_a_code_into_words(code, reason, words):
    assert describe_close(code, reason) == words


@pytest.mark.parametrize("code, error, settled", [
    (1012, None, 1012),        # no error reply: the code as it came
    (1005, None, 1005),
    (None, None, None),
    (1005, "bad_token", 1008),  # a proxy dropped the code: the error reply says which
    (1005, "bad_client_id", 1008),
    (1005, "name_taken", 1008),
    (None, "replaced", 4409),
    (1000, "replaced", 4409),
    (4409, "bad_token", 4409),  # a final code that did arrive is kept
    (1008, "replaced", 1008),
    (1005, "message_too_long", 1005),  # an error reply that announces nothing
])
def test_settled_close_code_trusts_a_final_error_reply_when_the_code_is_lost(code, error,
                                                                             settled):
    assert settled_close_code(code, error) == settled


def test_the_page_s_table_is_json_ready_and_says_the_same(monkeypatch):
    table = table_for_page()
    assert table["meanings"] == {str(code): close.meaning for code, close in CLOSES.items()}
    assert table["final"] == [1008, 4409]
    assert table["final_errors"] == FINAL_ERRORS and table["final_errors"] is not FINAL_ERRORS
    monkeypatch.setitem(CLOSES, 4403, Close(4403, "banned for today", final=True))
    table = table_for_page()
    assert table["final"] == [1008, 4409, 4403] and table["meanings"]["4403"] == "banned for today"
