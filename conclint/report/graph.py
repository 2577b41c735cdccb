"""``conclint graph --format dot|mermaid|json``: the lock graph, drawn. Cycles in red."""

from __future__ import annotations

import json
from dataclasses import asdict

from conclint.lockview import LockEdge, LockNode, LockView

RED = "#d00000"


def _node_label(node: LockNode) -> list[str]:
    return [node.name, f"{node.kind} at {node.path}:{node.line}"]


def _edge_label(edge: LockEdge) -> str:
    more = f" (+{edge.evidence - 1})" if edge.evidence > 1 else ""
    return f"{edge.path}:{edge.line}{more}"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(view: LockView) -> str:
    out = ["digraph locks {", "  rankdir=LR;",
           '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
           '  edge [fontname="Helvetica", fontsize=9];']
    for node in view.nodes:
        label = "\\n".join(part.replace("\\", "\\\\").replace('"', '\\"')
                           for part in _node_label(node))
        style = f', color="{RED}", fontcolor="{RED}", penwidth=2' if node.in_cycle else ""
        out.append(f'  {_dot_string(node.name)} [label="{label}"{style}];')
    for edge in view.edges:
        style = f', color="{RED}", fontcolor="{RED}", penwidth=2' if edge.in_cycle else ""
        out.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)} "
                   f"[label={_dot_string(_edge_label(edge))}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def render_mermaid(view: LockView) -> str:
    ids = {node.name: f"n{i}" for i, node in enumerate(view.nodes)}
    out = ["flowchart LR"]
    for node in view.nodes:
        label = "<br/>".join(_mermaid_text(part) for part in _node_label(node))
        out.append(f'  {ids[node.name]}["{label}"]')
    for edge in view.edges:
        out.append(f'  {ids[edge.source]} -->|"{_mermaid_text(_edge_label(edge))}"| '
                   f"{ids[edge.target]}")
    out.append(f"  classDef cycle stroke:{RED},stroke-width:2px,color:{RED}")
    cyclic = [ids[n.name] for n in view.nodes if n.in_cycle]
    if cyclic:
        out.append(f"  class {','.join(cyclic)} cycle")
    links = [str(i) for i, e in enumerate(view.edges) if e.in_cycle]
    if links:
        out.append(f"  linkStyle {','.join(links)} stroke:{RED},stroke-width:2px,color:{RED}")
    return "\n".join(out) + "\n"


def render_graph_json(view: LockView) -> str:
    payload = {"nodes": [asdict(n) for n in view.nodes],
               "edges": [asdict(e) for e in view.edges]}
    return json.dumps(payload, indent=2) + "\n"


RENDERERS = {"dot": render_dot, "mermaid": render_mermaid, "json": render_graph_json}
