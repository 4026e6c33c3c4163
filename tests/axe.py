"""Accessibility checks with axe-core, run inside the page in headless Chromium.

axe-core is vendored (``tests/vendor/axe-core``, pinned in ``labsrc/vendored.py``), so the
check needs no network. A test opens its page with Playwright, then::

    problems = serious_violations(page)
    assert not problems, describe(problems)

Only the "serious" and "critical" impacts fail a test: those stop a person from using the page
(text they cannot read, a control with no name, a focus they cannot see). The minor and moderate
ones are printed by :func:`describe` when asked, for a person to weigh.
"""

from __future__ import annotations

from typing import Any

from vendored import VENDORED

AXE = next(entry for entry in VENDORED if entry.package == "axe-core")
AXE_SCRIPT = AXE.folder / "axe.min.js"

#: The impacts that fail a test.
BLOCKING = ("serious", "critical")


def violations(page_or_frame: Any, *, context: str | None = None) -> list[dict[str, Any]]:
    """Every axe-core violation on the page (or inside ``context``, a CSS selector)."""
    if not page_or_frame.evaluate("() => typeof window.axe !== 'undefined'"):
        page_or_frame.add_script_tag(path=str(AXE_SCRIPT))
    return page_or_frame.evaluate(
        """async (context) => {
            const result = await axe.run(context ? document.querySelector(context) : document,
                                         {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                          summary: n.failureSummary}))}));
        }""",
        context,
    )


def serious_violations(page_or_frame: Any, *, context: str | None = None) -> list[dict[str, Any]]:
    """The violations whose impact is serious or critical."""
    return [v for v in violations(page_or_frame, context=context) if v["impact"] in BLOCKING]


def describe(found: list[dict[str, Any]]) -> str:
    """A readable list of violations, one per rule, with the elements it found."""
    lines = []
    for violation in found:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['summary'].splitlines()[-1].strip()}")
    return "\n".join(lines) or "no violations"


__all__ = ["AXE_SCRIPT", "BLOCKING", "describe", "serious_violations", "violations"]
