"""The subscription and notification settings form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..challenges.models import (
    MAX_BOUNTY_YUAN,
    Category,
    Industry,
)
from ..limits import fits
from .models import (
    Frequency,
    NotificationKind,
    Subscription,
)


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes: works without JavaScript and on a phone."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choices(members) -> list[SelectChoice]:
    return [SelectChoice(m.value, m.lazy_label) for m in members]


class SettingsForm(FlaskForm):
    frequency = RadioField(_l("新榜单推送"),
                           choices=_choices(Frequency),
                           default=Frequency.weekly.value)
    industries = MultiCheckboxField(_l("关注行业（不选表示全部行业）"),
                                    choices=_choices(Industry))
    categories = MultiCheckboxField(_l("关注类别（不选表示全部类别）"),
                                    choices=_choices(Category))
    keywords = StringField(_l("关键词（空格或逗号分隔，命中任一即推送；留空表示不限）"),
                           validators=[fits(Subscription.keywords)])
    min_bounty_yuan = IntegerField(
        _l("最低悬赏金额（元）"), default=0,
        validators=[Optional(), NumberRange(min=0, max=MAX_BOUNTY_YUAN,
                                            message=_l("请输入 0 至 100 亿之间的整数。"))])
    notifications = MultiCheckboxField(_l("接收以下通知邮件"),
                                       choices=_choices(NotificationKind))
    submit = SubmitField(_l("保存设置"))
