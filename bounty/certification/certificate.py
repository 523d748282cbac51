"""The printable certificate (PDF), drawn with a CJK font found on the system."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..errors import TransitionRefused
from ..timeutil import to_local
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
    from fpdf.enums import XPos, YPos

    number = application.certificate_number
    certified = to_local(application.certified_at)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(application.certified_at)
    pdf.set_title(number)
    pdf.set_subject(number)
    pdf.set_creator("bounty")
    pdf.add_font("cjk", fname=font[0], collection_font_number=font[1])
    pdf.add_page()
    pdf.set_draw_color(183, 28, 28)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 190, 277)
    pdf.set_font("cjk", size=24)
    pdf.set_y(30)
    pdf.cell(0, 14, str(_l("首台（套）装备认定证书")), align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, str(_l("证书编号：%(number)s", number=number)), align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    rows = [
        (_l("产品名称"), application.product_name),
        (_l("装备类别"), application.equipment_category.label),
        (_l("申请单位"), application.organization.name),
        (_l("统一社会信用代码"), application.organization.uscc),
        (_l("产品单价"), f"{application.price_yuan:,} 元"),
        (_l("来源榜单"), application.challenge.title),
        (_l("认定日期"), certified.strftime("%Y-%m-%d") if certified else ""),
    ]
    pdf.set_x(25)
    for label, value in rows:
        pdf.set_x(25)
        pdf.cell(40, 9, str(label))
        pdf.multi_cell(120, 9, str(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if application.indicators:
        pdf.ln(6)
        pdf.set_x(25)
        pdf.cell(0, 9, str(_l("主要技术指标")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("cjk", size=10)
        from fpdf.fonts import FontFace

        with pdf.table(col_widths=(40, 30, 30, 30), text_align="LEFT", width=160,
                       headings_style=FontFace(emphasis=None, fill_color=(245, 245, 245))
                       ) as table:
            header = table.row()
            for title in (_l("指标"), _l("本产品"), _l("国内同类"), _l("国外同类")):
                header.cell(str(title))
            for indicator in application.indicators:
                row = table.row()
                unit = f"（{indicator.unit}）" if indicator.unit else ""
                row.cell(indicator.name + unit)
                row.cell(indicator.own_value)
                row.cell(indicator.domestic_value or "—")
                row.cell(indicator.foreign_value or "—")
    pdf.set_font("cjk", size=12)
    pdf.set_y(250)
    pdf.cell(0, 9, str(_l("瓯海揭榜挂帅平台")), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
