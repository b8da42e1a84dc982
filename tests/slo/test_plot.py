"""``obskit slo explain --plot``: the SVG of each tier's time to alert, checked as data and as pixels."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest

from obskit.cli import main
from obskit.slo.plot import BOTTOM, EVALUATION_S, LEFT, PANEL_H, RIGHT, TOP, WIDTH, plot_svg, uncovered_band
from obskit.slo.spec import format_duration, load

SVG = "{http://www.w3.org/2000/svg}"


def _tiers(svg: str) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{slo: {tier name: polyline points}} read back from the SVG."""
    root = ElementTree.fromstring(svg)
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for group in root.iter(f"{SVG}g"):
        lines = {}
        for poly in group.iter(f"{SVG}polyline"):
            if "data-tier" in poly.attrib:
                pts = [tuple(map(float, p.split(","))) for p in poly.attrib["points"].split()]
                lines[poly.attrib["data-tier"]] = pts
        out[group.attrib["data-slo"]] = lines
    return out


def test_one_panel_per_slo_names_every_tier(example: Path) -> None:
    """Each SLO of the example has a panel with a line per tier, named as explain names them."""
    config = load(example)
    tiers = _tiers(plot_svg(config))
    assert list(tiers) == [s.name for s in config.slos]
    assert set(tiers["orders-availability"]) == {"page 1h/5m", "page 6h/30m", "ticket 1d/2h", "ticket 3d/6h"}
    assert set(tiers["payments"]) == {"page 1h/5m", "ticket 1d/2h"}


def test_lines_start_at_the_threshold_and_order_by_speed(example: Path) -> None:
    """A tier's line starts at burn x budget on the log x axis; at 100 % errors the 1h/5m tier alerts first."""
    config = load(example)
    slo = config.slos[0]  # availability, 99.9 %
    lines = _tiers(plot_svg(config))[slo.name]
    span = math.log10(1.0) - math.log10(slo.budget / 2)
    for w in slo.alerting.windows:
        start = w.burn_rate * slo.budget
        x = LEFT + (math.log10(start) - math.log10(slo.budget / 2)) / span * (WIDTH - LEFT - RIGHT)
        name = f"{w.severity} {format_duration(w.long_s)}/{format_duration(w.short_s)}"
        assert lines[name][0][0] == pytest.approx(x, abs=0.1)
    full = {name: pts[-1][1] for name, pts in lines.items()}  # larger pixel y = shorter time
    assert full["page 1h/5m"] > full["page 6h/30m"] > full["ticket 1d/2h"]
    # a full outage: 0.001 x 14.4 x 1 h + 1 min = 111.84 s, on a log axis from 10 s to 10^7 s
    height = PANEL_H - TOP - BOTTOM
    seconds = 0.001 * 14.4 * 3600 + EVALUATION_S
    assert full["page 1h/5m"] == pytest.approx(TOP + height - (math.log10(seconds) - 1) / 6 * height, abs=0.1)


def test_the_band_no_tier_covers(example: Path) -> None:
    """The standard profile covers every burn above 1x; payments' custom 1h/5m + 1d/2h leave 1x-3x (0.1 %-0.3 %)."""
    config = load(example)
    by_name = {s.name: s for s in config.slos}
    assert uncovered_band(by_name["availability"]) is None
    assert uncovered_band(by_name["payments"]) == pytest.approx((0.001, 0.003))
    svg = plot_svg(config)
    assert svg.count('class="band"') == 1  # payments only
    assert "no tier fires between 0.1% and 0.3%" in svg


def test_explain_writes_the_plot(example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`obskit slo explain --plot` writes the SVG and still prints the explanation."""
    out = tmp_path / "slo.svg"
    assert main(["slo", "explain", str(example), "--plot", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == plot_svg(load(example))
    assert "checkout-api/availability" in capsys.readouterr().out


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    assert color in (2, 6)
    assert header[12] == 0
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(row[i:i + 3]) for row in rows for i in range(0, stride, bpp)]


@pytest.mark.slow
def test_chromium_renders_the_plot(example: Path, tmp_path: Path) -> None:
    """Headless Chromium draws the SVG: the screenshot has ink in the tiers' colours, not a blank page."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "install Debian's chromium package (.ci/run does)"
    svg, png = tmp_path / "slo.svg", tmp_path / "slo.png"
    svg.write_text(plot_svg(load(example)), encoding="utf-8")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=860,800",
                    svg.as_uri()], check=True, capture_output=True, timeout=90)
    width, height, pixels = _png_pixels(png.read_bytes())
    assert (width, height) == (860, 800)
    colours = Counter(pixels)
    ink = sum(n for rgb, n in colours.items() if rgb != b"\xff\xff\xff")
    assert ink > 0.03 * len(pixels)  # lines, grid, text and the band
    for hex_colour in ("c62828", "1565c0", "d32f2f"):  # page 1h/5m, ticket 1d/2h, budget gone
        rgb = bytes.fromhex(hex_colour)
        near = sum(n for px, n in colours.items() if sum(abs(p - q) for p, q in zip(px, rgb, strict=True)) < 40)
        assert near > 50, hex_colour


def test_shipped_plot_is_current(example: Path) -> None:
    """examples/slo.svg, shown in the README, is what `explain --plot` draws for examples/slo.yaml today."""
    assert (example.parent / "slo.svg").read_text(encoding="utf-8") == plot_svg(load(example))
