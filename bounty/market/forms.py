"""Market listing, deal and withdrawal forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ..inputs import DateInRange
from ..limits import TOO_LONG, fits
from ..registry.forms import PRICE, ShowsServiceErrors
from .models import MarketDeal, MarketListing, TransactionType


class ListingForm(ShowsServiceErrors, FlaskForm):
    title = StringField(_l("成果名称"), [InputRequired(_l("请填写成果名称。")),
                                        fits(MarketListing.title)])
    summary = TextAreaField(_l("成果简介"), [InputRequired(_l("请填写成果简介。")),
                                           fits(MarketListing.summary)])
    transaction_type = SelectField(_l("交易方式"))
    price_yuan = IntegerField(_l("挂牌价格（元）"), [Optional(), PRICE])
    negotiable = BooleanField(_l("面议"))
    documents = MultipleFileField(_l("知识产权证明文件"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}
        self.transaction_type.choices = [SelectChoice(t.value, t.label) for t in TransactionType]


class DealForm(ShowsServiceErrors, FlaskForm):
    counterparty = StringField(_l("受让方 / 交易对方"),
                               [InputRequired(_l("请填写交易对方名称。")),
                                fits(MarketDeal.counterparty)])
    price_yuan = IntegerField(_l("成交金额（元）"), [InputRequired(_l("请填写成交金额。")),
                                                   PRICE])
    contract_date = DateField(_l("合同签订日期"), [InputRequired(_l("请填写合同签订日期。")),
                                                 DateInRange()])
    registration_number = StringField(_l("技术合同登记号"),
                                      [InputRequired(_l("请填写技术合同登记号。")),
                                       fits(MarketDeal.registration_number)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, str] = {}


class WithdrawForm(FlaskForm):
    comment = TextAreaField(_l("撤牌说明"), [Optional(), Length(max=2000, message=TOO_LONG)])
