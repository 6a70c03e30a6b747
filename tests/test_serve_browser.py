"""The HTML view in a real browser: headless Chromium (selenium) against the real server on 127.0.0.1.

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them); skips, saying so, when
no Chromium is found. ``GLINKER_VIEW_SCREENSHOT=docs/html-view.png`` also writes the screenshot there
(the one the README shows).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from serve_helpers import demo_app, running  # noqa: E402

SENTENCE = ("Arnold Schwarzenegger, the former governor of California, starred in The Terminator, directed by "
            "James Cameron. Angela Merkel met him in Graz with Zorblax Quentworth.")


def _chromium() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).is_file()), None)
    if browser is None or driver is None:
        pytest.skip("no Chromium found (install Debian's chromium and chromium-driver: apt-get install -y chromium "
                    "chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,760"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=opts)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def url():
    with running(demo_app()) as base:
        yield base


def _link(browser, url: str, text: str) -> None:
    browser.get(url + "/")
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    browser.find_element(By.ID, "link").click()
    WebDriverWait(browser, 180).until(lambda b: "mention" in b.find_element(By.ID, "status").text
                                      or "error" in b.find_element(By.ID, "status").text)


def test_view_links_mentions_to_wikidata(browser, url, tmp_path):
    _link(browser, url, SENTENCE)
    status = browser.find_element(By.ID, "status").text
    assert "error" not in status, status
    links = {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#result mark.ent a.qid")}
    for qid in ("Q2685", "Q99", "Q42574", "Q567"):
        assert f"https://www.wikidata.org/wiki/{qid}" in links
    assert len(links) >= 5
    arnold = browser.find_element(By.CSS_SELECTOR, 'mark.ent[data-qid="Q2685"]')
    hover = arnold.get_attribute("title")
    assert "Austrian-born" in hover and "link " in hover and "candidates:" in hover
    colours = {m.get_attribute("data-label"): m.value_of_css_property("background-color")
               for m in browser.find_elements(By.CSS_SELECTOR, "mark.ent:not(.nil)")}
    assert len(set(colours.values())) == len(colours) > 1  # one colour per type
    nil = browser.find_elements(By.CSS_SELECTOR, "mark.ent.nil")
    assert nil and all(m.value_of_css_property("border-top-style") == "dashed" for m in nil)
    assert all(not m.find_elements(By.CSS_SELECTOR, "a.qid") for m in nil)
    shot = tmp_path / "html-view.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("GLINKER_VIEW_SCREENSHOT"):
        browser.save_screenshot(os.environ["GLINKER_VIEW_SCREENSHOT"])


def test_markup_in_text_is_shown_not_run(browser, url):
    text = "<script>alert(1)</script><img src=x onerror=alert(2)> Arnold Schwarzenegger lives in Graz."
    _link(browser, url, text)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    result = browser.find_element(By.ID, "result")
    assert "<script>alert(1)</script>" in result.text
    assert not result.find_elements(By.TAG_NAME, "script") and not result.find_elements(By.TAG_NAME, "img")
