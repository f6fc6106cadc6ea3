"""A person runs, watches, uses, stops and removes a container with the browser alone."""

import re
import time

import pytest

from .conftest import WebSession, shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.privileged]


def test_it_runs_a_container_and_drives_it_from_the_browser(signed_in, web_platform):
    base = web_platform.web_url
    page = signed_in("alice")
    shot(page, "01-containers-empty")

    page.click("text=Run a container")
    page.fill("#id_image", "busybox:latest")
    page.fill("#id_name", "webdemo")
    page.fill(
        "#id_command",
        'sh -c \'trap "exit 0" TERM; echo hello-from-dockyard; '
        "while true; do sleep 1; echo tick; done'",
    )
    shot(page, "02-run-form")
    page.click("#run-form button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/containers/[0-9a-f]{64}/$"))
    cid = page.url.rstrip("/").rsplit("/", 1)[1]
    assert page.locator("#state").inner_text() == "running"
    shot(page, "03-container-overview")

    page.click(".tabs >> text=Logs")
    page.wait_for_selector("#log >> text=hello-from-dockyard", timeout=15000)
    first = page.locator("#log div").count()
    page.wait_for_function(f"document.querySelectorAll('#log div').length > {first}", timeout=15000)
    shot(page, "04-logs")

    page.click(".tabs >> text=Stats")
    page.wait_for_function("(+document.getElementById('charts').dataset.samples || 0) >= 3")
    shot(page, "05-stats")

    page.click(".tabs >> text=Terminal")
    page.wait_for_selector("#term-status >> text=connected", timeout=15000)
    page.click("#terminal")
    page.keyboard.type("echo $((6*7))\n")
    page.wait_for_function(
        "(() => { const b = window.dockyardTerminal.buffer.active; const out = [];"
        " for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));"
        " return out.some((l) => l.trim() === '42'); })()",
        timeout=15000,
    )
    shot(page, "06-terminal")

    page.click(".tabs >> text=Processes")
    assert "sleep" in page.locator("table").inner_text()
    page.click(".tabs >> text=Files")
    shot(page, "07-files")
    page.wait_for_selector("text=etc/")
    shot(page, "07-files")

    home = page.context.new_page()
    home.goto(f"{base}/")
    home.wait_for_selector("#live >> text=live")
    row = home.locator(f'tr[data-id="{cid}"]')
    assert "running" in row.inner_text()
    home.wait_for_function(
        f"document.querySelector('tr[data-id=\"{cid}\"] .cpu').textContent.includes('%')",
        timeout=15000,
    )

    page.click(".tabs >> text=Overview")
    page.click("button:text-is('Stop')")
    page.wait_for_selector("#state >> text=exited", timeout=20000)
    # The list in the other tab heard of it without reloading.
    home.wait_for_selector(f'tr[data-id="{cid}"] .state.exited', timeout=10000)
    shot(home, "08-containers-live")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:text-is('Remove')")
    page.wait_for_url(f"{base}/")
    home.wait_for_selector(f'tr[data-id="{cid}"]', state="detached", timeout=10000)
    assert web_platform.docker("ps", "-aq").stdout.strip() == ""


def test_it_refuses_charlie_the_container_page_of_alice(signed_in, web_platform):
    alice = signed_in("alice")
    alice.click("text=Run a container")
    alice.fill("#id_image", "busybox:latest")
    alice.fill("#id_command", "sleep 300")
    alice.click("#run-form button[type=submit]")
    alice.wait_for_url(re.compile(r"/ui/containers/[0-9a-f]{64}/$"))
    url = alice.url

    charlie = signed_in("charlie")
    response = charlie.goto(url)
    assert response.status == 404
    charlie.goto(f"{web_platform.web_url}/")
    assert "No containers yet" in charlie.content()
    shot(charlie, "09-charlie-refused")

    bob = signed_in("bob")
    assert bob.goto(url).status == 200

    alice.on("dialog", lambda dialog: dialog.accept())
    alice.goto(url)
    alice.click("button:text-is('Remove')")
    alice.wait_for_url(f"{web_platform.web_url}/")


@pytest.mark.parametrize(
    "path, name",
    [
        ("/ui/images/", "10-images"),
        ("/ui/registry/", "11-registry"),
        ("/ui/teams/", "12-teams"),
        ("/ui/account/tokens/", "13-tokens"),
    ],
)
def test_it_shows_the_other_pages(signed_in, web_platform, path, name):
    page = signed_in("alice")
    response = page.goto(f"{web_platform.web_url}{path}")
    assert response.status == 200
    shot(page, name)


def test_the_logs_tab_keeps_up_with_a_fast_printing_container(signed_in, web_platform):
    # About 100,000 numbered lines a second for some 12 s: bursts of 5,000 as fast as seq
    # prints them, so the log on disk stays near 60 MB.
    rounds, burst = 270, 5000
    script = (
        f"i=0; while [ $i -lt {rounds} ]; do seq $((i*{burst}+1)) $((i*{burst}+{burst})); "
        "i=$((i+1)); sleep 0.04; done; echo printed-all; sleep 3600"
    )
    page = signed_in("alice")
    session = WebSession(web_platform.web_url, "alice")
    cid = session.run(f"sh -c '{script}'")

    def printed() -> int:
        last = web_platform.docker("logs", "--tail", "1", cid).stdout.strip()
        return int(last) if last.isdigit() else rounds * burst + 1

    def shown() -> int:
        last = page.evaluate("document.querySelector('#log').lastElementChild?.textContent")
        return int(last) if last and last.isdigit() else 0

    page.goto(f"{web_platform.web_url}/ui/containers/{cid}/logs/")
    wait_until(lambda: shown() > 0, 15, "the first lines on the page")
    # While the container prints, the page catches up with where its log is.
    for _ in range(3):
        mark = printed()
        assert mark <= rounds * burst, "the container printed everything before the check"
        wait_until(lambda mark=mark: shown() >= mark, 5, f"line {mark} on the page")
    assert page.locator("#log div").count() <= 5000
    assert page.locator("#log-note").is_visible()
    shot(page, "14-logs-fast")

    # The page answers at once and a click on another tab works, while the printing goes on.
    for _ in range(5):
        started = time.monotonic()
        page.evaluate("document.querySelectorAll('#log div').length")
        assert time.monotonic() - started < 1.0
    assert printed() <= rounds * burst, "the container printed everything before the click"
    started = time.monotonic()
    page.click(".tabs >> text=Processes")
    page.wait_for_url(re.compile(r"/processes/$"), timeout=5000)
    assert time.monotonic() - started < 3.0
    assert printed() <= rounds * burst, "the container finished before the tab opened"

    # Back on the Logs tab the newest lines show, through to the last one.
    page.click(".tabs >> text=Logs")
    page.wait_for_selector("#log >> text=printed-all", timeout=60000)
    web_platform.docker("rm", "-f", cid)


def test_closing_the_terminal_tab_ends_its_shell(signed_in, web_platform):
    session = WebSession(web_platform.web_url, "alice")
    cid = session.run("sleep 3600")
    page = signed_in("alice")
    page.goto(f"{web_platform.web_url}/ui/containers/{cid}/terminal/")
    page.wait_for_selector("#term-status >> text=connected", timeout=15000)
    page.click("#terminal")
    page.keyboard.type("sleep 4242\n")

    def top() -> str:
        return web_platform.docker("top", cid).stdout

    wait_until(lambda: "sleep 4242" in top(), 30, "sleep 4242 to run in the container")
    shot(page, "15-terminal-before-close")
    page.close()
    wait_until(lambda: "sleep 4242" not in top(), 15, "the closed tab's shell to end")
    assert "sleep 3600" in top()
    web_platform.docker("rm", "-f", cid)
