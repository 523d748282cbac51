"""One unit of work per service call: commit, or roll back and explain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .errors import ConcurrentUpdate
from .extensions import db


@contextmanager
def atomic(conflict_message: str | None = None) -> Iterator[None]:
    """Commit what the block did; on any error roll everything back.

    A lost optimistic-lock race or a unique-constraint clash becomes
    :class:`ConcurrentUpdate` with a message for the user.
    """
    try:
        yield
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise ConcurrentUpdate(str(_l("该事项已被他人更新，请刷新页面查看最新状态。"))) from exc
    except IntegrityError as exc:
        db.session.rollback()
        raise ConcurrentUpdate(
            conflict_message or str(_l("提交与已有记录冲突，请刷新页面后重试。"))
        ) from exc
    except BaseException:
        db.session.rollback()
        raise
