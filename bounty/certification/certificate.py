"""The printable certificate (PDF): the page's own markup set by fpdf2 in a CJK font found on
the system."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from ..errors import TransitionRefused
from .models import CertificationApplication

# --------------------------------------------------------------------------- certificate PDF

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
_FONT_HINTS = ("notosanscjk", "notoserifcjk", "sourcehansans", "sourcehanserif", "wqy",
               "droidsansfallback", "simsun", "simhei", "msyh")


@cache
def _find_cjk_font(dirs: tuple[str, ...]) -> tuple[str, int] | None:
    """A CJK font installed on the system: (path, index in a collection), or None."""
    candidates = []
    for folder in dirs:
        root = Path(folder)
        if root.is_dir():
            candidates += [p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".ttc",
                                                                              ".otf")]
    candidates = sorted(
        (p for p in candidates if any(h in p.name.lower().replace("-", "")
                                      for h in _FONT_HINTS)),
        key=lambda p: ("bold" in p.name.lower(), "serif" in p.name.lower(), p.name))
    for path in candidates:
        if path.suffix.lower() != ".ttc":
            return str(path), 0
        from fontTools.ttLib import TTCollection

        with TTCollection(str(path), lazy=True) as collection:
            for index, font in enumerate(collection.fonts):
                name = font["name"].getDebugName(1) or ""
                if name.endswith(" SC") or "SC" in name.split():
                    return str(path), index
        return str(path), 0
    return None


def cjk_font() -> tuple[str, int] | None:
    return _find_cjk_font(tuple(current_app.config.get("CERTIFICATE_FONT_DIRS", FONT_DIRS)))


def certificate_pdf(application: CertificationApplication) -> bytes | None:
    """The printable certificate, or None when no CJK font is installed (use the HTML page)."""
    if application.certificate_number is None:
        raise TransitionRefused(str(_l("该申请尚未通过认定，没有证书。")))
    font = cjk_font()
    if font is None:
        return None
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(application.certified_at)
    pdf.set_title(application.certificate_number)
    pdf.set_subject(application.certificate_number)
    pdf.set_creator("bounty")
    for style in ("", "B", "I", "BI"):  # one face: headings and table heads ask for bold
        pdf.add_font("cjk", style=style, fname=font[0], collection_font_number=font[1])
    pdf.set_margins(25, 30, 25)
    pdf.add_page()
    pdf.set_draw_color(183, 28, 28)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 190, 277)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0)
    pdf.set_font("cjk", size=12)
    # the page's own markup (templates/certification/_certificate.html): one layout
    html = render_template("certification/_certificate.html", application=application)
    pdf.write_html(html, font_family="cjk")
    return bytes(pdf.output())
