/* The book's tables on any screen (the styles are hybrid.css's):
   - a table marked hl-compact (hybridlib.book.formatting.table(compact=True)) becomes one
     card per row on a phone, so each value needs its column's name beside it: the cells
     get it here, as data-label, from the header rows;
   - a table wider than the column scrolls inside its box; the box then says so
     (hl-scrolls) and fades its right edge while more lies to the right (hl-more-right),
     and the caption is shown above the box (a copy, hl-caption-copy), where it does not
     scroll out of sight with the table; the table keeps its own for screen readers. */
(function () {
  "use strict";

  function columnNames(table) {
    const names = [];
    if (!table.tHead) return names;
    for (const row of table.tHead.rows) {
      let column = 0;
      for (const cell of row.cells) {
        const text = cell.textContent.replace(/\s+/g, " ").trim();
        for (let k = 0; k < cell.colSpan; k++) {
          if (text) names[column + k] = names[column + k] ? `${names[column + k]}: ${text}` : text;
        }
        column += cell.colSpan;
      }
    }
    return names;
  }

  // A row header spanning rows (pandas writes a repeated index level so) occupies its
  // column in the rows below it too: `covered` counts the rows each column is still taken.
  function label(table) {
    const names = columnNames(table);
    for (const body of table.tBodies) {
      const covered = [];
      for (const row of body.rows) {
        let column = 0;
        for (const cell of row.cells) {
          while (covered[column] > 0) column += 1;
          if (names[column] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", names[column]);
          }
          for (let k = 0; k < cell.colSpan; k++) covered[column + k] = cell.rowSpan;
          column += cell.colSpan;
        }
        for (let k = 0; k < covered.length; k++) if (covered[k] > 0) covered[k] -= 1;
      }
    }
  }

  const SCROLL_BOXES =
    ".cell_output .output.text_html, .pst-scrollable-table-container, .table-wrapper";

  function cue(box) {
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("hl-scrolls", scrolls);
    box.classList.toggle("hl-more-right",
      scrolls && box.scrollLeft + box.clientWidth < box.scrollWidth - 1);
  }

  function copyCaption(box) {
    const caption = box.querySelector("table > caption");
    if (!caption) return;
    const copy = document.createElement("div");
    copy.className = "hl-caption-copy";
    copy.setAttribute("aria-hidden", "true");
    copy.innerHTML = caption.innerHTML;
    copy.querySelectorAll(".headerlink").forEach(link => link.remove());
    box.parentNode.insertBefore(copy, box);
  }

  function start() {
    document.querySelectorAll("table.hl-compact").forEach(label);
    const boxes = Array.from(document.querySelectorAll(SCROLL_BOXES))
      .filter(box => box.querySelector("table"));
    boxes.forEach(copyCaption);
    const cueAll = () => boxes.forEach(cue);
    boxes.forEach(box => box.addEventListener("scroll", () => cue(box), { passive: true }));
    cueAll();
    window.addEventListener("resize", cueAll);
    window.addEventListener("load", cueAll);  // after fonts and MathJax have set widths
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
