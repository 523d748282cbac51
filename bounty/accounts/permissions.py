"""One view decorator per permission rule; the rules are predicates on the user
(bounty.accounts.models.User). Anonymous users are sent to the login page, everyone
else the rule refuses gets 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from ..extensions import login_manager


def requires(rule: Callable[[object], bool]):
    """A decorator admitting the logged-in users for whom ``rule(user)`` holds."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not rule(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


admin_required = requires(lambda user: user.is_admin)
staff_required = requires(lambda user: user.is_staff)
reviewer_required = requires(lambda user: user.can_review())
