"""Account forms: login, registration, profile, members and administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from ..limits import TOO_LONG, fits
from .models import Organization, OrgKind, Role, User
from .passwords import MAX_LENGTH, MIN_LENGTH, check_password_strength
from .uscc import clean_uscc


def _email_field() -> EmailField:
    return EmailField(_l("邮箱"), filters=[_strip], validators=[DataRequired(_l("请填写邮箱。")),
                                         Email(_l("邮箱格式不正确。")), fits(User.email)])


def _strong(form, field) -> None:
    problem = check_password_strength(field.data or "")
    if problem:
        raise ValidationError(problem)


def _new_password_field(label=None) -> PasswordField:
    return PasswordField(
        label or _l("密码"), validators=[DataRequired(_l("请填写密码。")), _strong,
                                    Length(max=MAX_LENGTH, message=TOO_LONG)],
        description=_l("至少 %(n)d 个字符，不要使用常见密码。", n=MIN_LENGTH),
    )


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请填写密码。")),
                                                   Length(max=MAX_LENGTH, message=TOO_LONG)])
    submit = SubmitField(_l("登录"))


SELF_REGISTER_CHOICES = [
    SelectChoice(OrgKind.enterprise.value, _l("企业")),
    SelectChoice(OrgKind.institute.value, _l("高校 / 科研院所 / 新型研发机构")),
]


class RegistrationForm(FlaskForm):
    """A person and their organisation. Only enterprises and institutes register here."""

    name = StringField(_l("姓名"), filters=[_strip],
                       validators=[DataRequired(_l("请填写姓名。")), fits(User.name)])
    email = _email_field()
    password = _new_password_field()
    password2 = PasswordField(_l("再次输入密码"), validators=[
        DataRequired(_l("请再次输入密码。")), EqualTo("password", _l("两次输入的密码不一致。"))])
    kind = SelectField(_l("单位类型"), choices=SELF_REGISTER_CHOICES,
                       validate_choice=True, default=OrgKind.enterprise.value)
    org_name = StringField(_l("单位名称"), filters=[_strip],
                           validators=[DataRequired(_l("请填写单位名称。")),
                                       fits(Organization.name)],
                           description=_l("若单位已在平台登记，以已登记的名称为准。"))
    uscc = StringField(
        _l("统一社会信用代码"), filters=[lambda v: clean_uscc(v) if v else v],
        validators=[DataRequired(_l("请填写统一社会信用代码。"))],
        description=_l("18 位，企业以 91/92/93 开头，高校和科研院所以 12、52 等开头。"),
    )
    region = StringField(_l("所在地区"), filters=[_strip], validators=[fits(Organization.region)])
    contact_name = StringField(_l("联系人"), filters=[_strip],
                               validators=[fits(Organization.contact_name)])
    contact_phone = StringField(_l("联系电话"), filters=[_strip],
                                validators=[fits(Organization.contact_phone)])
    expertise = TextAreaField(_l("研究专长（高校 / 科研院所填写）"), filters=[_strip],
                              validators=[Optional(), fits(Organization.expertise)])
    keywords = StringField(_l("专长关键词（空格分隔）"), filters=[_strip],
                           validators=[Optional(), fits(Organization.keywords)])
    submit = SubmitField(_l("注册"))

    def validate_uscc(self, field) -> None:
        from .services import uscc_problem

        offered = {choice.value for choice in SELF_REGISTER_CHOICES}
        kind = self.kind.data if self.kind.data in offered else None
        problem = uscc_problem(field.data or "", kind)
        if problem:
            raise ValidationError(problem)


LOCALE_CHOICES = [SelectChoice("zh_CN", "简体中文"), SelectChoice("en", "English")]


class ProfileForm(FlaskForm):
    name = StringField(_l("姓名"), filters=[_strip],
                       validators=[DataRequired(_l("请填写姓名。")), fits(User.name)])
    locale = SelectField(_l("界面语言"), choices=LOCALE_CHOICES)
    submit = SubmitField(_l("保存资料"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"),
                                     validators=[DataRequired(_l("请填写当前密码。"))])
    new_password = _new_password_field(_l("新密码"))
    new_password2 = PasswordField(_l("再次输入新密码"), validators=[
        DataRequired(_l("请再次输入新密码。")),
        EqualTo("new_password", _l("两次输入的密码不一致。"))])
    submit = SubmitField(_l("修改密码"))


class ExpertiseForm(FlaskForm):
    expertise = TextAreaField(_l("研究专长"), filters=[_strip],
                              validators=[fits(Organization.expertise)])
    keywords = StringField(_l("专长关键词（空格分隔）"), filters=[_strip],
                           validators=[fits(Organization.keywords)])
    submit = SubmitField(_l("保存专长"))


NEW_GOVERNMENT_ORG = 0


class StaffUserForm(FlaskForm):
    """An admin creates a reviewer or an admin."""

    name = StringField(_l("姓名"), filters=[_strip],
                       validators=[DataRequired(_l("请填写姓名。")), fits(User.name)])
    email = _email_field()
    role = SelectField(_l("角色"), choices=[SelectChoice(Role.reviewer.value, _l("审核员")),
                                           SelectChoice(Role.admin.value, _l("管理员"))])
    password = _new_password_field(_l("初始密码"))
    password2 = PasswordField(_l("再次输入密码"), validators=[
        DataRequired(_l("请再次输入密码。")), EqualTo("password", _l("两次输入的密码不一致。"))])
    organization = SelectField(_l("所属单位"), coerce=int)
    new_org_name = StringField(_l("新政府部门名称"), filters=[_strip],
                               validators=[fits(Organization.name)])
    new_org_uscc = StringField(_l("新政府部门统一社会信用代码"),
                               filters=[lambda v: clean_uscc(v) if v else v])
    new_org_region = StringField(_l("新政府部门所在地区"), filters=[_strip],
                                 validators=[fits(Organization.region)])
    submit = SubmitField(_l("创建用户"))

    def set_organizations(self, organizations) -> None:
        kind_labels = {OrgKind.government: _l("政府部门"), OrgKind.platform: _l("平台运营方")}
        self.organization.choices = [
            SelectChoice(NEW_GOVERNMENT_ORG, _l("新建政府部门（填写下方信息）"))
        ] + [SelectChoice(org.id, _l("%(name)s（%(kind)s）", name=org.name,
                                     kind=kind_labels.get(org.kind, "")))
             for org in organizations]
