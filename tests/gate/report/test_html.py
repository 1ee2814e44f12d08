from __future__ import annotations

import re
from html.parser import HTMLParser

from agui_perf.gate.decide.verdict import error_verdict
from agui_perf.gate.report.charts import render_charts
from agui_perf.gate.report.html import CSP, render_html
from tests._support.verdicts import EVIL, LOST, passing_verdict, sample_results, sample_verdict


class _Tags(HTMLParser):
    """Every start tag with its attributes, for structural assertions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page() -> str:
    verdict = sample_verdict()
    return render_html(verdict, render_charts(verdict, sample_results()[1]))


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_no_external_references() -> None:
    page = _page()
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"url\(", page, re.I)
    assert "@import" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]*", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    tags = {tag for tag, _ in _parse(page).tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}


def test_content_security_policy_forbids_scripts_and_fetches() -> None:
    tags = _parse(_page()).tags
    policies = [a.get("content") for t, a in tags if t == "meta" and a.get("http-equiv")]
    assert policies == [CSP]
    assert "default-src 'none'" in CSP
    assert "script-src" not in CSP  # falls back to default-src 'none'


def test_malicious_names_are_escaped() -> None:
    page = _page()
    assert EVIL not in page
    assert "<b>ready</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = _parse(page)
    assert "script" not in {tag for tag, _ in parsed.tags}
    assert EVIL in parsed.text  # shown as text, in the table cell and the chart labels


def test_headline_coloured_by_overall_state() -> None:
    fail = _parse(_page()).tags
    assert ("header", {"class": "verdict fail"}) in fail
    assert ("header", {"class": "verdict pass"}) in _parse(render_html(passing_verdict())).tags
    error = render_html(error_verdict("baseline 'x' is <broken> — run nox -s update-baseline"))
    assert ("header", {"class": "verdict error"}) in _parse(error).tags
    assert "<h1>ERROR — baseline &#x27;x&#x27; is &lt;broken&gt;" in error
    assert "nox -s perf" in error


def test_page_holds_headline_tables_charts_and_acceptance() -> None:
    verdict = sample_verdict()
    charts = render_charts(verdict, sample_results()[1])
    page = render_html(verdict, charts)
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>FAIL — 1 timing regression (encode_many +18.2 %)" in page
    assert page.count("<svg") == len(charts) == 4
    for chart in charts:
        assert chart.svg in page
    for section in ("timing", "memory", "latency", "budgets", "accepted"):
        assert f'<section id="{section}">' in page
    assert "sequential rank-interval rule" in page
    assert "one-sided Mann-Whitney U test significant at alpha 0.01 after Holm over 5" in page
    assert "not significant" in page
    assert '<tr class="bad"><td class="name">encode_many</td>' in page
    assert '<p class="sight">This run would have failed on a slowdown of +9.4 %' in page
    assert (
        "<li><code>stream_paced</code>: slower by ~15.4 %, beyond the minimum effect but not "
        "significant"
    ) in page
    assert "<th>Detectable</th>" in page
    assert "<h3>Allocation sites that grew most — account_analysis</h3>" in page
    assert "<td>≤ 300 ms</td>" not in page  # numbers are right-aligned cells
    assert '<td class="num">≤ 300 ms</td>' in page
    assert "The accepted state is commit 0123456789ab" in page
    assert "<code>nox -s update-baseline</code>" in page
    assert "baselines/linux-x86_64-cpython3.11.json" in page


def test_accepted_commit_not_found_is_a_visible_note() -> None:
    page = render_html(sample_verdict(LOST))
    assert (
        '<p class="note">The commit that last changed baselines/linux-x86_64-cpython3.11.json '
        "could not be found (shallow clone: no commit touches the baseline file)."
    ) in page
    assert "advisory only" in page
    assert "regression (advisory)" in page


def test_without_charts_the_page_still_has_every_table() -> None:
    page = render_html(sample_verdict())
    assert "<svg" not in page
    assert '<section id="latency">' not in page
    assert page.count("<table>") == 5  # timing, memory, sites, budgets and the folded checks


def test_budget_section_shows_the_worst_case_and_folds_the_rest() -> None:
    page = _page()
    section = page[page.index('<section id="budgets">') :]
    section = section[: section.index("</section>")]
    shown, folded = section.split("<details>")
    assert shown.index("× 1.07 over budget") < shown.index("not measured")
    assert '<td class="name">stream_paced (worst of 2)</td>' in shown
    assert "<td>event latency, p95 (latency_p95_ms)</td>" in shown  # prose, not a name
    assert '<td class="num">× 1.07 over budget</td>' in shown
    assert "<summary>2 more passing checks, each within its budget</summary>" in folded
    assert "× 9.68 under budget" in folded
    assert " %" not in section
