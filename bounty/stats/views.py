"""The public statistics page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user

from . import services

bp = Blueprint("stats", __name__)


@bp.route("/stats")
def statistics():
    """Platform statistics with server-drawn SVG charts; reviewers also see 审题 figures."""
    staff = current_user.is_staff
    figures = services.compute(staff=staff)
    yuan = current_app.jinja_env.filters["yuan"]
    charts = {
        "by_industry": services.bar_chart(figures.by_industry, _("各产业榜单数")),
        "by_state": services.bar_chart(figures.by_state, _("各状态榜单数")),
        "bounty": services.bar_chart(figures.bounty_by_industry, _("各产业悬赏金额"),
                                     value_format=yuan),
        "stage_times": services.bar_chart(
            [(s.label, s.median_days) for s in figures.stage_times if s.median_days is not None],
            _("各阶段用时中位数（天）"), value_format=lambda v: _("%(days)s 天", days=v)),
    }
    return render_template("stats/index.html", stats=figures, charts=charts, staff=staff)
