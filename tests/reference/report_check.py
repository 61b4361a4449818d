#!/usr/bin/env python3
"""Checks a run directory's report and plots independently of Ballista's own code.

  report_check.py RUN_DIR

- every plots/*.png is a whole PNG: signature, every chunk's CRC (zlib.crc32), IHDR
  first with a non-zero size, IDAT data that inflates to height·(1 + width·bytes per
  pixel) bytes, IEND last;
- every plots/*.png has its plots/*.gp script beside it;
- report.md links each PNG once, by a path that exists;
- report.html is one file: every <img> is a data:image/png;base64 URI whose decoded
  bytes equal one of the PNGs (Python's base64 and html.parser, not Ballista's), every
  PNG is embedded, nothing is loaded from elsewhere;
- both reports name every model of metrics.json, and the HTML table shows each model's
  metrics as metrics.json has them (to 4 significant digits).
Prints "ok: ..." and exits 0, or prints each problem and exits 1.
"""
import base64
import html.parser
import json
import os
import re
import struct
import sys
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def check_png(data):
    """Returns (width, height) or raises ValueError."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    position = len(PNG_SIGNATURE)
    chunks = []
    idat = b""
    while position < len(data):
        if position + 8 > len(data):
            raise ValueError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        crc_bytes = data[position + 8 + length:position + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise ValueError("truncated chunk " + kind.decode("latin-1"))
        if zlib.crc32(kind + body) != struct.unpack(">I", crc_bytes)[0]:
            raise ValueError("bad CRC in chunk " + kind.decode("latin-1"))
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        if kind == b"IDAT":
            idat += body
        position += 12 + length
    if not chunks or chunks[0] != b"IHDR" or chunks[-1] != b"IEND":
        raise ValueError("chunks out of order: %s" % chunks[:3])
    if width == 0 or height == 0:
        raise ValueError("empty image")
    bits_per_pixel = CHANNELS[colour] * depth
    expected = height * (1 + (width * bits_per_pixel + 7) // 8)
    if len(zlib.decompress(idat)) != expected:
        raise ValueError("image data does not inflate to %d bytes" % expected)
    return width, height


class Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []
        self.links = []
        self.cells = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.sources.append(attributes.get("src", ""))
        if tag in ("link", "script") and (attributes.get("href") or attributes.get("src")):
            self.links.append(attributes.get("href") or attributes.get("src"))
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    run = argv[1]
    problems = []
    plots = os.path.join(run, "plots")
    pngs = {}
    for name in sorted(os.listdir(plots)):
        if name.endswith(".png"):
            with open(os.path.join(plots, name), "rb") as file:
                pngs[name] = file.read()
            try:
                check_png(pngs[name])
            except ValueError as error:
                problems.append("plots/%s: %s" % (name, error))
            if not os.path.isfile(os.path.join(plots, name[:-4] + ".gp")):
                problems.append("plots/%s has no script %s.gp" % (name, name[:-4]))
    if not pngs:
        problems.append("no PNG in plots/")

    with open(os.path.join(run, "metrics.json")) as file:
        metrics = json.load(file)
    with open(os.path.join(run, "report.md"), encoding="utf-8") as file:
        markdown = file.read()
    plain_markdown = re.sub(r"\\(.)", r"\1", markdown)  # \[ → [ and so on
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    for name in pngs:
        if linked.count("plots/" + name) != 1:
            problems.append("report.md links plots/%s %d times" % (name, linked.count("plots/" + name)))
    for link in linked:
        if not os.path.isfile(os.path.join(run, link)):
            problems.append("report.md links a missing file " + link)

    with open(os.path.join(run, "report.html"), encoding="utf-8") as file:
        page = file.read()
    parser = Images()
    parser.feed(page)
    embedded = []
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        if not source.startswith(prefix):
            problems.append("report.html loads an image from elsewhere: " + source[:60])
            continue
        embedded.append(base64.b64decode(source[len(prefix):], validate=True))
    for name, data in pngs.items():
        if embedded.count(data) != 1:
            problems.append("report.html embeds plots/%s %d times" % (name, embedded.count(data)))
    if len(embedded) != len(pngs):
        problems.append("report.html has %d images for %d PNGs" % (len(embedded), len(pngs)))
    if parser.links:
        problems.append("report.html refers to other files: %s" % parser.links)

    for model in metrics["models"]:
        for text, where in ((plain_markdown, "report.md"), (page, "report.html")):
            if model["name"] not in text:
                problems.append("%s does not name model %s" % (where, model["name"]))
        for set_name, values in model["metrics"].items():
            for metric, value in values.items():
                if "%.4g" % value not in parser.cells:
                    problems.append("report.html lacks %s's %s %s = %.4g" % (model["name"], set_name, metric, value))

    for problem in problems:
        print(problem)
    if problems:
        return 1
    print("ok: %d PNGs, each whole, linked from report.md and embedded in report.html" % len(pngs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
