"""The hall's search form (GET, no CSRF token) and the invitation button's form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SearchField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from ..challenges.models import PUBLIC_STATES, Category, ChallengeState, Industry
from ..inputs import DateInRange, page_arg
from .services import MAX_QUERY_CHARS, SearchParams

SORTS = [
    ("relevance", _l("相关度")),
    ("newest", _l("最新发布")),
    ("deadline", _l("截止时间")),
    ("bounty", _l("悬赏金额")),
]


def _choices(members) -> list[SelectChoice]:
    return [SelectChoice("", _l("全部"))] + [SelectChoice(m.value, m.label) for m in members]


class SearchForm(FlaskForm):
    """Read from the query string; an invalid value is dropped, never an error page."""

    class Meta:
        csrf = False

    q = SearchField(_l("关键词"))
    industry = SelectField(_l("产业"), validators=[Optional()])
    category = SelectField(_l("类别"), validators=[Optional()])
    status = SelectField(_l("状态"), validators=[Optional()])
    bounty_min = IntegerField(_l("悬赏不低于（万元）"),
                              validators=[Optional(), NumberRange(min=0, max=10**6)])
    bounty_max = IntegerField(_l("悬赏不高于（万元）"),
                              validators=[Optional(), NumberRange(min=0, max=10**6)])
    deadline_from = DateField(_l("截止日期从"), validators=[Optional(), DateInRange()])
    deadline_to = DateField(_l("截止日期至"), validators=[Optional(), DateInRange()])
    sort = SelectField(_l("排序"), choices=[SelectChoice(v, label) for v, label in SORTS],
                       default="relevance", validators=[Optional()])

    def __init__(self, formdata) -> None:  # noqa: ANN001
        super().__init__(formdata=formdata)
        self.industry.choices = _choices(Industry)
        self.category.choices = _choices(Category)
        self.status.choices = _choices(s for s in ChallengeState if s in PUBLIC_STATES)

    def filter_names(self) -> list[str]:
        """The query-string names of the filters (not the text, sorting or page)."""
        return ["industry", "category", "status", "bounty_min", "bounty_max",
                "deadline_from", "deadline_to"]

    def params(self) -> SearchParams:
        """The valid part of what was asked: each invalid field is ignored."""
        self.validate()

        def ok(f):  # noqa: ANN001, ANN202
            return None if f.errors or f.data in (None, "") else f.data

        def wan(f):  # noqa: ANN001, ANN202
            value = ok(f)
            return None if value is None else value * 10_000

        return SearchParams(
            q=(self.q.data or "").strip()[:MAX_QUERY_CHARS],
            industry=ok(self.industry), category=ok(self.category), state=ok(self.status),
            bounty_min=wan(self.bounty_min), bounty_max=wan(self.bounty_max),
            deadline_from=ok(self.deadline_from), deadline_to=ok(self.deadline_to),
            sort=ok(self.sort) or "relevance", page=page_arg(),  # past the last page: 404
        )


class InviteForm(FlaskForm):
    """The 邀请揭榜 button next to a suggested institute."""

    organization_id = HiddenField(validators=[DataRequired()])
