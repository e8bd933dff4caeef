// The explainer page: draws one variant of the trace and moves the kernel over it.
// Every number shown comes from the JSON island written by ndconv.explain; nothing is
// computed here except which cells to highlight.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("ndconv-data").textContent);
  const byId = (id) => document.getElementById(id);
  const slider = byId("slider");
  let variant = null;
  let gridCells = [];
  let outputCells = [];
  let centres = [];
  let current = 0;
  let timer = null;

  function makeCells(container, rows, cols) {
    container.style.gridTemplateColumns = "repeat(" + cols + ", var(--cell))";
    container.replaceChildren();
    const cells = [];
    for (let r = 0; r < rows; r++) {
      const row = [];
      for (let c = 0; c < cols; c++) {
        const cell = document.createElement("div");
        cell.className = "cell";
        cell.dataset.row = r;
        cell.dataset.col = c;
        container.append(cell);
        row.push(cell);
      }
      cells.push(row);
    }
    return cells;
  }

  function setText(cell, text) {
    const value = document.createElement("span");
    value.className = "v";
    value.textContent = text;
    cell.replaceChildren(value);
  }

  function legend(v) {
    const kinds = new Set(v.kinds.flat());
    const parts = [];
    if (kinds.has(1)) parts.push("grey dashed cells are padding");
    if (kinds.has(2)) parts.push("beige dotted cells are the zeros inserted between input elements");
    if (v.transposed) parts.push("the kernel is rotated by 180 degrees and slides with stride 1");
    return parts.length ? parts.join("; ") + "." : "";
  }

  function showVariant(index) {
    stop();
    variant = data.variants[index];
    byId("description").textContent = variant.description;
    const padded = variant.kinds.flat().some((k) => k !== 0);
    byId("grid-title").textContent = variant.transposed
      ? "Input with inserted zeros and padding"
      : padded ? "Input (padded)" : "Input";
    byId("kernel-title").textContent = variant.transposed ? "Kernel (rotated)" : "Kernel";
    byId("legend").textContent = legend(variant);

    const rows = variant.grid.length;
    const cols = variant.grid[0].length;
    gridCells = makeCells(byId("grid"), rows, cols);
    gridCells.forEach((row, r) => row.forEach((cell, c) => {
      setText(cell, variant.grid[r][c]);
      const kind = variant.kinds[r][c];
      if (kind === 1) cell.classList.add("pad");
      if (kind === 2) cell.classList.add("inserted");
    }));

    const kernelCells = makeCells(byId("kernel"), variant.kernel.length, variant.kernel[0].length);
    kernelCells.forEach((row, r) => row.forEach((cell, c) => setText(cell, variant.kernel[r][c])));

    const [outRows, outCols] = variant.outputShape;
    outputCells = makeCells(byId("output"), outRows, outCols);
    variant.steps.forEach((step, i) => {
      const cell = outputCells[step.position[0]][step.position[1]];
      setText(cell, step.text);
      cell.dataset.step = i;
      cell.addEventListener("mouseenter", () => setStep(i));
      cell.addEventListener("click", () => setStep(i));
    });

    centres = variant.steps.map((step) => {
      const n = step.cells.length;
      return [step.cells.reduce((s, c) => s + c[0], 0) / n,
              step.cells.reduce((s, c) => s + c[1], 0) / n];
    });
    slider.max = variant.steps.length - 1;
    setStep(0);
  }

  function setStep(index) {
    const steps = variant.steps;
    current = Math.max(0, Math.min(steps.length - 1, index));
    const step = steps[current];
    const weights = variant.kernel.flat();

    gridCells.flat().forEach((cell) => {
      cell.classList.remove("in-patch");
      const w = cell.querySelector(".w");
      if (w) w.remove();
    });
    step.cells.forEach((where, j) => {
      const cell = gridCells[where[0]][where[1]];
      cell.classList.add("in-patch");
      const w = document.createElement("span");
      w.className = "w";
      w.textContent = "\u00d7" + weights[j];
      cell.append(w);
    });

    steps.forEach((s, i) => {
      const cell = outputCells[s.position[0]][s.position[1]];
      cell.classList.toggle("pending", i > current);
      cell.classList.toggle("current", i === current);
    });

    slider.value = current;
    slider.setAttribute("aria-valuetext", "step " + (current + 1) + " of " + steps.length +
                        ", " + step.name);
    byId("position").textContent = "step " + (current + 1) + " / " + steps.length + ": " +
                                   step.name;
    const dot = byId("dot");
    dot.textContent = step.name + " = " + step.terms + " = " + step.text;
    dot.dataset.value = step.value === null ? "NaN" : String(step.value);
    dot.dataset.position = step.position.join(",");
  }

  function nearestStep(row, col) {
    let best = 0;
    let bestDistance = Infinity;
    centres.forEach((c, i) => {
      const d = (c[0] - row) ** 2 + (c[1] - col) ** 2;
      if (d < bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    byId("play").textContent = "Play";
    byId("play").setAttribute("aria-pressed", "false");
  }

  function play() {
    if (timer !== null) { stop(); return; }
    if (current === variant.steps.length - 1) setStep(0);
    byId("play").textContent = "Pause";
    byId("play").setAttribute("aria-pressed", "true");
    timer = setInterval(() => {
      if (current >= variant.steps.length - 1) stop(); else setStep(current + 1);
    }, 700);
  }

  const grid = byId("grid");
  function dragTo(event) {
    const cell = event.target.closest(".cell");
    if (cell && grid.contains(cell)) {
      setStep(nearestStep(Number(cell.dataset.row), Number(cell.dataset.col)));
    }
  }
  grid.addEventListener("pointerdown", (event) => { stop(); dragTo(event); });
  grid.addEventListener("pointermove", (event) => { if (event.buttons) dragTo(event); });

  slider.addEventListener("input", () => { stop(); setStep(Number(slider.value)); });
  byId("prev").addEventListener("click", () => { stop(); setStep(current - 1); });
  byId("next").addEventListener("click", () => { stop(); setStep(current + 1); });
  byId("play").addEventListener("click", play);

  document.addEventListener("keydown", (event) => {
    // The slider and the radio buttons handle their own arrow keys.
    if (event.target instanceof HTMLInputElement) return;
    const cols = variant.outputShape[1];
    const moves = {
      ArrowRight: current + 1, ArrowLeft: current - 1,
      ArrowDown: current + cols, ArrowUp: current - cols,
      Home: 0, End: variant.steps.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    stop();
    setStep(moves[event.key]);
  });

  const modes = byId("modes");
  data.variants.forEach((v, i) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "mode";
    input.value = i;
    input.checked = i === 0;
    input.addEventListener("change", () => showVariant(i));
    label.append(input, " " + v.label);
    modes.append(label);
  });
  showVariant(0);
})();
