"""The app is served for real and a real browser can load it."""


def test_home_page_loads(live_server, page, artifacts_dir):
    response = page.goto(live_server.url + "/")
    assert response is not None
    assert response.status == 200
    assert page.locator("head > title").count() == 1
    assert page.title().strip()
    page.screenshot(path=str(artifacts_dir / "home.png"), full_page=True)
