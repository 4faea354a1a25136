"""The report's chooser in headless Chromium (issue 17): for weights and constraints given in the URL
fragment the page selects what ``morl-mm select --json`` selects, with no console errors and nothing
loaded from the network. Chromium and its WebDriver are Debian's packages (``make test`` installs
them where it can); without them these tests skip with the reason."""

import contextlib
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from test_study import TINY as STUDY_TINY

from morl_mm.cli import main as cli


def _smaller(text: str) -> str:
    """test_study's tiny study without its learner (training and compiling PPO would double the time;
    the selection rule does not depend on the kind: the oracle and classical policies are 71), fewer
    episodes, and a third scenario named like a replay (scenarios are generic)."""
    learner = text[text.index("[learners.ppo]") : text.index("[evaluation]")]
    for old, new in (('name = "tiny"', 'name = "tiny_report"'), (learner, ""), ("episodes = 64", "episodes = 16")):
        assert old in text, old
        text = text.replace(old, new)
    return text + "\n[scenarios.replay]\nsigma = 1.5\n"


TINY = _smaller(STUDY_TINY)

WEIGHTS = ["0.5,0.3,0.2", "1,0,0", "0,1,0", "0,0,1", "0.2,0.2,0.6", "0.05,0.9,0.05", "0.333333,0.333333,0.333334"]


def _chromium():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "headless Chromium not installed (Debian's chromium and chromium-driver; `make test` installs "
            "them where apt-get can run as root)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1000",
        "--enable-unsafe-swiftshader",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """The tiny study through the CLI (figures not rendered), then its report by `morl-mm report`."""
    root = tmp_path_factory.mktemp("report")
    (root / "tiny_report.toml").write_text(TINY)
    assert cli(["run", str(root / "tiny_report.toml"), "--out", str(root / "out"), "--quiet", "--no-render"]) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["report", str(root / "out")]) == 0
    return root / "out"


@pytest.fixture(scope="module")
def browser():
    driver = _chromium()
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _cli_json(*args) -> tuple[int, dict | None]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        status = cli(list(args))
    return status, (json.loads(buffer.getvalue()) if status == 0 else None)


def _open(driver, path: Path, fragment: str) -> str:
    driver.get("about:blank")
    driver.get(path.resolve().as_uri() + "#" + fragment)
    return _selected(driver)


def _goto(driver, path: Path, fragment: str) -> str:
    """Show ``fragment``: by a changed hash where the page is open already (the hashchange path), else
    by loading it."""
    if driver.current_url.split("#")[0] != path.resolve().as_uri():
        return _open(driver, path, fragment)
    if driver.execute_script("return window.location.hash") in ("#" + fragment, fragment):
        return _selected(driver)  # unchanged: no hashchange would come
    driver.execute_script(
        "document.getElementById('selected-card').innerHTML = '';"
        "document.getElementById('selection-error').textContent = '';"
        "window.location.hash = arguments[0]",
        fragment,
    )
    return _selected(driver)


def _selected(driver) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 20
    while True:  # the glue runs on load; wait until it has filled the card (or reported an error)
        done = driver.execute_script(
            "return document.getElementById('selected-card').innerHTML !== '' || "
            "document.getElementById('selection-error').textContent !== ''"
        )
        if done or time.monotonic() > deadline:
            return driver.find_element(By.ID, "selected-policy").text


def _severe(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_fragment_weights_select_what_the_cli_selects(browser, result):
    """Fresh loads for the first two weight vectors, a changed fragment (hashchange) for the others."""
    for n, weights in enumerate(WEIGHTS):
        status, chosen = _cli_json("select", str(result), "--weights", weights, "--json")
        assert status == 0
        fragment = f"weights={weights}"
        page = (
            _open(browser, result / "report.html", fragment)
            if n < 2
            else _goto(browser, result / "report.html", fragment)
        )
        assert page == chosen["label"], weights
    assert _severe(browser) == []


def test_fragment_constraints_select_what_the_cli_selects(browser, result):
    from morl_mm.study import load_result

    values = load_result(result).dataset["value"].sel(scenario="base")
    risk = float(np.quantile(-values.sel(objective="inventory_risk").values, 0.4))  # a binding bound
    quoting = float(np.quantile(values.sel(objective="quoting_ratio").values, 0.3))
    status, chosen = _cli_json(
        "select", str(result), "--max-inventory-risk", repr(risk), "--min-quoting-ratio", repr(quoting), "--json"
    )
    assert status == 0
    page = _goto(
        browser, result / "report.html", f"maximise=pnl&max_inventory_risk={risk!r}&min_quoting_ratio={quoting!r}"
    )
    assert page == chosen["label"]
    # infeasible: the CLI fails, the page says so and names the closest policies
    status, _ = _cli_json("select", str(result), "--max-inventory-risk", "0", "--min-quoting-ratio", "1.01", "--json")
    assert status == 2
    assert _goto(browser, result / "report.html", "max_inventory_risk=0&min_quoting_ratio=1.01") == "none"
    error = browser.find_element("id", "selection-error").text
    assert "No policy satisfies" in error and "Closest" in error
    assert _severe(browser) == []


def test_sliders_and_hash_changes_follow_the_selection_rule(browser, result):
    """Moving a weight slider keeps the weights on the simplex and writes them to the fragment; the
    policy shown is what the CLI picks for them; a changed fragment re-selects; the trajectory follows."""
    _goto(browser, result / "report.html", "weights=0.2,0.2,0.6")
    browser.execute_script(
        "const s = document.getElementById('w-0'); s.value = 0.7;s.dispatchEvent(new Event('input'));"
    )
    fragment = browser.execute_script("return window.location.hash")
    weights = [float(x) for x in fragment.split("=", 1)[1].split(",")]
    assert weights[0] == pytest.approx(0.7) and sum(weights) == pytest.approx(1.0, abs=1e-12)
    status, chosen = _cli_json("select", str(result), "--weights", ",".join(repr(w) for w in weights), "--json")
    assert status == 0 and _selected(browser) == chosen["label"]
    _, chosen = _cli_json("select", str(result), "--weights", "0,1,0", "--json")
    assert _goto(browser, result / "report.html", "weights=0,1,0") == chosen["label"]
    label, points = browser.execute_script(
        "return [document.getElementById('trajectory-label').textContent,"
        " document.getElementById('chooser-trajectory').data[0].y.length]"
    )
    assert label == chosen["label"]
    assert points > 0 or "No sample episode" in browser.find_element("id", "trajectory-note").text
    # no fragment: the report's own choice (equal weights); a label in the fragment: that policy
    from morl_mm.study import load_result

    equal = load_result(result).pareto_set().select(np.full(3, 1 / 3)).label
    assert _goto(browser, result / "report.html", "") == equal
    assert _goto(browser, result / "report.html", "policy=" + chosen["label"]) == chosen["label"]
    hover = browser.execute_script("return document.getElementById('chooser-front').data[0].text[0]")
    assert "pnl_sharpe" in hover and "inventory_risk" in hover
    assert _severe(browser) == []


def test_report_loads_nothing_from_the_network(browser, result):
    """Every resource the page requests is the file itself or inline data; no element points at http(s)."""
    browser.get_log("performance")  # drop the earlier pages' events
    _open(browser, result / "report.html", "weights=0.5,0.3,0.2")
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in events if m["method"] == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(("file:", "data:", "about:", "blob:")) for u in urls), urls
    linked = browser.execute_script(
        "return [...document.querySelectorAll('[src],[href]')]"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
        ".filter(u => /^(https?:)?\\/\\//.test(u))"
    )
    assert linked == []
    assert "replay" in browser.find_element("tag name", "body").text  # every scenario in the summary
