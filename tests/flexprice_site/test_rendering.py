"""The API's JSON renderer (orjson) writes exactly what the JSON encoder it replaced wrote."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st

from flexprice_site.rendering import ApiJSONEncoder, ApiJSONRenderer

values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**62), max_value=2**62),
        st.text(),
        st.decimals(allow_nan=False, allow_infinity=False, places=6),
        st.datetimes(
            min_value=datetime.datetime(1900, 1, 1),
            timezones=st.sampled_from(
                [datetime.UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Kolkata")]
            ),
        ),
        st.dates(),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def by_the_old_encoder(data: object) -> bytes:
    return json.dumps(data, cls=ApiJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


@given(data=values)
def test_writes_what_the_json_encoder_wrote(data: object) -> None:
    # (An answer is never a bare None: the renderer writes no body for it.)
    body = {"data": data}
    assert ApiJSONRenderer().render(body) == by_the_old_encoder(body)


def test_decimals_times_and_lazy_text_read_as_the_api_writes_them() -> None:
    data = {
        "amount": Decimal("10.50"),
        "zero": Decimal("-0.00"),
        "at": datetime.datetime(2026, 1, 1, 5, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
        "message": gettext_lazy("Not found."),
        "text": "é",
    }

    assert (
        ApiJSONRenderer().render(data)
        == (
            '{"amount":"10.5","zero":"0","at":"2026-01-01T04:00:00.123456Z",'
            '"message":"Not found.","text":"é"}'
        ).encode()
    )
    assert ApiJSONRenderer().render(None) == b""
