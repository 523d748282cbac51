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
    app.jinja_env.globals["nav_links"] = nav_links
    app.jinja_env.globals["error_ids"] = error_ids
    app.jinja_env.globals["form_problems"] = form_problems
    app.jinja_env.globals["zip"] = zip


def nav_links() -> list[tuple[str, str]]:
    """Main navigation for the current user's role (base.html builds each URL: a mistyped
    endpoint fails the page, and so a test, rather than vanish from the bar)."""
    from flask_babel import gettext as _
    from flask_login import current_user

    links = [("web.home", _("首页")), ("challenges.index", _("榜单大厅")),
             ("certification.register", _("公示名录")),
             ("market.index", _("科技大市场")), ("stats.statistics", _("统计"))]
    if current_user.is_authenticated:
        role = current_user.role
        if role == "enterprise":
            links += [("challenges.mine", _("我的榜单")), ("challenges.create", _("发布榜单")),
                      ("results.mine", _("成果认定与挂牌"))]
        elif role == "institute":
            links += [("bids.mine", _("我的揭榜")), ("matching.for_me", _("为您推荐")),
                      ("results.mine", _("成果挂牌"))]
        if role in ("enterprise", "institute"):
            links += [("accounts.members", _("单位成员"))]
        elif role == "reviewer":
            # one queue holds every stage, 首台套认定 and 挂牌 too (the workbench's cards
            # filter it); it is named as the admin's menu names it
            links += [("review.index", _("审核工作台")), ("workbench.tasks", _("审核任务"))]
        elif role == "admin":
            links += [("accounts.admin_organizations", _("单位认证")),
                      ("accounts.admin_users", _("用户管理")),
                      ("digests.admin_outbox", _("邮件队列")),
                      ("workbench.tasks", _("审核任务")),
                      ("workbench.stage_settings", _("审核设置"))]
        links.append(("digests.settings", _("邮件订阅")))
    return links


def error_ids(field) -> list[str]:  # noqa: ANN001
    """The ids of a field's error messages, which its aria-describedby names."""
    errors = field.errors if isinstance(field.errors, list | tuple) else []
    return [f"{field.id}-error" + (f"-{n}" if n > 1 else "")
            for n, _error in enumerate(errors, start=1) if not isinstance(_error, dict | list)]


def form_problems(form) -> list[tuple[str | None, str, str]]:  # noqa: ANN001
    """Every error of a form that came back, as (field id or None, label, message), in the
    order of the fields: the error summary at the top of the page lists them."""
    if form is None or not hasattr(form, "_fields"):
        return []
    problems: list[tuple[str | None, str, str]] = []

    def walk(fields, prefix_label: str = "") -> None:  # noqa: ANN001
        for field in fields:
            if field.type in ("CSRFTokenField", "HiddenField"):
                continue
            if hasattr(field, "entries"):  # FieldList: its rows
                for entry in field.entries:
                    walk([entry], field.label.text)
                continue
            if hasattr(field, "form") and hasattr(field.form, "_fields"):  # FormField
                walk(field.form, prefix_label or field.label.text)
                continue
            label = field.label.text if field.label else ""
            if prefix_label and label != prefix_label:
                label = f"{prefix_label} · {label}"
            problems.extend((field.id, label, error) for error in field.errors
                            if not isinstance(error, dict | list))

    walk(form)
    csrf_errors = getattr(getattr(form, "csrf_token", None), "errors", None)
    if csrf_errors:
        from flask_babel import gettext as _

        problems.insert(0, (None, "", _("表单已过期或缺少安全令牌，请核对下方内容后重新提交。")))
    problems += [(None, "", error) for error in getattr(form, "form_errors", [])]
    return problems
