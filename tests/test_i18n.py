"""The English catalog: complete, current, compiled, and used by the pages.

When a test here fails after you added interface text, run
``bash scripts/i18n.sh update``, translate the new entries in
bounty/translations/en/LC_MESSAGES/messages.po, then ``bash scripts/i18n.sh compile``.
"""

from __future__ import annotations

import io
import re
import shlex
from gettext import GNUTranslations
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bounty.accounts.models import Role, User
from bounty.challenges.models import ChallengeState

from .factories import create_challenge, create_user

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "bounty" / "translations"
PO_FILE = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO_FILE = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
SCRIPT = ROOT / "scripts" / "i18n.sh"

# CJK ideographs and full-width punctuation: what must not be left on an English page.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# A printf-style placeholder: %(name)s, %d, %.1f ... ("%%" is a literal percent sign).
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrsa%])")


def script_keywords() -> dict:
    """The extra -k keywords of scripts/i18n.sh, so the test and the script cannot drift."""
    match = re.search(r"^KEYWORDS=\((.*)\)", SCRIPT.read_text(), re.MULTILINE)
    assert match, "scripts/i18n.sh lost its KEYWORDS=(...) line"
    words = shlex.split(match.group(1))
    specs = [words[i + 1] for i, word in enumerate(words) if word == "-k"]
    return {**DEFAULT_KEYWORDS, **parse_keywords(specs)}


def extract(root: Path = ROOT) -> Catalog:
    """Extract the interface strings under ``root`` the way ``i18n.sh extract`` does."""
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=script_keywords()
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return extract()


@pytest.fixture(scope="module")
def po() -> Catalog:
    with open(PO_FILE, "rb") as handle:
        return read_po(handle)


def _first(msgid):
    return msgid[0] if isinstance(msgid, tuple) else msgid


# -- the catalog --------------------------------------------------------------------

def test_extraction_sees_every_gettext_spelling(tmp_path):
    (tmp_path / "bounty").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "bounty" / "sample.py").write_text(
        "from flask_babel import gettext, lazy_gettext, ngettext\n"
        "from flask_babel import gettext as _\nfrom flask_babel import lazy_gettext as _l\n"
        "A = _l('懒一')\nB = lazy_gettext('懒二')\n"
        "def f(n):\n"
        "    return _('即时一'), gettext('即时二 %(name)s', name='x'), "
        "ngettext('%(num)d 个', '%(num)d 个', n)\n"
    )
    (tmp_path / "templates" / "page.html").write_text(
        "{{ _('你好，%(name)s', name=user) }} {{ ngettext('%(num)d 项', '%(num)d 项', n) }}\n"
        "{{ field(label=_('标签')) }}\n"
    )
    (tmp_path / "templates" / "mail.txt").write_text("{{ _('邮件正文') }}\n")
    ids = {_first(m.id) for m in extract(tmp_path) if m.id}
    assert ids == {"懒一", "懒二", "即时一", "即时二 %(name)s", "%(num)d 个",
                   "你好，%(name)s", "%(num)d 项", "标签", "邮件正文"}


def test_every_interface_string_has_an_english_translation(po, extracted):
    assert len(extracted) > 100, "extraction found almost nothing; is babel.cfg right?"
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        entry = po.get(message.id, context=message.context)
        strings = entry.string if entry and isinstance(entry.string, tuple) else (
            (entry.string,) if entry else ())
        if entry is None or entry.fuzzy or not strings or not all(strings):
            where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
            state = "missing" if entry is None else ("fuzzy" if entry.fuzzy else "empty")
            untranslated.append(f"{state}: {_first(message.id)!r} ({where})")
    assert not untranslated, (
        f"{len(untranslated)} interface string(s) lack an English translation; run "
        "`bash scripts/i18n.sh update`, translate them in messages.po, then "
        "`bash scripts/i18n.sh compile`:\n" + "\n".join(untranslated))


def test_catalog_holds_no_leftovers(po, extracted):
    current = {(_first(m.id), m.context) for m in extracted if m.id}
    stale = [_first(m.id) for m in po if m.id and (_first(m.id), m.context) not in current]
    assert not stale and not po.obsolete, (
        "messages.po holds strings the code no longer uses; run `bash scripts/i18n.sh update`: "
        f"{stale or list(po.obsolete)}")


def test_no_fuzzy_or_empty_entries(po):
    bad = [_first(m.id) for m in po if m.id and (
        m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert not bad


def _placeholders(text: str) -> list[tuple[str | None, str]]:
    return sorted((name, kind) for name, kind in PLACEHOLDER.findall(text) if kind != "%")


def test_translations_keep_the_placeholders(po):
    wrong = []
    for message in po:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for index, text in enumerate(strings):
            source = ids[min(index, len(ids) - 1)]
            if _placeholders(text) != _placeholders(source):
                wrong.append(f"{source!r} -> {text!r}")
    assert not wrong, "placeholders changed in translation:\n" + "\n".join(wrong)


def test_committed_mo_matches_the_po(po):
    compiled = io.BytesIO()
    write_mo(compiled, po)  # leaves out fuzzy entries, as pybabel compile does
    fresh = GNUTranslations(io.BytesIO(compiled.getvalue()))
    committed = GNUTranslations(io.BytesIO(MO_FILE.read_bytes()))
    assert committed._catalog == fresh._catalog, (
        "messages.mo is out of date; run `bash scripts/i18n.sh compile` and commit it")


# -- the pages ----------------------------------------------------------------------

class _Chrome(HTMLParser):
    """Collects the text of <header>, <footer> and <nav>, and of the whole <main>,
    skipping the language switch (written in its own language, lang="zh-CN")."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.chrome: list[str] = []
        self.main: list[str] = []
        self.title = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("meta", "link", "input", "br", "img", "hr"):
            return
        self.stack.append((tag, dict(attrs).get("lang") == "zh-CN"))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        tags = {tag for tag, _ in self.stack}
        if any(own_language for _, own_language in self.stack):
            return
        if "title" in tags:
            self.title += data
        if tags & {"header", "footer", "nav"}:
            self.chrome.append(data)
        if "main" in tags:
            self.main.append(data)


def parse(response) -> _Chrome:
    assert response.status_code == 200, response.status_code
    parser = _Chrome()
    parser.feed(response.get_data(as_text=True))
    return parser


def assert_no_cjk(texts: list[str], allowed: tuple[str, ...] = ()) -> None:
    leftovers = []
    for text in texts:
        for value in allowed:
            text = text.replace(value, "")
        if CJK.search(text):
            leftovers.append(text.strip())
    assert not leftovers, f"Chinese left on an English page: {leftovers}"


@pytest.fixture
def english(client):
    response = client.post("/lang/en")
    assert response.status_code == 302
    return client


def test_chinese_is_the_default(client, db):
    challenge = create_challenge(state=ChallengeState.open)
    for url in ("/", "/challenges/", f"/challenges/{challenge.id}", "/accounts/login"):
        html = client.get(url).get_data(as_text=True)
        assert '<html lang="zh-CN">' in html
        assert "首页" in html and "登录" in html and "企业出题" in html
        assert "Log in" not in html


def test_home_in_english(english, db):
    challenge = create_challenge(state=ChallengeState.open)
    page = parse(english.get("/"))
    text = " ".join(page.main)
    assert "Challenges open for bids" in text and "Browse by industry" in text
    assert "Apparel" in text and "Smart equipment" in text
    assert challenge.title in text  # data stays as entered
    assert "Home" in " ".join(page.chrome) and "Log in" in " ".join(page.chrome)
    assert_no_cjk(page.chrome + [page.title])
    assert_no_cjk(page.main, allowed=(challenge.title, challenge.organization.name))


def test_challenge_list_in_english(english, db):
    challenge = create_challenge(state=ChallengeState.open)
    page = parse(english.get("/challenges/"))
    text = " ".join(page.main)
    assert "Industry" in text and "Filter" in text and "1 challenge" in text
    assert "Open for bids" in text
    assert challenge.title in text
    assert_no_cjk(page.chrome)
    # the card's snippet quotes the challenge's own text
    assert_no_cjk(page.main, allowed=(challenge.title, challenge.organization.name,
                                      challenge.bottleneck, challenge.background,
                                      challenge.expected_outcome))


def test_challenge_page_in_english(english, db):
    challenge = create_challenge(state=ChallengeState.open)
    page = parse(english.get(f"/challenges/{challenge.id}"))
    text = " ".join(page.main)
    for phrase in ("Posted by", "Bounty", "Bid deadline", "Delivery period", "12 months",
                   "Technical indicators", "Open for bids", "Jointly owned"):
        assert phrase in text, phrase
    assert challenge.title in text and challenge.background in text
    assert_no_cjk(page.chrome + [page.title], allowed=(challenge.title,))
    data = (challenge.title, challenge.background, challenge.bottleneck,
            challenge.expected_outcome, challenge.organization.name, "控温精度", "℃",
            *challenge.keywords.split())
    assert_no_cjk(page.main, allowed=data)


@pytest.mark.parametrize(("url", "phrases"), [
    ("/accounts/login", ("Email", "Password", "No account yet?")),
    ("/accounts/register", ("Unified Social Credit Code (USCC)", "Organization type",
                            "Confirm password", "Already have an account?")),
])
def test_account_pages_in_english(english, db, url, phrases):
    page = parse(english.get(url))
    text = " ".join(page.main)
    for phrase in phrases:
        assert phrase in text, phrase
    assert_no_cjk(page.chrome + page.main + [page.title])


def test_error_page_in_english(english, db):
    response = english.get("/challenges/999999")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found." in html and "Back to the home page" in html


def test_a_users_language_follows_them_across_sessions(app, db, login_as):
    user = create_user(Role.enterprise)
    first = login_as(user)
    assert "我的榜单" in first.get("/").get_data(as_text=True)
    first.post("/lang/en")
    assert db.session.get(User, user.id).locale == "en"
    assert "My challenges" in first.get("/").get_data(as_text=True)

    # Another browser, with no language cookie: the choice comes from the account.
    second = login_as(user)
    second.delete_cookie("lang")
    html = second.get("/challenges/").get_data(as_text=True)
    assert '<html lang="en">' in html and "My challenges" in html
    assert "Welcome back" in html  # the login flash, written in the user's language

    second.post("/lang/zh_CN")
    assert db.session.get(User, user.id).locale == "zh_CN"
    assert "我的榜单" in first.get("/").get_data(as_text=True)


def test_review_workbench_in_english(db, login_as):
    """The workbench pages (tasks, stages, holidays, export, conflicts) speak English,
    the default stage names included; only data stays as entered."""
    from bounty.review.assignment import sync_tasks

    challenge = create_challenge(state=ChallengeState.vetting)
    sync_tasks()  # the worker opens the round of an item set up directly
    admin = create_user(Role.admin)
    reviewer = create_user(Role.reviewer)
    data = (challenge.title, challenge.organization.name, admin.name, reviewer.name,
            admin.organization.name, reviewer.organization.name,
            "技术先进性", "可行性", "团队基础", "报价合理性")  # rubric criteria are data
    client = login_as(admin)
    client.post("/lang/en")
    client.get("/")  # shows (and so drops) the login flash, written in Chinese
    for url, phrase in (("/review/tasks", "Vetting"), ("/review/stages", "Lead reviewers"),
                        ("/review/holidays", "Make-up working day"),
                        ("/review/export", "Export review records")):
        page = parse(client.get(url))
        assert phrase in " ".join(page.main), url
        if url == "/review/tasks":
            assert challenge.title in " ".join(page.main) and "Unassigned" in " ".join(page.main)
        assert_no_cjk(page.chrome + page.main + [page.title], allowed=data)
    response = client.get("/review/export?stage=&start=&end=&format=csv")
    header = response.get_data(as_text=True).lstrip("\ufeff").splitlines()[0]
    assert header.startswith("No.,Type,Title,Industry,")

    client = login_as(reviewer)
    client.post("/lang/en")
    client.get("/")
    page = parse(client.get("/review/conflicts"))
    assert "Employment history" in " ".join(page.main)
    assert_no_cjk(page.chrome + page.main + [page.title], allowed=data)


def test_no_template_puts_chinese_punctuation_after_a_translated_string():
    # "Matched terms：" -- the colon belongs inside the translated string, where English
    # can have its own.
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for path in sorted((ROOT / "templates").rglob("*.html"))
                 if "email" not in path.parts
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"(\}\}|</strong>)[：、]", line)]
    assert not offenders, offenders
