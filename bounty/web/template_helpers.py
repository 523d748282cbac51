"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import get_locale

from ..timeutil import to_local


def format_yuan(value: int | None) -> str:
    """Money for display: 万元 above ten thousand in Chinese, plain yuan otherwise."""
    if value is None:
        return ""
    if str(get_locale()).startswith("zh"):
        if value >= 10_000 and value % 100 == 0:
            return f"{value / 10_000:,.2f}".rstrip("0").rstrip(".") + " 万元"
        return f"{value:,} 元"
    return f"¥{value:,}"


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time shown in Asia/Shanghai."""
    local = to_local(value)
    return local.strftime(fmt) if local else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
    app.jinja_env.globals["has_endpoint"] = has_endpoint
    app.jinja_env.globals["nav_links"] = nav_links


def has_endpoint(name: str) -> bool:
    from flask import current_app

    return name in current_app.view_functions


def nav_links() -> list[tuple[str, str]]:
    """Main navigation for the current user's role; endpoints not yet registered are skipped."""
    from flask_babel import gettext as _
    from flask_login import current_user

    links = [("web.home", _("首页")), ("challenges.index", _("榜单大厅")),
             ("registry.register", _("公示名录")),
             ("registry.market_index", _("科技大市场")), ("registry.statistics", _("统计"))]
    if current_user.is_authenticated:
        role = current_user.role
        if role == "enterprise":
            links += [("challenges.mine", _("我的榜单")), ("challenges.create", _("发布榜单")),
                      ("registry.mine", _("成果认定与挂牌"))]
        elif role == "institute":
            links += [("bids.mine", _("我的揭榜")), ("matching.for_me", _("为您推荐")),
                      ("registry.mine", _("成果挂牌"))]
        if role in ("enterprise", "institute"):
            links += [("accounts.members", _("单位成员"))]
        elif role == "reviewer":
            links += [("review.index", _("审核工作台")),
                      ("registry.review_queue", _("认定与挂牌审核"))]
        elif role == "admin":
            links += [("accounts.admin_organizations", _("单位认证")),
                      ("accounts.admin_users", _("用户管理")),
                      ("digests.admin_outbox", _("邮件队列")),
                      ("workbench.tasks", _("审核任务")),
                      ("workbench.stage_settings", _("审核设置"))]
        links.append(("digests.settings", _("邮件订阅")))
    return [(endpoint, label) for endpoint, label in links if has_endpoint(endpoint)]
