from bounty.challenges.models import ChallengeState

from .factories import create_challenge, create_user


def test_home_lists_open_challenges(client, db):
    create_challenge(state=ChallengeState.open, title="智能锁低功耗蓝牙模组")
    create_challenge(state=ChallengeState.draft, title="草稿不应出现")
    page = client.get("/").get_data(as_text=True)
    assert "智能锁低功耗蓝牙模组" in page
    assert "草稿不应出现" not in page


def test_login_and_logout(client, auth, db):
    user = create_user("enterprise")
    assert auth.login(user).status_code == 302
    assert user.name in client.get("/").get_data(as_text=True)
    auth.logout()
    assert user.name not in client.get("/").get_data(as_text=True)


def test_the_site_icon_exists(client):
    html = client.get("/").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in html
    with client.get("/static/favicon.svg") as response:
        assert response.status_code == 200
    assert client.get("/favicon.ico").location == "/static/favicon.svg"
