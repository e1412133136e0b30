"""Requests the gateway must refuse clearly (issue 12, items 6 and 7), without a server: dates
outside what the engine holds, long or empty symbols, non-finite numbers, and error texts that
echo at most 64 characters of client input and never the catalog's directory or symbols."""
from __future__ import annotations

import math

import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.errors import ServiceError, Status
from backtestester.symbols import MAX_SYMBOL_LENGTH, normalize_symbol
from backtestester.texts import shown
from backtestester.wire import answers, requests
from backtestester.wire.requests import RequestError

HUGE = "2" * 100_000


def create(start="2024-01-03", stop="2024-01-04", symbol="AAA", history=0, **extra):
    return pb.CreatePolygonPlaygroundRequest(
        balance=10, start_date=start, stop_date=stop, environment="simulator",
        repositories=[pb.Repository(symbol=symbol, timespan_multiplier=1, timespan_unit="minute",
                                    history_in_days=history, **extra)])


def refusal(func, *args) -> str:
    with pytest.raises(RequestError) as info:
        func(*args)
    assert info.value.code == "INVALID_ARGUMENT"
    return str(info.value)


def test_shown_quotes_and_cuts_client_input():
    assert shown("AAA") == "'AAA'"
    assert shown("x" * 64) == repr("x" * 64)
    assert shown("x" * 65) == f"{'x' * 64!r}... (65 characters)"
    assert shown(b"\xff" * 100).endswith("... (403 characters)") and len(shown(b"\xff" * 100)) < 100
    assert shown("a'b\n") == repr("a'b\n")  # quoting as repr: control characters are escaped


@pytest.mark.parametrize("func, args", [
    (requests.parse_date, (HUGE, "clock.startDate")),
    (requests.parse_rfc3339, (HUGE, "fromRTF3339")),
    (requests.parse_rfc3339, ("2024-01-03T10:00:00" + "0" * 100_000, "fromRTF3339")),
])
def test_a_100_kb_time_is_echoed_as_64_characters_and_its_length(func, args):
    text = refusal(func, *args)
    assert "(100" in text and "characters)" in text and len(text) < 300, text


def test_every_echoed_text_field_of_create_playground_is_cut():
    for change in ({"environment": HUGE}, {"start_date": HUGE}, {"stop_date": HUGE}):
        req = create()
        for key, value in change.items():
            setattr(req, key, value)
        text = refusal(requests.create_config, req)
        assert "(100000 characters)" in text and len(text) < 300, text
    req = create()
    req.repositories[0].timespan_unit = HUGE
    assert len(refusal(requests.create_config, req)) < 300
    req = create()
    req.repositories[0].indicators.extend([HUGE, "x"])
    text = refusal(requests.create_config, req)
    assert "(100000 characters) and 1 more" in text and len(text) < 400, text


@pytest.mark.parametrize("start, stop", [("9999-12-30", "9999-12-31"), ("2024-01-03", "9999-12-31"),
                                         ("0001-01-01", "0001-01-02"), ("1678-12-31", "1679-01-02"),
                                         ("2024-01-03", "2261-01-01")])
def test_dates_outside_what_the_engine_holds_are_refused(start, stop):
    assert "is out of range: accepted: 1679-01-01 to 2260-12-31" in refusal(requests.create_config, create(start, stop))


def test_the_first_and_last_supported_dates_are_accepted():
    cfg = requests.create_config(create("1679-01-01", "2260-12-31"))
    assert (cfg["start_date"], cfg["stop_date"]) == ("1679-01-01", "2260-12-31")
    assert requests.parse_rfc3339("2260-12-31T23:59:59-05:00", "t").year == 2260
    for bad in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1678-12-31T23:59:59Z"):
        assert "out of range" in refusal(requests.parse_rfc3339, bad, "toRTF3339")


def test_history_reaching_before_the_first_supported_date_is_refused():
    assert "history_in_days 10 for AAA reaches back before 1679-01-01" in refusal(
        requests.create_config, create("1679-01-05", "1679-01-06", history=10))
    assert requests.create_config(create("1679-01-05", "1679-01-06", history=4))["repositories"][0]["history_in_days"] == 4


def test_symbols_longer_than_the_limit_or_empty_are_refused():
    assert normalize_symbol(" o:spy251219c00650000 ") == "O:SPY251219C00650000"
    assert normalize_symbol("A" * MAX_SYMBOL_LENGTH) == "A" * MAX_SYMBOL_LENGTH
    with pytest.raises(ValueError, match=r"is too long: at most 32 characters"):
        normalize_symbol("A" * 33)
    text = refusal(requests.create_config, create(symbol="A" * 300))
    assert "(300 characters)" in text and "A" * 65 not in text
    assert "symbol must be a non-empty string" in refusal(requests.parse_symbol, " ")
    assert requests.parse_symbol("aaa") == "AAA"


@pytest.mark.parametrize("field", ["quantity", "requested_price", "price", "sl"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_in_place_order_are_refused(field, value):
    req = pb.PlaceOrderRequest(symbol="AAA", side="buy", quantity=1, requested_price=10, type="limit", price=9.0)
    setattr(req, field, value)
    assert f"{field} must be a finite number" in refusal(requests.place_order_kwargs, req)


def test_a_missing_symbol_tells_clients_neither_the_directory_nor_the_symbols(tmp_path):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-03", seed=0))
    with pytest.raises(LookupError) as info:
        cat.load("ZZZ", "1m")
    assert str(tmp_path) in str(info.value) and "AAA" in str(info.value)  # the full text, for logs and the CLI
    assert info.value.public_message == "no data for symbol 'ZZZ' in the data catalog"


@pytest.mark.parametrize("start, stop", [("1679-01-02", "1679-01-03"), ("2260-12-30", "2260-12-31")])
def test_a_playground_at_the_edges_of_the_supported_dates_finds_no_bars_rather_than_failing(tmp_path, start, stop):
    # the exchange calendar covers whole years around the dates: the edges leave a year's margin
    Catalog(tmp_path).write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-03", seed=0))
    with pytest.raises(ServiceError) as info:
        answers.created("p", requests.create_config(create(start, stop)), str(tmp_path))
    assert info.value.status is Status.NOT_FOUND and "no 1m bars of AAA" in info.value.message, info.value.message


def test_ids_and_tags_the_gateway_keeps_are_bounded():
    # client-chosen names are kept in caches, the registry and the saved journal: a 1 MB client_id
    # or a million tags used to be stored as they came
    long = "i" * (requests.MAX_ID_CHARACTERS + 1)
    assert "client_id 'iii" in refusal(requests.create_config,
                                       pb.CreatePolygonPlaygroundRequest(**{**_create_fields(), "client_id": long}))
    assert "tag 'iii" in refusal(requests.create_config,
                                 pb.CreatePolygonPlaygroundRequest(**{**_create_fields(), "tags": ["ok", long]}))
    too_many = [str(i) for i in range(requests.MAX_TAGS + 1)]
    assert f"at most {requests.MAX_TAGS} per playground" in refusal(
        requests.create_config, pb.CreatePolygonPlaygroundRequest(**{**_create_fields(), "tags": too_many}))
    order = pb.PlaceOrderRequest(symbol="AAA", asset_class="equity", quantity=1, side="buy", type="market",
                                 duration="day", requested_price=1.0, client_request_id=long)
    assert f"at most {requests.MAX_ID_CHARACTERS} characters" in refusal(requests.place_order_kwargs, order)
    ok = "i" * requests.MAX_ID_CHARACTERS  # the limit itself is accepted
    config = requests.create_config(pb.CreatePolygonPlaygroundRequest(**{**_create_fields(), "client_id": ok,
                                                                          "tags": [ok] * requests.MAX_TAGS}))
    assert config["client_id"] == ok and len(config["tags"]) == requests.MAX_TAGS


def _create_fields() -> dict:
    return dict(balance=10, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
                repositories=[pb.Repository(symbol="AAA", timespan_multiplier=1, timespan_unit="minute")])
