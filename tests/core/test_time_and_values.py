"""The portal's one time format (the `ts` filter) and recorded values shown as a reader wants them (`show`)."""

import re
from datetime import UTC, date, datetime, timedelta, timezone

from django.template import Context, Template

from apps.core.templatetags.portal import change_rows, changes_table, show, ts


def test_a_datetime_is_utc_text_the_browser_localises_with_the_exact_utc_time_on_hover():
    moment = datetime(2026, 12, 2, 23, 13, 4, tzinfo=timezone(timedelta(hours=1)))
    assert str(ts(moment)) == (
        '<time datetime="2026-12-02T22:13:04Z" title="2026-12-02 22:13:04 UTC">2026-12-02 22:13 UTC</time>'
    )


def test_iso_text_with_a_zone_reads_as_the_same_datetime():
    moment = datetime(2026, 12, 2, 22, 13, 4, 123456, tzinfo=UTC)
    assert ts("2026-12-02T22:13:04.123456Z") == ts(moment) == ts("2026-12-02T23:13:04.123456+01:00")


def test_a_date_stays_a_date_in_the_same_year_month_day_form():
    assert str(ts(date(2026, 10, 18))) == '<time datetime="2026-10-18">2026-10-18</time>'
    assert ts(None) == "—"


def test_lists_read_as_lists_not_as_python():
    html = str(show(["s3://bucket/train.parquet", "snowflake://db/schema/table"]))
    assert html == '<ul class="value-list"><li>s3://bucket/train.parquet</li><li>snowflake://db/schema/table</li></ul>'
    assert "[" not in html and "'" not in html


def test_values_are_escaped_and_nothing_reads_as_a_dash():
    assert str(show(["<b>x</b>"])) == '<ul class="value-list"><li>&lt;b&gt;x&lt;/b&gt;</li></ul>'
    assert [show(value) for value in (None, "", [], True, False, 0)] == ["—", "—", "—", "yes", "no", 0]
    assert (
        str(show({"b": 1, "a": "é"}))
        == '<code class="value-json">{&quot;a&quot;: &quot;é&quot;, &quot;b&quot;: 1}</code>'
    )
    assert str(show("2026-12-02T22:13:04Z")).startswith('<time datetime="2026-12-02T22:13:04Z"')


def test_change_rows_name_each_field_with_its_before_and_after():
    changes = {"lifecycle_status": ["development", "validation"], "note": "kept as recorded"}
    assert change_rows(changes) == [
        ("Lifecycle status", "development", "validation"),
        ("Note", None, "kept as recorded"),
    ]


TRICKY = ["<script>alert(1)</script>", 'say "hi" & \'bye\'', 1e-07, 0.1 + 0.2, 12345678, -3, True, False, None, "",
          [], ["<b>", 2.5e-8], {"<k>": "<v>", "n": 1e21}, "2026-12-02T22:13:04Z", "2026-12-02"]  # fmt: skip


def test_the_changes_table_writes_every_value_as_the_show_filter_does_in_a_template():
    shown = Template("{% load portal %}{{ value|show }}")
    changes = {f"field_{n}": [value, TRICKY[-1 - n]] for n, value in enumerate(TRICKY)} | {"<i>odd</i> name": 1}
    cells = re.findall(r"<td>(.*?)</td>", str(changes_table(changes)))
    expected = [shown.render(Context({"value": value})) for pair in changes.values() if isinstance(pair, list)
                for value in pair] + ["—", "1"]  # fmt: skip
    assert cells == expected
    assert "<script>" not in str(changes_table(changes)) and "&lt;i&gt;odd&lt;/i&gt; name" in str(
        changes_table(changes)
    )
