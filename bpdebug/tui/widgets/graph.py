"""The graph panel: every value of a computation graph with its operation, value and gradient (``…`` until its step
has computed it), the current step's node in bold, the selected value's paths to the output highlighted.

Two layouts, as micrograd's ``draw_dot`` and a listing: when the graph fits the panel, columns by depth (leaves
left, the output right), each node two lines (``+ c@1`` over ``2 ∂ −27.77``); otherwise one line per value in
program order. A line-API widget (:class:`~textual.scroll_view.ScrollView`): only the lines on screen are
formatted, so a graph of 5,000 nodes costs what one of 20 does. Unnamed constants are written inside the
operations that use them, not drawn.
"""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip

from ...core.graph.program import CONST, LEAF, Program
from ...core.graph.trace import GraphStep, GraphStepKind
from ...text.numbers import number
from . import LineView, content_strip

CURRENT = "bold $text-success"
SELECTED = "on $accent-muted"
ON_PATH = "$text-accent"
PENDING = "…"
CELL_LIMIT = 24  # the widest a column of the picture gets


class GraphView(LineView, can_focus=False):
    """The values of a graph at one step: a picture by depth when it fits, else a list in program order."""

    DEFAULT_CSS = """
    GraphView {
        height: 100%;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    def __init__(self, program: Program, **kwargs) -> None:
        super().__init__(**kwargs)
        self._step: GraphStep | None = None
        self._selected = -1
        self._on_path: frozenset[int] = frozenset()
        self._hidden: tuple[str, str] | None = None
        self.set_program(program)

    def set_program(self, program: Program) -> None:
        self.program = program
        self.shown = tuple(n.index for n in program.nodes if n.op != CONST or n.bindings)
        self._row_of = {i: k for k, i in enumerate(self.shown)}
        depth = program.depths()  # draw_dot's columns: leaves left, the output right
        columns: dict[int, list[int]] = {}
        for i in self.shown:
            columns.setdefault(depth[i], []).append(i)
        self.columns = [columns[d] for d in sorted(columns)]
        self._cell_of = {i: (c, r) for c, col in enumerate(self.columns) for r, i in enumerate(col)}
        self._texts = {i: self._op_text(i) for i in self.shown} if len(self.shown) <= 400 else {}
        self.picture = False

    # ------------------------------------------------------------------------------------------ contents
    def _op_text(self, i: int) -> str:
        node = self.program.nodes[i]
        if node.op == LEAF:
            return f"{node.key} (leaf)"
        if node.op == CONST:
            return f"{node.key} = {node.value:g}"
        return f"{node.key} = {self.program.text(i)}"

    def _numbers(self, i: int) -> tuple[str, str]:
        step, key = self._step, self.program.nodes[i].key
        if step is None:
            return PENDING, PENDING
        value = number(step.value(key), 4) if step.is_known(key) else PENDING
        grad = number(step.value(f"grad.{key}"), 4) if step.is_known(f"grad.{key}") else PENDING
        if self._hidden is not None and self._hidden[1] == key:
            return ("?", grad) if self._hidden[0] == "value" else (value, "?") if self._hidden[0] == "grad" \
                else (value, grad)
        return value, grad

    def _style(self, i: int) -> str:
        step = self._step
        style = ""
        if i in self._on_path:
            style = ON_PATH
        updated = step is not None and step.kind is GraphStepKind.UPDATE and self.program.nodes[i].op == LEAF \
            and self.program.nodes[i].key in step.scenario.learn
        if step is not None and (step.node == i or updated):
            style = CURRENT
        if i == self._selected:
            style = f"{style} {SELECTED}".strip()
        return style

    def list_row(self, k: int) -> Content:
        """Row ``k`` of the list: the value's name and operation, its value and its gradient."""
        i = self.shown[k]
        text = self._texts.get(i) or self._op_text(i)
        value, grad = self._numbers(i)
        width = self._frame[1] or 60
        digits = 11 if width >= 60 else 9  # a narrow panel keeps room for the operation
        room = max(8, width - 4 - 2 * digits)
        if len(text) > room:
            text = text[: room - 1] + "…"
        line = Content.assemble((f" {text:<{room}}", ""), (f" {value:>{digits}}", ""), (f" ∂ {grad:>{digits - 1}}",
                                                                                        "dim"))
        style = self._style(i)
        return line.stylize(style) if style else line

    def cell_lines(self, i: int, width: int) -> tuple[str, str]:
        """The two lines of node ``i`` in the picture: its operation and name, its value and gradient."""
        node = self.program.nodes[i]
        head = node.key if node.op in (LEAF, CONST) else f"{node.label} {node.key}"
        value, grad = self._numbers(i)
        return head[:width].ljust(width), f"{value} ∂ {grad}"[:width].ljust(width)

    def column_width(self, c: int) -> int:
        widest = max((len(self.program.nodes[i].key) + 1 + len(self.program.nodes[i].label) for i in self.columns[c]),
                     default=4)
        return min(CELL_LIMIT, max(widest, 14)) + 2

    def fits(self, width: int, height: int) -> bool:
        """Whether the picture by depth fits ``width`` × ``height`` cells."""
        if len(self.shown) > 400:
            return False
        return 1 + sum(self.column_width(c) for c in range(len(self.columns))) <= width and \
            2 * max((len(col) for col in self.columns), default=0) <= height

    def picture_row(self, y: int) -> Content:
        pieces: list[tuple[str, str]] = [(" ", "")]
        r, part = divmod(y, 2)
        for c, col in enumerate(self.columns):
            w = self.column_width(c)
            if r < len(col):
                i = col[r]
                pieces.append((self.cell_lines(i, w - 2)[part], self._style(i)))
                pieces.append(("  ", ""))
            else:
                pieces.append((" " * w, ""))
        return Content.assemble(*pieces)

    def lines(self) -> int:
        return 2 * max((len(col) for col in self.columns), default=0) if self.picture else len(self.shown)

    # ----------------------------------------------------------------------------------------------- show
    def show(self, step: GraphStep, selected: int, on_path: frozenset[int],
             hidden: tuple[str, str] | None = None) -> None:
        """Show ``step``; ``hidden`` (practice): ("value" or "grad", key) of a number written as ?."""
        self._step, self._selected, self._on_path, self._hidden = step, selected, on_path, hidden
        region = self.scrollable_content_region
        width, height = (region.width, region.height) if region.width else (self.size.width, self.size.height)
        self.picture = self.fits(width, height) if width else False
        self.virtual_size = Size(width, self.lines())
        if not self.picture and step.node is not None and step.node in self._row_of:
            row = self._row_of[step.node]
            top = round(self.scroll_y)
            if not top <= row < top + max(1, height):
                self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        if self._step is not None:
            self.show(self._step, self._selected, self._on_path, self._hidden)

    def render_line(self, y: int) -> Strip:
        top, width = self._frame
        k = top + y
        if self._step is None or not 0 <= k < self.lines():
            return Strip.blank(width, self.rich_style)
        row = self.picture_row(k) if self.picture else self.list_row(k)
        return content_strip(self, row, width)

    def visible_text(self) -> list[str]:
        """The lines on screen, as plain text (for tests)."""
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        return [(self.picture_row(k) if self.picture else self.list_row(k)).plain
                for k in range(top, min(self.lines(), top + height))]
