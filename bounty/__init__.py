"""bounty: the 揭榜挂帅 challenge-bounty platform."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, flash, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from . import inputs, limits
from .config import build_config
from .errors import DomainError
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .inputs import safe_redirect_target

PACKAGE_DIR = Path(__file__).resolve().parent


def _resource_dir(name: str) -> str:
    # In a checkout the folder sits at the repository root; an installed wheel
    # carries it inside the package (see pyproject's package-dir mapping).
    inside = PACKAGE_DIR / name
    return str(inside if inside.is_dir() else PACKAGE_DIR.parent / name)


def select_locale() -> str:
    """The user's chosen language, else the ?lang= or cookie choice, else Chinese."""
    if not has_request_context():
        return "zh_CN"
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.locale or "zh_CN"
    chosen = request.args.get("lang") or request.cookies.get("lang")
    return chosen if chosen in ("zh_CN", "en") else "zh_CN"


def create_app(config: dict | None = None) -> Flask:
    """Build the application; ``config`` overrides defaults and the environment."""
    settings = build_config(config)
    app = Flask(
        __name__,
        template_folder=_resource_dir("templates"),
        static_folder=_resource_dir("static"),
        instance_path=settings["BOUNTY_INSTANCE"],
        instance_relative_config=False,
    )
    app.config.update(settings)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(PACKAGE_DIR / "translations"))
    inputs.init_app(app)  # the bounded int converter must be in place before any route
    limits.install()

    db.init_app(app)
    migrate.init_app(app, db, directory=_resource_dir("migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    from .accounts.models import AnonymousUser

    login_manager.anonymous_user = AnonymousUser

    _configure_sqlite(app)

    from . import models  # noqa: F401  (registers every table)
    from .accounts import views as accounts_views
    from .certification import views as certification_views
    from .challenges import bid_views
    from .challenges import views as challenge_views
    from .digests import views as digest_views
    from .market import views as market_views
    from .matching import views as matching_views
    from .review import views as review_views
    from .review import workbench_views
    from .stats import views as stats_views
    from .web import results as results_views
    from .web import views as web_views

    app.register_blueprint(web_views.bp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(challenge_views.bp)
    app.register_blueprint(bid_views.bp)
    app.register_blueprint(review_views.bp)
    app.register_blueprint(matching_views.bp)
    app.register_blueprint(certification_views.bp)
    app.register_blueprint(market_views.bp)
    app.register_blueprint(results_views.bp)
    app.register_blueprint(digest_views.bp)
    app.register_blueprint(workbench_views.bp)
    app.register_blueprint(stats_views.bp)

    from .accounts import throttling
    from .web import security, template_helpers

    template_helpers.init_app(app)
    # inside ProxyFix (security), which must see requests first
    throttling.init_app(app, security.HEADERS.items())
    security.init_app(app)
    _register_error_handlers(app)

    from . import digests, matching

    digests.init_app(app)
    matching.init_app(app)

    from .cli import register_commands

    register_commands(app)
    return app


def _configure_sqlite(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL syncs at checkpoints: the database stays consistent after a
            # crash, and a power cut may lose only the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        # A refused action: say why, change nothing (services already rolled back).
        db.session.rollback()
        if request.method == "POST" and error.status_code in (400, 409):
            flash(error.message, "error")
            return redirect(safe_redirect_target(request.referrer, url_for("web.home")))
        return render_template("error.html", code=error.status_code,
                               message=error.message), error.status_code

    for code, message in (
        (400, _l("请求无效。")),
        (403, _l("您无权访问该页面。")),
        (404, _l("页面不存在。")),
        (405, _l("不支持该请求方法。")),
        (413, _l("上传的文件过大。")),
        (429, _l("尝试次数过多，请稍后再试。")),
        (422, _l("提交的内容无法处理。")),
        (500, _l("服务器出错了，请稍后重试。")),
    ):
        app.register_error_handler(code, _plain_error(code, message))


def _plain_error(code: int, message: str):
    def handler(error):
        if code == 500:
            db.session.rollback()  # the failed statement may have left the session unusable
        description = getattr(error, "description", None)
        text = str(message)
        if code == 400 and description and "CSRF" in str(description):
            text = _("表单已过期或缺少安全令牌，请刷新页面后重试。")
        elif code == 422 and description and description != getattr(
                type(error), "description", None):
            text = str(description)  # a message we gave with abort(422, description=...)
        return render_template("error.html", code=code, message=text), code

    return handler
