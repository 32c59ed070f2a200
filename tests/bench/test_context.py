"""The bench's own measurements of memory."""

from __future__ import annotations

from bench.context import peak_rss_bytes


def test_peak_rss_is_this_processs_high_water_mark() -> None:
    with open("/proc/self/status") as status:
        resident = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    assert peak_rss_bytes() >= resident * 1024
